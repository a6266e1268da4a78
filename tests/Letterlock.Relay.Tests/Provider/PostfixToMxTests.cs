using System.Net;
using System.Text.RegularExpressions;
using Letterlock.Dns;
using Letterlock.Relay.Tests.Peers;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Relay.Tests.Provider;

/// <summary>Real Postfix as the sending side: it relays alpha.test mail (transport_maps) into our MX over STARTTLS.</summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostfixToMxTests : IDisposable
{
    private readonly TestCa _ca = new();

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task Postfix_relays_into_our_mx_over_starttls_and_the_message_lands_sealed_in_the_inbox()
    {
        var dns = new StaticDnsResolver();
        await using var alpha = await ProviderNode.StartAsync("alpha.test", _ca, dns);
        using var client = alpha.Client();
        var alice = await client.CreateAccountAsync("alice");
        await using var postfix = await PostfixInstance.StartAsync(
            _ca.Issue(["mx.sink.test"]),
            transports: new Dictionary<string, string> { ["alpha.test"] = $"[127.0.0.1]:{alpha.Smtp.Port}" },
            extraMainCf: "smtp_tls_loglevel = 1");

        string marker = "POSTFIX-" + Guid.NewGuid().ToString("N");
        using (var smtp = new SmtpClient { Timeout = 60_000 })
        {
            await smtp.ConnectAsync("127.0.0.1", postfix.Port, SecureSocketOptions.None);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("carol@sink.test"));
            message.To.Add(MailboxAddress.Parse(alice.Address));
            message.Subject = "Via Postfix " + marker;
            message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("sink.test");
            message.Body = new TextPart("plain") { Text = "Relayed by Postfix.\n" + marker + "\n" };
            await smtp.SendAsync(message);
            await smtp.DisconnectAsync(true);
        }

        var inbox = await client.WaitForInboxAsync(alice, 1, TimeSpan.FromSeconds(120));
        var received = await MimeMessage.LoadAsync(new MemoryStream(inbox.Single()));
        Assert.Equal("Via Postfix " + marker, received.Subject);
        Assert.Contains(marker, received.TextBody, StringComparison.Ordinal);
        // Postfix's own Received header: the message really passed through it
        Assert.Contains(received.Headers.Where(h => h.Id == HeaderId.Received), h => h.Value.Contains("mx.sink.test", StringComparison.Ordinal));
        Assert.StartsWith("mx.alpha.test;", received.Headers[HeaderId.AuthenticationResults], StringComparison.Ordinal);
        // Postfix's smtp client used STARTTLS towards our MX (logged at smtp_tls_loglevel 1)
        // (it writes both lines after our 250, so they may reach its log after the inbox shows the message)
        await postfix.WaitForLogAsync(@"TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:" + alpha.Smtp.Port, TimeSpan.FromSeconds(60));
        await postfix.WaitForLogAsync(@"to=<" + Regex.Escape(alice.Address) + @">, relay=127\.0\.0\.1\[127\.0\.0\.1\]:" + alpha.Smtp.Port + @",.* status=sent", TimeSpan.FromSeconds(60));
    }
}
