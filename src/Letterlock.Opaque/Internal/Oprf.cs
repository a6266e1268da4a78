using System.Security.Cryptography;

namespace Letterlock.Cryptography.Internal;

/// <summary>
/// The OPRF of RFC 9497 in modeOPRF (0x00) with the ristretto255-SHA512 ciphersuite (section 4.1): the
/// oblivious PRF underneath OPAQUE. Client: <see cref="Blind"/> and <see cref="Finalize"/>; server:
/// <see cref="BlindEvaluate"/>; both: <see cref="DeriveKeyPair"/>. Randomness is passed in so the RFC's test
/// vectors can be replayed; callers draw blinds with <see cref="Sodium.ScalarRandom"/>.
/// </summary>
internal static class Oprf
{
    /// <summary>Nh: the SHA-512 output length, which is the OPRF output length.</summary>
    public const int OutputLength = 64;

    // contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier   (RFC 9497, section 3.1)
    private static readonly byte[] ContextString = [.. "OPRFV1-"u8, 0x00, .. "-ristretto255-SHA512"u8];
    private static readonly byte[] HashToGroupDst = [.. "HashToGroup-"u8, .. ContextString];
    private static readonly byte[] HashToScalarDst = [.. "HashToScalar-"u8, .. ContextString];
    private static readonly byte[] DeriveKeyPairDst = [.. "DeriveKeyPair"u8, .. ContextString];

    /// <summary>HashToGroup: hash_to_ristretto255 with expand_message_xmd(SHA-512) and DST "HashToGroup-" || contextString.</summary>
    public static void HashToGroup(ReadOnlySpan<byte> input, Span<byte> element)
    {
        Span<byte> uniform = stackalloc byte[64];
        ExpandMessageXmd.Expand(HashToGroupDst, uniform, input);
        Sodium.Ristretto255FromHash(uniform, element);
        CryptographicOperations.ZeroMemory(uniform);
    }

    /// <summary>
    /// HashToScalar: 64 bytes of expand_message_xmd(SHA-512), read little-endian and reduced modulo L. The DST
    /// defaults to "HashToScalar-" || contextString.
    /// </summary>
    public static void HashToScalar(ReadOnlySpan<byte> dst, Span<byte> scalar, ReadOnlySpan<byte> input, ReadOnlySpan<byte> inputSuffix = default)
    {
        Span<byte> uniform = stackalloc byte[64];
        ExpandMessageXmd.Expand(dst.IsEmpty ? HashToScalarDst : dst, uniform, input, inputSuffix);
        Sodium.ScalarReduce(uniform, scalar);
        CryptographicOperations.ZeroMemory(uniform);
    }

    /// <summary>
    /// DeriveKeyPair(seed, info) (RFC 9497, section 3.2.1). False is the DeriveKeyPairError: 256 candidate
    /// scalars in a row were zero, which does not happen in practice.
    /// </summary>
    public static bool DeriveKeyPair(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> info, Span<byte> privateKey, Span<byte> publicKey)
    {
        if (info.Length > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(info), "The key info must be at most 65535 bytes.");
        }

        //   deriveInput = seed || I2OSP(len(info), 2) || info
        //   skS = G.HashToScalar(deriveInput || I2OSP(counter, 1), DST = "DeriveKeyPair" || contextString)
        byte[] deriveInput = [.. seed, (byte)(info.Length >> 8), (byte)info.Length, .. info];
        try
        {
            for (int counter = 0; counter <= 255; counter++)
            {
                HashToScalar(DeriveKeyPairDst, privateKey, deriveInput, [(byte)counter]);
                if (!Ristretto255.IsZero(privateKey))
                {
                    return Sodium.Ristretto255ScalarMultBase(privateKey, publicKey);
                }
            }

            return false;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(deriveInput);
        }
    }

    /// <summary>
    /// Blind(input) with the given non-zero blind (RFC 9497, section 3.3.1). False is the InvalidInputError:
    /// the input hashed to the identity element.
    /// </summary>
    public static bool Blind(ReadOnlySpan<byte> input, ReadOnlySpan<byte> blind, Span<byte> blindedElement)
    {
        Span<byte> inputElement = stackalloc byte[Ristretto255.ElementLength];
        try
        {
            HashToGroup(input, inputElement);
            if (Ristretto255.IsZero(inputElement))
            {
                return false;
            }

            return Sodium.Ristretto255ScalarMult(blind, inputElement, blindedElement);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(inputElement);
        }
    }

    /// <summary>BlindEvaluate(skS, blindedElement) = skS * blindedElement; false when the element is not valid.</summary>
    public static bool BlindEvaluate(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> blindedElement, Span<byte> evaluatedElement) =>
        Ristretto255.IsValidElement(blindedElement) && Sodium.Ristretto255ScalarMult(privateKey, blindedElement, evaluatedElement);

    /// <summary>
    /// Finalize(input, blind, evaluatedElement) (RFC 9497, section 3.3.1); false when the evaluated element is not
    /// a valid non-identity element.
    /// </summary>
    public static bool Finalize(ReadOnlySpan<byte> input, ReadOnlySpan<byte> blind, ReadOnlySpan<byte> evaluatedElement, Span<byte> output)
    {
        if (input.Length > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(input), "The OPRF input must be at most 65535 bytes.");
        }

        if (!Ristretto255.IsValidElement(evaluatedElement))
        {
            return false;
        }

        Span<byte> inverse = stackalloc byte[Ristretto255.ScalarLength];
        Span<byte> unblinded = stackalloc byte[Ristretto255.ElementLength];
        try
        {
            //   N = G.ScalarInverse(blind) * evaluatedElement
            if (!Sodium.ScalarInvert(blind, inverse) || !Sodium.Ristretto255ScalarMult(inverse, evaluatedElement, unblinded))
            {
                return false;
            }

            //   hashInput = I2OSP(len(input), 2) || input ||
            //               I2OSP(len(unblindedElement), 2) || unblindedElement ||
            //               "Finalize"
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
            hash.AppendData([(byte)(input.Length >> 8), (byte)input.Length]);
            hash.AppendData(input);
            hash.AppendData([0, Ristretto255.ElementLength]);
            hash.AppendData(unblinded);
            hash.AppendData("Finalize"u8);
            hash.GetHashAndReset(output);
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(inverse);
            CryptographicOperations.ZeroMemory(unblinded);
        }
    }
}
