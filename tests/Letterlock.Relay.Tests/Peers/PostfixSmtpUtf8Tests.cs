using System.Net;
using System.Text;
using Letterlock.Dns;
using Letterlock.Relay.Delivery;
using Letterlock.Relay.Tests.Dkim;
using Letterlock.Relay.Tests.Provider;
using MimeKit;

namespace Letterlock.Relay.Tests.Peers;

/// <summary>
/// Internationalised mail (RFC 6531/6532) from our relay to a real Postfix: with <c>SMTPUTF8</c> it arrives intact
/// and signed; a Postfix with <c>smtputf8_enable = no</c> never gets a UTF-8 address or header section, the
/// recipients that need it fail with 5.6.7 and the sender gets a DSN, and the rest are still delivered.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostfixSmtpUtf8Tests : IDisposable
{
    private readonly TestCa _ca = new();

    public void Dispose() => _ca.Dispose();

    private static MimeMessage Utf8Message(string to, string subject)
    {
        // as a mail app writes it to an SMTPUTF8 server: raw UTF-8 in the header section (RFC 6532)
        string text = $"From: Alice <alice@alpha.test>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Tue, 06 May 2025 07:08:09 +0000\r\n"
            + $"Message-ID: <{Guid.NewGuid():N}@alpha.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n";
        return MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(text)));
    }

    [Fact]
    public async Task Postfix_with_smtputf8_receives_utf8_addresses_and_headers_intact_and_signed()
    {
        await using var postfix = await PostfixInstance.StartAsync(_ca.Issue(["mx.sink.test"]));
        using var harness = new RelayHarness(_ca);
        harness.AddMx("sink.test", "mx.sink.test", postfix.Port);
        await using (var deliverer = harness.Agent.ForDestination("sink.test"))
        {
            var result = await deliverer.DeliverAsync("alice@alpha.test", ["zoë@sink.test", "bob@sink.test"], Utf8Message("Zoë <zoë@sink.test>, bob@sink.test", "Grüße an Zoë"), default);
            Assert.True(result.AllDelivered, string.Join("; ", result.Recipients) + postfix.Log);
        }

        var delivered = await postfix.WaitForDeliveriesAsync(2);
        string text = Encoding.UTF8.GetString(delivered[0]);
        Assert.Contains("Subject: Grüße an Zoë", text, StringComparison.Ordinal);
        await postfix.WaitForLogAsync("to=<zoë@sink.test>.* status=sent", TimeSpan.FromSeconds(60));
        byte[] crlf = Encoding.UTF8.GetBytes(text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal));
        var python = await DkimVerifiers.PythonDkimAsync(crlf, harness.DkimRecords);
        Assert.True(python.ExitCode == 0, python.ToString());
    }

    [Fact]
    public async Task A_next_hop_without_smtputf8_gets_no_utf8_and_only_the_recipients_that_need_it_fail_with_5_6_7()
    {
        await using var postfix = await PostfixInstance.StartAsync(_ca.Issue(["mx.sink.test"]), extraMainCf: "smtputf8_enable = no");
        using var harness = new RelayHarness(_ca);
        harness.AddMx("sink.test", "mx.sink.test", postfix.Port);
        await using (var deliverer = harness.Agent.ForDestination("sink.test"))
        {
            // an ASCII header section: only the UTF-8 local part needs SMTPUTF8
            var mixed = await deliverer.DeliverAsync("alice@alpha.test", ["zoë@sink.test", "bob@sink.test"], DkimSigningTests.SampleMessage(), default);
            Assert.Equal(RecipientStatus.Failed, mixed.Recipients[0].Status);
            Assert.Equal("5.6.7", mixed.Recipients[0].EnhancedStatus);
            Assert.Equal(RecipientStatus.Delivered, mixed.Recipients[1].Status);

            // a UTF-8 header section needs it for every recipient
            var utf8 = await deliverer.DeliverAsync("alice@alpha.test", ["carol@sink.test"], Utf8Message("carol@sink.test", "Grüße"), default);
            Assert.Equal(RecipientStatus.Failed, utf8.Recipients.Single().Status);
            Assert.Equal("5.6.7", utf8.Recipients.Single().EnhancedStatus);
        }

        var delivered = Assert.Single(await postfix.WaitForDeliveriesAsync(1));
        Assert.Contains("Lunch on Friday?", Encoding.ASCII.GetString(delivered), StringComparison.Ordinal);
        Assert.DoesNotContain("zoë", postfix.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("carol@sink.test", postfix.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_sender_gets_a_dsn_with_5_6_7_when_the_next_hop_cannot_take_a_utf8_address()
    {
        await using var postfix = await PostfixInstance.StartAsync(_ca.Issue(["mx.sink.test"]), extraMainCf: "smtputf8_enable = no");
        var dns = new StaticDnsResolver();
        await using var alpha = await ProviderNode.StartAsync("alpha.test", _ca, dns);
        dns.AddMx("sink.test", 10, "mx.sink.test").AddAddress("mx.sink.test", IPAddress.Loopback);
        alpha.Host.Outbound.PortOverrides["mx.sink.test"] = postfix.Port;
        using var client = alpha.Client();
        var alice = await client.CreateAccountAsync("alice");

        string marker = "EAI-BOUNCE-" + Guid.NewGuid().ToString("N");
        var response = await client.SubmitEnvelopeAsync(NodeClient.Message(alice.Address, "someone@sink.test", marker), ["zoë@sink.test", "bob@sink.test"]);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        var inbox = await client.WaitForInboxAsync(alice, 1, TimeSpan.FromSeconds(120));
        var dsn = await MimeMessage.LoadAsync(new MemoryStream(inbox.Single()));
        var status = Assert.IsType<MessageDeliveryStatus>(Assert.IsType<MultipartReport>(dsn.Body)[1]);
        var group = status.StatusGroups.Single(g => g["Final-Recipient"] is not null);
        Assert.Equal("rfc822; zoë@sink.test", group["Final-Recipient"]);
        Assert.Equal("failed", group["Action"]);
        Assert.Equal("5.6.7", group["Status"]);
        Assert.Contains(marker, Encoding.UTF8.GetString((await postfix.WaitForDeliveriesAsync(1)).Single()), StringComparison.Ordinal);
    }
}
