using CsCheck;
using Letterlock.Relay.Tls;

namespace Letterlock.Relay.Tests.Tls;

/// <summary>
/// Properties of the MTA-STS parsers (RFC 8461, 3.1 and 3.2), which read what any domain on the internet serves:
/// every policy written by the grammar parses back to what was written, however its lines end, whatever
/// whitespace and extension fields surround its fields; no input makes them throw; a wildcard pattern stands for
/// exactly one label.
/// </summary>
public sealed class MtaStsPropertyTests
{
    private static readonly Gen<string> Label =
        Gen.OneOf(
            Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789"], 1, 12],
            Gen.Select(Gen.Char["abcxyz09"], Gen.String[Gen.Char["abc-0"], 0, 8], Gen.Char["kz7"], (a, middle, z) => a + middle + z),
            Gen.String[Gen.Char["ab9"], 63, 63]);

    private static readonly Gen<string> Domain = Label.Array[2, 5].Select(labels => string.Join('.', labels)).Where(d => d.Length <= 253);

    private static readonly Gen<string> Pattern = Gen.Select(Gen.Bool, Domain, Gen.Bool, (wildcard, domain, upper) =>
        (wildcard ? "*." : "") + (upper ? domain.ToUpperInvariant() : domain));

    private static readonly Gen<string> Space = Gen.String[Gen.Char[" \t"], 0, 3];

    private static readonly Gen<string> Extension = Gen.Select(
        Gen.Char["abcxyz"], Gen.String[Gen.Char["abcxyz09_-."], 0, 10], Gen.String[Gen.Char["abc 09:=;/"], 0, 20],
        (first, rest, value) => $"{first}{rest}: {value}");

    private sealed record Written(MtaStsMode Mode, string[] Mx, long MaxAge, string Text);

    /// <summary>A policy as the grammar allows it, with its fields in any order among extensions and repeated singular fields.</summary>
    private static readonly Gen<Written> Policy =
        Gen.Select(Gen.Enum<MtaStsMode>(), Pattern.Array[0, 4], Gen.Long[0, 9_999_999_999], Gen.Bool, Extension.Array[0, 3], Gen.Int, Space)
            .Where(p => p.Item1 == MtaStsMode.None || p.Item2.Length > 0)
            .SelectMany(p =>
            {
                var (mode, mx, maxAge, crlf, extensions, seed, space) = p;
                string modeText = mode.ToString().ToLowerInvariant();
                var lines = new List<string> { "version:" + space + "STSv1", "mode: " + modeText + space, "max_age: " + maxAge };
                lines.AddRange(mx.Select(m => "mx:" + space + m));
                lines.AddRange(extensions);

                // A repeated singular field counts by its first occurrence, so a later repeat may say anything.
                lines.Add("mode: " + (mode == MtaStsMode.Enforce ? "testing" : "enforce"));
                lines.Add("max_age: 1");
                return Gen.Shuffle(lines.ToArray()).Select(shuffled =>
                {
                    // The first occurrences stay first: put the repeats after their originals.
                    var ordered = shuffled.Where(l => l != lines[^1] && l != lines[^2]).Concat([lines[^2], lines[^1]]).ToArray();
                    string eol = crlf ? "\r\n" : "\n";
                    return new Written(mode, mx, maxAge, string.Join(eol, ordered) + (seed % 2 == 0 ? eol : ""));
                });
            });

    [Fact]
    public void Every_policy_the_grammar_writes_parses_back_to_what_was_written()
    {
        Policy.Sample(written =>
        {
            Assert.True(MtaStsPolicy.TryParse(written.Text, out var policy, out string? error), $"{error}\n{written.Text}");
            Assert.Equal(written.Mode, policy!.Mode);
            Assert.Equal(written.Mx.Select(m => m.ToLowerInvariant()).Order(StringComparer.Ordinal), policy.MxPatterns.Order(StringComparer.Ordinal));
            Assert.Equal(TimeSpan.FromSeconds(Math.Min(written.MaxAge, MtaStsPolicy.MaxAgeLimitSeconds)), policy.MaxAge);
        });
    }

    [Fact]
    public void Any_text_parses_or_is_refused_with_a_reason_and_an_accepted_policy_keeps_the_rules()
    {
        var anyText = Gen.OneOf(
            Gen.String,
            Gen.String[Gen.Char["versionmdax_gfc:STSv1 \r\n\t*.-enforcetsg0123456789"], 0, 200],
            Gen.Select(Policy, Gen.Int[0, 400], Gen.Char, (w, at, c) => w.Text.Length == 0 ? w.Text : w.Text.Insert(at % w.Text.Length, c.ToString())));
        anyText.Sample(text =>
        {
            if (MtaStsPolicy.TryParse(text, out var policy, out string? error))
            {
                Assert.Null(error);
                Assert.True(policy!.Mode == MtaStsMode.None || policy.MxPatterns.Count > 0);
                Assert.InRange(policy.MaxAge.TotalSeconds, 0, MtaStsPolicy.MaxAgeLimitSeconds);
                Assert.All(policy.MxPatterns, m => Assert.Equal(m.ToLowerInvariant(), m));
            }
            else
            {
                Assert.Null(policy);
                Assert.False(string.IsNullOrEmpty(error));
            }
        });
    }

    [Fact]
    public void A_wildcard_stands_for_exactly_one_label_and_an_exact_pattern_for_its_host_only()
    {
        Gen.Select(Domain, Label, Label, Gen.Bool).Sample((domain, one, two, trailingDot) =>
        {
            string dot = trailingDot ? "." : "";
            var wildcard = new MtaStsPolicy(MtaStsMode.Enforce, ["*." + domain], TimeSpan.FromDays(1));
            Assert.True(wildcard.Matches($"{one}.{domain}{dot}"));
            Assert.True(wildcard.Matches($"{one.ToUpperInvariant()}.{domain.ToUpperInvariant()}{dot}"));
            Assert.False(wildcard.Matches(domain + dot));
            Assert.False(wildcard.Matches($"{two}.{one}.{domain}{dot}"));
            Assert.False(wildcard.Matches($"{one}.x{domain}{dot}"));

            var exact = new MtaStsPolicy(MtaStsMode.Enforce, [domain], TimeSpan.FromDays(1));
            Assert.True(exact.Matches(domain.ToUpperInvariant() + dot));
            Assert.False(exact.Matches($"{one}.{domain}"));
        });
    }

    [Fact]
    public void A_txt_record_yields_its_id_in_any_field_order_and_nothing_else_throws()
    {
        var id = Gen.String[Gen.Char.AlphaNumeric, 1, 32];
        Gen.Select(id, Extension.Select(e => e.Replace(":", "=", StringComparison.Ordinal).Replace(";", "", StringComparison.Ordinal)).Array[0, 2], Space, Gen.Bool)
            .Sample((policyId, extensions, space, trailing) =>
            {
                string record = "v=STSv1" + string.Concat(extensions.Where(e => !e.StartsWith("id", StringComparison.Ordinal)).Select(e => $"{space};{space}{e}"))
                    + $"{space};{space}id={policyId}" + (trailing ? ";" : "");
                Assert.True(MtaStsPolicy.TryParseTxtRecord(record, out string? parsed), record);
                Assert.Equal(policyId, parsed);
            });
        Gen.String.Sample(text =>
        {
            if (MtaStsPolicy.TryParseTxtRecord(text, out string? parsed))
            {
                Assert.Matches("^[A-Za-z0-9]{1,32}$", parsed!);
            }
        });
    }
}
