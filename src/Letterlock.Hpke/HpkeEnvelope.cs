using System.Buffers.Binary;

namespace Letterlock.Cryptography;

/// <summary>
/// The sealed-envelope format shared by <see cref="HpkeSealingStream"/> and <see cref="HpkeOpeningStream"/>
/// (docs/FORMATS.md, "HPKE sealed envelope"), after age's STREAM construction:
/// <code>
/// envelope = header 1*chunk
/// header   = magic version chunk-exp kem-id kdf-id aead-id enc   ; 46 bytes
/// magic    = %x4C.4C.48.50.4B.45                                 ; "LLHPKE"
/// version  = %x01
/// chunk-exp = %x10                                               ; chunks of 2^16 plaintext bytes
/// kem-id   = %x00.20   kdf-id = %x00.01   aead-id = %x00.03        ; RFC 9180 identifiers
/// enc      = 32OCTET                                             ; the HPKE encapsulated key
/// chunk    = ciphertext tag                                      ; Seal(aad_i, plaintext_i)
/// aad_i    = header I2OSP(i, 8) final-flag                        ; final-flag %x00 or %x01
/// </code>
/// Every chunk but the last holds exactly 65,536 plaintext bytes and has final-flag 0; the last holds
/// 1 to 65,536 bytes (0 only when it is the only chunk) and has final-flag 1. Chunk i is sealed with
/// the HPKE context's i-th nonce, and its AAD repeats the header, its index and the flag, so reordered,
/// dropped, duplicated, appended and altered chunks all fail to open, and a cut at a chunk boundary
/// fails because the new last chunk was not sealed as final.
/// </summary>
public static class HpkeEnvelope
{
    /// <summary>Plaintext bytes per chunk (64 KiB).</summary>
    public const int ChunkSize = 1 << ChunkSizeExponent;

    /// <summary>Length of the envelope header.</summary>
    public const int HeaderLength = 14 + Hpke.KeyLength;

    /// <summary>Current format version.</summary>
    public const byte Version = 1;

    internal const int ChunkSizeExponent = 16;
    internal const int SealedChunkSize = ChunkSize + Hpke.TagLength;
    internal const int AadLength = HeaderLength + 9;

    internal static ReadOnlySpan<byte> Magic => "LLHPKE"u8;

    /// <summary>
    /// Length of the envelope that seals <paramref name="plaintextLength"/> bytes: the header plus one
    /// tag per chunk. Lets a store reserve space or check a length without opening anything.
    /// </summary>
    public static long SealedLength(long plaintextLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(plaintextLength);
        long chunks = plaintextLength == 0 ? 1 : (plaintextLength + ChunkSize - 1) / ChunkSize;
        return HeaderLength + plaintextLength + chunks * Hpke.TagLength;
    }

    internal static void WriteHeader(Span<byte> header, ReadOnlySpan<byte> enc)
    {
        Magic.CopyTo(header);
        header[6] = Version;
        header[7] = ChunkSizeExponent;
        BinaryPrimitives.WriteUInt16BigEndian(header[8..], Hpke.KemId);
        BinaryPrimitives.WriteUInt16BigEndian(header[10..], Hpke.KdfId);
        BinaryPrimitives.WriteUInt16BigEndian(header[12..], Hpke.AeadId);
        enc.CopyTo(header[14..]);
    }

    /// <summary>Checks everything in the header but enc; enc is checked by the KEM and bound by every chunk.</summary>
    internal static void ValidateHeader(ReadOnlySpan<byte> header)
    {
        if (!header[..6].SequenceEqual(Magic))
        {
            throw new HpkeException(HpkeError.MalformedEnvelope, "Not a Letterlock sealed envelope (bad magic).");
        }

        if (header[6] != Version)
        {
            throw new HpkeException(HpkeError.MalformedEnvelope, "Unsupported sealed envelope version.");
        }

        if (header[7] != ChunkSizeExponent
            || BinaryPrimitives.ReadUInt16BigEndian(header[8..]) != Hpke.KemId
            || BinaryPrimitives.ReadUInt16BigEndian(header[10..]) != Hpke.KdfId
            || BinaryPrimitives.ReadUInt16BigEndian(header[12..]) != Hpke.AeadId)
        {
            throw new HpkeException(HpkeError.MalformedEnvelope, "Unsupported sealed envelope chunk size or HPKE suite.");
        }
    }

    internal static void WriteAad(Span<byte> aad, ReadOnlySpan<byte> header, ulong index, bool final)
    {
        header.CopyTo(aad);
        BinaryPrimitives.WriteUInt64BigEndian(aad[HeaderLength..], index);
        aad[HeaderLength + 8] = final ? (byte)1 : (byte)0;
    }
}
