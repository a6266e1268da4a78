using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Provider.Configuration;

namespace Letterlock.Provider.Hosting;

/// <summary>The provider's TLS certificate with its key and the intermediates it sends (a PEM chain as ACME issues it).</summary>
public sealed class ServerCertificate
{
    private ServerCertificate(X509Certificate2 leaf, SslStreamCertificateContext context)
    {
        Leaf = leaf;
        Context = context;
    }

    /// <summary>The end-entity certificate, with its private key.</summary>
    public X509Certificate2 Leaf { get; }

    /// <summary>What a TLS handshake sends: the leaf and its intermediates.</summary>
    public SslStreamCertificateContext Context { get; }

    /// <summary>Loads tls.certificate (leaf first, then intermediates) and tls.key.</summary>
    /// <exception cref="SettingsException">The files cannot be read or do not match.</exception>
    public static ServerCertificate Load(string certificatePath, string keyPath)
    {
        try
        {
            var leaf = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(certificatePath);
            return new ServerCertificate(leaf, SslStreamCertificateContext.Create(leaf, new X509Certificate2Collection(all.Skip(1).ToArray()), offline: true));
        }
        catch (Exception e) when (e is CryptographicException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            throw new SettingsException($"setting 'tls.certificate'/'tls.key': cannot load the certificate and key ({e.Message})");
        }
    }
}

/// <summary>
/// The certificate every TLS listener of the provider (HTTPS, SMTP STARTTLS, submission) takes at each handshake:
/// replacing it (an ACME renewal) changes what the next connection sees, while connections already under TLS keep
/// the certificate they were given.
/// </summary>
public sealed class ServerCertificateHolder(ServerCertificate initial)
{
    private volatile ServerCertificate _current = initial;

    /// <summary>The certificate for the next handshake.</summary>
    public ServerCertificate Current => _current;

    /// <summary>Raised after <see cref="Replace"/>.</summary>
    public event Action<ServerCertificate>? Changed;

    /// <summary>Makes <paramref name="next"/> the certificate of every handshake from now on.</summary>
    public void Replace(ServerCertificate next)
    {
        ArgumentNullException.ThrowIfNull(next);
        // the previous certificate is not disposed: a handshake in progress may still be using it
        _current = next;
        Changed?.Invoke(next);
    }
}
