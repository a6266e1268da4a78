using System.Net;
using Letterlock.Dns;
using Letterlock.Relay.Delivery;
using Letterlock.Relay.Tests.Dkim;
using Letterlock.Relay.Tests.Peers;
using Letterlock.Relay.Tls;

namespace Letterlock.Relay.Tests.Tls;

/// <summary>MTA-STS and DANE decisions against real TLS servers (the Letterlock SMTP front end as a scripted MX, Kestrel as the policy host).</summary>
public sealed class TlsPolicyTests : IAsyncLifetime
{
    private readonly TestCa _ca = new();
    private PolicyServer _policies = null!;

    public async Task InitializeAsync() =>
        _policies = await PolicyServer.StartAsync(_ca.Issue(["mta-sts.beta.test", "mta-sts.gamma.test"]));

    public async Task DisposeAsync()
    {
        await _policies.DisposeAsync();
        _ca.Dispose();
    }

    private RelayHarness Harness(string mode, string mx = "mx.beta.test")
    {
        var harness = new RelayHarness(_ca);
        harness.Dns.AddTxt("_mta-sts.beta.test", "v=STSv1; id=20250101T000000");
        harness.Dns.AddAddress("mta-sts.beta.test", IPAddress.Loopback);
        harness.Ports["mta-sts.beta.test"] = _policies.Port;
        _policies.Policies["mta-sts.beta.test"] = (200, "text/plain", $"version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmx: *.backup.beta.test\r\nmax_age: 86400\r\n");
        return harness;
    }

    private static async Task<DeliveryAttemptResult> SendAsync(RelayHarness harness, string domain = "beta.test")
    {
        await using var deliverer = harness.Agent.ForDestination(domain);
        return await deliverer.DeliverAsync("alice@alpha.test", [$"bob@{domain}"], DkimSigningTests.SampleMessage(), default);
    }

    [Fact]
    public async Task Enforce_with_a_valid_certificate_delivers_authenticated()
    {
        using var harness = Harness("enforce");
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        var result = await SendAsync(harness);
        Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
        Assert.True(result.Security!.Authenticated);
        Assert.Equal(TlsPolicyType.Sts, result.Security.Policy);
        Assert.Single(mta.Received);
        Assert.Equal(1, harness.Agent.Reports.Successes("beta.test", TlsPolicyType.Sts));
    }

    [Theory]
    [InlineData("untrusted", TlsResultTypes.CertificateNotTrusted)]
    [InlineData("wrong-name", TlsResultTypes.CertificateHostMismatch)]
    [InlineData("expired", TlsResultTypes.CertificateExpired)]
    [InlineData("no-starttls", TlsResultTypes.StartTlsNotSupported)]
    public async Task Enforce_with_a_bad_certificate_defers_and_never_delivers(string problem, string resultType)
    {
        using var harness = Harness("enforce");
        using var otherCa = new TestCa("Someone Else");
        var certificate = problem switch
        {
            "untrusted" => otherCa.Issue(["mx.beta.test"]),
            "wrong-name" => _ca.Issue(["mx.elsewhere.test"]),
            "expired" => _ca.Issue(["mx.beta.test"], DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1)),
            _ => null,
        };
        await using var mta = ScriptedMta.Start(certificate);
        harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        var result = await SendAsync(harness);
        var recipient = result.Recipients.Single();
        Assert.Equal(RecipientStatus.Deferred, recipient.Status);
        Assert.Equal("4.7.5", recipient.EnhancedStatus);
        Assert.Contains(resultType, recipient.Diagnostic, StringComparison.Ordinal);
        Assert.Empty(mta.Received);
        Assert.Contains(harness.Agent.Reports.Failures, f => f.ResultType == resultType && f.PolicyType == TlsPolicyType.Sts && f.ReceivingMxHostname == "mx.beta.test");
        Assert.Contains($"TLS policy failure for beta.test at mx.beta.test (StsEnforce): {resultType}", harness.Logger.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enforce_skips_mx_hosts_the_policy_does_not_list()
    {
        using var harness = Harness("enforce", mx: "mx.beta.test");
        await using var rogue = ScriptedMta.Start(_ca.Issue(["rogue.example.test"]));
        harness.AddMx("beta.test", "rogue.example.test", rogue.Port);
        var result = await SendAsync(harness);
        Assert.Equal(RecipientStatus.Deferred, result.Recipients.Single().Status);
        Assert.Empty(rogue.Received);
        Assert.Equal(0, rogue.Sessions);

        // a host matching "*.backup.beta.test" (one label) is fine
        await using var backup = ScriptedMta.Start(_ca.Issue(["b1.backup.beta.test"]));
        harness.AddMx("beta.test", "b1.backup.beta.test", backup.Port, preference: 50);
        var ok = await SendAsync(harness);
        Assert.True(ok.AllDelivered, string.Join("; ", ok.Recipients));
        Assert.Equal("b1.backup.beta.test", ok.Security!.MxHost);
    }

    [Fact]
    public async Task Testing_mode_delivers_over_a_bad_certificate_and_reports_it()
    {
        using var harness = Harness("testing");
        await using var mta = ScriptedMta.Start(TestCa.SelfSigned("mx.beta.test"));
        harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        var result = await SendAsync(harness);
        Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
        Assert.True(result.Security!.Encrypted);
        Assert.False(result.Security.Authenticated);
        Assert.Single(mta.Received);
        Assert.Contains(harness.Agent.Reports.Failures, f => f.ResultType == TlsResultTypes.CertificateNotTrusted && f.PolicyType == TlsPolicyType.Sts);
        Assert.Contains("MTA-STS testing policy of beta.test would fail at mx.beta.test: certificate-not-trusted", harness.Logger.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_policy_that_cannot_be_fetched_leaves_delivery_opportunistic_and_is_reported()
    {
        using var harness = Harness("enforce");
        _policies.Policies["mta-sts.beta.test"] = (404, "text/plain", "");
        await using var mta = ScriptedMta.Start(TestCa.SelfSigned("mx.beta.test"));
        harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        var result = await SendAsync(harness);
        Assert.True(result.AllDelivered);
        Assert.Contains(harness.Agent.Reports.Failures, f => f.ResultType == TlsResultTypes.StsPolicyFetchError);
    }

    [Fact]
    public async Task Dane_ee_matching_delivers_authenticated_even_with_a_self_signed_certificate()
    {
        using var harness = new RelayHarness(_ca);
        var certificate = TestCa.SelfSigned("mx.beta.test");
        await using var mta = ScriptedMta.Start(certificate);
        harness.AddMx("beta.test", "mx.beta.test", mta.Port, dnssec: true);
        harness.Dns.AddTlsa($"_{mta.Port}._tcp.mx.beta.test", Dane.RecordFor(3, 1, 1, certificate), dnssecValidated: true);
        var result = await SendAsync(harness);
        Assert.True(result.AllDelivered, string.Join("; ", result.Recipients));
        Assert.True(result.Security!.Authenticated);
        Assert.Equal(TlsPolicyType.Tlsa, result.Security.Policy);
    }

    [Fact]
    public async Task Dane_mismatch_defers_and_dane_beats_an_mta_sts_policy()
    {
        using var harness = Harness("testing");
        // a certificate PKIX would accept, but the TLSA record names another key
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        harness.AddMx("beta.test", "mx.beta.test", mta.Port, dnssec: true);
        harness.Dns.AddTlsa($"_{mta.Port}._tcp.mx.beta.test", Dane.RecordFor(3, 1, 1, TestCa.SelfSigned("other")), dnssecValidated: true);
        var result = await SendAsync(harness);
        Assert.Equal(RecipientStatus.Deferred, result.Recipients.Single().Status);
        Assert.Contains(TlsResultTypes.TlsaInvalid, result.Recipients.Single().Diagnostic, StringComparison.Ordinal);
        Assert.Empty(mta.Received);
        Assert.Contains(harness.Agent.Reports.Failures, f => f.PolicyType == TlsPolicyType.Tlsa && f.ResultType == TlsResultTypes.TlsaInvalid);
    }

    [Fact]
    public async Task Tlsa_records_without_dnssec_are_ignored()
    {
        using var harness = new RelayHarness(_ca);
        await using var mta = ScriptedMta.Start(TestCa.SelfSigned("mx.beta.test"));
        // the MX answer is not validated: RFC 7672 2.2.1, no DANE at all
        harness.AddMx("beta.test", "mx.beta.test", mta.Port, dnssec: false);
        harness.Dns.AddTlsa($"_{mta.Port}._tcp.mx.beta.test", Dane.RecordFor(3, 1, 1, TestCa.SelfSigned("other")), dnssecValidated: true);
        var result = await SendAsync(harness);
        Assert.True(result.AllDelivered);
        Assert.False(result.Security!.Authenticated);
        Assert.Equal(TlsPolicyType.NoPolicyFound, result.Security.Policy);
    }

    [Fact]
    public async Task Dane_with_only_unusable_records_still_requires_tls()
    {
        using var harness = new RelayHarness(_ca);
        await using var plain = ScriptedMta.Start(certificate: null);
        harness.AddMx("beta.test", "mx.beta.test", plain.Port, dnssec: true);
        // PKIX-EE(1) is unusable for SMTP (RFC 7672 3.1.3): encryption stays mandatory
        harness.Dns.AddTlsa($"_{plain.Port}._tcp.mx.beta.test", new TlsaRecord(1, 1, 1, new byte[32]), dnssecValidated: true);
        var result = await SendAsync(harness);
        Assert.Equal(RecipientStatus.Deferred, result.Recipients.Single().Status);
        Assert.Contains(TlsResultTypes.StartTlsNotSupported, result.Recipients.Single().Diagnostic, StringComparison.Ordinal);
        Assert.Empty(plain.Received);
    }

    [Fact]
    public async Task A_failed_tlsa_lookup_in_a_signed_zone_defers()
    {
        using var harness = new RelayHarness(_ca);
        await using var mta = ScriptedMta.Start(TestCa.SelfSigned("mx.beta.test"));
        harness.AddMx("beta.test", "mx.beta.test", mta.Port, dnssec: true);
        harness.Dns.AddFailure($"_{mta.Port}._tcp.mx.beta.test");
        var result = await SendAsync(harness);
        Assert.Equal(RecipientStatus.Deferred, result.Recipients.Single().Status);
        Assert.Empty(mta.Received);
    }

    [Fact]
    public async Task Opportunistic_delivery_without_starttls_goes_in_plaintext_only_without_a_policy()
    {
        using var harness = new RelayHarness(_ca);
        await using var plain = ScriptedMta.Start(certificate: null);
        harness.AddMx("beta.test", "mx.beta.test", plain.Port);
        var result = await SendAsync(harness);
        Assert.True(result.AllDelivered);
        Assert.False(result.Security!.Encrypted);
        Assert.False(plain.Received.Single().Secure);
    }
}
