using System.Text;
using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp;

/// <summary>
/// The Cleartext Signature Framework (RFC 9580, section 7):
/// <code>
/// -----BEGIN PGP SIGNED MESSAGE-----
/// Hash: SHA512
///
/// dash-escaped text
/// -----BEGIN PGP SIGNATURE-----
/// ...
/// </code>
/// The signed text is the text with trailing whitespace removed from each line, line endings
/// made CRLF, and without the line ending before the signature's armor header.
/// </summary>
internal static class CleartextSignature
{
    /// <param name="Text">The message text as shown (dash-unescaped, LF line endings, final newline).</param>
    /// <param name="SignedText">Exactly the signed text with LF line endings: trailing whitespace removed, no final newline.</param>
    /// <param name="Signatures">The signatures.</param>
    public sealed record Parsed(byte[] Text, byte[] SignedText, List<PgpSignature> Signatures);

    public static byte[] Sign(ReadOnlySpan<byte> data, List<PgpSignatureGenerator> generators)
    {
        var text = Encoding.UTF8.GetString(data);
        var lines = SplitLines(text);
        if (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1); // a final newline is the framework's, not the text's
        }

        var canonical = Canonicalize(lines);
        foreach (var g in generators)
        {
            g.Update(canonical);
        }

        using var signatures = new MemoryStream();
        foreach (var g in generators)
        {
            g.Generate().Encode(signatures);
        }

        var output = new StringBuilder();
        output.Append("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n");
        foreach (var line in lines)
        {
            output.Append(line.StartsWith('-') ? "- " + line : line).Append('\n');
        }

        var head = Encoding.UTF8.GetBytes(output.ToString());
        var armored = Armor.Encode(signatures.ToArray());
        return [.. head, .. armored];
    }

    public static Parsed Parse(ReadOnlySpan<byte> message, OpenPgpOptions options)
    {
        var text = Encoding.UTF8.GetString(message);
        var lines = SplitLines(text);
        var i = 0;
        while (i < lines.Count && lines[i].Trim().Length == 0)
        {
            i++;
        }

        if (i >= lines.Count || lines[i].TrimEnd() != "-----BEGIN PGP SIGNED MESSAGE-----")
        {
            throw new MalformedInputException("not a cleartext-signed message");
        }

        i++;
        // Armor headers ("Hash: ..."), then an empty line.
        while (i < lines.Count && lines[i].Trim().Length > 0)
        {
            if (!lines[i].StartsWith("Hash:", StringComparison.Ordinal))
            {
                throw new MalformedInputException("unexpected header in a cleartext-signed message");
            }

            i++;
        }

        i++;
        var body = new List<string>();
        while (i < lines.Count && !lines[i].StartsWith("-----BEGIN PGP SIGNATURE-----", StringComparison.Ordinal))
        {
            var line = lines[i];
            if (line.StartsWith("- ", StringComparison.Ordinal))
            {
                line = line[2..];
            }
            else if (line.StartsWith('-'))
            {
                throw new MalformedInputException("a line starting with '-' is not dash-escaped");
            }

            body.Add(line);
            i++;
        }

        if (i >= lines.Count)
        {
            throw new MalformedInputException("the cleartext signature is missing");
        }

        var signatureText = string.Join("\n", lines.Skip(i));
        var binary = Armor.Decode(Encoding.UTF8.GetBytes(signatureText), options);
        var signatures = new List<PgpSignature>();
        PacketGuard.Run(() =>
        {
            var factory = new PgpObjectFactory(binary);
            while (factory.NextPgpObject() is { } obj)
            {
                if (obj is not PgpSignatureList list)
                {
                    throw new MalformedInputException("expected signatures after the cleartext");
                }

                if (signatures.Count + list.Count > options.MaxPacketCount)
                {
                    throw new LimitExceededException(nameof(OpenPgpOptions.MaxPacketCount), options.MaxPacketCount);
                }

                for (var k = 0; k < list.Count; k++)
                {
                    signatures.Add(list[k]);
                }
            }
        });
        if (signatures.Count == 0)
        {
            throw new MalformedInputException("no signature in the cleartext-signed message");
        }

        return new Parsed(
            Encoding.UTF8.GetBytes(string.Join("\n", body) + "\n"),
            Encoding.UTF8.GetBytes(string.Join("\n", body.Select(l => l.TrimEnd(' ', '\t')))),
            signatures);
    }

    private static byte[] Canonicalize(List<string> lines) =>
        Encoding.UTF8.GetBytes(string.Join("\r\n", lines.Select(l => l.TrimEnd(' ', '\t'))));

    private static List<string> SplitLines(string text) =>
        [.. text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n')];
}
