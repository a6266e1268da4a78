using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.OpenPgp;

namespace Letterlock.Client.Accounts;

/// <summary>What <see cref="KeyRevocation.RevokeKeyAsync"/> did.</summary>
/// <param name="Revoked">The fingerprint of the key now revoked.</param>
/// <param name="Replacement">The fingerprint of the new key.</param>
/// <param name="BundleVersion">The key-bundle version that carries the new key to the account's other devices.</param>
public sealed record KeyRevocationResult(Fingerprint Revoked, Fingerprint Replacement, ulong BundleVersion);

/// <summary>
/// Replacing a leaked OpenPGP key (docs/design/accounts.md, "Revoke the key"): a new key with the same user ID is
/// made, certified by the old primary key (so a correspondent who trusted the old key sees a rotation, not a change),
/// published to the directory (and so key transparency, WKD and HKP), and the old key's revocation certificate is
/// published beside it in the account's <c>openpgp-revoked</c> document, which WKD and HKP serve. The Autocrypt
/// header of later mail carries the new key with the endorsement. The other devices get the new key through the
/// key bundle.
/// </summary>
public static class KeyRevocation
{
    /// <summary>The document (and kind) holding the account's revoked certificates: public data, served by WKD and HKP.</summary>
    public const string RevokedDocument = "openpgp-revoked";

    /// <summary>Revokes the account's OpenPGP key and publishes its replacement everywhere the key is found.</summary>
    /// <exception cref="ProviderProblemException">The provider refused the new key.</exception>
    public static async Task<KeyRevocationResult> RevokeKeyAsync(LocalStore store, AccountRecord account, ProviderClient provider, TimeProvider? time = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(provider);
        var now = (time ?? TimeProvider.System).GetUtcNow();

        // Take the newest keys first, so a rotation made elsewhere is the one revoked.
        await KeyBundleSync.FetchAsync(store, account, provider, ct).ConfigureAwait(false);
        var old = await AccountKeys.LoadOpenPgpAsync(store, account.Id, ct).ConfigureAwait(false);
        var revocation = await store.Keys.GetCurrentAsync(account.Id, AccountKeys.OpenPgpRevocation, ct).ConfigureAwait(false)
            ?? throw new LocalStoreException($"{account.Address} has no revocation certificate in this client");
        var revokedOld = old.Certificate.WithRevocation(revocation.Material);
        string userId = old.Certificate.UserIds.FirstOrDefault(u => u.Contains(account.Address, StringComparison.OrdinalIgnoreCase))
            ?? old.Certificate.UserIds[0];

        var generated = KeyGenerator.Generate(userId, [], new KeyGenerationOptions { CreationTime = now });
        var endorsed = generated.Certificate.CertifiedBy(old, userId, now);
        var replacement = generated.SecretKey.WithCertificate(endorsed);
        var inbox = await AccountKeys.LoadInboxKeysAsync(store, account.Id, ct).ConfigureAwait(false);

        // The provider first: if it refuses, nothing changed here. Then the revocation beside it (WKD and HKP serve it).
        await provider.UpdateKeysAsync(new UpdateKeysRequest(endorsed.Export(armored: false), inbox.CurrentPublicKey), ct).ConfigureAwait(false);
        await PublishRevokedAsync(provider, revokedOld, ct).ConfigureAwait(false);

        await store.Keys.AddAsync(account.Id, AccountKeys.OpenPgpSecret, replacement.Export(armored: false), now, ct).ConfigureAwait(false);
        await store.Keys.AddAsync(account.Id, AccountKeys.OpenPgpRevocation, generated.RevocationCertificate, now, ct).ConfigureAwait(false);
        ulong version = await KeyBundleSync.PublishAsync(store, account, provider, ct).ConfigureAwait(false);
        return new KeyRevocationResult(old.Fingerprint, replacement.Fingerprint, version);
    }

    /// <summary>Adds a revoked certificate to the account's <see cref="RevokedDocument"/> (keeping earlier ones), retrying on a concurrent write.</summary>
    private static async Task PublishRevokedAsync(ProviderClient provider, Certificate revoked, CancellationToken ct)
    {
        for (int attempt = 0; ; attempt++)
        {
            var existing = await provider.GetDocumentAsync(RevokedDocument, ct).ConfigureAwait(false);
            var certificates = new List<Certificate>();
            if (existing is not null)
            {
                try
                {
                    certificates.AddRange(Certificate.ParseAll(existing.Content).Where(c => c.Fingerprint != revoked.Fingerprint));
                }
                catch (OpenPgpException)
                {
                    // an unreadable earlier document is replaced
                }
            }

            certificates.Add(revoked);
            byte[] content = [.. certificates.SelectMany(c => c.Export(armored: false))];
            var (status, _) = await provider.PutDocumentAsync(RevokedDocument, RevokedDocument, content, existing?.Revision, ct).ConfigureAwait(false);
            if (status == WriteStatus.Ok)
            {
                return;
            }

            if (status != WriteStatus.Conflict || attempt >= 3)
            {
                throw new ProviderUnavailableException($"the provider did not store the revoked certificate ({status})");
            }
        }
    }
}
