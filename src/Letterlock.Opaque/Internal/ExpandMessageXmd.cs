using System.Security.Cryptography;

namespace Letterlock.Cryptography.Internal;

/// <summary>
/// expand_message_xmd with SHA-512 (RFC 9380, section 5.3.1), the building block of hash_to_ristretto255
/// and of HashToScalar in RFC 9497.
/// </summary>
internal static class ExpandMessageXmd
{
    private const int HashBytes = 64;   // b_in_bytes
    private const int BlockBytes = 128; // s_in_bytes

    /// <summary>
    /// uniform_bytes = expand_message_xmd(msg, DST, len_in_bytes) with msg = <paramref name="message"/> ||
    /// <paramref name="messageSuffix"/>, so callers need not copy a secret message to append a counter.
    /// </summary>
    public static void Expand(ReadOnlySpan<byte> dst, Span<byte> output, ReadOnlySpan<byte> message, ReadOnlySpan<byte> messageSuffix = default)
    {
        //   ell = ceil(len_in_bytes / b_in_bytes)
        //   ABORT if ell > 255 or len_in_bytes > 65535 or len(DST) > 255
        int ell = (output.Length + HashBytes - 1) / HashBytes;
        if (ell > 255 || output.Length > 65535 || output.Length == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(output), "expand_message_xmd output must be 1..16320 bytes.");
        }

        if (dst.Length > 255)
        {
            throw new ArgumentOutOfRangeException(nameof(dst), "expand_message_xmd DST must be at most 255 bytes.");
        }

        //   DST_prime = DST || I2OSP(len(DST), 1)
        //   msg_prime = Z_pad || msg || l_i_b_str || I2OSP(0, 1) || DST_prime
        //   b_0 = H(msg_prime)
        Span<byte> b0 = stackalloc byte[HashBytes];
        Span<byte> bi = stackalloc byte[HashBytes];
        Span<byte> lengths = [(byte)(output.Length >> 8), (byte)output.Length, 0];
        Span<byte> dstLength = [(byte)dst.Length];
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA512))
        {
            hash.AppendData(new byte[BlockBytes]);
            hash.AppendData(message);
            hash.AppendData(messageSuffix);

            hash.AppendData(lengths);
            hash.AppendData(dst);
            hash.AppendData(dstLength);
            hash.GetHashAndReset(b0);

            //   b_1 = H(b_0 || I2OSP(1, 1) || DST_prime)
            //   b_i = H(strxor(b_0, b_(i - 1)) || I2OSP(i, 1) || DST_prime)
            Span<byte> chained = stackalloc byte[HashBytes];
            b0.CopyTo(chained);
            for (int i = 1; i <= ell; i++)
            {
                hash.AppendData(chained);
                hash.AppendData([(byte)i]);
                hash.AppendData(dst);
                hash.AppendData(dstLength);
                hash.GetHashAndReset(bi);

                int offset = (i - 1) * HashBytes;
                bi[..Math.Min(HashBytes, output.Length - offset)].CopyTo(output[offset..]);
                for (int j = 0; j < HashBytes; j++)
                {
                    chained[j] = (byte)(b0[j] ^ bi[j]);
                }
            }

            CryptographicOperations.ZeroMemory(chained);
        }

        CryptographicOperations.ZeroMemory(b0);
        CryptographicOperations.ZeroMemory(bi);
    }
}
