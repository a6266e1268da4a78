using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Opaque.Tests;

/// <summary>
/// RFC 9807, Appendix C: every test vector whose OPRF is ristretto255-SHA512. C.1.1 and C.1.2 (real, without and
/// with identities) and C.2.1 (fake) use the ristretto255 AKE group Letterlock uses; C.1.3, C.1.4 and C.2.2 pair the
/// same OPRF with an X25519 AKE, replayed through the internal Curve25519 group. Values are read from
/// Vectors/rfc9807-ristretto255-sha512.txt, a copy of the RFC text. KSF: Identity.
/// </summary>
public sealed class Rfc9807VectorTests
{
    private const string File = "rfc9807-ristretto255-sha512.txt";

    [Theory]
    [InlineData("C.1.1")]
    [InlineData("C.1.2")]
    [InlineData("C.1.3")]
    [InlineData("C.1.4")]
    public void Real_vector_replays_registration_and_login(string section)
    {
        var v = RfcVectors.Vector(File, section);
        AkeGroup group = GroupOf(v);
        byte[] password = v.Hex("password");
        byte[] credentialIdentifier = v.Hex("credential_identifier");
        byte[] context = v.Hex("Context");
        OpaqueIdentities identities = IdentitiesOf(v);

        var oprfKey = new byte[32];
        OpaqueProtocol.DeriveOprfKey(v.Hex("oprf_seed"), credentialIdentifier, oprfKey);
        Assert.Equal(v["oprf_key"], Hex(oprfKey));

        using ServerKeys keys = ServerKeys.Import(group, v.Hex("server_private_key"))!;
        Assert.Equal(v["server_public_key"], Hex(keys.PublicKey));
        using var server = new OpaqueServer(keys, v.Hex("oprf_seed"));
        var client = new OpaqueClient(IdentityKeyStretching.Instance, group);

        // Registration (RFC 9807, section 5)
        var (registration, request) = client.StartRegistration(password, v.Hex("blind_registration"));
        Assert.Equal(v["registration_request"], Hex(request.Serialize()));
        RegistrationResponse response = server.CreateRegistrationResponse(request, credentialIdentifier);
        Assert.Equal(v["registration_response"], Hex(response.Serialize()));

        var randomizedPassword = new byte[64];
        Assert.True(OpaqueProtocol.RandomizedPassword(password, v.Hex("blind_registration"), response.EvaluatedMessage, IdentityKeyStretching.Instance, randomizedPassword));
        Assert.Equal(v["randomized_password"], Hex(randomizedPassword));

        var (record, exportKey) = client.FinishRegistration(registration, password, response, identities, v.Hex("envelope_nonce"));
        Assert.Equal(v["registration_upload"], Hex(record.Serialize()));
        Assert.Equal(v["client_public_key"], Hex(record.ClientPublicKey.ToArray()));
        Assert.Equal(v["envelope"], Hex(record.Envelope.ToArray()));
        Assert.Equal(v["export_key"], Hex(exportKey));

        // Login (RFC 9807, section 6)
        var (login, ke1) = client.StartLogin(password, v.Hex("blind_login"), v.Hex("client_nonce"), v.Hex("client_keyshare_seed"));
        Assert.Equal(v["KE1"], Hex(ke1.Serialize()));
        var (serverState, ke2) = server.StartLogin(
            record, credentialIdentifier, ke1, identities, context,
            v.Hex("masking_nonce"), v.Hex("server_nonce"), v.Hex("server_keyshare_seed"));
        Assert.Equal(v["KE2"], Hex(ke2.Serialize()));

        using LoginOutcome outcome = client.FinishLogin(login, password, ke2, identities, context);
        Assert.True(outcome.Succeeded);
        Assert.Equal(v["KE3"], Hex(outcome.KE3.Serialize()));
        Assert.Equal(v["session_key"], Hex(outcome.SessionKey));
        Assert.Equal(v["export_key"], Hex(outcome.ExportKey));

        using ServerLoginOutcome finished = server.FinishLogin(serverState, outcome.KE3);
        Assert.True(finished.Succeeded);
        Assert.Equal(v["session_key"], Hex(finished.SessionKey));
    }

    [Theory]
    [InlineData("C.1.1")]
    [InlineData("C.1.2")]
    public void Ristretto255_vector_messages_parse_and_reserialize(string section)
    {
        var v = RfcVectors.Vector(File, section);
        Assert.True(RegistrationRequest.TryParse(v.Hex("registration_request"), out var request));
        Assert.Equal(v["registration_request"], Hex(request.Serialize()));
        Assert.True(RegistrationResponse.TryParse(v.Hex("registration_response"), out var response));
        Assert.Equal(v["registration_response"], Hex(response.Serialize()));
        Assert.True(RegistrationRecord.TryParse(v.Hex("registration_upload"), out var record));
        Assert.Equal(v["registration_upload"], Hex(record.Serialize()));
        Assert.True(KE1.TryParse(v.Hex("KE1"), out var ke1));
        Assert.Equal(v["KE1"], Hex(ke1.Serialize()));
        Assert.True(KE2.TryParse(v.Hex("KE2"), out var ke2));
        Assert.Equal(v["KE2"], Hex(ke2.Serialize()));
        Assert.True(KE3.TryParse(v.Hex("KE3"), out var ke3));
        Assert.Equal(v["KE3"], Hex(ke3.Serialize()));
    }

    [Theory]
    [InlineData("C.2.1")]
    [InlineData("C.2.2")]
    public void Fake_vector_replays_the_credential_response_for_an_unknown_client(string section)
    {
        var v = RfcVectors.Vector(File, section);
        AkeGroup group = GroupOf(v);

        var clientPublicKey = new byte[32];
        Assert.True(group.PublicKeyOf(v.Hex("client_private_key"), clientPublicKey));
        Assert.Equal(v["client_public_key"], Hex(clientPublicKey));

        using ServerKeys keys = ServerKeys.Import(group, v.Hex("server_private_key"))!;
        Assert.Equal(v["server_public_key"], Hex(keys.PublicKey));
        using var server = new OpaqueServer(keys, v.Hex("oprf_seed"));

        // RFC 9807, section 6.3.2.2: the fake record is client_public_key || masking_key || zeroes(Nn + Nm).
        var fake = new RegistrationRecord([.. clientPublicKey, .. v.Hex("masking_key"), .. new byte[96]]);
        var ke1 = new KE1(v.Hex("KE1"));
        var (state, ke2) = server.StartLogin(
            null, v.Hex("credential_identifier"), ke1, IdentitiesOf(v), v.Hex("Context"),
            v.Hex("masking_nonce"), v.Hex("server_nonce"), v.Hex("server_keyshare_seed"), fake);
        Assert.Equal(v["KE2"], Hex(ke2.Serialize()));

        // No KE3 finishes a login that was answered with a fake record.
        using ServerLoginOutcome outcome = server.FinishLogin(state, new KE3(new byte[64]));
        Assert.Equal(OpaqueLoginStatus.AuthenticationFailed, outcome.Status);
    }

    [Fact]
    public void The_vector_file_holds_every_ristretto255_SHA512_vector_of_appendix_C()
    {
        var tops = RfcVectors.Load(File).Where(s => s.Section.Count(c => c == '.') == 2).Select(s => (s.Section, s.Title)).ToList();
        Assert.Equal(
        [
            ("C.1.1", "OPAQUE-3DH Real Test Vector 1"),
            ("C.1.2", "OPAQUE-3DH Real Test Vector 2"),
            ("C.1.3", "OPAQUE-3DH Real Test Vector 3"),
            ("C.1.4", "OPAQUE-3DH Real Test Vector 4"),
            ("C.2.1", "OPAQUE-3DH Fake Test Vector 1"),
            ("C.2.2", "OPAQUE-3DH Fake Test Vector 2"),
        ], tops);
        foreach (string section in new[] { "C.1.1", "C.1.2", "C.1.3", "C.1.4", "C.2.1", "C.2.2" })
        {
            var v = RfcVectors.Vector(File, section);
            Assert.Equal("ristretto255-SHA512", v["OPRF"]);
            Assert.Equal("Identity", v["KSF"]);
            Assert.Equal(640, v["KE2"].Length);
        }
    }

    private static AkeGroup GroupOf(Dictionary<string, string> v) => v["Group"] switch
    {
        "ristretto255" => AkeGroup.Ristretto255,
        "curve25519" => AkeGroup.Curve25519,
        var other => throw new InvalidOperationException($"Unknown group {other}."),
    };

    private static OpaqueIdentities IdentitiesOf(Dictionary<string, string> v) =>
        v.ContainsKey("client_identity")
            ? new OpaqueIdentities(v.Hex("client_identity"), v.Hex("server_identity"))
            : OpaqueIdentities.None;

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
