using System.Buffers.Binary;
using System.Security.Cryptography;
using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;

namespace Letterlock.Client.Sync;

/// <summary>What <see cref="InboxKeyUpgrade.EnsureAsync"/> did.</summary>
public enum InboxUpgradeOutcome
{
    /// <summary>The provider already seals to the account's X-Wing inbox key.</summary>
    Current,

    /// <summary>The X-Wing inbox key was published now; mail arriving from here on is sealed to it.</summary>
    Published,

    /// <summary>The provider refused the X-Wing key (a provider older than X-Wing); tried again after a day.</summary>
    Refused,

    /// <summary>An earlier refusal is less than a day old; nothing was asked.</summary>
    Deferred,
}

/// <summary>
/// Moves an account made before X-Wing to a post-quantum inbox key: derives the account's X-Wing inbox key
/// from its account master key (<see cref="AccountKeys.DeriveXWingInbox"/>; every device derives the same one),
/// stores it beside the old X25519 key (which stays, to open what was sealed to it) and publishes it with
/// <c>PUT /v1/account/keys</c>, keeping the published OpenPGP certificate. Idempotent: once published it costs
/// one settings read. The bridge runs it before each account's sync.
/// </summary>
public static class InboxKeyUpgrade
{
    private static readonly TimeSpan RetryAfterRefusal = TimeSpan.FromDays(1);

    /// <summary>Makes sure the provider seals the account's arriving mail to its X-Wing inbox key.</summary>
    /// <exception cref="LocalStoreException">The account has no account master key.</exception>
    /// <exception cref="ProviderUnavailableException">The provider could not be reached (try again later).</exception>
    public static async Task<InboxUpgradeOutcome> EnsureAsync(LocalStore store, AccountRecord account, ProviderClient provider, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(provider);
        string setting = $"inbox.{account.Id}.xwing";
        var ring = await AccountKeys.LoadInboxKeysAsync(store, account.Id, ct).ConfigureAwait(false);
        byte[] publicKey;
        if (ring.HasXWing)
        {
            publicKey = ring.CurrentPublicKey;
        }
        else
        {
            var amk = (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.AccountMasterKey, ct).ConfigureAwait(false))?.Material
                ?? throw new LocalStoreException($"{account.Address} has no account master key");
            try
            {
                using var keys = AccountKeys.DeriveXWingInbox(amk);
                await store.Keys.AddAsync(account.Id, AccountKeys.InboxXWingSecret, keys.PrivateKey, ct).ConfigureAwait(false);
                publicKey = keys.PublicKey.ToArray();
            }
            finally
            {
                CryptographicOperations.ZeroMemory(amk);
            }
        }

        // setting = 0x01 || SHA-256(published key), or 0x02 || uint64 Unix seconds of the last refusal
        byte[] digest = SHA256.HashData(publicKey);
        var state = await store.Settings.GetAsync(setting, ct).ConfigureAwait(false);
        if (state is [1, .. var published] && published.AsSpan().SequenceEqual(digest))
        {
            return InboxUpgradeOutcome.Current;
        }

        var now = store.Time.GetUtcNow();
        if (state is { Length: 9 } && state[0] == 2
            && DateTimeOffset.FromUnixTimeSeconds((long)BinaryPrimitives.ReadUInt64BigEndian(state.AsSpan(1))) + RetryAfterRefusal > now)
        {
            return InboxUpgradeOutcome.Deferred;
        }

        var entry = await provider.GetDirectoryEntryAsync(account.Address, ct).ConfigureAwait(false);
        if (entry is not null && entry.InboxPublicKey.AsSpan().SequenceEqual(publicKey))
        {
            // Another device of the account (same master key, same derived key) published it already.
            await store.Settings.SetAsync(setting, (byte[])[1, .. digest], ct).ConfigureAwait(false);
            return InboxUpgradeOutcome.Current;
        }

        var certificate = entry?.OpenPgpCertificate
            ?? (await AccountKeys.LoadOpenPgpAsync(store, account.Id, ct).ConfigureAwait(false)).Certificate.Export(armored: false);
        try
        {
            await provider.UpdateKeysAsync(new UpdateKeysRequest(certificate, publicKey), ct).ConfigureAwait(false);
        }
        catch (ProviderProblemException e) when (e.Status == 400)
        {
            var refused = new byte[9];
            refused[0] = 2;
            BinaryPrimitives.WriteUInt64BigEndian(refused.AsSpan(1), (ulong)now.ToUnixTimeSeconds());
            await store.Settings.SetAsync(setting, refused, ct).ConfigureAwait(false);
            return InboxUpgradeOutcome.Refused;
        }

        await store.Settings.SetAsync(setting, (byte[])[1, .. digest], ct).ConfigureAwait(false);
        return InboxUpgradeOutcome.Published;
    }
}
