using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;
using X25519 = Letterlock.Cryptography.X25519;

namespace Letterlock.Native;

/// <summary>
/// What a device is in the native protocol: its Ed25519 device key (the one the address's directory
/// and key-transparency entry list) and an X25519 identity key for the session start's Diffie-Hellman,
/// vouched for by the device key in an <see cref="IdentityCertificate"/>. The device key never does
/// Diffie-Hellman and the identity key never signs. Dispose it to wipe the private keys.
/// </summary>
public sealed class DeviceIdentity : IDisposable
{
    private readonly Key _signingKey;
    private readonly byte[] _identityPrivateKey;
    private bool _disposed;

    private DeviceIdentity(Key signingKey, byte[] identityPrivateKey)
    {
        _signingKey = signingKey;
        _identityPrivateKey = identityPrivateKey;
        var deviceKey = signingKey.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        var identityKey = new byte[X25519.KeyLength];
        X25519.PublicKeyFromPrivate(identityPrivateKey, identityKey);
        Certificate = new IdentityCertificate(deviceKey, identityKey, NativeCrypto.Sign(signingKey, IdentityCertificate.SignedData(deviceKey, identityKey)));
    }

    /// <summary>The certificate the device publishes and sends: device key, identity key, signature.</summary>
    public IdentityCertificate Certificate { get; }

    /// <summary>The 32-byte Ed25519 device key.</summary>
    public ReadOnlyMemory<byte> DeviceKey => Certificate.DeviceKey;

    /// <summary>The 32-byte X25519 identity private key, the form the client stores.</summary>
    /// <exception cref="ObjectDisposedException">The identity was disposed.</exception>
    public ReadOnlyMemory<byte> IdentityPrivateKey
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _identityPrivateKey;
        }
    }

    /// <summary>A device identity with a fresh identity key, for a device that has none yet.</summary>
    /// <param name="devicePrivateKey">The 32-byte Ed25519 device private key (RFC 8032 seed).</param>
    /// <exception cref="NativeException">The device key is not 32 bytes (<see cref="NativeError.InvalidKey"/>).</exception>
    public static DeviceIdentity Generate(ReadOnlySpan<byte> devicePrivateKey)
    {
        var identity = RandomNumberGenerator.GetBytes(X25519.KeyLength);
        try
        {
            return Load(devicePrivateKey, identity);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(identity);
        }
    }

    /// <summary>Rebuilds a device identity from its stored private keys.</summary>
    /// <exception cref="NativeException">A key is not 32 bytes (<see cref="NativeError.InvalidKey"/>).</exception>
    public static DeviceIdentity Load(ReadOnlySpan<byte> devicePrivateKey, ReadOnlySpan<byte> identityPrivateKey)
    {
        if (devicePrivateKey.Length != 32 || identityPrivateKey.Length != X25519.KeyLength)
        {
            throw new NativeException(NativeError.InvalidKey, "A device private key and an identity private key are 32 bytes each.");
        }

        var signingKey = Key.Import(SignatureAlgorithm.Ed25519, devicePrivateKey, KeyBlobFormat.RawPrivateKey);
        return new DeviceIdentity(signingKey, identityPrivateKey.ToArray());
    }

    /// <summary>Signs with the device key.</summary>
    internal byte[] Sign(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return NativeCrypto.Sign(_signingKey, data);
    }

    /// <summary>DH(IK, <paramref name="publicKey"/>).</summary>
    internal void Agree(ReadOnlySpan<byte> publicKey, Span<byte> shared)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        X25519.SharedSecret(_identityPrivateKey, publicKey, shared);
    }

    /// <summary>Wipes the identity private key and releases the device key.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            CryptographicOperations.ZeroMemory(_identityPrivateKey);
            _signingKey.Dispose();
            _disposed = true;
        }
    }
}

/// <summary>
/// A device key vouching for an identity key:
/// <code>
/// struct IdentityCertificate {
///   opaque device_key[32];      // Ed25519, listed in the address's key-transparency entry
///   opaque identity_key[32];    // X25519
///   opaque signature[64];       // Ed25519(device_key, "letterlock-native-identity-v1" || 0x00 || device_key || identity_key)
/// }
/// </code>
/// </summary>
public sealed class IdentityCertificate
{
    /// <summary>Encoded length: 32 + 32 + 64.</summary>
    public const int Length = 128;

    internal IdentityCertificate(byte[] deviceKey, byte[] identityKey, byte[] signature)
    {
        DeviceKey = deviceKey;
        IdentityKey = identityKey;
        Signature = signature;
    }

    /// <summary>The Ed25519 device key.</summary>
    public byte[] DeviceKey { get; }

    /// <summary>The X25519 identity key.</summary>
    public byte[] IdentityKey { get; }

    /// <summary>The device key's signature over the identity key.</summary>
    public byte[] Signature { get; }

    /// <summary>Reads a certificate and checks its signature.</summary>
    /// <exception cref="NativeException">Wrong length (<see cref="NativeError.Malformed"/>) or a signature
    /// that does not verify (<see cref="NativeError.InvalidSignature"/>).</exception>
    public static IdentityCertificate Decode(ReadOnlySpan<byte> encoded)
    {
        var reader = new WireReader(encoded, "identity certificate");
        var certificate = Read(ref reader);
        reader.ExpectEnd();
        return certificate;
    }

    /// <summary>The 128-byte encoding.</summary>
    public byte[] Encode()
    {
        var writer = new WireWriter(Length);
        Write(writer);
        return writer.ToArray();
    }

    internal void Write(WireWriter writer)
    {
        writer.WriteBytes(DeviceKey);
        writer.WriteBytes(IdentityKey);
        writer.WriteBytes(Signature);
    }

    internal static IdentityCertificate Read(ref WireReader reader)
    {
        var deviceKey = reader.ReadBytes(32).ToArray();
        var identityKey = reader.ReadBytes(32).ToArray();
        var signature = reader.ReadBytes(64).ToArray();
        if (!NativeCrypto.Verify(deviceKey, SignedData(deviceKey, identityKey), signature))
        {
            throw new NativeException(NativeError.InvalidSignature, "The identity certificate's signature does not verify.");
        }

        return new IdentityCertificate(deviceKey, identityKey, signature);
    }

    internal static byte[] SignedData(ReadOnlySpan<byte> deviceKey, ReadOnlySpan<byte> identityKey)
    {
        var writer = new WireWriter(128);
        writer.WriteBytes("letterlock-native-identity-v1\0"u8);
        writer.WriteBytes(deviceKey);
        writer.WriteBytes(identityKey);
        return writer.ToArray();
    }
}

/// <summary>
/// Who sent a session start, sealed inside it so only the recipient device learns it:
/// <code>
/// struct SenderCertificate { opaque address&lt;1..2^16-1&gt;; IdentityCertificate identity; }
/// </code>
/// The address is the sender's claim; the recipient's client accepts it only if the address's
/// key-transparency entry lists <see cref="IdentityCertificate.DeviceKey"/>.
/// </summary>
/// <param name="Address">The sender's address (UTF-8 on the wire).</param>
/// <param name="Identity">The sending device's identity certificate (signature already verified).</param>
public sealed record SenderCertificate(string Address, IdentityCertificate Identity)
{
    internal void Write(WireWriter writer)
    {
        writer.WriteVector16(Encoding.UTF8.GetBytes(Address));
        Identity.Write(writer);
    }

    internal static SenderCertificate Read(ref WireReader reader, NativeOptions options)
    {
        var address = reader.ReadVector16();
        if (address.Length == 0 || address.Length > options.MaxAddressLength)
        {
            throw new NativeException(NativeError.LimitExceeded, $"The sender address is empty or longer than {nameof(NativeOptions.MaxAddressLength)}.");
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(address);
        }
        catch (DecoderFallbackException e)
        {
            throw new NativeException(NativeError.Malformed, "The sender address is not UTF-8.", e);
        }

        return new SenderCertificate(text, IdentityCertificate.Read(ref reader));
    }
}
