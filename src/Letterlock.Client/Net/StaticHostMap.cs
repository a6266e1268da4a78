using System.Collections.Concurrent;
using System.Net;

namespace Letterlock.Client.Net;

/// <summary>
/// Host names answered without DNS: the sandbox and the tests map <c>alpha.test</c> and
/// <c>beta.test</c> (and their <c>openpgpkey.</c> subdomains) to listeners on 127.0.0.1, with the
/// port each listener got. With <see cref="AllowSystemDns"/> off, any other name fails to connect,
/// so nothing leaves the machine.
/// </summary>
public sealed class StaticHostMap
{
    private readonly ConcurrentDictionary<string, (IPAddress Address, int? Port)> _entries = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether names not in the map are resolved through the system resolver (default true).</summary>
    public bool AllowSystemDns { get; init; } = true;

    /// <summary>Maps <paramref name="host"/> to an address, keeping the port of the URL.</summary>
    public StaticHostMap Add(string host, IPAddress address)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        _entries[host.TrimEnd('.')] = (address, null);
        return this;
    }

    /// <summary>Maps <paramref name="host"/> to an endpoint: connections to any port of it go there.</summary>
    public StaticHostMap Add(string host, IPEndPoint endpoint)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentNullException.ThrowIfNull(endpoint);
        _entries[host.TrimEnd('.')] = (endpoint.Address, endpoint.Port);
        return this;
    }

    /// <summary>The endpoint to connect to for <paramref name="host"/>:<paramref name="port"/>, or null when unmapped.</summary>
    public IPEndPoint? Resolve(string host, int port) =>
        _entries.TryGetValue(host.TrimEnd('.'), out var entry) ? new IPEndPoint(entry.Address, entry.Port ?? port) : null;
}
