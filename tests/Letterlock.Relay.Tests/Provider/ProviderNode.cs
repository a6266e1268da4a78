using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Letterlock.Api;
using Letterlock.Cryptography;
using Letterlock.Dns;
using Letterlock.OpenPgp;
using Letterlock.Provider.Hosting;
using Letterlock.Relay.Dkim;
using Letterlock.Relay.Tests.Peers;
using Microsoft.Extensions.Logging;

namespace Letterlock.Relay.Tests.Provider;

/// <summary>Collects the log lines of an in-process provider.</summary>
internal sealed class ListLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public string All => string.Join("\n", Lines);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(ListLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.GetType().Name)}");
            }
        }
    }
}

/// <summary>
/// A provider for <c>DOMAIN</c> started in-process on loopback: its own data folder, a certificate from the test CA
/// for <c>mx.DOMAIN</c>, <c>DOMAIN</c> and <c>mta-sts.DOMAIN</c>, the CA as the relay's only trusted root, fast retries,
/// and its records (MX, A, SPF, both DKIM keys, DMARC, optionally MTA-STS) in a DNS map shared with its peers.
/// </summary>
internal sealed class ProviderNode : IAsyncDisposable
{
    private readonly TempDir _dir;
    private readonly ILoggerFactory _loggers;

    private ProviderNode(string domain, TempDir dir, ProviderHost host, ListLoggerProvider log, ILoggerFactory loggers)
    {
        Domain = domain;
        _dir = dir;
        Host = host;
        Log = log;
        _loggers = loggers;
    }

    public string Domain { get; }

    public string MxHost => "mx." + Domain;

    public ProviderHost Host { get; }

    public ListLoggerProvider Log { get; }

    public string DataDirectory => Path.Combine(_dir.Path, "data");

    public IPEndPoint Smtp => Host.SmtpEndPoint;

    public IPEndPoint Submission => Host.Listeners.Single(l => l.Protocol == "submission").EndPoint;

    public IPEndPoint Submissions => Host.Listeners.Single(l => l.Protocol == "submissions").EndPoint;

    /// <summary>Initializes a data folder for <paramref name="domain"/> (keys, certificate, settings) and publishes its DNS records.</summary>
    public static string Prepare(TempDir dir, string domain, TestCa ca, StaticDnsResolver dns, string mtaStsMode = "none", Action<JsonNode>? edit = null)
    {
        string data = Path.Combine(dir.Path, "data");
        string mx = "mx." + domain;
        var certificate = ca.Issue([mx, domain, "mta-sts." + domain]);
        File.WriteAllText(dir.File("cert.pem"), TestCa.CertificatePem(certificate));
        File.WriteAllText(dir.File("key.pem"), TestCa.KeyPem(certificate));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(dir.File("key.pem"), UnixFileMode.UserRead | UnixFileMode.UserWrite); // the provider refuses keys others can read
        }

        ProviderKeys.Initialize(new ProviderKeys.InitOptions(domain, data, mx, dir.File("cert.pem"), dir.File("key.pem"), SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
        File.WriteAllText(Path.Combine(data, "ca.pem"), TestCa.CertificatePem(ca.Root));
        EditSettings(data, settings =>
        {
            var relay = settings["relay"]!;
            relay["trustedRoots"] = "ca.pem";
            relay["initialRetrySeconds"] = 1;
            relay["maxRetrySeconds"] = 2;
            relay["pollSeconds"] = 1;
            relay["leaseSeconds"] = 30;
            relay["delayWarningHours"] = 0;
            relay["connectTimeoutSeconds"] = 20;
            relay["commandTimeoutSeconds"] = 60;
            relay["useIPv6"] = false;
            settings["mtaSts"]!["mode"] = mtaStsMode;
            edit?.Invoke(settings);
        });

        dns.AddMx(domain, 10, mx).AddAddress(mx, IPAddress.Loopback);
        dns.AddTxt(domain, "v=spf1 ip4:127.0.0.1 -all");
        dns.AddTxt("_dmarc." + domain, "v=DMARC1; p=reject; adkim=s; aspf=s");
        foreach (var (record, value) in DkimRecords(data, domain))
        {
            dns.AddTxt(record, value);
        }

        if (mtaStsMode != "none")
        {
            dns.AddTxt("_mta-sts." + domain, "v=STSv1; id=1");
            dns.AddAddress("mta-sts." + domain, IPAddress.Loopback);
        }

        return data;
    }

    /// <summary>The DKIM key records of a data folder: name to TXT value.</summary>
    public static Dictionary<string, string> DkimRecords(string data, string domain) => new()
    {
        [$"letterlock1._domainkey.{domain}"] = DkimKey.FromPem("letterlock1", File.ReadAllText(Path.Combine(data, "dkim", "letterlock1.pem"))).TxtRecord,
        [$"letterlock1ed._domainkey.{domain}"] = DkimKey.FromPem("letterlock1ed", File.ReadAllText(Path.Combine(data, "dkim", "letterlock1ed.pem"))).TxtRecord,
    };

    /// <summary>Rewrites provider.json (comments are dropped).</summary>
    public static void EditSettings(string data, Action<JsonNode> edit)
    {
        string path = Path.Combine(data, "provider.json");
        var node = JsonNode.Parse(File.ReadAllText(path), null, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })!;
        edit(node);
        File.WriteAllText(path, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    public static async Task<ProviderNode> StartAsync(string domain, TestCa ca, StaticDnsResolver dns, string? databaseUrl = null, string mtaStsMode = "none", Action<JsonNode>? edit = null)
    {
        var dir = new TempDir("letterlock-node-");
        var log = new ListLoggerProvider();
        var loggers = LoggerFactory.Create(b => b.AddProvider(log).SetMinimumLevel(LogLevel.Information));
        try
        {
            string data = Prepare(dir, domain, ca, dns, mtaStsMode, edit);
            var host = await ProviderHost.StartAsync(data, databaseUrl, dns, loggers);
            return new ProviderNode(domain, dir, host, log, loggers);
        }
        catch
        {
            loggers.Dispose();
            dir.Dispose();
            throw;
        }
    }

    /// <summary>Lets each node's relay reach the others' MX and MTA-STS policy on their loopback ports.</summary>
    public static void Connect(params ProviderNode[] nodes)
    {
        foreach (var from in nodes)
        {
            foreach (var to in nodes.Where(n => n != from))
            {
                from.Host.Outbound.PortOverrides[to.MxHost] = to.Smtp.Port;
                from.Host.Outbound.PortOverrides["mta-sts." + to.Domain] = to.Host.HttpsEndPoint.Port;
            }
        }
    }

    public NodeClient Client() => new(Domain, Host.HttpsEndPoint.Port);

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        _loggers.Dispose();
        _dir.Dispose();
    }
}

/// <summary>An account as its device holds it: device key, inbox key pair.</summary>
internal sealed record NodeAccount(string Address, Guid AccountId, Guid DeviceId, byte[] DevicePrivateKey, HpkeKeyPair Inbox);

/// <summary>A client of one provider's HTTPS API (the test CA's certificate is accepted as is).</summary>
internal sealed class NodeClient : IDisposable
{
    private readonly string _domain;

    public NodeClient(string domain, int httpsPort)
    {
        _domain = domain;
        var handler = new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } };
        Http = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{httpsPort}/"), Timeout = TimeSpan.FromSeconds(120) };
    }

    public HttpClient Http { get; }

    /// <summary>Creates an account (a real OpenPGP certificate for the address, a device key, an inbox key) and signs in.</summary>
    public async Task<NodeAccount> CreateAccountAsync(string localPart)
    {
        string address = $"{localPart}@{_domain}";
        var (devicePrivate, devicePublic) = DeviceAuthentication.GenerateKeyPair();
        var inbox = HpkeKeyPair.Generate();
        byte[] certificate = KeyGenerator.Generate($"<{address}>", "").Certificate.Export(armored: false);
        byte[] proof = DeviceAuthentication.Sign(devicePrivate, DeviceAuthentication.RegistrationMessage(_domain, address, devicePublic, certificate, inbox.PublicKey.Span));
        var response = await Http.PostAsJsonAsync("v1/accounts", new CreateAccountRequest(address, devicePublic, "test device", certificate, inbox.PublicKey.ToArray(), proof), ApiJsonContext.Default.CreateAccountRequest);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var created = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.CreateAccountResponse))!;
        var account = new NodeAccount(address, created.AccountId, created.DeviceId, devicePrivate, inbox);
        await LoginAsync(account);
        return account;
    }

    public async Task LoginAsync(NodeAccount account)
    {
        var challengeResponse = await Http.PostAsJsonAsync("v1/auth/challenge", new ChallengeRequest(account.DeviceId), ApiJsonContext.Default.ChallengeRequest);
        var challenge = (await challengeResponse.Content.ReadFromJsonAsync(ApiJsonContext.Default.ChallengeResponse))!;
        byte[] signature = DeviceAuthentication.Sign(account.DevicePrivateKey, DeviceAuthentication.ChallengeMessage(_domain, account.DeviceId, challenge.ChallengeId, challenge.Challenge));
        var tokenResponse = await Http.PostAsJsonAsync("v1/auth/token", new TokenRequest(challenge.ChallengeId, signature), ApiJsonContext.Default.TokenRequest);
        Assert.Equal(HttpStatusCode.OK, tokenResponse.StatusCode);
        var token = (await tokenResponse.Content.ReadFromJsonAsync(ApiJsonContext.Default.TokenResponse))!;
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
    }

    /// <summary><c>POST /v1/submission/token</c>: the device's SMTP password.</summary>
    public async Task<SubmissionTokenResponse> SubmissionTokenAsync()
    {
        var response = await Http.PostAsync("v1/submission/token", null);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync(SubmissionJsonContext.Default.SubmissionTokenResponse))!;
    }

    /// <summary><c>POST /v1/submission</c> with the raw message.</summary>
    public Task<HttpResponseMessage> SubmitAsync(byte[] message, IEnumerable<string> recipients, string? mailFrom = null, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/submission") { Content = new ByteArrayContent(message) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("message/rfc822");
        request.Headers.TryAddWithoutValidation(SubmissionHeaders.RcptTo, string.Join(", ", recipients));
        if (mailFrom is not null)
        {
            request.Headers.TryAddWithoutValidation(SubmissionHeaders.MailFrom, mailFrom);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.TryAddWithoutValidation(SubmissionHeaders.IdempotencyKey, idempotencyKey);
        }

        return Http.SendAsync(request);
    }

    /// <summary>
    /// <c>POST /v1/submission</c> with the envelope in the body: a <c>multipart/mixed</c> of the JSON envelope (exactly
    /// <paramref name="envelopeJson"/> when given) and the message.
    /// </summary>
    public Task<HttpResponseMessage> SubmitEnvelopeAsync(byte[] message, IEnumerable<string> recipients, string? mailFrom = null, byte[]? envelopeJson = null)
    {
        var envelope = new ByteArrayContent(envelopeJson ?? System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(
            new SubmissionEnvelope(recipients.ToList(), mailFrom), SubmissionJsonContext.Default.SubmissionEnvelope));
        envelope.Headers.ContentType = new MediaTypeHeaderValue(SubmissionMediaTypes.Envelope);
        var body = new ByteArrayContent(message);
        body.Headers.ContentType = new MediaTypeHeaderValue(SubmissionMediaTypes.Message);
        return Http.PostAsync("v1/submission", new MultipartContent("mixed") { envelope, body });
    }

    /// <summary>Waits until the account's inbox holds at least <paramref name="count"/> messages, and returns them opened with the inbox key.</summary>
    public async Task<List<byte[]>> WaitForInboxAsync(NodeAccount account, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        var messages = new List<byte[]>();
        long since = 0;
        while (true)
        {
            var response = await Http.GetAsync($"v1/changes?since={since}&limit=500&wait=2");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ChangesResponse))!;
            foreach (var change in page.Changes.Where(c => c.Kind == "inbox" && !c.Deleted))
            {
                messages.Add(Open(account, await Http.GetByteArrayAsync($"v1/documents/{change.Id}")));
            }

            since = page.Next;
            if (messages.Count >= count && !page.HasMore)
            {
                return messages;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{account.Address} has {messages.Count} of {count} messages");
            }
        }
    }

    /// <summary>Opens an inbox document with the inbox secret key, as the client does.</summary>
    public static byte[] Open(NodeAccount account, byte[] document)
    {
        using var source = new MemoryStream(document);
        using var opening = HpkeOpeningStream.Open(source, account.Inbox.PrivateKey.Span, InboxEnvelope.Info);
        using var plain = new MemoryStream();
        opening.CopyTo(plain);
        Assert.True(opening.IsComplete);
        Assert.True(InboxEnvelope.TryUnframe(plain.ToArray(), out var message), "inbox framing");
        return message.ToArray();
    }

    public static async Task<Problem> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.Problem))!;
    }

    /// <summary>A small message from <paramref name="from"/> with a marker in subject and body.</summary>
    public static byte[] Message(string from, string to, string subject, string body = "Hello over the relay.\r\n", string? messageId = null)
    {
        var text = new StringBuilder()
            .Append("From: ").Append(from).Append("\r\n")
            .Append("To: ").Append(to).Append("\r\n")
            .Append("Subject: ").Append(subject).Append("\r\n")
            .Append("Date: ").Append(DateTimeOffset.UtcNow.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", System.Globalization.CultureInfo.InvariantCulture)).Append("\r\n")
            .Append("Message-ID: <").Append(messageId ?? Guid.NewGuid().ToString("N") + "@test").Append(">\r\n")
            .Append("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
            .Append(body);
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public void Dispose() => Http.Dispose();
}

/// <summary>Waits for a condition (events, not fixed sleeps; generous deadlines for a loaded machine).</summary>
internal static class Wait
{
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("timed out waiting: " + what);
            }

            await Task.Delay(50);
        }
    }
}
