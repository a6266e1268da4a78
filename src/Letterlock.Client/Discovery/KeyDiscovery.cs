using Letterlock.Client.Validation;
using Letterlock.OpenPgp;

namespace Letterlock.Client.Discovery;

/// <summary>How one source's answer was judged.</summary>
public enum DiscoveryAttemptStatus
{
    /// <summary>A usable certificate for the address.</summary>
    Found,

    /// <summary>The source has no key for the address.</summary>
    NotFound,

    /// <summary>The source answered, but with nothing usable: not OpenPGP, no user ID with the address, expired, revoked, or unable to encrypt.</summary>
    Rejected,

    /// <summary>The source could not be asked.</summary>
    Failed,
}

/// <summary>One step of discovery, kept for diagnostics (<c>letterlock contacts show</c>).</summary>
public sealed record DiscoveryAttempt(KeyOrigin Origin, DiscoveryAttemptStatus Status, Uri? Location, string? Detail);

/// <summary>A certificate found for an address and checked to be usable for it.</summary>
/// <param name="Address">The normalized address.</param>
/// <param name="Fingerprint">Primary key fingerprint.</param>
/// <param name="Certificate">The certificate, binary.</param>
/// <param name="Origin">Where it was found.</param>
/// <param name="Location">The URL it came from, for network sources.</param>
/// <param name="Transparency">Transparency evidence served with it, if any.</param>
/// <param name="Authentication">How the source authenticated it (<see cref="SourceLookup.Authentication"/>).</param>
public sealed record DiscoveredKey(string Address, KeyFingerprint Fingerprint, byte[] Certificate, KeyOrigin Origin, Uri? Location,
    TransparencyEvidence? Transparency, KeyAuthentication Authentication = KeyAuthentication.Channel)
{
    /// <summary>The key as input to validation.</summary>
    public ObservedKey ToObservedKey() => new(Fingerprint, Certificate, Origin, Transparency, Authentication);
}

/// <summary>The outcome of discovery: the first usable key (or none) and every attempt made.</summary>
public sealed record DiscoveryResult(DiscoveredKey? Key, IReadOnlyList<DiscoveryAttempt> Attempts);

/// <summary>
/// Tries the configured sources in order (<see cref="KeyDiscoveryOptions.SourceOrder"/>) and
/// returns the first certificate that is valid now, can encrypt, and carries a self-signed user
/// ID with the address. A source that answers with something unusable does not stop the search.
/// </summary>
public sealed class KeyDiscovery
{
    private readonly IReadOnlyList<IKeySource> _sources;
    private readonly KeyDiscoveryOptions _options;
    private readonly OpenPgpOptions _openPgpOptions;
    private readonly TimeProvider _time;

    /// <summary>Creates discovery over <paramref name="sources"/> (any order; the options decide).</summary>
    public KeyDiscovery(IEnumerable<IKeySource> sources, KeyDiscoveryOptions options, OpenPgpOptions? openPgpOptions = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        _sources = sources.ToList();
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _openPgpOptions = openPgpOptions ?? OpenPgpOptions.Default;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Discovers a key for <paramref name="address"/>.</summary>
    /// <exception cref="FormatException">The address is malformed.</exception>
    public async Task<DiscoveryResult> DiscoverAsync(string address, CancellationToken ct = default)
    {
        var normalized = MailAddress.Normalize(address);
        var attempts = new List<DiscoveryAttempt>();
        using var total = CancellationTokenSource.CreateLinkedTokenSource(ct);
        total.CancelAfter(_options.TotalTimeout);
        foreach (var origin in _options.SourceOrder)
        {
            var source = _sources.FirstOrDefault(s => s.Origin == origin);
            if (source is null)
            {
                continue;
            }

            SourceLookup lookup;
            try
            {
                lookup = await source.LookupAsync(normalized, total.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                attempts.Add(new DiscoveryAttempt(origin, DiscoveryAttemptStatus.Failed, null, "discovery took longer than its time limit"));
                break;
            }

            if (lookup.Status != SourceLookupStatus.Found)
            {
                attempts.Add(new DiscoveryAttempt(lookup.Origin,
                    lookup.Status == SourceLookupStatus.NotFound ? DiscoveryAttemptStatus.NotFound : DiscoveryAttemptStatus.Failed,
                    lookup.Location, lookup.Detail));
                continue;
            }

            var (certificate, reason) = Select(lookup.Data ?? [], normalized);
            if (certificate is null)
            {
                attempts.Add(new DiscoveryAttempt(lookup.Origin, DiscoveryAttemptStatus.Rejected, lookup.Location, reason));
                continue;
            }

            attempts.Add(new DiscoveryAttempt(lookup.Origin, DiscoveryAttemptStatus.Found, lookup.Location, null));
            var key = new DiscoveredKey(normalized, KeyFingerprint.Parse(certificate.Fingerprint.Hex), certificate.Export(armored: false),
                lookup.Origin, lookup.Location, lookup.Transparency, lookup.Authentication);
            return new DiscoveryResult(key, attempts);
        }

        return new DiscoveryResult(null, attempts);
    }

    private (Certificate? Certificate, string? Reason) Select(byte[] data, string address)
    {
        IReadOnlyList<Certificate> certificates;
        try
        {
            certificates = Certificate.ParseAll(data, _openPgpOptions);
        }
        catch (OpenPgpException e)
        {
            return (null, "not an OpenPGP certificate: " + e.Message);
        }

        if (certificates.Count == 0)
        {
            return (null, "no certificate in the response");
        }

        if (certificates.Count > _options.MaxCertificatesPerResponse)
        {
            return (null, $"{certificates.Count} certificates in one response, more than the limit of {_options.MaxCertificatesPerResponse}");
        }

        var now = _time.GetUtcNow();
        var forAddress = certificates.Where(c => c.HasAddress(address)).ToList();
        if (forAddress.Count == 0)
        {
            return (null, "no certificate has a user ID with the address");
        }

        var usable = forAddress.Where(c => c.SelectEncryptionKey(now) is not null).ToList();
        if (usable.Count == 0)
        {
            return (null, "the certificate is " + forAddress[0].GetStatus(now) switch
            {
                CertificateStatus.Valid => "valid but has no usable encryption key",
                var status => status.ToString().ToLowerInvariant(),
            });
        }

        // Several usable certificates (HKP may return old and new): the one with the newest encryption key.
        return (usable.OrderByDescending(c => c.SelectEncryptionKey(now)!.CreationTime).First(), null);
    }
}
