using System.Buffers.Binary;

namespace Letterlock.Transparency;

/// <summary>
/// A node of the prefix tree: a leaf (one entry: index, version, epoch of that version, commitment)
/// or a parent (two child hashes, either of which may be <see cref="Hash256.Zero"/> for an empty subtree).
/// Nodes are immutable and stored under their hash, so every epoch's tree stays readable.
/// </summary>
public sealed class PrefixNode
{
    // Two hash fields serve both kinds (index and commitment of a leaf, children of a parent) and the
    // node's own hash is computed on demand: a directory of a million addresses holds two million nodes.
    private readonly Hash256 _a;
    private readonly Hash256 _b;

    private PrefixNode(bool isLeaf, Hash256 a, Hash256 b, ulong version, ulong epoch)
    {
        IsLeaf = isLeaf;
        _a = a;
        _b = b;
        Version = version;
        Epoch = epoch;
    }

    /// <summary>True for a leaf, false for a parent.</summary>
    public bool IsLeaf { get; }

    /// <summary>Leaf: the 256-bit position (the first half of the address's VRF output).</summary>
    public Hash256 Index => IsLeaf ? _a : default;

    /// <summary>Leaf: the entry's version (1 for the first key set, +1 for each epoch that changed it).</summary>
    public ulong Version { get; }

    /// <summary>Leaf: the epoch in which this version was published.</summary>
    public ulong Epoch { get; }

    /// <summary>Leaf: the commitment to (address, key set) of this version.</summary>
    public Hash256 Commitment => IsLeaf ? _b : default;

    /// <summary>Parent: the left (bit 0) child hash.</summary>
    public Hash256 Left => IsLeaf ? default : _a;

    /// <summary>Parent: the right (bit 1) child hash.</summary>
    public Hash256 Right => IsLeaf ? default : _b;

    /// <summary>The node's hash (computed on each call).</summary>
    public Hash256 Hash => IsLeaf ? PrefixTree.LeafHash(_a, Version, Epoch, _b) : PrefixTree.ParentHash(_a, _b);

    /// <summary>A leaf node.</summary>
    public static PrefixNode Leaf(Hash256 index, ulong version, ulong epoch, Hash256 commitment) => new(true, index, commitment, version, epoch);

    /// <summary>A parent node.</summary>
    public static PrefixNode Parent(Hash256 left, Hash256 right) => new(false, left, right, 0, 0);

    internal void Encode(WireWriter w)
    {
        w.U8(IsLeaf ? 1 : 2);
        if (IsLeaf)
        {
            w.Hash(Index);
            w.U64(Version);
            w.U64(Epoch);
            w.Hash(Commitment);
        }
        else
        {
            w.Hash(Left);
            w.Hash(Right);
        }
    }

    /// <summary>The storage encoding (docs/FORMATS.md, "prefix-tree node").</summary>
    public byte[] ToBytes()
    {
        var w = new WireWriter();
        Encode(w);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="ToBytes"/>.</summary>
    public static PrefixNode FromBytes(ReadOnlySpan<byte> bytes)
    {
        var r = new WireReader(bytes, "prefix-tree node");
        PrefixNode node = r.U8() switch
        {
            1 => Leaf(r.Hash(), r.U64(), r.U64(), r.Hash()),
            2 => Parent(r.Hash(), r.Hash()),
            _ => throw new TransparencyFormatException("Unknown prefix-tree node kind."),
        };
        r.EnsureEnd();
        return node;
    }
}

/// <summary>Where prefix-tree nodes are read from.</summary>
public interface IPrefixNodeSource
{
    /// <summary>The node stored under <paramref name="hash"/>, or null.</summary>
    ValueTask<PrefixNode?> GetPrefixNodeAsync(Hash256 hash, CancellationToken cancellationToken);
}

/// <summary>One leaf to set in a batch update.</summary>
public readonly record struct PrefixLeafUpdate(Hash256 Index, ulong Version, Hash256 Commitment);

/// <summary>
/// The prefix tree over VRF outputs: a binary trie on the 256 bits of each index, where a subtree
/// with no entry is empty (hash all zeros), a subtree with one entry is that entry's leaf, and a subtree
/// with two or more entries is a parent. Entries are never removed (a revoked address keeps a leaf).
/// <code>
/// leaf   = SHA-256(0x01 || index || I2OSP(version, 8) || I2OSP(epoch, 8) || commitment)
/// parent = SHA-256(0x02 || left || right)        empty = 0^32
/// </code>
/// Updates are persistent (path copying): a batch returns the new root and the nodes it created;
/// the old roots stay valid, so proofs for any past epoch can be produced.
/// </summary>
public static class PrefixTree
{
    /// <summary>Leaf hash.</summary>
    public static Hash256 LeafHash(Hash256 index, ulong version, ulong epoch, Hash256 commitment)
    {
        Span<byte> input = stackalloc byte[1 + 32 + 8 + 8 + 32];
        input[0] = 0x01;
        index.CopyTo(input[1..]);
        BinaryPrimitives.WriteUInt64BigEndian(input[33..], version);
        BinaryPrimitives.WriteUInt64BigEndian(input[41..], epoch);
        commitment.CopyTo(input[49..]);
        return Hash256.Sha256(input);
    }

    /// <summary>Parent hash.</summary>
    public static Hash256 ParentHash(Hash256 left, Hash256 right)
    {
        Span<byte> input = stackalloc byte[65];
        input[0] = 0x02;
        left.CopyTo(input[1..]);
        right.CopyTo(input[33..]);
        return Hash256.Sha256(input);
    }

    /// <summary>
    /// Sets every leaf of <paramref name="updates"/> (distinct indices) at <paramref name="epoch"/> in the tree
    /// rooted at <paramref name="root"/>; returns the new root. New nodes are added to <paramref name="created"/>.
    /// </summary>
    public static async ValueTask<Hash256> UpdateAsync(
        IPrefixNodeSource source, Hash256 root, IReadOnlyList<PrefixLeafUpdate> updates, ulong epoch,
        Dictionary<Hash256, PrefixNode> created, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(updates);
        ArgumentNullException.ThrowIfNull(created);
        var sorted = updates.ToArray();
        Array.Sort(sorted, static (a, b) => a.Index.CompareTo(b.Index));
        for (int i = 1; i < sorted.Length; i++)
        {
            if (sorted[i].Index == sorted[i - 1].Index)
            {
                throw new ArgumentException("Two updates for the same index in one batch.", nameof(updates));
            }
        }

        return await UpdateAsync(source, root, 0, new ArraySegment<PrefixLeafUpdate>(sorted), epoch, created, cancellationToken).ConfigureAwait(false);
    }

    private static async ValueTask<Hash256> UpdateAsync(
        IPrefixNodeSource source, Hash256 nodeHash, int depth, ArraySegment<PrefixLeafUpdate> updates, ulong epoch,
        Dictionary<Hash256, PrefixNode> created, CancellationToken ct)
    {
        if (updates.Count == 0)
        {
            return nodeHash;
        }

        Hash256 left, right;
        if (nodeHash.IsZero)
        {
            if (updates.Count == 1)
            {
                return Add(created, PrefixNode.Leaf(updates[0].Index, updates[0].Version, epoch, updates[0].Commitment));
            }

            left = right = Hash256.Zero;
        }
        else
        {
            PrefixNode node = await GetAsync(source, nodeHash, ct).ConfigureAwait(false);
            if (node.IsLeaf)
            {
                if (updates.Count == 1 && updates[0].Index == node.Index)
                {
                    return Add(created, PrefixNode.Leaf(node.Index, updates[0].Version, epoch, updates[0].Commitment));
                }

                // Two or more entries now share this subtree: the existing leaf moves one level down.
                left = node.Index.Bit(depth) == 0 ? nodeHash : Hash256.Zero;
                right = node.Index.Bit(depth) == 1 ? nodeHash : Hash256.Zero;
            }
            else
            {
                left = node.Left;
                right = node.Right;
            }
        }

        if (depth >= 256)
        {
            throw new InvalidOperationException("Prefix tree deeper than the index.");
        }

        // updates are sorted, so the entries with bit 0 at this depth come first.
        int split = 0;
        while (split < updates.Count && updates[split].Index.Bit(depth) == 0)
        {
            split++;
        }

        Hash256 newLeft = await UpdateAsync(source, left, depth + 1, updates[..split], epoch, created, ct).ConfigureAwait(false);
        Hash256 newRight = await UpdateAsync(source, right, depth + 1, updates[split..], epoch, created, ct).ConfigureAwait(false);
        return Add(created, PrefixNode.Parent(newLeft, newRight));
    }

    /// <summary>
    /// Walks from <paramref name="root"/> towards <paramref name="index"/> and returns the proof: the
    /// sibling of every parent on the way (top down) and what the walk ended on.
    /// </summary>
    public static async ValueTask<PrefixProof> SearchAsync(IPrefixNodeSource source, Hash256 root, Hash256 index, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var copath = new List<Hash256>();
        Hash256 current = root;
        while (true)
        {
            if (current.IsZero)
            {
                return new PrefixProof(copath, PrefixProofTerminal.Empty, null);
            }

            PrefixNode node = await GetAsync(source, current, cancellationToken).ConfigureAwait(false);
            if (node.IsLeaf)
            {
                return node.Index == index
                    ? new PrefixProof(copath, PrefixProofTerminal.Inclusion, null)
                    : new PrefixProof(copath, PrefixProofTerminal.OtherLeaf, node);
            }

            int bit = index.Bit(copath.Count);
            copath.Add(bit == 0 ? node.Right : node.Left);
            current = bit == 0 ? node.Left : node.Right;
        }
    }

    /// <summary>The leaf stored for <paramref name="index"/> under <paramref name="root"/>, or null.</summary>
    public static async ValueTask<PrefixNode?> FindLeafAsync(IPrefixNodeSource source, Hash256 root, Hash256 index, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        Hash256 current = root;
        int depth = 0;
        while (!current.IsZero)
        {
            PrefixNode node = await GetAsync(source, current, cancellationToken).ConfigureAwait(false);
            if (node.IsLeaf)
            {
                return node.Index == index ? node : null;
            }

            current = index.Bit(depth++) == 0 ? node.Left : node.Right;
        }

        return null;
    }

    private static Hash256 Add(Dictionary<Hash256, PrefixNode> created, PrefixNode node)
    {
        Hash256 hash = node.Hash;
        created[hash] = node;
        return hash;
    }

    private static async ValueTask<PrefixNode> GetAsync(IPrefixNodeSource source, Hash256 hash, CancellationToken ct) =>
        await source.GetPrefixNodeAsync(hash, ct).ConfigureAwait(false)
        ?? throw new InvalidOperationException($"Prefix-tree node {hash} is missing from the store.");
}

/// <summary>What a prefix-tree walk ended on.</summary>
public enum PrefixProofTerminal
{
    /// <summary>The leaf of the searched index (its content comes with the proof's entry).</summary>
    Inclusion = 0,

    /// <summary>An empty subtree: the index is absent.</summary>
    Empty = 1,

    /// <summary>The leaf of another index sharing the path so far: the index is absent.</summary>
    OtherLeaf = 2,
}

/// <summary>
/// A prefix-tree search proof: the sibling hashes from the root down (<c>Copath[d]</c> is the sibling at depth d)
/// and the terminal. Verify with <see cref="ComputeRoot"/>.
/// </summary>
public sealed class PrefixProof
{
    /// <summary>Creates a proof.</summary>
    public PrefixProof(IReadOnlyList<Hash256> copath, PrefixProofTerminal terminal, PrefixNode? otherLeaf)
    {
        ArgumentNullException.ThrowIfNull(copath);
        if ((terminal == PrefixProofTerminal.OtherLeaf) != (otherLeaf is { IsLeaf: true }))
        {
            throw new ArgumentException("An other-leaf terminal carries exactly one leaf.", nameof(otherLeaf));
        }

        Copath = copath;
        Terminal = terminal;
        OtherLeaf = otherLeaf;
    }

    /// <summary>Sibling hashes, root first.</summary>
    public IReadOnlyList<Hash256> Copath { get; }

    /// <summary>How the walk ended.</summary>
    public PrefixProofTerminal Terminal { get; }

    /// <summary>For <see cref="PrefixProofTerminal.OtherLeaf"/>: the leaf found instead.</summary>
    public PrefixNode? OtherLeaf { get; }

    /// <summary>
    /// The root this proof implies for <paramref name="index"/>, or null if it is inconsistent. For an
    /// inclusion proof pass the leaf's content (<paramref name="version"/>, <paramref name="epoch"/>,
    /// <paramref name="commitment"/>); for the absence proofs they are ignored.
    /// </summary>
    public Hash256? ComputeRoot(Hash256 index, ulong version, ulong epoch, Hash256 commitment)
    {
        int depth = Copath.Count;
        if (depth > 256)
        {
            return null;
        }

        Hash256 h;
        switch (Terminal)
        {
            case PrefixProofTerminal.Inclusion:
                h = PrefixTree.LeafHash(index, version, epoch, commitment);
                break;
            case PrefixProofTerminal.Empty:
                h = Hash256.Zero;
                break;
            default:
                // The other leaf must lie on the searched path and be a different index.
                if (OtherLeaf!.Index == index || !OtherLeaf.Index.SharesPrefix(index, depth))
                {
                    return null;
                }

                h = OtherLeaf.Hash;
                break;
        }

        for (int d = depth - 1; d >= 0; d--)
        {
            h = index.Bit(d) == 0 ? PrefixTree.ParentHash(h, Copath[d]) : PrefixTree.ParentHash(Copath[d], h);
        }

        return h;
    }

    internal void Encode(WireWriter w)
    {
        // depth, a bitmap of the non-empty siblings, the non-empty siblings, then the terminal.
        w.U16(Copath.Count);
        var bitmap = new byte[(Copath.Count + 7) / 8];
        for (int d = 0; d < Copath.Count; d++)
        {
            if (!Copath[d].IsZero)
            {
                bitmap[d / 8] |= (byte)(0x80 >> (d % 8));
            }
        }

        w.Bytes(bitmap);
        foreach (Hash256 sibling in Copath)
        {
            if (!sibling.IsZero)
            {
                w.Hash(sibling);
            }
        }

        w.U8((int)Terminal);
        if (Terminal == PrefixProofTerminal.OtherLeaf)
        {
            w.Hash(OtherLeaf!.Index);
            w.U64(OtherLeaf.Version);
            w.U64(OtherLeaf.Epoch);
            w.Hash(OtherLeaf.Commitment);
        }
    }

    internal static PrefixProof Decode(ref WireReader r, TransparencyLimits limits)
    {
        int depth = r.U16();
        if (depth > limits.MaxPrefixDepth)
        {
            throw new TransparencyFormatException("Prefix proof too deep.");
        }

        ReadOnlySpan<byte> bitmap = r.Bytes((depth + 7) / 8);
        var copath = new Hash256[depth];
        for (int d = 0; d < depth; d++)
        {
            copath[d] = (bitmap[d / 8] & (0x80 >> (d % 8))) != 0 ? r.Hash() : Hash256.Zero;
        }

        if (depth % 8 != 0 && (bitmap[^1] & (0xFF >> (depth % 8))) != 0)
        {
            throw new TransparencyFormatException("Prefix proof bitmap has stray bits.");
        }

        var terminal = (PrefixProofTerminal)r.U8();
        PrefixNode? other = terminal switch
        {
            PrefixProofTerminal.Inclusion or PrefixProofTerminal.Empty => null,
            PrefixProofTerminal.OtherLeaf => PrefixNode.Leaf(r.Hash(), r.U64(), r.U64(), r.Hash()),
            _ => throw new TransparencyFormatException("Unknown prefix proof terminal."),
        };
        return new PrefixProof(copath, terminal, other);
    }
}
