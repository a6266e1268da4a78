using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>
/// The SQL of folders. Names are sealed; a keyed hash of the name enforces uniqueness. Works inside the
/// caller's transaction; <see cref="AccountMail"/> is the public surface.
/// </summary>
internal sealed class FolderStore
{
    private const string NameLookup = "folder-name";
    private readonly LocalStore _store;

    internal FolderStore(LocalStore store) => _store = store;

    /// <summary>The folders every account starts with, with their SPECIAL-USE roles (RFC 6154).</summary>
    public static IReadOnlyList<(string Name, FolderRole Role)> StandardFolders { get; } =
    [
        (AccountMail.InboxName, FolderRole.Inbox),
        ("Sent", FolderRole.Sent),
        ("Drafts", FolderRole.Drafts),
        ("Archive", FolderRole.Archive),
        ("Trash", FolderRole.Trash),
        ("Junk", FolderRole.Junk),
    ];

    /// <summary>The folders of an account, INBOX first, then by name.</summary>
    public List<FolderRecord> List(SqliteConnection connection, SqliteTransaction transaction, AccountId account)
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
    }

    /// <summary>The folder with this id, or null.</summary>
    public FolderRecord? Get(SqliteConnection connection, SqliteTransaction transaction, FolderId id)
    {
        using var command = Sql.Command(connection, transaction,
            "SELECT id, data, uid_validity, uid_next, highest_modseq, account_id FROM folders WHERE id = $id", ("$id", id.Value));
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader, new AccountId(reader.GetId(5))) : null;
    }

    /// <summary>The folder with this (canonical) name, or null.</summary>
    public FolderRecord? Find(SqliteConnection connection, SqliteTransaction transaction, AccountId account, string canonicalName)
    {
        using var command = Sql.Command(connection, transaction,
            "SELECT id, data, uid_validity, uid_next, highest_modseq FROM folders WHERE account_id = $account AND name_key = $key",
            ("$account", account.Value), ("$key", NameKey(account, canonicalName)));
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader, account) : null;
    }

    /// <summary>Adds a folder whose canonical name is free (the caller checked).</summary>
    public FolderRecord Insert(SqliteConnection connection, SqliteTransaction transaction, AccountId account, string canonicalName, FolderRole role)
    {
        if (string.Equals(canonicalName, AccountMail.InboxName, StringComparison.Ordinal) != (role == FolderRole.Inbox))
        {
            throw new ArgumentException("Only the folder named INBOX has the Inbox role.", nameof(role));
        }

        var folder = new FolderRecord(FolderId.New(), account, canonicalName, role, Subscribed: true, NewUidValidity(), UidNext: 1, HighestModSeq: 1);
        try
        {
            Sql.Execute(connection, transaction, """
                INSERT INTO folders (id, account_id, name_key, data, uid_validity, uid_next, highest_modseq)
                VALUES ($id, $account, $key, $data, $validity, 1, 1)
                """,
                ("$id", folder.Id.Value), ("$account", account.Value), ("$key", NameKey(account, canonicalName)),
                ("$data", Seal(folder)), ("$validity", (long)folder.UidValidity));
        }
        catch (SqliteException e) when (Sql.IsUniqueViolation(e))
        {
            throw new LocalStoreException($"a folder named {canonicalName} already exists");
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new LocalStoreException("no such account");
        }

        return folder;
    }

    /// <summary>Gives a folder a new (canonical, free) name; its id, UIDs and UIDVALIDITY stay, so a mail app's cache of it stays valid.</summary>
    public FolderRecord Rename(SqliteConnection connection, SqliteTransaction transaction, FolderRecord folder, string canonicalName)
    {
        var renamed = folder with { Name = canonicalName };
        Sql.Execute(connection, transaction, "UPDATE folders SET name_key = $key, data = $data WHERE id = $id",
            ("$id", folder.Id.Value), ("$key", NameKey(folder.Account, canonicalName)), ("$data", Seal(renamed)));
        return renamed;
    }

    /// <summary>Sets whether a folder is subscribed.</summary>
    public FolderRecord SetSubscribed(SqliteConnection connection, SqliteTransaction transaction, FolderRecord folder, bool subscribed)
    {
        var updated = folder with { Subscribed = subscribed };
        Sql.Execute(connection, transaction, "UPDATE folders SET data = $data WHERE id = $id", ("$id", folder.Id.Value), ("$data", Seal(updated)));
        return updated;
    }

    /// <summary>Deletes a folder with its messages.</summary>
    public void Delete(SqliteConnection connection, SqliteTransaction transaction, FolderRecord folder)
    {
        Sql.Execute(connection, transaction, "DELETE FROM folders WHERE id = $id", ("$id", folder.Id.Value));
        _store.Emit(new FolderRemovedChange(folder.Account, folder.Id));
    }

    /// <summary>The canonical form of a folder name (INBOX in any case is INBOX), or null with the reason when it is not acceptable.</summary>
    public static string? Canonical(string? name, out string problem)
    {
        problem = "";
        if (string.IsNullOrWhiteSpace(name))
        {
            problem = "A folder name cannot be empty.";
            return null;
        }

        if (name.Length > AccountMail.MaxFolderNameLength)
        {
            problem = $"A folder name is at most {AccountMail.MaxFolderNameLength} characters.";
            return null;
        }

        if (name.Any(char.IsControl))
        {
            problem = "A folder name cannot contain control characters.";
            return null;
        }

        return string.Equals(name, AccountMail.InboxName, StringComparison.OrdinalIgnoreCase) ? AccountMail.InboxName : name;
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
