using System.Security.Cryptography;
using Letterlock.Cryptography;

namespace Letterlock.Bench.Crypto;

/// <summary>
/// The post-quantum KEMs: ML-KEM-768 (BouncyCastle) and X-Wing, and what the X-Wing inbox key costs the MX and
/// the client per message against the X25519 one, measured in the same run.
/// </summary>
internal static class XWingBenchmark
{
    public static void Run()
    {
        Console.WriteLine("## X-Wing and ML-KEM-768 (one core)");
        Console.WriteLine();
        Console.WriteLine("| operation | result |");
        Console.WriteLine("|---|---|");

        using var kem = MlKem768KeyPair.Generate();
        var (mlCiphertext, _) = MlKem768.Encapsulate(kem.PublicKey.Span);
        var secret = new byte[32];
        var seed = RandomNumberGenerator.GetBytes(64);
        Measure.Row("ML-KEM-768 key pair from seed (BouncyCastle)", $"{Measure.OpsPerSecond(() => MlKem768KeyPair.FromSeed(seed).Dispose()):N0} /s");
        Measure.Row("ML-KEM-768 encapsulate (incl. modulus check)", $"{Measure.OpsPerSecond(() => MlKem768.Encapsulate(kem.PublicKey.Span)):N0} /s");
        Measure.Row("ML-KEM-768 decapsulate", $"{Measure.OpsPerSecond(() => kem.Decapsulate(mlCiphertext, secret)):N0} /s");

        using var xwing = XWingKeyPair.Generate();
        byte[] pk = xwing.PublicKey.ToArray();
        byte[] sk = xwing.PrivateKey.ToArray();
        var (ciphertext, _) = XWing.Encapsulate(pk);
        Measure.Row("X-Wing key pair from its 32-byte key (SHAKE256 + ML-KEM keygen + X25519)", $"{Measure.OpsPerSecond(() => XWingKeyPair.FromPrivateKey(sk).Dispose()):N0} /s");
        Measure.Row("X-Wing encapsulate", $"{Measure.OpsPerSecond(() => XWing.Encapsulate(pk)):N0} /s");
        Measure.Row("X-Wing decapsulate (expanded key kept)", $"{Measure.OpsPerSecond(() => xwing.Decapsulate(ciphertext, secret)):N0} /s");

        using var legacy = HpkeKeyPair.Generate();
        byte[] legacyPk = legacy.PublicKey.ToArray();
        byte[] legacySk = legacy.PrivateKey.ToArray();
        foreach (var (name, publicKey, privateKey) in new[] { ("X25519", legacyPk, legacySk), ("X-Wing", pk, sk) })
        {
            byte[] message = RandomNumberGenerator.GetBytes(10 * 1024);
            var output = new MemoryStream();
            Measure.Row($"inbox envelope, 10 KiB, {name}: seal (MX)", $"{Measure.OpsPerSecond(() =>
            {
                output.Position = 0;
                using var sealer = HpkeSealingStream.Create(output, publicKey, "bench"u8, leaveOpen: true);
                sealer.Write(message);
            }):N0} /s");
            byte[] envelope = output.ToArray()[..(int)output.Position];
            byte[] buffer = new byte[16 * 1024];
            Measure.Row($"inbox envelope, 10 KiB, {name}: open (client, key from storage)", $"{Measure.OpsPerSecond(() =>
            {
                using var opener = HpkeOpeningStream.Open(new MemoryStream(envelope, writable: false), privateKey, "bench"u8);
                while (opener.Read(buffer) > 0)
                {
                }
            }):N0} /s");
            Measure.Row($"inbox envelope, 10 KiB, {name}: size", $"{envelope.Length:N0} bytes");
        }

        Console.WriteLine();
    }
}
