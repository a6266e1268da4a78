using System.Diagnostics.CodeAnalysis;
using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Cpace;

/// <summary>
/// One party's CPace message: its public share Y (a ristretto255 element) and its associated data AD, sent in the
/// clear and authenticated by the exchange. The wire encoding is lv_cat(Y, AD) of the draft's Appendix A.1.3
/// (LEB128 length, then the bytes, for each), which is also that party's half of the transcript.
/// </summary>
public sealed class CpaceMessage
{
    internal CpaceMessage(byte[] y, byte[] associatedData)
    {
        Y = y;
        Ad = associatedData;
    }

    /// <summary>The sender's associated data (for instance its device name and public key), a copy.</summary>
    public byte[] AssociatedData => (byte[])Ad.Clone();

    internal byte[] Y { get; }

    internal byte[] Ad { get; }

    /// <summary>lv_cat(Y, AD).</summary>
    public byte[] Serialize() => CpaceProtocol.LvCat(Y, Ad);

    /// <summary>
    /// Parses lv_cat(Y, AD): a 32-byte Y that is a canonical ristretto255 encoding other than the identity, and an AD
    /// of at most <see cref="CpaceOptions.MaxAssociatedDataLength"/> bytes, with nothing left over. False for anything
    /// else.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> data, CpaceOptions? options, [NotNullWhen(true)] out CpaceMessage? message)
    {
        options ??= CpaceOptions.Default;
        message = null;
        if (!TryReadField(ref data, Ristretto255.ElementLength, out ReadOnlySpan<byte> y)
            || y.Length != Ristretto255.ElementLength
            || !Ristretto255.IsValidElement(y)
            || !TryReadField(ref data, options.MaxAssociatedDataLength, out ReadOnlySpan<byte> ad)
            || !data.IsEmpty)
        {
            return false;
        }

        message = new CpaceMessage(y.ToArray(), ad.ToArray());
        return true;
    }

    // field = LEB128(len) || bytes; the shortest LEB128 form only, so each message has exactly one encoding.
    private static bool TryReadField(ref ReadOnlySpan<byte> data, int maxLength, out ReadOnlySpan<byte> field)
    {
        field = default;
        long length = 0;
        int shift = 0;
        int index = 0;
        while (true)
        {
            if (index >= data.Length || shift > 28)
            {
                return false;
            }

            byte b = data[index++];
            length |= (long)(b & 0x7f) << shift;
            shift += 7;
            if ((b & 0x80) == 0)
            {
                if (b == 0 && index > 1)
                {
                    return false; // a trailing zero group: not the shortest encoding
                }

                break;
            }
        }

        if (length > maxLength || length > data.Length - index)
        {
            return false;
        }

        field = data.Slice(index, (int)length);
        data = data[(index + (int)length)..];
        return true;
    }
}
