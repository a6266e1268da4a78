using MimeKit;
using MimeKit.Cryptography;

namespace Letterlock.Relay.Dkim;

/// <summary>
/// Signs outgoing messages with every configured key, normally one ed25519-sha256 (RFC 8463) and one
/// rsa-sha256 signature: receivers that know Ed25519 get the short modern signature, the rest still find
/// an RSA one they can check (RFC 8463, 1, recommends exactly this pairing). Signing uses MimeKit's
/// <see cref="DkimSigner"/>, which covers both algorithms (Ed25519 through BouncyCastle).
/// </summary>
/// <remarks>
/// Canonicalization is relaxed/relaxed, which survives the header re-folding and trailing-whitespace
/// changes relays make; the body hash covers the whole body (no <c>l=</c>, which would let anyone append
/// content). The message must be signed exactly as it will be sent: <see cref="Format"/> (CRLF line ends)
/// is the format the SMTP client writes.
/// </remarks>
public sealed class DkimSigning
{
    /// <summary>
    /// The header fields signed when present. <c>From</c> is required by RFC 6376; the others are the ones whose
    /// change would alter what the reader sees or how a reply is routed, plus the MIME structure and the
    /// Autocrypt key, which a forger must not be able to swap.
    /// </summary>
    public static IReadOnlyList<string> SignedHeaders { get; } =
    [
        "From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Autocrypt", "List-Unsubscribe", "List-Unsubscribe-Post",
    ];

    /// <summary>The serialisation the signature is computed over and the message must be sent in.</summary>
    public static FormatOptions Format { get; } = CreateFormat(international: false);

    /// <summary>
    /// <see cref="Format"/> for a message sent with SMTPUTF8 (RFC 6531/6532): UTF-8 header values are written as they
    /// are instead of as encoded-words.
    /// </summary>
    public static FormatOptions InternationalFormat { get; } = CreateFormat(international: true);

    private readonly List<(DkimSigner Signer, DkimKey Key)> _signers = [];

    /// <summary>Creates a signer for <paramref name="domain"/> (the <c>d=</c> tag).</summary>
    /// <param name="domain">The signing domain; it should be the domain of the messages' From addresses so DMARC aligns.</param>
    /// <param name="keys">The keys, each with its own selector; at least one.</param>
    public DkimSigning(string domain, IEnumerable<DkimKey> keys)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(domain);
        ArgumentNullException.ThrowIfNull(keys);
        Domain = domain.ToLowerInvariant();
        foreach (var key in keys)
        {
            var signer = new FastDkimSigner(key, Domain)
            {
                HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
                BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
                QueryMethod = "dns/txt",
            };
            _signers.Add((signer, key));
        }

        if (_signers.Count == 0)
        {
            throw new ArgumentException("At least one DKIM key is required.", nameof(keys));
        }
    }

    /// <summary>The signing domain.</summary>
    public string Domain { get; }

    /// <summary>The keys signed with, in signing order.</summary>
    public IEnumerable<DkimKey> Keys => _signers.Select(s => s.Key);

    /// <summary>
    /// Adds one <c>DKIM-Signature</c> header per key at the top of <paramref name="message"/>. Call it after any
    /// change to the message's content (transfer-encoding downgrades included) and send with <see cref="Format"/>.
    /// </summary>
    /// <param name="message">The message; it must have a From header.</param>
    /// <exception cref="ArgumentException">The message has no From header.</exception>
    public void Sign(MimeMessage message) => Sign(message, Format);

    /// <summary>As <see cref="Sign(MimeMessage)"/>, for a message to be sent with <paramref name="format"/> (<see cref="Format"/> or <see cref="InternationalFormat"/>).</summary>
    /// <param name="message">The message; it must have a From header.</param>
    /// <param name="format">The serialisation the message will be sent in.</param>
    /// <exception cref="ArgumentException">The message has no From header.</exception>
    public void Sign(MimeMessage message, FormatOptions format)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(format);
        if (!message.Headers.Contains(HeaderId.From))
        {
            throw new ArgumentException("A message to be DKIM-signed needs a From header.", nameof(message));
        }

        var present = SignedHeaders.Where(h => message.Headers.Contains(h)).ToList();
        foreach (var (signer, _) in _signers)
        {
            signer.Sign(format, message, present);
        }
    }

    private static FormatOptions CreateFormat(bool international)
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        format.International = international;
        return format;
    }
}

/// <summary>
/// MimeKit's <see cref="DkimSigner"/> with the RSA private-key operation done by the platform (OpenSSL through
/// <see cref="System.Security.Cryptography.RSA"/>) instead of BouncyCastle's managed big integers: measured at about a
/// tenth of the CPU per rsa-sha256 signature (docs/PERFORMANCE.md, "Outbound relay"). Canonicalization, hashing of the
/// body and header selection stay MimeKit's; only the final "sign this SHA-256 digest" step differs, and its output
/// (RSASSA-PKCS1-v1_5, RFC 6376 3.3.1) is the same bytes. Ed25519 stays on BouncyCastle.
/// </summary>
internal sealed class FastDkimSigner : DkimSigner
{
    private readonly System.Security.Cryptography.RSA? _rsa;

    public FastDkimSigner(DkimKey key, string domain)
        : base(key.PrivateKey, domain, key.Selector, key.Algorithm)
    {
        _rsa = key.Type == DkimKeyType.Rsa ? key.CreatePlatformRsa() : null;
    }

    protected override Org.BouncyCastle.Crypto.ISigner CreateSigningContext() =>
        _rsa is null ? base.CreateSigningContext() : new PlatformRsaSha256Signer(_rsa);
}

/// <summary>A BouncyCastle <see cref="Org.BouncyCastle.Crypto.ISigner"/> that hashes with SHA-256 and signs the digest with a platform RSA key.</summary>
internal sealed class PlatformRsaSha256Signer(System.Security.Cryptography.RSA rsa) : Org.BouncyCastle.Crypto.ISigner
{
    private readonly System.Security.Cryptography.IncrementalHash _hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);

    public string AlgorithmName => "SHA-256withRSA";

    public void Init(bool forSigning, Org.BouncyCastle.Crypto.ICipherParameters parameters)
    {
        if (!forSigning)
        {
            throw new NotSupportedException("This signer only signs.");
        }

        _hash.GetHashAndReset();
    }

    public void Update(byte input) => _hash.AppendData([input]);

    public void BlockUpdate(byte[] input, int inOff, int inLen) => _hash.AppendData(input, inOff, inLen);

    public void BlockUpdate(ReadOnlySpan<byte> input) => _hash.AppendData(input);

    public int GetMaxSignatureSize() => rsa.KeySize / 8;

    public byte[] GenerateSignature()
    {
        // RSA objects are not safe for concurrent use; relay workers sign in parallel
        byte[] digest = _hash.GetHashAndReset();
        lock (rsa)
        {
            return rsa.SignHash(digest, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        }
    }

    public bool VerifySignature(byte[] signature) => throw new NotSupportedException("This signer only signs.");

    public void Reset() => _hash.GetHashAndReset();
}
