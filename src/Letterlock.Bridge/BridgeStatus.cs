using System.Text.Json;
using Letterlock.Client;
using Letterlock.Client.Store;

namespace Letterlock.Bridge;

/// <summary>What the bridge last knew of one account, kept for <c>letterlock status</c> (which reads it while the bridge runs).</summary>
/// <param name="Online">Whether the last sync reached the provider.</param>
/// <param name="LastSync">When the last successful sync ended, or null.</param>
/// <param name="LastError">The last failure (sync or delivery), never content or secrets, or null.</param>
/// <param name="LastErrorAt">When it happened.</param>
/// <param name="UpdatedAt">When the bridge last wrote this.</param>
public sealed record AccountBridgeStatus(bool Online, DateTimeOffset? LastSync, string? LastError, DateTimeOffset? LastErrorAt, DateTimeOffset UpdatedAt);

/// <summary>
/// Keeps each account's <see cref="AccountBridgeStatus"/> in the store (setting <c>bridge.status.ACCOUNT</c>, sealed
/// JSON): the store is shared between processes, so any command reads what the running bridge last wrote.
/// </summary>
public static class BridgeStatus
{
    /// <summary>The setting that holds an account's status.</summary>
    public static string SettingName(AccountId account) => "bridge.status." + account.Value.ToString("N");

    /// <summary>The account's last status, or null when no bridge has synced it yet.</summary>
    public static async Task<AccountBridgeStatus?> LoadAsync(LocalStore store, AccountId account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var bytes = await store.Settings.GetAsync(SettingName(account), ct).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(bytes, BridgeJson.Default.AccountBridgeStatus);
        }
        catch (JsonException)
        {
            // A status is a cache of what the bridge saw: an unreadable one is as good as none.
            return null;
        }
    }

    /// <summary>Records the end of a sync: successful when <paramref name="error"/> is null.</summary>
    internal static async Task SaveSyncAsync(LocalStore store, AccountId account, string? error, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var old = await LoadAsync(store, account, ct).ConfigureAwait(false);
        var status = error is null
            ? new AccountBridgeStatus(true, now, old?.LastError, old?.LastErrorAt, now)
            : new AccountBridgeStatus(false, old?.LastSync, error, now, now);
        await SaveAsync(store, account, status, ct).ConfigureAwait(false);
    }

    /// <summary>Records a failure that is not the account's sync (a message not delivered).</summary>
    internal static async Task SaveErrorAsync(LocalStore store, AccountId account, string error, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var old = await LoadAsync(store, account, ct).ConfigureAwait(false);
        await SaveAsync(store, account, new AccountBridgeStatus(old?.Online ?? false, old?.LastSync, error, now, now), ct).ConfigureAwait(false);
    }

    private static Task SaveAsync(LocalStore store, AccountId account, AccountBridgeStatus status, CancellationToken ct) =>
        store.Settings.SetAsync(SettingName(account), JsonSerializer.SerializeToUtf8Bytes(status, BridgeJson.Default.AccountBridgeStatus), ct);
}
