using Letterlock.Primitives;

namespace Letterlock.OpenPgp.Mime;

/// <summary>
/// The limits on a message's MIME structure that keep parsing it bounded in time and memory (DESIGN.md invariant 6),
/// checked in one linear pass by <see cref="MimeStructureScanner"/> before any MIME parser builds objects from the
/// message. Each limit is validated when set; a value exactly at a limit is accepted, one past it is refused.
/// docs/design/security.md, "Resource bounds", gives the reason for each default.
/// </summary>
/// <remarks>
/// Why the header limits exist at all: MimeKit's parser (4.18) grows its buffer for the field being read by at most 64
/// bytes per physical line (<c>MimeParser.AppendRawHeaderData</c>), so a field folded over L lines of total size S costs
/// O(L × S) copying — one field of 10 MB folded over 200,000 lines costs over a minute. Bounding the lines of one field
/// (<see cref="MaxHeaderFieldLines"/>) and the header bytes of the whole message (<see cref="MaxTotalHeaderBytes"/>)
/// bounds that cost by their product, a constant; everything else about parsing is linear.
/// </remarks>
public sealed class MimeLimits
{
    /// <summary>The defaults.</summary>
    public static MimeLimits Default { get; } = new();

    private int _maxHeaderBytes = 256 * 1024;
    private int _maxHeaderFields = 1000;
    private int _maxHeaderFieldLines = 500;
    private int _maxTotalHeaderBytes = 1024 * 1024;
    private int _maxMimeParts = 1000;
    private int _maxMimeDepth = 32;

    /// <summary>
    /// Largest header block of one entity (the message's own, or one part's), in bytes. Exchange Online refuses more than
    /// 256 KiB, Postfix keeps 100 KiB; real mail stays far below. Default 262144.
    /// </summary>
    public int MaxHeaderBytes
    {
        get => _maxHeaderBytes;
        init => _maxHeaderBytes = LimitCheck.Positive(value, nameof(MaxHeaderBytes));
    }

    /// <summary>Most header fields in one header block (each costs a parsed object). Default 1000.</summary>
    public int MaxHeaderFields
    {
        get => _maxHeaderFields;
        init => _maxHeaderFields = LimitCheck.Positive(value, nameof(MaxHeaderFields));
    }

    /// <summary>
    /// Most physical lines one header field may be folded over: the factor that makes MimeKit's header parsing quadratic.
    /// A long References field holds a message id per line; 500 covers the longest threads. Default 500.
    /// </summary>
    public int MaxHeaderFieldLines
    {
        get => _maxHeaderFieldLines;
        init => _maxHeaderFieldLines = LimitCheck.Positive(value, nameof(MaxHeaderFieldLines));
    }

    /// <summary>Most header bytes of all entities of a message together. Default 1 MiB.</summary>
    public int MaxTotalHeaderBytes
    {
        get => _maxTotalHeaderBytes;
        init => _maxTotalHeaderBytes = LimitCheck.Positive(value, nameof(MaxTotalHeaderBytes));
    }

    /// <summary>
    /// Most MIME entities (the message, each part, each attached message) in one message: every one becomes objects in
    /// memory when parsed; a few megabytes of empty parts made a provider hold a gigabyte. Default 1000.
    /// </summary>
    public int MaxMimeParts
    {
        get => _maxMimeParts;
        init => _maxMimeParts = LimitCheck.Positive(value, nameof(MaxMimeParts));
    }

    /// <summary>Deepest nesting of multiparts and attached messages (the message itself is depth 1). Default 32.</summary>
    public int MaxMimeDepth
    {
        get => _maxMimeDepth;
        init => _maxMimeDepth = LimitCheck.Positive(value, nameof(MaxMimeDepth));
    }
}

/// <summary>A message exceeds one of the <see cref="MimeLimits"/>.</summary>
/// <param name="Limit">The name of the limit (a <see cref="MimeLimits"/> property).</param>
/// <param name="Allowed">Its configured value.</param>
/// <param name="Description">What exceeds it, for people (no content).</param>
public sealed record MimeLimitViolation(string Limit, long Allowed, string Description);
