using System.Text;
using System.Text.Json;
using Letterlock.Client.Search;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>How <see cref="MessageStore.SetFlagsAsync"/> combines flags (IMAP STORE FLAGS / +FLAGS / -FLAGS).</summary>
public enum FlagOperation
{
    /// <summary>Replace all flags.</summary>
    Replace,

    /// <summary>Add the given flags.</summary>
    Add,

    /// <summary>Remove the given flags.</summary>
    Remove,
}

/// <summary>One message moved or copied: where it came from and what it became.</summary>
/// <param name="Source">The message that was moved or copied.</param>
/// <param name="SourceUid">Its UID in the source folder.</param>
/// <param name="Result">The message in the target folder.</param>
public sealed record TransferResult(MessageId Source, Uid SourceUid, StoredMessage Result);

/// <summary>The result of a flag update: the message after it, whether it was applied (CONDSTORE UNCHANGEDSINCE), and whether its flags changed.</summary>
public sealed record FlagUpdate(StoredMessage Message, bool Applied, bool Changed = false);

/// <summary>
/// Messages of each folder: sealed summary, flags and body, IMAP UIDs and MODSEQs, expunge
/// tombstones for QRESYNC, and the keyed-hash search index.
/// </summary>
public sealed partial class MessageStore
{
    private const string SelectColumns = "m.id, m.folder_id, m.uid, m.modseq, m.flags, m.summary, m.remote_id, m.remote_revision, m.account_id";
    private readonly LocalStore _store;

    internal MessageStore(LocalStore store) => _store = store;

    /// <summary>Adds a message to a folder; it gets the folder's next UID. Indexed in the same transaction.</summary>
    /// <exception cref="ArgumentException">The body is too large or a flag is malformed.</exception>
    public async Task<StoredMessage> AppendAsync(FolderId folderId, NewMessage message, CancellationToken ct = default) =>
        (await AppendManyAsync(folderId, [message], ct).ConfigureAwait(false))[0];

    /// <summary>
    /// Adds several messages to a folder in one transaction (one durable commit), in the given order:
    /// they get consecutive UIDs and are indexed in the same transaction; either all are stored or none.
    /// </summary>
    /// <exception cref="ArgumentException">A body is too large or a flag is malformed (nothing is stored).</exception>
    public async Task<IReadOnlyList<StoredMessage>> AppendManyAsync(FolderId folderId, IReadOnlyList<NewMessage> messages, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var account = await _store.Read((connection, transaction) => _store.Folders.Get(connection, transaction, folderId), ct).ConfigureAwait(false)
            ?? throw new LocalStoreException("no such folder");
        // Sealing and the index tokens are the CPU of an append: done before the write lock is taken.
        var prepared = messages.Select(m => Prepare(account.Account, m)).ToList();
        return await _store.Write<IReadOnlyList<StoredMessage>>((connection, transaction) =>
            prepared.Select(p => Append(connection, transaction, folderId, p)).ToList(), ct).ConfigureAwait(false);
    }

    /// <summary>The body of <see cref="AppendAsync"/>, for callers that add a message inside a larger write transaction.</summary>
    internal StoredMessage Append(SqliteConnection connection, SqliteTransaction transaction, FolderId folderId, NewMessage message)
    {
        var folder = _store.Folders.Get(connection, transaction, folderId) ?? throw new LocalStoreException("no such folder");
        return Append(connection, transaction, folderId, Prepare(folder.Account, message));
    }

    /// <summary>
    /// Everything of an append that needs no database: the row id, the sealed flags, summary and body,
    /// and the keyed-hash index tokens. Thread-safe, so sync prepares a page's messages on several cores
    /// and then writes them in one transaction, in order.
    /// </summary>
    /// <exception cref="ArgumentException">The body is too large or a flag is malformed.</exception>
    internal PreparedMessage Prepare(AccountId account, NewMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Body.Length > _store.Options.MaxMessageBytes)
        {
            throw new ArgumentException($"The message is larger than the limit of {_store.Options.MaxMessageBytes} bytes.", nameof(message));
        }

        var flags = NormalizeFlags(message.Flags);
        var id = MessageId.New();
        var scope = account.Value;
        return new PreparedMessage(id, account, message, flags, SealFlags(id, scope, flags),
            _store.Cipher.Seal(SealedColumn.MessageSummary, id.Value, scope, JsonSerializer.SerializeToUtf8Bytes(message.Summary, StoreJson.Default.MessageSummary)),
            _store.Cipher.Seal(SealedColumn.MessageBody, id.Value, scope, message.Body.Span),
            IndexTokens(account, message.Summary, message.IndexText));
    }

    /// <summary>Writes a prepared message into a folder of its account, inside the caller's write transaction.</summary>
    internal StoredMessage Append(SqliteConnection connection, SqliteTransaction transaction, FolderId folderId, PreparedMessage prepared)
    {
        var folder = _store.Folders.Get(connection, transaction, folderId) ?? throw new LocalStoreException("no such folder");
        if (folder.Account != prepared.Account)
        {
            throw new LocalStoreException("a message was prepared for another account");
        }

        var id = prepared.Id;
        var message = prepared.Message;
        var (uid, modseq) = NextUid(connection, transaction, folderId);
        Sql.Execute(connection, transaction, """
            INSERT INTO messages (id, account_id, folder_id, uid, modseq, remote_id, remote_revision, flags, summary)
            VALUES ($id, $account, $folder, $uid, $modseq, $remoteId, $remoteRevision, $flags, $summary)
            """,
            ("$id", id.Value), ("$account", folder.Account.Value), ("$folder", folderId.Value), ("$uid", (long)uid.Value), ("$modseq", (long)modseq),
            ("$remoteId", message.Remote?.DocumentId), ("$remoteRevision", message.Remote?.Revision),
            ("$flags", prepared.SealedFlags), ("$summary", prepared.SealedSummary));
        Sql.Execute(connection, transaction, "INSERT INTO message_bodies (message_id, body) VALUES ($id, $body)",
            ("$id", id.Value), ("$body", prepared.SealedBody));
        using (var command = Sql.Command(connection, transaction,
            "INSERT OR IGNORE INTO search_tokens (token, message_id) VALUES ($token, $id)", ("$token", Array.Empty<byte>()), ("$id", id.Value)))
        {
            command.Prepare();
            foreach (var token in prepared.Tokens)
            {
                command.Parameters["$token"].Value = token;
                command.ExecuteNonQuery();
            }
        }

        _store.Emit(new MessageAddedChange(folder.Account, folderId, id, uid, modseq, prepared.Flags));
        return new StoredMessage(id, folder.Account, folderId, uid, modseq, prepared.Flags, message.Summary, message.Remote);
    }

    /// <summary>The messages of a folder in UID order (without bodies).</summary>
    public Task<IReadOnlyList<StoredMessage>> ListAsync(FolderId folderId, CancellationToken ct = default) =>
        _store.Read<IReadOnlyList<StoredMessage>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction,
                $"SELECT {SelectColumns} FROM messages m WHERE m.folder_id = $folder ORDER BY m.uid", ("$folder", folderId.Value));
            using var reader = command.ExecuteReader();
            var messages = new List<StoredMessage>();
            while (reader.Read())
            {
                messages.Add(Read(reader));
            }

            return messages;
        }, ct);

    /// <summary>The message with this id, or null.</summary>
    public Task<StoredMessage?> GetAsync(MessageId id, CancellationToken ct = default) =>
        _store.Read((connection, transaction) => Get(connection, transaction, id), ct);

    /// <summary>The message mirroring a provider document, or null.</summary>
    public Task<StoredMessage?> FindByRemoteAsync(AccountId account, string documentId, CancellationToken ct = default) =>
        _store.Read((connection, transaction) => FindByRemote(connection, transaction, account, documentId), ct);

    /// <summary>As <see cref="FindByRemoteAsync"/>, inside the caller's transaction.</summary>
    internal StoredMessage? FindByRemote(SqliteConnection connection, SqliteTransaction transaction, AccountId account, string documentId)
    {
        using var command = Sql.Command(connection, transaction,
            $"SELECT {SelectColumns} FROM messages m WHERE m.account_id = $account AND m.remote_id = $remote",
            ("$account", account.Value), ("$remote", documentId));
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader) : null;
    }

    /// <summary>
    /// The provider revision each of these documents has locally (documents with no local message are absent),
    /// in one read without decrypting anything: sync decides from it which documents of a page to download.
    /// </summary>
    internal Task<Dictionary<string, long>> RemoteRevisionsAsync(AccountId account, IReadOnlyCollection<string> documentIds, CancellationToken ct) =>
        _store.Read((connection, transaction) =>
        {
            var known = new Dictionary<string, long>(StringComparer.Ordinal);
            using var command = Sql.Command(connection, transaction,
                "SELECT remote_revision FROM messages WHERE account_id = $account AND remote_id = $remote",
                ("$account", account.Value), ("$remote", ""));
            command.Prepare();
            foreach (var id in documentIds)
            {
                command.Parameters["$remote"].Value = id;
                if (command.ExecuteScalar() is { } value)
                {
                    known[id] = value is DBNull ? 0 : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            return known;
        }, ct);

    /// <summary>The full decrypted message.</summary>
    /// <exception cref="LocalStoreException">No such message.</exception>
    public Task<byte[]> ReadBodyAsync(MessageId id, CancellationToken ct = default) =>
        _store.Read((connection, transaction) => ReadBody(connection, transaction, id), ct);

    /// <summary>
    /// The full decrypted message, synchronously (SQLite I/O is synchronous anyway), for callers
    /// such as search evaluation that pull content on demand; null when the message is gone.
    /// </summary>
    public byte[]? TryReadBody(MessageId id)
    {
        using var connection = _store.OpenConnection();
        using var transaction = connection.BeginTransaction(deferred: true);
        return Get(connection, transaction, id) is null ? null : ReadBody(connection, transaction, id);
    }

    private byte[] ReadBody(SqliteConnection connection, SqliteTransaction transaction, MessageId id)
    {
        {
            using var command = Sql.Command(connection, transaction,
                "SELECT m.account_id, b.body FROM messages m JOIN message_bodies b ON b.message_id = m.id WHERE m.id = $id",
                ("$id", id.Value));
            using var reader = command.ExecuteReader();
            if (!reader.Read())
            {
                throw new LocalStoreException("no such message");
            }

            return _store.Cipher.Open(SealedColumn.MessageBody, id.Value, reader.GetId(0), reader.GetBlob(1));
        }
    }

    /// <summary>
    /// Changes flags; the MODSEQ rises only when the flags actually change. With
    /// <paramref name="unchangedSince"/> (CONDSTORE, RFC 7162 3.1.3) nothing is changed when the
    /// message's MODSEQ is higher, and <see cref="FlagUpdate.Applied"/> is false.
    /// </summary>
    public async Task<FlagUpdate> SetFlagsAsync(MessageId id, FlagOperation operation, IEnumerable<string> flags,
        ulong? unchangedSince = null, CancellationToken ct = default) =>
        (await SetFlagsManyAsync([id], operation, flags, unchangedSince, ct).ConfigureAwait(false)).SingleOrDefault()
            ?? throw new LocalStoreException("no such message");

    /// <summary>Changes the flags of several messages in one transaction; messages that no longer exist are skipped.</summary>
    public Task<IReadOnlyList<FlagUpdate>> SetFlagsManyAsync(IReadOnlyList<MessageId> ids, FlagOperation operation, IEnumerable<string> flags,
        ulong? unchangedSince = null, CancellationToken ct = default) => SetFlagsManyAsync(ids, operation, flags, unchangedSince, markDirty: true, ct);

    /// <summary>As above; sync applies remote changes with <paramref name="markDirty"/> false so they are not pushed back.</summary>
    internal Task<IReadOnlyList<FlagUpdate>> SetFlagsManyAsync(IReadOnlyList<MessageId> ids, FlagOperation operation, IEnumerable<string> flags,
        ulong? unchangedSince, bool markDirty, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var given = NormalizeFlags(flags);
        return _store.Write<IReadOnlyList<FlagUpdate>>((connection, transaction) =>
        {
            var results = new List<FlagUpdate>(ids.Count);
            foreach (var id in ids)
            {
                if (Get(connection, transaction, id) is { } message)
                {
                    var update = SetFlagsCore(connection, transaction, message, operation, given, unchangedSince);
                    if (update.Changed && markDirty)
                    {
                        MarkDirty(connection, transaction, message);
                    }

                    results.Add(update);
                }
            }

            return results;
        }, ct);
    }

    /// <summary>Moves a message to another folder of the same account (IMAP MOVE): a new UID there, a tombstone here.</summary>
    public async Task<StoredMessage> MoveAsync(MessageId id, FolderId target, CancellationToken ct = default) =>
        (await MoveManyAsync([id], target, ct).ConfigureAwait(false)).SingleOrDefault()?.Result ?? throw new LocalStoreException("no such message");

    /// <summary>Moves several messages in one transaction, in the given order; messages that no longer exist are skipped.</summary>
    public Task<IReadOnlyList<TransferResult>> MoveManyAsync(IReadOnlyList<MessageId> ids, FolderId target, CancellationToken ct = default) =>
        MoveManyAsync(ids, target, markDirty: true, ct);

    /// <summary>As above; sync applies remote moves with <paramref name="markDirty"/> false.</summary>
    internal Task<IReadOnlyList<TransferResult>> MoveManyAsync(IReadOnlyList<MessageId> ids, FolderId target, bool markDirty, CancellationToken ct) =>
        _store.Write<IReadOnlyList<TransferResult>>((connection, transaction) =>
        {
            var moved = new List<TransferResult>(ids.Count);
            foreach (var id in ids)
            {
                if (Get(connection, transaction, id) is { } message)
                {
                    var result = MoveCore(connection, transaction, message, target);
                    if (markDirty && result.Folder != message.Folder)
                    {
                        MarkDirty(connection, transaction, message);
                    }

                    moved.Add(new TransferResult(id, message.Uid, result));
                }
            }

            return moved;
        }, ct);

    /// <summary>Copies a message to another folder of the same account (IMAP COPY), re-sealed under its new row id.</summary>
    public async Task<StoredMessage> CopyAsync(MessageId id, FolderId target, CancellationToken ct = default) =>
        (await CopyManyAsync([id], target, ct).ConfigureAwait(false)).SingleOrDefault()?.Result ?? throw new LocalStoreException("no such message");

    /// <summary>Copies several messages in one transaction, in the given order; messages that no longer exist are skipped.</summary>
    public Task<IReadOnlyList<TransferResult>> CopyManyAsync(IReadOnlyList<MessageId> ids, FolderId target, CancellationToken ct = default) =>
        _store.Write<IReadOnlyList<TransferResult>>((connection, transaction) =>
        {
            var copies = new List<TransferResult>(ids.Count);
            foreach (var id in ids)
            {
                if (Get(connection, transaction, id) is { } message)
                {
                    copies.Add(new TransferResult(id, message.Uid, CopyCore(connection, transaction, message, target)));
                }
            }

            return copies;
        }, ct);

    /// <summary>Removes a message for good (IMAP EXPUNGE), leaving a tombstone for QRESYNC.</summary>
    public async Task<bool> DeleteAsync(MessageId id, CancellationToken ct = default) =>
        (await DeleteManyAsync([id], ct).ConfigureAwait(false)).Count == 1;

    /// <summary>Removes several messages in one transaction; returns those that existed.</summary>
    public Task<IReadOnlyList<StoredMessage>> DeleteManyAsync(IReadOnlyList<MessageId> ids, CancellationToken ct = default) =>
        DeleteManyAsync(ids, pushDeletion: true, ct);

    /// <summary>As above; sync applies remote deletions with <paramref name="pushDeletion"/> false.</summary>
    internal Task<IReadOnlyList<StoredMessage>> DeleteManyAsync(IReadOnlyList<MessageId> ids, bool pushDeletion, CancellationToken ct) =>
        _store.Write<IReadOnlyList<StoredMessage>>((connection, transaction) =>
        {
            var deleted = new List<StoredMessage>(ids.Count);
            foreach (var id in ids)
            {
                if (Get(connection, transaction, id) is { } message)
                {
                    Delete(connection, transaction, message, pushDeletion);
                    deleted.Add(message);
                }
            }

            return deleted;
        }, ct);

    /// <summary>Removes one message inside the caller's write transaction (tombstone, optional pending remote deletion).</summary>
    internal void Delete(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message, bool pushDeletion)
    {
        var modseq = Tombstone(connection, transaction, message);
        Sql.Execute(connection, transaction, "DELETE FROM messages WHERE id = $id", ("$id", message.Id.Value));
        if (pushDeletion && message.Remote is { } remote)
        {
            Sql.Execute(connection, transaction,
                "INSERT OR REPLACE INTO pending_remote_deletes (account_id, remote_id, revision) VALUES ($account, $remote, $revision)",
                ("$account", message.Account.Value), ("$remote", remote.DocumentId), ("$revision", remote.Revision));
        }

        _store.Emit(new MessagesRemovedChange(message.Account, message.Folder, [message.Uid], modseq));
    }

    /// <summary>Records which provider document mirrors a message (and whether the local copy still has to be pushed).</summary>
    internal Task SetRemoteAsync(MessageId id, RemoteReference remote, bool dirty, CancellationToken ct) =>
        _store.Write((connection, transaction) => SetRemote(connection, transaction, id, remote, dirty), ct);

    /// <summary>As <see cref="SetRemoteAsync"/>, inside the caller's write transaction.</summary>
    internal static int SetRemote(SqliteConnection connection, SqliteTransaction transaction, MessageId id, RemoteReference remote, bool dirty) =>
        Sql.Execute(connection, transaction, "UPDATE messages SET remote_id = $remote, remote_revision = $revision, dirty = $dirty WHERE id = $id",
            ("$id", id.Value), ("$remote", remote.DocumentId), ("$revision", remote.Revision), ("$dirty", dirty ? 1 : 0));

    /// <summary>
    /// Applies another device's folder and flags to a message inside the caller's write transaction, as
    /// <see cref="SetFlagsManyAsync(IReadOnlyList{MessageId}, FlagOperation, IEnumerable{string}, ulong?, bool, CancellationToken)"/>
    /// then <see cref="MoveManyAsync(IReadOnlyList{MessageId}, FolderId, bool, CancellationToken)"/> with nothing marked dirty.
    /// </summary>
    internal StoredMessage ApplyRemoteState(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message,
        IEnumerable<string> flags, FolderId folder)
    {
        var current = SetFlagsCore(connection, transaction, message, FlagOperation.Replace, NormalizeFlags(flags), null).Message;
        return current.Folder == folder ? current : MoveCore(connection, transaction, current, folder);
    }

    /// <summary>Messages of an account changed locally since their last push, or never pushed.</summary>
    internal Task<IReadOnlyList<MessageId>> ListDirtyAsync(AccountId account, CancellationToken ct) =>
        _store.Read<IReadOnlyList<MessageId>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction, "SELECT id FROM messages WHERE account_id = $account AND (dirty = 1 OR remote_id IS NULL)",
                ("$account", account.Value));
            using var reader = command.ExecuteReader();
            var ids = new List<MessageId>();
            while (reader.Read())
            {
                ids.Add(new MessageId(reader.GetId(0)));
            }

            return ids;
        }, ct);

    /// <summary>Provider documents whose local message was deleted, to delete remotely.</summary>
    internal Task<IReadOnlyList<RemoteReference>> ListPendingDeletesAsync(AccountId account, CancellationToken ct) =>
        _store.Read<IReadOnlyList<RemoteReference>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction, "SELECT remote_id, revision FROM pending_remote_deletes WHERE account_id = $account",
                ("$account", account.Value));
            using var reader = command.ExecuteReader();
            var list = new List<RemoteReference>();
            while (reader.Read())
            {
                list.Add(new RemoteReference(reader.GetString(0), reader.GetInt64(1)));
            }

            return list;
        }, ct);

    /// <summary>Forgets a pushed deletion.</summary>
    internal Task ClearPendingDeleteAsync(AccountId account, string remoteId, CancellationToken ct) =>
        _store.Write((connection, transaction) => Sql.Execute(connection, transaction,
            "DELETE FROM pending_remote_deletes WHERE account_id = $account AND remote_id = $remote", ("$account", account.Value), ("$remote", remoteId)), ct);

    private static void MarkDirty(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message) =>
        Sql.Execute(connection, transaction, "UPDATE messages SET dirty = 1 WHERE id = $id AND remote_id IS NOT NULL", ("$id", message.Id.Value));

    private FlagUpdate SetFlagsCore(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message,
        FlagOperation operation, HashSet<string> given, ulong? unchangedSince)
    {
        if (unchangedSince is { } since && message.ModSeq > since)
        {
            return new FlagUpdate(message, false);
        }

        var updated = new HashSet<string>(operation == FlagOperation.Replace ? [] : message.Flags, StringComparer.OrdinalIgnoreCase);
        if (operation == FlagOperation.Remove)
        {
            updated.ExceptWith(given);
        }
        else
        {
            updated.UnionWith(given);
        }

        if (updated.Count > _store.Options.MaxFlagsPerMessage)
        {
            throw new ArgumentException($"A message carries at most {_store.Options.MaxFlagsPerMessage} flags.", nameof(given));
        }

        if (updated.SetEquals(message.Flags))
        {
            return new FlagUpdate(message, true);
        }

        var modseq = NextModSeq(connection, transaction, message.Folder);
        Sql.Execute(connection, transaction, "UPDATE messages SET flags = $flags, modseq = $modseq WHERE id = $id",
            ("$id", message.Id.Value), ("$modseq", (long)modseq), ("$flags", SealFlags(message.Id, message.Account.Value, updated)));
        var changed = message with { Flags = updated, ModSeq = modseq };
        _store.Emit(new FlagsChangedChange(message.Account, message.Folder, message.Id, message.Uid, modseq, updated));
        return new FlagUpdate(changed, true, true);
    }

    private StoredMessage MoveCore(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message, FolderId target)
    {
        CheckSameAccount(connection, transaction, message, target);
        if (message.Folder == target)
        {
            return message;
        }

        var removedAt = Tombstone(connection, transaction, message);
        var (uid, modseq) = NextUid(connection, transaction, target);
        Sql.Execute(connection, transaction, "UPDATE messages SET folder_id = $folder, uid = $uid, modseq = $modseq WHERE id = $id",
            ("$id", message.Id.Value), ("$folder", target.Value), ("$uid", (long)uid.Value), ("$modseq", (long)modseq));
        _store.Emit(new MessagesRemovedChange(message.Account, message.Folder, [message.Uid], removedAt));
        _store.Emit(new MessageAddedChange(message.Account, target, message.Id, uid, modseq, message.Flags));
        return message with { Folder = target, Uid = uid, ModSeq = modseq };
    }

    private StoredMessage CopyCore(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message, FolderId target)
    {
        CheckSameAccount(connection, transaction, message, target);
        var account = message.Account.Value;
        var id = message.Id;
        var body = Sql.Scalar(connection, transaction, "SELECT body FROM message_bodies WHERE message_id = $id", ("$id", id.Value)) as byte[]
            ?? throw new StoreIntegrityException("a message has no body");
        var plainBody = _store.Cipher.Open(SealedColumn.MessageBody, id.Value, account, body);
        var copyId = MessageId.New();
        var (uid, modseq) = NextUid(connection, transaction, target);
        Sql.Execute(connection, transaction, """
            INSERT INTO messages (id, account_id, folder_id, uid, modseq, remote_id, remote_revision, flags, summary)
            VALUES ($id, $account, $folder, $uid, $modseq, NULL, NULL, $flags, $summary)
            """,
            ("$id", copyId.Value), ("$account", account), ("$folder", target.Value), ("$uid", (long)uid.Value), ("$modseq", (long)modseq),
            ("$flags", SealFlags(copyId, account, message.Flags)),
            ("$summary", _store.Cipher.Seal(SealedColumn.MessageSummary, copyId.Value, account,
                JsonSerializer.SerializeToUtf8Bytes(message.Summary, StoreJson.Default.MessageSummary))));
        Sql.Execute(connection, transaction, "INSERT INTO message_bodies (message_id, body) VALUES ($id, $body)",
            ("$id", copyId.Value), ("$body", _store.Cipher.Seal(SealedColumn.MessageBody, copyId.Value, account, plainBody)));
        // Tokens depend on the account and the words, not the message, so the copy shares them.
        Sql.Execute(connection, transaction,
            "INSERT INTO search_tokens (token, message_id) SELECT token, $copy FROM search_tokens WHERE message_id = $id",
            ("$copy", copyId.Value), ("$id", id.Value));
        _store.Emit(new MessageAddedChange(message.Account, target, copyId, uid, modseq, message.Flags));
        return new StoredMessage(copyId, message.Account, target, uid, modseq, message.Flags, message.Summary, null);
    }

    /// <summary>UIDs expunged from a folder after <paramref name="modSeq"/> (QRESYNC VANISHED, RFC 7162 3.2.10).</summary>
    public Task<IReadOnlyList<Uid>> ExpungedSinceAsync(FolderId folderId, ulong modSeq, CancellationToken ct = default) =>
        _store.Read<IReadOnlyList<Uid>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction,
                "SELECT uid FROM expunged WHERE folder_id = $folder AND modseq > $modseq ORDER BY uid",
                ("$folder", folderId.Value), ("$modseq", (long)modSeq));
            using var reader = command.ExecuteReader();
            var uids = new List<Uid>();
            while (reader.Read())
            {
                uids.Add(new Uid((uint)reader.GetInt64(0)));
            }

            return uids;
        }, ct);

    /// <summary>
    /// Finds messages of an account (optionally in one folder) containing every word of every term.
    /// The query words are turned into the same keyed-hash tokens as the index; no word is stored
    /// or compared in the clear.
    /// </summary>
    /// <exception cref="ArgumentException">No term has a word the index can match (all shorter than two characters).</exception>
    public Task<IReadOnlyList<MessageId>> SearchAsync(AccountId account, IReadOnlyList<SearchTerm> terms, FolderId? folder = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var wordGroups = new List<List<byte[]>>();
        foreach (var term in terms)
        {
            var fields = term.Field == SearchField.Any
                ? new[] { SearchField.Subject, SearchField.From, SearchField.Recipients, SearchField.Body }
                : [term.Field];
            foreach (var word in SearchTokenizer.QueryWords(term.Text, _store.Options.MaxTokenLength))
            {
                var bytes = Encoding.UTF8.GetBytes(word);
                wordGroups.Add(fields.Select(f => _store.Cipher.SearchToken(account.Value, (byte)f, bytes)).ToList());
            }
        }

        if (wordGroups.Count == 0)
        {
            throw new ArgumentException("The search has no word of at least two letters or digits.", nameof(terms));
        }

        return _store.Read<IReadOnlyList<MessageId>>((connection, transaction) =>
        {
            HashSet<Guid>? result = null;
            // Rarest-first would be faster; groups are few, so each is looked up once and intersected.
            foreach (var group in wordGroups)
            {
                var names = string.Join(", ", group.Select((_, i) => "$t" + i));
                var parameters = group.Select((token, i) => ("$t" + i, (object?)token)).ToList();
                parameters.Add(("$account", account.Value));
                var folderClause = folder is null ? "" : " AND m.folder_id = $folder";
                if (folder is { } f)
                {
                    parameters.Add(("$folder", f.Value));
                }

                using var command = Sql.Command(connection, transaction,
                    $"SELECT DISTINCT s.message_id FROM search_tokens s JOIN messages m ON m.id = s.message_id " +
                    $"WHERE s.token IN ({names}) AND m.account_id = $account{folderClause}",
                    parameters.ToArray());
                using var reader = command.ExecuteReader();
                var found = new HashSet<Guid>();
                while (reader.Read())
                {
                    found.Add(reader.GetId(0));
                }

                if (result is null)
                {
                    result = found;
                }
                else
                {
                    result.IntersectWith(found);
                }

                if (result.Count == 0)
                {
                    break;
                }
            }

            return result!.Select(g => new MessageId(g)).ToList();
        }, ct);
    }

    internal StoredMessage? Get(SqliteConnection connection, SqliteTransaction transaction, MessageId id)
    {
        using var command = Sql.Command(connection, transaction, $"SELECT {SelectColumns} FROM messages m WHERE m.id = $id", ("$id", id.Value));
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader) : null;
    }

    private List<byte[]> IndexTokens(AccountId account, MessageSummary summary, string? text)
    {
        int max = _store.Options.MaxTokenLength;
        var entries = new HashSet<(SearchField, string)>();
        void Add(SearchField field, IEnumerable<string> words)
        {
            foreach (var word in words)
            {
                if (entries.Count >= _store.Options.MaxIndexedTokensPerMessage)
                {
                    return;
                }

                entries.Add((field, word));
            }
        }

        static IEnumerable<(string?, string)> Pairs(IEnumerable<EnvelopeAddress> addresses) => addresses.Select(a => (a.Name, a.Address));
        Add(SearchField.Subject, SearchTokenizer.Words(summary.Subject, max));
        Add(SearchField.From, SearchTokenizer.AddressWords(Pairs(summary.From.Concat(summary.Sender).Concat(summary.ReplyTo)), max));
        Add(SearchField.Recipients, SearchTokenizer.AddressWords(Pairs(summary.To.Concat(summary.Cc).Concat(summary.Bcc)), max));
        Add(SearchField.Body, SearchTokenizer.Words(text, max));

        var tokens = new List<byte[]>(entries.Count);
        Span<byte> buffer = stackalloc byte[256];
        foreach (var (field, word) in entries)
        {
            // Words are bounded by MaxTokenLength characters; a longer UTF-8 form falls back to the heap.
            int length = Encoding.UTF8.GetMaxByteCount(word.Length) <= buffer.Length ? Encoding.UTF8.GetBytes(word, buffer) : -1;
            tokens.Add(length >= 0
                ? _store.Cipher.SearchToken(account.Value, (byte)field, buffer[..length])
                : _store.Cipher.SearchToken(account.Value, (byte)field, Encoding.UTF8.GetBytes(word)));
        }

        return tokens;
    }

    private static (Uid Uid, ulong ModSeq) NextUid(SqliteConnection connection, SqliteTransaction transaction, FolderId folder)
    {
        using var command = Sql.Command(connection, transaction, """
            UPDATE folders SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1
            WHERE id = $id RETURNING uid_next - 1, highest_modseq
            """, ("$id", folder.Value));
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            throw new LocalStoreException("no such folder");
        }

        var uid = reader.GetInt64(0);
        if (uid > uint.MaxValue)
        {
            throw new LocalStoreException("the folder has used up its UIDs; recreate it");
        }

        return (new Uid((uint)uid), (ulong)reader.GetInt64(1));
    }

    private static ulong NextModSeq(SqliteConnection connection, SqliteTransaction transaction, FolderId folder) =>
        (ulong)Convert.ToInt64(Sql.Scalar(connection, transaction,
            "UPDATE folders SET highest_modseq = highest_modseq + 1 WHERE id = $id RETURNING highest_modseq", ("$id", folder.Value)),
            System.Globalization.CultureInfo.InvariantCulture);

    private static ulong Tombstone(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message)
    {
        var modseq = NextModSeq(connection, transaction, message.Folder);
        Sql.Execute(connection, transaction, "INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES ($folder, $uid, $modseq)",
            ("$folder", message.Folder.Value), ("$uid", (long)message.Uid.Value), ("$modseq", (long)modseq));
        return modseq;
    }

    private void CheckSameAccount(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message, FolderId target)
    {
        var folder = _store.Folders.Get(connection, transaction, target) ?? throw new LocalStoreException("no such folder");
        if (folder.Account != message.Account)
        {
            throw new LocalStoreException("a message can only move or be copied within its account");
        }
    }

    private byte[] SealFlags(MessageId id, Guid account, IEnumerable<string> flags) =>
        _store.Cipher.SealString(SealedColumn.MessageFlags, id.Value, account, string.Join(' ', flags.Order(StringComparer.OrdinalIgnoreCase)));

    private StoredMessage Read(SqliteDataReader reader)
    {
        var id = new MessageId(reader.GetId(0));
        var account = reader.GetId(8);
        var flagText = _store.Cipher.OpenString(SealedColumn.MessageFlags, id.Value, account, reader.GetBlob(4));
        var flags = new HashSet<string>(flagText.Split(' ', StringSplitOptions.RemoveEmptyEntries), StringComparer.OrdinalIgnoreCase);
        var summary = JsonSerializer.Deserialize(_store.Cipher.Open(SealedColumn.MessageSummary, id.Value, account, reader.GetBlob(5)),
            StoreJson.Default.MessageSummary) ?? throw new StoreIntegrityException("a message summary is empty");
        RemoteReference? remote = reader.IsDBNull(6) ? null : new RemoteReference(reader.GetString(6), reader.IsDBNull(7) ? 0 : reader.GetInt64(7));
        return new StoredMessage(id, new AccountId(account), new FolderId(reader.GetId(1)), new Uid((uint)reader.GetInt64(2)), (ulong)reader.GetInt64(3),
            flags, summary, remote);
    }

    /// <exception cref="ArgumentException">A flag is malformed or there are too many.</exception>
    internal HashSet<string> NormalizeFlags(IEnumerable<string> flags)
    {
        ArgumentNullException.ThrowIfNull(flags);
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var flag in flags)
        {
            // flag-keyword = atom; a system flag is "\" atom (RFC 9051, 9). \Recent is per session, never stored.
            if (string.IsNullOrEmpty(flag) || flag == "\\" || flag.Length > _store.Options.MaxFlagLength ||
                flag.AsSpan(flag[0] == '\\' ? 1 : 0).ContainsAny(" (){%*\"\\]") || flag.Any(c => c < 0x21 || c > 0x7e))
            {
                throw new ArgumentException($"'{(flag?.Length > 40 ? flag[..40] : flag)}' is not a valid IMAP flag.", nameof(flags));
            }

            if (!string.Equals(flag, "\\Recent", StringComparison.OrdinalIgnoreCase))
            {
                set.Add(flag);
            }
        }

        if (set.Count > _store.Options.MaxFlagsPerMessage)
        {
            throw new ArgumentException($"A message carries at most {_store.Options.MaxFlagsPerMessage} flags.", nameof(flags));
        }

        return set;
    }
}

/// <summary>A message ready to be written (<see cref="MessageStore.Prepare"/>): sealed columns and index tokens computed, no UID yet.</summary>
internal sealed record PreparedMessage(MessageId Id, AccountId Account, NewMessage Message, HashSet<string> Flags, byte[] SealedFlags,
    byte[] SealedSummary, byte[] SealedBody, List<byte[]> Tokens);
