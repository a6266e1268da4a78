using System.Text;
using Letterlock.Native;

namespace Letterlock.Native.Tests;

/// <summary>
/// Entry copies: the device that files a message leaves each other device of its account the entries meant for it,
/// without the payload, so those devices take their message keys and their sessions keep step with the sender.
/// </summary>
public sealed class EntryCopyTests
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void The_other_device_opens_its_copy_once_and_keeps_step_with_no_skipped_key()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob1 = TestPeer.Create("bob@beta.test", _clock);
        var bob2 = TestPeer.Create("bob@beta.test", _clock);

        for (int round = 0; round < 3; round++)
        {
            var envelope = alice.Send($"message {round}", bob1, bob2);
            Assert.Equal(OpenStatus.Opened, bob1.Open(envelope.Bytes).Status);
            var copies = bob1.Device.CopiesForOthers(envelope.Bytes);
            var copy = Assert.Single(copies);
            Assert.Equal(Convert.ToHexStringLower(NativeDevice.HintOf(bob2.DeviceKey)), copy.Key);
            Assert.True(copy.Value.Length < 2048, "a copy carries entries, not the payload");
            Assert.DoesNotContain($"message {round}", Encoding.UTF8.GetString(copy.Value), StringComparison.Ordinal);

            var opened = bob2.Device.OpenCopy(copy.Value);
            Assert.Equal(OpenStatus.Opened, opened.Status);
            Assert.Null(opened.Content);
            Assert.Equal("alice@alpha.test", opened.Sender!.Address);
            Assert.Equal(envelope.EnvelopeId, opened.EnvelopeId);
            Assert.Equal(round == 0, opened.StartedSession);
            Assert.Equal(0, bob2.Sessions.SkippedKeyCount);

            // Opened once: again it is a duplicate, and the envelope itself is too.
            Assert.Equal(OpenStatus.Replayed, bob2.Device.OpenCopy(copy.Value).Status);
            Assert.Equal(OpenStatus.Replayed, bob2.Open(envelope.Bytes).Status);
            bob2.Reload();
        }

        // Bob's second device answers on the session it kept in step, and alice reads it.
        var reply = bob2.Send("from bob's second device", alice);
        Assert.Equal("from bob's second device", Encoding.UTF8.GetString(alice.Open(reply.Bytes).Content!));
    }

    [Fact]
    public void A_copy_is_bound_to_its_envelope_and_device_and_an_altered_one_changes_nothing()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob1 = TestPeer.Create("bob@beta.test", _clock);
        var bob2 = TestPeer.Create("bob@beta.test", _clock);
        var envelope = alice.Send("bound", bob1, bob2);
        var copy = bob1.Device.CopiesForOthers(envelope.Bytes).Single().Value;

        // Not bob1's: no entry for it.
        Assert.Equal(OpenStatus.NotAddressed, bob1.Device.OpenCopy(copy).Status);

        // Another payload digest or envelope id: the entry does not authenticate, and the session is not made.
        foreach (int offset in new[] { 7, 23 + 5 })
        {
            var altered = (byte[])copy.Clone();
            altered[offset] ^= 1;
            Assert.NotEqual(OpenStatus.Opened, bob2.Device.OpenCopy(altered).Status);
            Assert.Empty(bob2.Sessions.All);
        }

        Assert.Equal(OpenStatus.Malformed, bob2.Device.OpenCopy(copy.AsSpan(0, copy.Length - 1)).Status);
        Assert.Equal(OpenStatus.Malformed, bob2.Device.OpenCopy(envelope.Bytes).Status);
        Assert.Equal(OpenStatus.Opened, bob2.Device.OpenCopy(copy).Status);
    }

    [Fact]
    public void An_envelope_for_this_device_alone_leaves_no_copy()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var envelope = alice.Send("alone", bob);
        Assert.Empty(bob.Device.CopiesForOthers(envelope.Bytes));
        Assert.Empty(bob.Device.CopiesForOthers(new byte[10]));
    }
}
