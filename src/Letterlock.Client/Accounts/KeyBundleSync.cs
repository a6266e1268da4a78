using System.Buffers.Binary;
using System.Security.Cryptography;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;

namespace Letterlock.Client.Accounts;

/// <summary>The provider served a key bundle this device must not accept; the message says which lie (never key material).</summary>
public sealed class KeyBundleException(KeyBundleStatus status, string message) : Exception(message)
{
    /// <summary>What was wrong with it.</summary>
    public KeyBundleStatus Status { get; } = status;
}

/// <summary>
/// Moves the account's key bundle (<see cref="KeyBundle"/>) between this device's store and the provider: publish
/// after a key changes here, fetch on a new device and after another device rotated keys. Each device keeps the
/// highest bundle version it opened (sealed in the store's settings) and refuses anything older.
/// </summary>
public static class KeyBundleSync
{
    private const int MaxAttempts = 5;

    /// <summary>The highest bundle version this device has opened or written (0 for none).</summary>
    public static async Task<ulong> HighestSeenAsync(LocalStore store, AccountRecord account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        var value = await store.Settings.GetAsync(VersionSetting(account), ct).ConfigureAwait(false);
        return value is { Length: 8 } ? BinaryPrimitives.ReadUInt64BigEndian(value) : 0;
    }

    /// <summary>
    /// Publishes this device's account-wide keys merged with the bundle at the provider as the next version
    /// (optimistic concurrency on the document's revision: a concurrent writer's keys are merged, not lost).
    /// Returns the version written.
    /// </summary>
    /// <exception cref="KeyBundleException">The provider's bundle is not authentic or older than one seen here.</exception>
    public static async Task<ulong> PublishAsync(LocalStore store, AccountRecord account, ProviderClient provider, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(provider);
        var (accountId, amk) = await KeysOfAsync(store, account, ct).ConfigureAwait(false);
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                ulong highest = await HighestSeenAsync(store, account, ct).ConfigureAwait(false);
                var remote = await provider.GetDocumentAsync(KeyBundle.DocumentId, ct).ConfigureAwait(false);
                ulong remoteVersion = 0;
                if (remote is not null)
                {
                    var content = OpenChecked(amk, accountId, account.Address, remote.Content, highest, out remoteVersion);
                    await ImportAsync(store, account, content, ct).ConfigureAwait(false);
                }

                ulong version = Math.Max(remoteVersion, highest) + 1;
                var local = await CollectAsync(store, account, ct).ConfigureAwait(false);
                var sealedBundle = KeyBundle.Seal(amk, accountId, account.Address, version, local);
                var (status, _) = await provider.PutDocumentAsync(KeyBundle.DocumentId, KeyBundle.Kind, sealedBundle, remote?.Revision, ct).ConfigureAwait(false);
                if (status == Sync.WriteStatus.Ok)
                {
                    await SetHighestSeenAsync(store, account, version, ct).ConfigureAwait(false);
                    return version;
                }

                if (attempt == MaxAttempts)
                {
                    throw new ProviderUnavailableException("the key bundle kept changing at the provider while it was being written; try again");
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(amk);
        }
    }

    /// <summary>
    /// Fetches the provider's bundle and adds the keys this device lacks (a new device, or after a rotation
    /// elsewhere). Returns the version opened, or null when the provider holds no bundle yet.
    /// </summary>
    /// <exception cref="KeyBundleException">The bundle is malformed, not authentic, or older than one seen here.</exception>
    public static async Task<ulong?> FetchAsync(LocalStore store, AccountRecord account, ProviderClient provider, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(provider);
        var remote = await provider.GetDocumentAsync(KeyBundle.DocumentId, ct).ConfigureAwait(false);
        if (remote is null)
        {
            return null;
        }

        var (accountId, amk) = await KeysOfAsync(store, account, ct).ConfigureAwait(false);
        try
        {
            var content = OpenChecked(amk, accountId, account.Address, remote.Content, await HighestSeenAsync(store, account, ct).ConfigureAwait(false), out ulong version);
            await ImportAsync(store, account, content, ct).ConfigureAwait(false);
            await SetHighestSeenAsync(store, account, version, ct).ConfigureAwait(false);
            return version;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(amk);
        }
    }

    /// <summary>The account-wide keys of this device's store, as a bundle (device-only keys left out).</summary>
    public static async Task<KeyBundleContent> CollectAsync(LocalStore store, AccountRecord account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        var keys = await store.Keys.ListAsync(account.Id, ct: ct).ConfigureAwait(false);
        return new KeyBundleContent(keys.Where(k => !KeyBundleContent.IsDeviceOnly(k.Purpose))
            .Select(k => new BundledKey(k.Purpose, k.Material, k.CreatedAt)).ToList());
    }

    /// <summary>Adds the bundle's keys this store lacks, oldest first, so the newest of each purpose stays current.</summary>
    public static async Task<int> ImportAsync(LocalStore store, AccountRecord account, KeyBundleContent content, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(content);
        var held = await store.Keys.ListAsync(account.Id, ct: ct).ConfigureAwait(false);
        int added = 0;
        foreach (var key in content.Keys.OrderBy(k => k.CreatedAt))
        {
            if (KeyBundleContent.IsDeviceOnly(key.Purpose)
                || held.Any(h => h.Purpose == key.Purpose && CryptographicOperations.FixedTimeEquals(h.Material, key.Material)))
            {
                continue;
            }

            await store.Keys.AddAsync(account.Id, key.Purpose, key.Material, key.CreatedAt, ct).ConfigureAwait(false);
            added++;
        }

        return added;
    }

    private static KeyBundleContent OpenChecked(byte[] amk, Guid accountId, string address, byte[] sealedBundle, ulong highest, out ulong version)
    {
        var status = KeyBundle.Open(amk, accountId, address, sealedBundle, highest, out var content, out version);
        return status switch
        {
            KeyBundleStatus.Ok => content!,
            KeyBundleStatus.Stale => throw new KeyBundleException(status,
                $"the provider served key bundle version {version}, older than version {highest} this device already opened: refusing the rollback"),
            KeyBundleStatus.NotAuthentic => throw new KeyBundleException(status,
                "the provider served a key bundle that does not authenticate for this account (altered, or another account's): refusing it"),
            _ => throw new KeyBundleException(status, "the provider served a malformed key bundle: refusing it"),
        };
    }

    private static async Task<(Guid AccountId, byte[] Amk)> KeysOfAsync(LocalStore store, AccountRecord account, CancellationToken ct)
    {
        var accountId = account.RemoteAccountId ?? throw new LocalStoreException($"{account.Address} is not registered with a provider");
        var amk = (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.AccountMasterKey, ct).ConfigureAwait(false))?.Material
            ?? throw new LocalStoreException($"{account.Address} has no account master key");
        return (accountId, amk);
    }

    private static Task SetHighestSeenAsync(LocalStore store, AccountRecord account, ulong version, CancellationToken ct)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, version);
        return store.Settings.SetAsync(VersionSetting(account), bytes, ct);
    }

    private static string VersionSetting(AccountRecord account) => $"keybundle.{account.Id}.version";
}
