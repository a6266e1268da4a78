using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Letterlock.Dns;

/// <summary>
/// A resolver answering from a map held in memory: for tests and the sandbox, where there is no network.
/// Names with no records of any type answer <see cref="DnsStatus.NameNotFound"/>; names with records of
/// other types answer <see cref="DnsStatus.NoData"/>; names marked with <see cref="AddFailure"/> answer
/// <see cref="DnsStatus.TemporaryFailure"/>. Thread-safe; records may be added while in use.
/// </summary>
public sealed class StaticDnsResolver : IDnsResolver
{
    private readonly ConcurrentDictionary<string, Zone> _names = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Adds an MX record.</summary>
    public StaticDnsResolver AddMx(string name, int preference, string exchange, bool dnssecValidated = false)
    {
        var zone = ZoneOf(name);
        lock (zone)
        {
            zone.Mx.Add(new MxRecord(preference, Normalize(exchange)));
            zone.MxValidated = dnssecValidated;
        }

        return this;
    }

    /// <summary>Adds a TXT record (the concatenated text).</summary>
    public StaticDnsResolver AddTxt(string name, string text, bool dnssecValidated = false)
    {
        var zone = ZoneOf(name);
        lock (zone)
        {
            zone.Txt.Add(text);
            zone.TxtValidated = dnssecValidated;
        }

        return this;
    }

    /// <summary>Adds an A or AAAA record, by the address family of <paramref name="address"/>.</summary>
    public StaticDnsResolver AddAddress(string name, IPAddress address, bool dnssecValidated = false)
    {
        ArgumentNullException.ThrowIfNull(address);
        var zone = ZoneOf(name);
        lock (zone)
        {
            zone.Addresses.Add(address);
            zone.AddressesValidated = dnssecValidated;
        }

        return this;
    }

    /// <summary>Adds a TLSA record.</summary>
    public StaticDnsResolver AddTlsa(string name, TlsaRecord record, bool dnssecValidated)
    {
        var zone = ZoneOf(name);
        lock (zone)
        {
            zone.Tlsa.Add(record);
            zone.TlsaValidated = dnssecValidated;
        }

        return this;
    }

    /// <summary>Adds an SRV record.</summary>
    public StaticDnsResolver AddSrv(string name, SrvRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var zone = ZoneOf(name);
        lock (zone)
        {
            zone.Srv.Add(record with { Target = record.Target.TrimEnd('.') });
        }

        return this;
    }

    /// <summary>Adds a PTR record for <paramref name="address"/> (its reverse name, e.g. <c>1.0.0.127.in-addr.arpa</c>).</summary>
    public StaticDnsResolver AddPtr(IPAddress address, string hostName)
    {
        ArgumentNullException.ThrowIfNull(address);
        var zone = ZoneOf(ReverseName(address));
        lock (zone)
        {
            zone.Ptr.Add(Normalize(hostName));
        }

        return this;
    }

    /// <summary>The reverse-lookup name of an address (RFC 1035, 3.5; RFC 3596, 2.5).</summary>
    public static string ReverseName(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        byte[] bytes = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return string.Join('.', bytes.Reverse().Select(b => b.ToString(System.Globalization.CultureInfo.InvariantCulture))) + ".in-addr.arpa";
        }

        string hex = Convert.ToHexStringLower(bytes);
        return string.Join('.', hex.Reverse()) + ".ip6.arpa";
    }

    /// <summary>Makes every lookup of <paramref name="name"/> fail temporarily (a SERVFAIL or timeout).</summary>
    public StaticDnsResolver AddFailure(string name)
    {
        ZoneOf(name).Fails = true;
        return this;
    }

    /// <summary>
    /// Reads a map in a small zone-file-like text format, one record per line: <c>name TYPE value</c>, where
    /// TYPE is A, AAAA, MX (<c>preference exchange</c>), TXT (the rest of the line, unquoted), TLSA (<c>usage selector
    /// matching hex</c>, DNSSEC-validated), SRV (<c>priority weight port target</c>) or PTR (the name is the address,
    /// e.g. <c>192.0.2.1 PTR mx.example.org</c>); <c>#</c> starts a comment.
    /// </summary>
    /// <exception cref="FormatException">A line is malformed; the message gives its number.</exception>
    public static StaticDnsResolver Parse(string text) => new StaticDnsResolver().AddRecords(text);

    /// <summary>Adds the records of a map in the format of <see cref="Parse"/> to this one.</summary>
    /// <exception cref="FormatException">A line is malformed; the message gives its number.</exception>
    public StaticDnsResolver AddRecords(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var resolver = this;
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            string[] parts = line.Split((char[])[' ', '\t'], 3, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3)
            {
                throw new FormatException($"line {i + 1}: expected 'name TYPE value'");
            }

            string value = parts[2].Trim();
            switch (parts[1].ToUpperInvariant())
            {
                case "A":
                case "AAAA":
                    if (!IPAddress.TryParse(value, out var address))
                    {
                        throw new FormatException($"line {i + 1}: '{value}' is not an IP address");
                    }

                    resolver.AddAddress(parts[0], address);
                    break;
                case "MX":
                    string[] mx = value.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
                    if (mx.Length != 2 || !int.TryParse(mx[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int preference))
                    {
                        throw new FormatException($"line {i + 1}: MX needs 'preference exchange'");
                    }

                    resolver.AddMx(parts[0], preference, mx[1]);
                    break;
                case "TXT":
                    resolver.AddTxt(parts[0], value.Length >= 2 && value[0] == '"' && value[^1] == '"' ? value[1..^1] : value);
                    break;
                case "TLSA":
                    string[] tlsa = value.Split(' ', 4, StringSplitOptions.RemoveEmptyEntries);
                    if (tlsa.Length != 4 || !byte.TryParse(tlsa[0], System.Globalization.CultureInfo.InvariantCulture, out byte usage) ||
                        !byte.TryParse(tlsa[1], System.Globalization.CultureInfo.InvariantCulture, out byte selector) ||
                        !byte.TryParse(tlsa[2], System.Globalization.CultureInfo.InvariantCulture, out byte matching))
                    {
                        throw new FormatException($"line {i + 1}: TLSA needs 'usage selector matching-type hex'");
                    }

                    try
                    {
                        resolver.AddTlsa(parts[0], new TlsaRecord(usage, selector, matching, Convert.FromHexString(tlsa[3].Replace(" ", "", StringComparison.Ordinal))), dnssecValidated: true);
                    }
                    catch (FormatException)
                    {
                        throw new FormatException($"line {i + 1}: TLSA data is not hex");
                    }

                    break;
                case "SRV":
                    string[] srv = value.Split(' ', 4, StringSplitOptions.RemoveEmptyEntries);
                    if (srv.Length != 4 || !int.TryParse(srv[0], System.Globalization.CultureInfo.InvariantCulture, out int priority) ||
                        !int.TryParse(srv[1], System.Globalization.CultureInfo.InvariantCulture, out int weight) ||
                        !int.TryParse(srv[2], System.Globalization.CultureInfo.InvariantCulture, out int port))
                    {
                        throw new FormatException($"line {i + 1}: SRV needs 'priority weight port target'");
                    }

                    resolver.AddSrv(parts[0], new SrvRecord(priority, weight, port, srv[3]));
                    break;
                case "PTR":
                    if (!IPAddress.TryParse(parts[0], out var reverse))
                    {
                        throw new FormatException($"line {i + 1}: PTR takes the address as its name, e.g. '192.0.2.1 PTR mx.example.org'");
                    }

                    resolver.AddPtr(reverse, value);
                    break;
                default:
                    throw new FormatException($"line {i + 1}: unknown record type '{parts[1]}'");
            }
        }

        return resolver;
    }

    /// <inheritdoc />
    public Task<DnsAnswer<SrvRecord>> ResolveSrvAsync(string name, CancellationToken ct) =>
        Task.FromResult(Answer(name, z => z.Srv.OrderBy(r => r.Priority).ToList(), _ => false));

    /// <inheritdoc />
    public Task<DnsAnswer<string>> ResolvePtrAsync(IPAddress address, CancellationToken ct) =>
        Task.FromResult(Answer(ReverseName(address), z => z.Ptr.ToList(), _ => false));

    /// <summary>Removes every record of <paramref name="name"/> (it then answers NXDOMAIN), e.g. to change a record in place.</summary>
    public StaticDnsResolver Remove(string name)
    {
        _names.TryRemove(Normalize(name), out _);
        return this;
    }

    /// <inheritdoc />
    public Task<DnsAnswer<MxRecord>> ResolveMxAsync(string name, CancellationToken ct) =>
        Task.FromResult(Answer(name, z => z.Mx.OrderBy(m => m.Preference).ToList(), z => z.MxValidated));

    /// <inheritdoc />
    public Task<DnsAnswer<string>> ResolveTxtAsync(string name, CancellationToken ct) =>
        Task.FromResult(Answer(name, z => z.Txt.ToList(), z => z.TxtValidated));

    /// <inheritdoc />
    public Task<DnsAnswer<IPAddress>> ResolveAddressesAsync(string name, AddressFamily family, CancellationToken ct) =>
        Task.FromResult(Answer(name, z => z.Addresses.Where(a => a.AddressFamily == family).ToList(), z => z.AddressesValidated));

    /// <inheritdoc />
    public Task<DnsAnswer<TlsaRecord>> ResolveTlsaAsync(string name, CancellationToken ct) =>
        Task.FromResult(Answer(name, z => z.Tlsa.ToList(), z => z.TlsaValidated));

    private DnsAnswer<T> Answer<T>(string name, Func<Zone, List<T>> select, Func<Zone, bool> validated)
    {
        if (!_names.TryGetValue(Normalize(name), out var zone))
        {
            return DnsAnswer<T>.Empty(DnsStatus.NameNotFound);
        }

        lock (zone)
        {
            return zone.Fails ? DnsAnswer<T>.Empty(DnsStatus.TemporaryFailure) : DnsAnswer<T>.Found(select(zone), validated(zone));
        }
    }

    private Zone ZoneOf(string name) => _names.GetOrAdd(Normalize(name), _ => new Zone());

    private static string Normalize(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return name.TrimEnd('.');
    }

    private sealed class Zone
    {
        public List<MxRecord> Mx { get; } = [];

        public List<string> Txt { get; } = [];

        public List<IPAddress> Addresses { get; } = [];

        public List<TlsaRecord> Tlsa { get; } = [];

        public List<SrvRecord> Srv { get; } = [];

        public List<string> Ptr { get; } = [];

        public bool MxValidated { get; set; }

        public bool TxtValidated { get; set; }

        public bool AddressesValidated { get; set; }

        public bool TlsaValidated { get; set; }

        public bool Fails { get; set; }
    }
}
