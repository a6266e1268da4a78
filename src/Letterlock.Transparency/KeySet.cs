using System.Security.Cryptography;
using System.Text;

namespace Letterlock.Transparency;

/// <summary>
/// What the directory publishes for an address: the OpenPGP fingerprint, the inbox (HPKE) public key,
/// the device keys, and whether the address is revoked. Compared by its canonical encoding.
/// </summary>
public sealed class KeySet : IEquatable<KeySet>
{
    private readonly byte[] _encoded;

    /// <summary>Creates a key set; device keys are kept in the order given.</summary>
    public KeySet(ReadOnlySpan<byte> openPgpFingerprint, ReadOnlySpan<byte> inboxKey, IEnumerable<ReadOnlyMemory<byte>> deviceKeys, bool revoked)
    {
        ArgumentNullException.ThrowIfNull(deviceKeys);
        OpenPgpFingerprint = openPgpFingerprint.ToArray();
        InboxKey = inboxKey.ToArray();
        DeviceKeys = deviceKeys.Select(k => (ReadOnlyMemory<byte>)k.ToArray()).ToArray();
        Revoked = revoked;
        var w = new WireWriter();
        Encode(w);
        _encoded = w.ToArray();
    }

    /// <summary>The OpenPGP certificate fingerprint (20 bytes for v4, 32 for v6).</summary>
    public ReadOnlyMemory<byte> OpenPgpFingerprint { get; }

    /// <summary>The inbox public key the MX encrypts arriving mail to.</summary>
    public ReadOnlyMemory<byte> InboxKey { get; }

    /// <summary>The account's device keys (Ed25519 public keys).</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> DeviceKeys { get; }

    /// <summary>True once the address's keys are revoked: clients must not encrypt to them.</summary>
    public bool Revoked { get; }

    /// <summary>The canonical encoding (docs/FORMATS.md, "KeySet").</summary>
    public ReadOnlySpan<byte> Encoded => _encoded;

    internal void Encode(WireWriter w)
    {
        w.Opaque8(OpenPgpFingerprint.Span);
        w.Opaque16(InboxKey.Span);
        w.U8(DeviceKeys.Count);
        foreach (ReadOnlyMemory<byte> key in DeviceKeys)
        {
            w.Opaque8(key.Span);
        }

        w.U8(Revoked ? 1 : 0);
    }

    internal static KeySet Decode(ref WireReader r, TransparencyLimits limits)
    {
        ReadOnlySpan<byte> fingerprint = r.Opaque8(limits.MaxFingerprintLength);
        ReadOnlySpan<byte> inbox = r.Opaque16(limits.MaxInboxKeyLength);
        int count = r.U8();
        if (count > limits.MaxDeviceKeys)
        {
            throw new TransparencyFormatException("Too many device keys in a key set.");
        }

        var devices = new ReadOnlyMemory<byte>[count];
        for (int i = 0; i < count; i++)
        {
            devices[i] = r.Opaque8(limits.MaxDeviceKeyLength).ToArray();
        }

        bool revoked = r.Bool();
        return new KeySet(fingerprint, inbox, devices, revoked);
    }

    /// <summary>
    /// commitment = SHA-256("letterlock-kt-commit-v1" || 0x00 || opening || opaque16(address) || KeySet):
    /// hides the key set from anyone who sees only the tree (auditors) until a lookup reveals the opening.
    /// </summary>
    public Hash256 Commit(string address, ReadOnlySpan<byte> opening)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (opening.Length != DirectoryEntry.OpeningLength)
        {
            throw new ArgumentException("The opening is 32 bytes.", nameof(opening));
        }

        var w = new WireWriter();
        w.Bytes("letterlock-kt-commit-v1\0"u8);
        w.Bytes(opening);
        w.Opaque16(Encoding.UTF8.GetBytes(address));
        w.Bytes(_encoded);
        return Hash256.Sha256(w.WrittenSpan);
    }

    /// <inheritdoc />
    public bool Equals(KeySet? other) => other is not null && _encoded.AsSpan().SequenceEqual(other._encoded);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as KeySet);

    /// <inheritdoc />
    public override int GetHashCode() => BitConverter.ToInt32(SHA256.HashData(_encoded), 0);
}

/// <summary>
/// One version of an address's entry: its version number, the epoch that published it, the key set and
/// the random opening of its commitment.
/// </summary>
public sealed class DirectoryEntry
{
    /// <summary>Length of the commitment opening.</summary>
    public const int OpeningLength = 32;

    /// <summary>Creates an entry.</summary>
    public DirectoryEntry(ulong version, ulong epoch, KeySet keys, ReadOnlySpan<byte> opening)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (opening.Length != OpeningLength)
        {
            throw new ArgumentException("The opening is 32 bytes.", nameof(opening));
        }

        Version = version;
        Epoch = epoch;
        Keys = keys;
        Opening = opening.ToArray();
    }

    /// <summary>1 for the first key set of the address, one more for each later epoch that changed it.</summary>
    public ulong Version { get; }

    /// <summary>The epoch that published this version.</summary>
    public ulong Epoch { get; }

    /// <summary>The published keys.</summary>
    public KeySet Keys { get; }

    /// <summary>The commitment opening.</summary>
    public ReadOnlyMemory<byte> Opening { get; }

    /// <summary>The commitment for <paramref name="address"/>.</summary>
    public Hash256 Commitment(string address) => Keys.Commit(address, Opening.Span);

    internal void Encode(WireWriter w)
    {
        w.U64(Version);
        w.U64(Epoch);
        w.Bytes(Opening.Span);
        Keys.Encode(w);
    }

    internal static DirectoryEntry Decode(ref WireReader r, TransparencyLimits limits)
    {
        ulong version = r.U64();
        ulong epoch = r.U64();
        ReadOnlySpan<byte> opening = r.Bytes(OpeningLength);
        return new DirectoryEntry(version, epoch, KeySet.Decode(ref r, limits), opening);
    }

    /// <summary>The encoding (docs/FORMATS.md, "DirectoryEntry").</summary>
    public byte[] ToBytes()
    {
        var w = new WireWriter();
        Encode(w);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="ToBytes"/>.</summary>
    public static DirectoryEntry FromBytes(ReadOnlySpan<byte> bytes, TransparencyLimits? limits = null)
    {
        var r = new WireReader(bytes, "directory entry");
        DirectoryEntry entry = Decode(ref r, limits ?? TransparencyLimits.Default);
        r.EnsureEnd();
        return entry;
    }
}
