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
public sealed record SyncProgress(int Applied, long Cursor, bool MoreWaiting);

/// <summary>One document that could not be applied; it is left on the provider and sync goes on.</summary>
/// <param name="DocumentId">The document.</param>
/// <param name="Kind">Its kind.</param>
/// <param name="Reason">Why (never content).</param>
public sealed record SyncError(string DocumentId, string Kind, string Reason);

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
    Transparency.ITransparencyGossip? gossip = null, SyncOptions? syncOptions = null, Native.NativeMail? native = null)
{
    /// <summary>The kind of the account's own message documents.</summary>
    public const string MessageKind = "message";

    private const string InboxKind = "inbox";
    private readonly OpenPgpOptions _options = options ?? OpenPgpOptions.Default;
    private readonly SyncOptions _sync = Validated(syncOptions ?? new SyncOptions());
    private readonly AccountMail _mail = store.Mail(account.Id);

    private string CursorSetting => $"sync.{account.Id}.cursor";

    /// <summary>Pulls every waiting change, then pushes local changes.</summary>
    public async Task<SyncReport> SyncAsync(IProgress<SyncProgress>? progress = null, CancellationToken ct = default)
    {
        var incomingOptions = new IncomingOptions(_options, time, gossip);
        var keys = await Keys.LoadAsync(store, account, incomingOptions, ct).ConfigureAwait(false);
        var run = new Run(await ReadCursorAsync(ct).ConfigureAwait(false), progress);
        bool keysRefreshed = false;
        try
        {
            while (true)
            {
                var page = await FetchPageAsync(run.Cursor, keys, ct).ConfigureAwait(false);

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

                await ApplyPageAsync(page, keys, run, ct).ConfigureAwait(false);
                if (!page.HasMore)
                {
                    break;
                }
            }
        }
        finally
        {
            if (run.Cursor != run.Saved)
            {
                // Stopped part-way through a page: keep what was applied (not cancellable: it is one small write).
                await WriteCursorAsync(run.Cursor, CancellationToken.None).ConfigureAwait(false);
            }
        }

        try
        {
            int pushed = await PushAsync(keys.Sealer, ct).ConfigureAwait(false);
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
    /// Reads a page of the change feed and downloads the page's documents this device does not have at their
    /// revision, up to <see cref="SyncOptions.MaxConcurrentFetches"/> at once, each opened (<see cref="Open"/>) on
    /// up to <see cref="SyncOptions.MaxParallelism"/> cores as it arrives. Nothing is written here: the store is
    /// changed only in change order afterwards, so the result does not depend on which download finished first.
    /// </summary>
    private async Task<Page> FetchPageAsync(long cursor, Keys keys, CancellationToken ct)
    {
        var changes = await provider.GetChangesAsync(cursor, _sync.PageSize, 0, ct).ConfigureAwait(false);
        var page = new Page(changes.Changes, changes.HasMore,
            changes.Changes.Aggregate(Math.Max(cursor, changes.Next), (max, change) => Math.Max(max, change.Sequence)));
        var relevant = changes.Changes.Where(c => !c.Deleted && c.Kind is InboxKind or MessageKind).ToList();
        if (relevant.Count == 0)
        {
            return page;
        }

        var known = await _mail.RemoteRevisionsAsync(relevant.Select(c => c.Id).Distinct(StringComparer.Ordinal).ToList(), ct).ConfigureAwait(false);
        var occurrences = changes.Changes.CountBy(c => c.Id, StringComparer.Ordinal).ToDictionary(StringComparer.Ordinal);
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

        var results = new System.Collections.Concurrent.ConcurrentDictionary<string, Opened>(StringComparer.Ordinal);
        using var cores = new SemaphoreSlim(_sync.MaxParallelism);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _sync.MaxConcurrentFetches, CancellationToken = ct };
        await Parallel.ForEachAsync(wanted, parallel, async (entry, token) =>
        {
            var remote = await provider.GetDocumentAsync(entry.Key, token).ConfigureAwait(false);
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

        return page;
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
                return new Opened { Remote = remote, Error = e.Message };
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

    // ---- Step 3: apply the page, in change order ----

    /// <summary>
    /// Applies a page in change order. Runs of <c>message</c> changes are applied in one store transaction each
    /// (<see cref="ApplyMessages"/>); an <c>inbox</c> change (conversion: store, PUT, DELETE) is applied on its own
    /// between them (<see cref="ConvertInboxAsync"/>). The page's last run carries the cursor, so the page is either
    /// applied with its cursor or found applied when it is read again.
    /// </summary>
    private async Task ApplyPageAsync(Page page, Keys keys, Run run, CancellationToken ct)
    {
        var batch = new List<DocumentInfo>();
        foreach (var change in page.Changes)
        {
            if (change.Kind != InboxKind || change.Deleted)
            {
                batch.Add(change);
                continue;
            }

            await ApplyMessagesAsync(batch, page, null, run, ct).ConfigureAwait(false);
            batch.Clear();
            try
            {
                run.Done(change, await ConvertInboxAsync(change, page, keys, ct).ConfigureAwait(false), null, page.HasMore);
            }
            catch (SyncDocumentException e)
            {
                run.Done(change, Applied.Nothing, e.Message, page.HasMore);
            }
        }

        await ApplyMessagesAsync(batch, page, page.EndCursor, run, ct).ConfigureAwait(false);
    }

    /// <summary>A run of changes in one write transaction, with the cursor when it ends the page.</summary>
    private async Task ApplyMessagesAsync(List<DocumentInfo> batch, Page page, long? withCursor, Run run, CancellationToken ct)
    {
        if (batch.Count == 0 && withCursor is null)
        {
            return;
        }

        var outcomes = await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
        {
            var results = ApplyMessages(writer, batch, page);
            if (withCursor is { } value)
            {
                writer.SetSetting(CursorSetting, CursorBytes(value));
            }

            return results;
        }, ct).ConfigureAwait(false);
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
            _sync.BeforeApply?.Invoke(batch[i]);
            results[i] = batch[i].Kind == MessageKind ? ApplyMessage(writer, batch[i], page, folders, appended) : (Applied.Nothing, null);
        }

        return results;
    }

    /// <summary>One change of a <c>message</c> document.</summary>
    private (Applied, string?) ApplyMessage(MailWriter writer, DocumentInfo change, Page page,
        Dictionary<(FolderRole, string), FolderRecord?> folders, HashSet<MessageId> appended)
    {
        var local = writer.FindByRemote(change.Id);
        if (change.Deleted)
        {
            if (local is null)
            {
                return (Applied.Nothing, null);
            }

            writer.Delete(local);
            return (Applied.Deleted, null);
        }

        if (local?.Remote is { } known && known.Revision >= change.Revision)
        {
            return (Applied.Nothing, null); // our own write coming back, or already applied
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
            // Prepared before the page, unless the message was here then (and left earlier in this page).
            var prepared = opened.Prepared is { } p && appended.Add(p.Id) ? p : Prepare(document, reference).Prepared!;
            writer.Append(folder, prepared);
            return (Applied.Received, null);
        }

        writer.ApplyRemoteState(local, opened.Flags!, folder, reference);
        return (Applied.Nothing, null);
    }

    /// <summary>
    /// Converts an inbox document: the message inside is read (<see cref="IncomingMailProcessor"/>) and stored naming
    /// the inbox document, written back as the account's own <c>message</c> document, recorded as mirroring it,
    /// and only then is the inbox document deleted.
    /// </summary>
    private async Task<Applied> ConvertInboxAsync(DocumentInfo change, Page page, Keys keys, CancellationToken ct)
    {
        var local = await _mail.WriteAsync(ChangeOrigin.Provider, writer => writer.FindByRemote(change.Id), ct).ConfigureAwait(false);
        bool received = false;
        if (local is null)
        {
            if (!page.Documents.TryGetValue(change.Id, out var opened))
            {
                var remote = await provider.GetDocumentAsync(change.Id, ct).ConfigureAwait(false);
                opened = remote is null ? Opened.Gone : Open(remote, InboxKind, isNew: true, keys);
            }

            if (opened.Error is { } error)
            {
                throw new SyncDocumentException(error);
            }

            if (opened.InboxMessage is not { } raw)
            {
                return Applied.Nothing; // already converted by another device
            }

            IncomingRead read;
            try
            {
                read = await ReadNativeAsync(raw, keys, ct).ConfigureAwait(false) ?? await keys.Incoming.ReadAsync(raw, null, ct).ConfigureAwait(false);
            }
            catch (FormatException e)
            {
                throw new SyncDocumentException("the message inside cannot be parsed: " + e.Message);
            }

            var prepared = _mail.Prepare(read.Message, new RemoteReference(change.Id, change.Revision));
            if (!prepared.IsOk)
            {
                throw new SyncDocumentException("the message inside is not acceptable: " + prepared.Detail);
            }

            local = await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
                writer.Append(writer.Folder(FolderRole.Inbox) ?? throw new LocalStoreException($"{account.Address} has no INBOX"), prepared.Value!), ct)
                .ConfigureAwait(false);
            received = true;
        }

        // Convert into the account's own message document, then retire the inbox document.
        var messageId = "m-" + local.Id.Value.ToString("N", CultureInfo.InvariantCulture);
        var body = await _mail.ReadBodyAsync(local.Id, ct).ConfigureAwait(false);
        if (body is null || await DocumentOfAsync(local, body, ct).ConfigureAwait(false) is not { } document)
        {
            return Applied.Nothing; // deleted here meanwhile: its deletion (of the inbox document) is pushed
        }

        var (status, info) = await provider.PutDocumentAsync(messageId, MessageKind, keys.Sealer.Seal(messageId, MessageKind, document), null, ct).ConfigureAwait(false);
        long revision = info?.Revision ?? (await provider.GetDocumentAsync(messageId, ct).ConfigureAwait(false))?.Revision ?? 1;
        await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
        {
            writer.MarkPushed(local.Id, new RemoteReference(messageId, revision));
            return true;
        }, ct).ConfigureAwait(false);
        _ = status; // Conflict means a previous run already wrote it: the same content, sealed again.
        await provider.DeleteDocumentAsync(change.Id, change.Revision, ct).ConfigureAwait(false);
        return received ? Applied.Received : Applied.Nothing;
    }

    /// <summary>
    /// A native message (docs/design/native-protocol.md, "Receiving"): opened with this device's sessions, or left
    /// in the inbox (an error for this run) for the account's other devices when it is not for this one or cannot
    /// be opened here. Null for any other message.
    /// </summary>
    private async Task<IncomingRead?> ReadNativeAsync(byte[] raw, Keys keys, CancellationToken ct)
    {
        MimeKit.MimeMessage outer;
        try
        {
            using var stream = new MemoryStream(raw, writable: false);
            outer = await MimeKit.MimeMessage.LoadAsync(stream, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FormatException or MimeKit.ParseException)
        {
            return null; // the ordinary reader reports it
        }

        if (!Native.NativeMail.IsNative(outer))
        {
            return null;
        }

        if (native is null)
        {
            throw new SyncDocumentException("a native message; it is opened by the bridge's sync");
        }

        var opened = await native.OpenAsync(outer, ct).ConfigureAwait(false);
        return opened.Status == Letterlock.Native.OpenStatus.Opened
            ? keys.Incoming.ReadNative(opened.Content!, opened.SenderDeviceKey!)
            : throw new SyncDocumentException(opened.Problem ?? "the native message did not open");
    }

    // ---- Push ----

    /// <summary>
    /// Pushes this device's changes: messages changed here or never pushed are written with <c>If-Match</c> on the
    /// revision last seen (a conflict: our state over the newest revision; a deletion elsewhere wins), then the
    /// deletions made here.
    /// </summary>
    private async Task<int> PushAsync(DocumentSealer sealer, CancellationToken ct)
    {
        int pushed = 0;
        foreach (var id in await _mail.ListUnpushedAsync(ct).ConfigureAwait(false))
        {
            var message = await _mail.GetAsync(id, ct).ConfigureAwait(false);
            var body = message is null ? null : await _mail.ReadBodyAsync(id, ct).ConfigureAwait(false);
            if (message is null || body is null || await DocumentOfAsync(message, body, ct).ConfigureAwait(false) is not { } document)
            {
                continue;
            }

            var documentId = message.Remote?.DocumentId ?? "m-" + id.Value.ToString("N", CultureInfo.InvariantCulture);
            long? expected = message.Remote?.Revision;
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var (status, info) = await provider.PutDocumentAsync(documentId, MessageKind, sealer.Seal(documentId, MessageKind, document), expected, ct).ConfigureAwait(false);
                if (status == WriteStatus.Ok)
                {
                    var pushedAs = new RemoteReference(documentId, info?.Revision ?? (expected ?? 0) + 1);
                    await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
                    {
                        writer.MarkPushed(id, pushedAs);
                        return true;
                    }, ct).ConfigureAwait(false);
                    pushed++;
                    break;
                }

                // Conflict: last writer wins, so write our state over the newest revision.
                var current = await provider.GetDocumentAsync(documentId, ct).ConfigureAwait(false);
                if (current is null)
                {
                    // Deleted on another device: the deletion wins.
                    await _mail.WriteAsync(ChangeOrigin.Provider, writer =>
                    {
                        if (writer.Message(id) is { } gone)
                        {
                            writer.Delete(gone);
                        }

                        return true;
                    }, ct).ConfigureAwait(false);
                    break;
                }

                expected = current.Revision;
            }
        }

        foreach (var pending in await _mail.ListPendingDeletesAsync(ct).ConfigureAwait(false))
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

            await _mail.ClearPendingDeleteAsync(pending.DocumentId, ct).ConfigureAwait(false);
            pushed++;
        }

        return pushed;
    }

    // ---- Helpers ----

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
                // Not this key (or altered): the next one, if any.
            }
        }

        throw new SyncDocumentException(kem == HpkeKem.XWing && !inboxKeys.HasXWing
            ? "the inbox document is sealed to an X-Wing inbox key this device does not hold"
            : "the inbox document does not open with the inbox key (altered or corrupted)");
    }

    /// <summary>The message parsed, sealed and indexed for the store, naming its document; or why the store would not take it.</summary>
    private (PreparedMessage? Prepared, string? Error) Prepare(MessageDocument document, RemoteReference reference)
    {
        MessageSummary summary;
        string text;
        try
        {
            (summary, text) = MessageSummaryBuilder.Build(document.Message, document.InternalDate, document.Security, _options.MaxMimeDepth);
        }
        catch (FormatException e)
        {
            return (null, "the message inside cannot be parsed: " + e.Message);
        }

        var prepared = _mail.Prepare(new NewMessage(summary, document.Message, document.Flags, text), reference);
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
            return new Keys(inboxKey, new DocumentSealer(amk),
                new IncomingMailProcessor(store, account, openPgp, incoming.Options, incoming.Time, incoming.Gossip));
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
    }

    /// <summary>What a sync run has done so far: counts, errors, the cursor reached and the cursor saved.</summary>
    private sealed class Run(long cursor, IProgress<SyncProgress>? progress)
    {
        private int _applied;

        public long Cursor { get; private set; } = cursor;

        public long Saved { get; private set; } = cursor;

        public int Received { get; private set; }

        public int Deleted { get; private set; }

        public List<SyncError> Errors { get; } = [];

        public void Done(DocumentInfo change, Applied outcome, string? error, bool moreWaiting)
        {
            Received += outcome == Applied.Received ? 1 : 0;
            Deleted += outcome == Applied.Deleted ? 1 : 0;
            if (error is not null)
            {
                Errors.Add(new SyncError(change.Id, change.Kind, error));
            }

            Cursor = Math.Max(Cursor, change.Sequence);
            progress?.Report(new SyncProgress(++_applied, Cursor, moreWaiting));
        }

        public void Committed(long cursor) => Cursor = Saved = cursor;
    }

    private sealed class SyncDocumentException(string message) : Exception(message);
}
