using System.Security.Cryptography;
using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Opaque;

/// <summary>
/// The client side of OPAQUE-3DH (RFC 9807) with the ristretto255-SHA512 configuration: registration
/// (<c>StartRegistration</c>, <c>FinishRegistration</c>) and login (<c>StartLogin</c>,
/// <see cref="FinishLogin"/>). The password never leaves the device, not even blinded in a form the server could
/// test guesses against without the client.
/// </summary>
/// <remarks>
/// An instance holds only its key-stretching function, no per-flow state: a flow's state object can be finished by
/// any instance with the same function (for instance one built after the server sent the account's Argon2id
/// parameters with KE2). Passwords are bytes (UTF-8 of what the user typed; the caller decides on normalisation)
/// of at most 65535 bytes.
/// </remarks>
public sealed class OpaqueClient
{
    private readonly IKeyStretchingFunction _keyStretching;
    private readonly AkeGroup _group;

    /// <summary>A client that stretches the OPRF output with <paramref name="keyStretching"/>.</summary>
    public OpaqueClient(IKeyStretchingFunction keyStretching)
        : this(keyStretching, AkeGroup.Ristretto255)
    {
    }

    internal OpaqueClient(IKeyStretchingFunction keyStretching, AkeGroup group)
    {
        ArgumentNullException.ThrowIfNull(keyStretching);
        _keyStretching = keyStretching;
        _group = group;
    }

    /// <summary>CreateRegistrationRequest (RFC 9807, section 5.2.1): blinds the password.</summary>
    public (ClientRegistrationState State, RegistrationRequest Request) StartRegistration(ReadOnlySpan<byte> password) =>
        StartRegistration(password, RandomBlind());

    /// <summary>
    /// FinalizeRegistrationRequest (RFC 9807, section 5.2.3): the record to upload and the export key. Consumes
    /// <paramref name="state"/>. The caller must have sent the request over a channel that authenticates the server
    /// and keeps the record confidential (TLS), as RFC 9807 section 3.2 requires.
    /// </summary>
    public (RegistrationRecord Record, byte[] ExportKey) FinishRegistration(
        ClientRegistrationState state, ReadOnlySpan<byte> password, RegistrationResponse response, OpaqueIdentities identities)
    {
        Span<byte> envelopeNonce = stackalloc byte[OpaqueSuite.Nn];
        RandomNumberGenerator.Fill(envelopeNonce);
        return FinishRegistration(state, password, response, identities, envelopeNonce);
    }

    /// <summary>GenerateKE1 (RFC 9807, section 6.2.1): blinds the password and makes an ephemeral key share.</summary>
    public (ClientLoginState State, KE1 KE1) StartLogin(ReadOnlySpan<byte> password)
    {
        Span<byte> nonce = stackalloc byte[OpaqueSuite.Nn];
        Span<byte> keyshareSeed = stackalloc byte[OpaqueSuite.Nseed];
        RandomNumberGenerator.Fill(nonce);
        RandomNumberGenerator.Fill(keyshareSeed);
        try
        {
            return StartLogin(password, RandomBlind(), nonce, keyshareSeed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyshareSeed);
        }
    }

    /// <summary>
    /// GenerateKE3 (RFC 9807, section 6.2.3): recovers the credentials from KE2, authenticates the server, and
    /// returns KE3 with the session and export keys. A wrong password, an unknown account and a forged or altered KE2
    /// all give <see cref="OpaqueLoginStatus.AuthenticationFailed"/>, never an exception. Consumes
    /// <paramref name="state"/>. <paramref name="identities"/> and <paramref name="context"/> must be those the
    /// server uses.
    /// </summary>
    public LoginOutcome FinishLogin(
        ClientLoginState state, ReadOnlySpan<byte> password, KE2 ke2, OpaqueIdentities identities, ReadOnlySpan<byte> context)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(ke2);
        ArgumentNullException.ThrowIfNull(identities);
        state.ThrowIfConsumed();
        OpaqueProtocol.CheckFramed(password, nameof(password));
        OpaqueProtocol.CheckFramed(context, nameof(context));

        Span<byte> randomizedPassword = stackalloc byte[Kdf.HashLength];
        Span<byte> maskingKey = stackalloc byte[OpaqueSuite.Nh];
        Span<byte> unmasked = stackalloc byte[OpaqueSuite.MaskedResponseLength];
        Span<byte> clientPrivateKey = stackalloc byte[OpaqueSuite.Nsk];
        Span<byte> clientPublicKey = stackalloc byte[OpaqueSuite.Npk];
        Span<byte> ikm = stackalloc byte[3 * AkeGroup.KeyLength];
        Span<byte> serverMac = stackalloc byte[OpaqueSuite.Nm];
        var exportKey = new byte[OpaqueSuite.Nh];
        var sessionKey = new byte[OpaqueSuite.Nx];
        var clientMac = new byte[OpaqueSuite.Nm];
        bool succeeded = false;
        try
        {
            // RecoverCredentials (section 6.3.2.3)
            if (!OpaqueProtocol.RandomizedPassword(password, state.Blind, ke2.EvaluatedMessage, _keyStretching, randomizedPassword))
            {
                return LoginOutcome.Failed;
            }

            Kdf.Expand(randomizedPassword, "MaskingKey"u8, maskingKey);
            ke2.MaskedResponse.CopyTo(unmasked);
            OpaqueProtocol.ApplyMask(maskingKey, ke2.MaskingNonce, unmasked);
            ReadOnlySpan<byte> serverPublicKey = unmasked[..OpaqueSuite.Npk];
            ReadOnlySpan<byte> envelope = unmasked[OpaqueSuite.Npk..];
            if (!OpaqueProtocol.Recover(randomizedPassword, serverPublicKey, envelope, identities, _group, clientPrivateKey, clientPublicKey, exportKey))
            {
                return LoginOutcome.Failed;
            }

            // AuthClientFinalize (section 6.4.3)
            //   dh1 = DiffieHellman(state.client_secret, ke2.auth_response.server_public_keyshare)
            //   dh2 = DiffieHellman(state.client_secret, cleartext_credentials.server_public_key)
            //   dh3 = DiffieHellman(client_private_key, ke2.auth_response.server_public_keyshare)
            if (!_group.DiffieHellman(state.ClientSecret, ke2.ServerPublicKeyshare, ikm[..32])
                || !_group.DiffieHellman(state.ClientSecret, serverPublicKey, ikm[32..64])
                || !_group.DiffieHellman(clientPrivateKey, ke2.ServerPublicKeyshare, ikm[64..]))
            {
                return LoginOutcome.Failed;
            }

            byte[] preamble = OpaqueProtocol.Preamble(
                context, identities.ClientOr(clientPublicKey), state.KE1.Bytes,
                identities.ServerOr(serverPublicKey), ke2.CredentialResponse, ke2.ServerNonceAndKeyshare);
            OpaqueProtocol.KeySchedule(ikm, preamble, sessionKey, serverMac, clientMac);
            if (!CryptographicOperations.FixedTimeEquals(ke2.ServerMac, serverMac))
            {
                return LoginOutcome.Failed;
            }

            succeeded = true;
            return LoginOutcome.Success(new KE3(clientMac), sessionKey, exportKey);
        }
        finally
        {
            state.Dispose();
            CryptographicOperations.ZeroMemory(randomizedPassword);
            CryptographicOperations.ZeroMemory(maskingKey);
            CryptographicOperations.ZeroMemory(unmasked);
            CryptographicOperations.ZeroMemory(clientPrivateKey);
            CryptographicOperations.ZeroMemory(ikm);
            if (!succeeded)
            {
                CryptographicOperations.ZeroMemory(exportKey);
                CryptographicOperations.ZeroMemory(sessionKey);
                CryptographicOperations.ZeroMemory(clientMac);
            }
        }
    }

    internal (ClientRegistrationState State, RegistrationRequest Request) StartRegistration(ReadOnlySpan<byte> password, byte[] blind)
    {
        var blinded = new byte[OpaqueSuite.Noe];
        Blind(password, blind, blinded);
        return (new ClientRegistrationState(blind), new RegistrationRequest(blinded));
    }

    internal (RegistrationRecord Record, byte[] ExportKey) FinishRegistration(
        ClientRegistrationState state, ReadOnlySpan<byte> password, RegistrationResponse response,
        OpaqueIdentities identities, ReadOnlySpan<byte> envelopeNonce)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(identities);
        state.ThrowIfConsumed();
        OpaqueProtocol.CheckFramed(password, nameof(password));

        Span<byte> randomizedPassword = stackalloc byte[Kdf.HashLength];
        var record = new byte[RegistrationRecord.SerializedLength];
        var exportKey = new byte[OpaqueSuite.Nh];
        try
        {
            if (!OpaqueProtocol.RandomizedPassword(password, state.Blind, response.EvaluatedMessage, _keyStretching, randomizedPassword))
            {
                // TryParse admitted only valid elements and the blind is non-zero, so this cannot happen.
                throw new CryptographicException("The OPRF could not be finalized.");
            }

            OpaqueProtocol.Store(randomizedPassword, response.ServerPublicKey, identities, envelopeNonce, _group, record, exportKey);
            return (new RegistrationRecord(record), exportKey);
        }
        finally
        {
            state.Dispose();
            CryptographicOperations.ZeroMemory(randomizedPassword);
        }
    }

    internal (ClientLoginState State, KE1 KE1) StartLogin(
        ReadOnlySpan<byte> password, byte[] blind, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> clientKeyshareSeed)
    {
        // CreateCredentialRequest (section 6.3.2.1), then AuthClientStart (section 6.4.3):
        //   ke1 = blinded_message || client_nonce || client_public_keyshare
        var ke1 = new byte[KE1.SerializedLength];
        Blind(password, blind, ke1.AsSpan(0, OpaqueSuite.Noe));
        clientNonce.CopyTo(ke1.AsSpan(OpaqueSuite.Noe, OpaqueSuite.Nn));
        var clientSecret = new byte[OpaqueSuite.Nsk];
        if (!_group.DeriveKeyPair(clientKeyshareSeed, clientSecret, ke1.AsSpan(OpaqueSuite.Noe + OpaqueSuite.Nn)))
        {
            throw new CryptographicException("DeriveDiffieHellmanKeyPair failed for the key share seed.");
        }

        var message = new KE1(ke1);
        return (new ClientLoginState(blind, clientSecret, message), message);
    }

    private static byte[] RandomBlind()
    {
        var blind = new byte[Ristretto255.ScalarLength];
        Sodium.ScalarRandom(blind);
        return blind;
    }

    private static void Blind(ReadOnlySpan<byte> password, byte[] blind, Span<byte> blindedElement)
    {
        OpaqueProtocol.CheckFramed(password, nameof(password));
        if (!Oprf.Blind(password, blind, blindedElement))
        {
            // InvalidInputError: the password hashes to the identity element (probability about 2^-252).
            CryptographicOperations.ZeroMemory(blind);
            throw new CryptographicException("This password cannot be used with OPAQUE; choose another.");
        }
    }
}
