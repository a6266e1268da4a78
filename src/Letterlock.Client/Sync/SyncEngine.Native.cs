using System.Globalization;
using System.Text;
using Letterlock.Api;
using Letterlock.Client.Mail;

namespace Letterlock.Client.Sync;

/// <summary>
/// Native mail in the sync (docs/design/native-protocol.md, "Receiving" and "Every device keeps step"): opening a
/// native message found in an inbox document, leaving the account's other devices the entries meant for them, taking
/// the entries other devices left for this one, and deferring what this run cannot open to a later run.
/// </summary>
public sealed partial class SyncEngine
{
    /// <summary>The kind of the documents that carry one device's entries of a filed native message (an entry copy).</summary>
    public const string EntryCopyKind = "native-entry";

    private const string DeferredInbox = "inbox";

    /// <summary>Entry copies to leave for the other devices, from this page's native messages: document id, inbox document, copy.</summary>
    private readonly List<(string DocumentId, DocumentInfo Inbox, byte[] Copy)> _copies = [];

    /// <summary>Native documents deferred to a later run (kind, attempts so far), as saved in <see cref="DeferredSetting"/>.</summary>
    private Dictionary<string, (string Kind, int Attempts)>? _deferred;

    /// <summary>Documents deferred by this run: tried again by the next one, not by this one.</summary>
    private readonly HashSet<string> _deferredNow = new(StringComparer.Ordinal);

    private string? _deviceHint;

    private string DeferredSetting => $"sync.{account.Id}.native-deferred";

    /// <summary>The id of the entry copy of inbox document <paramref name="inboxDocumentId"/> for the device with <paramref name="hint"/>.</summary>
    internal static string EntryCopyDocumentFor(string inboxDocumentId, string hint) => $"ne-{inboxDocumentId}-{hint}";

    /// <summary>
    /// A native message: opened with this device's sessions, or left in the inbox (an error for this run) for the
    /// account's other devices when it is not for this one or cannot be opened here. Null for any other message. A run
    /// without the native protocol, or an unexpected failure to open it, defers it to a later run (<see cref="RetryDeferredAsync"/>).
    /// </summary>
    private async Task<(IncomingRead Read, Guid? KeptAs)?> ReadNativeAsync(DocumentInfo change, byte[] raw, Keys keys, CancellationToken ct)
    {
        MimeKit.MimeMessage outer;
        try
        {
            outer = await OpenPgp.Mime.BoundedMime.LoadAsync(raw, _options.MimeLimits, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FormatException or MimeKit.ParseException)
        {
            return null; // the ordinary reader reports it (beyond a structure limit: a notice in its place)
        }

        bool isReset = Native.NativeMail.IsResetRequest(outer);
        if (!isReset && !Native.NativeMail.IsNative(outer))
        {
            return null;
        }

        if (native is null)
        {
            await DeferAsync(change.Id, DeferredInbox, countAttempt: false, ct).ConfigureAwait(false);
            throw new SyncDocumentException("a native message, which this sync does not open: deferred to the next sync with the native protocol (the bridge's)");
        }

        if (isReset)
        {
            await TakeResetRequestAsync(change, outer, ct).ConfigureAwait(false);
        }

        Native.NativeReceived opened;
        try
        {
            opened = await native.OpenAsync(outer, ct).ConfigureAwait(false);
        }
        catch (Native.TransparencyUnavailableException e)
        {
            // Opened and kept, but who sent it cannot be checked now (the sender's provider or log did not answer): checked
            // again by the next runs; once they are spent it is delivered with the sender shown as unverified, never dropped.
            int attempts = await DeferAsync(change.Id, DeferredInbox, countAttempt: true, ct).ConfigureAwait(false);
            if (attempts <= _sync.MaxNativeRetries)
            {
                throw new SyncDocumentException(Retrying($"{e.Message}, so the native message's sender is not verified yet", attempts));
            }

            opened = await native.OpenAsync(outer, unverifiedIfUnavailable: true, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Unexpected (the store, a bug): nothing was saved. Retried by the next runs, boundedly, instead of stopping every run here.
            int attempts = await DeferAsync(change.Id, DeferredInbox, countAttempt: true, ct).ConfigureAwait(false);
            throw new SyncDocumentException(Retrying($"opening the native message failed ({e.GetType().Name})", attempts));
        }

        await ForgetDeferredAsync(change.Id, ct).ConfigureAwait(false);
        if (opened.ResetRequest is { } reset && outer.From.Mailboxes.FirstOrDefault()?.Address is { } sender)
        {
            // This device's session with the sender is lost: ask for a new one (the message stays in the inbox).
            await provider.SubmitAsync(account.Address, [sender], reset, ct).ConfigureAwait(false);
        }

        if (opened.Duplicate)
        {
            // A second delivery of an envelope opened here (its message is filed from the first): discarded, nothing filed.
            await provider.DeleteDocumentAsync(change.Id, change.Revision, ct).ConfigureAwait(false); // NotFound: another device took it
            throw new NativeHandledException();
        }

        if (opened.Status != Letterlock.Native.OpenStatus.Opened)
        {
            throw new SyncDocumentException(opened.Problem ?? "the native message did not open");
        }

        foreach (var (hint, copy) in opened.CopiesForOthers ?? new Dictionary<string, byte[]>())
        {
            _copies.Add((EntryCopyDocumentFor(change.Id, hint), change, copy));
        }

        try
        {
            return (keys.Incoming.ReadNative(opened.Content!, opened.SenderDeviceKey!, opened.SenderListed), opened.KeptAs);
        }
        catch (FormatException)
        {
            await native.ForgetOpenedAsync(opened.KeptAs, ct).ConfigureAwait(false); // reported as unparseable; nothing to file
            throw;
        }
    }

    /// <summary>
    /// A session-reset request from a device this device sent native mail to (docs/design/native-protocol.md, "Session
    /// reset"): the session the named envelope went out on is retired, so the next message starts a new one, and the
    /// request is deleted from the inbox without being filed. One for an envelope another device of the account sent
    /// stays in the inbox for that device.
    /// </summary>
    private async Task TakeResetRequestAsync(DocumentInfo change, MimeKit.MimeMessage outer, CancellationToken ct)
    {
        Native.ResetResult result;
        try
        {
            result = await native!.AcceptResetAsync(outer, ct).ConfigureAwait(false);
        }
        catch (Letterlock.Native.NativeException)
        {
            result = new Native.ResetResult(Native.ResetOutcome.Ignored); // malformed or forged: nothing to reset, nothing to file
        }

        if (result.Outcome == Native.ResetOutcome.NotForThisDevice)
        {
            throw new SyncDocumentException("a session reset request for a message this device did not send (left for the account's other devices)");
        }

        // Handled (the message sent again is queued with the state that retired the session): the request goes.
        await ForgetDeferredAsync(change.Id, ct).ConfigureAwait(false);
        await provider.DeleteDocumentAsync(change.Id, change.Revision, ct).ConfigureAwait(false); // NotFound: another device took it
        if (result.Outcome == Native.ResetOutcome.Lost)
        {
            throw new SyncDocumentException("session reset: " + result.Problem);
        }

        throw new NativeHandledException();
    }

    /// <summary>An inbox document the native protocol consumed (a reset request): nothing to file, nothing to report.</summary>
    private sealed class NativeHandledException : Exception;

    /// <summary>
    /// Leaves the entry copies of the native messages this page opened, one document per other device, sealed under the
    /// account key: created only while the inbox document is live at the revision read (another device converting it
    /// leaves them itself), never overwritten. Before the messages are filed, so a crash that loses them also leaves the
    /// inbox document (and the kept opened message) to do it again.
    /// </summary>
    private async Task LeaveEntryCopiesAsync(DocumentSealer sealer, CancellationToken ct)
    {
        if (_copies.Count == 0)
        {
            return;
        }

        var left = _copies.Select(c => (c.DocumentId, c.Inbox, Content: sealer.SealBytes(c.DocumentId, EntryCopyKind, c.Copy))).ToList();
        _copies.Clear();
        if (_batchWrites)
        {
            foreach (var chunk in Chunks(left, _ => 1, c => c.Content.Length))
            {
                var results = await provider.WriteDocumentsAsync(chunk.Select(c => new DocumentOperation("put", c.DocumentId, EntryCopyKind, IfNoneMatch: true,
                    Content: c.Content, Requires: new RequiredRevision(c.Inbox.Id, c.Inbox.Revision))).ToList(), ct).ConfigureAwait(false);
                if (results is null)
                {
                    _batchWrites = false;
                    break;
                }

                left = left.Except(chunk).ToList(); // done, or a conflict: left already, or the inbox document is gone
            }
        }

        foreach (var (documentId, _, content) in left)
        {
            await provider.PutDocumentAsync(documentId, EntryCopyKind, content, null, ct).ConfigureAwait(false); // a conflict: left already
        }
    }

    /// <summary>
    /// Takes the entry copies other devices left for this one in a page (before the page's other changes; the page's
    /// cursor commits after them): each is opened with this device's sessions and deleted. One already opened here
    /// (from the inbox, or before a crash) is a duplicate and is deleted too.
    /// </summary>
    private async Task KeepStepAsync(IReadOnlyList<DocumentInfo> changes, Keys keys, Run run, CancellationToken ct)
    {
        var copies = changes.Where(c => c.Kind == EntryCopyKind && !c.Deleted).ToList();
        if (copies.Count == 0)
        {
            return;
        }

        string hint = await DeviceHintAsync(ct).ConfigureAwait(false);
        foreach (var copy in copies.Where(c => c.Id.EndsWith("-" + hint, StringComparison.Ordinal)))
        {
            if (native is null)
            {
                await DeferAsync(copy.Id, EntryCopyKind, countAttempt: false, ct).ConfigureAwait(false);
                continue;
            }

            await KeepStepWithAsync(copy.Id, keys, run, ct).ConfigureAwait(false);
        }
    }

    /// <summary>One entry copy for this device: opened and deleted; reported when it does not open.</summary>
    private async Task KeepStepWithAsync(string documentId, Keys keys, Run run, CancellationToken ct)
    {
        var remote = await provider.GetDocumentAsync(documentId, ct).ConfigureAwait(false);
        if (remote is null)
        {
            await ForgetDeferredAsync(documentId, ct).ConfigureAwait(false);
            return; // taken before a crash, or the account's documents were cleared
        }

        if (keys.Sealer.OpenBytes(remote.Id, EntryCopyKind, remote.Content) is not { } copy)
        {
            run.Errors.Add(new SyncError(documentId, EntryCopyKind, "the entry copy does not open with the account key (altered or corrupted)"));
            return;
        }

        Letterlock.Native.OpenStatus status;
        try
        {
            status = await native!.OpenCopyAsync(copy, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            int attempts = await DeferAsync(documentId, EntryCopyKind, countAttempt: true, ct).ConfigureAwait(false);
            run.Errors.Add(new SyncError(documentId, EntryCopyKind, Retrying($"opening the entry copy failed ({e.GetType().Name})", attempts)));
            return;
        }

        if (status is not (Letterlock.Native.OpenStatus.Opened or Letterlock.Native.OpenStatus.Replayed))
        {
            // It will not open later either: this device's session with the sender is gone or the copy is bad.
            run.Errors.Add(new SyncError(documentId, EntryCopyKind, $"the entry copy for this device did not open ({status}); the message itself is synced"));
        }

        await provider.DeleteDocumentAsync(documentId, remote.Revision, ct).ConfigureAwait(false); // NotFound: deleted meanwhile
        await ForgetDeferredAsync(documentId, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Tries again the native documents deferred by earlier runs (when this run opens native mail): an inbox document
    /// still there is converted as in a page (found converted already when another device did it), an entry copy is taken.
    /// </summary>
    private async Task RetryDeferredAsync(Keys keys, Run run, CancellationToken ct)
    {
        if (native is null || (await LoadDeferredAsync(ct).ConfigureAwait(false)).Count == 0)
        {
            return;
        }

        foreach (var (id, (kind, _)) in _deferred!.Where(d => !_deferredNow.Contains(d.Key)).ToList())
        {
            if (kind == EntryCopyKind)
            {
                await KeepStepWithAsync(id, keys, run, ct).ConfigureAwait(false);
                continue;
            }

            var remote = await provider.GetDocumentAsync(id, ct).ConfigureAwait(false);
            if (remote is null)
            {
                await ForgetDeferredAsync(id, ct).ConfigureAwait(false); // converted by another device, or deleted
                continue;
            }

            // Converted alone, as a page of its own that leaves the cursor where it is.
            var change = new DocumentInfo(remote.Id, InboxKind, remote.Revision, 0, remote.Content.Length, false, DateTimeOffset.UnixEpoch);
            var page = new Page([change], false, run.Cursor);
            page.Documents[id] = Open(remote, InboxKind, isNew: true, keys);
            run.BeginPage(page.Changes);
            await ConvertInboxAsync([change], page, keys, run, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Records a native document for a later run; returns the attempts made so far (counted ones only).</summary>
    private async Task<int> DeferAsync(string documentId, string kind, bool countAttempt, CancellationToken ct)
    {
        var deferred = await LoadDeferredAsync(ct).ConfigureAwait(false);
        _deferredNow.Add(documentId);
        int attempts = (deferred.TryGetValue(documentId, out var known) ? known.Attempts : 0) + (countAttempt ? 1 : 0);
        if (attempts > _sync.MaxNativeRetries)
        {
            deferred.Remove(documentId); // given up: left at the provider for the account's other devices
        }
        else
        {
            deferred[documentId] = (kind, attempts);
        }

        await SaveDeferredAsync(ct).ConfigureAwait(false);
        return attempts;
    }

    private string Retrying(string problem, int attempts) => attempts > _sync.MaxNativeRetries
        ? $"{problem}; given up after {_sync.MaxNativeRetries} retries (left at the provider for the account's other devices)"
        : $"{problem}; tried again by the next sync (retry {attempts} of {_sync.MaxNativeRetries})";

    private async Task ForgetDeferredAsync(string documentId, CancellationToken ct)
    {
        if ((await LoadDeferredAsync(ct).ConfigureAwait(false)).Remove(documentId))
        {
            await SaveDeferredAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>The deferred documents, one a line: <c>kind SP document-id SP attempts</c>.</summary>
    private async Task<Dictionary<string, (string Kind, int Attempts)>> LoadDeferredAsync(CancellationToken ct)
    {
        if (_deferred is not null)
        {
            return _deferred;
        }

        _deferred = new Dictionary<string, (string, int)>(StringComparer.Ordinal);
        if (await store.Settings.GetAsync(DeferredSetting, ct).ConfigureAwait(false) is { } bytes)
        {
            foreach (var line in Encoding.ASCII.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var fields = line.Split(' ');
                if (fields.Length == 3 && int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var attempts))
                {
                    _deferred[fields[1]] = (fields[0], attempts);
                }
            }
        }

        return _deferred;
    }

    private Task SaveDeferredAsync(CancellationToken ct) =>
        store.Settings.SetAsync(DeferredSetting, Encoding.ASCII.GetBytes(string.Concat(_deferred!.Select(d =>
            string.Create(CultureInfo.InvariantCulture, $"{d.Value.Kind} {d.Key} {d.Value.Attempts}\n")))), CancellationToken.None);

    /// <summary>This device's hint (hex), which names the entry copies left for it.</summary>
    private async Task<string> DeviceHintAsync(CancellationToken ct)
    {
        if (_deviceHint is null)
        {
            using var identity = await Native.NativeKeys.LoadIdentityAsync(store, account.Id, ct).ConfigureAwait(false);
            _deviceHint = Convert.ToHexStringLower(Letterlock.Native.NativeDevice.HintOf(identity.DeviceKey.Span));
        }

        return _deviceHint;
    }
}
