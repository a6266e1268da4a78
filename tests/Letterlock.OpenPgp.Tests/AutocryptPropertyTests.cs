using CsCheck;
using Letterlock.OpenPgp.Autocrypt;

namespace Letterlock.OpenPgp.Tests;

/// <summary>
/// Properties of the <c>Autocrypt</c> header parser (Autocrypt Level 1, 2.1), which reads what any sender writes:
/// a header as written (attributes in any order, folded anywhere, with non-critical <c>_</c> attributes among them)
/// parses to the key, address and preference written; a critical unknown or a repeated attribute refuses it
/// wherever it stands; the size limit holds at its edge; and nothing makes the parser throw.
/// </summary>
public sealed class AutocryptPropertyTests
{
    private static readonly DateTimeOffset SpecTime = new(2019, 2, 1, 0, 0, 0, TimeSpan.Zero);
    private const string Address = "alice@autocrypt.example";
    private static readonly string KeyData = AutocryptTests.SpecExample[(AutocryptTests.SpecExample.IndexOf("keydata=", StringComparison.Ordinal) + 8)..]
        .Replace("\n", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal);

    private static readonly Gen<string> Fold = Gen.OneOf(Gen.Const(""), Gen.Const(" "), Gen.Const("\r\n "), Gen.Const("\n\t"), Gen.Const("  "));

    private static readonly Gen<string> NonCritical = Gen.Select(Gen.String[Gen.Char["abcxyz-_0"], 0, 8], Gen.String[Gen.Char["abc 09=/+"], 0, 20],
        (name, value) => $"_{name}={value}");

    private sealed record Written(string Value, bool Mutual, string From);

    private static readonly Gen<Written> Header =
        Gen.Select(Gen.Bool, Gen.String[Gen.Char["abcmutal"], 0, 8], NonCritical.Array[0, 3], Gen.Int[1, 80], Fold, Gen.Bool)
            .SelectMany(p =>
            {
                var (mutual, otherPreference, extra, foldEvery, fold, upperFrom) = p;
                string folded = string.Concat(KeyData.Chunk(foldEvery).Select(chunk => fold + new string(chunk)));
                var attributes = new List<string> { $"addr={Address}", "keydata=" + folded };
                if (mutual)
                {
                    attributes.Add("prefer-encrypt=mutual");
                }
                else if (otherPreference.Length > 0 && otherPreference != "mutual")
                {
                    attributes.Add("prefer-encrypt=" + otherPreference);
                }

                attributes.AddRange(extra);
                return Gen.Shuffle(attributes.ToArray()).Select(order =>
                    new Written(string.Join(";" + fold, order), mutual, upperFrom ? Address.ToUpperInvariant() : Address));
            });

    [Fact]
    public void A_header_as_written_parses_to_the_key_address_and_preference_written()
    {
        Header.Sample(written =>
        {
            var status = AutocryptHeader.TryParse(written.Value, written.From, out var header, now: SpecTime);
            Assert.True(status == AutocryptHeaderStatus.Valid, $"{status}: {written.Value}");
            Assert.Equal(Address, header!.Address);
            Assert.Equal(written.Mutual ? PreferEncrypt.Mutual : PreferEncrypt.NoPreference, header.PreferEncrypt);
            Assert.Equal("EB85BB5FA33A75E15E944E63F231550C4F47E38E", header.Certificate.Fingerprint.Hex);
        });
    }

    [Fact]
    public void A_critical_unknown_attribute_or_a_repeated_one_refuses_the_header_wherever_it_stands()
    {
        var critical = Gen.Select(Gen.Char["abcdefghijklmnopqrstuvwxyz"], Gen.String[Gen.Char["abcxyz-0"], 0, 8], (first, rest) => first + rest)
            .Where(name => name is not ("addr" or "keydata" or "prefer-encrypt"));
        Gen.Select(Header, critical, Gen.Int[0, 10]).Sample((written, name, at) =>
        {
            var parts = written.Value.Split(';').ToList();
            parts.Insert(at % (parts.Count + 1), $" {name}=x");
            Assert.Equal(AutocryptHeaderStatus.UnknownCriticalAttribute, AutocryptHeader.TryParse(string.Join(';', parts), written.From, out var header, now: SpecTime));
            Assert.Null(header);
        });
        Gen.Select(Header, Gen.OneOf(Gen.Const($"addr={Address}"), Gen.Const("prefer-encrypt=mutual"), Gen.Const("keydata=" + KeyData)), Gen.Int[0, 10])
            .Sample((written, repeat, at) =>
            {
                var parts = written.Value.Split(';').ToList();
                if (parts.Any(p => p.Trim().StartsWith(repeat[..repeat.IndexOf('=', StringComparison.Ordinal)] + "=", StringComparison.Ordinal)))
                {
                    parts.Insert(at % (parts.Count + 1), repeat);
                    Assert.Equal(AutocryptHeaderStatus.MissingAttribute, AutocryptHeader.TryParse(string.Join(';', parts), written.From, out _, now: SpecTime));
                }
            });
    }

    [Fact]
    public void The_size_limit_holds_at_its_edge()
    {
        string value = $"addr={Address}; keydata={KeyData}";
        var exact = new OpenPgpOptions { MaxAutocryptHeaderSize = value.Length };
        Assert.Equal(AutocryptHeaderStatus.Valid, AutocryptHeader.TryParse(value, Address, out _, exact, SpecTime));
        var under = new OpenPgpOptions { MaxAutocryptHeaderSize = value.Length - 1 };
        Assert.Equal(AutocryptHeaderStatus.TooLarge, AutocryptHeader.TryParse(value, Address, out _, under, SpecTime));
    }

    [Fact]
    public void No_value_makes_the_parser_throw_and_only_valid_comes_with_a_header()
    {
        var mutated = Gen.Select(Header, Gen.Int[0, 2000], Gen.Char, Gen.Int[0, 5], (w, at, c, cut) =>
            cut == 0 ? w.Value[..(at % (w.Value.Length + 1))] : w.Value.Insert(at % (w.Value.Length + 1), c.ToString()));
        Gen.OneOf(Gen.String, Gen.String[Gen.Char["addrkeyt=;_ \r\n\tAB+/"], 0, 100], mutated).Sample(value =>
        {
            var status = AutocryptHeader.TryParse(value, Address, out var header, now: SpecTime);
            Assert.True(Enum.IsDefined(status));
            Assert.Equal(status == AutocryptHeaderStatus.Valid, header is not null);
        });
    }
}
