using System.Net;
using System.Numerics;
using CsCheck;
using Letterlock.Dns;
using Letterlock.Provider.Mx;

namespace Letterlock.Provider.Tests;

/// <summary>
/// Properties of SPF <c>check_host()</c> (RFC 7208) against an oracle written from the RFC's rules: the first
/// ip4/ip6 mechanism whose network holds the client decides with its qualifier (4.6.2, 5.6), else <c>all</c>, else
/// neutral (4.7); <c>include</c> matches on the included policy's pass only (5.2); more than 10 DNS-querying terms
/// is a permerror (4.6.4); and no record text, however malformed, makes the evaluator throw.
/// </summary>
public sealed class SpfPropertyTests
{
    private sealed record Mechanism(char Qualifier, byte[] Network, int Prefix)
    {
        public string Text => (Qualifier == '+' && Network.Length == 4 ? "" : Qualifier.ToString())
            + (Network.Length == 4 ? "ip4:" : "ip6:") + new IPAddress(Network) + "/" + Prefix;

        public bool Holds(IPAddress client)
        {
            byte[] address = client.GetAddressBytes();
            if (address.Length != Network.Length)
            {
                return false;
            }

            var a = new BigInteger(address, isUnsigned: true, isBigEndian: true);
            var n = new BigInteger(Network, isUnsigned: true, isBigEndian: true);
            int bits = address.Length * 8;
            return (a >> (bits - Prefix)) == (n >> (bits - Prefix)) || Prefix == 0;
        }
    }

    private static readonly Gen<char> Qualifier = Gen.Char["+-~?"];

    private static SpfResult ResultOf(char qualifier) => qualifier switch
    {
        '+' => SpfResult.Pass,
        '-' => SpfResult.Fail,
        '~' => SpfResult.SoftFail,
        _ => SpfResult.Neutral,
    };

    /// <summary>A network near the client often enough that both matches and misses occur.</summary>
    private static Gen<Mechanism> MechanismNear(byte[] client) =>
        Gen.Select(Qualifier, Gen.Int[0, client.Length * 8], Gen.Byte.Array[client.Length], Gen.Int[0, 3],
            (qualifier, prefix, random, how) => new Mechanism(qualifier,
                how == 0 ? random : client.Select((b, i) => i == client.Length - 1 - how % client.Length ? (byte)(b ^ random[i]) : b).ToArray(), prefix));

    private static Task<SpfResult> CheckAsync(StaticDnsResolver dns, IPAddress client, string domain) =>
        new SpfEvaluator(dns).CheckHostAsync(client, domain, "someone@" + domain, CancellationToken.None);

    [Fact]
    public void The_first_network_holding_the_client_decides_else_all_else_neutral_for_ip4_and_ip6()
    {
        Gen.Select(Gen.Bool, Gen.Byte.Array[16])
            .SelectMany(p =>
            {
                byte[] client = p.Item1 ? p.Item2[..4] : p.Item2;
                return Gen.Select(MechanismNear(client).Array[0, 6], Gen.Bool, Qualifier, (mechanisms, withAll, all) => (client, mechanisms, withAll, all));
            })
            .SampleAsync(async sample =>
            {
                var (clientBytes, mechanisms, withAll, all) = sample;
                var client = new IPAddress(clientBytes);
                string record = "v=spf1 " + string.Join(' ', mechanisms.Select(m => m.Text)) + (withAll ? $" {all}all" : "");
                var expected = mechanisms.FirstOrDefault(m => m.Holds(client)) is { } first ? ResultOf(first.Qualifier)
                    : withAll ? ResultOf(all) : SpfResult.Neutral;
                var dns = new StaticDnsResolver().AddTxt("example.test", record);
                Assert.True(expected == await CheckAsync(dns, client, "example.test"), $"{record} for {client}: expected {expected}");
            });
    }

    [Fact]
    public void An_include_matches_on_the_included_pass_only_and_its_qualifier_decides()
    {
        Gen.Select(Qualifier, Gen.Enum<SpfResult>().Where(r => r is SpfResult.Pass or SpfResult.Fail or SpfResult.SoftFail or SpfResult.Neutral), Qualifier)
            .SampleAsync(async sample =>
            {
                var (includeQualifier, included, all) = sample;
                var client = IPAddress.Parse("192.0.2.10");
                string inner = included switch
                {
                    SpfResult.Pass => "v=spf1 ip4:192.0.2.0/24 -all",
                    SpfResult.Fail => "v=spf1 -all",
                    SpfResult.SoftFail => "v=spf1 ~all",
                    _ => "v=spf1 ?all",
                };
                var dns = new StaticDnsResolver().AddTxt("inner.test", inner).AddTxt("outer.test", $"v=spf1 {includeQualifier}include:inner.test {all}all");
                var expected = included == SpfResult.Pass ? ResultOf(includeQualifier) : ResultOf(all);
                Assert.Equal(expected, await CheckAsync(dns, client, "outer.test"));
            });
    }

    [Fact]
    public void Ten_dns_querying_terms_are_evaluated_and_the_eleventh_is_a_permerror_however_they_nest()
    {
        // A chain of includes, each with some `a` terms that miss, ending in a policy that passes.
        Gen.Int[1, 5].Array[1, 6].SampleAsync(async widths =>
        {
            var dns = new StaticDnsResolver();
            int terms = 0;
            for (int level = 0; level < widths.Length; level++)
            {
                var misses = Enumerable.Range(0, widths[level]).Select(i => $"a:miss{level}-{i}.test").ToList();
                foreach (var miss in misses)
                {
                    dns.AddAddress(miss[2..], IPAddress.Parse("198.51.100.1"));
                }

                terms += widths[level] + (level + 1 < widths.Length ? 1 : 0);
                string next = level + 1 < widths.Length ? $" include:level{level + 1}.test" : " ip4:192.0.2.10";
                dns.AddTxt($"level{level}.test", "v=spf1 " + string.Join(' ', misses) + next + " -all");
            }

            var result = await CheckAsync(dns, IPAddress.Parse("192.0.2.10"), "level0.test");
            Assert.Equal(terms <= 10 ? SpfResult.Pass : SpfResult.PermError, result);
        });
    }

    [Fact]
    public void No_record_text_makes_the_evaluator_throw()
    {
        var termish = Gen.OneOf(
            Gen.String,
            Gen.String[Gen.Char["v=spf1 ip46:./-~?+allincludemxaexistsredirect%{}ldoi0123456789"], 0, 120].Select(t => "v=spf1 " + t));
        Gen.Select(termish, termish).SampleAsync(async records =>
        {
            var dns = new StaticDnsResolver().AddTxt("x.test", records.Item1).AddTxt("y.test", records.Item2).AddTxt("z.test", "v=spf1 include:y.test redirect=x.test");
            foreach (var domain in new[] { "x.test", "z.test" })
            {
                var result = await CheckAsync(dns, IPAddress.Parse("192.0.2.10"), domain);
                Assert.True(Enum.IsDefined(result));
            }
        }, iter: 300);
    }
}
