using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Letterlock.Provider.Configuration;

namespace Letterlock.Provider.Api;

/// <summary>
/// Per-client limits on the API calls anyone can make without an account: sign-ups (each creates an account
/// when sign-up is open) and login challenges (each writes a row until it expires). Authenticated calls are
/// bound to an account, which quotas and the admin's disable switch already govern. A client is its IPv4
/// address, or its IPv6 /64 (one subscriber's prefix), so rotating addresses within it does not help.
/// </summary>
internal sealed class ClientRateLimits : IDisposable
{
    private readonly PartitionedRateLimiter<IPAddress> _signUps;
    private readonly PartitionedRateLimiter<IPAddress> _challenges;
    private readonly PartitionedRateLimiter<IPAddress> _links;

    public ClientRateLimits(ApiSettings settings, LinkSettings? link = null)
    {
        _signUps = PerClient(settings.SignUpsPerHourPerClient, TimeSpan.FromHours(1));
        _challenges = PerClient(settings.ChallengesPerMinutePerClient, TimeSpan.FromMinutes(1));
        _links = PerClient((link ?? new LinkSettings()).AttemptsPerHourPerClient, TimeSpan.FromHours(1));
    }

    public enum Kind
    {
        SignUp,
        Challenge,
        Link,
    }

    /// <summary>Takes one permit for <paramref name="client"/>; when none is left, how long until the window opens again.</summary>
    public bool TryAcquire(Kind kind, IPAddress? client, out TimeSpan retryAfter)
    {
        var limiter = kind switch
        {
            Kind.SignUp => _signUps,
            Kind.Link => _links,
            _ => _challenges,
        };
        using var lease = limiter.AttemptAcquire(ClientOf(client));
        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.Zero;
        return lease.IsAcquired;
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

    public void Dispose()
    {
        _signUps.Dispose();
        _challenges.Dispose();
        _links.Dispose();
    }

    private static PartitionedRateLimiter<IPAddress> PerClient(int permits, TimeSpan window) =>
        PartitionedRateLimiter.Create<IPAddress, IPAddress>(client => RateLimitPartition.GetFixedWindowLimiter(client, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = permits,
            Window = window,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
}
