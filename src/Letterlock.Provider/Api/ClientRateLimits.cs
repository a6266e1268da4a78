using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Api;

/// <summary>
/// Per-client limits on the API calls anyone can make without an account: sign-ups (each creates an account
/// when sign-up is open), login challenges (each writes a row until it expires) and device-link attempts.
/// Authenticated calls are bound to an account, which quotas and the admin's disable switch already govern. A
/// client is its IPv4 address, or its IPv6 /64 (one subscriber's prefix), so rotating addresses within it does
/// not help. The counts are in the database (<see cref="FixedWindowLimits"/>), so a cluster's nodes share them:
/// spreading attempts over nodes behind a load balancer does not multiply the limit.
/// </summary>
internal sealed class ClientRateLimits(IProviderStore store, ApiSettings settings, LinkSettings? link, TimeProvider time)
{
    private readonly FixedWindowLimits _limits = new(store, time);
    private readonly LinkSettings _link = link ?? new LinkSettings();

    public enum Kind
    {
        SignUp,
        Challenge,
        Link,
    }

    /// <summary>Takes one permit for <paramref name="client"/>; when none is left, how long until the window opens again.</summary>
    public Task<(bool Acquired, TimeSpan RetryAfter)> TryAcquireAsync(Kind kind, IPAddress? client, CancellationToken ct)
    {
        var (name, permits, window) = kind switch
        {
            Kind.SignUp => ("sign-up", settings.SignUpsPerHourPerClient, TimeSpan.FromHours(1)),
            Kind.Link => ("link", _link.AttemptsPerHourPerClient, TimeSpan.FromHours(1)),
            _ => ("challenge", settings.ChallengesPerMinutePerClient, TimeSpan.FromMinutes(1)),
        };
        return _limits.TryAcquireAsync(name, ClientOf(client).ToString(), permits, window, ct);
    }

    /// <summary>The client an address belongs to: IPv4 (also IPv4-mapped) as is, IPv6 by its /64.</summary>
    internal static IPAddress ClientOf(IPAddress? address)
    {
        if (address is null)
        {
            return IPAddress.None;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        byte[] bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes);
    }
}

/// <summary>
/// Fixed-window limits counted in the provider's database: a key's window begins with its first attempt and
/// lasts the limit's period; one atomic upsert per attempt (<see cref="IProviderStore.CountAttemptAsync"/>).
/// </summary>
internal sealed class FixedWindowLimits(IProviderStore store, TimeProvider time)
{
    /// <summary>Counts an attempt; refused beyond <paramref name="permits"/> in the window, with the time until it ends.</summary>
    public async Task<(bool Acquired, TimeSpan RetryAfter)> TryAcquireAsync(string kind, string key, int permits, TimeSpan window, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var (attempts, start) = await store.CountAttemptAsync(kind, key, now, window, ct).ConfigureAwait(false);
        return attempts <= permits ? (true, TimeSpan.Zero) : (false, start + window - now);
    }

    /// <summary>The key of an account's own limit.</summary>
    public static string AccountKey(Guid account) => "account:" + account.ToString("N", CultureInfo.InvariantCulture);
}
