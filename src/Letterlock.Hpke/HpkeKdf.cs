using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Letterlock.Cryptography;

/// <summary>
/// HKDF-SHA256 with HPKE's labels (RFC 9180, section 4):
/// <code>
/// def LabeledExtract(salt, label, ikm):
///   labeled_ikm = concat("HPKE-v1", suite_id, label, ikm)
///   return Extract(salt, labeled_ikm)
///
/// def LabeledExpand(prk, label, info, L):
///   labeled_info = concat(I2OSP(L, 2), "HPKE-v1", suite_id, label, info)
///   return Expand(prk, labeled_info, L)
/// </code>
/// </summary>
internal static class HpkeKdf
{
    public const int HashLength = 32;

    private static ReadOnlySpan<byte> Version => "HPKE-v1"u8;

    public static void LabeledExtract(
        ReadOnlySpan<byte> suiteId, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> label, ReadOnlySpan<byte> ikm, Span<byte> prk)
    {
        int length = Version.Length + suiteId.Length + label.Length + ikm.Length;
        byte[]? rented = null;
        Span<byte> labeled = length <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(length));
        labeled = labeled[..length];
        try
        {
            int at = 0;
            Version.CopyTo(labeled[at..]);
            at += Version.Length;
            suiteId.CopyTo(labeled[at..]);
            at += suiteId.Length;
            label.CopyTo(labeled[at..]);
            at += label.Length;
            ikm.CopyTo(labeled[at..]);
            HKDF.Extract(HashAlgorithmName.SHA256, labeled, salt, prk);
        }
        finally
        {
            // The labelled input carries the DH output or a key: do not leave it on the stack or in the pool.
            CryptographicOperations.ZeroMemory(labeled);
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    public static void LabeledExpand(
        ReadOnlySpan<byte> suiteId, ReadOnlySpan<byte> prk, ReadOnlySpan<byte> label, ReadOnlySpan<byte> info, Span<byte> output)
    {
        // Expand's output limit is 255 * Nh; I2OSP(L, 2) limits it further to 65535.
        if (output.Length > 255 * HashLength)
        {
            throw new ArgumentOutOfRangeException(nameof(output), "HKDF-SHA256 can expand to at most 8160 bytes.");
        }

        int length = 2 + Version.Length + suiteId.Length + label.Length + info.Length;
        byte[]? rented = null;
        Span<byte> labeled = length <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(length));
        labeled = labeled[..length];
        try
        {
            BinaryPrimitives.WriteUInt16BigEndian(labeled, (ushort)output.Length);
            int at = 2;
            Version.CopyTo(labeled[at..]);
            at += Version.Length;
            suiteId.CopyTo(labeled[at..]);
            at += suiteId.Length;
            label.CopyTo(labeled[at..]);
            at += label.Length;
            info.CopyTo(labeled[at..]);
            HKDF.Expand(HashAlgorithmName.SHA256, prk, output, labeled);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
