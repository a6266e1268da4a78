using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Letterlock.Api;
using Letterlock.Cryptography;
using Letterlock.Dns;
using Letterlock.Provider.Hosting;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Tests;

/// <summary>A provider started in-process on loopback port 0 with a fresh data directory.</summary>
public sealed class TestProvider : IAsyncDisposable
{
    public const string Domain = "example.test";

    private TestProvider(ProviderHost host, string directory, string? databaseUrl, StaticDnsResolver dns)
    {
        Host = host;
        Directory = directory;
        DatabaseUrl = databaseUrl;
        Dns = dns;
    }

    public ProviderHost Host { get; }

    public string Directory { get; }

    public string DataDirectory => Path.Combine(Directory, "data");

    public string? DatabaseUrl { get; }

    public StaticDnsResolver Dns { get; }

    public static async Task<TestProvider> StartAsync(Backend backend, PostgresServer? postgres, string signUp = "open", Action<string>? editSettings = null, string? databaseUrl = null, string? directory = null)
    {
        directory ??= CreateDirectory();
        string data = Path.Combine(directory, "data");
        if (!File.Exists(Path.Combine(data, "provider.json")))
        {
            ProviderKeys.Initialize(new ProviderKeys.InitOptions(Domain, data, "mx." + Domain, SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: signUp));
            editSettings?.Invoke(Path.Combine(data, "provider.json"));
        }

        if (backend == Backend.Postgres && databaseUrl is null)
        {
            databaseUrl = await postgres!.CreateDatabaseAsync();
        }

        var dns = new StaticDnsResolver();
        var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning));
        var host = await ProviderHost.StartAsync(data, backend == Backend.Postgres ? databaseUrl : null, dns, loggerFactory);
        return new TestProvider(host, directory, databaseUrl, dns);
    }

    /// <summary>Initializes a data directory for a child-process provider: loopback port 0, open sign-up, a static (empty) DNS map.</summary>
    public static string InitializeForProcess(string directory)
    {
        string data = Path.Combine(directory, "data");
        ProviderKeys.Initialize(new ProviderKeys.InitOptions(Domain, data, SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
        File.WriteAllText(Path.Combine(data, "dns.txt"), "# no records: the sandbox has no network\n");
        string settings = Path.Combine(data, "provider.json");
        File.WriteAllText(settings, File.ReadAllText(settings).Replace("\"resolver\": \"system\"", "\"resolver\": \"static:dns.txt\"", StringComparison.Ordinal));
        return data;
    }

    public static string CreateDirectory()
    {
        string directory = Path.Combine(Path.GetTempPath(), "letterlock-provider-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        return directory;
    }

    public ApiClient Client() => new(Host.HttpsEndPoint);

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a file still open by a finishing session; the folder is in /tmp
        }
    }
}

/// <summary>Real OpenPGP certificates for test addresses (generated once per address: key generation is the slow part).</summary>
public static class Certificates
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> Cache = new(StringComparer.OrdinalIgnoreCase);

    public static byte[] For(string address) =>
        Cache.GetOrAdd(address, a => Letterlock.OpenPgp.KeyGenerator.Generate($"Test <{a.ToLowerInvariant()}>", "").Certificate.Export(armored: false));
}

/// <summary>A test account with its private keys, as a client device would hold them.</summary>
public sealed record TestAccount(string Address, Guid AccountId, Guid DeviceId, byte[] DevicePrivateKey, byte[] DevicePublicKey, HpkeKeyPair Inbox, byte[] Certificate);

/// <summary>A minimal API client over real HTTPS (the provider's self-signed certificate is accepted).</summary>
public sealed class ApiClient : IDisposable
{
    public ApiClient(IPEndPoint endPoint)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        };
        Http = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{endPoint.Port}/"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public HttpClient Http { get; }

    public static (CreateAccountRequest Request, TestAccount Account) NewAccountRequest(string address, string? invite = null)
    {
        var (devicePrivate, devicePublic) = DeviceAuthentication.GenerateKeyPair();
        var inbox = HpkeKeyPair.Generate();
        byte[] certificate = Certificates.For(address);
        byte[] proof = DeviceAuthentication.Sign(devicePrivate, DeviceAuthentication.RegistrationMessage(TestProvider.Domain, address, devicePublic, certificate, inbox.PublicKey.Span));
        var request = new CreateAccountRequest(address, devicePublic, "test device", certificate, inbox.PublicKey.ToArray(), proof, invite);
        return (request, new TestAccount(address, Guid.Empty, Guid.Empty, devicePrivate, devicePublic, inbox, certificate));
    }

    public async Task<TestAccount> CreateAccountAsync(string address, string? invite = null)
    {
        var (request, account) = NewAccountRequest(address, invite);
        var response = await Http.PostAsJsonAsync("v1/accounts", request, ApiJsonContext.Default.CreateAccountRequest);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.CreateAccountResponse))!;
        return account with { AccountId = created.AccountId, DeviceId = created.DeviceId };
    }

    public async Task<ChallengeResponse> ChallengeAsync(Guid deviceId)
    {
        var response = await Http.PostAsJsonAsync("v1/auth/challenge", new ChallengeRequest(deviceId), ApiJsonContext.Default.ChallengeRequest);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ChallengeResponse))!;
    }

    public static byte[] SignChallenge(TestAccount account, ChallengeResponse challenge) =>
        DeviceAuthentication.Sign(account.DevicePrivateKey, DeviceAuthentication.ChallengeMessage(TestProvider.Domain, account.DeviceId, challenge.ChallengeId, challenge.Challenge));

    public Task<HttpResponseMessage> RedeemAsync(Guid challengeId, byte[] signature) =>
        Http.PostAsJsonAsync("v1/auth/token", new TokenRequest(challengeId, signature), ApiJsonContext.Default.TokenRequest);

    public async Task LoginAsync(TestAccount account)
    {
        var challenge = await ChallengeAsync(account.DeviceId);
        var response = await RedeemAsync(challenge.ChallengeId, SignChallenge(account, challenge));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var token = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.TokenResponse))!;
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
    }

    public async Task<ChangesResponse> ChangesAsync(long since, int? limit = null, int wait = 0)
    {
        string query = $"v1/changes?since={since}" + (limit is int l ? $"&limit={l}" : "") + (wait > 0 ? $"&wait={wait}" : "");
        var response = await Http.GetAsync(query);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ChangesResponse))!;
    }

    public async Task<byte[]> GetBytesAsync(string id)
    {
        var response = await Http.GetAsync($"v1/documents/{id}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsByteArrayAsync();
    }

    public Task<HttpResponseMessage> PutAsync(string id, byte[] body, string kind = "message", long? ifMatch = null, bool create = true)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, $"v1/documents/{id}") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        request.Headers.Add(ApiHeaders.Kind, kind);
        if (ifMatch is long revision)
        {
            request.Headers.TryAddWithoutValidation("If-Match", $"\"{revision}\"");
        }
        else if (create)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", "*");
        }

        return Http.SendAsync(request);
    }

    /// <summary>Fetches every inbox document after <paramref name="since"/> and opens it with the inbox secret key.</summary>
    public async Task<List<(string Id, byte[] Message)>> FetchInboxAsync(TestAccount account, long since = 0)
    {
        var messages = new List<(string, byte[])>();
        while (true)
        {
            var page = await ChangesAsync(since, 500);
            foreach (var change in page.Changes.Where(c => c.Kind == "inbox" && !c.Deleted))
            {
                messages.Add((change.Id, Open(account, await GetBytesAsync(change.Id))));
            }

            since = page.Next;
            if (!page.HasMore)
            {
                return messages;
            }
        }
    }

    public static byte[] Open(TestAccount account, byte[] document, byte[]? inboxPrivateKey = null)
    {
        using var source = new MemoryStream(document);
        using var opening = HpkeOpeningStream.Open(source, inboxPrivateKey ?? account.Inbox.PrivateKey.ToArray(), InboxEnvelope.Info);
        using var plain = new MemoryStream();
        opening.CopyTo(plain);
        Assert.True(InboxEnvelope.TryUnframe(plain.ToArray(), out var message), "inbox framing");
        return message.ToArray();
    }

    public static async Task<Problem> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.Problem))!;
    }

    public void Dispose() => Http.Dispose();
}
