using Letterlock.Primitives;

namespace Letterlock.OpenPgp;

/// <summary>
/// Every limit this library applies to hostile input (DESIGN.md section 7, invariant 6). Each
/// limit is validated when set. A value exactly at the limit is accepted; one past it is rejected
/// with <see cref="LimitExceededException"/> naming the property.
/// </summary>
public sealed class OpenPgpOptions
{
    /// <summary>The defaults used when no options are passed.</summary>
    public static OpenPgpOptions Default { get; } = new();

    private long _maxMessageSize = 64L * 1024 * 1024;
    private int _maxMimeDepth = 32;
    private int _maxPacketCount = 1024;
    private int _maxDecompressionRatio = 100;
    private int _maxAutocryptHeaderSize = 10 * 1024;
    private int _maxRecipients = 1000;
    private int _managedCryptoThreshold;
    private Mime.MimeLimits _mimeLimits = Mime.MimeLimits.Default;

    /// <summary>
    /// Largest message accepted, in bytes: raw MIME, an OpenPGP message, and every decrypted or
    /// decompressed plaintext are held to it, because plaintext is buffered until integrity
    /// verifies (no partial plaintext is ever released). Default 64 MiB.
    /// </summary>
    public long MaxMessageSize
    {
        get => _maxMessageSize;
        init => _maxMessageSize = LimitCheck.Positive(value, nameof(MaxMessageSize));
    }

    /// <summary>
    /// Deepest MIME nesting (and nesting of encrypted/signed layers) accepted: deeply nested
    /// multiparts are a classic stack-exhaustion and CPU attack on recursive readers. Default 32.
    /// </summary>
    public int MaxMimeDepth
    {
        get => _maxMimeDepth;
        init => _maxMimeDepth = (int)LimitCheck.Positive(value, nameof(MaxMimeDepth));
    }

    /// <summary>
    /// Most OpenPGP packets read from one message or key block (counted across all layers): a
    /// flood of tiny packets (thousands of PKESKs or signatures) costs CPU per packet. Default 1024.
    /// </summary>
    public int MaxPacketCount
    {
        get => _maxPacketCount;
        init => _maxPacketCount = (int)LimitCheck.Positive(value, nameof(MaxPacketCount));
    }

    /// <summary>
    /// Largest allowed ratio of decompressed to compressed size of a compressed data packet: a
    /// few KiB of DEFLATE can inflate to gigabytes (a decompression bomb). Default 100.
    /// </summary>
    public int MaxDecompressionRatio
    {
        get => _maxDecompressionRatio;
        init => _maxDecompressionRatio = (int)LimitCheck.Positive(value, nameof(MaxDecompressionRatio));
    }

    /// <summary>Largest Autocrypt header value parsed; Autocrypt Level 1 sets 10 KiB. Default 10240.</summary>
    public int MaxAutocryptHeaderSize
    {
        get => _maxAutocryptHeaderSize;
        init => _maxAutocryptHeaderSize = (int)LimitCheck.Positive(value, nameof(MaxAutocryptHeaderSize));
    }

    /// <summary>
    /// Limits on the MIME structure of every message and decrypted content parsed (header block size, fields, folding,
    /// parts, nesting), checked in one linear pass before MimeKit builds anything: <see cref="Mime.MimeLimits"/>.
    /// Beyond one, <see cref="LimitExceededException"/> names it. Default <see cref="Mime.MimeLimits.Default"/>.
    /// </summary>
    public Mime.MimeLimits MimeLimits
    {
        get => _mimeLimits;
        init => _mimeLimits = value ?? throw new ArgumentNullException(nameof(MimeLimits));
    }

    /// <summary>Most recipients (public-key encrypted session keys) one message may be encrypted to. Default 1000.</summary>
    public int MaxRecipients
    {
        get => _maxRecipients;
        init => _maxRecipients = (int)LimitCheck.Positive(value, nameof(MaxRecipients));
    }

    /// <summary>
    /// Data up to this many bytes is hashed and encrypted on the fast paths with BouncyCastle's managed SHA and AES
    /// instead of .NET's, which run on OpenSSL. OpenSSL is the faster for a process that has it loaded anyway (the
    /// provider and the bridge speak TLS), but its first use costs a process about 2 ms of CPU, more than the
    /// managed code takes for 64 KiB: a short-lived process per operation (`letterlock-sop`, `letterlock sop`) sets
    /// 65536. Default 0 (OpenSSL always); 0 to 16 MiB.
    /// </summary>
    public int ManagedCryptoThreshold
    {
        get => _managedCryptoThreshold;
        init => _managedCryptoThreshold = LimitCheck.InRange(value, 0, 16 * 1024 * 1024, nameof(ManagedCryptoThreshold));
    }
}
