using System.Net;
using Letterlock.Dns;
using Letterlock.Relay.Routing;
using Letterlock.Relay.Tests.Peers;
using Letterlock.Relay.Tls;

namespace Letterlock.Relay.Tests.Tls;

public sealed class MtaStsTests
{
    [Theory]
    [InlineData("version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n", MtaStsMode.Enforce)]
    [InlineData("version: STSv1\r\nmode: testing\r\nmx: *.example.com\r\nmax_age:604800", MtaStsMode.Testing)]
    [InlineData("version: STSv1\nmode: none\nmax_age: 1\n", MtaStsMode.None)]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 86400\nfuture_field: yes\n", MtaStsMode.Enforce)]
    public void Valid_policies_parse(string text, MtaStsMode mode)
    {
        Assert.True(MtaStsPolicy.TryParse(text, out var policy, out string? error), error);
        Assert.Equal(mode, policy!.Mode);
    }

    [Theory]
    [InlineData("mode: enforce\nmx: a.example.com\nmax_age: 1\n")]                      // no version
    [InlineData("version: STSv2\nmode: enforce\nmx: a.example.com\nmax_age: 1\n")]
    [InlineData("version: STSv1\nmode: strict\nmx: a.example.com\nmax_age: 1\n")]
    [InlineData("version: STSv1\nmode: enforce\nmax_age: 1\n")]                           // enforce needs an mx
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example.com\n")]                    // no max_age
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 12345678901\n")] // 11 digits
    [InlineData("version: STSv1\nmode: enforce\nmx: a..example.com\nmax_age: 1\n")]
    [InlineData("version: STSv1\nmode: enforce\nmx: **.example.com\nmax_age: 1\n")]
    [InlineData("Version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 1\n")]      // field names are case-sensitive
    [InlineData("<html>not a policy</html>")]
    public void Invalid_policies_are_refused(string text) =>
        Assert.False(MtaStsPolicy.TryParse(text, out _, out _));

    [Fact]
    public void Max_age_is_clamped_to_the_rfc_limit()
    {
        Assert.True(MtaStsPolicy.TryParse("version: STSv1\nmode: none\nmax_age: 9999999999\n", out var policy, out _));
        Assert.Equal(TimeSpan.FromSeconds(MtaStsPolicy.MaxAgeLimitSeconds), policy!.MaxAge);
    }

    [Theory]
    [InlineData("mail.example.com", true)]
    [InlineData("MAIL.Example.COM.", true)]
    [InlineData("mx1.example.net", true)]
    [InlineData("a.b.example.net", false)]   // the wildcard is one label
    [InlineData("example.net", false)]
    [InlineData("mail.example.org", false)]
    public void Mx_patterns_match_as_rfc_8461_section_4_1_says(string host, bool matches)
    {
        var policy = new MtaStsPolicy(MtaStsMode.Enforce, ["mail.example.com", "*.example.net"], TimeSpan.FromDays(1));
        Assert.Equal(matches, policy.Matches(host));
    }

    [Theory]
    [InlineData("v=STSv1; id=20160831085700Z;", "20160831085700Z")]
    [InlineData("v=STSv1;id=abc", "abc")]
    [InlineData("v=STSv1; id=abc; ext=1", "abc")]
    [InlineData("v=STSv2; id=abc", null)]
    [InlineData("v=STSv1; id=has-dash", null)]
    [InlineData("v=STSv1; id=123456789012345678901234567890123", null)] // 33 characters
    [InlineData("v=STSv1", null)]
    public void Txt_records_parse(string record, string? id)
    {
        bool ok = MtaStsPolicy.TryParseTxtRecord(record, out string? parsed);
        Assert.Equal(id is not null, ok);
        Assert.Equal(id, parsed);
    }

    [Fact]
    public async Task Discovery_fetches_caches_keeps_a_policy_when_dns_is_blocked_and_refetches_on_a_new_id()
    {
        using var ca = new TestCa();
        await using var server = await PolicyServer.StartAsync(ca.Issue(["mta-sts.beta.test"]));
        var (resolver, dns, time, http) = Resolver(ca, server);
        using var _ = http;
        dns.AddTxt("_mta-sts.beta.test", "v=STSv1; id=one");
        server.Policies["mta-sts.beta.test"] = (200, "text/plain; charset=utf-8", "version: STSv1\nmode: enforce\nmx: mx.beta.test\nmax_age: 3600\n");

        Assert.Equal(MtaStsMode.Enforce, (await resolver.GetPolicyAsync("beta.test", default)).Mode);
        Assert.Equal(MtaStsMode.Enforce, (await resolver.GetPolicyAsync("BETA.test", default)).Mode);
        Assert.Equal(1, server.Requests); // same id: served from the cache

        // an attacker removing the TXT record (or DNS failing) does not switch the policy off before max_age
        var blocked = new StaticDnsResolver();
        blocked.AddFailure("_mta-sts.beta.test");
        var blockedResolver = new MtaStsResolver(blocked, http, new MtaStsOptions(), time);
        Assert.Equal(MtaStsMode.None, (await blockedResolver.GetPolicyAsync("beta.test", default)).Mode); // never seen: nothing to keep
        server.Policies["mta-sts.beta.test"] = (500, "text/plain", "");
        dns.AddTxt("_mta-sts.beta.test", "v=STSv1; id=two"); // now two records: RFC 8461 3.1 says no valid record
        Assert.Equal(MtaStsMode.Enforce, (await resolver.GetPolicyAsync("beta.test", default)).Mode);

        // after max_age without a TXT record the policy is gone
        time.Advance(TimeSpan.FromHours(2));
        Assert.Equal(MtaStsMode.None, (await resolver.GetPolicyAsync("beta.test", default)).Mode);
    }

    [Fact]
    public async Task A_failed_refresh_keeps_the_cached_policy()
    {
        using var ca = new TestCa();
        await using var server = await PolicyServer.StartAsync(ca.Issue(["mta-sts.beta.test"]));
        var (resolver, dns, _, http) = Resolver(ca, server);
        using var __ = http;
        var txt = new MutableTxt(dns, "_mta-sts.beta.test");
        txt.Set("v=STSv1; id=one");
        server.Policies["mta-sts.beta.test"] = (200, "text/plain", "version: STSv1\nmode: enforce\nmx: mx.beta.test\nmax_age: 3600\n");
        Assert.Equal(MtaStsMode.Enforce, (await resolver.GetPolicyAsync("beta.test", default)).Mode);
        server.Policies["mta-sts.beta.test"] = (200, "text/plain", "garbage");
        txt.Set("v=STSv1; id=two");
        var lookup = await resolver.GetPolicyAsync("beta.test", default);
        Assert.Equal(MtaStsMode.Enforce, lookup.Mode);
        Assert.Equal(TlsResultTypes.StsPolicyInvalid, lookup.FailureResultType);
        server.Policies["mta-sts.beta.test"] = (200, "text/plain", "version: STSv1\nmode: testing\nmx: mx.beta.test\nmax_age: 3600\n");
        Assert.Equal(MtaStsMode.Testing, (await resolver.GetPolicyAsync("beta.test", default)).Mode);
    }

    [Theory]
    [InlineData("redirect")]
    [InlineData("content-type")]
    [InlineData("too-big")]
    [InlineData("untrusted")]
    public async Task Bad_policy_responses_give_no_policy(string problem)
    {
        using var ca = new TestCa();
        using var other = new TestCa("Other");
        await using var server = await PolicyServer.StartAsync((problem == "untrusted" ? other : ca).Issue(["mta-sts.beta.test"]));
        var (resolver, dns, _, http) = Resolver(ca, server, maxSize: 1024);
        using var _ = http;
        dns.AddTxt("_mta-sts.beta.test", "v=STSv1; id=one");
        string policy = "version: STSv1\nmode: enforce\nmx: mx.beta.test\nmax_age: 3600\n";
        server.Policies["mta-sts.beta.test"] = problem switch
        {
            "redirect" => (302, "text/plain", "https://mta-sts.beta.test/elsewhere"),
            "content-type" => (200, "text/html", policy),
            "too-big" => (200, "text/plain", policy + "x: " + new string('a', 1024 - policy.Length - 3) + "\n"),
            _ => (200, "text/plain", policy),
        };
        var lookup = await resolver.GetPolicyAsync("beta.test", default);
        Assert.Null(lookup.Policy);
        Assert.Equal(problem switch
        {
            "content-type" => TlsResultTypes.StsPolicyInvalid,
            "untrusted" => TlsResultTypes.StsWebPkiInvalid,
            _ => TlsResultTypes.StsPolicyFetchError,
        }, lookup.FailureResultType);
    }

    [Fact]
    public async Task A_policy_exactly_at_the_size_limit_is_accepted()
    {
        using var ca = new TestCa();
        await using var server = await PolicyServer.StartAsync(ca.Issue(["mta-sts.beta.test"]));
        var (resolver, dns, _, http) = Resolver(ca, server, maxSize: 1024);
        using var _ = http;
        dns.AddTxt("_mta-sts.beta.test", "v=STSv1; id=one");
        string policy = "version: STSv1\nmode: enforce\nmx: mx.beta.test\nmax_age: 3600\n";
        string padded = policy + "x: " + new string('a', 1024 - policy.Length - 4) + "\n";
        Assert.Equal(1024, padded.Length);
        server.Policies["mta-sts.beta.test"] = (200, "text/plain", padded);
        Assert.Equal(MtaStsMode.Enforce, (await resolver.GetPolicyAsync("beta.test", default)).Mode);
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentException>(() => new MtaStsOptions { MaxPolicySize = 100 }.Validate());
        Assert.Throws<ArgumentException>(() => new MtaStsOptions { FetchTimeout = TimeSpan.Zero }.Validate());
        Assert.Throws<ArgumentException>(() => new MtaStsOptions { CacheCapacity = 0 }.Validate());
    }

    private static (MtaStsResolver Resolver, StaticDnsResolver Dns, ManualTime Time, HttpMessageInvoker Http) Resolver(TestCa ca, PolicyServer server, int maxSize = 64 * 1024)
    {
        var dns = new StaticDnsResolver();
        dns.AddAddress("mta-sts.beta.test", IPAddress.Loopback);
        var time = new ManualTime(DateTimeOffset.UtcNow);
        var connector = new HostConnector(dns, TimeSpan.FromSeconds(20), new Dictionary<string, int> { ["mta-sts.beta.test"] = server.Port }, useIPv6: false);
        var http = new HttpMessageInvoker(connector.CreateHttpHandler(TlsTrust.WithRoots(ca.Root), TimeProvider.System));
        return (new MtaStsResolver(dns, http, new MtaStsOptions { MaxPolicySize = maxSize }, time), dns, time, http);
    }

    /// <summary>Replaces the TXT record of one name.</summary>
    private sealed class MutableTxt(StaticDnsResolver dns, string name)
    {
        public void Set(string text) => dns.Remove(name).AddTxt(name, text);
    }
}
