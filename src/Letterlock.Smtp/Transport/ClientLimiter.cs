using System.Net;

namespace Letterlock.Smtp.Transport;

/// <summary>
/// Counts connections per client IP address (simultaneous, and new ones per minute with a token
/// bucket) and in total. The listener asks this before a session starts, so a refused client costs no session.
/// </summary>
internal sealed class ClientLimiter(SmtpFrontEndOptions options, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, Entry> _clients = [];
    private int _total;

    public enum Verdict
    {
        Allowed,
        TooManyConnections,
        TooManyFromClient,
        RateExceeded,
    }

    public Verdict TryEnter(IPAddress client)
    {
        client = client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client;
        long now = time.GetTimestamp();
        lock (_lock)
        {
            if (!_clients.TryGetValue(client, out var entry))
            {
                if (_clients.Count > 10_000)
                {
                    Prune(now);
                }

                entry = new Entry { Tokens = options.MaxConnectionRatePerClient, LastRefill = now };
                _clients[client] = entry;
            }

            Refill(entry, now);
            if (_total >= options.MaxConnections)
            {
                return Verdict.TooManyConnections;
            }

            if (entry.Active >= options.MaxConnectionsPerClient)
            {
                return Verdict.TooManyFromClient;
            }

            if (entry.Tokens < 1)
            {
                return Verdict.RateExceeded;
            }

            entry.Tokens -= 1;
            entry.Active++;
            _total++;
            return Verdict.Allowed;
        }
    }

    public void Leave(IPAddress client)
    {
        client = client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client;
        lock (_lock)
        {
            if (_clients.TryGetValue(client, out var entry) && entry.Active > 0)
            {
                entry.Active--;
                _total--;
            }
        }
    }

    private void Refill(Entry entry, long now)
    {
        double minutes = time.GetElapsedTime(entry.LastRefill, now).TotalMinutes;
        entry.Tokens = Math.Min(options.MaxConnectionRatePerClient, entry.Tokens + (minutes * options.MaxConnectionRatePerClient));
        entry.LastRefill = now;
    }

    private void Prune(long now)
    {
        foreach (var (address, entry) in _clients.ToList())
        {
            Refill(entry, now);
            if (entry.Active == 0 && entry.Tokens >= options.MaxConnectionRatePerClient)
            {
                _clients.Remove(address);
            }
        }
    }

    private sealed class Entry
    {
        public int Active;
        public double Tokens;
        public long LastRefill;
    }
}
