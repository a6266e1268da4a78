using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Letterlock.Client.Store;

namespace Letterlock.Cli.Tests;

/// <summary><c>letterlock bridge</c> as a real process: prints settings, serves IMAP, stops cleanly on Ctrl-C (SIGINT).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class BridgeCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-bridge-cli-" + Guid.NewGuid().ToString("N"));

    public BridgeCommandTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_bridge_prints_json_settings_serves_imap_and_stops_on_sigint()
    {
        var keyFile = Path.Combine(_dir, "store.key");
        KeyFile.Create(keyFile);
        using (var store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithKeyFile(keyFile)))
        {
            await store.Accounts.CreateAsync("alice@alpha.test", "Alice", null);
        }

        var cli = Path.Combine(AppContext.BaseDirectory, "letterlock.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { cli, "bridge", "--data", _dir, "--key-file", keyFile, "--imap-port", "0", "--smtp-port", "0", "--web-port", "0", "--json" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        try
        {
            var json = new StringBuilder();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                json.AppendLine(line);
                if (line == "]")
                {
                    break;
                }
            }

            using var settings = JsonDocument.Parse(json.ToString());
            var alice = settings.RootElement[0];
            Assert.Equal("alice@alpha.test", alice.GetProperty("userName").GetString());
            Assert.Equal(20, alice.GetProperty("password").GetString()!.Length);
            Assert.Equal("STARTTLS", alice.GetProperty("imapSecurity").GetString());

            using (var imap = new TcpClient())
            {
                await imap.ConnectAsync("127.0.0.1", alice.GetProperty("imapPort").GetInt32());
                var greeting = await new StreamReader(imap.GetStream()).ReadLineAsync(timeout.Token);
                Assert.StartsWith("* OK", greeting, StringComparison.Ordinal);
            }

            using (var smtp = new TcpClient())
            {
                await smtp.ConnectAsync("127.0.0.1", alice.GetProperty("smtpPort").GetInt32());
                var greeting = await new StreamReader(smtp.GetStream()).ReadLineAsync(timeout.Token);
                Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
            }

            // `letterlock web`, another process over the same store, makes a login link the running bridge's web app takes once.
            var web = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { cli, "web", "--print", "--data", _dir, "--key-file", keyFile })
            {
                web.ArgumentList.Add(arg);
            }

            using (var webProcess = Process.Start(web)!)
            {
                string printed = await webProcess.StandardOutput.ReadToEndAsync(timeout.Token);
                await webProcess.WaitForExitAsync(timeout.Token);
                Assert.True(webProcess.ExitCode == 0, printed + await webProcess.StandardError.ReadToEndAsync(timeout.Token));
                var link = new Uri(printed.Split(' ', '\n').Single(w => w.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)).Trim());
                Assert.Equal("/login", link.AbsolutePath);
                using var http = new HttpClient { BaseAddress = link };
                async Task<System.Net.HttpStatusCode> SignIn()
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/api/session")
                    {
                        Content = new StringContent(JsonSerializer.Serialize(new { token = link.Fragment.TrimStart('#') }), Encoding.UTF8, "application/json"),
                    };
                    using var response = await http.SendAsync(request, timeout.Token);
                    return response.StatusCode;
                }

                Assert.Equal(System.Net.HttpStatusCode.OK, await SignIn());
                Assert.Equal(System.Net.HttpStatusCode.Unauthorized, await SignIn());
            }

            using (var signal = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await signal.WaitForExitAsync(timeout.Token);
            }

            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            // 130 = 128 + SIGINT, the shell convention for "stopped by Ctrl-C"; no crash output.
            Assert.Equal(130, process.ExitCode);
            Assert.Equal("", await stderr);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
