using System.Net;
using System.Text;
using Letterlock.Relay.Delivery;
using Letterlock.Relay.Tests.Dkim;
using Letterlock.Relay.Tests.Peers;
using Letterlock.Smtp;

namespace Letterlock.Relay.Tests.Delivery;

[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class DeliveryTests : IDisposable
{
    private readonly TestCa _ca = new();

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task Delivers_over_starttls_reusing_one_connection_with_both_dkim_signatures()
    {
        using var harness = new RelayHarness(_ca);
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        await using (var deliverer = harness.Agent.ForDestination("beta.test"))
        {
            for (int i = 0; i < 3; i++)
            {
                var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test"], DkimSigningTests.SampleMessage(), default);
                Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
                Assert.True(result.Security!.Encrypted);
                Assert.False(result.Security.Authenticated);
            }
        }

        Assert.Equal(3, mta.Received.Count);
        Assert.Equal(1, mta.Sessions);
        var received = mta.Received.First();
        Assert.True(received.Secure);
        Assert.Equal("alice@alpha.test", received.Sender);
        var verified = await DkimVerifiers.PythonDkimAsync(received.Data, harness.DkimRecords);
        Assert.True(verified.ExitCode == 0, verified.ToString());
        Assert.Contains("pass a=ed25519-sha256", verified.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("pass a=rsa-sha256", verified.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_recipient_gets_its_own_outcome()
    {
        using var harness = new RelayHarness(_ca);
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        mta.OnRecipient = r => r.StartsWith("gone@", StringComparison.Ordinal) ? SmtpReply.NoSuchUser
            : r.StartsWith("busy@", StringComparison.Ordinal) ? new SmtpReply(450, "4.2.1", "Mailbox busy") : null;
        harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        await using var deliverer = harness.Agent.ForDestination("beta.test");
        var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test", "gone@beta.test", "busy@beta.test"], DkimSigningTests.SampleMessage(), default);
        Assert.Equal(RecipientStatus.Delivered, result.Recipients[0].Status);
        Assert.Equal(RecipientStatus.Failed, result.Recipients[1].Status);
        Assert.Equal("5.1.1", result.Recipients[1].EnhancedStatus);
        Assert.StartsWith("smtp; 550 5.1.1 No such user", result.Recipients[1].Diagnostic, StringComparison.Ordinal);
        Assert.Equal("mx.beta.test", result.Recipients[1].RemoteMta);
        Assert.Equal(RecipientStatus.Deferred, result.Recipients[2].Status);
        Assert.Equal("4.2.1", result.Recipients[2].EnhancedStatus);
        Assert.Equal(["bob@beta.test"], mta.Received.Single().Recipients);
    }

    [Fact]
    public async Task A_451_at_end_of_data_defers_and_a_554_fails_every_recipient()
    {
        using var harness = new RelayHarness(_ca);
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        await using var deliverer = harness.Agent.ForDestination("beta.test");
        mta.OnData = _ => new SmtpReply(451, "4.3.0", "Try later");
        var deferred = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test", "carol@beta.test"], DkimSigningTests.SampleMessage(), default);
        Assert.All(deferred.Recipients, r => Assert.Equal(RecipientStatus.Deferred, r.Status));
        Assert.All(deferred.Recipients, r => Assert.Equal("4.3.0", r.EnhancedStatus));

        mta.OnData = _ => new SmtpReply(554, "5.7.1", "Rejected by policy");
        var failed = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test"], DkimSigningTests.SampleMessage(), default);
        Assert.Equal(RecipientStatus.Failed, failed.Recipients.Single().Status);
        Assert.Equal("5.7.1", failed.Recipients.Single().EnhancedStatus);
        Assert.Empty(mta.Received);
    }

    [Fact]
    public async Task Mx_hosts_are_tried_in_preference_order_and_an_implicit_mx_is_the_domain_itself()
    {
        using var harness = new RelayHarness(_ca);
        await using var backup = ScriptedMta.Start(_ca.Issue(["mx2.beta.test"]));
        using var dead = new TcpPortNobodyListensOn();
        harness.AddMx("beta.test", "mx1.beta.test", dead.Port, preference: 5);
        harness.AddMx("beta.test", "mx2.beta.test", backup.Port, preference: 20);
        await using (var deliverer = harness.Agent.ForDestination("beta.test"))
        {
            var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test"], DkimSigningTests.SampleMessage(), default);
            Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
            Assert.Equal("mx2.beta.test", result.Security!.MxHost);
        }

        // no MX at all, but an address: RFC 5321 5.1 implicit MX
        await using var implicitMx = ScriptedMta.Start(_ca.Issue(["gamma.test"]));
        harness.Dns.AddAddress("gamma.test", IPAddress.Loopback);
        harness.Ports["gamma.test"] = implicitMx.Port;
        await using (var deliverer = harness.Agent.ForDestination("gamma.test"))
        {
            var result = await deliverer.DeliverAsync("alice@alpha.test", ["g@gamma.test"], DkimSigningTests.SampleMessage(), default);
            Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
        }
    }

    [Theory]
    [InlineData("null-mx", "5.1.10", RecipientStatus.Failed)]
    [InlineData("nxdomain", "5.1.2", RecipientStatus.Failed)]
    [InlineData("servfail", "4.4.3", RecipientStatus.Deferred)]
    [InlineData("unreachable", "4.4.1", RecipientStatus.Deferred)]
    public async Task Routing_failures_bounce_or_defer_as_the_rfcs_say(string kind, string status, RecipientStatus expected)
    {
        using var harness = new RelayHarness(_ca);
        using var dead = new TcpPortNobodyListensOn();
        switch (kind)
        {
            case "null-mx":
                harness.Dns.AddMx("beta.test", 0, ".");
                break;
            case "servfail":
                harness.Dns.AddFailure("beta.test");
                break;
            case "unreachable":
                harness.AddMx("beta.test", "mx.beta.test", dead.Port);
                break;
        }

        await using var deliverer = harness.Agent.ForDestination("beta.test");
        var result = await deliverer.DeliverAsync("alice@alpha.test", ["bob@beta.test"], DkimSigningTests.SampleMessage(), default);
        Assert.Equal(expected, result.Recipients.Single().Status);
        Assert.Equal(status, result.Recipients.Single().EnhancedStatus);
        Assert.Null(result.Security);
    }
}

/// <summary>A loopback port with no listener (connections are refused).</summary>
internal sealed class TcpPortNobodyListensOn : IDisposable
{
    public TcpPortNobodyListensOn()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
    }

    public int Port { get; }

    public void Dispose()
    {
    }
}
