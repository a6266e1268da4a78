using System.Runtime.CompilerServices;
using Letterlock.Client;
using Letterlock.Client.Mail;
using Letterlock.Client.Search;
using Letterlock.Client.Store;
using Letterlock.Imap.Backend;
using Letterlock.Imap.InMemory;
using Letterlock.Imap.Mime;
using Letterlock.Imap.Protocol;
using Letterlock.OpenPgp.Mime;
using MimeKit;
using ImapUid = Letterlock.Imap.Backend.Uid;
using StoreUid = Letterlock.Client.Uid;

namespace Letterlock.Bridge;

/// <summary>
/// One IMAP session's handle on one account of the local store: what the mail app sees is the
/// decrypted mail the client keeps (protected headers restored, security summary headers added at
/// receipt). Every change goes through the store, whose change events reach all sessions.
/// </summary>
internal sealed class StoreMailAccount(BridgeMailboxes mailboxes, AccountRecord account, int maxMimeDepth, MimeLimits? mimeLimits = null) : IMailAccount
{
    /// <summary>Rows read from the store per query when a FETCH, SEARCH or STATUS walks a folder: bounds memory at any folder size.</summary>
    private const int PageSize = 256;

    /// <summary>UID ranges closer than this are read as one span (the rows between are skipped, not served).</summary>
    private const uint MergeGap = 64;

    private readonly AccountMail _mail = mailboxes.Store.Mail(account.Id);
    private readonly MimeLimits _mimeLimits = mimeLimits ?? MimeLimits.Default;

    private LocalStore Store => mailboxes.Store;

    public string AccountKey => account.Id.ToString();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public async ValueTask<IReadOnlyList<MailboxInfo>> ListMailboxesAsync(CancellationToken ct) =>
        (await _mail.ListFoldersAsync(ct).ConfigureAwait(false))
            .Select(f => new MailboxInfo(new MailboxId(f.Id.Value), f.Name, ToSpecialUse(f.Role))).ToList();

    public async ValueTask<IReadOnlyList<string>> ListSubscriptionsAsync(CancellationToken ct) =>
        (await _mail.ListFoldersAsync(ct).ConfigureAwait(false)).Where(f => f.Subscribed).Select(f => f.Name)
            .Concat(await OrphanSubscriptionsAsync(ct).ConfigureAwait(false)).Distinct(StringComparer.Ordinal).ToList();

    public async ValueTask SetSubscribedAsync(string name, bool subscribed, CancellationToken ct)
    {
        // A folder's subscription is part of its document (synced); a name whose folder is gone keeps its subscription
        // in this device's settings until the app unsubscribes (RFC 9051, 6.3.7).
        var folder = await _mail.FindFolderAsync(name, ct).ConfigureAwait(false);
        if (folder is not null)
        {
            await _mail.SetSubscribedAsync(folder.Id, subscribed, ct).ConfigureAwait(false);
        }

        await UpdateOrphanSubscriptionsAsync(names => subscribed && folder is null ? names.Add(name) : names.Remove(name), ct).ConfigureAwait(false);
    }

    // One folder per role (a role held already is not given twice) keeps Sent copies and drafts unambiguous across devices.
    public async ValueTask<MailboxOperationStatus> CreateMailboxAsync(string name, SpecialUse specialUse, CancellationToken ct)
    {
        var created = await _mail.CreateFolderAsync(name, ToRole(specialUse), ct).ConfigureAwait(false);
        if (created.IsOk && (await OrphanSubscriptionsAsync(ct).ConfigureAwait(false)).Contains(name))
        {
            // Subscriptions are by name: a mailbox created again under a subscribed name is subscribed.
            await _mail.SetSubscribedAsync(created.Value!.Id, true, ct).ConfigureAwait(false);
            await UpdateOrphanSubscriptionsAsync(names => names.Remove(name), ct).ConfigureAwait(false);
        }

        return ToImap(created.Status);
    }

    public async ValueTask<MailboxOperationStatus> DeleteMailboxAsync(MailboxId mailbox, CancellationToken ct)
    {
        var deleted = await _mail.DeleteFolderAsync(new FolderId(mailbox.Value), ct).ConfigureAwait(false);
        if (deleted.IsOk && deleted.Value!.Subscribed)
        {
            // "The server MUST NOT unilaterally remove an existing mailbox name from the subscription list even if a
            // mailbox by that name no longer exists" (RFC 9051, 6.3.7): the folder's document is gone, so the name
            // stays subscribed in this device's settings.
            await UpdateOrphanSubscriptionsAsync(names => names.Add(deleted.Value.Name), ct).ConfigureAwait(false);
        }

        return ToImap(deleted.Status);
    }

    /// <summary>The setting that holds this account's subscriptions to names without a folder (a JSON array of names).</summary>
    private string OrphanSubscriptionsSetting => "imap.subscriptions." + account.Id;

    private async Task<HashSet<string>> OrphanSubscriptionsAsync(CancellationToken ct)
    {
        var value = await Store.Settings.GetAsync(OrphanSubscriptionsSetting, ct).ConfigureAwait(false);
        return value is null ? new(StringComparer.Ordinal) : new(System.Text.Json.JsonSerializer.Deserialize(value, SubscriptionsJson.Default.StringArray) ?? [], StringComparer.Ordinal);
    }

    private async Task UpdateOrphanSubscriptionsAsync(Func<HashSet<string>, bool> change, CancellationToken ct)
    {
        await mailboxes.SubscriptionsGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var names = await OrphanSubscriptionsAsync(ct).ConfigureAwait(false);
            if (change(names))
            {
                var sorted = names.Order(StringComparer.Ordinal).ToArray();
                await Store.Settings.SetAsync(OrphanSubscriptionsSetting, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(sorted, SubscriptionsJson.Default.StringArray), ct).ConfigureAwait(false);
            }
        }
        finally
        {
            mailboxes.SubscriptionsGate.Release();
        }
    }

    public async ValueTask<MailboxOperationStatus> RenameMailboxAsync(MailboxId mailbox, string newName, CancellationToken ct) =>
        ToImap((await _mail.RenameFolderAsync(new FolderId(mailbox.Value), newName, ct).ConfigureAwait(false)).Status);

    public async ValueTask<MailboxStatus?> GetStatusAsync(MailboxId mailbox, CancellationToken ct)
    {
        var state = await State(mailbox, ct).ConfigureAwait(false);
        if (state is null)
        {
            return null;
        }

        var counters = state.Counters();
        uint count = 0, unseen = 0, deleted = 0;
        ulong size = 0;
        var after = new StoreUid(0);
        while (true)
        {
            var page = await _mail.PageAsync(state.Folder.Id, after, new StoreUid(uint.MaxValue), PageSize,
                withEnvelope: false, uid => !state.TryGetBasics(uid.Value, out _), ct).ConfigureAwait(false);
            foreach (var row in page)
            {
                if (Basics(state, row) is not { } basics)
                {
                    continue; // expunged meanwhile
                }

                var flags = FolderState.Flags(row.Flags);
                count++;
                unseen += (flags.System & SystemFlags.Seen) == 0 ? 1u : 0;
                deleted += (flags.System & SystemFlags.Deleted) != 0 ? 1u : 0;
                size += (ulong)basics.Size;
            }

            if (page.Count < PageSize)
            {
                break;
            }

            after = page[^1].Uid;
        }

        return new MailboxStatus(count, counters.UidNext, state.Validity, unseen, deleted, size, new ModSeq(counters.HighestModSeq));
    }

    public async ValueTask<MailboxSnapshot?> OpenMailboxAsync(MailboxId mailbox, IMailboxListener listener, CancellationToken ct) =>
        (await State(mailbox, ct).ConfigureAwait(false))?.Open(listener);

    public IAsyncEnumerable<MessageRecord> FetchAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, bool withStructure, CancellationToken ct) =>
        FetchAsync(mailbox, uids, withStructure ? FetchData.Envelope | FetchData.Structure : FetchData.None, ct);

    /// <summary>
    /// Walks the selected messages a page of rows at a time. Flags, sizes and dates come from the sealed
    /// summary; ENVELOPE from the sealed envelope kept per message (computed from the header block the first
    /// time it is asked for and kept, the lazy migration of messages stored before it existed); only
    /// BODYSTRUCTURE, BODY and sections inside the message decrypt and parse the body.
    /// </summary>
    public async IAsyncEnumerable<MessageRecord> FetchAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, FetchData data,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var state = await State(mailbox, ct).ConfigureAwait(false);
        if (state is null)
        {
            yield break;
        }

        bool wantEnvelope = (data & FetchData.Envelope) != 0;
        bool wantStructure = (data & FetchData.Structure) != 0;
        var records = new List<MessageRecord>(PageSize);
        var learned = new List<(MessageId, byte[])>();
        await foreach (var page in Pages(state, uids, wantEnvelope, uid => !state.TryGetBasics(uid.Value, out _), ct).ConfigureAwait(false))
        {
            records.Clear();
            learned.Clear();
            foreach (var (uid, message) in page)
            {
                ct.ThrowIfCancellationRequested();
                if (Basics(state, message) is not { } basics)
                {
                    continue; // expunged meanwhile
                }

                var envelope = message.Envelope;
                MessageStructure? structure = null;
                if (wantStructure || (wantEnvelope && envelope is null))
                {
                    var body = await _mail.ReadBodyAsync(message.Id, ct).ConfigureAwait(false);
                    if (body is null)
                    {
                        continue; // expunged meanwhile
                    }

                    if (wantStructure)
                    {
                        structure = MessageStructure.Parse(body, maxMimeDepth);
                    }

                    if (wantEnvelope && envelope is null)
                    {
                        envelope = structure?.Envelope ?? MessageStructure.ParseEnvelope(body);
                        learned.Add((message.Id, envelope));
                    }
                }

                records.Add(new MessageRecord
                {
                    Uid = uid,
                    Flags = FolderState.Flags(message.Flags),
                    ModSeq = new ModSeq(message.ModSeq),
                    InternalDate = basics.InternalDate,
                    Size = basics.Size,
                    Structure = structure,
                    Envelope = wantEnvelope ? envelope : null,
                });
            }

            if (learned.Count > 0)
            {
                await _mail.RememberEnvelopesAsync(learned, ct).ConfigureAwait(false);
            }

            foreach (var record in records)
            {
                yield return record;
            }
        }
    }

    /// <summary>
    /// The selected messages that the folder's live state knows (a row committed but not yet announced is
    /// left out, as it would be from a snapshot), in UID order, read <see cref="PageSize"/> rows per query
    /// over spans of nearby UIDs so that neither one folder-wide list nor one query per message is needed.
    /// </summary>
    private async IAsyncEnumerable<List<(ImapUid Uid, MessageRow Message)>> Pages(FolderState state,
        IReadOnlyList<UidRange>? uids, bool withEnvelope, Func<StoreUid, bool>? needSummary, [EnumeratorCancellation] CancellationToken ct)
    {
        var selected = state.Select(uids);
        if (selected.Count == 0)
        {
            yield break;
        }

        // Spans from the selection itself: runs of UIDs with gaps below MergeGap.
        var spans = new List<(uint First, uint Last)>();
        foreach (var (uid, _) in selected)
        {
            if (spans.Count > 0 && uid.Value - spans[^1].Last <= MergeGap)
            {
                spans[^1] = (spans[^1].First, uid.Value);
            }
            else
            {
                spans.Add((uid.Value, uid.Value));
            }
        }

        int next = 0;
        foreach (var (first, last) in spans)
        {
            var after = new StoreUid(first - 1);
            while (true)
            {
                var rows = await _mail.PageAsync(state.Folder.Id, after, new StoreUid(last), PageSize, withEnvelope, needSummary, ct)
                    .ConfigureAwait(false);
                var page = new List<(ImapUid, MessageRow)>(rows.Count);
                foreach (var message in rows)
                {
                    while (next < selected.Count && selected[next].Uid.Value < message.Uid.Value)
                    {
                        next++;
                    }

                    if (next < selected.Count && selected[next].Uid.Value == message.Uid.Value && selected[next].Id == message.Id)
                    {
                        page.Add((selected[next].Uid, message));
                    }
                }

                if (page.Count > 0)
                {
                    yield return page;
                }

                if (rows.Count < PageSize)
                {
                    break;
                }

                after = rows[^1].Uid;
            }
        }
    }

    public async ValueTask<Stream?> OpenContentAsync(MailboxId mailbox, ImapUid uid, CancellationToken ct)
    {
        var state = await State(mailbox, ct).ConfigureAwait(false);
        var id = state?.Select([new UidRange(uid, uid)]).Select(m => (MessageId?)m.Id).FirstOrDefault();
        if (id is null)
        {
            return null;
        }

        var body = await _mail.ReadBodyAsync(id.Value, ct).ConfigureAwait(false);
        return body is null ? null : new MemoryStream(body, 0, body.Length, writable: false, publiclyVisible: true);
    }

    public async ValueTask<StoreResult> StoreFlagsAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, StoreMode mode, MessageFlags flags,
        ModSeq? unchangedSince, CancellationToken ct)
    {
        var state = await State(mailbox, ct).ConfigureAwait(false);
        if (state is null)
        {
            return new StoreResult([], []);
        }

        var selected = state.Select(uids);
        var operation = mode switch
        {
            StoreMode.Add => FlagOperation.Add,
            StoreMode.Remove => FlagOperation.Remove,
            _ => FlagOperation.Replace,
        };
        var updates = await _mail.SetFlagsAsync(selected.Select(m => m.Id).ToList(), operation, flags.Names(),
            unchangedSince?.Value, ct).ConfigureAwait(false);
        if (!updates.IsOk)
        {
            // The engine checked each flag's syntax; what is left is the store's count or length limit. StoreResult has
            // no status for it, so the engine answers NO as for any backend failure (the session goes on).
            throw new ArgumentException(updates.Detail);
        }

        var stored = new List<StoredFlags>();
        var modified = new List<ImapUid>();
        foreach (var update in updates.Value!)
        {
            var uid = new ImapUid(update.Message.Uid.Value);
            if (!update.Applied)
            {
                modified.Add(uid);
                continue;
            }

            stored.Add(new StoredFlags(uid, FolderState.Flags(update.Message.Flags), new ModSeq(update.Message.ModSeq), update.Changed));
        }

        return new StoreResult(stored, modified);
    }

    public async ValueTask<AppendResult> AppendAsync(MailboxId mailbox, Stream content, MessageFlags flags, DateTimeOffset internalDate, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        var state = await State(mailbox, ct).ConfigureAwait(false);
        if (state is null)
        {
            return new AppendResult(MailboxOperationStatus.NotFound, default, default);
        }

        using var buffer = new MemoryStream();
        await content.CopyToAsync(buffer, ct).ConfigureAwait(false);
        if (buffer.Length == 0)
        {
            return new AppendResult(MailboxOperationStatus.Invalid, default, default);
        }


        if (buffer.Length > Store.Options.MaxMessageBytes)
        {
            return new AppendResult(MailboxOperationStatus.OverQuota, default, default); // refused before it is parsed
        }

        ReadOnlyMemory<byte> bytes = InMemoryBackend.NormalizeLineEndings(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        if (BoundedMime.Check(bytes.Span, _mimeLimits) is { } violation)
        {
            // Nothing parses it: every later FETCH and SEARCH would pay for it again.
            return new AppendResult(MailboxOperationStatus.Limit, default, default, LimitDetail(violation));
        }

        MessageSummary summary;
        string text;
        string? searchText;
        try
        {
            // What a mail app saves (Sent, Drafts, a message copied in from elsewhere) is stored as given, except fields
            // that could pass for this bridge's indicators: no reader may take them for the bridge's word.
            bytes = SecurityHeaders.WithoutIndicators(bytes, _mimeLimits);
            (summary, text, searchText) = MessageSummaryBuilder.BuildForIndex(bytes, internalDate, MessageSecurity.Plain, maxMimeDepth);
        }
        catch (FormatException)
        {
            return new AppendResult(MailboxOperationStatus.Invalid, default, default);
        }

        var appended = await _mail.AppendAsync(state.Folder.Id, new NewMessage(summary, bytes, flags.Names().ToList(), text, searchText), ct)
            .ConfigureAwait(false);
        if (!appended.IsOk)
        {
            return new AppendResult(ToImap(appended.Status), default, default);
        }

        var stored = appended.Value!;
        await _mail.RememberEnvelopesAsync([(stored.Id, MessageStructure.ParseEnvelope(bytes))], ct).ConfigureAwait(false);
        return new AppendResult(MailboxOperationStatus.Ok, state.Validity, new ImapUid(stored.Uid.Value));
    }

    /// <summary>What a mail app is told of a message beyond a structure limit: the limit and its value, nothing of the content.</summary>
    internal static string LimitDetail(MimeLimitViolation violation) =>
        $"Message refused: {violation.Description} (limit MimeLimits.{violation.Limit})";

    public async ValueTask<CopyResult> CopyAsync(MailboxId source, IReadOnlyList<UidRange> uids, MailboxId target, bool move, CancellationToken ct)
    {
        var from = await State(source, ct).ConfigureAwait(false);
        var to = await State(target, ct).ConfigureAwait(false);
        if (from is null || to is null)
        {
            return new CopyResult(MailboxOperationStatus.NotFound, default, [], []);
        }

        var selected = from.Select(uids);
        var ids = selected.Select(m => m.Id).ToList();
        if (move && from.Folder.Id == to.Folder.Id && ids.Count > 0)
        {
            // MOVE into the same mailbox gives the messages new UIDs (RFC 6851, 3.3); the store's move keeps a message
            // where it is, so copy and then remove the originals (a crash between leaves a duplicate, never a loss).
            var copied = await _mail.CopyAsync(ids, to.Folder.Id, ct).ConfigureAwait(false);
            if (!copied.IsOk)
            {
                return new CopyResult(ToImap(copied.Status), default, [], []);
            }

            await _mail.DeleteAsync(copied.Value!.Select(r => r.Source).ToList(), ct).ConfigureAwait(false);
            return new CopyResult(MailboxOperationStatus.Ok, to.Validity,
                copied.Value!.Select(r => new ImapUid(r.SourceUid.Value)).ToList(), copied.Value!.Select(r => new ImapUid(r.Result.Uid.Value)).ToList());
        }

        var transferred = move
            ? await _mail.MoveAsync(ids, to.Folder.Id, ct).ConfigureAwait(false)
            : await _mail.CopyAsync(ids, to.Folder.Id, ct).ConfigureAwait(false);
        if (!transferred.IsOk)
        {
            return new CopyResult(ToImap(transferred.Status), default, [], []);
        }

        var results = transferred.Value!;
        var sourceUids = results.Select(r => new ImapUid(r.SourceUid.Value)).ToList();
        var targetUids = results.Select(r => new ImapUid(r.Result.Uid.Value)).ToList();
        return new CopyResult(MailboxOperationStatus.Ok, to.Validity, sourceUids, targetUids);
    }

    public async ValueTask<IReadOnlyList<ImapUid>> ExpungeAsync(MailboxId mailbox, IReadOnlyList<UidRange>? only, CancellationToken ct)
    {
        var state = await State(mailbox, ct).ConfigureAwait(false);
        if (state is null)
        {
            return [];
        }

        var removed = await _mail.ExpungeAsync(state.Folder.Id, state.Select(only).Select(m => m.Id).ToList(), ct).ConfigureAwait(false);
        return removed.Select(m => new ImapUid(m.Uid.Value)).OrderBy(u => u.Value).ToList();
    }

    public async ValueTask<IReadOnlyList<ImapUid>> SearchAsync(MailboxId mailbox, SearchKey key, CancellationToken ct)
    {
        var state = await State(mailbox, ct).ConfigureAwait(false);
        if (state is null)
        {
            return [];
        }

        var largest = state.Counters().LargestUid;
        var ranges = NarrowByUid(key, largest);
        if (TextFilterOf(key) is { } filter &&
            await _mail.SearchCandidatesAsync(state.Folder.Id, filter, ct).ConfigureAwait(false) is { } candidates)
        {
            // The index names every message that can match (trigrams, see SearchGrams); the evaluator below reads
            // only those, so the answer is the scan's answer without decrypting the rest.
            if (candidates.Count == 0)
            {
                return [];
            }

            var narrowed = RangesOf(candidates);
            ranges = ranges is null ? narrowed : Intersect(narrowed, ranges);
            if (ranges.Count == 0)
            {
                return [];
            }
        }

        var result = new List<ImapUid>();
        await foreach (var page in Pages(state, ranges, withEnvelope: false, needSummary: null, ct).ConfigureAwait(false))
        {
            foreach (var (uid, message) in page)
            {
                ct.ThrowIfCancellationRequested();
                if (SearchEvaluator.Matches(key, new Searchable(_mail, uid, message, maxMimeDepth), largest))
                {
                    result.Add(uid);
                }
            }
        }

        return result;
    }

    public async ValueTask<IReadOnlyList<ImapUid>> GetExpungedSinceAsync(MailboxId mailbox, ModSeq since, CancellationToken ct) =>
        (await _mail.ExpungedSinceAsync(new FolderId(mailbox.Value), since.Value, ct).ConfigureAwait(false))
            .Select(u => new ImapUid(u.Value)).ToList();

    /// <summary>
    /// INTERNALDATE and size from the row's summary (then remembered) or from what the folder remembers;
    /// null when the summary was skipped and the message has been expunged since (the caller skips it).
    /// </summary>
    private static (DateTimeOffset InternalDate, long Size)? Basics(FolderState state, MessageRow row)
    {
        if (row.Summary is { } summary)
        {
            state.RememberBasics(row.Uid.Value, summary.InternalDate, summary.Size);
            return (summary.InternalDate, summary.Size);
        }

        return state.TryGetBasics(row.Uid.Value, out var basics) ? basics : null;
    }

    private async Task<FolderState?> State(MailboxId mailbox, CancellationToken ct)
    {
        var state = await mailboxes.GetAsync(account.Id, new FolderId(mailbox.Value), ct).ConfigureAwait(false);
        return state is not null && state.Folder.Account == account.Id && !state.IsGone ? state : null;
    }

    /// <summary>
    /// What the string keys of a search demand of a message's text: every key of an AND, either side of an OR; keys
    /// under NOT and the other keys demand nothing (null when nothing narrows). Empty HEADER values match any message
    /// with the field, so they narrow nothing either.
    /// </summary>
    internal static TextFilter? TextFilterOf(SearchKey key)
    {
        switch (key)
        {
            case TextKey text:
                return new TextContains(text.Value);
            case BodyKey body:
                return new TextContains(body.Value);
            case HeaderKey { Value.Length: > 0 } header:
                return new TextContains(header.Value);
            case AndKey and:
            {
                var filters = and.Keys.Select(TextFilterOf).OfType<TextFilter>().ToList();
                return filters.Count switch { 0 => null, 1 => filters[0], _ => new AllOf(filters) };
            }

            case OrKey or:
                return TextFilterOf(or.Left) is { } left && TextFilterOf(or.Right) is { } right ? new AnyOf([left, right]) : null;
            default:
                return null;
        }
    }

    /// <summary>Sorted UIDs as ranges of consecutive UIDs.</summary>
    private static List<UidRange> RangesOf(IReadOnlyList<StoreUid> uids)
    {
        var ranges = new List<UidRange>();
        uint first = uids[0].Value, last = first;
        foreach (var uid in uids.Skip(1))
        {
            if (uid.Value != last + 1)
            {
                ranges.Add(new UidRange(new ImapUid(first), new ImapUid(last)));
                first = uid.Value;
            }

            last = uid.Value;
        }

        ranges.Add(new UidRange(new ImapUid(first), new ImapUid(last)));
        return ranges;
    }

    /// <summary>The UIDs in both sets of ranges (both sorted, disjoint).</summary>
    private static List<UidRange> Intersect(List<UidRange> a, List<UidRange> b)
    {
        var result = new List<UidRange>();
        int i = 0, j = 0;
        while (i < a.Count && j < b.Count)
        {
            uint start = Math.Max(a[i].First.Value, b[j].First.Value), end = Math.Min(a[i].Last.Value, b[j].Last.Value);
            if (start <= end)
            {
                result.Add(new UidRange(new ImapUid(start), new ImapUid(end)));
            }

            if (a[i].Last.Value < b[j].Last.Value)
            {
                i++;
            }
            else
            {
                j++;
            }
        }

        return result;
    }

    private static List<UidRange>? NarrowByUid(SearchKey key, uint largest)
    {
        UidKey? uidKey = key as UidKey ?? (key as AndKey)?.Keys.OfType<UidKey>().FirstOrDefault();
        return uidKey?.Set.Normalize(largest).Select(r => new UidRange(new ImapUid(r.Start), new ImapUid(r.End))).ToList();
    }

    private static MailboxOperationStatus ToImap(MailStatus status) => status switch
    {
        MailStatus.Ok => MailboxOperationStatus.Ok,
        MailStatus.NotFound => MailboxOperationStatus.NotFound,
        MailStatus.AlreadyExists => MailboxOperationStatus.AlreadyExists,
        MailStatus.NotAllowed => MailboxOperationStatus.NotAllowed,
        MailStatus.TooLarge => MailboxOperationStatus.OverQuota,
        _ => MailboxOperationStatus.Invalid,
    };

    internal static SpecialUse ToSpecialUse(FolderRole role) => role switch
    {
        FolderRole.Sent => SpecialUse.Sent,
        FolderRole.Drafts => SpecialUse.Drafts,
        FolderRole.Archive => SpecialUse.Archive,
        FolderRole.Trash => SpecialUse.Trash,
        FolderRole.Junk => SpecialUse.Junk,
        _ => SpecialUse.None,
    };

    private static FolderRole ToRole(SpecialUse use) =>
        (use & SpecialUse.Sent) != 0 ? FolderRole.Sent
        : (use & SpecialUse.Drafts) != 0 ? FolderRole.Drafts
        : (use & SpecialUse.Archive) != 0 ? FolderRole.Archive
        : (use & SpecialUse.Trash) != 0 ? FolderRole.Trash
        : (use & SpecialUse.Junk) != 0 ? FolderRole.Junk
        : FolderRole.None;

    /// <summary>A message for search: flags and dates from the summary; headers and text decrypted only when a key needs them.</summary>
    private sealed class Searchable(AccountMail mail, ImapUid uid, MessageRow message, int maxMimeDepth) : SearchableMessage
    {
        private MimeMessage? _parsed;

        public override ImapUid Uid => uid;

        public override MessageFlags Flags => FolderState.Flags(message.Flags);

        public override ModSeq ModSeq => new(message.ModSeq);

        public override DateTimeOffset InternalDate => message.Summary!.InternalDate;

        public override long Size => message.Summary!.Size;

        public override DateTimeOffset? SentDate => message.Summary!.Date;

        private byte[]? _raw;
        private HeaderList? _headers;

        /// <summary>
        /// Header keys (FROM, SUBJECT, HEADER ...) read the top-level header block alone, as the IMAP engine parses it
        /// (an mbox "From " line before the fields tolerated): the body is not parsed.
        /// </summary>
        public override HeaderList GetHeaders() => _parsed?.Headers ?? (_headers ??= MessageStructure.ParseHeaders(Raw()));

        /// <summary>
        /// TEXT and BODY keys search the message's bytes part by part as the IMAP engine does (<see cref="MessageTextSearch"/>),
        /// without building a MIME tree.
        /// </summary>
        public override bool? ContainsText(string needle, bool includeHeaders)
        {
            var raw = Raw();
            return MessageTextSearch.Contains(raw, MessageStructure.Parse(raw, maxMimeDepth), needle, includeHeaders);
        }

        public override string GetBodyText() => ExtractBodyText(Parsed());

        private MimeMessage Parsed()
        {
            if (_parsed is not null)
            {
                return _parsed;
            }

            using var stream = new MemoryStream(Raw(), writable: false);
            _parsed = MimeMessage.Load(Options(), stream);
            _raw = null;
            return _parsed;
        }

        private byte[] Raw() => _raw ??= mail.ReadBody(message.Id) ?? [];

        private ParserOptions Options() => new() { MaxMimeDepth = maxMimeDepth };
    }
}

/// <summary>Source-generated JSON for the subscriptions kept in the device's settings.</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class SubscriptionsJson : System.Text.Json.Serialization.JsonSerializerContext;
