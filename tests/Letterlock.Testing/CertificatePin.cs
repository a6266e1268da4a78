using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Letterlock.Testing;

/// <summary>A mail client's check of a self-signed bridge certificate against the SHA-256 fingerprint the bridge printed.</summary>
public static class CertificatePin
{
    /// <summary>Whether <paramref name="certificate"/> has the fingerprint <paramref name="sha256"/> (hex, colons allowed).</summary>
    public static bool Matches(X509Certificate? certificate, string sha256) =>
        certificate is not null &&
        string.Equals(new X509Certificate2(certificate).GetCertHashString(HashAlgorithmName.SHA256), sha256.Replace(":", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
}
