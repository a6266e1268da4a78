using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp;

/// <summary>What a key may be used for (the key flags subpacket, RFC 9580 section 5.2.3.29).</summary>
[Flags]
public enum KeyUsage
{
    /// <summary>No usage.</summary>
    None = 0,
    /// <summary>May certify other keys and user IDs.</summary>
    Certify = 0x01,
    /// <summary>May sign data.</summary>
    Sign = 0x02,
    /// <summary>May encrypt communications.</summary>
    EncryptCommunications = 0x04,
    /// <summary>May encrypt storage.</summary>
    EncryptStorage = 0x08,
}

/// <summary>The state of a certificate at a given time.</summary>
public enum CertificateStatus
{
    /// <summary>Usable: self-signed, not expired, not revoked.</summary>
    Valid,
    /// <summary>The primary key has expired.</summary>
    Expired,
    /// <summary>The primary key carries a valid revocation signature.</summary>
    Revoked,
    /// <summary>The primary key was created after the time asked about.</summary>
    NotYetValid,
    /// <summary>No valid self-signature binds a user ID (or a direct-key signature) to the primary key.</summary>
    NoValidSelfSignature,
}

/// <summary>One key (primary or subkey) of a certificate with its verified binding information.</summary>
public sealed class KeyInfo
{
    internal KeyInfo(PgpPublicKey key, bool isPrimary, KeyUsage usage, DateTimeOffset? expiration, bool bound, DateTimeOffset? revokedAt)
    {
        PublicKey = key;
        IsPrimary = isPrimary;
        Usage = usage;
        ExpirationTime = expiration;
        IsBound = bound;
        RevokedAt = revokedAt;
        Fingerprint = Fingerprint.FromBytes(key.GetFingerprint());
        CreationTime = new DateTimeOffset(DateTime.SpecifyKind(key.CreationTime, DateTimeKind.Utc));
    }

    internal PgpPublicKey PublicKey { get; }

    /// <summary>The key's fingerprint.</summary>
    public Fingerprint Fingerprint { get; }

    /// <summary>The key's ID (low 64 bits of the fingerprint).</summary>
    public KeyId KeyId => Fingerprint.KeyId;

    /// <summary>True for the primary key.</summary>
    public bool IsPrimary { get; }

    /// <summary>The usage granted by the newest valid self-signature or binding signature.</summary>
    public KeyUsage Usage { get; }

    /// <summary>When the key was created.</summary>
    public DateTimeOffset CreationTime { get; }

    /// <summary>When the key expires, or null if it does not.</summary>
    public DateTimeOffset? ExpirationTime { get; }

    /// <summary>True if a verified self-signature (primary) or binding signature (subkey) exists.</summary>
    public bool IsBound { get; }

    /// <summary>When a verified revocation was made for this key, or null.</summary>
    public DateTimeOffset? RevokedAt { get; }

    /// <summary>The OpenPGP public-key algorithm identifier (22 EdDSA legacy, 18 ECDH, 1 RSA, ...).</summary>
    public int Algorithm => (int)PublicKey.Algorithm;

    /// <summary>True if the key is bound, created at or before <paramref name="at"/>, not expired and not revoked.</summary>
    public bool IsValidAt(DateTimeOffset at) =>
        IsBound && RevokedAt is null && CreationTime <= at.AddMinutes(5) && (ExpirationTime is null || at < ExpirationTime);
}
