using Letterlock.Client.Net;
using Letterlock.Client.Validation;

namespace Letterlock.Client.Discovery;

/// <summary>What one source said about an address.</summary>
public enum SourceLookupStatus
{
    /// <summary>The source returned key material (still to be checked against the address).</summary>
    Found,

    /// <summary>The source has no key for the address.</summary>
    NotFound,

    /// <summary>The source could not be asked (network, timeout, too large, bad response).</summary>
    Failed,
}

/// <summary>The answer of one source.</summary>
/// <param name="Origin">Which source.</param>
/// <param name="Status">Found, not found, or failed.</param>
/// <param name="Data">Certificate bytes (binary or armored) when found.</param>
/// <param name="Location">Where it was asked (for diagnostics).</param>
/// <param name="Detail">Why it failed, for diagnostics.</param>
/// <param name="Transparency">Transparency evidence served with the key, if any.</param>
/// <param name="Authentication">How the key was authenticated when the source learnt it: network sources answer over an
/// authenticated channel; the Autocrypt state says how the mail that carried the key was authenticated.</param>
public sealed record SourceLookup(KeyOrigin Origin, SourceLookupStatus Status, byte[]? Data, Uri? Location, string? Detail,
    TransparencyEvidence? Transparency = null, KeyAuthentication Authentication = KeyAuthentication.Channel);

/// <summary>A place keys can be discovered. Implementations never throw for expected failures.</summary>
public interface IKeySource
{
    /// <summary>Which source this is.</summary>
    KeyOrigin Origin { get; }

    /// <summary>Asks the source for <paramref name="address"/> (a normalized address).</summary>
    Task<SourceLookup> LookupAsync(string address, CancellationToken ct);
}

/// <summary>WKD: the advanced method, then the direct method.</summary>
/// <remarks>
/// The draft says to use the direct method when the <c>openpgpkey</c> subdomain does not exist.
/// A wildcard DNS record makes it "exist" on any web server, so, like GnuPG, an advanced lookup that
/// is answered with an error but whose policy file is missing falls back to the direct method too;
/// when the policy file is there, the advanced answer stands.
/// </remarks>
public sealed class WkdKeySource(HttpClient http, KeyDiscoveryOptions options) : IKeySource
{
    /// <inheritdoc/>
    public KeyOrigin Origin => KeyOrigin.Wkd;

    /// <inheritdoc/>
    public async Task<SourceLookup> LookupAsync(string address, CancellationToken ct)
    {
        Uri advanced, direct, policy;
        try
        {
            advanced = Wkd.AdvancedUri(address);
            direct = Wkd.DirectUri(address);
            policy = Wkd.AdvancedPolicyUri(address);
        }
        catch (FormatException e)
        {
            return new SourceLookup(Origin, SourceLookupStatus.Failed, null, null, e.Message);
        }

        var first = await Get(advanced, ct).ConfigureAwait(false);
        switch (first.Status)
        {
            case FetchStatus.Ok:
                return Found(first);
            case FetchStatus.TooLarge:
                return Failed(first);
            case FetchStatus.NotFound or FetchStatus.HttpError:
                var policyFile = await Get(policy, ct).ConfigureAwait(false);
                if (policyFile.Status == FetchStatus.Ok)
                {
                    return first.Status == FetchStatus.NotFound
                        ? new SourceLookup(Origin, SourceLookupStatus.NotFound, null, advanced, null)
                        : Failed(first);
                }

                break;
        }

        var second = await Get(direct, ct).ConfigureAwait(false);
        return second.Status switch
        {
            FetchStatus.Ok => Found(second),
            FetchStatus.NotFound => new SourceLookup(Origin, SourceLookupStatus.NotFound, null, direct, null),
            _ => Failed(second),
        };
    }

    private Task<FetchResult> Get(Uri uri, CancellationToken ct) =>
        HttpFetch.GetAsync(http, uri, options.MaxResponseBytes, options.RequestTimeout, "application/octet-stream", ct);

    private SourceLookup Found(FetchResult result) => new(Origin, SourceLookupStatus.Found, result.Body, result.Uri, null);

    private SourceLookup Failed(FetchResult result) =>
        new(Origin, SourceLookupStatus.Failed, null, result.Uri, $"{result.Status}: {result.Detail}");
}

/// <summary>HKP keyservers (draft-gallagher-openpgp-hkp): <c>/pks/lookup?op=get&amp;options=mr&amp;search=ADDRESS</c>, servers in order.</summary>
public sealed class HkpKeySource(HttpClient http, KeyDiscoveryOptions options) : IKeySource
{
    /// <inheritdoc/>
    public KeyOrigin Origin => KeyOrigin.Hkp;

    /// <summary>The lookup URL on one server.</summary>
    public static Uri LookupUri(Uri server, string address)
    {
        ArgumentNullException.ThrowIfNull(server);
        var builder = new UriBuilder(server);
        if (builder.Scheme == "hkps")
        {
            builder.Scheme = "https";
            builder.Port = server.IsDefaultPort || server.Port <= 0 ? 443 : server.Port;
        }

        builder.Path = builder.Path.TrimEnd('/') + "/pks/lookup";
        builder.Query = "op=get&options=mr&search=" + Uri.EscapeDataString(address);
        return builder.Uri;
    }

    /// <inheritdoc/>
    public async Task<SourceLookup> LookupAsync(string address, CancellationToken ct)
    {
        SourceLookup? last = null;
        foreach (var server in options.HkpServers)
        {
            var uri = LookupUri(server, address);
            var result = await HttpFetch.GetAsync(http, uri, options.MaxResponseBytes, options.RequestTimeout, "application/pgp-keys", ct).ConfigureAwait(false);
            switch (result.Status)
            {
                case FetchStatus.Ok:
                    return new SourceLookup(Origin, SourceLookupStatus.Found, result.Body, uri, null);
                case FetchStatus.NotFound:
                    last = new SourceLookup(Origin, SourceLookupStatus.NotFound, null, uri, null);
                    break;
                default:
                    last ??= new SourceLookup(Origin, SourceLookupStatus.Failed, null, uri, $"{result.Status}: {result.Detail}");
                    break;
            }
        }

        return last ?? new SourceLookup(Origin, SourceLookupStatus.NotFound, null, null, "no keyserver configured");
    }
}

/// <summary>
/// Autocrypt state from received mail, as recorded in the local store for the account: the
/// key from the peer's own <c>Autocrypt:</c> header, else the newest gossiped key.
/// </summary>
public sealed class AutocryptKeySource(Store.LocalStore store, AccountId account) : IKeySource
{
    /// <inheritdoc/>
    public KeyOrigin Origin => KeyOrigin.Autocrypt;

    /// <inheritdoc/>
    public async Task<SourceLookup> LookupAsync(string address, CancellationToken ct)
    {
        var contact = await store.Contacts.GetAsync(account, address, ct).ConfigureAwait(false);
        if (contact?.Autocrypt?.PublicKey is { Length: > 0 } key)
        {
            // Stored by an earlier version without the record of how it was authenticated: taken as unauthenticated.
            return new SourceLookup(Origin, SourceLookupStatus.Found, key, null, null,
                Authentication: contact.Autocrypt.PublicKeyAuthentication ?? KeyAuthentication.Unauthenticated);
        }

        // Gossip is a third party speaking for the address: never more than unauthenticated.
        return contact?.Autocrypt?.GossipKey is { Length: > 0 } gossip
            ? new SourceLookup(KeyOrigin.AutocryptGossip, SourceLookupStatus.Found, gossip, null, null, Authentication: KeyAuthentication.Unauthenticated)
            : new SourceLookup(Origin, SourceLookupStatus.NotFound, null, null, null);
    }
}
