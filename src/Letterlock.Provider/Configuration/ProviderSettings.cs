using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Letterlock.Provider.Configuration;

/// <summary>The provider's settings file (<c>provider.json</c> in the data directory, JSON with comments).</summary>
public sealed class ProviderSettings
{
    public string Domain { get; set; } = "";

    public string HostName { get; set; } = "";

    public string Database { get; set; } = "sqlite:letterlock.db";

    public SmtpSettings Smtp { get; set; } = new();

    public ApiSettings Api { get; set; } = new();

    public TlsSettings Tls { get; set; } = new();

    /// <summary>Automatic certificates with ACME (docs/design/acme.md); off unless turned on.</summary>
    public AcmeSettings Acme { get; set; } = new();

    public DkimSettings Dkim { get; set; } = new();

    public string SigningKey { get; set; } = "keys/provider-signing.key";

    public AccountSettings Accounts { get; set; } = new();

    /// <summary>The relay for linking a device without the password (<c>/v1/link</c>).</summary>
    public LinkSettings Link { get; set; } = new();

    public StorageSettings Storage { get; set; } = new();

    public MxSettings Mx { get; set; } = new();

    public DnsSettings Dns { get; set; } = new();

    public RelaySettings Relay { get; set; } = new();

    public SubmissionSettings Submission { get; set; } = new();

    public MtaStsSettings MtaSts { get; set; } = new();

    public TransparencySettings Transparency { get; set; } = new();

    public NativeSettings Native { get; set; } = new();

    /// <summary>The operations listener: health and metrics (docs/design/operations.md).</summary>
    public OpsSettings Ops { get; set; } = new();

    /// <summary>The PROXY protocol from a load balancer in front of the SMTP and HTTPS listeners (off by default).</summary>
    public ProxyProtocolSettings ProxyProtocol { get; set; } = new();

    /// <summary>The directory the settings were loaded from; relative paths are resolved against it.</summary>
    [JsonIgnore]
    public string DataDirectory { get; set; } = "";

    public string ResolvePath(string path) => Path.GetFullPath(Path.Combine(DataDirectory, path));
}

public sealed class SmtpSettings
{
    public string Listen { get; set; } = "0.0.0.0:25";

    public int MaxMessageSize { get; set; } = 25 * 1024 * 1024;

    public int MaxRecipients { get; set; } = 100;

    public int MaxConnections { get; set; } = 1000;

    public int MaxConnectionsPerClient { get; set; } = 50;

    public int MaxConnectionRatePerClient { get; set; } = 600;

    public int MaxCommandLineLength { get; set; } = 2048;

    public int CommandTimeoutSeconds { get; set; } = 300;

    public int SessionTimeoutSeconds { get; set; } = 1800;
}

public sealed class ApiSettings
{
    public string Listen { get; set; } = "0.0.0.0:443";

    public long MaxDocumentSize { get; set; } = 64L * 1024 * 1024;

    public int TokenLifetimeSeconds { get; set; } = 900;

    public int ChallengeLifetimeSeconds { get; set; } = 120;

    public int LongPollMaxSeconds { get; set; } = 60;

    public int ChangesPageMax { get; set; } = 1000;

    public long MaxJsonBodySize { get; set; } = 1024 * 1024;

    /// <summary>Most operations in one <c>POST /v1/documents/batch</c>.</summary>
    public int MaxBatchOperations { get; set; } = 500;

    /// <summary>Largest <c>POST /v1/documents/batch</c> body (JSON, contents in base64), in bytes.</summary>
    public long MaxBatchBodySize { get; set; } = 32L * 1024 * 1024;

    /// <summary>Most ciphertext bytes one page of <c>GET /v1/changes?content=1</c> carries (a client may ask for less).</summary>
    public long MaxChangesContentBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Sign-up requests one client (IPv4 address or IPv6 /64) may make per hour; more get 429.</summary>
    public int SignUpsPerHourPerClient { get; set; } = 20;

    /// <summary>Login challenges one client may request per minute; more get 429.</summary>
    public int ChallengesPerMinutePerClient { get; set; } = 120;
}

public sealed class TlsSettings
{
    public string Certificate { get; set; } = "tls/cert.pem";

    public string Key { get; set; } = "tls/key.pem";
}

public sealed class DkimSettings
{
    public string Selector { get; set; } = "letterlock1";

    public string Key { get; set; } = "dkim/letterlock1.pem";

    /// <summary>The Ed25519 key (ed25519-sha256, RFC 8463); every message gets both signatures.</summary>
    public string Ed25519Selector { get; set; } = "letterlock1ed";

    public string Ed25519Key { get; set; } = "dkim/letterlock1ed.pem";
}

public sealed class AccountSettings
{
    /// <summary><c>open</c> or <c>invite</c>.</summary>
    public string SignUp { get; set; } = "invite";

    public long DefaultQuotaBytes { get; set; } = 1024L * 1024 * 1024;

    public int InviteLifetimeHours { get; set; } = 168;

    /// <summary>Days a deleted account's address stays taken, so nobody inherits its mail or its correspondents' trust.</summary>
    public int DeletedAddressQuarantineDays { get; set; } = 365;

    /// <summary>Failed logins (password or recovery code) an account allows before each further attempt waits.</summary>
    public int FreeFailedLogins { get; set; } = 5;

    /// <summary>The wait after the first failure beyond the free ones; it doubles with each further failure.</summary>
    public int FailedLoginBackoffSeconds { get; set; } = 30;

    /// <summary>The longest wait between failed logins.</summary>
    public int MaxFailedLoginBackoffSeconds { get; set; } = 3600;

    /// <summary>How long the state between the two messages of a login is kept.</summary>
    public int LoginLifetimeSeconds { get; set; } = 120;

    /// <summary>
    /// Argon2id memory (KiB) of every password registered from now on. One value for all accounts, so a login for an
    /// unknown address is answered with the same parameters as one for a known address (no enumeration).
    /// </summary>
    public int PasswordArgon2idMemoryKiB { get; set; } = 64 * 1024;

    /// <summary>Argon2id passes of every password registered from now on (see <see cref="PasswordArgon2idMemoryKiB"/>).</summary>
    public int PasswordArgon2idIterations { get; set; } = 3;
}

/// <summary>
/// The device-link relay: it passes opaque messages between a new device and an approving one and forgets them
/// when the link expires (docs/design/accounts.md, "Linking a device").
/// </summary>
public sealed class LinkSettings
{
    /// <summary>Seconds a link stays open from its start; then its messages are gone and its code means nothing.</summary>
    public int LifetimeSeconds { get; set; } = 600;

    /// <summary>The largest relayed message, in bytes (a CPace message or the sealed account secrets is a few hundred).</summary>
    public int MaxMessageBytes { get; set; } = 4096;

    /// <summary>Links started plus link codes looked up, per client (IPv4 address or IPv6 /64) and hour.</summary>
    public int AttemptsPerHourPerClient { get; set; } = 30;

    /// <summary>Links open at once on this node; beyond it a start is refused (the relay keeps them in memory).</summary>
    public int MaxOpenLinks { get; set; } = 10000;
}

/// <summary>
/// Limits on the MIME structure of arriving mail (<c>mx.*</c>), checked in one linear pass while the message arrives,
/// before anything is parsed: a message beyond one is answered <c>552 5.3.4</c> naming the limit. docs/design/security.md
/// ("Resource bounds") gives the reason for each default.
/// </summary>
public sealed class MxSettings
{
    /// <summary>Largest header block of one entity (the message's own or a part's), in bytes.</summary>
    public int MaxHeaderBytes { get; set; } = Letterlock.OpenPgp.Mime.MimeLimits.Default.MaxHeaderBytes;

    /// <summary>Most fields in one header block.</summary>
    public int MaxHeaderFields { get; set; } = Letterlock.OpenPgp.Mime.MimeLimits.Default.MaxHeaderFields;

    /// <summary>Most physical lines one header field may be folded over.</summary>
    public int MaxHeaderFieldLines { get; set; } = Letterlock.OpenPgp.Mime.MimeLimits.Default.MaxHeaderFieldLines;

    /// <summary>Most header bytes of all entities of a message together.</summary>
    public int MaxTotalHeaderBytes { get; set; } = Letterlock.OpenPgp.Mime.MimeLimits.Default.MaxTotalHeaderBytes;

    /// <summary>Most MIME entities in one message.</summary>
    public int MaxMimeParts { get; set; } = Letterlock.OpenPgp.Mime.MimeLimits.Default.MaxMimeParts;

    /// <summary>Deepest nesting of multiparts and attached messages.</summary>
    public int MaxMimeDepth { get; set; } = Letterlock.OpenPgp.Mime.MimeLimits.Default.MaxMimeDepth;

    /// <summary>
    /// What the sender is told of a message beyond a limit: what exceeds it and the setting's name (<c>mx.maxMimeParts</c>),
    /// nothing of the content. The same limits hold for arriving and for submitted mail.
    /// </summary>
    public static string Describe(Letterlock.OpenPgp.Mime.MimeLimitViolation violation)
    {
        ArgumentNullException.ThrowIfNull(violation);
        return $"Message refused: {violation.Description} (limit mx.{char.ToLowerInvariant(violation.Limit[0])}{violation.Limit[1..]})";
    }

    /// <summary>The limits as the scanner and the parser take them (validated by <see cref="ProviderSettingsLoader.Validate"/>).</summary>
    public Letterlock.OpenPgp.Mime.MimeLimits ToLimits() => new()
    {
        MaxHeaderBytes = MaxHeaderBytes,
        MaxHeaderFields = MaxHeaderFields,
        MaxHeaderFieldLines = MaxHeaderFieldLines,
        MaxTotalHeaderBytes = MaxTotalHeaderBytes,
        MaxMimeParts = MaxMimeParts,
        MaxMimeDepth = MaxMimeDepth,
    };
}

public sealed class StorageSettings
{
    /// <summary>Ciphertexts larger than this go to the content-addressed blob store instead of the database.</summary>
    public int InlineThreshold { get; set; } = 64 * 1024;

    /// <summary>Plaintext of an arriving message above this is spilled to a temporary file encrypted under an ephemeral key.</summary>
    public int SpillThreshold { get; set; } = 1024 * 1024;

    /// <summary>How often blobs no document refers to any more (deleted or replaced documents) are removed.</summary>
    public int BlobSweepMinutes { get; set; } = 60;

    /// <summary>A blob written or re-used within this many minutes is never removed, so a write in flight keeps its blob.</summary>
    public int BlobGraceMinutes { get; set; } = 60;

    /// <summary>
    /// Where blobs live: <c>database</c> (in PostgreSQL, so every node of a cluster sees them; the default with
    /// PostgreSQL) or <c>folder</c> (<c>blobs/</c> in the data directory; the default with SQLite, and the only
    /// choice there). Empty: the backend's default.
    /// </summary>
    public string Blobs { get; set; } = "";

    /// <summary>Whether blobs go to the database for a provider on <paramref name="database"/>.</summary>
    /// <exception cref="SettingsException">The choice does not fit the backend.</exception>
    public bool BlobsInDatabase(DatabaseLocation database)
    {
        ArgumentNullException.ThrowIfNull(database);
        if (Blobs == "database" && !database.IsPostgres)
        {
            ProviderSettingsLoader.Fail("storage.blobs", "'database' needs a PostgreSQL database (SQLite keeps blobs in a folder)");
        }

        return Blobs == "database" || (Blobs == "" && database.IsPostgres);
    }
}

/// <summary>
/// The PROXY protocol (<c>"proxyProtocol"</c> in provider.json; HAProxy's specification, versions 1 and 2) on the SMTP
/// (MX) and HTTPS listeners. With a load balancer in TCP mode every connection comes from the balancer; with
/// <c>send-proxy-v2</c> it starts with a header naming the real client, which the per-client limits then count.
/// Only peers listed here are believed, and from them the header is required; from any other peer none is read.
/// </summary>
public sealed class ProxyProtocolSettings
{
    /// <summary>Addresses or networks of the proxies (<c>"10.0.0.5"</c>, <c>"10.0.0.0/24"</c>); empty: the PROXY protocol is off.</summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>Longest wait for a trusted proxy's header before the connection is dropped.</summary>
    public int HeaderTimeoutSeconds { get; set; } = 10;

    /// <summary>Longest header taken, in bytes (at least 107, a v1 header; 536 leaves room for v2 TLVs).</summary>
    public int MaxHeaderBytes { get; set; } = 536;

    /// <summary>The trusted proxies as networks (a single address is a /32 or /128).</summary>
    /// <exception cref="SettingsException">An entry is neither an address nor a network.</exception>
    public IReadOnlyList<IPNetwork> Networks() => TrustedProxies.Select(entry =>
        IPNetwork.TryParse(entry, out var network) ? network
        : IPAddress.TryParse(entry, out var address) ? new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
        : throw new SettingsException($"setting 'proxyProtocol.trustedProxies': '{entry}' is not an IP address or network (such as 10.0.0.0/24)")).ToList();
}

/// <summary>
/// The operations listener (<c>"ops"</c> in provider.json): <c>GET /healthz</c> and <c>GET /metrics</c> over plain HTTP
/// on their own address, apart from the public API so that a firewall keeps them private. Off ("") when the settings
/// file does not name it, so an upgrade opens no new port; <c>provider init</c> writes 127.0.0.1:9464.
/// </summary>
public sealed class OpsSettings
{
    /// <summary>address:port, or "" for off.</summary>
    public string Listen { get; set; } = "";
}

public sealed class DnsSettings
{
    /// <summary><c>system</c> (DnsClient, the host's or <see cref="Servers"/>) or <c>static:FILE</c> (a fixed map, for sandboxes).</summary>
    public string Resolver { get; set; } = "system";

    /// <summary>Name servers as address:port; empty for the host's.</summary>
    public IList<string> Servers { get; set; } = [];

    public int TimeoutSeconds { get; set; } = 5;

    /// <summary>
    /// The Public Suffix List file DMARC finds organizational domains with; empty: Debian's (package
    /// <c>publicsuffix</c>) when installed, else the last two labels (start-up warns).
    /// </summary>
    public string PublicSuffixList { get; set; } = string.Empty;
}

/// <summary>A setting is wrong: the message names it.</summary>
public sealed class SettingsException(string message) : Exception(message);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ProviderSettings))]
internal sealed partial class SettingsJsonContext : JsonSerializerContext;

/// <summary>Reads and validates the settings file; every failure names the setting at fault.</summary>
public static class ProviderSettingsLoader
{
    public const string FileName = "provider.json";

    public static ProviderSettings Load(string dataDirectory)
    {
        string path = Path.Combine(dataDirectory, FileName);
        if (!File.Exists(path))
        {
            throw new SettingsException($"no settings file at {path}; run 'letterlock provider init' first");
        }

        ProviderSettings? settings;
        try
        {
            settings = JsonSerializer.Deserialize(File.ReadAllText(path), SettingsJsonContext.Default.ProviderSettings);
        }
        catch (JsonException e)
        {
            string where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $"setting '{e.Path.TrimStart('$', '.')}': ";
            throw new SettingsException($"{path}: {where}{FirstSentence(e.Message)}");
        }

        if (settings is null)
        {
            throw new SettingsException($"{path}: the file is empty");
        }

        settings.DataDirectory = Path.GetFullPath(dataDirectory);
        Validate(settings);
        return settings;
    }

    public static void Validate(ProviderSettings s)
    {
        if (!IsDomain(s.Domain))
        {
            Fail("domain", "must be a domain name such as example.org");
        }

        if (!IsDomain(s.HostName))
        {
            Fail("hostName", "must be a host name such as mx.example.org");
        }

        ParseEndPoint(s.Smtp.Listen, "smtp.listen");
        ParseEndPoint(s.Api.Listen, "api.listen");
        if (s.Ops.Listen.Length > 0)
        {
            ParseEndPoint(s.Ops.Listen, "ops.listen");
        }

        Positive(s.Smtp.MaxMessageSize, "smtp.maxMessageSize");
        Positive(s.Smtp.MaxRecipients, "smtp.maxRecipients");
        Positive(s.Smtp.MaxConnections, "smtp.maxConnections");
        Positive(s.Smtp.MaxConnectionsPerClient, "smtp.maxConnectionsPerClient");
        Positive(s.Smtp.MaxConnectionRatePerClient, "smtp.maxConnectionRatePerClient");
        if (s.Smtp.MaxCommandLineLength < 512)
        {
            Fail("smtp.maxCommandLineLength", "must be at least 512 (RFC 5321, 4.5.3.1.4)");
        }

        Positive(s.Smtp.CommandTimeoutSeconds, "smtp.commandTimeoutSeconds");
        Positive(s.Smtp.SessionTimeoutSeconds, "smtp.sessionTimeoutSeconds");
        Positive(s.Api.MaxDocumentSize, "api.maxDocumentSize");
        Positive(s.Api.TokenLifetimeSeconds, "api.tokenLifetimeSeconds");
        Positive(s.Api.ChallengeLifetimeSeconds, "api.challengeLifetimeSeconds");
        Positive(s.Api.LongPollMaxSeconds, "api.longPollMaxSeconds");
        Positive(s.Api.ChangesPageMax, "api.changesPageMax");
        Positive(s.Api.MaxJsonBodySize, "api.maxJsonBodySize");
        Positive(s.Api.MaxBatchOperations, "api.maxBatchOperations");
        Positive(s.Api.MaxBatchBodySize, "api.maxBatchBodySize");
        Positive(s.Api.MaxChangesContentBytes, "api.maxChangesContentBytes");
        Positive(s.Api.SignUpsPerHourPerClient, "api.signUpsPerHourPerClient");
        Positive(s.Api.ChallengesPerMinutePerClient, "api.challengesPerMinutePerClient");
        Positive(s.Accounts.DefaultQuotaBytes, "accounts.defaultQuotaBytes");
        Positive(s.Accounts.InviteLifetimeHours, "accounts.inviteLifetimeHours");
        Positive(s.Accounts.DeletedAddressQuarantineDays, "accounts.deletedAddressQuarantineDays");
        Positive(s.Accounts.FreeFailedLogins, "accounts.freeFailedLogins");
        Positive(s.Accounts.FailedLoginBackoffSeconds, "accounts.failedLoginBackoffSeconds");
        Positive(s.Accounts.MaxFailedLoginBackoffSeconds, "accounts.maxFailedLoginBackoffSeconds");
        Positive(s.Accounts.LoginLifetimeSeconds, "accounts.loginLifetimeSeconds");
        var clientLimits = Letterlock.Cryptography.Opaque.OpaqueClientOptions.Default;
        if (s.Accounts.PasswordArgon2idMemoryKiB < clientLimits.MinArgon2idMemoryKiB || s.Accounts.PasswordArgon2idMemoryKiB > clientLimits.MaxArgon2idMemoryKiB)
        {
            Fail("accounts.passwordArgon2idMemoryKiB", $"must be {clientLimits.MinArgon2idMemoryKiB}..{clientLimits.MaxArgon2idMemoryKiB} (what clients accept)");
        }

        if (s.Accounts.PasswordArgon2idIterations < clientLimits.MinArgon2idIterations || s.Accounts.PasswordArgon2idIterations > clientLimits.MaxArgon2idIterations)
        {
            Fail("accounts.passwordArgon2idIterations", $"must be {clientLimits.MinArgon2idIterations}..{clientLimits.MaxArgon2idIterations} (what clients accept)");
        }

        if (s.Accounts.SignUp is not ("open" or "invite"))
        {
            Fail("accounts.signUp", "must be \"open\" or \"invite\"");
        }

        s.ProxyProtocol.Networks();
        Positive(s.ProxyProtocol.HeaderTimeoutSeconds, "proxyProtocol.headerTimeoutSeconds");
        if (s.ProxyProtocol.MaxHeaderBytes is < Letterlock.Smtp.Protocol.ProxyHeader.MaxVersion1Length or > 65_551)
        {
            Fail("proxyProtocol.maxHeaderBytes", $"must be between {Letterlock.Smtp.Protocol.ProxyHeader.MaxVersion1Length} and 65551");
        }

        Positive(s.Link.LifetimeSeconds, "link.lifetimeSeconds");
        Positive(s.Link.MaxMessageBytes, "link.maxMessageBytes");
        Positive(s.Link.AttemptsPerHourPerClient, "link.attemptsPerHourPerClient");
        Positive(s.Link.MaxOpenLinks, "link.maxOpenLinks");
        Positive(s.Mx.MaxHeaderBytes, "mx.maxHeaderBytes");
        Positive(s.Mx.MaxHeaderFields, "mx.maxHeaderFields");
        Positive(s.Mx.MaxHeaderFieldLines, "mx.maxHeaderFieldLines");
        Positive(s.Mx.MaxTotalHeaderBytes, "mx.maxTotalHeaderBytes");
        if (s.Mx.MaxTotalHeaderBytes < s.Mx.MaxHeaderBytes)
        {
            Fail("mx.maxTotalHeaderBytes", "must be at least mx.maxHeaderBytes");
        }

        Positive(s.Mx.MaxMimeParts, "mx.maxMimeParts");
        Positive(s.Mx.MaxMimeDepth, "mx.maxMimeDepth");
        Positive(s.Storage.InlineThreshold, "storage.inlineThreshold");
        Positive(s.Storage.SpillThreshold, "storage.spillThreshold");
        Positive(s.Storage.BlobSweepMinutes, "storage.blobSweepMinutes");
        Positive(s.Storage.BlobGraceMinutes, "storage.blobGraceMinutes");
        if (s.Storage.Blobs is not ("" or "folder" or "database"))
        {
            Fail("storage.blobs", "must be 'database', 'folder' or empty (the backend's default)");
        }
        if (string.IsNullOrWhiteSpace(s.Dkim.Selector) || !s.Dkim.Selector.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
        {
            Fail("dkim.selector", "must be letters, digits, '-' or '.'");
        }

        DatabaseLocation.Parse(s.Database, s.DataDirectory);
        Positive(s.Dns.TimeoutSeconds, "dns.timeoutSeconds");
        if (s.Dns.Resolver != "system" && !s.Dns.Resolver.StartsWith("static:", StringComparison.Ordinal))
        {
            Fail("dns.resolver", "must be \"system\" or \"static:FILE\"");
        }

        if (s.Dns.Resolver.StartsWith("static:", StringComparison.Ordinal))
        {
            RequireFile(s, s.Dns.Resolver["static:".Length..], "dns.resolver");
        }

        if (s.Dns.PublicSuffixList.Length > 0)
        {
            RequireFile(s, s.Dns.PublicSuffixList, "dns.publicSuffixList");
        }

        foreach (string server in s.Dns.Servers)
        {
            ParseEndPoint(server, "dns.servers");
        }
        RequireFile(s, s.Tls.Certificate, "tls.certificate");
        RequireFile(s, s.Tls.Key, "tls.key");
        RequireFile(s, s.SigningKey, "signingKey");
        OutboundSettingsValidator.Validate(s);
        TransparencySettings.Validate(s.Transparency);
        NativeSettings.Validate(s.Native);
        AcmeSettings.Validate(s);
    }

    /// <summary>The resolver the settings ask for.</summary>
    public static Letterlock.Dns.IDnsResolver CreateResolver(ProviderSettings s)
    {
        if (s.Dns.Resolver.StartsWith("static:", StringComparison.Ordinal))
        {
            string path = s.ResolvePath(s.Dns.Resolver["static:".Length..]);
            try
            {
                return Letterlock.Dns.StaticDnsResolver.Parse(File.ReadAllText(path));
            }
            catch (FormatException e)
            {
                Fail("dns.resolver", $"{path}: {e.Message}");
            }
        }

        return new Letterlock.Dns.SystemDnsResolver(s.Dns.Servers.Select(server => ParseEndPoint(server, "dns.servers")).ToList(), TimeSpan.FromSeconds(s.Dns.TimeoutSeconds));
    }

    /// <summary>
    /// The Public Suffix List the settings name, or Debian's when none is named and it is installed; null when
    /// there is none (DMARC then approximates organizational domains).
    /// </summary>
    public static Letterlock.Dns.PublicSuffixList? LoadPublicSuffixList(ProviderSettings s)
    {
        string path = s.Dns.PublicSuffixList.Length > 0 ? s.ResolvePath(s.Dns.PublicSuffixList) : Letterlock.Dns.PublicSuffixList.DebianPath;
        if (s.Dns.PublicSuffixList.Length == 0 && !File.Exists(path))
        {
            return null;
        }

        try
        {
            return Letterlock.Dns.PublicSuffixList.Load(path);
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
        {
            Fail("dns.publicSuffixList", $"{path}: {e.Message}");
            return null;
        }
    }

    public static IPEndPoint ParseEndPoint(string value, string setting)
    {
        if (!IPEndPoint.TryParse(value ?? "", out var endPoint) || !value!.Contains(':', StringComparison.Ordinal))
        {
            Fail(setting, $"'{value}' is not an address:port such as 0.0.0.0:25 or [::]:443");
        }

        return endPoint!;
    }

    private static void RequireFile(ProviderSettings s, string relative, string setting)
    {
        if (string.IsNullOrWhiteSpace(relative) || !File.Exists(s.ResolvePath(relative)))
        {
            Fail(setting, $"file '{relative}' does not exist");
        }
    }

    /// <summary>Fails start-up naming <paramref name="setting"/> unless the value is positive.</summary>
    internal static void Positive(long value, string setting)
    {
        if (value <= 0)
        {
            Fail(setting, "must be a positive number");
        }
    }

    /// <summary>Fails start-up naming <paramref name="setting"/> unless the value lies between the bounds (both included).</summary>
    internal static void Range(long value, long min, long max, string setting)
    {
        if (value < min || value > max)
        {
            Fail(setting, $"must be between {min} and {max}");
        }
    }

    internal static bool IsDomain(string value) =>
        !string.IsNullOrWhiteSpace(value) && value.Length <= 253 && value.Split('.').All(label =>
            label.Length is > 0 and <= 63 && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && label[0] != '-' && label[^1] != '-');

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    internal static void Fail(string setting, string problem) => throw new SettingsException($"setting '{setting}': {problem}");

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}

/// <summary>Where the data lives: <c>sqlite:PATH</c> or a <c>postgres://</c> URL.</summary>
public sealed record DatabaseLocation(bool IsPostgres, string ConnectionString, string Display)
{
    public static DatabaseLocation Parse(string value, string dataDirectory)
    {
        if (value.StartsWith("sqlite:", StringComparison.Ordinal))
        {
            string path = value["sqlite:".Length..];
            if (path.Length == 0)
            {
                ProviderSettingsLoader.Fail("database", "sqlite: needs a file path, e.g. sqlite:letterlock.db");
            }

            string full = Path.GetFullPath(Path.Combine(dataDirectory, path));
            return new DatabaseLocation(false, full, $"SQLite {full}");
        }

        if (value.StartsWith("postgres://", StringComparison.Ordinal) || value.StartsWith("postgresql://", StringComparison.Ordinal))
        {
            if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            {
                ProviderSettingsLoader.Fail("database", "is not a valid postgres://user@host:port/database URL");
            }

            var builder = new Npgsql.NpgsqlConnectionStringBuilder
            {
                Host = uri.Host,
                Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
                Database = uri.AbsolutePath.Trim('/') is { Length: > 0 } db ? Uri.UnescapeDataString(db) : "postgres",
            };
            if (!string.IsNullOrEmpty(uri.UserInfo))
            {
                string[] parts = uri.UserInfo.Split(':', 2);
                builder.Username = Uri.UnescapeDataString(parts[0]);
                if (parts.Length > 1)
                {
                    builder.Password = Uri.UnescapeDataString(parts[1]);
                }
            }

            foreach (string pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                string[] kv = pair.Split('=', 2);
                if (kv[0] == "host")
                {
                    builder.Host = Uri.UnescapeDataString(kv[1]);
                }
            }

            return new DatabaseLocation(true, builder.ConnectionString, $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}");
        }

        ProviderSettingsLoader.Fail("database", "must be sqlite:PATH or postgres://user@host:port/database");
        return null!;
    }
}
