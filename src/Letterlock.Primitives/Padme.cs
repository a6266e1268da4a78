namespace Letterlock.Primitives;

/// <summary>
/// Padmé padding (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
/// Communication with PURBs", PETS 2019): rounds a length up so that at most O(log log L)
/// bits of it leak, with at most 12% overhead. Used for the sizes the provider may see.
/// </summary>
public static class Padme
{
    /// <summary>Returns the padded length for a plaintext of <paramref name="length"/> bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative.</exception>
    public static long PaddedLength(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length < 2)
        {
            return length;
        }

        // E = floor(log2 L), S = floor(log2 E) + 1, the low E - S bits are zeroed by rounding up.
        int e = 63 - (int)long.LeadingZeroCount(length);
        int s = 32 - int.LeadingZeroCount(e);
        int lastBits = e - s;
        long mask = (1L << lastBits) - 1;
        return (length + mask) & ~mask;
    }
}
