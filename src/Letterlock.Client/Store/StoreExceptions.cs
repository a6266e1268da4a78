namespace Letterlock.Client.Store;

/// <summary>
/// A failure of the local store to report to the user. Messages name the problem and the
/// remedy; they never contain secrets, passphrases or message content.
/// </summary>
public class LocalStoreException : Exception
{
    /// <summary>Creates the exception with a user-facing message.</summary>
    public LocalStoreException(string message) : base(message) { }

    /// <summary>Creates the exception with a user-facing message and its cause.</summary>
    public LocalStoreException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The passphrase or key file does not open any unlock slot of the store.</summary>
public sealed class StoreUnlockException(string message) : LocalStoreException(message);

/// <summary>A key file is missing, malformed, or readable by someone other than its owner.</summary>
public sealed class KeyFileException(string message) : LocalStoreException(message);

/// <summary>
/// A stored value failed its integrity check: it was modified, truncated, or moved to
/// another row or column. Nothing of it is returned.
/// </summary>
public sealed class StoreIntegrityException(string message) : LocalStoreException(message);

/// <summary>The store was written by a newer Letterlock, or is not a Letterlock store at all.</summary>
public sealed class StoreVersionException(string message) : LocalStoreException(message);
