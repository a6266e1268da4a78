using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Provider.Configuration;
using NSec.Cryptography;

namespace Letterlock.Provider.Hosting;

/// <summary>Generates the provider's keys and settings (<c>letterlock provider init</c>).</summary>
public static class ProviderKeys
{
    public sealed record InitOptions(string Domain, string DataDirectory, string? HostName = null, string? CertificatePath = null, string? KeyPath = null, string? SmtpListen = null, string? ApiListen = null, string SignUp = "invite", string? SubmissionListen = null, string? SubmissionTlsListen = null, string? OpsListen = null)
    {
        /// <summary>Turns ACME on with this contact address ("" turns it on without one); null leaves it off.</summary>
        public string? AcmeContact { get; init; }

        /// <summary>The ACME directory URL (default Let's Encrypt's).</summary>
        public string? AcmeDirectory { get; init; }

        /// <summary><c>http-01</c> or <c>tls-alpn-01</c>.</summary>
        public string AcmeChallenge { get; init; } = "http-01";
    }

    public sealed record InitResult(string SettingsPath, string DnsRecords);

    public static InitResult Initialize(InitOptions options)
    {
        if (!ProviderSettingsLoader.IsDomain(options.Domain))
        {
            throw new SettingsException($"'{options.Domain}' is not a domain name");
        }

        string domain = options.Domain.ToLowerInvariant();
        string hostName = (options.HostName ?? $"mx.{domain}").ToLowerInvariant();
        if (!ProviderSettingsLoader.IsDomain(hostName))
        {
            throw new SettingsException($"'{hostName}' is not a host name");
        }

        if (options.SignUp is not ("open" or "invite"))
        {
            throw new SettingsException($"--sign-up '{options.SignUp}' must be open or invite");
        }

        // Everything that can be wrong is checked before anything is written: a refused init leaves no folder behind.
        var listen = ListenDefaults.Resolve(options.SmtpListen, options.ApiListen, options.SubmissionListen, options.SubmissionTlsListen, options.OpsListen);
        string data = Path.GetFullPath(options.DataDirectory);
        string settingsPath = Path.Combine(data, ProviderSettingsLoader.FileName);
        if (File.Exists(settingsPath))
        {
            throw new SettingsException($"{settingsPath} already exists; refusing to overwrite keys");
        }

        string? certificate = null;
        string? key = null;
        if (options.CertificatePath is not null || options.KeyPath is not null)
        {
            if (options.CertificatePath is null || options.KeyPath is null)
            {
                throw new SettingsException("--tls-cert and --tls-key go together");
            }

            certificate = Path.GetFullPath(options.CertificatePath);
            key = Path.GetFullPath(options.KeyPath);
            if (!OperatingSystem.IsWindows() && File.Exists(key) && (File.GetUnixFileMode(key) & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            {
                throw new SettingsException($"--tls-key {key} can be read by every user of this machine; fix: chmod 600 {key} (the provider would refuse to start with it)");
            }

            try
            {
                using var check = X509Certificate2.CreateFromPemFile(certificate, key);
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new SettingsException($"--tls-cert {certificate} / --tls-key {key}: cannot load the certificate and key ({e.Message})");
            }
        }

        var acme = new AcmeSettings
        {
            Enabled = options.AcmeContact is not null,
            Contact = options.AcmeContact ?? "",
            Directory = options.AcmeDirectory ?? AcmeSettings.LetsEncrypt,
            Challenge = options.AcmeChallenge,
            HttpListen = listen.AcmeHttp,
        };
        AcmeSettings.Validate(new ProviderSettings { Domain = domain, HostName = hostName, Acme = acme });
        bool created = !Directory.Exists(data);
        try
        {
            return Write(domain, hostName, data, settingsPath, certificate, key, listen, options.SignUp, acme);
        }
        catch when (created)
        {
            // an I/O failure half-way (disk full, permissions): leave no folder that looks initialized but is not
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // the original failure is the one to report
            }

            throw;
        }
    }

    private static InitResult Write(string domain, string hostName, string data, string settingsPath, string? certificate, string? key, ListenDefaults listen, string signUp, AcmeSettings acme)
    {
        Directory.CreateDirectory(data);
        foreach (string sub in new[] { "tls", "dkim", "keys" })
        {
            Directory.CreateDirectory(Path.Combine(data, sub));
        }

        if (certificate is null || key is null)
        {
            certificate = "tls/cert.pem";
            key = "tls/key.pem";
            WriteSelfSigned(hostName, domain, Path.Combine(data, certificate), Path.Combine(data, key));
        }

        using (var dkim = RSA.Create(2048))
        {
            WriteSecret(Path.Combine(data, "dkim", "letterlock1.pem"), dkim.ExportPkcs8PrivateKeyPem());
        }

        _ = Outbound.OutboundKeys.Create(data);

        using (var signing = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }))
        {
            WriteSecret(Path.Combine(data, "keys", "provider-signing.key"), Convert.ToBase64String(signing.Export(KeyBlobFormat.RawPrivateKey)) + "\n");
        }

        File.WriteAllText(settingsPath, SettingsTemplate(domain, hostName, certificate, key, listen.Smtp, listen.Api, signUp,
            Outbound.OutboundKeys.SettingsSection(listen.Submission, listen.SubmissionTls), listen.Ops, acme));

        var settings = ProviderSettingsLoader.Load(data);
        using var tls = X509Certificate2.CreateFromPem(File.ReadAllText(settings.ResolvePath(settings.Tls.Certificate)));
        var records = DnsRecords.Expected(settings, tls);
        return new InitResult(settingsPath, DnsRecords.Format(records, listen.Notes));
    }

    public static byte[] LoadSigningPublicKey(string path)
    {
        try
        {
            byte[] seed = Convert.FromBase64String(File.ReadAllText(path).Trim());
            using var key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey);
            return key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"setting 'signingKey': cannot read an Ed25519 key from {path}");
        }
    }

    private static void WriteSelfSigned(string hostName, string domain, string certificatePath, string keyPath)
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostName}", ecdsa, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(hostName);
        san.AddDnsName(domain);
        san.AddDnsName($"openpgpkey.{domain}");
        san.AddDnsName($"mta-sts.{domain}");
        san.AddDnsName($"autoconfig.{domain}");
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(1));
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem() + "\n");
        WriteSecret(keyPath, ecdsa.ExportPkcs8PrivateKeyPem() + "\n");
    }

    private static void WriteSecret(string path, string content)
    {
        File.WriteAllText(path, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllText(path, content);
    }

    private static string SettingsTemplate(string domain, string hostName, string certificate, string key, string smtpListen, string apiListen, string signUp, string outboundSection, string opsListen, AcmeSettings acme) => $$"""
        // Letterlock provider settings. JSON with comments; relative paths are relative to this file's folder.
        // A wrong setting stops `letterlock provider serve` with a message naming it.
        {
          // The mail domain this provider serves: addresses are local@domain.
          "domain": "{{domain}}",
          // This server's host name: SMTP greeting, authserv-id of Authentication-Results, TLS certificate name.
          "hostName": "{{hostName}}",
          // Storage: "sqlite:FILE" (one file, the default) or "postgres://user:password@host:port/database"
          // for a cluster of provider processes. `serve --database` overrides it.
          "database": "sqlite:letterlock.db",

          "smtp": {
            // The MX listener (address:port). Production: 0.0.0.0:25.
            "listen": "{{smtpListen}}",
            // Largest message in bytes; larger ones get 552.
            "maxMessageSize": 26214400,
            // Recipients per message; more get 452 4.5.3.
            "maxRecipients": 100,
            // Simultaneous connections in total and per client IP, and new connections per minute per IP; beyond: 421.
            "maxConnections": 1000,
            "maxConnectionsPerClient": 50,
            "maxConnectionRatePerClient": 600,
            // Longest SMTP command line in bytes (RFC 5321 needs at least 512); longer ones get 500 5.5.2.
            "maxCommandLineLength": 2048,
            // Idle time allowed between commands, and the longest a session may last, in seconds.
            "commandTimeoutSeconds": 300,
            "sessionTimeoutSeconds": 1800
          },

          "api": {
            // The HTTPS JSON API and WKD listener (address:port). Production: 0.0.0.0:443.
            "listen": "{{apiListen}}",
            // Largest document a client may PUT, in bytes; larger ones get 413.
            "maxDocumentSize": 67108864,
            // Lifetime of bearer tokens and of authentication challenges, in seconds.
            "tokenLifetimeSeconds": 900,
            "challengeLifetimeSeconds": 120,
            // Longest long-poll wait on GET /v1/changes, in seconds; largest page of changes.
            "longPollMaxSeconds": 60,
            "changesPageMax": 1000,
            // Largest JSON request body, in bytes.
            "maxJsonBodySize": 1048576,
            // POST /v1/documents/batch: most operations, largest body (JSON with base64 contents), in bytes.
            "maxBatchOperations": 500,
            "maxBatchBodySize": 33554432,
            // GET /v1/changes?content=1: most ciphertext bytes in one page.
            "maxChangesContentBytes": 16777216,
            // Calls anyone can make without an account, per client (IPv4 address or IPv6 /64): sign-ups per hour
            // and login challenges per minute; more get 429 with Retry-After.
            "signUpsPerHourPerClient": 20,
            "challengesPerMinutePerClient": 120
          },

          // TLS certificate and key (PEM) for STARTTLS and HTTPS.{{(acme.Enabled ? " With acme on, the provider writes the certificate file itself." : "")}}
          "tls": { "certificate": "{{certificate.Replace("\\", "/", StringComparison.Ordinal)}}", "key": "{{key.Replace("\\", "/", StringComparison.Ordinal)}}" },
          // Automatic certificates with ACME (RFC 8555), e.g. Let's Encrypt: when enabled the provider obtains a certificate
          // for "names" (empty: hostName, domain, and mta-sts., openpgpkey., autoconfig. of the domain) into tls.certificate,
          // keeping the key at tls.key, and renews it renewBeforeDays before it expires, without a restart. Turning it on
          // agrees to the CA's terms of service. challenge: "http-01" (the CA fetches http://NAME/.well-known/acme-challenge/
          // from httpListen, reachable as port 80) or "tls-alpn-01" (the CA connects to the HTTPS listener, port 443).
          // contact: an e-mail address for the CA's expiry notices ("" for none). caBundle: PEM roots to trust for the
          // ACME server instead of the system's (a private or test CA). accountKey: created on first use, mode 0600.
          // A failed attempt is retried after retryMinutes; the current certificate stays in use meanwhile.
          "acme": {
            "enabled": {{(acme.Enabled ? "true" : "false")}},
            "directory": "{{acme.Directory}}",
            "contact": "{{acme.Contact}}",
            "challenge": "{{acme.Challenge}}",
            "httpListen": "{{acme.HttpListen}}",
            "names": [],
            "renewBeforeDays": 30,
            "retryMinutes": 60,
            "caBundle": "",
            "accountKey": "keys/acme-account.key",
            // Limits on the ACME server's answers: bytes per answer, seconds per request, seconds per whole order.
            "maxResponseBytes": 1048576,
            "requestTimeoutSeconds": 30,
            "maxOrderSeconds": 300
          },
          // DKIM keys for outgoing mail: every message is signed with rsa-sha256 and ed25519-sha256 (RFC 8463).
          // Publish both TXT records `letterlock provider init` printed.
          "dkim": { "selector": "letterlock1", "key": "dkim/letterlock1.pem", "ed25519Selector": "letterlock1ed", "ed25519Key": "dkim/letterlock1ed.pem" },
          // The provider's Ed25519 signing key: it signs the key-transparency tree heads (clients pin its public
          // half from /.well-known/letterlock), and the transparency VRF key is derived from it. Keep it safe.
          "signingKey": "keys/provider-signing.key",

          "transparency": {
            // Seconds between key-transparency epochs; an epoch is published only when a key set changed.
            "epochIntervalSeconds": 60,
            // Most addresses one epoch publishes (more wait for the next), heads per page, versions per monitoring answer.
            "maxChangesPerEpoch": 100000,
            "maxHeadsPerPage": 1000,
            "maxMonitorEntries": 1024,
            // Prefix-tree nodes cached in memory.
            "nodeCacheSize": 200000
          },

          "native": {
            // Prekeys of the native protocol between Letterlock users: one-time prekeys a device may keep here per
            // kind, the longest prekey (bytes) and the furthest expiry (days) accepted.
            "maxOneTimePrekeys": 200,
            "maxPrekeyLength": 1300,
            "maxPrekeyLifetimeDays": 60,
            // Prekey bundle fetches per hour: by one account through this provider, and by one other provider
            // (IPv4 address or IPv6 /64) at the federation endpoint; more get 429.
            "bundleFetchesPerHourPerAccount": 600,
            "bundleFetchesPerHourPerClient": 3600,
            // Fetching bundles from another provider: largest answer (bytes), time limit (seconds).
            "maxBundleResponseBytes": 262144,
            "federationTimeoutSeconds": 20
          },

          "accounts": {
            // "invite": sign-up needs a token from `letterlock provider invite`; "open": anyone may sign up.
            "signUp": "{{signUp}}",
            // Default quota per account, in bytes (change one account with `letterlock provider accounts quota`).
            "defaultQuotaBytes": 1073741824,
            // How long an invite token stays valid, in hours.
            "inviteLifetimeHours": 168,
            // Days a deleted account's address stays taken (nobody inherits its mail or its correspondents' trust).
            "deletedAddressQuarantineDays": 365,
            // Failed logins (password or recovery code) per address before each further attempt must wait; the
            // wait starts at failedLoginBackoffSeconds and doubles up to maxFailedLoginBackoffSeconds.
            "freeFailedLogins": 5,
            "failedLoginBackoffSeconds": 30,
            "maxFailedLoginBackoffSeconds": 3600,
            // How long the state between the two messages of a login is kept, in seconds.
            "loginLifetimeSeconds": 120,
            // Argon2id cost of every password registered from now on (clients accept 19456..1048576 KiB, 1..10
            // passes); one value for all accounts, so logins for unknown addresses look like real ones.
            "passwordArgon2idMemoryKiB": 65536,
            "passwordArgon2idIterations": 3
          },

          // The relay for "letterlock devices link": it passes opaque messages between a new device and an approving
          // one (held in memory, gone when the link expires). Attempts = links started plus codes looked up.
          "link": {
            "lifetimeSeconds": 600,
            "maxMessageBytes": 4096,
            "attemptsPerHourPerClient": 30,
            "maxOpenLinks": 10000
          },

          // DNS for SPF, DKIM and DMARC: "system" (the host's resolvers, or "servers" such as ["127.0.0.1:53"]),
          // or "static:FILE" with lines "name TYPE value" (A, AAAA, MX, TXT, TLSA, SRV; "ADDRESS PTR name") for a sandbox without network.
          // publicSuffixList: the Public Suffix List file for DMARC's organizational domains ("": Debian's
          // /usr/share/publicsuffix/public_suffix_list.dat when the publicsuffix package is installed).
          "dns": { "resolver": "system", "servers": [], "timeoutSeconds": 5, "publicSuffixList": "" },

          // Limits on the MIME structure of arriving mail, checked while it arrives (552 5.3.4 beyond one): bytes of one
          // header block and of all of them, fields per block, lines one field may be folded over, MIME parts, nesting.
          "mx": { "maxHeaderBytes": 262144, "maxHeaderFields": 1000, "maxHeaderFieldLines": 500, "maxTotalHeaderBytes": 1048576, "maxMimeParts": 1000, "maxMimeDepth": 32 },

          "storage": {
            // Ciphertexts larger than this (bytes) go to the content-addressed blob store instead of the document row.
            "inlineThreshold": 65536,
            // Arriving messages larger than this (bytes) are held in a temporary file sealed to a key kept only in memory.
            "spillThreshold": 1048576,
            // Blobs of deleted or replaced documents are removed every blobSweepMinutes, once unused for blobGraceMinutes.
            "blobSweepMinutes": 60,
            "blobGraceMinutes": 60,
            // Where blobs live: "database" (PostgreSQL only: every node of a cluster sees them), "folder" (blobs/ here),
            // or "" for the backend's default (database with PostgreSQL, folder with SQLite).
            "blobs": ""
          },
        {{outboundSection}},

          // Operations: GET /healthz (liveness and readiness: database reachable, storage writable) and GET /metrics
          // (Prometheus text format) on their own plain-HTTP listener, address:port. Keep it on loopback or a private
          // network: it needs no password. "" turns it off.
          "ops": { "listen": "{{opsListen}}" }
        }

        """;
}
