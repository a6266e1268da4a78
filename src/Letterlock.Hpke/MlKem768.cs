using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Kems;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Prng;
using Org.BouncyCastle.Security;

namespace Letterlock.Cryptography;

/// <summary>
/// ML-KEM-768 (FIPS 203) through BouncyCastle's implementation: the post-quantum KEM inside X-Wing and
/// the one the native protocol's prekeys use. A thin wrapper, so every caller gets the same key
/// format (the 64-byte seed d || z of FIPS 203 section 7.1 as the private key), the encapsulation-key
/// check of FIPS 203 section 7.2, and one error type.
/// </summary>
/// <remarks>
/// BouncyCastle is used rather than .NET's <c>MLKem</c>, which needs OpenSSL 3.5 (Debian 12 has 3.0),
/// and rather than a home-made one. It passes the C2SP/CCTV accumulated vectors
/// (tests/Letterlock.Hpke.Tests/MlKemVectorTests.cs).
/// </remarks>
public static class MlKem768
{
    /// <summary>Length of an encapsulation (public) key.</summary>
    public const int PublicKeyLength = 1184;

    /// <summary>Length of a ciphertext.</summary>
    public const int CiphertextLength = 1088;

    /// <summary>Length of the shared secret.</summary>
    public const int SharedSecretLength = 32;

    /// <summary>Length of the private key seed d || z.</summary>
    public const int SeedLength = 64;

    /// <summary>Length of the randomness m one encapsulation draws.</summary>
    internal const int EncapsulationRandomLength = 32;

    internal static MLKemParameters Parameters => MLKemParameters.ml_kem_768;

    /// <summary>
    /// ML-KEM.Encaps(ek): a fresh shared secret and its ciphertext for <paramref name="publicKey"/>.
    /// </summary>
    /// <exception cref="HpkeException">The key has the wrong length or fails the modulus check of FIPS 203
    /// section 7.2 (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static (byte[] Ciphertext, byte[] SharedSecret) Encapsulate(ReadOnlySpan<byte> publicKey)
    {
        var ciphertext = new byte[CiphertextLength];
        var secret = new byte[SharedSecretLength];
        Encapsulate(publicKey, ciphertext, secret, random: null);
        return (ciphertext, secret);
    }

    /// <summary>
    /// Encapsulates into caller buffers. <paramref name="random"/> supplies m for known-answer tests;
    /// null draws it from the operating system's CSPRNG.
    /// </summary>
    internal static void Encapsulate(ReadOnlySpan<byte> publicKey, Span<byte> ciphertext, Span<byte> secret, ReadOnlySpan<byte> random)
    {
        var key = ImportPublicKey(publicKey);
        var encapsulator = new MLKemEncapsulator(Parameters);
        if (random.IsEmpty)
        {
            encapsulator.Init(key);
        }
        else
        {
            if (random.Length != EncapsulationRandomLength)
            {
                throw new ArgumentException("ML-KEM encapsulation randomness is 32 bytes.", nameof(random));
            }

            encapsulator.Init(new ParametersWithRandom(key, new FixedRandom(random)));
        }

        encapsulator.Encapsulate(ciphertext, secret);
    }

    /// <summary>Checks length and modulus (FIPS 203, 7.2) and imports the key.</summary>
    internal static MLKemPublicKeyParameters ImportPublicKey(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != PublicKeyLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An ML-KEM-768 encapsulation key must be 1184 bytes.");
        }

        try
        {
            return MLKemPublicKeyParameters.FromEncoding(Parameters, publicKey.ToArray());
        }
        catch (ArgumentException e)
        {
            throw new HpkeException(HpkeError.InvalidKey, "The ML-KEM-768 encapsulation key fails the modulus check.", e);
        }
    }

    /// <summary>
    /// Randomness that hands out fixed bytes, once: BouncyCastle's encapsulator draws m from its
    /// SecureRandom, and known-answer tests (ML-KEM, X-Wing's EncapsulateDerand) fix m.
    /// </summary>
    private sealed class FixedRandom(ReadOnlySpan<byte> bytes) : SecureRandom(new FixedGenerator(bytes));

    private sealed class FixedGenerator : IRandomGenerator
    {
        private readonly byte[] _bytes;
        private int _used;

        public FixedGenerator(ReadOnlySpan<byte> bytes) => _bytes = bytes.ToArray();

        public void AddSeedMaterial(byte[] seed)
        {
        }

        public void AddSeedMaterial(ReadOnlySpan<byte> seed)
        {
        }

        public void AddSeedMaterial(long seed)
        {
        }

        public void NextBytes(byte[] bytes) => NextBytes(bytes.AsSpan());

        public void NextBytes(byte[] bytes, int start, int len) => NextBytes(bytes.AsSpan(start, len));

        public void NextBytes(Span<byte> bytes)
        {
            if (bytes.Length > _bytes.Length - _used)
            {
                throw new InvalidOperationException("The fixed randomness is used up.");
            }

            _bytes.AsSpan(_used, bytes.Length).CopyTo(bytes);
            CryptographicOperations.ZeroMemory(_bytes.AsSpan(_used, bytes.Length));
            _used += bytes.Length;
        }
    }
}

/// <summary>
/// An ML-KEM-768 key pair kept as its 64-byte seed d || z (FIPS 203, 7.1: the seed is the preferred
/// private key format; the expanded key is rebuilt from it). Dispose it to wipe the seed.
/// </summary>
public sealed class MlKem768KeyPair : IDisposable
{
    private readonly byte[] _seed;
    private readonly byte[] _publicKey;
    private readonly MLKemDecapsulator _decapsulator;
    private bool _disposed;

    private MlKem768KeyPair(byte[] seed)
    {
        _seed = seed;
        var privateKey = MLKemPrivateKeyParameters.FromSeed(MlKem768.Parameters, seed, MLKemPrivateKeyParameters.Format.SeedOnly);
        _publicKey = privateKey.GetPublicKeyEncoded();
        _decapsulator = new MLKemDecapsulator(MlKem768.Parameters);
        _decapsulator.Init(privateKey);
    }

    /// <summary>The 1184-byte encapsulation key.</summary>
    public ReadOnlyMemory<byte> PublicKey => _publicKey;

    /// <summary>The 64-byte seed d || z, the private key's storage form.</summary>
    /// <exception cref="ObjectDisposedException">The key pair was disposed.</exception>
    public ReadOnlyMemory<byte> Seed
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _seed;
        }
    }

    /// <summary>ML-KEM.KeyGen: a fresh key pair from the operating system's CSPRNG.</summary>
    public static MlKem768KeyPair Generate() => new(RandomNumberGenerator.GetBytes(MlKem768.SeedLength));

    /// <summary>ML-KEM.KeyGen_internal(d, z) of a stored 64-byte seed.</summary>
    /// <exception cref="HpkeException">The seed is not 64 bytes (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static MlKem768KeyPair FromSeed(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != MlKem768.SeedLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An ML-KEM-768 seed must be 64 bytes.");
        }

        return new MlKem768KeyPair(seed.ToArray());
    }

    /// <summary>
    /// ML-KEM.Decaps(dk, c) into <paramref name="sharedSecret"/> (32 bytes). A ciphertext that was not made
    /// for this key yields an unrelated pseudo-random secret (implicit rejection), never an error.
    /// </summary>
    /// <exception cref="HpkeException">The ciphertext is not 1088 bytes (<see cref="HpkeError.InvalidKey"/>).</exception>
    public void Decapsulate(ReadOnlySpan<byte> ciphertext, Span<byte> sharedSecret)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (ciphertext.Length != MlKem768.CiphertextLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An ML-KEM-768 ciphertext must be 1088 bytes.");
        }

        if (sharedSecret.Length != MlKem768.SharedSecretLength)
        {
            throw new ArgumentException("The shared secret buffer must be 32 bytes.", nameof(sharedSecret));
        }

        _decapsulator.Decapsulate(ciphertext, sharedSecret);
    }

    /// <summary>Wipes the seed. (BouncyCastle's expanded key object cannot be wiped; it is dropped.)</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            CryptographicOperations.ZeroMemory(_seed);
            _disposed = true;
        }
    }
}
