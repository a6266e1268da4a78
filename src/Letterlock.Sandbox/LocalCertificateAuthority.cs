using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Letterlock.Sandbox;

/// <summary>
/// A small certificate authority that lives on this machine: the sandbox's providers get their
/// TLS certificates from it, and clients of the sandbox trust exactly its root (nothing is
/// installed system-wide). ECDSA P-256, SHA-256.
/// </summary>
public sealed class LocalCertificateAuthority : IDisposable
{
    private LocalCertificateAuthority(X509Certificate2 root) => Root = root;

    /// <summary>The root certificate, with its private key.</summary>
    public X509Certificate2 Root { get; }

    /// <summary>Creates a new root valid for <paramref name="validity"/> (default ten years).</summary>
    public static LocalCertificateAuthority Create(string name, TimeSpan? validity = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + Escape(name)), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return new LocalCertificateAuthority(request.CreateSelfSigned(now.AddMinutes(-5), now + (validity ?? TimeSpan.FromDays(3650))));
    }

    /// <summary>Loads a root (certificate and key, PEM) written by <see cref="ExportPem"/>.</summary>
    public static LocalCertificateAuthority LoadPem(string certificatePem, string keyPem) =>
        new(X509Certificate2.CreateFromPem(certificatePem, keyPem));

    /// <summary>The root certificate and its private key as PEM, to keep the CA between runs.</summary>
    public (string CertificatePem, string KeyPem) ExportPem()
    {
        using var key = Root.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The root has no private key.");
        return (Root.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>
    /// Issues a server certificate for the given DNS names and IP addresses, valid for
    /// <paramref name="validity"/> (default one year), with its private key.
    /// </summary>
    public X509Certificate2 IssueServerCertificate(IEnumerable<string> dnsNames, IEnumerable<IPAddress>? addresses = null, TimeSpan? validity = null)
    {
        ArgumentNullException.ThrowIfNull(dnsNames);
        var names = dnsNames.ToList();
        if (names.Count == 0)
        {
            throw new ArgumentException("At least one DNS name is needed.", nameof(dnsNames));
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + Escape(names[0])), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            san.AddDnsName(name);
        }

        foreach (var address in addresses ?? [])
        {
            san.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + (validity ?? TimeSpan.FromDays(365));
        if (notAfter > Root.NotAfter)
        {
            notAfter = Root.NotAfter;
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(Root, now.AddMinutes(-5), notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <inheritdoc/>
    public void Dispose() => Root.Dispose();

    private static string Escape(string name) => name.Replace(",", "\\,", StringComparison.Ordinal).Replace("=", "\\=", StringComparison.Ordinal);
}
