using System.Net;
using System.Text;
using Letterlock.Relay.Delivery;
using Letterlock.Relay.Tests.Dkim;
using Letterlock.Relay.Tests.Peers;
using MimeKit;

namespace Letterlock.Relay.Tests.Delivery;

/// <summary>
/// What the relay does on the wire, watched from an independent SMTP server on a raw socket (Peers/smtp_peer.py): its
/// source address, RSET and QUIT after refused recipients, BDAT, MIME-Version after re-encoding, and TLS ends.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SmtpMannersTests : IDisposable
{
    private readonly TestCa _ca = new();

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task The_relay_connects_from_its_configured_source_address()
    {
        using var peer = await RawSmtpPeer.StartAsync(["8BITMIME"]);

        // the kernel's choice for a loopback destination is 127.0.0.1; the configured source is another loopback address
        foreach (var (source, expected) in new[] { ((IPAddress?)null, "127.0.0.1"), (IPAddress.Parse("127.0.0.2"), "127.0.0.2") })
        {
            using var harness = new RelayHarness(_ca, sourceAddresses: source is null ? null : [source]);
            harness.AddMx("beta.test", "mx.beta.test", peer.Port);
            await using (var deliverer = harness.Agent.ForDestination("beta.test"))
            {
                var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test"], DkimSigningTests.SampleMessage(), default);
                Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
            }
        }

        await peer.WaitForAsync(e => e.Session == 2 && e.Event == "end", "the second session's end");
        var connects = peer.Events().Where(e => e.Event == "connect").ToList();
        Assert.Equal(["127.0.0.1", "127.0.0.2"], connects.Select(c => c.Peer));
    }

    [Fact]
    public async Task Refused_recipients_are_followed_by_RSET_and_the_session_ends_with_QUIT()
    {
        using var peer = await RawSmtpPeer.StartAsync(["8BITMIME", "PIPELINING"], refuse: new Dictionary<string, string>
        {
            ["gone@beta.test"] = "550 5.1.1 No such user",
            ["moved@beta.test"] = "551 5.1.6 User has moved",
        });
        // no NOOP probe before reuse, however slow the machine: the commands below are exactly the transaction's
        using var harness = new RelayHarness(_ca, o => o.ReuseProbeAfterIdle = TimeSpan.FromHours(1));
        harness.AddMx("beta.test", "mx.beta.test", peer.Port);
        await using (var deliverer = harness.Agent.ForDestination("beta.test"))
        {
            var refused = await deliverer.DeliverAsync("alice@alpha.test", ["gone@beta.test", "moved@beta.test"], DkimSigningTests.SampleMessage(), default);
            Assert.All(refused.Recipients, r => Assert.Equal(RecipientStatus.Failed, r.Status));
            Assert.Equal(["5.1.1", "5.1.6"], refused.Recipients.Select(r => r.EnhancedStatus));

            // the connection is still in step and is reused
            var delivered = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test"], DkimSigningTests.SampleMessage(), default);
            Assert.True(delivered.AllDelivered, string.Join("; ", delivered.Recipients));
        }

        var end = await peer.WaitForAsync(e => e.Event == "end", "the session's end");
        Assert.Equal("QUIT", end.After);
        var commands = peer.Commands(1).Select(c => c.Split(' ')[0].ToUpperInvariant()).ToList();
        Assert.Equal(["EHLO", "MAIL", "RCPT", "RCPT", "RSET", "MAIL", "RCPT", "DATA", "QUIT"], commands);
        Assert.Single(peer.Events(), e => e.Event == "connect");
    }

    [Fact]
    public async Task Bdat_carries_the_message_when_the_peer_offers_chunking()
    {
        using var peer = await RawSmtpPeer.StartAsync(["8BITMIME", "CHUNKING", "PIPELINING"]);
        using var harness = new RelayHarness(_ca);
        harness.AddMx("beta.test", "mx.beta.test", peer.Port);
        await using (var deliverer = harness.Agent.ForDestination("beta.test"))
        {
            var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test"], DkimSigningTests.SampleMessage(), default);
            Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
        }

        var message = await peer.WaitForAsync(e => e.Event == "message", "a message");
        Assert.Equal("BDAT", message.Via);
        Assert.DoesNotContain(peer.Commands(1), c => c.Equals("DATA", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(peer.Commands(1), c => c.StartsWith("BDAT ", StringComparison.Ordinal) && c.EndsWith(" LAST", StringComparison.Ordinal));
        // no dot-stuffing in a chunk: the bytes are the message as signed
        var verified = await DkimVerifiers.PythonDkimAsync(message.Data!, harness.DkimRecords);
        Assert.True(verified.ExitCode == 0, verified.ToString());
    }

    [Fact]
    public async Task A_message_re_encoded_for_a_7bit_peer_declares_MIME_Version()
    {
        // a sender's 8bit message without MIME-Version: legal for us to take, but a 7-bit hop needs quoted-printable,
        // and a message with Content-Transfer-Encoding must say MIME-Version (RFC 2045, 4)
        using var peer = await RawSmtpPeer.StartAsync(["PIPELINING"]);
        using var harness = new RelayHarness(_ca);
        harness.AddMx("beta.test", "mx.beta.test", peer.Port);
        byte[] raw = Encoding.UTF8.GetBytes(
            "From: Alice <alice@alpha.test>\r\nTo: bob@beta.test\r\nSubject: the menu\r\nDate: Tue, 6 May 2025 07:08:09 +0000\r\n"
            + "Message-ID: <mime@alpha.test>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nUn caf\u00e9, s'il vous pla\u00eet.\r\n");
        var message = await MimeMessage.LoadAsync(new MemoryStream(raw));
        Assert.False(message.Headers.Contains(HeaderId.MimeVersion));
        await using (var deliverer = harness.Agent.ForDestination("beta.test"))
        {
            var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test"], message, default);
            Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
        }

        var received = await peer.WaitForAsync(e => e.Event == "message", "a message");
        Assert.Equal("DATA", received.Via);
        string text = Tools.Ascii(received.Data!);
        Assert.True(Ascii.IsValid(received.Data!), text);
        Assert.Contains("\r\nMIME-Version: 1.0\r\n", "\r\n" + text, StringComparison.Ordinal);
        Assert.Matches("\r\nContent-Transfer-Encoding: (quoted-printable|base64)\r\n", text);
        var parsed = await MimeMessage.LoadAsync(new MemoryStream(received.Data!));
        Assert.Equal("Un caf\u00e9, s'il vous pla\u00eet.\r\n", parsed.TextBody!.ReplaceLineEndings("\r\n"));
        var verified = await DkimVerifiers.PythonDkimAsync(received.Data!, harness.DkimRecords);
        Assert.True(verified.ExitCode == 0, verified.ToString());
    }

    [Fact]
    public async Task Tls_ends_with_close_notify_on_both_sides()
    {
        // the relay as the client
        using var peer = await RawSmtpPeer.StartAsync(["STARTTLS", "8BITMIME"], _ca.Issue(["mx.beta.test"]));
        using var harness = new RelayHarness(_ca);
        harness.AddMx("beta.test", "mx.beta.test", peer.Port);
        await using (var deliverer = harness.Agent.ForDestination("beta.test"))
        {
            var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test"], DkimSigningTests.SampleMessage(), default);
            Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
            Assert.True(result.Security!.Encrypted);
        }

        var end = await peer.WaitForAsync(e => e.Event == "end", "the session's end");
        Assert.Equal("QUIT", end.After);
        Assert.Equal("tls-close-notify", end.How);

        // Letterlock's SMTP server (the MX, submission, the bridge) as the server
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.gamma.test"]));
        Assert.Equal("tls-close-notify", await RawSmtpPeer.HowServerEndsTlsAsync(mta.Port));
    }
}
