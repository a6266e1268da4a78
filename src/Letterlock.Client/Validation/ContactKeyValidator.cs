namespace Letterlock.Client.Validation;

/// <summary>The outcome of a validation step, as a status value (expected outcomes are not exceptions).</summary>
public enum KeyDecisionStatus
{
    /// <summary>The state was updated (it may be unchanged when nothing new was learned).</summary>
    Applied,

    /// <summary>The fingerprint the user named matches neither the pinned nor the pending key.</summary>
    UnknownFingerprint,

    /// <summary>There is no key to accept.</summary>
    NothingToAccept,
}

/// <summary>A new state plus the transitions that led to it (to be stored together).</summary>
public sealed record KeyValidationResult(KeyDecisionStatus Status, ContactKeyState State, IReadOnlyList<KeyTransition> Transitions);

/// <summary>
/// Per-address TOFU pinning with transparency and user verification (DESIGN.md section 4).
/// Pure: no I/O; the caller stores the state and every transition in one transaction.
/// </summary>
/// <remarks>
/// Rules, for an observed key K with verdict V against state S:
/// <list type="number">
/// <item>Nothing pinned: pin K at <c>transparent</c> if V is verified, else <c>tofu</c>.</item>
/// <item>K is the pinned key: refresh its certificate (subkeys rotate under the same primary key);
///   <c>tofu</c> rises to <c>transparent</c> when V is verified; <c>verified</c> and a pending
///   change stay as they are.</item>
/// <item>K differs and V is verified: K replaces the pin at <c>transparent</c> (a user-verified pin
///   is downgraded too); the transition requires notice, so the change is never silent.</item>
/// <item>K differs without verified evidence: the pin is kept, K becomes the pending candidate and
///   the level <c>changed</c>; nothing is encrypted automatically until the user accepts a key
///   or verifies a fingerprint.</item>
/// </list>
/// A failed proof is recorded and the key is then judged as if it had no evidence, which is never
/// weaker than plain TOFU.
/// </remarks>
public static class ContactKeyValidator
{
    /// <summary>Applies an observed key.</summary>
    public static KeyValidationResult Observe(ContactKeyState state, ObservedKey key, TransparencyVerdict verdict, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(key);
        var transitions = new List<KeyTransition>();
        if (verdict == TransparencyVerdict.Failed)
        {
            transitions.Add(new KeyTransition(now, state.Level, state.Level, state.Pinned?.Fingerprint, key.Fingerprint,
                KeyTransitionReason.TransparencyProofFailed, key.Origin, RequiresNotice: true));
        }

        bool transparent = verdict == TransparencyVerdict.Verified;
        var observed = new ContactKey(key.Fingerprint, key.Certificate, key.Origin, now);

        if (state.Pinned is null)
        {
            var level = transparent ? KeyValidationLevel.Transparent : KeyValidationLevel.Tofu;
            transitions.Add(new KeyTransition(now, state.Level, level, null, key.Fingerprint,
                KeyTransitionReason.FirstSeen, key.Origin, RequiresNotice: false));
            return Applied(new ContactKeyState(level, observed, null), transitions);
        }

        var pinned = state.Pinned;
        if (pinned.Fingerprint == key.Fingerprint)
        {
            var refreshed = pinned with { Certificate = key.Certificate, Origin = key.Origin };
            if (transparent && state.Level == KeyValidationLevel.Tofu)
            {
                transitions.Add(new KeyTransition(now, state.Level, KeyValidationLevel.Transparent, pinned.Fingerprint,
                    key.Fingerprint, KeyTransitionReason.TransparencyConfirmed, key.Origin, RequiresNotice: false));
                return Applied(state with { Level = KeyValidationLevel.Transparent, Pinned = refreshed }, transitions);
            }

            return Applied(state with { Pinned = refreshed }, transitions);
        }

        if (transparent)
        {
            transitions.Add(new KeyTransition(now, state.Level, KeyValidationLevel.Transparent, pinned.Fingerprint,
                key.Fingerprint, KeyTransitionReason.TransparencyBackedChange, key.Origin, RequiresNotice: true));
            return Applied(new ContactKeyState(KeyValidationLevel.Transparent, observed, null), transitions);
        }

        if (state.Candidate is { } candidate && candidate.Fingerprint == key.Fingerprint)
        {
            // The same pending key seen again: keep its first-seen time, refresh its certificate.
            var refreshedCandidate = candidate with { Certificate = key.Certificate, Origin = key.Origin };
            return Applied(state with { Candidate = refreshedCandidate }, transitions);
        }

        var reason = state.Level == KeyValidationLevel.Changed ? KeyTransitionReason.ChangedAgain : KeyTransitionReason.KeyChanged;
        transitions.Add(new KeyTransition(now, state.Level, KeyValidationLevel.Changed, pinned.Fingerprint,
            key.Fingerprint, reason, key.Origin, RequiresNotice: true));
        return Applied(new ContactKeyState(KeyValidationLevel.Changed, pinned, observed), transitions);
    }

    /// <summary>
    /// The user accepts a key: the pending one (the change was legitimate) or the pinned one
    /// (the change was not). The accepted key is pinned at <c>tofu</c>; a user who compared the
    /// fingerprint uses <see cref="Verify"/> instead.
    /// </summary>
    public static KeyValidationResult Accept(ContactKeyState state, KeyFingerprint fingerprint, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Pinned is null)
        {
            return new KeyValidationResult(KeyDecisionStatus.NothingToAccept, state, []);
        }

        ContactKey chosen;
        if (state.Candidate is { } candidate && candidate.Fingerprint == fingerprint)
        {
            chosen = candidate;
        }
        else if (state.Pinned.Fingerprint == fingerprint)
        {
            chosen = state.Pinned;
        }
        else
        {
            return new KeyValidationResult(KeyDecisionStatus.UnknownFingerprint, state, []);
        }

        if (state.Level != KeyValidationLevel.Changed && chosen == state.Pinned)
        {
            // Accepting what is already pinned and trusted changes nothing; keep a verified pin verified.
            return new KeyValidationResult(KeyDecisionStatus.Applied, state, []);
        }

        var transition = new KeyTransition(now, state.Level, KeyValidationLevel.Tofu, state.Pinned.Fingerprint,
            chosen.Fingerprint, KeyTransitionReason.UserAccepted, chosen.Origin, RequiresNotice: false);
        return Applied(new ContactKeyState(KeyValidationLevel.Tofu, chosen, null), [transition]);
    }

    /// <summary>
    /// The user confirmed <paramref name="fingerprint"/> out of band. It must match the pinned or
    /// the pending key; that key is then pinned at <c>verified</c>.
    /// </summary>
    public static KeyValidationResult Verify(ContactKeyState state, KeyFingerprint fingerprint, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ContactKey? chosen = null;
        if (state.Pinned?.Fingerprint == fingerprint)
        {
            chosen = state.Pinned;
        }
        else if (state.Candidate?.Fingerprint == fingerprint)
        {
            chosen = state.Candidate;
        }

        if (chosen is null)
        {
            return new KeyValidationResult(KeyDecisionStatus.UnknownFingerprint, state, []);
        }

        if (state.Level == KeyValidationLevel.Verified && chosen == state.Pinned)
        {
            return new KeyValidationResult(KeyDecisionStatus.Applied, state, []);
        }

        var transition = new KeyTransition(now, state.Level, KeyValidationLevel.Verified, state.Pinned?.Fingerprint,
            chosen.Fingerprint, KeyTransitionReason.UserVerified, chosen.Origin, RequiresNotice: false);
        return Applied(new ContactKeyState(KeyValidationLevel.Verified, chosen, null), [transition]);
    }

    private static KeyValidationResult Applied(ContactKeyState state, IReadOnlyList<KeyTransition> transitions) =>
        new(KeyDecisionStatus.Applied, state, transitions);
}
