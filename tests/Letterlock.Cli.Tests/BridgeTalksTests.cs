using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;
using System.Xml.Schema;
using Letterlock.Bridge;
using Letterlock.Client.Net;
using Letterlock.Provider.Hosting;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Letterlock.Cli.Tests;

/// <summary>
/// <c>letterlock bridge</c> as a real process against a real provider whose certificate only the CA given at
/// <c>account create --ca</c> vouches for: the bridge (started without --ca) syncs with the stored trust anchor, says
/// what happens one line per event (online, received, sent, offline) without naming other people by default, refuses
/// to run twice on one store (also after its twin was killed with SIGKILL it starts again), and <c>letterlock status</c>
/// reads its state while it runs. The provider's mail autoconfiguration is fetched over HTTPS and validated.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed partial class BridgeTalksTests : IAsyncLifetime
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(3);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-bridge-talks-" + Guid.NewGuid().ToString("N"));
    private ProviderHost? _provider;

    private string ProviderData => Path.Combine(_dir, "provider");

    private string Client => Path.Combine(_dir, "client");

    private string KeyFilePath => Path.Combine(Client, "store.key");

    private string CaPath => Path.Combine(ProviderData, "tls", "cert.pem");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", ProviderData, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
        _provider = await ProviderHost.StartAsync(ProviderData, null, new Letterlock.Dns.StaticDnsResolver(), LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
    }

    public async Task DisposeAsync()
    {
        if (_provider is not null)
        {
            await _provider.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private Task<CliRun> Run(params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync([.. args, "--data", Client, "--key-file", KeyFilePath], output, error));

    [Fact]
    public async Task The_bridge_uses_the_stored_ca_reports_each_event_runs_once_per_store_and_status_reads_it_while_it_runs()
    {
        using var timeout = new CancellationTokenSource(Generous);
        var url = $"https://127.0.0.1:{_provider!.HttpsEndPoint.Port}/";
        var (code, _, error) = await Run("account", "create", "--provider", url, "--address", "alice@alpha.test", "--ca", CaPath, "--no-password");
        Assert.True(code == 0, error);
        await SendFromOutsideAsync("Hello from outside", timeout.Token);

        // No --ca: the bridge trusts the provider through the anchor kept with the account.
        await using var bridge = BridgeProcess.Start(Client, KeyFilePath);
        var password = (await bridge.WaitForAsync(l => l.StartsWith("  Password ", StringComparison.Ordinal), timeout.Token))["  Password ".Length..].Trim();
        var smtpPort = int.Parse(SmtpLine().Match(await bridge.WaitForAsync(l => l.StartsWith("  SMTP ", StringComparison.Ordinal), timeout.Token)).Groups[1].Value,
            CultureInfo.InvariantCulture);
        await bridge.WaitForAsync(l => l.EndsWith("alice@alpha.test: online (127.0.0.1)", StringComparison.Ordinal), timeout.Token);
        await bridge.WaitForAsync(l => l.EndsWith("alice@alpha.test: 1 new message received", StringComparison.Ordinal), timeout.Token);

        // A second bridge on the same store is refused with a clear message, and the first keeps running.
        await using (var twin = BridgeProcess.Start(Client, KeyFilePath))
        {
            Assert.Equal(3, await twin.ExitCodeAsync(timeout.Token));
            Assert.Contains("another bridge is already running on the store", twin.Error, StringComparison.Ordinal);
        }

        // Mail sent through the bridge: one line naming the account and counting the recipients, not naming them.
        using (var smtp = new SmtpClient())
        {
            smtp.ServerCertificateValidationCallback = (_, _, _, _) => true;
            await smtp.ConnectAsync("127.0.0.1", smtpPort, SecureSocketOptions.StartTls, timeout.Token);
            await smtp.AuthenticateAsync("alice@alpha.test", password, timeout.Token);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("alice@alpha.test"));
            message.To.Add(MailboxAddress.Parse("carol@elsewhere.test"));
            message.Subject = "Out";
            message.Body = new TextPart("plain") { Text = "bridge-talks-marker" };
            await smtp.SendAsync(message, timeout.Token);
            await smtp.DisconnectAsync(true, timeout.Token);
        }

        await bridge.WaitForAsync(l => l.EndsWith("alice@alpha.test: mail sent (1 recipient)", StringComparison.Ordinal), timeout.Token);

        // Status, another process on the same store while the bridge runs.
        var (statusCode, status, statusError) = await Run("status");
        Assert.True(statusCode == 0, statusError);
        Assert.Contains("Bridge: running on this store", status, StringComparison.Ordinal);
        Assert.Contains("alice@alpha.test  online", status, StringComparison.Ordinal);
        Assert.Matches(@"Last sync   \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", status);
        Assert.Contains("Outbox      0 waiting to be sent", status, StringComparison.Ordinal);
        Assert.Contains("Last error  none", status, StringComparison.Ordinal);
        Assert.Contains("Devices     1", status, StringComparison.Ordinal);
        Assert.Contains("(this device)", status, StringComparison.Ordinal);

        // SIGKILL: the kernel releases the lock, and a new bridge starts on the same store, here --quiet.
        bridge.Kill();
        Assert.DoesNotContain("carol@elsewhere.test", bridge.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("bridge-talks-marker", bridge.Output + bridge.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(password, bridge.Error, StringComparison.Ordinal);
        await using var quiet = BridgeProcess.Start(Client, KeyFilePath, "--quiet");
        await quiet.WaitForAsync(l => l.StartsWith("The bridge is running.", StringComparison.Ordinal), timeout.Token);

        // The provider goes away: the error reaches stderr even with --quiet, named and with the retry.
        await _provider.DisposeAsync();
        _provider = null;
        var offline = await quiet.WaitForErrorAsync(l => l.Contains("alice@alpha.test: offline:", StringComparison.Ordinal), timeout.Token);
        Assert.Contains("retrying every 30 s", offline, StringComparison.Ordinal);
        Assert.Equal(130, await quiet.InterruptAsync(timeout.Token));
        Assert.DoesNotContain(quiet.Output.Split('\n'), l => l.Contains("online", StringComparison.Ordinal) || l.Contains("received", StringComparison.Ordinal));

        (statusCode, status, _) = await Run("status", "--offline");
        Assert.Equal(0, statusCode);
        Assert.Contains("Bridge: not running", status, StringComparison.Ordinal);
        Assert.Contains("Last error  provider unreachable:", status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_provider_serves_mozilla_autoconfig_over_https_pointing_at_the_local_bridge()
    {
        using var timeout = new CancellationTokenSource(Generous);
        using var http = new HttpClient(HttpFetch.CreateHandler(null, [X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(CaPath, timeout.Token))]));
        var baseUrl = $"https://127.0.0.1:{_provider!.HttpsEndPoint.Port}";
        using var wellKnown = await http.GetAsync($"{baseUrl}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40alpha.test", timeout.Token);
        Assert.Equal(System.Net.HttpStatusCode.OK, wellKnown.StatusCode);
        Assert.Equal("application/xml", wellKnown.Content.Headers.ContentType?.MediaType);
        var body = await wellKnown.Content.ReadAsStringAsync(timeout.Token);

        // The autoconfig.DOMAIN host form: the same document at /mail/config-v1.1.xml, under a certificate that names the host.
        var map = new StaticHostMap { AllowSystemDns = false }.Add("autoconfig.alpha.test", System.Net.IPAddress.Loopback);
        using var byName = new HttpClient(HttpFetch.CreateHandler(map, [X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(CaPath, timeout.Token))]));
        using var hostResponse = await byName.GetAsync(
            $"https://autoconfig.alpha.test:{_provider.HttpsEndPoint.Port}/mail/config-v1.1.xml?emailaddress=alice%40alpha.test", timeout.Token);
        Assert.Equal(System.Net.HttpStatusCode.OK, hostResponse.StatusCode);
        Assert.Equal(body, await hostResponse.Content.ReadAsStringAsync(timeout.Token));

        var document = XDocument.Parse(body);
        var schemas = new XmlSchemaSet();
        schemas.Add("", XmlReader.Create(new StringReader(ClientConfigSchema)));
        var problems = new List<string>();
        document.Validate(schemas, (_, e) => problems.Add(e.Message));
        Assert.Empty(problems);

        var provider = document.Root!.Element("emailProvider")!;
        Assert.Equal("1.1", document.Root.Attribute("version")!.Value);
        Assert.Equal("alpha.test", provider.Attribute("id")!.Value);
        Assert.Equal("alpha.test", provider.Element("domain")!.Value);
        foreach (var (element, type, port) in new[] { ("incomingServer", "imap", BridgePorts.DefaultImap), ("outgoingServer", "smtp", BridgePorts.DefaultSmtp) })
        {
            var server = provider.Element(element)!;
            Assert.Equal(type, server.Attribute("type")!.Value);
            Assert.Equal("127.0.0.1", server.Element("hostname")!.Value);
            Assert.Equal(port.ToString(CultureInfo.InvariantCulture), server.Element("port")!.Value);
            Assert.Equal("STARTTLS", server.Element("socketType")!.Value);
            Assert.Equal("password-cleartext", server.Element("authentication")!.Value);
            Assert.Equal("%EMAILADDRESS%", server.Element("username")!.Value);
        }
    }

    /// <summary>
    /// The part of Mozilla's clientConfig v1.1 format (wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat)
    /// that the provider serves, as an XML schema: element order, server types, socket types and authentication
    /// values as Thunderbird accepts them.
    /// </summary>
    private const string ClientConfigSchema = """
        <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
          <xs:simpleType name="socketType"><xs:restriction base="xs:string">
            <xs:enumeration value="plain"/><xs:enumeration value="SSL"/><xs:enumeration value="STARTTLS"/></xs:restriction></xs:simpleType>
          <xs:simpleType name="authentication"><xs:restriction base="xs:string">
            <xs:enumeration value="password-cleartext"/><xs:enumeration value="password-encrypted"/><xs:enumeration value="OAuth2"/>
            <xs:enumeration value="client-IP-address"/><xs:enumeration value="TLS-client-cert"/><xs:enumeration value="none"/></xs:restriction></xs:simpleType>
          <xs:complexType name="server">
            <xs:sequence>
              <xs:element name="hostname" type="xs:string"/>
              <xs:element name="port" type="xs:unsignedShort"/>
              <xs:element name="socketType" type="socketType"/>
              <xs:element name="authentication" type="authentication" maxOccurs="unbounded"/>
              <xs:element name="username" type="xs:string"/>
            </xs:sequence>
            <xs:attribute name="type" use="required"/>
          </xs:complexType>
          <xs:element name="clientConfig">
            <xs:complexType><xs:sequence>
              <xs:element name="emailProvider">
                <xs:complexType><xs:sequence>
                  <xs:element name="domain" type="xs:string" maxOccurs="unbounded"/>
                  <xs:element name="displayName" type="xs:string"/>
                  <xs:element name="displayShortName" type="xs:string"/>
                  <xs:element name="incomingServer" maxOccurs="unbounded">
                    <xs:complexType><xs:complexContent><xs:restriction base="server">
                      <xs:sequence>
                        <xs:element name="hostname" type="xs:string"/>
                        <xs:element name="port" type="xs:unsignedShort"/>
                        <xs:element name="socketType" type="socketType"/>
                        <xs:element name="authentication" type="authentication" maxOccurs="unbounded"/>
                        <xs:element name="username" type="xs:string"/>
                      </xs:sequence>
                      <xs:attribute name="type" use="required"><xs:simpleType><xs:restriction base="xs:string">
                        <xs:enumeration value="imap"/><xs:enumeration value="pop3"/></xs:restriction></xs:simpleType></xs:attribute>
                    </xs:restriction></xs:complexContent></xs:complexType>
                  </xs:element>
                  <xs:element name="outgoingServer" maxOccurs="unbounded">
                    <xs:complexType><xs:complexContent><xs:restriction base="server">
                      <xs:sequence>
                        <xs:element name="hostname" type="xs:string"/>
                        <xs:element name="port" type="xs:unsignedShort"/>
                        <xs:element name="socketType" type="socketType"/>
                        <xs:element name="authentication" type="authentication" maxOccurs="unbounded"/>
                        <xs:element name="username" type="xs:string"/>
                      </xs:sequence>
                      <xs:attribute name="type" use="required"><xs:simpleType><xs:restriction base="xs:string">
                        <xs:enumeration value="smtp"/></xs:restriction></xs:simpleType></xs:attribute>
                    </xs:restriction></xs:complexContent></xs:complexType>
                  </xs:element>
                  <xs:element name="documentation" minOccurs="0" maxOccurs="unbounded">
                    <xs:complexType><xs:sequence>
                      <xs:element name="descr" maxOccurs="unbounded"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
                        <xs:attribute name="lang" type="xs:string"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
                    </xs:sequence><xs:attribute name="url" type="xs:anyURI" use="required"/></xs:complexType>
                  </xs:element>
                </xs:sequence><xs:attribute name="id" type="xs:string" use="required"/></xs:complexType>
              </xs:element>
            </xs:sequence><xs:attribute name="version" type="xs:string" use="required"/></xs:complexType>
          </xs:element>
        </xs:schema>
        """;

    private async Task SendFromOutsideAsync(string subject, CancellationToken ct)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Carol", "carol@elsewhere.test"));
        message.To.Add(new MailboxAddress("Alice", "alice@alpha.test"));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "bridge-talks-marker" };
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", _provider!.SmtpEndPoint.Port, SecureSocketOptions.None, ct);
        await smtp.SendAsync(message, ct);
        await smtp.DisconnectAsync(true, ct);
    }

    [GeneratedRegex(@"^  SMTP  127\.0\.0\.1:(\d+) ")]
    private static partial Regex SmtpLine();

    /// <summary>A <c>letterlock bridge</c> child process whose output lines are collected as they come.</summary>
    private sealed class BridgeProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _out = new();
        private readonly ConcurrentQueue<string> _err = new();
        private readonly SemaphoreSlim _line = new(0, int.MaxValue);
        private readonly Task _readers;

        private BridgeProcess(Process process)
        {
            _process = process;
            _readers = Task.WhenAll(ReadAsync(process.StandardOutput, _out), ReadAsync(process.StandardError, _err));
        }

        public string Output => string.Join('\n', _out);

        public string Error => string.Join('\n', _err);

        public static BridgeProcess Start(string data, string keyFile, params string[] extra)
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "bridge", "--data", data, "--key-file", keyFile,
                "--imap-port", "0", "--smtp-port", "0", "--no-web" }.Concat(extra))
            {
                start.ArgumentList.Add(arg);
            }

            return new BridgeProcess(Process.Start(start)!);
        }

        private async Task ReadAsync(StreamReader reader, ConcurrentQueue<string> lines)
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                lines.Enqueue(line);
                _line.Release();
            }

            _line.Release();
        }

        public Task<string> WaitForAsync(Func<string, bool> match, CancellationToken ct) => WaitAsync(_out, match, ct);

        public Task<string> WaitForErrorAsync(Func<string, bool> match, CancellationToken ct) => WaitAsync(_err, match, ct);

        private async Task<string> WaitAsync(ConcurrentQueue<string> lines, Func<string, bool> match, CancellationToken ct)
        {
            while (true)
            {
                if (lines.FirstOrDefault(match) is { } found)
                {
                    return found;
                }

                if (_readers.IsCompleted)
                {
                    throw new Xunit.Sdk.XunitException($"the bridge ended without that line; stdout:\n{Output}\nstderr:\n{Error}");
                }

                try
                {
                    await _line.WaitAsync(ct);
                }
                catch (OperationCanceledException)
                {
                    throw new Xunit.Sdk.XunitException($"no such line in time; stdout:\n{Output}\nstderr:\n{Error}");
                }
            }
        }

        public async Task<int> ExitCodeAsync(CancellationToken ct)
        {
            await _process.WaitForExitAsync(ct);
            await _readers;
            return _process.ExitCode;
        }

        public async Task<int> InterruptAsync(CancellationToken ct)
        {
            using (var signal = Process.Start("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await signal.WaitForExitAsync(ct);
            }

            return await ExitCodeAsync(ct);
        }

        public void Kill()
        {
            using (var signal = Process.Start("kill", ["-KILL", _process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                signal.WaitForExit();
            }

            _process.WaitForExit();
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
            _line.Dispose();
        }
    }
}
