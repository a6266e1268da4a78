using Letterlock.Client.Sync;
using Letterlock.Client.Validation;

namespace Letterlock.Client.Discovery;

/// <summary>
/// The recipient provider's key directory: <c>GET https://DOMAIN/v1/directory/ADDRESS</c>
/// (Letterlock.Api). A Letterlock provider speaks for its own domain's addresses, so it is asked
/// first. The entry's key-transparency lookup proof comes along as evidence, with the provider's word on whether the
/// keys are newer than its last epoch; the resolver's verifier checks it before the key is trusted as
/// <c>transparent</c>, and a missing or failing proof from a provider that publishes key transparency keeps the key
/// from being used (docs/design/security.md).
/// </summary>
public sealed class DirectoryKeySource(HttpClient http, KeyDiscoveryOptions options) : IKeySource
{
    /// <inheritdoc/>
    public KeyOrigin Origin => KeyOrigin.ProviderDirectory;

    /// <inheritdoc/>
    public async Task<SourceLookup> LookupAsync(string address, CancellationToken ct)
    {
        var (_, domain) = MailAddress.Split(address);
        if (Uri.CheckHostName(domain) != UriHostNameType.Dns)
        {
            return new SourceLookup(Origin, SourceLookupStatus.Failed, null, null, "the domain is not a host name");
        }

        var baseUri = new Uri($"https://{domain}/");
        var client = new ProviderClient(http, baseUri, options: new ProviderClientOptions
        {
            MaxJsonBytes = options.MaxResponseBytes * 2, // base64 in JSON
            RequestTimeout = options.RequestTimeout,
        });
        try
        {
            var entry = await client.GetDirectoryEntryAsync(address, ct).ConfigureAwait(false);
            return entry is null
                ? new SourceLookup(Origin, SourceLookupStatus.NotFound, null, baseUri, null)
                : new SourceLookup(Origin, SourceLookupStatus.Found, entry.OpenPgpCertificate, baseUri, null,
                    // Always evidence, empty when the directory served none: for a provider that publishes key transparency a
                    // missing proof is misbehaviour, and only the verifier knows whether this one does.
                    new TransparencyEvidence(domain, entry.Transparency?.LookupProof ?? ReadOnlyMemory<byte>.Empty, entry.Transparency?.Pending ?? false,
                        entry.OpenPgpCertificate));
        }
        catch (ProviderProblemException e)
        {
            // Not a Letterlock provider (its web server answers something else), or an error: try the next source.
            return new SourceLookup(Origin, SourceLookupStatus.Failed, null, baseUri, $"HTTP {e.Status}");
        }
        catch (ProviderUnavailableException e)
        {
            return new SourceLookup(Origin, SourceLookupStatus.Failed, null, baseUri, e.Message);
        }
    }
}
