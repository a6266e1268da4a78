using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.OpenPgp;
using Letterlock.OpenPgp.Mime;
using MimeKit;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.Client.Tests.Mail;

/// <summary>
/// What the mail app is shown: forged <c>Letterlock-*</c> indicators are gone at every MIME level it renders, look-alike
/// names included, and an encrypted message that fails its integrity check is shown as refused, never as plaintext or
/// as raw ciphertext marked <c>none</c> (DESIGN.md invariant 4).
/// </summary>
public sealed class IndicatorAndIntegrityTests : AliceAndBobStore
{
    private const string Marker = "FORGED-INDICATOR";
    private const string Secret = "Quetzal-Secret-4711";

    /// <summary>Field names a reader could take for a Letterlock indicator: the real one, case, ASCII and Unicode look-alikes.</summary>
    public static TheoryData<string> LookAlikeNames() => new()
    {
        "Letterlock-Signature",
        "LETTERLOCK-ENCRYPTION",
        "letterlock-signature",
        "Letterlock-Verified",
        "Letterlock_Signature",
        "Letterlock.Signature",
        "LetterlockSignature",
        "Letterl0ck-Signature",
        "LetterIock-Signature",
        "Letter1ock-Signature",
        "Letter|ock-Signature",
        "Letterlock\u2010Signature", // HYPHEN
        "Letterlock\u2011Signature", // NON-BREAKING HYPHEN
        "Letterlock\u2013Signature", // EN DASH
        "Letterlock\u2212Signature", // MINUS SIGN
        "Letterlock\uFE63Signature", // SMALL HYPHEN-MINUS
        "Letterlock\u00ADSignature", // SOFT HYPHEN
        "Letter\u200Block-Signature", // ZERO WIDTH SPACE
        "L\u0435tterlock-Signature", // CYRILLIC SMALL LETTER IE
        "Letterl\u043Eck-Signature", // CYRILLIC SMALL LETTER O
        "\uFF2Cetterlock-Signature", // FULLWIDTH LATIN CAPITAL LETTER L
        "\u2112etterlock-Signature", // SCRIPT CAPITAL L
        "Letter\u217Cock-Signature", // SMALL ROMAN NUMERAL FIFTY
        "L\u0415TTERLOCK-SIGNATURE", // CYRILLIC CAPITAL LETTER IE, upper case
        "\uFF4C\uFF45\uFF54\uFF54\uFF45\uFF52\uFF4C\uFF4F\uFF43\uFF4B-Signature", // FULLWIDTH small letters
        "LeTtErLoCk-SiGnAtUrE", // mixed case
        "=?utf-8?q?Letterlock-Signature?=", // RFC 2047 encoded word, which field names may not carry but apps may decode
        "=?utf-8?b?TGV0dGVybG9jay1TaWduYXR1cmU=?=", // the same, base64
        "=?utf-8?q?Letterlock=E2=80=90Signature?=", // encoded U+2010
    };

    [Theory]
    [MemberData(nameof(LookAlikeNames))]
    public async Task A_forged_indicator_is_removed_at_every_mime_level_whatever_it_looks_like(string name)
    {
        string forged = $"{name}: valid; trust=verified; {Marker}\r\n";
        string nestedMessage =
            "From: boss@beta.test\r\nTo: alice@alpha.test\r\nSubject: inner\r\n" + forged +
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n" +
            "--in\r\nContent-Type: text/plain\r\n" + forged + "\r\nnested body text\r\n--in--\r\n";
        string raw =
            "From: Bob <bob@beta.test>\r\nTo: Alice <alice@alpha.test>\r\nSubject: levels\r\nDate: Tue, 01 Apr 2025 10:00:00 +0000\r\n" + forged +
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
            "--outer\r\nContent-Type: text/plain; charset=utf-8\r\n" + forged + "\r\nbody text\r\n" +
            "--outer\r\nContent-Type: message/rfc822\r\n" + forged + "\r\n" + nestedMessage + "\r\n" +
            "--outer\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            Convert.ToBase64String(Encoding.UTF8.GetBytes(nestedMessage), Base64FormattingOptions.InsertLineBreaks) + "\r\n" +
            "--outer\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: boss@beta.test\r\n" + forged + "Subject: headers only\r\n\r\n" +
            "--outer--\r\n";

        var result = await new IncomingMailProcessor(Store, Alice, AliceKey).ProcessAsync(Encoding.UTF8.GetBytes(raw));
        var stored = await MimeMessage.LoadAsync(new MemoryStream((await Store.Mail(Alice.Id).ReadBodyAsync(result.Message.Id))!));
        var fields = AllHeaderFields(stored).ToList();
        Assert.DoesNotContain(fields, f => (f.Field + ":" + f.Value).Contains(Marker, StringComparison.Ordinal));
        Assert.DoesNotContain(Marker, Encoding.UTF8.GetString((await Store.Mail(Alice.Id).ReadBodyAsync(result.Message.Id))!), StringComparison.Ordinal);
        Assert.Equal(["none"], stored.Headers.Where(h => h.Field == "Letterlock-Signature").Select(h => h.Value.Trim()));
        Assert.Equal(["none"], stored.Headers.Where(h => h.Field == "Letterlock-Encryption").Select(h => h.Value.Trim()));

        // Content stays: only the fields went.
        string text = string.Join("\n", AllText(stored));
        Assert.Contains("body text", text, StringComparison.Ordinal);
        Assert.Equal(2, CountOf(text, "nested body text"));
        Assert.Contains(fields, f => f.Value.Contains("headers only", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Forged_indicators_inside_decrypted_mail_are_removed_too()
    {
        string inner = "From: Bob <bob@beta.test>\r\nTo: Alice <alice@alpha.test>\r\nSubject: sealed\r\nMIME-Version: 1.0\r\n" +
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\nLetterlock\u2010Encryption: end-to-end; " + Marker + "\r\n\r\n" +
            $"{Secret}\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@beta.test\r\nLetterlock-Signature: valid; {Marker}\r\n\r\nhi\r\n--b--\r\n";
        var message = await MimeMessage.LoadAsync(new MemoryStream(Encoding.UTF8.GetBytes(inner)));
        var encrypted = new PgpMimeComposer().Encrypt(message, Bob.SecretKey.Unlock(),
            new Dictionary<string, Certificate> { ["alice@alpha.test"] = AliceKey.Certificate })[0].Message;

        var result = await new IncomingMailProcessor(Store, Alice, AliceKey).ProcessAsync(IncomingMailProcessor.Canonical(encrypted));
        Assert.Equal(EncryptionState.EndToEnd, result.Security.Encryption);
        var stored = await MimeMessage.LoadAsync(new MemoryStream((await Store.Mail(Alice.Id).ReadBodyAsync(result.Message.Id))!));
        Assert.Contains(Secret, string.Join("\n", AllText(stored)), StringComparison.Ordinal);
        Assert.DoesNotContain(AllHeaderFields(stored), f => (f.Field + ":" + f.Value).Contains(Marker, StringComparison.Ordinal));
        Assert.Equal("end-to-end", stored.Headers["Letterlock-Encryption"]);
    }

    public static TheoryData<string, string> IntegrityFailures()
    {
        var data = new TheoryData<string, string>();
        foreach (string damage in new[] { "no-mdc", "modified", "truncated" })
        {
            foreach (string form in new[] { "pgp-mime", "inline" })
            {
                data.Add(damage, form);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(IntegrityFailures))]
    public async Task An_integrity_failure_is_shown_as_refused_never_as_plaintext_or_as_ciphertext_marked_none(string damage, string form)
    {
        byte[] literal = Literal(Encoding.UTF8.GetBytes(
            $"Content-Type: text/plain\r\n\r\nThe plan: {Secret}. <img src=\"https://evil.test/leak?\">\r\n" + new string('x', 3000) + "\r\n"));
        byte[] ciphertext = Craft(literal, withMdc: damage != "no-mdc");
        if (damage == "modified")
        {
            ciphertext[ciphertext.Length / 2] ^= 0x20; // CFB malleability, as EFAIL uses it
        }
        else if (damage == "truncated")
        {
            ciphertext = ciphertext[..(ciphertext.Length - 40)];
        }

        string armored = Encoding.ASCII.GetString(Armor.Encode(ciphertext));
        string headers = "From: Bob <bob@beta.test>\r\nTo: Alice <alice@alpha.test>\r\nSubject: [...]\r\nDate: Tue, 01 Apr 2025 10:00:00 +0000\r\n" +
            "Message-ID: <refused@beta.test>\r\nMIME-Version: 1.0\r\n";
        string raw = form == "pgp-mime"
            ? headers + "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b1\"\r\n\r\n" +
              "--b1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n" +
              "--b1\r\nContent-Type: application/octet-stream\r\n\r\n" + armored + "\r\n--b1--\r\n"
            : headers + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + armored + "\r\n";

        var result = await new IncomingMailProcessor(Store, Alice, AliceKey).ProcessAsync(Encoding.ASCII.GetBytes(raw));
        string stored = Encoding.UTF8.GetString((await Store.Mail(Alice.Id).ReadBodyAsync(result.Message.Id))!);
        var parsed = await MimeMessage.LoadAsync(new MemoryStream(Encoding.UTF8.GetBytes(stored)));
        Assert.Equal("failed; reason=integrity", parsed.Headers["Letterlock-Encryption"]);
        Assert.Equal("none", parsed.Headers["Letterlock-Signature"]);
        Assert.Equal("Failed", result.Message.Summary.Security.Encryption.ToString());
        Assert.DoesNotContain(Secret, stored, StringComparison.Ordinal);
        Assert.DoesNotContain("evil.test", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(parsed.BodyParts.OfType<TextPart>(), p => p.Text.Contains("BEGIN PGP MESSAGE", StringComparison.Ordinal)); // no ciphertext shown as text
        Assert.Contains("refused to open it", parsed.TextBody, StringComparison.Ordinal);
        Assert.Equal("<refused@beta.test>", "<" + parsed.MessageId + ">");
        Assert.Equal("bob@beta.test", parsed.From.Mailboxes.Single().Address);

        // Nothing is lost: the message as received is attached, byte for byte.
        var attachment = parsed.Attachments.OfType<MimePart>().Single();
        using var original = new MemoryStream();
        await attachment.Content!.DecodeToAsync(original);
        Assert.Equal(raw, Encoding.ASCII.GetString(original.ToArray()));
    }

    [Fact]
    public async Task Mail_sealed_to_no_key_of_the_account_is_shown_as_refused_with_its_reason()
    {
        var carol = KeyGenerator.Generate("Carol <carol@gamma.test>", ReadOnlySpan<char>.Empty);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("bob@beta.test"));
        message.To.Add(MailboxAddress.Parse("carol@gamma.test"));
        message.Subject = "not yours";
        message.Body = new TextPart("plain") { Text = Secret };
        var encrypted = new PgpMimeComposer().Encrypt(message, Bob.SecretKey.Unlock(),
            new Dictionary<string, Certificate> { ["carol@gamma.test"] = carol.Certificate })[0].Message;
        var result = await new IncomingMailProcessor(Store, Alice, AliceKey).ProcessAsync(IncomingMailProcessor.Canonical(encrypted));
        var parsed = await MimeMessage.LoadAsync(new MemoryStream((await Store.Mail(Alice.Id).ReadBodyAsync(result.Message.Id))!));
        Assert.Equal("failed; reason=no-key", parsed.Headers["Letterlock-Encryption"]);
        Assert.Single(parsed.Attachments);
    }

    private byte[] Craft(byte[] inner, bool withMdc)
    {
        var generator = new PgpEncryptedDataGenerator(SymmetricKeyAlgorithmTag.Aes256, withMdc, new Org.BouncyCastle.Security.SecureRandom());
        var subkey = AliceKey.Certificate.SelectEncryptionKey(DateTimeOffset.UtcNow)!.Fingerprint.ToBytes();
        var ring = new PgpPublicKeyRing(AliceKey.Certificate.Export(armored: false));
        generator.AddMethod(ring.GetPublicKeys().Cast<PgpPublicKey>().Single(k => k.GetFingerprint().AsSpan().SequenceEqual(subkey)));
        using var output = new MemoryStream();
        using (var stream = generator.Open(output, inner.Length))
        {
            stream.Write(inner);
        }

        return output.ToArray();
    }

    private static byte[] Literal(byte[] content)
    {
        using var output = new MemoryStream();
        using (var literal = new PgpLiteralDataGenerator().Open(output, PgpLiteralData.Binary, "", content.Length, DateTime.UtcNow))
        {
            literal.Write(content);
        }

        return output.ToArray();
    }

    private static int CountOf(string text, string value)
    {
        int count = 0;
        for (int i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    /// <summary>Every header field a mail app could render: of the message, each part, each attached message (decoded too).</summary>
    private static IEnumerable<Header> AllHeaderFields(MimeMessage message)
    {
        foreach (var header in message.Headers)
        {
            yield return header;
        }

        if (message.Body is null)
        {
            yield break;
        }

        foreach (var entity in Entities(message.Body))
        {
            foreach (var header in entity.Headers)
            {
                yield return header;
            }

            if (entity is MessagePart { Message: { } attached })
            {
                foreach (var header in AllHeaderFields(attached))
                {
                    yield return header;
                }
            }
            else if (entity is MimePart { Content: { } content } part && (part.ContentType.MediaType == "message" || part.ContentType.IsMimeType("text", "rfc822-headers")))
            {
                using var decoded = new MemoryStream();
                content.DecodeTo(decoded);
                decoded.Position = 0;
                foreach (var header in HeaderList.Load(decoded))
                {
                    yield return header;
                }
            }
        }
    }

    private static IEnumerable<string> AllText(MimeMessage message)
    {
        if (message.Body is null)
        {
            yield break;
        }

        foreach (var entity in Entities(message.Body))
        {
            switch (entity)
            {
                case MessagePart { Message: { } attached }:
                    foreach (string text in AllText(attached))
                    {
                        yield return text;
                    }

                    break;
                case MimePart { Content: { } content }:
                    using (var decoded = new MemoryStream())
                    {
                        content.DecodeTo(decoded);
                        yield return Encoding.UTF8.GetString(decoded.ToArray());
                    }

                    break;
            }
        }
    }

    private static IEnumerable<MimeEntity> Entities(MimeEntity root)
    {
        yield return root;
        if (root is Multipart multipart)
        {
            foreach (var child in multipart)
            {
                foreach (var entity in Entities(child))
                {
                    yield return entity;
                }
            }
        }
    }
}
