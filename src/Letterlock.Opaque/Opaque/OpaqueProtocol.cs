using System.Security.Cryptography;
using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Opaque;

/// <summary>
/// The functions of RFC 9807 shared by client and server, with every random value passed in so the RFC's test
/// vectors replay exactly. <see cref="OpaqueClient"/> and <see cref="OpaqueServer"/> draw the randomness.
/// </summary>
internal static class OpaqueProtocol
{
    private static readonly byte[] OprfKeyInfo = "OPAQUE-DeriveKeyPair"u8.ToArray();

    /// <summary>
    /// The per-credential OPRF key (RFC 9807, section 5.2.2):
    /// <code>
    /// seed = Expand(oprf_seed, concat(credential_identifier, "OprfKey"), Nok)
    /// (oprf_key, _) = DeriveKeyPair(seed, "OPAQUE-DeriveKeyPair")
    /// </code>
    /// </summary>
    public static void DeriveOprfKey(ReadOnlySpan<byte> oprfSeed, ReadOnlySpan<byte> credentialIdentifier, Span<byte> oprfKey)
    {
        Span<byte> seed = stackalloc byte[OpaqueSuite.Nok];
        Span<byte> publicKey = stackalloc byte[Ristretto255.ElementLength];
        try
        {
            Kdf.Expand(oprfSeed, credentialIdentifier, "OprfKey"u8, seed);
            if (!Oprf.DeriveKeyPair(seed, OprfKeyInfo, oprfKey, publicKey))
            {
                // Negligible probability (RFC 9807, section 5.2.2): a new credential identifier would be needed.
                throw new CryptographicException("DeriveKeyPair failed for this credential identifier.");
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>
    /// oprf_output, stretched, then randomized_password (RFC 9807, sections 5.2.3 and 6.3.2.3):
    /// <code>
    /// oprf_output = Finalize(password, blind, evaluated_element)
    /// stretched_oprf_output = Stretch(oprf_output)
    /// randomized_password = Extract("", concat(oprf_output, stretched_oprf_output))
    /// </code>
    /// False when the evaluated element is not usable.
    /// </summary>
    public static bool RandomizedPassword(
        ReadOnlySpan<byte> password, ReadOnlySpan<byte> blind, ReadOnlySpan<byte> evaluatedElement,
        IKeyStretchingFunction keyStretching, Span<byte> randomizedPassword)
    {
        Span<byte> outputs = stackalloc byte[2 * Oprf.OutputLength];
        try
        {
            if (!Oprf.Finalize(password, blind, evaluatedElement, outputs[..Oprf.OutputLength]))
            {
                return false;
            }

            keyStretching.Stretch(outputs[..Oprf.OutputLength], outputs[Oprf.OutputLength..]);
            Kdf.Extract(outputs, randomizedPassword);
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(outputs);
        }
    }

    /// <summary>
    /// Store (RFC 9807, section 4.1.2): builds the envelope and writes client_public_key || masking_key ||
    /// envelope (192 bytes) to <paramref name="record"/> and the export key to <paramref name="exportKey"/>.
    /// </summary>
    public static void Store(
        ReadOnlySpan<byte> randomizedPassword, ReadOnlySpan<byte> serverPublicKey, OpaqueIdentities identities,
        ReadOnlySpan<byte> envelopeNonce, AkeGroup group, Span<byte> record, Span<byte> exportKey)
    {
        Span<byte> clientPublicKey = record[..OpaqueSuite.Npk];
        Span<byte> maskingKey = record.Slice(OpaqueSuite.Npk, OpaqueSuite.Nh);
        Span<byte> envelope = record[(OpaqueSuite.Npk + OpaqueSuite.Nh)..];
        Span<byte> clientPrivateKey = stackalloc byte[OpaqueSuite.Nsk];
        try
        {
            //   masking_key = Expand(randomized_password, "MaskingKey", Nh)
            Kdf.Expand(randomizedPassword, "MaskingKey"u8, maskingKey);
            if (!DeriveEnvelopeKeys(randomizedPassword, envelopeNonce, group, clientPrivateKey, clientPublicKey, exportKey, out byte[] authKey))
            {
                throw new CryptographicException("DeriveDiffieHellmanKeyPair failed for this envelope nonce.");
            }

            envelopeNonce.CopyTo(envelope);
            AuthTag(authKey, envelopeNonce, serverPublicKey, identities.ServerOr(serverPublicKey), identities.ClientOr(clientPublicKey), envelope[OpaqueSuite.Nn..]);
            CryptographicOperations.ZeroMemory(authKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(clientPrivateKey);
        }
    }

    /// <summary>
    /// Recover (RFC 9807, section 4.1.3): false (EnvelopeRecoveryError) when the auth tag does not verify; the
    /// outputs are zeroed then.
    /// </summary>
    public static bool Recover(
        ReadOnlySpan<byte> randomizedPassword, ReadOnlySpan<byte> serverPublicKey, ReadOnlySpan<byte> envelope,
        OpaqueIdentities identities, AkeGroup group, Span<byte> clientPrivateKey, Span<byte> clientPublicKey, Span<byte> exportKey)
    {
        ReadOnlySpan<byte> nonce = envelope[..OpaqueSuite.Nn];
        Span<byte> expectedTag = stackalloc byte[OpaqueSuite.Nm];
        bool derived = DeriveEnvelopeKeys(randomizedPassword, nonce, group, clientPrivateKey, clientPublicKey, exportKey, out byte[] authKey);
        AuthTag(authKey, nonce, serverPublicKey, identities.ServerOr(serverPublicKey), identities.ClientOr(clientPublicKey), expectedTag);
        bool valid = CryptographicOperations.FixedTimeEquals(envelope[OpaqueSuite.Nn..], expectedTag) & derived;
        CryptographicOperations.ZeroMemory(authKey);
        CryptographicOperations.ZeroMemory(expectedTag);
        if (!valid)
        {
            // "all previously-computed intermediary values in this function MUST be deleted"
            CryptographicOperations.ZeroMemory(clientPrivateKey);
            CryptographicOperations.ZeroMemory(clientPublicKey);
            CryptographicOperations.ZeroMemory(exportKey);
        }

        return valid;
    }

    /// <summary>
    /// The masking pad (RFC 9807, section 6.3.2.2):
    /// <c>Expand(masking_key, concat(masking_nonce, "CredentialResponsePad"), Npk + Nn + Nm)</c>, XORed into
    /// <paramref name="data"/> (masking and unmasking are the same operation).
    /// </summary>
    public static void ApplyMask(ReadOnlySpan<byte> maskingKey, ReadOnlySpan<byte> maskingNonce, Span<byte> data)
    {
        Span<byte> pad = stackalloc byte[OpaqueSuite.MaskedResponseLength];
        Kdf.Expand(maskingKey, maskingNonce, "CredentialResponsePad"u8, pad);
        for (int i = 0; i < pad.Length; i++)
        {
            data[i] ^= pad[i];
        }

        CryptographicOperations.ZeroMemory(pad);
    }

    /// <summary>
    /// Preamble (RFC 9807, section 6.4.2.1):
    /// <code>
    /// preamble = concat("OPAQUEv1-",
    ///                   I2OSP(len(context), 2), context,
    ///                   I2OSP(len(client_identity), 2), client_identity,
    ///                   ke1,
    ///                   I2OSP(len(server_identity), 2), server_identity,
    ///                   credential_response,
    ///                   server_nonce,
    ///                   server_public_keyshare)
    /// </code>
    /// </summary>
    public static byte[] Preamble(
        ReadOnlySpan<byte> context, ReadOnlySpan<byte> clientIdentity, ReadOnlySpan<byte> ke1,
        ReadOnlySpan<byte> serverIdentity, ReadOnlySpan<byte> credentialResponse, ReadOnlySpan<byte> serverNonceAndKeyshare)
    {
        CheckFramed(context, nameof(context));
        return
        [
            .. "OPAQUEv1-"u8,
            (byte)(context.Length >> 8), (byte)context.Length, .. context,
            (byte)(clientIdentity.Length >> 8), (byte)clientIdentity.Length, .. clientIdentity,
            .. ke1,
            (byte)(serverIdentity.Length >> 8), (byte)serverIdentity.Length, .. serverIdentity,
            .. credentialResponse,
            .. serverNonceAndKeyshare,
        ];
    }

    /// <summary>
    /// DeriveKeys (RFC 9807, section 6.4.2.2) followed by both MACs of the 3DH functions (section 6.4.3/6.4.4):
    /// <code>
    /// prk = Extract("", ikm)
    /// handshake_secret = Derive-Secret(prk, "HandshakeSecret", Hash(preamble))
    /// session_key = Derive-Secret(prk, "SessionKey", Hash(preamble))
    /// Km2 = Derive-Secret(handshake_secret, "ServerMAC", "")
    /// Km3 = Derive-Secret(handshake_secret, "ClientMAC", "")
    /// server_mac = MAC(Km2, Hash(preamble))
    /// client_mac = MAC(Km3, Hash(concat(preamble, server_mac)))
    /// </code>
    /// </summary>
    public static void KeySchedule(ReadOnlySpan<byte> ikm, ReadOnlySpan<byte> preamble, Span<byte> sessionKey, Span<byte> serverMac, Span<byte> clientMac)
    {
        Span<byte> prk = stackalloc byte[OpaqueSuite.Nx];
        Span<byte> handshakeSecret = stackalloc byte[OpaqueSuite.Nx];
        Span<byte> km2 = stackalloc byte[OpaqueSuite.Nx];
        Span<byte> km3 = stackalloc byte[OpaqueSuite.Nx];
        Span<byte> transcriptHash = stackalloc byte[Kdf.HashLength];
        try
        {
            Kdf.Extract(ikm, prk);
            Kdf.Hash(preamble, transcriptHash);
            Kdf.ExpandLabel(prk, "HandshakeSecret"u8, transcriptHash, handshakeSecret);
            Kdf.ExpandLabel(prk, "SessionKey"u8, transcriptHash, sessionKey);
            Kdf.ExpandLabel(handshakeSecret, "ServerMAC"u8, default, km2);
            Kdf.ExpandLabel(handshakeSecret, "ClientMAC"u8, default, km3);
            Kdf.Mac(km2, transcriptHash, serverMac);

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
            hash.AppendData(preamble);
            hash.AppendData(serverMac);
            hash.GetHashAndReset(transcriptHash);
            Kdf.Mac(km3, transcriptHash, clientMac);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(prk);
            CryptographicOperations.ZeroMemory(handshakeSecret);
            CryptographicOperations.ZeroMemory(km2);
            CryptographicOperations.ZeroMemory(km3);
        }
    }

    /// <summary>Rejects a value whose length does not fit a 2-byte length prefix.</summary>
    public static void CheckFramed(ReadOnlySpan<byte> value, string name)
    {
        if (value.Length > OpaqueSuite.MaxFramedLength)
        {
            throw new ArgumentException($"{name} must be at most {OpaqueSuite.MaxFramedLength} bytes.", name);
        }
    }

    //   auth_key = Expand(randomized_password, concat(envelope_nonce, "AuthKey"), Nh)
    //   export_key = Expand(randomized_password, concat(envelope_nonce, "ExportKey"), Nh)
    //   seed = Expand(randomized_password, concat(envelope_nonce, "PrivateKey"), Nseed)
    //   (client_private_key, client_public_key) = DeriveDiffieHellmanKeyPair(seed)
    private static bool DeriveEnvelopeKeys(
        ReadOnlySpan<byte> randomizedPassword, ReadOnlySpan<byte> nonce, AkeGroup group,
        Span<byte> clientPrivateKey, Span<byte> clientPublicKey, Span<byte> exportKey, out byte[] authKey)
    {
        authKey = new byte[OpaqueSuite.Nh];
        Span<byte> seed = stackalloc byte[OpaqueSuite.Nseed];
        Kdf.Expand(randomizedPassword, nonce, "AuthKey"u8, authKey);
        Kdf.Expand(randomizedPassword, nonce, "ExportKey"u8, exportKey);
        Kdf.Expand(randomizedPassword, nonce, "PrivateKey"u8, seed);
        bool derived = group.DeriveKeyPair(seed, clientPrivateKey, clientPublicKey);
        CryptographicOperations.ZeroMemory(seed);
        return derived;
    }

    //   auth_tag = MAC(auth_key, concat(envelope_nonce, server_public_key,
    //                  I2OSP(len(server_identity), 2), server_identity,
    //                  I2OSP(len(client_identity), 2), client_identity))
    private static void AuthTag(
        ReadOnlySpan<byte> authKey, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> serverPublicKey,
        ReadOnlySpan<byte> serverIdentity, ReadOnlySpan<byte> clientIdentity, Span<byte> tag)
    {
        byte[] message =
        [
            .. nonce,
            .. serverPublicKey,
            (byte)(serverIdentity.Length >> 8), (byte)serverIdentity.Length, .. serverIdentity,
            (byte)(clientIdentity.Length >> 8), (byte)clientIdentity.Length, .. clientIdentity,
        ];
        Kdf.Mac(authKey, message, tag);
    }
}
