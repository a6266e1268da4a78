using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Letterlock.Provider.Acme;

/// <summary>
/// JSON Web Signature (RFC 7515) as ACME uses it (RFC 8555, 6.2): the flattened JSON serialization, ES256 (ECDSA
/// P-256 with SHA-256, RFC 7518 3.4) only, a protected header carrying <c>alg</c>, <c>nonce</c>, <c>url</c> and either
/// the account key as <c>jwk</c> (newAccount) or the account URL as <c>kid</c> (everything else).
/// </summary>
internal static class AcmeJws
{
    /// <summary>
    /// The public key as a JWK (RFC 7517) in the canonical form of RFC 7638, 3.2: only the required members
    /// <c>crv</c>, <c>kty</c>, <c>x</c>, <c>y</c>, in that (lexicographic) order, no white space. The same text is
    /// the <c>jwk</c> header and the input of the thumbprint, so both agree by construction.
    /// </summary>
    public static string Jwk(ECDsa key)
    {
        var p = key.ExportParameters(includePrivateParameters: false);
        if (p.Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value || p.Q.X is not { Length: 32 } || p.Q.Y is not { Length: 32 })
        {
            throw new ArgumentException("an ACME account key must be ECDSA P-256 (ES256)", nameof(key));
        }

        return $"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{Base64Url(p.Q.X)}\",\"y\":\"{Base64Url(p.Q.Y)}\"}}";
    }

    /// <summary>The JWK thumbprint (RFC 7638): base64url(SHA-256(canonical JWK)); the second half of every key authorization.</summary>
    public static string Thumbprint(ECDsa key) => Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(Jwk(key))));

    /// <summary>
    /// A signed request body. <paramref name="payloadJson"/> null means POST-as-GET (RFC 8555, 6.3): the payload is the
    /// empty string, not "{}".
    /// </summary>
    public static byte[] Sign(ECDsa key, Uri url, string nonce, Uri? accountUrl, string? payloadJson)
    {
        using var header = new MemoryStream();
        using (var writer = new Utf8JsonWriter(header))
        {
            writer.WriteStartObject();
            writer.WriteString("alg", "ES256");
            if (accountUrl is null)
            {
                writer.WritePropertyName("jwk");
                writer.WriteRawValue(Jwk(key));
            }
            else
            {
                writer.WriteString("kid", accountUrl.AbsoluteUri);
            }

            writer.WriteString("nonce", nonce);
            writer.WriteString("url", url.AbsoluteUri);
            writer.WriteEndObject();
        }

        string protectedHeader = Base64Url(header.ToArray());
        string payload = payloadJson is null ? "" : Base64Url(Encoding.UTF8.GetBytes(payloadJson));
        // ES256's signature is R || S, 32 bytes each (RFC 7518, 3.4): .NET's IEEE P1363 format, not DER
        byte[] signature = key.SignData(Encoding.ASCII.GetBytes(protectedHeader + "." + payload), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        using var body = new MemoryStream();
        using (var writer = new Utf8JsonWriter(body))
        {
            writer.WriteStartObject();
            writer.WriteString("protected", protectedHeader);
            writer.WriteString("payload", payload);
            writer.WriteString("signature", Base64Url(signature));
            writer.WriteEndObject();
        }

        return body.ToArray();
    }

    /// <summary>base64url without padding (RFC 7515, 2 and Appendix C).</summary>
    public static string Base64Url(ReadOnlySpan<byte> data) => System.Buffers.Text.Base64Url.EncodeToString(data);
}
