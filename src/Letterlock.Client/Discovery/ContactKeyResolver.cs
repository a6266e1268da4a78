using Letterlock.Client.Store;
using Letterlock.Client.Validation;

namespace Letterlock.Client.Discovery;

/// <summary>The key state of a recipient after discovery and validation.</summary>
/// <param name="Contact">The contact as stored now (null when nothing was ever found).</param>
/// <param name="Discovery">What discovery found and tried.</param>
/// <param name="Validation">The validation step applied to a discovered key, if one was found.</param>
public sealed record KeyResolution(ContactRecord? Contact, DiscoveryResult Discovery, KeyValidationResult? Validation)
{
    /// <summary>The key to encrypt to without asking, or null (none known, or a change awaits the user).</summary>
    public ContactKey? EncryptionKey => Contact?.KeyState.EncryptionKey;

    /// <summary>The validation level to show.</summary>
    public KeyValidationLevel Level => Contact?.KeyState.Level ?? KeyValidationLevel.None;
}

/// <summary>
/// Discovery plus validation for one account: finds a recipient's key, checks transparency
/// evidence that came with it (when a verifier is configured), and records the observation in
/// the store under TOFU rules, so a changed key is never used silently.
/// </summary>
public sealed class ContactKeyResolver(LocalStore store, AccountId account, KeyDiscovery discovery, ITransparencyVerifier? verifier = null)
{
    /// <summary>Discovers and validates the key of <paramref name="address"/>.</summary>
    public async Task<KeyResolution> ResolveAsync(string address, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var result = await discovery.DiscoverAsync(address, ct).ConfigureAwait(false);
        KeyValidationResult? validation = null;
        if (result.Key is { } key)
        {
            var verdict = TransparencyVerdict.Absent;
            if (key.Transparency is { } evidence && verifier is not null)
            {
                verdict = await verifier.VerifyAsync(key.Address, key.Fingerprint, evidence, ct).ConfigureAwait(false);
            }

            validation = await store.Contacts.ObserveKeyAsync(account, key.Address, key.ToObservedKey(), verdict, ct).ConfigureAwait(false);
        }

        var contact = await store.Contacts.GetAsync(account, address, ct).ConfigureAwait(false);
        return new KeyResolution(contact, result, validation);
    }
}
