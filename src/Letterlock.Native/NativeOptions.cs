using Letterlock.Primitives;

namespace Letterlock.Native;

/// <summary>
/// Every limit of the native protocol. Envelopes arrive from anyone who holds a delivery token, so each
/// limit bounds memory or work a hostile sender could otherwise demand, or state a device keeps. Values
/// are validated when set; the error names the setting.
/// </summary>
public sealed record NativeOptions
{
    /// <summary>The defaults.</summary>
    public static NativeOptions Default { get; } = new();

    private readonly int _maxSkippedKeysPerSession = 1000;
    private readonly int _maxSkippedKeysTotal = 2000;
    private readonly int _maxEntries = 64;
    private readonly int _maxContentLength = 64 * 1024 * 1024;
    private readonly int _maxArchivedSessionsPerPeer = 2;
    private readonly int _maxAddressLength = 320;
    private readonly int _maxReplyTokenLength = 128;
    private readonly TimeSpan _maxResetRequestAge = TimeSpan.FromDays(30);

    /// <summary>
    /// Message keys one session keeps for messages that have not arrived yet (Double Ratchet MAX_SKIP):
    /// a message that would need more skipped keys than this is refused, and when a session holds more,
    /// the oldest are dropped. Mail is often reordered and sometimes lost; 1,000 covers long gaps.
    /// </summary>
    public int MaxSkippedKeysPerSession
    {
        get => _maxSkippedKeysPerSession;
        init => _maxSkippedKeysPerSession = LimitCheck.InRange(value, 0, 1_000_000, nameof(MaxSkippedKeysPerSession));
    }

    /// <summary>Skipped message keys a device keeps across all its sessions; beyond it the oldest are dropped.</summary>
    public int MaxSkippedKeysTotal
    {
        get => _maxSkippedKeysTotal;
        init => _maxSkippedKeysTotal = LimitCheck.InRange(value, 0, 10_000_000, nameof(MaxSkippedKeysTotal));
    }

    /// <summary>Key entries (recipient devices) in one envelope; 64 is the most devices one address lists.</summary>
    public int MaxEntries
    {
        get => _maxEntries;
        init => _maxEntries = LimitCheck.InRange(value, 1, 255, nameof(MaxEntries));
    }

    /// <summary>Longest message (the RFC 5322 bytes inside the envelope).</summary>
    public int MaxContentLength
    {
        get => _maxContentLength;
        init => _maxContentLength = LimitCheck.InRange(value, 0, 1024 * 1024 * 1024, nameof(MaxContentLength));
    }

    /// <summary>Older sessions kept per peer device after a newer one starts, so mail in flight on them still opens.</summary>
    public int MaxArchivedSessionsPerPeer
    {
        get => _maxArchivedSessionsPerPeer;
        init => _maxArchivedSessionsPerPeer = LimitCheck.InRange(value, 0, 16, nameof(MaxArchivedSessionsPerPeer));
    }

    /// <summary>Longest address in a sender certificate, in UTF-8 bytes (RFC 5321 allows 64 + 1 + 255).</summary>
    public int MaxAddressLength
    {
        get => _maxAddressLength;
        init => _maxAddressLength = LimitCheck.InRange(value, 3, 1024, nameof(MaxAddressLength));
    }

    /// <summary>Longest delivery token a sender hands a recipient inside a key entry.</summary>
    public int MaxReplyTokenLength
    {
        get => _maxReplyTokenLength;
        init => _maxReplyTokenLength = LimitCheck.InRange(value, 0, 255, nameof(MaxReplyTokenLength));
    }

    /// <summary>How old a session-reset request may be before the sender ignores it.</summary>
    public TimeSpan MaxResetRequestAge
    {
        get => _maxResetRequestAge;
        init => _maxResetRequestAge = value > TimeSpan.Zero && value <= TimeSpan.FromDays(3650)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxResetRequestAge), value, $"{nameof(MaxResetRequestAge)} must be positive and at most ten years.");
    }
}
