using System.Collections.Concurrent;
using System.Security.Authentication;
using System.Text;
using Letterlock.Dns;

namespace Letterlock.Relay.Tls;

/// <summary>Limits on MTA-STS discovery, which reads data from arbitrary remote servers.</summary>
public sealed class MtaStsOptions
{
    /// <summary>Largest policy body read; RFC 8461 (3.3) suggests 64 KiB. Larger ones are a fetch error.</summary>
    public int MaxPolicySize { get; set; } = 64 * 1024;

    /// <summary>How long one policy fetch (connect, TLS, headers and body) may take.</summary>
    public TimeSpan FetchTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Policies held in memory; beyond it expired and then the oldest entries are dropped.</summary>
    public int CacheCapacity { get; set; } = 10_000;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (MaxPolicySize < 1024)
        {
            throw new ArgumentException("MtaSts.MaxPolicySize must be at least 1024 bytes.", nameof(MaxPolicySize));
        }

        if (FetchTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("MtaSts.FetchTimeout must be positive.", nameof(FetchTimeout));
        }

        if (CacheCapacity <= 0)
        {
            throw new ArgumentException("MtaSts.CacheCapacity must be positive.", nameof(CacheCapacity));
        }
    }
}

/// <summary>The outcome of MTA-STS discovery for one domain.</summary>
/// <param name="Policy">The policy in force, or null when the domain has none (or none could be obtained).</param>
/// <param name="FailureResultType">When discovery failed: the TLS-RPT result type (<c>sts-policy-fetch-error</c>, ...).</param>
/// <param name="FailureDetail">When discovery failed: a short reason for the log.</param>
public sealed record MtaStsLookup(MtaStsPolicy? Policy, string? FailureResultType = null, string? FailureDetail = null)
{
    /// <summary>The policy's mode, <see cref="MtaStsMode.None"/> without a policy.</summary>
    public MtaStsMode Mode => Policy?.Mode ?? MtaStsMode.None;
}

/// <summary>
/// MTA-STS policy discovery and caching (RFC 8461, 3 and 5.1): the <c>_mta-sts</c> TXT record says whether a
/// policy exists and its id; the policy is fetched over HTTPS from <c>mta-sts.DOMAIN</c> with a valid
/// certificate, no redirects, a size and time limit, and cached for its <c>max_age</c>. A cached policy stays in
/// force while the TXT record is missing or the fetch fails, so an attacker who blocks DNS or HTTPS cannot
/// switch a known policy off; it is replaced when the TXT id changes and the new policy is fetched.
/// </summary>
public sealed class MtaStsResolver
{
    private readonly IDnsResolver _dns;
    private readonly HttpMessageInvoker _http;
    private readonly MtaStsOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, CachedPolicy> _cache = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, Lazy<Task<MtaStsLookup>>> _inflight = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Creates a resolver.</summary>
    /// <param name="dns">The resolver for the <c>_mta-sts</c> TXT record.</param>
    /// <param name="http">Sends the policy request; build it with <see cref="Routing.HostConnector.CreateHttpHandler"/> (no redirects, checked TLS).</param>
    /// <param name="options">Limits.</param>
    /// <param name="time">The clock for cache expiry.</param>
    public MtaStsResolver(IDnsResolver dns, HttpMessageInvoker http, MtaStsOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(dns);
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        _dns = dns;
        _http = http;
        _options = options;
        _time = time;
    }

    /// <summary>The policy in force for <paramref name="domain"/>. Concurrent calls for one domain share one discovery.</summary>
    /// <param name="domain">The recipient domain (ASCII, without trailing dot).</param>
    /// <param name="ct">Cancels the discovery.</param>
    public async Task<MtaStsLookup> GetPolicyAsync(string domain, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(domain);
        domain = domain.TrimEnd('.').ToLowerInvariant();
        var lazy = _inflight.GetOrAdd(domain, d => new Lazy<Task<MtaStsLookup>>(() => DiscoverAsync(d, CancellationToken.None)));
        try
        {
            return await lazy.Value.WaitAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            if (lazy.Value.IsCompleted)
            {
                _inflight.TryRemove(new KeyValuePair<string, Lazy<Task<MtaStsLookup>>>(domain, lazy));
            }
        }
    }

    private async Task<MtaStsLookup> DiscoverAsync(string domain, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var cached = _cache.TryGetValue(domain, out var entry) && entry.ExpiresAt > now ? entry : null;

        var txt = await _dns.ResolveTxtAsync("_mta-sts." + domain, ct).ConfigureAwait(false);
        string? id = null;
        if (txt.Status == DnsStatus.Ok)
        {
            // RFC 8461 3.1: records not starting with v=STSv1 are discarded; anything but exactly one left means no policy
            var candidates = txt.Records.Where(r => r.StartsWith("v=STSv1", StringComparison.Ordinal)).ToList();
            if (candidates.Count != 1 || !MtaStsPolicy.TryParseTxtRecord(candidates[0], out id))
            {
                id = null;
            }
        }

        if (id is null)
        {
            // no (usable) TXT record: a cached policy stays in force until it expires (RFC 8461, 5.1)
            return cached is not null ? new MtaStsLookup(cached.Policy) : new MtaStsLookup(null);
        }

        if (cached is not null && cached.Id == id)
        {
            return new MtaStsLookup(cached.Policy);
        }

        var (policy, failure, detail) = await FetchAsync(domain, ct).ConfigureAwait(false);
        if (policy is null)
        {
            // a failed refresh keeps the previous policy (RFC 8461, 5.1); a first fetch failure means no policy yet
            return new MtaStsLookup(cached?.Policy, failure, detail);
        }

        Store(domain, new CachedPolicy(policy, id, now + policy.MaxAge, now));
        return new MtaStsLookup(policy);
    }

    private async Task<(MtaStsPolicy? Policy, string? Failure, string? Detail)> FetchAsync(string domain, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.FetchTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"https://mta-sts.{domain}/.well-known/mta-sts.txt"));
        try
        {
            using var response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
            if ((int)response.StatusCode != 200)
            {
                // 3xx included: redirects MUST NOT be followed (RFC 8461, 3.3)
                return (null, TlsResultTypes.StsPolicyFetchError, $"HTTP status {(int)response.StatusCode}");
            }

            if (!string.Equals(response.Content.Headers.ContentType?.MediaType, "text/plain", StringComparison.OrdinalIgnoreCase))
            {
                return (null, TlsResultTypes.StsPolicyInvalid, "the policy is not served as text/plain");
            }

            if (response.Content.Headers.ContentLength > _options.MaxPolicySize)
            {
                return (null, TlsResultTypes.StsPolicyFetchError, "the policy is larger than the limit");
            }

            var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                byte[] buffer = new byte[_options.MaxPolicySize + 1];
                int length = 0;
                int read;
                while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), timeout.Token).ConfigureAwait(false)) > 0)
                {
                    length += read;
                }

                if (length > _options.MaxPolicySize)
                {
                    return (null, TlsResultTypes.StsPolicyFetchError, "the policy is larger than the limit");
                }

                string text;
                try
                {
                    text = new UTF8Encoding(false, true).GetString(buffer, 0, length);
                }
                catch (DecoderFallbackException)
                {
                    return (null, TlsResultTypes.StsPolicyInvalid, "the policy is not UTF-8 text");
                }

                return MtaStsPolicy.TryParse(text, out var policy, out string? error)
                    ? (policy, null, null)
                    : (null, TlsResultTypes.StsPolicyInvalid, error);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, TlsResultTypes.StsPolicyFetchError, "the policy fetch timed out");
        }
        catch (HttpRequestException e) when (e.InnerException is AuthenticationException)
        {
            return (null, TlsResultTypes.StsWebPkiInvalid, "the policy host's certificate is not valid");
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return (null, TlsResultTypes.StsPolicyFetchError, "the policy host could not be reached");
        }
    }

    private void Store(string domain, CachedPolicy policy)
    {
        if (_cache.Count >= _options.CacheCapacity && !_cache.ContainsKey(domain))
        {
            var now = _time.GetUtcNow();
            foreach (var expired in _cache.Where(e => e.Value.ExpiresAt <= now).Select(e => e.Key).ToList())
            {
                _cache.TryRemove(expired, out _);
            }

            while (_cache.Count >= _options.CacheCapacity)
            {
                var oldest = _cache.MinBy(e => e.Value.FetchedAt);
                _cache.TryRemove(oldest.Key, out _);
            }
        }

        _cache[domain] = policy;
    }

    private sealed record CachedPolicy(MtaStsPolicy Policy, string Id, DateTimeOffset ExpiresAt, DateTimeOffset FetchedAt);
}
