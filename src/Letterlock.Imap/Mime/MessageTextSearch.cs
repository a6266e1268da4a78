using System.Text;
using MimeKit.Utils;

namespace Letterlock.Imap.Mime;

/// <summary>
/// SEARCH TEXT/BODY over a raw message without building a MIME tree: the byte ranges come from
/// <see cref="MessageStructure"/>, transfer encodings are undone per part (base64, quoted-printable),
/// and the match is a case-insensitive substring test (RFC 9051, 6.4.4). An ASCII needle is matched
/// on the bytes of any ASCII-compatible charset directly; other needles decode the text with its
/// charset. Encoded words in headers are decoded before matching.
/// </summary>
public static class MessageTextSearch
{
    /// <summary>Whether the message's text (headers too when <paramref name="includeHeaders"/>) contains <paramref name="needle"/>.</summary>
    public static bool Contains(ReadOnlySpan<byte> message, MessageStructure structure, string needle, bool includeHeaders)
    {
        ArgumentNullException.ThrowIfNull(structure);
        ArgumentNullException.ThrowIfNull(needle);
        if (needle.Length == 0)
        {
            return true;
        }

        bool ascii = Ascii.IsValid(needle);
        byte[] needleBytes = Encoding.UTF8.GetBytes(needle);
        foreach (var range in structure.TextRanges())
        {
            if (range.IsHeader && !includeHeaders)
            {
                continue;
            }

            long start = Math.Min(range.Start, message.Length), end = Math.Min(range.End, message.Length);
            var raw = message[(int)start..(int)end];
            if (range.IsHeader)
            {
                if ((ascii && ContainsAsciiIgnoreCase(raw, needleBytes)) ||
                    (raw.IndexOf("=?"u8) >= 0 || !ascii) && Rfc2047.DecodeText(raw.ToArray()).Contains(needle, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }

                continue;
            }

            byte[]? decoded = TransferDecoding.Decode(range.Encoding, raw);
            var bytes = decoded is null ? raw : decoded.AsSpan();
            bool asciiCompatible = range.Charset is null || !IsUtf16Or32(range.Charset);
            if (ascii && asciiCompatible)
            {
                if (ContainsAsciiIgnoreCase(bytes, needleBytes))
                {
                    return true;
                }

                continue;
            }

            if (Text(bytes, range.Charset).Contains(needle, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsUtf16Or32(string charset) =>
        charset.StartsWith("utf-16", StringComparison.OrdinalIgnoreCase) || charset.StartsWith("utf-32", StringComparison.OrdinalIgnoreCase) ||
        charset.StartsWith("ucs", StringComparison.OrdinalIgnoreCase) || charset.Equals("unicode", StringComparison.OrdinalIgnoreCase);

    private static string Text(ReadOnlySpan<byte> bytes, string? charset)
    {
        Encoding encoding;
        try
        {
            encoding = charset is null ? Encoding.UTF8 : Encoding.GetEncoding(charset);
        }
        catch (NotSupportedException)
        {
            encoding = Encoding.UTF8;
        }
        catch (ArgumentException)
        {
            encoding = Encoding.UTF8;
        }

        return encoding.GetString(bytes);
    }

    /// <summary>Case-insensitive (ASCII) substring search: find candidates by the first byte in either case, then compare.</summary>
    internal static bool ContainsAsciiIgnoreCase(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle)
    {
        byte first = needle[0];
        byte lower = (byte)char.ToLowerInvariant((char)first), upper = (byte)char.ToUpperInvariant((char)first);
        var rest = needle[1..];
        int offset = 0;
        while (haystack.Length - offset >= needle.Length)
        {
            int i = lower == upper ? haystack[offset..].IndexOf(lower) : haystack[offset..].IndexOfAny(lower, upper);
            if (i < 0)
            {
                return false;
            }

            int at = offset + i;
            if (haystack.Length - at < needle.Length)
            {
                return false;
            }

            if (Ascii.EqualsIgnoreCase(haystack.Slice(at + 1, rest.Length), rest))
            {
                return true;
            }

            offset = at + 1;
        }

        return false;
    }
}
