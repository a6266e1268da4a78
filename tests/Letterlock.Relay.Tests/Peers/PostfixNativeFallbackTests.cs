using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Letterlock.Client.Store;
using Letterlock.Sandbox;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Relay.Tests.Peers;

/// <summary>
/// The native protocol's fallback against a recipient without Letterlock: a real Postfix serving sink.test beside the
/// sandbox's two providers. One message to a Letterlock user and to the Postfix user goes native to the first and as
/// ordinary mail to the second, each its own message.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostfixNativeFallbackTests : IDisposable
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(4);
    private readonly TempDir _dir = new("letterlock-native-fallback-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_mixed_list_goes_native_to_the_letterlock_user_and_as_ordinary_mail_to_the_postfix_user()
    {
        using var timeout = new CancellationTokenSource(Generous);
        await using var postfix = await PostfixInstance.StartAsync();
        string records = $"""
            sink.test      MX   10 mx.sink.test
            mx.sink.test   A    127.0.0.1
            mx.sink.test   PORT {postfix.Port}
            sink.test      TXT  "v=spf1 -all"
            """;
        await using var sandbox = await SandboxEnvironment.StartAsync(
            new SandboxOptions { DataDirectory = _dir.File("sandbox"), Web = false, DnsRecords = SandboxDnsRecords.Parse(records, SandboxEnvironment.Domains) },
            ct: timeout.Token);
        var (alice, bob) = (sandbox.Info.Accounts[0], sandbox.Info.Accounts[1]);
        string marker = "fallback-marker-" + Guid.NewGuid().ToString("N");

        // Bob writes to alice (a Letterlock user with a native-capable device) and to carol at Postfix, in one message.
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(null, bob.Address));
        message.To.Add(new MailboxAddress(null, alice.Address));
        message.To.Add(new MailboxAddress(null, "carol@sink.test"));
        message.Subject = $"Both of you {marker}";
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("beta.test");
        message.Body = new TextPart("plain") { Text = $"Body {marker}\n" };
        using (var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, bob.CertificateSha256) })
        {
            await smtp.ConnectAsync(bob.SmtpHost, bob.SmtpPort, SecureSocketOptions.StartTls, timeout.Token);
            await smtp.AuthenticateAsync(bob.UserName, bob.Password, timeout.Token);
            await smtp.SendAsync(message, timeout.Token);
            await smtp.DisconnectAsync(true, timeout.Token);
        }

        // Carol's copy, as Postfix stored it: an ordinary message (no key for her: readable as written), no native envelope.
        string delivered = Encoding.UTF8.GetString(Assert.Single(await postfix.WaitForDeliveriesAsync(1, Generous)));
        Assert.Contains($"Body {marker}", delivered, StringComparison.Ordinal);
        Assert.Contains($"Subject: Both of you {marker}", delivered, StringComparison.Ordinal);
        Assert.DoesNotContain("vnd.letterlock.native", delivered, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^X-Original-To: carol@sink\.test|^Delivered-To: carol@sink\.test", delivered);

        // Alice's copy arrived natively and reads as written.
        var aliceStore = sandbox.Clients[0].Store;
        await WaitForInboxAsync(aliceStore, alice.Address, message.MessageId, timeout.Token);
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => CertificatePin.Matches(c, alice.CertificateSha256) };
        await imap.ConnectAsync(alice.ImapHost, alice.ImapPort, SecureSocketOptions.StartTls, timeout.Token);
        await imap.AuthenticateAsync(alice.UserName, alice.Password, timeout.Token);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly, timeout.Token);
        MimeMessage? read = null;
        for (int i = 0; i < imap.Inbox.Count && read is null; i++)
        {
            var candidate = await imap.Inbox.GetMessageAsync(i, timeout.Token);
            read = candidate.MessageId == message.MessageId ? candidate : null;
        }

        Assert.NotNull(read);
        Assert.Equal("end-to-end; forward-secret; post-quantum", read.Headers["Letterlock-Encryption"]);
        Assert.Contains($"Body {marker}", read.TextBody, StringComparison.Ordinal);
        await imap.DisconnectAsync(true, timeout.Token);
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
