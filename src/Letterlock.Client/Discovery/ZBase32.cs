namespace Letterlock.Client.Discovery;

/// <summary>
/// z-base-32 (Zooko O'Whielacronx, "human-oriented base-32 encoding", 2002), as WKD uses it for the
/// hashed local part: 5-bit groups, most significant bit first, alphabet
/// <c>ybndrfg8ejkmcpqxot1uwisza345h769</c>, no padding.
/// </summary>
public static class ZBase32
{
    private const string Alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769";

    /// <summary>Encodes <paramref name="data"/>; the last group is padded with zero bits.</summary>
    public static string Encode(ReadOnlySpan<byte> data)
    {
        var output = new char[(data.Length * 8 + 4) / 5];
        int buffer = 0, bits = 0, at = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                output[at++] = Alphabet[(buffer >> bits) & 31];
            }
        }

        if (bits > 0)
        {
            output[at++] = Alphabet[(buffer << (5 - bits)) & 31];
        }

        return new string(output, 0, at);
    }
}
