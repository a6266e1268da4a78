namespace Letterlock.OpenPgp;

/// <summary>The outcome of checking one signature.</summary>
public enum SignatureStatus
{
    /// <summary>The signature verifies and its key was valid for signing when it signed.</summary>
    Valid,
    /// <summary>The signature does not verify, or its key was not valid for signing (expired, revoked, weak hash).</summary>
    Invalid,
    /// <summary>No supplied certificate holds the signing key.</summary>
    UnknownKey,
}

/// <summary>Whether a signature was made over binary data or canonical text.</summary>
public enum SignatureMode
{
    /// <summary>Signature type 0x00.</summary>
    Binary,
    /// <summary>Signature type 0x01: line endings normalised to CRLF before hashing.</summary>
    Text,
}

/// <summary>The literal data format of an OpenPGP message (RFC 9580 section 5.9).</summary>
public enum LiteralFormat
{
    /// <summary>'b': binary.</summary>
    Binary,
    /// <summary>'u': UTF-8 text.</summary>
    Utf8,
}

/// <summary>One checked signature.</summary>
/// <param name="Status">The outcome.</param>
/// <param name="SigningKey">The fingerprint of the key that made it, when known.</param>
/// <param name="Certificate">The fingerprint of the certificate holding that key, when known.</param>
/// <param name="CreationTime">The signature's creation time.</param>
/// <param name="Mode">Binary or text signature.</param>
/// <param name="Detail">Why the status is not <see cref="SignatureStatus.Valid"/>, or null.</param>
public sealed record SignatureVerification(
    SignatureStatus Status,
    Fingerprint? SigningKey,
    Fingerprint? Certificate,
    DateTimeOffset CreationTime,
    SignatureMode Mode,
    string? Detail = null)
{
    /// <summary>The key ID named by the signature (useful when the key is unknown).</summary>
    public KeyId IssuerKeyId { get; init; }
}

/// <summary>The result of a strict decryption: only ever created after integrity protection verified.</summary>
public sealed class DecryptionResult
{
    internal DecryptionResult(byte[] plaintext, Fingerprint? decryptedWith, Fingerprint? certificate, IReadOnlyList<SignatureVerification> signatures, LiteralFormat format, string fileName)
    {
        Plaintext = plaintext;
        DecryptedWith = decryptedWith;
        DecryptedWithCertificate = certificate;
        Signatures = signatures;
        Format = format;
        FileName = fileName;
    }

    /// <summary>The verified plaintext.</summary>
    public byte[] Plaintext { get; }

    /// <summary>The (sub)key whose secret decrypted the session key; null when a password did.</summary>
    public Fingerprint? DecryptedWith { get; }

    /// <summary>The certificate that (sub)key belongs to; null when a password did.</summary>
    public Fingerprint? DecryptedWithCertificate { get; }

    /// <summary>Every signature found inside the encrypted message, checked.</summary>
    public IReadOnlyList<SignatureVerification> Signatures { get; }

    /// <summary>The literal data format.</summary>
    public LiteralFormat Format { get; }

    /// <summary>The file name stored in the literal data packet (usually empty).</summary>
    public string FileName { get; }
}

/// <summary>The result of verifying an inline-signed message.</summary>
/// <param name="Content">The signed content.</param>
/// <param name="Signatures">Every signature found, checked.</param>
public sealed record InlineVerificationResult(byte[] Content, IReadOnlyList<SignatureVerification> Signatures);

/// <summary>Inline signing output styles.</summary>
public enum InlineSignStyle
{
    /// <summary>One-pass signed message over binary literal data.</summary>
    Binary,
    /// <summary>One-pass signed message over UTF-8 text with a text signature.</summary>
    Text,
    /// <summary>Cleartext signature framework (RFC 9580 section 7).</summary>
    Cleartext,
}
