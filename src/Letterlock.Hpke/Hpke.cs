using System.Security.Cryptography;

namespace Letterlock.Cryptography;

/// <summary>
/// Hybrid Public Key Encryption (RFC 9180), base mode, with HKDF-SHA256 / ChaCha20-Poly1305 and one of two
/// KEMs: DHKEM(X25519, HKDF-SHA256), and X-Wing (<see cref="XWing"/>, post-quantum hybrid). The MX encrypts
/// every arriving message to the recipient's inbox key with it, through <see cref="HpkeSealingStream"/>; the
/// KEM follows from the inbox key (<see cref="HpkeKems.ForPublicKey"/>).
/// </summary>
/// <remarks>
/// X25519 is libsodium's (through NSec's native library), HKDF and ChaCha20-Poly1305 are .NET's
/// (OpenSSL on Linux); docs/adr/0001-x25519-from-libsodium.md records why.
/// </remarks>
public static class Hpke
{
    /// <summary>KEM identifier of DHKEM(X25519, HKDF-SHA256) (RFC 9180, 7.1).</summary>
    public const ushort KemId = 0x0020;

    /// <summary>KDF identifier of HKDF-SHA256 (RFC 9180, 7.2).</summary>
    public const ushort KdfId = 0x0001;

    /// <summary>AEAD identifier of ChaCha20-Poly1305 (RFC 9180, 7.3).</summary>
    public const ushort AeadId = 0x0003;

    /// <summary>Length of an encapsulated key (Nenc), of public keys (Npk) and private keys (Nsk).</summary>
    public const int KeyLength = 32;

    /// <summary>Length of the authentication tag each sealed message carries (Nt).</summary>
    public const int TagLength = 16;

    internal const int AeadKeyLength = 32;
    internal const int NonceLength = 12;
    internal const int SharedSecretLength = 32;
    private const byte ModeBase = 0x00;

    /// <summary>suite_id = concat("KEM", I2OSP(kem_id, 2)) (RFC 9180, 4.1).</summary>
    internal static ReadOnlySpan<byte> KemSuiteId => "KEM\x00\x20"u8;

    /// <summary>suite_id = concat("HPKE", I2OSP(kem_id, 2), I2OSP(kdf_id, 2), I2OSP(aead_id, 2)) (RFC 9180, 5.1).</summary>
    internal static ReadOnlySpan<byte> HpkeSuiteId => "HPKE\x00\x20\x00\x01\x00\x03"u8;

    /// <summary>The same suite_id with X-Wing's KEM id 0x647A.</summary>
    internal static ReadOnlySpan<byte> XWingSuiteId => "HPKE\x64\x7A\x00\x01\x00\x03"u8;

    /// <summary>
    /// SetupBaseS(pkR, info): encapsulates a fresh shared secret to <paramref name="recipientPublicKey"/>
    /// and returns the encapsulated key (send it with the ciphertexts) and a sender context.
    /// </summary>
    /// <param name="recipientPublicKey">The recipient's public key: 32 bytes (X25519) or 1,216 bytes (X-Wing);
    /// the KEM follows from the length.</param>
    /// <param name="info">Application-supplied context both sides must agree on (may be empty).</param>
    /// <exception cref="HpkeException">The public key is invalid (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static (byte[] EncapsulatedKey, HpkeContext Context) SetupBaseSender(
        ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info)
    {
        if (HpkeKems.ForPublicKey(recipientPublicKey) == HpkeKem.XWing)
        {
            // Encap() is X-Wing's Encapsulate() and its secret is the KEM shared secret (draft section 5.6).
            var (ciphertext, secret) = XWing.Encapsulate(recipientPublicKey);
            try
            {
                return (ciphertext, KeySchedule(secret, info, isSender: true, XWingSuiteId));
            }
            finally
            {
                CryptographicOperations.ZeroMemory(secret);
            }
        }

        using var ephemeral = HpkeKeyPair.Generate();
        return SetupBaseSender(recipientPublicKey, info, ephemeral);
    }

    /// <summary>SetupBaseS with a given ephemeral key pair: for known-answer tests only.</summary>
    internal static (byte[] EncapsulatedKey, HpkeContext Context) SetupBaseSender(
        ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info, HpkeKeyPair ephemeral)
    {
        Span<byte> sharedSecret = stackalloc byte[SharedSecretLength];
        try
        {
            byte[] enc = Encap(recipientPublicKey, ephemeral, sharedSecret);
            return (enc, KeySchedule(sharedSecret, info, isSender: true, HpkeSuiteId));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(sharedSecret);
        }
    }

    /// <summary>
    /// SetupBaseR(enc, skR, info): decapsulates <paramref name="encapsulatedKey"/> with the
    /// recipient's private key and returns a recipient context.
    /// </summary>
    /// <param name="encapsulatedKey">The 32-byte enc the sender produced.</param>
    /// <param name="recipientPrivateKey">The recipient's 32-byte X25519 private key.</param>
    /// <param name="info">The same info the sender used; a different one makes every Open fail.</param>
    /// <exception cref="HpkeException">A key is invalid (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static HpkeContext SetupBaseRecipient(
        ReadOnlySpan<byte> encapsulatedKey, ReadOnlySpan<byte> recipientPrivateKey, ReadOnlySpan<byte> info) =>
        SetupBaseRecipient(HpkeKem.X25519, encapsulatedKey, recipientPrivateKey, info);

    /// <summary>
    /// SetupBaseR(enc, skR, info) for <paramref name="kem"/>: the private key is the 32-byte X25519 key or
    /// the 32-byte X-Wing decapsulation key (seed), and enc is 32 or 1,120 bytes accordingly.
    /// </summary>
    /// <exception cref="HpkeException">A key has the wrong length or is unusable (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static HpkeContext SetupBaseRecipient(
        HpkeKem kem, ReadOnlySpan<byte> encapsulatedKey, ReadOnlySpan<byte> recipientPrivateKey, ReadOnlySpan<byte> info)
    {
        Span<byte> sharedSecret = stackalloc byte[SharedSecretLength];
        try
        {
            if (kem == HpkeKem.XWing)
            {
                using var keys = XWingKeyPair.FromPrivateKey(recipientPrivateKey);
                keys.Decapsulate(encapsulatedKey, sharedSecret);
                return KeySchedule(sharedSecret, info, isSender: false, XWingSuiteId);
            }

            Decap(encapsulatedKey, recipientPrivateKey, sharedSecret);
            return KeySchedule(sharedSecret, info, isSender: false, HpkeSuiteId);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(sharedSecret);
        }
    }

    /// <summary>
    /// Encap(pkR) of DHKEM (RFC 9180, 4.1) with the ephemeral key pair given:
    /// <code>
    /// dh = DH(skE, pkR); enc = SerializePublicKey(pkE)
    /// kem_context = concat(enc, pkRm)
    /// shared_secret = ExtractAndExpand(dh, kem_context)
    /// </code>
    /// </summary>
    internal static byte[] Encap(ReadOnlySpan<byte> recipientPublicKey, HpkeKeyPair ephemeral, Span<byte> sharedSecret)
    {
        if (recipientPublicKey.Length != KeyLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An X25519 public key must be 32 bytes.");
        }

        Span<byte> dh = stackalloc byte[X25519.KeyLength];
        Span<byte> kemContext = stackalloc byte[2 * KeyLength];
        try
        {
            X25519.SharedSecret(ephemeral.PrivateKey.Span, recipientPublicKey, dh);
            byte[] enc = ephemeral.PublicKey.ToArray();
            enc.CopyTo(kemContext);
            recipientPublicKey.CopyTo(kemContext[KeyLength..]);
            ExtractAndExpand(dh, kemContext, sharedSecret);
            return enc;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dh);
        }
    }

    /// <summary>
    /// Decap(enc, skR) of DHKEM (RFC 9180, 4.1):
    /// <code>
    /// dh = DH(skR, pkE)
    /// kem_context = concat(enc, SerializePublicKey(pk(skR)))
    /// shared_secret = ExtractAndExpand(dh, kem_context)
    /// </code>
    /// </summary>
    internal static void Decap(ReadOnlySpan<byte> encapsulatedKey, ReadOnlySpan<byte> recipientPrivateKey, Span<byte> sharedSecret)
    {
        if (encapsulatedKey.Length != KeyLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An encapsulated key must be 32 bytes.");
        }

        if (recipientPrivateKey.Length != KeyLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An X25519 private key must be 32 bytes.");
        }

        Span<byte> dh = stackalloc byte[X25519.KeyLength];
        Span<byte> kemContext = stackalloc byte[2 * KeyLength];
        try
        {
            X25519.SharedSecret(recipientPrivateKey, encapsulatedKey, dh);
            encapsulatedKey.CopyTo(kemContext);
            X25519.PublicKeyFromPrivate(recipientPrivateKey, kemContext[KeyLength..]);
            ExtractAndExpand(dh, kemContext, sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dh);
        }
    }

    /// <summary>
    /// <code>
    /// def ExtractAndExpand(dh, kem_context):
    ///   eae_prk = LabeledExtract("", "eae_prk", dh)
    ///   shared_secret = LabeledExpand(eae_prk, "shared_secret", kem_context, Nsecret)
    /// </code>
    /// </summary>
    private static void ExtractAndExpand(ReadOnlySpan<byte> dh, ReadOnlySpan<byte> kemContext, Span<byte> sharedSecret)
    {
        Span<byte> prk = stackalloc byte[HpkeKdf.HashLength];
        try
        {
            HpkeKdf.LabeledExtract(KemSuiteId, [], "eae_prk"u8, dh, prk);
            HpkeKdf.LabeledExpand(KemSuiteId, prk, "shared_secret"u8, kemContext, sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(prk);
        }
    }

    /// <summary>
    /// KeySchedule for mode_base (RFC 9180, 5.1), with psk = psk_id = "":
    /// <code>
    /// psk_id_hash = LabeledExtract("", "psk_id_hash", psk_id)
    /// info_hash = LabeledExtract("", "info_hash", info)
    /// key_schedule_context = concat(mode, psk_id_hash, info_hash)
    /// secret = LabeledExtract(shared_secret, "secret", psk)
    /// key = LabeledExpand(secret, "key", key_schedule_context, Nk)
    /// base_nonce = LabeledExpand(secret, "base_nonce", key_schedule_context, Nn)
    /// exporter_secret = LabeledExpand(secret, "exp", key_schedule_context, Nh)
    /// </code>
    /// </summary>
    private static HpkeContext KeySchedule(ReadOnlySpan<byte> sharedSecret, ReadOnlySpan<byte> info, bool isSender, ReadOnlySpan<byte> suiteId)
    {
        Span<byte> context = stackalloc byte[1 + 2 * HpkeKdf.HashLength];
        Span<byte> secret = stackalloc byte[HpkeKdf.HashLength];
        Span<byte> key = stackalloc byte[AeadKeyLength];
        var baseNonce = new byte[NonceLength];
        var exporterSecret = new byte[HpkeKdf.HashLength];
        try
        {
            context[0] = ModeBase;
            HpkeKdf.LabeledExtract(suiteId, [], "psk_id_hash"u8, [], context.Slice(1, HpkeKdf.HashLength));
            HpkeKdf.LabeledExtract(suiteId, [], "info_hash"u8, info, context.Slice(1 + HpkeKdf.HashLength, HpkeKdf.HashLength));
            HpkeKdf.LabeledExtract(suiteId, sharedSecret, "secret"u8, [], secret);
            HpkeKdf.LabeledExpand(suiteId, secret, "key"u8, context, key);
            HpkeKdf.LabeledExpand(suiteId, secret, "base_nonce"u8, context, baseNonce);
            HpkeKdf.LabeledExpand(suiteId, secret, "exp"u8, context, exporterSecret);
            return new HpkeContext(key, baseNonce, exporterSecret, isSender);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
            CryptographicOperations.ZeroMemory(key);
        }
    }
}

/// <summary>The KEMs an HPKE sealed envelope may use (the <c>kem-id</c> of its header, RFC 9180 section 7.1).</summary>
public enum HpkeKem : ushort
{
    /// <summary>DHKEM(X25519, HKDF-SHA256): 32-byte keys and encapsulated key.</summary>
    X25519 = 0x0020,

    /// <summary>X-Wing (draft-connolly-cfrg-xwing-kem): 1,216-byte public key, 32-byte private key, 1,120-byte encapsulated key.</summary>
    XWing = 0x647A,
}

/// <summary>Facts about each <see cref="HpkeKem"/>.</summary>
public static class HpkeKems
{
    /// <summary>
    /// The KEM of a public key, by its length: an inbox key is stored and published as the raw public key,
    /// 32 bytes for X25519 and 1,216 for X-Wing, which cannot be confused.
    /// </summary>
    /// <exception cref="HpkeException">Neither length (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static HpkeKem ForPublicKey(ReadOnlySpan<byte> publicKey) => publicKey.Length switch
    {
        X25519.KeyLength => HpkeKem.X25519,
        XWing.PublicKeyLength => HpkeKem.XWing,
        _ => throw new HpkeException(HpkeError.InvalidKey, "An HPKE public key is 32 bytes (X25519) or 1,216 bytes (X-Wing)."),
    };

    /// <summary>Length of the KEM's encapsulated key (Nenc).</summary>
    public static int EncapsulatedKeyLength(HpkeKem kem) => kem switch
    {
        HpkeKem.X25519 => X25519.KeyLength,
        HpkeKem.XWing => XWing.CiphertextLength,
        _ => throw new ArgumentOutOfRangeException(nameof(kem)),
    };

    /// <summary>
    /// Checks a public key before anyone relies on it (a provider accepting an inbox key): its length, and
    /// for X-Wing the ML-KEM modulus check of FIPS 203 section 7.2 and a non-zero X25519 share.
    /// </summary>
    /// <exception cref="HpkeException">It is unusable (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static HpkeKem CheckPublicKey(ReadOnlySpan<byte> publicKey)
    {
        var kem = ForPublicKey(publicKey);
        if (kem == HpkeKem.XWing)
        {
            MlKem768.ImportPublicKey(publicKey[..MlKem768.PublicKeyLength]);
        }

        if (publicKey[^X25519.KeyLength..].IndexOfAnyExcept((byte)0) < 0)
        {
            throw new HpkeException(HpkeError.InvalidKey, "The X25519 public key is zero.");
        }

        return kem;
    }
}
