using System.Text;
using Letterlock.Native;

namespace Letterlock.Native.Tests;

/// <summary>The Double Ratchet's bounds on skipped message keys, at their edges, with the default options.</summary>
public sealed class SkippedKeyLimitTests
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void The_defaults_are_1000_per_session_and_2000_per_device()
    {
        Assert.Equal(1000, NativeOptions.Default.MaxSkippedKeysPerSession);
        Assert.Equal(2000, NativeOptions.Default.MaxSkippedKeysTotal);
    }

    [Fact]
    public void Skipping_exactly_1000_messages_works_and_each_skipped_one_opens_once_later()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var sent = Enumerable.Range(0, 1001).Select(i => alice.Send($"m{i}", bob).Bytes).ToList();

        Assert.Equal(OpenStatus.Opened, bob.Open(sent[1000]).Status);
        Assert.Equal(1000, bob.Sessions.SkippedKeyCount);
        for (int i = 999; i >= 0; i--)
        {
            var opened = bob.Open(sent[i]);
            Assert.Equal(OpenStatus.Opened, opened.Status);
            Assert.Equal($"m{i}", Encoding.UTF8.GetString(opened.Content!));
            Assert.NotEqual(OpenStatus.Opened, bob.Open(sent[i]).Status);
        }

        Assert.Equal(0, bob.Sessions.SkippedKeyCount);
    }

    [Fact]
    public void A_message_that_needs_1001_skipped_keys_is_refused_and_the_session_stays_usable()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var sent = Enumerable.Range(0, 1002).Select(i => alice.Send($"m{i}", bob).Bytes).ToList();

        Assert.Equal(OpenStatus.TooManySkipped, bob.Open(sent[1001]).Status);
        Assert.Equal(0, bob.Sessions.SkippedKeyCount);
        Assert.Empty(bob.Sessions.All);
        Assert.Equal(OpenStatus.Opened, bob.Open(sent[1]).Status);
        Assert.Equal(1, bob.Sessions.SkippedKeyCount);
        Assert.Equal(OpenStatus.Opened, bob.Open(sent[1001]).Status); // now 999 away
        Assert.Equal(1000, bob.Sessions.SkippedKeyCount);
    }

    [Fact]
    public void Across_sessions_at_most_2000_skipped_keys_are_kept_and_the_oldest_go_first()
    {
        var bob = TestPeer.Create("bob@beta.test", _clock, oneTime: 3);
        var senders = Enumerable.Range(0, 3).Select(i => TestPeer.Create($"s{i}@alpha.test", _clock)).ToList();
        var sent = senders.Select(s => Enumerable.Range(0, 1001).Select(i => s.Send($"{s.Address} {i}", bob).Bytes).ToList()).ToList();

        Assert.Equal(OpenStatus.Opened, bob.Open(sent[0][1000]).Status);
        Assert.Equal(OpenStatus.Opened, bob.Open(sent[1][1000]).Status);
        Assert.Equal(2000, bob.Sessions.SkippedKeyCount);
        Assert.Equal(OpenStatus.Opened, bob.Open(sent[2][1000]).Status);
        Assert.Equal(2000, bob.Sessions.SkippedKeyCount);

        // The first session's keys were the oldest: its skipped messages no longer open; the others' do.
        Assert.NotEqual(OpenStatus.Opened, bob.Open(sent[0][0]).Status);
        Assert.NotEqual(OpenStatus.Opened, bob.Open(sent[0][999]).Status);
        Assert.Equal(OpenStatus.Opened, bob.Open(sent[1][0]).Status);
        Assert.Equal(OpenStatus.Opened, bob.Open(sent[2][999]).Status);

        // The bound holds after a reload too.
        bob.Reload();
        Assert.Equal(1998, bob.Sessions.SkippedKeyCount);
        Assert.Equal(OpenStatus.Opened, bob.Open(sent[1][1]).Status);
    }

    [Fact]
    public void Lower_limits_apply_at_their_edge_including_across_a_ratchet_step()
    {
        var options = new NativeOptions { MaxSkippedKeysPerSession = 3, MaxSkippedKeysTotal = 4 };
        var alice = TestPeer.Create("alice@alpha.test", _clock, options);
        var bob = TestPeer.Create("bob@beta.test", _clock, options);
        bob.Open(alice.Send("start", bob).Bytes);
        alice.Open(bob.Send("reply", alice).Bytes);

        var a1 = alice.Send("a1", bob).Bytes;
        var a2 = alice.Send("a2", bob).Bytes;
        alice.Send("a3 (lost)", bob);
        Assert.Equal(OpenStatus.Opened, bob.Open(a1).Status);
        alice.Open(bob.Send("reply 2", alice).Bytes); // alice steps her DH ratchet: a new sending chain
        var b1 = alice.Send("b1", bob).Bytes;
        var b2 = alice.Send("b2", bob).Bytes;

        // b2 needs a2 and a3 (end of the old chain) and b1 (start of the new one): 3, the limit.
        Assert.Equal(OpenStatus.Opened, bob.Open(b2).Status);
        Assert.Equal(3, bob.Sessions.SkippedKeyCount);
        Assert.Equal(OpenStatus.Opened, bob.Open(b1).Status);
        Assert.Equal(OpenStatus.Opened, bob.Open(a2).Status);
        Assert.Equal(1, bob.Sessions.SkippedKeyCount);

        // Four ahead is one over; three ahead passes and pushes the lost a3's key out (3 per session).
        var c = Enumerable.Range(0, 5).Select(i => alice.Send($"c{i}", bob).Bytes).ToList();
        Assert.Equal(OpenStatus.TooManySkipped, bob.Open(c[4]).Status);
        Assert.Equal(1, bob.Sessions.SkippedKeyCount);
        Assert.Equal(OpenStatus.Opened, bob.Open(c[3]).Status);
        Assert.Equal(3, bob.Sessions.SkippedKeyCount);
        Assert.Equal(OpenStatus.Opened, bob.Open(c[4]).Status);
        Assert.Equal(OpenStatus.Opened, bob.Open(c[0]).Status);
    }
}
