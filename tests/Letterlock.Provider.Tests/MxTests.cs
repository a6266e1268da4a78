using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Letterlock.Provider.Storage;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using MimeKit.Cryptography;
using MimeKit.Utils;
using Npgsql;

namespace Letterlock.Provider.Tests;

/// <summary>The MX end to end over real sockets, per backend.</summary>
public abstract class MxTests(Backend backend, PostgresServer postgres)
{
    protected static MimeMessage Message(string from, string to, string subject, string body)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.MessageId = MimeUtils.GenerateMessageId("sender.test");
        message.Body = new TextPart("plain") { Text = body };
        return message;
    }

    protected static async Task<SmtpClient> ConnectAsync(TestProvider provider, bool startTls = true)
    {
        var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 30_000 };
        await client.ConnectAsync("127.0.0.1", provider.Host.SmtpEndPoint.Port, startTls ? SecureSocketOptions.StartTls : SecureSocketOptions.None);
        return client;
    }

    [Fact]
    public async Task Mail_sent_with_MailKit_over_STARTTLS_is_sealed_to_each_inbox_and_decrypts()
    {
        await using var provider = await TestProvider.StartAsync(backend, postgres);
        using var api = provider.Client();
        var alice = await api.CreateAccountAsync("alice@example.test");
        var bob = await api.CreateAccountAsync("bob@example.test");
        var message = Message("carol@sender.test", "alice@example.test", "Hello from MailKit", "First line\r\n.leading dot\r\nlast line");
        message.Cc.Add(MailboxAddress.Parse("bob@example.test"));
        using (var smtp = await ConnectAsync(provider))
        {
            Assert.True(smtp.IsSecure);
            string reply = await smtp.SendAsync(message);
            Assert.Contains("Message accepted", reply, StringComparison.Ordinal);
            await smtp.DisconnectAsync(true);
        }

        foreach (var account in new[] { alice, bob })
        {
            using var client = provider.Client();
            await client.LoginAsync(account);
            var inbox = await client.FetchInboxAsync(account);
            var (_, raw) = Assert.Single(inbox);
            string text = Encoding.UTF8.GetString(raw);
            Assert.StartsWith("Authentication-Results: mx.example.test; spf=", text, StringComparison.Ordinal);
            var parsed = await MimeMessage.LoadAsync(new MemoryStream(raw));
            Assert.Equal("Hello from MailKit", parsed.Subject);
            Assert.Equal(message.MessageId, parsed.MessageId);
            Assert.Equal("First line\n.leading dot\nlast line", parsed.TextBody!.ReplaceLineEndings("\n").TrimEnd('\n'));
        }

        // stored alongside: account, arrival time, padded size — nothing else in the clear
        using var aliceApi = provider.Client();
        await aliceApi.LoginAsync(alice);
        var change = (await aliceApi.ChangesAsync(0)).Changes.Single();
        Assert.Equal("inbox", change.Kind);
        Assert.True((DateTimeOffset.UtcNow - change.ModifiedAt).Duration() < TimeSpan.FromMinutes(5));
    }

    [Fact]
    public async Task After_an_account_moves_to_an_X_Wing_inbox_key_the_MX_seals_to_it_and_earlier_mail_still_opens()
    {
        await using var provider = await TestProvider.StartAsync(backend, postgres);
        using var api = provider.Client();
        var alice = await api.CreateAccountAsync("alice@example.test");
        await api.LoginAsync(alice);
        await SendAsync(provider, "Before the move");

        // A key that fails ML-KEM's modulus check is refused; a good one is taken.
        using var xwing = Letterlock.Cryptography.XWingKeyPair.Generate();
        var unreduced = xwing.PublicKey.ToArray();
        unreduced[0] = 0xFF;
        unreduced[1] |= 0x0F;
        var refused = await api.Http.PutAsJsonAsync("v1/account/keys", new Letterlock.Api.UpdateKeysRequest(alice.Certificate, unreduced), Letterlock.Api.ApiJsonContext.Default.UpdateKeysRequest);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var moved = await api.Http.PutAsJsonAsync("v1/account/keys", new Letterlock.Api.UpdateKeysRequest(alice.Certificate, xwing.PublicKey.ToArray()), Letterlock.Api.ApiJsonContext.Default.UpdateKeysRequest);
        Assert.Equal(HttpStatusCode.NoContent, moved.StatusCode);
        await SendAsync(provider, "After the move");

        var documents = new List<byte[]>();
        foreach (var change in (await api.ChangesAsync(0)).Changes.Where(c => c.Kind == "inbox"))
        {
            documents.Add(await api.GetBytesAsync(change.Id));
        }

        Assert.Equal(2, documents.Count);
        Assert.Equal(Letterlock.Cryptography.HpkeKem.X25519, Letterlock.Cryptography.HpkeEnvelope.ReadKem(documents[0]));
        Assert.Equal(Letterlock.Cryptography.HpkeKem.XWing, Letterlock.Cryptography.HpkeEnvelope.ReadKem(documents[1]));
        Assert.Contains("Before the move", Encoding.UTF8.GetString(ApiClient.Open(alice, documents[0])), StringComparison.Ordinal);
        Assert.Contains("After the move", Encoding.UTF8.GetString(ApiClient.Open(alice with { Inbox = null! }, documents[1], xwing.PrivateKey.ToArray())), StringComparison.Ordinal);

        static async Task SendAsync(TestProvider provider, string subject)
        {
            using var smtp = await ConnectAsync(provider);
            await smtp.SendAsync(Message("carol@sender.test", "alice@example.test", subject, "body"));
            await smtp.DisconnectAsync(true);
        }
    }

    [Fact]
    public async Task Mail_for_a_utf8_local_part_reaches_its_account_in_any_case_with_smtputf8_only()
    {
        await using var provider = await TestProvider.StartAsync(backend, postgres);
        using var api = provider.Client();
        var zoe = await api.CreateAccountAsync("Zoë@example.test");
        // one person, one address: another case of it is taken (local parts are NFC and lower case)
        var (taken, _) = ApiClient.NewAccountRequest("ZOË@example.test");
        Assert.Equal(HttpStatusCode.Conflict, (await api.Http.PostAsJsonAsync("v1/accounts", taken, Letterlock.Api.ApiJsonContext.Default.CreateAccountRequest)).StatusCode);

        // as written in the account and in capitals: the same mailbox
        foreach (string to in new[] { "zoë@example.test", "ZOË@example.test" })
        {
            using var smtp = await ConnectAsync(provider);
            Assert.True(smtp.Capabilities.HasFlag(SmtpCapabilities.UTF8));
            string reply = await smtp.SendAsync(Message("carol@sender.test", to, "Für " + to[..3], "Grüße"));
            Assert.Contains("Message accepted", reply, StringComparison.Ordinal);
            await smtp.DisconnectAsync(true);
        }

        await using (var raw = await RawSmtp.ConnectAsync(provider.Host.SmtpEndPoint))
        {
            await raw.CommandAsync("EHLO client.test");
            Assert.StartsWith("250", await raw.CommandAsync("MAIL FROM:<carol@sender.test>"), StringComparison.Ordinal);
            Assert.StartsWith("553 5.6.7", await raw.CommandAsync(Encoding.UTF8.GetBytes("RCPT TO:<zoë@example.test>\r\n")), StringComparison.Ordinal);
            Assert.StartsWith("250", await raw.CommandAsync("RSET"), StringComparison.Ordinal);
            Assert.StartsWith("250", await raw.CommandAsync("MAIL FROM:<carol@sender.test> SMTPUTF8"), StringComparison.Ordinal);
            Assert.StartsWith("550 5.1.1", await raw.CommandAsync(Encoding.UTF8.GetBytes("RCPT TO:<zoé@example.test>\r\n")), StringComparison.Ordinal);
            // no Unicode normalisation (the process has no normalisation data): the decomposed spelling is refused, never guessed
            Assert.StartsWith("550 5.1.1", await raw.CommandAsync(Encoding.UTF8.GetBytes("RCPT TO:<zoe\u0308@example.test>\r\n")), StringComparison.Ordinal);
        }

        await api.LoginAsync(zoe);
        var subjects = new List<string>();
        foreach (var (_, raw) in await api.FetchInboxAsync(zoe))
        {
            subjects.Add((await MimeMessage.LoadAsync(new MemoryStream(raw))).Subject ?? "");
        }

        Assert.Equal(["Für ZOË", "Für zoë"], subjects.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Swaks_delivers_with_STARTTLS()
    {
        await using var provider = await TestProvider.StartAsync(backend, postgres);
        using var api = provider.Client();
        var alice = await api.CreateAccountAsync("alice@example.test");
        var (code, output) = await Tool.RunAsync("swaks", "-4", "--server", "127.0.0.1", "--port", provider.Host.SmtpEndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-tls", "--from", "dave@sender.test", "--to", "alice@example.test", "--header", "Subject: swaks test", "--body", "sent by swaks");
        Assert.True(code == 0, output);
        Assert.Contains("250 2.0.0 Message accepted", output, StringComparison.Ordinal);
        await api.LoginAsync(alice);
        var (_, raw) = Assert.Single(await api.FetchInboxAsync(alice));
        var parsed = await MimeMessage.LoadAsync(new MemoryStream(raw));
        Assert.Equal("swaks test", parsed.Subject);
        Assert.Contains("sent by swaks", parsed.TextBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recipients_limits_and_bad_commands_get_their_codes_and_store_nothing()
    {
        await using var provider = await TestProvider.StartAsync(backend, postgres, editSettings: path =>
            File.WriteAllText(path, File.ReadAllText(path)
                .Replace("\"maxMessageSize\": 26214400", "\"maxMessageSize\": 20000", StringComparison.Ordinal)
                .Replace("\"maxRecipients\": 100", "\"maxRecipients\": 2", StringComparison.Ordinal)
                .Replace("\"maxCommandLineLength\": 2048", "\"maxCommandLineLength\": 600", StringComparison.Ordinal)));
        using var api = provider.Client();
        var alice = await api.CreateAccountAsync("alice@example.test");
        await api.CreateAccountAsync("bob@example.test");
        await api.CreateAccountAsync("carol@example.test");

        await using var session = await RawSmtp.ConnectAsync(provider.Host.SmtpEndPoint);
        Assert.StartsWith("250", await session.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
        Assert.StartsWith("500 5.5.1", await session.CommandAsync("FROB"), StringComparison.Ordinal);
        Assert.StartsWith("503 5.5.1", await session.CommandAsync("RCPT TO:<alice@example.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<x@sender.test>"), StringComparison.Ordinal);
        Assert.StartsWith("550 5.1.1", await session.CommandAsync("RCPT TO:<nobody@example.test>"), StringComparison.Ordinal);
        Assert.StartsWith("550 5.7.1", await session.CommandAsync("RCPT TO:<alice@elsewhere.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<alice@example.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<bob@example.test>"), StringComparison.Ordinal);
        Assert.StartsWith("452 4.5.3", await session.CommandAsync("RCPT TO:<carol@example.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RSET"), StringComparison.Ordinal);
        Assert.StartsWith("552", await session.CommandAsync("MAIL FROM:<x@sender.test> SIZE=30000"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<x@sender.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<alice@example.test>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await session.CommandAsync("DATA"), StringComparison.Ordinal);
        string tooBig = "Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 70) + "\r\n", 400)) + ".\r\n";
        Assert.StartsWith("552", await session.CommandAsync(tooBig, raw: true), StringComparison.Ordinal);

        // a command line over the limit gets 500 5.5.2 and the connection is closed
        await using var longLine = await RawSmtp.ConnectAsync(provider.Host.SmtpEndPoint);
        Assert.StartsWith("500 5.5.2", await longLine.CommandAsync("EHLO " + new string('a', 700)), StringComparison.Ordinal);
        Assert.Null(await longLine.ReadReplyOrNullAsync());

        // quota: an account at its quota gets 552 5.2.2 at RCPT
        await provider.Host.Store.SetQuotaAsync(alice.AccountId, 1, CancellationToken.None);
        await provider.Host.Store.PutDocumentAsync(new DocumentWrite(alice.AccountId, "filler", "message", null, CiphertextRef.InlineBytes([1]), DateTimeOffset.UtcNow), CancellationToken.None);
        await using var full = await RawSmtp.ConnectAsync(provider.Host.SmtpEndPoint);
        await full.CommandAsync("EHLO client.test");
        await full.CommandAsync("MAIL FROM:<x@sender.test>");
        Assert.StartsWith("552 5.2.2", await full.CommandAsync("RCPT TO:<alice@example.test>"), StringComparison.Ordinal);

        // disabled accounts are unknown to the MX
        await provider.Host.Store.SetAccountStatusAsync(alice.AccountId, AccountStatus.Disabled, CancellationToken.None);
        Assert.StartsWith("550 5.1.1", await full.CommandAsync("RCPT TO:<alice@example.test>"), StringComparison.Ordinal);

        foreach (var account in await provider.Host.Store.ListAccountsAsync(CancellationToken.None))
        {
            var changes = await provider.Host.Store.GetChangesAsync(account.Id, 0, 100, CancellationToken.None);
            Assert.DoesNotContain(changes.Changes, c => c.Kind == "inbox");
        }
    }

    [Fact]
    public async Task SPF_DKIM_and_DMARC_are_recorded_and_forged_results_removed()
    {
        await using var provider = await TestProvider.StartAsync(backend, postgres);
        using var api = provider.Client();
        var alice = await api.CreateAccountAsync("alice@example.test");
        using var rsa = RSA.Create(2048);
        provider.Dns.AddTxt("sender.test", "v=spf1 ip4:127.0.0.0/8 -all")
            .AddTxt("sel._domainkey.sender.test", "v=DKIM1; k=rsa; p=" + Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo()))
            .AddTxt("_dmarc.sender.test", "v=DMARC1; p=reject")
            .AddTxt("spoofed.test", "v=spf1 ip4:192.0.2.1 -all")
            .AddTxt("_dmarc.spoofed.test", "v=DMARC1; p=quarantine");

        var signed = Message("carol@sender.test", "alice@example.test", "signed", "DKIM signed body");
        signed.Headers.Add("Authentication-Results", "mx.example.test; spf=pass smtp.mailfrom=evil.test; dkim=pass");
        var signer = new DkimSigner(DotNetRsaToBouncy(rsa), "sender.test", "sel") { HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed, BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed };
        signed.Prepare(EncodingConstraint.SevenBit);
        signer.Sign(signed, [HeaderId.From, HeaderId.Subject, HeaderId.To, HeaderId.MessageId]);

        var spoofed = Message("boss@spoofed.test", "alice@example.test", "spoofed", "not really from the boss");
        using (var smtp = await ConnectAsync(provider))
        {
            await smtp.SendAsync(signed, MailboxAddress.Parse("carol@sender.test"), [MailboxAddress.Parse("alice@example.test")]);
            await smtp.SendAsync(spoofed, MailboxAddress.Parse("boss@spoofed.test"), [MailboxAddress.Parse("alice@example.test")]);
        }

        await api.LoginAsync(alice);
        var inbox = (await api.FetchInboxAsync(alice)).Select(m => MimeMessage.Load(new MemoryStream(m.Message))).ToDictionary(m => m.Subject ?? "");
        var good = inbox["signed"].Headers.Where(h => h.Id == HeaderId.AuthenticationResults).Select(h => h.Value).ToList();
        string results = Assert.Single(good);
        Assert.Contains("spf=pass smtp.mailfrom=sender.test", results, StringComparison.Ordinal);
        Assert.Contains("dkim=pass header.d=sender.test header.s=sel", results, StringComparison.Ordinal);
        Assert.Contains("dmarc=pass", results, StringComparison.Ordinal);
        Assert.DoesNotContain("evil.test", results, StringComparison.Ordinal);

        string bad = inbox["spoofed"].Headers[HeaderId.AuthenticationResults] ?? "";
        Assert.Contains("spf=fail", bad, StringComparison.Ordinal);
        Assert.Contains("dkim=none", bad, StringComparison.Ordinal);
        Assert.Contains("dmarc=fail policy.dmarc=quarantine header.from=spoofed.test", bad, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DMARC_alignment_uses_the_public_suffix_list_so_a_neighbour_under_co_uk_does_not_pass()
    {
        // Without the list, bank.co.uk and attacker.co.uk would share the "organizational domain" co.uk and an
        // SPF pass for attacker.co.uk would align with From: bank.co.uk.
        await using var provider = await TestProvider.StartAsync(backend, postgres);
        using var api = provider.Client();
        var alice = await api.CreateAccountAsync("alice@example.test");
        provider.Dns.AddTxt("attacker.co.uk", "v=spf1 ip4:127.0.0.0/8 -all")
            .AddTxt("_dmarc.bank.co.uk", "v=DMARC1; p=reject")
            .AddTxt("mail.bank.co.uk", "v=spf1 ip4:127.0.0.0/8 -all");

        using (var smtp = await ConnectAsync(provider))
        {
            await smtp.SendAsync(Message("ceo@bank.co.uk", "alice@example.test", "neighbour", "pay this invoice"), MailboxAddress.Parse("bounce@attacker.co.uk"), [MailboxAddress.Parse("alice@example.test")]);
            await smtp.SendAsync(Message("ceo@bank.co.uk", "alice@example.test", "own subdomain", "real"), MailboxAddress.Parse("bounce@mail.bank.co.uk"), [MailboxAddress.Parse("alice@example.test")]);
        }

        await api.LoginAsync(alice);
        var inbox = (await api.FetchInboxAsync(alice)).Select(m => MimeMessage.Load(new MemoryStream(m.Message))).ToDictionary(m => m.Subject ?? "");
        string neighbour = inbox["neighbour"].Headers[HeaderId.AuthenticationResults] ?? "";
        Assert.Contains("spf=pass smtp.mailfrom=attacker.co.uk", neighbour, StringComparison.Ordinal);
        Assert.Contains("dmarc=fail policy.dmarc=reject header.from=bank.co.uk", neighbour, StringComparison.Ordinal);
        // relaxed alignment still holds within the registrable domain
        Assert.Contains("dmarc=pass", inbox["own subdomain"].Headers[HeaderId.AuthenticationResults] ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task Large_messages_are_streamed_through_an_encrypted_spill_and_decrypt_intact()
    {
        await using var provider = await TestProvider.StartAsync(backend, postgres);
        using var api = provider.Client();
        var alice = await api.CreateAccountAsync("alice@example.test");
        var message = Message("carol@sender.test", "alice@example.test", "big one", "see attachment");
        byte[] attachment = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var builder = new BodyBuilder { TextBody = "see attachment" };
        await builder.Attachments.AddAsync("data.bin", new MemoryStream(attachment));
        message.Body = builder.ToMessageBody();
        using (var smtp = await ConnectAsync(provider))
        {
            await smtp.SendAsync(message);
        }

        await api.LoginAsync(alice);
        var (_, raw) = Assert.Single(await api.FetchInboxAsync(alice));
        var parsed = await MimeMessage.LoadAsync(new MemoryStream(raw));
        var part = (MimePart)parsed.Attachments.Single();
        using var decoded = new MemoryStream();
        await part.Content!.DecodeToAsync(decoded);
        Assert.Equal(attachment, decoded.ToArray());
        Assert.NotEmpty(await BlobStoreTests.ListAsync(provider.Host.Blobs));
        Assert.Empty(Directory.Exists(Path.Combine(provider.DataDirectory, "tmp")) ? Directory.GetFiles(Path.Combine(provider.DataDirectory, "tmp")) : []);
    }

    [Fact]
    public async Task Blindness_no_file_or_row_contains_subject_body_or_sender()
    {
        await using var provider = await TestProvider.StartAsync(backend, postgres);
        using var api = provider.Client();
        var alice = await api.CreateAccountAsync("alice@example.test");
        const string Marker = "Zq7MarkerXy41";
        var small = Message($"{Marker}@{Marker.ToLowerInvariant()}.test", "alice@example.test", $"subject {Marker}", $"body {Marker} body");
        var large = Message($"{Marker}@sender.test", "alice@example.test", Marker, string.Concat(Enumerable.Repeat($"{Marker} line\r\n", 150_000)));
        using (var smtp = await ConnectAsync(provider))
        {
            await smtp.SendAsync(small);
            await smtp.SendAsync(large);
        }

        await using (var swaks = new MemoryStream())
        {
            var (code, output) = await Tool.RunAsync("swaks", "-4", "--server", "127.0.0.1", "--port", provider.Host.SmtpEndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--from", $"{Marker}@sender.test", "--to", "alice@example.test", "--header", $"Subject: {Marker}", "--body", Marker);
            Assert.True(code == 0, output);
        }

        await api.LoginAsync(alice);
        var inbox = await api.FetchInboxAsync(alice);
        Assert.Equal(3, inbox.Count);
        Assert.All(inbox, m => Assert.Contains(Marker, Encoding.UTF8.GetString(m.Message), StringComparison.Ordinal));

        byte[][] needles = [Encoding.ASCII.GetBytes(Marker), Encoding.ASCII.GetBytes(Marker.ToLowerInvariant()), Encoding.Unicode.GetBytes(Marker)];
        foreach (string file in Directory.EnumerateFiles(provider.Directory, "*", SearchOption.AllDirectories))
        {
            byte[] content = await File.ReadAllBytesAsync(file);
            foreach (byte[] needle in needles)
            {
                Assert.True(content.AsSpan().IndexOf(needle) < 0, $"{file} contains the marker");
            }
        }

        if (backend == Backend.Postgres)
        {
            await using var connection = new NpgsqlConnection(PostgresServer.ConnectionString(provider.DatabaseUrl!));
            await connection.OpenAsync();
            foreach (string table in new[] { "accounts", "devices", "invites", "challenges", "tokens", "documents" })
            {
                await using var command = new NpgsqlCommand($"SELECT t::text FROM {table} t", connection);
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    string row = reader.GetString(0);
                    Assert.DoesNotContain(Marker, row, StringComparison.OrdinalIgnoreCase);
                    Assert.DoesNotContain(Convert.ToHexStringLower(Encoding.ASCII.GetBytes(Marker)), row, StringComparison.Ordinal);
                }
            }
        }
    }

    private static Org.BouncyCastle.Crypto.AsymmetricKeyParameter DotNetRsaToBouncy(RSA rsa)
    {
        var pem = rsa.ExportRSAPrivateKeyPem();
        using var reader = new StringReader(pem);
        var pair = (Org.BouncyCastle.Crypto.AsymmetricCipherKeyPair)new Org.BouncyCastle.OpenSsl.PemReader(reader).ReadObject();
        return pair.Private;
    }
}

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SqliteMxTests(PostgresServer postgres) : MxTests(Backend.Sqlite, postgres);

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostgresMxTests(PostgresServer postgres) : MxTests(Backend.Postgres, postgres);

/// <summary>A line-level SMTP client for sending what well-behaved clients never send.</summary>
internal sealed class RawSmtp : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly StreamReader _reader;
    private readonly Stream _stream;

    private RawSmtp(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = new StreamReader(_stream, Encoding.ASCII);
    }

    public static async Task<RawSmtp> ConnectAsync(IPEndPoint endPoint)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, endPoint.Port);
        var session = new RawSmtp(tcp);
        string? greeting = await session.ReadReplyOrNullAsync();
        Assert.StartsWith("220", greeting, StringComparison.Ordinal);
        return session;
    }

    /// <summary>Connects and sends <paramref name="preamble"/> (a PROXY header) before reading anything.</summary>
    public static async Task<RawSmtp> OpenAsync(IPEndPoint endPoint, byte[] preamble)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, endPoint.Port);
        var session = new RawSmtp(tcp);
        await session._stream.WriteAsync(preamble);
        return session;
    }

    public async Task<string> CommandAsync(string line, bool raw = false)
    {
        await _stream.WriteAsync(Encoding.ASCII.GetBytes(raw ? line : line + "\r\n"));
        return await ReadReplyOrNullAsync() ?? "(closed)";
    }

    /// <summary>Sends <paramref name="bytes"/> exactly as given (UTF-8 or invalid bytes, bare LF) and reads one reply.</summary>
    public async Task<string> CommandAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        return await ReadReplyOrNullAsync() ?? "(closed)";
    }

    /// <summary>Half-closes: the server reads end of stream.</summary>
    public void ShutdownSend() => _tcp.Client.Shutdown(SocketShutdown.Send);

    /// <summary>Sends without reading a reply (pipelining, message content).</summary>
    public async Task SendAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>Reads a reply (all continuation lines), or null when the server closed the connection.</summary>
    public async Task<string?> ReadReplyOrNullAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var lines = new StringBuilder();
        while (true)
        {
            string? line;
            try
            {
                line = await _reader.ReadLineAsync(timeout.Token);
            }
            catch (IOException)
            {
                line = null;
            }

            if (line is null)
            {
                return lines.Length == 0 ? null : lines.ToString();
            }

            lines.AppendLine(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return lines.ToString();
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
