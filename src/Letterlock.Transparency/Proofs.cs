namespace Letterlock.Transparency;

/// <summary>
/// The answer to lookup(address): the newest signed head, the VRF proof of the address's index, the
/// prefix-tree search proof at that head, and the entry (absent when the address has none).
/// Verify with <see cref="TransparencyVerifier.VerifyLookup"/>.
/// </summary>
public sealed class LookupProof
{
    /// <summary>Creates a proof.</summary>
    public LookupProof(SignedTreeHead head, ReadOnlySpan<byte> vrfProof, PrefixProof prefix, DirectoryEntry? entry)
    {
        Head = head ?? throw new ArgumentNullException(nameof(head));
        Prefix = prefix ?? throw new ArgumentNullException(nameof(prefix));
        if (vrfProof.Length != EcVrf.ProofLength)
        {
            throw new ArgumentException("A VRF proof is 80 bytes.", nameof(vrfProof));
        }

        VrfProof = vrfProof.ToArray();
        Entry = entry;
    }

    /// <summary>The head the proof is against.</summary>
    public SignedTreeHead Head { get; }

    /// <summary>ECVRF proof for the address.</summary>
    public ReadOnlyMemory<byte> VrfProof { get; }

    /// <summary>The search proof in the head's prefix tree.</summary>
    public PrefixProof Prefix { get; }

    /// <summary>The address's entry at the head's epoch, or null if it has none.</summary>
    public DirectoryEntry? Entry { get; }

    internal void Encode(WireWriter w)
    {
        Head.Encode(w);
        w.Bytes(VrfProof.Span);
        Prefix.Encode(w);
        w.U8(Entry is null ? 0 : 1);
        Entry?.Encode(w);
    }

    internal static LookupProof Decode(ref WireReader r, TransparencyLimits limits)
    {
        SignedTreeHead head = SignedTreeHead.Decode(ref r, limits);
        ReadOnlySpan<byte> vrf = r.Bytes(EcVrf.ProofLength);
        PrefixProof prefix = PrefixProof.Decode(ref r, limits);
        DirectoryEntry? entry = r.Bool() ? DirectoryEntry.Decode(ref r, limits) : null;
        return new LookupProof(head, vrf, prefix, entry);
    }

    /// <summary>The encoding (docs/FORMATS.md, "LookupProof").</summary>
    public byte[] ToBytes()
    {
        var w = new WireWriter();
        Encode(w);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="ToBytes"/>; checks structure and limits, not cryptography.</summary>
    public static LookupProof FromBytes(ReadOnlySpan<byte> bytes, TransparencyLimits? limits = null)
    {
        var r = new WireReader(bytes, "lookup proof");
        LookupProof proof = Decode(ref r, limits ?? TransparencyLimits.Default);
        r.EnsureEnd();
        return proof;
    }
}

/// <summary>
/// One published version of an address inside a <see cref="MonitorProof"/>: the entry, the log entry of
/// the epoch that published it with its inclusion proof in the newest head's log, and the entry's
/// inclusion proof in that epoch's prefix tree.
/// </summary>
public sealed class HistoricalEntry
{
    /// <summary>Creates one.</summary>
    public HistoricalEntry(DirectoryEntry entry, LogEntry logEntry, IReadOnlyList<Hash256> logInclusion, PrefixProof prefix)
    {
        Entry = entry ?? throw new ArgumentNullException(nameof(entry));
        LogEntry = logEntry;
        LogInclusion = logInclusion ?? throw new ArgumentNullException(nameof(logInclusion));
        Prefix = prefix ?? throw new ArgumentNullException(nameof(prefix));
    }

    /// <summary>The version.</summary>
    public DirectoryEntry Entry { get; }

    /// <summary>The log entry of the epoch that published it.</summary>
    public LogEntry LogEntry { get; }

    /// <summary>RFC 9162 inclusion proof of <see cref="LogEntry"/> (leaf index = its epoch).</summary>
    public IReadOnlyList<Hash256> LogInclusion { get; }

    /// <summary>Inclusion proof of the entry in that epoch's prefix tree.</summary>
    public PrefixProof Prefix { get; }

    internal void Encode(WireWriter w)
    {
        Entry.Encode(w);
        LogEntry.Encode(w);
        EncodeHashes(w, LogInclusion);
        Prefix.Encode(w);
    }

    internal static HistoricalEntry Decode(ref WireReader r, TransparencyLimits limits) =>
        new(DirectoryEntry.Decode(ref r, limits), LogEntry.Decode(ref r), DecodeHashes(ref r, limits), PrefixProof.Decode(ref r, limits));

    internal static void EncodeHashes(WireWriter w, IReadOnlyList<Hash256> hashes)
    {
        w.U8(hashes.Count);
        foreach (Hash256 h in hashes)
        {
            w.Hash(h);
        }
    }

    internal static Hash256[] DecodeHashes(ref WireReader r, TransparencyLimits limits)
    {
        int count = r.U8();
        if (count > limits.MaxLogProofHashes)
        {
            throw new TransparencyFormatException("Too many hashes in a log proof.");
        }

        var hashes = new Hash256[count];
        for (int i = 0; i < count; i++)
        {
            hashes[i] = r.Hash();
        }

        return hashes;
    }
}

/// <summary>
/// The answer to monitor(address, since-epoch): the address's current state at the newest head (as in a
/// lookup) and every version published in epoch <see cref="SinceEpoch"/> or later, oldest first, each proven against
/// the epoch that published it. Verify with <see cref="TransparencyVerifier.VerifyMonitor"/>.
/// </summary>
public sealed class MonitorProof
{
    /// <summary>Creates one.</summary>
    public MonitorProof(long sinceEpoch, LookupProof current, IReadOnlyList<HistoricalEntry> changes)
    {
        SinceEpoch = sinceEpoch;
        Current = current ?? throw new ArgumentNullException(nameof(current));
        Changes = changes ?? throw new ArgumentNullException(nameof(changes));
    }

    /// <summary>The first epoch the client has not checked yet; changes are those published in it or later.</summary>
    public long SinceEpoch { get; }

    /// <summary>The state at the newest head.</summary>
    public LookupProof Current { get; }

    /// <summary>Versions published in [SinceEpoch, Current.Head.Epoch], oldest first.</summary>
    public IReadOnlyList<HistoricalEntry> Changes { get; }

    /// <summary>The encoding (docs/FORMATS.md, "MonitorProof").</summary>
    public byte[] ToBytes()
    {
        var w = new WireWriter();
        w.U64((ulong)SinceEpoch);
        Current.Encode(w);
        w.U16(Changes.Count);
        foreach (HistoricalEntry change in Changes)
        {
            change.Encode(w);
        }

        return w.ToArray();
    }

    /// <summary>Decodes <see cref="ToBytes"/>.</summary>
    public static MonitorProof FromBytes(ReadOnlySpan<byte> bytes, TransparencyLimits? limits = null)
    {
        limits ??= TransparencyLimits.Default;
        var r = new WireReader(bytes, "monitor proof");
        long from = r.U64AsLong();
        LookupProof current = LookupProof.Decode(ref r, limits);
        int count = r.U16();
        if (count > limits.MaxMonitorEntries)
        {
            throw new TransparencyFormatException("Too many entries in a monitor proof.");
        }

        var changes = new HistoricalEntry[count];
        for (int i = 0; i < count; i++)
        {
            changes[i] = HistoricalEntry.Decode(ref r, limits);
        }

        r.EnsureEnd();
        return new MonitorProof(from, current, changes);
    }
}

/// <summary>RFC 9162 consistency proof between the logs of two epochs.</summary>
public sealed class ConsistencyProof
{
    /// <summary>Creates one.</summary>
    public ConsistencyProof(long fromEpoch, long toEpoch, IReadOnlyList<Hash256> hashes)
    {
        FromEpoch = fromEpoch;
        ToEpoch = toEpoch;
        Hashes = hashes ?? throw new ArgumentNullException(nameof(hashes));
    }

    /// <summary>The older epoch.</summary>
    public long FromEpoch { get; }

    /// <summary>The newer epoch.</summary>
    public long ToEpoch { get; }

    /// <summary>PROOF(from + 1, D[to + 1]).</summary>
    public IReadOnlyList<Hash256> Hashes { get; }

    /// <summary>The encoding (docs/FORMATS.md, "ConsistencyProof").</summary>
    public byte[] ToBytes()
    {
        var w = new WireWriter();
        w.U64((ulong)FromEpoch);
        w.U64((ulong)ToEpoch);
        HistoricalEntry.EncodeHashes(w, Hashes);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="ToBytes"/>.</summary>
    public static ConsistencyProof FromBytes(ReadOnlySpan<byte> bytes, TransparencyLimits? limits = null)
    {
        var r = new WireReader(bytes, "consistency proof");
        var proof = new ConsistencyProof(r.U64AsLong(), r.U64AsLong(), HistoricalEntry.DecodeHashes(ref r, limits ?? TransparencyLimits.Default));
        r.EnsureEnd();
        return proof;
    }
}

/// <summary>One changed leaf in an epoch, as auditors see it: the index, the new version and the commitment.</summary>
public readonly record struct LeafChange(Hash256 Index, ulong Version, Hash256 Commitment);

/// <summary>
/// What an auditor needs to replay one epoch: its signed head and every leaf it set (sorted by index).
/// Auditors learn how many leaves changed and their pseudorandom indices, never addresses or keys.
/// </summary>
public sealed class EpochAudit
{
    /// <summary>Creates one.</summary>
    public EpochAudit(SignedTreeHead head, IReadOnlyList<LeafChange> changes)
    {
        Head = head ?? throw new ArgumentNullException(nameof(head));
        Changes = changes ?? throw new ArgumentNullException(nameof(changes));
    }

    /// <summary>The epoch's head.</summary>
    public SignedTreeHead Head { get; }

    /// <summary>Leaves set in this epoch.</summary>
    public IReadOnlyList<LeafChange> Changes { get; }

    /// <summary>The encoding (docs/FORMATS.md, "EpochAudit").</summary>
    public byte[] ToBytes()
    {
        var w = new WireWriter();
        Head.Encode(w);
        w.U32((uint)Changes.Count);
        foreach (LeafChange change in Changes)
        {
            w.Hash(change.Index);
            w.U64(change.Version);
            w.Hash(change.Commitment);
        }

        return w.ToArray();
    }

    /// <summary>Decodes <see cref="ToBytes"/>.</summary>
    public static EpochAudit FromBytes(ReadOnlySpan<byte> bytes, TransparencyLimits? limits = null)
    {
        limits ??= TransparencyLimits.Default;
        var r = new WireReader(bytes, "epoch audit");
        SignedTreeHead head = SignedTreeHead.Decode(ref r, limits);
        long count = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(r.Bytes(4));
        // Each change is 72 bytes: a count the remaining bytes cannot hold is refused before allocating for it.
        if (count > limits.MaxEpochChanges || count * 72 != bytes.Length - r.Position)
        {
            throw new TransparencyFormatException("Wrong number of changes in an epoch audit record.");
        }

        var changes = new LeafChange[count];
        for (int i = 0; i < count; i++)
        {
            changes[i] = new LeafChange(r.Hash(), r.U64(), r.Hash());
        }

        r.EnsureEnd();
        return new EpochAudit(head, changes);
    }
}
