using System.Net;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Sandbox;
using Letterlock.Client.Transparency;
using Letterlock.Transparency;

// The tests run on Linux (CI and the sandbox).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Letterlock.KeyTransparency.Tests;

/// <summary>The test CA every HTTPS server of these tests gets its certificate from.</summary>
internal static class TestCa
{
    private static readonly Lazy<LocalCertificateAuthority> Shared = new(() => LocalCertificateAuthority.Create("Letterlock KT test CA"));

    public static LocalCertificateAuthority Ca => Shared.Value;

    public static X509Certificate2 ServerCertificate(params string[] names) => Ca.IssueServerCertificate(names, [IPAddress.Loopback]);

    public static string WriteRootPem(string path)
    {
        File.WriteAllText(path, Ca.ExportPem().CertificatePem);
        return path;
    }
}

/// <summary>
/// A client device for one account: its own encrypted store (unlocked by a key file, so the CLI can open it too),
/// freshly generated account keys, and the transparency service talking HTTPS through a static host map.
/// </summary>
internal sealed class TestClient : IAsyncDisposable
{
    private TestClient(TempDir dir, LocalStore store, AccountRecord account, AccountKeys.PublicParts keys, HttpClient http, OwnKeys own)
    {
        Dir = dir;
        Store = store;
        Account = account;
        Keys = keys;
        Http = http;
        Own = own;
        Service = new TransparencyService(store, http);
    }

    public TempDir Dir { get; }

    public LocalStore Store { get; }

    public AccountRecord Account { get; }

    public AccountKeys.PublicParts Keys { get; }

    public HttpClient Http { get; }

    public OwnKeys Own { get; }

    public TransparencyService Service { get; }

    public string KeyFilePath => Dir.File("store.key");

    /// <summary>The key set the provider should publish for this client's account.</summary>
    public KeySet KeySet => new(Own.OpenPgpFingerprint, Own.InboxKey, [Own.DeviceKey], revoked: false);

    /// <summary>Creates the client; <paramref name="providerHost"/> (the address's domain) is mapped to <paramref name="provider"/>.</summary>
    public static async Task<TestClient> CreateAsync(string address, IPEndPoint provider, Uri? providerUrl = null)
    {
        var dir = new TempDir();
        KeyFile.Create(dir.File("store.key"));
        var store = await LocalStore.CreateAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(dir.File("store.key")));
        string domain = TransparencyAddress.Domain(TransparencyAddress.Canonicalize(address));
        var account = await store.Accounts.CreateAsync(address, null, providerUrl ?? new Uri($"https://{domain}/"));
        var keys = await AccountKeys.GenerateAsync(store, account);
        account = await store.Accounts.UpdateAsync(account with { DeviceId = Guid.NewGuid() }); // as if registered
        var own = (await TransparencyWatch.LoadOwnKeysAsync(store, account.Id, default))!;
        var map = new StaticHostMap { AllowSystemDns = false }.Add(domain, provider).Add("127.0.0.1", provider);
        var http = new HttpClient(HttpFetch.CreateHandler(map, new X509Certificate2Collection(TestCa.Ca.Root))) { Timeout = Timeout.InfiniteTimeSpan };
        return new TestClient(dir, store, account, keys, http, own);
    }

    /// <summary>One monitoring round of this client's own address.</summary>
    public Task<MonitorReport> MonitorAsync(CancellationToken ct = default) =>
        Service.MonitorAsync(Account.Address, Own, Account.CreatedAt, Account.ProviderUrl, ct);

    public async Task<IReadOnlyList<TransparencyAlert>> AlertsAsync() => await Service.State.GetAlertsAsync(default);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Store.Dispose();
        await Task.Yield();
        Dir.Dispose();
    }
}

/// <summary>Runs the <c>letterlock</c> command tree in-process and captures its output.</summary>
internal static class Cli
{
    public static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        var run = await InProcessCli.RunAsync((output, error) => Letterlock.Cli.LetterlockCli.RunAsync(args, output, error));
        return (run.Code, run.Out, run.Err);
    }
}
