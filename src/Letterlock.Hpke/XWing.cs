using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Digests;

namespace Letterlock.Cryptography;

/// <summary>
/// X-Wing, the hybrid post-quantum KEM of draft-connolly-cfrg-xwing-kem (X25519 + ML-KEM-768 with
/// a SHA3-256 combiner; HPKE KEM id 0x647A). Used for inbox keys (the HPKE envelope) and by the
/// native protocol. Secure if either X25519 or ML-KEM-768 holds.
/// <code>
/// def Combiner(ss_M, ss_X, ct_X, pk_X):
///   return SHA3-256(concat(ss_M, ss_X, ct_X, pk_X, XWingLabel))   # XWingLabel = 5c2e2f2f5e5c
///
/// def Encapsulate(pk):                        def Decapsulate(ct, sk):
///   pk_M = pk[0:1184]; pk_X = pk[1184:1216]     (sk_M, sk_X, pk_M, pk_X) = expandDecapsulationKey(sk)
///   ek_X = random(32)                           ct_M = ct[0:1088]; ct_X = ct[1088:1120]
///   ct_X = X25519(ek_X, X25519_BASE)            ss_M = ML-KEM-768.Decapsulate(ct_M, sk_M)
///   ss_X = X25519(ek_X, pk_X)                   ss_X = X25519(sk_X, ct_X)
///   (ss_M, ct_M) = ML-KEM-768.Encaps(pk_M)      return Combiner(ss_M, ss_X, ct_X, pk_X)
///   return (Combiner(ss_M, ss_X, ct_X, pk_X), concat(ct_M, ct_X))
/// </code>
/// </summary>
/// <remarks>
/// SHA3-256 and SHAKE256 are BouncyCastle's managed ones: .NET's need platform support that macOS
/// lacks, and a client runs everywhere. One deliberate deviation: X25519 refuses a small-order
/// <c>pk_X</c> or <c>ct_X</c> (an all-zero DH output, see <see cref="X25519.SharedSecret"/>) with
/// <see cref="HpkeError.InvalidKey"/> where the draft would compute on; no honest key or ciphertext
/// contains one.
/// </remarks>
public static class XWing
{
    /// <summary>HPKE KEM identifier of X-Wing (draft section 7).</summary>
    public const ushort KemId = 0x647A;

    /// <summary>Length of an encapsulation (public) key: pk_M || pk_X (Npk).</summary>
    public const int PublicKeyLength = MlKem768.PublicKeyLength + X25519.KeyLength;

    /// <summary>Length of a decapsulation (private) key: the 32-byte seed (Nsk).</summary>
    public const int PrivateKeyLength = 32;

    /// <summary>Length of a ciphertext: ct_M || ct_X (Nenc).</summary>
    public const int CiphertextLength = MlKem768.CiphertextLength + X25519.KeyLength;

    /// <summary>Length of the shared secret (Nsecret).</summary>
    public const int SharedSecretLength = 32;

    /// <summary>Length of the randomness of one encapsulation: m for ML-KEM, then ek_X.</summary>
    internal const int EncapsulationSeedLength = 64;

    private static ReadOnlySpan<byte> Label => "\\.//^\\"u8;

    /// <summary>Encapsulate(pk): a fresh shared secret and its 1120-byte ciphertext.</summary>
    /// <exception cref="HpkeException">The key has the wrong length, its ML-KEM part fails the modulus check,
    /// or its X25519 part is a small-order point (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static (byte[] Ciphertext, byte[] SharedSecret) Encapsulate(ReadOnlySpan<byte> publicKey)
    {
        var ciphertext = new byte[CiphertextLength];
        var secret = new byte[SharedSecretLength];
        Span<byte> seed = stackalloc byte[EncapsulationSeedLength];
        try
        {
            RandomNumberGenerator.Fill(seed);
            EncapsulateDerand(publicKey, seed, ciphertext, secret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }

        return (ciphertext, secret);
    }

    /// <summary>
    /// EncapsulateDerand(pk, eseed) of draft section 5.4.1, for known-answer tests and for callers
    /// that draw the 64 bytes of randomness themselves.
    /// </summary>
    internal static void EncapsulateDerand(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> seed, Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        if (publicKey.Length != PublicKeyLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An X-Wing encapsulation key must be 1216 bytes.");
        }

        if (seed.Length != EncapsulationSeedLength || ciphertext.Length != CiphertextLength || sharedSecret.Length != SharedSecretLength)
        {
            throw new ArgumentException("X-Wing encapsulation needs a 64-byte seed, a 1120-byte ciphertext and a 32-byte secret buffer.");
        }

        var publicM = publicKey[..MlKem768.PublicKeyLength];
        var publicX = publicKey[MlKem768.PublicKeyLength..];
        var cipherM = ciphertext[..MlKem768.CiphertextLength];
        var cipherX = ciphertext[MlKem768.CiphertextLength..];
        Span<byte> secretM = stackalloc byte[MlKem768.SharedSecretLength];
        Span<byte> secretX = stackalloc byte[X25519.KeyLength];
        try
        {
            var ephemeral = seed[32..];
            X25519.PublicKeyFromPrivate(ephemeral, cipherX);
            X25519.SharedSecret(ephemeral, publicX, secretX);
            MlKem768.Encapsulate(publicM, cipherM, secretM, seed[..32]);
            Combine(secretM, secretX, cipherX, publicX, sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secretM);
            CryptographicOperations.ZeroMemory(secretX);
        }
    }

    /// <summary>Combiner(ss_M, ss_X, ct_X, pk_X) of draft section 5.3.</summary>
    internal static void Combine(ReadOnlySpan<byte> secretM, ReadOnlySpan<byte> secretX, ReadOnlySpan<byte> cipherX, ReadOnlySpan<byte> publicX, Span<byte> output)
    {
        var sha3 = new Sha3Digest(256);
        sha3.BlockUpdate(secretM);
        sha3.BlockUpdate(secretX);
        sha3.BlockUpdate(cipherX);
        sha3.BlockUpdate(publicX);
        sha3.BlockUpdate(Label);
        sha3.DoFinal(output);
    }
}

/// <summary>
/// An X-Wing key pair. The private key is the 32-byte seed of the draft (section 5.2); the ML-KEM and
/// X25519 keys it expands to are kept in memory so repeated decapsulations skip the expansion (the
/// draft's section 5.5.1 allows that and forbids exporting the expanded form, which this type never
/// does). Dispose it to wipe the secrets.
/// </summary>
public sealed class XWingKeyPair : IDisposable
{
    private readonly byte[] _seed;
    private readonly byte[] _privateX;
    private readonly byte[] _publicKey;
    private readonly MlKem768KeyPair _kem;
    private bool _disposed;

    private XWingKeyPair(byte[] seed)
    {
        _seed = seed;

        // expandDecapsulationKey(sk): expanded = SHAKE256(sk, 96 * 8); ML-KEM from expanded[0:64], X25519 from expanded[64:96]
        Span<byte> expanded = stackalloc byte[96];
        try
        {
            var shake = new ShakeDigest(256);
            shake.BlockUpdate(seed);
            shake.OutputFinal(expanded);
            _kem = MlKem768KeyPair.FromSeed(expanded[..64]);
            _privateX = expanded[64..].ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(expanded);
        }

        _publicKey = new byte[XWing.PublicKeyLength];
        _kem.PublicKey.Span.CopyTo(_publicKey);
        X25519.PublicKeyFromPrivate(_privateX, _publicKey.AsSpan(MlKem768.PublicKeyLength));
    }

    /// <summary>The 1216-byte encapsulation key pk_M || pk_X.</summary>
    public ReadOnlyMemory<byte> PublicKey => _publicKey;

    /// <summary>The 32-byte decapsulation key (the seed), the only form in which it is stored.</summary>
    /// <exception cref="ObjectDisposedException">The key pair was disposed.</exception>
    public ReadOnlyMemory<byte> PrivateKey
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _seed;
        }
    }

    /// <summary>GenerateKeyPair(): a fresh key pair from the operating system's CSPRNG.</summary>
    public static XWingKeyPair Generate() => new(RandomNumberGenerator.GetBytes(XWing.PrivateKeyLength));

    /// <summary>GenerateKeyPairDerand(sk): the key pair of a stored 32-byte decapsulation key.</summary>
    /// <exception cref="HpkeException">The key is not 32 bytes (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static XWingKeyPair FromPrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != XWing.PrivateKeyLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An X-Wing decapsulation key must be 32 bytes.");
        }

        return new XWingKeyPair(privateKey.ToArray());
    }

    /// <summary>
    /// DeriveKeyPair(ikm) of the draft's HPKE section 5.6: <c>sk = SHAKE256(ikm, 32 * 8)</c>, then
    /// GenerateKeyPairDerand(sk).
    /// </summary>
    public static XWingKeyPair Derive(ReadOnlySpan<byte> inputKeyingMaterial)
    {
        var seed = new byte[XWing.PrivateKeyLength];
        var shake = new ShakeDigest(256);
        shake.BlockUpdate(inputKeyingMaterial);
        shake.OutputFinal(seed);
        return new XWingKeyPair(seed);
    }

    /// <summary>Decapsulate(ct, sk) into <paramref name="sharedSecret"/> (32 bytes).</summary>
    /// <exception cref="HpkeException">The ciphertext is not 1120 bytes, or its X25519 part is a small-order
    /// point (<see cref="HpkeError.InvalidKey"/>). A forged ML-KEM part yields a wrong secret, not an error.</exception>
    public void Decapsulate(ReadOnlySpan<byte> ciphertext, Span<byte> sharedSecret)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ciphertext.Length != XWing.CiphertextLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An X-Wing ciphertext must be 1120 bytes.");
        }

        if (sharedSecret.Length != XWing.SharedSecretLength)
        {
            throw new ArgumentException("The shared secret buffer must be 32 bytes.", nameof(sharedSecret));
        }

        var cipherX = ciphertext[MlKem768.CiphertextLength..];
        Span<byte> secretM = stackalloc byte[MlKem768.SharedSecretLength];
        Span<byte> secretX = stackalloc byte[X25519.KeyLength];
        try
        {
            _kem.Decapsulate(ciphertext[..MlKem768.CiphertextLength], secretM);
            X25519.SharedSecret(_privateX, cipherX, secretX);
            XWing.Combine(secretM, secretX, cipherX, _publicKey.AsSpan(MlKem768.PublicKeyLength), sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secretM);
            CryptographicOperations.ZeroMemory(secretX);
        }
    }

    /// <summary>Wipes the seed and the expanded private keys.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            CryptographicOperations.ZeroMemory(_seed);
            CryptographicOperations.ZeroMemory(_privateX);
            _kem.Dispose();
            _disposed = true;
        }
    }
}
