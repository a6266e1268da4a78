using System.Text;
using Org.BouncyCastle.Bcpg;

namespace Letterlock.OpenPgp;

/// <summary>
/// ASCII armor (RFC 9580, section 6) in and out. Output carries no Version header, so nothing
/// identifies the implementation.
/// </summary>
public static class Armor
{
    private static readonly byte[] BeginMarker = "-----BEGIN PGP "u8.ToArray();

    /// <summary>True when <paramref name="data"/> starts (after optional whitespace) with an armor header line.</summary>
    public static bool IsArmored(ReadOnlySpan<byte> data)
    {
        var trimmed = TrimStart(data);
        return trimmed.StartsWith(BeginMarker);
    }

    /// <summary>True when the data begins with an OpenPGP packet header (bit 7 set), armored or not.</summary>
    public static bool LooksLikeOpenPgp(ReadOnlySpan<byte> data) =>
        IsArmored(data) || (data.Length > 0 && (data[0] & 0x80) != 0);

    /// <summary>Armors binary OpenPGP data; the block type follows from the first packet.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> binary)
    {
        using var output = new MemoryStream(binary.Length * 4 / 3 + 128);
        using (var armored = new ArmoredOutputStream(output, false))
        {
            armored.Write(binary);
        }

        return output.ToArray();
    }

    /// <summary>
    /// Removes armor if present and returns the binary packets; binary input is returned as is.
    /// A bad armor checksum or base64 error is a <see cref="MalformedInputException"/>.
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

        try
        {
            using var input = new ArmoredInputStream(new MemoryStream(data.ToArray(), writable: false));
            if (input.IsClearText())
            {
                throw new MalformedInputException("a cleartext-signed message is not an armored OpenPGP block");
            }

            using var output = new MemoryStream();
            input.CopyTo(output);
            var result = output.ToArray();
            if (result.Length == 0)
            {
                throw new MalformedInputException("the armored block is empty");
            }

            return result;
        }
        catch (OpenPgpException)
        {
            throw;
        }
        catch (Exception e) when (e is IOException or FormatException or ArgumentException or InvalidOperationException)
        {
            throw new MalformedInputException("the ASCII armor is damaged", e);
        }
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
