using Letterlock.Transparency;

namespace Letterlock.Transparency.Tests;

/// <summary>RFC 9162 log tree against the transparency-dev/merkle (RFC 6962) reference vectors.</summary>
public sealed class MerkleLogTests
{
    private static readonly string[] LeafInputs = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    private static readonly string[] Roots =
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    // (leaf index, tree size, proof)
    public static TheoryData<long, long, string[]> InclusionVectors => new()
    {
        { 0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"] },
        { 5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"] },
        { 2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
        { 1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"] },
    };

    // (old size, new size, proof)
    public static TheoryData<long, long, string[]> ConsistencyVectors => new()
    {
        { 1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"] },
        { 6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"] },
        { 2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"] },
        { 6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"] },
    };

    [Fact]
    public async Task Roots_match_the_vectors_for_every_size()
    {
        var store = await BuildAsync(LeafInputs.Select(Convert.FromHexString).ToArray());
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", MerkleLog.EmptyRoot.ToString());
        for (int size = 1; size <= 8; size++)
        {
            Assert.Equal(Roots[size - 1], (await MerkleLog.RangeHashAsync(store, 0, size, default)).ToString());
        }
    }

    [Theory]
    [MemberData(nameof(InclusionVectors))]
    public async Task Inclusion_proofs_match_and_verify_and_corruptions_fail(long index, long size, string[] expected)
    {
        var store = await BuildAsync(LeafInputs.Select(Convert.FromHexString).ToArray());
        var proof = await MerkleLog.InclusionProofAsync(store, index, size, default);
        Assert.Equal(expected, proof.Select(h => h.ToString()));
        Hash256 root = H(Roots[size - 1]);
        Hash256 leaf = MerkleLog.LeafHash(Convert.FromHexString(LeafInputs[index]));
        Assert.True(MerkleLog.VerifyInclusion(index, size, leaf, proof, root));

        Assert.False(MerkleLog.VerifyInclusion(index - 1, size, leaf, proof, root));
        Assert.False(MerkleLog.VerifyInclusion(index + 1, size, leaf, proof, root));
        Assert.False(MerkleLog.VerifyInclusion(index ^ 2, size, leaf, proof, root));
        Assert.False(MerkleLog.VerifyInclusion(index, size * 2, leaf, proof, root));
        Assert.False(MerkleLog.VerifyInclusion(index, size / 2, leaf, proof, root));
        Assert.False(MerkleLog.VerifyInclusion(index, size, MerkleLog.LeafHash("WrongLeaf"u8), proof, root));
        Assert.False(MerkleLog.VerifyInclusion(index, size, leaf, proof, MerkleLog.EmptyRoot));
        Assert.False(MerkleLog.VerifyInclusion(index, size, leaf, [.. proof, root], root));
        Assert.False(MerkleLog.VerifyInclusion(index, size, leaf, [root, .. proof], root));
        Assert.False(MerkleLog.VerifyInclusion(index, size, leaf, proof[..^1], root));
        for (int i = 0; i < proof.Count; i++)
        {
            var wrong = proof.ToArray();
            wrong[i] = Flip(wrong[i]);
            Assert.False(MerkleLog.VerifyInclusion(index, size, leaf, wrong, root));
        }
    }

    [Theory]
    [MemberData(nameof(ConsistencyVectors))]
    public async Task Consistency_proofs_match_and_verify_and_corruptions_fail(long oldSize, long newSize, string[] expected)
    {
        var store = await BuildAsync(LeafInputs.Select(Convert.FromHexString).ToArray());
        var proof = await MerkleLog.ConsistencyProofAsync(store, oldSize, newSize, default);
        Assert.Equal(expected, proof.Select(h => h.ToString()));
        Hash256 oldRoot = H(Roots[oldSize - 1]), newRoot = H(Roots[newSize - 1]);
        Assert.True(MerkleLog.VerifyConsistency(oldSize, newSize, oldRoot, newRoot, proof));

        Assert.False(MerkleLog.VerifyConsistency(oldSize - 1, newSize, oldRoot, newRoot, proof));
        Assert.False(MerkleLog.VerifyConsistency(oldSize + 1, newSize, oldRoot, newRoot, proof));
        Assert.False(MerkleLog.VerifyConsistency(oldSize ^ 2, newSize, oldRoot, newRoot, proof));
        Assert.False(MerkleLog.VerifyConsistency(oldSize, newSize * 2, oldRoot, newRoot, proof));
        Assert.False(MerkleLog.VerifyConsistency(oldSize, newSize / 2, oldRoot, newRoot, proof));
        Assert.False(MerkleLog.VerifyConsistency(oldSize, newSize, newRoot, oldRoot, proof));
        Assert.False(MerkleLog.VerifyConsistency(oldSize, newSize, oldRoot, newRoot, []));
        Assert.False(MerkleLog.VerifyConsistency(oldSize, newSize, oldRoot, newRoot, [.. proof, oldRoot]));
        Assert.False(MerkleLog.VerifyConsistency(oldSize, newSize, oldRoot, newRoot, [newRoot, .. proof]));
        Assert.False(MerkleLog.VerifyConsistency(oldSize, newSize, oldRoot, newRoot, proof[..^1]));
        for (int i = 0; i < proof.Count; i++)
        {
            var wrong = proof.ToArray();
            wrong[i] = Flip(wrong[i]);
            Assert.False(MerkleLog.VerifyConsistency(oldSize, newSize, oldRoot, newRoot, wrong));
        }
    }

    [Fact]
    public void Trivial_consistency_cases()
    {
        Hash256 a = MerkleLog.LeafHash("a"u8), b = MerkleLog.LeafHash("b"u8);
        Assert.True(MerkleLog.VerifyConsistency(0, 0, a, a, []));
        Assert.True(MerkleLog.VerifyConsistency(0, 1, a, b, []));
        Assert.True(MerkleLog.VerifyConsistency(1, 1, b, b, []));
        Assert.False(MerkleLog.VerifyConsistency(1, 1, a, b, []));
        Assert.False(MerkleLog.VerifyConsistency(1, 0, a, b, []));
        Assert.False(MerkleLog.VerifyConsistency(1, 1, a, a, [a]));
    }

    [Fact]
    public async Task Property_every_inclusion_and_consistency_proof_of_random_logs_verifies()
    {
        var random = new Random(9162);
        const int n = 70;
        var leaves = Enumerable.Range(0, n).Select(_ => { var b = new byte[random.Next(0, 40)]; random.NextBytes(b); return b; }).ToArray();
        var store = await BuildAsync(leaves);
        var roots = new Hash256[n + 1];
        for (int size = 1; size <= n; size++)
        {
            roots[size] = await MerkleLog.RangeHashAsync(store, 0, size, default);
            Assert.Equal(ReferenceRoot(leaves.AsSpan(0, size)), roots[size]);
        }

        for (int size = 1; size <= n; size++)
        {
            for (int index = 0; index < size; index++)
            {
                var proof = await MerkleLog.InclusionProofAsync(store, index, size, default);
                Hash256 leaf = MerkleLog.LeafHash(leaves[index]);
                Assert.True(MerkleLog.VerifyInclusion(index, size, leaf, proof, roots[size]));
                if (proof.Count > 0)
                {
                    var wrong = proof.ToArray();
                    int i = random.Next(wrong.Length);
                    wrong[i] = Flip(wrong[i]);
                    Assert.False(MerkleLog.VerifyInclusion(index, size, leaf, wrong, roots[size]));
                }
            }

            for (int old = 1; old <= size; old++)
            {
                var proof = await MerkleLog.ConsistencyProofAsync(store, old, size, default);
                Assert.True(MerkleLog.VerifyConsistency(old, size, roots[old], roots[size], proof));
                if (proof.Count > 0)
                {
                    var wrong = proof.ToArray();
                    int i = random.Next(wrong.Length);
                    wrong[i] = Flip(wrong[i]);
                    Assert.False(MerkleLog.VerifyConsistency(old, size, roots[old], roots[size], wrong));
                }
            }
        }
    }

    /// <summary>MTH straight from the RFC's recursive definition, over leaf data.</summary>
    private static Hash256 ReferenceRoot(ReadOnlySpan<byte[]> leaves)
    {
        if (leaves.Length == 1)
        {
            return MerkleLog.LeafHash(leaves[0]);
        }

        int k = 1;
        while (k * 2 < leaves.Length)
        {
            k *= 2;
        }

        return MerkleLog.NodeHash(ReferenceRoot(leaves[..k]), ReferenceRoot(leaves[k..]));
    }

    internal static async Task<InMemoryLog> BuildAsync(byte[][] leaves)
    {
        var log = new InMemoryLog();
        for (int i = 0; i < leaves.Length; i++)
        {
            foreach (var (level, index, hash) in await MerkleLog.AppendAsync(log, i, MerkleLog.LeafHash(leaves[i]), default))
            {
                log.Nodes[(level, index)] = hash;
            }
        }

        return log;
    }

    internal static Hash256 Flip(Hash256 h)
    {
        byte[] bytes = h.ToArray();
        bytes[0] ^= 8;
        return new Hash256(bytes);
    }

    private static Hash256 H(string hex) => new(Convert.FromHexString(hex));

    internal sealed class InMemoryLog : ILogNodeSource
    {
        public Dictionary<(int, long), Hash256> Nodes { get; } = [];

        public ValueTask<Hash256> GetLogNodeAsync(int level, long index, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Nodes[(level, index)]);
    }
}
