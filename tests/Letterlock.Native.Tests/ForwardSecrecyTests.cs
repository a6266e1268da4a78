using System.Text;
using Letterlock.Native;

namespace Letterlock.Native.Tests;

/// <summary>
/// Forward secrecy and post-compromise security at the library level: every envelope of a 50-message
/// conversation each way is captured; afterwards a thief copies Bob's complete device state (device key,
/// identity key, prekeys, sessions). With it, no captured message Bob had read opens. Messages sent after the
/// theft are readable only until Bob's device takes its next DH ratchet step.
/// </summary>
public sealed class ForwardSecrecyTests
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void A_copy_of_the_device_reads_none_of_the_captured_read_mail_and_loses_access_after_the_next_ratchet_step()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var devicePrivate = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        var bob = TestPeer.CreateWithDeviceKey("bob@beta.test", _clock, devicePrivate);

        var capturedToBob = new List<byte[]>();
        for (int i = 0; i < 50; i++)
        {
            // Two to Bob, then one back, with some reordering: mail's usual shape.
            var a = alice.Send($"Subject: a{i}\r\n\r\nto bob {i}", bob).Bytes;
            var b = alice.Send($"Subject: b{i}\r\n\r\nto bob again {i}", bob).Bytes;
            capturedToBob.Add(a);
            capturedToBob.Add(b);
            Assert.Equal(OpenStatus.Opened, bob.Open(b).Status);
            Assert.Equal(OpenStatus.Opened, bob.Open(a).Status);
            Assert.Equal(OpenStatus.Opened, alice.Open(bob.Send($"Subject: r{i}\r\n\r\nto alice {i}", alice).Bytes).Status);
        }

        // The theft: everything the device stores.
        var stolen = bob.Snapshot();
        var thief = TestPeer.Restored("bob@beta.test", _clock, devicePrivate, bob.Identity.IdentityPrivateKey.ToArray(), stolen);

        foreach (var envelope in capturedToBob)
        {
            Assert.NotEqual(OpenStatus.Opened, thief.Open(envelope).Status);
        }

        // After the theft: the message on the current chains is exposed ...
        var x1 = alice.Send("Subject: x1\r\n\r\nafter the theft", bob).Bytes;
        Assert.Equal(OpenStatus.Opened, bob.Open(x1).Status);
        Assert.Equal(OpenStatus.Opened, thief.Open(x1).Status);

        // ... until Bob's device steps its ratchet with a key pair the thief never saw.
        Assert.Equal(OpenStatus.Opened, alice.Open(bob.Send("Subject: y1\r\n\r\nreply", alice).Bytes).Status);
        for (int i = 2; i < 6; i++)
        {
            var x = alice.Send($"Subject: x{i}\r\n\r\nhealed", bob).Bytes;
            Assert.NotEqual(OpenStatus.Opened, thief.Open(x).Status);
            Assert.Equal($"Subject: x{i}\r\n\r\nhealed", Encoding.UTF8.GetString(bob.Open(x).Content!));
        }
    }
}
