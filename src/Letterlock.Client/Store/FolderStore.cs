using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>Folders of each account. Names are sealed; a keyed hash of the name enforces uniqueness.</summary>
public sealed class FolderStore
{
    /// <summary>The name of the inbox (RFC 9051, 5.1: case-insensitive "INBOX").</summary>
    public const string InboxName = "INBOX";

    /// <summary>The longest folder name accepted, in characters.</summary>
    public const int MaxNameLength = 512;

    private const string NameLookup = "folder-name";
    private readonly LocalStore _store;

    internal FolderStore(LocalStore store) => _store = store;

    /// <summary>The folders every account starts with, with their SPECIAL-USE roles (RFC 6154).</summary>
    public static IReadOnlyList<(string Name, FolderRole Role)> StandardFolders { get; } =
    [
        (InboxName, FolderRole.Inbox),
        ("Sent", FolderRole.Sent),
        ("Drafts", FolderRole.Drafts),
        ("Archive", FolderRole.Archive),
        ("Trash", FolderRole.Trash),
        ("Junk", FolderRole.Junk),
    ];

    /// <summary>Creates a user folder.</summary>
    /// <exception cref="ArgumentException">The name is empty, too long, or has control characters.</exception>
    /// <exception cref="LocalStoreException">A folder of that name exists.</exception>
    public Task<FolderRecord> CreateAsync(AccountId account, string name, FolderRole role = FolderRole.None, CancellationToken ct = default) =>
        _store.Write((connection, transaction) => Insert(connection, transaction, account, name, role), ct);

    /// <summary>The folders of an account, INBOX first, then by name.</summary>
    public Task<IReadOnlyList<FolderRecord>> ListAsync(AccountId account, CancellationToken ct = default) =>
        _store.Read<IReadOnlyList<FolderRecord>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction,
                "SELECT id, data, uid_validity, uid_next, highest_modseq FROM folders WHERE account_id = $account",
                ("$account", account.Value));
            using var reader = command.ExecuteReader();
            var folders = new List<FolderRecord>();
            while (reader.Read())
            {
                folders.Add(Read(reader, account));
            }

            return folders
                .OrderBy(f => f.Role == FolderRole.Inbox ? 0 : 1)
                .ThenBy(f => f.Name, StringComparer.Ordinal)
                .ToList();
        }, ct);

    /// <summary>The folder with this id, or null.</summary>
    public Task<FolderRecord?> GetAsync(FolderId id, CancellationToken ct = default) =>
        _store.Read((connection, transaction) => Get(connection, transaction, id), ct);

    /// <summary>The folder with this name (INBOX case-insensitively), or null.</summary>
    public Task<FolderRecord?> FindAsync(AccountId account, string name, CancellationToken ct = default) =>
        _store.Read((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction,
                "SELECT id, data, uid_validity, uid_next, highest_modseq FROM folders WHERE account_id = $account AND name_key = $key",
                ("$account", account.Value), ("$key", NameKey(account, CanonicalName(name))));
            using var reader = command.ExecuteReader();
            return reader.Read() ? Read(reader, account) : null;
        }, ct);

    /// <summary>The folder with a SPECIAL-USE role, or null.</summary>
    public async Task<FolderRecord?> FindByRoleAsync(AccountId account, FolderRole role, CancellationToken ct = default) =>
        (await ListAsync(account, ct).ConfigureAwait(false)).FirstOrDefault(f => f.Role == role);

    /// <summary>Renames a folder (not INBOX). Its id, UIDs and UIDVALIDITY stay, so a mail app's cache of it stays valid.</summary>
    public Task<FolderRecord> RenameAsync(FolderId id, string newName, CancellationToken ct = default) =>
        _store.Write((connection, transaction) =>
        {
            var folder = Get(connection, transaction, id) ?? throw new LocalStoreException("no such folder");
            if (folder.Role == FolderRole.Inbox)
            {
                throw new LocalStoreException("INBOX cannot be renamed");
            }

            var name = CanonicalName(newName);
            if (string.Equals(name, InboxName, StringComparison.Ordinal))
            {
                throw new LocalStoreException("a folder cannot be renamed to INBOX");
            }

            var renamed = folder with { Name = name };
            try
            {
                Sql.Execute(connection, transaction,
                    "UPDATE folders SET name_key = $key, data = $data WHERE id = $id",
                    ("$id", id.Value), ("$key", NameKey(folder.Account, name)), ("$data", Seal(renamed)));
            }
            catch (SqliteException e) when (Sql.IsUniqueViolation(e))
            {
                throw new LocalStoreException($"a folder named {name} already exists");
            }

            return renamed;
        }, ct);

    /// <summary>Sets whether a folder is subscribed.</summary>
    public Task<FolderRecord> SetSubscribedAsync(FolderId id, bool subscribed, CancellationToken ct = default) =>
        _store.Write((connection, transaction) =>
        {
            var folder = Get(connection, transaction, id) ?? throw new LocalStoreException("no such folder");
            var updated = folder with { Subscribed = subscribed };
            Sql.Execute(connection, transaction, "UPDATE folders SET data = $data WHERE id = $id", ("$id", id.Value), ("$data", Seal(updated)));
            return updated;
        }, ct);

    /// <summary>Deletes a folder with its messages. INBOX cannot be deleted.</summary>
    public Task<bool> DeleteAsync(FolderId id, CancellationToken ct = default) =>
        _store.Write((connection, transaction) =>
        {
            var folder = Get(connection, transaction, id);
            if (folder is null)
            {
                return false;
            }

            if (folder.Role == FolderRole.Inbox)
            {
                throw new LocalStoreException("INBOX cannot be deleted");
            }

            Sql.Execute(connection, transaction, "DELETE FROM folders WHERE id = $id", ("$id", id.Value));
            _store.Emit(new FolderRemovedChange(folder.Account, id));
            return true;
        }, ct);

    internal FolderRecord Insert(SqliteConnection connection, SqliteTransaction transaction, AccountId account, string name, FolderRole role)
    {
        var canonical = CanonicalName(name);
        if (string.Equals(canonical, InboxName, StringComparison.Ordinal) != (role == FolderRole.Inbox))
        {
            throw new ArgumentException("Only the folder named INBOX has the Inbox role.", nameof(role));
        }

        var folder = new FolderRecord(FolderId.New(), account, canonical, role, Subscribed: true, NewUidValidity(), UidNext: 1, HighestModSeq: 1);
        try
        {
            Sql.Execute(connection, transaction, """
                INSERT INTO folders (id, account_id, name_key, data, uid_validity, uid_next, highest_modseq)
                VALUES ($id, $account, $key, $data, $validity, 1, 1)
                """,
                ("$id", folder.Id.Value), ("$account", account.Value), ("$key", NameKey(account, canonical)),
                ("$data", Seal(folder)), ("$validity", (long)folder.UidValidity));
        }
        catch (SqliteException e) when (Sql.IsUniqueViolation(e))
        {
            throw new LocalStoreException($"a folder named {canonical} already exists");
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new LocalStoreException("no such account");
        }

        return folder;
    }

    internal FolderRecord? Get(SqliteConnection connection, SqliteTransaction transaction, FolderId id)
    {
        using var command = Sql.Command(connection, transaction,
            "SELECT id, data, uid_validity, uid_next, highest_modseq, account_id FROM folders WHERE id = $id", ("$id", id.Value));
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader, new AccountId(reader.GetId(5))) : null;
    }

    private static string CanonicalName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Length > MaxNameLength)
        {
            throw new ArgumentException($"A folder name is at most {MaxNameLength} characters.", nameof(name));
        }

        if (name.Any(char.IsControl))
        {
            throw new ArgumentException("A folder name cannot contain control characters.", nameof(name));
        }

        return string.Equals(name, InboxName, StringComparison.OrdinalIgnoreCase) ? InboxName : name;
    }

    private static uint NewUidValidity()
    {
        // Random and non-zero: a folder deleted and re-created under the same name must not reuse
        // the old UIDVALIDITY, or a mail app would trust its stale cache (RFC 9051, 2.3.1.1).
        return (uint)RandomNumberGenerator.GetInt32(1, int.MaxValue);
    }

    private byte[] NameKey(AccountId account, string canonicalName) =>
        _store.Cipher.LookupKey(NameLookup, account.Value, canonicalName);

    private byte[] Seal(FolderRecord folder) =>
        _store.Cipher.Seal(SealedColumn.FolderData, folder.Id.Value, folder.Account.Value,
            JsonSerializer.SerializeToUtf8Bytes(new FolderData(folder.Name, folder.Role, folder.Subscribed), StoreJson.Default.FolderData));

    private FolderRecord Read(SqliteDataReader reader, AccountId account)
    {
        var id = new FolderId(reader.GetId(0));
        var data = JsonSerializer.Deserialize(_store.Cipher.Open(SealedColumn.FolderData, id.Value, account.Value, reader.GetBlob(1)),
            StoreJson.Default.FolderData) ?? throw new StoreIntegrityException("a folder record is empty");
        return new FolderRecord(id, account, data.Name, data.Role, data.Subscribed,
            (uint)reader.GetInt64(2), (uint)reader.GetInt64(3), (ulong)reader.GetInt64(4));
    }
}
