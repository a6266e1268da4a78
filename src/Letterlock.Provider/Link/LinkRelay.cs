using System.Collections.Concurrent;
using System.Security.Cryptography;
using Letterlock.Provider.Configuration;

namespace Letterlock.Provider.Link;

/// <summary>Which side of a link wrote a message.</summary>
public enum LinkParty
{
    /// <summary>The device that is joining (it started the link and shows the code).</summary>
    NewDevice,

    /// <summary>The device of the account that approves it.</summary>
    Approver,
}

/// <summary>How a relay write ended.</summary>
public enum LinkWrite
{
    /// <summary>Stored; a reader waiting for it is woken.</summary>
    Stored,

    /// <summary>No open link with that code (never started, expired, or ended).</summary>
    NotFound,

    /// <summary>That message was already written: every slot is written once, so a relayed message cannot be replaced or replayed.</summary>
    AlreadyWritten,

    /// <summary>Larger than <see cref="LinkSettings.MaxMessageBytes"/>, or an index outside 0..<see cref="LinkRelay.MessagesPerParty"/>-1.</summary>
    Invalid,
}

/// <summary>
/// The provider's side of device linking (docs/design/accounts.md, "Linking a device"): a short-lived mailbox per
/// link, keyed by a short public slot, holding a few write-once messages from each party. The messages are opaque
/// (CPace messages and ciphertext under the CPace key): the relay learns nothing it could use to join the account.
/// Kept in memory on the node that started the link; gone when the link expires or is ended.
/// </summary>
public sealed class LinkRelay(LinkSettings settings, TimeProvider time)
{
    /// <summary>Messages each party may write (the protocol uses two).</summary>
    public const int MessagesPerParty = 4;

    /// <summary>Characters of a slot: Crockford base32, 25 bits, unique among open links.</summary>
    public const int SlotLength = 5;

    /// <summary>The alphabet of slots and link codes (Crockford base32).</summary>
    public const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    /// <summary>An open link as the relay sees it.</summary>
    public sealed record LinkInfo(string Slot, byte[] SessionId, DateTimeOffset ExpiresAt);

    /// <summary>Opens a link; null when <see cref="LinkSettings.MaxOpenLinks"/> are open.</summary>
    public LinkInfo? Start()
    {
        Sweep();
        if (_sessions.Count >= settings.MaxOpenLinks)
        {
            return null;
        }

        var expires = time.GetUtcNow().AddSeconds(settings.LifetimeSeconds);
        while (true)
        {
            string slot = RandomNumberGenerator.GetString(Alphabet, SlotLength);
            var session = new Session(RandomNumberGenerator.GetBytes(16), expires);
            if (_sessions.TryAdd(slot, session))
            {
                return new LinkInfo(slot, (byte[])session.Id.Clone(), expires);
            }
        }
    }

    /// <summary>The open link with this slot (case-insensitive), or null.</summary>
    public LinkInfo? Find(string slot)
    {
        var session = Open(slot, out string canonical);
        return session is null ? null : new LinkInfo(canonical, (byte[])session.Id.Clone(), session.ExpiresAt);
    }

    /// <summary>Stores a party's message number <paramref name="index"/> once.</summary>
    public LinkWrite Write(string slot, LinkParty party, int index, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (index is < 0 or >= MessagesPerParty || data.Length > settings.MaxMessageBytes)
        {
            return LinkWrite.Invalid;
        }

        var session = Open(slot, out _);
        if (session is null)
        {
            return LinkWrite.NotFound;
        }

        lock (session)
        {
            ref byte[]? place = ref session.Messages[Position(party, index)];
            if (place is not null)
            {
                return LinkWrite.AlreadyWritten;
            }

            place = (byte[])data.Clone();
            var changed = session.Changed;
            session.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            changed.TrySetResult();
        }

        return LinkWrite.Stored;
    }

    /// <summary>
    /// A party's message number <paramref name="index"/>, waiting up to <paramref name="wait"/> for it to arrive.
    /// Found = false: the link is not open (never started, expired, ended); Data = null: not written yet.
    /// </summary>
    public async Task<(bool Found, byte[]? Data)> ReadAsync(string slot, LinkParty party, int index, TimeSpan wait, CancellationToken ct)
    {
        if (index is < 0 or >= MessagesPerParty)
        {
            return (false, null);
        }

        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            var session = Open(slot, out _);
            if (session is null)
            {
                return (false, null);
            }

            Task changed;
            lock (session)
            {
                if (session.Messages[Position(party, index)] is { } data)
                {
                    return (true, (byte[])data.Clone());
                }

                changed = session.Changed.Task;
            }

            var left = Min(deadline, session.ExpiresAt) - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return (session.ExpiresAt > time.GetUtcNow(), null);
            }

            try
            {
                await changed.WaitAsync(left, time, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // loop once more: expired links answer not found, live ones "not yet"
            }
        }
    }

    /// <summary>Ends a link (either party: an aborted comparison, or done); its code means nothing from now on.</summary>
    public bool End(string slot)
    {
        if (Open(slot, out string canonical) is not { } session || !_sessions.TryRemove(canonical, out _))
        {
            return false;
        }

        lock (session)
        {
            session.Changed.TrySetResult();
        }

        return true;
    }

    /// <summary>Open links (for tests and metrics).</summary>
    public int OpenCount
    {
        get
        {
            Sweep();
            return _sessions.Count;
        }
    }

    private Session? Open(string slot, out string canonical)
    {
        canonical = (slot ?? "").Trim().ToUpperInvariant();
        if (canonical.Length != SlotLength || !_sessions.TryGetValue(canonical, out var session))
        {
            return null;
        }

        if (session.ExpiresAt <= time.GetUtcNow())
        {
            _sessions.TryRemove(canonical, out _);
            lock (session)
            {
                session.Changed.TrySetResult();
            }

            return null;
        }

        return session;
    }

    private void Sweep()
    {
        var now = time.GetUtcNow();
        foreach (var (slot, session) in _sessions)
        {
            if (session.ExpiresAt <= now)
            {
                _sessions.TryRemove(slot, out _);
            }
        }
    }

    private static int Position(LinkParty party, int index) => (party == LinkParty.NewDevice ? 0 : MessagesPerParty) + index;

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private sealed class Session(byte[] id, DateTimeOffset expiresAt)
    {
        public byte[] Id { get; } = id;

        public DateTimeOffset ExpiresAt { get; } = expiresAt;

        public byte[]?[] Messages { get; } = new byte[]?[2 * MessagesPerParty];

        public TaskCompletionSource Changed { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
