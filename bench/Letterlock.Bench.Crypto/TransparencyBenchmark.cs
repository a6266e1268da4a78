using System.Diagnostics;
using System.Security.Cryptography;
using Letterlock.Transparency;
using Letterlock.Transparency.Ed25519;
using NSec.Cryptography;

namespace Letterlock.Bench.Crypto;

/// <summary>
/// Key transparency: the VRF implementation options, then a directory of N addresses (default 1,000,000):
/// lookup proof size, verification time, epoch publication time, memory.
/// </summary>
internal static class TransparencyBenchmark
{
    public static async Task RunAsync(int addressCount)
    {
        Console.WriteLine("## Key transparency");
        Console.WriteLine();
        MeasureVrfOptions();

        using var signingKey = Key.Create(SignatureAlgorithm.Ed25519);
        using var vrfKey = EcVrfSecretKey.Generate(out _);
        var store = new InMemoryTransparencyStore();
        var directory = new TransparencyDirectory("example.org", signingKey, vrfKey, store);
        var verifier = new TransparencyVerifier("example.org", signingKey.PublicKey.Export(KeyBlobFormat.RawPublicKey));
        long clock = 1_700_000_000_000;

        Console.WriteLine($"| directory of {addressCount:N0} addresses | result |");
        Console.WriteLine("|---|---|");
        var load = Stopwatch.StartNew();
        TimeSpan loadCpu = Measure.Cpu;
        const int LoadBatch = 50_000;
        for (int start = 0; start < addressCount; start += LoadBatch)
        {
            int count = Math.Min(LoadBatch, addressCount - start);
            var batch = Enumerable.Range(start, count).Select(i => new KeySetUpdate(Address(i), Keys(i))).ToList();
            await directory.PublishEpochAsync(batch, DateTimeOffset.FromUnixTimeMilliseconds(clock += 1000), default);
            await Console.Error.WriteAsync($"\rloaded {start + count:N0} addresses, {load.Elapsed.TotalSeconds:F0} s");
        }

        await Console.Error.WriteLineAsync();
        double loadCpuSeconds = (Measure.Cpu - loadCpu).TotalSeconds;
        Measure.Row("initial load in batches of 50,000 (VRF for every address, tree build)", $"{loadCpuSeconds:F0} CPU-s ({addressCount / loadCpuSeconds:N0} addresses per CPU-second; {load.Elapsed.TotalSeconds:F0} s wall on the shared machine)");
        Measure.Row("prefix-tree nodes held", $"{store.PrefixNodeCount:N0}");
        GC.Collect(2, GCCollectionMode.Forced, true, true);
        long managed = GC.GetTotalMemory(true);
        Measure.Row("server memory (managed heap after load, in-memory store)", $"{managed / (1024.0 * 1024):N0} MiB; process working set {Environment.WorkingSet / (1024.0 * 1024):N0} MiB");

        // Epochs of 1,000 changes: half key changes of existing addresses, half new addresses (VRF needed).
        var epochTimes = new List<(double Cpu, double Wall)>();
        var random = new Random(1);
        int next = addressCount;
        for (int round = 0; round < 5; round++)
        {
            var updates = new List<KeySetUpdate>();
            for (int i = 0; i < 500; i++)
            {
                int existing = random.Next(addressCount);
                updates.Add(new KeySetUpdate(Address(existing), Keys(existing + (round * 7919) + 1)));
            }

            for (int i = 0; i < 500; i++, next++)
            {
                updates.Add(new KeySetUpdate(Address(next), Keys(next)));
            }

            var batch = updates.DistinctBy(u => u.Address).ToList();
            var (cpu, wall) = await Measure.OnceAsync(() => directory.PublishEpochAsync(batch, DateTimeOffset.FromUnixTimeMilliseconds(clock += 1000), default));
            epochTimes.Add((cpu.TotalMilliseconds, wall.TotalMilliseconds));
        }

        epochTimes.Sort();
        Measure.Row("publish an epoch of 1,000 changes (500 key changes + 500 new addresses), median of 5", $"{epochTimes[2].Cpu:N0} ms CPU in all (min {epochTimes[0].Cpu:N0}, max {epochTimes[^1].Cpu:N0}); {epochTimes[2].Wall:N0} ms wall");

        var existingOnly = Enumerable.Range(0, 1000).Select(i => random.Next(addressCount)).Distinct()
            .Select(i => new KeySetUpdate(Address(i), Keys(i + 31337))).ToList();
        var (cpu2, wall2) = await Measure.OnceAsync(() => directory.PublishEpochAsync(existingOnly, DateTimeOffset.FromUnixTimeMilliseconds(clock += 1000), default));
        Measure.Row($"publish an epoch of {existingOnly.Count:N0} key changes of existing addresses", $"{cpu2.TotalMilliseconds:N0} ms CPU; {wall2.TotalMilliseconds:N0} ms wall");

        // Lookup proofs: size and verification time, over random present addresses and some absent ones.
        var proofs = new List<(string Address, LookupProof Proof)>();
        TimeSpan lookupCpu = Measure.Cpu;
        for (int i = 0; i < 1000; i++)
        {
            string address = Address(random.Next(addressCount));
            proofs.Add((address, await directory.LookupAsync(address, default)));
        }

        double lookupMs = (Measure.Cpu - lookupCpu).TotalMilliseconds / 1000;
        var sizes = proofs.Select(p => p.Proof.ToBytes().Length).OrderBy(s => s).ToList();
        var keySetSizes = proofs.Select(p => p.Proof.Entry!.Keys.Encoded.Length).ToList();
        var depths = proofs.Select(p => p.Proof.Prefix.Copath.Count).ToList();
        Measure.Row("lookup proof size, present address (bytes: median / max)", $"{sizes[sizes.Count / 2]} / {sizes[^1]}, of which key set {keySetSizes[0]} and opening 32");
        Measure.Row("prefix-tree depth of a lookup (mean / max)", $"{depths.Average():F1} / {depths.Max()}");
        var absent = await directory.LookupAsync("nobody-here@example.org", default);
        Measure.Row("lookup proof size, absent address (bytes)", $"{absent.ToBytes().Length}");
        Measure.Row("server: answer a lookup (tree walk, in-memory store)", $"{lookupMs * 1000:N0} µs");

        foreach (var (address, proof) in proofs.Take(50))
        {
            if (!verifier.VerifyLookup(address, proof).IsValid)
            {
                throw new InvalidOperationException("benchmark proof did not verify");
            }
        }

        int rounds = 0;
        double verifyRate = Measure.OpsPerSecond(() =>
        {
            var (address, proof) = proofs[rounds++ % proofs.Count];
            if (!verifier.VerifyLookup(address, LookupProof.FromBytes(proof.ToBytes())).IsValid)
            {
                throw new InvalidOperationException("benchmark proof did not verify");
            }
        }, seconds: 3);
        Measure.Row("client: decode + verify a lookup proof (signature, VRF, prefix path)", $"{1e6 / verifyRate:N0} µs");
        var (address0, proof0) = proofs[0];
        Measure.Row("  of which: tree-head signature", $"{1e6 / Measure.OpsPerSecond(() => proof0.Head.VerifySignature(signingKey.PublicKey.Export(KeyBlobFormat.RawPublicKey))):N0} µs");
        byte[] vrfOut = new byte[64];
        byte[] alpha0 = TransparencyDirectory.VrfInput(address0);
        Measure.Row("  of which: VRF proof", $"{1e6 / Measure.OpsPerSecond(() => EcVrf.Verify(proof0.Head.VrfPublicKey.Span, alpha0, proof0.VrfProof.Span, vrfOut)):N0} µs");

        SignedTreeHead newest = (await directory.GetHeadAsync(null, default))!;
        SignedTreeHead first = (await directory.GetHeadAsync(0, default))!;
        ConsistencyProof consistency = await directory.ConsistencyAsync(0, newest.Epoch, default);
        double consistencyRate = Measure.OpsPerSecond(() =>
        {
            if (verifier.VerifyConsistency(first, newest, consistency) != TransparencyFailure.None)
            {
                throw new InvalidOperationException("consistency");
            }
        });
        Measure.Row($"client: verify consistency epoch 0 -> {newest.Epoch} (two signatures + {consistency.Hashes.Count} hashes)", $"{1e6 / consistencyRate:N0} µs");
        Console.WriteLine();
    }

    private static void MeasureVrfOptions()
    {
        Console.WriteLine("| VRF building block (one core) | result |");
        Console.WriteLine("|---|---|");
        using var vrf = EcVrfSecretKey.Generate(out _);
        byte[] alpha = "letterlock-kt-v1\0alice@example.org"u8.ToArray();
        byte[] proof = vrf.Prove(alpha);
        byte[] output = new byte[64];
        byte[] publicKey = vrf.PublicKey.ToArray();
        Measure.Row("ECVRF prove (libsodium constant-time scalar mults + own hash-to-curve)", $"{1e6 / Measure.OpsPerSecond(() => vrf.Prove(alpha)):N0} µs");
        Measure.Row("ECVRF verify as shipped (libsodium for U and V, own code only if it refuses a point)", $"{1e6 / Measure.OpsPerSecond(() => EcVrf.Verify(publicKey, alpha, proof, output)):N0} µs");
        Measure.Row("ECVRF encode_to_curve (try-and-increment, own decoding + cofactor clearing)", $"{1e6 / Measure.OpsPerSecond(() => EcVrf.EncodeToCurve(publicKey, alpha)):N0} µs");

        byte[] scalar = RandomNumberGenerator.GetBytes(32);
        scalar[31] &= 0x0f;
        byte[] point = new byte[32];
        Sodium.ScalarMultBase(scalar, point);
        byte[] result = new byte[32];
        EdwardsPoint p = EdwardsPoint.Decode(point)!.Value;
        byte[] half = [.. scalar[..16], .. new byte[16]];
        Measure.Row("variable-base scalar mult, libsodium crypto_scalarmult_ed25519_noclamp", $"{1e6 / Measure.OpsPerSecond(() => Sodium.ScalarMult(scalar, point, result)):N0} µs");
        Measure.Row("variable-base scalar mult, own variable-time", $"{1e6 / Measure.OpsPerSecond(() => p.Multiply(scalar)):N0} µs");
        Measure.Row("s*B - c*Y as libsodium calls (base mult + mult + sub)", $"{1e6 / Measure.OpsPerSecond(() => { Sodium.ScalarMultBase(scalar, result); Sodium.ScalarMult(half, point, result); Sodium.PointSub(result, point, result); }):N0} µs");
        Measure.Row("s*B - c*Y, own double-scalar mult (Straus)", $"{1e6 / Measure.OpsPerSecond(() => EdwardsPoint.DoubleScalarMultiply(scalar, EdwardsPoint.Base, half, p.Negate())):N0} µs");

        byte[] seed = RandomNumberGenerator.GetBytes(32);
        byte[] bcPublic = new byte[32];
        Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.GeneratePublicKey(seed, 0, bcPublic, 0);
        byte[] signature = new byte[64];
        Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Sign(seed, 0, alpha, 0, alpha.Length, signature, 0);
        Measure.Row("BouncyCastle Ed25519.Verify (its only public entry to point arithmetic: one double-scalar mult)", $"{1e6 / Measure.OpsPerSecond(() => Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Verify(signature, 0, bcPublic, 0, alpha, 0, alpha.Length)):N0} µs");
        using var nsecKey = Key.Create(SignatureAlgorithm.Ed25519);
        byte[] nsecSignature = SignatureAlgorithm.Ed25519.Sign(nsecKey, alpha);
        Measure.Row("NSec/libsodium Ed25519 verify (tree-head signature)", $"{1e6 / Measure.OpsPerSecond(() => SignatureAlgorithm.Ed25519.Verify(nsecKey.PublicKey, alpha, nsecSignature)):N0} µs");
        Console.WriteLine();
    }

    private static string Address(int i) => $"user{i}@example.org";

    private static KeySet Keys(int seed)
    {
        Span<byte> material = stackalloc byte[96];
        BitConverter.TryWriteBytes(material, seed);
        SHA512.HashData(material[..4], material[..64]);
        SHA256.HashData(material[..32], material[64..]);
        return new KeySet(material[..20], material[20..52], [material[52..84].ToArray()], revoked: false);
    }
}
