using System.Globalization;
using System.Text;
using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Cryptography;
using Letterlock.OpenPgp;

namespace Letterlock.Client.Sync;

/// <summary>Progress of a sync run, for display (<c>synced 1200 of ~5000 changes</c>).</summary>
/// <param name="Applied">Changes applied so far in this run.</param>
/// <param name="Cursor">The change sequence reached.</param>
/// <param name="MoreWaiting">Whether the provider said another page is waiting.</param>
/// <param name="Received">Messages new to this device stored so far in this run (of the changes applied).</param>
public sealed record SyncProgress(int Applied, long Cursor, bool MoreWaiting, int Received = 0);

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
/// Synchronizes one account with its provider (DESIGN.md section 4, "Sync"): page by page, each in three named
/// steps (<see cref="FetchPageAsync"/>, <see cref="Open"/>, <see cref="ApplyPageAsync"/>), then
/// <see cref="PushAsync"/>. It writes to the store only through <see cref="MailWriter"/> with
/// <see cref="ChangeOrigin.Provider"/>, so nothing it applies is pushed back (docs/design/client-store.md).
/// </summary>
/// <remarks>
/// <para><b>Pull.</b> The change feed is read from the cursor kept (sealed) in the store. An
/// <c>inbox</c> document is opened with the inbox key (HPKE), read by
/// <see cref="IncomingMailProcessor"/> (strict PGP/MIME, security summary), stored, written back as
/// the account's own <c>message</c> document sealed under the account master key, and only then
/// deleted from the inbox. A <c>message</c> document written by another device is added or, if known,
/// its folder and flags are taken; a deleted one is deleted here.</para>
/// <para><b>Pages.</b> Changes are read a page at a time (<see cref="SyncOptions.PageSize"/>); a provider with
/// content pages sends the page's documents in the same answer (<see cref="SyncOptions.MaxPageBytes"/>), otherwise
/// the documents this device lacks are downloaded concurrently (<see cref="SyncOptions.MaxConcurrentFetches"/>).
/// They are opened, parsed and sealed for the store on several cores (<see cref="SyncOptions.MaxParallelism"/>).
/// The page's <c>message</c> changes are then applied in one write transaction, in change order, each decided
/// against the store as the earlier ones left it, so the result (messages, folders, flags, UIDs, MODSEQs) is the
/// same as applying them one by one. Its <c>inbox</c> changes are converted together after them: read in change
/// order, stored in one transaction, written back and retired at the provider in batched requests (one commit
/// there per batch), and recorded in one transaction. The page's last transaction commits the cursor.</para>
/// <para><b>Resuming.</b> Every step is idempotent (the local message records which document it came
/// from; an inbox document <c>I</c> becomes the message document <c>m-I</c>, so a conversion interrupted
/// anywhere is found again rather than done twice) and the cursor moves only with or after what it covers: a
/// crash part-way through a page leaves that page's last transaction unwritten (nothing half-written) and the
/// next run applies the page again, finding what was committed already applied. A run stopped early (provider
/// gone, cancelled) saves the cursor up to the first change it did not finish. docs/design/client-store.md,
/// "Exactly once".</para>
/// <para><b>Push.</b> Messages changed here (flags, moves) or never pushed (drafts, Sent copies,
/// copies) are written with <c>If-Match</c> on the revision last seen; deletions are pushed the same way, batched
/// when the provider can.</para>
/// <para><b>Conflicts</b> (409) are resolved deterministically: this device re-reads the document and
/// writes its own state on top (last writer wins for folder and flags); a deletion wins over any edit
/// on either side. Every device applies the same rule, so all converge to the state of the last write.</para>
/// <para>A document that fails to open or parse, or whose message the store refuses (larger than
/// <see cref="LocalStoreOptions.MaxMessageBytes"/>, malformed flags), is reported in
/// <see cref="SyncReport.Errors"/>, left untouched on the provider, and skipped; sync continues with the next change.</para>
/// </remarks>
public sealed partial class SyncEngine(LocalStore store, AccountRecord account, ProviderClient provider, OpenPgpOptions? options = null, TimeProvider? time = null,
    Transparency.ITransparencyGossip? gossip = null, SyncOptions? syncOptions = null, Native.NativeMail? native = null)
{
    /// <summary>The kind of the account's own message documents.</summary>
    public const string MessageKind = "message";

    private const string InboxKind = "inbox";
    private readonly OpenPgpOptions _options = options ?? OpenPgpOptions.Default;
    private readonly SyncOptions _sync = Validated(syncOptions ?? new SyncOptions());
    private readonly AccountMail _mail = store.Mail(account.Id);

    // Learned from the provider: an older one answers plain pages (no contents) and has no batch endpoint.
    private bool _contentPages;
    private bool _batchWrites;

    private string CursorSetting => $"sync.{account.Id}.cursor";

    /// <summary>Pulls every waiting change, then pushes local changes.</summary>
    public async Task<SyncReport> SyncAsync(IProgress<SyncProgress>? progress = null, CancellationToken ct = default)
    {
        _contentPages = _batchWrites = _sync.UseBatchApi;
        var incomingOptions = new IncomingOptions(_options, time, gossip);
        var keys = await Keys.LoadAsync(store, account, incomingOptions, ct).ConfigureAwait(false);
        var run = new Run(await ReadCursorAsync(ct).ConfigureAwait(false), progress);
        bool keysRefreshed = false;

        // The next page is read and opened (downloads, AEAD, parse, seal: the parallel work) while this one is applied (the
        // serial work, under the store's write lock). Its view of which documents this device lacks is then a page old, so
        // it is brought up to date before it is applied (CatchUpAsync).
        (Task<Page> Page, long From)? next = null;
        using var stopNext = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            while (true)
            {
                Page page;
                if (next is { } ahead && ahead.From == run.Cursor)
                {
                    next = null;
                    page = await ahead.Page.ConfigureAwait(false);
                    await CatchUpAsync(page, keys, ct).ConfigureAwait(false);
                }
                else
                {
                    await AbandonAsync(next, stopNext).ConfigureAwait(false);
                    next = null;
                    page = await FetchPageAsync(run.Cursor, keys, ct).ConfigureAwait(false);
                }

                // Another device rotated the account's keys (after revoking a device): take the new key bundle before
                // opening mail sealed to the new inbox key, at most once per run.
                if (!keysRefreshed && (page.Changes.Any(c => c.Kind == Accounts.KeyBundle.Kind && !c.Deleted)
                    || page.Documents.Values.Any(d => d.Remote?.Kind == InboxKind && d.Error is not null)))
                {
                    keysRefreshed = true;
                    if (await RefreshKeysAsync(run.Errors, ct).ConfigureAwait(false))
                    {
                        keys.Dispose();
                        keys = await Keys.LoadAsync(store, account, incomingOptions, ct).ConfigureAwait(false);
                        page = await FetchPageAsync(run.Cursor, keys, ct).ConfigureAwait(false);
                    }
                }

                Step(SyncStep.PageFetched, "");
                run.BeginPage(page.Changes);
                if (page.HasMore && _sync.ReadAhead)
                {
                    next = (FetchPageAsync(page.EndCursor, keys, stopNext.Token), page.EndCursor);
                }

                await ApplyPageAsync(page, keys, run, ct).ConfigureAwait(false);
                if (!page.HasMore)
                {
                    break;
                }
            }
        }
        finally
        {
            await AbandonAsync(next, stopNext).ConfigureAwait(false);
            if (run.Cursor != run.Saved)
            {
                // Stopped part-way through a page: keep what was applied (not cancellable: it is one small write).
                await WriteCursorAsync(run.Cursor, CancellationToken.None).ConfigureAwait(false);
            }
        }

        try
        {
            await RetryDeferredAsync(keys, run, ct).ConfigureAwait(false);
            int pushed = await PushAsync(keys.Sealer, ct).ConfigureAwait(false);
            if (_sync.IndexBackfillPerRun > 0)
            {
                await _mail.IndexPendingAsync(_sync.IndexBackfillPerRun, ct).ConfigureAwait(false);
            }

            return new SyncReport(run.Received, pushed, run.Deleted, run.Errors, run.Cursor);
        }
        finally
        {
            keys.Dispose();
        }
    }

    /// <summary>Fetches the key bundle; true when it added keys. A bundle that must be refused is reported, not applied.</summary>
    private async Task<bool> RefreshKeysAsync(List<SyncError> errors, CancellationToken ct)
    {
        if (account.RemoteAccountId is null)
        {
            return false;
        }

        int before = (await store.Keys.ListAsync(account.Id, ct: ct).ConfigureAwait(false)).Count;
        try
        {
            await Accounts.KeyBundleSync.FetchAsync(store, account, provider, ct).ConfigureAwait(false);
        }
        catch (Accounts.KeyBundleException e)
        {
            errors.Add(new SyncError(Accounts.KeyBundle.DocumentId, Accounts.KeyBundle.Kind, e.Message));
            return false;
        }

        return (await store.Keys.ListAsync(account.Id, ct: ct).ConfigureAwait(false)).Count > before;
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

    // ---- Step 1: fetch a page (the changes and the documents this device lacks) ----

    /// <summary>
    /// Reads a page of the change feed with the documents this device does not have at their revision: carried in the
    /// page by a provider with content pages, otherwise downloaded up to <see cref="SyncOptions.MaxConcurrentFetches"/>
    /// at once. Each is opened (<see cref="Open"/>) on up to <see cref="SyncOptions.MaxParallelism"/> cores. Nothing is
    /// written here: the store is changed only in change order afterwards.
    /// </summary>
    private async Task<Page> FetchPageAsync(long cursor, Keys keys, CancellationToken ct)
    {
        ChangesResponse changes;
        Dictionary<string, DocumentContent>? carried = null;
        if (_contentPages)
        {
            changes = await provider.GetChangesWithContentAsync(cursor, _sync.PageSize, _sync.MaxPageBytes, ct).ConfigureAwait(false);
            if (changes.Contents is { } contents)
            {
                carried = contents.ToDictionary(c => c.Id, StringComparer.Ordinal);
            }
            else
            {
                _contentPages = false;
            }
        }
        else
        {
            changes = await provider.GetChangesAsync(cursor, _sync.PageSize, 0, ct).ConfigureAwait(false);
        }

        var page = new Page(changes.Changes, changes.HasMore,
            changes.Changes.Aggregate(Math.Max(cursor, changes.Next), (max, change) => Math.Max(max, change.Sequence)));
        await OpenLackingAsync(page, carried, keys, ct).ConfigureAwait(false);
        return page;
    }

    /// <summary>
    /// Brings a page read ahead up to date with the store as the page before it left it: a document that page made this
    /// device lack again (it deleted the message here) is downloaded and opened now. What else changed needs nothing: a
    /// message opened as new that is here now is updated in place, and one opened as known that is new now is prepared
    /// when it is applied (<see cref="ApplyMessage"/>).
    /// </summary>
    private Task CatchUpAsync(Page page, Keys keys, CancellationToken ct) => OpenLackingAsync(page, null, keys, ct);

    /// <summary>Waits for a page read ahead that will not be applied (the run stopped, or did not reach its start).</summary>
    private static async Task AbandonAsync((Task<Page> Page, long From)? next, CancellationTokenSource stop)
    {
        if (next is not { } ahead)
        {
            return;
        }

        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            _ = await ahead.Page.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Nothing of it is used: its failure (or cancellation) is not the run's.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>
    /// Downloads (unless <paramref name="carried"/> in the page) and opens the page's documents this device does not have
    /// at their revision and the page does not hold opened yet.
    /// </summary>
    private async Task OpenLackingAsync(Page page, Dictionary<string, DocumentContent>? carried, Keys keys, CancellationToken ct)
    {
        var relevant = page.Changes.Where(c => !c.Deleted && c.Kind is InboxKind or MessageKind && !page.Documents.ContainsKey(c.Id)).ToList();
        if (relevant.Count == 0)
        {
            return;
        }

        // An inbox document is known here when a message names it, or names the message document it becomes.
        var known = await _mail.RemoteRevisionsAsync(relevant.SelectMany(c => c.Kind == InboxKind ? [c.Id, MessageDocumentIds.ForInbox(c.Id)] : new[] { c.Id })
            .Distinct(StringComparer.Ordinal).ToList(), ct).ConfigureAwait(false);
        var occurrences = page.Changes.CountBy(c => c.Id, StringComparer.Ordinal).ToDictionary(StringComparer.Ordinal);
        var wanted = new Dictionary<string, (string Kind, bool IsNew)>(StringComparer.Ordinal);
        foreach (var change in relevant)
        {
            bool isKnown = known.TryGetValue(change.Id, out var revision) || (change.Kind == InboxKind && known.ContainsKey(MessageDocumentIds.ForInbox(change.Id)));
            bool needed = change.Kind == InboxKind
                ? !isKnown
                : !isKnown || revision < change.Revision || occurrences[change.Id] > 1; // a document seen twice in a page is decided at apply time
            if (needed)
            {
                wanted[change.Id] = (change.Kind, !isKnown);
            }
        }

        var results = new System.Collections.Concurrent.ConcurrentDictionary<string, Opened>(StringComparer.Ordinal);
        using var cores = new SemaphoreSlim(_sync.MaxParallelism);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(_sync.MaxConcurrentFetches, _sync.MaxParallelism), CancellationToken = ct };
        await Parallel.ForEachAsync(wanted, parallel, async (entry, token) =>
        {
            // Not in the page: a document too large for its byte budget (or a provider without content pages).
            var remote = carried?.TryGetValue(entry.Key, out var content) == true
                ? new RemoteDocument(content.Id, content.Kind, content.Revision, content.Content)
                : await provider.GetDocumentAsync(entry.Key, token).ConfigureAwait(false);
            if (remote is null)
            {
                results[entry.Key] = Opened.Gone; // deleted since (its tombstone follows) or converted by another device
                return;
            }

            await cores.WaitAsync(token).ConfigureAwait(false);
            try
            {
                results[entry.Key] = Open(remote, entry.Value.Kind, entry.Value.IsNew, keys);
            }
            finally
            {
                cores.Release();
            }
        }).ConfigureAwait(false);
        foreach (var (id, result) in results)
        {
            page.Documents[id] = result;
        }
    }

    // ---- Step 2: open a document (decrypt, parse, seal for the store) ----

    /// <summary>
    /// Opens one downloaded document for the store, off the write lock and thread-safe: an inbox document is
    /// opened with the inbox key (the message inside is read when it is applied, as reading it updates contacts);
    /// a message document is opened with the account key, its flags checked, and, when this device lacks the
    /// message, parsed, sealed and indexed (<see cref="AccountMail.Prepare"/>). A document that cannot be used
    /// carries the reason instead.
    /// </summary>
    private Opened Open(RemoteDocument remote, string kind, bool isNew, Keys keys)
    {
        if (kind == InboxKind)
        {
            try
            {
                return new Opened { Remote = remote, InboxMessage = OpenInbox(remote.Content, keys.InboxKey) };
            }
            catch (SyncDocumentException e)
            {
                return new Opened { Remote = remote, Error = e.Message, SealedToUnknownKey = e.SealedToUnknownKey };
            }
        }

        var document = keys.Sealer.Open(remote.Id, MessageKind, remote.Content);
        if (document is null)
        {
            return new Opened { Remote = remote, Error = "the document does not open with the account key (altered or corrupted)" };
        }

        if (!store.Messages.TryNormalizeFlags(document.Flags, out var flags, out var problem))
        {
            // Flags no IMAP client could be shown: reported, not applied.
            return new Opened { Remote = remote, Error = "the document's message is not acceptable: " + problem };
        }

        if (!isNew)
        {
            return new Opened { Remote = remote, Document = document, Flags = flags };
        }

        var (prepared, error) = Prepare(document, new RemoteReference(remote.Id, remote.Revision));
        return prepared is not null
            ? new Opened { Remote = remote, Document = document, Flags = flags, Prepared = prepared }
            : new Opened { Remote = remote, Error = error };
    }

    // ---- Step 3: apply the page ----

    /// <summary>
    /// Applies a page: its <c>message</c> changes (and tombstones of any kind) in one store transaction, in change order
    /// (<see cref="ApplyMessages"/>); then its live <c>inbox</c> changes, converted together (<see cref="ConvertInboxAsync"/>).
    /// The page's last transaction carries the cursor, so the page is either applied with its cursor or found applied
    /// when it is read again.
    /// </summary>
    private async Task ApplyPageAsync(Page page, Keys keys, Run run, CancellationToken ct)
    {
        await KeepStepAsync(page.Changes, keys, run, ct).ConfigureAwait(false);
        var inbox = page.Changes.Where(c => c.Kind == InboxKind && !c.Deleted).ToList();
        var others = page.Changes.Where(c => c.Kind != InboxKind || c.Deleted).ToList();
        if (others.Count > 0 || inbox.Count == 0)
        {
            await ApplyMessagesAsync(others, page, inbox.Count == 0 ? page.EndCursor : null, run, ct).ConfigureAwait(false);
        }

        if (inbox.Count > 0)
        {
            await ConvertInboxAsync(inbox, page, keys, run, ct).ConfigureAwait(false);
        }
    }

    /// <summary>A run of changes in one write transaction, with the cursor when it ends the page.</summary>
    private async Task ApplyMessagesAsync(List<DocumentInfo> batch, Page page, long? withCursor, Run run, CancellationToken ct)
    {
        var outcomes = await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
        {
            var results = ApplyMessages(writer, batch, page);
            if (withCursor is { } value)
            {
                writer.SetSetting(CursorSetting, CursorBytes(value));
            }

            return results;
        }, ct).ConfigureAwait(false);
        Step(SyncStep.RunCommitted, batch.Count > 0 ? batch[^1].Id : "");
        for (int i = 0; i < batch.Count; i++)
        {
            run.Done(batch[i], outcomes[i].Outcome, outcomes[i].Error, page.HasMore);
        }

        if (withCursor is { } committed)
        {
            run.Committed(committed);
        }
    }

    /// <summary>Each change of a run against the store as the earlier ones left it: the same decisions as applying them one by one.</summary>
    private (Applied Outcome, string? Error)[] ApplyMessages(MailWriter writer, List<DocumentInfo> batch, Page page)
    {
        var results = new (Applied, string?)[batch.Count];
        var folders = new Dictionary<(FolderRole, string), FolderRecord?>();
        var appended = new HashSet<MessageId>();
        for (int i = 0; i < batch.Count; i++)
        {
            Step(SyncStep.Applying, batch[i].Id);
            results[i] = batch[i].Kind switch
            {
                MessageKind => ApplyMessage(writer, batch[i], page, folders, appended),
                InboxKind => RetiredInbox(writer, batch[i]),
                _ => (Applied.Nothing, null),
            };
        }

        return results;
    }

    /// <summary>
    /// An inbox document <c>I</c> deleted at the provider: converted (by this device or another). A message here still
    /// naming <c>I</c> was stored by a conversion that another device finished and whose <c>m-I</c> was deleted since
    /// (when <c>m-I</c> is live, it came earlier in the feed and the message took it): it goes too.
    /// </summary>
    private static (Applied, string?) RetiredInbox(MailWriter writer, DocumentInfo change)
    {
        if (writer.FindByRemote(change.Id) is not { } local)
        {
            return (Applied.Nothing, null);
        }

        writer.Delete(local);
        return (Applied.Deleted, null);
    }

    /// <summary>One change of a <c>message</c> document.</summary>
    private (Applied, string?) ApplyMessage(MailWriter writer, DocumentInfo change, Page page,
        Dictionary<(FolderRole, string), FolderRecord?> folders, HashSet<MessageId> appended)
    {
        var local = writer.FindByRemote(change.Id) ?? PushedFromHere(writer, change.Id);
        if (change.Deleted)
        {
            if (local is null)
            {
                return (Applied.Nothing, null);
            }

            writer.Delete(local);
            return (Applied.Deleted, null);
        }

        if (local?.Remote is { } known && known.DocumentId == change.Id && known.Revision >= change.Revision)
        {
            return (Applied.Nothing, null); // our own write coming back, or already applied
        }

        if (local is null && writer.DeletedHere(change.Id))
        {
            return (Applied.Nothing, null); // deleted here, edited elsewhere: the deletion wins when it is pushed
        }

        if (!page.Documents.TryGetValue(change.Id, out var opened) || opened.Remote is not { } remote)
        {
            return (Applied.Nothing, null); // deleted since; its tombstone follows in the feed
        }

        if (opened.Error is { } error)
        {
            return (Applied.Nothing, error);
        }

        var document = opened.Document!;
        if (!folders.TryGetValue((document.Role, document.Folder), out var folder))
        {
            folder = folders[(document.Role, document.Folder)] = writer.FolderNamed(document.Folder, document.Role);
        }

        if (folder is null)
        {
            return (Applied.Nothing, "the document names a folder that cannot exist here");
        }

        var reference = new RemoteReference(remote.Id, remote.Revision);
        if (local is null)
        {
            // Prepared before the page, unless the message was here then (and left earlier in this page, or in the page
            // before when this one was read ahead).
            var (prepared, problem) = opened.Prepared is { } p && appended.Add(p.Id) ? (p, null) : Prepare(document, reference);
            if (prepared is null)
            {
                return (Applied.Nothing, problem);
            }

            writer.Append(folder, prepared);
            return (Applied.Received, null);
        }

        if (!(local.Folder == folder.Id && local.Flags.SetEquals(opened.Flags!)) && ChangedHere(writer, local))
        {
            // Changes made here since the last push are newer than what this device last saw of the document: they stay and
            // the push writes them over this revision (last writer wins, as when a push meets a conflict; a deletion
            // elsewhere still wins). The document may even be this device's own write, whose record a crash prevented.
            writer.KeepLocalState(local, reference);
            return (Applied.Nothing, null);
        }

        writer.ApplyRemoteState(local, opened.Flags!, folder, reference);
        return (Applied.Nothing, null);
    }

    /// <summary>
    /// Whether a message holds changes made here that the provider may lack: changed since its last push, never recorded as
    /// pushed (a push or an inbox conversion whose record a crash prevented), or recorded against a document it met
    /// existing (revision unknown, 0).
    /// </summary>
    private static bool ChangedHere(MailWriter writer, StoredMessage local) =>
        local.Remote is not { } remote || MessageDocumentIds.IsInbox(remote.DocumentId) || remote.Revision <= 0 || writer.HasUnpushedChanges(local);

    /// <summary>
    /// Converts a page's inbox documents. For each inbox document <c>I</c>: the message inside is read
    /// (<see cref="IncomingMailProcessor"/>, in change order: it updates contacts) and stored naming <c>I</c>; written
    /// back as the account's own message document <c>m-I</c>; recorded as mirroring <c>m-I</c>; and <c>I</c> is deleted.
    /// Batched: the stores in one transaction, the writes in requests of up to <see cref="SyncOptions.MaxBatchOperations"/>
    /// (<c>m-I</c> only while <c>I</c> is live at its revision, then the deletion of <c>I</c>, in one commit at the
    /// provider), the records in one transaction with the cursor. Every step can be interrupted and done again: the
    /// message document's id follows from the inbox document's, so a message stored or written before a crash is
    /// found again (by <c>I</c>, by <c>m-I</c>, or when <c>m-I</c> comes back in the feed) instead of converted twice,
    /// and two devices converting the same inbox document at once write one message document.
    /// </summary>
    private async Task ConvertInboxAsync(List<DocumentInfo> changes, Page page, Keys keys, Run run, CancellationToken ct)
    {
        // What is done already, from before a crash (or deleted here meanwhile).
        var state = await _mail.WriteAsync(ChangeOrigin.Provider, writer => changes.Select(change =>
        {
            var documentId = MessageDocumentIds.ForInbox(change.Id);
            var found = writer.FindByRemote(change.Id) ?? writer.FindByRemote(documentId);
            bool deleted = found is null && (writer.DeletedHere(change.Id) || writer.DeletedHere(documentId));
            if (deleted && !writer.DeletedHere(documentId))
            {
                // Stored here and deleted by the user before the conversion was recorded: m-I may exist already
                // (written before a crash), so its deletion is pushed too (at whatever revision it has).
                writer.RecordDeletion(documentId, 0);
            }

            return (Local: found, Deleted: deleted);
        }).ToList(), ct).ConfigureAwait(false);

        var conversions = new List<Conversion>(changes.Count);
        var reads = new List<(Conversion Conversion, IncomingRead Read)>();
        for (int i = 0; i < changes.Count; i++)
        {
            var change = changes[i];
            var conversion = new Conversion(change, state[i].Local);
            conversions.Add(conversion);
            if (state[i].Deleted)
            {
                conversion.Done = true; // the push deletes the inbox document and its message document
                continue;
            }

            if (conversion.Local is not null)
            {
                continue;
            }

            if (!page.Documents.TryGetValue(change.Id, out var opened))
            {
                var remote = await provider.GetDocumentAsync(change.Id, ct).ConfigureAwait(false);
                opened = remote is null ? Opened.Gone : Open(remote, InboxKind, isNew: true, keys);
            }

            if (opened.Error is { } error || opened.InboxMessage is not { } raw)
            {
                conversion.Done = true; // unusable (reported), or already converted by another device
                conversion.Error = opened.Error;
                conversion.SealedToUnknownKey = opened.SealedToUnknownKey;
                continue;
            }

            try
            {
                // A native message is opened with this device's sessions; anything else by the ordinary reader. The provider
                // put its own Authentication-Results first when it sealed the message to the inbox.
                var nativeRead = await ReadNativeAsync(change, raw, keys, ct).ConfigureAwait(false);
                conversion.NativeKept = nativeRead?.KeptAs;
                reads.Add((conversion, nativeRead?.Read ?? await keys.Incoming.ReadAsync(raw, null, ArrivalAuthentication.FromProviderInbox(raw), ct).ConfigureAwait(false)));
            }
            catch (NativeHandledException)
            {
                conversion.Done = true; // consumed by the native protocol (a session reset request) and retired
            }
            catch (SyncDocumentException e)
            {
                conversion.Done = true; // left in the inbox for the account's other devices (reported)
                conversion.Error = e.Message;
            }
            catch (FormatException e)
            {
                conversion.Done = true;
                conversion.Error = "the message inside cannot be parsed: " + e.Message;
            }
        }

        await LeaveEntryCopiesAsync(keys.Sealer, ct).ConfigureAwait(false);
        if (reads.Count > 0)
        {
            Step(SyncStep.InboxOpened, reads[^1].Conversion.Change.Id);
        }

        // Sealed and indexed on several cores, stored in one transaction.
        var prepared = reads.AsParallel().AsOrdered().WithDegreeOfParallelism(_sync.MaxParallelism)
            .Select(r => (r.Conversion, Prepared: _mail.Prepare(r.Read.Message, new RemoteReference(r.Conversion.Change.Id, r.Conversion.Change.Revision))))
            .ToList();
        foreach (var (conversion, result) in prepared.Where(p => !p.Prepared.IsOk))
        {
            conversion.Done = true;
            conversion.Error = "the message inside is not acceptable: " + result.Detail;
            if (native is not null)
            {
                await native.ForgetOpenedAsync(conversion.NativeKept, ct).ConfigureAwait(false);
            }
        }

        var toStore = prepared.Where(p => p.Prepared.IsOk).ToList();
        if (toStore.Count > 0)
        {
            var stored = await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
            {
                var inboxFolder = writer.Folder(FolderRole.Inbox) ?? throw new LocalStoreException($"{account.Address} has no INBOX");

                // A native message's kept copy goes in the transaction that files it (its keys are spent: it must be one or the other).
                foreach (var kept in toStore.Select(p => p.Conversion.NativeKept).OfType<Guid>())
                {
                    AccountKeyStore.Delete(writer.Connection, writer.Transaction, account.Id, kept);
                }

                return toStore.Select(p => writer.Append(inboxFolder, p.Prepared.Value!)).ToList();
            }, ct).ConfigureAwait(false);
            for (int i = 0; i < toStore.Count; i++)
            {
                toStore[i].Conversion.Local = stored[i];
                toStore[i].Conversion.Received = true;
            }

            Step(SyncStep.InboxStored, toStore[^1].Conversion.Change.Id);
        }

        // Written back as message documents, sealed on several cores.
        var pending = conversions.Where(c => !c.Done && c.Local is not null).ToList();
        foreach (var conversion in pending.Where(c => c.Local!.Remote?.DocumentId != MessageDocumentIds.ForInbox(c.Change.Id)))
        {
            var body = await _mail.ReadBodyAsync(conversion.Local!.Id, ct).ConfigureAwait(false);
            conversion.Document = body is null ? null : await DocumentOfAsync(conversion.Local, body, ct).ConfigureAwait(false);
            if (conversion.Document is null)
            {
                conversion.Done = true; // deleted here meanwhile: its deletion (of the inbox document) is pushed
            }
        }

        pending = pending.Where(c => !c.Done).ToList();
        Parallel.ForEach(pending.Where(c => c.Document is not null), new ParallelOptions { MaxDegreeOfParallelism = _sync.MaxParallelism },
            c => c.Sealed = keys.Sealer.Seal(MessageDocumentIds.ForInbox(c.Change.Id), MessageKind, c.Document!));
        // A document larger than a batch may carry (a 24 MiB message is 32 MiB as base64 in JSON, over the provider's
        // api.maxBatchBodySize) goes up alone, in a PUT that carries it as it is: batched, the provider refuses it, and
        // the conversion would be retried on every sync, each time opening the message again.
        var alone = pending.Where(c => c.Sealed is { } content && content.Length > _sync.MaxBatchBytes).ToList();
        var batched = pending.Except(alone).ToList();
        if (!_batchWrites || !await WriteConversionsAsync(batched, ct).ConfigureAwait(false))
        {
            alone = pending;
        }

        foreach (var conversion in alone)
        {
            await WriteConversionAloneAsync(conversion, ct).ConfigureAwait(false);
        }

        // The page's cursor, with whatever is left to record (every step before it is idempotent).
        await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
        {
            foreach (var c in pending.Where(c => c.Recorded is null && c.PutRevision is not null))
            {
                writer.MarkPushed(c.Local!, new RemoteReference(MessageDocumentIds.ForInbox(c.Change.Id), c.PutRevision!.Value));
            }

            writer.SetSetting(CursorSetting, CursorBytes(page.EndCursor));
            return true;
        }, ct).ConfigureAwait(false);
        Step(SyncStep.InboxRecorded, changes[^1].Id);
        foreach (var conversion in conversions)
        {
            run.Done(conversion.Change, conversion.Received ? Applied.Received : Applied.Nothing, conversion.Error, page.HasMore, conversion.SealedToUnknownKey);
        }

        run.Committed(page.EndCursor);
    }

    /// <summary>
    /// The batched writes of conversions: per inbox document <c>I</c> at revision <c>r</c>, PUT <c>m-I</c> (create, only while
    /// <c>I</c> is live at <c>r</c>) then DELETE <c>I</c> (<c>If-Match: r</c>), in requests bounded by operations and bytes.
    /// False when the provider has no batch endpoint (nothing was written then).
    /// </summary>
    private async Task<bool> WriteConversionsAsync(List<Conversion> conversions, CancellationToken ct)
    {
        foreach (var chunk in Chunks(conversions, c => 2, c => c.Sealed?.Length ?? 0))
        {
            var operations = new List<DocumentOperation>();
            foreach (var c in chunk)
            {
                if (c.Sealed is { } content)
                {
                    operations.Add(new DocumentOperation("put", MessageDocumentIds.ForInbox(c.Change.Id), MessageKind, IfNoneMatch: true, Content: content,
                        Requires: new RequiredRevision(c.Change.Id, c.Change.Revision)));
                }

                operations.Add(new DocumentOperation("delete", c.Change.Id, IfMatch: c.Change.Revision));
            }

            var results = await provider.WriteDocumentsAsync(operations, ct).ConfigureAwait(false);
            if (results is null)
            {
                _batchWrites = false;
                return false;
            }

            int next = 0;
            foreach (var c in chunk)
            {
                if (c.Sealed is not null)
                {
                    var put = results[next++];
                    // Conflict: m-I exists already (written here before a crash, or by another device converting I at the
                    // same time), or I is gone (converted elsewhere). Revision 0 makes this device take m-I's state
                    // when the feed brings it, as it does: m-I was written after I.
                    c.PutRevision = put.Status == DocumentOperationStatus.Ok ? put.Document!.Revision : 0;
                }

                next++; // the deletion of I: done, or not found (retired by another device)
            }

            Step(SyncStep.InboxPut, chunk[^1].Change.Id);
        }

        return true;
    }

    /// <summary>One conversion's writes as single requests (a provider without batches): PUT <c>m-I</c>, record it, DELETE <c>I</c>.</summary>
    private async Task WriteConversionAloneAsync(Conversion c, CancellationToken ct)
    {
        var documentId = MessageDocumentIds.ForInbox(c.Change.Id);
        if (c.Sealed is { } content)
        {
            var (status, info) = await provider.PutDocumentAsync(documentId, MessageKind, content, null, ct).ConfigureAwait(false);
            Step(SyncStep.InboxPut, c.Change.Id);
            long revision = status == WriteStatus.Ok ? info!.Revision : 0;
            await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
            {
                writer.MarkPushed(c.Local!, new RemoteReference(documentId, revision));
                return true;
            }, ct).ConfigureAwait(false);
            c.Recorded = true;
            Step(SyncStep.InboxRecorded, c.Change.Id);
        }

        // NotFound: deleted by another device that converted it too.
        await provider.DeleteDocumentAsync(c.Change.Id, c.Change.Revision, ct).ConfigureAwait(false);
        Step(SyncStep.InboxDeleted, c.Change.Id);
    }

    /// <summary>
    /// The local message a message document was pushed from, when the push reached the provider but a crash came before
    /// the store recorded it (<see cref="MessageDocumentIds"/>): a new message still naming no document, or a converted one
    /// still naming its inbox document. Without this the document would come back in the feed as someone else's new message.
    /// </summary>
    private static StoredMessage? PushedFromHere(MailWriter writer, string documentId) => MessageDocumentIds.Origin(documentId) switch
    {
        ({ } local, _) => writer.Message(local) is { Remote: null } unpushed ? unpushed : null,
        (_, { } inbox) => writer.FindByRemote(inbox),
        _ => null,
    };

    // ---- Push ----

    /// <summary>
    /// Pushes this device's changes: messages changed here or never pushed are written with <c>If-Match</c> on the
    /// revision last seen (a conflict: our state over the newest revision; a deletion elsewhere wins), then the
    /// deletions made here. Batched when the provider can; a write that meets a conflict is resolved on its own.
    /// </summary>
    private async Task<int> PushAsync(DocumentSealer sealer, CancellationToken ct)
    {
        int pushed = 0;
        var writes = new List<Push>();
        foreach (var id in await _mail.ListUnpushedAsync(ct).ConfigureAwait(false))
        {
            var message = await _mail.GetAsync(id, ct).ConfigureAwait(false);
            if (message?.Remote is { } remote && MessageDocumentIds.IsInbox(remote.DocumentId))
            {
                continue; // not converted yet: the conversion writes its current state
            }

            var body = message is null ? null : await _mail.ReadBodyAsync(id, ct).ConfigureAwait(false);
            if (message is null || body is null || await DocumentOfAsync(message, body, ct).ConfigureAwait(false) is not { } document)
            {
                continue;
            }

            writes.Add(new Push(message, message.Remote?.DocumentId ?? MessageDocumentIds.ForNew(id), document));
        }

        Parallel.ForEach(writes, new ParallelOptions { MaxDegreeOfParallelism = _sync.MaxParallelism }, w => w.Sealed = sealer.Seal(w.DocumentId, MessageKind, w.Document));
        // A write whose revision is unknown (a conversion that met m-I existing) reads it first, alone; a document larger
        // than a batch may carry goes up alone too (batched, the provider would refuse it on every sync).
        var unresolved = writes.Where(w => w.Message.Remote is { Revision: <= 0 } || w.Sealed!.Length > _sync.MaxBatchBytes).ToList();
        var batchable = writes.Except(unresolved).ToList();
        if (!_batchWrites)
        {
            unresolved = writes;
        }
        else if (batchable.Count > 0)
        {
            foreach (var chunk in Chunks(batchable, _ => 1, w => w.Sealed!.Length))
            {
                var results = await provider.WriteDocumentsAsync(chunk.Select(w => new DocumentOperation("put", w.DocumentId, MessageKind,
                    IfMatch: w.Message.Remote?.Revision is long r and > 0 ? r : null, IfNoneMatch: w.Message.Remote is null, Content: w.Sealed)).ToList(), ct).ConfigureAwait(false);
                if (results is null)
                {
                    _batchWrites = false;
                    unresolved.AddRange(chunk);
                    continue;
                }

                Step(SyncStep.Pushed, chunk[^1].DocumentId);
                var done = chunk.Zip(results).Where(x => x.Second.Status == DocumentOperationStatus.Ok).ToList();
                await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
                {
                    foreach (var (w, result) in done)
                    {
                        writer.MarkPushed(w.Message, new RemoteReference(w.DocumentId, result.Document!.Revision));
                    }

                    return true;
                }, ct).ConfigureAwait(false);
                Step(SyncStep.PushRecorded, chunk[^1].DocumentId);
                pushed += done.Count;
                unresolved.AddRange(chunk.Zip(results).Where(x => x.Second.Status != DocumentOperationStatus.Ok).Select(x => x.First));
            }
        }

        foreach (var w in unresolved)
        {
            pushed += await PushAloneAsync(w, sealer, ct).ConfigureAwait(false) ? 1 : 0;
        }

        var deletions = await _mail.ListPendingDeletesAsync(ct).ConfigureAwait(false);
        var left = deletions;
        if (_batchWrites && deletions.Any(d => d.Revision > 0))
        {
            left = deletions.Where(d => d.Revision <= 0).ToList();
            foreach (var chunk in deletions.Where(d => d.Revision > 0).Chunk(_sync.MaxBatchOperations))
            {
                var results = await provider.WriteDocumentsAsync(chunk.Select(d => new DocumentOperation("delete", d.DocumentId, IfMatch: d.Revision)).ToList(), ct)
                    .ConfigureAwait(false);
                if (results is null)
                {
                    _batchWrites = false;
                    left.AddRange(chunk);
                    continue;
                }

                Step(SyncStep.DeletionPushed, chunk[^1].DocumentId);
                var gone = chunk.Zip(results).Where(x => x.Second.Status is DocumentOperationStatus.Ok or DocumentOperationStatus.NotFound).Select(x => x.First).ToList();
                foreach (var deletion in gone)
                {
                    await _mail.ClearPendingDeleteAsync(deletion.DocumentId, ct).ConfigureAwait(false);
                }

                pushed += gone.Count;
                left.AddRange(chunk.Except(gone));
            }
        }

        foreach (var pending in left)
        {
            await DeleteAloneAsync(pending, ct).ConfigureAwait(false);
            pushed++;
        }

        return pushed;
    }

    /// <summary>One message's push as single requests, resolving conflicts: our state over the newest revision; a deletion elsewhere wins.</summary>
    private async Task<bool> PushAloneAsync(Push w, DocumentSealer sealer, CancellationToken ct)
    {
        long? expected = w.Message.Remote?.Revision is long known and > 0 ? known : null;
        bool create = w.Message.Remote is null;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            if (!create && expected is null)
            {
                // Revision unknown (a conversion that met m-I existing): read it first.
                expected = (await provider.GetDocumentAsync(w.DocumentId, ct).ConfigureAwait(false))?.Revision;
                if (expected is null)
                {
                    await DeleteHereAsync(w.Message.Id, ct).ConfigureAwait(false);
                    return false;
                }
            }

            var (status, info) = await provider.PutDocumentAsync(w.DocumentId, MessageKind, w.Sealed ?? sealer.Seal(w.DocumentId, MessageKind, w.Document),
                create ? null : expected, ct).ConfigureAwait(false);
            if (status == WriteStatus.Ok)
            {
                Step(SyncStep.Pushed, w.DocumentId);
                await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
                {
                    writer.MarkPushed(w.Message, new RemoteReference(w.DocumentId, info?.Revision ?? (expected ?? 0) + 1));
                    return true;
                }, ct).ConfigureAwait(false);
                Step(SyncStep.PushRecorded, w.DocumentId);
                return true;
            }

            // Conflict: last writer wins, so write our state over the newest revision.
            var current = await provider.GetDocumentAsync(w.DocumentId, ct).ConfigureAwait(false);
            if (current is null)
            {
                if (create)
                {
                    continue; // a tombstone blocked nothing; try again
                }

                await DeleteHereAsync(w.Message.Id, ct).ConfigureAwait(false); // deleted on another device: the deletion wins
                return false;
            }

            create = false;
            expected = current.Revision;
        }

        return false;
    }

    private Task DeleteHereAsync(MessageId id, CancellationToken ct) =>
        _mail.WriteAsync(ChangeOrigin.Provider, writer =>
        {
            if (writer.Message(id) is { } gone)
            {
                writer.Delete(gone);
            }

            return true;
        }, ct);

    /// <summary>One deletion as single requests; edited elsewhere meanwhile, the deletion still wins.</summary>
    private async Task DeleteAloneAsync(RemoteReference pending, CancellationToken ct)
    {
        long revision = pending.Revision;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            if (revision <= 0)
            {
                revision = (await provider.GetDocumentAsync(pending.DocumentId, ct).ConfigureAwait(false))?.Revision ?? 0;
                if (revision <= 0)
                {
                    break; // does not exist
                }
            }

            var (status, _) = await provider.DeleteDocumentAsync(pending.DocumentId, revision, ct).ConfigureAwait(false);
            if (status != WriteStatus.Conflict)
            {
                break;
            }

            revision = 0;
        }

        Step(SyncStep.DeletionPushed, pending.DocumentId);
        await _mail.ClearPendingDeleteAsync(pending.DocumentId, ct).ConfigureAwait(false);
    }

    /// <summary>Groups items into batches of at most <see cref="SyncOptions.MaxBatchOperations"/> operations and <see cref="SyncOptions.MaxBatchBytes"/> bytes.</summary>
    private List<List<T>> Chunks<T>(List<T> items, Func<T, int> operations, Func<T, long> bytes)
    {
        var chunks = new List<List<T>>();
        var current = new List<T>();
        int count = 0;
        long size = 0;
        foreach (var item in items)
        {
            if (current.Count > 0 && (count + operations(item) > _sync.MaxBatchOperations || size + bytes(item) > _sync.MaxBatchBytes))
            {
                chunks.Add(current);
                current = [];
                count = 0;
                size = 0;
            }

            current.Add(item);
            count += operations(item);
            size += bytes(item);
        }

        if (current.Count > 0)
        {
            chunks.Add(current);
        }

        return chunks;
    }

    // ---- Helpers ----

    private void Step(SyncStep step, string documentId) => _sync.AtStep?.Invoke(step, documentId);

    private static SyncOptions Validated(SyncOptions options)
    {
        options.Validate();
        return options;
    }

    /// <summary>
    /// Opens an inbox document with the account's inbox keys of the KEM its header names (X-Wing, or X25519 for
    /// mail sealed before the account's upgrade), newest first; a wrong key fails on the first chunk.
    /// </summary>
    private static byte[] OpenInbox(byte[] sealedEnvelope, InboxKeyRing inboxKeys)
    {
        HpkeKem kem;
        try
        {
            kem = HpkeEnvelope.ReadKem(sealedEnvelope);
        }
        catch (HpkeException)
        {
            throw new SyncDocumentException("the inbox document is not a sealed envelope this version reads");
        }

        foreach (var inboxKey in inboxKeys.PrivateKeysFor(kem))
        {
            try
            {
                using var source = new MemoryStream(sealedEnvelope, writable: false);
                using var opening = HpkeOpeningStream.Open(source, inboxKey, InboxEnvelope.Info);
                // The plaintext is shorter than the envelope: one buffer of that size instead of a doubling one (a 24 MiB
                // message would otherwise pass through ten growing large-object buffers on the way).
                using var plain = new MemoryStream(sealedEnvelope.Length);
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
                // Not this key (or altered): the next one, if any.
            }
        }

        throw new SyncDocumentException(kem == HpkeKem.XWing && !inboxKeys.HasXWing
            ? "the inbox document is sealed to an X-Wing inbox key this device does not hold"
            : "the inbox document opens with no inbox key this device holds (sealed to another key, or altered)", sealedToUnknownKey: true);
    }

    /// <summary>The message parsed, sealed and indexed for the store, naming its document; or why the store would not take it.</summary>
    private (PreparedMessage? Prepared, string? Error) Prepare(MessageDocument document, RemoteReference reference)
    {
        MessageSummary summary;
        string text;
        string? searchText;
        try
        {
            (summary, text, searchText) = MessageSummaryBuilder.BuildForIndex(document.Message, document.InternalDate, document.Security, _options.MaxMimeDepth);
        }
        catch (FormatException e)
        {
            return (null, "the message inside cannot be parsed: " + e.Message);
        }

        var prepared = _mail.Prepare(new NewMessage(summary, document.Message, document.Flags, text, searchText), reference);
        return prepared.IsOk ? (prepared.Value, null) : (null, "the document's message is not acceptable: " + prepared.Detail);
    }

    /// <summary>What a message document holds for a local message; null when its folder is gone.</summary>
    private async Task<MessageDocument?> DocumentOfAsync(StoredMessage message, byte[] body, CancellationToken ct) =>
        await _mail.GetFolderAsync(message.Folder, ct).ConfigureAwait(false) is { } folder
            ? new MessageDocument(folder.Name, folder.Role, message.Flags.ToList(), message.Summary.InternalDate, message.Summary.Security, body)
            : null;

    private async Task<long> ReadCursorAsync(CancellationToken ct) =>
        await store.Settings.GetAsync(CursorSetting, ct).ConfigureAwait(false) is { } bytes &&
        long.TryParse(Encoding.ASCII.GetString(bytes), NumberStyles.None, CultureInfo.InvariantCulture, out var cursor)
            ? cursor
            : 0;

    private Task WriteCursorAsync(long cursor, CancellationToken ct) => store.Settings.SetAsync(CursorSetting, CursorBytes(cursor), ct);

    private static byte[] CursorBytes(long cursor) => Encoding.ASCII.GetBytes(cursor.ToString(CultureInfo.InvariantCulture));

    private enum Applied
    {
        Nothing,
        Received,
        Deleted,
    }

    /// <summary>
    /// The keys a run needs, loaded once (again after a key-bundle refresh): every inbox secret key the account had, by KEM
    /// and newest first (mail sealed before a rotation or an upgrade still opens), the account master key's document sealer,
    /// the reader of received mail.
    /// </summary>
    private sealed class Keys(InboxKeyRing inboxKey, DocumentSealer sealer, IncomingMailProcessor incoming) : IDisposable
    {
        public InboxKeyRing InboxKey { get; } = inboxKey;

        public DocumentSealer Sealer { get; } = sealer;

        public IncomingMailProcessor Incoming { get; } = incoming;

        public static async Task<Keys> LoadAsync(LocalStore store, AccountRecord account, IncomingOptions incoming, CancellationToken ct)
        {
            var inboxKey = await AccountKeys.LoadInboxKeysAsync(store, account.Id, ct).ConfigureAwait(false);
            var amk = (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.AccountMasterKey, ct).ConfigureAwait(false))?.Material
                ?? throw new LocalStoreException($"{account.Address} has no account master key");
            var openPgp = await AccountKeys.LoadOpenPgpAsync(store, account.Id, ct).ConfigureAwait(false);
            var retired = await AccountKeys.LoadRetiredOpenPgpAsync(store, account.Id, ct).ConfigureAwait(false);
            return new Keys(inboxKey, new DocumentSealer(amk),
                new IncomingMailProcessor(store, account, openPgp, incoming.Options, incoming.Time, incoming.Gossip, retired));
        }

        public void Dispose() => Sealer.Dispose();
    }

    private sealed record IncomingOptions(OpenPgpOptions Options, TimeProvider? Time, Transparency.ITransparencyGossip? Gossip);

    /// <summary>One page of the change feed with its downloaded, opened documents (step 1 and 2).</summary>
    private sealed record Page(IReadOnlyList<DocumentInfo> Changes, bool HasMore, long EndCursor)
    {
        public Dictionary<string, Opened> Documents { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>A document of the page made ready off the store's write lock; or why it cannot be applied.</summary>
    private sealed class Opened
    {
        public static readonly Opened Gone = new();

        public RemoteDocument? Remote { get; init; }

        public MessageDocument? Document { get; init; }

        /// <summary>The document's flags, checked.</summary>
        public HashSet<string>? Flags { get; init; }

        /// <summary>Sealed and indexed for the store, when the message was not here before the page.</summary>
        public PreparedMessage? Prepared { get; init; }

        /// <summary>The message inside an inbox document.</summary>
        public byte[]? InboxMessage { get; init; }

        public string? Error { get; init; }

        public bool SealedToUnknownKey { get; init; }
    }

    /// <summary>One inbox document's conversion as it goes: its local message, its sealed message document, what the provider said.</summary>
    private sealed class Conversion(DocumentInfo change, StoredMessage? local)
    {
        public DocumentInfo Change { get; } = change;

        public StoredMessage? Local { get; set; } = local;

        public bool Received { get; set; }

        /// <summary>Nothing (more) to do for it in this run.</summary>
        public bool Done { get; set; }

        public string? Error { get; set; }

        /// <summary>For an opened native message: the store entry keeping it until it is filed.</summary>
        public Guid? NativeKept { get; set; }

        /// <summary>The inbox document opened with none of this device's inbox keys (alerted, kept at the provider).</summary>
        public bool SealedToUnknownKey { get; set; }

        public MessageDocument? Document { get; set; }

        public byte[]? Sealed { get; set; }

        /// <summary>The revision of <c>m-I</c> once written (0: it existed already; the feed brings its state).</summary>
        public long? PutRevision { get; set; }

        /// <summary>Recorded already (the single-request path records each at once).</summary>
        public bool? Recorded { get; set; }
    }

    /// <summary>A local message to write to the provider.</summary>
    private sealed class Push(StoredMessage message, string documentId, MessageDocument document)
    {
        public StoredMessage Message { get; } = message;

        public string DocumentId { get; } = documentId;

        public MessageDocument Document { get; } = document;

        public byte[]? Sealed { get; set; }
    }

    /// <summary>
    /// What a sync run has done so far: counts, errors, the cursor reached and the cursor saved. The cursor advances over a
    /// page's changes only as far as every change before is done (a page's inbox changes are converted after its other changes).
    /// </summary>
    private sealed class Run(long cursor, IProgress<SyncProgress>? progress)
    {
        private readonly HashSet<long> _done = [];
        private IReadOnlyList<DocumentInfo> _page = [];
        private int _prefix;
        private int _applied;

        public long Cursor { get; private set; } = cursor;

        public long Saved { get; private set; } = cursor;

        public int Received { get; private set; }

        public int Deleted { get; private set; }

        public List<SyncError> Errors { get; } = [];

        public void BeginPage(IReadOnlyList<DocumentInfo> changes)
        {
            _page = changes;
            _prefix = 0;
            _done.Clear();
        }

        public void Done(DocumentInfo change, Applied outcome, string? error, bool moreWaiting, bool sealedToUnknownKey = false)
        {
            Received += outcome == Applied.Received ? 1 : 0;
            Deleted += outcome == Applied.Deleted ? 1 : 0;
            if (error is not null)
            {
                Errors.Add(new SyncError(change.Id, change.Kind, error, sealedToUnknownKey));
            }

            _done.Add(change.Sequence);
            while (_prefix < _page.Count && _done.Contains(_page[_prefix].Sequence))
            {
                Cursor = Math.Max(Cursor, _page[_prefix++].Sequence);
            }

            progress?.Report(new SyncProgress(++_applied, Cursor, moreWaiting, Received));
        }

        public void Committed(long cursor) => Cursor = Saved = Math.Max(Cursor, cursor);
    }

    private sealed class SyncDocumentException(string message, bool sealedToUnknownKey = false) : Exception(message)
    {
        public bool SealedToUnknownKey { get; } = sealedToUnknownKey;
    }
}
