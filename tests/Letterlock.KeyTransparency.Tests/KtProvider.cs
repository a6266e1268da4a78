using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Transparency;
using Letterlock.Provider.Hosting;
using Microsoft.Extensions.Logging;

namespace Letterlock.KeyTransparency.Tests;

/// <summary>
/// The real provider (<see cref="ProviderHost"/>) on loopback over HTTPS with a certificate from the test CA,
/// on SQLite or on a fresh database of the shared private PostgreSQL cluster. Epochs are published by the tests
/// (the interval is set to an hour), except the first, which the provider publishes when it starts.
/// </summary>
internal sealed class KtProvider : IAsyncDisposable
{
    public const string Domain = "example.test";

    private KtProvider(TempDir dir, string data, string? databaseUrl, ProviderHost host)
    {
        Dir = dir;
        DataDirectory = data;
        DatabaseUrl = databaseUrl;
        Host = host;
    }

    public TempDir Dir { get; }

    public string DataDirectory { get; }

    public string? DatabaseUrl { get; }

    public ProviderHost Host { get; private set; }

    public Uri BaseUri => new($"https://127.0.0.1:{Host.HttpsEndPoint.Port}/");

    public string CaPath => Dir.File("ca.pem");

    public static async Task<KtProvider> StartAsync(Backend backend, PostgresServer postgres)
    {
        var dir = new TempDir();
        string data = dir.File("data");
        using var certificate = TestCa.ServerCertificate(Domain, "mx." + Domain, "localhost");
        await File.WriteAllTextAsync(dir.File("cert.pem"), certificate.ExportCertificatePem());
        using (var key = certificate.GetECDsaPrivateKey()!)
        {
            await File.WriteAllTextAsync(dir.File("key.pem"), key.ExportPkcs8PrivateKeyPem());
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(dir.File("key.pem"), UnixFileMode.UserRead | UnixFileMode.UserWrite); // the provider refuses keys others can read
            }
        }

        TestCa.WriteRootPem(dir.File("ca.pem"));
        ProviderKeys.Initialize(new ProviderKeys.InitOptions(Domain, data, "mx." + Domain, dir.File("cert.pem"), dir.File("key.pem"), "127.0.0.1:0", "127.0.0.1:0", "open"));
        string settings = Path.Combine(data, "provider.json");
        await File.WriteAllTextAsync(settings, (await File.ReadAllTextAsync(settings)).Replace("\"epochIntervalSeconds\": 60", "\"epochIntervalSeconds\": 3600", StringComparison.Ordinal));
        string? url = backend == Backend.Postgres ? await postgres.CreateDatabaseAsync() : null;
        return new KtProvider(dir, data, url, await StartHostAsync(data, url));
    }

    /// <summary>Stops the provider and starts it again on the same data (a restart, e.g. after a crash).</summary>
    public async Task RestartAsync()
    {
        await Host.DisposeAsync();
        Host = await StartHostAsync(DataDirectory, DatabaseUrl);
    }

    public async Task<Letterlock.Transparency.SignedTreeHead> PublishAsync() =>
        await Host.Transparency.PublishPendingAsync(default) ?? throw new InvalidOperationException("nothing was published");

    /// <summary>A client whose HTTP reaches this provider as https://example.test/ and trusts the test CA.</summary>
    public async Task<ProviderClientHandle> RegisterAsync(string address)
    {
        var dir = new TempDir();
        KeyFile.Create(dir.File("store.key"));
        var store = await LocalStore.CreateAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(dir.File("store.key")));
        var map = new StaticHostMap { AllowSystemDns = false }.Add(Domain, Host.HttpsEndPoint);
        var http = new HttpClient(HttpFetch.CreateHandler(map, new X509Certificate2Collection(TestCa.Ca.Root))) { Timeout = Timeout.InfiniteTimeSpan };
        var account = await AccountRegistration.CreateAsync(store, new ProviderClient(http, new Uri($"https://{Domain}/")), address, null);
        return new ProviderClientHandle(dir, store, account, http, map);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        Dir.Dispose();
    }

    private static Task<ProviderHost> StartHostAsync(string data, string? url) =>
        ProviderHost.StartAsync(data, url, new Letterlock.Dns.StaticDnsResolver(), LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
}

/// <summary>A client device registered with the real provider.</summary>
internal sealed class ProviderClientHandle(TempDir dir, LocalStore store, AccountRecord account, HttpClient http, StaticHostMap map) : IAsyncDisposable
{
    /// <summary>Where example.test points (a restarted provider listens on a new port).</summary>
    public StaticHostMap Map { get; } = map;

    public TempDir Dir { get; } = dir;

    public LocalStore Store { get; } = store;

    public AccountRecord Account { get; } = account;

    public HttpClient Http { get; } = http;

    public TransparencyService Service { get; } = new(store, http);

    public Task<ProviderClient> ConnectAsync() => AccountRegistration.ConnectAsync(Store, Account, Http);

    public async Task<MonitorReport> MonitorAsync()
    {
        var own = (await TransparencyWatch.LoadOwnKeysAsync(Store, Account.Id, default))!;
        return await Service.MonitorAsync(Account.Address, own, Account.CreatedAt, Account.ProviderUrl, default);
    }

    /// <summary>A bearer token of this device (challenge signed with the device key).</summary>
    public async Task<string> TokenAsync()
    {
        var device = (await Store.Keys.GetCurrentAsync(Account.Id, AccountKeys.DeviceSecret))!.Material;
        var challenge = await (await Http.PostAsJsonAsync(new Uri(Account.ProviderUrl!, "v1/auth/challenge"), new ChallengeRequest(Account.DeviceId!.Value),
            ApiJsonContext.Default.ChallengeRequest)).Content.ReadFromJsonAsync(ApiJsonContext.Default.ChallengeResponse);
        var signature = DeviceAuthentication.Sign(device, DeviceAuthentication.ChallengeMessage(KtProvider.Domain, Account.DeviceId!.Value, challenge!.ChallengeId, challenge.Challenge));
        var token = await (await Http.PostAsJsonAsync(new Uri(Account.ProviderUrl!, "v1/auth/token"), new TokenRequest(challenge.ChallengeId, signature),
            ApiJsonContext.Default.TokenRequest)).Content.ReadFromJsonAsync(ApiJsonContext.Default.TokenResponse);
        return token!.Token;
    }

    /// <summary>Registers another device of this account (as this device would for a new laptop); returns its public key and id.</summary>
    public async Task<(byte[] PublicKey, Guid Id)> AddDeviceAsync()
    {
        var (privateKey, publicKey) = DeviceAuthentication.GenerateKeyPair();
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Account.ProviderUrl!, "v1/devices"))
        {
            Content = JsonContent.Create(new AddDeviceRequest(publicKey, "laptop",
                DeviceAuthentication.Sign(privateKey, DeviceAuthentication.AddDeviceMessage(KtProvider.Domain, Account.RemoteAccountId!.Value, publicKey))),
                ApiJsonContext.Default.AddDeviceRequest),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync());
        var response = await Http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        var info = await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.DeviceInfo);
        return (publicKey, info!.DeviceId);
    }

    public async Task RevokeDeviceAsync(Guid id)
    {
        var request = new HttpRequestMessage(HttpMethod.Delete, new Uri(Account.ProviderUrl!, $"v1/devices/{id}"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync());
        Assert.Equal(System.Net.HttpStatusCode.NoContent, (await Http.SendAsync(request)).StatusCode);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Store.Dispose();
        await Task.Yield();
        Dir.Dispose();
    }
}
