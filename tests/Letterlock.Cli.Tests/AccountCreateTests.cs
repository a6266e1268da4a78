using Letterlock.Provider.Hosting;
using Microsoft.Extensions.Logging;

namespace Letterlock.Cli.Tests;

/// <summary><c>letterlock account create</c> against a real provider over HTTPS (its certificate trusted with --ca).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AccountCreateTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-cli-create-" + Guid.NewGuid().ToString("N"));
    private ProviderHost _provider = null!;

    private string Data => Path.Combine(_dir, "provider");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", Data, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
        _provider = await ProviderHost.StartAsync(Data, null, new Letterlock.Dns.StaticDnsResolver(), LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<CliRun> Run(string client, params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync([.. args, "--data", client, "--key-file", Path.Combine(client, "store.key")], output, error));

    [Fact]
    public async Task An_account_is_created_with_keys_on_the_device_and_a_taken_address_is_refused()
    {
        var url = $"https://127.0.0.1:{_provider.HttpsEndPoint.Port}/";
        var ca = Path.Combine(Data, "tls", "cert.pem");
        var client = Path.Combine(_dir, "client");
        var (code, output, error) = await Run(client, "account", "create", "--provider", url, "--address", "alice@alpha.test", "--name", "Alice", "--ca", ca, "--no-password");
        Assert.True(code == 0, error);
        Assert.Contains("Created alice@alpha.test", output, StringComparison.Ordinal);
        Assert.Contains("OpenPGP key ", output, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(client, "store.key")));

        (code, output, _) = await Run(client, "account", "show", "alice@alpha.test");
        Assert.Equal(0, code);
        foreach (var purpose in new[] { "openpgp-secret", "openpgp-revocation", "inbox-xwing-secret", "device-secret", "account-master-key" })
        {
            Assert.Contains(purpose, output, StringComparison.Ordinal);
        }

        // The trust anchor given at account create is used by `letterlock audit` of that provider too, without --ca-cert;
        // a client without it cannot reach the provider (exit 3), and says so.
        (code, output, error) = await Run(client, "audit", "--provider", url);
        Assert.True(code == 0, error);
        Assert.Contains("verified", output, StringComparison.OrdinalIgnoreCase);
        (code, _, error) = await Run(Path.Combine(_dir, "auditor"), "audit", "--provider", url);
        Assert.Equal(3, code);

        var other = Path.Combine(_dir, "other");
        (code, _, error) = await Run(other, "account", "create", "--provider", url, "--address", "alice@alpha.test", "--ca", ca, "--no-password");
        Assert.Equal(1, code);
        Assert.Contains("the provider refused: Address taken", error, StringComparison.Ordinal);
        (code, output, _) = await Run(other, "account", "list");
        Assert.Equal(0, code);
        Assert.Contains("No accounts yet.", output, StringComparison.Ordinal);

        // Without --ca the provider's self-signed certificate is not trusted.
        (code, _, error) = await Run(Path.Combine(_dir, "third"), "account", "create", "--provider", url, "--address", "bob@alpha.test", "--no-password");
        Assert.Equal(4, code);
        Assert.Contains("cannot reach the provider", error, StringComparison.Ordinal);
    }
}
