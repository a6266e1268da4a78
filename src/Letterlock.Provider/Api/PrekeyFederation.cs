using System.Net;
using Letterlock.Api;
using Letterlock.Native;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Api;

/// <summary>
/// The provider's side of prekey bundle fetches: the per-account and per-client limits, and the fetch from another
/// provider's federation endpoint on a local account's behalf (so the recipient's provider learns which provider
/// asked, not which of its users). The limits are counted in the database, shared by a cluster's nodes.
/// </summary>
internal sealed class PrekeyFederation(IProviderStore store, NativeSettings settings, HttpMessageInvoker? http, TimeProvider time)
{
    private readonly HttpMessageInvoker? _http = http;
    private readonly NativeSettings _settings = settings;
    private readonly FixedWindowLimits _limits = new(store, time);

    /// <summary>Takes a permit for a fetch by a local account; when none is left, how long until the window opens.</summary>
    public Task<(bool Acquired, TimeSpan RetryAfter)> TryAcquireAsync(Guid account, CancellationToken ct) =>
        _limits.TryAcquireAsync("bundle-fetch", FixedWindowLimits.AccountKey(account), _settings.BundleFetchesPerHourPerAccount, TimeSpan.FromHours(1), ct);

    /// <summary>Takes a permit for a federation fetch by a client (IPv4 address or IPv6 /64).</summary>
    public Task<(bool Acquired, TimeSpan RetryAfter)> TryAcquireAsync(IPAddress? client, CancellationToken ct) =>
        _limits.TryAcquireAsync("federation-fetch", ClientRateLimits.ClientOf(client).ToString(), _settings.BundleFetchesPerHourPerClient, TimeSpan.FromHours(1), ct);

    /// <summary>
    /// Asks <c>https://DOMAIN/v1/federation/prekeys/ADDRESS</c>. Null with a reason when the other provider did not
    /// answer usefully; a well-formed answer's bundles are checked to decode and verify (the client checks them
    /// against key transparency again).
    /// </summary>
    public async Task<(PrekeyBundlesResponse? Response, int Status, string? Reason)> FetchRemoteAsync(string address, string domain, CancellationToken ct)
    {
        if (_http is null)
        {
            return (null, 502, "this provider does not fetch from other providers");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(_settings.FederationTimeoutSeconds));
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"https://{domain}/v1/federation/prekeys/{Uri.EscapeDataString(address)}"));
            using var response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return (null, 404, "the other provider has no such address");
            }

            if (!response.IsSuccessStatusCode)
            {
                return (null, 502, $"the other provider answered HTTP {(int)response.StatusCode}");
            }

            if (response.Content.Headers.ContentLength > _settings.MaxBundleResponseBytes)
            {
                return (null, 502, "the other provider's answer is larger than native.maxBundleResponseBytes");
            }

            var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                using var buffer = new MemoryStream();
                var chunk = new byte[16 * 1024];
                int read;
                while ((read = await stream.ReadAsync(chunk, timeout.Token).ConfigureAwait(false)) > 0)
                {
                    if (buffer.Length + read > _settings.MaxBundleResponseBytes)
                    {
                        return (null, 502, "the other provider's answer is larger than native.maxBundleResponseBytes");
                    }

                    await buffer.WriteAsync(chunk.AsMemory(0, read), timeout.Token).ConfigureAwait(false);
                }

                var answer = System.Text.Json.JsonSerializer.Deserialize(buffer.ToArray(), PrekeyJsonContext.Default.PrekeyBundlesResponse);
                if (answer is null || !string.Equals(answer.Address, address, StringComparison.OrdinalIgnoreCase))
                {
                    return (null, 502, "the other provider answered for another address");
                }

                foreach (var bundle in answer.Bundles)
                {
                    PrekeyBundle.Decode(bundle);
                }

                return (answer, 200, null);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, 502, "the other provider did not answer within native.federationTimeoutSeconds");
        }
        catch (HttpRequestException e)
        {
            return (null, 502, "the other provider could not be reached: " + e.Message);
        }
        catch (System.Text.Json.JsonException)
        {
            return (null, 502, "the other provider's answer is not a prekey bundle list");
        }
        catch (NativeException)
        {
            return (null, 502, "the other provider's answer holds a malformed or badly signed bundle");
        }
    }
}
