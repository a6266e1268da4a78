using System.Collections.Concurrent;
using Letterlock.Client;
using Letterlock.Client.Store;
using Letterlock.Imap.Backend;
using ImapUid = Letterlock.Imap.Backend.Uid;

namespace Letterlock.Bridge;

/// <summary>
/// The bridge's live view of the store's folders: for each folder a session has opened, the
/// ascending UID list (shared copy-on-write with sessions, as the engine's snapshot contract asks),
/// and the sessions listening to it. It follows <see cref="LocalStore.Changed"/>, so changes made
/// through any IMAP session or by sync reach every session in commit order.
/// </summary>
internal sealed class BridgeMailboxes : IDisposable
{
    private readonly LocalStore _store;
    private readonly ConcurrentDictionary<FolderId, FolderState> _folders = new();

    public BridgeMailboxes(LocalStore store)
    {
        _store = store;
        _store.Changed += OnChanged;
    }

    public LocalStore Store => _store;

    /// <summary>Serialises the read-modify-write of the subscriptions kept for folders that no longer exist.</summary>
    public SemaphoreSlim SubscriptionsGate { get; } = new(1, 1);

    public void Dispose() => _store.Changed -= OnChanged;

    /// <summary>The live state of a folder, loaded on first use; null when the folder does not exist.</summary>
    public async Task<FolderState?> GetAsync(AccountId account, FolderId id, CancellationToken ct)
    {
        if (_folders.TryGetValue(id, out var state))
        {
            return state.Folder.Account == account ? state : null;
        }

        // Load while no write of this process can commit: no change is missed or applied twice.
        return await _store.Mail(account).ReadFolderIndexAsync(id, (folder, index) =>
        {
            if (_folders.TryGetValue(id, out var existing))
            {
                return existing;
            }

            var loaded = new FolderState(folder, index);
            _folders[id] = loaded;
            return loaded;
        }, ct).ConfigureAwait(false);
    }

    private void OnChanged(StoreChange change)
    {
        if (!_folders.TryGetValue(change.Folder, out var state))
        {
            return;
        }

        if (change is FolderRemovedChange)
        {
            _folders.TryRemove(change.Folder, out _);
        }

        state.Apply(change);
    }
}

/// <summary>One folder's UID list and listeners. Every change happens under <see cref="_lock"/>, listeners are called under it.</summary>
internal sealed class FolderState
{
    private readonly Lock _lock = new();
    private readonly List<IMailboxListener> _listeners = [];
    private readonly Dictionary<uint, MessageId> _ids = [];
    // INTERNALDATE and RFC822.SIZE by UID once a summary has been opened: they never change for a message,
    // and knowing them lets FETCH and STATUS skip opening and parsing the summary (about 40 bytes a message).
    private readonly Dictionary<uint, (DateTimeOffset InternalDate, long Size)> _basics = [];
    private readonly SortedSet<string> _keywords = new(StringComparer.OrdinalIgnoreCase);
    private uint[] _uids;
    private int _count;
    private uint _uidNext;
    private ulong _highestModSeq;
    private bool _gone;

    public FolderState(FolderRecord folder, IReadOnlyList<(MessageId Id, Letterlock.Client.Uid Uid, ulong ModSeq)> index)
    {
        Folder = folder;
        _uids = new uint[Math.Max(16, index.Count * 2)];
        foreach (var (id, uid, _) in index)
        {
            _uids[_count++] = uid.Value;
            _ids[uid.Value] = id;
        }

        _uidNext = folder.UidNext;
        _highestModSeq = folder.HighestModSeq;
    }

    public FolderRecord Folder { get; }

    public UidValidity Validity => new(Folder.UidValidity);

    public bool IsGone
    {
        get
        {
            lock (_lock)
            {
                return _gone;
            }
        }
    }

    public MailboxSnapshot? Open(IMailboxListener listener)
    {
        lock (_lock)
        {
            if (_gone)
            {
                return null;
            }

            _listeners.Add(listener);
            return new MailboxSnapshot(Validity, new ImapUid(_uidNext), new ModSeq(_highestModSeq), _uids, _count,
                _keywords.ToArray(), new Registration(this, listener));
        }
    }

    /// <summary>The messages in the ranges (all when null), ascending by UID.</summary>
    public List<(ImapUid Uid, MessageId Id)> Select(IReadOnlyList<UidRange>? ranges)
    {
        lock (_lock)
        {
            var result = new List<(ImapUid, MessageId)>();
            if (ranges is null)
            {
                for (int i = 0; i < _count; i++)
                {
                    result.Add((new ImapUid(_uids[i]), _ids[_uids[i]]));
                }

                return result;
            }

            // Binary search per range: one message out of 60,000 must not cost a scan of all of them.
            foreach (var range in ranges)
            {
                int i = Array.BinarySearch(_uids, 0, _count, range.First.Value);
                for (i = i < 0 ? ~i : i; i < _count && _uids[i] <= range.Last.Value; i++)
                {
                    result.Add((new ImapUid(_uids[i]), _ids[_uids[i]]));
                }
            }

            if (ranges.Count > 1)
            {
                // Ranges may come unordered or overlapping (from SEARCH keys): ascending and distinct, as promised.
                result.Sort((a, b) => a.Item1.CompareTo(b.Item1));
                int kept = 0;
                for (int i = 0; i < result.Count; i++)
                {
                    if (kept == 0 || result[kept - 1].Item1 != result[i].Item1)
                    {
                        result[kept++] = result[i];
                    }
                }

                result.RemoveRange(kept, result.Count - kept);
            }

            return result;
        }
    }

    /// <summary>INTERNALDATE and size of a message, when a summary of it has been read before.</summary>
    public bool TryGetBasics(uint uid, out (DateTimeOffset InternalDate, long Size) basics)
    {
        lock (_lock)
        {
            return _basics.TryGetValue(uid, out basics);
        }
    }

    /// <summary>Remembers INTERNALDATE and size of a message the folder still holds.</summary>
    public void RememberBasics(uint uid, DateTimeOffset internalDate, long size)
    {
        lock (_lock)
        {
            if (_ids.ContainsKey(uid))
            {
                _basics[uid] = (internalDate, size);
            }
        }
    }

    public (int Count, ImapUid UidNext, ulong HighestModSeq, uint LargestUid) Counters()
    {
        lock (_lock)
        {
            return (_count, new ImapUid(_uidNext), _highestModSeq, _count == 0 ? 0 : _uids[_count - 1]);
        }
    }

    public void Apply(StoreChange change)
    {
        lock (_lock)
        {
            if (_gone)
            {
                return;
            }

            switch (change)
            {
                case MessageAddedChange added:
                    if (_count == _uids.Length)
                    {
                        // A new array: sessions holding the old one keep their consistent prefix.
                        var grown = new uint[_uids.Length * 2];
                        Array.Copy(_uids, grown, _count);
                        _uids = grown;
                    }

                    _uids[_count++] = added.Uid.Value;
                    _ids[added.Uid.Value] = added.Id;
                    _uidNext = Math.Max(_uidNext, added.Uid.Value + 1);
                    _highestModSeq = Math.Max(_highestModSeq, added.ModSeq);
                    var flags = Flags(added.Flags);
                    _keywords.UnionWith(flags.Keywords);
                    Notify(new MessageAdded(new ImapUid(added.Uid.Value), flags, new ModSeq(added.ModSeq)));
                    break;

                case FlagsChangedChange changed:
                    _highestModSeq = Math.Max(_highestModSeq, changed.ModSeq);
                    var newFlags = Flags(changed.Flags);
                    _keywords.UnionWith(newFlags.Keywords);
                    Notify(new FlagsChanged(new ImapUid(changed.Uid.Value), newFlags, new ModSeq(changed.ModSeq)));
                    break;

                case MessagesRemovedChange removed:
                    var gone = removed.Uids.Select(u => u.Value).ToHashSet();
                    var kept = new uint[Math.Max(16, _uids.Length)];
                    int keptCount = 0;
                    for (int i = 0; i < _count; i++)
                    {
                        if (!gone.Contains(_uids[i]))
                        {
                            kept[keptCount++] = _uids[i];
                        }
                    }

                    foreach (var uid in gone)
                    {
                        _ids.Remove(uid);
                        _basics.Remove(uid);
                    }

                    _uids = kept;
                    _count = keptCount;
                    _highestModSeq = Math.Max(_highestModSeq, removed.ModSeq);
                    Notify(new MessagesExpunged(removed.Uids.Select(u => new ImapUid(u.Value)).ToList(), new ModSeq(removed.ModSeq)));
                    break;

                case FolderRemovedChange:
                    _gone = true;
                    Notify(new MailboxGone(new ModSeq(++_highestModSeq)));
                    _listeners.Clear();
                    break;
            }
        }
    }

    public static MessageFlags Flags(IEnumerable<string> names) =>
        MessageFlags.FromNames(names.Where(n => !n.StartsWith('\\') || MessageFlags.ParseSystem(n) is not null)) ?? MessageFlags.Empty;

    private void Notify(MailboxChange change)
    {
        foreach (var listener in _listeners)
        {
            listener.OnChange(change);
        }
    }

    private void Unregister(IMailboxListener listener)
    {
        lock (_lock)
        {
            _listeners.Remove(listener);
        }
    }

    private sealed class Registration(FolderState state, IMailboxListener listener) : IDisposable
    {
        public void Dispose() => state.Unregister(listener);
    }
}
