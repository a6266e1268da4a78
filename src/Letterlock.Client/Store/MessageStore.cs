using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Letterlock.Client.Search;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>How <see cref="AccountMail.SetFlagsAsync"/> combines flags (IMAP STORE FLAGS / +FLAGS / -FLAGS).</summary>
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
/// The SQL of messages: sealed summary, flags and body, IMAP UIDs and MODSEQs, expunge tombstones for
/// QRESYNC, sync bookkeeping and the keyed-hash search index. Every method works inside the caller's
/// transaction and decides nothing about where a change comes from: <see cref="AccountMail"/> (user
/// actions) and <see cref="MailWriter"/> (sync, with a <see cref="ChangeOrigin"/>) are the only callers.
/// </summary>
internal sealed class MessageStore
{
    private const string SelectColumns = "m.id, m.folder_id, m.uid, m.modseq, m.flags, m.summary, m.remote_id, m.remote_revision, m.account_id";
    /// <summary>The field byte of trigram tokens (distinct from every <see cref="SearchField"/>).</summary>
    private const byte GramField = 16;

    /// <summary>Entries of <see cref="_gramTokens"/> before it is emptied (a few MiB; real mail has far fewer distinct grams).</summary>
    private const int GramCacheEntries = 200_000;

    private readonly LocalStore _store;

    // The keyed hash of a gram is a pure function of (account, gram): remembered, so indexing a message costs
    // lookups, not thousands of MACs.
    private readonly ConcurrentDictionary<(Guid Account, string Gram), string> _gramTokens = new();
    private int _gramTokensAdded;

    internal MessageStore(LocalStore store) => _store = store;

    /// <summary>
    /// Everything of an append that needs no database: the row id, the sealed flags, summary and body, and
    /// the keyed-hash index tokens. Thread-safe, so sync prepares a page's messages on several cores and
    /// then writes them in one transaction, in order. Refused (a status) when the message is too large or
    /// a flag is malformed.
    /// </summary>
    public MailResult<PreparedMessage> Prepare(AccountId account, NewMessage message, RemoteReference? remote = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Body.Length > _store.Options.MaxMessageBytes)
        {
            return MailResult<PreparedMessage>.Refused(MailStatus.TooLarge,
                $"The message is larger than the limit of {_store.Options.MaxMessageBytes} bytes (MaxMessageBytes).");
        }

        if (!TryNormalizeFlags(message.Flags, out var flags, out var problem))
        {
            return MailResult<PreparedMessage>.Refused(MailStatus.InvalidFlags, problem);
        }

        var id = MessageId.New();
        var scope = account.Value;
        var (grams, complete) = GramTokens(account, message.SearchText ?? SearchTextOf(message.Body));
        return MailResult<PreparedMessage>.Ok(new PreparedMessage(id, account, message, remote, flags, SealFlags(id, scope, flags),
            _store.Cipher.Seal(SealedColumn.MessageSummary, id.Value, scope, JsonSerializer.SerializeToUtf8Bytes(message.Summary, StoreJson.Default.MessageSummary)),
            _store.Cipher.Seal(SealedColumn.MessageBody, id.Value, scope, message.Body.Span),
            IndexTokens(account, message.Summary, message.IndexText) + grams, complete));
    }

    /// <summary>Writes a prepared message into a folder of its account: the folder's next UID, indexed in the same transaction.</summary>
    public StoredMessage Append(SqliteConnection connection, SqliteTransaction transaction, FolderRecord folder, PreparedMessage prepared)
    {
        if (folder.Account != prepared.Account)
        {
            throw new InvalidOperationException("A message was prepared for another account.");
        }

        var id = prepared.Id;
        var message = prepared.Message;
        var (uid, modseq) = NextUid(connection, transaction, folder.Id);
        var row = Sql.Scalar(connection, transaction, """
            INSERT INTO messages (id, account_id, folder_id, uid, modseq, remote_id, remote_revision, flags, summary)
            VALUES ($id, $account, $folder, $uid, $modseq, $remoteId, $remoteRevision, $flags, $summary) RETURNING rowid
            """,
            ("$id", id.Value), ("$account", folder.Account.Value), ("$folder", folder.Id.Value), ("$uid", (long)uid.Value), ("$modseq", (long)modseq),
            ("$remoteId", prepared.Remote?.DocumentId), ("$remoteRevision", prepared.Remote?.Revision),
            ("$flags", prepared.SealedFlags), ("$summary", prepared.SealedSummary));
        Sql.Execute(connection, transaction, "INSERT INTO message_bodies (message_id, body) VALUES ($id, $body)",
            ("$id", id.Value), ("$body", prepared.SealedBody));
        if (!_store.DeferIndex(Convert.ToInt64(row, CultureInfo.InvariantCulture), prepared.Tokens, prepared.GramsComplete))
        {
            Index(connection, transaction, row, prepared.Tokens, prepared.GramsComplete);
        }

        _store.Emit(new MessageAddedChange(folder.Account, folder.Id, id, uid, modseq, prepared.Flags));
        return new StoredMessage(id, folder.Account, folder.Id, uid, modseq, prepared.Flags, message.Summary, prepared.Remote);
    }

    /// <summary>The messages of a folder in UID order (without bodies).</summary>
    public List<StoredMessage> List(SqliteConnection connection, SqliteTransaction transaction, FolderId folderId)
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
    }

    /// <summary>The message with this id, or null.</summary>
    public StoredMessage? Get(SqliteConnection connection, SqliteTransaction transaction, MessageId id)
    {
        using var command = Sql.Command(connection, transaction, $"SELECT {SelectColumns} FROM messages m WHERE m.id = $id", ("$id", id.Value));
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader) : null;
    }

    /// <summary>The message mirroring a provider document, or null.</summary>
    public StoredMessage? FindByRemote(SqliteConnection connection, SqliteTransaction transaction, AccountId account, string documentId)
    {
        using var command = Sql.Command(connection, transaction,
            $"SELECT {SelectColumns} FROM messages m WHERE m.account_id = $account AND m.remote_id = $remote",
            ("$account", account.Value), ("$remote", documentId));
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader) : null;
    }

    /// <summary>
    /// The provider revision each of these documents has locally (documents with no local message are absent),
    /// without decrypting anything: sync decides from it which documents of a page to download.
    /// </summary>
    public Dictionary<string, long> RemoteRevisions(SqliteConnection connection, SqliteTransaction transaction, AccountId account,
        IReadOnlyCollection<string> documentIds)
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
                known[id] = value is DBNull ? 0 : Convert.ToInt64(value, CultureInfo.InvariantCulture);
            }
        }

        return known;
    }

    /// <summary>The full decrypted message, or null when it is gone.</summary>
    public byte[]? ReadBody(SqliteConnection connection, SqliteTransaction transaction, MessageId id)
    {
        using var command = Sql.Command(connection, transaction,
            "SELECT m.account_id, b.body FROM messages m JOIN message_bodies b ON b.message_id = m.id WHERE m.id = $id", ("$id", id.Value));
        using var reader = command.ExecuteReader();
        return reader.Read() ? _store.Cipher.Open(SealedColumn.MessageBody, id.Value, reader.GetId(0), reader.GetBlob(1)) : null;
    }

    /// <summary>
    /// Up to <paramref name="limit"/> rows of a folder with a UID above <paramref name="after"/> and at most
    /// <paramref name="last"/>, in UID order, opening only what is asked for (<see cref="AccountMail.PageAsync"/>).
    /// </summary>
    public List<MessageRow> ListRows(SqliteConnection connection, SqliteTransaction transaction, FolderId folderId, Uid after, Uid last, int limit,
        bool withEnvelope, Func<Uid, bool>? needSummary)
    {
        using var command = Sql.Command(connection, transaction,
            """
            SELECT m.id, m.account_id, m.uid, m.modseq, m.flags, m.summary, m.envelope FROM messages m
            WHERE m.folder_id = $folder AND m.uid > $after AND m.uid <= $last ORDER BY m.uid LIMIT $limit
            """,
            ("$folder", folderId.Value), ("$after", (long)after.Value), ("$last", (long)last.Value), ("$limit", limit));
        using var reader = command.ExecuteReader();
        var page = new List<MessageRow>(Math.Min(limit, 1024));
        while (reader.Read())
        {
            var id = reader.GetId(0);
            var account = reader.GetId(1);
            var uid = new Uid((uint)reader.GetInt64(2));
            var flags = OpenFlags(id, account, reader.GetBlob(4));
            MessageSummary? summary = needSummary is null || needSummary(uid) ? OpenSummary(id, account, reader.GetBlob(5)) : null;
            byte[]? envelope = withEnvelope && !reader.IsDBNull(6)
                ? _store.Cipher.Open(SealedColumn.MessageEnvelope, id, account, reader.GetBlob(6))
                : null;
            page.Add(new MessageRow(new MessageId(id), new AccountId(account), uid, (ulong)reader.GetInt64(3), flags, summary, envelope));
        }

        return page;
    }

    /// <summary>Keeps the IMAP ENVELOPE of a message, sealed under its row like its summary; nothing when the message is gone.</summary>
    public void SetEnvelope(SqliteConnection connection, SqliteTransaction transaction, MessageId id, AccountId account, byte[] envelope) =>
        Sql.Execute(connection, transaction, "UPDATE messages SET envelope = $envelope WHERE id = $id AND account_id = $account",
            ("$id", id.Value), ("$account", account.Value), ("$envelope", _store.Cipher.Seal(SealedColumn.MessageEnvelope, id.Value, account.Value, envelope)));

    /// <summary>
    /// Changes the flags of one message; the MODSEQ rises only when they actually change. With
    /// <paramref name="unchangedSince"/> (CONDSTORE, RFC 7162 3.1.3) nothing is changed when the
    /// message's MODSEQ is higher, and <see cref="FlagUpdate.Applied"/> is false.
    /// </summary>
    /// <returns>The update, or null when the flags would exceed <see cref="LocalStoreOptions.MaxFlagsPerMessage"/>.</returns>
    public FlagUpdate? SetFlags(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message,
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
            return null;
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

    /// <summary>Moves a message to another folder of its account: a new UID there, a tombstone here.</summary>
    public StoredMessage Move(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message, FolderRecord target)
    {
        CheckSameAccount(message, target);
        if (message.Folder == target.Id)
        {
            return message;
        }

        var removedAt = Tombstone(connection, transaction, message);
        var (uid, modseq) = NextUid(connection, transaction, target.Id);
        Sql.Execute(connection, transaction, "UPDATE messages SET folder_id = $folder, uid = $uid, modseq = $modseq WHERE id = $id",
            ("$id", message.Id.Value), ("$folder", target.Id.Value), ("$uid", (long)uid.Value), ("$modseq", (long)modseq));
        _store.Emit(new MessagesRemovedChange(message.Account, message.Folder, [message.Uid], removedAt));
        _store.Emit(new MessageAddedChange(message.Account, target.Id, message.Id, uid, modseq, message.Flags));
        return message with { Folder = target.Id, Uid = uid, ModSeq = modseq };
    }

    /// <summary>Copies a message to a folder of its account, re-sealed under its new row id; the copy mirrors no document yet.</summary>
    public StoredMessage Copy(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message, FolderRecord target)
    {
        CheckSameAccount(message, target);
        var account = message.Account.Value;
        var id = message.Id;
        var body = Sql.Scalar(connection, transaction, "SELECT body FROM message_bodies WHERE message_id = $id", ("$id", id.Value)) as byte[]
            ?? throw new StoreIntegrityException("a message has no body");
        var plainBody = _store.Cipher.Open(SealedColumn.MessageBody, id.Value, account, body);
        var copyId = MessageId.New();
        var (uid, modseq) = NextUid(connection, transaction, target.Id);
        Sql.Execute(connection, transaction, """
            INSERT INTO messages (id, account_id, folder_id, uid, modseq, remote_id, remote_revision, flags, summary)
            VALUES ($id, $account, $folder, $uid, $modseq, NULL, NULL, $flags, $summary)
            """,
            ("$id", copyId.Value), ("$account", account), ("$folder", target.Id.Value), ("$uid", (long)uid.Value), ("$modseq", (long)modseq),
            ("$flags", SealFlags(copyId, account, message.Flags)),
            ("$summary", _store.Cipher.Seal(SealedColumn.MessageSummary, copyId.Value, account,
                JsonSerializer.SerializeToUtf8Bytes(message.Summary, StoreJson.Default.MessageSummary))));
        Sql.Execute(connection, transaction, "INSERT INTO message_bodies (message_id, body) VALUES ($id, $body)",
            ("$id", copyId.Value), ("$body", _store.Cipher.Seal(SealedColumn.MessageBody, copyId.Value, account, plainBody)));
        // The index keeps no list of a message's tokens (only which rows hold each token), so the copy's are computed again.
        var copyRow = Sql.Scalar(connection, transaction, "SELECT rowid FROM messages WHERE id = $id", ("$id", copyId.Value));
        var (grams, complete) = GramTokens(message.Account, SearchTextOf(plainBody));
        Index(connection, transaction, copyRow, IndexTokens(message.Account, message.Summary, IndexTextOf(plainBody, message.Summary)) + grams, complete);
        _store.Emit(new MessageAddedChange(message.Account, target.Id, copyId, uid, modseq, message.Flags));
        return new StoredMessage(copyId, message.Account, target.Id, uid, modseq, message.Flags, message.Summary, null);
    }

    /// <summary>
    /// Removes one message (tombstone for QRESYNC) and, when <paramref name="pushDeletion"/>, records for the next push the
    /// deletion of every document that may hold it: the one it mirrors, and the one a push or an inbox conversion may
    /// have written before a crash kept this device from recording it (<see cref="MessageDocumentIds"/>; revision 0: the
    /// push looks it up). Without the second, that document would come back in the feed as a message deleted here.
    /// </summary>
    public void Delete(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message, bool pushDeletion)
    {
        var modseq = Tombstone(connection, transaction, message);
        Sql.Execute(connection, transaction, "DELETE FROM messages WHERE id = $id", ("$id", message.Id.Value));
        if (pushDeletion)
        {
            if (message.Remote is { } remote)
            {
                AddPendingDelete(connection, transaction, message.Account, remote.DocumentId, remote.Revision);
            }

            if (message.Remote is null || MessageDocumentIds.IsInbox(message.Remote.DocumentId))
            {
                var written = message.Remote is null ? MessageDocumentIds.ForNew(message.Id) : MessageDocumentIds.ForInbox(message.Remote.DocumentId);
                AddPendingDelete(connection, transaction, message.Account, written, 0);
            }
        }

        _store.Emit(new MessagesRemovedChange(message.Account, message.Folder, [message.Uid], modseq));
    }

    /// <summary>
    /// Records that the provider holds <paramref name="pushed"/> (the state a document was made from) at
    /// <paramref name="remote"/>: the message stays to be pushed when it changed here since (a mail app acting while the
    /// document was on its way), which its folder and mod-sequence tell.
    /// </summary>
    public static void SetPushed(SqliteConnection connection, SqliteTransaction transaction, StoredMessage pushed, RemoteReference remote) =>
        Sql.Execute(connection, transaction,
            "UPDATE messages SET remote_id = $remote, remote_revision = $revision, dirty = NOT (folder_id = $folder AND modseq = $modseq) WHERE id = $id",
            ("$id", pushed.Id.Value), ("$remote", remote.DocumentId), ("$revision", remote.Revision), ("$folder", pushed.Folder.Value), ("$modseq", (long)pushed.ModSeq));

    /// <summary>Records which provider document a message mirrors, at which revision, and whether it still has to be pushed.</summary>
    public static void SetRemote(SqliteConnection connection, SqliteTransaction transaction, MessageId id, RemoteReference remote, bool dirty) =>
        Sql.Execute(connection, transaction, "UPDATE messages SET remote_id = $remote, remote_revision = $revision, dirty = $dirty WHERE id = $id",
            ("$id", id.Value), ("$remote", remote.DocumentId), ("$revision", remote.Revision), ("$dirty", dirty ? 1 : 0));

    /// <summary>Marks a message that mirrors a document as changed here since its last push.</summary>
    public static void MarkDirty(SqliteConnection connection, SqliteTransaction transaction, MessageId id) =>
        Sql.Execute(connection, transaction, "UPDATE messages SET dirty = 1 WHERE id = $id AND remote_id IS NOT NULL", ("$id", id.Value));

    /// <summary>Messages of an account changed locally since their last push, or never pushed.</summary>
    public static List<MessageId> ListDirty(SqliteConnection connection, SqliteTransaction transaction, AccountId account)
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
    }

    /// <summary>Provider documents whose local message was deleted, to delete remotely.</summary>
    public static List<RemoteReference> ListPendingDeletes(SqliteConnection connection, SqliteTransaction transaction, AccountId account)
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
    }

    /// <summary>Records the deletion of a document to push.</summary>
    public static void AddPendingDelete(SqliteConnection connection, SqliteTransaction transaction, AccountId account, string remoteId, long revision) =>
        Sql.Execute(connection, transaction,
            "INSERT OR REPLACE INTO pending_remote_deletes (account_id, remote_id, revision) VALUES ($account, $remote, $revision)",
            ("$account", account.Value), ("$remote", remoteId), ("$revision", revision));

    /// <summary>Whether the deletion of a document is still to be pushed.</summary>
    public static bool IsPendingDelete(SqliteConnection connection, SqliteTransaction transaction, AccountId account, string remoteId) =>
        Sql.Scalar(connection, transaction, "SELECT 1 FROM pending_remote_deletes WHERE account_id = $account AND remote_id = $remote",
            ("$account", account.Value), ("$remote", remoteId)) is not null;

    /// <summary>Forgets a pushed deletion.</summary>
    public static void ClearPendingDelete(SqliteConnection connection, SqliteTransaction transaction, AccountId account, string remoteId) =>
        Sql.Execute(connection, transaction, "DELETE FROM pending_remote_deletes WHERE account_id = $account AND remote_id = $remote",
            ("$account", account.Value), ("$remote", remoteId));

    /// <summary>UIDs expunged from a folder after <paramref name="modSeq"/> (QRESYNC VANISHED, RFC 7162 3.2.10).</summary>
    public static List<Uid> ExpungedSince(SqliteConnection connection, SqliteTransaction transaction, FolderId folderId, ulong modSeq)
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
    }

    /// <summary>
    /// The keyed-hash tokens of a query: one group per query word (any token of a group may match, one per
    /// field the term looks in). Empty when no term has a word the index can match.
    /// </summary>
    public List<List<string>> QueryTokens(AccountId account, IReadOnlyList<SearchTerm> terms)
    {
        var wordGroups = new List<List<string>>();
        foreach (var term in terms)
        {
            var fields = term.Field == SearchField.Any
                ? new[] { SearchField.Subject, SearchField.From, SearchField.Recipients, SearchField.Body }
                : [term.Field];
            foreach (var word in SearchTokenizer.QueryWords(term.Text, _store.Options.MaxTokenLength))
            {
                var bytes = Encoding.UTF8.GetBytes(word);
                wordGroups.Add(fields.Select(f => _store.Cipher.SearchTokenText(account.Value, (byte)f, bytes)).ToList());
            }
        }

        return wordGroups;
    }

    /// <summary>Messages of an account (optionally of one folder) holding a token of every group.</summary>
    public static List<MessageId> Search(SqliteConnection connection, SqliteTransaction transaction, AccountId account,
        List<List<string>> wordGroups, FolderId? folder)
    {
        // FTS5 query syntax: (t1 OR t2) AND (t3 OR t4); tokens are lower-case base32, never an operator keyword.
        var query = string.Join(" AND ", wordGroups.Select(g => "(" + string.Join(" OR ", g) + ")"));
        using var command = Sql.Command(connection, transaction,
            "SELECT m.id FROM search_index s JOIN messages m ON m.rowid = s.rowid WHERE search_index MATCH $query AND m.account_id = $account" +
            (folder is null ? "" : " AND m.folder_id = $folder"),
            ("$query", query), ("$account", account.Value), ("$folder", folder?.Value));
        using var reader = command.ExecuteReader();
        var result = new List<MessageId>();
        while (reader.Read())
        {
            result.Add(new MessageId(reader.GetId(0)));
        }

        return result;
    }

    /// <summary>Checks and normalizes IMAP flags; false (with the reason) when one is malformed or there are too many.</summary>
    public bool TryNormalizeFlags(IEnumerable<string> flags, out HashSet<string> set, out string problem)
    {
        ArgumentNullException.ThrowIfNull(flags);
        set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        problem = "";
        foreach (var flag in flags)
        {
            // flag-keyword = atom; a system flag is "\" atom (RFC 9051, 9). \Recent is per session, never stored.
            if (string.IsNullOrEmpty(flag) || flag == "\\" || flag.Length > _store.Options.MaxFlagLength ||
                flag.AsSpan(flag[0] == '\\' ? 1 : 0).ContainsAny(" (){%*\"\\]") || flag.Any(c => c < 0x21 || c > 0x7e))
            {
                problem = $"'{(flag?.Length > 40 ? flag[..40] : flag)}' is not a valid IMAP flag (at most {_store.Options.MaxFlagLength} characters, MaxFlagLength).";
                return false;
            }

            if (!string.Equals(flag, "\\Recent", StringComparison.OrdinalIgnoreCase))
            {
                set.Add(flag);
            }
        }

        if (set.Count > _store.Options.MaxFlagsPerMessage)
        {
            problem = TooManyFlags;
            return false;
        }

        return true;
    }

    /// <summary>Why flags were refused when there are too many.</summary>
    public string TooManyFlags => $"A message carries at most {_store.Options.MaxFlagsPerMessage} flags (MaxFlagsPerMessage).";

    private string IndexTokens(AccountId account, MessageSummary summary, string? text)
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

        var tokens = new StringBuilder(entries.Count * 17);
        Span<byte> buffer = stackalloc byte[256];
        foreach (var (field, word) in entries)
        {
            // Words are bounded by MaxTokenLength characters; a longer UTF-8 form falls back to the heap.
            int length = Encoding.UTF8.GetMaxByteCount(word.Length) <= buffer.Length ? Encoding.UTF8.GetBytes(word, buffer) : -1;
            tokens.Append(length >= 0
                ? _store.Cipher.SearchTokenText(account.Value, (byte)field, buffer[..length])
                : _store.Cipher.SearchTokenText(account.Value, (byte)field, Encoding.UTF8.GetBytes(word))).Append(' ');
        }

        return tokens.ToString();
    }

    /// <summary>The text a message is indexed by, from its body (what <see cref="NewMessage.IndexText"/> holds when it is stored).</summary>
    private static string IndexTextOf(byte[] body, MessageSummary summary)
    {
        try
        {
            return Mail.MessageSummaryBuilder.Build(body, summary.InternalDate, summary.Security).IndexText;
        }
        catch (FormatException)
        {
            return "";
        }
    }

    /// <summary>
    /// Writes the index rows of the messages a write transaction appended (<see cref="LocalStore.DeferIndex"/>), in row
    /// order, just before it commits; a message deleted again in the same transaction is left out. Why together: FTS5
    /// keeps the rows of a transaction in memory and writes them as one segment at commit, but flushes them to a segment
    /// of their own whenever another statement opens a statement savepoint (every INSERT into <c>messages</c> does).
    /// Interleaved with the messages' own rows, each message became a segment of its own, and the merges of those tiny
    /// segments made a page's writes grow with the store.
    /// </summary>
    internal void WriteIndex(SqliteConnection connection, SqliteTransaction transaction, SortedDictionary<long, (string Tokens, bool GramsComplete)> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }

        var live = new HashSet<long>();
        using (var exists = Sql.Command(connection, transaction, "SELECT rowid FROM messages WHERE rowid >= $first AND rowid <= $last",
            ("$first", rows.First().Key), ("$last", rows.Last().Key)))
        {
            using var reader = exists.ExecuteReader();
            while (reader.Read())
            {
                live.Add(reader.GetInt64(0));
            }
        }

        foreach (var (row, (tokens, complete)) in rows)
        {
            if (live.Contains(row))
            {
                Index(connection, transaction, row, tokens, complete);
            }
        }
    }

    /// <summary>
    /// Adds a message's tokens to the search index under its row (FTS5, contentless: only which rows hold each
    /// token is kept); a message whose trigrams are not all indexed is listed in <c>search_unindexed</c>, so
    /// substring searches always read it.
    /// </summary>
    private static void Index(SqliteConnection connection, SqliteTransaction transaction, object? row, string tokens, bool gramsComplete)
    {
        Sql.Execute(connection, transaction, "INSERT INTO search_index (rowid, tokens) VALUES ($row, $tokens)", ("$row", row), ("$tokens", tokens));
        if (!gramsComplete)
        {
            Sql.Execute(connection, transaction, "INSERT OR IGNORE INTO search_unindexed (message_rowid) VALUES ($row)", ("$row", row));
        }
    }

    /// <summary>
    /// Indexes the trigrams of up to <paramref name="max"/> of an account's messages listed in <c>search_unindexed</c>
    /// after row <paramref name="after"/>, in row order (messages stored before the substring index existed, and
    /// ones whose trigrams did not fit; those stay listed). Returns how many it visited and the last row visited.
    /// </summary>
    public (int Visited, long LastRow) IndexPending(SqliteConnection connection, SqliteTransaction transaction, AccountId account, long after, int max)
    {
        var pending = new List<(long Row, MessageId Id)>();
        using (var command = Sql.Command(connection, transaction, """
            SELECT u.message_rowid, m.id FROM search_unindexed u JOIN messages m ON m.rowid = u.message_rowid
             WHERE m.account_id = $account AND u.message_rowid > $after ORDER BY u.message_rowid LIMIT $max
            """, ("$account", account.Value), ("$after", after), ("$max", max)))
        {
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                pending.Add((reader.GetInt64(0), new MessageId(reader.GetId(1))));
            }
        }

        foreach (var (row, id) in pending)
        {
            if (Get(connection, transaction, id) is not { } message || ReadBody(connection, transaction, id) is not { } body)
            {
                continue;
            }

            var (grams, complete) = GramTokens(account, SearchTextOf(body));
            if (complete)
            {
                // Contentless with contentless_delete: the row's tokens are replaced whole, the words computed again with the trigrams.
                Sql.Execute(connection, transaction, "DELETE FROM search_index WHERE rowid = $row", ("$row", row));
                Index(connection, transaction, row, IndexTokens(account, message.Summary, IndexTextOf(body, message.Summary)) + grams, gramsComplete: true);
                Sql.Execute(connection, transaction, "DELETE FROM search_unindexed WHERE message_rowid = $row", ("$row", row));
            }
        }

        return (pending.Count, pending.Count == 0 ? after : pending[^1].Row);
    }

    /// <summary>The search text of a message's bytes (parsed here when the caller did not supply it); null when it cannot be read.</summary>
    private static string? SearchTextOf(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var stream = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(body, out var array)
                ? new MemoryStream(array.Array!, array.Offset, array.Count, writable: false)
                : new MemoryStream(body.ToArray(), writable: false);
            return Mail.MessageSummaryBuilder.TrySearchTextOf(MimeKit.MimeMessage.Load(stream));
        }
        catch (Exception e) when (e is FormatException or MimeKit.ParseException)
        {
            return null;
        }
    }

    /// <summary>The keyed-hash tokens of a search text's trigrams, and whether all of them are (false: none or too many).</summary>
    private (string Tokens, bool Complete) GramTokens(AccountId account, string? searchText)
    {
        if (searchText is null)
        {
            return ("", false);
        }

        var grams = new HashSet<string>(StringComparer.Ordinal);
        if (!SearchGrams.AddGrams(searchText, grams, _store.Options.MaxIndexedGramsPerMessage))
        {
            return ("", false);
        }

        var tokens = new StringBuilder(grams.Count * 17);
        foreach (var gram in grams)
        {
            tokens.Append(GramToken(account, gram)).Append(' ');
        }

        return (tokens.ToString(), true);
    }

    private string GramToken(AccountId account, string gram)
    {
        if (_gramTokens.TryGetValue((account.Value, gram), out var token))
        {
            return token;
        }

        // ConcurrentDictionary.Count takes every lock of the table: a counter of additions decides when to empty it instead.
        if (Interlocked.Increment(ref _gramTokensAdded) > GramCacheEntries)
        {
            _gramTokens.Clear();
            Interlocked.Exchange(ref _gramTokensAdded, 0);
        }

        Span<byte> bytes = stackalloc byte[SearchGrams.Length * 3];
        token = _store.Cipher.SearchTokenText(account.Value, GramField, bytes[..Encoding.UTF8.GetBytes(gram, bytes)]);
        _gramTokens[(account.Value, gram)] = token;
        return token;
    }

    /// <summary>
    /// The FTS5 expression a text filter narrows to, or null when it cannot narrow (a needle without a run of
    /// three letters or digits, or an alternative that cannot).
    /// </summary>
    private string? GramQuery(AccountId account, TextFilter filter)
    {
        switch (filter)
        {
            case TextContains contains:
            {
                var grams = SearchGrams.QueryGrams(contains.Needle);
                return grams.Count == 0 ? null : "(" + string.Join(" AND ", grams.Select(g => GramToken(account, g))) + ")";
            }

            case AllOf all:
            {
                var parts = all.Filters.Select(f => GramQuery(account, f)).OfType<string>().ToList();
                return parts.Count == 0 ? null : "(" + string.Join(" AND ", parts) + ")";
            }

            case AnyOf any:
            {
                var parts = any.Filters.Select(f => GramQuery(account, f)).ToList();
                return parts.Count == 0 || parts.Any(p => p is null) ? null : "(" + string.Join(" OR ", parts) + ")";
            }

            default:
                throw new ArgumentException("Unknown text filter", nameof(filter));
        }
    }

    /// <summary>
    /// The UIDs of a folder's messages that may satisfy <paramref name="filter"/>: those whose trigrams include
    /// the filter's, plus every message not fully indexed. Null when the filter cannot narrow the folder.
    /// </summary>
    public List<Uid>? Candidates(SqliteConnection connection, SqliteTransaction transaction, AccountId account, FolderId folder, TextFilter filter)
    {
        if (GramQuery(account, filter) is not { } query)
        {
            return null;
        }

        using var command = Sql.Command(connection, transaction, """
            SELECT m.uid FROM search_index s JOIN messages m ON m.rowid = s.rowid
             WHERE search_index MATCH $query AND m.folder_id = $folder AND m.account_id = $account
            UNION
            SELECT m.uid FROM search_unindexed u JOIN messages m ON m.rowid = u.message_rowid
             WHERE m.folder_id = $folder AND m.account_id = $account
            ORDER BY 1
            """, ("$query", query), ("$folder", folder.Value), ("$account", account.Value));
        using var reader = command.ExecuteReader();
        var result = new List<Uid>();
        while (reader.Read())
        {
            result.Add(new Uid((uint)reader.GetInt64(0)));
        }

        return result;
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
            throw new InvalidOperationException("The folder of an append disappeared inside its transaction.");
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
            CultureInfo.InvariantCulture);

    private static ulong Tombstone(SqliteConnection connection, SqliteTransaction transaction, StoredMessage message)
    {
        var modseq = NextModSeq(connection, transaction, message.Folder);
        Sql.Execute(connection, transaction, "INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES ($folder, $uid, $modseq)",
            ("$folder", message.Folder.Value), ("$uid", (long)message.Uid.Value), ("$modseq", (long)modseq));
        return modseq;
    }

    private static void CheckSameAccount(StoredMessage message, FolderRecord target)
    {
        if (target.Account != message.Account)
        {
            throw new InvalidOperationException("A message can only move or be copied within its account.");
        }
    }

    private byte[] SealFlags(MessageId id, Guid account, IEnumerable<string> flags) =>
        _store.Cipher.SealString(SealedColumn.MessageFlags, id.Value, account, string.Join(' ', flags.Order(StringComparer.OrdinalIgnoreCase)));

    private HashSet<string> OpenFlags(Guid id, Guid account, byte[] sealedFlags) =>
        new(_store.Cipher.OpenString(SealedColumn.MessageFlags, id, account, sealedFlags).Split(' ', StringSplitOptions.RemoveEmptyEntries),
            StringComparer.OrdinalIgnoreCase);

    private MessageSummary OpenSummary(Guid id, Guid account, byte[] sealedSummary) =>
        JsonSerializer.Deserialize(_store.Cipher.Open(SealedColumn.MessageSummary, id, account, sealedSummary), StoreJson.Default.MessageSummary)
            ?? throw new StoreIntegrityException("a message summary is empty");

    private StoredMessage Read(SqliteDataReader reader)
    {
        var id = new MessageId(reader.GetId(0));
        var account = reader.GetId(8);
        RemoteReference? remote = reader.IsDBNull(6) ? null : new RemoteReference(reader.GetString(6), reader.IsDBNull(7) ? 0 : reader.GetInt64(7));
        return new StoredMessage(id, new AccountId(account), new FolderId(reader.GetId(1)), new Uid((uint)reader.GetInt64(2)), (ulong)reader.GetInt64(3),
            OpenFlags(id.Value, account, reader.GetBlob(4)), OpenSummary(id.Value, account, reader.GetBlob(5)), remote);
    }
}

/// <summary>
/// A message ready to be written (<see cref="MessageStore.Prepare"/>): sealed columns and index tokens computed, no UID yet;
/// <see cref="Remote"/> is the provider document it mirrors, when it came from one.
/// </summary>
internal sealed record PreparedMessage(MessageId Id, AccountId Account, NewMessage Message, RemoteReference? Remote, HashSet<string> Flags,
    byte[] SealedFlags, byte[] SealedSummary, byte[] SealedBody, string Tokens, bool GramsComplete);
