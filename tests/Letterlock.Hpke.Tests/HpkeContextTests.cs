using Letterlock.Cryptography;

namespace Letterlock.Cryptography.Tests;

public sealed class HpkeContextTests
{
    private static readonly byte[] Info = "letterlock test"u8.ToArray();

    [Fact]
    public void Seal_then_Open_round_trips_many_messages_in_order()
    {
        using var recipient = HpkeKeyPair.Generate();
        var (enc, sender) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        using var opener = Hpke.SetupBaseRecipient(enc, recipient.PrivateKey.Span, Info);
        using (sender)
        {
            for (int i = 0; i < 50; i++)
            {
                byte[] message = new byte[i * 7];
                Random.Shared.NextBytes(message);
                byte[] aad = [(byte)i];
                byte[] sealedMessage = sender.Seal(aad, message);
                Assert.Equal(message.Length + Hpke.TagLength, sealedMessage.Length);
                Assert.Equal(message, opener.Open(aad, sealedMessage));
            }
        }
    }

    [Fact]
    public void Each_setup_uses_a_fresh_ephemeral_key()
    {
        using var recipient = HpkeKeyPair.Generate();
        var (enc1, c1) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        var (enc2, c2) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        c1.Dispose();
        c2.Dispose();
        Assert.NotEqual(enc1, enc2);
    }

    [Fact]
    public void Wrong_private_key_fails_to_open()
    {
        using var recipient = HpkeKeyPair.Generate();
        using var other = HpkeKeyPair.Generate();
        var (enc, sender) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        byte[] ct = sender.Seal([], "secret"u8);
        sender.Dispose();
        using var opener = Hpke.SetupBaseRecipient(enc, other.PrivateKey.Span, Info);
        var e = Assert.Throws<HpkeException>(() => opener.Open([], ct));
        Assert.Equal(HpkeError.OpenFailed, e.Error);
    }

    [Fact]
    public void Wrong_info_fails_to_open()
    {
        using var recipient = HpkeKeyPair.Generate();
        var (enc, sender) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        byte[] ct = sender.Seal([], "secret"u8);
        sender.Dispose();
        using var opener = Hpke.SetupBaseRecipient(enc, recipient.PrivateKey.Span, "other info"u8);
        Assert.Equal(HpkeError.OpenFailed, Assert.Throws<HpkeException>(() => opener.Open([], ct)).Error);
    }

    [Fact]
    public void Wrong_associated_data_fails_and_does_not_advance_the_sequence()
    {
        using var recipient = HpkeKeyPair.Generate();
        var (enc, sender) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        byte[] first = sender.Seal("a"u8, "one"u8);
        byte[] second = sender.Seal("b"u8, "two"u8);
        sender.Dispose();
        using var opener = Hpke.SetupBaseRecipient(enc, recipient.PrivateKey.Span, Info);
        Assert.Throws<HpkeException>(() => opener.Open("x"u8, first));
        Assert.Equal(0UL, opener.SequenceNumber);
        Assert.Equal("one"u8.ToArray(), opener.Open("a"u8, first));
        // Out of order: the second message does not open at the first position and vice versa.
        Assert.Throws<HpkeException>(() => opener.Open("a"u8, first));
        Assert.Equal("two"u8.ToArray(), opener.Open("b"u8, second));
    }

    [Fact]
    public void Every_bit_flip_of_a_ciphertext_is_detected_and_releases_nothing()
    {
        using var recipient = HpkeKeyPair.Generate();
        var (enc, sender) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        byte[] ct = sender.Seal("aad"u8, "a short secret message"u8);
        sender.Dispose();
        using var opener = Hpke.SetupBaseRecipient(enc, recipient.PrivateKey.Span, Info);
        var plaintext = new byte[ct.Length - Hpke.TagLength];
        for (int bit = 0; bit < ct.Length * 8; bit++)
        {
            byte[] tampered = (byte[])ct.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            Array.Fill(plaintext, (byte)0xAA);
            Assert.Throws<HpkeException>(() => opener.Open("aad"u8, tampered, plaintext));
            Assert.All(plaintext, b => Assert.Equal(0, b));
        }

        Assert.Equal("a short secret message"u8.ToArray(), opener.Open("aad"u8, ct));
    }

    [Fact]
    public void Too_short_ciphertext_fails_cleanly()
    {
        using var recipient = HpkeKeyPair.Generate();
        var (enc, sender) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        sender.Dispose();
        using var opener = Hpke.SetupBaseRecipient(enc, recipient.PrivateKey.Span, Info);
        Assert.Equal(HpkeError.OpenFailed, Assert.Throws<HpkeException>(() => opener.Open([], new byte[15])).Error);
    }

    [Fact]
    public void Roles_are_enforced()
    {
        using var recipient = HpkeKeyPair.Generate();
        var (enc, sender) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        using var opener = Hpke.SetupBaseRecipient(enc, recipient.PrivateKey.Span, Info);
        using (sender)
        {
            Assert.True(sender.IsSender);
            Assert.False(opener.IsSender);
            Assert.Throws<InvalidOperationException>(() => sender.Open([], new byte[16]));
            Assert.Throws<InvalidOperationException>(() => opener.Seal([], []));
        }
    }

    [Fact]
    public void Small_order_public_keys_are_rejected()
    {
        // The all-zero point and the point of order 8 (RFC 7748 test inputs); DH with them is all zeros,
        // which RFC 9180 section 7.1.4 requires an implementation to refuse.
        byte[][] smallOrder =
        [
            new byte[32],
            Convert.FromHexString("0100000000000000000000000000000000000000000000000000000000000000"),
            Convert.FromHexString("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        ];
        using var recipient = HpkeKeyPair.Generate();
        foreach (byte[] point in smallOrder)
        {
            Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => Hpke.SetupBaseSender(point, Info)).Error);
            Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => Hpke.SetupBaseRecipient(point, recipient.PrivateKey.Span, Info)).Error);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(33)]
    public void Keys_of_the_wrong_length_are_rejected(int length)
    {
        using var recipient = HpkeKeyPair.Generate();
        var bad = new byte[length];
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => Hpke.SetupBaseSender(bad, Info)).Error);
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => Hpke.SetupBaseRecipient(bad, recipient.PrivateKey.Span, Info)).Error);
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => Hpke.SetupBaseRecipient(recipient.PublicKey.Span, bad, Info)).Error);
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => HpkeKeyPair.FromPrivateKey(bad)).Error);
    }

    [Fact]
    public void Export_lengths_are_bounded_and_independent_of_messages()
    {
        using var recipient = HpkeKeyPair.Generate();
        var (enc, sender) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        using var opener = Hpke.SetupBaseRecipient(enc, recipient.PrivateKey.Span, Info);
        using (sender)
        {
            byte[] before = sender.Export("ctx"u8, 8160);
            sender.Seal([], "x"u8);
            Assert.Equal(before, sender.Export("ctx"u8, 8160));
            Assert.Equal(before, opener.Export("ctx"u8, 8160));
            Assert.NotEqual(before[..32], opener.Export("other"u8, 32));
            Assert.Throws<ArgumentOutOfRangeException>(() => sender.Export("ctx"u8, 8161));
            Assert.Throws<ArgumentOutOfRangeException>(() => sender.Export("ctx"u8, 0));
        }
    }

    [Fact]
    public void Disposed_objects_refuse_use()
    {
        var recipient = HpkeKeyPair.Generate();
        var (enc, sender) = Hpke.SetupBaseSender(recipient.PublicKey.Span, Info);
        sender.Dispose();
        Assert.Throws<ObjectDisposedException>(() => sender.Seal([], []));
        Assert.Throws<ObjectDisposedException>(() => sender.Export([], 32));
        recipient.Dispose();
        Assert.Throws<ObjectDisposedException>(() => recipient.PrivateKey);
        Assert.Equal(32, recipient.PublicKey.Length);
        Assert.Equal(32, enc.Length);
    }
}
