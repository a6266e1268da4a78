using System.Net;

namespace Letterlock.Dns;

/// <summary>How a lookup ended. Callers must tell "the name has no such record" (a permanent answer)
/// from "we could not find out" (try again later): SPF, MX delivery and DANE all depend on it.</summary>
public enum DnsStatus
{
    /// <summary>The name exists and records of the type were returned.</summary>
    Ok,

    /// <summary>The name exists but has no records of the type (NOERROR/NODATA).</summary>
    NoData,

    /// <summary>The name does not exist (NXDOMAIN).</summary>
    NameNotFound,

    /// <summary>The lookup failed (timeout, SERVFAIL, refused): the answer is unknown.</summary>
    TemporaryFailure,
}

/// <summary>The answer to one lookup.</summary>
/// <typeparam name="T">The record type.</typeparam>
/// <param name="Status">How the lookup ended.</param>
/// <param name="Records">The records, empty unless <see cref="DnsStatus.Ok"/>.</param>
/// <param name="DnssecValidated">
/// True when the answer was DNSSEC-validated: the resolver set the AD bit (RFC 4035, 3.2.3). That bit can
/// only be trusted from a validating resolver on a trusted path (loopback), which is how DANE (RFC 7672)
/// is meant to be deployed; a static map states it per record set.
/// </param>
public sealed record DnsAnswer<T>(DnsStatus Status, IReadOnlyList<T> Records, bool DnssecValidated)
{
    /// <summary>An answer with records.</summary>
    public static DnsAnswer<T> Found(IReadOnlyList<T> records, bool dnssecValidated = false) =>
        records.Count == 0 ? new(DnsStatus.NoData, [], dnssecValidated) : new(DnsStatus.Ok, records, dnssecValidated);

    /// <summary>An answer without records.</summary>
    public static DnsAnswer<T> Empty(DnsStatus status, bool dnssecValidated = false) => new(status, [], dnssecValidated);
}

/// <summary>An MX record (RFC 5321, 5.1).</summary>
/// <param name="Preference">Lower is tried first.</param>
/// <param name="Exchange">The mail exchanger's host name, without the trailing dot.</param>
public sealed record MxRecord(int Preference, string Exchange);

/// <summary>A TLSA record (RFC 6698, 2.1).</summary>
/// <param name="CertificateUsage">0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.</param>
/// <param name="Selector">0 full certificate, 1 SubjectPublicKeyInfo.</param>
/// <param name="MatchingType">0 exact, 1 SHA-256, 2 SHA-512.</param>
/// <param name="AssociationData">The certificate association data.</param>
public sealed record TlsaRecord(byte CertificateUsage, byte Selector, byte MatchingType, byte[] AssociationData);

/// <summary>An SRV record (RFC 2782), e.g. for <c>_submission._tcp.example.org</c> (RFC 6186).</summary>
/// <param name="Priority">Lower is tried first.</param>
/// <param name="Weight">Share among records of one priority.</param>
/// <param name="Port">The service's TCP port.</param>
/// <param name="Target">The host name, without the trailing dot; "." (empty here) means the service is not offered.</param>
public sealed record SrvRecord(int Priority, int Weight, int Port, string Target);

/// <summary>
/// DNS lookups the mail system needs: MX (delivery), TXT (SPF, DKIM keys, DMARC, MTA-STS), A/AAAA
/// (SPF <c>a</c>/<c>mx</c> mechanisms, connecting), TLSA (DANE). Names are given without the trailing dot;
/// implementations are case-insensitive in names.
/// </summary>
public interface IDnsResolver
{
    /// <summary>Looks up the MX records of <paramref name="name"/>, sorted by preference.</summary>
    /// <param name="name">A domain name.</param>
    /// <param name="ct">Cancels the lookup.</param>
    Task<DnsAnswer<MxRecord>> ResolveMxAsync(string name, CancellationToken ct);

    /// <summary>Looks up TXT records; each record's character-strings are concatenated (RFC 7208, 3.3).</summary>
    /// <param name="name">A domain name.</param>
    /// <param name="ct">Cancels the lookup.</param>
    Task<DnsAnswer<string>> ResolveTxtAsync(string name, CancellationToken ct);

    /// <summary>Looks up A (IPv4) or AAAA (IPv6) records.</summary>
    /// <param name="name">A domain name.</param>
    /// <param name="family"><see cref="System.Net.Sockets.AddressFamily.InterNetwork"/> for A, <see cref="System.Net.Sockets.AddressFamily.InterNetworkV6"/> for AAAA.</param>
    /// <param name="ct">Cancels the lookup.</param>
    Task<DnsAnswer<IPAddress>> ResolveAddressesAsync(string name, System.Net.Sockets.AddressFamily family, CancellationToken ct);

    /// <summary>Looks up TLSA records, e.g. for <c>_25._tcp.mx.example.org</c>.</summary>
    /// <param name="name">The TLSA owner name.</param>
    /// <param name="ct">Cancels the lookup.</param>
    Task<DnsAnswer<TlsaRecord>> ResolveTlsaAsync(string name, CancellationToken ct);

    /// <summary>Looks up SRV records, e.g. for <c>_submission._tcp.example.org</c>.</summary>
    /// <param name="name">The SRV owner name.</param>
    /// <param name="ct">Cancels the lookup.</param>
    Task<DnsAnswer<SrvRecord>> ResolveSrvAsync(string name, CancellationToken ct);

    /// <summary>Looks up the PTR records of an address (reverse DNS), as host names without the trailing dot.</summary>
    /// <param name="address">An IPv4 or IPv6 address.</param>
    /// <param name="ct">Cancels the lookup.</param>
    Task<DnsAnswer<string>> ResolvePtrAsync(IPAddress address, CancellationToken ct);
}
