using System.Security.Cryptography;

namespace Letterlock.Cryptography;

/// <summary>
/// An X25519 key pair for DHKEM(X25519, HKDF-SHA256): 32-byte public and private keys in the
/// RFC 7748 encoding. Dispose it to wipe the private key from memory.
/// </summary>
public sealed class HpkeKeyPair : IDisposable
{
    private readonly byte[] _privateKey;
    private readonly byte[] _publicKey;
    private bool _disposed;

    private HpkeKeyPair(byte[] privateKey)
    {
        _privateKey = privateKey;
        _publicKey = new byte[X25519.KeyLength];
        X25519.PublicKeyFromPrivate(_privateKey, _publicKey);
    }

    /// <summary>The 32-byte public key (SerializePublicKey).</summary>
    public ReadOnlyMemory<byte> PublicKey => _publicKey;

    /// <summary>The 32-byte private key (SerializePrivateKey).</summary>
    /// <exception cref="ObjectDisposedException">The key pair was disposed and its private key wiped.</exception>
    public ReadOnlyMemory<byte> PrivateKey
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _privateKey;
        }
    }

    /// <summary>Generates a fresh key pair from the operating system's CSPRNG.</summary>
    public static HpkeKeyPair Generate()
    {
        var privateKey = new byte[X25519.KeyLength];
        RandomNumberGenerator.Fill(privateKey);
        return new HpkeKeyPair(privateKey);
    }

    /// <summary>Rebuilds the key pair of a stored 32-byte private key (DeserializePrivateKey).</summary>
    /// <exception cref="HpkeException">The key is not 32 bytes (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static HpkeKeyPair FromPrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != X25519.KeyLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An X25519 private key must be 32 bytes.");
        }

        return new HpkeKeyPair(privateKey.ToArray());
    }

    /// <summary>
    /// DeriveKeyPair(ikm) of RFC 9180 section 7.1.3: a deterministic key pair from input keying
    /// material with at least 32 bytes of entropy.
    /// <code>
    /// def DeriveKeyPair(ikm):
    ///   dkp_prk = LabeledExtract("", "dkp_prk", ikm)
    ///   sk = LabeledExpand(dkp_prk, "sk", "", Nsk)
    ///   return (sk, pk(sk))
    /// </code>
    /// </summary>
    public static HpkeKeyPair Derive(ReadOnlySpan<byte> inputKeyingMaterial)
    {
        Span<byte> prk = stackalloc byte[HpkeKdf.HashLength];
        var privateKey = new byte[X25519.KeyLength];
        try
        {
            HpkeKdf.LabeledExtract(Hpke.KemSuiteId, [], "dkp_prk"u8, inputKeyingMaterial, prk);
            HpkeKdf.LabeledExpand(Hpke.KemSuiteId, prk, "sk"u8, [], privateKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(prk);
        }

        return new HpkeKeyPair(privateKey);
    }

    /// <summary>Wipes the private key.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            CryptographicOperations.ZeroMemory(_privateKey);
            _disposed = true;
        }
    }
}
