using Letterlock.OpenPgp.Mime;

namespace Letterlock.Client.Import;

/// <summary>How <c>mbox</c> lines beginning with <c>From </c> were escaped by the program that wrote the file.</summary>
public enum MboxFormat
{
    /// <summary>
    /// mboxrd (the default): the writer quoted every line matching <c>^&gt;*From </c> with one more <c>&gt;</c>, so the
    /// reader removes one <c>&gt;</c> from every line matching <c>^&gt;+From </c>: lossless.
    /// </summary>
    Mboxrd,

    /// <summary>
    /// mboxo: the writer quoted only <c>^From </c> as <c>&gt;From </c>; a body line that was <c>&gt;From </c> cannot be told
    /// from a quoted one, so the reader leaves such lines as they are.
    /// </summary>
    Mboxo,
}

/// <summary>Every limit and knob of <c>letterlock import</c> (one options type, validated when set).</summary>
public sealed class ImportOptions
{
    private long _maxMessageBytes = 64L * 1024 * 1024;
    private int _batchSize = 256;
    private int _maxParallelism = Math.Max(1, Environment.ProcessorCount);
    private TimeSpan _imapTimeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The largest message imported, in bytes (default 64 MiB): a larger one is refused with this limit named and
    /// nothing of it is stored. The store's own <c>LocalStoreOptions.MaxMessageBytes</c> applies too.
    /// </summary>
    public long MaxMessageBytes
    {
        get => _maxMessageBytes;
        set => _maxMessageBytes = value is >= 1024 and <= 2L * 1024 * 1024 * 1024
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxMessageBytes), value, "MaxMessageBytes must be between 1 KiB and 2 GiB.");
    }

    /// <summary>Messages stored per write transaction (default 256): one durable commit per batch; an interrupted run loses at most one batch's work.</summary>
    public int BatchSize
    {
        get => _batchSize;
        set => _batchSize = value is >= 1 and <= 10_000
            ? value
            : throw new ArgumentOutOfRangeException(nameof(BatchSize), value, "BatchSize must be between 1 and 10,000.");
    }

    /// <summary>Cores used to parse, index and seal messages (default: all).</summary>
    public int MaxParallelism
    {
        get => _maxParallelism;
        set => _maxParallelism = value is >= 1 and <= 256
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxParallelism), value, "MaxParallelism must be between 1 and 256.");
    }

    /// <summary>How long an IMAP source may stay silent before the import gives up on it (default 2 minutes).</summary>
    public TimeSpan ImapTimeout
    {
        get => _imapTimeout;
        set => _imapTimeout = value >= TimeSpan.FromSeconds(1) && value <= TimeSpan.FromHours(1)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(ImapTimeout), value, "ImapTimeout must be between 1 second and 1 hour.");
    }

    /// <summary>How mbox <c>From </c> lines were escaped (default mboxrd).</summary>
    public MboxFormat MboxFormat { get; set; } = MboxFormat.Mboxrd;

    /// <summary>The MIME structure limits a message must keep to before it is parsed (default: the client's).</summary>
    public MimeLimits MimeLimits { get; set; } = MimeLimits.Default;
}
