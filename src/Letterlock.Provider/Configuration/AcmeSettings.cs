using Letterlock.Provider.Acme;

namespace Letterlock.Provider.Configuration;

/// <summary>
/// Automatic certificates with ACME (RFC 8555), <c>"acme"</c> in provider.json: off by default, so a provider keeps
/// the certificate at tls.certificate/tls.key (self-made by <c>provider init</c> or installed) until an operator
/// turns it on. When on, the provider obtains a certificate for <see cref="Names"/> into those same files and renews
/// it <see cref="RenewBeforeDays"/> before it expires, without a restart (docs/design/acme.md).
/// </summary>
public sealed class AcmeSettings
{
    public const string LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory";

    /// <summary>Whether the provider obtains and renews its certificate itself.</summary>
    public bool Enabled { get; set; }

    /// <summary>The ACME server's directory URL (https).</summary>
    public string Directory { get; set; } = LetsEncrypt;

    /// <summary>An e-mail address the CA may write to about the account (expiry notices); "" for none.</summary>
    public string Contact { get; set; } = "";

    /// <summary><c>http-01</c> (port 80, <see cref="HttpListen"/>) or <c>tls-alpn-01</c> (the HTTPS listener, port 443).</summary>
    public string Challenge { get; set; } = "http-01";

    /// <summary>The plain-HTTP listener that answers HTTP-01 challenges (address:port; the CA connects to port 80).</summary>
    public string HttpListen { get; set; } = "0.0.0.0:80";

    /// <summary>The names of the certificate; empty: the host name, the domain, and mta-sts., openpgpkey., autoconfig. of it.</summary>
    public IList<string> Names { get; set; } = [];

    /// <summary>Renew when the certificate has fewer days left than this.</summary>
    public int RenewBeforeDays { get; set; } = 30;

    /// <summary>Minutes until another attempt after a failed one (unless the server asks for longer with Retry-After).</summary>
    public int RetryMinutes { get; set; } = 60;

    /// <summary>PEM roots that alone are trusted for the ACME server's HTTPS ("" for the system's): a private or test CA.</summary>
    public string CaBundle { get; set; } = "";

    /// <summary>The ACME account key (ECDSA P-256, PKCS#8 PEM, mode 0600), created on first use.</summary>
    public string AccountKey { get; set; } = "keys/acme-account.key";

    /// <summary>Largest answer read from the ACME server, in bytes.</summary>
    public int MaxResponseBytes { get; set; } = 1024 * 1024;

    /// <summary>Time limit of one request to the ACME server, in seconds.</summary>
    public int RequestTimeoutSeconds { get; set; } = 30;

    /// <summary>Longest one order may take, from creation to the downloaded certificate, in seconds.</summary>
    public int MaxOrderSeconds { get; set; } = 300;

    /// <summary>The certificate's names: <see cref="Names"/>, or the provider's names when that is empty.</summary>
    public IReadOnlyList<string> EffectiveNames(ProviderSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var names = Names.Count > 0
            ? Names
            : [settings.HostName, settings.Domain, $"mta-sts.{settings.Domain}", $"openpgpkey.{settings.Domain}", $"autoconfig.{settings.Domain}"];
        return names.Select(n => n.ToLowerInvariant()).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>The client limits these settings ask for.</summary>
    internal AcmeClientOptions ClientOptions() => new()
    {
        MaxResponseBytes = MaxResponseBytes,
        RequestTimeout = TimeSpan.FromSeconds(RequestTimeoutSeconds),
        MaxOrderDuration = TimeSpan.FromSeconds(MaxOrderSeconds),
    };

    /// <exception cref="SettingsException">A setting is wrong; the message names it.</exception>
    public static void Validate(ProviderSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var a = s.Acme;
        if (!Uri.TryCreate(a.Directory, UriKind.Absolute, out var directory) || directory.Scheme != Uri.UriSchemeHttps)
        {
            ProviderSettingsLoader.Fail("acme.directory", $"'{a.Directory}' is not an https URL such as {LetsEncrypt}");
        }

        if (a.Contact.Length > 0 && (a.Contact.Count(c => c == '@') != 1 || a.Contact.StartsWith('@') || !ProviderSettingsLoader.IsDomain(a.Contact[(a.Contact.IndexOf('@', StringComparison.Ordinal) + 1)..])
            || a.Contact.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is ',' or '<' or '>')))
        {
            ProviderSettingsLoader.Fail("acme.contact", $"'{a.Contact}' is not an e-mail address such as postmaster@example.org (or \"\" for none)");
        }

        if (a.Challenge is not ("http-01" or "tls-alpn-01"))
        {
            ProviderSettingsLoader.Fail("acme.challenge", "must be \"http-01\" or \"tls-alpn-01\"");
        }

        if (a.Challenge == "http-01")
        {
            ProviderSettingsLoader.ParseEndPoint(a.HttpListen, "acme.httpListen");
        }

        foreach (string name in a.Names)
        {
            if (!ProviderSettingsLoader.IsDomain(name ?? ""))
            {
                ProviderSettingsLoader.Fail("acme.names", $"'{name}' is not a host name (wildcards need DNS-01, which is not supported)");
            }
        }

        if (a.Names.Count > 100)
        {
            ProviderSettingsLoader.Fail("acme.names", "at most 100 names fit one certificate");
        }

        if (a.RenewBeforeDays is < 1 or > 365)
        {
            ProviderSettingsLoader.Fail("acme.renewBeforeDays", "must be 1..365");
        }

        foreach (var (value, setting) in new[] { (a.RetryMinutes, "acme.retryMinutes"), (a.MaxResponseBytes, "acme.maxResponseBytes"), (a.RequestTimeoutSeconds, "acme.requestTimeoutSeconds"), (a.MaxOrderSeconds, "acme.maxOrderSeconds") })
        {
            if (value <= 0)
            {
                ProviderSettingsLoader.Fail(setting, "must be a positive number");
            }
        }

        if (a.MaxResponseBytes < 16 * 1024)
        {
            ProviderSettingsLoader.Fail("acme.maxResponseBytes", "must be at least 16384 (a certificate chain)");
        }

        if (string.IsNullOrWhiteSpace(a.AccountKey))
        {
            ProviderSettingsLoader.Fail("acme.accountKey", "must name a file, e.g. keys/acme-account.key");
        }

        if (a.Enabled && a.CaBundle.Length > 0)
        {
            LoadCaBundle(s);
        }
    }

    /// <summary>The roots of <see cref="CaBundle"/>, or null for the system's.</summary>
    /// <exception cref="SettingsException">The file is missing, unreadable or holds no certificate.</exception>
    public static System.Security.Cryptography.X509Certificates.X509Certificate2Collection? LoadCaBundle(ProviderSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Acme.CaBundle.Length == 0)
        {
            return null;
        }

        string path = s.ResolvePath(s.Acme.CaBundle);
        var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
        {
            ProviderSettingsLoader.Fail("acme.caBundle", $"cannot read PEM certificates from {path} ({e.Message})");
        }

        if (roots.Count == 0)
        {
            ProviderSettingsLoader.Fail("acme.caBundle", $"{path} holds no certificate");
        }

        return roots;
    }
}
