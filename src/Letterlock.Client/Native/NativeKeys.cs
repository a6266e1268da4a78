using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Native;

namespace Letterlock.Client.Native;

/// <summary>
/// A device's keys of the native protocol in the local store, sealed like every account key and never in the key
/// bundle (their purposes start with <c>device-</c>): the X25519 identity key the device key certifies, and one
/// entry per private prekey (<see cref="PrivatePrekey.Export"/>).
/// </summary>
public static class NativeKeys
{
    /// <summary>The identity private key (32 bytes).</summary>
    public const string IdentityPurpose = "device-native-identity";

    /// <summary>One private prekey each.</summary>
    public const string PrekeyPurpose = "device-native-prekey";

    /// <summary>This device's identity for <paramref name="account"/>, made (and stored) on first use.</summary>
    /// <exception cref="LocalStoreException">The account has no device key (not registered).</exception>
    public static async Task<DeviceIdentity> LoadIdentityAsync(LocalStore store, AccountId account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var device = await store.Keys.GetCurrentAsync(account, AccountKeys.DeviceSecret, ct).ConfigureAwait(false)
            ?? throw new LocalStoreException("the account has no device key");
        if (await store.Keys.GetCurrentAsync(account, IdentityPurpose, ct).ConfigureAwait(false) is { } stored)
        {
            return DeviceIdentity.Load(device.Material, stored.Material);
        }

        var identity = DeviceIdentity.Generate(device.Material);
        await store.Keys.AddAsync(account, IdentityPurpose, identity.IdentityPrivateKey, ct).ConfigureAwait(false);
        return identity;
    }

    /// <summary>Every private prekey the device holds, with the id of its store entry (to delete it).</summary>
    public static async Task<(DevicePrekeys Prekeys, Dictionary<(PrekeyKind Kind, uint Id), Guid> Entries)> LoadPrekeysAsync(LocalStore store, AccountId account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var prekeys = new DevicePrekeys();
        var entries = new Dictionary<(PrekeyKind, uint), Guid>();
        foreach (var key in await store.Keys.ListAsync(account, PrekeyPurpose, ct).ConfigureAwait(false))
        {
            var prekey = PrivatePrekey.Import(key.Material);
            if (entries.TryAdd((prekey.Public.Kind, prekey.Public.Id), key.Id))
            {
                prekeys.Add(prekey);
            }
            else
            {
                prekey.Dispose();
            }
        }

        return (prekeys, entries);
    }
}
