using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Dns;
using Letterlock.Relay.Tls;

namespace Letterlock.Relay.Routing;

/// <summary>
/// Opens TCP connections to remote hosts named in DNS, through <see cref="IDnsResolver"/> only (so the
/// sandbox's static map and tests reach loopback servers and nothing else). Ports normally are the protocol's
/// (25, 443); <see cref="PortOverrides"/> maps a host name to another port for the sandbox and tests, where
/// several servers share 127.0.0.1.
/// </summary>
public sealed class HostConnector
{
    private readonly IDnsResolver _dns;

    /// <summary>Creates a connector.</summary>
    /// <param name="dns">The resolver for A/AAAA records.</param>
    /// <param name="connectTimeout">How long one TCP connect may take.</param>
    /// <param name="portOverrides">Lower-case host name to port, replacing the protocol's port; null for none. Read on every
    /// connection, not copied (the sandbox adds entries as it starts servers).</param>
    /// <param name="useIPv6">Whether AAAA records are looked up and tried (after the A records).</param>
    /// <param name="sourceAddresses">
    /// The local addresses outgoing connections come from, at most one per address family; a connection to a family
    /// without one lets the kernel choose. On a host with several addresses this is what makes the receiver see the
    /// address that the domain's SPF record (<c>v=spf1 mx -all</c>) names.
    /// </param>
    public HostConnector(IDnsResolver dns, TimeSpan connectTimeout, IReadOnlyDictionary<string, int>? portOverrides = null, bool useIPv6 = true,
        IReadOnlyList<IPAddress>? sourceAddresses = null)
    {
        ArgumentNullException.ThrowIfNull(dns);
        _dns = dns;
        ConnectTimeout = connectTimeout;
        PortOverrides = portOverrides ?? new Dictionary<string, int>();
        UseIPv6 = useIPv6;
        SourceAddresses = sourceAddresses ?? [];
        if (SourceAddresses.GroupBy(a => a.AddressFamily).Any(g => g.Count() > 1))
        {
            throw new ArgumentException("At most one source address per address family.", nameof(sourceAddresses));
        }
    }

    /// <summary>The local addresses outgoing connections are bound to, at most one per family.</summary>
    public IReadOnlyList<IPAddress> SourceAddresses { get; }

    /// <summary>How long one TCP connect may take.</summary>
    public TimeSpan ConnectTimeout { get; }

    /// <summary>Host name to port, for the sandbox and tests.</summary>
    public IReadOnlyDictionary<string, int> PortOverrides { get; }

    /// <summary>Whether IPv6 addresses are tried.</summary>
    public bool UseIPv6 { get; }

    /// <summary>The port to use for <paramref name="host"/>.</summary>
    /// <param name="host">The host name.</param>
    /// <param name="protocolPort">The protocol's port.</param>
    public int PortFor(string host, int protocolPort) =>
        PortOverrides.TryGetValue(host.TrimEnd('.').ToLowerInvariant(), out int port) ? port : protocolPort;

    /// <summary>
    /// The addresses of <paramref name="host"/>: IPv4 first, then IPv6. The answer is DNSSEC-validated only if
    /// every family asked was.
    /// </summary>
    /// <param name="host">A host name, or an IP address literal.</param>
    /// <param name="ct">Cancels the lookups.</param>
    public async Task<DnsAnswer<IPAddress>> ResolveAsync(string host, CancellationToken ct)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return DnsAnswer<IPAddress>.Found([literal]);
        }

        var v4 = await _dns.ResolveAddressesAsync(host, AddressFamily.InterNetwork, ct).ConfigureAwait(false);
        if (!UseIPv6)
        {
            return v4;
        }

        var v6 = await _dns.ResolveAddressesAsync(host, AddressFamily.InterNetworkV6, ct).ConfigureAwait(false);
        var all = v4.Records.Concat(v6.Records).ToList();
        if (all.Count > 0)
        {
            bool validated = (v4.Records.Count == 0 || v4.DnssecValidated) && (v6.Records.Count == 0 || v6.DnssecValidated);
            return DnsAnswer<IPAddress>.Found(all, validated);
        }

        if (v4.Status == DnsStatus.TemporaryFailure || v6.Status == DnsStatus.TemporaryFailure)
        {
            return DnsAnswer<IPAddress>.Empty(DnsStatus.TemporaryFailure);
        }

        return DnsAnswer<IPAddress>.Empty(v4.Status == DnsStatus.NameNotFound ? DnsStatus.NameNotFound : DnsStatus.NoData, v4.DnssecValidated && v6.DnssecValidated);
    }

    /// <summary>Connects to <paramref name="address"/>:<paramref name="port"/> within <see cref="ConnectTimeout"/>.</summary>
    /// <param name="address">The address.</param>
    /// <param name="port">The port.</param>
    /// <param name="ct">Cancels the connect.</param>
    /// <exception cref="SocketException">The connection was refused or failed.</exception>
    /// <exception cref="TimeoutException">The connect took longer than <see cref="ConnectTimeout"/>.</exception>
    public async Task<Socket> ConnectAsync(IPAddress address, int port, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(address);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            if (SourceAddresses.FirstOrDefault(a => a.AddressFamily == address.AddressFamily) is { } source)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token).ConfigureAwait(false);
            return socket;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Dispose();
            throw new TimeoutException("The TCP connection timed out.");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// An HTTP handler for policy fetches (MTA-STS): connections go through this connector, redirects are never
    /// followed (RFC 8461, 3.3), nothing is decompressed, and the server certificate is checked against
    /// <paramref name="trust"/> for the requested host name.
    /// </summary>
    /// <param name="trust">The trusted roots.</param>
    /// <param name="time">The clock for certificate validity.</param>
    public SocketsHttpHandler CreateHttpHandler(TlsTrust trust, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(trust);
        ArgumentNullException.ThrowIfNull(time);
        return new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
            ConnectTimeout = ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
                {
                    if (certificate is null || sender is not SslStream stream)
                    {
                        return false;
                    }

                    var presented = chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>().ToList() ?? [];
                    using var leaf = new X509Certificate2(certificate);
                    return trust.Validate(leaf, presented, stream.TargetHostName, time.GetUtcNow()) is null;
                },
            },
            ConnectCallback = async (context, ct) =>
            {
                string host = context.DnsEndPoint.Host;
                int port = PortFor(host, context.DnsEndPoint.Port);
                var addresses = await ResolveAsync(host, ct).ConfigureAwait(false);
                if (addresses.Status != DnsStatus.Ok)
                {
                    throw new HttpRequestException($"The host name could not be resolved ({addresses.Status}).");
                }

                Exception? last = null;
                foreach (var address in addresses.Records)
                {
                    try
                    {
                        var socket = await ConnectAsync(address, port, ct).ConfigureAwait(false);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch (Exception e) when (e is SocketException or TimeoutException)
                    {
                        last = e;
                    }
                }

                throw new HttpRequestException("No address of the host accepted a connection.", last);
            },
        };
    }
}
