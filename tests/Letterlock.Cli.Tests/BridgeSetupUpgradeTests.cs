using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Letterlock.Bridge;
using Letterlock.Client.Net;
using Letterlock.Client.Store;

namespace Letterlock.Cli.Tests;

/// <summary>
/// The bridge's remembered ports and one-step mail app setup on a store written by main before they existed
/// (tests/Fixtures/sandbox-bb77344, copied first): the store gets the defaults the old bridge used and remembers them,
/// an explicit port replaces them, a one-off port 0 does not; <c>letterlock bridge settings</c> prints the
/// remembered ports with the bridge password that release generated, and its Apple profile is a property list that
/// Python's plistlib (an independent parser) reads back with every value.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class BridgeSetupUpgradeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-bridge-setup-" + Guid.NewGuid().ToString("N"));

    private string Alice => Path.Combine(_dir, "clients", "alice");

    public BridgeSetupUpgradeTests() => UpgradeTests.CopyFixture("sandbox-bb77344", _dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<CliRun> Run(params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync([.. args, "--data", Alice, "--key-file", Path.Combine(Alice, "store.key")], output, error));

    [Fact]
    public async Task A_store_from_main_gets_the_default_ports_remembered_and_keeps_an_explicit_choice()
    {
        using (var store = await LocalStore.OpenAsync(Path.Combine(Alice, "client.db"), StoreUnlock.WithKeyFile(Path.Combine(Alice, "store.key"))))
        {
            var account = (await store.Accounts.ListAsync()).Single();
            Assert.Null(await BridgePorts.LoadAsync(store));
            Assert.Null(await ProviderTrust.GetAsync(store, account.Id));
            Assert.Null(await BridgeStatus.LoadAsync(store, account.Id));

            Assert.Equal(new BridgePortChoice(BridgePorts.DefaultImap, BridgePorts.DefaultSmtp), await BridgePorts.ResolveAsync(store, null, null));
            Assert.Equal(new BridgePortChoice(1143, 1025), await BridgePorts.LoadAsync(store));
            Assert.Equal(new BridgePortChoice(2143, 1025), await BridgePorts.ResolveAsync(store, 2143, null));
            Assert.Equal(new BridgePortChoice(0, 0), await BridgePorts.ResolveAsync(store, 0, 0));
            Assert.Equal(new BridgePortChoice(2143, 1025), await BridgePorts.LoadAsync(store));
            Assert.Equal(new BridgePortChoice(2143, 1025), await BridgePorts.ResolveAsync(store, null, null));
            Assert.Equal(new BridgePortChoice(65535, 1), await BridgePorts.ResolveAsync(store, 65535, 1));
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => BridgePorts.ResolveAsync(store, 65536, null));
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => BridgePorts.ResolveAsync(store, null, -1));
            Assert.Equal(new BridgePortChoice(65535, 1), await BridgePorts.LoadAsync(store));
        }

        var printed = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "settings-printed.json")))!["accounts"]![0]!;
        var (code, output, error) = await Run("bridge", "settings");
        Assert.True(code == 0, error);
        Assert.Contains("  IMAP  127.0.0.1:65535  STARTTLS", output, StringComparison.Ordinal);
        Assert.Contains("  SMTP  127.0.0.1:1  STARTTLS", output, StringComparison.Ordinal);
        Assert.Contains($"  Password   {printed["password"]!.GetValue<string>()}", output, StringComparison.Ordinal);
        Assert.Contains("certutil -A -d sql:PROFILE -n \"Letterlock bridge\" -t \"C,,\" -i letterlock-bridge.pem", output, StringComparison.Ordinal);
        Assert.Contains("security add-trusted-cert", output, StringComparison.Ordinal);

        // The certificate printed is the bridge's own, the one that release generated.
        (code, output, _) = await Run("bridge", "settings", "--certificate");
        Assert.Equal(0, code);
        using var certificate = X509Certificate2.CreateFromPem(output);
        Assert.Equal(printed["certificateSha256"]!.GetValue<string>(), BridgeCertificate.Fingerprint(certificate));
    }

    [Fact]
    public async Task The_apple_profile_is_a_property_list_with_the_account_and_the_bridge_certificate()
    {
        var printed = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "settings-printed.json")))!["accounts"]![0]!;
        var password = printed["password"]!.GetValue<string>();
        var (code, profile, error) = await Run("bridge", "settings", "--apple");
        Assert.True(code == 0, error);
        Assert.DoesNotContain(password, profile, StringComparison.Ordinal);
        var (withPasswordCode, withPassword, _) = await Run("bridge", "settings", "--apple", "--include-password");
        Assert.Equal(0, withPasswordCode);
        (code, _, error) = await Run("bridge", "settings", "--include-password");
        Assert.Equal(2, code);
        Assert.Contains("--include-password goes with --apple", error, StringComparison.Ordinal);

        var path = Path.Combine(_dir, "letterlock.mobileconfig");
        await File.WriteAllTextAsync(path, withPassword);
        // plistlib reads the XML plist as macOS would; the script prints what a profile installer relies on.
        const string script = """
            import hashlib, plistlib, sys
            with open(sys.argv[1], 'rb') as f:
                p = plistlib.load(f)
            assert p['PayloadType'] == 'Configuration' and p['PayloadVersion'] == 1, p
            uuids = [p['PayloadUUID']] + [c['PayloadUUID'] for c in p['PayloadContent']]
            assert len(set(uuids)) == len(uuids)
            for c in p['PayloadContent']:
                if c['PayloadType'] == 'com.apple.security.root':
                    print('cert', hashlib.sha256(c['PayloadContent']).hexdigest())
                elif c['PayloadType'] == 'com.apple.mail.managed':
                    print('mail', c['EmailAccountType'], c['EmailAddress'], c['IncomingMailServerHostName'], c['IncomingMailServerPortNumber'],
                          c['IncomingMailServerUseSSL'], c['IncomingMailServerUsername'], c['OutgoingMailServerHostName'], c['OutgoingMailServerPortNumber'],
                          c['OutgoingMailServerUseSSL'], c['OutgoingMailServerUsername'], c['IncomingPassword'], c['OutgoingPasswordSameAsIncomingPassword'])
            """;
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(path);
        using var python = Process.Start(start)!;
        var stdout = await python.StandardOutput.ReadToEndAsync();
        var stderr = await python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync();
        Assert.True(python.ExitCode == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var fingerprint = printed["certificateSha256"]!.GetValue<string>().Replace(":", "", StringComparison.Ordinal).ToLowerInvariant();
        Assert.Equal(
            [$"cert {fingerprint}", $"mail EmailTypeIMAP alice@alpha.test 127.0.0.1 1143 True alice@alpha.test 127.0.0.1 1025 True alice@alpha.test {password} True"],
            lines);
    }
}
