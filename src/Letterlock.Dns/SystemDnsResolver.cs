using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;

namespace Letterlock.Dns;

/// <summary>
/// The production resolver on the DnsClient package. It asks the configured name servers (by default
/// the system's) with the DO bit set, and reports an answer as DNSSEC-validated when the resolver set
/// the AD bit: point it at a validating resolver on loopback (unbound, systemd-resolved with DNSSEC) when
/// DANE matters.
/// </summary>
public sealed class SystemDnsResolver : IDnsResolver
{
    private readonly LookupClient _client;

    /// <summary>Creates a resolver.</summary>
    /// <param name="nameServers">Name servers to ask; empty for the system's.</param>
    /// <param name="timeout">Timeout of one query attempt.</param>
    public SystemDnsResolver(IReadOnlyList<IPEndPoint>? nameServers = null, TimeSpan? timeout = null)
    {
        var options = nameServers is { Count: > 0 } ? new LookupClientOptions([.. nameServers]) : new LookupClientOptions();
        options.RequestDnsSecRecords = true;
        options.UseCache = true;
        options.ThrowDnsErrors = false;
        options.ContinueOnDnsError = true;
        options.Timeout = timeout ?? TimeSpan.FromSeconds(5);
        options.Retries = 2;
        options.UseTcpFallback = true;
        _client = new LookupClient(options);
    }

    /// <inheritdoc />
    public async Task<DnsAnswer<Letterlock.Dns.MxRecord>> ResolveMxAsync(string name, CancellationToken ct)
    {
        var response = await QueryAsync(name, QueryType.MX, ct).ConfigureAwait(false);
        return Convert(response, r => r.Answers.MxRecords()
            .OrderBy(m => m.Preference)
            .Select(m => new Letterlock.Dns.MxRecord(m.Preference, m.Exchange.Value.TrimEnd('.')))
            .ToList());
    }

    /// <inheritdoc />
    public async Task<DnsAnswer<string>> ResolveTxtAsync(string name, CancellationToken ct)
    {
        var response = await QueryAsync(name, QueryType.TXT, ct).ConfigureAwait(false);
        return Convert(response, r => r.Answers.TxtRecords().Select(t => string.Concat(t.Text)).ToList());
    }

    /// <inheritdoc />
    public async Task<DnsAnswer<IPAddress>> ResolveAddressesAsync(string name, AddressFamily family, CancellationToken ct)
    {
        var type = family == AddressFamily.InterNetworkV6 ? QueryType.AAAA : QueryType.A;
        var response = await QueryAsync(name, type, ct).ConfigureAwait(false);
        return Convert(response, r => r.Answers.OfType<AddressRecord>().Select(a => a.Address).Where(a => a.AddressFamily == family).ToList());
    }

    /// <inheritdoc />
    public async Task<DnsAnswer<Letterlock.Dns.TlsaRecord>> ResolveTlsaAsync(string name, CancellationToken ct)
    {
        var response = await QueryAsync(name, QueryType.TLSA, ct).ConfigureAwait(false);
        return Convert(response, r => r.Answers.TlsaRecords()
            .Select(t => new Letterlock.Dns.TlsaRecord((byte)t.CertificateUsage, (byte)t.Selector, (byte)t.MatchingType, t.CertificateAssociationData.ToArray()))
            .ToList());
    }

    /// <inheritdoc />
    public async Task<DnsAnswer<Letterlock.Dns.SrvRecord>> ResolveSrvAsync(string name, CancellationToken ct)
    {
        var response = await QueryAsync(name, QueryType.SRV, ct).ConfigureAwait(false);
        return Convert(response, r => r.Answers.SrvRecords()
            .Select(t => new Letterlock.Dns.SrvRecord(t.Priority, t.Weight, t.Port, t.Target.Value.TrimEnd('.')))
            .ToList());
    }

    /// <inheritdoc />
    public async Task<DnsAnswer<string>> ResolvePtrAsync(IPAddress address, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(address);
        IDnsQueryResponse? response;
        try
        {
            response = await _client.QueryReverseAsync(address, ct).ConfigureAwait(false);
        }
        catch (DnsResponseException)
        {
            response = null;
        }

        return Convert(response, r => r.Answers.PtrRecords().Select(p => p.PtrDomainName.Value.TrimEnd('.')).ToList());
    }

    private async Task<IDnsQueryResponse?> QueryAsync(string name, QueryType type, CancellationToken ct)
    {
        try
        {
            return await _client.QueryAsync(name.TrimEnd('.'), type, QueryClass.IN, ct).ConfigureAwait(false);
        }
        catch (DnsResponseException)
        {
            return null;
        }
    }

    private static DnsAnswer<T> Convert<T>(IDnsQueryResponse? response, Func<IDnsQueryResponse, List<T>> select)
    {
        if (response is null)
        {
            return DnsAnswer<T>.Empty(DnsStatus.TemporaryFailure);
        }

        bool validated = response.Header.IsAuthenticData;
        return response.Header.ResponseCode switch
        {
            DnsHeaderResponseCode.NoError => DnsAnswer<T>.Found(select(response), validated),
            DnsHeaderResponseCode.NotExistentDomain => DnsAnswer<T>.Empty(DnsStatus.NameNotFound, validated),
            _ => DnsAnswer<T>.Empty(DnsStatus.TemporaryFailure),
        };
    }
}
