using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Letterlock.Api;
using Letterlock.Client.Net;
using Letterlock.Transparency;

namespace Letterlock.Client.Transparency;

/// <summary>Limits of the client's transparency work; every answer from a provider is hostile input.</summary>
public sealed record TransparencyOptions
{
    /// <summary>Largest JSON answer read from a transparency endpoint (a monitoring page of 1,024 versions is about 1.5 MB in base64).</summary>
    public long MaxResponseBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Largest epoch record an auditor downloads (72 bytes per changed address).</summary>
    public long MaxEpochRecordBytes { get; init; } = 80L * 1024 * 1024;

    /// <summary>Time limit of one request.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Most monitoring pages fetched for one address in one check (a provider cannot keep a client busy forever).</summary>
    public int MaxMonitorPages { get; init; } = 64;

    /// <summary>Limits applied when decoding proofs.</summary>
    public TransparencyLimits Limits { get; init; } = TransparencyLimits.Default;
}

/// <summary>A transparency endpoint could not be used: unreachable, an HTTP error, too large, or malformed.</summary>
public sealed class TransparencyFetchException(string message, int? httpStatus = null) : Exception(message)
{
    /// <summary>The HTTP status, when there was an answer.</summary>
    public int? HttpStatus { get; } = httpStatus;
}

/// <summary>
/// The transparency endpoints of one provider (docs/API.md, "Key transparency"), decoded and size-limited.
/// Answers are parsed but not trusted: <see cref="TransparencyVerifier"/> checks them.
/// </summary>
public sealed class TransparencyHttp(HttpClient http, Uri baseUri, TransparencyOptions? options = null)
{
    private readonly TransparencyOptions _options = options ?? new TransparencyOptions();

    /// <summary>The provider's base URL.</summary>
    public Uri BaseUri { get; } = baseUri ?? throw new ArgumentNullException(nameof(baseUri));

    /// <summary><c>GET /.well-known/letterlock</c>.</summary>
    public Task<ProviderInfo> GetProviderInfoAsync(CancellationToken ct) =>
        GetJsonAsync(".well-known/letterlock", ApiJsonContext.Default.ProviderInfo, ct);

    /// <summary>The newest signed head and the publication interval.</summary>
    public async Task<(SignedTreeHead Head, int EpochIntervalSeconds)> GetLatestHeadAsync(CancellationToken ct)
    {
        var response = await GetJsonAsync("v1/transparency/heads/latest", TransparencyJsonContext.Default.TransparencyHeadResponse, ct).ConfigureAwait(false);
        return (Decode(() => SignedTreeHead.FromBytes(response.Head, _options.Limits)), response.EpochIntervalSeconds);
    }

    /// <summary>The signed head of <paramref name="epoch"/>, or null when the provider has none.</summary>
    public async Task<SignedTreeHead?> GetHeadAsync(long epoch, CancellationToken ct)
    {
        try
        {
            var response = await GetJsonAsync($"v1/transparency/heads/{epoch.ToString(CultureInfo.InvariantCulture)}", TransparencyJsonContext.Default.TransparencyHeadResponse, ct).ConfigureAwait(false);
            return Decode(() => SignedTreeHead.FromBytes(response.Head, _options.Limits));
        }
        catch (TransparencyFetchException e) when (e.HttpStatus == 404)
        {
            return null;
        }
    }

    /// <summary>A consistency proof from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public async Task<ConsistencyProof> GetConsistencyAsync(long from, long to, CancellationToken ct)
    {
        var response = await GetJsonAsync($"v1/transparency/consistency?from={from.ToString(CultureInfo.InvariantCulture)}&to={to.ToString(CultureInfo.InvariantCulture)}",
            TransparencyJsonContext.Default.TransparencyConsistencyResponse, ct).ConfigureAwait(false);
        return Decode(() => ConsistencyProof.FromBytes(response.Proof, _options.Limits));
    }

    /// <summary>The lookup proof of <paramref name="address"/> (canonical).</summary>
    public async Task<(LookupProof Proof, bool Pending)> LookupAsync(string address, CancellationToken ct)
    {
        var response = await GetJsonAsync("v1/transparency/lookup/" + Uri.EscapeDataString(address), TransparencyJsonContext.Default.TransparencyLookupResponse, ct).ConfigureAwait(false);
        return (Decode(() => LookupProof.FromBytes(response.Proof, _options.Limits)), response.Pending);
    }

    /// <summary>The monitoring proof of <paramref name="address"/> since <paramref name="sinceEpoch"/>.</summary>
    public async Task<MonitorProof> MonitorAsync(string address, long sinceEpoch, CancellationToken ct)
    {
        var response = await GetJsonAsync($"v1/transparency/monitor/{Uri.EscapeDataString(address)}?since={sinceEpoch.ToString(CultureInfo.InvariantCulture)}",
            TransparencyJsonContext.Default.TransparencyMonitorResponse, ct).ConfigureAwait(false);
        return Decode(() => MonitorProof.FromBytes(response.Proof, _options.Limits));
    }

    /// <summary>The audit record of <paramref name="epoch"/>, or null when the provider has none.</summary>
    public async Task<EpochAudit?> GetEpochAuditAsync(long epoch, CancellationToken ct)
    {
        var result = await HttpFetch.GetAsync(http, new Uri(BaseUri, $"v1/transparency/epochs/{epoch.ToString(CultureInfo.InvariantCulture)}"), _options.MaxEpochRecordBytes,
            _options.RequestTimeout, TransparencyPaths.EpochAuditMediaType, ct).ConfigureAwait(false);
        if (result.Status == FetchStatus.NotFound)
        {
            return null;
        }

        byte[] body = Check(result);
        return Decode(() => EpochAudit.FromBytes(body, _options.Limits));
    }

    private async Task<T> GetJsonAsync<T>(string relative, JsonTypeInfo<T> type, CancellationToken ct)
    {
        var result = await HttpFetch.GetAsync(http, new Uri(BaseUri, relative), _options.MaxResponseBytes, _options.RequestTimeout, "application/json", ct).ConfigureAwait(false);
        byte[] body = Check(result);
        try
        {
            return JsonSerializer.Deserialize(body, type) ?? throw new TransparencyFetchException($"{result.Uri.GetLeftPart(UriPartial.Path)}: empty answer");
        }
        catch (JsonException)
        {
            throw new TransparencyFetchException($"{result.Uri.GetLeftPart(UriPartial.Path)}: the answer is not the expected JSON");
        }
    }

    private static byte[] Check(FetchResult result) => result.Status switch
    {
        FetchStatus.Ok => result.Body!,
        FetchStatus.NotFound => throw new TransparencyFetchException($"{result.Uri.GetLeftPart(UriPartial.Path)}: not found (HTTP {result.HttpStatus})", result.HttpStatus),
        FetchStatus.HttpError => throw new TransparencyFetchException($"{result.Uri.GetLeftPart(UriPartial.Path)}: HTTP {result.HttpStatus}", result.HttpStatus),
        _ => throw new TransparencyFetchException($"{result.Uri.GetLeftPart(UriPartial.Path)}: {result.Status} ({result.Detail})"),
    };

    private static T Decode<T>(Func<T> decode)
    {
        try
        {
            return decode();
        }
        catch (Exception e) when (e is TransparencyFormatException or ArgumentException)
        {
            throw new TransparencyFetchException("malformed transparency data: " + e.Message);
        }
    }
}
