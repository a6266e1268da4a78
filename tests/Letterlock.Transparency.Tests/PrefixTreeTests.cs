using Letterlock.Transparency;

namespace Letterlock.Transparency.Tests;

/// <summary>Property tests of the prefix tree: random trees and changes; every proof verifies, every tampered one fails.</summary>
public sealed class PrefixTreeTests
{
    [Fact]
    public async Task Property_random_batches_every_proof_verifies_and_old_roots_stay_valid()
    {
        var random = new Random(4242);
        var store = new NodeStore();
        Hash256 root = Hash256.Zero;
        var state = new Dictionary<Hash256, (ulong Version, ulong Epoch, Hash256 Commitment)>();
        var history = new List<(Hash256 Root, Dictionary<Hash256, (ulong, ulong, Hash256)> State)>();
        for (ulong epoch = 0; epoch < 12; epoch++)
        {
            // New indices, some existing ones changed, and indices sharing long prefixes with existing ones.
            var batch = new Dictionary<Hash256, PrefixLeafUpdate>();
            int newCount = random.Next(0, 40);
            for (int i = 0; i < newCount; i++)
            {
                Hash256 index = i % 5 == 0 && state.Count > 0 ? NearBy(state.Keys.ElementAt(random.Next(state.Count)), random) : RandomHash(random);
                if (!state.ContainsKey(index))
                {
                    batch[index] = new PrefixLeafUpdate(index, 1, RandomHash(random));
                }
            }

            foreach (Hash256 index in state.Keys.Where(_ => random.Next(4) == 0).ToList())
            {
                batch[index] = new PrefixLeafUpdate(index, state[index].Version + 1, RandomHash(random));
            }

            var created = new Dictionary<Hash256, PrefixNode>();
            root = await PrefixTree.UpdateAsync(store, root, batch.Values.ToList(), epoch, created, default);
            foreach (var node in created.Values)
            {
                store.Nodes.TryAdd(node.Hash, node);
            }

            foreach (var u in batch.Values)
            {
                state[u.Index] = (u.Version, epoch, u.Commitment);
            }

            Assert.Equal(CanonicalRoot(state.Keys.ToList(), state, 0), root);
            history.Add((root, new Dictionary<Hash256, (ulong, ulong, Hash256)>(state)));
        }

        // Every historical root still answers every search correctly.
        foreach (var (oldRoot, oldState) in history)
        {
            foreach (var (index, (version, epoch, commitment)) in oldState)
            {
                PrefixProof proof = await PrefixTree.SearchAsync(store, oldRoot, index, default);
                Assert.Equal(PrefixProofTerminal.Inclusion, proof.Terminal);
                Assert.Equal(oldRoot, proof.ComputeRoot(index, version, epoch, commitment));
                AssertTamperedFails(proof, oldRoot, index, version, epoch, commitment, random);
            }

            for (int i = 0; i < 30; i++)
            {
                Hash256 absent = i % 2 == 0 ? RandomHash(random) : NearBy(oldState.Keys.ElementAt(random.Next(oldState.Count)), random);
                if (oldState.ContainsKey(absent))
                {
                    continue;
                }

                PrefixProof proof = await PrefixTree.SearchAsync(store, oldRoot, absent, default);
                Assert.NotEqual(PrefixProofTerminal.Inclusion, proof.Terminal);
                Assert.Equal(oldRoot, proof.ComputeRoot(absent, 0, 0, default));
                // An absence proof is not an inclusion proof for any content.
                Assert.NotEqual(oldRoot, new PrefixProof(proof.Copath, PrefixProofTerminal.Inclusion, null).ComputeRoot(absent, 1, 0, RandomHash(random)));
            }
        }
    }

    [Fact]
    public async Task Proofs_survive_encoding_and_the_empty_tree_proves_absence()
    {
        var store = new NodeStore();
        PrefixProof empty = await PrefixTree.SearchAsync(store, Hash256.Zero, RandomHash(new Random(1)), default);
        Assert.Equal(PrefixProofTerminal.Empty, empty.Terminal);
        Assert.Equal(Hash256.Zero, empty.ComputeRoot(RandomHash(new Random(2)), 0, 0, default));

        var random = new Random(3);
        var updates = Enumerable.Range(0, 200).Select(_ => new PrefixLeafUpdate(RandomHash(random), 1, RandomHash(random))).ToList();
        var created = new Dictionary<Hash256, PrefixNode>();
        Hash256 root = await PrefixTree.UpdateAsync(store, Hash256.Zero, updates, 0, created, default);
        foreach (var node in created.Values)
        {
            store.Nodes.TryAdd(node.Hash, node);
            Assert.Equal(node.Hash, PrefixNode.FromBytes(node.ToBytes()).Hash);
        }

        foreach (var u in updates.Take(20))
        {
            PrefixProof proof = await PrefixTree.SearchAsync(store, root, u.Index, default);
            var w = new WireWriter();
            proof.Encode(w);
            var r = new WireReader(w.WrittenSpan, "test");
            PrefixProof decoded = PrefixProof.Decode(ref r, TransparencyLimits.Default);
            r.EnsureEnd();
            Assert.Equal(root, decoded.ComputeRoot(u.Index, 1, 0, u.Commitment));
        }
    }

    [Fact]
    public async Task Duplicate_indices_in_one_batch_are_refused()
    {
        Hash256 index = RandomHash(new Random(5));
        await Assert.ThrowsAsync<ArgumentException>(async () => await PrefixTree.UpdateAsync(new NodeStore(), Hash256.Zero,
            [new PrefixLeafUpdate(index, 1, default), new PrefixLeafUpdate(index, 2, default)], 0, [], default));
    }

    private static void AssertTamperedFails(PrefixProof proof, Hash256 root, Hash256 index, ulong version, ulong epoch, Hash256 commitment, Random random)
    {
        Assert.NotEqual(root, proof.ComputeRoot(index, version + 1, epoch, commitment));
        Assert.NotEqual(root, proof.ComputeRoot(index, version, epoch + 1, commitment));
        Assert.NotEqual(root, proof.ComputeRoot(index, version, epoch, MerkleLogTests.Flip(commitment)));
        Assert.NotEqual(root, proof.ComputeRoot(NearBy(index, random), version, epoch, commitment));
        if (proof.Copath.Count > 0)
        {
            var copath = proof.Copath.ToArray();
            int d = random.Next(copath.Length);
            copath[d] = MerkleLogTests.Flip(copath[d]);
            Assert.NotEqual(root, new PrefixProof(copath, proof.Terminal, proof.OtherLeaf).ComputeRoot(index, version, epoch, commitment));
            Assert.NotEqual(root, new PrefixProof(proof.Copath.Skip(1).ToArray(), proof.Terminal, proof.OtherLeaf).ComputeRoot(index, version, epoch, commitment));
            Assert.NotEqual(root, new PrefixProof([.. proof.Copath, Hash256.Zero], proof.Terminal, proof.OtherLeaf).ComputeRoot(index, version, epoch, commitment));
        }

        Assert.NotEqual(root, new PrefixProof(proof.Copath, PrefixProofTerminal.Empty, null).ComputeRoot(index, version, epoch, commitment));
    }

    /// <summary>The root of the canonical tree over the given entries, computed from the definition.</summary>
    private static Hash256 CanonicalRoot(List<Hash256> indices, Dictionary<Hash256, (ulong Version, ulong Epoch, Hash256 Commitment)> state, int depth)
    {
        if (indices.Count == 0)
        {
            return Hash256.Zero;
        }

        if (indices.Count == 1)
        {
            var (v, e, c) = state[indices[0]];
            return PrefixTree.LeafHash(indices[0], v, e, c);
        }

        return PrefixTree.ParentHash(
            CanonicalRoot(indices.Where(i => i.Bit(depth) == 0).ToList(), state, depth + 1),
            CanonicalRoot(indices.Where(i => i.Bit(depth) == 1).ToList(), state, depth + 1));
    }

    internal static Hash256 RandomHash(Random random)
    {
        var bytes = new byte[32];
        random.NextBytes(bytes);
        return new Hash256(bytes);
    }

    /// <summary>An index sharing a long prefix with <paramref name="index"/> (differs in one low bit of byte 3 or later).</summary>
    private static Hash256 NearBy(Hash256 index, Random random)
    {
        byte[] bytes = index.ToArray();
        int bit = random.Next(24, 256);
        bytes[bit / 8] ^= (byte)(0x80 >> (bit % 8));
        return new Hash256(bytes);
    }

    internal sealed class NodeStore : IPrefixNodeSource
    {
        public Dictionary<Hash256, PrefixNode> Nodes { get; } = [];

        public ValueTask<PrefixNode?> GetPrefixNodeAsync(Hash256 hash, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Nodes.GetValueOrDefault(hash));
    }
}
