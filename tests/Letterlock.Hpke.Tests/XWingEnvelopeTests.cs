using System.Buffers.Binary;
using Letterlock.Cryptography;

namespace Letterlock.Cryptography.Tests;

/// <summary>
/// The sealed envelope with the X-Wing KEM (kem-id 0x647A, 1,120-byte enc): what the MX writes once an
/// account's inbox key is X-Wing. Envelopes sealed to X25519 keys keep their format and still open.
/// </summary>
public sealed class XWingEnvelopeTests : IDisposable
{
    private const int Chunk = HpkeEnvelope.ChunkSize;
    private static readonly byte[] Info = "letterlock/inbox/v1"u8.ToArray();
    private readonly XWingKeyPair _recipient = XWingKeyPair.Generate();

    public void Dispose() => _recipient.Dispose();

    public static TheoryData<int> Sizes => new() { 0, 1, Chunk - 1, Chunk, Chunk + 1, (2 * Chunk) + 17 };

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Round_trips_sync_and_async_with_the_X_Wing_header(int size)
    {
        var message = new byte[size];
        new Random(size).NextBytes(message);
        var output = new MemoryStream();
        await using (var sealer = HpkeSealingStream.Create(output, _recipient.PublicKey.Span, Info, leaveOpen: true))
        {
            Assert.Equal(XWing.CiphertextLength, sealer.EncapsulatedKey.Length);
            await sealer.WriteAsync(message);
        }

        var envelope = output.ToArray();
        Assert.Equal(HpkeEnvelope.SealedLength(size, HpkeKem.XWing), envelope.Length);
        Assert.Equal(1134, HpkeEnvelope.HeaderLengthOf(HpkeKem.XWing));
        Assert.Equal(0x647A, BinaryPrimitives.ReadUInt16BigEndian(envelope.AsSpan(8)));
        Assert.Equal(HpkeKem.XWing, HpkeEnvelope.ReadKem(envelope));

        Assert.Equal(message, Open(envelope, _recipient.PrivateKey.Span));
        await using (var opener = HpkeOpeningStream.Open(new MemoryStream(envelope), _recipient.PrivateKey.Span, Info))
        {
            var plain = new MemoryStream();
            await opener.CopyToAsync(plain, 7_000);
            Assert.Equal(message, plain.ToArray());
        }
    }

    [Fact]
    public void The_KEM_follows_the_key_and_old_X25519_envelopes_keep_their_46_byte_header()
    {
        using var legacy = HpkeKeyPair.Generate();
        var envelope = Seal(legacy.PublicKey.Span, "legacy"u8.ToArray());
        Assert.Equal(HpkeKem.X25519, HpkeEnvelope.ReadKem(envelope));
        Assert.Equal(HpkeEnvelope.SealedLength(6), envelope.Length);
        Assert.Equal("legacy"u8.ToArray(), Open(envelope, legacy.PrivateKey.Span));
    }

    [Fact]
    public void Wrong_keys_a_flipped_kem_id_and_a_truncated_enc_fail_without_plaintext()
    {
        var envelope = Seal(_recipient.PublicKey.Span, new byte[1000]);
        using var other = XWingKeyPair.Generate();
        Assert.Equal(HpkeError.OpenFailed, Assert.Throws<HpkeException>(() => Open(envelope, other.PrivateKey.Span)).Error);
        Assert.Equal(HpkeError.OpenFailed, Assert.Throws<HpkeException>(() => Open(envelope, _recipient.PrivateKey.Span, "letterlock/other/v1"u8)).Error);

        // The header says X25519: the first 32 bytes of the X-Wing ciphertext are read as enc, the rest as a chunk.
        var relabelled = (byte[])envelope.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(relabelled.AsSpan(8), 0x0020);
        Assert.Throws<HpkeException>(() => Open(relabelled, _recipient.PrivateKey.Span));

        var unknown = (byte[])envelope.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(unknown.AsSpan(8), 0x0021);
        Assert.Equal(HpkeError.MalformedEnvelope, Assert.Throws<HpkeException>(() => Open(unknown, _recipient.PrivateKey.Span)).Error);
        Assert.Equal(HpkeError.MalformedEnvelope, Assert.Throws<HpkeException>(() => HpkeEnvelope.ReadKem(unknown)).Error);

        Assert.Equal(HpkeError.TruncatedEnvelope, Assert.Throws<HpkeException>(() => Open(envelope[..500], _recipient.PrivateKey.Span)).Error);
        Assert.Equal(HpkeError.TruncatedEnvelope, Assert.Throws<HpkeException>(() => Open(envelope[..13], _recipient.PrivateKey.Span)).Error);

        for (int position = 14; position < 1134; position += 97)
        {
            var tampered = (byte[])envelope.Clone();
            tampered[position] ^= 0x10;
            Assert.Throws<HpkeException>(() => Open(tampered, _recipient.PrivateKey.Span));
        }
    }

    [Fact]
    public void The_HPKE_context_exports_the_same_secret_on_both_sides()
    {
        var (enc, sender) = Hpke.SetupBaseSender(_recipient.PublicKey.Span, Info);
        using (sender)
        using (var recipient = Hpke.SetupBaseRecipient(HpkeKem.XWing, enc, _recipient.PrivateKey.Span, Info))
        {
            Assert.Equal(sender.Export("ctx"u8, 32), recipient.Export("ctx"u8, 32));
            var sealedMessage = sender.Seal("aad"u8, "hello"u8);
            Assert.Equal("hello"u8.ToArray(), recipient.Open("aad"u8, sealedMessage));
        }
    }

    [Fact]
    public void CheckPublicKey_accepts_both_KEMs_and_refuses_unusable_keys()
    {
        using var legacy = HpkeKeyPair.Generate();
        Assert.Equal(HpkeKem.X25519, HpkeKems.CheckPublicKey(legacy.PublicKey.Span));
        Assert.Equal(HpkeKem.XWing, HpkeKems.CheckPublicKey(_recipient.PublicKey.Span));
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => HpkeKems.CheckPublicKey(new byte[33])).Error);
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => HpkeKems.CheckPublicKey(new byte[32])).Error);

        var unreduced = _recipient.PublicKey.ToArray();
        unreduced[0] = 0xFF;
        unreduced[1] |= 0x0F;
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => HpkeKems.CheckPublicKey(unreduced)).Error);
        var zeroShare = _recipient.PublicKey.ToArray();
        zeroShare.AsSpan(MlKem768.PublicKeyLength).Clear();
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => HpkeKems.CheckPublicKey(zeroShare)).Error);
    }

    private static byte[] Seal(ReadOnlySpan<byte> publicKey, byte[] message)
    {
        var output = new MemoryStream();
        using (var sealer = HpkeSealingStream.Create(output, publicKey, Info, leaveOpen: true))
        {
            sealer.Write(message);
        }

        return output.ToArray();
    }

    private static byte[] Open(byte[] envelope, ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> info = default)
    {
        using var opener = HpkeOpeningStream.Open(new MemoryStream(envelope), privateKey, info.IsEmpty ? Info : info);
        var plain = new MemoryStream();
        opener.CopyTo(plain);
        return plain.ToArray();
    }
}
