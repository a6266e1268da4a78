using System.Buffers.Binary;

namespace Letterlock.Cryptography;

/// <summary>
/// The sealed-envelope format shared by <see cref="HpkeSealingStream"/> and <see cref="HpkeOpeningStream"/>
/// (docs/FORMATS.md, "HPKE sealed envelope"), after age's STREAM construction:
/// <code>
/// envelope = header 1*chunk
/// header   = magic version chunk-exp kem-id kdf-id aead-id enc   ; 46 bytes (X25519) or 1,134 bytes (X-Wing)
/// magic    = %x4C.4C.48.50.4B.45                                 ; "LLHPKE"
/// version  = %x01
/// chunk-exp = %x10                                               ; chunks of 2^16 plaintext bytes
/// kem-id   = %x00.20 / %x64.7A   kdf-id = %x00.01   aead-id = %x00.03   ; RFC 9180 identifiers, X-Wing's 0x647A
/// enc      = 32OCTET / 1120OCTET                                 ; the HPKE encapsulated key of kem-id
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

    /// <summary>Length of the envelope header with the X25519 KEM (<see cref="HeaderLengthOf"/> gives any KEM's).</summary>
    public const int HeaderLength = FixedHeaderLength + Hpke.KeyLength;

    /// <summary>Length of the header before enc: magic, version, chunk exponent and the three suite ids.</summary>
    public const int FixedHeaderLength = 14;

    /// <summary>Current format version.</summary>
    public const byte Version = 1;

    internal const int ChunkSizeExponent = 16;
    internal const int SealedChunkSize = ChunkSize + Hpke.TagLength;

    /// <summary>Longest header (X-Wing's).</summary>
    internal const int MaxHeaderLength = FixedHeaderLength + XWing.CiphertextLength;

    internal static ReadOnlySpan<byte> Magic => "LLHPKE"u8;

    /// <summary>Length of the header of an envelope sealed with <paramref name="kem"/>.</summary>
    public static int HeaderLengthOf(HpkeKem kem) => FixedHeaderLength + HpkeKems.EncapsulatedKeyLength(kem);

    /// <summary>
    /// Length of the envelope that seals <paramref name="plaintextLength"/> bytes with the X25519 KEM: the
    /// header plus one tag per chunk. Lets a store reserve space or check a length without opening anything.
    /// </summary>
    public static long SealedLength(long plaintextLength) => SealedLength(plaintextLength, HpkeKem.X25519);

    /// <summary>Length of the envelope that seals <paramref name="plaintextLength"/> bytes with <paramref name="kem"/>.</summary>
    public static long SealedLength(long plaintextLength, HpkeKem kem)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(plaintextLength);
        long chunks = plaintextLength == 0 ? 1 : (plaintextLength + ChunkSize - 1) / ChunkSize;
        return HeaderLengthOf(kem) + plaintextLength + chunks * Hpke.TagLength;
    }

    /// <summary>
    /// The KEM an envelope was sealed with, from its first <see cref="FixedHeaderLength"/> bytes: lets a
    /// holder of several keys pick the ones to try.
    /// </summary>
    /// <exception cref="HpkeException">The bytes are not the start of an envelope this version reads.</exception>
    public static HpkeKem ReadKem(ReadOnlySpan<byte> envelopeStart)
    {
        if (envelopeStart.Length < FixedHeaderLength)
        {
            throw new HpkeException(HpkeError.TruncatedEnvelope, "The sealed envelope ends inside its header.");
        }

        return ValidateHeader(envelopeStart[..FixedHeaderLength]);
    }

    internal static void WriteHeader(Span<byte> header, HpkeKem kem, ReadOnlySpan<byte> enc)
    {
        Magic.CopyTo(header);
        header[6] = Version;
        header[7] = ChunkSizeExponent;
        BinaryPrimitives.WriteUInt16BigEndian(header[8..], (ushort)kem);
        BinaryPrimitives.WriteUInt16BigEndian(header[10..], Hpke.KdfId);
        BinaryPrimitives.WriteUInt16BigEndian(header[12..], Hpke.AeadId);
        enc.CopyTo(header[FixedHeaderLength..]);
    }

    /// <summary>Checks the fixed part of the header and returns its KEM; enc is checked by the KEM and bound by every chunk.</summary>
    internal static HpkeKem ValidateHeader(ReadOnlySpan<byte> header)
    {
        if (!header[..6].SequenceEqual(Magic))
        {
            throw new HpkeException(HpkeError.MalformedEnvelope, "Not a Letterlock sealed envelope (bad magic).");
        }

        if (header[6] != Version)
        {
            throw new HpkeException(HpkeError.MalformedEnvelope, "Unsupported sealed envelope version.");
        }

        var kem = (HpkeKem)BinaryPrimitives.ReadUInt16BigEndian(header[8..]);
        if (header[7] != ChunkSizeExponent
            || kem is not (HpkeKem.X25519 or HpkeKem.XWing)
            || BinaryPrimitives.ReadUInt16BigEndian(header[10..]) != Hpke.KdfId
            || BinaryPrimitives.ReadUInt16BigEndian(header[12..]) != Hpke.AeadId)
        {
            throw new HpkeException(HpkeError.MalformedEnvelope, "Unsupported sealed envelope chunk size or HPKE suite.");
        }

        return kem;
    }

    /// <summary>aad_i = header || I2OSP(i, 8) || final; <paramref name="aad"/> is the header's length plus 9.</summary>
    internal static void WriteAad(Span<byte> aad, ReadOnlySpan<byte> header, ulong index, bool final)
    {
        header.CopyTo(aad);
        BinaryPrimitives.WriteUInt64BigEndian(aad[header.Length..], index);
        aad[header.Length + 8] = final ? (byte)1 : (byte)0;
    }
}
