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

/// <summary>When the manager asks for a new certificate: self-signed, a name missing, or inside the renewal window.</summary>
public sealed class AcmeRenewalTimeTests
{
    [Fact]
    public async Task Renewal_comes_renewBeforeDays_before_the_end_or_two_thirds_into_a_short_life()
    {
        string directory = TestProvider.CreateDirectory();
        try
        {
            var settings = new Letterlock.Provider.Configuration.ProviderSettings { Domain = "example.test", HostName = "mx.example.test", DataDirectory = directory };
            settings.Acme.Names = ["mx.example.test", "example.test"];
            settings.Acme.RenewBeforeDays = 30;
            var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var caRequest = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=test CA", caKey, HashAlgorithmName.SHA256);
            caRequest.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(true, false, 0, true));
            using var ca = caRequest.CreateSelfSigned(start.AddDays(-1), start.AddYears(1));

            System.Security.Cryptography.X509Certificates.X509Certificate2 Issue(int days, params string[] names)
            {
                using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=mx.example.test", key, HashAlgorithmName.SHA256);
                var san = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
                foreach (string name in names)
                {
                    san.AddDnsName(name);
                }

                request.CertificateExtensions.Add(san.Build());
                return request.Create(ca, start, start.AddDays(days), [1, 2, 3, (byte)days]);
            }

            using var ninety = Issue(90, "mx.example.test", "example.test");
            string certificatePath = WriteHolderCertificate(directory, out string keyPath);
            var holder = new Letterlock.Provider.Hosting.ServerCertificateHolder(Letterlock.Provider.Hosting.ServerCertificate.Load(certificatePath, keyPath));
            await using var manager = AcmeCertificateManager.Create(settings, holder, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

            Assert.False(manager.NeedsRenewal(ninety, start.AddDays(59)));
            Assert.True(manager.NeedsRenewal(ninety, start.AddDays(60)));
            using var sixDays = Issue(6, "mx.example.test", "example.test");
            Assert.False(manager.NeedsRenewal(sixDays, start.AddDays(3.9)));
            Assert.True(manager.NeedsRenewal(sixDays, start.AddDays(4)));
            using var missingName = Issue(90, "mx.example.test");
            Assert.True(manager.NeedsRenewal(missingName, start.AddDays(1)));
            Assert.True(manager.NeedsRenewal(ca, start.AddDays(1))); // self-signed, as provider init makes it
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The manager needs a holder; which certificate it holds does not matter for deciding renewal times.</summary>
    private static string WriteHolderCertificate(string directory, out string keyPath)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=holder", key, HashAlgorithmName.SHA256);
        using var own = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        string path = Path.Combine(directory, "cert.pem");
        keyPath = Path.Combine(directory, "key.pem");
        File.WriteAllText(path, own.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return path;
    }
}
