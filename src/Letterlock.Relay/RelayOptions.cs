namespace Letterlock.Relay;

/// <summary>
/// Every setting of the outbound relay, including each limit on what remote servers and submitters can make it do
/// (STYLE.md, convention 3). <see cref="Validate"/> names the first wrong setting.
/// </summary>
public sealed class RelayOptions
{
    /// <summary>The name in EHLO; the provider's host name (it should match its A/PTR records).</summary>
    public string HeloName { get; set; } = "localhost";

    /// <summary>The name in the DSN's <c>Reporting-MTA</c> field; defaults to <see cref="HeloName"/>.</summary>
    public string? ReportingMta { get; set; }

    /// <summary>The SMTP port of remote MTAs (25; per-host overrides come from <see cref="Routing.HostConnector"/>).</summary>
    public int SmtpPort { get; set; } = 25;

    /// <summary>How long one TCP connect may take before the next address or host is tried.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the relay waits for any one server reply or network write (RFC 5321, 4.5.3.2 suggests minutes;
    /// 5 minutes covers its longest, the reply to the end of DATA, closely enough).
    /// </summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>MX hosts tried per attempt.</summary>
    public int MaxMxHosts { get; set; } = 5;

    /// <summary>Addresses tried per MX host.</summary>
    public int MaxAddressesPerHost { get; set; } = 2;

    /// <summary>Whether DANE (RFC 7672) is applied when the MX and TLSA answers are DNSSEC-validated.</summary>
    public bool Dane { get; set; } = true;

    /// <summary>Whether MTA-STS (RFC 8461) policies are discovered and applied.</summary>
    public bool MtaSts { get; set; } = true;

    /// <summary>A reused connection idle for longer than this is checked with NOOP before the next message.</summary>
    public TimeSpan ReuseProbeAfterIdle { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a message is retried before it bounces (RFC 5321, 4.5.4.1 suggests 4-5 days).</summary>
    public TimeSpan MessageLifetime { get; set; } = TimeSpan.FromDays(5);

    /// <summary>The wait after the first failed attempt; it doubles with every further failure.</summary>
    public TimeSpan InitialRetryDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The longest wait between two attempts.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(4);

    /// <summary>
    /// After this long undelivered, the sender gets one "delayed" DSN (RFC 3464 action <c>delayed</c>); null turns
    /// delay warnings off.
    /// </summary>
    public TimeSpan? DelayWarningAfter { get; set; } = TimeSpan.FromHours(4);

    /// <summary>Connections open at once over all destinations.</summary>
    public int MaxConcurrentConnections { get; set; } = 32;

    /// <summary>Connections open at once to one destination domain, so one slow or dead domain holds at most this many.</summary>
    public int MaxConnectionsPerDestination { get; set; } = 4;

    /// <summary>Deliveries one worker leases at once; they go out over one connection.</summary>
    public int LeaseBatchSize { get; set; } = 20;

    /// <summary>
    /// How long a lease lasts before another worker (or this one after a restart) may take the delivery again. Leases
    /// are renewed while a worker is busy; after a crash a delivery waits at most this long.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often the scheduler looks for due work when nothing woke it (other nodes may have enqueued).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Largest message accepted for relay, in bytes.</summary>
    public int MaxMessageSize { get; set; } = 25 * 1024 * 1024;

    /// <summary>Recipients per relayed message.</summary>
    public int MaxRecipients { get; set; } = 100;

    /// <summary>
    /// Limits on the MIME structure of a relayed message, checked when it is queued and before every parse of it (the
    /// provider passes its <c>mx.*</c> limits, the same as submission checks). Default <see cref="OpenPgp.Mime.MimeLimits.Default"/>.
    /// </summary>
    public OpenPgp.Mime.MimeLimits MimeLimits { get; set; } = OpenPgp.Mime.MimeLimits.Default;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (MimeLimits is null)
        {
            throw new ArgumentException("Relay.MimeLimits must be set.", nameof(MimeLimits));
        }

        if (string.IsNullOrWhiteSpace(HeloName) || HeloName.Any(c => c <= ' ' || c > '~'))
        {
            throw new ArgumentException("Relay.HeloName must be a host name.", nameof(HeloName));
        }

        if (SmtpPort is <= 0 or > 65535)
        {
            throw new ArgumentException("Relay.SmtpPort must be a TCP port.", nameof(SmtpPort));
        }

        Positive(ConnectTimeout, nameof(ConnectTimeout));
        Positive(CommandTimeout, nameof(CommandTimeout));
        Positive(ReuseProbeAfterIdle, nameof(ReuseProbeAfterIdle));
        Positive(MessageLifetime, nameof(MessageLifetime));
        Positive(InitialRetryDelay, nameof(InitialRetryDelay));
        Positive(LeaseDuration, nameof(LeaseDuration));
        Positive(PollInterval, nameof(PollInterval));
        if (MaxRetryDelay < InitialRetryDelay)
        {
            throw new ArgumentException("Relay.MaxRetryDelay must be at least InitialRetryDelay.", nameof(MaxRetryDelay));
        }

        if (DelayWarningAfter is { } delay && (delay <= TimeSpan.Zero || delay >= MessageLifetime))
        {
            throw new ArgumentException("Relay.DelayWarningAfter must be positive and shorter than MessageLifetime.", nameof(DelayWarningAfter));
        }

        Positive(MaxMxHosts, nameof(MaxMxHosts));
        Positive(MaxAddressesPerHost, nameof(MaxAddressesPerHost));
        Positive(MaxConcurrentConnections, nameof(MaxConcurrentConnections));
        Positive(MaxConnectionsPerDestination, nameof(MaxConnectionsPerDestination));
        Positive(LeaseBatchSize, nameof(LeaseBatchSize));
        Positive(MaxMessageSize, nameof(MaxMessageSize));
        Positive(MaxRecipients, nameof(MaxRecipients));
        if (MaxConnectionsPerDestination > MaxConcurrentConnections)
        {
            throw new ArgumentException("Relay.MaxConnectionsPerDestination cannot exceed MaxConcurrentConnections.", nameof(MaxConnectionsPerDestination));
        }

        static void Positive<T>(T value, string name)
            where T : IComparable<T>
        {
            if (value.CompareTo(default) <= 0)
            {
                throw new ArgumentException($"Relay.{name} must be positive.", name);
            }
        }
    }
}
