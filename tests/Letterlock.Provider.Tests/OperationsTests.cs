using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Letterlock.Dns;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Hosting;
using Letterlock.Provider.Operations;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Letterlock.Provider.Tests;

/// <summary>Operating a provider: init's checks and defaults, start-up failures, key modes, /healthz, /metrics, logs.</summary>
public sealed partial class OperationsTests : IDisposable
{
    private readonly string _directory = TestProvider.CreateDirectory();

    private string Data => Path.Combine(_directory, "data");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("not-an-address", null, null, "--smtp-listen")]
    [InlineData("127.0.0.1:0", "127.0.0.1", null, "--api-listen")]
    [InlineData("127.0.0.1:0", null, "localhost:9464", "--ops-listen")]
    [InlineData("127.0.0.1:65535", null, null, "--smtp-listen")]
    public void An_invalid_listen_address_leaves_no_data_folder(string smtp, string? api, string? ops, string option)
    {
        var e = Assert.Throws<SettingsException>(() => ProviderKeys.Initialize(new ProviderKeys.InitOptions("example.test", Data, SmtpListen: smtp, ApiListen: api, OpsListen: ops)));
        Assert.Contains(option, e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Data), "init created the data folder before it found the mistake");
    }

    [Fact]
    public void An_unprivileged_SMTP_port_gets_unprivileged_submission_and_HTTPS_ports()
    {
        var init = ProviderKeys.Initialize(new ProviderKeys.InitOptions("example.test", Data, SmtpListen: "127.0.0.1:2525"));
        var settings = ProviderSettingsLoader.Load(Data);
        Assert.Equal("127.0.0.1:2526", settings.Submission.Listen);
        Assert.Equal("127.0.0.1:2527", settings.Submission.ListenTls);
        Assert.Equal("127.0.0.1:8443", settings.Api.Listen);
        Assert.Equal("127.0.0.1:9464", settings.Ops.Listen);
        Assert.Contains("forward port 25", init.DnsRecords, StringComparison.Ordinal);
        Assert.Contains("_submission._tcp.example.test.", init.DnsRecords, StringComparison.Ordinal);
    }

    [Fact]
    public void The_standard_SMTP_port_gets_the_standard_ports()
    {
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("example.test", Data));
        var settings = ProviderSettingsLoader.Load(Data);
        Assert.Equal("0.0.0.0:25", settings.Smtp.Listen);
        Assert.Equal("0.0.0.0:587", settings.Submission.Listen);
        Assert.Equal("0.0.0.0:465", settings.Submission.ListenTls);
        Assert.Equal("0.0.0.0:443", settings.Api.Listen);
        Assert.Equal("127.0.0.1:9464", settings.Ops.Listen);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_private_key_readable_by_everyone_stops_the_start_naming_the_file_and_the_fix()
    {
        InitOnPortZero();
        var settings = ProviderSettingsLoader.Load(Data);
        string key = settings.ResolvePath(settings.Dkim.Key);
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var e = await Assert.ThrowsAsync<SettingsException>(() => ProviderHost.StartAsync(Data, dns: new StaticDnsResolver(), loggerFactory: LoggerFactory.Create(_ => { })));
        Assert.Contains("'dkim.key'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"chmod 600 {key}", e.Message, StringComparison.Ordinal);
        Assert.Contains("0644", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_private_key_readable_by_its_group_starts_with_a_warning()
    {
        InitOnPortZero();
        var settings = ProviderSettingsLoader.Load(Data);
        string key = settings.ResolvePath(settings.Tls.Key);
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var logs = new CollectingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        await using (await ProviderHost.StartAsync(Data, dns: new StaticDnsResolver(), loggerFactory: factory))
        {
        }

        Assert.Contains(logs.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("'tls.key'", StringComparison.Ordinal) && l.Message.Contains("0640", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("smtp.listen")]
    [InlineData("api.listen")]
    [InlineData("submission.listenTls")]
    [InlineData("ops.listen")]
    public async Task A_port_in_use_is_named_with_its_setting_and_nothing_stays_open(string setting)
    {
        InitOnPortZero();
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        int port = ((IPEndPoint)squatter.LocalEndpoint).Port;
        SetListen(setting, $"127.0.0.1:{port}");

        var e = await Assert.ThrowsAsync<StartupException>(() => ProviderHost.StartAsync(Data, dns: new StaticDnsResolver(), loggerFactory: LoggerFactory.Create(_ => { })));
        Assert.Contains($"127.0.0.1:{port}", e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{setting}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("already in use", e.Message, StringComparison.Ordinal);
        Assert.Contains($"sport = :{port}", e.Message, StringComparison.Ordinal);

        // the start closed everything it had opened: with the port free, the same settings start
        squatter.Stop();
        await using var host = await ProviderHost.StartAsync(Data, dns: new StaticDnsResolver(), loggerFactory: LoggerFactory.Create(_ => { }));
        Assert.Contains(host.Listeners, l => l.EndPoint.Port == port);
    }

    [Fact]
    public void Permission_denied_on_a_low_port_names_the_port_and_the_capability()
    {
        // the tests run as root, where binding port 25 succeeds: the explanation is checked on its own
        string text = StartupChecks.Explain("smtp.listen", new IPEndPoint(IPAddress.Any, 25), SocketError.AccessDenied);
        Assert.Contains("0.0.0.0:25", text, StringComparison.Ordinal);
        Assert.Contains("'smtp.listen'", text, StringComparison.Ordinal);
        Assert.Contains("CAP_NET_BIND_SERVICE", text, StringComparison.Ordinal);
        Assert.Contains("setcap", text, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Healthz_reports_ready_and_says_which_part_is_not()
    {
        InitOnPortZero();
        await using var host = await ProviderHost.StartAsync(Data, dns: new StaticDnsResolver(), loggerFactory: LoggerFactory.Create(_ => { }));
        var ops = host.Listeners.Single(l => l.Protocol == "ops").EndPoint;
        Assert.True(IPAddress.IsLoopback(ops.Address));
        using var http = new HttpClient { BaseAddress = new Uri($"http://{ops}/") };

        using (var live = await http.GetAsync("healthz/live"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        using (var ready = await http.GetAsync("healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            using var json = JsonDocument.Parse(await ready.Content.ReadAsStringAsync());
            Assert.Equal("ok", json.RootElement.GetProperty("status").GetString());
        }

        // the blob folder replaced by a file: nothing can be written there any more
        string blobs = ((Letterlock.Provider.Storage.FolderBlobStore)host.Blobs).Root;
        Directory.Move(blobs, blobs + ".away");
        await File.WriteAllTextAsync(blobs, "not a folder");
        try
        {
            using var broken = await http.GetAsync("healthz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, broken.StatusCode);
            using var json = JsonDocument.Parse(await broken.Content.ReadAsStringAsync());
            Assert.Equal("not writable", json.RootElement.GetProperty("storage").GetString());
            Assert.Equal("ok", json.RootElement.GetProperty("database").GetString());
        }
        finally
        {
            File.Delete(blobs);
            Directory.Move(blobs + ".away", blobs);
        }
    }

    [Fact]
    public async Task Metrics_count_ingest_and_API_errors_by_route_and_requests_are_logged_without_addresses()
    {
        InitOnPortZero();
        var logs = new CollectingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        await using var host = await ProviderHost.StartAsync(Data, dns: new StaticDnsResolver(), loggerFactory: factory);
        using var api = new ApiClient(host.HttpsEndPoint);
        await api.CreateAccountAsync("alice@example.test");
        using (var missing = await api.Http.GetAsync("v1/directory/nobody-here%40example.test"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        for (int i = 0; i < 2; i++)
        {
            using var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 30_000 };
            await smtp.ConnectAsync("127.0.0.1", host.SmtpEndPoint.Port, SecureSocketOptions.StartTls);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("carol@sender.test"));
            message.To.Add(MailboxAddress.Parse("alice@example.test"));
            message.Subject = "metrics";
            message.Body = new TextPart("plain") { Text = "counted" };
            await smtp.SendAsync(message);
            await smtp.DisconnectAsync(true);
        }

        var ops = host.Listeners.Single(l => l.Protocol == "ops").EndPoint;
        using var http = new HttpClient();
        using var response = await http.GetAsync($"http://{ops}/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain; version=0.0.4", response.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        string text = await response.Content.ReadAsStringAsync();

        // the exposition format: HELP and TYPE before each family, then "name{labels} value" lines
        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                declared.Add(line.Split(' ')[2]);
                continue;
            }

            if (line.StartsWith('#'))
            {
                continue;
            }

            var sample = SampleLine().Match(line);
            Assert.True(sample.Success, $"not a sample line: {line}");
            Assert.Contains(sample.Groups[1].Value, declared);
        }

        Assert.Contains("letterlock_mx_messages_total{result=\"accepted\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("letterlock_api_errors_total{route=\"/v1/directory/{address}\",status=\"404\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("letterlock_relay_queue_deliveries 0\n", text, StringComparison.Ordinal);
        Assert.Contains("letterlock_relay_queue_oldest_age_seconds 0\n", text, StringComparison.Ordinal);
        Assert.Contains("letterlock_relay_recipients_total{result=\"delivered\"} 0\n", text, StringComparison.Ordinal);
        Assert.Matches(@"letterlock_transparency_epoch (-1|\d+)\n", text);
        Assert.DoesNotContain("nobody-here", text, StringComparison.Ordinal);

        var requests = logs.Lines.Where(l => l.Category == "Letterlock.Provider.Requests").Select(l => l.Message).ToList();
        Assert.Contains("GET /v1/directory/{address} 404", string.Join('\n', requests), StringComparison.Ordinal);
        Assert.Contains("POST /v1/accounts 201", string.Join('\n', requests), StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Lines, l => l.Message.Contains("nobody-here", StringComparison.Ordinal) || l.Message.Contains("alice", StringComparison.Ordinal));
    }

    [Fact]
    [Trait(TestCategory.Name, TestCategory.Process)]
    public async Task Serve_with_json_logs_writes_one_JSON_object_per_line()
    {
        string data = TestProvider.InitializeForProcess(_directory);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "provider", "serve", "--data", data, "--log-format", "json" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var lines = new List<string>();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                lines.Add(line);
                if (line.Contains("\"ready\"", StringComparison.Ordinal))
                {
                    break;
                }
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        Assert.Contains(lines, l => l.Contains("\"ready\"", StringComparison.Ordinal));
        foreach (string line in lines)
        {
            using var json = JsonDocument.Parse(line);
            Assert.Equal(JsonValueKind.Object, json.RootElement.ValueKind);
            Assert.True(json.RootElement.TryGetProperty("LogLevel", out _), line);
            Assert.True(json.RootElement.TryGetProperty("Category", out _), line);
        }

        // the banner is the command line's event 8001 (docs/design/logging.md): a log shipper can select it by id
        string listening = Assert.Single(lines, l => l.Contains("listening: smtp 127.0.0.1", StringComparison.Ordinal));
        using (var banner = JsonDocument.Parse(listening))
        {
            Assert.Equal(8001, banner.RootElement.GetProperty("EventId").GetInt32());
        }
    }

    [GeneratedRegex(@"^([a-z_]+)(\{[a-z_]+=""(?:[^""\\]|\\.)*""(?:,[a-z_]+=""(?:[^""\\]|\\.)*"")*\})? -?[0-9.e+]+$")]
    private static partial Regex SampleLine();

    private void InitOnPortZero() =>
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("example.test", Data, "mx.example.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));

    private void SetListen(string setting, string value)
    {
        string path = Path.Combine(Data, "provider.json");
        string text = File.ReadAllText(path);
        var (section, key) = setting.Split('.') switch { var p => (p[0], p[1]) };
        // "section": { ... "key": "old" ... }: replace the first such key after the section's name
        int at = text.IndexOf($"\"{section}\":", StringComparison.Ordinal);
        int keyAt = text.IndexOf($"\"{key}\":", at, StringComparison.Ordinal);
        int open = text.IndexOf('"', text.IndexOf(':', keyAt) + 1);
        int close = text.IndexOf('"', open + 1);
        File.WriteAllText(path, text[..(open + 1)] + value + text[close..]);
        Assert.Equal(value, setting switch
        {
            "smtp.listen" => ProviderSettingsLoader.Load(Data).Smtp.Listen,
            "api.listen" => ProviderSettingsLoader.Load(Data).Api.Listen,
            "submission.listenTls" => ProviderSettingsLoader.Load(Data).Submission.ListenTls,
            _ => ProviderSettingsLoader.Load(Data).Ops.Listen,
        });
    }
}

/// <summary>Keeps every log line, for tests that read what the provider logged.</summary>
public sealed class CollectingLoggerProvider : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<(string Category, LogLevel Level, string Message)> _lines = new();

    public IReadOnlyList<(string Category, LogLevel Level, string Message)> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, System.Collections.Concurrent.ConcurrentQueue<(string, LogLevel, string)> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue((category, logLevel, formatter(state, exception)));
    }
}
