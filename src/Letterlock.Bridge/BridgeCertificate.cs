using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Letterlock.Client.Store;

namespace Letterlock.Bridge;

/// <summary>
/// The bridge's TLS certificate: self-signed for <c>localhost</c> and 127.0.0.1, generated on the
/// device and kept (with its private key) sealed in the store, so it stays the same between runs
/// and a mail app that accepted it once keeps trusting it. No CA is installed anywhere; the bridge
/// prints the certificate's SHA-256 fingerprint so the user can compare it with what the app shows.
/// </summary>
public static class BridgeCertificate
{
    private const string SettingName = "bridge.tls";

    /// <summary>The stored certificate, or a new one (valid ten years).</summary>
    public static async Task<X509Certificate2> GetOrCreateAsync(LocalStore store, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (await store.Settings.GetAsync(SettingName, ct).ConfigureAwait(false) is { } stored)
        {
            var pem = Encoding.ASCII.GetString(stored);
            int split = pem.IndexOf("-----BEGIN PRIVATE KEY-----", StringComparison.Ordinal);
            if (split > 0)
            {
                var certificate = X509Certificate2.CreateFromPem(pem.AsSpan(0, split), pem.AsSpan(split));
                if (certificate.NotAfter > DateTime.UtcNow.AddDays(30))
                {
                    return certificate;
                }

                certificate.Dispose();
            }
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Letterlock bridge (localhost)", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        var created = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));
        var text = created.ExportCertificatePem() + "\n" + key.ExportPkcs8PrivateKeyPem();
        await store.Settings.SetAsync(SettingName, Encoding.ASCII.GetBytes(text), ct).ConfigureAwait(false);
        return created;
    }

    /// <summary>The SHA-256 fingerprint as colon-separated hex, as mail apps show it.</summary>
    public static string Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return string.Join(':', certificate.GetCertHash(HashAlgorithmName.SHA256).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
    }
}
