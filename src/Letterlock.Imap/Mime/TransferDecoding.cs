using MimeKit.Encodings;

namespace Letterlock.Imap.Mime;

/// <summary>
/// Undoes a Content-Transfer-Encoding (RFC 2045, 6) for BINARY fetches (RFC 3516) and text search.
/// Quoted-printable is decoded here, following the rules of RFC 2045, 6.7 exactly; base64 by MimeKit.
/// </summary>
public static class TransferDecoding
{
    /// <summary>The decoded bytes, or null for an encoding this server does not know (answered with UNKNOWN-CTE).</summary>
    /// <param name="encoding">The Content-Transfer-Encoding value.</param>
    /// <param name="raw">The encoded body.</param>
    public static byte[]? Decode(string encoding, ReadOnlySpan<byte> raw)
    {
        ArgumentNullException.ThrowIfNull(encoding);
        switch (encoding.Trim().ToLowerInvariant())
        {
            case "7bit" or "8bit" or "binary" or "":
                return raw.ToArray();
            case "quoted-printable":
                return DecodeQuotedPrintable(raw);
            case "base64":
            {
                var decoder = new Base64Decoder();
                var input = raw.ToArray();
                var output = new byte[decoder.EstimateOutputLength(input.Length)];
                int n = decoder.Decode(input, 0, input.Length, output);
                Array.Resize(ref output, n);
                return output;
            }

            default:
                return null;
        }
    }

    /// <summary>
    /// Decodes quoted-printable. Per RFC 2045, 6.7: (1) <c>"=" 2(HEXDIG)</c> is an octet (lower-case digits
    /// accepted, as the RFC suggests robust decoders do); (3) whitespace at the end of an encoded line is
    /// transport padding and is deleted; (5) an <c>"="</c> at the end of a line, padding after it allowed, is a
    /// soft line break and is deleted with the line break; a hard line break is kept as written (CRLF, or a
    /// bare LF). An <c>"="</c> not followed by two hex digits is kept as it is.
    /// </summary>
    public static byte[] DecodeQuotedPrintable(ReadOnlySpan<byte> raw)
    {
        var output = new byte[raw.Length];
        int o = 0;
        while (!raw.IsEmpty)
        {
            int lf = raw.IndexOf((byte)'\n');
            var line = lf < 0 ? raw : raw[..lf];
            int breakLength = lf < 0 ? 0 : 1;
            if (line.Length > 0 && line[^1] == '\r')
            {
                line = line[..^1];
                breakLength++;
            }

            var lineBreak = lf < 0 ? [] : raw.Slice(line.Length, breakLength);
            raw = lf < 0 ? [] : raw[(lf + 1)..];

            // Rule 3: trailing SPACE and TAB are padding added in transport.
            line = line.TrimEnd(" \t"u8);
            bool soft = line.Length > 0 && line[^1] == '=';
            if (soft)
            {
                line = line[..^1];
            }

            for (int i = 0; i < line.Length; i++)
            {
                if (line[i] == '=' && i + 2 < line.Length && Hex(line[i + 1]) is int hi && Hex(line[i + 2]) is int lo)
                {
                    output[o++] = (byte)((hi << 4) | lo);
                    i += 2;
                }
                else
                {
                    output[o++] = line[i];
                }
            }

            if (!soft)
            {
                lineBreak.CopyTo(output.AsSpan(o));
                o += lineBreak.Length;
            }
        }

        Array.Resize(ref output, o);
        return output;
    }

    private static int? Hex(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        _ => null,
    };
}
