using System.Diagnostics;
using Letterlock.Cli;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Letterlock.Imap.Tests;

/// <summary>`letterlock imap serve`: argument errors in process, and the real executable with an mbox import, a client and Ctrl+C.</summary>
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class ImapCliTests
{
    private static Task<CliRun> Run(params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync(args, output, error));

    [Fact]
    public async Task Serve_help_has_an_example_and_bad_arguments_fail_clearly()
    {
        var (code, output, _) = await Run("imap", "serve", "--help");
        Assert.Equal(0, code);
        Assert.Contains("letterlock imap serve --memory --user alice", output, StringComparison.Ordinal);

        (code, _, var error) = await Run("imap", "serve", "--user", "u", "--password", "p");
        Assert.Equal(2, code);
        Assert.Contains("--memory", error, StringComparison.Ordinal);

        (code, _, error) = await Run("imap", "serve", "--memory", "--user", "u", "--password", "p", "--import", "/nonexistent/mail");
        Assert.Equal(2, code);
        Assert.Contains("no such file or folder", error, StringComparison.Ordinal);

        (code, _, error) = await Run("imap", "serve", "--memory", "--user", "u", "--password", "p", "--port", "70000");
        Assert.Equal(2, code);
        Assert.Contains("--port", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_imports_an_mbox_serves_MailKit_and_stops_on_SIGINT()
    {
        var dir = Directory.CreateTempSubdirectory("letterlock-imap-cli-");
        try
        {
            var mbox = Path.Combine(dir.FullName, "archive.mbox");
            await File.WriteAllTextAsync(mbox,
                "From alice@example.org Mon Feb  7 21:52:25 1994\nFrom: a@example.org\nSubject: one\n\nfirst\n\n" +
                "From bob@example.org Mon Feb  7 21:52:26 1994\nFrom: b@example.org\nSubject: two\n\nsecond\n");
            var exe = Path.Combine(AppContext.BaseDirectory, "letterlock.dll");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { exe, "imap", "serve", "--memory", "--user", "carol", "--password", "pw-123", "--port", "0", "--import", mbox })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            try
            {
                string? line;
                int port = 0;
                var lines = new List<string>();
                while ((line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))) is not null)
                {
                    lines.Add(line);
                    if (line.StartsWith("Listening on 127.0.0.1:", StringComparison.Ordinal))
                    {
                        port = int.Parse(line["Listening on 127.0.0.1:".Length..].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    }
                }

                Assert.Contains("Imported 2 messages into INBOX", lines);
                using var client = new ImapClient();
                await client.ConnectAsync("127.0.0.1", port, SecureSocketOptions.None);
                await client.AuthenticateAsync("carol", "pw-123");
                await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
                Assert.Equal(2, client.Inbox.Count);
                Assert.Equal("two", (await client.Inbox.GetMessageAsync(1)).Subject);

                using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                {
                    await kill.WaitForExitAsync();
                }

                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.Equal(0, process.ExitCode);
                Assert.Contains("Shutting down", await process.StandardOutput.ReadToEndAsync(), StringComparison.Ordinal);
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
