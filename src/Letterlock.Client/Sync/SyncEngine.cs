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
/// Synchronizes one account with its provider (DESIGN.md section 4, "Sync").
/// </summary>
/// <remarks>
/// <para><b>Pull.</b> The change feed is read from the cursor kept (sealed) in the store. An
/// <c>inbox</c> document is opened with the inbox key (HPKE), read by
/// <see cref="IncomingMailProcessor"/> (strict PGP/MIME, security summary), stored, written back as
/// the account's own <c>message</c> document sealed under the account master key, and only then
/// deleted from the inbox. A <c>message</c> document written by another device is added or, if known,
/// its folder and flags are taken; a deleted one is deleted here. Every step is idempotent and the
/// cursor is saved after each page of changes and whenever a run stops early (provider gone,
/// cancelled), so a restart resumes where it stopped without loss or duplicates (the local message
/// records which document it came from); after a hard crash at most one page is applied again, which
/// finds every change already applied. Saving it per page rather than per change spares a durable
/// commit per message (docs/PERFORMANCE.md, "Client sync and bridge").</para>
/// <para><b>Push.</b> Messages changed here (flags, moves) or never pushed (drafts, Sent copies,
/// copies) are written with <c>If-Match</c> on the revision last seen; deletions are pushed the same way.</para>
/// <para><b>Conflicts</b> (409) are resolved deterministically: this device re-reads the document and
/// writes its own state on top (last writer wins for folder and flags); a deletion wins over any edit
/// on either side. Every device applies the same rule, so all converge to the state of the last write.</para>
/// <para>A document that fails to open or parse is reported in <see cref="SyncReport.Errors"/>, left
/// untouched on the provider, and skipped; sync continues with the next change.</para>
/// </remarks>
public sealed class SyncEngine(LocalStore store, AccountRecord account, ProviderClient provider, OpenPgpOptions? options = null, TimeProvider? time = null,
    Transparency.ITransparencyGossip? gossip = null)
{
    /// <summary>The kind of the account's own message documents.</summary>
    public const string MessageKind = "message";

    private const string InboxKind = "inbox";
    private const int PageSize = 100;
    private readonly OpenPgpOptions _options = options ?? OpenPgpOptions.Default;

    private string CursorSetting => $"sync.{account.Id}.cursor";

    /// <summary>Pulls every waiting change, then pushes local changes.</summary>
    public async Task<SyncReport> SyncAsync(IProgress<SyncProgress>? progress = null, CancellationToken ct = default)
    {
        var inboxKey = (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.InboxSecret, ct).ConfigureAwait(false))?.Material
            ?? throw new LocalStoreException($"{account.Address} has no inbox key");
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
                var page = await provider.GetChangesAsync(cursor, PageSize, 0, ct).ConfigureAwait(false);
                foreach (var change in page.Changes)
                {
                    try
                    {
                        var outcome = await ApplyAsync(change, inboxKey, sealer, incoming, ct).ConfigureAwait(false);
                        received += outcome == Applied.Received ? 1 : 0;
                        deleted += outcome == Applied.Deleted ? 1 : 0;
                    }
                    catch (SyncDocumentException e)
                    {
                        errors.Add(new SyncError(change.Id, change.Kind, e.Message));
                    }

                    cursor = Math.Max(cursor, change.Sequence);
                    progress?.Report(new SyncProgress(++applied, cursor, page.HasMore));
                }

                cursor = Math.Max(cursor, page.Next);
                await WriteCursorAsync(cursor, ct).ConfigureAwait(false);
                saved = cursor;
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

    private async Task<Applied> ApplyAsync(DocumentInfo change, byte[] inboxKey, DocumentSealer sealer, IncomingMailProcessor incoming, CancellationToken ct)
    {
        if (change.Kind == InboxKind && !change.Deleted)
        {
            return await ApplyInboxAsync(change, inboxKey, sealer, incoming, ct).ConfigureAwait(false);
        }

        if (change.Kind != MessageKind)
        {
            return Applied.Nothing;
        }

        var local = await store.Messages.FindByRemoteAsync(account.Id, change.Id, ct).ConfigureAwait(false);
        if (change.Deleted)
        {
            if (local is null)
            {
                return Applied.Nothing;
            }

            await store.Messages.DeleteManyAsync([local.Id], pushDeletion: false, ct).ConfigureAwait(false);
            return Applied.Deleted;
        }

        if (local?.Remote is { } known && known.Revision >= change.Revision)
        {
            return Applied.Nothing; // our own write coming back, or already applied
        }

        var remote = await provider.GetDocumentAsync(change.Id, ct).ConfigureAwait(false);
        if (remote is null)
        {
            return Applied.Nothing; // deleted since; its tombstone follows in the feed
        }

        var document = sealer.Open(remote.Id, MessageKind, remote.Content)
            ?? throw new SyncDocumentException("the document does not open with the account key (altered or corrupted)");
        var folder = await FolderForAsync(document, ct).ConfigureAwait(false);
        var reference = new RemoteReference(remote.Id, remote.Revision);
        if (local is null)
        {
            var (summary, text) = SummaryOf(document);
            // The reference is stored with the message (clean: it came from the provider), in the same commit.
            await store.Messages.AppendAsync(folder.Id, new NewMessage(summary, document.Message, document.Flags, text, reference), ct).ConfigureAwait(false);
            return Applied.Received;
        }

        await store.Messages.SetFlagsManyAsync([local.Id], FlagOperation.Replace, document.Flags, null, markDirty: false, ct).ConfigureAwait(false);
        if (local.Folder != folder.Id)
        {
            await store.Messages.MoveManyAsync([local.Id], folder.Id, markDirty: false, ct).ConfigureAwait(false);
        }

        await store.Messages.SetRemoteAsync(local.Id, reference, dirty: false, ct).ConfigureAwait(false);
        return Applied.Nothing;
    }

    private async Task<Applied> ApplyInboxAsync(DocumentInfo change, byte[] inboxKey, DocumentSealer sealer, IncomingMailProcessor incoming, CancellationToken ct)
    {
        var local = await store.Messages.FindByRemoteAsync(account.Id, change.Id, ct).ConfigureAwait(false);
        bool received = false;
        if (local is null)
        {
            var document = await provider.GetDocumentAsync(change.Id, ct).ConfigureAwait(false);
            if (document is null)
            {
                return Applied.Nothing; // already converted by another device
            }

            byte[] raw = OpenInbox(document.Content, inboxKey);
            IncomingResult result;
            try
            {
                result = await incoming.ProcessAsync(raw, FolderRole.Inbox, new RemoteReference(change.Id, change.Revision), ct: ct).ConfigureAwait(false);
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

    private static byte[] OpenInbox(byte[] sealedEnvelope, byte[] inboxKey)
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
            throw new SyncDocumentException("the inbox document does not open with the inbox key (altered or corrupted)");
        }
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

    private Task WriteCursorAsync(long cursor, CancellationToken ct) =>
        store.Settings.SetAsync(CursorSetting, Encoding.ASCII.GetBytes(cursor.ToString(CultureInfo.InvariantCulture)), ct);

    private sealed class SyncDocumentException(string message) : Exception(message);
}
