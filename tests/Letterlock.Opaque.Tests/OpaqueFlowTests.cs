using CsCheck;

namespace Letterlock.Cryptography.Opaque.Tests;

/// <summary>
/// Registration and login end to end through the public API, and what must fail: wrong passwords, unknown
/// accounts, altered messages, mismatched identities, contexts, credentials and servers. Identity KSF keeps the
/// property runs fast; <see cref="KeyStretchingTests"/> covers Argon2id.
/// </summary>
public sealed class OpaqueFlowTests : IDisposable
{
    private static readonly byte[] Context = "Letterlock OPAQUE test"u8.ToArray();
    private static readonly byte[] CredentialId = "alice@example.org"u8.ToArray();
    private static readonly OpaqueIdentities Identities = OpaqueIdentities.FromStrings("alice@example.org", "example.org");

    private readonly ServerKeys _keys = ServerKeys.Generate();
    private readonly OpaqueServer _server;
    private readonly OpaqueClient _client = new(IdentityKeyStretching.Instance);

    public OpaqueFlowTests()
    {
        _server = new OpaqueServer(_keys, OpaqueServer.GenerateOprfSeed());
    }

    public void Dispose()
    {
        _server.Dispose();
        _keys.Dispose();
    }

    [Fact]
    public void Registration_then_login_succeeds_for_random_passwords()
    {
        Gen.Byte.Array[1, 200].Sample(password =>
        {
            var (record, registrationExportKey) = Register(password);
            using LoginOutcome outcome = Login(record, password, out ServerLoginOutcome serverOutcome);
            using (serverOutcome)
            {
                Assert.True(outcome.Succeeded);
                Assert.True(serverOutcome.Succeeded);
                Assert.Equal(registrationExportKey, outcome.ExportKey);
                Assert.Equal(serverOutcome.SessionKey, outcome.SessionKey);
            }
        }, iter: 40);
    }

    [Fact]
    public void Each_login_has_a_fresh_session_key_and_the_same_export_key()
    {
        byte[] password = "correct horse battery staple"u8.ToArray();
        var (record, exportKey) = Register(password);
        using LoginOutcome first = Login(record, password, out ServerLoginOutcome s1);
        using LoginOutcome second = Login(record, password, out ServerLoginOutcome s2);
        s1.Dispose();
        s2.Dispose();
        Assert.Equal(exportKey, first.ExportKey);
        Assert.Equal(exportKey, second.ExportKey);
        Assert.NotEqual(first.SessionKey, second.SessionKey);
        Assert.NotEqual(first.KE3!.Serialize(), second.KE3!.Serialize());
    }

    [Fact]
    public void Wrong_password_fails_with_the_same_outcome_as_an_unknown_account()
    {
        Gen.Select(Gen.Byte.Array[1, 64], Gen.Byte.Array[1, 64]).Where((a, b) => !a.AsSpan().SequenceEqual(b)).Sample((password, wrong) =>
        {
            var (record, _) = Register(password);
            using LoginOutcome wrongPassword = Login(record, wrong, out ServerLoginOutcome s1);
            using LoginOutcome unknownAccount = Login(null, password, out ServerLoginOutcome s2);
            s1.Dispose();
            s2.Dispose();

            Assert.Equal(OpaqueLoginStatus.AuthenticationFailed, wrongPassword.Status);
            Assert.Equal(wrongPassword.Status, unknownAccount.Status);
            Assert.Equal(wrongPassword.GetType(), unknownAccount.GetType());
            Assert.Null(wrongPassword.KE3);
            Assert.Null(unknownAccount.KE3);
            Assert.Null(unknownAccount.ExportKey);
            Assert.Null(unknownAccount.SessionKey);
        }, iter: 20);
    }

    [Fact]
    public void Any_flipped_bit_in_KE2_fails_the_client()
    {
        byte[] password = "hunter2"u8.ToArray();
        var (record, _) = Register(password);
        Gen.Select(Gen.Int[0, KE2.SerializedLength - 1], Gen.Int[0, 7]).Sample((position, bit) =>
        {
            var (login, ke1) = _client.StartLogin(password);
            var (serverState, ke2) = _server.StartLogin(record, CredentialId, ke1, Identities, Context);
            serverState.Dispose();
            byte[] altered = ke2.Serialize();
            altered[position] ^= (byte)(1 << bit);

            // Either the message no longer parses (an element's encoding broke) or the login fails.
            if (KE2.TryParse(altered, out KE2? parsed))
            {
                using LoginOutcome outcome = _client.FinishLogin(login, password, parsed, Identities, Context);
                Assert.Equal(OpaqueLoginStatus.AuthenticationFailed, outcome.Status);
            }
            else
            {
                login.Dispose();
            }
        }, iter: 300);
    }

    [Fact]
    public void Every_byte_of_KE2_is_covered()
    {
        // The property above samples positions; this walks every byte once with one flipped bit.
        byte[] password = "hunter2"u8.ToArray();
        var (record, _) = Register(password);
        for (int position = 0; position < KE2.SerializedLength; position++)
        {
            var (login, ke1) = _client.StartLogin(password);
            var (serverState, ke2) = _server.StartLogin(record, CredentialId, ke1, Identities, Context);
            serverState.Dispose();
            byte[] altered = ke2.Serialize();
            altered[position] ^= 0x01;
            if (KE2.TryParse(altered, out KE2? parsed))
            {
                using LoginOutcome outcome = _client.FinishLogin(login, password, parsed, Identities, Context);
                Assert.False(outcome.Succeeded, $"KE2 with byte {position} altered was accepted.");
            }
            else
            {
                login.Dispose();
            }
        }
    }

    [Fact]
    public void Any_flipped_bit_in_KE3_fails_the_server()
    {
        byte[] password = "hunter2"u8.ToArray();
        var (record, _) = Register(password);
        Gen.Select(Gen.Int[0, KE3.SerializedLength - 1], Gen.Int[0, 7]).Sample((position, bit) =>
        {
            var (login, ke1) = _client.StartLogin(password);
            var (serverState, ke2) = _server.StartLogin(record, CredentialId, ke1, Identities, Context);
            using LoginOutcome outcome = _client.FinishLogin(login, password, ke2, Identities, Context);
            Assert.True(outcome.Succeeded);
            byte[] altered = outcome.KE3.Serialize();
            altered[position] ^= (byte)(1 << bit);
            Assert.True(KE3.TryParse(altered, out KE3? parsed));
            using ServerLoginOutcome finished = _server.FinishLogin(serverState, parsed);
            Assert.Equal(OpaqueLoginStatus.AuthenticationFailed, finished.Status);
            Assert.Null(finished.SessionKey);
        }, iter: 200);
    }

    [Fact]
    public void A_KE3_from_another_login_is_refused()
    {
        byte[] password = "hunter2"u8.ToArray();
        var (record, _) = Register(password);
        using LoginOutcome first = Login(record, password, out ServerLoginOutcome s1);
        s1.Dispose();

        var (login, ke1) = _client.StartLogin(password);
        var (serverState, ke2) = _server.StartLogin(record, CredentialId, ke1, Identities, Context);
        login.Dispose();
        using ServerLoginOutcome replayed = _server.FinishLogin(serverState, first.KE3!);
        Assert.False(replayed.Succeeded);
    }

    [Fact]
    public void Mismatched_identities_credential_or_server_fail()
    {
        byte[] password = "hunter2"u8.ToArray();
        var (record, _) = Register(password);

        Assert.False(LoginWith(record, password, OpaqueIdentities.FromStrings("mallory@example.org", "example.org"), Context, CredentialId, _server).Succeeded);
        Assert.False(LoginWith(record, password, OpaqueIdentities.FromStrings("alice@example.org", "evil.example"), Context, CredentialId, _server).Succeeded);
        Assert.False(LoginWith(record, password, OpaqueIdentities.None, Context, CredentialId, _server).Succeeded);
        Assert.False(LoginWith(record, password, Identities, Context, "bob@example.org"u8.ToArray(), _server).Succeeded);

        using var otherKeys = ServerKeys.Generate();
        using var otherProvider = new OpaqueServer(otherKeys, OpaqueServer.GenerateOprfSeed());
        Assert.False(LoginWith(record, password, Identities, Context, CredentialId, otherProvider).Succeeded);

        Assert.True(LoginWith(record, password, Identities, Context, CredentialId, _server).Succeeded);
    }

    [Fact]
    public void The_client_and_server_disagreeing_on_the_context_fails_on_the_client()
    {
        byte[] password = "hunter2"u8.ToArray();
        var (record, _) = Register(password);
        var (login, ke1) = _client.StartLogin(password);
        var (serverState, ke2) = _server.StartLogin(record, CredentialId, ke1, Identities, "provider A"u8);
        serverState.Dispose();
        using LoginOutcome outcome = _client.FinishLogin(login, password, ke2, Identities, "provider B"u8);
        Assert.False(outcome.Succeeded);
    }

    [Fact]
    public void Fake_answers_for_one_unknown_account_are_consistent_and_differ_between_accounts()
    {
        var a1 = new byte[RegistrationRecord.SerializedLength];
        var a2 = new byte[RegistrationRecord.SerializedLength];
        var b = new byte[RegistrationRecord.SerializedLength];
        _server.DeriveFakeRecord("nobody@example.org"u8, a1);
        _server.DeriveFakeRecord("nobody@example.org"u8, a2);
        _server.DeriveFakeRecord("nobody-else@example.org"u8, b);
        Assert.Equal(a1, a2);
        Assert.NotEqual(a1, b);
        Assert.True(RegistrationRecord.TryParse(a1, out _), "The fake record's public key is a valid element.");
        Assert.Equal(new byte[OpaqueSuite.EnvelopeLength], a1[^OpaqueSuite.EnvelopeLength..]);

        // Two probes with the same blinded password get the same OPRF evaluation, as a real account would.
        byte[] password = "guess"u8.ToArray();
        var (_, ke1) = _client.StartLogin(password);
        var (s1, first) = _server.StartLogin(null, "nobody@example.org"u8, ke1, Identities, Context);
        var (s2, second) = _server.StartLogin(null, "nobody@example.org"u8, ke1, Identities, Context);
        s1.Dispose();
        s2.Dispose();
        Assert.Equal(first.Serialize()[..OpaqueSuite.Noe], second.Serialize()[..OpaqueSuite.Noe]);
        Assert.Equal(KE2.SerializedLength, first.Length);
    }

    [Fact]
    public void A_fake_answer_matches_a_login_against_the_derived_fake_record()
    {
        // The null-record path is exactly CreateCredentialResponse with the derived fake record (RFC 9807, 6.3.2.2).
        var fake = new byte[RegistrationRecord.SerializedLength];
        _server.DeriveFakeRecord(CredentialId, fake);
        var (_, ke1) = _client.StartLogin("guess"u8);
        byte[] n1 = new byte[32], n2 = new byte[32], seed = new byte[32];
        Random.Shared.NextBytes(n1);
        Random.Shared.NextBytes(n2);
        Random.Shared.NextBytes(seed);
        var (sa, viaNull) = _server.StartLogin(null, CredentialId, ke1, Identities, Context, n1, n2, seed);
        var (sb, viaRecord) = _server.StartLogin(new RegistrationRecord(fake), CredentialId, ke1, Identities, Context, n1, n2, seed);
        Assert.Equal(viaRecord.Serialize(), viaNull.Serialize());
        Assert.Equal(sb.Serialize()[..128], sa.Serialize()[..128]);
        Assert.Equal(1, sa.Serialize()[^1]);
        Assert.Equal(0, sb.Serialize()[^1]);
        sa.Dispose();
        sb.Dispose();
    }

    [Fact]
    public void States_are_single_use()
    {
        byte[] password = "hunter2"u8.ToArray();
        var (registration, request) = _client.StartRegistration(password);
        RegistrationResponse response = _server.CreateRegistrationResponse(request, CredentialId);
        var (record, _) = _client.FinishRegistration(registration, password, response, Identities);
        Assert.Throws<ObjectDisposedException>(() => _client.FinishRegistration(registration, password, response, Identities));

        var (login, ke1) = _client.StartLogin(password);
        var (serverState, ke2) = _server.StartLogin(record, CredentialId, ke1, Identities, Context);
        using LoginOutcome outcome = _client.FinishLogin(login, password, ke2, Identities, Context);
        Assert.Throws<ObjectDisposedException>(() => _client.FinishLogin(login, password, ke2, Identities, Context));
        using ServerLoginOutcome finished = _server.FinishLogin(serverState, outcome.KE3!);
        Assert.True(finished.Succeeded);
        Assert.Throws<ObjectDisposedException>(() => _server.FinishLogin(serverState, outcome.KE3!));
    }

    [Fact]
    public void A_serialized_server_state_finishes_the_login_on_another_server_instance()
    {
        byte[] password = "hunter2"u8.ToArray();
        var (record, _) = Register(password);
        var (login, ke1) = _client.StartLogin(password);
        var (serverState, ke2) = _server.StartLogin(record, CredentialId, ke1, Identities, Context);
        byte[] stored = serverState.Serialize();
        serverState.Dispose();
        using LoginOutcome outcome = _client.FinishLogin(login, password, ke2, Identities, Context);

        Assert.True(ServerLoginState.TryParse(stored, out ServerLoginState? restored));
        using var sameSeedElsewhere = new OpaqueServer(_keys, OpaqueServer.GenerateOprfSeed());
        using ServerLoginOutcome finished = sameSeedElsewhere.FinishLogin(restored, outcome.KE3!);
        Assert.True(finished.Succeeded);
        Assert.Equal(outcome.SessionKey, finished.SessionKey);

        Assert.False(ServerLoginState.TryParse(stored.AsSpan(1), out _));
        Assert.False(ServerLoginState.TryParse([.. stored, 0], out _));
        stored[^1] = 2;
        Assert.False(ServerLoginState.TryParse(stored, out _));
    }

    [Fact]
    public void Disposing_a_state_zeroes_its_secrets()
    {
        var (login, _) = _client.StartLogin("hunter2"u8);
        byte[] blind = login.Blind;
        byte[] secret = login.ClientSecret;
        Assert.NotEqual(new byte[32], blind);
        login.Dispose();
        Assert.Equal(new byte[32], blind);
        Assert.Equal(new byte[32], secret);
    }

    [Fact]
    public void Passwords_and_contexts_longer_than_the_framing_allows_are_refused()
    {
        var tooLong = new byte[OpaqueSuite.MaxFramedLength + 1];
        Assert.Throws<ArgumentException>(() => _client.StartRegistration(tooLong));
        Assert.Throws<ArgumentException>(() => _client.StartLogin(tooLong));
        var atLimit = new byte[OpaqueSuite.MaxFramedLength];
        var (state, _) = _client.StartLogin(atLimit);
        state.Dispose();

        Assert.Throws<ArgumentException>(() => new OpaqueIdentities(tooLong, default));
        Assert.True(new OpaqueIdentities(atLimit, default).HasClientIdentity);
        var (_, ke1) = _client.StartLogin("x"u8);
        Assert.Throws<ArgumentException>(() => _server.StartLogin(null, CredentialId, ke1, Identities, tooLong));
    }

    [Fact]
    public void Server_keys_round_trip_and_refuse_invalid_scalars()
    {
        byte[] exported = _keys.ExportPrivateKey();
        Assert.True(ServerKeys.TryImport(exported, out ServerKeys? imported));
        using (imported)
        {
            Assert.Equal(_keys.PublicKey, imported.PublicKey);
        }

        Assert.False(ServerKeys.TryImport(new byte[32], out _));
        Assert.False(ServerKeys.TryImport(Enumerable.Repeat((byte)0xff, 32).ToArray(), out _));
        Assert.False(ServerKeys.TryImport(exported.AsSpan(1), out _));
        Assert.Throws<ArgumentException>(() => new OpaqueServer(_keys, new byte[32]));
    }

    private (RegistrationRecord Record, byte[] ExportKey) Register(byte[] password)
    {
        var (state, request) = _client.StartRegistration(password);
        Assert.True(RegistrationRequest.TryParse(request.Serialize(), out RegistrationRequest? received));
        RegistrationResponse response = _server.CreateRegistrationResponse(received, CredentialId);
        Assert.True(RegistrationResponse.TryParse(response.Serialize(), out RegistrationResponse? answer));
        var (record, exportKey) = _client.FinishRegistration(state, password, answer, Identities);
        Assert.True(RegistrationRecord.TryParse(record.Serialize(), out RegistrationRecord? stored));
        return (stored, exportKey);
    }

    private LoginOutcome Login(RegistrationRecord? record, byte[] password, out ServerLoginOutcome serverOutcome)
    {
        var (state, ke1) = _client.StartLogin(password);
        Assert.True(KE1.TryParse(ke1.Serialize(), out KE1? received));
        var (serverState, ke2) = _server.StartLogin(record, CredentialId, received, Identities, Context);
        Assert.True(KE2.TryParse(ke2.Serialize(), out KE2? answer));
        LoginOutcome outcome = _client.FinishLogin(state, password, answer, Identities, Context);
        KE3 ke3 = outcome.KE3 ?? new KE3(new byte[KE3.SerializedLength]);
        Assert.True(KE3.TryParse(ke3.Serialize(), out KE3? final));
        serverOutcome = _server.FinishLogin(serverState, final);
        Assert.Equal(outcome.Succeeded, serverOutcome.Succeeded);
        return outcome;
    }

    private LoginOutcome LoginWith(
        RegistrationRecord record, byte[] password, OpaqueIdentities identities, byte[] context, byte[] credentialId, OpaqueServer server)
    {
        var (state, ke1) = _client.StartLogin(password);
        var (serverState, ke2) = server.StartLogin(record, credentialId, ke1, identities, context);
        LoginOutcome outcome = _client.FinishLogin(state, password, ke2, identities, context);
        if (outcome.Succeeded)
        {
            using ServerLoginOutcome finished = server.FinishLogin(serverState, outcome.KE3);
            Assert.True(finished.Succeeded);
        }
        else
        {
            serverState.Dispose();
        }

        return outcome;
    }
}
