using Letterlock.Client.Validation;
using Letterlock.Primitives;

namespace Letterlock.Client.Discovery;

/// <summary>
/// Limits and settings of key discovery. Every response comes from the network and is hostile
/// until parsed, so size, time and count limits are explicit and validated when set.
/// </summary>
public sealed class KeyDiscoveryOptions
{
    private long _maxResponseBytes = 512 * 1024;
    private TimeSpan _requestTimeout = TimeSpan.FromSeconds(10);
    private TimeSpan _totalTimeout = TimeSpan.FromSeconds(30);
    private int _maxCertificatesPerResponse = 16;
    private IReadOnlyList<KeyOrigin> _sourceOrder = [KeyOrigin.ProviderDirectory, KeyOrigin.Wkd, KeyOrigin.Autocrypt, KeyOrigin.Hkp];
    private IReadOnlyList<Uri> _hkpServers = [new("hkps://keys.openpgp.org")];

    /// <summary>
    /// The largest response read from a directory, WKD or HKP server, in bytes (default 512 KiB:
    /// a real certificate is a few KiB; certificates flooded with signatures are refused, not parsed).
    /// A body of exactly this size is accepted.
    /// </summary>
    public long MaxResponseBytes
    {
        get => _maxResponseBytes;
        set => _maxResponseBytes = value is >= 1024 and <= 64L * 1024 * 1024
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxResponseBytes), value, "MaxResponseBytes must be between 1 KiB and 64 MiB.");
    }

    /// <summary>How long one HTTP request may take, headers and body (default 10 s).</summary>
    public TimeSpan RequestTimeout
    {
        get => _requestTimeout;
        set => _requestTimeout = LimitCheck.InRange(value, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5), nameof(RequestTimeout));
    }

    /// <summary>How long discovery for one address may take over all sources (default 30 s).</summary>
    public TimeSpan TotalTimeout
    {
        get => _totalTimeout;
        set => _totalTimeout = LimitCheck.InRange(value, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(30), nameof(TotalTimeout));
    }

    /// <summary>The most certificates considered from one response (default 16; HKP may return several).</summary>
    public int MaxCertificatesPerResponse
    {
        get => _maxCertificatesPerResponse;
        set => _maxCertificatesPerResponse = value is >= 1 and <= 1000
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxCertificatesPerResponse), value, "MaxCertificatesPerResponse must be between 1 and 1000.");
    }

    /// <summary>
    /// The order in which sources are tried; the first usable key wins. Default: the recipient
    /// provider's directory, WKD (advanced, then direct), Autocrypt state from received mail, HKP —
    /// the order of issue 6: the sources that speak for the domain first, a public keyserver last.
    /// </summary>
    public IReadOnlyList<KeyOrigin> SourceOrder
    {
        get => _sourceOrder;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Distinct().Count() != value.Count || value.Any(o => o is KeyOrigin.UserImport or KeyOrigin.AutocryptGossip))
            {
                throw new ArgumentException("SourceOrder lists each of ProviderDirectory, Wkd, Autocrypt and Hkp at most once.", nameof(SourceOrder));
            }

            _sourceOrder = value.ToArray();
        }
    }

    /// <summary>
    /// HKP keyservers, tried in order (default <c>hkps://keys.openpgp.org</c>). <c>hkps://</c> means
    /// HTTPS on port 443; <c>https://</c> URLs are used as given. Plain <c>hkp://</c> is refused: a key
    /// fetched without TLS could be swapped by anyone on the path.
    /// </summary>
    public IReadOnlyList<Uri> HkpServers
    {
        get => _hkpServers;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            foreach (var server in value)
            {
                if (!server.IsAbsoluteUri || server.Scheme is not ("hkps" or "https"))
                {
                    throw new ArgumentException($"HKP server {server} must be an hkps:// or https:// URL.", nameof(HkpServers));
                }
            }

            _hkpServers = value.ToArray();
        }
    }
}
