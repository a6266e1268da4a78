using Letterlock.Imap.Mime;
using Letterlock.Imap.Protocol;

namespace Letterlock.Imap.Backend;

/// <summary>
/// Checks credentials and opens the account they unlock. The host gives one to the engine; the
/// bridge's implementation compares against its generated per-account passwords.
/// </summary>
public interface IImapAuthenticator
{
    /// <summary>
    /// Verifies a user name and password (LOGIN, AUTHENTICATE PLAIN) and opens the account for one
    /// session. Returns null for wrong credentials; the engine adds the failed-login delay, so an
    /// implementation should answer in constant time and not sleep itself.
    /// </summary>
    ValueTask<IMailAccount?> AuthenticateAsync(string user, string password, ImapConnectionInfo connection, CancellationToken ct);
}

/// <summary>What the engine knows about the connection a login arrives on (for policy and rate limits; never logged with secrets).</summary>
/// <param name="RemoteAddress">The peer's address, when known.</param>
/// <param name="IsSecure">Whether TLS protects the connection.</param>
/// <param name="IsLoopback">Whether the peer is on this machine.</param>
public sealed record ImapConnectionInfo(string? RemoteAddress, bool IsSecure, bool IsLoopback);

/// <summary>
/// One authenticated session's handle on one account: the whole backend surface the IMAP engine
/// uses. It is deliberately narrow (gluon's connector, maddy's delivery): mailboxes by name and
/// <see cref="MailboxId"/>, messages by <see cref="Uid"/> only (message sequence numbers are the
/// session's business), flags, mod-sequences, append, copy/move, expunge, search and change
/// notifications.
/// <para>
/// Threading: the engine calls one method at a time per handle; different sessions of one
/// account hold different handles and call concurrently, so the account's shared state needs
/// its own locking. Expected outcomes are status values; an exception means a backend failure
/// and is answered with <c>NO [SERVERBUG]</c> while the server keeps running.
/// </para>
/// <para>
/// Changes: every change to a mailbox, whether made through any handle or arriving from
/// elsewhere (the bridge's sync), must be reported to every <see cref="IMailboxListener"/>
/// registered on that mailbox, in the order the changes were committed, with strictly increasing
/// mod-sequences; a change made through a handle is reported before the call that made it returns
/// (so a session can tell its own STORE's echo, and older changes, from newer ones). The engine turns
/// them into EXISTS/EXPUNGE/VANISHED/FETCH responses at the moments RFC 9051 allows and wakes IDLE
/// sessions.
/// </para>
/// </summary>
public interface IMailAccount : IAsyncDisposable
{
    /// <summary>A stable key of the account, used to count sessions per user (never a secret).</summary>
    string AccountKey { get; }

    /// <summary>All mailboxes of the account, including INBOX, with '/' as the hierarchy separator.</summary>
    ValueTask<IReadOnlyList<MailboxInfo>> ListMailboxesAsync(CancellationToken ct);

    /// <summary>Names the user has subscribed to (they may name mailboxes that do not exist).</summary>
    ValueTask<IReadOnlyList<string>> ListSubscriptionsAsync(CancellationToken ct);

    /// <summary>Subscribes or unsubscribes a name.</summary>
    ValueTask SetSubscribedAsync(string name, bool subscribed, CancellationToken ct);

    /// <summary>Creates a mailbox (names are validated by the engine; missing parents are implied).</summary>
    ValueTask<MailboxOperationStatus> CreateMailboxAsync(string name, SpecialUse specialUse, CancellationToken ct);

    /// <summary>Deletes a mailbox and its messages; INBOX is refused by the engine before this is called.</summary>
    ValueTask<MailboxOperationStatus> DeleteMailboxAsync(MailboxId mailbox, CancellationToken ct);

    /// <summary>Renames a mailbox and the mailboxes below it; listeners of renamed mailboxes stay registered.</summary>
    ValueTask<MailboxOperationStatus> RenameMailboxAsync(MailboxId mailbox, string newName, CancellationToken ct);

    /// <summary>Counters for STATUS (and LIST-STATUS); null when the mailbox no longer exists.</summary>
    ValueTask<MailboxStatus?> GetStatusAsync(MailboxId mailbox, CancellationToken ct);

    /// <summary>
    /// Opens a mailbox for a session: returns its current state and registers <paramref name="listener"/>
    /// atomically, so that every change after the snapshot, and none before, is reported. Dispose the
    /// returned snapshot's <see cref="MailboxSnapshot.Registration"/> to stop notifications.
    /// </summary>
    ValueTask<MailboxSnapshot?> OpenMailboxAsync(MailboxId mailbox, IMailboxListener listener, CancellationToken ct);

    /// <summary>
    /// Streams the metadata of the given messages, ascending by UID; UIDs that no longer exist are
    /// skipped. <see cref="MessageRecord.Structure"/> is filled only when <paramref name="withStructure"/>.
    /// </summary>
    IAsyncEnumerable<MessageRecord> FetchAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, bool withStructure, CancellationToken ct);

    /// <summary>
    /// Streams the metadata of the given messages, ascending by UID, with what <paramref name="data"/>
    /// asks for. A backend that keeps the ENVELOPE per message (the bridge stores it sealed next to the
    /// summary) fills <see cref="MessageRecord.Envelope"/> without reading the content; the default
    /// computes the whole <see cref="MessageRecord.Structure"/> instead, which serves ENVELOPE too.
    /// </summary>
    IAsyncEnumerable<MessageRecord> FetchAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, FetchData data, CancellationToken ct) =>
        FetchAsync(mailbox, uids, withStructure: data != FetchData.None, ct);

    /// <summary>The raw message (decrypted on demand by the bridge); null when it no longer exists. The caller disposes it.</summary>
    ValueTask<Stream?> OpenContentAsync(MailboxId mailbox, Uid uid, CancellationToken ct);

    /// <summary>Changes flags atomically per message, honouring UNCHANGEDSINCE (RFC 7162, 3.1.3).</summary>
    ValueTask<StoreResult> StoreFlagsAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, StoreMode mode, MessageFlags flags, ModSeq? unchangedSince, CancellationToken ct);

    /// <summary>
    /// Adds a message. Nothing becomes visible unless this returns <see cref="MailboxOperationStatus.Ok"/>:
    /// the content is read to its end first, then committed as one step.
    /// </summary>
    ValueTask<AppendResult> AppendAsync(MailboxId mailbox, Stream content, MessageFlags flags, DateTimeOffset internalDate, CancellationToken ct);

    /// <summary>
    /// Adds several messages as one operation (MULTIAPPEND, RFC 3502): all of them or none. The default appends
    /// them one by one and, when one is refused or fails, removes those already added (flags them \Deleted and
    /// expunges exactly them), so a backend works without implementing it; one that can commit them together
    /// should, so that other sessions never see a partial batch.
    /// </summary>
    async ValueTask<AppendBatchResult> AppendBatchAsync(MailboxId mailbox, IReadOnlyList<AppendItem> messages, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var uids = new List<Uid>(messages.Count);
        var validity = default(UidValidity);
        bool done = false;
        try
        {
            foreach (var message in messages)
            {
                using var content = new MemoryStream(message.Content.ToArray(), writable: false);
                var result = await AppendAsync(mailbox, content, message.Flags, message.InternalDate, ct).ConfigureAwait(false);
                if (result.Status != MailboxOperationStatus.Ok)
                {
                    return new AppendBatchResult(result.Status, default, [], result.Detail);
                }

                uids.Add(result.Uid);
                validity = result.UidValidity;
            }

            done = true;
            return new AppendBatchResult(MailboxOperationStatus.Ok, validity, uids);
        }
        finally
        {
            if (!done && uids.Count > 0)
            {
                var added = uids.Select(u => new UidRange(u, u)).ToList();
                await StoreFlagsAsync(mailbox, added, StoreMode.Add, MessageFlags.Create(SystemFlags.Deleted), null, CancellationToken.None).ConfigureAwait(false);
                await ExpungeAsync(mailbox, added, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Copies (or moves: copy, then expunge from the source, as one step) messages to another mailbox.</summary>
    ValueTask<CopyResult> CopyAsync(MailboxId source, IReadOnlyList<UidRange> uids, MailboxId target, bool move, CancellationToken ct);

    /// <summary>Removes the messages flagged \Deleted (only those in <paramref name="only"/> when given, for UID EXPUNGE); returns their UIDs.</summary>
    ValueTask<IReadOnlyList<Uid>> ExpungeAsync(MailboxId mailbox, IReadOnlyList<UidRange>? only, CancellationToken ct);

    /// <summary>
    /// UIDs of the messages that match, ascending. The key holds no message sequence numbers (the
    /// engine has translated them to <see cref="UidKey"/>); <see cref="SearchEvaluator"/> implements
    /// every key for backends that can produce the message bytes.
    /// </summary>
    ValueTask<IReadOnlyList<Uid>> SearchAsync(MailboxId mailbox, SearchKey key, CancellationToken ct);

    /// <summary>
    /// UIDs expunged after <paramref name="since"/> (QRESYNC's VANISHED (EARLIER)). A backend that has
    /// forgotten old expunges may return more UIDs than were expunged since, never fewer.
    /// </summary>
    ValueTask<IReadOnlyList<Uid>> GetExpungedSinceAsync(MailboxId mailbox, ModSeq since, CancellationToken ct);
}

/// <summary>An inclusive range of UIDs.</summary>
/// <param name="First">The first UID.</param>
/// <param name="Last">The last UID (at least <paramref name="First"/>).</param>
public readonly record struct UidRange(Uid First, Uid Last)
{
    /// <summary>Whether a UID lies in the range.</summary>
    public bool Contains(Uid uid) => uid >= First && uid <= Last;

    /// <summary>Whether a UID lies in any of the ranges.</summary>
    public static bool AnyContains(IReadOnlyList<UidRange> ranges, Uid uid)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        foreach (var r in ranges)
        {
            if (r.Contains(uid))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>Receives a mailbox's changes. Called on any thread; must return quickly and never throw.</summary>
public interface IMailboxListener
{
    /// <summary>A change was committed.</summary>
    void OnChange(MailboxChange change);
}

/// <summary>A committed change to a mailbox.</summary>
/// <param name="ModSeq">The mod-sequence the change was committed with.</param>
public abstract record MailboxChange(ModSeq ModSeq);

/// <summary>A message arrived (APPEND, COPY/MOVE into the mailbox, or sync).</summary>
public sealed record MessageAdded(Uid Uid, MessageFlags Flags, ModSeq ModSeq) : MailboxChange(ModSeq);

/// <summary>A message's flags changed.</summary>
public sealed record FlagsChanged(Uid Uid, MessageFlags Flags, ModSeq ModSeq) : MailboxChange(ModSeq);

/// <summary>Messages were removed.</summary>
public sealed record MessagesExpunged(IReadOnlyList<Uid> Uids, ModSeq ModSeq) : MailboxChange(ModSeq);

/// <summary>The mailbox was deleted or its UIDVALIDITY changed: sessions that selected it must leave.</summary>
public sealed record MailboxGone(ModSeq ModSeq) : MailboxChange(ModSeq);

/// <summary>Special-use attributes (RFC 6154).</summary>
[Flags]
public enum SpecialUse
{
    /// <summary>None.</summary>
    None = 0,
    /// <summary>\All.</summary>
    All = 1,
    /// <summary>\Archive.</summary>
    Archive = 2,
    /// <summary>\Drafts.</summary>
    Drafts = 4,
    /// <summary>\Flagged.</summary>
    Flagged = 8,
    /// <summary>\Junk.</summary>
    Junk = 16,
    /// <summary>\Sent.</summary>
    Sent = 32,
    /// <summary>\Trash.</summary>
    Trash = 64,
}

/// <summary>One mailbox of an account.</summary>
/// <param name="Id">Its identifier.</param>
/// <param name="Name">Its full name with '/' separators; "INBOX" for the inbox.</param>
/// <param name="SpecialUse">Its special use.</param>
public sealed record MailboxInfo(MailboxId Id, string Name, SpecialUse SpecialUse);

/// <summary>Outcome of a mailbox operation.</summary>
public enum MailboxOperationStatus
{
    /// <summary>Done.</summary>
    Ok,
    /// <summary>No such mailbox.</summary>
    NotFound,
    /// <summary>A mailbox with that name exists.</summary>
    AlreadyExists,
    /// <summary>The operation is not allowed on this mailbox.</summary>
    NotAllowed,
    /// <summary>A quota or size limit refused it.</summary>
    OverQuota,
    /// <summary>The message is malformed beyond use (empty, for example).</summary>
    Invalid,
    /// <summary>The message exceeds a limit on its structure (header data, parts, nesting); the result's detail names it.</summary>
    Limit,
}

/// <summary>Counters of a mailbox for STATUS.</summary>
public sealed record MailboxStatus(uint Messages, Uid UidNext, UidValidity UidValidity, uint Unseen, uint Deleted, ulong Size, ModSeq HighestModSeq);

/// <summary>
/// The state of a mailbox when a session opens it. <see cref="Uids"/> is the ascending list of
/// UIDs; the array may be longer than <see cref="Count"/> and shared between sessions (entries
/// below <see cref="Count"/> never change), which keeps a selected session small.
/// <see cref="FirstUnseen"/> is the first message without \Seen (for IMAP4rev1's <c>[UNSEEN n]</c>),
/// null when every message is seen or the backend does not know it cheaply.
/// </summary>
public sealed record MailboxSnapshot(
    UidValidity UidValidity,
    Uid UidNext,
    ModSeq HighestModSeq,
    uint[] Uids,
    int Count,
    IReadOnlyList<string> Keywords,
    IDisposable Registration,
    Uid? FirstUnseen = null);

/// <summary>What a FETCH needs beyond flags, mod-sequence, INTERNALDATE and RFC822.SIZE (which every record carries).</summary>
[Flags]
public enum FetchData
{
    /// <summary>Nothing more.</summary>
    None = 0,
    /// <summary>ENVELOPE: <see cref="MessageRecord.Envelope"/> or, failing that, <see cref="MessageRecord.Structure"/>.</summary>
    Envelope = 1,
    /// <summary>BODYSTRUCTURE, BODY or a section inside the message: <see cref="MessageRecord.Structure"/>.</summary>
    Structure = 2,
}

/// <summary>The metadata of one message.</summary>
public sealed class MessageRecord
{
    /// <summary>Its UID.</summary>
    public required Uid Uid { get; init; }

    /// <summary>Its flags.</summary>
    public required MessageFlags Flags { get; init; }

    /// <summary>Its mod-sequence.</summary>
    public required ModSeq ModSeq { get; init; }

    /// <summary>When the server received it (INTERNALDATE).</summary>
    public required DateTimeOffset InternalDate { get; init; }

    /// <summary>Its size in bytes (RFC822.SIZE).</summary>
    public required long Size { get; init; }

    /// <summary>Its structure, when requested.</summary>
    public MessageStructure? Structure { get; init; }

    /// <summary>
    /// The ENVELOPE value as written on the wire (<see cref="MessageStructure.Envelope"/>), when the backend
    /// keeps it and it was requested; the engine falls back to <see cref="Structure"/> when null.
    /// </summary>
    public byte[]? Envelope { get; init; }
}

/// <summary>What one message looks like after a STORE.</summary>
/// <param name="Uid">The message.</param>
/// <param name="Flags">Its flags now.</param>
/// <param name="ModSeq">Its mod-sequence now.</param>
/// <param name="Changed">Whether this STORE changed it.</param>
public readonly record struct StoredFlags(Uid Uid, MessageFlags Flags, ModSeq ModSeq, bool Changed);

/// <summary>The outcome of a STORE.</summary>
/// <param name="Messages">Every message of the set that exists and was not refused by UNCHANGEDSINCE.</param>
/// <param name="Modified">Messages refused because their mod-sequence exceeds UNCHANGEDSINCE.</param>
public sealed record StoreResult(IReadOnlyList<StoredFlags> Messages, IReadOnlyList<Uid> Modified);

/// <summary>The outcome of an APPEND.</summary>
/// <param name="Status">What happened.</param>
/// <param name="UidValidity">The mailbox's UIDVALIDITY (when stored).</param>
/// <param name="Uid">The message's UID (when stored).</param>
/// <param name="Detail">For a refusal, what the mail app is told (the limit exceeded, never content), or null.</param>
public sealed record AppendResult(MailboxOperationStatus Status, UidValidity UidValidity, Uid Uid, string? Detail = null);

/// <summary>One message of <see cref="IMailAccount.AppendBatchAsync"/>.</summary>
/// <param name="Content">The raw message.</param>
/// <param name="Flags">Its flags.</param>
/// <param name="InternalDate">Its INTERNALDATE.</param>
public sealed record AppendItem(ReadOnlyMemory<byte> Content, MessageFlags Flags, DateTimeOffset InternalDate);

/// <summary>The outcome of a MULTIAPPEND: the UIDs in the order of the messages, or none when it was refused.</summary>
/// <param name="Status">What happened.</param>
/// <param name="UidValidity">The mailbox's UIDVALIDITY (when stored).</param>
/// <param name="Uids">The messages' UIDs (when stored).</param>
/// <param name="Detail">For a refusal, what the mail app is told (the limit exceeded, never content), or null.</param>
public sealed record AppendBatchResult(MailboxOperationStatus Status, UidValidity UidValidity, IReadOnlyList<Uid> Uids, string? Detail = null);

/// <summary>The outcome of a COPY/MOVE: the UIDs in the source and the UIDs they got in the target, pairwise (UIDPLUS).</summary>
public sealed record CopyResult(MailboxOperationStatus Status, UidValidity TargetUidValidity, IReadOnlyList<Uid> SourceUids, IReadOnlyList<Uid> TargetUids);
