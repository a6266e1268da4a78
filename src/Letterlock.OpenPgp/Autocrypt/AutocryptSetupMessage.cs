using System.Security.Cryptography;
using System.Text;
using MimeKit;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp.Autocrypt;

/// <summary>
/// The Autocrypt Setup Message (Level 1, section 4.4): the secret key, ASCII-armored with an
/// <c>Autocrypt-Prefer-Encrypt</c> header, symmetrically encrypted (AES-128 as the spec requires,
/// iterated+salted S2K, MDC) under a 36-digit setup code, sent to oneself.
/// </summary>
public static class AutocryptSetupMessage
{
    /// <summary>The header marking a setup message.</summary>
    public const string HeaderName = "Autocrypt-Setup-Message";

    /// <summary>
    /// Creates the setup message and its setup code (nine blocks of four digits joined by
    /// <c>-</c>; the whole string is the passphrase). Show the code to the user, never send it.
    /// The key travels without its own passphrase (other clients expect that); the setup code
    /// protects it, and <see cref="Import"/> callers re-protect it at once.
    /// </summary>
    public static (MimeMessage Message, string SetupCode) Create(SecretKey key, ReadOnlySpan<char> passphrase, string address, PreferEncrypt preferEncrypt)
    {
        var code = NewSetupCode();
        var unprotected = key.IsProtected ? key.ChangePassphrase(passphrase, ReadOnlySpan<char>.Empty) : key;
        var inner = Encoding.ASCII.GetString(unprotected.Export(armored: true));
        if (preferEncrypt == PreferEncrypt.Mutual)
        {
            // Armor headers follow the BEGIN line: "Autocrypt-Prefer-Encrypt: mutual".
            var firstBreak = inner.IndexOf('\n', StringComparison.Ordinal);
            inner = inner[..(firstBreak + 1)] + "Autocrypt-Prefer-Encrypt: mutual\n" + inner[(firstBreak + 1)..];
        }

        var generator = new PgpEncryptedDataGenerator(SymmetricKeyAlgorithmTag.Aes128, true, KeyGenerator.Random);
        generator.AddMethodUtf8(code.ToCharArray(), HashAlgorithmTag.Sha256);
        var literal = new MemoryStream();
        var payload = Encoding.ASCII.GetBytes(inner);
        using (var l = new PgpLiteralDataGenerator().Open(literal, PgpLiteralData.Binary, "", payload.Length, DateTime.UtcNow))
        {
            l.Write(payload);
        }

        var encrypted = new MemoryStream();
        using (var stream = generator.Open(encrypted, literal.Length))
        {
            stream.Write(literal.ToArray());
        }

        var armored = Armor.Encode(encrypted.ToArray(), "MESSAGE",
            [new("Passphrase-Format", "numeric9x4"), new("Passphrase-Begin", code[..2])]);

        var html = "<html><body><p>This is the Autocrypt Setup Message used to transfer your key between clients.</p>\r\n<pre>\r\n"
            + Encoding.ASCII.GetString(armored).Replace("\n", "\r\n", StringComparison.Ordinal).Replace("\r\r\n", "\r\n", StringComparison.Ordinal)
            + "</pre></body></html>\r\n";
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(address));
        message.To.Add(MailboxAddress.Parse(address));
        message.Subject = "Autocrypt Setup Message";
        message.Date = DateTimeOffset.UtcNow;
        message.Headers.Add(HeaderName, "v1");
        var body = new Multipart("mixed")
        {
            new TextPart("plain")
            {
                Text = "This is the Autocrypt Setup Message used to transfer your end-to-end setup between clients.\r\n\r\n"
                    + "To decrypt and use your setup, open the message in an Autocrypt-compliant client and enter the setup code presented on the generating device.\r\n",
            },
            new MimePart("application", "autocrypt-setup")
            {
                Content = new MimeContent(new MemoryStream(Encoding.ASCII.GetBytes(html))),
                ContentDisposition = new ContentDisposition(ContentDisposition.Attachment) { FileName = "autocrypt-setup-message.html" },
                ContentTransferEncoding = ContentEncoding.SevenBit,
            },
        };
        message.Body = body;
        return (message, code);
    }

    /// <summary>
    /// Imports a setup message with its setup code: decrypts strictly (MDC required) and returns
    /// the secret key and the preference it carried.
    /// </summary>
    /// <exception cref="MalformedInputException">The message is not a setup message.</exception>
    /// <exception cref="NoDecryptionKeyException">The setup code is wrong.</exception>
    public static (SecretKey Key, PreferEncrypt PreferEncrypt) Import(MimeMessage message, string setupCode, OpenPgpOptions? options = null)
    {
        if (message.Headers[HeaderName]?.Trim() != "v1")
        {
            throw new MalformedInputException("not an Autocrypt Setup Message (v1)");
        }

        var part = message.BodyParts.OfType<MimePart>().FirstOrDefault(p => p.ContentType.IsMimeType("application", "autocrypt-setup"))
            ?? throw new MalformedInputException("the setup message has no application/autocrypt-setup part");
        using var content = new MemoryStream();
        (part.Content ?? throw new MalformedInputException("the setup part is empty")).DecodeTo(content);
        var text = Encoding.ASCII.GetString(content.ToArray());
        var begin = text.IndexOf("-----BEGIN PGP MESSAGE-----", StringComparison.Ordinal);
        var end = text.IndexOf("-----END PGP MESSAGE-----", StringComparison.Ordinal);
        if (begin < 0 || end < begin)
        {
            throw new MalformedInputException("the setup message holds no encrypted payload");
        }

        var armored = Encoding.ASCII.GetBytes(text[begin..(end + "-----END PGP MESSAGE-----".Length)] + "\n");
        var normalized = string.Concat(setupCode.Where(c => char.IsDigit(c) || c == '-'));
        var digits = string.Concat(normalized.Where(char.IsDigit));
        var candidates = new[] { setupCode.Trim(), normalized, Format(digits) }.Distinct().ToList();
        var result = new OpenPgpEngine(options).Decrypt(armored, new DecryptOptions { Passwords = candidates });
        var keyText = Encoding.ASCII.GetString(result.Plaintext);
        var prefer = keyText.Contains("Autocrypt-Prefer-Encrypt: mutual", StringComparison.Ordinal) ? PreferEncrypt.Mutual : PreferEncrypt.NoPreference;
        return (SecretKey.Parse(result.Plaintext, options), prefer);
    }

    /// <summary>A new setup code: 36 random decimal digits in nine dash-separated blocks of four.</summary>
    public static string NewSetupCode()
    {
        var digits = new StringBuilder(36);
        for (var i = 0; i < 36; i++)
        {
            digits.Append((char)('0' + RandomNumberGenerator.GetInt32(10)));
        }

        return Format(digits.ToString());
    }

    private static string Format(string digits) =>
        digits.Length == 36 ? string.Join('-', Enumerable.Range(0, 9).Select(i => digits.Substring(i * 4, 4))) : digits;
}
