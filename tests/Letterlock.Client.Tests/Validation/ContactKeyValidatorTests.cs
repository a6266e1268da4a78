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
    [InlineData(KeyValidationLevel.Verified)]
    public void A_tofu_or_verified_pin_turns_changed_on_an_unproven_different_key(KeyValidationLevel level)
    {
        var result = ContactKeyValidator.Observe(Pinned(level), Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Absent, T0);
        Assert.Equal(KeyValidationLevel.Changed, result.State.Level);
        Assert.Equal(KeyTransitionReason.KeyChanged, result.State.PendingReason);
        Assert.Equal(level, Assert.Single(result.Transitions).From);
    }

    [Theory]
    [InlineData(KeyOrigin.ProviderDirectory, KeyAuthentication.Channel)]
    [InlineData(KeyOrigin.Wkd, KeyAuthentication.Channel)]
    [InlineData(KeyOrigin.Hkp, KeyAuthentication.Channel)]
    [InlineData(KeyOrigin.Autocrypt, KeyAuthentication.DmarcAligned)]
    [InlineData(KeyOrigin.Autocrypt, KeyAuthentication.SignedBySelf)]
    [InlineData(KeyOrigin.Autocrypt, KeyAuthentication.SignedByPinned)]
    [InlineData(KeyOrigin.Autocrypt, KeyAuthentication.Unauthenticated)]
    [InlineData(KeyOrigin.AutocryptGossip, KeyAuthentication.Unauthenticated)]
    public void A_transparent_pin_changes_only_through_a_verified_directory_proof(KeyOrigin origin, KeyAuthentication authentication)
    {
        var state = Pinned(KeyValidationLevel.Transparent);
        var result = ContactKeyValidator.Observe(state, Key(New, origin) with { Authentication = authentication }, TransparencyVerdict.Absent, T0);
        Assert.Equal(KeyValidationLevel.Transparent, result.State.Level);
        Assert.Equal(Old, result.State.EncryptionKey!.Fingerprint);
        Assert.Null(result.State.Candidate);
        var transition = Assert.Single(result.Transitions);
        Assert.Equal(KeyValidationLevel.Transparent, transition.To);
        Assert.False(transition.RequiresNotice);

        var published = ContactKeyValidator.Observe(result.State, Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Verified, T0);
        Assert.Equal((KeyValidationLevel.Transparent, New), (published.State.Level, published.State.EncryptionKey!.Fingerprint));
    }

    [Theory]
    [InlineData(KeyValidationLevel.Tofu)]
    [InlineData(KeyValidationLevel.Verified)]
    [InlineData(KeyValidationLevel.Changed)]
    public void A_key_in_unauthenticated_mail_never_moves_a_pin_and_is_recorded_once(KeyValidationLevel level)
    {
        var start = level == KeyValidationLevel.Changed
            ? ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Tofu), Key(Third), TransparencyVerdict.Absent, T0).State
            : Pinned(level);
        foreach (var authentication in new[] { KeyAuthentication.Unauthenticated, KeyAuthentication.Forged })
        {
            var first = ContactKeyValidator.Observe(start, Key(New, KeyOrigin.Autocrypt) with { Authentication = authentication }, TransparencyVerdict.Absent, T0);
            Assert.Equal(start with { IgnoredKeys = first.State.IgnoredKeys }, first.State);
            Assert.Equal([New], first.State.IgnoredKeys!);
            var transition = Assert.Single(first.Transitions);
            Assert.Equal((KeyTransitionReason.UnauthenticatedKeyIgnored, level, level), (transition.Reason, transition.From, transition.To));

            var again = ContactKeyValidator.Observe(first.State, Key(New, KeyOrigin.Autocrypt) with { Authentication = authentication }, TransparencyVerdict.Absent, T0);
            Assert.Empty(again.Transitions);
            Assert.Equal(first.State, again.State);
        }
    }

    [Fact]
    public void The_memory_of_ignored_keys_is_bounded()
    {
        var state = Pinned(KeyValidationLevel.Tofu);
        for (int i = 0; i < ContactKeyValidator.MaxRememberedIgnoredKeys + 5; i++)
        {
            var fingerprint = KeyFingerprint.FromBytes(BitConverter.GetBytes(i).Concat(new byte[16]).ToArray());
            state = ContactKeyValidator.Observe(state, Key(fingerprint, KeyOrigin.Autocrypt) with { Authentication = KeyAuthentication.Unauthenticated },
                TransparencyVerdict.Absent, T0).State;
        }

        Assert.Equal(ContactKeyValidator.MaxRememberedIgnoredKeys, state.IgnoredKeys!.Count);
    }

    [Fact]
    public void A_forged_or_misaddressed_key_is_not_even_pinned_on_first_contact()
    {
        var forged = ContactKeyValidator.Observe(ContactKeyState.Empty, Key(New, KeyOrigin.Autocrypt) with { Authentication = KeyAuthentication.Forged },
            TransparencyVerdict.Absent, T0);
        Assert.Equal(KeyValidationLevel.None, forged.State.Level);
        Assert.Null(forged.State.Pinned);
        var misaddressed = ContactKeyValidator.Observe(ContactKeyState.Empty, Key(New, KeyOrigin.Autocrypt) with { NamesAddress = false },
            TransparencyVerdict.Absent, T0);
        Assert.Null(misaddressed.State.Pinned);
        Assert.Equal(KeyTransitionReason.KeyNotForAddress, Assert.Single(misaddressed.Transitions).Reason);

        // Unauthenticated mail may introduce a peer (that is what trust on first use means), never replace one.
        var first = ContactKeyValidator.Observe(ContactKeyState.Empty, Key(New, KeyOrigin.Autocrypt) with { Authentication = KeyAuthentication.Unauthenticated },
            TransparencyVerdict.Absent, T0);
        Assert.Equal(KeyValidationLevel.Tofu, first.State.Level);
    }

    [Theory]
    [InlineData(KeyValidationLevel.Tofu, KeyValidationLevel.Tofu)]
    [InlineData(KeyValidationLevel.Verified, KeyValidationLevel.Verified)]
    [InlineData(KeyValidationLevel.Changed, KeyValidationLevel.Tofu)]
    public void A_rotation_endorsed_by_the_pinned_key_is_a_rotation_not_a_change(KeyValidationLevel level, KeyValidationLevel after)
    {
        var state = level == KeyValidationLevel.Changed
            ? ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Tofu), Key(Third), TransparencyVerdict.Absent, T0).State
            : Pinned(level);
        var result = ContactKeyValidator.Observe(state, Key(New, KeyOrigin.Autocrypt) with { Authentication = KeyAuthentication.SignedByPinned },
            TransparencyVerdict.Absent, T0);
        Assert.Equal((after, New), (result.State.Level, result.State.EncryptionKey!.Fingerprint));
        Assert.Null(result.State.Candidate);
        var transition = Assert.Single(result.Transitions);
        Assert.Equal(KeyTransitionReason.Rotated, transition.Reason);
        Assert.True(transition.RequiresNotice); // never silent, but no "changed" block
    }

    [Fact]
    public void A_failed_proof_holds_the_key_pending_and_never_encrypts_to_it()
    {
        var result = ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Tofu), Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Failed, T0);
        Assert.Equal(KeyValidationLevel.Changed, result.State.Level);
        Assert.Null(result.State.EncryptionKey);
        Assert.True(result.State.PendingKeyIsUnpublished);
        var transition = Assert.Single(result.Transitions);
        Assert.Equal(KeyTransitionReason.TransparencyProofFailed, transition.Reason);
        Assert.True(transition.RequiresNotice);

        // With nothing pinned the key is not pinned either: held pending, so sending neither encrypts to it nor falls back to plaintext.
        var first = ContactKeyValidator.Observe(ContactKeyState.Empty, Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Failed, T0);
        Assert.Equal(KeyValidationLevel.Changed, first.State.Level);
        Assert.Null(first.State.Pinned);
        Assert.Equal(New, first.State.Candidate!.Fingerprint);
        Assert.Null(first.State.EncryptionKey);
        Assert.Empty(ContactKeyValidator.Observe(first.State, Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Failed, T0).Transitions);
        var accepted = ContactKeyValidator.Accept(first.State, New, T0);
        Assert.Equal((KeyValidationLevel.Tofu, New), (accepted.State.Level, accepted.State.EncryptionKey!.Fingerprint));

        // Published later: the proof settles it.
        var published = ContactKeyValidator.Observe(first.State, Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Verified, T0);
        Assert.Equal((KeyValidationLevel.Transparent, New), (published.State.Level, published.State.EncryptionKey!.Fingerprint));
    }

    [Fact]
    public void An_unpublished_key_never_replaces_a_transparent_pin_and_sending_to_the_pin_goes_on()
    {
        var result = ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Transparent), Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Unpublished, T0);
        Assert.Equal((KeyValidationLevel.Transparent, Old), (result.State.Level, result.State.EncryptionKey!.Fingerprint));
        var transition = Assert.Single(result.Transitions);
        Assert.Equal(KeyTransitionReason.UnpublishedKey, transition.Reason);
        Assert.True(transition.RequiresNotice);

        var tofu = ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Tofu), Key(New, KeyOrigin.ProviderDirectory), TransparencyVerdict.Unpublished, T0);
        Assert.Equal(KeyValidationLevel.Changed, tofu.State.Level);
        Assert.Equal(KeyTransitionReason.UnpublishedKey, tofu.State.PendingReason);
    }

    [Fact]
    public void A_proof_for_the_pinned_key_settles_a_pending_change()
    {
        var changed = ContactKeyValidator.Observe(Pinned(KeyValidationLevel.Tofu), Key(New), TransparencyVerdict.Absent, T0).State;
        var settled = ContactKeyValidator.Observe(changed, Key(Old, KeyOrigin.ProviderDirectory), TransparencyVerdict.Verified, T0);
        Assert.Equal((KeyValidationLevel.Transparent, Old), (settled.State.Level, settled.State.EncryptionKey!.Fingerprint));
        Assert.Null(settled.State.Candidate);
    }

    [Fact]
    public void An_unauthenticated_copy_of_the_pinned_key_does_not_replace_its_certificate()
    {
        var state = Pinned(KeyValidationLevel.Tofu);
        var result = ContactKeyValidator.Observe(state, Key(Old, KeyOrigin.Autocrypt, "stale") with { Authentication = KeyAuthentication.Unauthenticated },
            TransparencyVerdict.Absent, T0);
        Assert.Equal(state, result.State);
        Assert.Empty(result.Transitions);
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
