using System.Numerics;

namespace Letterlock.Transparency;

/// <summary>
/// The RFC 9162 (section 2.1) Merkle tree hash over the log of epochs, its proofs and their verification.
/// <code>
/// MTH({})     = SHA-256()
/// MTH({d0})   = SHA-256(0x00 || d0)
/// MTH(D[n])   = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   k = largest power of two &lt; n
/// </code>
/// Storage holds the hash of every complete subtree, (level, index) covering leaves
/// [index * 2^level, (index + 1) * 2^level); every range the RFC's recursion needs is built from them.
/// </summary>
public static class MerkleLog
{
    /// <summary>MTH of the empty tree.</summary>
    public static Hash256 EmptyRoot { get; } = Hash256.Sha256([]);

    /// <summary>SHA-256(0x00 || leaf).</summary>
    public static Hash256 LeafHash(ReadOnlySpan<byte> leaf)
    {
        byte[] input = new byte[leaf.Length + 1];
        leaf.CopyTo(input.AsSpan(1));
        return Hash256.Sha256(input);
    }

    /// <summary>SHA-256(0x01 || left || right).</summary>
    public static Hash256 NodeHash(Hash256 left, Hash256 right)
    {
        Span<byte> input = stackalloc byte[65];
        input[0] = 0x01;
        left.CopyTo(input[1..]);
        right.CopyTo(input[33..]);
        return Hash256.Sha256(input);
    }

    /// <summary>The complete-subtree nodes that appending leaf number <paramref name="index"/> creates.</summary>
    public static async ValueTask<List<(int Level, long Index, Hash256 Hash)>> AppendAsync(
        ILogNodeSource source, long index, Hash256 leafHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var created = new List<(int, long, Hash256)> { (0, index, leafHash) };
        Hash256 current = leafHash;
        long position = index;
        int level = 0;
        while ((position & 1) == 1)
        {
            Hash256 left = await source.GetLogNodeAsync(level, position - 1, cancellationToken).ConfigureAwait(false);
            current = NodeHash(left, current);
            position >>= 1;
            level++;
            created.Add((level, position, current));
        }

        return created;
    }

    /// <summary>MTH(D[start:end]).</summary>
    public static async ValueTask<Hash256> RangeHashAsync(ILogNodeSource source, long start, long end, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        long n = end - start;
        if (n == 0)
        {
            return EmptyRoot;
        }

        if (BitOperations.IsPow2(n) && start % n == 0)
        {
            return await source.GetLogNodeAsync(BitOperations.Log2((ulong)n), start / n, cancellationToken).ConfigureAwait(false);
        }

        long k = LargestPowerOfTwoBelow(n);
        Hash256 left = await RangeHashAsync(source, start, start + k, cancellationToken).ConfigureAwait(false);
        Hash256 right = await RangeHashAsync(source, start + k, end, cancellationToken).ConfigureAwait(false);
        return NodeHash(left, right);
    }

    /// <summary>
    /// PATH(m, D[n]) (RFC 9162, 2.1.3.1), leaf-most hash first:
    /// <code>
    /// m &lt; k: PATH(m, D[0:k]) : MTH(D[k:n])        m &gt;= k: PATH(m - k, D[k:n]) : MTH(D[0:k])
    /// </code>
    /// </summary>
    public static async ValueTask<List<Hash256>> InclusionProofAsync(ILogNodeSource source, long leafIndex, long treeSize, CancellationToken cancellationToken)
    {
        if (leafIndex < 0 || leafIndex >= treeSize)
        {
            throw new ArgumentOutOfRangeException(nameof(leafIndex));
        }

        var path = new List<Hash256>();
        await PathAsync(source, leafIndex, 0, treeSize, path, cancellationToken).ConfigureAwait(false);
        return path;
    }

    private static async ValueTask PathAsync(ILogNodeSource source, long m, long start, long end, List<Hash256> path, CancellationToken ct)
    {
        long n = end - start;
        if (n <= 1)
        {
            return;
        }

        long k = LargestPowerOfTwoBelow(n);
        if (m < k)
        {
            await PathAsync(source, m, start, start + k, path, ct).ConfigureAwait(false);
            path.Add(await RangeHashAsync(source, start + k, end, ct).ConfigureAwait(false));
        }
        else
        {
            await PathAsync(source, m - k, start + k, end, path, ct).ConfigureAwait(false);
            path.Add(await RangeHashAsync(source, start, start + k, ct).ConfigureAwait(false));
        }
    }

    /// <summary>
    /// PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162, 2.1.4.1):
    /// <code>
    /// SUBPROOF(m, D[m], true) = {}      SUBPROOF(m, D[m], false) = {MTH(D[m])}
    /// m &lt;= k: SUBPROOF(m, D[0:k], b) : MTH(D[k:n])    m &gt; k: SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
    /// </code>
    /// </summary>
    public static async ValueTask<List<Hash256>> ConsistencyProofAsync(ILogNodeSource source, long oldSize, long newSize, CancellationToken cancellationToken)
    {
        if (oldSize < 0 || oldSize > newSize)
        {
            throw new ArgumentOutOfRangeException(nameof(oldSize));
        }

        var proof = new List<Hash256>();
        if (oldSize > 0 && oldSize < newSize)
        {
            await SubProofAsync(source, oldSize, 0, newSize, true, proof, cancellationToken).ConfigureAwait(false);
        }

        return proof;
    }

    private static async ValueTask SubProofAsync(ILogNodeSource source, long m, long start, long end, bool whole, List<Hash256> proof, CancellationToken ct)
    {
        long n = end - start;
        if (m == n)
        {
            if (!whole)
            {
                proof.Add(await RangeHashAsync(source, start, end, ct).ConfigureAwait(false));
            }

            return;
        }

        long k = LargestPowerOfTwoBelow(n);
        if (m <= k)
        {
            await SubProofAsync(source, m, start, start + k, whole, proof, ct).ConfigureAwait(false);
            proof.Add(await RangeHashAsync(source, start + k, end, ct).ConfigureAwait(false));
        }
        else
        {
            await SubProofAsync(source, m - k, start + k, end, false, proof, ct).ConfigureAwait(false);
            proof.Add(await RangeHashAsync(source, start, start + k, ct).ConfigureAwait(false));
        }
    }

    /// <summary>Verifies an inclusion proof (RFC 9162, 2.1.3.2).</summary>
    public static bool VerifyInclusion(long leafIndex, long treeSize, Hash256 leafHash, IReadOnlyList<Hash256> path, Hash256 root)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (leafIndex < 0 || leafIndex >= treeSize)
        {
            return false;
        }

        long fn = leafIndex, sn = treeSize - 1;
        Hash256 r = leafHash;
        foreach (Hash256 p in path)
        {
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = NodeHash(p, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                r = NodeHash(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && r == root;
    }

    /// <summary>Verifies a consistency proof (RFC 9162, 2.1.4.2), with the trivial cases of equal and empty sizes.</summary>
    public static bool VerifyConsistency(long oldSize, long newSize, Hash256 oldRoot, Hash256 newRoot, IReadOnlyList<Hash256> proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (oldSize < 0 || oldSize > newSize)
        {
            return false;
        }

        if (oldSize == newSize)
        {
            return proof.Count == 0 && oldRoot == newRoot;
        }

        if (oldSize == 0)
        {
            return proof.Count == 0;
        }

        if (proof.Count == 0)
        {
            return false;
        }

        var path = new List<Hash256>(proof.Count + 1);
        if (BitOperations.IsPow2(oldSize))
        {
            path.Add(oldRoot);
        }

        path.AddRange(proof);
        long fn = oldSize - 1, sn = newSize - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        Hash256 fr = path[0], sr = path[0];
        for (int i = 1; i < path.Count; i++)
        {
            Hash256 c = path[i];
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                fr = NodeHash(c, fr);
                sr = NodeHash(c, sr);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                sr = NodeHash(sr, c);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return fr == oldRoot && sr == newRoot && sn == 0;
    }

    private static long LargestPowerOfTwoBelow(long n) => 1L << BitOperations.Log2((ulong)(n - 1));
}

/// <summary>Where the log's complete-subtree hashes are read from (a store, or a builder's working set).</summary>
public interface ILogNodeSource
{
    /// <summary>The hash of the complete subtree at (<paramref name="level"/>, <paramref name="index"/>); it must exist.</summary>
    ValueTask<Hash256> GetLogNodeAsync(int level, long index, CancellationToken cancellationToken);
}
