using System.Security.Cryptography;
using System.Text;
using Letterlock.Cryptography;
using Letterlock.Provider.Configuration;
using Letterlock.Relay.Dkim;
using NSec.Cryptography;

namespace Letterlock.Provider.Outbound;

/// <summary>
/// The outbound path's part of <c>letterlock provider init</c>: the Ed25519 DKIM key (the RSA one is made with the
/// other keys), the relay queue key, the DNS records for them and the commented settings sections.
/// </summary>
internal sealed class OutboundKeys
{
    public const string Ed25519KeyFile = "dkim/letterlock1ed.pem";
    public const string QueueKeyFile = "keys/relay-queue.key";

    private OutboundKeys(DkimKey ed25519) => Ed25519 = ed25519;

    public DkimKey Ed25519 { get; }

    /// <summary>Writes the Ed25519 DKIM key and the queue key into <paramref name="dataDirectory"/> (mode 0600).</summary>
    public static OutboundKeys Create(string dataDirectory)
    {
        string pem;
        using (var key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }))
        {
            // PKCS#8 "PRIVATE KEY" PEM, the form DkimKey reads for both key types
            pem = Encoding.ASCII.GetString(key.Export(KeyBlobFormat.PkixPrivateKeyText));
        }

        WriteSecret(Path.Combine(dataDirectory, Ed25519KeyFile), pem);
        WriteSecret(Path.Combine(dataDirectory, QueueKeyFile), Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n");
        return new OutboundKeys(DkimKey.FromPem("letterlock1ed", pem));
    }

    /// <summary>Loads the queue key pair named by <c>relay.queueKey</c>.</summary>
    public static HpkeKeyPair LoadQueueKey(ProviderSettings settings)
    {
        string path = settings.ResolvePath(settings.Relay.QueueKey);
        try
        {
            byte[] secret = Convert.FromBase64String(File.ReadAllText(path).Trim());
            if (secret.Length != 32)
            {
                throw new FormatException("not 32 bytes");
            }

            return HpkeKeyPair.FromPrivateKey(secret);
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or HpkeException)
        {
            throw new SettingsException($"setting 'relay.queueKey': cannot read a 32-byte base64 X25519 key from {path}");
        }
    }

    /// <summary>Loads both DKIM keys; a failure names the setting.</summary>
    public static IReadOnlyList<DkimKey> LoadDkimKeys(ProviderSettings settings)
    {
        var keys = new List<DkimKey>(2);
        foreach (var (selector, file, setting, type) in new[]
        {
            (settings.Dkim.Ed25519Selector, settings.Dkim.Ed25519Key, "dkim.ed25519Key", DkimKeyType.Ed25519),
            (settings.Dkim.Selector, settings.Dkim.Key, "dkim.key", DkimKeyType.Rsa),
        })
        {
            DkimKey key;
            try
            {
                key = DkimKey.FromPem(selector, File.ReadAllText(settings.ResolvePath(file)));
            }
            catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new SettingsException($"setting '{setting}': {e.Message}");
            }

            if (key.Type != type)
            {
                throw new SettingsException($"setting '{setting}': the file holds an {key.Type} key, not an {type} key");
            }

            keys.Add(key);
        }

        return keys;
    }

    /// <summary>The commented "relay", "submission" and "mtaSts" sections of provider.json.</summary>
    /// <param name="starttls">The STARTTLS submission listener (already validated, or "" for off).</param>
    /// <param name="implicitTls">The implicit-TLS submission listener (likewise).</param>
    public static string SettingsSection(string starttls, string implicitTls)
    {
        string text = $$"""
            // Outbound relay: users' mail to other servers. Messages wait in an encrypted queue in the database,
            // are DKIM-signed, and go out over TLS as the destination's MTA-STS or DANE policy demands.
            "relay": {
              // The X25519 key every queue entry is sealed to.
              "queueKey": "{{QueueKeyFile}}",
              // How long a message is retried before it bounces, and when the sender hears it is delayed (0: never).
              "messageLifetimeHours": 120,
              "delayWarningHours": 4,
              // The first retry waits this long; each further one twice as long, up to maxRetrySeconds.
              "initialRetrySeconds": 300,
              "maxRetrySeconds": 14400,
              // Connections open at once in all and to one destination domain (a slow domain holds only its own).
              "maxConnections": 32,
              "maxConnectionsPerDestination": 4,
              // Messages one connection takes in a row; a crashed node's messages are retried after leaseSeconds.
              "batchSize": 20,
              "leaseSeconds": 600,
              // How often the queue is checked when nothing new arrived (other nodes may have queued mail).
              "pollSeconds": 15,
              // TCP connect timeout and the longest wait for a server reply, in seconds.
              "connectTimeoutSeconds": 30,
              "commandTimeoutSeconds": 300,
              // TLS policies of destinations: MTA-STS (RFC 8461) and DANE (RFC 7672, needs a DNSSEC-validating resolver).
              "mtaSts": true,
              "dane": true,
              "useIPv6": true,
              // Sandboxes only: the SMTP port of remote servers, roots trusted instead of the system's (PEM),
              // and per-host ports (e.g. { "mx.beta.test": 2526, "mta-sts.beta.test": 8443 }).
              "smtpPort": 25,
              "trustedRoots": "",
              "portOverrides": {}
            },

            // Authenticated submission from users' devices: the HTTPS API (POST /v1/submission) and SMTP with a
            // device-bound token from POST /v1/submission/token (AUTH PLAIN, only over TLS).
            "submission": {
              // SMTP submission with STARTTLS (production: 0.0.0.0:587) and with implicit TLS (0.0.0.0:465); "" turns one off.
              "listen": "{{starttls}}",
              "listenTls": "{{implicitTls}}",
              // Largest message in bytes and recipients per message.
              "maxMessageSize": 26214400,
              "maxRecipientsPerMessage": 100,
              // Per account: messages per clock hour and recipients per UTC day; beyond, submission is refused until the next one.
              "maxMessagesPerHour": 200,
              "maxRecipientsPerDay": 2000,
              // How long a submission token stays valid, in days (a device may fetch a new one at any time).
              "tokenLifetimeDays": 365
            },

            // The MTA-STS policy for this provider's own MX, served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt:
            // "none" (not served), "testing" or "enforce" (senders then deliver only over TLS with a valid certificate).
            "mtaSts": { "mode": "none", "maxAgeSeconds": 604800 }
            """;
        return string.Join('\n', text.Split('\n').Select(line => line.Length == 0 ? line : "  " + line));
    }

    private static void WriteSecret(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllText(path, content);
    }
}
