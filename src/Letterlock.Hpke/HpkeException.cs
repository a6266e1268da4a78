namespace Letterlock.Cryptography;

/// <summary>What went wrong in an HPKE operation; callers branch on this, never on message text.</summary>
public enum HpkeError
{
    /// <summary>A ciphertext (or an envelope chunk) did not authenticate: wrong key, wrong info,
    /// wrong associated data, or tampering.</summary>
    OpenFailed,

    /// <summary>A public key, private key or encapsulated key has the wrong length, or the
    /// Diffie-Hellman result was the all-zero value (a small-order point; RFC 9180, 7.1.4).</summary>
    InvalidKey,

    /// <summary>The context has sealed or opened as many messages as its nonce space allows
    /// (RFC 9180, 5.2, MessageLimitReachedError).</summary>
    MessageLimitReached,

    /// <summary>A sealed envelope does not follow the format: unknown magic, version or suite,
    /// a chunk too short to hold a tag, an empty non-first final chunk, or data after the final chunk.</summary>
    MalformedEnvelope,

    /// <summary>A sealed envelope ended before its header or its final chunk.</summary>
    TruncatedEnvelope,
}

/// <summary>
/// An HPKE operation failed. Messages are fixed texts: they never carry key material, plaintext
/// or ciphertext, so they are safe to log.
/// </summary>
public sealed class HpkeException : Exception
{
    /// <summary>Creates an exception for <paramref name="error"/> with a fixed message.</summary>
    public HpkeException(HpkeError error)
        : this(error, DefaultMessage(error), null)
    {
    }

    /// <summary>Creates an exception for <paramref name="error"/>.</summary>
    public HpkeException(HpkeError error, string message, Exception? innerException = null)
        : base(message, innerException) => Error = error;

    /// <summary>Creates an <see cref="HpkeError.OpenFailed"/> exception.</summary>
    public HpkeException()
        : this(HpkeError.OpenFailed)
    {
    }

    /// <summary>Creates an <see cref="HpkeError.OpenFailed"/> exception with a message.</summary>
    public HpkeException(string message)
        : this(HpkeError.OpenFailed, message, null)
    {
    }

    /// <summary>Creates an <see cref="HpkeError.OpenFailed"/> exception with a message and cause.</summary>
    public HpkeException(string message, Exception innerException)
        : this(HpkeError.OpenFailed, message, innerException)
    {
    }

    /// <summary>The kind of failure.</summary>
    public HpkeError Error { get; }

    private static string DefaultMessage(HpkeError error) => error switch
    {
        HpkeError.OpenFailed => "The ciphertext could not be authenticated (wrong key, wrong info or associated data, or tampered).",
        HpkeError.InvalidKey => "The key is not a valid X25519 key for HPKE.",
        HpkeError.MessageLimitReached => "The HPKE context has reached its message limit.",
        HpkeError.MalformedEnvelope => "The sealed envelope is malformed.",
        HpkeError.TruncatedEnvelope => "The sealed envelope is truncated.",
        _ => "HPKE operation failed.",
    };
}
