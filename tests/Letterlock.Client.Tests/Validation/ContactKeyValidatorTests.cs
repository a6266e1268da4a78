using Letterlock.Client.Validation;

namespace Letterlock.Client.Tests.Validation;

public sealed class ContactKeyValidatorTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly KeyFingerprint Old = KeyFingerprint.Parse("AAAA AAAA AAAA AAAA AAAA  AAAA AAAA AAAA AAAA AAAA");
    private static readonly KeyFingerprint New = KeyFingerprint.Parse("0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    private static readonly KeyFingerprint Third = KeyFingerprint.Parse(new string('C', 64));

    private static ObservedKey Key(KeyFingerprint fingerprint, KeyOrigin origin = KeyOrigin.Wkd, string cert = "cert") =>
        new(fingerprint, System.Text.Encoding.ASCII.GetBytes(cert + fingerprint.Hex[..4]), origin);

    private static ContactKeyState Pinned(KeyValidationLevel level) =>
        ContactKeyValidator.Observe(ContactKeyState.Empty, Key(Old), TransparencyVerdict.Absent, T0).State with { Level = level };

    [Fact]
    public void The_first_key_is_pinned_at_tofu_and_may_be_used()
    {
        var result = ContactKeyValidator.Observe(ContactKeyState.Empty, Key(Old), TransparencyVerdict.Absent, T0);
        Assert.Equal(KeyValidationLevel.Tofu, result.State.Level);
        Assert.Equal(Old, result.State.EncryptionKey!.Fingerprint);
        var transition = Assert.Single(result.Transitions);
        Assert.Equal((KeyValidationLevel.None, KeyValidationLevel.Tofu, KeyTransitionReason.FirstSeen), (transition.From, transition.To, transition.Reason));
        Assert.False(transition.RequiresNotice);
    }

    [Fact]
    public void A_first_key_with_a_verified_proof_is_transparent()
    {
        var result = ContactKeyValidator.Observe(ContactKeyState.Empty, Key(Old, KeyOrigin.ProviderDirectory), TransparencyVerdict.Verified, T0);
        Assert.Equal(KeyValidationLevel.Transparent, result.State.Level);
        Assert.True(result.State.CanEncryptAutomatically);
    }

    [Fact]
    public void A_changed_key_without_evidence_blocks_automatic_encryption_and_is_recorded_with_notice()
    {
        var result = ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Tofu), Key(New), TransparencyVerdict.Absent, T0.AddDays(1));
        Assert.Equal(KeyValidationLevel.Changed, result.State.Level);
        Assert.False(result.State.CanEncryptAutomatically);
        Assert.Null(result.State.EncryptionKey);
        Assert.Equal(Old, result.State.Pinned!.Fingerprint);
        Assert.Equal(New, result.State.Candidate!.Fingerprint);
        var transition = Assert.Single(result.Transitions);
        Assert.Equal(KeyTransitionReason.KeyChanged, transition.Reason);
        Assert.True(transition.RequiresNotice);
        Assert.Equal((Old, New), (transition.OldKey!.Value, transition.NewKey!.Value));
    }

    [Theory]
    [InlineData(KeyValidationLevel.Tofu)]
    [InlineData(KeyValidationLevel.Transparent)]
    [InlineData(KeyValidationLevel.Verified)]
    public void Any_trusted_pin_turns_changed_on_an_unproven_different_key(KeyValidationLevel level)
    {
        var result = ContactKeyValidator.Observe(Pinned(level), Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Absent, T0);
        Assert.Equal(KeyValidationLevel.Changed, result.State.Level);
        Assert.Equal(level, Assert.Single(result.Transitions).From);
    }

    [Fact]
    public void A_failed_proof_is_recorded_and_counts_as_no_evidence()
    {
        var result = ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Tofu), Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Failed, T0);
        Assert.Equal(KeyValidationLevel.Changed, result.State.Level);
        Assert.Equal([KeyTransitionReason.TransparencyProofFailed, KeyTransitionReason.KeyChanged], result.Transitions.Select(t => t.Reason));
        Assert.All(result.Transitions, t => Assert.True(t.RequiresNotice));
    }

    [Fact]
    public void A_proof_backed_change_is_accepted_as_transparent_but_never_silently()
    {
        var result = ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Verified), Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Verified, T0);
        Assert.Equal(KeyValidationLevel.Transparent, result.State.Level);
        Assert.Equal(New, result.State.EncryptionKey!.Fingerprint);
        var transition = Assert.Single(result.Transitions);
        Assert.Equal(KeyTransitionReason.TransparencyBackedChange, transition.Reason);
        Assert.True(transition.RequiresNotice);
    }

    [Fact]
    public void The_same_key_again_refreshes_its_certificate_and_a_proof_raises_tofu_to_transparent()
    {
        var state = Pinned(KeyValidationLevel.Tofu);
        var refreshed = ContactKeyValidator.Observe(state, Key(Old, KeyOrigin.Hkp, "newer"), TransparencyVerdict.Absent, T0.AddDays(2));
        Assert.Empty(refreshed.Transitions);
        Assert.Equal("newerAAAA"u8.ToArray(), refreshed.State.Pinned!.Certificate);
        Assert.Equal(T0, refreshed.State.Pinned.Since);

        var raised = ContactKeyValidator.Observe(refreshed.State, Key(Old), TransparencyVerdict.Verified, T0.AddDays(3));
        Assert.Equal(KeyValidationLevel.Transparent, raised.State.Level);
        Assert.Equal(KeyTransitionReason.TransparencyConfirmed, Assert.Single(raised.Transitions).Reason);

        var verified = Pinned(KeyValidationLevel.Verified);
        var stays = ContactKeyValidator.Observe(verified, Key(Old), TransparencyVerdict.Verified, T0);
        Assert.Equal(KeyValidationLevel.Verified, stays.State.Level);
        Assert.Empty(stays.Transitions);
    }

    [Fact]
    public void While_changed_the_same_candidate_is_not_recorded_twice_but_a_third_key_is()
    {
        var changed = ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Tofu), Key(New), TransparencyVerdict.Absent, T0).State;
        Assert.Empty(ContactKeyValidator.Observe(changed, Key(New), TransparencyVerdict.Absent, T0).Transitions);
        var oldAgain = ContactKeyValidator.Observe(changed, Key(Old), TransparencyVerdict.Absent, T0);
        Assert.Equal(KeyValidationLevel.Changed, oldAgain.State.Level);
        var third = ContactKeyValidator.Observe(changed, Key(Third), TransparencyVerdict.Absent, T0);
        Assert.Equal(KeyValidationLevel.Changed, third.State.Level);
        Assert.Equal(Third, third.State.Candidate!.Fingerprint);
        Assert.Equal(KeyTransitionReason.ChangedAgain, Assert.Single(third.Transitions).Reason);
    }

    [Fact]
    public void Accepting_the_new_key_pins_it_at_tofu_and_accepting_the_old_one_keeps_it()
    {
        var changed = ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Tofu), Key(New), TransparencyVerdict.Absent, T0).State;
        var acceptNew = ContactKeyValidator.Accept(changed, New, T0);
        Assert.Equal(KeyDecisionStatus.Applied, acceptNew.Status);
        Assert.Equal((KeyValidationLevel.Tofu, New), (acceptNew.State.Level, acceptNew.State.EncryptionKey!.Fingerprint));
        Assert.Null(acceptNew.State.Candidate);
        Assert.Equal(KeyTransitionReason.UserAccepted, Assert.Single(acceptNew.Transitions).Reason);

        var keepOld = ContactKeyValidator.Accept(changed, Old, T0);
        Assert.Equal((KeyValidationLevel.Tofu, Old), (keepOld.State.Level, keepOld.State.EncryptionKey!.Fingerprint));

        var unknown = ContactKeyValidator.Accept(changed, Third, T0);
        Assert.Equal(KeyDecisionStatus.UnknownFingerprint, unknown.Status);
        Assert.Same(changed, unknown.State);
        Assert.Equal(KeyDecisionStatus.NothingToAccept, ContactKeyValidator.Accept(ContactKeyState.Empty, Old, T0).Status);
    }

    [Fact]
    public void A_user_confirmed_fingerprint_is_verified_and_must_match_a_seen_key()
    {
        var changed = ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Tofu), Key(New), TransparencyVerdict.Absent, T0).State;
        var verified = ContactKeyValidator.Verify(changed, New, T0);
        Assert.Equal((KeyValidationLevel.Verified, New), (verified.State.Level, verified.State.EncryptionKey!.Fingerprint));
        Assert.Equal(KeyTransitionReason.UserVerified, Assert.Single(verified.Transitions).Reason);
        Assert.Empty(ContactKeyValidator.Verify(verified.State, New, T0).Transitions);
        Assert.Equal(KeyDecisionStatus.UnknownFingerprint, ContactKeyValidator.Verify(changed, Third, T0).Status);
        Assert.Equal(KeyDecisionStatus.UnknownFingerprint, ContactKeyValidator.Verify(ContactKeyState.Empty, Old, T0).Status);
        // Accepting an already verified key does not downgrade it.
        Assert.Equal(KeyValidationLevel.Verified, ContactKeyValidator.Accept(verified.State, New, T0).State.Level);
    }

    [Theory]
    [InlineData("")]
    [InlineData("ABCD")]
    [InlineData("GGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA")]
    public void Malformed_fingerprints_are_rejected(string text) => Assert.False(KeyFingerprint.TryParse(text, out _));

    [Fact]
    public void Fingerprints_parse_as_people_write_them()
    {
        var f = KeyFingerprint.Parse("aaaa:AAAA:aaaa:AAAA:aaaa AAAA aaaa AAAA aaaa AAAA");
        Assert.Equal(Old, f);
        Assert.Equal("AAAA AAAA AAAA AAAA AAAA AAAA AAAA AAAA AAAA AAAA", f.ToDisplayString());
        Assert.Equal(KeyFingerprint.FromBytes(new byte[20]), KeyFingerprint.Parse(new string('0', 40)));
    }
}
