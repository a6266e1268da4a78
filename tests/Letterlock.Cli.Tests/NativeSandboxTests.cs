using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Letterlock.Client;
using Letterlock.Client.Native;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Native;
using Letterlock.Sandbox;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Cli.Tests;

/// <summary>The native protocol between the sandbox's two providers: prekeys published by the bridges, fetched across providers.</summary>
public sealed class NativeSandboxTests : IDisposable
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(4);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-native-sandbox-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task Alice_fetches_bobs_bundle_through_her_own_provider_and_bobs_stored_prekeys_open_her_session_start()
    {
        using var timeout = new CancellationTokenSource(Generous);
        await using var sandbox = await SandboxEnvironment.StartAsync(new SandboxOptions { DataDirectory = _dir }, ct: timeout.Token);
        using var http = new HttpClient(HttpFetch.CreateHandler(sandbox.HostMap, [sandbox.CaRoot]));
        var (aliceStore, bobStore) = (sandbox.Clients[0].Store, sandbox.Clients[1].Store);
        var alice = (await aliceStore.Accounts.FindAsync("alice@alpha.test", timeout.Token))!;
        var bob = (await bobStore.Accounts.FindAsync("bob@beta.test", timeout.Token))!;
        var aliceProvider = await AccountRegistration.ConnectAsync(aliceStore, alice, http, ct: timeout.Token);
        var bobProvider = await AccountRegistration.ConnectAsync(bobStore, bob, http, ct: timeout.Token);

        // Bob's bridge publishes his prekeys before its first sync.
        while ((await bobProvider.GetPrekeyStatusAsync(timeout.Token)).SignedPrekeyId is null)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), timeout.Token);
        }

        // alpha.test asks beta.test on Alice's behalf; the bundle is for the device key beta.test's directory lists for bob.
        var bobDeviceKey = (await bobProvider.GetDirectoryEntryAsync("bob@beta.test", timeout.Token))!.Devices.Single().PublicKey;
        var bundles = (await aliceProvider.FetchPrekeyBundlesAsync("bob@beta.test", timeout.Token))!;
        var bundle = PrekeyBundle.Decode(Assert.Single(bundles.Bundles));
        Assert.NotNull(bundle.OneTimePrekey);
        Assert.Null(await aliceProvider.FetchPrekeyBundlesAsync("nobody@beta.test", timeout.Token));

        using var aliceIdentity = await NativeKeys.LoadIdentityAsync(aliceStore, alice.Id, timeout.Token);
        var aliceDevice = new NativeDevice(aliceIdentity, alice.Address, new DevicePrekeys(), new DeviceSessions());
        aliceDevice.StartSession(bob.Address, bundle, bobDeviceKey);
        var envelope = aliceDevice.Seal(Encoding.UTF8.GetBytes("Subject: native\r\n\r\nhello bob"), [new EnvelopeRecipient(bobDeviceKey)]);

        using var bobIdentity = await NativeKeys.LoadIdentityAsync(bobStore, bob.Id, timeout.Token);
        var (bobPrekeys, _) = await NativeKeys.LoadPrekeysAsync(bobStore, bob.Id, timeout.Token);
        using (bobPrekeys)
        {
            var opened = new NativeDevice(bobIdentity, bob.Address, bobPrekeys, new DeviceSessions()).Open(envelope.Bytes);
            Assert.Equal(OpenStatus.Opened, opened.Status);
            Assert.Equal(alice.Address, opened.Sender!.Address);
            Assert.Equal(aliceIdentity.DeviceKey.ToArray(), opened.Sender.Identity.DeviceKey);
        }
    }

    [Fact]
    public async Task Alice_and_bob_write_natively_both_ways_and_a_copy_of_bobs_device_opens_no_envelope_he_has_read()
    {
        string marker = "native-marker-" + Guid.NewGuid().ToString("N");
        using var timeout = new CancellationTokenSource(Generous);
        byte[] readEnvelope, unreadEnvelope, aliceDeviceKey;
        await using (var sandbox = await SandboxEnvironment.StartAsync(new SandboxOptions { DataDirectory = _dir }, ct: timeout.Token))
        {
            var (aliceInfo, bobInfo) = (sandbox.Info.Accounts[0], sandbox.Info.Accounts[1]);
            var (aliceStore, bobStore) = (sandbox.Clients[0].Store, sandbox.Clients[1].Store);

            // Bob answers the welcome through his bridge; Alice's mail app reads it, natively, with Bob's device verified.
            string reply = await SendAsync(bobInfo, aliceInfo.Address, $"Re: {marker}", $"Reply {marker}", timeout.Token);
            await WaitForInboxAsync(aliceStore, aliceInfo.Address, reply, timeout.Token);
            var read = await ReadAsync(aliceInfo, reply, timeout.Token);
            Assert.Equal($"Re: {marker}", read.Subject);
            Assert.Contains($"Reply {marker}", read.TextBody, StringComparison.Ordinal);
            Assert.Equal("end-to-end; forward-secret; post-quantum", read.Headers["Letterlock-Encryption"]);
            var bobAccount = (await bobStore.Accounts.FindAsync(bobInfo.Address, timeout.Token))!;
            var bobDeviceKey = Convert.ToHexString((await NativeKeys.LoadIdentityAsync(bobStore, bobAccount.Id, timeout.Token)).DeviceKey.Span).ToLowerInvariant();
            Assert.Equal($"valid; key={bobDeviceKey}; trust=transparent", read.Headers["Letterlock-Signature"]);

            // Two envelopes sealed by Alice's device on the bridge's own path and captured: the first is delivered and read
            // by Bob, the second never leaves (in transit when the thief strikes).
            using var http = new HttpClient(HttpFetch.CreateHandler(sandbox.HostMap, [sandbox.CaRoot]));
            var alice = (await aliceStore.Accounts.FindAsync(aliceInfo.Address, timeout.Token))!;
            var aliceProvider = await AccountRegistration.ConnectAsync(aliceStore, alice, http, ct: timeout.Token);
            // The entries as verified at this moment: bob's device, and alice's own (a device sends natively only once listed).
            var aliceDeviceKeyNow = (await NativeKeys.LoadIdentityAsync(aliceStore, alice.Id, timeout.Token)).DeviceKey.ToArray();
            VerifiedDeviceKeys entries = (asked, ct) => asked == aliceInfo.Address
                ? Task.FromResult<IReadOnlyList<byte[]>?>([aliceDeviceKeyNow])
                : TrustOnly(bobInfo.Address, Convert.FromHexString(bobDeviceKey))(asked, ct);
            var aliceNative = new NativeMail(aliceStore, alice, aliceProvider, entries);
            string capturedId = $"{Guid.NewGuid():N}@alpha.test";
            readEnvelope = (await aliceNative.SealAsync(Message(aliceInfo.Address, bobInfo.Address, capturedId, marker), [bobInfo.Address], timeout.Token))[bobInfo.Address];
            unreadEnvelope = (await aliceNative.SealAsync(Message(aliceInfo.Address, bobInfo.Address, $"{Guid.NewGuid():N}@alpha.test", marker), [bobInfo.Address], timeout.Token))[bobInfo.Address];
            await aliceProvider.SubmitAsync(aliceInfo.Address, [bobInfo.Address], readEnvelope, timeout.Token);
            await WaitForInboxAsync(bobStore, bobInfo.Address, capturedId, timeout.Token);
            aliceDeviceKey = (await NativeKeys.LoadIdentityAsync(aliceStore, alice.Id, timeout.Token)).DeviceKey.ToArray();
        }

        // The thief copies Bob's whole device (store and key file) after the sandbox stopped.
        string stolen = Path.Combine(_dir, "stolen");
        Directory.CreateDirectory(stolen);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(_dir, "clients", "bob")))
        {
            File.Copy(file, Path.Combine(stolen, Path.GetFileName(file)));
        }

        using var copy = await LocalStore.OpenAsync(Path.Combine(stolen, "client.db"), StoreUnlock.WithKeyFile(Path.Combine(stolen, "store.key")), ct: timeout.Token);
        var bob = (await copy.Accounts.FindAsync("bob@beta.test", timeout.Token))!;
        using var offline = new HttpClient();
        var thief = new NativeMail(copy, bob, new ProviderClient(offline, new Uri("https://beta.test/")), TrustOnly("alice@alpha.test", aliceDeviceKey));

        // The envelope Bob read does not open with his copied state: its message key is gone and the chain moved on.
        var again = await thief.OpenAsync(Load(readEnvelope), timeout.Token);
        Assert.NotEqual(Letterlock.Native.OpenStatus.Opened, again.Status);
        Assert.Null(again.Content);

        // The copy is a working device: the envelope still in transit opens (the design's table says so: unread mail is the thief's).
        var unread = await thief.OpenAsync(Load(unreadEnvelope), timeout.Token);
        Assert.Equal(Letterlock.Native.OpenStatus.Opened, unread.Status);
        Assert.Contains(marker, Encoding.UTF8.GetString(unread.Content!), StringComparison.Ordinal);
    }

    private static VerifiedDeviceKeys TrustOnly(string address, byte[] deviceKey) =>
        (asked, _) => Task.FromResult<IReadOnlyList<byte[]>?>(asked == address ? [deviceKey] : null);

    private static byte[] Message(string from, string to, string messageId, string marker) => Encoding.UTF8.GetBytes(
        $"From: <{from}>\r\nTo: <{to}>\r\nSubject: Captured {marker}\r\nMessage-ID: <{messageId}>\r\n\r\nCaptured body {marker}\r\n");

    private static MimeMessage Load(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes);
        return MimeMessage.Load(stream);
    }

    private static async Task<string> SendAsync(SandboxAccount from, string to, string subject, string body, CancellationToken ct)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(null, from.Address));
        message.To.Add(new MailboxAddress(null, to));
        message.Subject = subject;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(from.Address.Split('@')[1]);
        message.Body = new TextPart("plain") { Text = body + "\n" };
        using var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, from.CertificateSha256) };
        await smtp.ConnectAsync(from.SmtpHost, from.SmtpPort, SecureSocketOptions.StartTls, ct);
        await smtp.AuthenticateAsync(from.UserName, from.Password, ct);
        await smtp.SendAsync(message, ct);
        await smtp.DisconnectAsync(true, ct);
        return message.MessageId;
    }

    private static async Task<MimeMessage> ReadAsync(SandboxAccount account, string messageId, CancellationToken ct)
    {
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, account.CertificateSha256) };
        await imap.ConnectAsync(account.ImapHost, account.ImapPort, SecureSocketOptions.StartTls, ct);
        await imap.AuthenticateAsync(account.UserName, account.Password, ct);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly, ct);
        for (int i = 0; i < imap.Inbox.Count; i++)
        {
            var message = await imap.Inbox.GetMessageAsync(i, ct);
            if (message.MessageId == messageId)
            {
                await imap.DisconnectAsync(true, ct);
                return message;
            }
        }

        throw new InvalidOperationException("the message is not in the INBOX");
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
            while (!(await store.Mail(account.Id).ListAsync(inbox.Id, ct)).Any(m => m.Summary.MessageIdHeader?.Trim('<', '>') == messageId.Trim('<', '>')))
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
