using System.Net;
using System.Text;
using Letterlock.Api;
using Letterlock.Dns;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Hosting;
using Letterlock.Provider.Mx;
using Letterlock.Smtp;

namespace Letterlock.Provider.Tests;

public sealed class SettingsTests : IDisposable
{
    private readonly string _directory = TestProvider.CreateDirectory();

    private string Data => Path.Combine(_directory, "data");

    public SettingsTests() => ProviderKeys.Initialize(new ProviderKeys.InitOptions("example.test", Data, SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0"));

    [Fact]
    public void The_generated_settings_file_loads_and_is_commented()
    {
        var settings = ProviderSettingsLoader.Load(Data);
        Assert.Equal("example.test", settings.Domain);
        Assert.Equal("mx.example.test", settings.HostName);
        Assert.Equal("invite", settings.Accounts.SignUp);
        Assert.Contains("// The mail domain this provider serves", File.ReadAllText(Path.Combine(Data, "provider.json")), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"listen\": \"127.0.0.1:0\"", "\"listen\": \"nonsense\"", "smtp.listen")]
    [InlineData("\"maxRecipients\": 100", "\"maxRecipients\": 0", "smtp.maxRecipients")]
    [InlineData("\"maxCommandLineLength\": 2048", "\"maxCommandLineLength\": 100", "smtp.maxCommandLineLength")]
    [InlineData("\"signUp\": \"invite\"", "\"signUp\": \"maybe\"", "accounts.signUp")]
    [InlineData("\"database\": \"sqlite:letterlock.db\"", "\"database\": \"mysql://x\"", "database")]
    [InlineData("\"domain\": \"example.test\"", "\"domain\": \"not a domain\"", "domain")]
    [InlineData("\"inlineThreshold\": 65536", "\"inlineThreshold\": \"big\"", "storage.inlineThreshold")]
    [InlineData("\"inlineThreshold\": 65536", "\"inlineThreshold\": 65536, \"colour\": 1", "colour")]
    [InlineData("\"signUpsPerHourPerClient\": 20", "\"signUpsPerHourPerClient\": 0", "api.signUpsPerHourPerClient")]
    [InlineData("\"challengesPerMinutePerClient\": 120", "\"challengesPerMinutePerClient\": -5", "api.challengesPerMinutePerClient")]
    [InlineData("\"blobSweepMinutes\": 60", "\"blobSweepMinutes\": 0", "storage.blobSweepMinutes")]
    [InlineData("\"blobGraceMinutes\": 60", "\"blobGraceMinutes\": -1", "storage.blobGraceMinutes")]
    [InlineData("\"signingKey\": \"keys/provider-signing.key\"", "\"signingKey\": \"keys/missing.key\"", "signingKey")]
    [InlineData("\"resolver\": \"system\"", "\"resolver\": \"magic\"", "dns.resolver")]
    [InlineData("\"publicSuffixList\": \"\"", "\"publicSuffixList\": \"missing.dat\"", "dns.publicSuffixList")]
    public void A_wrong_setting_fails_naming_it(string original, string replacement, string setting)
    {
        string path = Path.Combine(Data, "provider.json");
        string text = File.ReadAllText(path);
        Assert.Contains(original, text, StringComparison.Ordinal);
        File.WriteAllText(path, ReplaceFirst(text, original, replacement));
        var error = Assert.Throws<SettingsException>(() => ProviderSettingsLoader.Load(Data));
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"passwordArgon2idMemoryKiB\": 65536", "\"passwordArgon2idMemoryKiB\": 19455", false)]
    [InlineData("\"passwordArgon2idMemoryKiB\": 65536", "\"passwordArgon2idMemoryKiB\": 19456", true)]
    [InlineData("\"passwordArgon2idMemoryKiB\": 65536", "\"passwordArgon2idMemoryKiB\": 1048576", true)]
    [InlineData("\"passwordArgon2idMemoryKiB\": 65536", "\"passwordArgon2idMemoryKiB\": 1048577", false)]
    [InlineData("\"passwordArgon2idIterations\": 3", "\"passwordArgon2idIterations\": 0", false)]
    [InlineData("\"passwordArgon2idIterations\": 3", "\"passwordArgon2idIterations\": 1", true)]
    [InlineData("\"passwordArgon2idIterations\": 3", "\"passwordArgon2idIterations\": 10", true)]
    [InlineData("\"passwordArgon2idIterations\": 3", "\"passwordArgon2idIterations\": 11", false)]
    public void Password_Argon2id_settings_must_lie_within_what_clients_accept(string original, string replacement, bool accepted)
    {
        string path = Path.Combine(Data, "provider.json");
        File.WriteAllText(path, ReplaceFirst(File.ReadAllText(path), original, replacement));
        if (accepted)
        {
            ProviderSettingsLoader.Load(Data);
        }
        else
        {
            var error = Assert.Throws<SettingsException>(() => ProviderSettingsLoader.Load(Data));
            Assert.Contains(original.Split('"')[1], error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Init_refuses_to_overwrite_existing_keys() =>
        Assert.Throws<SettingsException>(() => ProviderKeys.Initialize(new ProviderKeys.InitOptions("example.test", Data)));

    private static string ReplaceFirst(string text, string original, string replacement)
    {
        int index = text.IndexOf(original, StringComparison.Ordinal);
        return text[..index] + replacement + text[(index + original.Length)..];
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}

public sealed class CliTests
{
    [Fact]
    [Trait(TestCategory.Name, TestCategory.Process)]
    public async Task Init_prints_the_DNS_records_and_serve_names_a_wrong_setting()
    {
        string directory = TestProvider.CreateDirectory();
        try
        {
            string data = Path.Combine(directory, "data");
            var (code, output) = await Tool.RunAsync("dotnet", Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "provider", "init", "--domain", "example.test", "--data", data);
            Assert.True(code == 0, output);
            Assert.Contains("\nexample.test.\tMX\t10 mx.example.test.\n", output, StringComparison.Ordinal);
            Assert.Contains("\"v=spf1 mx -all\"", output, StringComparison.Ordinal);
            Assert.Contains("letterlock1._domainkey.example.test.\tTXT\t\"v=DKIM1; k=rsa; p=", output, StringComparison.Ordinal);
            Assert.Contains("_dmarc.example.test.", output, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(data, "tls", "cert.pem")));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, "keys", "provider-signing.key")));
            }

            string settings = Path.Combine(data, "provider.json");
            await File.WriteAllTextAsync(settings, (await File.ReadAllTextAsync(settings)).Replace("\"listen\": \"0.0.0.0:443\"", "\"listen\": \"0.0.0.0:99999\"", StringComparison.Ordinal));
            (code, output) = await Tool.RunAsync("dotnet", Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "provider", "serve", "--data", data);
            Assert.Equal(2, code);
            Assert.Contains("letterlock: setting 'api.listen'", output, StringComparison.Ordinal);

            (code, output) = await Tool.RunAsync("dotnet", Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "provider", "accounts", "quota", "bob", "lots", "--data", data);
            Assert.Equal(2, code);
            Assert.Contains("not a size", output, StringComparison.Ordinal);

            (code, output) = await Tool.RunAsync("dotnet", Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "provider", "serve", "--help");
            Assert.Equal(0, code);
            Assert.Contains("Example", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}

public sealed class SpfTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.10");

    private static Task<SpfResult> Check(StaticDnsResolver dns, string domain, IPAddress? client = null) =>
        new SpfEvaluator(dns).CheckHostAsync(client ?? Client, domain, "user@" + domain, CancellationToken.None);

    [Fact]
    public async Task Mechanisms_and_qualifiers()
    {
        var dns = new StaticDnsResolver()
            .AddTxt("a.test", "v=spf1 ip4:192.0.2.0/24 -all")
            .AddTxt("b.test", "v=spf1 ip4:198.51.100.1 ~all")
            .AddTxt("c.test", "v=spf1 include:a.test -all")
            .AddTxt("d.test", "v=spf1 redirect=a.test")
            .AddTxt("e.test", "v=spf1 mx -all").AddMx("e.test", 10, "mx.e.test").AddAddress("mx.e.test", Client)
            .AddTxt("f.test", "v=spf1 a/24 -all").AddAddress("f.test", IPAddress.Parse("192.0.2.99"))
            .AddTxt("g.test", "v=spf1 ip6:2001:db8::/32 ?all")
            .AddTxt("h.test", "v=spf1 exists:%{i}.allow.test -all").AddAddress("192.0.2.10.allow.test", IPAddress.Parse("127.0.0.2"))
            .AddTxt("i.test", "v=spf1 include:nothing.test -all")
            .AddTxt("j.test", "v=spf1 -all").AddTxt("j.test", "v=spf1 +all")
            .AddTxt("k.test", "v=spf1 bogus:x -all")
            .AddTxt("l.test", "v=spf1 include:temp.test -all").AddFailure("temp.test");
        Assert.Equal(SpfResult.Pass, await Check(dns, "a.test"));
        Assert.Equal(SpfResult.SoftFail, await Check(dns, "b.test"));
        Assert.Equal(SpfResult.Pass, await Check(dns, "c.test"));
        Assert.Equal(SpfResult.Pass, await Check(dns, "d.test"));
        Assert.Equal(SpfResult.Pass, await Check(dns, "e.test"));
        Assert.Equal(SpfResult.Pass, await Check(dns, "f.test"));
        Assert.Equal(SpfResult.Neutral, await Check(dns, "g.test"));
        Assert.Equal(SpfResult.Pass, await Check(dns, "g.test", IPAddress.Parse("2001:db8::1")));
        Assert.Equal(SpfResult.Pass, await Check(dns, "h.test"));
        Assert.Equal(SpfResult.Fail, await Check(dns, "h.test", IPAddress.Parse("192.0.2.11")));
        Assert.Equal(SpfResult.PermError, await Check(dns, "i.test"));
        Assert.Equal(SpfResult.PermError, await Check(dns, "j.test"));
        Assert.Equal(SpfResult.PermError, await Check(dns, "k.test"));
        Assert.Equal(SpfResult.TempError, await Check(dns, "l.test"));
        Assert.Equal(SpfResult.None, await Check(dns, "none.test"));
    }

    [Fact]
    public async Task More_than_ten_DNS_terms_is_a_permerror()
    {
        var dns = new StaticDnsResolver();
        for (int i = 0; i < 12; i++)
        {
            dns.AddTxt($"n{i}.test", $"v=spf1 include:n{i + 1}.test -all");
        }

        dns.AddTxt("n12.test", "v=spf1 +all");
        Assert.Equal(SpfResult.PermError, await Check(dns, "n0.test"));
        Assert.Equal(SpfResult.Pass, await Check(dns, "n3.test"));
    }
}

public sealed class FormatTests
{
    [Fact]
    public void Inbox_framing_pads_with_Padme_and_rejects_inconsistent_frames()
    {
        byte[] message = Encoding.ASCII.GetBytes("Subject: x\r\n\r\nhello\r\n");
        long framedLength = InboxEnvelope.FramedLength(message.Length);
        Assert.Equal(Primitives.Padme.PaddedLength(8 + message.Length), framedLength);
        byte[] framed = new byte[framedLength];
        InboxEnvelope.WritePrefix(framed, message.Length);
        message.CopyTo(framed, 8);
        Assert.True(InboxEnvelope.TryUnframe(framed, out var unframed));
        Assert.Equal(message, unframed.ToArray());
        if (framed.Length > 8 + message.Length)
        {
            framed[^1] = 1;
            Assert.False(InboxEnvelope.TryUnframe(framed, out _));
        }

        Assert.False(InboxEnvelope.TryUnframe(new byte[4], out _));
        byte[] lying = new byte[framedLength];
        InboxEnvelope.WritePrefix(lying, framedLength);
        Assert.False(InboxEnvelope.TryUnframe(lying, out _));
    }

    [Fact]
    public async Task Own_Authentication_Results_are_removed_and_others_kept()
    {
        string message = "Received: x\r\nAuthentication-Results: MX.example.test; spf=pass\r\nAuthentication-Results: other.test;\r\n spf=fail\r\nSubject: s\r\n\r\nAuthentication-Results: mx.example.test; body stays\r\n";
        var (headers, bodyOffset) = await HeaderFilter.ReadWithoutOwnResultsAsync(new MemoryStream(Encoding.ASCII.GetBytes(message)), "mx.example.test", 64 * 1024, CancellationToken.None);
        Assert.Equal("Received: x\r\nAuthentication-Results: other.test;\r\n spf=fail\r\nSubject: s\r\n\r\n", Encoding.ASCII.GetString(headers));
        Assert.Equal("Authentication-Results: mx.example.test; body stays\r\n", message[(int)bodyOffset..]);
    }

    [Fact]
    public async Task Static_DNS_maps_parse_and_answer()
    {
        var dns = StaticDnsResolver.Parse("# sandbox\nexample.test MX 10 mx.example.test\nmx.example.test A 127.0.0.1\nexample.test TXT \"v=spf1 mx -all\"\n");
        Assert.Equal("mx.example.test", (await dns.ResolveMxAsync("example.test", CancellationToken.None)).Records.Single().Exchange);
        Assert.Equal("v=spf1 mx -all", (await dns.ResolveTxtAsync("EXAMPLE.test.", CancellationToken.None)).Records.Single());
        Assert.Equal(DnsStatus.NoData, (await dns.ResolveTlsaAsync("example.test", CancellationToken.None)).Status);
        Assert.Equal(DnsStatus.NameNotFound, (await dns.ResolveTxtAsync("nothing.test", CancellationToken.None)).Status);
        var error = Assert.Throws<FormatException>(() => StaticDnsResolver.Parse("a.test A not-an-ip"));
        Assert.Contains("line 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Smtp_options_name_the_invalid_setting()
    {
        var options = new SmtpFrontEndOptions();
        Assert.Equal("Listeners", Assert.Throws<ArgumentException>(options.Validate).ParamName);
        options.Listeners.Add(new SmtpListenerOptions { TlsMode = SmtpTlsMode.Implicit });
        Assert.Equal("Certificate", Assert.Throws<ArgumentException>(options.Validate).ParamName);
        options.Listeners[0].TlsMode = SmtpTlsMode.StartTls;
        options.MaxCommandLineLength = 511;
        Assert.Equal("MaxCommandLineLength", Assert.Throws<ArgumentException>(options.Validate).ParamName);
    }
}
