using System.Diagnostics;
using System.Text.Json;
using Letterlock.Client.Store;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Cli.Tests;

/// <summary>
/// Crash safety of the local store: messages a mail app APPENDs through the bridge are acknowledged
/// only after their transaction is durable, so after <c>kill -9</c> of the bridge every acknowledged
/// message is there, exactly once, and the store opens and reads cleanly.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class BridgeCrashTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-crash-" + Guid.NewGuid().ToString("N"));

    public BridgeCrashTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Every_acknowledged_append_survives_kill_9_of_the_bridge()
    {
        var keyFile = Path.Combine(_dir, "store.key");
        KeyFile.Create(keyFile);
        using (var store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithKeyFile(keyFile)))
        {
            await store.Accounts.CreateAsync("alice@alpha.test", "Alice", null);
        }

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "bridge", "--data", _dir, "--key-file", keyFile,
                     "--imap-port", "0", "--smtp-port", "0", "--web-port", "0", "--json" })
        {
            start.ArgumentList.Add(arg);
        }

        var acknowledged = new List<string>();
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            var json = new System.Text.StringBuilder();
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
            using var imap = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => c is not null };
            await imap.ConnectAsync("127.0.0.1", alice.GetProperty("imapPort").GetInt32(), SecureSocketOptions.StartTls, timeout.Token);
            await imap.AuthenticateAsync(alice.GetProperty("userName").GetString()!, alice.GetProperty("password").GetString()!, timeout.Token);
            var drafts = imap.GetFolder(SpecialFolder.Drafts)!;

            // Append in the background and kill the process while appends are in flight.
            var appending = Task.Run(async () =>
            {
                for (int i = 0; i < 10_000; i++)
                {
                    var subject = $"draft {i}";
                    var message = new MimeMessage();
                    message.From.Add(new MailboxAddress("Alice", "alice@alpha.test"));
                    message.Subject = subject;
                    message.Body = new TextPart("plain") { Text = new string('x', 2000) };
                    await drafts.AppendAsync(message, MessageFlags.Draft);
                    lock (acknowledged)
                    {
                        acknowledged.Add(subject);
                    }
                }
            });
            while (true)
            {
                lock (acknowledged)
                {
                    if (acknowledged.Count >= 25)
                    {
                        break;
                    }
                }

                await Task.Delay(20, timeout.Token);
            }

            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(timeout.Token);
            await Assert.ThrowsAnyAsync<Exception>(() => appending);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        using var reopened = await LocalStore.OpenAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithKeyFile(keyFile));
        var account = (await reopened.Accounts.FindAsync("alice@alpha.test"))!;
        var draftsFolder = (await reopened.Mail(account.Id).FindFolderAsync(FolderRole.Drafts))!;
        var stored = (await reopened.Mail(account.Id).ListAsync(draftsFolder.Id)).Select(m => m.Summary.Subject).ToList();
        Assert.Equal(stored.Count, stored.Distinct().Count());
        foreach (var subject in acknowledged)
        {
            Assert.Contains(subject, stored);
        }

        Assert.True(stored.Count <= acknowledged.Count + 1, "at most the one unacknowledged append in flight may also have committed");
        foreach (var message in await reopened.Mail(account.Id).ListAsync(draftsFolder.Id))
        {
            Assert.NotEmpty((await reopened.Mail(account.Id).ReadBodyAsync(message.Id))!);
        }
    }
}
