namespace Letterlock.Native;

/// <summary>What went wrong in a native-protocol operation; callers branch on this, never on message text.</summary>
public enum NativeError
{
    /// <summary>Bytes do not follow the format: wrong magic, version, kind or length, or trailing data.</summary>
    Malformed,

    /// <summary>An Ed25519 signature (identity certificate, prekey, reset request) does not verify.</summary>
    InvalidSignature,

    /// <summary>A key is unusable: wrong length, small-order point, failed ML-KEM modulus check.</summary>
    InvalidKey,

    /// <summary>A prekey bundle or prekey has expired, or belongs to another device than expected.</summary>
    UnusableBundle,

    /// <summary>A configured limit would be exceeded (too many entries, content too long, ...).</summary>
    LimitExceeded,

    /// <summary>No active session exists with a device the caller asked to encrypt to.</summary>
    NoSession,
}

/// <summary>
/// A native-protocol operation failed. Messages are fixed texts that name the limit or field at fault
/// but never carry key material, plaintext or ciphertext, so they are safe to log.
/// </summary>
public sealed class NativeException : Exception
{
    /// <summary>Creates an exception for <paramref name="error"/>.</summary>
    public NativeException(NativeError error, string message, Exception? innerException = null)
        : base(message, innerException) => Error = error;

    /// <summary>Creates a <see cref="NativeError.Malformed"/> exception.</summary>
    public NativeException()
        : this(NativeError.Malformed, "The native-protocol data is malformed.")
    {
    }

    /// <summary>Creates a <see cref="NativeError.Malformed"/> exception with a message.</summary>
    public NativeException(string message)
        : this(NativeError.Malformed, message)
    {
    }

    /// <summary>Creates a <see cref="NativeError.Malformed"/> exception with a message and cause.</summary>
    public NativeException(string message, Exception innerException)
        : this(NativeError.Malformed, message, innerException)
    {
    }

    /// <summary>The kind of failure.</summary>
    public NativeError Error { get; }
}
