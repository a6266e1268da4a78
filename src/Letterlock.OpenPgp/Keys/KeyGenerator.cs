using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using Org.BouncyCastle.Bcpg.Sig;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Letterlock.OpenPgp;

/// <summary>Options for <see cref="KeyGenerator.Generate"/>.</summary>
public sealed record KeyGenerationOptions
{
    /// <summary>Creation time of the keys (default: now). OpenPGP stores whole seconds.</summary>
    public DateTimeOffset? CreationTime { get; init; }

    /// <summary>Validity of the primary key, or null for none.</summary>
    public TimeSpan? PrimaryValidity { get; init; }

    /// <summary>Validity of the encryption subkey, or null for none. Rotate with <see cref="SecretKey.AddEncryptionSubkey"/>.</summary>
    public TimeSpan? EncryptionSubkeyValidity { get; init; }
}

/// <summary>The result of key generation: the secret key, its certificate and its revocation certificate.</summary>
/// <param name="SecretKey">The new secret key (protected when a passphrase was given).</param>
/// <param name="RevocationCertificate">An ASCII-armored key revocation signature made at generation time, for the recovery kit.</param>
public sealed record GeneratedKey(SecretKey SecretKey, byte[] RevocationCertificate)
{
    /// <summary>The public certificate.</summary>
    public Certificate Certificate => SecretKey.Certificate;
}

/// <summary>
/// Generates v4 OpenPGP keys as gpg 2.2 and Sequoia accept them: Ed25519 primary (certify +
/// sign), Cv25519 encryption subkey, SHA-512 self- and binding signatures (BouncyCastle's SHA-1
/// default is rejected by modern verifiers), AES-256 first in the preferences.
/// </summary>
public static class KeyGenerator
{
    internal static SecureRandom Random { get; } = new();

    private static readonly int[] PreferredSymmetric =
        [(int)SymmetricKeyAlgorithmTag.Aes256, (int)SymmetricKeyAlgorithmTag.Aes192, (int)SymmetricKeyAlgorithmTag.Aes128];

    private static readonly int[] PreferredHash =
        [(int)HashAlgorithmTag.Sha512, (int)HashAlgorithmTag.Sha384, (int)HashAlgorithmTag.Sha256];

    private static readonly int[] PreferredCompression =
        [(int)CompressionAlgorithmTag.Uncompressed, (int)CompressionAlgorithmTag.ZLib, (int)CompressionAlgorithmTag.Zip];

    /// <summary>
    /// Generates a key for <paramref name="userId"/> (<c>Name &lt;addr&gt;</c>). A non-empty
    /// <paramref name="passphrase"/> protects the secret parts (iterated+salted SHA-256 S2K with
    /// 16 MiB of hashing, AES-256);
    /// an empty one leaves them unprotected (only for callers that protect the key otherwise).
    /// </summary>
    public static GeneratedKey Generate(string userId, ReadOnlySpan<char> passphrase, KeyGenerationOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(userId);
        if (userId.Contains('\n', StringComparison.Ordinal) || userId.Contains('\r', StringComparison.Ordinal))
        {
            throw new ArgumentException("a user ID is one line", nameof(userId));
        }

        options ??= new KeyGenerationOptions();
        var created = Truncate(options.CreationTime ?? DateTimeOffset.UtcNow);

        var edGenerator = new Ed25519KeyPairGenerator();
        edGenerator.Init(new Ed25519KeyGenerationParameters(Random));
        var primary = new PgpKeyPair(PublicKeyAlgorithmTag.EdDsa_Legacy, edGenerator.GenerateKeyPair(), created.UtcDateTime);
        var subkey = NewEncryptionKeyPair(created);

        var generator = RingGenerator(primary, userId, created, options.PrimaryValidity);
        generator.AddSubKey(subkey, SubkeyBindingSubpackets(primary.PublicKey, created, options.EncryptionSubkeyValidity), null, HashAlgorithmTag.Sha512);
        var ring = StandardRing(generator.GenerateSecretKeyRing(), subkey);
        var secret = new SecretKey(passphrase.IsEmpty ? new PgpSecretKeyRing(ring) : new PgpSecretKeyRing(SecretKeyProtection.Protect(ring, passphrase)));
        var revocation = RevocationSignature(primary, created);
        return new GeneratedKey(secret, Armor.Encode(revocation.GetEncoded()));
    }

    /// <summary>The encoded ring with the Curve25519 secret of <paramref name="encryptionKey"/> in the standard MPI form.</summary>
    internal static byte[] StandardRing(PgpSecretKeyRing ring, PgpKeyPair encryptionKey) =>
        SecretKeyProtection.StandardizeCurve25519Secret(ring.GetEncoded(), encryptionKey.KeyId,
            ((X25519PrivateKeyParameters)encryptionKey.PrivateKey.Key).GetEncoded());

    internal static PgpKeyPair NewEncryptionKeyPair(DateTimeOffset created)
    {
        var generator = new X25519KeyPairGenerator();
        generator.Init(new X25519KeyGenerationParameters(Random));
        return new PgpKeyPair(PublicKeyAlgorithmTag.ECDH, generator.GenerateKeyPair(), created.UtcDateTime);
    }

    /// <summary>An unprotected ring generator; protection is applied afterwards by <see cref="SecretKeyProtection"/>.</summary>
    internal static PgpKeyRingGenerator RingGenerator(PgpKeyPair primary, string userId, DateTimeOffset created, TimeSpan? validity)
    {
        var hashed = new PgpSignatureSubpacketGenerator();
        hashed.SetSignatureCreationTime(false, created.UtcDateTime);
        hashed.SetIssuerFingerprint(false, primary.PublicKey);
        hashed.SetKeyFlags(false, KeyFlags.CertifyOther | KeyFlags.SignData);
        hashed.SetPreferredSymmetricAlgorithms(false, PreferredSymmetric);
        hashed.SetPreferredHashAlgorithms(false, PreferredHash);
        hashed.SetPreferredCompressionAlgorithms(false, PreferredCompression);
        hashed.SetFeature(false, Features.FEATURE_MODIFICATION_DETECTION);
        hashed.SetPrimaryUserId(false, true);
        if (validity is { } v)
        {
            hashed.SetKeyExpirationTime(false, (long)v.TotalSeconds);
        }

        return new PgpKeyRingGenerator(
            PgpSignature.PositiveCertification,
            primary,
            userId,
            SymmetricKeyAlgorithmTag.Null,
            HashAlgorithmTag.Sha512,
            true,
            null,
            false, // unprotected packets end in the 2-octet checksum; "true" appends SHA-1, which Sequoia rejects
            hashed.Generate(),
            null,
            Random);
    }

    internal static PgpSignatureSubpacketVector SubkeyBindingSubpackets(PgpPublicKey primary, DateTimeOffset created, TimeSpan? validity)
    {
        var hashed = new PgpSignatureSubpacketGenerator();
        hashed.SetSignatureCreationTime(false, created.UtcDateTime);
        hashed.SetIssuerFingerprint(false, primary);
        hashed.SetKeyFlags(false, KeyFlags.EncryptComms | KeyFlags.EncryptStorage);
        if (validity is { } v)
        {
            hashed.SetKeyExpirationTime(false, (long)v.TotalSeconds);
        }

        return hashed.Generate();
    }

    private static PgpSignature RevocationSignature(PgpKeyPair primary, DateTimeOffset created)
    {
        var generator = new PgpSignatureGenerator(PublicKeyAlgorithmTag.EdDsa_Legacy, HashAlgorithmTag.Sha512);
        generator.InitSign(PgpSignature.KeyRevocation, primary.PrivateKey, Random);
        var hashed = new PgpSignatureSubpacketGenerator();
        hashed.SetSignatureCreationTime(false, created.UtcDateTime);
        hashed.SetIssuerFingerprint(false, primary.PublicKey);
        hashed.SetRevocationReason(false, RevocationReasonTag.NoReason, "");
        generator.SetHashedSubpackets(hashed.Generate());
        return generator.GenerateCertification(primary.PublicKey);
    }

    /// <summary>OpenPGP timestamps have whole seconds; truncate so comparisons round-trip.</summary>
    internal static DateTimeOffset Truncate(DateTimeOffset time) =>
        DateTimeOffset.FromUnixTimeSeconds(time.ToUnixTimeSeconds());
}
