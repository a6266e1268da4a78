using System.Net;
using Letterlock.Dns;
using Letterlock.Provider.Mx;

namespace Letterlock.Provider.Tests;

/// <summary>
/// <c>check_host()</c> on the scenarios of the RFC 7208 test suite (the openspf/pyspf <c>rfc7208-tests</c> groups:
/// initial processing, record lookup and selection, record evaluation, the mechanisms' syntax and semantics, include,
/// redirect, macros, processing limits), each named after the suite's case and the section it tests, with its zone
/// written here. The suite's <c>ptr</c> and <c>exp</c> cases are left out: this evaluator treats <c>ptr</c> as not
/// matching (5.5 advises against it) and never sends an explanation. Client 1.2.3.4 unless a case says otherwise.
/// </summary>
public sealed class SpfSuiteTests
{
    private static readonly IPAddress Client = IPAddress.Parse("1.2.3.4");

    /// <summary>The zone every case reads: one domain per case, records as the suite's zone data has them.</summary>
    private static StaticDnsResolver Zone()
    {
        var dns = new StaticDnsResolver();
        // record lookup and selection (4.4, 4.5)
        dns.AddTxt("nospace.test", "v=spf1mx").AddTxt("nospace.test", "v=spf1-all");
        dns.AddTxt("empty.test", "v=spf1");
        dns.AddTxt("twospf.test", "v=spf1 +all").AddTxt("twospf.test", "v=spf1 -all");
        dns.AddTxt("othertxt.test", "google-site-verification=abc").AddTxt("othertxt.test", "v=spf1 -all");
        dns.AddTxt("version-case.test", "V=SpF1 +all");
        dns.AddTxt("spf10.test", "v=spf10 +all");
        dns.AddFailure("txt-timeout.test");
        // all (5.1)
        dns.AddTxt("all-arg.test", "v=spf1 -all:foobar");
        dns.AddTxt("all-cidr.test", "v=spf1 -all/8");
        dns.AddTxt("all-neutral.test", "v=spf1 ?all");
        dns.AddTxt("all-double.test", "v=spf1 +all -all");
        dns.AddTxt("all-dot.test", "v=spf1 -all.");
        // ip4 / ip6 (5.6)
        dns.AddTxt("cidr4.test", "v=spf1 ip4:1.2.3.0/24 -all");
        dns.AddTxt("cidr4-0.test", "v=spf1 ip4:1.2.3.4/0 -all");
        dns.AddTxt("cidr4-33.test", "v=spf1 ip4:1.2.3.4/33 -all");
        dns.AddTxt("bad-ip4-short.test", "v=spf1 ip4:1.2.3 -all");
        dns.AddTxt("bad-ip4-port.test", "v=spf1 ip4:1.2.3.4:8080 -all");
        dns.AddTxt("ip4-empty.test", "v=spf1 ip4 -all");
        dns.AddTxt("cidr6.test", "v=spf1 ip6:2001:db8::/32 -all");
        dns.AddTxt("cidr6-129.test", "v=spf1 ip6:2001:db8::/129 -all");
        // a / mx (5.3, 5.4)
        dns.AddTxt("a.test", "v=spf1 a -all").AddAddress("a.test", Client);
        dns.AddTxt("a-other.test", "v=spf1 a:host.a-other.test -all").AddAddress("host.a-other.test", IPAddress.Parse("1.2.3.5"));
        dns.AddTxt("a-cidr.test", "v=spf1 a:host.a-other.test/24 -all");
        dns.AddTxt("a-bad-cidr4.test", "v=spf1 a/33 -all");
        dns.AddTxt("a-toplabel.test", "v=spf1 a:museum -all");
        dns.AddTxt("a-numeric.test", "v=spf1 a:111.222.33.44 -all");
        dns.AddTxt("a-case.test", "v=spf1 A:host.a-other.test/24 -all");
        dns.AddTxt("mx.test", "v=spf1 mx -all").AddMx("mx.test", 10, "mail.mx.test").AddAddress("mail.mx.test", Client);
        dns.AddTxt("mx-none.test", "v=spf1 mx -all");
        dns.AddTxt("mx-limit.test", "v=spf1 mx -all");
        for (int i = 0; i < 11; i++)
        {
            dns.AddMx("mx-limit.test", i, $"mx{i}.mx-limit.test");
        }

        dns.AddAddress("mx10.mx-limit.test", Client);
        // include (5.2)
        dns.AddTxt("include-none.test", "v=spf1 include:nothing.test -all");
        dns.AddTxt("include-softfail.test", "v=spf1 include:soft.test -all").AddTxt("soft.test", "v=spf1 ~all");
        dns.AddTxt("include-pass.test", "v=spf1 include:cidr4.test -all");
        dns.AddTxt("include-temperror.test", "v=spf1 include:txt-timeout.test -all");
        dns.AddTxt("include-permerror.test", "v=spf1 include:all-arg.test -all");
        dns.AddTxt("include-empty.test", "v=spf1 include: -all");
        // redirect and unknown modifiers (6)
        dns.AddTxt("redirect-none.test", "v=spf1 redirect=nothing.test");
        dns.AddTxt("redirect-pass.test", "v=spf1 redirect=cidr4.test");
        dns.AddTxt("redirect-after-all.test", "v=spf1 -all redirect=cidr4.test");
        dns.AddTxt("redirect-twice.test", "v=spf1 redirect=cidr4.test redirect=cidr4.test");
        dns.AddTxt("modifier-unknown.test", "v=spf1 moo.cow-far_out=man:dog/cat -all");
        dns.AddTxt("mech-unknown.test", "v=spf1 moo:cow -all");
        // macros (7)
        dns.AddTxt("macro-i.test", "v=spf1 exists:%{i}.ok.macro-i.test -all").AddAddress("1.2.3.4.ok.macro-i.test", IPAddress.Parse("127.0.0.2"));
        dns.AddTxt("macro-ir.test", "v=spf1 exists:%{ir}.rbl.macro-ir.test -all").AddAddress("4.3.2.1.rbl.macro-ir.test", IPAddress.Parse("127.0.0.2"));
        dns.AddTxt("macro-l.test", "v=spf1 exists:%{l}.users.macro-l.test -all").AddAddress("foo.users.macro-l.test", IPAddress.Parse("127.0.0.2"));
        dns.AddTxt("macro-d2.test", "v=spf1 exists:%{d2}.x.example -all").AddAddress("macro-d2.test.x.example", IPAddress.Parse("127.0.0.2"));
        dns.AddTxt("macro-bad.test", "v=spf1 exists:%{q}.macro-bad.test -all");
        dns.AddTxt("macro-percent.test", "v=spf1 exists:%%.macro-percent.test -all");
        dns.AddTxt("exists-empty.test", "v=spf1 exists -all");
        // processing limits (4.6.4)
        dns.AddTxt("include-loop.test", "v=spf1 include:include-loop.test -all");
        dns.AddTxt("void-over.test", "v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test +all");
        dns.AddTxt("void-at-limit.test", "v=spf1 a:n1.void.test a:n2.void.test +all");
        dns.AddTxt("terms-at-limit.test", "v=spf1 " + string.Join(' ', Enumerable.Range(0, 10).Select(i => $"a:h{i}.terms.test")) + " +all");
        dns.AddTxt("terms-over.test", "v=spf1 " + string.Join(' ', Enumerable.Range(0, 11).Select(i => $"a:h{i}.terms.test")) + " +all");
        for (int i = 0; i < 11; i++)
        {
            dns.AddAddress($"h{i}.terms.test", IPAddress.Parse("192.0.2.1"));
        }

        return dns;
    }

    public static TheoryData<string, string, string, string?, SpfResult> Cases() => new()
    {
        // initial processing (4.3): a domain that is not a domain name is "none"
        { "emptylabel", "4.3/1", "a..b.test", null, SpfResult.None },
        { "toolonglabel", "4.3/1", new string('x', 64) + ".test", null, SpfResult.None },
        { "domain-literal", "4.3/1", "[1.2.3.5]", null, SpfResult.None },
        // record lookup and selection (4.4, 4.5)
        { "nospace", "4.5/1", "nospace.test", null, SpfResult.None },
        { "spf10", "4.5/1", "spf10.test", null, SpfResult.None },
        { "other-txt-ignored", "4.5/1", "othertxt.test", null, SpfResult.Fail },
        { "case-insensitive-version", "4.5/1", "version-case.test", null, SpfResult.Pass },
        { "multispf", "4.5/6", "twospf.test", null, SpfResult.PermError },
        { "txttimeout", "4.4/2", "txt-timeout.test", null, SpfResult.TempError },
        { "nospf", "4.5/7", "nothing.test", null, SpfResult.None },
        // record evaluation (4.6, 4.7)
        { "empty", "4.7/1", "empty.test", null, SpfResult.Neutral },
        { "all-neutral", "5.1/1", "all-neutral.test", null, SpfResult.Neutral },
        { "all-double", "4.6.2/1", "all-double.test", null, SpfResult.Pass },
        { "all-arg", "5.1/1", "all-arg.test", null, SpfResult.PermError },
        { "all-cidr", "5.1/1", "all-cidr.test", null, SpfResult.PermError },
        { "all-dot", "5.1/1", "all-dot.test", null, SpfResult.PermError },
        { "mech-unknown", "4.6.1/2", "mech-unknown.test", null, SpfResult.PermError },
        { "modifier-unknown", "6/3", "modifier-unknown.test", null, SpfResult.Fail },
        // ip4 / ip6 (5.6)
        { "cidr4-match", "5.6/2", "cidr4.test", null, SpfResult.Pass },
        { "cidr4-nomatch", "5.6/2", "cidr4.test", "1.2.4.4", SpfResult.Fail },
        { "cidr4-0", "5.6/2", "cidr4-0.test", "9.9.9.9", SpfResult.Pass },
        { "cidr4-33", "5.6/2", "cidr4-33.test", null, SpfResult.PermError },
        { "bad-ip4-short", "5.6/4", "bad-ip4-short.test", null, SpfResult.PermError },
        { "bad-ip4-port", "5.6/4", "bad-ip4-port.test", null, SpfResult.PermError },
        { "ip4-empty", "5.6/2", "ip4-empty.test", null, SpfResult.PermError },
        { "ip4-mapped-ip6", "5/9", "cidr4.test", "::ffff:1.2.3.4", SpfResult.Pass },
        { "cidr6-match", "5.6/2", "cidr6.test", "2001:db8::1", SpfResult.Pass },
        { "cidr6-v4-client", "5/9", "cidr6.test", null, SpfResult.Fail },
        { "cidr6-129", "5.6/2", "cidr6-129.test", "2001:db8::1", SpfResult.PermError },
        // a / mx (5.3, 5.4)
        { "a-implicit", "5.3/3", "a.test", null, SpfResult.Pass },
        { "a-other-nomatch", "5.3/3", "a-other.test", null, SpfResult.Fail },
        { "a-cidr4", "5.3/3", "a-cidr.test", null, SpfResult.Pass },
        { "mech-case", "4.6.1/2", "a-case.test", null, SpfResult.Pass },
        { "a-bad-cidr4", "5.6/2", "a-bad-cidr4.test", null, SpfResult.PermError },
        { "a-only-toplabel", "7.1/2", "a-toplabel.test", null, SpfResult.PermError },
        { "a-numeric-toplabel", "7.1/2", "a-numeric.test", null, SpfResult.PermError },
        { "mx-match", "5.4/3", "mx.test", null, SpfResult.Pass },
        { "mx-empty", "5.4/3", "mx-none.test", null, SpfResult.Fail },
        { "mx-limit", "4.6.4/2", "mx-limit.test", null, SpfResult.PermError },
        // include (5.2)
        { "include-none", "5.2/9", "include-none.test", null, SpfResult.PermError },
        { "include-softfail", "5.2/9", "include-softfail.test", null, SpfResult.Fail },
        { "include-pass", "5.2/9", "include-pass.test", null, SpfResult.Pass },
        { "include-fail", "5.2/9", "include-pass.test", "1.2.4.4", SpfResult.Fail },
        { "include-temperror", "5.2/9", "include-temperror.test", null, SpfResult.TempError },
        { "include-permerror", "5.2/9", "include-permerror.test", null, SpfResult.PermError },
        { "include-empty", "4.6.1/2", "include-empty.test", null, SpfResult.PermError },
        // redirect (6.1)
        { "redirect-none", "6.1/4", "redirect-none.test", null, SpfResult.PermError },
        { "redirect-pass", "6.1/4", "redirect-pass.test", null, SpfResult.Pass },
        { "redirect-cancelled-by-all", "6.1/1", "redirect-after-all.test", null, SpfResult.Fail },
        { "redirect-twice", "6/2", "redirect-twice.test", null, SpfResult.PermError },
        // macros (7)
        { "macro-i", "7.3", "macro-i.test", null, SpfResult.Pass },
        { "macro-ir", "7.3", "macro-ir.test", null, SpfResult.Pass },
        { "macro-l", "7.3", "macro-l.test", null, SpfResult.Pass },
        { "macro-d2", "7.3", "macro-d2.test", null, SpfResult.Pass },
        { "invalid-macro-char", "7.1/9", "macro-bad.test", null, SpfResult.PermError },
        { "macro-percent-nomatch", "7.1", "macro-percent.test", null, SpfResult.Fail },
        { "exists-empty", "5.7/2", "exists-empty.test", null, SpfResult.PermError },
        // processing limits (4.6.4)
        { "include-loop", "4.6.4/1", "include-loop.test", null, SpfResult.PermError },
        { "void-at-limit", "4.6.4/7", "void-at-limit.test", null, SpfResult.Pass },
        { "void-over-limit", "4.6.4/7", "void-over.test", null, SpfResult.PermError },
        { "terms-at-limit", "4.6.4/1", "terms-at-limit.test", null, SpfResult.Pass },
        { "terms-over-limit", "4.6.4/1", "terms-over.test", null, SpfResult.PermError },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Check_host_gives_the_suites_result(string name, string section, string domain, string? client, SpfResult expected)
    {
        var result = await new SpfEvaluator(Zone()).CheckHostAsync(client is null ? Client : IPAddress.Parse(client), domain, "foo@" + domain, CancellationToken.None);
        Assert.True(expected == result, $"{name} (RFC 7208, {section}): expected {expected}, got {result}");
    }
}
