using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Letterlock.Provider.Acme;

namespace Letterlock.Provider.Tests;

/// <summary>The ACME client's JWS against RFC 7515's ES256 example, and the ClientHello reader against real handshakes.</summary>
public sealed class AcmeUnitTests
{
    // RFC 7515, Appendix A.3: the ES256 key, the signing input and the signature of the example
    private const string X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    private const string Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    private const string D = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
    private const string SigningInput = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    private const string Signature = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

    private static ECDsa RfcKey() => ECDsa.Create(new ECParameters
    {
        Curve = ECCurve.NamedCurves.nistP256,
        Q = new ECPoint { X = System.Buffers.Text.Base64Url.DecodeFromChars(X), Y = System.Buffers.Text.Base64Url.DecodeFromChars(Y) },
        D = System.Buffers.Text.Base64Url.DecodeFromChars(D),
    });

    [Fact]
    public void The_RFC_7515_ES256_example_verifies_in_the_signature_format_the_client_writes()
    {
        using var key = RfcKey();
        byte[] signature = System.Buffers.Text.Base64Url.DecodeFromChars(Signature);
        Assert.Equal(64, signature.Length); // R || S, not DER
        Assert.True(key.VerifyData(Encoding.ASCII.GetBytes(SigningInput), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
    }

    [Fact]
    public void The_jwk_is_RFC_7638_canonical_and_a_signed_request_verifies_with_it()
    {
        using var key = RfcKey();
        Assert.Equal($"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{X}\",\"y\":\"{Y}\"}}", AcmeJws.Jwk(key));
        Assert.Equal(AcmeJws.Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(AcmeJws.Jwk(key)))), AcmeJws.Thumbprint(key));

        var url = new Uri("https://acme.example/new-account");
        using var body = JsonDocument.Parse(AcmeJws.Sign(key, url, "nonce-1", null, "{\"termsOfServiceAgreed\":true}"));
        string protectedHeader = body.RootElement.GetProperty("protected").GetString()!;
        string payload = body.RootElement.GetProperty("payload").GetString()!;
        byte[] signature = System.Buffers.Text.Base64Url.DecodeFromChars(body.RootElement.GetProperty("signature").GetString()!);
        Assert.True(key.VerifyData(Encoding.ASCII.GetBytes(protectedHeader + "." + payload), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        using var header = JsonDocument.Parse(System.Buffers.Text.Base64Url.DecodeFromChars(protectedHeader));
        Assert.Equal("ES256", header.RootElement.GetProperty("alg").GetString());
        Assert.Equal("nonce-1", header.RootElement.GetProperty("nonce").GetString());
        Assert.Equal(url.AbsoluteUri, header.RootElement.GetProperty("url").GetString());
        Assert.Equal(X, header.RootElement.GetProperty("jwk").GetProperty("x").GetString());
        Assert.False(header.RootElement.TryGetProperty("kid", out _));

        // with an account: kid instead of jwk; POST-as-GET: an empty payload, not "{}"
        using var asGet = JsonDocument.Parse(AcmeJws.Sign(key, url, "nonce-2", new Uri("https://acme.example/acct/1"), null));
        Assert.Equal("", asGet.RootElement.GetProperty("payload").GetString());
        using var kidHeader = JsonDocument.Parse(System.Buffers.Text.Base64Url.DecodeFromChars(asGet.RootElement.GetProperty("protected").GetString()!));
        Assert.Equal("https://acme.example/acct/1", kidHeader.RootElement.GetProperty("kid").GetString());
        Assert.False(kidHeader.RootElement.TryGetProperty("jwk", out _));
    }

    [Fact]
    public void Only_P256_account_keys_are_taken()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        Assert.Throws<ArgumentException>(() => AcmeJws.Jwk(p384));
    }

    [Theory]
    [InlineData("acme-tls/1")]
    [InlineData("h2", "http/1.1")]
    public async Task A_real_ClientHello_gives_its_server_name_and_protocols(params string[] protocols)
    {
        byte[] record = await CaptureClientHelloAsync("mx.example.test", protocols);
        Assert.True(TlsClientHello.TryParse(new ReadOnlySequence<byte>(record), out string? serverName, out var offered));
        Assert.Equal("mx.example.test", serverName);
        Assert.Equal(protocols, offered);

        // cut anywhere inside, it is no ClientHello (and nothing throws)
        for (int length = 0; length < record.Length; length += 7)
        {
            Assert.False(TlsClientHello.TryParse(new ReadOnlySequence<byte>(record, 0, length), out _, out _));
        }

        byte[] notHandshake = (byte[])record.Clone();
        notHandshake[0] = 23; // application_data
        Assert.False(TlsClientHello.TryParse(new ReadOnlySequence<byte>(notHandshake), out _, out _));
    }

    [Fact]
    public void The_TLS_ALPN_01_certificate_carries_the_critical_acmeIdentifier_with_the_key_authorization_digest()
    {
        using var certificate = TlsAlpnChallenge.CreateCertificate("mx.example.test", "token.thumbprint");
        var extension = certificate.Extensions[TlsAlpnChallenge.AcmeIdentifierOid]!;
        Assert.True(extension.Critical);
        Assert.Equal([0x04, 0x20, .. SHA256.HashData("token.thumbprint"u8)], extension.RawData);
        Assert.True(certificate.MatchesHostname("mx.example.test", allowWildcards: false, allowCommonName: false));
        Assert.True(certificate.HasPrivateKey);
    }

    /// <summary>The first TLS record a .NET client sends: its ClientHello.</summary>
    private static async Task<byte[]> CaptureClientHelloAsync(string serverName, string[] protocols)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var server = await listener.AcceptTcpClientAsync();
        var tls = new SslStream(client.GetStream());
        var handshake = tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            ApplicationProtocols = protocols.Select(p => new SslApplicationProtocol(p)).ToList(),
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        var stream = server.GetStream();
        byte[] header = new byte[5];
        await stream.ReadExactlyAsync(header);
        byte[] record = new byte[5 + ((header[3] << 8) | header[4])];
        header.CopyTo(record, 0);
        await stream.ReadExactlyAsync(record.AsMemory(5));
        server.Close();
        await Assert.ThrowsAnyAsync<Exception>(() => handshake);
        await tls.DisposeAsync();
        return record;
    }
}
