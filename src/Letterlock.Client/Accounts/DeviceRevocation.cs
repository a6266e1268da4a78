using System.Security.Cryptography;
using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Cryptography;
using Letterlock.OpenPgp;

namespace Letterlock.Client.Accounts;

/// <summary>
/// Revoking a device from another device of the account (docs/design/accounts.md, "Revoke"): the provider drops the
/// device and its tokens at once, then this device rotates the keys that mail arriving later is sealed to — a new
/// inbox key pair and a new OpenPGP encryption subkey, published to the directory (and so to key transparency) —
/// and publishes them to the account's other devices in a new key-bundle version. The revoked device holds only the
/// old keys: it can neither fetch new mail (the provider refuses it) nor open it (it is sealed to keys it never had).
/// </summary>
public static class DeviceRevocation
{
    /// <summary>Revokes <paramref name="deviceId"/> and rotates the account's receiving keys; returns the new bundle version.</summary>
    /// <exception cref="ProviderProblemException">The provider refused (404: no such active device).</exception>
    public static async Task<ulong> RevokeAsync(LocalStore store, AccountRecord account, ProviderClient provider, Guid deviceId, TimeProvider? time = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(provider);
        if (deviceId == account.DeviceId)
        {
            throw new LocalStoreException("a device cannot revoke itself: revoke it from another device of the account");
        }

        // Take the newest keys first, so a rotation made elsewhere is not rotated away from.
        await KeyBundleSync.FetchAsync(store, account, provider, ct).ConfigureAwait(false);
        await provider.RevokeDeviceAsync(deviceId, ct).ConfigureAwait(false);
        return await RotateReceivingKeysAsync(store, account, provider, time, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// A new inbox key pair and a new OpenPGP encryption subkey (the primary key, and so the fingerprint contacts
    /// pinned, stays), published to the provider and to the other devices; older keys are kept to read older mail.
    /// </summary>
    public static async Task<ulong> RotateReceivingKeysAsync(LocalStore store, AccountRecord account, ProviderClient provider, TimeProvider? time = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(provider);
        var now = (time ?? TimeProvider.System).GetUtcNow();
        var stored = await store.Keys.GetCurrentAsync(account.Id, AccountKeys.OpenPgpSecret, ct).ConfigureAwait(false)
            ?? throw new LocalStoreException($"{account.Address} has no OpenPGP key");
        var current = SecretKey.Parse(stored.Material);

        // OpenPGP times have one-second resolution and encryptors take the newest subkey: a subkey made in the same
        // second as the current one would tie with it (and lose), so the new one is dated at least a second later.
        var newest = current.Certificate.SelectEncryptionKey(now)?.CreationTime;
        if (newest is { } last && now < last.AddSeconds(1))
        {
            now = last.AddSeconds(1);
        }

        var rotated = current.AddEncryptionSubkey(ReadOnlySpan<char>.Empty, now: now);

        // The new inbox key keeps the account's KEM: an account on X-Wing stays post-quantum. It is random, not derived
        // from the account master key, because the revoked device holds that key.
        bool xwing = (await AccountKeys.LoadInboxKeysAsync(store, account.Id, ct).ConfigureAwait(false)).HasXWing;
        byte[] inboxPrivate, inboxPublic;
        if (xwing)
        {
            using var pair = XWingKeyPair.Generate();
            (inboxPrivate, inboxPublic) = (pair.PrivateKey.ToArray(), pair.PublicKey.ToArray());
        }
        else
        {
            using var pair = HpkeKeyPair.Generate();
            (inboxPrivate, inboxPublic) = (pair.PrivateKey.ToArray(), pair.PublicKey.ToArray());
        }

        // The provider first: if it refuses, nothing changed here; if this device fails after it, the next rotation
        // or the bundle it publishes still carries both keys, and mail sealed meanwhile opens with them.
        await provider.UpdateKeysAsync(new UpdateKeysRequest(rotated.Certificate.Export(armored: false), inboxPublic), ct).ConfigureAwait(false);
        await store.Keys.AddAsync(account.Id, AccountKeys.OpenPgpSecret, rotated.Export(armored: false), now, ct).ConfigureAwait(false);
        await store.Keys.AddAsync(account.Id, xwing ? AccountKeys.InboxXWingSecret : AccountKeys.InboxSecret, inboxPrivate, now, ct).ConfigureAwait(false);
        CryptographicOperations.ZeroMemory(inboxPrivate);
        return await KeyBundleSync.PublishAsync(store, account, provider, ct).ConfigureAwait(false);
    }
}
