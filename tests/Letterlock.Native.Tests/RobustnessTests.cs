using CsCheck;
using Letterlock.Native;

namespace Letterlock.Native.Tests;

/// <summary>Hostile bytes: mutated envelopes, bundles, stored state and reset requests. Only statuses and
/// <see cref="NativeException"/> come out; nothing opens that was altered.</summary>
public sealed class RobustnessTests
{
    private static readonly ManualClock Clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    private static Gen<byte[]> Mutations(byte[] seed) =>
        Gen.Select(Gen.Int[0, 3], Gen.Int[0, seed.Length - 1], Gen.Byte, Gen.Int[1, 40]).Select(t =>
        {
            var (kind, position, value, count) = t;
            var bytes = (byte[])seed.Clone();
            switch (kind)
            {
                case 0:
                    bytes[position] ^= value == 0 ? (byte)1 : value;
                    return bytes;
                case 1:
                    return bytes[..position];
                case 2:
                    return [.. bytes[..position], .. new byte[count], .. bytes[position..]];
                default:
                    for (int i = position; i < Math.Min(bytes.Length, position + count); i++)
                    {
                        bytes[i] = value;
                    }

                    return bytes;
            }
        });

    [Fact]
    public void A_mutated_envelope_never_opens_and_never_throws()
    {
        var alice = TestPeer.Create("alice@alpha.test", Clock);
        var bob = TestPeer.Create("bob@beta.test", Clock);
        var start = alice.Send("Subject: start\r\n\r\nhello", bob).Bytes;
        var bobOpensStart = TestPeer.Create("carol@gamma.test", Clock); // unrelated device: always NotAddressed or a failure
        Mutations(start).Sample(mutated =>
        {
            if (mutated.AsSpan().SequenceEqual(start))
            {
                return;
            }

            Assert.NotEqual(OpenStatus.Opened, bob.Open(mutated).Status);
            Assert.NotEqual(OpenStatus.Opened, bobOpensStart.Open(mutated).Status);
        }, iter: 400, threads: 1);
        Assert.Equal(OpenStatus.Opened, bob.Open(start).Status);
    }

    [Fact]
    public void Mutated_bundles_sessions_prekeys_and_requests_fail_only_with_NativeException()
    {
        var alice = TestPeer.Create("alice@alpha.test", Clock);
        var bob = TestPeer.Create("bob@beta.test", Clock);
        bob.Open(alice.Send("x", bob).Bytes);
        var bundle = bob.Bundle().Encode();
        var session = bob.Sessions.All.First().Export();
        var prekey = bob.Prekeys.All.First().Export();
        var request = bob.Device.CreateResetRequest(new byte[16]).Encode();
        foreach (var (seed, decode) in new (byte[], Action<byte[]>)[]
        {
            (bundle, b => PrekeyBundle.Decode(b)),
            (session, b => RatchetSession.Import(b)),
            (prekey, b => PrivatePrekey.Import(b).Dispose()),
            (request, b => ResetRequest.Decode(b)),
        })
        {
            Mutations(seed).Sample(mutated =>
            {
                try
                {
                    decode(mutated);
                }
                catch (NativeException)
                {
                }
            }, iter: 300, threads: 1);
        }
    }
}
