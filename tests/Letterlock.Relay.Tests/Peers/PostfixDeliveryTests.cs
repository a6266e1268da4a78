using System.Text;
using Letterlock.Dns;
using Letterlock.Relay.Delivery;
using Letterlock.Relay.Tests.Dkim;
using Letterlock.Relay.Tls;
using MimeKit;

namespace Letterlock.Relay.Tests.Peers;

/// <summary>Our relay against a real Postfix as the receiving MTA.</summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostfixDeliveryTests : IDisposable
{
    private readonly TestCa _ca = new();

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task Postfix_receives_over_starttls_with_the_body_intact_and_both_signatures_verifying()
    {
        var certificate = _ca.Issue(["mx.sink.test"]);
        await using var postfix = await PostfixInstance.StartAsync(certificate);
        using var harness = new RelayHarness(_ca);
        harness.AddMx("sink.test", "mx.sink.test", postfix.Port);
        string body = "Line one\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQEMA+/x0123456789abcdefABCDEF==\r\n-----END PGP MESSAGE-----\r\n";
        var message = DkimSigningTests.SampleMessage(body);
        message.To.Clear();
        message.To.Add(MailboxAddress.Parse("bob@sink.test"));
        await using (var deliverer = harness.Agent.ForDestination("sink.test"))
        {
            var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@sink.test"], message, default);
            Assert.True(result.AllDelivered, string.Join("; ", result.Recipients) + postfix.Log);
            Assert.True(result.Security!.Encrypted);
        }

        byte[] delivered = (await postfix.WaitForDeliveriesAsync(1)).Single();
        string text = Encoding.UTF8.GetString(delivered).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
        // smtpd_tls_received_header: Postfix records the TLS session in its Received header
        Assert.Matches(@"\(using TLSv1\.[23] with cipher", text);
        Assert.Contains(body.Replace("=", "=3D", StringComparison.Ordinal), text, StringComparison.Ordinal);
        byte[] crlf = Encoding.UTF8.GetBytes(text);
        var python = await DkimVerifiers.PythonDkimAsync(crlf, harness.DkimRecords);
        Assert.True(python.ExitCode == 0, python.ToString());
        for (int i = 0; i < 2; i++)
        {
            var opendkim = await DkimVerifiers.OpenDkimAsync(DkimVerifiers.KeepOnlySignature(crlf, i), harness.DkimRecords);
            Assert.True(opendkim.ExitCode == 0, opendkim.ToString());
        }
    }

    [Fact]
    public async Task Eight_bit_bodies_are_downgraded_before_signing_when_postfix_hides_8bitmime()
    {
        await using var postfix = await PostfixInstance.StartAsync(_ca.Issue(["mx.sink.test"]), extraMainCf: "smtpd_discard_ehlo_keywords = 8bitmime");
        using var harness = new RelayHarness(_ca);
        harness.AddMx("sink.test", "mx.sink.test", postfix.Port);
        var message = DkimSigningTests.SampleMessage();
        ((TextPart)message.Body!).ContentTransferEncoding = ContentEncoding.EightBit;
        await using (var deliverer = harness.Agent.ForDestination("sink.test"))
        {
            var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@sink.test"], message, default);
            Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
        }

        byte[] delivered = (await postfix.WaitForDeliveriesAsync(1)).Single();
        Assert.DoesNotContain(delivered, b => b >= 0x80);
        string crlf = Encoding.ASCII.GetString(delivered).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
        var python = await DkimVerifiers.PythonDkimAsync(Encoding.ASCII.GetBytes(crlf), harness.DkimRecords);
        Assert.True(python.ExitCode == 0, python.ToString());
    }

    [Fact]
    public async Task Dane_ta_authenticates_postfix_through_the_chain_it_sends_and_a_foreign_anchor_defers()
    {
        var certificate = _ca.Issue(["mx.sink.test"]);
        await using var postfix = await PostfixInstance.StartAsync(certificate, chain: [_ca.Root]);
        using var harness = new RelayHarness(_ca);
        harness.AddMx("sink.test", "mx.sink.test", postfix.Port, dnssec: true);
        string tlsaName = $"_{postfix.Port}._tcp.mx.sink.test";
        harness.Dns.AddTlsa(tlsaName, Dane.RecordFor(2, 0, 1, _ca.Root), dnssecValidated: true);
        await using (var deliverer = harness.Agent.ForDestination("sink.test"))
        {
            var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@sink.test"], DkimSigningTests.SampleMessage(), default);
            Assert.True(result.AllDelivered, string.Join("; ", result.Recipients) + harness.Logger.All);
            Assert.True(result.Security!.Authenticated);
            Assert.Equal(TlsPolicyType.Tlsa, result.Security.Policy);
        }

        using var foreign = new TestCa("Foreign");
        harness.Dns.Remove(tlsaName).AddTlsa(tlsaName, Dane.RecordFor(2, 1, 2, foreign.Root), dnssecValidated: true);
        await using (var deliverer = harness.Agent.ForDestination("sink.test"))
        {
            var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@sink.test"], DkimSigningTests.SampleMessage(), default);
            Assert.Equal(RecipientStatus.Deferred, result.Recipients.Single().Status);
            Assert.Contains(TlsResultTypes.TlsaInvalid, result.Recipients.Single().Diagnostic, StringComparison.Ordinal);
        }

        Assert.Single(await postfix.WaitForDeliveriesAsync(1));
    }
}
