using NSec.Cryptography;

namespace Letterlock.Transparency;

/// <summary>
/// The content of one epoch's log leaf: <c>LogEntry = uint64 epoch || int64 timestamp_ms || prefix_root</c>.
/// The log tree (RFC 9162) has one such leaf per epoch, so its consistency proofs show the whole history
/// of prefix-tree roots is append-only.
/// </summary>
public readonly record struct LogEntry(long Epoch, long TimestampMs, Hash256 PrefixRoot)
{
    /// <summary>The 48-byte leaf data.</summary>
    public byte[] ToBytes()
    {
        var w = new WireWriter();
        Encode(w);
        return w.ToArray();
    }

    /// <summary>SHA-256(0x00 || leaf data).</summary>
    public Hash256 LeafHash => MerkleLog.LeafHash(ToBytes());

    internal void Encode(WireWriter w)
    {
        w.U64((ulong)Epoch);
        w.U64((ulong)TimestampMs);
        w.Hash(PrefixRoot);
    }

    internal static LogEntry Decode(ref WireReader r) => new(r.U64AsLong(), r.U64AsLong(), r.Hash());
}

/// <summary>
/// A provider's signed tree head for one epoch: provider name, epoch, time, the log root over epochs
/// 0..epoch, the epoch's prefix-tree root, the VRF public key, and an Ed25519 signature over all of it.
/// Two different signed heads for one epoch are proof that the provider equivocated.
/// </summary>
public sealed class SignedTreeHead : IEquatable<SignedTreeHead>
{
    /// <summary>Format version.</summary>
    public const byte FormatVersion = 1;

    private static ReadOnlySpan<byte> SignatureContext => "letterlock-kt-tree-head-v1\0"u8;

    private SignedTreeHead(string provider, long epoch, long timestampMs, Hash256 logRoot, Hash256 prefixRoot, ReadOnlySpan<byte> vrfPublicKey, ReadOnlySpan<byte> signature)
    {
        Provider = provider;
        Epoch = epoch;
        TimestampMs = timestampMs;
        LogRoot = logRoot;
        PrefixRoot = prefixRoot;
        VrfPublicKey = vrfPublicKey.ToArray();
        Signature = signature.ToArray();
    }

    /// <summary>The provider (its mail domain).</summary>
    public string Provider { get; }

    /// <summary>The epoch number, from 0.</summary>
    public long Epoch { get; }

    /// <summary>Publication time, Unix milliseconds.</summary>
    public long TimestampMs { get; }

    /// <summary>Log size: one leaf per epoch 0..Epoch.</summary>
    public long LogSize => Epoch + 1;

    /// <summary>RFC 9162 root over the log entries of epochs 0..Epoch.</summary>
    public Hash256 LogRoot { get; }

    /// <summary>The prefix-tree root of this epoch.</summary>
    public Hash256 PrefixRoot { get; }

    /// <summary>The provider's ECVRF public key (every index is proven against it).</summary>
    public ReadOnlyMemory<byte> VrfPublicKey { get; }

    /// <summary>Ed25519 signature over the context string and the head.</summary>
    public ReadOnlyMemory<byte> Signature { get; }

    /// <summary>This epoch's log entry.</summary>
    public LogEntry LogEntry => new(Epoch, TimestampMs, PrefixRoot);

    /// <summary>Signs a new head with the provider's Ed25519 key.</summary>
    public static SignedTreeHead Sign(Key signingKey, string provider, long epoch, long timestampMs, Hash256 logRoot, Hash256 prefixRoot, ReadOnlySpan<byte> vrfPublicKey)
    {
        ArgumentNullException.ThrowIfNull(signingKey);
        byte[] message = SignedBytes(provider, epoch, timestampMs, logRoot, prefixRoot, vrfPublicKey);
        byte[] signature = SignatureAlgorithm.Ed25519.Sign(signingKey, message);
        return new SignedTreeHead(provider, epoch, timestampMs, logRoot, prefixRoot, vrfPublicKey, signature);
    }

    /// <summary>True if the signature verifies under <paramref name="signingPublicKey"/> (32-byte Ed25519).</summary>
    public bool VerifySignature(ReadOnlySpan<byte> signingPublicKey)
    {
        if (signingPublicKey.Length != 32 || Signature.Length != 64
            || !PublicKey.TryImport(SignatureAlgorithm.Ed25519, signingPublicKey, KeyBlobFormat.RawPublicKey, out PublicKey? key))
        {
            return false;
        }

        byte[] message = SignedBytes(Provider, Epoch, TimestampMs, LogRoot, PrefixRoot, VrfPublicKey.Span);
        return SignatureAlgorithm.Ed25519.Verify(key!, message, Signature.Span);
    }

    private static byte[] SignedBytes(string provider, long epoch, long timestampMs, Hash256 logRoot, Hash256 prefixRoot, ReadOnlySpan<byte> vrfPublicKey)
    {
        var w = new WireWriter();
        w.Bytes(SignatureContext);
        EncodeBody(w, provider, epoch, timestampMs, logRoot, prefixRoot, vrfPublicKey);
        return w.ToArray();
    }

    private static void EncodeBody(WireWriter w, string provider, long epoch, long timestampMs, Hash256 logRoot, Hash256 prefixRoot, ReadOnlySpan<byte> vrfPublicKey)
    {
        w.U8(FormatVersion);
        w.String8(provider);
        w.U64((ulong)epoch);
        w.U64((ulong)timestampMs);
        w.U64((ulong)(epoch + 1));
        w.Hash(logRoot);
        w.Hash(prefixRoot);
        w.Bytes(vrfPublicKey);
    }

    internal void Encode(WireWriter w)
    {
        EncodeBody(w, Provider, Epoch, TimestampMs, LogRoot, PrefixRoot, VrfPublicKey.Span);
        w.Bytes(Signature.Span);
    }

    internal static SignedTreeHead Decode(ref WireReader r, TransparencyLimits limits)
    {
        if (r.U8() != FormatVersion)
        {
            throw new TransparencyFormatException("Unknown tree head version.");
        }

        string provider = r.String(limits.MaxProviderNameLength, sixteen: false);
        long epoch = r.U64AsLong();
        long timestamp = r.U64AsLong();
        long logSize = r.U64AsLong();
        if (logSize != epoch + 1)
        {
            throw new TransparencyFormatException("Tree head log size does not match its epoch.");
        }

        Hash256 logRoot = r.Hash();
        Hash256 prefixRoot = r.Hash();
        ReadOnlySpan<byte> vrfKey = r.Bytes(EcVrf.KeyLength);
        ReadOnlySpan<byte> signature = r.Bytes(64);
        return new SignedTreeHead(provider, epoch, timestamp, logRoot, prefixRoot, vrfKey, signature);
    }

    /// <summary>The encoding (docs/FORMATS.md, "SignedTreeHead").</summary>
    public byte[] ToBytes()
    {
        var w = new WireWriter();
        Encode(w);
        return w.ToArray();
    }

    /// <summary>Decodes <see cref="ToBytes"/> (does not check the signature).</summary>
    public static SignedTreeHead FromBytes(ReadOnlySpan<byte> bytes, TransparencyLimits? limits = null)
    {
        var r = new WireReader(bytes, "signed tree head");
        SignedTreeHead head = Decode(ref r, limits ?? TransparencyLimits.Default);
        r.EnsureEnd();
        return head;
    }

    /// <inheritdoc />
    public bool Equals(SignedTreeHead? other) => other is not null && ToBytes().AsSpan().SequenceEqual(other.ToBytes());

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as SignedTreeHead);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Provider, Epoch, LogRoot);
}
