using System.Collections.Concurrent;
using Letterlock.Imap.Backend;

namespace Letterlock.Imap.Session;

/// <summary>
/// Who holds <c>\Recent</c> (RFC 3501, 2.3.2): "this session is the first session to have been notified
/// about this message". Per mailbox (account, mailbox, UIDVALIDITY) it keeps one mark: messages with a UID
/// at or above it have not been claimed by any session. A read-write SELECT claims everything from the mark to
/// UIDNEXT; a session with the mailbox selected read-write claims each new arrival it reports first.
/// <para>
/// The state lives in the engine, for the life of the server process, so both backends get it without storage.
/// A mailbox the engine has not touched yet starts with its mark at UIDNEXT when it is first seen (after a
/// restart nothing old turns recent again); a mailbox that an APPEND, COPY or MOVE reaches first starts at the
/// UIDNEXT it had just before, so messages added while nobody had it selected are recent to the next SELECT.
/// </para>
/// </summary>
internal sealed class RecentTracker
{
    private readonly ConcurrentDictionary<(string Account, MailboxId Mailbox), Mark> _marks = new();

    private sealed class Mark(uint validity, uint first)
    {
        public readonly uint Validity = validity;
        public uint FirstUnclaimed = first;
    }

    private Mark Get(string account, MailboxId mailbox, UidValidity validity, Uid uidNext)
    {
        var mark = _marks.GetOrAdd((account, mailbox), static (_, v) => new Mark(v.Validity, v.Next), (Validity: validity.Value, Next: uidNext.Value));
        if (mark.Validity != validity.Value)
        {
            // A new UIDVALIDITY voids every UID: start again.
            var fresh = new Mark(validity.Value, uidNext.Value);
            mark = _marks.AddOrUpdate((account, mailbox), fresh, (_, old) => old.Validity == validity.Value ? old : fresh);
        }

        return mark;
    }

    /// <summary>Starts tracking a mailbox at <paramref name="uidNext"/> if it is not tracked yet (nothing recent).</summary>
    public void Touch(string account, MailboxId mailbox, UidValidity validity, Uid uidNext) => Get(account, mailbox, validity, uidNext);

    /// <summary>Whether the mailbox is tracked already.</summary>
    public bool IsTracked(string account, MailboxId mailbox) => _marks.ContainsKey((account, mailbox));

    /// <summary>The first unclaimed UID (messages at or above it are recent to whoever claims them next).</summary>
    public uint FirstUnclaimed(string account, MailboxId mailbox, UidValidity validity, Uid uidNext)
    {
        var mark = Get(account, mailbox, validity, uidNext);
        lock (mark)
        {
            return mark.FirstUnclaimed;
        }
    }

    /// <summary>A read-write SELECT: claims every UID from the mark up to <paramref name="uidNext"/>; returns the old mark.</summary>
    public uint ClaimUpTo(string account, MailboxId mailbox, UidValidity validity, Uid uidNext)
    {
        var mark = Get(account, mailbox, validity, uidNext);
        lock (mark)
        {
            uint first = mark.FirstUnclaimed;
            mark.FirstUnclaimed = Math.Max(first, uidNext.Value);
            return first;
        }
    }

    /// <summary>A session reporting a new arrival claims it if no session has; true when this one did.</summary>
    public bool Claim(string account, MailboxId mailbox, UidValidity validity, Uid uid)
    {
        var mark = Get(account, mailbox, validity, uid);
        lock (mark)
        {
            if (uid.Value < mark.FirstUnclaimed)
            {
                return false;
            }

            mark.FirstUnclaimed = uid.Value + 1;
            return true;
        }
    }
}
