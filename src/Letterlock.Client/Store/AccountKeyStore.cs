using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>
/// Private key material of each account, sealed under the local key. Several keys may share a
/// purpose (encryption subkeys rotate); the newest is the current one.
/// </summary>
public sealed class AccountKeyStore
{
    private readonly LocalStore _store;

    internal AccountKeyStore(LocalStore store) => _store = store;

    /// <summary>Stores key material for a purpose such as <c>openpgp-secret</c>, <c>inbox-secret</c>, <c>device-secret</c>, <c>account-master-key</c>.</summary>
    public Task<StoredKey> AddAsync(AccountId account, string purpose, ReadOnlyMemory<byte> material, CancellationToken ct = default) =>
        AddAsync(account, purpose, material, _store.Time.GetUtcNow(), ct);

    /// <summary>Stores key material made elsewhere (another device of the account) with the time it was made.</summary>
    public Task<StoredKey> AddAsync(AccountId account, string purpose, ReadOnlyMemory<byte> material, DateTimeOffset createdAt, CancellationToken ct = default)
    {
        var key = NewKey(purpose, material, createdAt);
        return _store.Write((connection, transaction) => Insert(connection, transaction, account, key), ct);
    }

    /// <summary>
    /// Adds and deletes keys of an account in one transaction: a state that spans several keys (a device's sessions,
    /// the prekeys they spent, what they opened) is saved whole or not at all. Returns the keys added, in order.
    /// </summary>
    public Task<IReadOnlyList<StoredKey>> ChangeAsync(AccountId account, IReadOnlyList<(string Purpose, ReadOnlyMemory<byte> Material)> add,
        IReadOnlyCollection<Guid> delete, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(add);
        return ChangeAsync(account, add.Select(a => (Guid.NewGuid(), a.Purpose, a.Material)).ToList(), delete, null, ct);
    }

    /// <summary>
    /// As <see cref="ChangeAsync(AccountId, IReadOnlyList{ValueTuple{string, ReadOnlyMemory{byte}}}, IReadOnlyCollection{Guid}, CancellationToken)"/>,
    /// with the ids of the keys added chosen by the caller (so another key added with them can name them), and
    /// <paramref name="also"/> run in the same transaction (a job queued with the state that made it).
    /// </summary>
    internal Task<IReadOnlyList<StoredKey>> ChangeAsync(AccountId account, IReadOnlyList<(Guid Id, string Purpose, ReadOnlyMemory<byte> Material)> add,
        IReadOnlyCollection<Guid> delete, Action<SqliteConnection, SqliteTransaction>? also, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(add);
        ArgumentNullException.ThrowIfNull(delete);
        var now = _store.Time.GetUtcNow();
        var keys = add.Select(a => NewKey(a.Id, a.Purpose, a.Material, now)).ToList();
        return _store.Write<IReadOnlyList<StoredKey>>((connection, transaction) =>
        {
            foreach (var id in delete)
            {
                Delete(connection, transaction, account, id);
            }

            var added = keys.Select(key => Insert(connection, transaction, account, key)).ToList();
            also?.Invoke(connection, transaction);
            return added;
        }, ct);
    }

    private static StoredKey NewKey(string purpose, ReadOnlyMemory<byte> material, DateTimeOffset createdAt) => NewKey(Guid.NewGuid(), purpose, material, createdAt);

    private static StoredKey NewKey(Guid id, string purpose, ReadOnlyMemory<byte> material, DateTimeOffset createdAt)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(purpose);
        if (purpose.Length > 64 || !purpose.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
        {
            throw new ArgumentException("A key purpose is up to 64 ASCII letters, digits, '-' or '.'.", nameof(purpose));
        }

        return new StoredKey(id, purpose, material.ToArray(), createdAt);
    }

    private StoredKey Insert(SqliteConnection connection, SqliteTransaction transaction, AccountId account, StoredKey key)
    {
        try
        {
            Sql.Execute(connection, transaction,
                "INSERT INTO account_keys (id, account_id, purpose, data) VALUES ($id, $account, $purpose, $data)",
                ("$id", key.Id), ("$account", account.Value), ("$purpose", key.Purpose),
                ("$data", _store.Cipher.Seal(SealedColumn.AccountKey, key.Id, account.Value,
                    JsonSerializer.SerializeToUtf8Bytes(new KeyData(key.Material, key.CreatedAt), StoreJson.Default.KeyData))));
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new LocalStoreException("no such account");
        }

        return key;
    }

    /// <summary>Deletes one key inside a transaction of the store (one that commits other changes with it).</summary>
    internal static bool Delete(SqliteConnection connection, SqliteTransaction transaction, AccountId account, Guid keyId) =>
        Sql.Execute(connection, transaction, "DELETE FROM account_keys WHERE id = $id AND account_id = $account", ("$id", keyId), ("$account", account.Value)) == 1;

    /// <summary>The keys of an account (of one purpose, or all), oldest first.</summary>
    public Task<IReadOnlyList<StoredKey>> ListAsync(AccountId account, string? purpose = null, CancellationToken ct = default) =>
        _store.Read<IReadOnlyList<StoredKey>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction,
                "SELECT id, purpose, data FROM account_keys WHERE account_id = $account AND ($purpose IS NULL OR purpose = $purpose) ORDER BY rowid",
                ("$account", account.Value), ("$purpose", purpose));
            using var reader = command.ExecuteReader();
            var keys = new List<StoredKey>();
            while (reader.Read())
            {
                var id = reader.GetId(0);
                var data = JsonSerializer.Deserialize(_store.Cipher.Open(SealedColumn.AccountKey, id, account.Value, reader.GetBlob(2)),
                    StoreJson.Default.KeyData) ?? throw new StoreIntegrityException("a key record is empty");
                keys.Add(new StoredKey(id, reader.GetString(1), data.Material, data.CreatedAt));
            }

            return keys;
        }, ct);

    /// <summary>One key of an account by its id, or null when there is none (of that purpose).</summary>
    public Task<StoredKey?> GetAsync(AccountId account, Guid keyId, string purpose, CancellationToken ct = default) =>
        _store.Read<StoredKey?>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction,
                "SELECT data FROM account_keys WHERE account_id = $account AND id = $id AND purpose = $purpose",
                ("$account", account.Value), ("$id", keyId), ("$purpose", purpose));
            using var reader = command.ExecuteReader();
            if (!reader.Read())
            {
                return null;
            }

            var data = JsonSerializer.Deserialize(_store.Cipher.Open(SealedColumn.AccountKey, keyId, account.Value, reader.GetBlob(0)),
                StoreJson.Default.KeyData) ?? throw new StoreIntegrityException("a key record is empty");
            return new StoredKey(keyId, purpose, data.Material, data.CreatedAt);
        }, ct);

    /// <summary>The newest key of a purpose, or null.</summary>
    public async Task<StoredKey?> GetCurrentAsync(AccountId account, string purpose, CancellationToken ct = default) =>
        (await ListAsync(account, purpose, ct).ConfigureAwait(false)).LastOrDefault();

    /// <summary>Deletes one key.</summary>
    public Task<bool> DeleteAsync(AccountId account, Guid keyId, CancellationToken ct = default) =>
        _store.Write((connection, transaction) => Delete(connection, transaction, account, keyId), ct);
}
