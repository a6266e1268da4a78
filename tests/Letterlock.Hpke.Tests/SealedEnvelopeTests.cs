using System.Buffers.Binary;
using Letterlock.Cryptography;

namespace Letterlock.Cryptography.Tests;

public sealed class SealedEnvelopeTests : IDisposable
{
    private const int Chunk = HpkeEnvelope.ChunkSize;
    private const int SealedChunk = Chunk + Hpke.TagLength;
    private const int Header = HpkeEnvelope.HeaderLength;
    private static readonly byte[] Info = "letterlock/inbox/v1"u8.ToArray();
    private readonly HpkeKeyPair _recipient = HpkeKeyPair.Generate();

    public void Dispose() => _recipient.Dispose();

    public static TheoryData<int> BoundarySizes => new()
    {
        0, 1, Chunk - 1, Chunk, Chunk + 1, 2 * Chunk, 3 * Chunk - 1, (5 * 1024 * 1024) + 12_345,
    };

    [Theory]
    [MemberData(nameof(BoundarySizes))]
    public void Round_trips_synchronously_at_chunk_boundaries(int size)
    {
        byte[] message = RandomBytes(size, seed: size);
        byte[] envelope = Seal(message, writeSize: 10_000);
        Assert.Equal(HpkeEnvelope.SealedLength(size), envelope.Length);
        Assert.Equal(message, Open(envelope, readSize: 7_777));
    }

    [Theory]
    [MemberData(nameof(BoundarySizes))]
    public async Task Round_trips_when_written_in_one_call(int size)
    {
        // One large write seals whole chunks straight from the caller's buffer.
        byte[] message = RandomBytes(size, seed: size + 2);
        byte[] envelope = Seal(message, writeSize: Math.Max(1, size));
        Assert.Equal(message, Open(envelope, readSize: 65536));

        var output = new MemoryStream();
        await using (var sealer = HpkeSealingStream.Create(output, _recipient.PublicKey.Span, Info, leaveOpen: true))
        {
            await sealer.WriteAsync(message);
        }

        Assert.Equal(envelope.Length, output.Length);
        Assert.Equal(message, Open(output.ToArray(), readSize: 100_000));
    }

    [Theory]
    [MemberData(nameof(BoundarySizes))]
    public async Task Round_trips_asynchronously_at_chunk_boundaries(int size)
    {
        byte[] message = RandomBytes(size, seed: size + 1);
        var output = new MemoryStream();
        await using (var sealer = HpkeSealingStream.Create(output, _recipient.PublicKey.Span, Info, leaveOpen: true))
        {
            for (int at = 0; at < size; at += 3_001)
            {
                await sealer.WriteAsync(message.AsMemory(at, Math.Min(3_001, size - at)));
            }

            await sealer.CompleteAsync();
            Assert.True(sealer.IsCompleted);
            Assert.Equal(size, sealer.Length);
        }

        byte[] envelope = output.ToArray();
        Assert.Equal(HpkeEnvelope.SealedLength(size), envelope.Length);
        await using var opener = HpkeOpeningStream.Open(new MemoryStream(envelope), _recipient.PrivateKey.Span, Info);
        var result = new MemoryStream();
        await opener.CopyToAsync(result);
        Assert.True(opener.IsComplete);
        Assert.Equal(message, result.ToArray());
    }

    [Fact]
    public void Chunk_layout_is_as_documented()
    {
        byte[] envelope = Seal(RandomBytes(Chunk + 1, 3), writeSize: Chunk + 1);
        Assert.Equal("LLHPKE"u8.ToArray(), envelope[..6]);
        Assert.Equal(1, envelope[6]);
        Assert.Equal(16, envelope[7]);
        Assert.Equal(0x0020, BinaryPrimitives.ReadUInt16BigEndian(envelope.AsSpan(8)));
        Assert.Equal(0x0001, BinaryPrimitives.ReadUInt16BigEndian(envelope.AsSpan(10)));
        Assert.Equal(0x0003, BinaryPrimitives.ReadUInt16BigEndian(envelope.AsSpan(12)));
        Assert.Equal(Header + SealedChunk + 1 + Hpke.TagLength, envelope.Length);

        // Open the chunks by hand with a plain HPKE context, as docs/FORMATS.md describes.
        using var context = Hpke.SetupBaseRecipient(envelope.AsSpan(14, 32), _recipient.PrivateKey.Span, Info);
        byte[] header = envelope[..Header];
        byte[] first = context.Open(Aad(header, 0, final: false), envelope.AsSpan(Header, SealedChunk));
        byte[] last = context.Open(Aad(header, 1, final: true), envelope.AsSpan(Header + SealedChunk));
        Assert.Equal(Chunk, first.Length);
        Assert.Single(last);
    }

    [Fact]
    public void One_byte_writes_and_one_byte_reads_work()
    {
        byte[] message = RandomBytes(Chunk + 100, 4);
        var output = new MemoryStream();
        using (var sealer = HpkeSealingStream.Create(output, _recipient.PublicKey.Span, Info, leaveOpen: true))
        {
            foreach (byte b in message)
            {
                sealer.WriteByte(b);
            }
        }

        using var opener = HpkeOpeningStream.Open(new MemoryStream(output.ToArray()), _recipient.PrivateKey.Span, Info);
        var result = new List<byte>();
        int next;
        while ((next = opener.ReadByte()) >= 0)
        {
            result.Add((byte)next);
        }

        Assert.Equal(message, result);
    }

    [Fact]
    public void Reads_from_a_source_that_returns_one_byte_at_a_time()
    {
        byte[] message = RandomBytes((2 * Chunk) + 5, 5);
        byte[] envelope = Seal(message, writeSize: 4096);
        using var opener = HpkeOpeningStream.Open(new TrickleStream(envelope), _recipient.PrivateKey.Span, Info);
        var result = new MemoryStream();
        opener.CopyTo(result);
        Assert.Equal(message, result.ToArray());
    }

    [Fact]
    public void Wrong_key_fails()
    {
        byte[] envelope = Seal(RandomBytes(1000, 6), 1000);
        using var other = HpkeKeyPair.Generate();
        using var opener = HpkeOpeningStream.Open(new MemoryStream(envelope), other.PrivateKey.Span, Info);
        Assert.Equal(HpkeError.OpenFailed, Assert.Throws<HpkeException>(() => opener.ReadByte()).Error);
    }

    [Fact]
    public void Wrong_info_fails()
    {
        byte[] envelope = Seal(RandomBytes(1000, 7), 1000);
        using var opener = HpkeOpeningStream.Open(new MemoryStream(envelope), _recipient.PrivateKey.Span, "letterlock/temp/v1"u8);
        Assert.Equal(HpkeError.OpenFailed, Assert.Throws<HpkeException>(() => opener.ReadByte()).Error);
    }

    [Fact]
    public void Every_bit_flip_of_a_small_envelope_is_detected()
    {
        byte[] message = RandomBytes(100, 8);
        byte[] envelope = Seal(message, 100);
        for (int bit = 0; bit < envelope.Length * 8; bit++)
        {
            byte[] tampered = (byte[])envelope.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.Throws<HpkeException>(() => Open(tampered, 4096));
        }
    }

    [Fact]
    public void Bit_flips_in_each_region_of_a_multi_chunk_envelope_are_detected()
    {
        byte[] envelope = Seal(RandomBytes((3 * Chunk) + 10, 9), 50_000);
        int[] offsets =
        [
            0, 5, 6, 7, 8, 11, 13, 14, 45,                       // header: magic, version, chunk size, suite, enc
            Header, Header + 1000, Header + SealedChunk - 1,      // chunk 0 body and tag
            Header + SealedChunk + 17, Header + (2 * SealedChunk) - 3,
            Header + (3 * SealedChunk) + 2, envelope.Length - 1,  // final chunk body and tag
        ];
        foreach (int offset in offsets)
        {
            byte[] tampered = (byte[])envelope.Clone();
            tampered[offset] ^= 0x40;
            Assert.Throws<HpkeException>(() => Open(tampered, 65536));
        }
    }

    [Fact]
    public void Header_errors_are_reported_as_malformed()
    {
        byte[] envelope = Seal(RandomBytes(10, 10), 10);
        foreach (int offset in new[] { 0, 6, 7, 9, 11, 13 })
        {
            byte[] tampered = (byte[])envelope.Clone();
            tampered[offset] ^= 0x01;
            Assert.Equal(HpkeError.MalformedEnvelope, Assert.Throws<HpkeException>(() => Open(tampered, 100)).Error);
        }
    }

    [Fact]
    public void Truncation_anywhere_is_detected()
    {
        byte[] envelope = Seal(RandomBytes((2 * Chunk) + 300, 11), 65536);
        int[] cuts =
        [
            0, 1, Header - 1, Header, Header + 1, Header + 15, Header + 16, Header + SealedChunk - 1,
            Header + SealedChunk, Header + SealedChunk + 1, Header + (2 * SealedChunk), envelope.Length - 1,
        ];
        foreach (int cut in cuts)
        {
            var e = Assert.Throws<HpkeException>(() => Open(envelope[..cut], 65536));
            Assert.Contains(e.Error, new[] { HpkeError.TruncatedEnvelope, HpkeError.OpenFailed, HpkeError.MalformedEnvelope });
        }
    }

    [Fact]
    public void Truncation_at_a_chunk_boundary_is_detected_after_the_verified_prefix()
    {
        byte[] message = RandomBytes(3 * Chunk, 12);
        byte[] envelope = Seal(message, 65536);
        byte[] cut = envelope[..(Header + (2 * SealedChunk))];
        using var opener = HpkeOpeningStream.Open(new MemoryStream(cut), _recipient.PrivateKey.Span, Info);
        var buffer = new byte[Chunk];
        // The first chunk authenticates as a non-final chunk and is released ...
        Assert.Equal(Chunk, opener.ReadAtLeast(buffer, Chunk));
        Assert.Equal(message[..Chunk], buffer);
        // ... the second was sealed as non-final, so ending after it fails: the message is not complete.
        Assert.Equal(HpkeError.OpenFailed, Assert.Throws<HpkeException>(() => opener.Read(buffer)).Error);
        Assert.False(opener.IsComplete);
        // A failed stream stays failed.
        Assert.Throws<HpkeException>(() => opener.Read(buffer));
    }

    [Fact]
    public void Appended_data_is_detected()
    {
        byte[] envelope = Seal(RandomBytes(Chunk + 10, 13), 65536);
        Assert.Throws<HpkeException>(() => Open([.. envelope, 0x00], 65536));
        // A copy of the final chunk appended: the original final chunk is no longer last.
        byte[] finalChunk = envelope[(Header + SealedChunk)..];
        Assert.Throws<HpkeException>(() => Open([.. envelope, .. finalChunk], 65536));
        // A full message appended to an exact-multiple envelope.
        byte[] exact = Seal(RandomBytes(Chunk, 14), 65536);
        Assert.Throws<HpkeException>(() => Open([.. exact, .. exact[Header..]], 65536));
    }

    [Fact]
    public void Reordered_duplicated_and_dropped_chunks_are_detected()
    {
        byte[] envelope = Seal(RandomBytes((3 * Chunk) + 1, 15), 65536);
        byte[] header = envelope[..Header];
        byte[][] chunks = Enumerable.Range(0, 4)
            .Select(i => envelope[(Header + (i * SealedChunk))..Math.Min(envelope.Length, Header + ((i + 1) * SealedChunk))])
            .ToArray();
        byte[][][] variants =
        [
            [chunks[1], chunks[0], chunks[2], chunks[3]],
            [chunks[0], chunks[0], chunks[2], chunks[3]],
            [chunks[0], chunks[2], chunks[3]],
            [chunks[0], chunks[1], chunks[3]],
            [chunks[0], chunks[1], chunks[2], chunks[2], chunks[3]],
        ];
        foreach (byte[][] variant in variants)
        {
            byte[] forged = [.. header, .. variant.SelectMany(c => c)];
            Assert.Equal(HpkeError.OpenFailed, Assert.Throws<HpkeException>(() => Open(forged, 65536)).Error);
        }

        // Splicing chunks from another envelope to the same key fails too (different enc, different context).
        byte[] other = Seal(RandomBytes((3 * Chunk) + 1, 15), 65536);
        byte[] spliced = [.. envelope[..(Header + SealedChunk)], .. other[(Header + SealedChunk)..]];
        Assert.Throws<HpkeException>(() => Open(spliced, 65536));
    }

    [Fact]
    public void An_empty_final_chunk_after_other_chunks_is_refused()
    {
        // Forge with the right key a form the writer never produces: a full chunk, then an empty final one.
        var (enc, sender) = Hpke.SetupBaseSender(_recipient.PublicKey.Span, Info);
        byte[] header = new byte[Header];
        HpkeEnvelope.WriteHeader(header, HpkeKem.X25519, enc);
        using (sender)
        {
            byte[] c0 = sender.Seal(Aad(header, 0, final: false), new byte[Chunk]);
            byte[] c1 = sender.Seal(Aad(header, 1, final: true), []);
            var e = Assert.Throws<HpkeException>(() => Open([.. header, .. c0, .. c1], 65536));
            Assert.Equal(HpkeError.MalformedEnvelope, e.Error);
        }
    }

    [Fact]
    public void A_chunk_shorter_than_a_tag_is_malformed()
    {
        byte[] envelope = Seal([], 1);
        Assert.Equal(Header + Hpke.TagLength, envelope.Length);
        Assert.Equal(HpkeError.MalformedEnvelope, Assert.Throws<HpkeException>(() => Open(envelope[..(Header + 5)], 10)).Error);
        Assert.Equal(HpkeError.TruncatedEnvelope, Assert.Throws<HpkeException>(() => Open(envelope[..Header], 10)).Error);
    }

    [Fact]
    public void Aborted_envelope_does_not_open()
    {
        var output = new MemoryStream();
        using (var sealer = HpkeSealingStream.Create(output, _recipient.PublicKey.Span, Info, leaveOpen: true))
        {
            sealer.Write(RandomBytes((2 * Chunk) + 5, 16));
            sealer.Abort();
            Assert.Throws<InvalidOperationException>(() => sealer.WriteByte(1));
        }

        // The two full chunks already emitted are on the destination, but no final chunk.
        Assert.Equal(Header + (2 * SealedChunk), output.Length);
        Assert.Throws<HpkeException>(() => Open(output.ToArray(), 65536));
    }

    [Fact]
    public void Completed_envelope_refuses_further_writes_and_Complete_is_idempotent()
    {
        var output = new MemoryStream();
        using var sealer = HpkeSealingStream.Create(output, _recipient.PublicKey.Span, Info, leaveOpen: true);
        sealer.Write("hello"u8);
        sealer.Complete();
        sealer.Complete();
        long length = output.Length;
        Assert.Throws<InvalidOperationException>(() => sealer.Write("more"u8));
        sealer.Dispose();
        Assert.Equal(length, output.Length);
        Assert.Equal("hello"u8.ToArray(), Open(output.ToArray(), 10));
    }

    [Fact]
    public void A_failing_destination_poisons_the_sealer_and_no_final_chunk_follows()
    {
        var destination = new FailingStream(failAfterBytes: Header + SealedChunk + 10);
        var sealer = HpkeSealingStream.Create(destination, _recipient.PublicKey.Span, Info, leaveOpen: true);
        byte[] data = RandomBytes(4 * Chunk, 17);
        Assert.Throws<IOException>(() => sealer.Write(data));
        Assert.Throws<InvalidOperationException>(() => sealer.Write(data));
        sealer.Dispose();
        Assert.Throws<HpkeException>(() => Open(destination.Written.ToArray(), 65536));
    }

    [Fact]
    public void Disposing_closes_the_inner_stream_unless_asked_not_to()
    {
        var closed = new MemoryStream();
        HpkeSealingStream.Create(closed, _recipient.PublicKey.Span, Info).Dispose();
        Assert.False(closed.CanWrite);

        var kept = new MemoryStream();
        HpkeSealingStream.Create(kept, _recipient.PublicKey.Span, Info, leaveOpen: true).Dispose();
        Assert.True(kept.CanWrite);
        Assert.Equal(Header + Hpke.TagLength, kept.Length);

        var source = new MemoryStream(kept.ToArray());
        HpkeOpeningStream.Open(source, _recipient.PrivateKey.Span, Info).Dispose();
        Assert.False(source.CanRead);
    }

    [Fact]
    public async Task VerifyToEnd_proves_completeness_without_keeping_plaintext()
    {
        byte[] envelope = Seal(RandomBytes((2 * Chunk) + 1, 18), 65536);
        await using (var opener = HpkeOpeningStream.Open(new MemoryStream(envelope), _recipient.PrivateKey.Span, Info))
        {
            await opener.VerifyToEndAsync();
            Assert.True(opener.IsComplete);
        }

        await using var truncated = HpkeOpeningStream.Open(new MemoryStream(envelope[..^1]), _recipient.PrivateKey.Span, Info);
        await Assert.ThrowsAsync<HpkeException>(async () => await truncated.VerifyToEndAsync());
        Assert.False(truncated.IsComplete);
    }

    [Fact]
    public void Ephemeral_key_pattern_for_temporary_files()
    {
        // What the MX does with a spill file: seal to a key pair that only lives in memory.
        string path = Path.Combine(Path.GetTempPath(), $"letterlock-hpke-{Guid.NewGuid():N}.tmp");
        try
        {
            byte[] message = RandomBytes(300_000, 19);
            using var ephemeral = HpkeKeyPair.Generate();
            using (var sealer = HpkeSealingStream.Create(File.Create(path), ephemeral.PublicKey.Span, "letterlock/spill/v1"u8))
            {
                sealer.Write(message);
            }

            byte[] onDisk = File.ReadAllBytes(path);
            Assert.Equal(-1, onDisk.AsSpan().IndexOf(message.AsSpan(0, 64)));
            using var opener = HpkeOpeningStream.Open(File.OpenRead(path), ephemeral.PrivateKey.Span, "letterlock/spill/v1"u8);
            var result = new MemoryStream();
            opener.CopyTo(result);
            Assert.Equal(message, result.ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(0, 46 + 16)]
    [InlineData(1, 46 + 17)]
    [InlineData(65536, 46 + 65552)]
    [InlineData(65537, 46 + 65552 + 17)]
    public void SealedLength_is_exact(long plaintext, long expected) =>
        Assert.Equal(expected, HpkeEnvelope.SealedLength(plaintext));

    private static byte[] Aad(byte[] header, ulong index, bool final)
    {
        var aad = new byte[header.Length + 9];
        HpkeEnvelope.WriteAad(aad, header, index, final);
        return aad;
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private byte[] Seal(byte[] message, int writeSize)
    {
        var output = new MemoryStream();
        using (var sealer = HpkeSealingStream.Create(output, _recipient.PublicKey.Span, Info, leaveOpen: true))
        {
            for (int at = 0; at < message.Length; at += writeSize)
            {
                sealer.Write(message.AsSpan(at, Math.Min(writeSize, message.Length - at)));
            }
        }

        return output.ToArray();
    }

    private byte[] Open(byte[] envelope, int readSize)
    {
        using var opener = HpkeOpeningStream.Open(new MemoryStream(envelope), _recipient.PrivateKey.Span, Info);
        var result = new MemoryStream();
        var buffer = new byte[readSize];
        int read;
        while ((read = opener.Read(buffer)) > 0)
        {
            result.Write(buffer, 0, read);
        }

        Assert.True(opener.IsComplete);
        return result.ToArray();
    }

    /// <summary>Returns at most one byte per read, like a slow socket.</summary>
    private sealed class TrickleStream(byte[] data) : MemoryStream(data)
    {
        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(1, buffer.Length)]);

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(1, count));
    }

    /// <summary>Accepts a number of bytes, then throws on every write, like a full disk.</summary>
    private sealed class FailingStream(int failAfterBytes) : Stream
    {
        public MemoryStream Written { get; } = new();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => Written.Length;

        public override long Position { get => Written.Length; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            int room = (int)Math.Max(0, failAfterBytes - Written.Length);
            Written.Write(buffer, offset, Math.Min(room, count));
            if (count > room)
            {
                throw new IOException("disk full");
            }
        }
    }
}
