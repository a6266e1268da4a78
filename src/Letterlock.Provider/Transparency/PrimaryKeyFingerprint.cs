using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Letterlock.Provider.Transparency;

/// <summary>
/// The fingerprint of a binary certificate's primary key, computed from its first packet without parsing the
/// rest: the key-set computation of an epoch needs it for every changed account, and a full BouncyCastle parse
/// was 40 % of an epoch's CPU. Certificates are validated in full when they are uploaded (AccountService), so
/// the first packet is the primary key; anything unexpected falls back to the full parser.
/// </summary>
public static class PrimaryKeyFingerprint
{
    /// <summary>The fingerprint, or null when the first packet is not a v4 or v6 public-key packet.</summary>
    /// <remarks>
    /// RFC 9580, 4.2: a packet header is one octet with bit 7 set; new format (bit 6 set): tag = bits 5..0, then
    /// a length of one octet (0..191), two octets ((o1 - 192) &lt;&lt; 8) + o2 + 192 for o1 in 192..223, or 0xFF
    /// and four octets (partial lengths, 224..254, are not allowed for key packets); legacy format (bit 6 clear):
    /// tag = bits 5..2, length type = bits 1..0: 0 one octet, 1 two, 2 four, 3 indeterminate (refused).
    /// 5.5.4: v4 fingerprint = SHA-1(0x99 || uint16 length || body); v6 = SHA-256(0x9B || uint32 length || body).
    /// </remarks>
    public static byte[]? TryCompute(ReadOnlySpan<byte> certificate)
    {
        if (certificate.Length < 2 || (certificate[0] & 0x80) == 0)
        {
            return null;
        }

        int tag, offset;
        long length;
        byte header = certificate[0];
        if ((header & 0x40) != 0)
        {
            tag = header & 0x3F;
            byte first = certificate[1];
            if (first < 192)
            {
                (length, offset) = (first, 2);
            }
            else if (first < 224)
            {
                if (certificate.Length < 3)
                {
                    return null;
                }

                (length, offset) = (((first - 192) << 8) + certificate[2] + 192, 3);
            }
            else if (first == 0xFF)
            {
                if (certificate.Length < 6)
                {
                    return null;
                }

                (length, offset) = (BinaryPrimitives.ReadUInt32BigEndian(certificate[2..]), 6);
            }
            else
            {
                return null;
            }
        }
        else
        {
            tag = (header >> 2) & 0x0F;
            switch (header & 0x03)
            {
                case 0:
                    (length, offset) = (certificate[1], 2);
                    break;
                case 1 when certificate.Length >= 3:
                    (length, offset) = (BinaryPrimitives.ReadUInt16BigEndian(certificate[1..]), 3);
                    break;
                case 2 when certificate.Length >= 5:
                    (length, offset) = (BinaryPrimitives.ReadUInt32BigEndian(certificate[1..]), 5);
                    break;
                default:
                    return null;
            }
        }

        if (tag != 6 || length < 1 || length > certificate.Length - offset)
        {
            return null;
        }

        ReadOnlySpan<byte> body = certificate.Slice(offset, (int)length);
        switch (body[0])
        {
            case 4 when length <= ushort.MaxValue:
            {
                Span<byte> prefix = [0x99, (byte)(length >> 8), (byte)length];
                using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
                sha1.AppendData(prefix);
                sha1.AppendData(body);
                return sha1.GetHashAndReset();
            }

            case 6:
            {
                Span<byte> prefix = stackalloc byte[5];
                prefix[0] = 0x9B;
                BinaryPrimitives.WriteUInt32BigEndian(prefix[1..], (uint)length);
                using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                sha256.AppendData(prefix);
                sha256.AppendData(body);
                return sha256.GetHashAndReset();
            }

            default:
                return null;
        }
    }
}
