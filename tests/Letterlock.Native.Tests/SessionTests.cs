using System.Text;
using Letterlock.Native;
using Letterlock.Primitives;

namespace Letterlock.Native.Tests;

public sealed class SessionTests
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void A_first_message_starts_a_session_and_opens_with_the_sender_certificate()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);

        var sealedEnvelope = alice.Send("Subject: hi\r\n\r\nhello bob", bob);
        var opened = bob.Open(sealedEnvelope.Bytes);

        Assert.Equal(OpenStatus.Opened, opened.Status);
        Assert.Equal("Subject: hi\r\n\r\nhello bob", Encoding.UTF8.GetString(opened.Content!));
        Assert.Equal("alice@alpha.test", opened.Sender!.Address);
        Assert.Equal(alice.DeviceKey, opened.Sender.Identity.DeviceKey);
        Assert.True(opened.StartedSession);
        Assert.Equal(sealedEnvelope.EnvelopeId, opened.EnvelopeId);
        Assert.Equal(2, opened.ConsumedPrekeys.Count);
        Assert.Equal(2, bob.Prekeys.Count(PrekeyKind.OneTime) + bob.Prekeys.Count(PrekeyKind.OneTimeKem) - 2);
    }

    [Fact]
    public void Messages_flow_both_ways_and_the_start_is_repeated_only_until_the_first_reply()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);

        var first = alice.Send("one", bob);
        var second = alice.Send("two", bob);
        Assert.True(alice.Sessions.Active(bob.DeviceKey)!.AwaitingReply);
        Assert.Equal(OpenStatus.Opened, bob.Open(second.Bytes).Status); // the later one arrives first
        Assert.Equal("one", Encoding.UTF8.GetString(bob.Open(first.Bytes).Content!));

        var reply = bob.Send("three", alice);
        var opened = alice.Open(reply.Bytes);
        Assert.Equal("three", Encoding.UTF8.GetString(opened.Content!));
        Assert.Equal("bob@beta.test", opened.Sender!.Address);
        Assert.False(opened.StartedSession);
        Assert.False(alice.Sessions.Active(bob.DeviceKey)!.AwaitingReply);

        var fourth = alice.Send("four", bob);
        Assert.True(fourth.Bytes.Length < first.Bytes.Length, "without the session start the envelope shrinks");
        Assert.Equal("four", Encoding.UTF8.GetString(bob.Open(fourth.Bytes).Content!));
    }

    [Fact]
    public void One_envelope_reaches_several_devices_and_the_content_is_encrypted_once()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob1 = TestPeer.Create("bob@beta.test", _clock);
        var bob2 = TestPeer.Create("bob@beta.test", _clock);
        var alice2 = TestPeer.Create("alice@alpha.test", _clock);

        var envelope = alice.Send("to all", bob1, bob2, alice2);
        foreach (var device in new[] { bob1, bob2, alice2 })
        {
            var opened = device.Open(envelope.Bytes);
            Assert.Equal(OpenStatus.Opened, opened.Status);
            Assert.Equal("to all", Encoding.UTF8.GetString(opened.Content!));
        }

        var stranger = TestPeer.Create("carol@gamma.test", _clock);
        Assert.Equal(OpenStatus.NotAddressed, stranger.Open(envelope.Bytes).Status);
    }

    [Fact]
    public void The_envelope_is_Padme_padded_and_shows_no_sender_address_or_content()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        for (int length = 0; length < 3000; length += 371)
        {
            var text = "Subject: secret subject\r\n\r\n" + new string('x', length);
            var envelope = alice.Send(text, bob).Bytes;
            Assert.Equal(Padme.PaddedLength(envelope.Length), envelope.Length);
            var haystack = Encoding.Latin1.GetString(envelope);
            Assert.DoesNotContain("alice", haystack);
            Assert.DoesNotContain("secret subject", haystack);
            Assert.Equal(-1, envelope.AsSpan().IndexOf(alice.DeviceKey));
            Assert.Equal(-1, envelope.AsSpan().IndexOf(alice.Identity.Certificate.IdentityKey));
            Assert.Equal(OpenStatus.Opened, bob.Open(envelope).Status);
        }
    }

    [Fact]
    public void A_duplicate_delivery_is_reported_as_replayed_and_changes_nothing()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var first = alice.Send("one", bob);
        Assert.Equal(OpenStatus.Opened, bob.Open(first.Bytes).Status);
        bob.Open(alice.Send("two", bob).Bytes);
        var reply = bob.Send("r", alice);
        Assert.Equal(OpenStatus.Opened, alice.Open(reply.Bytes).Status);
        var third = alice.Send("three", bob);
        Assert.Equal(OpenStatus.Opened, bob.Open(third.Bytes).Status);

        Assert.Equal(OpenStatus.Replayed, bob.Open(third.Bytes).Status);
        Assert.Equal(OpenStatus.Replayed, bob.Open(first.Bytes).Status);
        Assert.Equal(OpenStatus.Replayed, alice.Open(reply.Bytes).Status);
        Assert.Equal(OpenStatus.Opened, bob.Open(alice.Send("four", bob).Bytes).Status);
    }

    [Fact]
    public void Any_flipped_bit_fails_to_open_and_leaves_the_session_usable()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        bob.Open(alice.Send("start", bob).Bytes);
        alice.Open(bob.Send("reply", alice).Bytes);
        var envelope = alice.Send("Subject: x\r\n\r\nbody", bob).Bytes;

        for (int position = 0; position < envelope.Length; position += Math.Max(1, envelope.Length / 97))
        {
            var tampered = (byte[])envelope.Clone();
            tampered[position] ^= 0x01;
            var status = bob.Open(tampered).Status;
            Assert.NotEqual(OpenStatus.Opened, status);
        }

        Assert.Equal(OpenStatus.Opened, bob.Open(envelope).Status);
    }

    [Fact]
    public void A_co_recipient_who_knows_the_message_key_cannot_swap_the_payload_for_another_recipient()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var carol = TestPeer.Create("carol@gamma.test", _clock);
        var honest = alice.Send("Subject: meet at 5\r\n\r\n", bob, carol).Bytes;
        var forged = (byte[])honest.Clone();

        // carol replaces the payload (she could re-encrypt it under the shared key); bob's entry binds the original payload's digest.
        forged[^20] ^= 0xFF;
        Assert.Equal(OpenStatus.Tampered, bob.Open(forged).Status);
        Assert.Equal(OpenStatus.Opened, bob.Open(honest).Status);
    }

    [Fact]
    public void An_entry_moved_into_another_envelope_does_not_open()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        bob.Open(alice.Send("start", bob).Bytes);
        alice.Open(bob.Send("reply", alice).Bytes);
        var a = alice.Send("aaaa", bob).Bytes;
        var b = alice.Send("bbbb", bob).Bytes;

        // Same lengths: graft a's entry (bytes 24 .. payload) into b.
        Assert.Equal(a.Length, b.Length);
        var entryLength = 11 + RatchetSession.EncryptedHeaderLength + 34 + 16;
        var grafted = (byte[])b.Clone();
        Array.Copy(a, 24, grafted, 24, entryLength);
        Assert.NotEqual(OpenStatus.Opened, bob.Open(grafted).Status);
        Assert.Equal(OpenStatus.Opened, bob.Open(a).Status);
        Assert.Equal(OpenStatus.Opened, bob.Open(b).Status);
    }

    [Fact]
    public void Sessions_and_prekeys_survive_export_and_import()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var pending = alice.Send("one", bob);
        alice.Reload();
        Assert.Equal(OpenStatus.Opened, bob.Open(pending.Bytes).Status);
        bob.Reload();
        var reply = bob.Send("two", alice);
        alice.Reload();
        Assert.Equal("two", Encoding.UTF8.GetString(alice.Open(reply.Bytes).Content!));
        var again = alice.Send("three", bob);
        bob.Reload();
        Assert.Equal("three", Encoding.UTF8.GetString(bob.Open(again.Bytes).Content!));
    }

    [Fact]
    public void After_a_reload_the_active_session_is_the_active_one_even_when_two_started_in_the_same_second()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        bob.Open(alice.Send("alice starts", bob).Bytes);
        alice.Open(bob.Send("reply", alice).Bytes);
        bob.Sessions.Reset(alice.DeviceKey);
        bob.Open(alice.Send("again", bob).Bytes);
        bob.EnsureSessionWith(alice); // same second: a second session with alice's device
        var active = bob.Sessions.Active(alice.DeviceKey)!.SessionId;
        var stored = bob.Snapshot().Sessions;
        Assert.Equal(2, stored.Count);
        foreach (var order in new[] { stored, Enumerable.Reverse(stored).ToList() })
        {
            Assert.Equal(active, DeviceSessions.Load(order).Active(alice.DeviceKey)!.SessionId);
        }
    }

    [Fact]
    public void Sealing_without_a_session_is_refused_and_an_expired_or_foreign_bundle_is_unusable()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var carol = TestPeer.Create("carol@gamma.test", _clock);
        var error = Assert.Throws<NativeException>(() => alice.Device.Seal("x"u8, [new EnvelopeRecipient(bob.DeviceKey)]));
        Assert.Equal(NativeError.NoSession, error.Error);

        Assert.Equal(NativeError.UnusableBundle, Assert.Throws<NativeException>(() => alice.Device.StartSession(bob.Address, bob.Bundle(), carol.DeviceKey)).Error);
        var bundle = bob.Bundle();
        _clock.Advance(TimeSpan.FromDays(15));
        Assert.Equal(NativeError.UnusableBundle, Assert.Throws<NativeException>(() => alice.Device.StartSession(bob.Address, bundle, bob.DeviceKey)).Error);
    }

    [Fact]
    public void When_the_one_time_prekeys_run_out_the_last_resort_KEM_prekey_still_starts_sessions()
    {
        var bob = TestPeer.Create("bob@beta.test", _clock, oneTime: 1);
        for (int i = 0; i < 3; i++)
        {
            var sender = TestPeer.Create($"s{i}@alpha.test", _clock);
            var opened = bob.Open(sender.Send("hi", bob).Bytes);
            Assert.Equal(OpenStatus.Opened, opened.Status);
            Assert.Equal(i == 0 ? 2 : 0, opened.ConsumedPrekeys.Count);
        }

        Assert.NotNull(bob.Prekeys.Find(PrekeyKind.LastResortKem, bob.LastResortId));
    }

    [Fact]
    public void A_reused_one_time_prekey_after_it_was_consumed_cannot_start_a_second_session()
    {
        var bob = TestPeer.Create("bob@beta.test", _clock, oneTime: 1);
        var bundle = bob.Bundle();
        var mallory1 = TestPeer.Create("m1@alpha.test", _clock);
        var mallory2 = TestPeer.Create("m2@alpha.test", _clock);
        mallory1.Device.StartSession(bob.Address, bundle, bob.DeviceKey);
        mallory2.Device.StartSession(bob.Address, bundle, bob.DeviceKey);
        Assert.Equal(OpenStatus.Opened, bob.Open(mallory1.Device.Seal("a"u8, [new EnvelopeRecipient(bob.DeviceKey)]).Bytes).Status);
        Assert.Equal(OpenStatus.Undecryptable, bob.Open(mallory2.Device.Seal("b"u8, [new EnvelopeRecipient(bob.DeviceKey)]).Bytes).Status);
    }

    [Fact]
    public void Limits_are_enforced_at_their_edge()
    {
        var options = new NativeOptions { MaxEntries = 2, MaxContentLength = 100, MaxReplyTokenLength = 4 };
        var alice = TestPeer.Create("alice@alpha.test", _clock, options);
        var bob = TestPeer.Create("bob@beta.test", _clock, options);
        var carol = TestPeer.Create("carol@gamma.test", _clock, options);
        var dave = TestPeer.Create("dave@delta.test", _clock, options);
        foreach (var peer in new[] { bob, carol, dave })
        {
            alice.EnsureSessionWith(peer);
        }

        Assert.Equal(OpenStatus.Opened, bob.Open(alice.Device.Seal(new byte[100], [new(bob.DeviceKey, new byte[4]), new(carol.DeviceKey)]).Bytes).Status);
        Assert.Equal(NativeError.LimitExceeded, Assert.Throws<NativeException>(() => alice.Device.Seal(new byte[101], [new(bob.DeviceKey)])).Error);
        Assert.Equal(NativeError.LimitExceeded, Assert.Throws<NativeException>(() => alice.Device.Seal("x"u8, [new(bob.DeviceKey, new byte[5])])).Error);
        Assert.Equal(NativeError.LimitExceeded, Assert.Throws<NativeException>(() => alice.Device.Seal("x"u8, [new(bob.DeviceKey), new(carol.DeviceKey), new(dave.DeviceKey)])).Error);

        // A receiver with a lower limit refuses what a laxer sender produced.
        var strictBob = new NativeDevice(bob.Identity, bob.Address, bob.Prekeys, bob.Sessions, _clock);
        var laxAlice = TestPeer.Create("alice2@alpha.test", _clock, new NativeOptions { MaxEntries = 3, MaxContentLength = 200 });
        var three = laxAlice.Send("y", bob, carol, dave).Bytes;
        Assert.Equal(OpenStatus.LimitExceeded, strictBob.Open(three).Status);
        var large = laxAlice.Device.Seal(new byte[101], [new(bob.DeviceKey)]).Bytes;
        Assert.Equal(OpenStatus.LimitExceeded, strictBob.Open(large).Status);
    }

    [Fact]
    public void Options_name_the_setting_when_out_of_range()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new NativeOptions { MaxSkippedKeysPerSession = -1 });
        Assert.Contains(nameof(NativeOptions.MaxSkippedKeysPerSession), error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new NativeOptions { MaxEntries = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new NativeOptions { MaxEntries = 256 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new NativeOptions { MaxResetRequestAge = TimeSpan.Zero });
    }

    [Fact]
    public void Truncated_and_garbage_envelopes_are_malformed_never_an_exception()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var envelope = alice.Send("hello", bob).Bytes;
        for (int length = 0; length < envelope.Length; length += 7)
        {
            Assert.NotEqual(OpenStatus.Opened, bob.Open(envelope.AsSpan(0, length)).Status);
        }

        Assert.Equal(OpenStatus.Malformed, bob.Open("LLNATV\x02xxxxxxxxxxxxxxxx"u8).Status);
        Assert.Equal(OpenStatus.Malformed, bob.Open("not an envelope at all"u8).Status);
        Assert.Equal(OpenStatus.Opened, bob.Open(envelope).Status);
    }
}
