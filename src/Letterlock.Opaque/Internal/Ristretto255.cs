using System.Security.Cryptography;

namespace Letterlock.Cryptography.Internal;

/// <summary>
/// Encoding rules of the ristretto255 group (RFC 9496) as RFC 9497 uses them: elements are 32-byte canonical
/// encodings and the identity is refused on input; scalars are 32-byte little-endian integers below the group
/// order L. The arithmetic itself is libsodium's (<see cref="Sodium"/>).
/// </summary>
internal static class Ristretto255
{
    public const int ElementLength = 32;
    public const int ScalarLength = 32;

    /// <summary>
    /// DeserializeElement (RFC 9497, section 4.1): a canonical encoding that is not the identity. The identity's
    /// only encoding is 32 zero bytes, so the check is on the bytes.
    /// </summary>
    public static bool IsValidElement(ReadOnlySpan<byte> element) =>
        element.Length == ElementLength && !IsZero(element) && Sodium.Ristretto255IsValidPoint(element);

    /// <summary>DeserializeScalar (RFC 9497, section 4.1): 32 little-endian bytes encoding an integer below L.</summary>
    public static bool IsCanonicalScalar(ReadOnlySpan<byte> scalar)
    {
        if (scalar.Length != ScalarLength)
        {
            return false;
        }

        // s < L exactly when reducing it modulo L leaves it unchanged.
        Span<byte> wide = stackalloc byte[64];
        Span<byte> reduced = stackalloc byte[ScalarLength];
        scalar.CopyTo(wide);
        Sodium.ScalarReduce(wide, reduced);
        bool canonical = CryptographicOperations.FixedTimeEquals(reduced, scalar);
        CryptographicOperations.ZeroMemory(wide);
        CryptographicOperations.ZeroMemory(reduced);
        return canonical;
    }

    /// <summary>True when every byte is zero, in time independent of the values.</summary>
    public static bool IsZero(ReadOnlySpan<byte> value)
    {
        int accumulator = 0;
        foreach (byte b in value)
        {
            accumulator |= b;
        }

        return accumulator == 0;
    }
}
