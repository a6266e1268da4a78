using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Letterlock.Client.Store;

namespace Letterlock.Web.Security;

/// <summary>A signed-in browser: the secret its cookie carries (only its hash is kept), its CSRF token and its uploads.</summary>
internal sealed class WebSession
{
    public WebSession(string key, string csrf, DateTimeOffset now)
    {
        Key = key;
        Csrf = csrf;
        Created = now;
        LastSeen = now;
    }

    /// <summary>The SHA-256 of the cookie value, hex: the dictionary key (the value itself is never kept).</summary>
    public string Key { get; }

    /// <summary>The token every API request must carry in <see cref="WebSessions.CsrfHeader"/>.</summary>
    public string Csrf { get; }

    public DateTimeOffset Created { get; }

    public DateTimeOffset LastSeen { get; set; }

    /// <summary>Attachments uploaded for messages being written, until they are sent, saved as a draft or dropped.</summary>
    public UploadStore Uploads { get; } = new();
}

/// <summary>
/// Login links and sessions (docs/design/web.md, "Signing in"). A login link carries a one-time token in its fragment
/// (never sent to the server in a request line, so never in a log or a Referer); the page posts it once and gets an
/// HttpOnly, SameSite=Strict session cookie and a CSRF token. Links come from this process (printed at start) or
/// from <c>letterlock web</c> in another process, which leaves the token's hash in the client store: holding the
/// store's unlock is what entitles a person to a link. Sessions live in memory and end with the process.
/// </summary>
internal sealed class WebSessions(WebOptions options, LocalStore store, TimeProvider time)
{
    /// <summary>The header every API request carries its CSRF token in.</summary>
    public const string CsrfHeader = "X-Letterlock-Csrf";

    /// <summary>Store settings holding links issued by other processes: this prefix and the first 16 hex digits of the token's hash.</summary>
    internal const string StoredLinkPrefix = "web.login.";

    /// <summary>The store setting in which the running web app leaves its address for <c>letterlock web</c>.</summary>
    internal const string EndpointSetting = "web.endpoint";

    private readonly ConcurrentDictionary<string, DateTimeOffset> _links = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, WebSession> _sessions = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    public int Count => _sessions.Count;

    /// <summary>A new one-time login token for this process.</summary>
    public string IssueLink()
    {
        var token = NewSecret();
        lock (_gate)
        {
            while (_links.Count >= options.MaxPendingLoginLinks && _links.OrderBy(l => l.Value).FirstOrDefault() is { Key: { } oldest })
            {
                _links.TryRemove(oldest, out _);
            }

            _links[Hash(token)] = time.GetUtcNow() + options.LoginLinkLifetime;
        }

        return token;
    }

    /// <summary>
    /// A one-time login token for the web app running in another process over the same store: its hash and expiry
    /// are left in the store (sealed), where that process finds them.
    /// </summary>
    public static async Task<string> IssueStoredLinkAsync(LocalStore store, TimeSpan lifetime, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var token = NewSecret();
        var hash = Hash(token);
        var link = new StoredLink(hash, (time ?? TimeProvider.System).GetUtcNow() + lifetime);
        await store.Settings.SetAsync(StoredLinkPrefix + hash[..16], JsonSerializer.SerializeToUtf8Bytes(link, WebJson.Default.StoredLink), ct).ConfigureAwait(false);
        return token;
    }

    /// <summary>Exchanges a login token for a new session; null when the token is unknown, used or expired.</summary>
    public async Task<(WebSession Session, string Cookie)?> RedeemAsync(string? token, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 128)
        {
            return null;
        }

        var hash = Hash(token);
        var now = time.GetUtcNow();
        bool valid = _links.TryRemove(hash, out var expires) && now < expires;
        if (!valid && await store.Settings.GetAsync(StoredLinkPrefix + hash[..16], ct).ConfigureAwait(false) is { } stored)
        {
            // Removed before it is judged: whoever removes it first is the one login it allows.
            var link = JsonSerializer.Deserialize(stored, WebJson.Default.StoredLink);
            valid = await store.Settings.RemoveAsync(StoredLinkPrefix + hash[..16], ct).ConfigureAwait(false)
                && link is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(link.Hash), Encoding.ASCII.GetBytes(hash))
                && now < link.Expires;
        }

        if (!valid)
        {
            return null;
        }

        var cookie = NewSecret();
        var session = new WebSession(Hash(cookie), NewSecret(), now);
        lock (_gate)
        {
            while (_sessions.Count >= options.MaxSessions && _sessions.Values.OrderBy(s => s.LastSeen).FirstOrDefault() is { } leastRecent)
            {
                End(leastRecent);
            }

            _sessions[session.Key] = session;
        }

        return (session, cookie);
    }

    /// <summary>The live session a cookie value names, or null (unknown, ended or idle too long: an idle one is ended here).</summary>
    public WebSession? Find(string? cookie)
    {
        if (string.IsNullOrEmpty(cookie) || cookie.Length > 128 || !_sessions.TryGetValue(Hash(cookie), out var session))
        {
            return null;
        }

        var now = time.GetUtcNow();
        if (now - session.LastSeen > options.SessionIdleTimeout)
        {
            End(session);
            return null;
        }

        session.LastSeen = now;
        return session;
    }

    /// <summary>Whether <paramref name="presented"/> is the session's CSRF token (compared in constant time).</summary>
    public static bool CsrfMatches(WebSession session, string? presented) =>
        presented is { Length: > 0 and <= 128 }
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(session.Csrf), Encoding.ASCII.GetBytes(presented));

    public void End(WebSession session)
    {
        if (_sessions.TryRemove(session.Key, out _))
        {
            session.Uploads.Clear();
        }
    }

    public void EndAll()
    {
        foreach (var session in _sessions.Values)
        {
            End(session);
        }
    }

    /// <summary>256 random bits, base64url without padding (43 characters).</summary>
    internal static string NewSecret()
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    internal static string Hash(string secret) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
}

/// <summary>A login link issued by another process: the token's SHA-256 (hex) and when it stops being good.</summary>
internal sealed record StoredLink(string Hash, DateTimeOffset Expires);
