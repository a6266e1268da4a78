using System.Text;
using Letterlock.Relay.Dkim;
using Letterlock.Relay.Tests.Peers;
using MimeKit;

namespace Letterlock.Relay.Tests.Dkim;

[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class DkimSigningTests
{
    private static readonly Lazy<DkimKey> RsaKey = new(() => DkimKey.Generate("rsa1", DkimKeyType.Rsa));
    private static readonly Lazy<DkimKey> EdKey = new(() => DkimKey.Generate("ed1", DkimKeyType.Ed25519));

    private static DkimSigning Signing() => new("alpha.test", [EdKey.Value, RsaKey.Value]);

    private static Dictionary<string, string> Records() => new()
    {
        [RsaKey.Value.DnsName("alpha.test")] = RsaKey.Value.TxtRecord,
        [EdKey.Value.DnsName("alpha.test")] = EdKey.Value.TxtRecord,
    };

    internal static MimeMessage SampleMessage(string body = "Hello Bob,\r\n\r\nthis line has trailing spaces   \r\nand non-ASCII: caf\u00e9.\r\n")
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@alpha.test"));
        message.To.Add(new MailboxAddress("Bob", "bob@beta.test"));
        message.Subject = "Lunch on Friday?";
        message.Date = new DateTimeOffset(2025, 5, 6, 7, 8, 9, TimeSpan.Zero);
        message.MessageId = "dkim-test@alpha.test";
        message.Body = new TextPart("plain") { Text = body, ContentTransferEncoding = ContentEncoding.QuotedPrintable };
        return message;
    }

    private static byte[] Serialize(MimeMessage message)
    {
        using var memory = new MemoryStream();
        message.WriteTo(DkimSigning.Format, memory);
        return memory.ToArray();
    }

    [Fact]
    public void Sign_adds_an_ed25519_and_an_rsa_signature_over_the_same_headers()
    {
        var message = SampleMessage();
        Signing().Sign(message);
        var signatures = message.Headers.Where(h => h.Id == HeaderId.DkimSignature).Select(h => h.Value).ToList();
        Assert.Equal(2, signatures.Count);
        Assert.Contains(signatures, s => s.Contains("a=ed25519-sha256", StringComparison.Ordinal) && s.Contains("s=ed1", StringComparison.Ordinal));
        Assert.Contains(signatures, s => s.Contains("a=rsa-sha256", StringComparison.Ordinal) && s.Contains("s=rsa1", StringComparison.Ordinal));
        Assert.All(signatures, s => Assert.Contains("c=relaxed/relaxed", s, StringComparison.Ordinal));
        Assert.All(signatures, s => Assert.DoesNotContain("l=", s.Replace("; ", ";", StringComparison.Ordinal).Split(';').Select(t => t.Trim()[..Math.Min(2, t.Trim().Length)])));
    }

    [Fact]
    public async Task Python_dkim_verifies_both_signatures()
    {
        var message = SampleMessage();
        Signing().Sign(message);
        var result = await DkimVerifiers.PythonDkimAsync(Serialize(message), Records());
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("pass a=ed25519-sha256 s=ed1", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("pass a=rsa-sha256 s=rsa1", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_dkim_rejects_a_changed_body()
    {
        var message = SampleMessage();
        Signing().Sign(message);
        byte[] bytes = Serialize(message);
        string text = Encoding.ASCII.GetString(bytes).Replace("Friday", "Monday", StringComparison.Ordinal).Replace("Hello Bob", "Hello Rob", StringComparison.Ordinal);
        var result = await DkimVerifiers.PythonDkimAsync(Encoding.ASCII.GetBytes(text), Records());
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("fail a=ed25519-sha256", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("fail a=rsa-sha256", result.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task OpenDkim_verifies_each_signature_on_its_own(int index)
    {
        var message = SampleMessage();
        Signing().Sign(message);
        byte[] single = DkimVerifiers.KeepOnlySignature(Serialize(message), index);
        var result = await DkimVerifiers.OpenDkimAsync(single, Records());
        Assert.True(result.ExitCode == 0, result.ToString());

        // the same verifier fails once the body changes, so the pass above means something
        string tampered = Encoding.ASCII.GetString(single).Replace("Hello Bob", "Hello Rob", StringComparison.Ordinal);
        var bad = await DkimVerifiers.OpenDkimAsync(Encoding.ASCII.GetBytes(tampered), Records());
        Assert.NotEqual(0, bad.ExitCode);
    }

    [Fact]
    public async Task The_mime_fields_are_signed_and_from_to_subject_are_over_signed()
    {
        var message = SampleMessage();
        message.Body!.ContentDisposition = new ContentDisposition(ContentDisposition.Inline);
        Signing().Sign(message);
        foreach (string signature in message.Headers.Where(h => h.Id == HeaderId.DkimSignature).Select(h => h.Value))
        {
            string h = signature.Replace("\r\n", string.Empty, StringComparison.Ordinal).Replace(" ", string.Empty, StringComparison.Ordinal)
                .Replace("\t", string.Empty, StringComparison.Ordinal).Split(';').Single(t => t.StartsWith("h=", StringComparison.Ordinal))[2..];
            var fields = h.Split(':').Select(f => f.ToLowerInvariant()).ToList();
            string[] mime = ["mime-version", "content-type", "content-transfer-encoding", "content-disposition", "date", "message-id"];
            Assert.True(mime.All(fields.Contains), h);
            // one more than there are, so a second one added in transit fails the signature
            Assert.Equal(2, fields.Count(f => f == "from"));
            Assert.Equal(2, fields.Count(f => f == "to"));
            Assert.Equal(2, fields.Count(f => f == "subject"));
        }

        byte[] bytes = Serialize(message);
        var result = await DkimVerifiers.PythonDkimAsync(bytes, Records());
        Assert.True(result.ExitCode == 0, result.ToString());

        // each change below was not caught before these fields were signed
        string text = Encoding.ASCII.GetString(bytes);
        int headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        foreach (string changed in new[]
        {
            text.Insert(headerEnd + 2, "From: Mallory <ceo@alpha.test>\r\n"),
            text.Insert(headerEnd + 2, "Subject: Urgent: wire transfer\r\n"),
            text.Replace("Content-Transfer-Encoding: quoted-printable", "Content-Transfer-Encoding: base64", StringComparison.Ordinal),
            text.Replace("Content-Disposition: inline", "Content-Disposition: attachment; filename=\"invoice.exe\"", StringComparison.Ordinal),
        })
        {
            Assert.NotEqual(text, changed);
            var bad = await DkimVerifiers.PythonDkimAsync(Encoding.ASCII.GetBytes(changed), Records());
            Assert.NotEqual(0, bad.ExitCode);
            Assert.Contains("fail a=ed25519-sha256", bad.StandardOutput, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Keys_round_trip_through_pem_and_publish_the_rfc_record_forms()
    {
        foreach (var key in new[] { RsaKey.Value, EdKey.Value })
        {
            var again = DkimKey.FromPem(key.Selector, key.ExportPrivateKeyPem());
            Assert.Equal(key.Type, again.Type);
            Assert.Equal(key.TxtRecord, again.TxtRecord);
        }

        Assert.StartsWith("v=DKIM1; k=rsa; p=MII", RsaKey.Value.TxtRecord, StringComparison.Ordinal);
        // RFC 8463 4.2: the raw 32-byte key, not a SubjectPublicKeyInfo
        Assert.Equal(32, Convert.FromBase64String(EdKey.Value.PublicKeyData).Length);
        Assert.StartsWith("v=DKIM1; k=ed25519; p=", EdKey.Value.TxtRecord, StringComparison.Ordinal);
        Assert.Equal("ed1._domainkey.alpha.test", EdKey.Value.DnsName("alpha.test"));
    }

    [Fact]
    public void Short_rsa_keys_and_garbage_are_refused()
    {
        using var rsa = System.Security.Cryptography.RSA.Create(1024);
        var error = Assert.Throws<FormatException>(() => DkimKey.FromPem("s", rsa.ExportPkcs8PrivateKeyPem()));
        Assert.Contains("2048", error.Message, StringComparison.Ordinal);
        using var ok = System.Security.Cryptography.RSA.Create(2048);
        Assert.Equal(DkimKeyType.Rsa, DkimKey.FromPem("s", ok.ExportPkcs8PrivateKeyPem()).Type);
        Assert.Throws<FormatException>(() => DkimKey.FromPem("s", "not a key"));
        Assert.Throws<ArgumentException>(() => DkimKey.Generate("bad selector", DkimKeyType.Ed25519));
    }

    [Fact]
    public void A_message_without_from_is_not_signed()
    {
        var message = SampleMessage();
        message.Headers.RemoveAll(HeaderId.From);
        Assert.Throws<ArgumentException>(() => Signing().Sign(message));
    }
}
