using System.Security.Cryptography;
using Letterlock.Cryptography;

namespace Letterlock.Bench.Crypto;

/// <summary>
/// HPKE: the X25519 backends (libsodium through P/Invoke vs BouncyCastle), setup cost, and sealed
/// envelope throughput against the raw AEADs measured in the same run.
/// </summary>
internal static class HpkeBenchmark
{
    public static void Run()
    {
        Console.WriteLine("## HPKE (one core)");
        Console.WriteLine();
        Console.WriteLine("| operation | result |");
        Console.WriteLine("|---|---|");

        using var recipient = HpkeKeyPair.Generate();
        byte[] sk = recipient.PrivateKey.ToArray();
        byte[] pk = recipient.PublicKey.ToArray();
        var shared = new byte[32];
        Measure.Row("X25519 DH, libsodium crypto_scalarmult (P/Invoke)", $"{Measure.OpsPerSecond(() => X25519.SharedSecret(sk, pk, shared)):N0} /s");
        Measure.Row("X25519 DH, BouncyCastle X25519.ScalarMult", $"{Measure.OpsPerSecond(() => Org.BouncyCastle.Math.EC.Rfc7748.X25519.ScalarMult(sk, 0, pk, 0, shared, 0)):N0} /s");
        Measure.Row("HPKE SetupBaseSender (keygen + 1 DH + KDF)", $"{Measure.OpsPerSecond(() => Hpke.SetupBaseSender(pk, "bench"u8).Context.Dispose()):N0} /s");
        var (enc, ctx) = Hpke.SetupBaseSender(pk, "bench"u8);
        ctx.Dispose();
        Measure.Row("HPKE SetupBaseRecipient (2 scalar mults + KDF)", $"{Measure.OpsPerSecond(() => Hpke.SetupBaseRecipient(enc, sk, "bench"u8).Dispose()):N0} /s");

        Console.WriteLine();
        Console.WriteLine("| AEAD / envelope | 16 KiB | 64 KiB | 10 KiB message | 1 MiB message | 64 MiB message |");
        Console.WriteLine("|---|---|---|---|---|---|");
        byte[] key = RandomNumberGenerator.GetBytes(32);
        byte[] nonce = new byte[12];
        byte[] tag = new byte[16];
        string Raw(Func<int, Action> make) =>
            $"{Measure.MegabytesPerSecond(make(16 * 1024), 16 * 1024):N0} MB/s | {Measure.MegabytesPerSecond(make(65536), 65536):N0} MB/s";

        using (var aes = new AesGcm(key, 16))
        {
            Measure.Row("AES-256-GCM (.NET/OpenSSL), raw", Raw(n => { var p = new byte[n]; var c = new byte[n]; return () => aes.Encrypt(nonce, p, c, tag); }), "", "", "");
        }

        using (var chacha = new ChaCha20Poly1305(key))
        {
            Measure.Row("ChaCha20-Poly1305 (.NET/OpenSSL), raw", Raw(n => { var p = new byte[n]; var c = new byte[n]; return () => chacha.Encrypt(nonce, p, c, tag); }), "", "", "");
        }

        var nsecAlg = NSec.Cryptography.AeadAlgorithm.ChaCha20Poly1305;
        using (var nsecKey = NSec.Cryptography.Key.Import(nsecAlg, key, NSec.Cryptography.KeyBlobFormat.RawSymmetricKey))
        {
            Measure.Row("ChaCha20-Poly1305 (NSec/libsodium), raw", Raw(n => { var p = new byte[n]; var c = new byte[n + 16]; return () => nsecAlg.Encrypt(nsecKey, nonce, default, p, c); }), "", "", "");
        }

        string Envelope(Func<int, Action> make) => string.Join(" | ", new[] { 10 * 1024, 1 << 20, 64 << 20 }
            .Select(n => $"{Measure.MegabytesPerSecond(make(n), n, n > (1 << 20) ? 4 : 1.5):N0} MB/s"));

        Measure.Row("HpkeSealingStream (setup + seal + write to memory)", "", "", Envelope(n =>
        {
            byte[] message = RandomNumberGenerator.GetBytes(n);
            var output = new MemoryStream(new byte[HpkeEnvelope.SealedLength(n)]);
            return () =>
            {
                output.Position = 0;
                using var sealer = HpkeSealingStream.Create(output, pk, "bench"u8, leaveOpen: true);
                sealer.Write(message);
            };
        }));
        Measure.Row("HpkeOpeningStream (setup + open + read to end)", "", "", Envelope(n =>
        {
            byte[] message = RandomNumberGenerator.GetBytes(n);
            var sealedStream = new MemoryStream();
            using (var sealer = HpkeSealingStream.Create(sealedStream, pk, "bench"u8, leaveOpen: true))
            {
                sealer.Write(message);
            }

            byte[] envelope = sealedStream.ToArray();
            byte[] buffer = new byte[65536];
            return () =>
            {
                using var opener = HpkeOpeningStream.Open(new MemoryStream(envelope, writable: false), sk, "bench"u8);
                while (opener.Read(buffer) > 0)
                {
                }
            };
        }));
        Console.WriteLine();
    }
}
