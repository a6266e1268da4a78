using Letterlock.Primitives;

namespace Letterlock.Client.Store;

/// <summary>
/// Settings and limits of the local store. Every limit guards against hostile input (a store
/// file or key file planted by someone else, a message crafted to blow up the index) and is
/// validated when set.
/// </summary>
public sealed class LocalStoreOptions
{
    private int _argon2MemoryKiB = 64 * 1024;
    private int _argon2Passes = 3;
    private int _maxArgon2MemoryKiB = 1024 * 1024;
    private int _maxArgon2Passes = 10;
    private int _maxKeyFileBytes = 4096;
    private int _maxIndexedTokensPerMessage = 20_000;
    private int _maxTokenLength = 64;
    private int _maxIndexedGramsPerMessage = 50_000;
    private long _maxMessageBytes = 128L * 1024 * 1024;
    private int _maxFlagsPerMessage = 100;
    private int _maxFlagLength = 128;
    private TimeSpan _busyTimeout = TimeSpan.FromSeconds(30);
    private int _writerCacheKiB = 16 * 1024;

    /// <summary>
    /// Argon2id memory for new passphrase slots, in KiB (default 64 MiB: a guess costs an
    /// attacker that much memory; opening takes well under a second on a small machine).
    /// At least 8 MiB.
    /// </summary>
    public int Argon2MemoryKiB
    {
        get => _argon2MemoryKiB;
        set => _argon2MemoryKiB = LimitCheck.InRange(value, 8 * 1024, MaxArgon2MemoryKiB, nameof(Argon2MemoryKiB));
    }

    /// <summary>Argon2id passes for new passphrase slots (default 3).</summary>
    public int Argon2Passes
    {
        get => _argon2Passes;
        set => _argon2Passes = LimitCheck.InRange(value, 1, MaxArgon2Passes, nameof(Argon2Passes));
    }

    /// <summary>
    /// The most Argon2id memory a slot read from a store file may demand, in KiB (default 1 GiB):
    /// a planted store must not be able to exhaust memory just by being opened.
    /// </summary>
    public int MaxArgon2MemoryKiB
    {
        get => _maxArgon2MemoryKiB;
        set => _maxArgon2MemoryKiB = LimitCheck.InRange(value, 8 * 1024, 4 * 1024 * 1024, nameof(MaxArgon2MemoryKiB));
    }

    /// <summary>The most Argon2id passes a slot read from a store file may demand (default 10), for the same reason.</summary>
    public int MaxArgon2Passes
    {
        get => _maxArgon2Passes;
        set => _maxArgon2Passes = LimitCheck.InRange(value, 1, 1000, nameof(MaxArgon2Passes));
    }

    /// <summary>The largest key file accepted, in bytes (default 4096; a real one is under 200).</summary>
    public int MaxKeyFileBytes
    {
        get => _maxKeyFileBytes;
        set => _maxKeyFileBytes = LimitCheck.InRange(value, 128, 1024 * 1024, nameof(MaxKeyFileBytes));
    }

    /// <summary>
    /// The most distinct search tokens indexed for one message (default 20,000): a message made
    /// of millions of distinct words must not grow the index without bound. Words past the limit
    /// are not indexed; the message itself is stored whole.
    /// </summary>
    public int MaxIndexedTokensPerMessage
    {
        get => _maxIndexedTokensPerMessage;
        set => _maxIndexedTokensPerMessage = LimitCheck.InRange(value, 1, 10_000_000, nameof(MaxIndexedTokensPerMessage));
    }

    /// <summary>
    /// The most distinct trigrams indexed for one message's IMAP search text (default 50,000). A message with
    /// more is kept out of the narrowing index and read by every IMAP SEARCH string key instead, so results stay
    /// exact and a hostile message cannot grow the index without bound.
    /// </summary>
    public int MaxIndexedGramsPerMessage
    {
        get => _maxIndexedGramsPerMessage;
        set => _maxIndexedGramsPerMessage = LimitCheck.InRange(value, 1, 10_000_000, nameof(MaxIndexedGramsPerMessage));
    }

    /// <summary>Words longer than this many characters are not indexed (default 64).</summary>
    public int MaxTokenLength
    {
        get => _maxTokenLength;
        set => _maxTokenLength = LimitCheck.InRange(value, 2, 1024, nameof(MaxTokenLength));
    }

    /// <summary>The largest message body the store accepts, in bytes (default 128 MiB).</summary>
    public long MaxMessageBytes
    {
        get => _maxMessageBytes;
        set => _maxMessageBytes = value is >= 1024 and <= 2L * 1024 * 1024 * 1024
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxMessageBytes), value, "MaxMessageBytes must be between 1 KiB and 2 GiB.");
    }

    /// <summary>The most flags and keywords one message may carry (default 100): a hostile mail app must not grow a row without bound.</summary>
    public int MaxFlagsPerMessage
    {
        get => _maxFlagsPerMessage;
        set => _maxFlagsPerMessage = LimitCheck.InRange(value, 8, 10_000, nameof(MaxFlagsPerMessage));
    }

    /// <summary>The longest flag or keyword accepted, in characters (default 128).</summary>
    public int MaxFlagLength
    {
        get => _maxFlagLength;
        set => _maxFlagLength = LimitCheck.InRange(value, 16, 4096, nameof(MaxFlagLength));
    }

    /// <summary>
    /// SQLite's page cache of the store's one writing connection, in KiB (default 16 MiB; SQLite's own default is 2 MiB).
    /// The writer is kept open, so the pages of the search index and of the message tables it last touched stay cached
    /// from one write to the next; 1024 to 262144 (256 MiB).
    /// </summary>
    public int WriterCacheKiB
    {
        get => _writerCacheKiB;
        set => _writerCacheKiB = LimitCheck.InRange(value, 1024, 256 * 1024, nameof(WriterCacheKiB));
    }

    /// <summary>How long a writer waits for another writer before giving up (default 30 s).</summary>
    public TimeSpan BusyTimeout
    {
        get => _busyTimeout;
        set => _busyTimeout = value >= TimeSpan.FromMilliseconds(100) && value <= TimeSpan.FromMinutes(10)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(BusyTimeout), value, "BusyTimeout must be between 100 ms and 10 minutes.");
    }
}
