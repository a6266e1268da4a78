using Letterlock.Provider.Configuration;

namespace Letterlock.Provider.Transparency;

/// <summary>
/// The key-change queue on its own, for processes that change accounts but do not publish epochs (the admin
/// commands run beside <c>provider serve</c>): entries land in the shared database, the serving provider
/// publishes them with its next epoch.
/// </summary>
public sealed class KeyChangeQueue : IKeyChangeRecorder, IAsyncDisposable
{
    private readonly SqlTransparencyStore _store;
    private readonly TimeProvider _time;

    private KeyChangeQueue(SqlTransparencyStore store, TimeProvider time)
    {
        _store = store;
        _time = time;
    }

    /// <summary>Opens the queue in the database of <paramref name="settings"/> (creating the tables when missing).</summary>
    public static async Task<KeyChangeQueue> OpenAsync(ProviderSettings settings, string? databaseOverride, TimeProvider time, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var store = new SqlTransparencyStore(TransparencyDatabase.For(DatabaseLocation.Parse(databaseOverride ?? settings.Database, settings.DataDirectory)), nodeCacheSize: 0);
        try
        {
            await store.InitializeAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new KeyChangeQueue(store, time);
    }

    /// <inheritdoc />
    public Task AnnounceAsync(Guid accountId, CancellationToken ct) => _store.EnqueueAsync(accountId, _time.GetUtcNow(), ct);

    /// <inheritdoc />
    public Task RecordAsync(Guid accountId, CancellationToken ct) => _store.EnqueueAsync(accountId, _time.GetUtcNow(), ct);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _store.DisposeAsync();
}
