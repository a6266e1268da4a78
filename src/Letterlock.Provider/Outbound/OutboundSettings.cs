using System.Net;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Relay;

namespace Letterlock.Provider.Configuration;

/// <summary>The outbound relay (<c>"relay"</c> in provider.json): queue, retries, concurrency, TLS policy.</summary>
public sealed class RelaySettings
{
    /// <summary>The X25519 key every queue entry is sealed to (32 random bytes, base64); written by <c>provider init</c>.</summary>
    public string QueueKey { get; set; } = "keys/relay-queue.key";

    public int MessageLifetimeHours { get; set; } = 120;

    public int InitialRetrySeconds { get; set; } = 300;

    public int MaxRetrySeconds { get; set; } = 4 * 3600;

    /// <summary>Hours until the sender is told a message is delayed; 0 turns delay warnings off.</summary>
    public int DelayWarningHours { get; set; } = 4;

    public int MaxConnections { get; set; } = 32;

    public int MaxConnectionsPerDestination { get; set; } = 4;

    public int BatchSize { get; set; } = 20;

    public int LeaseSeconds { get; set; } = 600;

    public int PollSeconds { get; set; } = 15;

    public int ConnectTimeoutSeconds { get; set; } = 30;

    public int CommandTimeoutSeconds { get; set; } = 300;

    public bool MtaSts { get; set; } = true;

    public bool Dane { get; set; } = true;

    public bool UseIPv6 { get; set; } = true;

    /// <summary>
    /// The local addresses the relay connects from (at most one IPv4 and one IPv6), so receivers see the addresses
    /// the SPF record names on a host with several. Empty: the address of <c>smtp.listen</c> when that is a specific
    /// address other than loopback, else the kernel's choice.
    /// </summary>
    public IList<string> SourceAddresses { get; set; } = [];

    public int SmtpPort { get; set; } = 25;

    /// <summary>A PEM file of root certificates trusted instead of the system's (a sandbox CA); empty for the system's.</summary>
    public string TrustedRoots { get; set; } = "";

    /// <summary>Host name to port, replacing 25 (SMTP) or 443 (MTA-STS policy): for sandboxes on one machine.</summary>
    public IDictionary<string, int> PortOverrides { get; set; } = new Dictionary<string, int>();
}

/// <summary>Authenticated submission (<c>"submission"</c> in provider.json): listeners and per-account limits.</summary>
public sealed class SubmissionSettings
{
    /// <summary>SMTP submission with STARTTLS (RFC 6409, port 587); empty turns it off.</summary>
    public string Listen { get; set; } = "0.0.0.0:587";

    /// <summary>SMTP submission over implicit TLS (RFC 8314, port 465); empty turns it off.</summary>
    public string ListenTls { get; set; } = "0.0.0.0:465";

    public int MaxMessageSize { get; set; } = 25 * 1024 * 1024;

    public int MaxRecipientsPerMessage { get; set; } = 100;

    public int MaxMessagesPerHour { get; set; } = 200;

    public int MaxRecipientsPerDay { get; set; } = 2000;

    public int TokenLifetimeDays { get; set; } = 365;
}

/// <summary>The MTA-STS policy this provider publishes for its own MX (<c>"mtaSts"</c> in provider.json).</summary>
public sealed class MtaStsSettings
{
    /// <summary><c>none</c> (no policy served), <c>testing</c> or <c>enforce</c> (RFC 8461, 3.2).</summary>
    public string Mode { get; set; } = "none";

    public int MaxAgeSeconds { get; set; } = 7 * 24 * 3600;
}

/// <summary>Validation of the outbound settings and their translation into the relay's options.</summary>
public static class OutboundSettingsValidator
{
    /// <summary>
    /// The relay's source addresses: <c>relay.sourceAddresses</c>, or else the address <c>smtp.listen</c> binds when it
    /// is a specific one (the MX's address is what <c>v=spf1 mx</c> allows).
    /// </summary>
    public static IReadOnlyList<System.Net.IPAddress> SourceAddresses(ProviderSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Relay.SourceAddresses.Count > 0)
        {
            return s.Relay.SourceAddresses.Select(System.Net.IPAddress.Parse).ToList();
        }

        var listen = ProviderSettingsLoader.ParseEndPoint(s.Smtp.Listen, "smtp.listen");
        // a wildcard says nothing, and a loopback MX (behind a proxy, a sandbox) could not reach the world from there
        return listen.Address.Equals(System.Net.IPAddress.Any) || listen.Address.Equals(System.Net.IPAddress.IPv6Any) || System.Net.IPAddress.IsLoopback(listen.Address)
            ? []
            : [listen.Address];
    }

    /// <summary>Throws <see cref="SettingsException"/> naming the first wrong outbound setting.</summary>
    public static void Validate(ProviderSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var r = s.Relay;
        ProviderSettingsLoader.Positive(r.MessageLifetimeHours, "relay.messageLifetimeHours");
        ProviderSettingsLoader.Positive(r.InitialRetrySeconds, "relay.initialRetrySeconds");
        ProviderSettingsLoader.Positive(r.MaxRetrySeconds, "relay.maxRetrySeconds");
        if (r.MaxRetrySeconds < r.InitialRetrySeconds)
        {
            Fail("relay.maxRetrySeconds", "must be at least relay.initialRetrySeconds");
        }

        if (r.DelayWarningHours < 0 || r.DelayWarningHours >= r.MessageLifetimeHours)
        {
            Fail("relay.delayWarningHours", "must be 0 (off) or shorter than relay.messageLifetimeHours");
        }

        ProviderSettingsLoader.Positive(r.MaxConnections, "relay.maxConnections");
        ProviderSettingsLoader.Positive(r.MaxConnectionsPerDestination, "relay.maxConnectionsPerDestination");
        if (r.MaxConnectionsPerDestination > r.MaxConnections)
        {
            Fail("relay.maxConnectionsPerDestination", "cannot exceed relay.maxConnections");
        }

        ProviderSettingsLoader.Positive(r.BatchSize, "relay.batchSize");
        ProviderSettingsLoader.Positive(r.LeaseSeconds, "relay.leaseSeconds");
        ProviderSettingsLoader.Positive(r.PollSeconds, "relay.pollSeconds");
        ProviderSettingsLoader.Positive(r.ConnectTimeoutSeconds, "relay.connectTimeoutSeconds");
        ProviderSettingsLoader.Positive(r.CommandTimeoutSeconds, "relay.commandTimeoutSeconds");
        if (r.SmtpPort is <= 0 or > 65535)
        {
            Fail("relay.smtpPort", "must be a TCP port");
        }

        foreach (var (host, port) in r.PortOverrides)
        {
            if (!ProviderSettingsLoader.IsDomain(host) || port is <= 0 or > 65535)
            {
                Fail("relay.portOverrides", $"'{host}': {port} must map a host name to a TCP port");
            }
        }

        var sources = new List<System.Net.IPAddress>();
        foreach (string text in r.SourceAddresses)
        {
            if (!System.Net.IPAddress.TryParse(text, out var address) || sources.Any(a => a.AddressFamily == address.AddressFamily))
            {
                Fail("relay.sourceAddresses", $"'{text}' must be an IP address, at most one IPv4 and one IPv6");
            }

            sources.Add(address!);
        }

        RequireFile(s, r.QueueKey, "relay.queueKey");
        if (r.TrustedRoots.Length > 0)
        {
            RequireFile(s, r.TrustedRoots, "relay.trustedRoots");
        }

        var m = s.Submission;
        if (m.Listen.Length > 0)
        {
            ProviderSettingsLoader.ParseEndPoint(m.Listen, "submission.listen");
        }

        if (m.ListenTls.Length > 0)
        {
            ProviderSettingsLoader.ParseEndPoint(m.ListenTls, "submission.listenTls");
        }

        ProviderSettingsLoader.Positive(m.MaxMessageSize, "submission.maxMessageSize");
        ProviderSettingsLoader.Positive(m.MaxRecipientsPerMessage, "submission.maxRecipientsPerMessage");
        ProviderSettingsLoader.Positive(m.MaxMessagesPerHour, "submission.maxMessagesPerHour");
        ProviderSettingsLoader.Positive(m.MaxRecipientsPerDay, "submission.maxRecipientsPerDay");
        if (m.MaxRecipientsPerDay < m.MaxRecipientsPerMessage)
        {
            Fail("submission.maxRecipientsPerDay", "must be at least submission.maxRecipientsPerMessage");
        }

        ProviderSettingsLoader.Positive(m.TokenLifetimeDays, "submission.tokenLifetimeDays");
        if (s.MtaSts.Mode is not ("none" or "testing" or "enforce"))
        {
            Fail("mtaSts.mode", "must be \"none\", \"testing\" or \"enforce\"");
        }

        if (s.MtaSts.MaxAgeSeconds is <= 0 or > (int)Letterlock.Relay.Tls.MtaStsPolicy.MaxAgeLimitSeconds)
        {
            Fail("mtaSts.maxAgeSeconds", $"must be between 1 and {Letterlock.Relay.Tls.MtaStsPolicy.MaxAgeLimitSeconds} (RFC 8461, 3.2)");
        }

        if (string.IsNullOrWhiteSpace(s.Dkim.Ed25519Selector) || !s.Dkim.Ed25519Selector.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
        {
            Fail("dkim.ed25519Selector", "must be letters, digits, '-' or '.'");
        }

        if (string.Equals(s.Dkim.Ed25519Selector, s.Dkim.Selector, StringComparison.OrdinalIgnoreCase))
        {
            Fail("dkim.ed25519Selector", "must differ from dkim.selector: each key needs its own DNS record");
        }

        RequireFile(s, s.Dkim.Key, "dkim.key");
        RequireFile(s, s.Dkim.Ed25519Key, "dkim.ed25519Key");
    }

    /// <summary>The relay's options for these settings.</summary>
    public static RelayOptions ToRelayOptions(ProviderSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var r = s.Relay;
        return new RelayOptions
        {
            HeloName = s.HostName,
            SmtpPort = r.SmtpPort,
            ConnectTimeout = TimeSpan.FromSeconds(r.ConnectTimeoutSeconds),
            CommandTimeout = TimeSpan.FromSeconds(r.CommandTimeoutSeconds),
            Dane = r.Dane,
            MtaSts = r.MtaSts,
            MessageLifetime = TimeSpan.FromHours(r.MessageLifetimeHours),
            InitialRetryDelay = TimeSpan.FromSeconds(r.InitialRetrySeconds),
            MaxRetryDelay = TimeSpan.FromSeconds(r.MaxRetrySeconds),
            DelayWarningAfter = r.DelayWarningHours == 0 ? null : TimeSpan.FromHours(r.DelayWarningHours),
            MaxConcurrentConnections = r.MaxConnections,
            MaxConnectionsPerDestination = r.MaxConnectionsPerDestination,
            LeaseBatchSize = r.BatchSize,
            LeaseDuration = TimeSpan.FromSeconds(r.LeaseSeconds),
            PollInterval = TimeSpan.FromSeconds(r.PollSeconds),
            // the queue holds the message with the fields submission adds (Received, Date, Message-ID)
            MaxMessageSize = s.Submission.MaxMessageSize + Outbound.SubmissionService.AddedFieldsAllowance,
            MaxRecipients = s.Submission.MaxRecipientsPerMessage,
            MimeLimits = RelayMimeLimits(s.Mx.ToLimits()),
        };
    }

    /// <summary>
    /// The relay checks what submission queued: the submitted message (within the <c>mx.*</c> limits) plus the fields
    /// submission adds on top (<c>Received</c>, and <c>Date</c> and <c>Message-ID</c> when missing).
    /// </summary>
    private static Letterlock.OpenPgp.Mime.MimeLimits RelayMimeLimits(Letterlock.OpenPgp.Mime.MimeLimits submitted) => new()
    {
        MaxHeaderBytes = submitted.MaxHeaderBytes + Outbound.SubmissionService.AddedFieldsAllowance,
        MaxTotalHeaderBytes = submitted.MaxTotalHeaderBytes + Outbound.SubmissionService.AddedFieldsAllowance,
        MaxHeaderFields = submitted.MaxHeaderFields + 3,
        MaxHeaderFieldLines = submitted.MaxHeaderFieldLines,
        MaxMimeParts = submitted.MaxMimeParts,
        MaxMimeDepth = submitted.MaxMimeDepth,
    };

    /// <summary>The trusted roots of <see cref="RelaySettings.TrustedRoots"/>, or null for the system's.</summary>
    public static X509Certificate2Collection? LoadTrustedRoots(ProviderSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Relay.TrustedRoots.Length == 0)
        {
            return null;
        }

        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(s.ResolvePath(s.Relay.TrustedRoots));
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException)
        {
            Fail("relay.trustedRoots", $"cannot read PEM certificates ({e.Message})");
        }

        if (roots.Count == 0)
        {
            Fail("relay.trustedRoots", "the file holds no certificate");
        }

        return roots;
    }

    /// <summary>The end point of an optional listener setting, or null when it is empty (off).</summary>
    public static IPEndPoint? OptionalEndPoint(string value, string setting) =>
        value.Length == 0 ? null : ProviderSettingsLoader.ParseEndPoint(value, setting);

    private static void RequireFile(ProviderSettings s, string relative, string setting)
    {
        if (string.IsNullOrWhiteSpace(relative) || !File.Exists(s.ResolvePath(relative)))
        {
            Fail(setting, $"file '{relative}' does not exist");
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string setting, string problem) => ProviderSettingsLoader.Fail(setting, problem);
}
