using System.Globalization;
using Letterlock.Dns;

namespace Letterlock.Sandbox;

/// <summary>
/// Extra DNS records for the sandbox (<c>letterlock sandbox --dns-records FILE</c>), so a third domain served by a real
/// peer (Postfix, Exim, a test's listener) can be reached beside alpha.test and beta.test. The format is the provider's
/// static DNS map (docs/FORMATS.md, "Static DNS map") plus one line type of the sandbox's own:
/// <code>
/// line   = name SP type SP value / "#" comment / empty
/// type   = "A" / "AAAA" / "MX" / "TXT" / "PORT"
/// PORT   = host SP 1*5DIGIT      ; the SMTP port the relays use for this MX host instead of 25
/// </code>
/// </summary>
public sealed class SandboxDnsRecords
{
    private SandboxDnsRecords(string dnsText, IReadOnlyDictionary<string, int> ports)
    {
        DnsText = dnsText;
        Ports = ports;
    }

    /// <summary>The DNS lines (PORT lines blanked, so line numbers in errors stay the file's).</summary>
    public string DnsText { get; }

    /// <summary>Host name (lower case) to SMTP port.</summary>
    public IReadOnlyDictionary<string, int> Ports { get; }

    /// <summary>
    /// Parses and checks the records: the DNS lines must parse, and no record may be for the sandbox's own domains
    /// (<paramref name="ownDomains"/> and names under them), whose records the sandbox keeps to itself.
    /// </summary>
    /// <exception cref="FormatException">A line is wrong; the message gives its number and why.</exception>
    public static SandboxDnsRecords Parse(string text, IEnumerable<string> ownDomains)
    {
        ArgumentNullException.ThrowIfNull(text);
        var own = ownDomains.ToList();
        var ports = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            string[] parts = line.Split((char[])[' ', '\t'], 3, StringSplitOptions.RemoveEmptyEntries);
            string name = parts[0].TrimEnd('.').ToLowerInvariant();
            if (own.Any(d => name == d || name.EndsWith("." + d, StringComparison.Ordinal)))
            {
                throw new FormatException($"line {i + 1}: '{parts[0]}' belongs to the sandbox's own domains ({string.Join(", ", own)}), whose records are fixed");
            }

            if (parts.Length == 3 && parts[1].Equals("PORT", StringComparison.OrdinalIgnoreCase))
            {
                if (!int.TryParse(parts[2].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
                {
                    throw new FormatException($"line {i + 1}: PORT needs a port number from 1 to 65535");
                }

                ports[name] = port;
                lines[i] = string.Empty;
            }
        }

        string dnsText = string.Join('\n', lines);
        StaticDnsResolver.Parse(dnsText); // every DNS line is checked before anything starts
        return new SandboxDnsRecords(dnsText, ports);
    }
}
