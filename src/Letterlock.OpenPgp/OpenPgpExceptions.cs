namespace Letterlock.OpenPgp;

/// <summary>
/// The base of every error this library raises for input it cannot accept. Messages name the
/// problem, never key material or message content.
/// </summary>
public abstract class OpenPgpException : Exception
{
    /// <summary>Creates the exception.</summary>
    protected OpenPgpException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The input is not well-formed OpenPGP, armor or MIME (bad packet, bad grammar, bad armor checksum).</summary>
public sealed class MalformedInputException(string message, Exception? inner = null) : OpenPgpException(message, inner);

/// <summary>
/// Integrity protection is missing or fails: a symmetrically encrypted packet without MDC, a
/// failed MDC, or a truncated ciphertext. No plaintext is ever released with this error.
/// </summary>
public sealed class IntegrityException(string message, Exception? inner = null) : OpenPgpException(message, inner);

/// <summary>A limit of <see cref="OpenPgpOptions"/> was exceeded; <see cref="LimitName"/> names the option.</summary>
public sealed class LimitExceededException(string limitName, long limit)
    : OpenPgpException($"input exceeds the limit {limitName} ({limit})")
{
    /// <summary>The name of the <see cref="OpenPgpOptions"/> property that was exceeded.</summary>
    public string LimitName { get; } = limitName;

    /// <summary>The configured value of that limit.</summary>
    public long Limit { get; } = limit;
}

/// <summary>None of the supplied secret keys (or passwords) can decrypt the message.</summary>
public sealed class NoDecryptionKeyException(string message) : OpenPgpException(message);

/// <summary>A key or certificate cannot be used for the requested operation (expired, revoked, no capable subkey).</summary>
public sealed class KeyNotUsableException(string message) : OpenPgpException(message);

/// <summary>A secret key is protected and the passphrase is missing or wrong.</summary>
public sealed class BadPassphraseException(string message) : OpenPgpException(message);

/// <summary>The input uses an algorithm or packet version this library does not support.</summary>
public sealed class UnsupportedException(string message) : OpenPgpException(message);
