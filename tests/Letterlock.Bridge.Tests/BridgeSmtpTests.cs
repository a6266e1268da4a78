using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Bridge.Tests;

/// <summary>Submission through the bridge with MailKit's SmtpClient: encrypted and queued, or refused with a clear reply.</summary>
public sealed class BridgeSmtpTests : IAsyncLifetime
{
    private const string Marker = "Pelican77";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-bridge-smtp-" + Guid.NewGuid().ToString("N"));
    private LocalStore _store = null!;
    private BridgeHost _bridge = null!;
    private BridgeAccountSettings _settings = null!;
    private AccountRecord _alice = null!;
    private UnlockedKey _bob = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithPassphrase("bridge test"),
            new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
        _alice = await _store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
        await AccountKeys.GenerateAsync(_store, _alice);
        _bob = KeyGenerator.Generate("Bob <bob@beta.test>", "").SecretKey.Unlock();
        await _store.Contacts.ObserveKeyAsync(_alice.Id, "bob@beta.test",
            new ObservedKey(KeyFingerprint.Parse(_bob.Fingerprint.Hex), _bob.Certificate.Export(armored: false), KeyOrigin.Wkd), TransparencyVerdict.Absent);
        // No network: names outside the (empty) map do not resolve, so discovery for strangers finds nothing, fast.
        _bridge = await BridgeHost.StartAsync(_store, new BridgeOptions
        {
            // No background outbox: the tests read the queued jobs themselves.
            ImapPort = 0, SmtpPort = 0, HostMap = new StaticHostMap { AllowSystemDns = false }, SyncInterval = null,
        });
        _settings = Assert.Single(await _bridge.GetSettingsAsync());
    }

    public async Task DisposeAsync()
    {
        await _bridge.DisposeAsync();
        _store.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<SmtpClient> Connect()
    {
        var client = new SmtpClient { ServerCertificateValidationCallback = (_, certificate, _, _) => certificate is not null };
        await client.ConnectAsync(_settings.SmtpHost, _settings.SmtpPort, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync(_settings.UserName, _settings.Password);
        return client;
    }

    private static MimeMessage Message(string to, string subject, string? bcc = null)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@alpha.test"));
        message.To.Add(MailboxAddress.Parse(to));
        if (bcc is not null)
        {
            message.Bcc.Add(MailboxAddress.Parse(bcc));
        }

        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = $"Body {Marker}" };
        return message;
    }

    [Fact]
    public async Task A_message_to_a_recipient_with_a_key_is_encrypted_queued_and_kept_in_sent()
    {
        using var client = await Connect();
        var reply = await client.SendAsync(Message("bob@beta.test", $"Subject {Marker}"));
        Assert.Contains("end-to-end encrypted", reply, StringComparison.Ordinal);
        await client.DisconnectAsync(true);

        var job = await _store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1));
        var queued = QueuedMail.FromPayload(job!.Payload);
        Assert.Equal(["bob@beta.test"], queued.Recipients);
        Assert.DoesNotContain(Marker, Encoding.UTF8.GetString(queued.Message), StringComparison.Ordinal);

        // Bob (a Letterlock reader here) decrypts it: protected subject, valid signature.
        var bobStore = _store;
        var bobAccount = await bobStore.Accounts.CreateAsync("bob@beta.test", "Bob", null);
        await bobStore.Keys.AddAsync(bobAccount.Id, AccountKeys.OpenPgpSecret, _bob.SecretKey.Export(armored: false));
        var read = await new IncomingMailProcessor(bobStore, bobAccount, _bob).ProcessAsync(queued.Message);
        Assert.Equal(EncryptionState.EndToEnd, read.Security.Encryption);
        Assert.Equal(SignatureState.Valid, read.Security.Signature);
        Assert.Equal($"Subject {Marker}", read.Message.Summary.Subject);

        var sent = (await _store.Mail(_alice.Id).FindFolderAsync(FolderRole.Sent))!;
        Assert.Equal($"Subject {Marker}", Assert.Single(await _store.Mail(_alice.Id).ListAsync(sent.Id)).Summary.Subject);
    }

    [Fact]
    public async Task Encrypted_only_refuses_with_an_smtp_error_naming_the_recipients_without_keys()
    {
        await _store.Accounts.UpdateAsync(_alice with { Policy = EncryptionPolicy.EncryptedOnly });
        using var client = await Connect();
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(Message("bob@beta.test", "x", bcc: "stranger@nowhere.test")));
        Assert.Equal(SmtpStatusCode.MailboxUnavailable, error.StatusCode);
        Assert.Contains("no usable key for: stranger@nowhere.test", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("bob@beta.test", error.Message, StringComparison.Ordinal);
        Assert.Empty(await _store.Jobs.ListAsync(QueuedMail.JobKind));
    }

    [Fact]
    public async Task Wrong_password_and_foreign_senders_are_refused()
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync(_settings.SmtpHost, _settings.SmtpPort, SecureSocketOptions.StartTls);
        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync(_settings.UserName, "wrong"));
        await client.DisconnectAsync(true);

        using var authenticated = await Connect();
        var forged = Message("bob@beta.test", "x");
        forged.From.Clear();
        forged.From.Add(new MailboxAddress("Mallory", "mallory@alpha.test"));
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => authenticated.SendAsync(forged));
        Assert.Contains("alice@alpha.test", error.Message, StringComparison.Ordinal);
    }
}
