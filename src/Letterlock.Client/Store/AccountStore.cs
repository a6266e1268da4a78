using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>The accounts of this client. Addresses are sealed; a keyed hash finds them.</summary>
public sealed class AccountStore
{
    private const string AddressLookup = "account-address";
    private readonly LocalStore _store;

    internal AccountStore(LocalStore store) => _store = store;

    /// <summary>
    /// Adds an account with its standard folders (INBOX, Sent, Drafts, Archive, Trash, Junk) in one transaction.
    /// </summary>
    /// <exception cref="FormatException">The address is malformed.</exception>
    /// <exception cref="LocalStoreException">An account with this address already exists.</exception>
    public Task<AccountRecord> CreateAsync(string address, string? displayName, Uri? providerUrl,
        EncryptionPolicy policy = EncryptionPolicy.Opportunistic, CancellationToken ct = default)
    {
        var normalized = MailAddress.Normalize(address);
        var record = new AccountRecord(AccountId.New(), normalized, displayName, providerUrl, policy, _store.Time.GetUtcNow());
        return _store.Write((connection, transaction) =>
        {
            try
            {
                Sql.Execute(connection, transaction,
                    "INSERT INTO accounts (id, address_key, data) VALUES ($id, $key, $data)",
                    ("$id", record.Id.Value),
                    ("$key", _store.Cipher.LookupKey(AddressLookup, Guid.Empty, normalized)),
                    ("$data", Seal(record)));
            }
            catch (SqliteException e) when (Sql.IsUniqueViolation(e))
            {
                throw new LocalStoreException($"an account for {normalized} already exists in this client");
            }

            foreach (var (name, role) in FolderStore.StandardFolders)
            {
                _store.Folders.Insert(connection, transaction, record.Id, name, role);
            }

            return record;
        }, ct);
    }

    /// <summary>All accounts, oldest first.</summary>
    public Task<IReadOnlyList<AccountRecord>> ListAsync(CancellationToken ct = default) =>
        _store.Read<IReadOnlyList<AccountRecord>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction, "SELECT id, data FROM accounts");
            using var reader = command.ExecuteReader();
            var accounts = new List<AccountRecord>();
            while (reader.Read())
            {
                accounts.Add(Open(new AccountId(reader.GetId(0)), reader.GetBlob(1)));
            }

            return accounts.OrderBy(a => a.CreatedAt).ThenBy(a => a.Address, StringComparer.Ordinal).ToList();
        }, ct);

    /// <summary>The account with this id, or null.</summary>
    public Task<AccountRecord?> GetAsync(AccountId id, CancellationToken ct = default) =>
        _store.Read((connection, transaction) => Get(connection, transaction, id), ct);

    /// <summary>The account with this address, or null.</summary>
    public Task<AccountRecord?> FindAsync(string address, CancellationToken ct = default)
    {
        var normalized = MailAddress.TryNormalize(address);
        if (normalized is null)
        {
            return Task.FromResult<AccountRecord?>(null);
        }

        return _store.Read((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction, "SELECT id, data FROM accounts WHERE address_key = $key",
                ("$key", _store.Cipher.LookupKey(AddressLookup, Guid.Empty, normalized)));
            using var reader = command.ExecuteReader();
            return reader.Read() ? Open(new AccountId(reader.GetId(0)), reader.GetBlob(1)) : null;
        }, ct);
    }

    /// <summary>Updates display name, provider URL and policy (the address is fixed).</summary>
    public Task<AccountRecord> UpdateAsync(AccountRecord record, CancellationToken ct = default) =>
        _store.Write((connection, transaction) =>
        {
            var current = Get(connection, transaction, record.Id) ?? throw new LocalStoreException("no such account");
            var updated = record with { Address = current.Address, CreatedAt = current.CreatedAt };
            Sql.Execute(connection, transaction, "UPDATE accounts SET data = $data WHERE id = $id",
                ("$id", record.Id.Value), ("$data", Seal(updated)));
            return updated;
        }, ct);

    /// <summary>Removes an account and everything it owns (folders, messages, index, contacts, keys, jobs).</summary>
    public Task<bool> RemoveAsync(AccountId id, CancellationToken ct = default) =>
        _store.Write((connection, transaction) =>
        {
            var folders = new List<FolderId>();
            using (var command = Sql.Command(connection, transaction, "SELECT id FROM folders WHERE account_id = $id", ("$id", id.Value)))
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    folders.Add(new FolderId(reader.GetId(0)));
                }
            }

            foreach (var folder in folders)
            {
                _store.Emit(new FolderRemovedChange(id, folder));
            }

            return Sql.Execute(connection, transaction, "DELETE FROM accounts WHERE id = $id", ("$id", id.Value)) == 1;
        }, ct);

    internal AccountRecord? Get(SqliteConnection connection, SqliteTransaction transaction, AccountId id)
    {
        return Sql.Scalar(connection, transaction, "SELECT data FROM accounts WHERE id = $id", ("$id", id.Value)) is byte[] data
            ? Open(id, data)
            : null;
    }

    private byte[] Seal(AccountRecord record)
    {
        var data = new AccountData(record.Address, record.DisplayName, record.ProviderUrl?.ToString(), record.Policy, record.CreatedAt,
            record.ProviderDomain, record.RemoteAccountId, record.DeviceId);
        return _store.Cipher.Seal(SealedColumn.AccountData, record.Id.Value, Guid.Empty,
            JsonSerializer.SerializeToUtf8Bytes(data, StoreJson.Default.AccountData));
    }

    private AccountRecord Open(AccountId id, byte[] sealedData)
    {
        var plaintext = _store.Cipher.Open(SealedColumn.AccountData, id.Value, Guid.Empty, sealedData);
        var data = JsonSerializer.Deserialize(plaintext, StoreJson.Default.AccountData)
            ?? throw new StoreIntegrityException("an account record is empty");
        return new AccountRecord(id, data.Address, data.DisplayName,
            data.ProviderUrl is null ? null : new Uri(data.ProviderUrl), data.Policy, data.CreatedAt, data.ProviderDomain, data.RemoteAccountId, data.DeviceId);
    }
}
