using Letterlock.Client.Search;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>A message row as a mail app's folder listing reads it: identifiers, flags, and what was asked for of the rest.</summary>
/// <param name="Id">The message.</param>
/// <param name="Account">Its account.</param>
/// <param name="Uid">Its UID in the folder.</param>
/// <param name="ModSeq">Its MODSEQ.</param>
/// <param name="Flags">Its flags and keywords.</param>
/// <param name="Summary">Its summary, or null when the caller said it does not need it (it already knows what it needs from it).</param>
/// <param name="Envelope">The IMAP ENVELOPE the bridge rendered for it (opaque to the store), or null when not kept yet or not asked for.</param>
public sealed record MessageRow(MessageId Id, AccountId Account, Uid Uid, ulong ModSeq, IReadOnlySet<string> Flags, MessageSummary? Summary,
    byte[]? Envelope);

/// <summary>
/// The mail of one account as the user acts on it: folders, pages of messages, one message, flags,
/// move/copy/delete, append and search. This is the whole public surface of the store's mail for the
/// bridge, the CLI and any other front end (docs/design/client-store.md); every change made here is
/// this device's and is pushed to the provider by the next sync.
/// </summary>
/// <remarks>
/// <para>Everything is scoped to the account: a folder or message of another account is
/// <see cref="MailStatus.NotFound"/>. Expected refusals are <see cref="MailResult{T}"/> statuses and leave
/// nothing half-done (an operation over several messages is one transaction: all or nothing).
/// Exceptions mean a damaged store (<see cref="StoreIntegrityException"/>), I/O, or a bug.</para>
/// <para>Changes from the provider do not come through here: sync writes through <see cref="MailWriter"/>
/// (internal), which says where each change comes from (<see cref="ChangeOrigin"/>).</para>
/// </remarks>
public sealed class AccountMail
{
    /// <summary>The name of the inbox (RFC 9051, 5.1: case-insensitive "INBOX").</summary>
    public const string InboxName = "INBOX";

    /// <summary>The longest folder name accepted, in characters.</summary>
    public const int MaxFolderNameLength = 512;

    private readonly LocalStore _store;

    internal AccountMail(LocalStore store, AccountId account)
    {
        _store = store;
        Account = account;
    }

    /// <summary>The account.</summary>
    public AccountId Account { get; }

    private MessageStore Messages => _store.Messages;

    private FolderStore Folders => _store.Folders;

    // ---- Folders ----

    /// <summary>The folders of the account, INBOX first, then by name.</summary>
    public Task<IReadOnlyList<FolderRecord>> ListFoldersAsync(CancellationToken ct = default) =>
        _store.Read<IReadOnlyList<FolderRecord>>((c, t) => Folders.List(c, t, Account), ct);

    /// <summary>The folder with this id, or null (also when it belongs to another account).</summary>
    public Task<FolderRecord?> GetFolderAsync(FolderId folder, CancellationToken ct = default) =>
        _store.Read((c, t) => Folder(c, t, folder), ct);

    /// <summary>The folder with this name (INBOX case-insensitively), or null.</summary>
    public Task<FolderRecord?> FindFolderAsync(string name, CancellationToken ct = default)
    {
        var canonical = FolderStore.Canonical(name, out _);
        return canonical is null ? Task.FromResult<FolderRecord?>(null) : _store.Read((c, t) => Folders.Find(c, t, Account, canonical), ct);
    }

    /// <summary>The folder with a SPECIAL-USE role (or INBOX), or null.</summary>
    public Task<FolderRecord?> FindFolderAsync(FolderRole role, CancellationToken ct = default) =>
        _store.Read((c, t) => Folders.List(c, t, Account).FirstOrDefault(f => f.Role == role), ct);

    /// <summary>
    /// Creates a folder. A role another folder holds already is not given twice (the folder is created as a
    /// plain folder): one folder per role keeps Sent copies and drafts unambiguous across devices.
    /// </summary>
    /// <returns><see cref="MailStatus.AlreadyExists"/>, <see cref="MailStatus.InvalidName"/>, or the new folder.</returns>
    public Task<MailResult<FolderRecord>> CreateFolderAsync(string name, FolderRole role = FolderRole.None, CancellationToken ct = default) =>
        ActAsync((c, t) => CreateFolder(c, t, name, role), ct);

    /// <summary>
    /// Renames a folder and the folders below it (<c>A/x</c> becomes <c>B/x</c>), in one transaction. Ids, UIDs
    /// and UIDVALIDITY stay, so a mail app's cache stays valid.
    /// </summary>
    /// <returns><see cref="MailStatus.NotFound"/>, <see cref="MailStatus.NotAllowed"/> (INBOX, or to INBOX), <see cref="MailStatus.AlreadyExists"/>
    /// (the new name or a new child name is taken), <see cref="MailStatus.InvalidName"/>, or the renamed folder.</returns>
    public Task<MailResult<FolderRecord>> RenameFolderAsync(FolderId folder, string newName, CancellationToken ct = default) =>
        ActAsync((c, t) =>
        {
            var current = Folder(c, t, folder);
            if (current is null)
            {
                return NotFound<FolderRecord>("folder");
            }

            if (FolderStore.Canonical(newName, out var problem) is not { } name)
            {
                return MailResult<FolderRecord>.Refused(MailStatus.InvalidName, problem);
            }

            if (current.Role == FolderRole.Inbox || name == InboxName)
            {
                return MailResult<FolderRecord>.Refused(MailStatus.NotAllowed, "INBOX cannot be renamed, and no folder can be renamed to INBOX.");
            }

            var all = Folders.List(c, t, Account);
            var prefix = current.Name + "/";
            var moving = all.Where(f => f.Name.StartsWith(prefix, StringComparison.Ordinal))
                .Select(f => (Folder: f, Name: FolderStore.Canonical(name + "/" + f.Name[prefix.Length..], out _))).ToList();
            if (moving.Any(m => m.Name is null))
            {
                return MailResult<FolderRecord>.Refused(MailStatus.InvalidName, $"A folder below it would get a name longer than {MaxFolderNameLength} characters.");
            }

            var leaving = moving.Select(m => m.Folder.Id).Append(current.Id).ToHashSet();
            var taken = all.Where(f => !leaving.Contains(f.Id)).Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
            if (taken.Contains(name) || moving.Any(m => taken.Contains(m.Name!)))
            {
                return MailResult<FolderRecord>.Refused(MailStatus.AlreadyExists, $"A folder named {name} (or one below it) exists already.");
            }

            // Through temporary names first, so a rename within the subtree (A -> A/B) never meets its own old name.
            var renamed = Folders.Rename(c, t, current, "\u0001" + current.Id);
            foreach (var (child, _) in moving)
            {
                Folders.Rename(c, t, child, "\u0001" + child.Id);
            }

            renamed = Folders.Rename(c, t, renamed, name);
            foreach (var (child, childName) in moving)
            {
                Folders.Rename(c, t, child, childName!);
            }

            return MailResult<FolderRecord>.Ok(renamed);
        }, ct);

    /// <summary>Deletes a folder with its messages (on every device: their documents are deleted at the next push).</summary>
    /// <returns><see cref="MailStatus.NotFound"/>, <see cref="MailStatus.NotAllowed"/> (INBOX), or the deleted folder.</returns>
    public Task<MailResult<FolderRecord>> DeleteFolderAsync(FolderId folder, CancellationToken ct = default) =>
        ActAsync((c, t) =>
        {
            var current = Folder(c, t, folder);
            if (current is null)
            {
                return NotFound<FolderRecord>("folder");
            }

            if (current.Role == FolderRole.Inbox)
            {
                return MailResult<FolderRecord>.Refused(MailStatus.NotAllowed, "INBOX cannot be deleted.");
            }

            // Its messages are deleted like any other (their documents too), or other devices would keep them.
            DeleteExisting(c, t, Messages.List(c, t, current.Id));
            Folders.Delete(c, t, current);
            return MailResult<FolderRecord>.Ok(current);
        }, ct);

    /// <summary>Subscribes to a folder or not (IMAP LSUB).</summary>
    public Task<MailResult<FolderRecord>> SetSubscribedAsync(FolderId folder, bool subscribed, CancellationToken ct = default) =>
        ActAsync((c, t) => Folder(c, t, folder) is { } current
            ? MailResult<FolderRecord>.Ok(Folders.SetSubscribed(c, t, current, subscribed))
            : NotFound<FolderRecord>("folder"), ct);

    // ---- Reading messages ----

    /// <summary>Every message of a folder in UID order, without bodies (for small folders; a mail app pages with <see cref="PageAsync"/>).</summary>
    public Task<IReadOnlyList<StoredMessage>> ListAsync(FolderId folder, CancellationToken ct = default) =>
        _store.Read<IReadOnlyList<StoredMessage>>((c, t) => Folder(c, t, folder) is null ? [] : Messages.List(c, t, folder), ct);

    /// <summary>
    /// Up to <paramref name="limit"/> messages of a folder with a UID above <paramref name="after"/> and at most
    /// <paramref name="last"/>, in UID order: a folder is walked page by page instead of held at once. Only what
    /// is asked for is opened: the summary (the costliest part: a JSON document) when <paramref name="needSummary"/>
    /// says so for that UID (null: always), the kept ENVELOPE when <paramref name="withEnvelope"/>.
    /// </summary>
    public Task<IReadOnlyList<MessageRow>> PageAsync(FolderId folder, Uid after, Uid last, int limit, bool withEnvelope = false,
        Func<Uid, bool>? needSummary = null, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return _store.Read<IReadOnlyList<MessageRow>>((c, t) =>
            Folder(c, t, folder) is null ? [] : Messages.ListRows(c, t, folder, after, last, limit, withEnvelope, needSummary), ct);
    }

    /// <summary>A message (without its body), or null.</summary>
    public Task<StoredMessage?> GetAsync(MessageId id, CancellationToken ct = default) =>
        _store.Read((c, t) => Message(c, t, id), ct);

    /// <summary>The full decrypted message, or null when there is no such message (one query that opens nothing but the body).</summary>
    public Task<byte[]?> ReadBodyAsync(MessageId id, CancellationToken ct = default) =>
        ct.IsCancellationRequested ? Task.FromCanceled<byte[]?>(ct) : Task.FromResult(ReadBody(id));

    /// <summary>
    /// As <see cref="ReadBodyAsync"/>, synchronously (SQLite I/O is synchronous anyway), for callers that pull
    /// content on demand inside synchronous code, such as a search evaluator.
    /// </summary>
    public byte[]? ReadBody(MessageId id)
    {
        using var connection = _store.OpenConnection();
        using var transaction = connection.BeginTransaction(deferred: true);
        using var command = Sql.Command(connection, transaction,
            "SELECT b.body FROM messages m JOIN message_bodies b ON b.message_id = m.id WHERE m.id = $id AND m.account_id = $account",
            ("$id", id.Value), ("$account", Account.Value));
        return command.ExecuteScalar() is byte[] sealedBody ? _store.Cipher.Open(SealedColumn.MessageBody, id.Value, Account.Value, sealedBody) : null;
    }

    /// <summary>UIDs expunged from a folder after <paramref name="modSeq"/> (QRESYNC VANISHED, RFC 7162 3.2.10).</summary>
    public Task<IReadOnlyList<Uid>> ExpungedSinceAsync(FolderId folder, ulong modSeq, CancellationToken ct = default) =>
        _store.Read<IReadOnlyList<Uid>>((c, t) => Folder(c, t, folder) is null ? [] : MessageStore.ExpungedSince(c, t, folder, modSeq), ct);

    /// <summary>
    /// Runs <paramref name="whileNoWriteCommits"/> with a folder and the UIDs and MODSEQs of its messages (nothing
    /// decrypted but the folder), while no write of this process can commit: a caller builds live state from it and
    /// subscribes to <see cref="LocalStore.Changed"/> without missing or repeating a change. Null when there is no such folder.
    /// </summary>
    public Task<T?> ReadFolderIndexAsync<T>(FolderId folder, Func<FolderRecord, IReadOnlyList<(MessageId Id, Uid Uid, ulong ModSeq)>, T> whileNoWriteCommits,
        CancellationToken ct = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(whileNoWriteCommits);
        return _store.ReadExclusiveAsync(_ =>
        {
            using var connection = _store.OpenConnection();
            using var transaction = connection.BeginTransaction(deferred: true);
            if (Folder(connection, transaction, folder) is not { } record)
            {
                return null;
            }

            using var command = Sql.Command(connection, transaction, "SELECT id, uid, modseq FROM messages WHERE folder_id = $folder ORDER BY uid",
                ("$folder", folder.Value));
            using var reader = command.ExecuteReader();
            var index = new List<(MessageId, Uid, ulong)>();
            while (reader.Read())
            {
                index.Add((new MessageId(reader.GetId(0)), new Uid((uint)reader.GetInt64(1)), (ulong)reader.GetInt64(2)));
            }

            return whileNoWriteCommits(record, index);
        }, ct);
    }

    // ---- Changing messages ----

    /// <summary>Adds a message to a folder; it gets the folder's next UID and is indexed in the same transaction.</summary>
    /// <returns><see cref="MailStatus.NotFound"/> (folder), <see cref="MailStatus.TooLarge"/>, <see cref="MailStatus.InvalidFlags"/>, or the stored message.</returns>
    public async Task<MailResult<StoredMessage>> AppendAsync(FolderId folder, NewMessage message, CancellationToken ct = default)
    {
        var result = await AppendAsync(folder, [message], ct).ConfigureAwait(false);
        return result.IsOk ? MailResult<StoredMessage>.Ok(result.Value![0]) : MailResult<StoredMessage>.Refused(result.Status, result.Detail!);
    }

    /// <summary>
    /// Adds several messages to a folder in one transaction (one durable commit), in the given order: consecutive
    /// UIDs, indexed in the same transaction; either all are stored or none (the first refusal is returned).
    /// </summary>
    public Task<MailResult<IReadOnlyList<StoredMessage>>> AppendAsync(FolderId folder, IReadOnlyList<NewMessage> messages, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        // Sealing and the index tokens are the CPU of an append: done before the write lock is taken.
        var prepared = new List<PreparedMessage>(messages.Count);
        foreach (var message in messages)
        {
            var result = Messages.Prepare(Account, message);
            if (!result.IsOk)
            {
                return Task.FromResult(MailResult<IReadOnlyList<StoredMessage>>.Refused(result.Status, result.Detail!));
            }

            prepared.Add(result.Value!);
        }

        return ActAsync<IReadOnlyList<StoredMessage>>((c, t) => Folder(c, t, folder) is { } target
            ? MailResult<IReadOnlyList<StoredMessage>>.Ok(prepared.Select(p => Messages.Append(c, t, target, p)).ToList())
            : NotFound<IReadOnlyList<StoredMessage>>("folder"), ct);
    }

    /// <summary>
    /// Changes the flags of messages in one transaction; messages that no longer exist are skipped. A MODSEQ rises
    /// only when a message's flags actually change. With <paramref name="unchangedSince"/> (CONDSTORE, RFC 7162
    /// 3.1.3) a message whose MODSEQ is higher is left alone and its <see cref="FlagUpdate.Applied"/> is false.
    /// </summary>
    /// <returns><see cref="MailStatus.InvalidFlags"/> (nothing changed), or one update per existing message.</returns>
    public Task<MailResult<IReadOnlyList<FlagUpdate>>> SetFlagsAsync(IReadOnlyList<MessageId> ids, FlagOperation operation, IEnumerable<string> flags,
        ulong? unchangedSince = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (!Messages.TryNormalizeFlags(flags, out var given, out var problem))
        {
            return Task.FromResult(MailResult<IReadOnlyList<FlagUpdate>>.Refused(MailStatus.InvalidFlags, problem));
        }

        return ActAsync<IReadOnlyList<FlagUpdate>>((c, t) =>
        {
            var results = new List<FlagUpdate>(ids.Count);
            foreach (var id in ids)
            {
                if (Message(c, t, id) is not { } message)
                {
                    continue;
                }

                if (Messages.SetFlags(c, t, message, operation, given, unchangedSince) is not { } update)
                {
                    return MailResult<IReadOnlyList<FlagUpdate>>.Refused(MailStatus.InvalidFlags, Messages.TooManyFlags);
                }

                if (update.Changed)
                {
                    MessageStore.MarkDirty(c, t, message.Id);
                }

                results.Add(update);
            }

            return MailResult<IReadOnlyList<FlagUpdate>>.Ok(results);
        }, ct);
    }

    /// <summary>Moves messages to another folder of the account in one transaction, in the given order (IMAP MOVE): new UIDs there, tombstones here; gone messages are skipped.</summary>
    /// <returns><see cref="MailStatus.NotFound"/> (target folder), or what was moved.</returns>
    public Task<MailResult<IReadOnlyList<TransferResult>>> MoveAsync(IReadOnlyList<MessageId> ids, FolderId target, CancellationToken ct = default) =>
        TransferAsync(ids, target, (c, t, message, folder) =>
        {
            var moved = Messages.Move(c, t, message, folder);
            if (moved.Folder != message.Folder)
            {
                MessageStore.MarkDirty(c, t, message.Id);
            }

            return moved;
        }, ct);

    /// <summary>Copies messages to a folder of the account in one transaction, in the given order (IMAP COPY); gone messages are skipped.</summary>
    /// <returns><see cref="MailStatus.NotFound"/> (target folder), or what was copied.</returns>
    public Task<MailResult<IReadOnlyList<TransferResult>>> CopyAsync(IReadOnlyList<MessageId> ids, FolderId target, CancellationToken ct = default) =>
        TransferAsync(ids, target, Messages.Copy, ct);

    /// <summary>Removes messages for good in one transaction, leaving tombstones for QRESYNC; returns those that existed.</summary>
    public Task<IReadOnlyList<StoredMessage>> DeleteAsync(IReadOnlyList<MessageId> ids, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return _store.Write<IReadOnlyList<StoredMessage>>((c, t) => DeleteExisting(c, t, ids.Select(id => Message(c, t, id))), ct);
    }

    /// <summary>
    /// Removes the messages of a folder flagged <c>\Deleted</c> (IMAP EXPUNGE), only those among
    /// <paramref name="among"/> when given (UID EXPUNGE), deciding and deleting in one transaction.
    /// </summary>
    public Task<IReadOnlyList<StoredMessage>> ExpungeAsync(FolderId folder, IReadOnlyList<MessageId>? among = null, CancellationToken ct = default) =>
        _store.Write<IReadOnlyList<StoredMessage>>((c, t) =>
        {
            if (Folder(c, t, folder) is null)
            {
                return [];
            }

            var candidates = among is null ? Messages.List(c, t, folder) : among.Select(id => Message(c, t, id));
            return DeleteExisting(c, t, candidates.Where(m => m is not null && m.Folder == folder && m.Flags.Contains("\\Deleted")));
        }, ct);

    /// <summary>
    /// Keeps the IMAP ENVELOPE of messages, sealed under each message's row like its summary. Derived from the
    /// body, so writing it again is harmless; messages that no longer exist are skipped.
    /// </summary>
    public Task RememberEnvelopesAsync(IReadOnlyList<(MessageId Id, byte[] Envelope)> envelopes, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(envelopes);
        return _store.Write((c, t) =>
        {
            foreach (var (id, envelope) in envelopes)
            {
                Messages.SetEnvelope(c, t, id, Account, envelope);
            }

            return envelopes.Count;
        }, ct);
    }

    // ---- Search ----

    /// <summary>
    /// Messages of the account (or of one folder) containing every word of every term, from the keyed-hash
    /// index: the query words become the same tokens; no word is stored or compared in the clear.
    /// </summary>
    /// <returns><see cref="MailStatus.NothingToSearch"/> when no term has a word the index can match, otherwise the messages.</returns>
    public Task<MailResult<IReadOnlyList<MessageId>>> SearchAsync(IReadOnlyList<SearchTerm> terms, FolderId? folder = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var groups = Messages.QueryTokens(Account, terms);
        if (groups.Count == 0)
        {
            return Task.FromResult(MailResult<IReadOnlyList<MessageId>>.Refused(MailStatus.NothingToSearch,
                $"The search has no word of at least {SearchTokenizer.MinWordLength} letters or digits."));
        }

        return _store.Read((c, t) => MailResult<IReadOnlyList<MessageId>>.Ok(MessageStore.Search(c, t, Account, groups, folder)), ct);
    }

    /// <summary>
    /// The messages matching a parsed <see cref="MailQuery"/>, newest first: word terms from the keyed-hash index
    /// (exact for whole words), phrases confirmed on the candidates' text, then dates, flags and the folder.
    /// </summary>
    /// <returns><see cref="MailStatus.NotFound"/> for an unknown <c>folder:</c>; <see cref="MailStatus.NothingToSearch"/>
    /// for a term without a word of two letters or digits; otherwise the messages.</returns>
    public async Task<MailResult<IReadOnlyList<StoredMessage>>> QueryAsync(MailQuery query, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        FolderRecord? folder = null;
        if (query.Folder is { } name && (folder = await FindFolderAsync(name, ct).ConfigureAwait(false)) is null)
        {
            return MailResult<IReadOnlyList<StoredMessage>>.Refused(MailStatus.NotFound, $"there is no folder '{name}'");
        }

        var terms = new List<SearchTerm>();
        foreach (var term in query.Terms)
        {
            if (SearchTokenizer.QueryWords(term.Text, _store.Options.MaxTokenLength).Count == 0)
            {
                return MailResult<IReadOnlyList<StoredMessage>>.Refused(MailStatus.NothingToSearch,
                    $"'{term.Text}' has no word of at least {SearchTokenizer.MinWordLength} letters or digits");
            }

            terms.Add(new SearchTerm(FieldOf(term.Kind), term.Text));
        }

        var candidates = new List<StoredMessage>();
        if (terms.Count > 0)
        {
            var ids = await SearchAsync(terms, folder?.Id, ct).ConfigureAwait(false);
            foreach (var id in ids.Done)
            {
                if (await GetAsync(id, ct).ConfigureAwait(false) is { } message)
                {
                    candidates.Add(message);
                }
            }
        }
        else
        {
            foreach (var each in folder is null ? await ListFoldersAsync(ct).ConfigureAwait(false) : [folder])
            {
                candidates.AddRange(await ListAsync(each.Id, ct).ConfigureAwait(false));
            }
        }

        var result = new List<StoredMessage>();
        foreach (var message in candidates)
        {
            var day = DateOnly.FromDateTime((message.Summary.Date ?? message.Summary.InternalDate).UtcDateTime);
            bool seen = message.Flags.Contains("\\Seen"), flagged = message.Flags.Contains("\\Flagged");
            if ((query.From is { } from && day < from) || (query.Until is { } until && day > until) ||
                (query.Unread is { } unread && unread == seen) || (query.Flagged is { } wanted && wanted != flagged))
            {
                continue;
            }

            if (query.Terms.Any(t => t.IsPhrase) && !await PhrasesHoldAsync(query, message, ct).ConfigureAwait(false))
            {
                continue;
            }

            result.Add(message);
        }

        return MailResult<IReadOnlyList<StoredMessage>>.Ok(result
            .OrderByDescending(m => m.Summary.Date ?? m.Summary.InternalDate).ThenBy(m => m.Id.Value).ToList());
    }

    private static SearchField FieldOf(QueryTermKind kind) => kind switch
    {
        QueryTermKind.From => SearchField.From,
        QueryTermKind.To => SearchField.Recipients,
        QueryTermKind.Subject => SearchField.Subject,
        QueryTermKind.Body => SearchField.Body,
        _ => SearchField.Any,
    };

    /// <summary>Whether each phrase's words occur in order, next to each other, in its field (words as the index cuts them).</summary>
    private async Task<bool> PhrasesHoldAsync(MailQuery query, StoredMessage message, CancellationToken ct)
    {
        int max = _store.Options.MaxTokenLength;
        var s = message.Summary;
        List<string>? body = null;
        foreach (var term in query.Terms.Where(t => t.IsPhrase))
        {
            var phrase = SearchTokenizer.Words(term.Text, max).ToList();
            bool Holds(IEnumerable<string> words) => ContainsRun(words.ToList(), phrase);
            static IEnumerable<(string?, string)> Pairs(IEnumerable<EnvelopeAddress> a) => a.Select(x => (x.Name, x.Address));
            bool inSubject = term.Kind is QueryTermKind.Text or QueryTermKind.Subject && Holds(SearchTokenizer.Words(s.Subject, max));
            bool inFrom = term.Kind is QueryTermKind.Text or QueryTermKind.From &&
                Holds(SearchTokenizer.AddressWords(Pairs(s.From.Concat(s.Sender).Concat(s.ReplyTo)), max));
            bool inTo = term.Kind is QueryTermKind.Text or QueryTermKind.To &&
                Holds(SearchTokenizer.AddressWords(Pairs(s.To.Concat(s.Cc).Concat(s.Bcc)), max));
            bool inBody = false;
            if (!inSubject && !inFrom && !inTo && term.Kind is QueryTermKind.Text or QueryTermKind.Body)
            {
                if (body is null)
                {
                    var bytes = await ReadBodyAsync(message.Id, ct).ConfigureAwait(false) ?? [];
                    string text;
                    try
                    {
                        text = Mail.MessageSummaryBuilder.Build(bytes, s.InternalDate, s.Security).IndexText;
                    }
                    catch (FormatException)
                    {
                        text = "";
                    }

                    body = SearchTokenizer.Words(text, max).ToList();
                }

                inBody = ContainsRun(body, phrase);
            }

            if (!(inSubject || inFrom || inTo || inBody))
            {
                return false;
            }
        }

        return true;
    }

    private static bool ContainsRun(List<string> words, List<string> run)
    {
        for (int i = 0; i + run.Count <= words.Count; i++)
        {
            int k = 0;
            while (k < run.Count && string.Equals(words[i + k], run[k], StringComparison.Ordinal))
            {
                k++;
            }

            if (k == run.Count)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The UIDs of a folder's messages whose text may satisfy <paramref name="filter"/> (case-insensitive substrings,
    /// IMAP SEARCH semantics), in order: a superset of the matches, from the trigram index plus every message not
    /// fully indexed; the caller checks each candidate. Null when the filter cannot narrow (a needle without three
    /// letters or digits in a row): every message is a candidate.
    /// </summary>
    public Task<IReadOnlyList<Uid>?> SearchCandidatesAsync(FolderId folder, TextFilter filter, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return _store.Read<IReadOnlyList<Uid>?>((c, t) => Messages.Candidates(c, t, Account, folder, filter), ct);
    }

    /// <summary>
    /// Brings up to <paramref name="max"/> messages that substring searches must still read in full (stored before the
    /// substring index, schema 6) into the index, in one transaction, resuming where the last call stopped. Returns how
    /// many it visited: 0 when none is left to try. A message whose trigrams do not fit the index stays read in full.
    /// </summary>
    public Task<int> IndexPendingAsync(int max, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        string cursorSetting = "search.backfill." + Account.Value.ToString("N");
        return _store.Write((c, t) =>
        {
            long after = _store.Settings.Get(c, t, cursorSetting) is { Length: 8 } saved ? BitConverter.ToInt64(saved) : 0;
            var (visited, last) = _store.Messages.IndexPending(c, t, Account, after, max);
            if (visited > 0)
            {
                _store.Settings.Set(c, t, cursorSetting, BitConverter.GetBytes(last));
            }

            return visited;
        }, ct);
    }

    // ---- The sync side (internal): the writer and its bookkeeping ----

    /// <summary>
    /// Runs <paramref name="work"/> in one write transaction with a <see cref="MailWriter"/> for changes of the given origin.
    /// Sync, received mail and the Sent copy of outgoing mail write through here; user actions use the methods above.
    /// </summary>
    internal Task<T> WriteAsync<T>(ChangeOrigin origin, Func<MailWriter, T> work, CancellationToken ct) =>
        _store.Write((c, t) => work(new MailWriter(_store, this, c, t, origin)), ct);

    /// <summary>Prepares a message for <see cref="MailWriter.Append"/> off the write lock (thread-safe): sealed and indexed.</summary>
    internal MailResult<PreparedMessage> Prepare(NewMessage message, RemoteReference? remote = null) => Messages.Prepare(Account, message, remote);

    /// <summary>The revision each of these documents has locally (absent: no local message mirrors it), decrypting nothing.</summary>
    internal Task<Dictionary<string, long>> RemoteRevisionsAsync(IReadOnlyCollection<string> documentIds, CancellationToken ct) =>
        _store.Read((c, t) => Messages.RemoteRevisions(c, t, Account, documentIds), ct);

    /// <summary>Messages changed here since their last push, or never pushed.</summary>
    internal Task<List<MessageId>> ListUnpushedAsync(CancellationToken ct) =>
        _store.Read((c, t) => MessageStore.ListDirty(c, t, Account), ct);

    /// <summary>Documents whose local message was deleted here, to delete at the provider.</summary>
    internal Task<List<RemoteReference>> ListPendingDeletesAsync(CancellationToken ct) =>
        _store.Read((c, t) => MessageStore.ListPendingDeletes(c, t, Account), ct);

    /// <summary>Forgets a deletion pushed to the provider.</summary>
    internal Task ClearPendingDeleteAsync(string documentId, CancellationToken ct) =>
        _store.Write((c, t) =>
        {
            MessageStore.ClearPendingDelete(c, t, Account, documentId);
            return true;
        }, ct);

    internal FolderRecord? Folder(SqliteConnection connection, SqliteTransaction transaction, FolderId id) =>
        Folders.Get(connection, transaction, id) is { } folder && folder.Account == Account ? folder : null;

    internal StoredMessage? Message(SqliteConnection connection, SqliteTransaction transaction, MessageId id) =>
        Messages.Get(connection, transaction, id) is { } message && message.Account == Account ? message : null;

    /// <summary>A folder named as another device or the user named it, created when missing (a role held already is not given twice).</summary>
    internal MailResult<FolderRecord> CreateFolder(SqliteConnection connection, SqliteTransaction transaction, string name, FolderRole role)
    {
        if (FolderStore.Canonical(name, out var problem) is not { } canonical)
        {
            return MailResult<FolderRecord>.Refused(MailStatus.InvalidName, problem);
        }

        if (Folders.Find(connection, transaction, Account, canonical) is not null)
        {
            return MailResult<FolderRecord>.Refused(MailStatus.AlreadyExists, $"A folder named {canonical} exists already.");
        }

        if (role == FolderRole.Inbox || (role != FolderRole.None && Folders.List(connection, transaction, Account).Any(f => f.Role == role)))
        {
            role = FolderRole.None;
        }

        return MailResult<FolderRecord>.Ok(Folders.Insert(connection, transaction, Account, canonical, role));
    }

    private static MailResult<T> NotFound<T>(string what)
        where T : class => MailResult<T>.Refused(MailStatus.NotFound, $"No such {what} in this account.");

    private List<StoredMessage> DeleteExisting(SqliteConnection connection, SqliteTransaction transaction, IEnumerable<StoredMessage?> messages)
    {
        var deleted = new List<StoredMessage>();
        foreach (var message in messages)
        {
            if (message is not null)
            {
                Messages.Delete(connection, transaction, message, pushDeletion: true);
                deleted.Add(message);
            }
        }

        return deleted;
    }

    private Task<MailResult<IReadOnlyList<TransferResult>>> TransferAsync(IReadOnlyList<MessageId> ids, FolderId target,
        Func<SqliteConnection, SqliteTransaction, StoredMessage, FolderRecord, StoredMessage> transfer, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return ActAsync<IReadOnlyList<TransferResult>>((c, t) =>
        {
            if (Folder(c, t, target) is not { } folder)
            {
                return NotFound<IReadOnlyList<TransferResult>>("folder");
            }

            var results = new List<TransferResult>(ids.Count);
            foreach (var id in ids)
            {
                if (Message(c, t, id) is { } message)
                {
                    results.Add(new TransferResult(id, message.Uid, transfer(c, t, message, folder)));
                }
            }

            return MailResult<IReadOnlyList<TransferResult>>.Ok(results);
        }, ct);
    }

    /// <summary>Runs a user action in one write transaction; a refusal rolls everything it did back.</summary>
    private async Task<MailResult<T>> ActAsync<T>(Func<SqliteConnection, SqliteTransaction, MailResult<T>> work, CancellationToken ct)
        where T : class
    {
        try
        {
            return await _store.Write((c, t) =>
            {
                var result = work(c, t);
                return result.IsOk ? result : throw new RefusedException(result.Status, result.Detail);
            }, ct).ConfigureAwait(false);
        }
        catch (RefusedException refused)
        {
            return MailResult<T>.Refused(refused.Status, refused.Detail ?? refused.Status.ToString());
        }
    }

    /// <summary>Carries a refusal out of a write transaction so that it is rolled back; never leaves this class.</summary>
    private sealed class RefusedException(MailStatus status, string? detail) : Exception(detail)
    {
        public MailStatus Status { get; } = status;

        public string? Detail { get; } = detail;
    }
}
