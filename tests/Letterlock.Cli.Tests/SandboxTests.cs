using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Letterlock.Client;
using Letterlock.Client.Store;
using Letterlock.Sandbox;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Cli.Tests;

/// <summary>
/// <c>letterlock sandbox</c>, the README's first command: two real providers federating over SMTP on loopback, two
/// client devices with their bridges, and MailKit as the mail app of alice and bob.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class SandboxTests : IDisposable
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(4);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-sandbox-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task Alice_mails_bob_end_to_end_through_both_bridges_and_no_file_holds_the_text_and_a_second_run_reuses_everything()
    {
        string marker = "sandbox-marker-" + Guid.NewGuid().ToString("N");
        using var timeout = new CancellationTokenSource(Generous);
        SandboxInfo first;
        string messageId = MimeKit.Utils.MimeUtils.GenerateMessageId("alpha.test");
        await using (var sandbox = await SandboxEnvironment.StartAsync(new SandboxOptions { DataDirectory = _dir }, ct: timeout.Token))
        {
            first = sandbox.Info;
            Assert.Equal("delivered", first.FirstMessage);
            var (alice, bob) = (first.Accounts[0], first.Accounts[1]);
            Assert.Equal(("alice@alpha.test", "bob@beta.test"), (alice.Address, bob.Address));
            Assert.All(first.Accounts, a => Assert.Equal("127.0.0.1", a.ImapHost));
            string muttrc = await File.ReadAllTextAsync(alice.MuttConfig, timeout.Token);
            Assert.Contains($"set folder = \"imap://127.0.0.1:{alice.ImapPort}/\"", muttrc, StringComparison.Ordinal);
            Assert.Contains($"set smtp_url = \"smtp://alice%40alpha.test@127.0.0.1:{alice.SmtpPort}/\"", muttrc, StringComparison.Ordinal);
            Assert.Contains($"set smtp_pass = \"{alice.Password}\"", muttrc, StringComparison.Ordinal);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(alice.MuttConfig));
            }

            // Alice's mail app sends through her bridge.
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Alice", alice.Address));
            message.To.Add(new MailboxAddress("Bob", bob.Address));
            message.Subject = $"Subject {marker}";
            message.MessageId = messageId;
            message.Body = new TextPart("plain") { Text = $"Body {marker}\n" };
            using (var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, alice.CertificateSha256) })
            {
                await smtp.ConnectAsync(alice.SmtpHost, alice.SmtpPort, SecureSocketOptions.StartTls, timeout.Token);
                await smtp.AuthenticateAsync(alice.UserName, alice.Password, timeout.Token);
                await smtp.SendAsync(message, timeout.Token);
                await smtp.DisconnectAsync(true, timeout.Token);
            }

            await WaitForInboxAsync(sandbox.Clients[1].Store, bob.Address, messageId, timeout.Token);

            // Bob's mail app reads it through his bridge: decrypted, signature checked, the real subject restored.
            using var imap = await LoginAsync(bob, timeout.Token);
            var inbox = imap.Inbox;
            await inbox.OpenAsync(FolderAccess.ReadOnly, timeout.Token);
            var messages = new List<MimeMessage>();
            for (int i = 0; i < inbox.Count; i++)
            {
                messages.Add(await inbox.GetMessageAsync(i, timeout.Token));
            }

            var read = Assert.Single(messages, m => m.MessageId == messageId);
            Assert.Equal($"Subject {marker}", read.Subject);
            Assert.Contains($"Body {marker}", read.TextBody, StringComparison.Ordinal);
            Assert.Equal("end-to-end; forward-secret; post-quantum", read.Headers["Letterlock-Encryption"]);
            Assert.StartsWith("valid; key=", read.Headers["Letterlock-Signature"], StringComparison.Ordinal);
            var welcome = Assert.Single(messages, m => m.Subject == "Welcome to Letterlock");
            Assert.Equal("end-to-end; forward-secret; post-quantum", welcome.Headers["Letterlock-Encryption"]);
            Assert.StartsWith("valid; key=", welcome.Headers["Letterlock-Signature"], StringComparison.Ordinal);
            await imap.DisconnectAsync(true, timeout.Token);
        }

        // Neither provider (database, blobs, queues, logs) nor any client store holds the text: only ciphertext travelled and rests.
        var needle = Encoding.ASCII.GetBytes(marker);
        foreach (var file in Directory.EnumerateFiles(_dir, "*", SearchOption.AllDirectories))
        {
            Assert.False((await File.ReadAllBytesAsync(file, timeout.Token)).AsSpan().IndexOf(needle) >= 0, $"{file} holds the marker text");
        }

        Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(_dir, "providers", "beta.test"), "*", SearchOption.AllDirectories));

        // A second run on the same folder reuses the accounts, passwords and ports, and does not send the first message again;
        // a remembered port someone else took meanwhile is replaced by a free one.
        var squatter = new TcpListener(System.Net.IPAddress.Loopback, first.Accounts[0].ImapPort);
        squatter.Start();
        try
        {
            await using var again = await SandboxEnvironment.StartAsync(new SandboxOptions { DataDirectory = _dir }, ct: timeout.Token);
            Assert.Equal("delivered earlier", again.Info.FirstMessage);
            Assert.Equal(first.Accounts.Select(a => (a.Address, a.Password, a.CertificateSha256)),
                again.Info.Accounts.Select(a => (a.Address, a.Password, a.CertificateSha256)));
            Assert.Equal((first.Accounts[1].ImapPort, first.Accounts[1].SmtpPort), (again.Info.Accounts[1].ImapPort, again.Info.Accounts[1].SmtpPort));
            Assert.NotEqual(first.Accounts[0].ImapPort, again.Info.Accounts[0].ImapPort);
            var store = again.Clients[1].Store;
            var account = (await store.Accounts.FindAsync("bob@beta.test", timeout.Token))!;
            var inbox = (await store.Mail(account.Id).FindFolderAsync(FolderRole.Inbox, timeout.Token))!;
            var subjects = (await store.Mail(account.Id).ListAsync(inbox.Id, timeout.Token)).Select(m => m.Summary.Subject).ToList();
            Assert.Single(subjects, s => s == "Welcome to Letterlock");
            Assert.Single(subjects, s => s == $"Subject {marker}");
        }
        finally
        {
            squatter.Stop();
        }
    }

    [Fact]
    public async Task The_sandbox_command_prints_json_serves_bob_and_stops_cleanly_on_sigterm()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "sandbox", "--json" })
        {
            start.ArgumentList.Add(arg);
        }

        using var timeout = new CancellationTokenSource(Generous);
        var stderr = new StringBuilder();
        using var process = Process.Start(start)!;
        process.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        try
        {
            // The settings are one indented JSON object: it ends with a "}" at the start of a line.
            var json = new StringBuilder();
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                json.AppendLine(line);
                if (line == "}")
                {
                    break;
                }
            }

            Assert.True(json.Length > 0, "no settings on stdout; stderr: " + Stderr(stderr));
            using var settings = JsonDocument.Parse(json.ToString());
            var root = settings.RootElement;
            Assert.Equal("delivered", root.GetProperty("firstMessage").GetString());
            string data = root.GetProperty("dataDirectory").GetString()!;
            Assert.True(Directory.Exists(data));
            var accounts = root.GetProperty("accounts").EnumerateArray().Select(a => new SandboxAccount(
                a.GetProperty("address").GetString()!, a.GetProperty("userName").GetString()!, a.GetProperty("password").GetString()!,
                a.GetProperty("imapHost").GetString()!, a.GetProperty("imapPort").GetInt32(), a.GetProperty("imapSecurity").GetString()!,
                a.GetProperty("smtpHost").GetString()!, a.GetProperty("smtpPort").GetInt32(), a.GetProperty("smtpSecurity").GetString()!,
                a.GetProperty("certificateSha256").GetString()!, a.GetProperty("certificatePath").GetString()!,
                a.GetProperty("clientDirectory").GetString()!, a.GetProperty("keyFile").GetString()!, a.GetProperty("muttConfig").GetString()!)).ToList();
            var bob = Assert.Single(accounts, a => a.Address == "bob@beta.test");

            using (var imap = await LoginAsync(bob, timeout.Token))
            {
                await imap.Inbox.OpenAsync(FolderAccess.ReadOnly, timeout.Token);
                var summaries = await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Headers, timeout.Token);
                var welcome = Assert.Single(summaries, s => s.Envelope!.Subject == "Welcome to Letterlock");
                Assert.Equal("alice@alpha.test", welcome.Envelope!.From.Mailboxes.Single().Address);
                Assert.Equal("end-to-end; forward-secret; post-quantum", welcome.Headers!["Letterlock-Encryption"]);
                Assert.StartsWith("valid; key=", welcome.Headers!["Letterlock-Signature"], StringComparison.Ordinal);
                await imap.DisconnectAsync(true, timeout.Token);
            }

            var ports = accounts.SelectMany(a => new[] { a.ImapPort, a.SmtpPort })
                .Concat(root.GetProperty("providers").EnumerateArray()
                    .SelectMany(p => new[] { "https", "smtp", "submission" }.Select(k => int.Parse(p.GetProperty(k).GetString()!.Split(':')[^1],
                        System.Globalization.CultureInfo.InvariantCulture))))
                .ToList();
            foreach (int port in ports)
            {
                Assert.True(await AcceptsAsync(port, timeout.Token), $"nothing listens on {port} while the sandbox runs");
            }

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
            {
                await kill.WaitForExitAsync(timeout.Token);
            }

            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}; stderr: {Stderr(stderr)}");
            foreach (int port in ports)
            {
                Assert.False(await AcceptsAsync(port, timeout.Token), $"something still listens on {port} after the sandbox stopped");
            }

            Assert.False(Directory.Exists(data), "the temporary sandbox folder is removed at the end");
            Assert.Contains("Stopped.", Stderr(stderr), StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Extra_dns_records_add_a_third_domain_that_the_sandbox_delivers_to()
    {
        // gamma.test: a plain SMTP listener of this test's own, which the sandbox finds only through the records given
        using var timeout = new CancellationTokenSource(Generous);
        var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var received = PlainSmtpListenerAsync(listener, timeout.Token);
        string records = $"""
            # a third domain beside the sandbox's own
            gamma.test      MX   10 mx.gamma.test.
            mx.gamma.test.  A    127.0.0.1
            mx.gamma.test   PORT {port}
            gamma.test      TXT  "v=spf1 -all"
            """;
        string marker = "gamma-marker-" + Guid.NewGuid().ToString("N");
        try
        {
            await using var sandbox = await SandboxEnvironment.StartAsync(
                new SandboxOptions { DataDirectory = _dir, DnsRecords = SandboxDnsRecords.Parse(records, SandboxEnvironment.Domains) }, ct: timeout.Token);
            var alice = sandbox.Info.Accounts[0];
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Alice", alice.Address));
            message.To.Add(new MailboxAddress("Carol", "carol@gamma.test"));
            message.Subject = "Hello gamma";
            message.Body = new TextPart("plain") { Text = $"Body {marker}\n" };
            using (var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, alice.CertificateSha256) })
            {
                await smtp.ConnectAsync(alice.SmtpHost, alice.SmtpPort, SecureSocketOptions.StartTls, timeout.Token);
                await smtp.AuthenticateAsync(alice.UserName, alice.Password, timeout.Token);
                await smtp.SendAsync(message, timeout.Token);
                await smtp.DisconnectAsync(true, timeout.Token);
            }

            var (helo, recipients, data) = await received;
            Assert.Equal("mx.alpha.test", helo);
            Assert.Equal(["carol@gamma.test"], recipients);
            Assert.Contains("Hello gamma", data, StringComparison.Ordinal);
            Assert.Contains("DKIM-Signature:", data, StringComparison.Ordinal);
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>A minimal SMTP server on a raw socket (no extensions): returns the HELO name, recipients and data of the first message.</summary>
    private static async Task<(string Helo, List<string> Recipients, string Data)> PlainSmtpListenerAsync(TcpListener listener, CancellationToken ct)
    {
        while (true)
        {
            using var client = await listener.AcceptTcpClientAsync(ct);
            using var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.UTF8);
            using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\r\n", AutoFlush = true };
            await writer.WriteLineAsync("220 mx.gamma.test ESMTP test listener");
            string helo = string.Empty;
            var recipients = new List<string>();
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                string verb = line.Split(' ')[0].ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO" or "HELO":
                        helo = line[5..];
                        await writer.WriteLineAsync("250 mx.gamma.test");
                        break;
                    case "RCPT":
                        recipients.Add(line[(line.IndexOf('<', StringComparison.Ordinal) + 1)..line.IndexOf('>', StringComparison.Ordinal)]);
                        await writer.WriteLineAsync("250 2.1.5 Ok");
                        break;
                    case "DATA":
                        await writer.WriteLineAsync("354 Go ahead");
                        var data = new StringBuilder();
                        while (await reader.ReadLineAsync(ct) is { } content && content != ".")
                        {
                            data.Append(content).Append("\r\n");
                        }

                        await writer.WriteLineAsync("250 2.0.0 Ok");
                        await writer.WriteLineAsync("221 2.0.0 Bye");
                        return (helo, recipients, data.ToString());
                    default:
                        await writer.WriteLineAsync(verb == "QUIT" ? "221 2.0.0 Bye" : "250 2.0.0 Ok");
                        break;
                }
            }
        }
    }

    [Fact]
    public async Task Unusable_data_folders_and_bad_ports_are_clear_errors()
    {
        Directory.CreateDirectory(_dir);
        string file = Path.Combine(_dir, "a-file");
        await File.WriteAllTextAsync(file, "not a folder");
        var (code, _, error) = await Run("sandbox", "--data", file);
        Assert.Equal(3, code);
        Assert.Contains("cannot use", error, StringComparison.Ordinal);
        Assert.Equal("not a folder", await File.ReadAllTextAsync(file));

        // A folder holding something else is not taken over.
        (code, _, error) = await Run("sandbox", "--data", _dir);
        Assert.Equal(3, code);
        Assert.Contains("not empty and not a sandbox folder", error, StringComparison.Ordinal);
        Assert.Equal(["a-file"], Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName));

        (code, _, error) = await Run("sandbox", "--imap-ports", "1143");
        Assert.Equal(2, code);
        Assert.Contains("--imap-ports takes two ports", error, StringComparison.Ordinal);
        (code, _, error) = await Run("sandbox", "--smtp-ports", "25,70000");
        Assert.Equal(2, code);
        Assert.Contains("--smtp-ports", error, StringComparison.Ordinal);

        // extra DNS records: a malformed line and a record for the sandbox's own domains, each named by its line
        string zone = Path.Combine(_dir, "zone");
        await File.WriteAllTextAsync(zone, "gamma.test MX 10 mx.gamma.test\nmx.gamma.test A not-an-address\n");
        (code, _, error) = await Run("sandbox", "--dns-records", zone);
        Assert.Equal(2, code);
        Assert.Contains("line 2: 'not-an-address' is not an IP address", error, StringComparison.Ordinal);
        await File.WriteAllTextAsync(zone, "# mine now\nmx.beta.test PORT 2525\n");
        (code, _, error) = await Run("sandbox", "--dns-records", zone);
        Assert.Equal(2, code);
        Assert.Contains("line 2: 'mx.beta.test' belongs to the sandbox's own domains", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_explains_the_sandbox_with_an_example()
    {
        var (code, output, _) = await Run("sandbox", "--help");
        Assert.Equal(0, code);
        Assert.Contains("Example", output, StringComparison.Ordinal);
        Assert.Contains("letterlock sandbox --data", output, StringComparison.Ordinal);
        Assert.Contains("--json", output, StringComparison.Ordinal);
    }

    private static Task<CliRun> Run(params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync(args, output, error));

    private static string Stderr(StringBuilder stderr)
    {
        lock (stderr)
        {
            return stderr.ToString();
        }
    }

    private static async Task<ImapClient> LoginAsync(SandboxAccount account, CancellationToken ct)
    {
        var imap = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, account.CertificateSha256) };
        await imap.ConnectAsync(account.ImapHost, account.ImapPort, SecureSocketOptions.StartTls, ct);
        await imap.AuthenticateAsync(account.UserName, account.Password, ct);
        return imap;
    }

    private static async Task<bool> AcceptsAsync(int port, CancellationToken ct)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync("127.0.0.1", port, ct);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Waits, woken by the store's changes and re-checking every 2 s, until the INBOX holds the message.</summary>
    private static async Task WaitForInboxAsync(LocalStore store, string address, string messageId, CancellationToken ct)
    {
        var account = (await store.Accounts.FindAsync(address, ct))!;
        var inbox = (await store.Mail(account.Id).FindFolderAsync(FolderRole.Inbox, ct))!;
        using var changed = new SemaphoreSlim(0);
        void OnChanged(StoreChange change) => changed.Release();
        store.Changed += OnChanged;
        try
        {
            while (!(await store.Mail(account.Id).ListAsync(inbox.Id, ct)).Any(m => m.Summary.MessageIdHeader?.Trim('<', '>') == messageId))
            {
                await changed.WaitAsync(TimeSpan.FromSeconds(2), ct);
            }
        }
        finally
        {
            store.Changed -= OnChanged;
        }
    }
}
