using System.Security.Cryptography;
using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Opaque;

/// <summary>
/// The server side of OPAQUE-3DH (RFC 9807) with the ristretto255-SHA512 configuration. It holds the long-term
/// AKE keys and the oprf_seed, from which every account's OPRF key is derived by its credential identifier; both
/// must persist for as long as any record made with them. The server never sees a password or anything it could
/// test password guesses against without running the key-stretching function per guess.
/// </summary>
public sealed class OpaqueServer : IDisposable
{
    /// <summary>The oprf_seed length: Nh = 64 bytes.</summary>
    public const int OprfSeedLength = OpaqueSuite.Nh;

    private readonly ServerKeys _keys;
    private readonly byte[] _oprfSeed;
    private bool _disposed;

    /// <summary>
    /// A server with its AKE keys and its oprf_seed (<see cref="OprfSeedLength"/> random bytes, one for all
    /// accounts as RFC 9807 section 10.9 recommends, so that unknown accounts look like known ones).
    /// <paramref name="keys"/> stays owned by the caller; the seed is copied and zeroed on <see cref="Dispose"/>.
    /// </summary>
    public OpaqueServer(ServerKeys keys, byte[] oprfSeed)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(oprfSeed);
        if (oprfSeed.Length != OprfSeedLength)
        {
            throw new ArgumentException($"The oprf_seed must be {OprfSeedLength} bytes.", nameof(oprfSeed));
        }

        _keys = keys;
        _oprfSeed = (byte[])oprfSeed.Clone();
    }

    /// <summary>A fresh oprf_seed: <see cref="OprfSeedLength"/> random bytes.</summary>
    public static byte[] GenerateOprfSeed() => RandomNumberGenerator.GetBytes(OprfSeedLength);

    /// <summary>
    /// CreateRegistrationResponse (RFC 9807, section 5.2.2): evaluates the blinded password under the OPRF key of
    /// <paramref name="credentialIdentifier"/> (unique per account and stable; the same value at every login).
    /// </summary>
    public RegistrationResponse CreateRegistrationResponse(RegistrationRequest request, ReadOnlySpan<byte> credentialIdentifier)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(request);
        var response = new byte[RegistrationResponse.SerializedLength];
        Evaluate(request.BlindedMessage, credentialIdentifier, response.AsSpan(0, OpaqueSuite.Noe));
        _keys.PublicKeySpan.CopyTo(response.AsSpan(OpaqueSuite.Noe));
        return new RegistrationResponse(response);
    }

    /// <summary>
    /// GenerateKE2 (RFC 9807, section 6.2.2). With a null <paramref name="record"/> (no such account) it answers
    /// with the RFC's fake credential response (section 6.3.2.2), built from a fake record derived from the
    /// oprf_seed and the credential identifier, so repeated probes of one unknown account get consistent answers;
    /// real and fake answers cost the same work. Keep the state for <see cref="FinishLogin"/>.
    /// </summary>
    public (ServerLoginState State, KE2 KE2) StartLogin(
        RegistrationRecord? record, ReadOnlySpan<byte> credentialIdentifier, KE1 ke1, OpaqueIdentities identities, ReadOnlySpan<byte> context)
    {
        Span<byte> randomness = stackalloc byte[OpaqueSuite.Nn + OpaqueSuite.Nn + OpaqueSuite.Nseed];
        RandomNumberGenerator.Fill(randomness);
        try
        {
            return StartLogin(
                record, credentialIdentifier, ke1, identities, context,
                randomness[..32], randomness[32..64], randomness[64..]);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(randomness);
        }
    }

    /// <summary>
    /// ServerFinish (RFC 9807, section 6.2.4): checks the client's MAC in constant time. Consumes
    /// <paramref name="state"/>. A login answered with a fake record always fails.
    /// </summary>
    public ServerLoginOutcome FinishLogin(ServerLoginState state, KE3 ke3)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(ke3);
        state.ThrowIfConsumed();
        try
        {
            bool valid = CryptographicOperations.FixedTimeEquals(ke3.ClientMac, state.ExpectedClientMac) & !state.ForUnknownAccount;
            return valid ? ServerLoginOutcome.Success((byte[])state.SessionKey.Clone()) : ServerLoginOutcome.Failed;
        }
        finally
        {
            state.Dispose();
        }
    }

    /// <summary>Zeroes the copy of the oprf_seed.</summary>
    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_oprfSeed);
        _disposed = true;
    }

    /// <summary>
    /// GenerateKE2 with the randomness given. A null record takes the derived fake record; a non-null
    /// <paramref name="fakeRecord"/> replaces that derivation (the RFC's fake test vectors give their own).
    /// </summary>
    internal (ServerLoginState State, KE2 KE2) StartLogin(
        RegistrationRecord? record, ReadOnlySpan<byte> credentialIdentifier, KE1 ke1, OpaqueIdentities identities,
        ReadOnlySpan<byte> context, ReadOnlySpan<byte> maskingNonce, ReadOnlySpan<byte> serverNonce,
        ReadOnlySpan<byte> serverKeyshareSeed, RegistrationRecord? fakeRecord = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(ke1);
        ArgumentNullException.ThrowIfNull(identities);
        OpaqueProtocol.CheckFramed(context, nameof(context));
        AkeGroup group = _keys.Group;

        // The fake record is computed on every call, and chosen without a branch, so a login for an unknown
        // account takes the same work as one for a known account (RFC 9807, sections 9.1 and 10.9).
        Span<byte> chosen = stackalloc byte[RegistrationRecord.SerializedLength];
        Span<byte> serverPrivateKeyshare = stackalloc byte[OpaqueSuite.Nsk];
        Span<byte> ikm = stackalloc byte[3 * AkeGroup.KeyLength];
        Span<byte> serverMac = stackalloc byte[OpaqueSuite.Nm];
        var ke2 = new byte[KE2.SerializedLength];
        var sessionKey = new byte[OpaqueSuite.Nx];
        var expectedClientMac = new byte[OpaqueSuite.Nm];
        try
        {
            DeriveFakeRecord(credentialIdentifier, chosen);
            if (fakeRecord is not null)
            {
                fakeRecord.Bytes.CopyTo(chosen);
            }

            bool unknown = record is null;
            ReadOnlySpan<byte> real = record is null ? chosen : record.Bytes;
            Select(real, chosen, unknown);
            ReadOnlySpan<byte> clientPublicKey = chosen[..OpaqueSuite.Npk];
            ReadOnlySpan<byte> maskingKey = chosen.Slice(OpaqueSuite.Npk, OpaqueSuite.Nh);
            ReadOnlySpan<byte> envelope = chosen[(OpaqueSuite.Npk + OpaqueSuite.Nh)..];

            // CreateCredentialResponse (section 6.3.2.2):
            //   credential_response = evaluated_message || masking_nonce ||
            //                         xor(pad, concat(server_public_key, envelope))
            Span<byte> credentialResponse = ke2.AsSpan(0, OpaqueSuite.CredentialResponseLength);
            Evaluate(ke1.BlindedMessage, credentialIdentifier, credentialResponse[..OpaqueSuite.Noe]);
            maskingNonce.CopyTo(credentialResponse.Slice(OpaqueSuite.Noe, OpaqueSuite.Nn));
            Span<byte> masked = credentialResponse[(OpaqueSuite.Noe + OpaqueSuite.Nn)..];
            _keys.PublicKeySpan.CopyTo(masked);
            envelope.CopyTo(masked[OpaqueSuite.Npk..]);
            OpaqueProtocol.ApplyMask(maskingKey, maskingNonce, masked);

            // AuthServerRespond (section 6.4.4)
            Span<byte> authResponse = ke2.AsSpan(OpaqueSuite.CredentialResponseLength);
            serverNonce.CopyTo(authResponse);
            Span<byte> serverPublicKeyshare = authResponse.Slice(OpaqueSuite.Nn, OpaqueSuite.Npk);
            if (!group.DeriveKeyPair(serverKeyshareSeed, serverPrivateKeyshare, serverPublicKeyshare))
            {
                throw new CryptographicException("DeriveDiffieHellmanKeyPair failed for the key share seed.");
            }

            //   dh1 = DiffieHellman(server_private_keyshare, ke1.auth_request.client_public_keyshare)
            //   dh2 = DiffieHellman(server_private_key, ke1.auth_request.client_public_keyshare)
            //   dh3 = DiffieHellman(server_private_keyshare, client_public_key)
            if (!group.DiffieHellman(serverPrivateKeyshare, ke1.ClientPublicKeyshare, ikm[..32])
                || !group.DiffieHellman(_keys.PrivateKeySpan, ke1.ClientPublicKeyshare, ikm[32..64])
                || !group.DiffieHellman(serverPrivateKeyshare, clientPublicKey, ikm[64..]))
            {
                // KE1.TryParse and RegistrationRecord.TryParse admit only valid elements.
                throw new CryptographicException("A Diffie-Hellman input was not a valid public key.");
            }

            byte[] preamble = OpaqueProtocol.Preamble(
                context, identities.ClientOr(clientPublicKey), ke1.Bytes, identities.ServerOr(_keys.PublicKeySpan),
                credentialResponse, authResponse[..(OpaqueSuite.Nn + OpaqueSuite.Npk)]);
            OpaqueProtocol.KeySchedule(ikm, preamble, sessionKey, serverMac, expectedClientMac);
            serverMac.CopyTo(authResponse[(OpaqueSuite.Nn + OpaqueSuite.Npk)..]);
            return (new ServerLoginState(expectedClientMac, sessionKey, unknown), new KE2(ke2));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(chosen);
            CryptographicOperations.ZeroMemory(serverPrivateKeyshare);
            CryptographicOperations.ZeroMemory(ikm);
        }
    }

    /// <summary>
    /// The fake record of an unknown credential identifier (RFC 9807, section 6.3.2.2: a random public key, a
    /// random masking key, an all-zero envelope), derived from the oprf_seed instead of drawn at random so it is the
    /// same at every probe. The labels end differently from "OprfKey", so no identifier's fake-record keys can
    /// coincide with any identifier's OPRF key seed.
    /// </summary>
    internal void DeriveFakeRecord(ReadOnlySpan<byte> credentialIdentifier, Span<byte> record)
    {
        Span<byte> seed = stackalloc byte[OpaqueSuite.Nseed];
        Span<byte> privateKey = stackalloc byte[OpaqueSuite.Nsk];
        try
        {
            Kdf.Expand(_oprfSeed, credentialIdentifier, "LetterlockFakeClientKey"u8, seed);
            if (!_keys.Group.DeriveKeyPair(seed, privateKey, record[..OpaqueSuite.Npk]))
            {
                throw new CryptographicException("DeriveDiffieHellmanKeyPair failed for the fake record.");
            }

            Kdf.Expand(_oprfSeed, credentialIdentifier, "LetterlockFakeMaskingKey"u8, record.Slice(OpaqueSuite.Npk, OpaqueSuite.Nh));
            record[(OpaqueSuite.Npk + OpaqueSuite.Nh)..].Clear();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
            CryptographicOperations.ZeroMemory(privateKey);
        }
    }

    // oprf_key = DeriveOprfKey(oprf_seed, credential_identifier); evaluated = BlindEvaluate(oprf_key, blinded)
    private void Evaluate(ReadOnlySpan<byte> blindedMessage, ReadOnlySpan<byte> credentialIdentifier, Span<byte> evaluated)
    {
        Span<byte> oprfKey = stackalloc byte[OpaqueSuite.Nok];
        try
        {
            OpaqueProtocol.DeriveOprfKey(_oprfSeed, credentialIdentifier, oprfKey);
            if (!Oprf.BlindEvaluate(oprfKey, blindedMessage, evaluated))
            {
                // RegistrationRequest.TryParse and KE1.TryParse admit only valid elements.
                throw new CryptographicException("The blinded element is not valid.");
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(oprfKey);
        }
    }

    /// <summary>destination = useSecond ? destination : first, byte by byte without a data-dependent branch.</summary>
    private static void Select(ReadOnlySpan<byte> first, Span<byte> destination, bool useSecond)
    {
        byte keep = (byte)-(useSecond ? 1 : 0);
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (byte)((destination[i] & keep) | (first[i] & ~keep));
        }
    }
}
