using Letterlock.Client;
using Letterlock.Client.Store;

namespace Letterlock.Web.Mail;

/// <summary>The few flags a folder listing needs, as bits.</summary>
[Flags]
internal enum ListFlags : byte
{
    None = 0,
    Seen = 1,
    Flagged = 2,
    Answered = 4,
    Deleted = 8,
    Draft = 16,
}

/// <summary>One message of a folder as the listing keeps it: 24 bytes, nothing decrypted but its flags.</summary>
internal readonly record struct IndexEntry(uint Uid, Guid Id, ListFlags Flags);

/// <summary>
/// A folder's messages in UID order with their flags, kept in memory so that a page of a 60,000-message folder (newest
/// first) and the unread count cost nothing: built once from the store (<see cref="AccountMail.PageAsync"/>, flags only)
/// and kept current from <see cref="LocalStore.Changed"/>. A page's summaries are then read for that page alone.
/// </summary>
internal sealed class FolderIndex
{
    private readonly List<IndexEntry> _entries = [];
    private readonly object _gate = new();
    private int _unread;

    public FolderIndex(FolderId folder) => Folder = folder;

    public FolderId Folder { get; }

    public (int Total, int Unread) Counts
    {
        get
        {
            lock (_gate)
            {
                return (_entries.Count, _unread);
            }
        }
    }

    public static ListFlags FlagsOf(IReadOnlySet<string> flags)
    {
        var bits = ListFlags.None;
        foreach (var flag in flags)
        {
            bits |= flag.ToUpperInvariant() switch
            {
                "\\SEEN" => ListFlags.Seen,
                "\\FLAGGED" => ListFlags.Flagged,
                "\\ANSWERED" => ListFlags.Answered,
                "\\DELETED" => ListFlags.Deleted,
                "\\DRAFT" => ListFlags.Draft,
                _ => ListFlags.None,
            };
        }

        return bits;
    }

    /// <summary>Reads the folder from the store, a page of rows at a time (flags only).</summary>
    public static async Task<FolderIndex> BuildAsync(AccountMail mail, FolderId folder, CancellationToken ct)
    {
        var index = new FolderIndex(folder);
        var after = new Uid(0);
        const int PageSize = 5000;
        while (true)
        {
            var page = await mail.PageAsync(folder, after, new Uid(uint.MaxValue), PageSize, withEnvelope: false, needSummary: _ => false, ct).ConfigureAwait(false);
            foreach (var row in page)
            {
                index.Put(new IndexEntry(row.Uid.Value, row.Id.Value, FlagsOf(row.Flags)));
            }

            if (page.Count < PageSize)
            {
                return index;
            }

            after = page[^1].Uid;
        }
    }

    /// <summary>Applies a committed change (idempotent: a change seen twice, or already read by the build, changes nothing).</summary>
    public void Apply(StoreChange change)
    {
        switch (change)
        {
            case MessageAddedChange added:
                Put(new IndexEntry(added.Uid.Value, added.Id.Value, FlagsOf(added.Flags)));
                break;
            case FlagsChangedChange flags:
                Put(new IndexEntry(flags.Uid.Value, flags.Id.Value, FlagsOf(flags.Flags)));
                break;
            case MessagesRemovedChange removed:
                foreach (var uid in removed.Uids)
                {
                    Remove(uid.Value);
                }

                break;
        }
    }

    /// <summary>
    /// The entries of one page, newest (highest UID) first: <paramref name="offset"/> entries from the newest are skipped.
    /// </summary>
    public IndexEntry[] PageNewestFirst(int offset, int size)
    {
        lock (_gate)
        {
            int end = _entries.Count - offset;
            int start = Math.Max(0, end - size);
            if (end <= 0)
            {
                return [];
            }

            var page = _entries.GetRange(start, end - start).ToArray();
            Array.Reverse(page);
            return page;
        }
    }

    /// <summary>Where a message is, newest first (for "next" and "previous" in the message view), or -1.</summary>
    public int PositionOf(Guid id)
    {
        lock (_gate)
        {
            int i = _entries.FindIndex(e => e.Id == id);
            return i < 0 ? -1 : _entries.Count - 1 - i;
        }
    }

    public bool TryGet(uint uid, out IndexEntry entry)
    {
        lock (_gate)
        {
            int i = Find(uid);
            entry = i >= 0 ? _entries[i] : default;
            return i >= 0;
        }
    }

    private void Put(IndexEntry entry)
    {
        lock (_gate)
        {
            int i = Find(entry.Uid);
            if (i >= 0)
            {
                _unread += Unread(entry) - Unread(_entries[i]);
                _entries[i] = entry;
                return;
            }

            _entries.Insert(~i, entry);
            _unread += Unread(entry);
        }
    }

    private void Remove(uint uid)
    {
        lock (_gate)
        {
            int i = Find(uid);
            if (i >= 0)
            {
                _unread -= Unread(_entries[i]);
                _entries.RemoveAt(i);
            }
        }
    }

    private static int Unread(IndexEntry entry) => (entry.Flags & (ListFlags.Seen | ListFlags.Deleted)) == 0 ? 1 : 0;

    /// <summary>Binary search by UID: the index, or the complement of where it would go.</summary>
    private int Find(uint uid)
    {
        int lo = 0, hi = _entries.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            uint at = _entries[mid].Uid;
            if (at == uid)
            {
                return mid;
            }

            if (at < uid)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return ~lo;
    }
}
