namespace Letterlock.Client.Validation;

/// <summary>A key as pinned or held for a contact: fingerprint, certificate bytes, origin.</summary>
/// <param name="Fingerprint">Primary key fingerprint.</param>
/// <param name="Certificate">The OpenPGP certificate (transferable public key) as last seen with this fingerprint.</param>
/// <param name="Origin">Where it came from last.</param>
/// <param name="Since">When this fingerprint was first seen for the address.</param>
public sealed record ContactKey(KeyFingerprint Fingerprint, byte[] Certificate, KeyOrigin Origin, DateTimeOffset Since);

/// <summary>
/// The validation state of one address as seen by one account: the pinned key, its level, and
/// while the level is <see cref="KeyValidationLevel.Changed"/>, the differing key that awaits the
/// user's decision and why it is pending.
/// </summary>
/// <param name="Level">The validation level.</param>
/// <param name="Pinned">The pinned key; null before the first key, and while the only key seen came with a failed or
/// missing transparency proof (it is then the <paramref name="Candidate"/>, never encrypted to automatically).</param>
/// <param name="Candidate">The differing key awaiting the user's decision.</param>
/// <param name="PendingReason">Why <paramref name="Candidate"/> is pending: <see cref="KeyTransitionReason.KeyChanged"/>,
/// <see cref="KeyTransitionReason.ChangedAgain"/>, <see cref="KeyTransitionReason.TransparencyProofFailed"/> or
/// <see cref="KeyTransitionReason.UnpublishedKey"/> (null in states stored before this was recorded: a plain change).</param>
/// <param name="IgnoredKeys">Fingerprints already recorded as ignored (unauthenticated, not for the address, outside the
/// directory of a transparent pin), at most <see cref="ContactKeyValidator.MaxRememberedIgnoredKeys"/>: a repeated
/// attempt is recorded once, so hostile mail cannot grow the history without bound.</param>
public sealed record ContactKeyState(KeyValidationLevel Level, ContactKey? Pinned, ContactKey? Candidate, KeyTransitionReason? PendingReason = null,
    IReadOnlyList<KeyFingerprint>? IgnoredKeys = null)
{
    /// <summary>No key known.</summary>
    public static ContactKeyState Empty { get; } = new(KeyValidationLevel.None, null, null);

    /// <summary>
    /// Whether the pending key is one the contact's provider served without publishing it in its transparency log
    /// (a failed, missing or not-yet-published proof): provider misbehaviour rather than an ordinary key change.
    /// </summary>
    public bool PendingKeyIsUnpublished =>
        Candidate is not null && PendingReason is KeyTransitionReason.TransparencyProofFailed or KeyTransitionReason.UnpublishedKey;

    /// <summary>Whether mail may be encrypted to <see cref="Pinned"/> without asking the user.</summary>
    public bool CanEncryptAutomatically =>
        Pinned is not null && Level is KeyValidationLevel.Tofu or KeyValidationLevel.Transparent or KeyValidationLevel.Verified;

    /// <summary>The key to encrypt to automatically, or null when there is none or a change is pending.</summary>
    public ContactKey? EncryptionKey => CanEncryptAutomatically ? Pinned : null;
}

/// <summary>One recorded change of a contact's key state.</summary>
/// <param name="At">When it happened.</param>
/// <param name="From">Level before.</param>
/// <param name="To">Level after.</param>
/// <param name="OldKey">The pinned fingerprint before, if any.</param>
/// <param name="NewKey">The fingerprint the change is about.</param>
/// <param name="Reason">Why.</param>
/// <param name="Origin">Where the key came from, for changes caused by an observed key.</param>
/// <param name="RequiresNotice">The user must be told (a key changed); never true for silent bookkeeping.</param>
public sealed record KeyTransition(
    DateTimeOffset At,
    KeyValidationLevel From,
    KeyValidationLevel To,
    KeyFingerprint? OldKey,
    KeyFingerprint? NewKey,
    KeyTransitionReason Reason,
    KeyOrigin? Origin,
    bool RequiresNotice);
