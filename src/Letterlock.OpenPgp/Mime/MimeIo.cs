using System.Text;
using MimeKit;

namespace Letterlock.OpenPgp.Mime;

/// <summary>MIME serialisation helpers shared by the composer and the reader.</summary>
internal static class MimeIo
{
    private static readonly FormatOptions Crlf = CreateCrlf();

    private static FormatOptions CreateCrlf()
    {
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        return options;
    }

    /// <summary>The entity's canonical form (CRLF line endings), as signed and as encrypted.</summary>
    public static byte[] Canonical(MimeEntity entity)
    {
        using var output = new MemoryStream();
        entity.WriteTo(Crlf, output);
        return output.ToArray();
    }

    public static byte[] Canonical(MimeMessage message)
    {
        using var output = new MemoryStream();
        message.WriteTo(Crlf, output);
        return output.ToArray();
    }

    public static ParserOptions Parser(OpenPgpOptions options)
    {
        var parser = ParserOptions.Default.Clone();
        // One past our own limit, so that our depth walk sees (and rejects) anything too deep.
        parser.MaxMimeDepth = options.MaxMimeDepth + 1;
        return parser;
    }

    /// <summary>
    /// Checks <paramref name="data"/> against <see cref="OpenPgpOptions.MimeLimits"/> before any MimeKit parse (whose
    /// header parsing is quadratic in a field's folding and whose objects grow with the parts).
    /// </summary>
    /// <exception cref="LimitExceededException">A limit is exceeded; it names <c>MimeLimits.</c> and the limit.</exception>
    public static void CheckStructure(ReadOnlySpan<byte> data, OpenPgpOptions options)
    {
        if (MimeStructureScanner.Check(data, options.MimeLimits) is { } violation)
        {
            throw new LimitExceededException(nameof(OpenPgpOptions.MimeLimits) + "." + violation.Limit, violation.Allowed);
        }
    }

    public static MimeEntity LoadEntity(byte[] data, OpenPgpOptions options)
    {
        try
        {
            return MimeEntity.Load(Parser(options), new MemoryStream(data, writable: false));
        }
        catch (FormatException e)
        {
            throw new MalformedInputException("the decrypted content is not a MIME entity", e);
        }
    }

    public static byte[] Decoded(MimePart part)
    {
        using var output = new MemoryStream();
        part.Content?.DecodeTo(output);
        return output.ToArray();
    }

    /// <summary>Content-* and MIME-Version describe the entity, not the message; they are never copied.</summary>
    public static bool IsStructural(Header header) =>
        header.Field.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) ||
        header.Field.Equals("MIME-Version", StringComparison.OrdinalIgnoreCase);

    public static string? Parameter(ContentType type, string name) =>
        type.Parameters.TryGetValue(name, out string? value) ? value : null;

    /// <summary>A header whose pre-folded value is written exactly as given (Autocrypt keydata must be folded, never encoded).</summary>
    public static Header RawHeader(string field, string foldedValue)
    {
        var header = new Header(field, "x");
        header.SetRawValue(Encoding.ASCII.GetBytes(" " + foldedValue + "\r\n"));
        return header;
    }

    public static string Normalize(string? value) =>
        string.Join(' ', (value ?? "").Split([' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries));
}
