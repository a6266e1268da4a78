using System.Net.Http.Json;
using Letterlock.Api;

namespace Letterlock.Client.Sync;

/// <summary>The prekey calls of the native protocol (docs/API.md, "Prekeys").</summary>
public sealed partial class ProviderClient
{
    /// <summary><c>PUT /v1/prekeys</c>: publish this device's prekeys; the answer is what the provider holds afterwards.</summary>
    public Task<PrekeyStatus> PublishPrekeysAsync(PublishPrekeysRequest request, CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Put, Url("v1/prekeys"))
        {
            Content = JsonContent.Create(request, PrekeyJsonContext.Default.PublishPrekeysRequest),
        }, PrekeyJsonContext.Default.PrekeyStatus, true, ct);

    /// <summary><c>GET /v1/prekeys</c>: what the provider holds for this device.</summary>
    public Task<PrekeyStatus> GetPrekeyStatusAsync(CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Get, Url("v1/prekeys")), PrekeyJsonContext.Default.PrekeyStatus, true, ct);

    /// <summary>
    /// <c>GET /v1/prekeys/{address}</c> through this account's own provider (which asks the address's provider);
    /// null when the address does not exist. Each bundle handed out consumes its one-time prekeys.
    /// </summary>
    public async Task<PrekeyBundlesResponse?> FetchPrekeyBundlesAsync(string address, CancellationToken ct = default)
    {
        try
        {
            return await SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Get, Url("v1/prekeys/" + Uri.EscapeDataString(address))),
                PrekeyJsonContext.Default.PrekeyBundlesResponse, true, ct).ConfigureAwait(false);
        }
        catch (ProviderProblemException e) when (e.Status == 404)
        {
            return null;
        }
    }
}
