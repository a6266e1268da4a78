using Letterlock.Provider.Accounts;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Hosting;

/// <summary>
/// Administration on the provider's storage, used by the CLI (<c>letterlock provider invite</c>,
/// <c>letterlock provider accounts ...</c>). Works while the provider runs: SQLite in WAL mode and
/// PostgreSQL both allow a second writer process.
/// </summary>
public sealed class ProviderAdmin : IAsyncDisposable
{
    private readonly IProviderStore _store;
    private readonly AccountService _accounts;

    private readonly string? _databaseOverride;

    private ProviderAdmin(ProviderSettings settings, IProviderStore store, string? databaseOverride)
    {
        Settings = settings;
        _store = store;
        _databaseOverride = databaseOverride;
        _accounts = new AccountService(store, settings, TimeProvider.System);
    }

    public ProviderSettings Settings { get; }

    public static async Task<ProviderAdmin> OpenAsync(string dataDirectory, string? databaseOverride, CancellationToken ct)
    {
        var settings = ProviderSettingsLoader.Load(dataDirectory);
        var database = DatabaseLocation.Parse(databaseOverride ?? settings.Database, settings.DataDirectory);
        var notifier = new ChangeNotifier();
        IProviderStore store = database.IsPostgres ? new PostgresProviderStore(database.ConnectionString, notifier) : new SqliteProviderStore(database.ConnectionString, notifier);
        try
        {
            await store.InitializeAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new ProviderAdmin(settings, store, databaseOverride);
    }

    public Task<(string Token, DateTimeOffset ExpiresAt)> CreateInviteAsync(TimeSpan? lifetime, CancellationToken ct) => _accounts.CreateInviteAsync(lifetime, ct);

    public Task<IReadOnlyList<AccountRecord>> ListAccountsAsync(CancellationToken ct) => _store.ListAccountsAsync(ct);

    /// <summary>Finds an account by <c>local@domain</c> or by its local part alone.</summary>
    public async Task<AccountRecord> FindAsync(string address, CancellationToken ct)
    {
        string local = address.Contains('@', StringComparison.Ordinal) ? address : $"{address}@{Settings.Domain}";
        if (!AccountService.TryParseAddress(local, out string localPart, out string domain) || !string.Equals(domain, Settings.Domain, StringComparison.OrdinalIgnoreCase))
        {
            throw new SettingsException($"'{address}' is not an address of {Settings.Domain}");
        }

        return await _store.FindAccountAsync(localPart, ct).ConfigureAwait(false) ?? throw new SettingsException($"no account {localPart}@{Settings.Domain}");
    }

    public async Task SetStatusAsync(string address, AccountStatus status, CancellationToken ct)
    {
        var account = await FindAsync(address, ct).ConfigureAwait(false);
        // A disabled account is published as revoked in key transparency (and an enabled one as not).
        await using var keyChanges = await Transparency.KeyChangeQueue.OpenAsync(Settings, _databaseOverride, TimeProvider.System, ct).ConfigureAwait(false);
        await keyChanges.AnnounceAsync(account.Id, ct).ConfigureAwait(false);
        await _store.SetAccountStatusAsync(account.Id, status, ct).ConfigureAwait(false);
        await keyChanges.RecordAsync(account.Id, ct).ConfigureAwait(false);
    }

    public async Task SetQuotaAsync(string address, long bytes, CancellationToken ct)
    {
        var account = await FindAsync(address, ct).ConfigureAwait(false);
        await _store.SetQuotaAsync(account.Id, bytes, ct).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _store.DisposeAsync();
}
