using System.Text;

namespace Letterlock.OpenPgp;

/// <summary>
/// ASCII armor (RFC 9580, section 6.2) in and out, written here because BouncyCastle's armor
/// streams work byte by byte (the armor was most of the cost of a 10 KiB message). Output
/// carries no Version header, so nothing identifies the implementation, and a CRC-24 for older
/// readers; input must have matching BEGIN/END lines and, when present, a correct CRC-24.
/// </summary>
public static class Armor
{
    private static readonly byte[] BeginMarker = "-----BEGIN PGP "u8.ToArray();
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>True when <paramref name="data"/> starts (after optional whitespace) with an armor header line.</summary>
    public static bool IsArmored(ReadOnlySpan<byte> data) => TrimStart(data).StartsWith(BeginMarker);

    /// <summary>True when the data begins with an OpenPGP packet header (bit 7 set), armored or not.</summary>
    public static bool LooksLikeOpenPgp(ReadOnlySpan<byte> data) =>
        IsArmored(data) || (data.Length > 0 && (data[0] & 0x80) != 0);

    /// <summary>Armors binary OpenPGP data; the block type follows from the first packet's tag.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> binary) => Encode(binary, BlockType(binary), []);

    /// <summary>Armors binary data as <paramref name="label"/> with the given armor headers.</summary>
    internal static byte[] Encode(ReadOnlySpan<byte> binary, string label, IEnumerable<KeyValuePair<string, string>> headers)
    {
        var base64 = Convert.ToBase64String(binary);
        var builder = new StringBuilder(base64.Length + base64.Length / 64 + 128);
        builder.Append("-----BEGIN PGP ").Append(label).Append("-----\n");
        foreach (var (name, value) in headers)
        {
            builder.Append(name).Append(": ").Append(value).Append('\n');
        }

        builder.Append('\n');
        for (var i = 0; i < base64.Length; i += 64)
        {
            builder.Append(base64, i, Math.Min(64, base64.Length - i)).Append('\n');
        }

        var crc = Crc24(binary);
        Span<byte> crcBytes = [(byte)(crc >> 16), (byte)(crc >> 8), (byte)crc];
        builder.Append('=').Append(Convert.ToBase64String(crcBytes)).Append('\n');
        builder.Append("-----END PGP ").Append(label).Append("-----\n");
        return Encoding.ASCII.GetBytes(builder.ToString());
    }

    /// <summary>
    /// Removes armor if present and returns the binary packets; binary input is returned as is.
    /// A damaged armor (bad base64, CRC-24 mismatch, missing or mismatched END line) is a
    /// <see cref="MalformedInputException"/>.
    /// </summary>
    public static byte[] Decode(ReadOnlyMemory<byte> data, OpenPgpOptions? options = null)
    {
        options ??= OpenPgpOptions.Default;
        if (data.Length > options.MaxMessageSize)
        {
            throw new LimitExceededException(nameof(OpenPgpOptions.MaxMessageSize), options.MaxMessageSize);
        }

        if (!IsArmored(data.Span))
        {
            if (data.Length == 0 || (data.Span[0] & 0x80) == 0)
            {
                throw new MalformedInputException("input is neither ASCII-armored nor binary OpenPGP");
            }

            return data.ToArray();
        }

        var text = Encoding.ASCII.GetString(TrimStart(data.Span));
        var (binary, label, next) = DecodeArmored(text);
        if (label is not ("PUBLIC KEY BLOCK" or "PRIVATE KEY BLOCK"))
        {
            return binary;
        }

        // A keyring file may hold several armored key blocks one after the other.
        var all = new List<byte>(binary);
        while (next < text.Length && text.IndexOf($"-----BEGIN PGP {label}-----", next, StringComparison.Ordinal) is var start && start >= 0)
        {
            var (more, _, end) = DecodeArmored(text[start..]);
            all.AddRange(more);
            next = start + end;
        }

        return [.. all];
    }

    // armor = begin-line *(header-line) blank-line *(base64-line) [crc-line] end-line   (RFC 9580, 6.2)
    private static (byte[] Binary, string Label, int End) DecodeArmored(string text)
    {
        var lines = text.Split('\n');
        var begin = lines[0].TrimEnd();
        if (!begin.StartsWith("-----BEGIN PGP ", StringComparison.Ordinal) || !begin.EndsWith("-----", StringComparison.Ordinal))
        {
            throw new MalformedInputException("bad armor header line");
        }

        var label = begin["-----BEGIN PGP ".Length..^5];
        if (label == "SIGNED MESSAGE")
        {
            throw new MalformedInputException("a cleartext-signed message is not an armored OpenPGP block");
        }

        var i = 1;
        while (i < lines.Length && lines[i].Trim().Length > 0)
        {
            if (!lines[i].Contains(": ", StringComparison.Ordinal))
            {
                break; // no blank line after the header: tolerated, the line is data
            }

            i++;
        }

        var body = new StringBuilder();
        string? crcText = null;
        var ended = false;
        var consumed = 0;
        for (var k = 0; k < i; k++)
        {
            consumed += lines[k].Length + 1;
        }

        for (; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            consumed += lines[i].Length + 1;
            if (line.StartsWith("-----END PGP ", StringComparison.Ordinal))
            {
                if (line != $"-----END PGP {label}-----")
                {
                    throw new MalformedInputException("the armor END line does not match its BEGIN line");
                }

                ended = true;
                break;
            }

            if (line.StartsWith('=') && line.Length == 5)
            {
                crcText = line[1..];
                continue;
            }

            body.Append(line);
        }

        if (!ended)
        {
            throw new MalformedInputException("the armor has no END line (truncated)");
        }

        byte[] binary;
        try
        {
            binary = Convert.FromBase64String(body.ToString());
            if (crcText is not null)
            {
                var crc = Convert.FromBase64String(crcText);
                if (crc.Length != 3 || ((uint)crc[0] << 16 | (uint)crc[1] << 8 | crc[2]) != Crc24(binary))
                {
                    throw new MalformedInputException("the armor checksum does not match");
                }
            }
        }
        catch (FormatException e)
        {
            throw new MalformedInputException("the armor is not valid base64", e);
        }

        return binary.Length > 0 ? (binary, label, Math.Min(consumed, text.Length)) : throw new MalformedInputException("the armored block is empty");
    }

    /// <summary>The armor block type after <c>BEGIN PGP</c> ("MESSAGE", "PUBLIC KEY BLOCK", "SIGNED MESSAGE", ...), or empty if not armored.</summary>
    public static string Label(ReadOnlySpan<byte> data)
    {
        var trimmed = TrimStart(data);
        if (!trimmed.StartsWith(BeginMarker))
        {
            return "";
        }

        var rest = trimmed[BeginMarker.Length..];
        var end = rest.IndexOf("-----"u8);
        return end < 0 ? "" : Encoding.ASCII.GetString(rest[..end]);
    }

    private static string BlockType(ReadOnlySpan<byte> binary)
    {
        if (binary.IsEmpty)
        {
            return "MESSAGE";
        }

        // Packet tag: new format 0b11xxxxxx, old format 0b10ttttll (RFC 9580, 4.2).
        var first = binary[0];
        var tag = (first & 0x40) != 0 ? first & 0x3F : (first >> 2) & 0x0F;
        return tag switch
        {
            2 => "SIGNATURE",
            5 => "PRIVATE KEY BLOCK",
            6 => "PUBLIC KEY BLOCK",
            _ => "MESSAGE",
        };
    }

    // CRC-24 (RFC 9580, 6.1): init 0xB704CE, generator 0x1864CFB.
    private static uint Crc24(ReadOnlySpan<byte> data)
    {
        var crc = 0xB704CEu;
        foreach (var b in data)
        {
            crc = (crc << 8) ^ CrcTable[((crc >> 16) ^ b) & 0xFF];
        }

        return crc & 0xFFFFFF;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var crc = i << 16;
            for (var bit = 0; bit < 8; bit++)
            {
                crc <<= 1;
                if ((crc & 0x1000000) != 0)
                {
                    crc ^= 0x1864CFB;
                }
            }

            table[i] = crc & 0xFFFFFF;
        }

        return table;
    }

    private static ReadOnlySpan<byte> TrimStart(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length && data[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            i++;
        }

        return data[i..];
    }
}
