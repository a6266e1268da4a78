using System.Text.Json.Nodes;
using Letterlock.Cli;
using Letterlock.Dns;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Hosting;
using Letterlock.Relay.Dkim;
using Letterlock.Relay.Tests.Peers;

namespace Letterlock.Relay.Tests.Provider;

/// <summary><c>provider init</c> makes both DKIM keys and the queue key; a wrong outbound setting stops start-up naming it.</summary>
public sealed class OutboundSettingsTests : IDisposable
{
    private readonly TempDir _dir = new("letterlock-settings-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Init_names_the_option_a_wrong_value_came_from_and_says_what_acme_needs_of_port_80()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await LetterlockCli.RunAsync(["provider", "init", "--domain", "alpha.test", "--data", _dir.File("wrong"), "--acme-email", "not-an-address"], output, error);
        Assert.Equal(2, code);
        Assert.Contains("setting 'acme.contact' (--acme-email): 'not-an-address' is not an e-mail address", error.ToString(), StringComparison.Ordinal);

        code = await LetterlockCli.RunAsync(["provider", "init", "--domain", "alpha.test", "--data", _dir.File("acme"), "--smtp-listen", "127.0.0.1:2525",
            "--acme-email", "postmaster@alpha.test"], output, error);
        Assert.True(code == 0, error.ToString());
        Assert.Contains("ACME (http-01): the CA connects to port 80 of mx.alpha.test; open or forward port 80 to acme.httpListen (127.0.0.1:8080).", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_writes_an_ed25519_and_an_rsa_dkim_key_and_prints_both_records()
    {
        string data = _dir.File("data");
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await LetterlockCli.RunAsync(["provider", "init", "--domain", "alpha.test", "--data", data, "--smtp-listen", "127.0.0.1:2525"], output, error);
        Assert.True(code == 0, error.ToString());

        var settings = ProviderSettingsLoader.Load(data);
        var rsa = DkimKey.FromPem(settings.Dkim.Selector, await File.ReadAllTextAsync(settings.ResolvePath(settings.Dkim.Key)));
        var ed = DkimKey.FromPem(settings.Dkim.Ed25519Selector, await File.ReadAllTextAsync(settings.ResolvePath(settings.Dkim.Ed25519Key)));
        Assert.Equal(DkimKeyType.Rsa, rsa.Type);
        Assert.Equal(DkimKeyType.Ed25519, ed.Type);
        string printed = output.ToString();
        Assert.Contains($"letterlock1._domainkey.alpha.test.\tTXT\t\"{rsa.TxtRecord}\"", printed, StringComparison.Ordinal);
        Assert.Contains($"letterlock1ed._domainkey.alpha.test.\tTXT\t\"{ed.TxtRecord}\"", printed, StringComparison.Ordinal);
        Assert.Contains("k=ed25519; p=", printed, StringComparison.Ordinal);

        // secrets are readable by the owner only; the queue key is 32 random bytes
        foreach (string secret in new[] { settings.Dkim.Key, settings.Dkim.Ed25519Key, settings.Relay.QueueKey })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(settings.ResolvePath(secret)));
        }

        Assert.Equal(32, Convert.FromBase64String((await File.ReadAllTextAsync(settings.ResolvePath(settings.Relay.QueueKey))).Trim()).Length);
        // submission listens next to the MX; beside an unprivileged SMTP port, on unprivileged ports too
        Assert.Equal("127.0.0.1:2526", settings.Submission.Listen);
        Assert.Equal("127.0.0.1:2527", settings.Submission.ListenTls);
        Assert.Contains("\"relay\": {", await File.ReadAllTextAsync(Path.Combine(data, "provider.json")), StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> WrongSettings => new()
    {
        { "relay", "maxRetrySeconds", "1" },
        { "relay", "maxConnectionsPerDestination", "1000" },
        { "relay", "leaseSeconds", "0" },
        { "relay", "trustedRoots", "\"no-such-ca.pem\"" },
        { "relay", "portOverrides", "{ \"bad host!\": 25 }" },
        { "relay", "sourceAddresses", "[\"mx.alpha.test\"]" },
        { "relay", "sourceAddresses", "[\"192.0.2.1\", \"192.0.2.2\"]" },
        { "submission", "listen", "\"nonsense\"" },
        { "submission", "maxRecipientsPerDay", "1" },
        { "submission", "maxMessagesPerHour", "-5" },
        { "mtaSts", "mode", "\"always\"" },
        { "dkim", "ed25519Key", "\"dkim/missing.pem\"" },
        { "dkim", "ed25519Selector", "\"letterlock1\"" },
    };

    [Theory]
    [MemberData(nameof(WrongSettings))]
    public void A_wrong_outbound_setting_is_named(string section, string name, string value)
    {
        string data = Initialize();
        ProviderNode.EditSettings(data, settings => settings[section]![name] = JsonNode.Parse(value));
        var error = Assert.Throws<SettingsException>(() => ProviderSettingsLoader.Load(data));
        Assert.Contains($"'{section}.{name}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_relay_connects_from_the_configured_address_or_else_the_mx_address()
    {
        string data = Initialize();
        ProviderNode.EditSettings(data, settings => settings["relay"]!["sourceAddresses"] = JsonNode.Parse("[\"127.0.0.2\", \"::1\"]"));
        Assert.Equal(["127.0.0.2", "::1"], OutboundSettingsValidator.SourceAddresses(ProviderSettingsLoader.Load(data)).Select(a => a.ToString()));

        // none configured: the MX's own specific address (what "v=spf1 mx" allows), never a wildcard or loopback
        var settings = ProviderSettingsLoader.Load(Initialize());
        settings.Smtp.Listen = "192.0.2.25:25";
        Assert.Equal(["192.0.2.25"], OutboundSettingsValidator.SourceAddresses(settings).Select(a => a.ToString()));
        foreach (string listen in new[] { "0.0.0.0:25", "[::]:25", "127.0.0.1:25" })
        {
            settings.Smtp.Listen = listen;
            Assert.Empty(OutboundSettingsValidator.SourceAddresses(settings));
        }
    }

    [Fact]
    public void An_unknown_outbound_setting_is_named()
    {
        string data = Initialize();
        ProviderNode.EditSettings(data, settings => settings["relay"]!["retrys"] = 3);
        var error = Assert.Throws<SettingsException>(() => ProviderSettingsLoader.Load(data));
        Assert.Contains("relay.retrys", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("relay.queueKey", "keys/relay-queue.key", "not base64 at all")]
    [InlineData("dkim.ed25519Key", "dkim/letterlock1ed.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")]
    public async Task Unusable_key_files_stop_serve_naming_the_setting(string setting, string file, string content)
    {
        string data = Initialize();
        await File.WriteAllTextAsync(Path.Combine(data, file), content);
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await LetterlockCli.RunAsync(["provider", "serve", "--data", data], output, error);
        Assert.Equal(2, code);
        Assert.Contains($"'{setting}'", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_rsa_key_file_in_the_ed25519_setting_is_refused()
    {
        string data = Initialize();
        ProviderNode.EditSettings(data, settings => settings["dkim"]!["ed25519Key"] = "dkim/letterlock1.pem");
        var error = await Assert.ThrowsAsync<SettingsException>(() => ProviderHost.StartAsync(data, dns: new StaticDnsResolver()));
        Assert.Contains("'dkim.ed25519Key'", error.Message, StringComparison.Ordinal);
    }

    private string Initialize()
    {
        string data = _dir.File("data-" + Guid.NewGuid().ToString("N")[..8]);
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", data, SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0"));
        return data;
    }
}
