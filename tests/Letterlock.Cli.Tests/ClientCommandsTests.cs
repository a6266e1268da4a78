using System.Text.Json;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;

namespace Letterlock.Cli.Tests;

/// <summary><c>letterlock account</c> and <c>letterlock contacts</c> over a real store unlocked with a key file.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ClientCommandsTests : IDisposable
{
    private static readonly KeyFingerprint Old = KeyFingerprint.Parse(new string('A', 40));
    private static readonly KeyFingerprint New = KeyFingerprint.Parse(new string('B', 40));
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-cli-" + Guid.NewGuid().ToString("N"));
    private readonly string _keyFile;

    public ClientCommandsTests()
    {
        Directory.CreateDirectory(_dir);
        _keyFile = Path.Combine(_dir, "store.key");
        KeyFile.Create(_keyFile);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<LocalStore> Seed(params string[] addresses)
    {
        var store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithKeyFile(_keyFile));
        foreach (var address in addresses)
        {
            await store.Accounts.CreateAsync(address, null, new Uri("https://" + address.Split('@')[1] + "/"));
        }

        return store;
    }

    private Task<CliRun> Run(params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync([.. args, "--data", _dir, "--key-file", _keyFile], output, error));

    [Fact]
    public async Task Web_says_what_to_do_when_no_bridge_serves_the_web_app()
    {
        using (var store = await Seed("alice@alpha.test"))
        {
        }

        var (code, _, error) = await Run("web", "--print");
        Assert.Equal(3, code);
        Assert.Contains("letterlock bridge", error, StringComparison.Ordinal);

        // A web app ran once, at an address where nothing answers now.
        using (var store = await LocalStore.OpenAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithKeyFile(_keyFile)))
        {
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            await store.Settings.SetAsync("web.endpoint", System.Text.Encoding.UTF8.GetBytes($"http://127.0.0.1:{port}/"));
        }

        (code, _, error) = await Run("web", "--print");
        Assert.Equal(3, code);
        Assert.Contains("does not answer", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_changed_key_is_shown_and_can_be_accepted_then_verified()
    {
        using (var store = await Seed("alice@alpha.test"))
        {
            var alice = (await store.Accounts.FindAsync("alice@alpha.test"))!;
            await store.Contacts.ObserveKeyAsync(alice.Id, "bob@beta.test", new ObservedKey(Old, [1], KeyOrigin.Wkd), TransparencyVerdict.Absent);
            await store.Contacts.ObserveKeyAsync(alice.Id, "bob@beta.test", new ObservedKey(New, [2], KeyOrigin.ProviderDirectory), TransparencyVerdict.Absent);
        }

        var (code, output, _) = await Run("contacts", "show");
        Assert.Equal(0, code);
        Assert.Contains("bob@beta.test", output, StringComparison.Ordinal);
        Assert.Contains("changed", output, StringComparison.Ordinal);

        (code, output, _) = await Run("contacts", "show", "bob@beta.test");
        Assert.Equal(0, code);
        Assert.Contains("no automatic encryption", output, StringComparison.Ordinal);
        Assert.Contains($"letterlock contacts accept-key bob@beta.test {New.Hex}", output, StringComparison.Ordinal);

        var (wrongCode, _, wrongError) = await Run("contacts", "accept-key", "bob@beta.test", new string('C', 40));
        Assert.Equal(1, wrongCode);
        Assert.Contains("is not a key seen for bob@beta.test", wrongError, StringComparison.Ordinal);

        (code, output, _) = await Run("contacts", "accept-key", "bob@beta.test", New.ToDisplayString());
        Assert.Equal(0, code);
        Assert.Contains("bob@beta.test: tofu", output, StringComparison.Ordinal);

        (code, output, _) = await Run("contacts", "verify", "bob@beta.test", New.Hex.ToLowerInvariant());
        Assert.Equal(0, code);
        Assert.Contains("bob@beta.test: verified", output, StringComparison.Ordinal);

        (code, output, _) = await Run("contacts", "show", "bob@beta.test", "--json");
        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(output);
        Assert.Equal("verified", json.RootElement.GetProperty("level").GetString());
        Assert.True(json.RootElement.GetProperty("encryptAutomatically").GetBoolean());
        Assert.Equal(
            ["FirstSeen", "KeyChanged", "UserAccepted", "UserVerified"],
            json.RootElement.GetProperty("history").EnumerateArray().Select(t => t.GetProperty("reason").GetString()));
    }

    [Fact]
    public async Task Bad_input_gets_a_clear_message_and_exit_code()
    {
        var (code, _, error) = await Run("contacts", "show");
        Assert.Equal(1, code);
        Assert.Contains("no client store at", error, StringComparison.Ordinal);

        using (await Seed("alice@alpha.test", "carol@alpha.test"))
        {
        }

        (code, _, error) = await Run("contacts", "show");
        Assert.Equal(1, code);
        Assert.Contains("choose one with --account", error, StringComparison.Ordinal);

        (code, _, error) = await Run("contacts", "verify", "bob@beta.test", "12345", "--account", "alice@alpha.test");
        Assert.Equal(2, code);
        Assert.Contains("40 (v4) or 64 (v6) hexadecimal digits", error, StringComparison.Ordinal);

        (code, _, error) = await Run("contacts", "verify", "bob@beta.test", Old.Hex, "--account", "alice@alpha.test");
        Assert.Equal(1, code);
        Assert.Contains("not a contact of alice@alpha.test", error, StringComparison.Ordinal);

        File.SetUnixFileMode(_keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        (code, _, error) = await Run("account", "list");
        Assert.Equal(3, code);
        Assert.Contains("chmod 600", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Accounts_are_listed_shown_and_removed_only_with_confirmation()
    {
        using (var store = await Seed("alice@alpha.test", "carol@alpha.test"))
        {
            var alice = (await store.Accounts.FindAsync("alice@alpha.test"))!;
            await store.Keys.AddAsync(alice.Id, "openpgp-secret", new byte[] { 1, 2, 3 });
        }

        var (code, output, _) = await Run("account", "list");
        Assert.Equal(0, code);
        Assert.Contains("alice@alpha.test", output, StringComparison.Ordinal);
        Assert.Contains("carol@alpha.test", output, StringComparison.Ordinal);

        (code, output, _) = await Run("account", "show", "alice@alpha.test", "--json");
        Assert.Equal(0, code);
        using (var json = JsonDocument.Parse(output))
        {
            Assert.Equal("opportunistic", json.RootElement.GetProperty("policy").GetString());
            Assert.Equal(6, json.RootElement.GetProperty("folders").GetArrayLength());
            Assert.Equal("openpgp-secret", json.RootElement.GetProperty("keys")[0].GetProperty("purpose").GetString());
        }

        var (refused, _, error) = await Run("account", "remove", "carol@alpha.test");
        Assert.Equal(2, refused);
        Assert.Contains("--yes", error, StringComparison.Ordinal);
        (code, output, _) = await Run("account", "remove", "carol@alpha.test", "--yes");
        Assert.Equal(0, code);
        (code, output, _) = await Run("account", "list", "--json");
        using var list = JsonDocument.Parse(output);
        Assert.Equal(["alice@alpha.test"], list.RootElement.EnumerateArray().Select(a => a.GetProperty("address").GetString()));
    }

    [Fact]
    public async Task Help_has_examples()
    {
        foreach (var command in new[] { "account", "contacts" })
        {
            using var output = new StringWriter();
            Assert.Equal(0, await LetterlockCli.RunAsync([command, "--help"], output, new StringWriter()));
            Assert.Contains("Example", output.ToString(), StringComparison.Ordinal);
        }
    }
}
