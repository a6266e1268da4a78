using System.Globalization;
using System.Text;
using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Cryptography;
using Letterlock.OpenPgp;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Sync;

/// <summary>Progress of a sync run, for display (<c>synced 1200 of ~5000 changes</c>).</summary>
/// <param name="Applied">Changes applied so far in this run.</param>
/// <param name="Cursor">The change sequence reached.</param>
/// <param name="MoreWaiting">Whether the provider said another page is waiting.</param>
public sealed record SyncProgress(int Applied, long Cursor, bool MoreWaiting);

/// <summary>One document that could not be applied; it is left on the provider and sync goes on.</summary>
/// <param name="DocumentId">The document.</param>
/// <param name="Kind">Its kind.</param>
/// <param name="Reason">Why (never content).</param>
/// <param name="SealedToUnknownKey">An inbox document that opens with none of the inbox keys this device holds: the
/// provider may have sealed it to a key it swapped in (the caller alerts; the document stays at the provider).</param>
public sealed record SyncError(string DocumentId, string Kind, string Reason, bool SealedToUnknownKey = false);

/// <summary>The outcome of a sync run.</summary>
public sealed record SyncReport(int Received, int Pushed, int Deleted, IReadOnlyList<SyncError> Errors, long Cursor);

/// <summary>
/// Synchronizes one account with its provider (DESIGN.md section 4, "Sync").
/// </summary>
/// <remarks>
/// <para><b>Pull.</b> The change feed is read from the cursor kept (sealed) in the store. An
/// <c>inbox</c> document is opened with the inbox key (HPKE), read by
/// <see cref="IncomingMailProcessor"/> (strict PGP/MIME, security summary), stored, written back as
/// the account's own <c>message</c> document sealed under the account master key, and only then
/// deleted from the inbox. A <c>message</c> document written by another device is added or, if known,
/// its folder and flags are taken; a deleted one is deleted here.</para>
/// <para><b>Pages.</b> Changes are read a page at a time (<see cref="SyncOptions.PageSize"/>). The page's
/// documents this device lacks are downloaded concurrently (<see cref="SyncOptions.MaxConcurrentFetches"/>)
/// and opened, parsed and sealed for the store on several cores (<see cref="SyncOptions.MaxParallelism"/>),
/// but the store is changed strictly in change order: a run of <c>message</c> changes is applied in one
/// write transaction, deciding each change against the store as the earlier ones left it, so the result
/// (messages, folders, flags, UIDs, MODSEQs) is the same as applying them one by one. The page's last run
/// commits the cursor in the same transaction; an <c>inbox</c> change (which also writes to the provider)
/// is applied on its own between runs.</para>
/// <para><b>Resuming.</b> Every step is idempotent (the local message records which document it came
/// from) and the cursor moves only with or after what it covers: a crash part-way through a page leaves
/// that page's last transaction unwritten (nothing half-written) and the next run applies the page again,
/// finding what was committed already applied. A run stopped early (provider gone, cancelled) saves the
/// cursor of what it applied.</para>
/// <para><b>Push.</b> Messages changed here (flags, moves) or never pushed (drafts, Sent copies,
/// copies) are written with <c>If-Match</c> on the revision last seen; deletions are pushed the same way.</para>
/// <para><b>Conflicts</b> (409) are resolved deterministically: this device re-reads the document and
/// writes its own state on top (last writer wins for folder and flags); a deletion wins over any edit
/// on either side. Every device applies the same rule, so all converge to the state of the last write.</para>
/// <para>A document that fails to open or parse, or whose message the store refuses (larger than
/// <see cref="LocalStoreOptions.MaxMessageBytes"/>, malformed flags), is reported in
/// <see cref="SyncReport.Errors"/>, left untouched on the provider, and skipped; sync continues with the next change.</para>
/// </remarks>
public sealed class SyncEngine(LocalStore store, AccountRecord account, ProviderClient provider, OpenPgpOptions? options = null, TimeProvider? time = null,
    Transparency.ITransparencyGossip? gossip = null, SyncOptions? syncOptions = null)
{
    /// <summary>The kind of the account's own message documents.</summary>
    public const string MessageKind = "message";

    private const string InboxKind = "inbox";
    private readonly OpenPgpOptions _options = options ?? OpenPgpOptions.Default;
    private readonly SyncOptions _sync = Validated(syncOptions ?? new SyncOptions());

    private string CursorSetting => $"sync.{account.Id}.cursor";

    /// <summary>Pulls every waiting change, then pushes local changes.</summary>
    public async Task<SyncReport> SyncAsync(IProgress<SyncProgress>? progress = null, CancellationToken ct = default)
    {
        var currentInboxKey = (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.InboxSecret, ct).ConfigureAwait(false))?.Material
            ?? throw new LocalStoreException($"{account.Address} has no inbox key");
        // Mail sealed before an inbox-key rotation still opens with the earlier keys this device keeps.
        IReadOnlyList<byte[]> inboxKey = [currentInboxKey, .. (await store.Keys.ListAsync(account.Id, AccountKeys.InboxSecret, ct).ConfigureAwait(false))
            .Select(k => k.Material).Where(m => !m.AsSpan().SequenceEqual(currentInboxKey))];
        var amk = (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.AccountMasterKey, ct).ConfigureAwait(false))?.Material
            ?? throw new LocalStoreException($"{account.Address} has no account master key");
        var openPgp = await AccountKeys.LoadOpenPgpAsync(store, account.Id, ct).ConfigureAwait(false);
        using var sealer = new DocumentSealer(amk);
        var incoming = new IncomingMailProcessor(store, account, openPgp, _options, time, gossip);
        var errors = new List<SyncError>();
        int received = 0, deleted = 0, applied = 0;

        long cursor = await ReadCursorAsync(ct).ConfigureAwait(false);
        long saved = cursor;
        try
        {
            while (true)
            {
                var page = await provider.GetChangesAsync(cursor, _sync.PageSize, 0, ct).ConfigureAwait(false);
                var fetched = await FetchPageAsync(page.Changes, inboxKey, sealer, ct).ConfigureAwait(false);
                long pageCursor = page.Changes.Aggregate(Math.Max(cursor, page.Next), (max, change) => Math.Max(max, change.Sequence));
                var batch = new List<DocumentInfo>();

                // Runs of message changes are applied in one transaction each, in change order; an inbox
                // change (conversion: store, PUT, DELETE) is applied on its own between them. The page's
                // last run carries the cursor, so the page is either applied with its cursor or found applied again.
                async Task CommitAsync(long? withCursor)
                {
                    if (batch.Count == 0 && withCursor is null)
                    {
                        return;
                    }

                    var folders = await FoldersForAsync(batch, fetched, ct).ConfigureAwait(false);
                    var outcomes = await store.Write((connection, transaction) =>
                    {
                        var results = new (Applied Outcome, string? Error)[batch.Count];
                        var appended = new HashSet<MessageId>();
                        for (int i = 0; i < batch.Count; i++)
                        {
                            _sync.BeforeApply?.Invoke(batch[i]);
                            results[i] = ApplyMessage(connection, transaction, batch[i], fetched, folders, appended);
                        }

                        if (withCursor is { } value)
                        {
                            store.Settings.Set(connection, transaction, CursorSetting, CursorBytes(value));
                        }

                        return results;
                    }, ct).ConfigureAwait(false);
                    for (int i = 0; i < batch.Count; i++)
                    {
                        received += outcomes[i].Outcome == Applied.Received ? 1 : 0;
                        deleted += outcomes[i].Outcome == Applied.Deleted ? 1 : 0;
                        if (outcomes[i].Error is { } reason)
                        {
                            errors.Add(new SyncError(batch[i].Id, batch[i].Kind, reason));
                        }

                        cursor = Math.Max(cursor, batch[i].Sequence);
                        progress?.Report(new SyncProgress(++applied, cursor, page.HasMore));
                    }

                    if (withCursor is { } committed)
                    {
                        cursor = saved = committed;
                    }

                    batch.Clear();
                }

                foreach (var change in page.Changes)
                {
                    if (change.Kind != InboxKind || change.Deleted)
                    {
                        batch.Add(change);
                        continue;
                    }

                    await CommitAsync(null).ConfigureAwait(false);
                    try
                    {
                        received += await ApplyInboxAsync(change, fetched, inboxKey, sealer, incoming, ct).ConfigureAwait(false) == Applied.Received ? 1 : 0;
                    }
                    catch (SyncDocumentException e)
                    {
                        errors.Add(new SyncError(change.Id, change.Kind, e.Message, e.SealedToUnknownKey));
                    }

                    cursor = Math.Max(cursor, change.Sequence);
                    progress?.Report(new SyncProgress(++applied, cursor, page.HasMore));
                }

                await CommitAsync(pageCursor).ConfigureAwait(false);
                if (!page.HasMore)
                {
                    break;
                }
            }
        }
        finally
        {
            if (cursor != saved)
            {
                // Stopped part-way through a page: keep what was applied (not cancellable: it is one small write).
                await WriteCursorAsync(cursor, CancellationToken.None).ConfigureAwait(false);
            }
        }

        int pushed = await PushAsync(sealer, ct).ConfigureAwait(false);
        return new SyncReport(received, pushed, deleted, errors, cursor);
    }

    /// <summary>
    /// Waits up to <paramref name="seconds"/> for a change after this device's cursor (the provider's long poll);
    /// true when one is waiting, so the caller syncs as soon as mail arrives instead of on a timer.
    /// </summary>
    public async Task<bool> WaitForChangesAsync(int seconds, CancellationToken ct = default)
    {
        long cursor = await ReadCursorAsync(ct).ConfigureAwait(false);
        var page = await provider.GetChangesAsync(cursor, 1, seconds, ct).ConfigureAwait(false);
        return page.Changes.Count > 0;
    }

    private enum Applied
    {
        Nothing,
        Received,
        Deleted,
    }

    /// <summary>A document of the page, downloaded and made ready off the store's write lock; or why it cannot be applied.</summary>
    private sealed class Fetched
    {
        public static readonly Fetched Gone = new();

        public RemoteDocument? Remote { get; init; }

        public MessageDocument? Document { get; init; }

        /// <summary>Sealed and indexed for the store, when the message was not here before the page.</summary>
        public PreparedMessage? Prepared { get; init; }

        /// <summary>The message inside an inbox document.</summary>
        public byte[]? InboxMessage { get; init; }

        public string? Error { get; init; }

        public bool SealedToUnknownKey { get; init; }
    }

    /// <summary>
    /// Downloads the page's documents this device does not have at their revision, up to
    /// <see cref="SyncOptions.MaxConcurrentFetches"/> at once, and opens, parses and seals each for the
    /// store on up to <see cref="SyncOptions.MaxParallelism"/> cores. Nothing is written here: the store
    /// is changed only in change order afterwards, so the result does not depend on which finished first.
    /// </summary>
    private async Task<Dictionary<string, Fetched>> FetchPageAsync(IReadOnlyList<DocumentInfo> changes, IReadOnlyList<byte[]> inboxKey, DocumentSealer sealer,
        CancellationToken ct)
    {
        var relevant = changes.Where(c => !c.Deleted && c.Kind is InboxKind or MessageKind).ToList();
        var fetched = new Dictionary<string, Fetched>(StringComparer.Ordinal);
        if (relevant.Count == 0)
        {
            return fetched;
        }

        var known = await store.Messages.RemoteRevisionsAsync(account.Id, relevant.Select(c => c.Id).Distinct(StringComparer.Ordinal).ToList(), ct)
            .ConfigureAwait(false);
        var occurrences = changes.CountBy(c => c.Id, StringComparer.Ordinal).ToDictionary(StringComparer.Ordinal);
        var wanted = new Dictionary<string, (string Kind, bool IsNew)>(StringComparer.Ordinal);
        foreach (var change in relevant)
        {
            bool isKnown = known.TryGetValue(change.Id, out var revision);
            bool needed = change.Kind == InboxKind
                ? !isKnown
                : !isKnown || revision < change.Revision || occurrences[change.Id] > 1; // a document seen twice in a page is decided at apply time
            if (needed)
            {
                wanted[change.Id] = (change.Kind, !isKnown);
            }
        }

        var results = new System.Collections.Concurrent.ConcurrentDictionary<string, Fetched>(StringComparer.Ordinal);
        using var cores = new SemaphoreSlim(_sync.MaxParallelism);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _sync.MaxConcurrentFetches, CancellationToken = ct };
        await Parallel.ForEachAsync(wanted, parallel, async (entry, token) =>
        {
            var remote = await provider.GetDocumentAsync(entry.Key, token).ConfigureAwait(false);
            if (remote is null)
            {
                results[entry.Key] = Fetched.Gone; // deleted since (its tombstone follows) or converted by another device
                return;
            }

            await cores.WaitAsync(token).ConfigureAwait(false);
            try
            {
                results[entry.Key] = entry.Value.Kind == InboxKind ? OpenInboxDocument(remote, inboxKey) : OpenMessageDocument(remote, sealer, entry.Value.IsNew);
            }
            finally
            {
                cores.Release();
            }
        }).ConfigureAwait(false);
        foreach (var (id, result) in results)
        {
            fetched[id] = result;
        }

        return fetched;
    }

    private static Fetched OpenInboxDocument(RemoteDocument remote, IReadOnlyList<byte[]> inboxKeys)
    {
        try
        {
            return new Fetched { Remote = remote, InboxMessage = OpenInbox(remote.Content, inboxKeys) };
        }
        catch (SyncDocumentException e)
        {
            return new Fetched { Remote = remote, Error = e.Message, SealedToUnknownKey = e.SealedToUnknownKey };
        }
    }

    private Fetched OpenMessageDocument(RemoteDocument remote, DocumentSealer sealer, bool isNew)
    {
        var document = sealer.Open(remote.Id, MessageKind, remote.Content);
        if (document is null)
        {
            return new Fetched { Remote = remote, Error = "the document does not open with the account key (altered or corrupted)" };
        }

        try
        {
            store.Messages.NormalizeFlags(document.Flags);
            if (!isNew)
            {
                return new Fetched { Remote = remote, Document = document };
            }

            var (summary, text) = SummaryOf(document);
            var prepared = store.Messages.Prepare(account.Id,
                new NewMessage(summary, document.Message, document.Flags, text, new RemoteReference(remote.Id, remote.Revision)));
            return new Fetched { Remote = remote, Document = document, Prepared = prepared };
        }
        catch (SyncDocumentException e)
        {
            return new Fetched { Remote = remote, Error = e.Message };
        }
        catch (ArgumentException e)
        {
            // Too large for this store, or flags no IMAP client could be shown: reported, not applied.
            return new Fetched { Remote = remote, Error = "the document's message is not acceptable: " + e.Message };
        }
    }

    /// <summary>The local folder of each document of a run (created when missing, as another device named it), looked up once per page.</summary>
    private async Task<Dictionary<string, FolderRecord>> FoldersForAsync(List<DocumentInfo> batch, Dictionary<string, Fetched> fetched, CancellationToken ct)
    {
        var folders = new Dictionary<string, FolderRecord>(StringComparer.Ordinal);
        var byKey = new Dictionary<(FolderRole, string), FolderRecord>();
        foreach (var change in batch)
        {
            if (fetched.TryGetValue(change.Id, out var f) && f.Document is { } document && !folders.ContainsKey(change.Id))
            {
                if (!byKey.TryGetValue((document.Role, document.Folder), out var folder))
                {
                    folder = await FolderForAsync(document, ct).ConfigureAwait(false);
                    byKey[(document.Role, document.Folder)] = folder;
                }

                folders[change.Id] = folder;
            }
        }

        return folders;
    }

    /// <summary>One change of a <c>message</c> document, inside the page's write transaction; the same decisions as applying it alone.</summary>
    private (Applied, string?) ApplyMessage(SqliteConnection connection, SqliteTransaction transaction, DocumentInfo change,
        Dictionary<string, Fetched> fetched, Dictionary<string, FolderRecord> folders, HashSet<MessageId> appended)
    {
        if (change.Kind != MessageKind)
        {
            return (Applied.Nothing, null);
        }

        var local = store.Messages.FindByRemote(connection, transaction, account.Id, change.Id);
        if (change.Deleted)
        {
            if (local is null)
            {
                return (Applied.Nothing, null);
            }

            store.Messages.Delete(connection, transaction, local, pushDeletion: false);
            return (Applied.Deleted, null);
        }

        if (local?.Remote is { } known && known.Revision >= change.Revision)
        {
            return (Applied.Nothing, null); // our own write coming back, or already applied
        }

        if (!fetched.TryGetValue(change.Id, out var f) || f.Remote is not { } remote)
        {
            return (Applied.Nothing, null); // deleted since; its tombstone follows in the feed
        }

        if (f.Error is { } error)
        {
            return (Applied.Nothing, error);
        }

        var document = f.Document!;
        var folder = folders[change.Id];
        var reference = new RemoteReference(remote.Id, remote.Revision);
        if (local is null)
        {
            // Prepared before the page, unless the message was here then (and left earlier in this page).
            var prepared = f.Prepared is { } p && appended.Add(p.Id) ? p : PrepareNow(document, reference);
            store.Messages.Append(connection, transaction, folder.Id, prepared);
            return (Applied.Received, null);
        }

        store.Messages.ApplyRemoteState(connection, transaction, local, document.Flags, folder.Id);
        MessageStore.SetRemote(connection, transaction, local.Id, reference, dirty: false);
        return (Applied.Nothing, null);
    }

    private PreparedMessage PrepareNow(MessageDocument document, RemoteReference reference)
    {
        var (summary, text) = SummaryOf(document);
        return store.Messages.Prepare(account.Id, new NewMessage(summary, document.Message, document.Flags, text, reference));
    }

    private async Task<Applied> ApplyInboxAsync(DocumentInfo change, Dictionary<string, Fetched> fetched, IReadOnlyList<byte[]> inboxKey, DocumentSealer sealer,
        IncomingMailProcessor incoming, CancellationToken ct)
    {
        var local = await store.Messages.FindByRemoteAsync(account.Id, change.Id, ct).ConfigureAwait(false);
        bool received = false;
        if (local is null)
        {
            if (!fetched.TryGetValue(change.Id, out var f))
            {
                var remote = await provider.GetDocumentAsync(change.Id, ct).ConfigureAwait(false);
                f = remote is null ? Fetched.Gone : OpenInboxDocument(remote, inboxKey);
            }

            if (f.Error is { } error)
            {
                throw new SyncDocumentException(error, f.SealedToUnknownKey);
            }

            if (f.InboxMessage is not { } raw)
            {
                return Applied.Nothing; // already converted by another device
            }

            IncomingResult result;
            try
            {
                // The provider put its own Authentication-Results first when it sealed the message to the inbox.
                result = await incoming.ProcessAsync(raw, FolderRole.Inbox, new RemoteReference(change.Id, change.Revision),
                    arrival: ArrivalAuthentication.FromProviderInbox(raw), ct: ct).ConfigureAwait(false);
            }
            catch (FormatException e)
            {
                throw new SyncDocumentException("the message inside cannot be parsed: " + e.Message);
            }

            local = result.Message;
            received = true;
        }

        // Convert into the account's own message document, then retire the inbox document.
        var messageId = "m-" + local.Id.Value.ToString("N", CultureInfo.InvariantCulture);
        var body = await store.Messages.ReadBodyAsync(local.Id, ct).ConfigureAwait(false);
        var sealedDocument = sealer.Seal(messageId, MessageKind, await DocumentOfAsync(local, body, ct).ConfigureAwait(false));
        var (status, info) = await provider.PutDocumentAsync(messageId, MessageKind, sealedDocument, null, ct).ConfigureAwait(false);
        long revision = info?.Revision ?? (await provider.GetDocumentAsync(messageId, ct).ConfigureAwait(false))?.Revision ?? 1;
        await store.Messages.SetRemoteAsync(local.Id, new RemoteReference(messageId, revision), dirty: false, ct).ConfigureAwait(false);
        _ = status; // Conflict means a previous run already wrote it: the same content, sealed again.
        await provider.DeleteDocumentAsync(change.Id, change.Revision, ct).ConfigureAwait(false);
        return received ? Applied.Received : Applied.Nothing;
    }

    private static SyncOptions Validated(SyncOptions options)
    {
        options.Validate();
        return options;
    }

    private static byte[] OpenInbox(byte[] sealedEnvelope, IReadOnlyList<byte[]> inboxKeys)
    {
        foreach (var inboxKey in inboxKeys)
        {
            try
            {
                using var source = new MemoryStream(sealedEnvelope, writable: false);
                using var opening = HpkeOpeningStream.Open(source, inboxKey, InboxEnvelope.Info);
                using var plain = new MemoryStream();
                opening.CopyTo(plain);
                if (!opening.IsComplete)
                {
                    throw new SyncDocumentException("the inbox document is truncated");
                }

                return InboxEnvelope.TryUnframe(plain.GetBuffer().AsSpan(0, (int)plain.Length), out var message)
                    ? message.ToArray()
                    : throw new SyncDocumentException("the inbox document's framing is inconsistent");
            }
            catch (HpkeException)
            {
                // Not this key (or altered): try the next one this device holds.
            }
        }

        throw new SyncDocumentException("the inbox document opens with no inbox key this device holds (sealed to another key, or altered)", sealedToUnknownKey: true);
    }

    private async Task<int> PushAsync(DocumentSealer sealer, CancellationToken ct)
    {
        int pushed = 0;
        foreach (var id in await store.Messages.ListDirtyAsync(account.Id, ct).ConfigureAwait(false))
        {
            var message = await store.Messages.GetAsync(id, ct).ConfigureAwait(false);
            if (message is null)
            {
                continue;
            }

            var body = await store.Messages.ReadBodyAsync(id, ct).ConfigureAwait(false);
            var document = await DocumentOfAsync(message, body, ct).ConfigureAwait(false);
            var documentId = message.Remote?.DocumentId ?? "m-" + id.Value.ToString("N", CultureInfo.InvariantCulture);
            long? expected = message.Remote?.Revision;
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var (status, info) = await provider.PutDocumentAsync(documentId, MessageKind, sealer.Seal(documentId, MessageKind, document), expected, ct).ConfigureAwait(false);
                if (status == WriteStatus.Ok)
                {
                    await store.Messages.SetRemoteAsync(id, new RemoteReference(documentId, info?.Revision ?? (expected ?? 0) + 1), dirty: false, ct).ConfigureAwait(false);
                    pushed++;
                    break;
                }

                // Conflict: last writer wins, so write our state over the newest revision.
                var current = await provider.GetDocumentAsync(documentId, ct).ConfigureAwait(false);
                if (current is null)
                {
                    // Deleted on another device: the deletion wins.
                    await store.Messages.DeleteManyAsync([id], pushDeletion: false, ct).ConfigureAwait(false);
                    break;
                }

                expected = current.Revision;
            }
        }

        foreach (var pending in await store.Messages.ListPendingDeletesAsync(account.Id, ct).ConfigureAwait(false))
        {
            long revision = pending.Revision;
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var (status, _) = await provider.DeleteDocumentAsync(pending.DocumentId, revision, ct).ConfigureAwait(false);
                if (status != WriteStatus.Conflict)
                {
                    break;
                }

                // Edited elsewhere meanwhile: the deletion still wins.
                revision = (await provider.GetDocumentAsync(pending.DocumentId, ct).ConfigureAwait(false))?.Revision ?? revision;
            }

            await store.Messages.ClearPendingDeleteAsync(account.Id, pending.DocumentId, ct).ConfigureAwait(false);
            pushed++;
        }

        return pushed;
    }

    private async Task<MessageDocument> DocumentOfAsync(StoredMessage message, byte[] body, CancellationToken ct)
    {
        var folder = await store.Folders.GetAsync(message.Folder, ct).ConfigureAwait(false) ?? throw new LocalStoreException("no such folder");
        return new MessageDocument(folder.Name, folder.Role, message.Flags.ToList(), message.Summary.InternalDate, message.Summary.Security, body);
    }

    private async Task<FolderRecord> FolderForAsync(MessageDocument document, CancellationToken ct)
    {
        if (document.Role != FolderRole.None && await store.Folders.FindByRoleAsync(account.Id, document.Role, ct).ConfigureAwait(false) is { } byRole)
        {
            return byRole;
        }

        return await store.Folders.FindAsync(account.Id, document.Folder, ct).ConfigureAwait(false)
            ?? await store.Folders.CreateAsync(account.Id, document.Folder, FolderRole.None, ct).ConfigureAwait(false);
    }

    private (MessageSummary Summary, string Text) SummaryOf(MessageDocument document)
    {
        try
        {
            return MessageSummaryBuilder.Build(document.Message, document.InternalDate, document.Security, _options.MaxMimeDepth);
        }
        catch (FormatException e)
        {
            throw new SyncDocumentException("the message inside cannot be parsed: " + e.Message);
        }
    }

    private async Task<long> ReadCursorAsync(CancellationToken ct) =>
        await store.Settings.GetAsync(CursorSetting, ct).ConfigureAwait(false) is { } bytes &&
        long.TryParse(Encoding.ASCII.GetString(bytes), NumberStyles.None, CultureInfo.InvariantCulture, out var cursor)
            ? cursor
            : 0;

    private Task WriteCursorAsync(long cursor, CancellationToken ct) => store.Settings.SetAsync(CursorSetting, CursorBytes(cursor), ct);

    private static byte[] CursorBytes(long cursor) => Encoding.ASCII.GetBytes(cursor.ToString(CultureInfo.InvariantCulture));

    private sealed class SyncDocumentException(string message, bool sealedToUnknownKey = false) : Exception(message)
    {
        public bool SealedToUnknownKey { get; } = sealedToUnknownKey;
    }
}
