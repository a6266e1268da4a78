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
/// Per-address TOFU pinning with transparency and user verification (DESIGN.md section 4, invariant 5).
/// Pure: no I/O; the caller stores the state and every transition in one transaction.
/// </summary>
/// <remarks>
/// Rules, for an observed key K with transparency verdict V and authentication A against state S
/// (docs/design/security.md, "Key-change acceptance"):
/// <list type="number">
/// <item>K's user IDs do not name the address, or A is forged (mail whose domain failed DMARC): nothing changes, not even
///   on first contact (recorded once as suspicious).</item>
/// <item>K is the pinned key: its certificate is refreshed (subkeys rotate under one primary key) unless A is
///   unauthenticated; <c>tofu</c> rises to <c>transparent</c> when V is verified; a key the provider served with a failed
///   or missing proof is recorded and alerted but the pin stands.</item>
/// <item>V is verified (a checked key-transparency proof): K replaces the pin at <c>transparent</c>, with notice.</item>
/// <item>V is failed or unpublished (the provider served K without publishing it): K is never encrypted to
///   automatically. Nothing pinned: K is held as the pending candidate at <c>changed</c> (no plaintext fallback either).
///   A transparent pin stands and sending to it goes on; any other pin turns <c>changed</c> with K pending.</item>
/// <item>Nothing pinned: K is pinned at <c>tofu</c> (first contact, whatever A).</item>
/// <item>A transparent pin changes only through the directory (rule 3): any other sighting is recorded and ignored.</item>
/// <item>A is signed-by-pinned (a rotation the old key endorsed): K is pinned at the old level (<c>verified</c> stays
///   <c>verified</c>, otherwise <c>tofu</c>), with notice but without a "changed" block.</item>
/// <item>A is unauthenticated (mail neither DMARC-aligned pass nor signed by K, or gossip): nothing changes; the
///   attempt is recorded once per key as suspicious, and sending to the pin goes on.</item>
/// <item>Otherwise (a discovery channel, DMARC-aligned or self-signed mail): the pin is kept, K becomes the pending
///   candidate and the level <c>changed</c>; nothing is encrypted automatically until the user accepts a key or
///   verifies a fingerprint.</item>
/// </list>
/// </remarks>
public static class ContactKeyValidator
{
    /// <summary>How many ignored fingerprints a contact remembers, so a repeated attempt is recorded once, not per message.</summary>
    public const int MaxRememberedIgnoredKeys = 16;

    /// <summary>Applies an observed key.</summary>
    public static KeyValidationResult Observe(ContactKeyState state, ObservedKey key, TransparencyVerdict verdict, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(key);
        var pinned = state.Pinned;
        var observed = new ContactKey(key.Fingerprint, key.Certificate, key.Origin, now);
        KeyTransition Transition(KeyValidationLevel to, KeyTransitionReason reason, bool notice) =>
            new(now, state.Level, to, pinned?.Fingerprint, key.Fingerprint, reason, key.Origin, notice);

        if (!key.NamesAddress)
        {
            return Ignore(state, key.Fingerprint, Transition(state.Level, KeyTransitionReason.KeyNotForAddress, notice: false));
        }

        if (key.Authentication == KeyAuthentication.Forged)
        {
            return pinned?.Fingerprint == key.Fingerprint
                ? Applied(state, [])
                : Ignore(state, key.Fingerprint, Transition(state.Level, KeyTransitionReason.UnauthenticatedKeyIgnored, notice: false));
        }

        bool transparent = verdict == TransparencyVerdict.Verified;
        bool unpublished = verdict is TransparencyVerdict.Failed or TransparencyVerdict.Unpublished;
        var unpublishedReason = verdict == TransparencyVerdict.Failed ? KeyTransitionReason.TransparencyProofFailed : KeyTransitionReason.UnpublishedKey;

        if (pinned is not null && pinned.Fingerprint == key.Fingerprint)
        {
            if (unpublished)
            {
                // The provider misbehaves, but this is the key already trusted: record it (the caller alerts), keep the pin.
                return Applied(state, [Transition(state.Level, unpublishedReason, notice: true)]);
            }

            if (key.Authentication == KeyAuthentication.Unauthenticated)
            {
                return Applied(state, []); // an unauthenticated copy never replaces the stored certificate
            }

            var refreshed = pinned with { Certificate = key.Certificate, Origin = key.Origin };
            if (transparent && state.Level is KeyValidationLevel.Tofu or KeyValidationLevel.Changed)
            {
                // A checked proof for the pinned key: tofu rises, and a pending key is dropped, because the directory that
                // speaks for the address says the pinned key is the address's key (KT evidence settles a change).
                return Applied(Next(state, KeyValidationLevel.Transparent, refreshed, null),
                    [Transition(KeyValidationLevel.Transparent, KeyTransitionReason.TransparencyConfirmed, notice: false)]);
            }

            return Applied(state with { Pinned = refreshed }, []);
        }

        if (transparent)
        {
            var reason = pinned is null ? KeyTransitionReason.FirstSeen : KeyTransitionReason.TransparencyBackedChange;
            return Applied(Next(state, KeyValidationLevel.Transparent, observed, null),
                [Transition(KeyValidationLevel.Transparent, reason, notice: pinned is not null)]);
        }

        if (unpublished)
        {
            if (state.Candidate?.Fingerprint == key.Fingerprint && state.PendingReason == unpublishedReason)
            {
                return Applied(state, []); // already held and recorded
            }

            if (state.Level == KeyValidationLevel.Transparent)
            {
                return Applied(state, [Transition(state.Level, unpublishedReason, notice: true)]);
            }

            return Applied(Next(state, KeyValidationLevel.Changed, pinned, observed, unpublishedReason),
                [Transition(KeyValidationLevel.Changed, unpublishedReason, notice: true)]);
        }

        if (pinned is null)
        {
            if (state.Candidate is { } held)
            {
                // Only an unpublished key was ever seen and it is still pending: another key does not settle that.
                return held.Fingerprint == key.Fingerprint
                    ? Applied(state, [])
                    : Applied(Next(state, KeyValidationLevel.Changed, null, observed, KeyTransitionReason.ChangedAgain),
                        [Transition(KeyValidationLevel.Changed, KeyTransitionReason.ChangedAgain, notice: true)]);
            }

            return Applied(Next(state, KeyValidationLevel.Tofu, observed, null),
                [Transition(KeyValidationLevel.Tofu, KeyTransitionReason.FirstSeen, notice: false)]);
        }

        if (state.Level == KeyValidationLevel.Transparent)
        {
            var reason = key.Authentication == KeyAuthentication.Unauthenticated
                ? KeyTransitionReason.UnauthenticatedKeyIgnored
                : KeyTransitionReason.IgnoredWithoutTransparency;
            return Ignore(state, key.Fingerprint, Transition(state.Level, reason, notice: false));
        }

        if (key.Authentication == KeyAuthentication.SignedByPinned)
        {
            var level = state.Level == KeyValidationLevel.Verified ? KeyValidationLevel.Verified : KeyValidationLevel.Tofu;
            return Applied(Next(state, level, observed, null), [Transition(level, KeyTransitionReason.Rotated, notice: true)]);
        }

        if (key.Authentication == KeyAuthentication.Unauthenticated)
        {
            return Ignore(state, key.Fingerprint, Transition(state.Level, KeyTransitionReason.UnauthenticatedKeyIgnored, notice: false));
        }

        if (state.Candidate is { } candidate && candidate.Fingerprint == key.Fingerprint)
        {
            // The same pending key seen again: keep its first-seen time, refresh its certificate.
            var refreshedCandidate = candidate with { Certificate = key.Certificate, Origin = key.Origin };
            return Applied(state with { Candidate = refreshedCandidate }, []);
        }

        var changeReason = state.Level == KeyValidationLevel.Changed ? KeyTransitionReason.ChangedAgain : KeyTransitionReason.KeyChanged;
        return Applied(Next(state, KeyValidationLevel.Changed, pinned, observed, changeReason),
            [Transition(KeyValidationLevel.Changed, changeReason, notice: true)]);
    }

    /// <summary>Leaves the state as it is and records <paramref name="transition"/> unless the key was recorded as ignored before.</summary>
    private static KeyValidationResult Ignore(ContactKeyState state, KeyFingerprint fingerprint, KeyTransition transition)
    {
        var remembered = state.IgnoredKeys ?? [];
        if (remembered.Contains(fingerprint))
        {
            return Applied(state, []);
        }

        var updated = remembered.Append(fingerprint).TakeLast(MaxRememberedIgnoredKeys).ToList();
        return Applied(state with { IgnoredKeys = updated }, [transition]);
    }

    /// <summary>
    /// The user accepts a key: the pending one (the change was legitimate) or the pinned one
    /// (the change was not). The accepted key is pinned at <c>tofu</c>; a user who compared the
    /// fingerprint uses <see cref="Verify"/> instead.
    /// </summary>
    public static KeyValidationResult Accept(ContactKeyState state, KeyFingerprint fingerprint, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Pinned is null && state.Candidate is null)
        {
            return new KeyValidationResult(KeyDecisionStatus.NothingToAccept, state, []);
        }

        ContactKey chosen;
        if (state.Candidate is { } candidate && candidate.Fingerprint == fingerprint)
        {
            chosen = candidate;
        }
        else if (state.Pinned is not null && state.Pinned.Fingerprint == fingerprint)
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

        var transition = new KeyTransition(now, state.Level, KeyValidationLevel.Tofu, state.Pinned?.Fingerprint,
            chosen.Fingerprint, KeyTransitionReason.UserAccepted, chosen.Origin, RequiresNotice: false);
        return Applied(Next(state, KeyValidationLevel.Tofu, chosen, null), [transition]);
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
        return Applied(Next(state, KeyValidationLevel.Verified, chosen, null), [transition]);
    }

    /// <summary>A new state that keeps the memory of ignored keys.</summary>
    private static ContactKeyState Next(ContactKeyState state, KeyValidationLevel level, ContactKey? pinned, ContactKey? candidate,
        KeyTransitionReason? pendingReason = null) =>
        new(level, pinned, candidate, pendingReason, state.IgnoredKeys);

    private static KeyValidationResult Applied(ContactKeyState state, IReadOnlyList<KeyTransition> transitions) =>
        new(KeyDecisionStatus.Applied, state, transitions);
}
