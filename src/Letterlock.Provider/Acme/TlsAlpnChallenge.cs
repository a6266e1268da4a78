using System.Buffers;
using System.Buffers.Binary;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Letterlock.Provider.Acme;

/// <summary>
/// TLS-ALPN-01 (RFC 8737): the validation server connects to port 443 offering only the ALPN protocol
/// <c>acme-tls/1</c> with the domain as SNI, and expects a self-signed certificate for that domain carrying the
/// key authorization's SHA-256 in a critical acmeIdentifier extension.
/// </summary>
internal static class TlsAlpnChallenge
{
    /// <summary>The ALPN protocol of the validation handshake (RFC 8737, 6.2).</summary>
    public static readonly SslApplicationProtocol Protocol = new("acme-tls/1");

    /// <summary>id-pe-acmeIdentifier (RFC 8737, 6.1).</summary>
    public const string AcmeIdentifierOid = "1.3.6.1.5.5.7.1.31";

    /// <summary>The validation certificate for <paramref name="domain"/> (RFC 8737, 3).</summary>
    public static X509Certificate2 CreateCertificate(string domain, string keyAuthorization)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={domain}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(domain);
        request.CertificateExtensions.Add(san.Build());
        // Authorization ::= OCTET STRING (SIZE (32)), DER: tag 0x04, length 32, SHA-256(key authorization)
        byte[] value = [0x04, 0x20, .. SHA256.HashData(Encoding.ASCII.GetBytes(keyAuthorization))];
        request.CertificateExtensions.Add(new X509Extension(new Oid(AcmeIdentifierOid), value, critical: true));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(7));
        // a certificate whose key lives in an ephemeral handle cannot serve TLS on every platform: round-trip through PKCS#12
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}

/// <summary>
/// What the provider needs from a TLS ClientHello before answering it: the SNI host name and the offered ALPN
/// protocols. A parser without I/O over the first record of the handshake; anything it cannot read is "nothing
/// offered", and the connection is answered as usual.
/// <code>
/// TLSPlaintext     = ContentType(1) = 22 | ProtocolVersion(2) | length(2) | fragment          (RFC 8446, 5.1)
/// Handshake        = msg_type(1) = 1 | length(3) | ClientHello                                  (RFC 8446, 4)
/// ClientHello      = legacy_version(2) | random(32) | legacy_session_id&lt;0..32&gt;
///                    | cipher_suites&lt;2..2^16-2&gt; | legacy_compression_methods&lt;1..2^8-1&gt;
///                    | extensions&lt;8..2^16-1&gt;                                                  (RFC 8446, 4.1.2)
/// Extension        = extension_type(2) | extension_data&lt;0..2^16-1&gt;
/// server_name (0)  = ServerNameList&lt;1..2^16-1&gt;; ServerName = name_type(1) = 0 | HostName&lt;1..2^16-1&gt; (RFC 6066, 3)
/// ALPN (16)        = ProtocolNameList&lt;2..2^16-1&gt;; ProtocolName&lt;1..2^8-1&gt;                    (RFC 7301, 3.1)
/// </code>
/// </summary>
internal static class TlsClientHello
{
    /// <summary>The SNI name and ALPN protocols of a ClientHello record, or false when the bytes are not one.</summary>
    public static bool TryParse(ReadOnlySequence<byte> record, out string? serverName, out IReadOnlyList<string> protocols)
    {
        serverName = null;
        protocols = [];
        if (record.Length is < 9 or > 5 + 16384 + 256)
        {
            return false;
        }

        byte[] bytes = record.ToArray();
        var r = new Reader(bytes);
        if (!r.Byte(out byte contentType) || contentType != 22 || !r.Skip(2) || !r.Vector(2, out var fragment))
        {
            return false;
        }

        var h = new Reader(fragment);
        if (!h.Byte(out byte type) || type != 1 || !h.Vector(3, out var hello))
        {
            return false;
        }

        var c = new Reader(hello);
        if (!c.Skip(2 + 32) || !c.Vector(1, out _) || !c.Vector(2, out _) || !c.Vector(1, out _) || !c.Vector(2, out var extensions))
        {
            return false;
        }

        var e = new Reader(extensions);
        var alpn = new List<string>();
        while (!e.End)
        {
            if (!e.UInt16(out ushort extensionType) || !e.Vector(2, out var data))
            {
                return false;
            }

            if (extensionType == 0)
            {
                var names = new Reader(data);
                if (!names.Vector(2, out var list))
                {
                    return false;
                }

                var l = new Reader(list);
                while (!l.End)
                {
                    if (!l.Byte(out byte nameType) || !l.Vector(2, out var name))
                    {
                        return false;
                    }

                    if (nameType == 0 && serverName is null)
                    {
                        serverName = Encoding.ASCII.GetString(name.Span);
                    }
                }
            }
            else if (extensionType == 16)
            {
                var names = new Reader(data);
                if (!names.Vector(2, out var list))
                {
                    return false;
                }

                var l = new Reader(list);
                while (!l.End)
                {
                    if (!l.Vector(1, out var protocol))
                    {
                        return false;
                    }

                    alpn.Add(Encoding.ASCII.GetString(protocol.Span));
                }
            }
        }

        protocols = alpn;
        return true;
    }

    private ref struct Reader(ReadOnlyMemory<byte> data)
    {
        private ReadOnlyMemory<byte> _rest = data;

        public readonly bool End => _rest.IsEmpty;

        public bool Byte(out byte value)
        {
            value = 0;
            if (_rest.Length < 1)
            {
                return false;
            }

            value = _rest.Span[0];
            _rest = _rest[1..];
            return true;
        }

        public bool UInt16(out ushort value)
        {
            value = 0;
            if (_rest.Length < 2)
            {
                return false;
            }

            value = BinaryPrimitives.ReadUInt16BigEndian(_rest.Span);
            _rest = _rest[2..];
            return true;
        }

        public bool Skip(int count)
        {
            if (_rest.Length < count)
            {
                return false;
            }

            _rest = _rest[count..];
            return true;
        }

        /// <summary>A vector with a length prefix of <paramref name="lengthBytes"/> bytes (RFC 8446, 3.4).</summary>
        public bool Vector(int lengthBytes, out ReadOnlyMemory<byte> content)
        {
            content = default;
            if (_rest.Length < lengthBytes)
            {
                return false;
            }

            int length = 0;
            for (int i = 0; i < lengthBytes; i++)
            {
                length = (length << 8) | _rest.Span[i];
            }

            if (_rest.Length - lengthBytes < length)
            {
                return false;
            }

            content = _rest.Slice(lengthBytes, length);
            _rest = _rest[(lengthBytes + length)..];
            return true;
        }
    }
}
