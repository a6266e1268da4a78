using Letterlock.Dns;

namespace Letterlock.Provider.Tests;

/// <summary>The Public Suffix List's algorithm, on a small list and on Debian's real one (publicsuffix package).</summary>
public sealed class PublicSuffixListTests
{
    private static readonly Lazy<PublicSuffixList> Debian = new(() => PublicSuffixList.Load(PublicSuffixList.DebianPath));

    [Theory]
    [InlineData("example.com", "example.com")]
    [InlineData("b.example.com", "example.com")]
    [InlineData("a.b.example.com", "example.com")]
    [InlineData("example.com.", "example.com")]
    [InlineData("WWW.Example.COM", "example.com")]
    [InlineData("com", null)]
    [InlineData("uk.com", null)]
    [InlineData("example.uk.com", "example.uk.com")]
    [InlineData("b.example.uk.com", "example.uk.com")]
    [InlineData("test.ac", "test.ac")]
    [InlineData("mm", null)]
    [InlineData("c.mm", null)]
    [InlineData("b.c.mm", "b.c.mm")]
    [InlineData("a.b.c.mm", "b.c.mm")]
    [InlineData("jp", null)]
    [InlineData("test.jp", "test.jp")]
    [InlineData("www.test.jp", "test.jp")]
    [InlineData("ac.jp", null)]
    [InlineData("test.ac.jp", "test.ac.jp")]
    [InlineData("kyoto.jp", null)]
    [InlineData("test.kyoto.jp", "test.kyoto.jp")]
    [InlineData("ide.kyoto.jp", null)]
    [InlineData("b.ide.kyoto.jp", "b.ide.kyoto.jp")]
    [InlineData("c.kobe.jp", null)]
    [InlineData("b.c.kobe.jp", "b.c.kobe.jp")]
    [InlineData("city.kobe.jp", "city.kobe.jp")]
    [InlineData("www.city.kobe.jp", "city.kobe.jp")]
    [InlineData("ck", null)]
    [InlineData("test.ck", null)]
    [InlineData("b.test.ck", "b.test.ck")]
    [InlineData("www.ck", "www.ck")]
    [InlineData("www.www.ck", "www.ck")]
    [InlineData("us", null)]
    [InlineData("test.us", "test.us")]
    [InlineData("ak.us", null)]
    [InlineData("test.ak.us", "test.ak.us")]
    [InlineData("k12.ak.us", null)]
    [InlineData("test.k12.ak.us", "test.k12.ak.us")]
    [InlineData("bank.co.uk", "bank.co.uk")]
    [InlineData("mail.bank.co.uk", "bank.co.uk")]
    [InlineData("食狮.com.cn", "xn--85x722f.com.cn")]
    [InlineData("www.食狮.公司.cn", "xn--85x722f.xn--55qx5d.cn")]
    [InlineData("xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn")]
    [InlineData("公司.cn", null)]
    public void Registrable_domains_match_the_lists_own_test_cases(string domain, string? registrable) =>
        Assert.Equal(registrable, Debian.Value.RegistrableDomain(domain));

    [Fact]
    public void Wildcards_cover_one_label_and_exceptions_win()
    {
        var list = PublicSuffixList.Parse(new StringReader("""
            // a comment
            com
            *.wild.test
            !city.wild.test   trailing words are ignored
            deep.example.com

            """));
        Assert.Equal(4, list.Count);
        Assert.Equal("a.com", list.RegistrableDomain("x.a.com"));
        Assert.Null(list.RegistrableDomain("x.wild.test"));            // x.wild.test is a public suffix
        Assert.Equal("y.x.wild.test", list.RegistrableDomain("z.y.x.wild.test"));
        Assert.Equal("city.wild.test", list.RegistrableDomain("www.city.wild.test"));
        Assert.Equal("a.deep.example.com", list.RegistrableDomain("b.a.deep.example.com"));
        Assert.Equal("unlisted", list.PublicSuffix("host.unlisted"));  // the implicit "*" rule
        Assert.Equal("com", list.OrganizationalDomain("com"));          // DMARC: a public suffix is its own
    }

    [Theory]
    [InlineData("")]
    [InlineData("// only a comment\n\n")]
    [InlineData("com\nbad..name\n")]
    public void A_list_without_rules_or_with_a_broken_rule_is_refused(string text) =>
        Assert.Throws<FormatException>(() => PublicSuffixList.Parse(new StringReader(text)));
}
