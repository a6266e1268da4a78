using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;

namespace Letterlock.OpenPgp;

/// <summary>
/// The fast path for encrypting to Cv25519 (legacy ECDH, algorithm 18) keys: X25519 from
/// libsodium (the native library NSec ships, also the source of randomness here) and AES/SHA-1 from .NET
/// (OpenSSL; managed up to <see cref="OpenPgpOptions.ManagedCryptoThreshold"/>), instead of
/// BouncyCastle's managed curve arithmetic, which was most of the cost of a 10 KiB message.
/// Writes exactly what BouncyCastle writes: a v3 PKESK per recipient (RFC 9580 5.1.6, with the
/// RFC 6637 KDF and AES key wrap) and a SEIPDv1 packet with AES-256 and MDC (RFC 9580 5.13.1).
/// Anything else (RSA recipients, passwords, other KDF parameters) takes BouncyCastle's path.
/// </summary>
internal static partial class Curve25519Encryptor
{
    // 1.3.6.1.4.1.3029.1.5.1 (Curve25519, legacy ECDH)
    private static readonly byte[] Curve25519Oid = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01];
    private static readonly byte[] AnonymousSender = "Anonymous Sender    "u8.ToArray();
    private static readonly bool Available = Initialise();

    /// <summary>True when every recipient key is Cv25519 with KDF parameters we implement.</summary>
    public static bool CanEncryptTo(IReadOnlyList<PgpPublicKey> keys) =>
        Available && keys.Count > 0 && keys.All(k =>
            k.Algorithm == PublicKeyAlgorithmTag.ECDH && k.PublicKeyPacket.Key is ECDHPublicBcpgKey ecdh
            && ecdh.CurveOid.GetEncoded().AsSpan(2).SequenceEqual(Curve25519Oid)
            && ecdh.HashAlgorithm is HashAlgorithmTag.Sha256 or HashAlgorithmTag.Sha384 or HashAlgorithmTag.Sha512
            && ecdh.SymmetricKeyAlgorithm is SymmetricKeyAlgorithmTag.Aes128 or SymmetricKeyAlgorithmTag.Aes192 or SymmetricKeyAlgorithmTag.Aes256);

    public static byte[] Encrypt(ReadOnlySpan<byte> inner, IReadOnlyList<PgpPublicKey> recipients, int managedCryptoThreshold)
    {
        Span<byte> sessionKey = stackalloc byte[32];
        Random(sessionKey);
        try
        {
            using var output = new MemoryStream(inner.Length + 200 * recipients.Count + 64);
            foreach (var recipient in recipients)
            {
                WritePacket(output, 1, Pkesk(recipient, sessionKey));
            }

            WritePacket(output, 18, Seipd(inner, sessionKey, managedCryptoThreshold));
            return output.ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(sessionKey);
        }
    }

    // PKESK v3 for ECDH: version, key ID, algorithm, MPI(0x40 || ephemeral public), length, AESKW(KEK, m)
    private static byte[] Pkesk(PgpPublicKey recipient, ReadOnlySpan<byte> sessionKey)
    {
        var ecdh = (ECDHPublicBcpgKey)recipient.PublicKeyPacket.Key;
        var point = ecdh.EncodedPoint.ToByteArrayUnsigned();
        if (point.Length != 33 || point[0] != 0x40)
        {
            throw new KeyNotUsableException("the Curve25519 key has a malformed public point");
        }

        Span<byte> ephemeralSecret = stackalloc byte[32];
        Span<byte> ephemeralPublic = stackalloc byte[32];
        Span<byte> shared = stackalloc byte[32];
        Random(ephemeralSecret);
        try
        {
            if (ScalarMultBase(ephemeralPublic, ephemeralSecret) != 0 || ScalarMult(shared, ephemeralSecret, point.AsSpan(1)) != 0)
            {
                throw new KeyNotUsableException("the Curve25519 key is not usable (small-order point)");
            }

            // Param = curve OID || 18 || KDF params || "Anonymous Sender    " || recipient fingerprint (RFC 6637, 8)
            byte[] param = [(byte)Curve25519Oid.Length, .. Curve25519Oid, 18, 3, 1, (byte)ecdh.HashAlgorithm, (byte)ecdh.SymmetricKeyAlgorithm,
                .. AnonymousSender, .. recipient.GetFingerprint()];
            byte[] kdfInput = [0, 0, 0, 1, .. shared, .. param];
            var digest = ecdh.HashAlgorithm switch
            {
                HashAlgorithmTag.Sha256 => SmallData.ShortHash(256, kdfInput),
                HashAlgorithmTag.Sha384 => SmallData.ShortHash(384, kdfInput),
                _ => SmallData.ShortHash(512, kdfInput),
            };
            var kekLength = ecdh.SymmetricKeyAlgorithm switch
            {
                SymmetricKeyAlgorithmTag.Aes128 => 16,
                SymmetricKeyAlgorithmTag.Aes192 => 24,
                _ => 32,
            };

            // m = algorithm || session key || checksum, PKCS#5-padded to a multiple of 8 (RFC 6637, 8)
            var checksum = 0;
            foreach (var b in sessionKey)
            {
                checksum = (checksum + b) & 0xFFFF;
            }

            byte[] m = [(byte)SymmetricKeyAlgorithmTag.Aes256, .. sessionKey, (byte)(checksum >> 8), (byte)checksum, 5, 5, 5, 5, 5];
            var wrap = new Rfc3394WrapEngine(new AesEngine());
            wrap.Init(true, new KeyParameter(digest, 0, kekLength));
            var wrapped = wrap.Wrap(m, 0, m.Length);
            CryptographicOperations.ZeroMemory(m);
            CryptographicOperations.ZeroMemory(digest);
            CryptographicOperations.ZeroMemory(kdfInput);

            var keyId = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(keyId, recipient.KeyId);
            return [3, .. keyId, 18, 0x01, 0x07, 0x40, .. ephemeralPublic, (byte)wrapped.Length, .. wrapped];
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ephemeralSecret);
            CryptographicOperations.ZeroMemory(shared);
        }
    }

    // SEIPDv1: version 1 || CFB(prefix || repeat || inner || 0xD3 0x14 || SHA-1(...)), zero IV, no resync.
    private static byte[] Seipd(ReadOnlySpan<byte> inner, ReadOnlySpan<byte> sessionKey, int managedCryptoThreshold)
    {
        var length = 18 + inner.Length + 22;
        var managed = length <= managedCryptoThreshold;
        var plain = new byte[(length + 15) / 16 * 16];
        Random(plain.AsSpan(0, 16));
        plain[16] = plain[14];
        plain[17] = plain[15];
        inner.CopyTo(plain.AsSpan(18));
        plain[18 + inner.Length] = 0xD3;
        plain[19 + inner.Length] = 0x14;
        SmallData.Sha1(plain.AsSpan(0, 20 + inner.Length), plain.AsSpan(20 + inner.Length, 20), managed);
        // CFB is a stream mode: encrypting zero padding to a whole block and dropping it is exact.
        var encrypted = SmallData.AesCfbEncrypt(sessionKey, plain, managed);
        CryptographicOperations.ZeroMemory(plain);
        var body = new byte[1 + length];
        body[0] = 1;
        encrypted.AsSpan(0, length).CopyTo(body.AsSpan(1));
        return body;
    }

    // New-format packet header (RFC 9580, 4.2.1): one, two or five length octets.
    private static void WritePacket(Stream output, int tag, byte[] body)
    {
        output.WriteByte((byte)(0xC0 | tag));
        var length = body.Length;
        if (length < 192)
        {
            output.WriteByte((byte)length);
        }
        else if (length < 8384)
        {
            output.WriteByte((byte)(((length - 192) >> 8) + 192));
            output.WriteByte((byte)(length - 192));
        }
        else
        {
            Span<byte> five = [0xFF, 0, 0, 0, 0];
            BinaryPrimitives.WriteInt32BigEndian(five[1..], length);
            output.Write(five);
        }

        output.Write(body);
    }

    private static bool Initialise()
    {
        try
        {
            return SodiumInit() >= 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return false; // no libsodium for this platform: BouncyCastle's path still works
        }
    }

    // libsodium's CSPRNG (getrandom(2) on Linux), already loaded here: .NET's RandomNumberGenerator would load
    // OpenSSL, whose initialisation costs a short-lived process (letterlock-sop) more than the whole encryption.
    private static unsafe void Random(Span<byte> destination)
    {
        fixed (byte* buffer = destination)
        {
            RandomBytes(buffer, (nuint)destination.Length);
        }
    }

    private static unsafe int ScalarMultBase(Span<byte> publicKey, ReadOnlySpan<byte> secret)
    {
        fixed (byte* q = publicKey)
        fixed (byte* n = secret)
        {
            return CryptoScalarMultBase(q, n);
        }
    }

    private static unsafe int ScalarMult(Span<byte> shared, ReadOnlySpan<byte> secret, ReadOnlySpan<byte> publicKey)
    {
        fixed (byte* q = shared)
        fixed (byte* n = secret)
        fixed (byte* p = publicKey)
        {
            return CryptoScalarMult(q, n, p);
        }
    }

    [LibraryImport("libsodium", EntryPoint = "randombytes_buf")]
    private static unsafe partial void RandomBytes(byte* buffer, nuint size);

    [LibraryImport("libsodium", EntryPoint = "sodium_init")]
    private static partial int SodiumInit();

    [LibraryImport("libsodium", EntryPoint = "crypto_scalarmult_base")]
    private static unsafe partial int CryptoScalarMultBase(byte* q, byte* n);

    [LibraryImport("libsodium", EntryPoint = "crypto_scalarmult")]
    private static unsafe partial int CryptoScalarMult(byte* q, byte* n, byte* p);
}
