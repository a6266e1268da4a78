namespace Letterlock.Native;

/// <summary>
/// Every ratchet session of one device, in memory: per peer device, the newest session is active (new
/// messages use it) and up to <see cref="NativeOptions.MaxArchivedSessionsPerPeer"/> older ones stay to
/// open mail still in flight on them. Also enforces the device-wide bound on skipped message keys
/// (<see cref="NativeOptions.MaxSkippedKeysTotal"/>) and records what changed since the client last
/// saved, so it writes only those sessions. Not thread-safe.
/// </summary>
public sealed class DeviceSessions
{
    private readonly Dictionary<string, List<RatchetSession>> _byPeer = [];
    private readonly HashSet<RatchetSession> _changed = [];
    private readonly List<byte[]> _removed = [];
    private ulong _nextSequence;

    /// <summary>An empty set.</summary>
    public DeviceSessions(NativeOptions? options = null) => Options = options ?? NativeOptions.Default;

    /// <summary>The limits in force.</summary>
    public NativeOptions Options { get; }

    /// <summary>Every session, active and archived.</summary>
    public IEnumerable<RatchetSession> All => _byPeer.Values.SelectMany(s => s);

    /// <summary>Skipped message keys held across all sessions.</summary>
    public int SkippedKeyCount => All.Sum(s => s.SkippedKeyCount);

    /// <summary>Sessions added or changed since <see cref="AcceptChanges"/>.</summary>
    public IReadOnlyCollection<RatchetSession> Changed => _changed;

    /// <summary>Ids of sessions dropped since <see cref="AcceptChanges"/> (delete them from storage).</summary>
    public IReadOnlyList<byte[]> Removed => _removed;

    /// <summary>Loads stored sessions (<see cref="RatchetSession.Export"/>).</summary>
    /// <exception cref="NativeException">A stored session is malformed.</exception>
    public static DeviceSessions Load(IEnumerable<byte[]> stored, NativeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var sessions = new DeviceSessions(options);
        foreach (var bytes in stored)
        {
            var session = RatchetSession.Import(bytes, sessions.Options);
            sessions.ListOf(session.Peer.DeviceKey).Add(session);
            foreach (var skipped in session.Skipped)
            {
                sessions._nextSequence = Math.Max(sessions._nextSequence, skipped.Sequence + 1);
            }
        }

        foreach (var list in sessions._byPeer.Values)
        {
            // The active one first (two sessions may share a creation second), then newest first.
            list.Sort((a, b) => a.IsActive != b.IsActive ? (a.IsActive ? -1 : 1) : b.CreatedAtSeconds.CompareTo(a.CreatedAtSeconds));
        }

        sessions.EnforceTotal();
        return sessions;
    }

    /// <summary>The active session with <paramref name="peerDeviceKey"/>, or null when there is none (never started, or reset).</summary>
    public RatchetSession? Active(ReadOnlySpan<byte> peerDeviceKey)
    {
        var list = _byPeer.GetValueOrDefault(Convert.ToHexString(peerDeviceKey));
        return list is { Count: > 0 } && list[0].IsActive ? list[0] : null;
    }

    /// <summary>Every session with <paramref name="peerDeviceKey"/>, newest first.</summary>
    public IReadOnlyList<RatchetSession> With(ReadOnlySpan<byte> peerDeviceKey) =>
        _byPeer.GetValueOrDefault(Convert.ToHexString(peerDeviceKey)) ?? [];

    /// <summary>
    /// Stops sealing to <paramref name="peerDeviceKey"/> on its current session (a session reset): the next
    /// message needs a new session start. The old sessions stay, archived, for mail in flight.
    /// </summary>
    /// <returns>True if there was an active session.</returns>
    public bool Reset(ReadOnlySpan<byte> peerDeviceKey)
    {
        var active = Active(peerDeviceKey);
        if (active is null)
        {
            return false;
        }

        active.IsActive = false;
        _changed.Add(active);
        return true;
    }

    /// <summary>Marks everything saved.</summary>
    public void AcceptChanges()
    {
        _changed.Clear();
        _removed.Clear();
    }

    /// <summary>Adds a new session as the active one for its peer, archiving the previous ones.</summary>
    internal void Add(RatchetSession session)
    {
        var list = ListOf(session.Peer.DeviceKey);
        foreach (var older in list)
        {
            if (older.IsActive)
            {
                older.IsActive = false;
                _changed.Add(older);
            }
        }

        list.Insert(0, session);
        _changed.Add(session);
        while (list.Count > Options.MaxArchivedSessionsPerPeer + 1)
        {
            var dropped = list[^1];
            list.RemoveAt(list.Count - 1);
            _changed.Remove(dropped);
            _removed.Add(dropped.SessionId);
        }

        EnforceTotal();
    }

    internal void MarkChanged(RatchetSession session)
    {
        _changed.Add(session);
        EnforceTotal();
    }

    internal RatchetSession? FindByStart(ReadOnlySpan<byte> startId)
    {
        foreach (var session in All)
        {
            if (session.StartId.AsSpan().SequenceEqual(startId))
            {
                return session;
            }
        }

        return null;
    }

    internal ulong NextSequence() => _nextSequence++;

    /// <summary>Drops the device-wide oldest skipped keys until at most <see cref="NativeOptions.MaxSkippedKeysTotal"/> remain.</summary>
    private void EnforceTotal()
    {
        var excess = SkippedKeyCount - Options.MaxSkippedKeysTotal;
        if (excess <= 0)
        {
            return;
        }

        var oldest = All.SelectMany(s => s.Skipped.Select(k => (Session: s, Key: k)))
            .OrderBy(p => p.Key.Sequence)
            .Take(excess)
            .ToList();
        foreach (var (session, key) in oldest)
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(key.MessageKey);
            session.RemoveSkipped(key);
            _changed.Add(session);
        }
    }

    private List<RatchetSession> ListOf(byte[] peerDeviceKey)
    {
        var key = Convert.ToHexString(peerDeviceKey);
        if (!_byPeer.TryGetValue(key, out var list))
        {
            list = [];
            _byPeer.Add(key, list);
        }

        return list;
    }
}
