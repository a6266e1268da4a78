using System.Security.Cryptography;
using Letterlock.Cryptography;

namespace Letterlock.Native;

/// <summary>The four kinds of prekey a device publishes (the <c>kind</c> byte on the wire).</summary>
public enum PrekeyKind : byte
{
    /// <summary>Signed prekey SPK (X25519), rotated on a schedule, used by every session start until it expires.</summary>
    Signed = 1,

    /// <summary>Last-resort ML-KEM-768 prekey, rotated with the signed prekey, used when no one-time KEM prekey is left.</summary>
    LastResortKem = 2,

    /// <summary>One-time prekey OPK (X25519), handed out once and deleted when used.</summary>
    OneTime = 3,

    /// <summary>One-time ML-KEM-768 prekey, handed out once and deleted when used.</summary>
    OneTimeKem = 4,
}

/// <summary>
/// A prekey as published, signed by the device key:
/// <code>
/// struct SignedPrekey {
///   uint8  kind;              // PrekeyKind
///   uint32 id;                // chosen by the device, never 0, unique among its prekeys
///   uint64 expires_at;        // Unix seconds; a sender refuses the prekey after it
///   opaque public_key[n];     // n = 32 (X25519, kinds 1 and 3) or 1184 (ML-KEM-768, kinds 2 and 4)
///   opaque signature[64];     // Ed25519(device_key, "letterlock-native-prekey-v1" || 0x00 || device_key
///                             //                     || kind || id || expires_at || public_key)
/// }
/// </code>
/// </summary>
public sealed class SignedPrekey
{
    internal SignedPrekey(PrekeyKind kind, uint id, long expiresAt, byte[] publicKey, byte[] signature)
    {
        Kind = kind;
        Id = id;
        ExpiresAtSeconds = expiresAt;
        PublicKey = publicKey;
        Signature = signature;
    }

    /// <summary>The kind.</summary>
    public PrekeyKind Kind { get; }

    /// <summary>The device's identifier for it (never 0).</summary>
    public uint Id { get; }

    /// <summary>When a sender must stop using it.</summary>
    public DateTimeOffset ExpiresAt => DateTimeOffset.FromUnixTimeSeconds(ExpiresAtSeconds);

    /// <summary>The public key: 32 bytes (X25519) or 1184 bytes (ML-KEM-768).</summary>
    public byte[] PublicKey { get; }

    /// <summary>The device key's signature.</summary>
    public byte[] Signature { get; }

    /// <summary>True for the ML-KEM-768 kinds.</summary>
    public bool IsKem => IsKemKind(Kind);

    internal long ExpiresAtSeconds { get; }

    /// <summary>Encoded length.</summary>
    public int EncodedLength => 13 + PublicKey.Length + NativeCrypto.SignatureLength;

    /// <summary>Checks the signature against <paramref name="deviceKey"/>.</summary>
    public bool Verify(ReadOnlySpan<byte> deviceKey) =>
        NativeCrypto.Verify(deviceKey, SignedData(deviceKey, Kind, Id, ExpiresAtSeconds, PublicKey), Signature);

    /// <summary>The encoding.</summary>
    public byte[] Encode()
    {
        var writer = new WireWriter(EncodedLength);
        Write(writer);
        return writer.ToArray();
    }

    /// <summary>Reads one prekey (the signature is checked by <see cref="Verify"/> or the bundle, which know the device key).</summary>
    /// <exception cref="NativeException">It is malformed (<see cref="NativeError.Malformed"/>).</exception>
    public static SignedPrekey Decode(ReadOnlySpan<byte> encoded)
    {
        var reader = new WireReader(encoded, "signed prekey");
        var prekey = Read(ref reader);
        reader.ExpectEnd();
        return prekey;
    }

    internal void Write(WireWriter writer)
    {
        writer.WriteByte((byte)Kind);
        writer.WriteUInt32(Id);
        writer.WriteUInt64((ulong)ExpiresAtSeconds);
        writer.WriteBytes(PublicKey);
        writer.WriteBytes(Signature);
    }

    internal static SignedPrekey Read(ref WireReader reader)
    {
        var kind = ReadKind(reader.ReadByte());
        var id = reader.ReadUInt32();
        if (id == 0)
        {
            throw new NativeException(NativeError.Malformed, "A prekey id is never 0.");
        }

        var expires = RatchetSession.ReadTime(ref reader);
        var publicKey = reader.ReadBytes(PublicKeyLength(kind)).ToArray();
        var signature = reader.ReadBytes(NativeCrypto.SignatureLength).ToArray();
        return new SignedPrekey(kind, id, expires, publicKey, signature);
    }

    internal static PrekeyKind ReadKind(byte value) =>
        value is >= 1 and <= 4 ? (PrekeyKind)value : throw new NativeException(NativeError.Malformed, "Unknown prekey kind.");

    internal static bool IsKemKind(PrekeyKind kind) => kind is PrekeyKind.LastResortKem or PrekeyKind.OneTimeKem;

    internal static int PublicKeyLength(PrekeyKind kind) => IsKemKind(kind) ? MlKem768.PublicKeyLength : X25519.KeyLength;

    internal static byte[] SignedData(ReadOnlySpan<byte> deviceKey, PrekeyKind kind, uint id, long expiresAt, ReadOnlySpan<byte> publicKey)
    {
        var writer = new WireWriter(64 + publicKey.Length);
        writer.WriteBytes("letterlock-native-prekey-v1\0"u8);
        writer.WriteBytes(deviceKey);
        writer.WriteByte((byte)kind);
        writer.WriteUInt32(id);
        writer.WriteUInt64((ulong)expiresAt);
        writer.WriteBytes(publicKey);
        return writer.ToArray();
    }
}

/// <summary>
/// A prekey with its private key, kept on the device that published it. Stored as
/// <code>
/// struct PrivatePrekey {
///   uint8  format = 1;
///   uint8  kind; uint32 id; uint64 expires_at;
///   opaque private_key[n];    // n = 32 (X25519) or 64 (the ML-KEM-768 seed d || z)
///   opaque signature[64];     // as published; the public key is recomputed from the private key
/// }
/// </code>
/// Dispose it to wipe the private key.
/// </summary>
public sealed class PrivatePrekey : IDisposable
{
    private const byte Format = 1;
    private readonly byte[] _privateKey;
    private readonly MlKem768KeyPair? _kem;
    private bool _disposed;

    private PrivatePrekey(PrekeyKind kind, uint id, long expiresAt, byte[] privateKey, byte[]? signature, DeviceIdentity? signer)
    {
        _privateKey = privateKey;
        byte[] publicKey;
        if (SignedPrekey.IsKemKind(kind))
        {
            _kem = MlKem768KeyPair.FromSeed(privateKey);
            publicKey = _kem.PublicKey.ToArray();
        }
        else
        {
            publicKey = new byte[X25519.KeyLength];
            X25519.PublicKeyFromPrivate(privateKey, publicKey);
        }

        signature ??= signer!.Sign(SignedPrekey.SignedData(signer.DeviceKey.Span, kind, id, expiresAt, publicKey));
        Public = new SignedPrekey(kind, id, expiresAt, publicKey, signature);
    }

    /// <summary>The published part.</summary>
    public SignedPrekey Public { get; }

    /// <summary>Generates a prekey of <paramref name="kind"/> and signs it with the device key.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is 0.</exception>
    public static PrivatePrekey Generate(DeviceIdentity device, PrekeyKind kind, uint id, DateTimeOffset expiresAt)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentOutOfRangeException.ThrowIfZero(id);
        var privateKey = RandomNumberGenerator.GetBytes(SignedPrekey.IsKemKind(kind) ? MlKem768.SeedLength : X25519.KeyLength);
        return new PrivatePrekey(kind, id, expiresAt.ToUnixTimeSeconds(), privateKey, signature: null, device);
    }

    /// <summary>Reads a stored private prekey.</summary>
    /// <exception cref="NativeException">It is malformed (<see cref="NativeError.Malformed"/>).</exception>
    public static PrivatePrekey Import(ReadOnlySpan<byte> stored)
    {
        var reader = new WireReader(stored, "stored prekey");
        if (reader.ReadByte() != Format)
        {
            throw new NativeException(NativeError.Malformed, "Unknown stored prekey format.");
        }

        var kind = SignedPrekey.ReadKind(reader.ReadByte());
        var id = reader.ReadUInt32();
        if (id == 0)
        {
            throw new NativeException(NativeError.Malformed, "A prekey id is never 0.");
        }

        var expires = RatchetSession.ReadTime(ref reader);
        var privateKey = reader.ReadBytes(SignedPrekey.IsKemKind(kind) ? MlKem768.SeedLength : X25519.KeyLength).ToArray();
        var signature = reader.ReadBytes(NativeCrypto.SignatureLength).ToArray();
        reader.ExpectEnd();
        return new PrivatePrekey(kind, id, expires, privateKey, signature, signer: null);
    }

    /// <summary>The storage form (contains the private key: keep it sealed).</summary>
    public byte[] Export()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var writer = new WireWriter(16 + _privateKey.Length + NativeCrypto.SignatureLength);
        writer.WriteByte(Format);
        writer.WriteByte((byte)Public.Kind);
        writer.WriteUInt32(Public.Id);
        writer.WriteUInt64((ulong)Public.ExpiresAtSeconds);
        writer.WriteBytes(_privateKey);
        writer.WriteBytes(Public.Signature);
        var exported = writer.ToArray();
        writer.Clear();
        return exported;
    }

    internal ReadOnlySpan<byte> X25519PrivateKey
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return Public.IsKem ? throw new InvalidOperationException("Not an X25519 prekey.") : _privateKey;
        }
    }

    internal void Agree(ReadOnlySpan<byte> publicKey, Span<byte> shared) => X25519.SharedSecret(X25519PrivateKey, publicKey, shared);

    internal void Decapsulate(ReadOnlySpan<byte> ciphertext, Span<byte> shared)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        (_kem ?? throw new InvalidOperationException("Not an ML-KEM prekey.")).Decapsulate(ciphertext, shared);
    }

    /// <summary>Wipes the private key.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            CryptographicOperations.ZeroMemory(_privateKey);
            _kem?.Dispose();
            _disposed = true;
        }
    }
}

/// <summary>
/// What a sender fetches to start a session with one device:
/// <code>
/// struct PrekeyBundle {
///   uint8 version = 1;
///   IdentityCertificate identity;
///   SignedPrekey signed_prekey;                     // kind 1
///   SignedPrekey kem_prekey;                        // kind 4, or 2 when the one-time pool is empty
///   uint8 one_time_count;                           // 0 or 1
///   SignedPrekey one_time_prekey[one_time_count];   // kind 3
/// }
/// </code>
/// Decoding checks every signature against the certificate's device key; <see cref="CheckUsable"/>
/// checks that the device key is the one the directory's transparency proof lists and that nothing expired.
/// </summary>
public sealed class PrekeyBundle
{
    private const byte Version = 1;

    /// <summary>Assembles a bundle from a device's published parts.</summary>
    /// <exception cref="NativeException">A prekey has the wrong kind or a signature that does not verify.</exception>
    public PrekeyBundle(IdentityCertificate identity, SignedPrekey signedPrekey, SignedPrekey kemPrekey, SignedPrekey? oneTimePrekey)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(signedPrekey);
        ArgumentNullException.ThrowIfNull(kemPrekey);
        if (signedPrekey.Kind != PrekeyKind.Signed || !kemPrekey.IsKem || (oneTimePrekey is not null && oneTimePrekey.Kind != PrekeyKind.OneTime))
        {
            throw new NativeException(NativeError.Malformed, "A prekey bundle holds a signed prekey, a KEM prekey and at most one one-time prekey.");
        }

        foreach (var prekey in (SignedPrekey?[])[signedPrekey, kemPrekey, oneTimePrekey])
        {
            if (prekey is not null && !prekey.Verify(identity.DeviceKey))
            {
                throw new NativeException(NativeError.InvalidSignature, "A prekey's signature does not verify with the bundle's device key.");
            }
        }

        Identity = identity;
        SignedPrekey = signedPrekey;
        KemPrekey = kemPrekey;
        OneTimePrekey = oneTimePrekey;
    }

    /// <summary>The device's identity certificate.</summary>
    public IdentityCertificate Identity { get; }

    /// <summary>The signed X25519 prekey.</summary>
    public SignedPrekey SignedPrekey { get; }

    /// <summary>The ML-KEM-768 prekey (one-time when the device has any left, else last-resort).</summary>
    public SignedPrekey KemPrekey { get; }

    /// <summary>A one-time X25519 prekey, when the device has any left.</summary>
    public SignedPrekey? OneTimePrekey { get; }

    /// <summary>The encoding.</summary>
    public byte[] Encode()
    {
        var writer = new WireWriter(2048);
        writer.WriteByte(Version);
        Identity.Write(writer);
        SignedPrekey.Write(writer);
        KemPrekey.Write(writer);
        writer.WriteByte(OneTimePrekey is null ? (byte)0 : (byte)1);
        OneTimePrekey?.Write(writer);
        return writer.ToArray();
    }

    /// <summary>Reads a bundle and checks every signature in it.</summary>
    /// <exception cref="NativeException">It is malformed or a signature does not verify.</exception>
    public static PrekeyBundle Decode(ReadOnlySpan<byte> encoded)
    {
        var reader = new WireReader(encoded, "prekey bundle");
        if (reader.ReadByte() != Version)
        {
            throw new NativeException(NativeError.Malformed, "Unknown prekey bundle version.");
        }

        var identity = IdentityCertificate.Read(ref reader);
        var signedPrekey = SignedPrekey.Read(ref reader);
        var kemPrekey = SignedPrekey.Read(ref reader);
        var count = reader.ReadByte();
        if (count > 1)
        {
            throw new NativeException(NativeError.Malformed, "A prekey bundle holds at most one one-time prekey.");
        }

        var oneTime = count == 1 ? SignedPrekey.Read(ref reader) : null;
        reader.ExpectEnd();
        return new PrekeyBundle(identity, signedPrekey, kemPrekey, oneTime);
    }

    /// <summary>
    /// Refuses the bundle unless it is for <paramref name="expectedDeviceKey"/> (taken from the address's
    /// directory entry with a valid transparency proof) and none of its prekeys has expired at <paramref name="now"/>.
    /// </summary>
    /// <exception cref="NativeException"><see cref="NativeError.UnusableBundle"/>.</exception>
    public void CheckUsable(ReadOnlySpan<byte> expectedDeviceKey, DateTimeOffset now)
    {
        if (!CryptographicOperations.FixedTimeEquals(expectedDeviceKey, Identity.DeviceKey))
        {
            throw new NativeException(NativeError.UnusableBundle, "The prekey bundle is for another device key than the directory lists.");
        }

        var seconds = now.ToUnixTimeSeconds();
        if (SignedPrekey.ExpiresAtSeconds <= seconds || KemPrekey.ExpiresAtSeconds <= seconds || (OneTimePrekey is not null && OneTimePrekey.ExpiresAtSeconds <= seconds))
        {
            throw new NativeException(NativeError.UnusableBundle, "A prekey in the bundle has expired.");
        }
    }
}
