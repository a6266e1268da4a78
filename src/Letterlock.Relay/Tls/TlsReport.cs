using System.Collections.Concurrent;

namespace Letterlock.Relay.Tls;

/// <summary>Which policy governed a connection, as TLS-RPT names it (RFC 8460, 4.4).</summary>
public enum TlsPolicyType
{
    /// <summary>No policy: opportunistic STARTTLS.</summary>
    NoPolicyFound,

    /// <summary>An MTA-STS policy (<c>enforce</c> or <c>testing</c>).</summary>
    Sts,

    /// <summary>DANE TLSA records.</summary>
    Tlsa,
}

/// <summary>One failure line of a report.</summary>
/// <param name="PolicyDomain">The recipient domain whose policy applied.</param>
/// <param name="PolicyType">The policy type.</param>
/// <param name="ResultType">The RFC 8460 result type.</param>
/// <param name="ReceivingMxHostname">The MX host.</param>
/// <param name="Count">How many sessions failed this way.</param>
public sealed record TlsFailureSummary(string PolicyDomain, TlsPolicyType PolicyType, string ResultType, string ReceivingMxHostname, long Count);

/// <summary>
/// Counts TLS successes and failures per policy domain, the data of an SMTP TLS report (RFC 8460). MTA-STS
/// <c>testing</c> failures are recorded here while the message is still delivered ("report only"). Sending the
/// daily aggregate reports to the domains' <c>rua</c> addresses is not implemented; the host can read
/// <see cref="Failures"/> and the log.
/// </summary>
public sealed class TlsReportCollector
{
    private readonly ConcurrentDictionary<(string Domain, TlsPolicyType Type), long> _successes = new();
    private readonly ConcurrentDictionary<(string Domain, TlsPolicyType Type, string Result, string Mx), long> _failures = new();

    /// <summary>Records a session that met its policy.</summary>
    /// <param name="domain">The policy domain.</param>
    /// <param name="type">The policy type.</param>
    public void RecordSuccess(string domain, TlsPolicyType type) => _successes.AddOrUpdate((domain, type), 1, (_, n) => n + 1);

    /// <summary>Records a session that failed its policy (or, under <c>testing</c>, would have).</summary>
    /// <param name="domain">The policy domain.</param>
    /// <param name="type">The policy type.</param>
    /// <param name="resultType">The RFC 8460 result type.</param>
    /// <param name="mxHost">The MX host.</param>
    public void RecordFailure(string domain, TlsPolicyType type, string resultType, string mxHost) =>
        _failures.AddOrUpdate((domain, type, resultType, mxHost), 1, (_, n) => n + 1);

    /// <summary>Successful sessions for a domain and policy type.</summary>
    /// <param name="domain">The policy domain.</param>
    /// <param name="type">The policy type.</param>
    public long Successes(string domain, TlsPolicyType type) => _successes.TryGetValue((domain, type), out long n) ? n : 0;

    /// <summary>Successful sessions so far per policy type, over all domains (for metrics: domains would be unbounded labels).</summary>
    public IReadOnlyDictionary<TlsPolicyType, long> SuccessesByType =>
        _successes.GroupBy(s => s.Key.Type).ToDictionary(g => g.Key, g => g.Sum(s => s.Value));

    /// <summary>All failures recorded so far.</summary>
    public IReadOnlyList<TlsFailureSummary> Failures =>
        _failures.Select(f => new TlsFailureSummary(f.Key.Domain, f.Key.Type, f.Key.Result, f.Key.Mx, f.Value)).ToList();
}
