using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Opaque;

/// <summary>
/// The server's long-term AKE key pair (server_private_key, server_public_key of RFC 9807, section 3.1): a
/// ristretto255 scalar and its element. Every device learns the public key at registration (inside the
/// envelope's MAC), so replacing it makes every account re-register; keep it with the oprf_seed.
/// </summary>
public sealed class ServerKeys : IDisposable
{
    private readonly byte[] _privateKey;
    private readonly byte[] _publicKey;
    private bool _disposed;

    private ServerKeys(AkeGroup group, byte[] privateKey, byte[] publicKey)
    {
        Group = group;
        _privateKey = privateKey;
        _publicKey = publicKey;
    }

    /// <summary>The private key length: Nsk = 32.</summary>
    public const int PrivateKeyLength = OpaqueSuite.Nsk;

    /// <summary>server_public_key (Npk = 32 bytes), a copy.</summary>
    public byte[] PublicKey => (byte[])_publicKey.Clone();

    internal AkeGroup Group { get; }

    internal ReadOnlySpan<byte> PublicKeySpan => _publicKey;

    internal ReadOnlySpan<byte> PrivateKeySpan
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _privateKey;
        }
    }

    /// <summary>A fresh random key pair.</summary>
    public static ServerKeys Generate()
    {
        Span<byte> privateKey = stackalloc byte[PrivateKeyLength];
        Sodium.ScalarRandom(privateKey);
        ServerKeys? keys = Import(AkeGroup.Ristretto255, privateKey);
        CryptographicOperations.ZeroMemory(privateKey);
        return keys ?? throw new CryptographicException("A random scalar gave no public key.");
    }

    /// <summary>
    /// Loads a key pair from <see cref="ExportPrivateKey"/>'s 32 bytes; false when they are not a canonical
    /// non-zero ristretto255 scalar.
    /// </summary>
    public static bool TryImport(ReadOnlySpan<byte> privateKey, [NotNullWhen(true)] out ServerKeys? keys)
    {
        keys = Import(AkeGroup.Ristretto255, privateKey);
        return keys is not null;
    }

    /// <summary>The private key (32 bytes) for storage; the caller zeroes the copy when done.</summary>
    public byte[] ExportPrivateKey() => PrivateKeySpan.ToArray();

    /// <summary>Zeroes the private key.</summary>
    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_privateKey);
        _disposed = true;
    }

    internal static ServerKeys? Import(AkeGroup group, ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != PrivateKeyLength)
        {
            return null;
        }

        var publicKey = new byte[OpaqueSuite.Npk];
        return group.PublicKeyOf(privateKey, publicKey) ? new ServerKeys(group, privateKey.ToArray(), publicKey) : null;
    }
}
