using Letterlock.Client.Discovery;

namespace Letterlock.Client.Tests.Discovery;

public sealed class WkdTests
{
    [Fact]
    public void The_local_part_hash_matches_the_draft_example()
    {
        // draft-koch-openpgp-webkey-service, section 3.1: "Joe.Doe@Example.ORG".
        Assert.Equal("iy9q119eutrkn8s1mk4r39qejnbu3n5q", Wkd.HashLocalPart("Joe.Doe"));
        Assert.Equal(
            "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe",
            Wkd.AdvancedUri("Joe.Doe@Example.ORG").AbsoluteUri);
        Assert.Equal(
            "https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe",
            Wkd.DirectUri("Joe.Doe@Example.ORG").AbsoluteUri);
    }

    [Fact]
    public void Only_ascii_letters_are_lowered_and_the_l_parameter_is_percent_encoded()
    {
        Assert.Equal(Wkd.HashLocalPart("joe.doe"), Wkd.HashLocalPart("JOE.DOE"));
        Assert.NotEqual(Wkd.HashLocalPart("jörg"), Wkd.HashLocalPart("JÖRG"));
        Assert.EndsWith("?l=a%2Bb%20c", Wkd.DirectUri("a+b c@example.org").AbsoluteUri, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => Wkd.DirectUri("alice@exa mple.org"));
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("f", "ca")]
    [InlineData("fo", "c3zo")]
    [InlineData("foo", "c3zs6")]
    [InlineData("foob", "c3zs6ao")]
    [InlineData("fooba", "c3zs6aub")]
    [InlineData("foobar", "c3zs6aubqe")]
    public void ZBase32_encodes_known_answers(string input, string expected) =>
        Assert.Equal(expected, ZBase32.Encode(System.Text.Encoding.ASCII.GetBytes(input)));
}
