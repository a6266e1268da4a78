using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Letterlock.Dns;

namespace Letterlock.Provider.Mx;

/// <summary>SPF results (RFC 7208, 2.6).</summary>
public enum SpfResult
{
    None,
    Neutral,
    Pass,
    Fail,
    SoftFail,
    TempError,
    PermError,
}

/// <summary>
/// SPF <c>check_host()</c> (RFC 7208, 4). Mechanisms: all, include, a, mx, ip4, ip6, exists (ptr is
/// treated as not matching, as section 5.5 advises against it); modifier redirect (exp is ignored:
/// we never send its text to anyone). Limits of section 4.6.4: at most 10 DNS-querying terms and 2
/// void lookups, else permerror; at most 10 MX names per mx mechanism.
/// </summary>
public sealed partial class SpfEvaluator(IDnsResolver dns)
{
    private const int MaxDnsTerms = 10;
    private const int MaxVoidLookups = 2;

    public async Task<SpfResult> CheckHostAsync(IPAddress client, string domain, string sender, CancellationToken ct)
    {
        if (client.IsIPv4MappedToIPv6)
        {
            client = client.MapToIPv4();
        }

        var state = new State(client, sender);
        try
        {
            return await CheckAsync(domain, state, ct).ConfigureAwait(false);
        }
        catch (SpfAbort abort)
        {
            return abort.Result;
        }
    }

    private sealed class State(IPAddress client, string sender)
    {
        public IPAddress Client { get; } = client;

        public string Sender { get; } = sender;

        public int DnsTerms { get; set; }

        public int VoidLookups { get; set; }

        public void CountTerm()
        {
            if (++DnsTerms > MaxDnsTerms)
            {
                throw new SpfAbort(SpfResult.PermError);
            }
        }

        public void CountVoid()
        {
            if (++VoidLookups > MaxVoidLookups)
            {
                throw new SpfAbort(SpfResult.PermError);
            }
        }
    }

    private sealed class SpfAbort(SpfResult result) : Exception
    {
        public SpfResult Result { get; } = result;
    }

    private async Task<SpfResult> CheckAsync(string domain, State state, CancellationToken ct)
    {
        if (!Configuration.ProviderSettingsLoader.IsDomain(domain))
        {
            return SpfResult.None;
        }

        var txt = await dns.ResolveTxtAsync(domain, ct).ConfigureAwait(false);
        if (txt.Status == DnsStatus.TemporaryFailure)
        {
            return SpfResult.TempError;
        }

        // record = "v=spf1" *( 1*SP ( directive / modifier ) ) (RFC 7208, 12); exactly one record, else permerror
        var records = txt.Records.Where(r => r.Equals("v=spf1", StringComparison.OrdinalIgnoreCase) || r.StartsWith("v=spf1 ", StringComparison.OrdinalIgnoreCase)).ToList();
        if (records.Count == 0)
        {
            return SpfResult.None;
        }

        if (records.Count > 1)
        {
            return SpfResult.PermError;
        }

        string[] terms = records[0].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..];
        if (!IsWellFormed(terms))
        {
            // "If there are any syntax errors anywhere in the record, check_host() returns immediately with the result
            // permerror, without further processing" (4.6).
            return SpfResult.PermError;
        }

        string? redirect = null;
        foreach (string term in terms)
        {
            int eq = term.IndexOf('=', StringComparison.Ordinal);
            int colon = term.IndexOf(':', StringComparison.Ordinal);
            if (eq > 0 && (colon < 0 || eq < colon))
            {
                string name = term[..eq].ToLowerInvariant();
                if (name == "redirect")
                {
                    if (redirect is not null)
                    {
                        return SpfResult.PermError;
                    }

                    redirect = term[(eq + 1)..];
                }

                continue;
            }

            char qualifier = term[0] is '+' or '-' or '~' or '?' ? term[0] : '+';
            string mechanism = term[0] is '+' or '-' or '~' or '?' ? term[1..] : term;
            var match = await MatchAsync(mechanism, domain, state, ct).ConfigureAwait(false);
            if (match is SpfResult.TempError or SpfResult.PermError)
            {
                return match.Value;
            }

            if (match == SpfResult.Pass)
            {
                return qualifier switch
                {
                    '-' => SpfResult.Fail,
                    '~' => SpfResult.SoftFail,
                    '?' => SpfResult.Neutral,
                    _ => SpfResult.Pass,
                };
            }
        }

        if (redirect is not null)
        {
            state.CountTerm();
            string target = Expand(redirect, domain, state);
            var result = await CheckAsync(target, state, ct).ConfigureAwait(false);
            return result == SpfResult.None ? SpfResult.PermError : result;
        }

        return SpfResult.Neutral;
    }

    /// <summary>Pass when the mechanism matches, null when not, TempError/PermError on errors.</summary>
    private async Task<SpfResult?> MatchAsync(string mechanism, string domain, State state, CancellationToken ct)
    {
        string name = mechanism;
        string? argument = null;
        int colon = mechanism.IndexOf(':', StringComparison.Ordinal);
        int slash = mechanism.IndexOf('/', StringComparison.Ordinal);
        if (colon > 0)
        {
            name = mechanism[..colon];
            argument = mechanism[(colon + 1)..];
        }
        else if (slash > 0)
        {
            name = mechanism[..slash];
            argument = null;
        }

        name = name.ToLowerInvariant();
        switch (name)
        {
            case "all":
                return SpfResult.Pass;
            case "ip4":
            case "ip6":
                return argument is not null && MatchesNetwork(state.Client, argument, name == "ip6") ? SpfResult.Pass : argument is null ? SpfResult.PermError : null;
            case "include":
            {
                if (argument is null)
                {
                    return SpfResult.PermError;
                }

                state.CountTerm();
                var result = await CheckAsync(Expand(argument, domain, state), state, ct).ConfigureAwait(false);
                return result switch
                {
                    SpfResult.Pass => SpfResult.Pass,
                    SpfResult.TempError => SpfResult.TempError,
                    SpfResult.PermError or SpfResult.None => SpfResult.PermError,
                    _ => null,
                };
            }

            case "a":
            case "mx":
            {
                state.CountTerm();
                var (target, v4, v6) = SplitCidr(mechanism, name.Length, domain, state);
                if (target is null)
                {
                    return SpfResult.PermError;
                }

                IEnumerable<string> hosts = [target];
                if (name == "mx")
                {
                    var mx = await dns.ResolveMxAsync(target, ct).ConfigureAwait(false);
                    if (mx.Status == DnsStatus.TemporaryFailure)
                    {
                        return SpfResult.TempError;
                    }

                    if (mx.Records.Count == 0)
                    {
                        state.CountVoid();
                    }

                    if (mx.Records.Count > 10)
                    {
                        return SpfResult.PermError;
                    }

                    hosts = mx.Records.Select(r => r.Exchange);
                }

                foreach (string host in hosts)
                {
                    var family = state.Client.AddressFamily;
                    var addresses = await dns.ResolveAddressesAsync(host, family, ct).ConfigureAwait(false);
                    if (addresses.Status == DnsStatus.TemporaryFailure)
                    {
                        return SpfResult.TempError;
                    }

                    if (addresses.Records.Count == 0 && name == "a")
                    {
                        state.CountVoid();
                    }

                    int prefix = family == AddressFamily.InterNetworkV6 ? v6 : v4;
                    if (addresses.Records.Any(a => InNetwork(state.Client, a, prefix)))
                    {
                        return SpfResult.Pass;
                    }
                }

                return null;
            }

            case "exists":
            {
                if (argument is null)
                {
                    return SpfResult.PermError;
                }

                state.CountTerm();
                var addresses = await dns.ResolveAddressesAsync(Expand(argument, domain, state), AddressFamily.InterNetwork, ct).ConfigureAwait(false);
                if (addresses.Status == DnsStatus.TemporaryFailure)
                {
                    return SpfResult.TempError;
                }

                if (addresses.Records.Count == 0)
                {
                    state.CountVoid();
                    return null;
                }

                return SpfResult.Pass;
            }

            case "ptr":
                state.CountTerm();
                return null;
            default:
                return SpfResult.PermError;
        }
    }

    /// <summary>
    /// Whether every term of a record follows the grammar of RFC 7208, section 12:
    /// <code>
    /// directive        = [ qualifier ] mechanism
    /// mechanism        = ( all / include / a / mx / ptr / ip4 / ip6 / exists )
    /// all              = "all"
    /// include          = "include"  ":" domain-spec
    /// a                = "a"      [ ":" domain-spec ] [ dual-cidr-length ]
    /// mx               = "mx"     [ ":" domain-spec ] [ dual-cidr-length ]
    /// ptr              = "ptr"    [ ":" domain-spec ]
    /// ip4              = "ip4"      ":" ip4-network   [ ip4-cidr-length ]
    /// ip6              = "ip6"      ":" ip6-network   [ ip6-cidr-length ]
    /// exists           = "exists"   ":" domain-spec
    /// modifier         = redirect / explanation / unknown-modifier
    /// redirect         = "redirect" "=" domain-spec
    /// explanation      = "exp" "=" domain-spec
    /// unknown-modifier = name "=" macro-string
    /// name             = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
    /// ip4-cidr-length  = "/" ("0" / %x31-39 0*1DIGIT) ; value range 0-32
    /// ip6-cidr-length  = "/" ("0" / %x31-39 0*2DIGIT) ; value range 0-128
    /// dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]
    /// domain-spec      = macro-string domain-end
    /// domain-end       = ( "." toplabel [ "." ] ) / macro-expand
    /// toplabel         = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
    /// </code>
    /// The modifiers <c>redirect</c> and <c>exp</c> may each appear once (6).
    /// </summary>
    private static bool IsWellFormed(string[] terms)
    {
        int redirects = 0;
        int explanations = 0;
        foreach (string term in terms)
        {
            var modifier = Modifier().Match(term);
            if (modifier.Success)
            {
                string name = modifier.Groups["name"].Value.ToLowerInvariant();
                string value = modifier.Groups["value"].Value;
                bool ok = name switch
                {
                    "redirect" => ++redirects == 1 && IsDomainSpec(value),
                    "exp" => ++explanations == 1 && IsDomainSpec(value),
                    _ => IsMacroString(value),
                };
                if (!ok)
                {
                    return false;
                }

                continue;
            }

            string directive = term[0] is '+' or '-' or '~' or '?' ? term[1..] : term;
            int nameEnd = 0;
            while (nameEnd < directive.Length && char.IsAsciiLetterOrDigit(directive[nameEnd]))
            {
                nameEnd++;
            }

            string mechanism = directive[..nameEnd].ToLowerInvariant();
            string rest = directive[nameEnd..];
            bool wellFormed = mechanism switch
            {
                "all" => rest.Length == 0,
                "include" or "exists" => rest.StartsWith(':') && IsDomainSpec(rest[1..]),
                "ptr" => rest.Length == 0 || (rest.StartsWith(':') && IsDomainSpec(rest[1..])),
                "a" or "mx" => IsOptionalDomainWithCidr(rest),
                "ip4" => Ip4Argument().Match(rest) is { Success: true } m4 && CidrInRange(m4.Groups["cidr"].Value, 32),
                "ip6" => Ip6Argument().Match(rest) is { Success: true } m6 && CidrInRange(m6.Groups["cidr"].Value, 128)
                    && IPAddress.TryParse(m6.Groups["network"].Value, out var network) && network.AddressFamily == AddressFamily.InterNetworkV6,
                _ => false,
            };
            if (!wellFormed)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsOptionalDomainWithCidr(string rest)
    {
        var match = DualCidrSuffix().Match(rest);
        string cidr4 = match.Groups["v4"].Value;
        string cidr6 = match.Groups["v6"].Value;
        if (!CidrInRange(cidr4, 32) || !CidrInRange(cidr6, 128))
        {
            return false;
        }

        string spec = rest[..match.Index];
        return spec.Length == 0 || (spec.StartsWith(':') && IsDomainSpec(spec[1..]));
    }

    private static bool CidrInRange(string cidr, int max) =>
        cidr.Length == 0 || int.Parse(cidr.AsSpan(cidr.LastIndexOf('/') + 1), System.Globalization.CultureInfo.InvariantCulture) <= max;

    private static bool IsDomainSpec(string spec)
    {
        if (!IsMacroString(spec) || spec.Length == 0)
        {
            return false;
        }

        // domain-end = ( "." toplabel [ "." ] ) / macro-expand
        if (spec.EndsWith('}') || spec.EndsWith("%%", StringComparison.Ordinal) || spec.EndsWith("%_", StringComparison.Ordinal)
            || spec.EndsWith("%-", StringComparison.Ordinal))
        {
            return true;
        }

        string end = spec.EndsWith('.') ? spec[..^1] : spec;
        int dot = end.LastIndexOf('.');
        return dot >= 0 && TopLabel().IsMatch(end[(dot + 1)..]);
    }

    /// <summary>macro-string = *( macro-expand / macro-literal ); macro-literal = %x21-24 / %x26-7E.</summary>
    private static bool IsMacroString(string text) => MacroString().IsMatch(text);

    [GeneratedRegex(@"\A(?<name>[A-Za-z][A-Za-z0-9\-_.]*)=(?<value>.*)\z", RegexOptions.Singleline)]
    private static partial Regex Modifier();

    [GeneratedRegex(@"\A(?:%\{[slodiphcrtvSLODIPHCRTV][0-9]*[rR]?[.\-+,/_=]*\}|%%|%_|%-|[\x21-\x24\x26-\x7E])*\z")]
    private static partial Regex MacroString();

    [GeneratedRegex(@"\A(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9])\z")]
    private static partial Regex TopLabel();

    [GeneratedRegex(@"(?<v4>/(?:0|[1-9][0-9]?))?(?<v6>//(?:0|[1-9][0-9]{0,2}))?\z")]
    private static partial Regex DualCidrSuffix();

    [GeneratedRegex(@"\A:(?<network>(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})(?<cidr>/(?:0|[1-9][0-9]?))?\z")]
    private static partial Regex Ip4Argument();

    [GeneratedRegex(@"\A:(?<network>[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(?<cidr>/(?:0|[1-9][0-9]{0,2}))?\z")]
    private static partial Regex Ip6Argument();

    private static (string? Target, int V4, int V6) SplitCidr(string mechanism, int nameLength, string domain, State state)
    {
        // a / mx [ ":" domain-spec ] [ dual-cidr-length ]  (RFC 7208, 5.3, 5.4)
        string rest = mechanism[nameLength..];
        int v4 = 32;
        int v6 = 128;
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        string cidr = slash >= 0 ? rest[slash..] : "";
        rest = slash >= 0 ? rest[..slash] : rest;
        if (cidr.Length > 0)
        {
            string[] parts = cidr.Split("//");
            if (parts[0].Length > 1 && !int.TryParse(parts[0].AsSpan(1), out v4))
            {
                return (null, 0, 0);
            }

            if (parts.Length > 1 && !int.TryParse(parts[1], out v6))
            {
                return (null, 0, 0);
            }

            if (v4 is < 0 or > 32 || v6 is < 0 or > 128)
            {
                return (null, 0, 0);
            }
        }

        string target = rest.StartsWith(':') ? Expand(rest[1..], domain, state) : domain;
        return (target, v4, v6);
    }

    private static bool MatchesNetwork(IPAddress client, string argument, bool v6)
    {
        string[] parts = argument.Split('/');
        if (!IPAddress.TryParse(parts[0], out var network) || (network.AddressFamily == AddressFamily.InterNetworkV6) != v6)
        {
            return false;
        }

        int prefix = v6 ? 128 : 32;
        if (parts.Length > 1 && (!int.TryParse(parts[1], out prefix) || prefix < 0 || prefix > (v6 ? 128 : 32)))
        {
            return false;
        }

        return InNetwork(client, network, prefix);
    }

    private static bool InNetwork(IPAddress client, IPAddress network, int prefix)
    {
        if (client.AddressFamily != network.AddressFamily)
        {
            return false;
        }

        byte[] a = client.GetAddressBytes();
        byte[] b = network.GetAddressBytes();
        int full = prefix / 8;
        for (int i = 0; i < full; i++)
        {
            if (a[i] != b[i])
            {
                return false;
            }
        }

        int bits = prefix % 8;
        if (bits == 0)
        {
            return true;
        }

        int mask = 0xFF << (8 - bits) & 0xFF;
        return (a[full] & mask) == (b[full] & mask);
    }

    /// <summary>
    /// Macro expansion (RFC 7208, 7): macro-expand = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-".
    /// </summary>
    private static string Expand(string spec, string domain, State state)
    {
        if (!spec.Contains('%', StringComparison.Ordinal))
        {
            return spec;
        }

        var output = new StringBuilder();
        for (int i = 0; i < spec.Length; i++)
        {
            char c = spec[i];
            if (c != '%')
            {
                output.Append(c);
                continue;
            }

            if (i + 1 >= spec.Length)
            {
                throw new SpfAbort(SpfResult.PermError);
            }

            char next = spec[++i];
            switch (next)
            {
                case '%':
                    output.Append('%');
                    continue;
                case '_':
                    output.Append(' ');
                    continue;
                case '-':
                    output.Append("%20");
                    continue;
                case '{':
                    break;
                default:
                    throw new SpfAbort(SpfResult.PermError);
            }

            int close = spec.IndexOf('}', i);
            if (close < 0 || close == i + 1)
            {
                throw new SpfAbort(SpfResult.PermError);
            }

            string body = spec[(i + 1)..close];
            i = close;
            char letter = char.ToLowerInvariant(body[0]);
            string sender = state.Sender;
            int at = sender.LastIndexOf('@');
            string value = letter switch
            {
                's' => sender,
                'l' => at > 0 ? sender[..at] : "postmaster",
                'o' => at >= 0 ? sender[(at + 1)..] : sender,
                'd' => domain,
                'i' => state.Client.AddressFamily == AddressFamily.InterNetworkV6
                    ? string.Join('.', Convert.ToHexStringLower(state.Client.GetAddressBytes()).ToCharArray())
                    : state.Client.ToString(),
                'h' => domain,
                'v' => state.Client.AddressFamily == AddressFamily.InterNetworkV6 ? "ip6" : "in-addr",
                'p' => "unknown",
                _ => throw new SpfAbort(SpfResult.PermError),
            };

            // transformers = [ *DIGIT ] [ "r" ]; delimiter = "." / "-" / "+" / "," / "/" / "_" / "="
            int pos = 1;
            int digitsStart = pos;
            while (pos < body.Length && char.IsAsciiDigit(body[pos]))
            {
                pos++;
            }

            int keep = pos > digitsStart ? int.Parse(body.AsSpan(digitsStart, pos - digitsStart), System.Globalization.CultureInfo.InvariantCulture) : 0;
            bool reverse = pos < body.Length && char.ToLowerInvariant(body[pos]) == 'r';
            if (reverse)
            {
                pos++;
            }

            string delimiters = body[pos..];
            if (delimiters.Any(d => !".-+,/_=".Contains(d, StringComparison.Ordinal)) || (pos > digitsStart && keep == 0 && body[digitsStart] == '0'))
            {
                throw new SpfAbort(SpfResult.PermError);
            }

            char[] split = delimiters.Length > 0 ? delimiters.ToCharArray() : ['.'];
            var parts = value.Split(split).ToList();
            if (reverse)
            {
                parts.Reverse();
            }

            if (keep > 0 && parts.Count > keep)
            {
                parts = parts.Skip(parts.Count - keep).ToList();
            }

            output.Append(string.Join('.', parts));
        }

        return output.ToString();
    }
}
