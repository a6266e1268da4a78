using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Letterlock.Api;
using Letterlock.Dns;
using Letterlock.Relay.Tests.Peers;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Relay.Tests.Provider;

/// <summary>
/// alpha.test with small sending limits (5 recipients per message, 4 messages per hour, 12 recipients per day) and a
/// scripted MTA as beta.test's MX, shared by the submission tests; each test uses its own accounts.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SubmissionFixture : IAsyncLifetime
{
    public const int MaxRecipients = 5;
    public const int MaxMessagesPerHour = 4;
    public const int MaxRecipientsPerDay = 12;

    private int _accounts;

    internal TestCa Ca { get; } = new();

    internal StaticDnsResolver Dns { get; } = new();

    internal ProviderNode Alpha { get; private set; } = null!;

    internal ScriptedMta Beta { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Alpha = await ProviderNode.StartAsync("alpha.test", Ca, Dns, edit: settings =>
        {
            var submission = settings["submission"]!;
            submission["maxRecipientsPerMessage"] = MaxRecipients;
            submission["maxMessagesPerHour"] = MaxMessagesPerHour;
            submission["maxRecipientsPerDay"] = MaxRecipientsPerDay;
            submission["maxMessageSize"] = 64 * 1024;
        });
        Beta = ScriptedMta.Start(Ca.Issue(["mx.beta.test"]), "mx.beta.test");
        Dns.AddMx("beta.test", 10, "mx.beta.test").AddAddress("mx.beta.test", IPAddress.Loopback);
        // bücher.test (an IDN: its A-label form in DNS) is served by the same MTA
        Dns.AddMx("xn--bcher-kva.test", 10, "mx.beta.test");
        Alpha.Host.Outbound.PortOverrides["mx.beta.test"] = Beta.Port;
    }

    /// <summary>A fresh local part, so every test has accounts (and sending counters) of its own.</summary>
    public string NewName(string prefix) => $"{prefix}{Interlocked.Increment(ref _accounts)}";

    public async Task DisposeAsync()
    {
        await Beta.DisposeAsync();
        await Alpha.DisposeAsync();
        Ca.Dispose();
    }
}

/// <summary>Submission over the HTTPS API and SMTP (587 STARTTLS, 465 implicit TLS): authentication, routing, limits at their edges.</summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SubmissionTests(SubmissionFixture fixture) : IClassFixture<SubmissionFixture>
{
    private ProviderNode Alpha => fixture.Alpha;

    private ScriptedMta Beta => fixture.Beta;

    [Fact]
    public async Task Api_submission_relays_remote_recipients_dkim_signed_twice_and_delivers_local_ones_into_the_sealed_inbox()
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        using var carolClient = Alpha.Client();
        var carol = await carolClient.CreateAccountAsync(fixture.NewName("carol"));
        string marker = "API-" + Guid.NewGuid().ToString("N");
        string bob = fixture.NewName("bob") + "@beta.test";

        string hidden = fixture.NewName("hidden") + "@beta.test";
        byte[] message = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(NodeClient.Message(alice.Address, $"{bob}, {carol.Address}", marker, "Body " + marker + "\r\n"))
            .Replace("\r\nTo: ", $"\r\nBCC: {hidden},\r\n  other@beta.test\r\nTo: ", StringComparison.Ordinal));
        var response = await client.SubmitAsync(message, [bob, carol.Address, hidden]);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var receipt = (await response.Content.ReadFromJsonAsync(SubmissionJsonContext.Default.SubmissionResponse))!;
        Assert.Equal(SubmissionDispositions.Queued, receipt.Recipients.Single(r => r.Address == bob).Disposition);
        Assert.Equal(SubmissionDispositions.Delivered, receipt.Recipients.Single(r => r.Address == carol.Address).Disposition);

        // the remote copy: only bob in its envelope, signed with both keys, verified by dkimpy
        var relayed = await Beta.WaitForMessageAsync(m => Encoding.ASCII.GetString(m.Data).Contains(marker, StringComparison.Ordinal));
        Assert.Equal([bob, hidden], relayed.Recipients);
        // the Bcc field (folded over two lines here) is gone from every copy; the rest is byte for byte
        Assert.DoesNotContain("BCC:", Encoding.ASCII.GetString(relayed.Data), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("other@beta.test", Encoding.ASCII.GetString(relayed.Data), StringComparison.Ordinal);
        Assert.Equal(alice.Address, relayed.Sender);
        Assert.True(relayed.Secure);
        string text = Encoding.ASCII.GetString(relayed.Data);
        Assert.Contains("a=ed25519-sha256", text, StringComparison.Ordinal);
        Assert.Contains("a=rsa-sha256", text, StringComparison.Ordinal);
        var dkim = await DkimVerifiers.PythonDkimAsync(relayed.Data, ProviderNode.DkimRecords(Alpha.DataDirectory, "alpha.test"));
        Assert.True(dkim.ExitCode == 0, dkim.ToString());

        // the local copy went straight into carol's inbox, sealed to her inbox key, never through the relay
        var inbox = await carolClient.WaitForInboxAsync(carol, 1);
        var local = await MimeMessage.LoadAsync(new MemoryStream(inbox.Single()));
        Assert.Equal(marker, local.Subject);
        Assert.Null(local.Headers[HeaderId.Bcc]);
        Assert.Contains($"auth=pass smtp.auth={alice.Address}", local.Headers[HeaderId.AuthenticationResults], StringComparison.Ordinal);
        Assert.DoesNotContain(Beta.Received, m => m.Recipients.Contains(carol.Address));
    }

    [Fact]
    public async Task A_retry_with_the_same_idempotency_key_gets_the_first_answer_and_nothing_is_sent_again()
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        string marker = "ONCE-" + Guid.NewGuid().ToString("N");
        string bob = fixture.NewName("bob") + "@beta.test";
        byte[] message = NodeClient.Message(alice.Address, bob, marker);

        var first = await client.SubmitAsync(message, [bob], idempotencyKey: "\"outbox-1\"");
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var receipt = (await first.Content.ReadFromJsonAsync(SubmissionJsonContext.Default.SubmissionResponse))!;
        // the same key again (quoted or bare, it is one key): the first answer, queue id and all, and no second copy
        var again = await client.SubmitAsync(message, [bob], idempotencyKey: "outbox-1");
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        Assert.Equal(receipt.SubmissionId, (await again.Content.ReadFromJsonAsync(SubmissionJsonContext.Default.SubmissionResponse))!.SubmissionId);

        // the key named another message, or the same message to another envelope: refused, nothing sent
        foreach (var (otherMessage, otherRecipients) in new[] { (NodeClient.Message(alice.Address, bob, marker + "-other"), new[] { bob }), (message, [bob, fixture.NewName("carol") + "@beta.test"]) })
        {
            var reused = await client.SubmitAsync(otherMessage, otherRecipients, idempotencyKey: "outbox-1");
            Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);
            Assert.Contains(SubmissionProblemTypes.KeyReused, await reused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // the key's limits: 255 visible ASCII characters pass, one more (or a space, a quote inside, two values) is refused
        string longest = new('k', SubmissionHeaders.MaxIdempotencyKeyLength);
        foreach (string bad in new[] { longest + "k", "two words", "\"\"", "\"a\"b\"", "a, b" })
        {
            var refused = await client.SubmitAsync(NodeClient.Message(alice.Address, bob, marker + "-bad"), [bob], idempotencyKey: bad);
            Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, $"{bad}: {refused.StatusCode}");
            Assert.Contains("Invalid idempotency key", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var atLimit = await client.SubmitAsync(NodeClient.Message(alice.Address, bob, marker + "-last"), [bob], idempotencyKey: longest);
        Assert.Equal(HttpStatusCode.Accepted, atLimit.StatusCode);
        await Beta.WaitForMessageAsync(m => Encoding.ASCII.GetString(m.Data).Contains(marker + "-last", StringComparison.Ordinal));
        await Beta.WaitForMessageAsync(m => Encoding.ASCII.GetString(m.Data).Contains(marker + "\r\n", StringComparison.Ordinal));
        Assert.Single(Beta.Received, m => Encoding.ASCII.GetString(m.Data).Contains("Subject: " + marker + "\r\n", StringComparison.Ordinal));
        Assert.DoesNotContain(Beta.Received, m => Encoding.ASCII.GetString(m.Data).Contains(marker + "-other", StringComparison.Ordinal) ||
                                                  Encoding.ASCII.GetString(m.Data).Contains(marker + "-bad", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Api_submission_with_the_envelope_in_the_body_relays_to_internationalised_addresses()
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        string marker = "EAI-" + Guid.NewGuid().ToString("N");
        string zoe = fixture.NewName("zoë") + "@beta.test";
        string other = fixture.NewName("ζωή") + "@beta.test";
        var response = await client.SubmitEnvelopeAsync(NodeClient.Message(alice.Address, $"{zoe}, {other}", marker), [zoe, other]);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var receipt = (await response.Content.ReadFromJsonAsync(SubmissionJsonContext.Default.SubmissionResponse))!;
        Assert.Equal([zoe, other], receipt.Recipients.Select(r => r.Address));
        Assert.All(receipt.Recipients, r => Assert.Equal(SubmissionDispositions.Queued, r.Disposition));

        // the UTF-8 local parts arrive as they were written, with the UTF-8 header section (RFC 6532) byte for byte
        var relayed = await Beta.WaitForMessageAsync(m => m.Recipients.Contains(zoe) && Encoding.UTF8.GetString(m.Data).Contains(marker, StringComparison.Ordinal));
        Assert.Equal([zoe, other], relayed.Recipients);
        Assert.Equal(alice.Address, relayed.Sender);
        Assert.Contains($"To: {zoe}, {other}\r\n", Encoding.UTF8.GetString(relayed.Data), StringComparison.Ordinal);

        // an IDN domain, given in U-labels or in A-labels: routed by its A-label, the address arrives whole
        string local = fixture.NewName("user");
        var idn = await client.SubmitEnvelopeAsync(NodeClient.Message(alice.Address, local + "@bücher.test", marker + "-idn"),
            [local + "@bücher.test", local + "-a@xn--bcher-kva.test"]);
        Assert.Equal(HttpStatusCode.Accepted, idn.StatusCode);
        var toIdn = await Beta.WaitForMessageAsync(m => Encoding.UTF8.GetString(m.Data).Contains(marker + "-idn", StringComparison.Ordinal));
        Assert.Equal([local + "@bücher.test", local + "-a@bücher.test"], toIdn.Recipients);
    }

    [Fact]
    public async Task The_envelope_part_holds_its_limit_at_the_edge_and_malformed_bodies_are_refused_without_sending()
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        string marker = "ENVELOPE-" + Guid.NewGuid().ToString("N");
        byte[] message = NodeClient.Message(alice.Address, "edge@beta.test", marker);

        // 1 KiB plus 2 KiB per recipient allowed (5 here): JSON may be padded with white space up to it
        int limit = 1024 + (2048 * SubmissionFixture.MaxRecipients);
        byte[] PaddedEnvelope(int size)
        {
            byte[] json = "{\"rcptTo\":[\"edge@beta.test\"]}"u8.ToArray();
            return [.. json, .. Enumerable.Repeat((byte)' ', size - json.Length)];
        }

        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitEnvelopeAsync(message, [], envelopeJson: PaddedEnvelope(limit))).StatusCode);
        var over = await client.SubmitEnvelopeAsync(message, [], envelopeJson: PaddedEnvelope(limit + 1));
        Assert.Equal(HttpStatusCode.BadRequest, over.StatusCode);
        Assert.Contains($"at most {limit} bytes", (await NodeClient.ProblemAsync(over)).Detail, StringComparison.Ordinal);

        // an unknown member, a missing list, not JSON
        foreach (string json in new[] { "{\"rcptTo\":[\"a@beta.test\"],\"bcc\":[]}", "{\"mailFrom\":\"x@alpha.test\"}", "rcptTo: a@beta.test" })
        {
            var bad = await client.SubmitEnvelopeAsync(message, [], envelopeJson: Encoding.UTF8.GetBytes(json));
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        // the parts in the wrong order, a part missing, a body cut before its closing boundary
        var envelope = new ByteArrayContent("{\"rcptTo\":[\"edge@beta.test\"]}"u8.ToArray());
        envelope.Headers.ContentType = new("application/json");
        var body = new ByteArrayContent(message);
        body.Headers.ContentType = new("message/rfc822");
        Assert.Equal(HttpStatusCode.BadRequest, (await client.Http.PostAsync("v1/submission", new MultipartContent("mixed") { body, envelope })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.Http.PostAsync("v1/submission", new MultipartContent("mixed") { envelope })).StatusCode);
        var cut = new ByteArrayContent(Encoding.UTF8.GetBytes(
            "--b\r\nContent-Type: application/json\r\n\r\n{\"rcptTo\":[\"edge@beta.test\"]}\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n" + Encoding.UTF8.GetString(message)));
        cut.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("multipart/mixed; boundary=b");
        Assert.Equal(HttpStatusCode.BadRequest, (await client.Http.PostAsync("v1/submission", cut)).StatusCode);

        // submission.maxMessageSize (64 KiB here) at its edge in this form too
        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitEnvelopeAsync(Padded(alice.Address, 64 * 1024), ["big@beta.test"])).StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await client.SubmitEnvelopeAsync(Padded(alice.Address, (64 * 1024) + 1), ["big@beta.test"])).StatusCode);

        await Beta.WaitForMessageAsync(m => m.Recipients.Contains("edge@beta.test") && Encoding.UTF8.GetString(m.Data).Contains(marker, StringComparison.Ordinal));
        Assert.Single(Beta.Received, m => Encoding.UTF8.GetString(m.Data).Contains(marker, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("From: a@x\r\nBcc: b@y\r\nTo: c@z\r\n\r\nbody\r\nBcc: stays in the body\r\n", "From: a@x\r\nTo: c@z\r\n\r\nbody\r\nBcc: stays in the body\r\n")]
    [InlineData("bcc : b@y,\r\n\td@y\r\nFrom: a@x\r\n\r\n", "From: a@x\r\n\r\n")]
    [InlineData("From: a@x\r\nBcc:\r\nSubject: Bcc: no\r\n\r\n", "From: a@x\r\nSubject: Bcc: no\r\n\r\n")]
    [InlineData("From: a@x\r\nBccx: keep\r\n\r\n", "From: a@x\r\nBccx: keep\r\n\r\n")]
    public void Bcc_fields_are_removed_from_the_header_only(string input, string expected) =>
        Assert.Equal(expected, Encoding.ASCII.GetString(Letterlock.Provider.Outbound.SubmissionService.WithoutField(Encoding.ASCII.GetBytes(input), "Bcc").Span));

    [Fact]
    public async Task Api_submission_refusals_are_problem_documents_and_send_nothing()
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        string marker = "REFUSED-" + Guid.NewGuid().ToString("N");
        byte[] good = NodeClient.Message(alice.Address, "x@beta.test", marker);

        using (var anonymous = Alpha.Client())
        {
            var unauthenticated = await anonymous.SubmitAsync(good, ["x@beta.test"]);
            Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
        }

        var forged = await client.SubmitAsync(NodeClient.Message("boss@alpha.test", "x@beta.test", marker), ["x@beta.test"]);
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Contains(alice.Address, (await NodeClient.ProblemAsync(forged)).Detail, StringComparison.Ordinal);

        var envelope = await client.SubmitAsync(good, ["x@beta.test"], mailFrom: "other@alpha.test");
        Assert.Equal(HttpStatusCode.Forbidden, envelope.StatusCode);

        var unknown = await client.SubmitAsync(good, ["x@beta.test", "nobody@alpha.test"]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.StatusCode);
        var problem = await NodeClient.ProblemAsync(unknown);
        Assert.Equal(SubmissionProblemTypes.RecipientRefused, problem.Type);
        Assert.Contains("nobody@alpha.test", problem.Detail, StringComparison.Ordinal);

        var badAddress = await client.SubmitAsync(good, ["not-an-address"]);
        Assert.Equal(HttpStatusCode.BadRequest, badAddress.StatusCode);

        var noFrom = await client.SubmitAsync(Encoding.ASCII.GetBytes("Subject: " + marker + "\r\n\r\nbody\r\n"), ["x@beta.test"]);
        Assert.Equal(HttpStatusCode.BadRequest, noFrom.StatusCode);
        Assert.Contains("From", (await NodeClient.ProblemAsync(noFrom)).Detail, StringComparison.Ordinal);

        var noRecipients = await client.SubmitAsync(good, []);
        Assert.Equal(HttpStatusCode.BadRequest, noRecipients.StatusCode);

        var wrongType = new HttpRequestMessage(HttpMethod.Post, "v1/submission") { Content = new ByteArrayContent(good) };
        wrongType.Content.Headers.ContentType = new("text/plain");
        wrongType.Headers.Add(SubmissionHeaders.RcptTo, "x@beta.test");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.Http.SendAsync(wrongType)).StatusCode);

        // submission.maxMessageSize (64 KiB here) at its edge
        byte[] atLimit = Padded(alice.Address, 64 * 1024);
        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitAsync(atLimit, ["big@beta.test"])).StatusCode);
        var tooLarge = await client.SubmitAsync(Padded(alice.Address, (64 * 1024) + 1), ["big@beta.test"]);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);

        await Beta.WaitForMessageAsync(m => m.Recipients.Contains("big@beta.test"));
        Assert.DoesNotContain(Beta.Received, m => Encoding.ASCII.GetString(m.Data).Contains(marker, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_recipient_limit_per_message_holds_at_its_edge_over_the_api_and_smtp()
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        var five = Enumerable.Range(0, SubmissionFixture.MaxRecipients).Select(i => $"edge{i}@beta.test").ToList();
        Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitAsync(NodeClient.Message(alice.Address, five[0], "five"), five)).StatusCode);
        var six = await client.SubmitAsync(NodeClient.Message(alice.Address, five[0], "six"), [.. five, "edge5@beta.test"]);
        Assert.Equal(HttpStatusCode.BadRequest, six.StatusCode);
        Assert.Contains($"at most {SubmissionFixture.MaxRecipients}", (await NodeClient.ProblemAsync(six)).Detail, StringComparison.Ordinal);

        var token = await client.SubmissionTokenAsync();
        using var smtp = await ConnectAsync(Alpha.Submission, SecureSocketOptions.StartTls);
        await smtp.AuthenticateAsync(token.UserName, token.Password);
        var message = await MimeMessage.LoadAsync(new MemoryStream(NodeClient.Message(alice.Address, five[0], "smtp six")));
        var recipients = five.Append("edge5@beta.test").Select(a => new MailboxAddress("", a)).ToList();
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => smtp.SendAsync(message, new MailboxAddress("", alice.Address), recipients));
        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, error.ErrorCode);
        Assert.Equal((SmtpStatusCode)452, error.StatusCode);
        Assert.Contains($"at most {SubmissionFixture.MaxRecipients} per message", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_hourly_message_limit_holds_at_its_edge_with_retry_after_and_a_450_over_smtp()
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        for (int i = 0; i < SubmissionFixture.MaxMessagesPerHour; i++)
        {
            var accepted = await client.SubmitAsync(NodeClient.Message(alice.Address, "rate@beta.test", $"rate {i}"), ["rate@beta.test"]);
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        var limited = await client.SubmitAsync(NodeClient.Message(alice.Address, "rate@beta.test", "one too many"), ["rate@beta.test"]);
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        Assert.NotNull(limited.Headers.RetryAfter?.Delta);
        Assert.InRange(limited.Headers.RetryAfter!.Delta!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));
        Assert.Contains($"at most {SubmissionFixture.MaxMessagesPerHour} messages per hour", (await NodeClient.ProblemAsync(limited)).Detail, StringComparison.Ordinal);

        var token = await client.SubmissionTokenAsync();
        using var smtp = await ConnectAsync(Alpha.Submission, SecureSocketOptions.StartTls);
        await smtp.AuthenticateAsync(token.UserName, token.Password);
        var message = await MimeMessage.LoadAsync(new MemoryStream(NodeClient.Message(alice.Address, "rate@beta.test", "smtp too many")));
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => smtp.SendAsync(message));
        Assert.Equal(SmtpErrorCode.SenderNotAccepted, error.ErrorCode);
        Assert.Equal((SmtpStatusCode)450, error.StatusCode);
        Assert.Contains("messages per hour", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_daily_recipient_limit_holds_at_its_edge()
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        int sent = 0;
        foreach (int count in new[] { 5, 5, 2 })
        {
            var recipients = Enumerable.Range(sent, count).Select(i => $"day{i}@beta.test").ToList();
            sent += count;
            Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitAsync(NodeClient.Message(alice.Address, recipients[0], "day"), recipients)).StatusCode);
        }

        Assert.Equal(SubmissionFixture.MaxRecipientsPerDay, sent);
        var limited = await client.SubmitAsync(NodeClient.Message(alice.Address, "day99@beta.test", "day"), ["day99@beta.test"]);
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        Assert.Contains($"at most {SubmissionFixture.MaxRecipientsPerDay} recipients per day", (await NodeClient.ProblemAsync(limited)).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Smtp_submission_with_a_device_token_over_starttls_and_implicit_tls(bool implicitTls)
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        using var daveClient = Alpha.Client();
        var dave = await daveClient.CreateAccountAsync(fixture.NewName("dave"));
        var token = await client.SubmissionTokenAsync();
        Assert.Equal(alice.Address, token.UserName);
        Assert.Equal(alice.DeviceId, token.DeviceId);

        string marker = "SMTP-" + Guid.NewGuid().ToString("N");
        using var smtp = await ConnectAsync(implicitTls ? Alpha.Submissions : Alpha.Submission, implicitTls ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTls);
        Assert.True(smtp.IsSecure);
        await smtp.AuthenticateAsync(token.UserName, token.Password);
        var message = await MimeMessage.LoadAsync(new MemoryStream(NodeClient.Message(alice.Address, "erin@beta.test", marker)));
        string reply = await smtp.SendAsync(message, new MailboxAddress("", alice.Address), [new MailboxAddress("", "erin@beta.test"), new MailboxAddress("", dave.Address)]);
        Assert.StartsWith("2.0.0 Queued as ", reply, StringComparison.Ordinal);

        var relayed = await Beta.WaitForMessageAsync(m => Encoding.ASCII.GetString(m.Data).Contains(marker, StringComparison.Ordinal));
        Assert.Equal(["erin@beta.test"], relayed.Recipients);
        var inbox = await daveClient.WaitForInboxAsync(dave, 1);
        Assert.Contains(marker, Encoding.ASCII.GetString(inbox.Single()), StringComparison.Ordinal);

        // the envelope sender must be the account's own address
        var other = await MimeMessage.LoadAsync(new MemoryStream(NodeClient.Message(alice.Address, "erin@beta.test", "spoof")));
        var spoofed = await Assert.ThrowsAsync<SmtpCommandException>(() => smtp.SendAsync(other, new MailboxAddress("", "boss@alpha.test"), [new MailboxAddress("", "erin@beta.test")]));
        Assert.Equal((SmtpStatusCode)550, spoofed.StatusCode);
        Assert.Contains("your own address", spoofed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Smtp_submission_never_takes_a_token_without_tls_nor_mail_without_auth_nor_a_stale_token()
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        var token = await client.SubmissionTokenAsync();

        // plaintext: AUTH is not offered, and a client that sends it anyway is refused without the token being checked
        using (var raw = await RawSmtp.ConnectAsync(Alpha.Submission))
        {
            string ehlo = await raw.CommandAsync("EHLO client.test");
            Assert.StartsWith("250", ehlo, StringComparison.Ordinal);
            Assert.Contains("STARTTLS", ehlo, StringComparison.Ordinal);
            Assert.DoesNotContain("AUTH", ehlo, StringComparison.Ordinal);
            string plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{token.UserName}\0{token.Password}"));
            string auth = await raw.CommandAsync("AUTH PLAIN " + plain);
            Assert.Matches("^5[0-9][0-9] ", auth);
            string mail = await raw.CommandAsync($"MAIL FROM:<{alice.Address}>");
            Assert.StartsWith("530", mail, StringComparison.Ordinal);
        }

        // TLS without AUTH: MAIL is refused
        using (var smtp = await ConnectAsync(Alpha.Submission, SecureSocketOptions.StartTls))
        {
            Assert.True(smtp.Capabilities.HasFlag(SmtpCapabilities.Authentication));
            var message = await MimeMessage.LoadAsync(new MemoryStream(NodeClient.Message(alice.Address, "x@beta.test", "no auth")));
            // MailKit turns the server's 530 into ServiceNotAuthenticatedException
            var error = await Assert.ThrowsAsync<MailKit.ServiceNotAuthenticatedException>(() => smtp.SendAsync(message));
            Assert.Contains("uthentication required", error.Message, StringComparison.Ordinal);
        }

        // a wrong token, the right token under another user name, then a token replaced by a newer one, then a revoked one
        await ExpectAuthFailureAsync(alice.Address, token.Password[..^4] + "AAAA");
        await ExpectAuthFailureAsync("someone@alpha.test", token.Password);
        var newer = await client.SubmissionTokenAsync();
        await ExpectAuthFailureAsync(alice.Address, token.Password);
        using (var smtp = await ConnectAsync(Alpha.Submission, SecureSocketOptions.StartTls))
        {
            await smtp.AuthenticateAsync(alice.Address, newer.Password);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await client.Http.DeleteAsync("v1/submission/token")).StatusCode);
        await ExpectAuthFailureAsync(alice.Address, newer.Password);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.DeleteAsync("v1/submission/token")).StatusCode);
    }

    [Fact]
    public async Task The_mx_refuses_to_relay_for_anyone_with_550_5_7_1()
    {
        using var raw = await RawSmtp.ConnectAsync(Alpha.Smtp);
        Assert.StartsWith("250", await raw.CommandAsync("EHLO spammer.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await raw.CommandAsync("MAIL FROM:<spam@spammer.test>"), StringComparison.Ordinal);
        Assert.StartsWith("550 5.7.1", await raw.CommandAsync("RCPT TO:<victim@beta.test>"), StringComparison.Ordinal);
    }

    private async Task ExpectAuthFailureAsync(string user, string password)
    {
        using var smtp = await ConnectAsync(Alpha.Submission, SecureSocketOptions.StartTls);
        await Assert.ThrowsAsync<AuthenticationException>(() => smtp.AuthenticateAsync(user, password));
    }

    /// <summary>Messages at and one past each default MIME limit that fits in this node's 64 KiB submission size.</summary>
    public static TheoryData<string, int> MimeLimitEdges() => new()
    {
        { "mx.maxMimeParts", OpenPgp.Mime.MimeLimits.Default.MaxMimeParts },
        { "mx.maxHeaderFields", OpenPgp.Mime.MimeLimits.Default.MaxHeaderFields },
        { "mx.maxHeaderFieldLines", OpenPgp.Mime.MimeLimits.Default.MaxHeaderFieldLines },
        { "mx.maxMimeDepth", OpenPgp.Mime.MimeLimits.Default.MaxMimeDepth },
    };

    private static byte[] AtMimeLimit(string setting, string from, string to, int value)
    {
        string head = $"From: {from}\r\nTo: {to}\r\nSubject: {setting} {value}\r\nMIME-Version: 1.0\r\n"; // four fields
        string text = setting switch
        {
            "mx.maxMimeParts" => head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + string.Concat(Enumerable.Repeat("--b\r\n\r\nx\r\n", value - 1)) + "--b--\r\n",
            "mx.maxHeaderFields" => head + string.Concat(Enumerable.Range(0, value - 4).Select(i => $"X-F{i}: v\r\n")) + "\r\nbody\r\n",
            "mx.maxHeaderFieldLines" => head + "X-Folded: a\r\n" + string.Concat(Enumerable.Repeat(" b\r\n", value - 1)) + "\r\nbody\r\n",
            _ => head + string.Concat(Enumerable.Range(1, value - 1).Select(i => $"Content-Type: multipart/mixed; boundary=n{i}\r\n\r\n--n{i}\r\n")) +
                "Content-Type: text/plain\r\n\r\ndeep\r\n" + string.Concat(Enumerable.Range(1, value - 1).Reverse().Select(i => $"--n{i}--\r\n")),
        };
        return Encoding.ASCII.GetBytes(text);
    }

    [Theory]
    [MemberData(nameof(MimeLimitEdges))]
    public async Task Submission_holds_every_mime_limit_at_its_edge_over_the_api_and_smtp_naming_the_setting(string setting, int value)
    {
        using var client = Alpha.Client();
        var alice = await client.CreateAccountAsync(fixture.NewName("alice"));
        string to = fixture.NewName("limits") + "@beta.test";

        var accepted = await client.SubmitAsync(AtMimeLimit(setting, alice.Address, to, value), [to]);
        Assert.True(accepted.StatusCode == HttpStatusCode.Accepted, await accepted.Content.ReadAsStringAsync());
        var over = await client.SubmitAsync(AtMimeLimit(setting, alice.Address, to, value + 1), [to]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, over.StatusCode);
        var problem = await NodeClient.ProblemAsync(over);
        Assert.Equal(SubmissionProblemTypes.TooComplex, problem.Type);
        Assert.Contains(setting, problem.Detail, StringComparison.Ordinal);

        var token = await client.SubmissionTokenAsync();
        using var smtp = await ConnectAsync(Alpha.Submission, SecureSocketOptions.StartTls);
        await smtp.AuthenticateAsync(token.UserName, token.Password);
        var sender = new MailboxAddress("", alice.Address);
        var recipients = new[] { new MailboxAddress("", to) };
        await smtp.SendAsync(await MimeMessage.LoadAsync(new MemoryStream(AtMimeLimit(setting, alice.Address, to, value))), sender, recipients);
        var overMessage = await MimeMessage.LoadAsync(new MemoryStream(AtMimeLimit(setting, alice.Address, to, value + 1)));
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => smtp.SendAsync(overMessage, sender, recipients));
        Assert.Equal((SmtpStatusCode)552, error.StatusCode);
        Assert.Contains("5.3.4", error.Message, StringComparison.Ordinal);
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);

        // Both messages at the limit went through the relay (which parses each again, bounded by the same limits).
        var relayed = await Beta.WaitForMessageAsync(m => m.Recipients.Contains(to));
        Assert.Contains($"{setting} {value}", Encoding.ASCII.GetString(relayed.Data), StringComparison.Ordinal);
    }

    private static async Task<SmtpClient> ConnectAsync(IPEndPoint endPoint, SecureSocketOptions options)
    {
        var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 60_000 };
        await smtp.ConnectAsync("127.0.0.1", endPoint.Port, options);
        return smtp;
    }

    private static byte[] Padded(string from, int size)
    {
        byte[] head = NodeClient.Message(from, "big@beta.test", "big", "");
        var body = new StringBuilder();
        while (head.Length + body.Length + 80 <= size)
        {
            body.Append(new string('x', 76)).Append("\r\n");
        }

        body.Append(new string('y', size - head.Length - body.Length - 2)).Append("\r\n");
        byte[] message = [.. head, .. Encoding.ASCII.GetBytes(body.ToString())];
        Assert.Equal(size, message.Length);
        return message;
    }
}

/// <summary>An SMTP conversation over a plain socket, for what MailKit will not do (AUTH without TLS).</summary>
internal sealed class RawSmtp : IDisposable
{
    private readonly TcpClient _client;
    private readonly StreamReader _reader;
    private readonly Stream _stream;

    private RawSmtp(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.ASCII);
    }

    public static async Task<RawSmtp> ConnectAsync(IPEndPoint endPoint)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, endPoint.Port);
        var raw = new RawSmtp(client);
        Assert.StartsWith("220", await raw.ReadReplyAsync(), StringComparison.Ordinal);
        return raw;
    }

    public async Task<string> CommandAsync(string line)
    {
        await _stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"));
        return await ReadReplyAsync();
    }

    private async Task<string> ReadReplyAsync()
    {
        var reply = new StringBuilder();
        while (true)
        {
            string line = await _reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)) ?? throw new IOException("connection closed");
            reply.Append(line).Append('\n');
            if (line.Length < 4 || line[3] != '-')
            {
                return reply.ToString();
            }
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        _client.Dispose();
    }
}
