using System.Text.Json.Serialization;

namespace Letterlock.Sandbox;

/// <summary>How to start the sandbox.</summary>
public sealed class SandboxOptions
{
    /// <summary>Where the sandbox keeps its state (CA, providers, client stores, logs). Created when missing.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>IMAP ports of alice's and bob's bridges on 127.0.0.1 (0 picks a free port).</summary>
    public (int Alice, int Bob) ImapPorts { get; init; }

    /// <summary>SMTP submission ports of alice's and bob's bridges on 127.0.0.1 (0 picks a free port).</summary>
    public (int Alice, int Bob) SmtpPorts { get; init; }

    /// <summary>Web app ports of alice's and bob's clients on 127.0.0.1 (0 picks a free port).</summary>
    public (int Alice, int Bob) WebPorts { get; init; }

    /// <summary>Whether each client also serves the web app (default true).</summary>
    public bool Web { get; init; } = true;

    /// <summary>How long to wait for the first message to reach bob's bridge (default 2 minutes; a loaded machine is slow).</summary>
    public TimeSpan FirstMessageTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Extra DNS records (a third domain and the port of its MX), from <c>--dns-records FILE</c>; null for none.</summary>
    public SandboxDnsRecords? DnsRecords { get; init; }

    /// <summary>Receives the bridges' sync and delivery log lines (never content); null: only the log files get them.</summary>
    public Action<string>? BridgeLog { get; init; }
}

/// <summary>The sandbox's failure to start, with a message for the person who ran it.</summary>
public sealed class SandboxException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>What a mail app needs for one sandbox account, and where its files are.</summary>
/// <param name="Address">The account.</param>
/// <param name="UserName">The user name to type (the address).</param>
/// <param name="Password">The bridge password (generated once, kept in the client's store).</param>
/// <param name="ImapHost">IMAP host.</param>
/// <param name="ImapPort">IMAP port.</param>
/// <param name="ImapSecurity"><c>STARTTLS</c>.</param>
/// <param name="SmtpHost">SMTP submission host.</param>
/// <param name="SmtpPort">SMTP submission port.</param>
/// <param name="SmtpSecurity"><c>STARTTLS</c>, AUTH PLAIN or LOGIN.</param>
/// <param name="CertificateSha256">SHA-256 of the bridge's self-signed certificate, to compare when the app asks.</param>
/// <param name="CertificatePath">The bridge's certificate as PEM, for apps that take a file (mutt's certificate_file).</param>
/// <param name="ClientDirectory">The client's data folder (its encrypted store), for <c>letterlock ... --data</c>.</param>
/// <param name="KeyFile">The key file that unlocks the client's store, for <c>letterlock ... --key-file</c>.</param>
/// <param name="WebUrl">The web app's address, when it runs.</param>
/// <param name="WebLoginLink">A one-time login link to the web app (the token is in the fragment).</param>
/// <param name="MuttConfig">A ready mutt/neomutt configuration for this account (<c>mutt -F FILE</c>); holds the password, mode 0600.</param>
public sealed record SandboxAccount(
    string Address,
    string UserName,
    string Password,
    string ImapHost,
    int ImapPort,
    string ImapSecurity,
    string SmtpHost,
    int SmtpPort,
    string SmtpSecurity,
    string CertificateSha256,
    string CertificatePath,
    string ClientDirectory,
    string KeyFile,
    string MuttConfig,
    string? WebUrl = null,
    string? WebLoginLink = null);

/// <summary>One of the sandbox's providers.</summary>
/// <param name="Domain">Its mail domain.</param>
/// <param name="Https">Its HTTPS API (and WKD, MTA-STS) on loopback.</param>
/// <param name="Smtp">Its MX on loopback.</param>
/// <param name="Submission">Its SMTP submission (STARTTLS) on loopback.</param>
/// <param name="DataDirectory">Its data folder (provider.json, database, blobs).</param>
public sealed record SandboxProvider(string Domain, string Https, string Smtp, string Submission, string DataDirectory);

/// <summary>Everything the sandbox prints (<c>--json</c>).</summary>
/// <param name="DataDirectory">The sandbox's folder.</param>
/// <param name="CaCertificate">The sandbox CA's root certificate (PEM) that the providers' certificates chain to.</param>
/// <param name="Providers">The two providers.</param>
/// <param name="Accounts">alice@alpha.test and bob@beta.test, each with its own bridge.</param>
/// <param name="FirstMessage">What became of the first message: <c>delivered</c> (this run) or <c>delivered earlier</c>.</param>
/// <param name="StartSeconds">How long starting took, in seconds.</param>
public sealed record SandboxInfo(string DataDirectory, string CaCertificate, IReadOnlyList<SandboxProvider> Providers, IReadOnlyList<SandboxAccount> Accounts,
    string FirstMessage, double StartSeconds);

/// <summary>State kept between runs in <c>sandbox.json</c>.</summary>
/// <param name="Version">Format version (1).</param>
/// <param name="FirstMessageDelivered">Whether the first message reached bob in an earlier run.</param>
/// <param name="BridgePorts">The bridges' ports of the last run (alice IMAP, alice SMTP, bob IMAP, bob SMTP), taken again if free.</param>
public sealed record SandboxState(int Version, bool FirstMessageDelivered, int[]? BridgePorts = null);

/// <summary>Source-generated JSON for the sandbox's output and state.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(SandboxInfo))]
[JsonSerializable(typeof(SandboxState))]
public sealed partial class SandboxJson : JsonSerializerContext;
