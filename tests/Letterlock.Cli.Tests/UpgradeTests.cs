using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Letterlock.Sandbox;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Search;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Cli.Tests;

/// <summary>
/// Data outlives releases: a sandbox folder written by an earlier main (tests/Fixtures, see its README) is opened by
/// this build's sandbox, which runs every migration of every stored format on the way (provider databases and blobs,
/// client stores, key files, settings). Everything is checked from outside, through the bridges as a mail app sees
/// it, so the test does not depend on the store's internals.
/// </summary>
public sealed class UpgradeTests : IDisposable
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(4);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-upgrade-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_sandbox_written_by_main_at_bb77344_opens_with_all_its_mail_flags_and_folders_and_keeps_working()
    {
        CopyFixture("sandbox-bb77344", _dir);
        using var timeout = new CancellationTokenSource(Generous);
        await using var sandbox = await SandboxEnvironment.StartAsync(new SandboxOptions { DataDirectory = _dir }, ct: timeout.Token);
        Assert.Equal("delivered earlier", sandbox.Info.FirstMessage);
        var (alice, bob) = (sandbox.Info.Accounts[0], sandbox.Info.Accounts[1]);

        // The accounts, their bridge passwords and bridge certificates are the ones the earlier release generated.
        var printed = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "settings-printed.json"), timeout.Token))!["accounts"]!.AsArray();
        Assert.Equal(
            printed.Select(a => (a!["address"]!.GetValue<string>(), a["password"]!.GetValue<string>(), a["certificateSha256"]!.GetValue<string>())),
            sandbox.Info.Accounts.Select(a => (a.Address, a.Password, a.CertificateSha256)));

        // Bob: the welcome message, alice's second message and the large one with its attachment, each decrypted.
        using (var imap = await LoginAsync(bob, timeout.Token))
        {
            var inbox = imap.Inbox;
            await inbox.OpenAsync(FolderAccess.ReadOnly, timeout.Token);
            var messages = await ReadAllAsync(inbox, timeout.Token);
            Assert.Equal(["Large with attachment", "Second from alice", "Welcome to Letterlock"], messages.Select(m => m.Subject).Order(StringComparer.Ordinal));
            Assert.All(messages, m => Assert.Equal("end-to-end", m.Headers["Letterlock-Encryption"]));
            Assert.All(messages, m => Assert.StartsWith("valid; key=", m.Headers["Letterlock-Signature"], StringComparison.Ordinal));
            var large = messages.Single(m => m.Subject == "Large with attachment");
            var attachment = Assert.IsType<MimePart>(Assert.Single(large.Attachments));
            Assert.Equal("data.bin", attachment.FileName);
            using var content = new MemoryStream();
            await attachment.Content!.DecodeToAsync(content, timeout.Token);
            Assert.Equal(Enumerable.Repeat(Enumerable.Range(0, 256).Select(i => (byte)i), 600).SelectMany(b => b).ToArray(), content.ToArray());
            await imap.DisconnectAsync(true, timeout.Token);
        }

        // Alice: bob's reply (end-to-end) and the legacy message from outside (encrypted on arrival only), the flags she
        // set, her own folder with its copy, and her Sent mail.
        using (var imap = await LoginAsync(alice, timeout.Token))
        {
            var inbox = imap.Inbox;
            await inbox.OpenAsync(FolderAccess.ReadOnly, timeout.Token);
            var messages = await ReadAllAsync(inbox, timeout.Token);
            Assert.Equal(["Fixture reply from bob", "Plain legacy mail"], messages.Select(m => m.Subject).Order(StringComparer.Ordinal));
            Assert.Equal("end-to-end", messages.Single(m => m.Subject == "Fixture reply from bob").Headers["Letterlock-Encryption"]);
            Assert.Equal("none", messages.Single(m => m.Subject == "Plain legacy mail").Headers["Letterlock-Encryption"]);
            var first = (await inbox.FetchAsync(0, 0, MessageSummaryItems.Flags | MessageSummaryItems.Envelope, timeout.Token)).Single();
            Assert.True(first.Flags!.Value.HasFlag(MessageFlags.Seen) && first.Flags.Value.HasFlag(MessageFlags.Flagged), $"flags: {first.Flags}");

            var project = await imap.GetFolderAsync("Projects/Letterlock", timeout.Token);
            await project.OpenAsync(FolderAccess.ReadOnly, timeout.Token);
            Assert.Equal(1, project.Count);

            var sent = imap.GetFolder(SpecialFolder.Sent)!;
            await sent.OpenAsync(FolderAccess.ReadOnly, timeout.Token);
            var sentSubjects = (await ReadAllAsync(sent, timeout.Token)).Select(m => m.Subject).ToList();
            Assert.Contains("Second from alice", sentSubjects);
            Assert.Contains("Large with attachment", sentSubjects);
            await imap.DisconnectAsync(true, timeout.Token);
        }

        // The upgraded accounts keep working: alice writes to bob and he reads it, end to end.
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", alice.Address));
        message.To.Add(new MailboxAddress("Bob", bob.Address));
        message.Subject = "After the upgrade";
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("alpha.test");
        message.Body = new TextPart("plain") { Text = "Still here.\n" };
        using (var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, alice.CertificateSha256) })
        {
            await smtp.ConnectAsync(alice.SmtpHost, alice.SmtpPort, SecureSocketOptions.StartTls, timeout.Token);
            await smtp.AuthenticateAsync(alice.UserName, alice.Password, timeout.Token);
            await smtp.SendAsync(message, timeout.Token);
            await smtp.DisconnectAsync(true, timeout.Token);
        }

        using (var imap = await LoginAsync(bob, timeout.Token))
        {
            var inbox = imap.Inbox;
            await inbox.OpenAsync(FolderAccess.ReadOnly, timeout.Token);
            var read = await WaitForMessageAsync(imap, inbox, message.MessageId, timeout.Token);
            Assert.Equal("After the upgrade", read.Subject);
            // The upgraded devices published prekeys at their first sync: mail between them is native from now on.
            Assert.Equal("end-to-end; forward-secret; post-quantum", read.Headers["Letterlock-Encryption"]);
            Assert.StartsWith("valid; key=", read.Headers["Letterlock-Signature"], StringComparison.Ordinal);
            await imap.DisconnectAsync(true, timeout.Token);
        }

        // Both accounts had X25519 inbox keys; their bridges moved them to X-Wing (derived from the account master key,
        // published, the old key kept), and legacy mail arriving now is sealed to it and still reaches the mailbox.
        using (var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }))
        {
            foreach (var (provider, address) in new[] { (sandbox.Info.Providers[0], alice.Address), (sandbox.Info.Providers[1], bob.Address) })
            {
                byte[] key;
                while ((key = await InboxKeyAsync(http, provider, address, timeout.Token)).Length != Letterlock.Cryptography.XWing.PublicKeyLength)
                {
                    Assert.Equal(32, key.Length);
                    await Task.Delay(TimeSpan.FromMilliseconds(500), timeout.Token);
                }
            }
        }

        var legacy = new MimeMessage();
        legacy.From.Add(new MailboxAddress("Outside", "someone@outside.test"));
        legacy.To.Add(new MailboxAddress("Alice", alice.Address));
        legacy.Subject = "Legacy mail after the X-Wing move";
        legacy.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("outside.test");
        legacy.Body = new TextPart("plain") { Text = "sealed on arrival, post-quantum\n" };
        var mx = System.Net.IPEndPoint.Parse(sandbox.Info.Providers[0].Smtp);
        using (var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await smtp.ConnectAsync(mx.Address.ToString(), mx.Port, SecureSocketOptions.StartTlsWhenAvailable, timeout.Token);
            await smtp.SendAsync(legacy, timeout.Token);
            await smtp.DisconnectAsync(true, timeout.Token);
        }

        using (var imap = await LoginAsync(alice, timeout.Token))
        {
            var inbox = imap.Inbox;
            await inbox.OpenAsync(FolderAccess.ReadOnly, timeout.Token);
            Assert.Equal("Legacy mail after the X-Wing move", (await WaitForMessageAsync(imap, inbox, legacy.MessageId, timeout.Token)).Subject);
            await imap.DisconnectAsync(true, timeout.Token);
        }
    }

    /// <summary>Polls the open folder until the message with that Message-ID is there (the test's timeout bounds a hang).</summary>
    private static async Task<MimeMessage> WaitForMessageAsync(ImapClient imap, IMailFolder folder, string messageId, CancellationToken ct)
    {
        IList<UniqueId> found;
        while ((found = await folder.SearchAsync(SearchQuery.HeaderContains("Message-ID", messageId), ct)).Count == 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            await imap.NoOpAsync(ct);
        }

        return await folder.GetMessageAsync(found[0], ct);
    }

    private static async Task<byte[]> InboxKeyAsync(HttpClient http, SandboxProvider provider, string address, CancellationToken ct)
    {
        var entry = JsonNode.Parse(await http.GetStringAsync(new Uri($"https://{provider.Https}/v1/directory/{Uri.EscapeDataString(address)}"), ct))!;
        return Convert.FromBase64String(entry["inboxPublicKey"]!.GetValue<string>());
    }

    /// <summary>Copies a fixture folder; the bridge ports it remembers are dropped so parallel test runs pick free ones.</summary>
    internal static void CopyFixture(string name, string target)
    {
        string source = Path.Combine(RepositoryRoot(), "tests", "Fixtures", name);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }

        if (!OperatingSystem.IsWindows())
        {
            // Git keeps no modes but the executable bit; the client refuses key files others can read, as it should.
            foreach (var keyFile in Directory.EnumerateFiles(target, "store.key", SearchOption.AllDirectories))
            {
                File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            // likewise the provider refuses private keys others can read (TLS, DKIM, signing and queue keys)
            foreach (var keyFile in Directory.EnumerateFiles(Path.Combine(target, "providers"), "*", SearchOption.AllDirectories)
                .Where(f => Path.GetFileName(f).EndsWith(".key", StringComparison.Ordinal) || Path.GetFileName(f).EndsWith("key.pem", StringComparison.Ordinal) || Path.GetFileName(Path.GetDirectoryName(f)) == "dkim"))
            {
                File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        string statePath = Path.Combine(target, "sandbox.json");
        var state = JsonNode.Parse(File.ReadAllText(statePath))!.AsObject();
        state.Remove("bridgePorts");
        File.WriteAllText(statePath, state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Letterlock.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Letterlock.slnx not found above " + AppContext.BaseDirectory);
    }

    private static async Task<List<MimeMessage>> ReadAllAsync(IMailFolder folder, CancellationToken ct)
    {
        var messages = new List<MimeMessage>();
        for (int i = 0; i < folder.Count; i++)
        {
            messages.Add(await folder.GetMessageAsync(i, ct));
        }

        return messages;
    }

    private static async Task<ImapClient> LoginAsync(SandboxAccount account, CancellationToken ct)
    {
        var imap = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, account.CertificateSha256) };
        await imap.ConnectAsync(account.ImapHost, account.ImapPort, SecureSocketOptions.StartTls, ct);
        await imap.AuthenticateAsync(account.UserName, account.Password, ct);
        return imap;
    }
}
