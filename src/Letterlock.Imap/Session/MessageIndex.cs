namespace Letterlock.Imap.Session;

/// <summary>
/// A session's map from message sequence numbers to UIDs: an ascending UID array. It starts out
/// sharing the backend's array (see <see cref="Backend.MailboxSnapshot"/>) and copies it only when
/// the session's view must diverge, so a session idling in a large mailbox costs almost nothing.
/// </summary>
internal sealed class MessageIndex
{
    private uint[] _uids;
    private int _count;
    private bool _shared;

    public MessageIndex(uint[] uids, int count)
    {
        _uids = uids;
        _count = count;
        _shared = true;
    }

    public int Count => _count;

    public uint UidAt(int seq) => _uids[seq - 1];

    public uint LastUid => _count == 0 ? 0 : _uids[_count - 1];

    /// <summary>The 1-based sequence number of a UID, or 0.</summary>
    public int SeqOf(uint uid)
    {
        int i = LowerBound(uid);
        return i < _count && _uids[i] == uid ? i + 1 : 0;
    }

    /// <summary>Index of the first UID not below <paramref name="uid"/>.</summary>
    public int LowerBound(uint uid)
    {
        // UIDs are kept strictly ascending, so the complement of a miss is where the UID would go.
        int i = Array.BinarySearch(_uids, 0, _count, uid);
        return i >= 0 ? i : ~i;
    }

    public void Append(uint uid)
    {
        if (_count > 0 && uid <= _uids[_count - 1])
        {
            return; // already known
        }

        if (_shared && _count < _uids.Length && _uids[_count] == uid)
        {
            // The backend wrote this UID into the shared array right after our prefix.
            _count++;
            return;
        }

        if (_shared || _count == _uids.Length)
        {
            var copy = new uint[Math.Max(16, _count * 2)];
            Array.Copy(_uids, copy, _count);
            _uids = copy;
            _shared = false;
        }

        _uids[_count++] = uid;
    }

    /// <summary>Removes a UID; returns its former sequence number or 0.</summary>
    public int Remove(uint uid)
    {
        int seq = SeqOf(uid);
        if (seq == 0)
        {
            return 0;
        }

        if (_shared)
        {
            var copy = new uint[Math.Max(16, _count)];
            Array.Copy(_uids, copy, _count);
            _uids = copy;
            _shared = false;
        }

        Array.Copy(_uids, seq, _uids, seq - 1, _count - seq);
        _count--;
        return seq;
    }
}
