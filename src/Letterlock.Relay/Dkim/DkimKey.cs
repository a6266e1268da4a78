using System.Text;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using MimeKit.Cryptography;

namespace Letterlock.Relay.Dkim;

/// <summary>The two key types a provider signs with (RFC 6376 rsa-sha256 and RFC 8463 ed25519-sha256).</summary>
public enum DkimKeyType
{
    /// <summary>RSA, signature algorithm <c>rsa-sha256</c>, published as <c>k=rsa</c> with the DER SubjectPublicKeyInfo.</summary>
    Rsa,

    /// <summary>Ed25519, signature algorithm <c>ed25519-sha256</c>, published as <c>k=ed25519</c> with the raw 32-byte key (RFC 8463, 4).</summary>
    Ed25519,
}

/// <summary>
/// A DKIM private key with its selector. Keys are stored as PKCS#8 PEM (<c>-----BEGIN PRIVATE KEY-----</c>);
/// the older <c>RSA PRIVATE KEY</c> form is read too.
/// </summary>
public sealed class DkimKey
{
    /// <summary>The smallest RSA modulus accepted: RFC 8301 (3.2) forbids verifying with keys under 1024 bits and asks signers for at least 2048.</summary>
    public const int MinimumRsaBits = 2048;

    private DkimKey(string selector, DkimKeyType type, AsymmetricKeyParameter privateKey, AsymmetricKeyParameter publicKey)
    {
        Selector = selector;
        Type = type;
        PrivateKey = privateKey;
        PublicKey = publicKey;
    }

    /// <summary>The selector: the key's DNS name is <c>selector._domainkey.domain</c>.</summary>
    public string Selector { get; }

    /// <summary>The key type.</summary>
    public DkimKeyType Type { get; }

    internal AsymmetricKeyParameter PrivateKey { get; }

    internal AsymmetricKeyParameter PublicKey { get; }

    internal DkimSignatureAlgorithm Algorithm => Type == DkimKeyType.Ed25519 ? DkimSignatureAlgorithm.Ed25519Sha256 : DkimSignatureAlgorithm.RsaSha256;

    /// <summary>Generates a new key.</summary>
    /// <param name="selector">The selector to publish it under.</param>
    /// <param name="type">RSA (2048 bits) or Ed25519.</param>
    public static DkimKey Generate(string selector, DkimKeyType type)
    {
        ValidateSelector(selector);
        var random = new SecureRandom();
        AsymmetricCipherKeyPair pair;
        if (type == DkimKeyType.Ed25519)
        {
            var generator = new Ed25519KeyPairGenerator();
            generator.Init(new Ed25519KeyGenerationParameters(random));
            pair = generator.GenerateKeyPair();
        }
        else
        {
            var generator = new RsaKeyPairGenerator();
            generator.Init(new RsaKeyGenerationParameters(Org.BouncyCastle.Math.BigInteger.ValueOf(65537), random, MinimumRsaBits, 80));
            pair = generator.GenerateKeyPair();
        }

        return new DkimKey(selector, type, pair.Private, pair.Public);
    }

    /// <summary>Reads a key from PEM text.</summary>
    /// <param name="selector">The selector it is published under.</param>
    /// <param name="pem">PKCS#8 (<c>PRIVATE KEY</c>) or PKCS#1 (<c>RSA PRIVATE KEY</c>) PEM.</param>
    /// <exception cref="FormatException">The text holds no usable RSA (at least 2048 bits) or Ed25519 private key.</exception>
    public static DkimKey FromPem(string selector, string pem)
    {
        ValidateSelector(selector);
        ArgumentNullException.ThrowIfNull(pem);
        object? read;
        try
        {
            using var reader = new StringReader(pem);
            read = new PemReader(reader).ReadObject();
        }
        catch (Exception e) when (e is IOException or PemException or ArgumentException or InvalidCastException)
        {
            throw new FormatException("The DKIM key file is not a PEM private key.", e);
        }

        AsymmetricKeyParameter? privateKey = read switch
        {
            AsymmetricCipherKeyPair pair => pair.Private,
            AsymmetricKeyParameter { IsPrivate: true } key => key,
            _ => null,
        };
        switch (privateKey)
        {
            case Ed25519PrivateKeyParameters ed:
                return new DkimKey(selector, DkimKeyType.Ed25519, ed, ed.GeneratePublicKey());
            case RsaPrivateCrtKeyParameters rsa when rsa.Modulus.BitLength >= MinimumRsaBits:
                return new DkimKey(selector, DkimKeyType.Rsa, rsa, new RsaKeyParameters(false, rsa.Modulus, rsa.PublicExponent));
            case RsaPrivateCrtKeyParameters:
                throw new FormatException($"The DKIM RSA key is shorter than {MinimumRsaBits} bits (RFC 8301).");
            default:
                throw new FormatException("The DKIM key file holds neither an RSA nor an Ed25519 private key.");
        }
    }

    /// <summary>The RSA private key as a platform (OpenSSL) key, for fast signing.</summary>
    internal System.Security.Cryptography.RSA CreatePlatformRsa()
    {
        var rsa = System.Security.Cryptography.RSA.Create();
        rsa.ImportPkcs8PrivateKey(Org.BouncyCastle.Pkcs.PrivateKeyInfoFactory.CreatePrivateKeyInfo(PrivateKey).GetDerEncoded(), out _);
        return rsa;
    }

    /// <summary>The private key as PKCS#8 PEM, for the key file (keep it mode 0600).</summary>
    public string ExportPrivateKeyPem()
    {
        var builder = new StringBuilder();
        using (var writer = new StringWriter(builder))
        {
            var pem = new PemWriter(writer);
            pem.WriteObject(new Pkcs8Generator(PrivateKey));
        }

        return builder.ToString();
    }

    /// <summary>The <c>p=</c> value: base64 of the DER SubjectPublicKeyInfo (RSA) or of the raw 32-byte key (Ed25519, RFC 8463 4.2).</summary>
    public string PublicKeyData => Type == DkimKeyType.Ed25519
        ? Convert.ToBase64String(((Ed25519PublicKeyParameters)PublicKey).GetEncoded())
        : Convert.ToBase64String(SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(PublicKey).GetDerEncoded());

    /// <summary>The TXT record value to publish at <see cref="DnsName"/>.</summary>
    public string TxtRecord => $"v=DKIM1; k={(Type == DkimKeyType.Ed25519 ? "ed25519" : "rsa")}; p={PublicKeyData}";

    /// <summary>The DNS name of the key record for <paramref name="domain"/>.</summary>
    /// <param name="domain">The signing domain.</param>
    public string DnsName(string domain) => $"{Selector}._domainkey.{domain}";

    private static void ValidateSelector(string selector)
    {
        // selector = sub-domain *( "." sub-domain )   (RFC 6376, 3.1)
        ArgumentException.ThrowIfNullOrEmpty(selector);
        foreach (string label in selector.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                throw new ArgumentException($"'{selector}' is not a valid DKIM selector.", nameof(selector));
            }
        }
    }
}
