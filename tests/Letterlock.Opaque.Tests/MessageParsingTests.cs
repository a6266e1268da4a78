namespace Letterlock.Cryptography.Opaque.Tests;

/// <summary>
/// TryParse of every message: exact lengths only (one byte short or long fails), and every group element must be
/// a canonical, non-identity ristretto255 encoding (RFC 9807, section 10.7; RFC 9497, section 4.1).
/// </summary>
public sealed class MessageParsingTests
{
    private delegate bool Parser(ReadOnlySpan<byte> data);

    public static TheoryData<string> Messages => new() { "RegistrationRequest", "RegistrationResponse", "RegistrationRecord", "KE1", "KE2", "KE3" };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Exact_length_parses_and_any_other_length_fails(string name)
    {
        var (parse, valid, _) = Sample(name);
        Assert.True(parse(valid));
        Assert.False(parse(valid.AsSpan(0, valid.Length - 1)));
        Assert.False(parse([.. valid, 0]));
        Assert.False(parse(ReadOnlySpan<byte>.Empty));
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Identity_and_non_canonical_elements_fail(string name)
    {
        var (parse, valid, offsets) = Sample(name);
        foreach (int offset in offsets)
        {
            byte[] identity = (byte[])valid.Clone();
            identity.AsSpan(offset, 32).Clear();
            Assert.False(parse(identity), $"{name}: identity element at {offset} accepted.");

            byte[] nonCanonical = (byte[])valid.Clone();
            nonCanonical.AsSpan(offset, 32).Fill(0xff);
            Assert.False(parse(nonCanonical), $"{name}: non-canonical element at {offset} accepted.");

            // Ristretto255 encodings are even field elements: setting the low bit makes the encoding invalid.
            byte[] odd = (byte[])valid.Clone();
            odd[offset] |= 1;
            if (odd[offset] != valid[offset])
            {
                Assert.False(parse(odd), $"{name}: odd encoding at {offset} accepted.");
            }
        }
    }

    /// <summary>A parser for the named message, a valid instance from a real flow, and its elements' offsets.</summary>
    private static (Parser Parse, byte[] Valid, int[] ElementOffsets) Sample(string name)
    {
        using var keys = ServerKeys.Generate();
        using var server = new OpaqueServer(keys, OpaqueServer.GenerateOprfSeed());
        var client = new OpaqueClient(IdentityKeyStretching.Instance);
        byte[] password = "hunter2"u8.ToArray();
        var (registration, request) = client.StartRegistration(password);
        RegistrationResponse response = server.CreateRegistrationResponse(request, "id"u8);
        var (record, _) = client.FinishRegistration(registration, password, response, OpaqueIdentities.None);
        var (login, ke1) = client.StartLogin(password);
        var (serverState, ke2) = server.StartLogin(record, "id"u8, ke1, OpaqueIdentities.None, default);
        using LoginOutcome outcome = client.FinishLogin(login, password, ke2, OpaqueIdentities.None, default);
        serverState.Dispose();

        return name switch
        {
            "RegistrationRequest" => (d => RegistrationRequest.TryParse(d, out _), request.Serialize(), [0]),
            "RegistrationResponse" => (d => RegistrationResponse.TryParse(d, out _), response.Serialize(), [0, 32]),
            "RegistrationRecord" => (d => RegistrationRecord.TryParse(d, out _), record.Serialize(), [0]),
            "KE1" => (d => KE1.TryParse(d, out _), ke1.Serialize(), [0, 64]),
            "KE2" => (d => KE2.TryParse(d, out _), ke2.Serialize(), [0, 224]),
            "KE3" => (d => KE3.TryParse(d, out _), outcome.KE3!.Serialize(), []),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
    }
}
