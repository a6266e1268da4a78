using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Bridge;
using Letterlock.Client;
using Letterlock.Client.Accounts;
using Letterlock.Client.Discovery;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Validation;
using Letterlock.Sandbox;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Cli.Tests;

/// <summary>
/// The account lifecycle in the sandbox (two real providers, real bridges, MailKit as the mail app): alice signs in
/// with her password on a second device, whose bridge shows her existing and new mail and sends; her first device
/// sees the Sent copy; bob's client sees nothing but a transparent change; then both of alice's devices are lost and
/// the recovery code brings everything back.
/// </summary>
public sealed class SandboxAccountsTests : IDisposable
{
    private const string Alice = "alice@alpha.test";
    private const string Password = "alice's long password 2718";
    private static readonly Uri Alpha = new("https://alpha.test/");
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-sandbox-accounts-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_second_device_signs_in_reads_and_sends_and_after_losing_both_the_recovery_code_brings_everything_back()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        var ct = timeout.Token;
        await using var sandbox = await SandboxEnvironment.StartAsync(new SandboxOptions { DataDirectory = _dir }, ct: ct);
        var (laptopStore, _) = sandbox.Clients[0];
        var (bobStore, bobBridge) = sandbox.Clients[1];
        var bob = sandbox.Info.Accounts[1];
        using var http = new HttpClient(HttpFetch.CreateHandler(sandbox.HostMap, [sandbox.CaRoot])) { Timeout = Timeout.InfiniteTimeSpan };
        var onLaptop = (await laptopStore.Accounts.FindAsync(Alice, ct))!;
        var laptopProvider = await AccountRegistration.ConnectAsync(laptopStore, onLaptop, http, ct: ct);
        await AccountPassword.SetAsync(laptopStore, onLaptop, laptopProvider, Password, ct: ct);
        var code = await AccountRecovery.CreateCodeAsync(laptopStore, onLaptop, laptopProvider, ct);
        var existing = await MessageIdsAsync(laptopStore, ct);
        Assert.NotEmpty(existing);

        // The phone: another client data folder, address and password, its own bridge.
        string phoneDir = Path.Combine(_dir, "clients", "alice-phone");
        Directory.CreateDirectory(phoneDir);
        KeyFile.Create(Path.Combine(phoneDir, "store.key"));
        var phoneStore = await LocalStore.CreateAsync(Path.Combine(phoneDir, "client.db"), StoreUnlock.WithKeyFile(Path.Combine(phoneDir, "store.key")), ct: ct);
        var onPhone = await AccountPassword.LoginAsync(phoneStore, new ProviderClient(http, Alpha), Alice, Password, "alice's phone",
            credentials => new ProviderClient(http, Alpha, credentials), ct: ct);
        var phoneBridge = await StartBridgeAsync(sandbox, phoneStore, ct);
        var phone = Assert.Single(await phoneBridge.GetSettingsAsync(ct));

        // Existing mail arrives on the phone; so does new mail from bob, decrypted, read through the phone's bridge, once
        // (both devices convert the arrival at the same time, into one message document).
        foreach (var id in existing)
        {
            await WaitForAsync(phoneStore, id, ct);
        }

        string fromBob = MimeKit.Utils.MimeUtils.GenerateMessageId("beta.test");
        await SendAsync(bob.SmtpHost, bob.SmtpPort, bob.CertificateSha256, bob.UserName, bob.Password, Mail(bob.Address, Alice, "Bob to alice's devices", fromBob), ct);
        await WaitForAsync(phoneStore, fromBob, ct);
        using (var imap = await LoginAsync(phone.ImapHost, phone.ImapPort, phone.CertificateSha256, phone.UserName, phone.Password, ct))
        {
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly, ct);
            var uids = await imap.Inbox.SearchAsync(MailKit.Search.SearchQuery.HeaderContains("Message-ID", fromBob), ct);
            var read = await imap.Inbox.GetMessageAsync(Assert.Single(uids), ct);
            Assert.Equal("Bob to alice's devices", read.Subject);
            // Between two Letterlock users the sandbox's mail is native (forward secret, post-quantum); the device that filed it
            // synced it to the other as a message document.
            Assert.Equal("end-to-end; forward-secret; post-quantum", read.Headers["Letterlock-Encryption"]);
            await imap.DisconnectAsync(true, ct);
        }

        // The phone sends to bob through its bridge; the laptop sees the Sent copy, bob gets it signed by alice's key.
        string fromPhone = MimeKit.Utils.MimeUtils.GenerateMessageId("alpha.test");
        await SendAsync(phone.SmtpHost, phone.SmtpPort, phone.CertificateSha256, phone.UserName, phone.Password, Mail(Alice, bob.Address, "From alice's phone", fromPhone), ct);
        await WaitForAsync(laptopStore, fromPhone, ct, FolderRole.Sent);
        await WaitForAsync(bobStore, fromPhone, ct);

        // Bob's client: alice's new device key changed her key-transparency entry, which is a transparent change, never "changed".
        var bobAccount = (await bobStore.Accounts.FindAsync(bob.Address, ct))!;
        var contact = (await bobStore.Contacts.GetAsync(bobAccount.Id, Alice, ct))!;
        Assert.NotEqual(KeyValidationLevel.Changed, contact.KeyState.Level);
        Assert.True(contact.KeyState.CanEncryptAutomatically);
        var history = await bobStore.Contacts.HistoryAsync(bobAccount.Id, Alice, ct);
        Assert.DoesNotContain(history, t => t.To == KeyValidationLevel.Changed);
        using (var imap = await LoginAsync(bob.ImapHost, bob.ImapPort, bob.CertificateSha256, bob.UserName, bob.Password, ct))
        {
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly, ct);
            var uids = await imap.Inbox.SearchAsync(MailKit.Search.SearchQuery.HeaderContains("Message-ID", fromPhone), ct);
            var read = await imap.Inbox.GetMessageAsync(Assert.Single(uids), ct);
            Assert.StartsWith("valid; key=", read.Headers["Letterlock-Signature"], StringComparison.Ordinal);
            await imap.DisconnectAsync(true, ct);
        }

        // Both of alice's devices are lost.
        await phoneBridge.DisposeAsync();
        phoneStore.Dispose();
        Directory.Delete(phoneDir, recursive: true);
        await laptopStore.Accounts.RemoveAsync(onLaptop.Id, ct);

        // The recovery code brings the account back on a new device, with every message, and retires the old password.
        using var newStore = await LocalStore.CreateAsync(Path.Combine(_dir, "recovered.db"), StoreUnlock.WithPassphrase("new laptop"), ct: ct);
        var recovered = await AccountRecovery.RecoverAsync(newStore, new ProviderClient(http, Alpha), Alice, code, "a new password after the loss", "alice's new laptop",
            credentials => new ProviderClient(http, Alpha, credentials), ct: ct);
        Assert.Equal(onLaptop.RemoteAccountId, recovered.RemoteAccountId);
        var report = await new SyncEngine(newStore, recovered, await AccountRegistration.ConnectAsync(newStore, recovered, http, ct: ct)).SyncAsync(ct: ct);
        Assert.Empty(report.Errors);
        var after = await MessageIdsAsync(newStore, ct);
        Assert.Superset(new HashSet<string>([.. existing, fromBob, fromPhone]), new HashSet<string>(after));
        using var elsewhere = await LocalStore.CreateAsync(Path.Combine(_dir, "elsewhere.db"), StoreUnlock.WithPassphrase("elsewhere"), ct: ct);
        await Assert.ThrowsAsync<LoginFailedException>(() => AccountPassword.LoginAsync(elsewhere, new ProviderClient(http, Alpha), Alice, Password, "thief",
            credentials => new ProviderClient(http, Alpha, credentials), ct: ct));
    }

    private static Task<BridgeHost> StartBridgeAsync(SandboxEnvironment sandbox, LocalStore store, CancellationToken ct) =>
        BridgeHost.StartAsync(store, new BridgeOptions
        {
            ImapPort = 0,
            SmtpPort = 0,
            HostMap = sandbox.HostMap,
            TrustedRoots = [sandbox.CaRoot],
            Discovery = new KeyDiscoveryOptions { HkpServers = [] },
            SyncInterval = TimeSpan.FromSeconds(5),
            LongPollSeconds = 10,
            Outbox = new OutboxOptions { InitialRetryDelay = TimeSpan.FromSeconds(2), MaxRetryDelay = TimeSpan.FromSeconds(20) },
        }, ct);

    private static MimeMessage Mail(string from, string to, string subject, string messageId)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.MessageId = messageId;
        message.Body = new TextPart("plain") { Text = subject + "\n" };
        return message;
    }

    private static async Task SendAsync(string host, int port, string sha256, string user, string password, MimeMessage message, CancellationToken ct)
    {
        using var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, sha256) };
        await smtp.ConnectAsync(host, port, SecureSocketOptions.StartTls, ct);
        await smtp.AuthenticateAsync(user, password, ct);
        await smtp.SendAsync(message, ct);
        await smtp.DisconnectAsync(true, ct);
    }

    private static async Task<ImapClient> LoginAsync(string host, int port, string sha256, string user, string password, CancellationToken ct)
    {
        var imap = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, sha256) };
        await imap.ConnectAsync(host, port, SecureSocketOptions.StartTls, ct);
        await imap.AuthenticateAsync(user, password, ct);
        return imap;
    }

    /// <summary>The Message-IDs of alice's mail in every folder of a store.</summary>
    private static async Task<List<string>> MessageIdsAsync(LocalStore store, CancellationToken ct)
    {
        var account = (await store.Accounts.FindAsync(Alice, ct))!;
        var ids = new List<string>();
        foreach (var folder in await store.Mail(account.Id).ListFoldersAsync(ct))
        {
            ids.AddRange((await store.Mail(account.Id).ListAsync(folder.Id, ct)).Select(m => m.Summary.MessageIdHeader?.Trim('<', '>')).OfType<string>());
        }

        return ids;
    }

    /// <summary>Waits, woken by the store's changes and re-checking every 2 s, until a folder (INBOX, or any when null) holds the message.</summary>
    private static async Task WaitForAsync(LocalStore store, string messageId, CancellationToken ct, FolderRole? role = null)
    {
        using var changed = new SemaphoreSlim(0);
        void OnChanged(StoreChange change) => changed.Release();
        store.Changed += OnChanged;
        try
        {
            while (true)
            {
                var account = (await store.Accounts.ListAsync(ct)).Single();
                var folders = role is { } wanted
                    ? [(await store.Mail(account.Id).FindFolderAsync(wanted, ct))!]
                    : await store.Mail(account.Id).ListFoldersAsync(ct);
                foreach (var folder in folders)
                {
                    if ((await store.Mail(account.Id).ListAsync(folder.Id, ct)).Any(m => m.Summary.MessageIdHeader?.Trim('<', '>') == messageId.Trim('<', '>')))
                    {
                        return;
                    }
                }

                await changed.WaitAsync(TimeSpan.FromSeconds(2), ct);
            }
        }
        finally
        {
            store.Changed -= OnChanged;
        }
    }
}
