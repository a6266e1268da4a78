using CsCheck;
using Letterlock.Cryptography.Cpace;

namespace Letterlock.Cryptography.Opaque.Tests;

/// <summary>
/// CPace device linking end to end through the public API: the same code confirms and shows the same short
/// authentication string; a wrong code, another channel or session, or any altered byte fails; a relay that knows
/// the code still shows different strings on the two screens; message limits hold at their edges.
/// </summary>
public sealed class CpaceFlowTests
{
    private static readonly byte[] Channel = "Letterlock device link v1|alice@example.org|new|existing"u8.ToArray();

    [Fact]
    public void The_same_code_confirms_both_sides_with_the_same_string_and_keys()
    {
        Gen.Select(Gen.Byte.Array[1, 40], Gen.Byte.Array[16], Gen.Byte.Array[0, 100], Gen.Byte.Array[0, 100]).Sample((code, sid, adA, adB) =>
        {
            var (a, b) = Exchange(code, code, sid, sid, adA, adB);
            using (a)
            using (b)
            {
                Assert.Equal(CpaceStatus.Success, a.ConfirmPeer(b.ConfirmationTag));
                Assert.Equal(CpaceStatus.Success, b.ConfirmPeer(a.ConfirmationTag));
                Assert.Matches("^[0-9]{3} [0-9]{3}$", a.ShortAuthenticationString);
                Assert.Equal(a.ShortAuthenticationString, b.ShortAuthenticationString);
                Assert.Equal(adB, a.PeerAssociatedData);
                Assert.Equal(adA, b.PeerAssociatedData);

                var keyA = new byte[32];
                var keyB = new byte[32];
                var other = new byte[32];
                a.DeriveKey("key bundle"u8, keyA);
                b.DeriveKey("key bundle"u8, keyB);
                a.DeriveKey("something else"u8, other);
                Assert.Equal(keyA, keyB);
                Assert.NotEqual(keyA, other);
            }
        }, iter: 40);
    }

    [Fact]
    public void A_wrong_code_fails_confirmation_on_both_sides()
    {
        Gen.Select(Gen.Byte.Array[1, 12], Gen.Byte.Array[1, 12]).Where((x, y) => !x.AsSpan().SequenceEqual(y)).Sample((code, wrong) =>
        {
            var (a, b) = Exchange(code, wrong, [1, 2, 3], [1, 2, 3], [], []);
            using (a)
            using (b)
            {
                Assert.Equal(CpaceStatus.ConfirmationFailed, a.ConfirmPeer(b.ConfirmationTag));
                Assert.Equal(CpaceStatus.ConfirmationFailed, b.ConfirmPeer(a.ConfirmationTag));
                Assert.Throws<InvalidOperationException>(() => a.ShortAuthenticationString);
                Assert.Throws<InvalidOperationException>(() => b.DeriveKey("x"u8, new byte[32]));
            }
        }, iter: 30);
    }

    [Fact]
    public void Another_channel_or_session_id_fails()
    {
        byte[] code = "482913"u8.ToArray();
        var (a1, b1) = Exchange(code, code, [1], [2], [], []);
        Assert.Equal(CpaceStatus.ConfirmationFailed, a1.ConfirmPeer(b1.ConfirmationTag));

        var (sessionA, messageA) = CpaceSession.Start(CpaceRole.Initiator, code, Channel, [7], []);
        var (sessionB, messageB) = CpaceSession.Start(CpaceRole.Responder, code, "another account"u8, [7], []);
        using CpaceResult a = sessionA.Finish(messageB);
        using CpaceResult b = sessionB.Finish(messageA);
        Assert.Equal(CpaceStatus.ConfirmationFailed, b.ConfirmPeer(a.ConfirmationTag));
    }

    [Fact]
    public void Any_altered_bit_of_a_message_or_tag_fails()
    {
        byte[] code = "482913"u8.ToArray();
        Gen.Select(Gen.Int[0, 2], Gen.Int[0, 1000], Gen.Int[0, 7]).Sample((what, index, bit) =>
        {
            var (sessionA, messageA) = CpaceSession.Start(CpaceRole.Initiator, code, Channel, [9], "new laptop"u8);
            var (sessionB, messageB) = CpaceSession.Start(CpaceRole.Responder, code, Channel, [9], "old phone"u8);
            using CpaceResult b = sessionB.Finish(messageA);
            byte[] wireB = messageB.Serialize();
            byte[] tagB = b.ConfirmationTag!;
            if (what == 0)
            {
                wireB[index % wireB.Length] ^= (byte)(1 << bit);
            }
            else
            {
                tagB[index % tagB.Length] ^= (byte)(1 << bit);
            }

            if (!CpaceMessage.TryParse(wireB, null, out CpaceMessage? received))
            {
                sessionA.Dispose();
                return;
            }

            using CpaceResult a = sessionA.Finish(received);
            if (a.Status != CpaceStatus.InvalidPeerMessage)
            {
                Assert.Equal(CpaceStatus.ConfirmationFailed, a.ConfirmPeer(tagB));
            }
        }, iter: 300);
    }

    [Fact]
    public void A_relay_that_knows_the_code_shows_different_strings_on_the_two_screens()
    {
        // The relay runs one exchange with each device. Both confirm (it knows the code), but the keys differ, and
        // so do the strings the users compare. Fixed scalars keep the six-digit comparison deterministic.
        byte[] code = "482913"u8.ToArray();
        var (sessionA, messageA) = CpaceSession.Start(CpaceRole.Initiator, code, Channel, [5], [], Scalar(1));
        var (relayAsB, relayMessageB) = CpaceSession.Start(CpaceRole.Responder, code, Channel, [5], [], Scalar(2));
        var (relayAsA, relayMessageA) = CpaceSession.Start(CpaceRole.Initiator, code, Channel, [5], [], Scalar(3));
        var (sessionB, messageB) = CpaceSession.Start(CpaceRole.Responder, code, Channel, [5], [], Scalar(4));
        using CpaceResult relayB = relayAsB.Finish(messageA);
        using CpaceResult relayA = relayAsA.Finish(messageB);
        using CpaceResult a = sessionA.Finish(relayMessageB);
        using CpaceResult b = sessionB.Finish(relayMessageA);

        Assert.Equal(CpaceStatus.Success, a.ConfirmPeer(relayB.ConfirmationTag));
        Assert.Equal(CpaceStatus.Success, b.ConfirmPeer(relayA.ConfirmationTag));
        Assert.NotEqual(a.ShortAuthenticationString, b.ShortAuthenticationString);
        var keyA = new byte[32];
        var keyB = new byte[32];
        a.DeriveKey("key bundle"u8, keyA);
        b.DeriveKey("key bundle"u8, keyB);
        Assert.NotEqual(keyA, keyB);
    }

    [Fact]
    public void Associated_data_is_limited_at_the_edge_and_encodings_are_strict()
    {
        var options = new CpaceOptions { MaxAssociatedDataLength = 200 };
        var (s1, atLimit) = CpaceSession.Start(CpaceRole.Initiator, "c"u8, [], [], new byte[200]);
        var (s2, overLimit) = CpaceSession.Start(CpaceRole.Initiator, "c"u8, [], [], new byte[201]);
        s1.Dispose();
        s2.Dispose();
        Assert.True(CpaceMessage.TryParse(atLimit.Serialize(), options, out _));
        Assert.False(CpaceMessage.TryParse(overLimit.Serialize(), options, out _));
        Assert.True(CpaceMessage.TryParse(overLimit.Serialize(), null, out _));

        byte[] wire = atLimit.Serialize();
        Assert.False(CpaceMessage.TryParse(wire.AsSpan(0, wire.Length - 1), options, out _));
        Assert.False(CpaceMessage.TryParse([.. wire, 0], options, out _));
        Assert.False(CpaceMessage.TryParse([], options, out _));

        // 200 = 0xc8 0x01 in LEB128; 0xc8 0x81 0x00 encodes the same length non-minimally and is refused.
        byte[] y = wire[1..33];
        Assert.True(CpaceMessage.TryParse([0x20, .. y, 0xc8, 0x01, .. new byte[200]], options, out _));
        Assert.False(CpaceMessage.TryParse([0x20, .. y, 0xc8, 0x81, 0x00, .. new byte[200]], options, out _));
        Assert.False(CpaceMessage.TryParse([0x1f, .. y[..31], 0x00], options, out _));

        Assert.Throws<ArgumentOutOfRangeException>(() => new CpaceOptions { MaxAssociatedDataLength = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new CpaceOptions { MaxAssociatedDataLength = 1024 * 1024 + 1 });
        Assert.Equal(1024 * 1024, new CpaceOptions { MaxAssociatedDataLength = 1024 * 1024 }.MaxAssociatedDataLength);
    }

    [Fact]
    public void Sessions_are_single_use_and_keys_wait_for_confirmation()
    {
        var (a, messageA) = CpaceSession.Start(CpaceRole.Initiator, "c"u8, [], [], []);
        var (b, messageB) = CpaceSession.Start(CpaceRole.Responder, "c"u8, [], [], []);
        using CpaceResult resultA = a.Finish(messageB);
        Assert.Throws<ObjectDisposedException>(() => a.Finish(messageB));
        Assert.Equal(CpaceStatus.AwaitingConfirmation, resultA.Status);
        Assert.Throws<InvalidOperationException>(() => resultA.ShortAuthenticationString);
        Assert.Throws<InvalidOperationException>(() => resultA.PeerAssociatedData);

        using CpaceResult resultB = b.Finish(messageA);
        Assert.Equal(CpaceStatus.Success, resultA.ConfirmPeer(resultB.ConfirmationTag));
        Assert.Equal(CpaceStatus.Success, resultA.ConfirmPeer(resultB.ConfirmationTag));
        Assert.Matches(@"^[0-9]{3} [0-9]{3}$", resultA.ShortAuthenticationString);
        resultA.Dispose();
        Assert.Throws<InvalidOperationException>(() => resultA.ShortAuthenticationString);
    }

    private static byte[] Scalar(byte value)
    {
        var scalar = new byte[32];
        scalar[0] = value;
        scalar[1] = 0x5a;
        return scalar;
    }

    /// <summary>A full exchange over serialized messages; the caller checks confirmations.</summary>
    private static (CpaceResult A, CpaceResult B) Exchange(byte[] codeA, byte[] codeB, byte[] sidA, byte[] sidB, byte[] adA, byte[] adB)
    {
        var (sessionA, messageA) = CpaceSession.Start(CpaceRole.Initiator, codeA, Channel, sidA, adA);
        var (sessionB, messageB) = CpaceSession.Start(CpaceRole.Responder, codeB, Channel, sidB, adB);
        Assert.True(CpaceMessage.TryParse(messageA.Serialize(), null, out CpaceMessage? receivedA));
        Assert.True(CpaceMessage.TryParse(messageB.Serialize(), null, out CpaceMessage? receivedB));
        CpaceResult b = sessionB.Finish(receivedA);
        CpaceResult a = sessionA.Finish(receivedB);
        Assert.Equal(CpaceStatus.AwaitingConfirmation, a.Status);
        return (a, b);
    }
}
