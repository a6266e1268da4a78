using System.Globalization;
using System.Security.Cryptography;
using Letterlock.Dns;

namespace Letterlock.Relay.Routing;

/// <summary>One mail exchanger to try.</summary>
/// <param name="Name">Its host name.</param>
/// <param name="Preference">Its MX preference (lower first).</param>
public sealed record MxHost(string Name, int Preference);

/// <summary>Where mail for a domain goes, or why it cannot go anywhere now or ever.</summary>
/// <param name="Hosts">The hosts in the order to try; empty when <see cref="Failure"/> is set.</param>
/// <param name="DnssecValidated">Whether the MX answer (or, for an implicit MX, its NODATA) was DNSSEC-validated: DANE applies only then (RFC 7672, 2.2.1).</param>
/// <param name="Failure">Why there is no route, or null.</param>
public sealed record MxRoute(IReadOnlyList<MxHost> Hosts, bool DnssecValidated, DeliveryFailure? Failure);

/// <summary>Why an attempt failed, with the status to record and report.</summary>
/// <param name="Permanent">True for a 5xx-class failure (bounce), false for a temporary one (retry).</param>
/// <param name="EnhancedStatus">The RFC 3463 status such as <c>4.4.1</c>.</param>
/// <param name="Reason">What happened, for the log and the DSN's diagnostic (never a secret, never content).</param>
public sealed record DeliveryFailure(bool Permanent, string EnhancedStatus, string Reason)
{
    /// <summary>A temporary failure.</summary>
    public static DeliveryFailure Temporary(string status, string reason) => new(false, status, reason);

    /// <summary>A permanent failure.</summary>
    public static DeliveryFailure Fatal(string status, string reason) => new(true, status, reason);
}

/// <summary>Finds the mail exchangers of a domain (RFC 5321, 5.1; null MX RFC 7505).</summary>
public static class MxRouter
{
    /// <summary>
    /// Resolves <paramref name="domain"/>'s MX records into hosts to try: by preference, hosts of equal preference
    /// in random order (RFC 5321, 5.1, spreads load); no MX but the name exists: the domain itself (implicit MX);
    /// a single MX of "." (null MX): the domain accepts no mail (permanent <c>5.1.10</c>); NXDOMAIN: permanent
    /// <c>5.1.2</c>; a failed lookup: temporary <c>4.4.3</c>.
    /// </summary>
    /// <param name="dns">The resolver.</param>
    /// <param name="domain">The recipient domain in ASCII (A-labels).</param>
    /// <param name="maxHosts">At most this many hosts are returned.</param>
    /// <param name="ct">Cancels the lookup.</param>
    public static async Task<MxRoute> ResolveAsync(IDnsResolver dns, string domain, int maxHosts, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(dns);
        var answer = await dns.ResolveMxAsync(domain, ct).ConfigureAwait(false);
        switch (answer.Status)
        {
            case DnsStatus.TemporaryFailure:
                return new MxRoute([], false, DeliveryFailure.Temporary("4.4.3", "the MX lookup failed"));
            case DnsStatus.NameNotFound:
                return new MxRoute([], answer.DnssecValidated, DeliveryFailure.Fatal("5.1.2", "the recipient domain does not exist"));
            case DnsStatus.NoData:
                return new MxRoute([new MxHost(domain, 0)], answer.DnssecValidated, null);
        }

        // null MX (RFC 7505, 3): one record with preference 0 and an empty (root) exchange
        var records = answer.Records;
        if (records.Any(r => IsRoot(r.Exchange)))
        {
            return records.Count == 1
                ? new MxRoute([], answer.DnssecValidated, DeliveryFailure.Fatal("5.1.10", "the recipient domain accepts no mail (null MX)"))
                : new MxRoute([], answer.DnssecValidated, DeliveryFailure.Fatal("5.1.10", "the recipient domain publishes a null MX among others"));
        }

        var hosts = records
            .GroupBy(r => r.Preference)
            .OrderBy(g => g.Key)
            .SelectMany(g => g.OrderBy(_ => RandomNumberGenerator.GetInt32(int.MaxValue)))
            .Select(r => new MxHost(r.Exchange.TrimEnd('.').ToLowerInvariant(), r.Preference))
            .DistinctBy(h => h.Name)
            .Take(maxHosts)
            .ToList();
        return new MxRoute(hosts, answer.DnssecValidated, null);
    }

    /// <summary>The ASCII (A-label) form of a domain, lower-cased and without a trailing dot; null if it is not a domain.</summary>
    /// <param name="domain">A domain, possibly with U-labels.</param>
    public static string? ToAsciiDomain(string domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        string trimmed = domain.Trim().TrimEnd('.');
        if (trimmed.Length == 0)
        {
            return null;
        }

        try
        {
            string ascii = new IdnMapping { UseStd3AsciiRules = true }.GetAscii(trimmed).ToLowerInvariant();
            return ascii.Length <= 253 && ascii.Contains('.', StringComparison.Ordinal) ? ascii : null;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static bool IsRoot(string exchange) => exchange.Length == 0 || exchange == ".";
}
