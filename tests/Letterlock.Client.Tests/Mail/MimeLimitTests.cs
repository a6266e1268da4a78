using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.OpenPgp;
using Letterlock.OpenPgp.Mime;
using MimeKit;

namespace Letterlock.Client.Tests.Mail;

/// <summary>
/// The client's limits on the MIME structure of received mail (<see cref="OpenPgpOptions.MimeLimits"/>): a message or
/// decrypted content at a limit is read as usual; one past it is never parsed but stored as a notice naming the limit,
/// with the original attached unchanged, so nothing is lost and no later reader (the bridge's FETCH, SEARCH) pays for it.
/// </summary>
public sealed class MimeLimitTests : AliceAndBobStore
{
    private static readonly OpenPgpOptions Limited = new()
    {
        MimeLimits = new MimeLimits { MaxMimeParts = 10, MaxHeaderFieldLines = 10, MaxHeaderFields = 20, MaxMimeDepth = 4 },
    };

    private const string Top = "From: Bob <bob@beta.test>\r\nTo: alice@alpha.test\r\nSubject: edge\r\nMIME-Version: 1.0\r\n";

    /// <summary>A multipart with <paramref name="parts"/> text parts: parts + 1 entities with the message.</summary>
    private static string Parts(int parts) =>
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + string.Concat(Enumerable.Range(0, parts).Select(i => $"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n")) + "--b--\r\n";

    public static TheoryData<string, string, string, bool> Edges() => new()
    {
        // limit, at the limit, one past it, whether the top-level header block is within the limits (its fields are kept)
        { "MaxMimeParts", Top + Parts(9), Top + Parts(10), true },
        { "MaxHeaderFieldLines", Top.Replace("Subject: edge\r\n", "Subject: edge\r\n" + string.Concat(Enumerable.Repeat(" x\r\n", 9)), StringComparison.Ordinal) + "\r\nbody\r\n",
            Top.Replace("Subject: edge\r\n", "Subject: edge\r\n" + string.Concat(Enumerable.Repeat(" x\r\n", 10)), StringComparison.Ordinal) + "\r\nbody\r\n", false },
        { "MaxHeaderFields", Top + string.Concat(Enumerable.Range(0, 16).Select(i => $"X-F{i}: v\r\n")) + "\r\nbody\r\n",
            Top + string.Concat(Enumerable.Range(0, 17).Select(i => $"X-F{i}: v\r\n")) + "\r\nbody\r\n", false },
        { "MaxMimeDepth", Top + Nested(3), Top + Nested(4), true },
    };

    [Theory]
    [MemberData(nameof(Edges))]
    public async Task A_received_message_at_a_limit_is_read_and_one_past_it_becomes_a_notice_naming_it(string limit, string atLimit, string overLimit, bool headersKept)
    {
        var processor = new IncomingMailProcessor(Store, Alice, AliceKey, Limited);
        var read = await processor.ProcessAsync(Encoding.ASCII.GetBytes(atLimit));
        var stored = await LoadAsync(read.Message.Id);
        Assert.DoesNotContain(stored.Attachments, a => a is MimePart { FileName: "refused-message.bin" });
        Assert.Equal("none", stored.Headers["Letterlock-Encryption"]);

        byte[] over = Encoding.ASCII.GetBytes(overLimit);
        var refused = await processor.ProcessAsync(over);
        var notice = await LoadAsync(refused.Message.Id);
        Assert.Contains("MimeLimits." + limit, notice.TextBody, StringComparison.Ordinal);
        var original = Assert.IsType<MimePart>(Assert.Single(notice.Attachments));
        using var bytes = new MemoryStream();
        await original.Content!.DecodeToAsync(bytes);
        Assert.Equal(over, bytes.ToArray());
        Assert.Equal(headersKept ? "edge" : "Message refused: too complex to display", notice.Subject);
        Assert.Equal(headersKept ? "bob@beta.test" : null, notice.From.Mailboxes.FirstOrDefault()?.Address);
    }

    [Fact]
    public async Task Decrypted_content_past_a_limit_is_refused_with_reason_limit_and_at_it_is_read()
    {
        var processor = new IncomingMailProcessor(Store, Alice, AliceKey, Limited);
        async Task<MimeMessage> SendAsync(int parts)
        {
            var message = await MimeMessage.LoadAsync(new MemoryStream(Encoding.ASCII.GetBytes(Top + Parts(parts))));
            var encrypted = new PgpMimeComposer().Encrypt(message, Bob.SecretKey.Unlock(),
                new Dictionary<string, Certificate> { ["alice@alpha.test"] = AliceKey.Certificate })[0].Message;
            var result = await processor.ProcessAsync(IncomingMailProcessor.Canonical(encrypted));
            return await LoadAsync(result.Message.Id);
        }

        // The decrypted entity is the multipart and its parts (the message's own headers are outside it).
        Assert.Equal("end-to-end", (await SendAsync(9)).Headers["Letterlock-Encryption"]);
        var refused = await SendAsync(10);
        Assert.Equal("failed; reason=limit", refused.Headers["Letterlock-Encryption"]);
        Assert.DoesNotContain("part 0", refused.TextBody, StringComparison.Ordinal);
        Assert.Single(refused.Attachments);
    }

    [Fact]
    public async Task A_part_bomb_and_a_folded_header_bomb_become_notices_with_the_default_limits()
    {
        var processor = new IncomingMailProcessor(Store, Alice, AliceKey);
        var bomb = new StringBuilder(Top + "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
        for (int i = 0; i < 100_000; i++)
        {
            bomb.Append("--b\r\n\r\n\r\n");
        }

        var folded = new StringBuilder(Top + "X-Long: ");
        while (folded.Length < 5 * 1024 * 1024)
        {
            folded.Append("word,\r\n ");
        }

        foreach (var (raw, limit) in new[] { (bomb.Append("--b--\r\n").ToString(), "MaxMimeParts"), (folded.Append("end\r\n\r\nbody\r\n").ToString(), "MaxHeaderFieldLines") })
        {
            var result = await processor.ProcessAsync(Encoding.ASCII.GetBytes(raw));
            var notice = await LoadAsync(result.Message.Id);
            Assert.Contains("MimeLimits." + limit, notice.TextBody, StringComparison.Ordinal);
            Assert.Single(notice.Attachments);
        }
    }

    [Theory]
    [InlineData("message/rfc822", 999, false)]
    [InlineData("message/rfc822", 1000, true)]
    [InlineData("text/rfc822-headers", 500, false)]
    [InlineData("text/rfc822-headers", 501, true)]
    public async Task An_encoded_attached_message_past_a_limit_is_neutralised_and_at_it_is_kept(string type, int count, bool neutralised)
    {
        // Base64 hides the attached entity from the check of the message around it; decoded, it gets its own against the
        // defaults. An attached message whose multipart has 999 parts is 1000 entities, the default MaxMimeParts; a
        // header block with a field over 500 lines is at the default MaxHeaderFieldLines.
        string attached = type == "message/rfc822"
            ? "From: x@beta.test\r\nSubject: inner\r\n" + Parts(count)
            : "From: x@beta.test\r\nX-Folded: a\r\n" + string.Concat(Enumerable.Repeat(" b\r\n", count - 1)) + "\r\n";
        string raw = Top + "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
            $"--o\r\nContent-Type: {type}\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            Convert.ToBase64String(Encoding.ASCII.GetBytes(attached), Base64FormattingOptions.InsertLineBreaks) + "\r\n--o--\r\n";
        var result = await new IncomingMailProcessor(Store, Alice, AliceKey).ProcessAsync(Encoding.ASCII.GetBytes(raw));
        var stored = await LoadAsync(result.Message.Id);
        var part = Assert.IsType<Multipart>(stored.Body)[1];
        Assert.Equal(neutralised ? "application/octet-stream" : type, part.ContentType.MimeType);
    }

    private static string Nested(int multiparts)
    {
        var text = new StringBuilder();
        for (int i = 1; i <= multiparts; i++)
        {
            text.Append($"Content-Type: multipart/mixed; boundary=n{i}\r\n\r\n--n{i}\r\n");
        }

        text.Append("Content-Type: text/plain\r\n\r\ndeep\r\n");
        for (int i = multiparts; i >= 1; i--)
        {
            text.Append($"--n{i}--\r\n");
        }

        return text.ToString();
    }

    private async Task<MimeMessage> LoadAsync(MessageId id) =>
        await MimeMessage.LoadAsync(new MemoryStream((await Store.Mail(Alice.Id).ReadBodyAsync(id))!));
}
