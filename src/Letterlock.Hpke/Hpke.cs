using System.Security.Cryptography;

namespace Letterlock.Cryptography;

/// <summary>
/// Hybrid Public Key Encryption (RFC 9180), base mode, with the one suite Letterlock uses:
/// DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305. The MX encrypts every arriving
/// message to the recipient's inbox key with it, through <see cref="HpkeSealingStream"/>.
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

    /// <summary>
    /// SetupBaseS(pkR, info): encapsulates a fresh shared secret to <paramref name="recipientPublicKey"/>
    /// and returns the encapsulated key (send it with the ciphertexts) and a sender context.
    /// </summary>
    /// <param name="recipientPublicKey">The recipient's 32-byte X25519 public key.</param>
    /// <param name="info">Application-supplied context both sides must agree on (may be empty).</param>
    /// <exception cref="HpkeException">The public key is invalid (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static (byte[] EncapsulatedKey, HpkeContext Context) SetupBaseSender(
        ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info)
    {
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
            return (enc, KeySchedule(sharedSecret, info, isSender: true));
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
        ReadOnlySpan<byte> encapsulatedKey, ReadOnlySpan<byte> recipientPrivateKey, ReadOnlySpan<byte> info)
    {
        Span<byte> sharedSecret = stackalloc byte[SharedSecretLength];
        try
        {
            Decap(encapsulatedKey, recipientPrivateKey, sharedSecret);
            return KeySchedule(sharedSecret, info, isSender: false);
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
    private static HpkeContext KeySchedule(ReadOnlySpan<byte> sharedSecret, ReadOnlySpan<byte> info, bool isSender)
    {
        Span<byte> context = stackalloc byte[1 + 2 * HpkeKdf.HashLength];
        Span<byte> secret = stackalloc byte[HpkeKdf.HashLength];
        Span<byte> key = stackalloc byte[AeadKeyLength];
        var baseNonce = new byte[NonceLength];
        var exporterSecret = new byte[HpkeKdf.HashLength];
        try
        {
            context[0] = ModeBase;
            HpkeKdf.LabeledExtract(HpkeSuiteId, [], "psk_id_hash"u8, [], context.Slice(1, HpkeKdf.HashLength));
            HpkeKdf.LabeledExtract(HpkeSuiteId, [], "info_hash"u8, info, context.Slice(1 + HpkeKdf.HashLength, HpkeKdf.HashLength));
            HpkeKdf.LabeledExtract(HpkeSuiteId, sharedSecret, "secret"u8, [], secret);
            HpkeKdf.LabeledExpand(HpkeSuiteId, secret, "key"u8, context, key);
            HpkeKdf.LabeledExpand(HpkeSuiteId, secret, "base_nonce"u8, context, baseNonce);
            HpkeKdf.LabeledExpand(HpkeSuiteId, secret, "exp"u8, context, exporterSecret);
            return new HpkeContext(key, baseNonce, exporterSecret, isSender);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
            CryptographicOperations.ZeroMemory(key);
        }
    }
}
