using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text;

namespace Letterlock.Smtp.Protocol;

/// <summary>What <see cref="ProxyHeader.TryParse"/> made of the bytes so far.</summary>
public enum ProxyParseStatus
{
    /// <summary>A complete, valid header.</summary>
    Done,

    /// <summary>Valid so far; <see cref="ProxyParseResult.Needed"/> bytes in all are needed to go on.</summary>
    Incomplete,

    /// <summary>Not a PROXY header, or a malformed one; <see cref="ProxyParseResult.Error"/> says why.</summary>
    Invalid,
}

/// <summary>The outcome of parsing a PROXY header.</summary>
/// <param name="Status">Done, incomplete or invalid.</param>
/// <param name="Header">The header when done.</param>
/// <param name="Consumed">The header's length in bytes when done; what follows belongs to the proxied protocol.</param>
/// <param name="Needed">When incomplete: the total number of bytes needed before parsing can go on (at least one more).</param>
/// <param name="Error">When invalid: why, for the log.</param>
public readonly record struct ProxyParseResult(ProxyParseStatus Status, ProxyHeader? Header, int Consumed, int Needed, string? Error);

/// <summary>
/// The PROXY protocol header (HAProxy's specification, "The PROXY protocol, versions 1 and 2") that a load balancer
/// sends before the client's bytes to say whom it is forwarding. A parser without I/O: the caller reads what
/// <see cref="ProxyParseResult.Needed"/> asks for and never more, so no byte of the proxied protocol is taken.
/// </summary>
/// <remarks>
/// <para>Version 1 (text, at most 107 bytes with CRLF):</para>
/// <code>
/// header  = "PROXY" SP ( "UNKNOWN" *( SP / VCHAR ) / proto SP src SP dst SP sport SP dport ) CRLF
/// proto   = "TCP4" / "TCP6"            ; src, dst: IPv4 dotted quad / IPv6 text form of that family
/// sport, dport = 1*5DIGIT              ; 0..65535, no leading zero
/// </code>
/// <para>Version 2 (binary):</para>
/// <code>
/// header  = signature ver-cmd fam len addresses *tlv
/// signature = %x0D.0A.0D.0A.00.0D.0A.51.55.49.54.0A     ; 12 bytes
/// ver-cmd = %x20 (LOCAL) / %x21 (PROXY)                 ; high nibble 2: version 2
/// fam     = %x00 (UNSPEC) / %x11 (TCP4) / %x12 (UDP4) / %x21 (TCP6) / %x22 (UDP6) / %x31, %x32 (UNIX)
/// len     = 2OCTET                                      ; network order: bytes after these 16
/// addresses = src4 dst4 sport dport (12 bytes) / src6 dst6 sport dport (36 bytes) / ...
/// </code>
/// <para>LOCAL (a health check by the proxy itself) and UNKNOWN/UNSPEC carry no client: <see cref="Source"/> is null
/// and the connection's own peer address stands. Only TCP over IPv4/IPv6 is taken for a client address; TLVs after
/// the addresses are skipped.</para>
/// </remarks>
public sealed record ProxyHeader(int Version, IPEndPoint? Source, IPEndPoint? Destination)
{
    /// <summary>The longest version 1 header, CRLF included (the specification's figure).</summary>
    public const int MaxVersion1Length = 107;

    /// <summary>The version 2 signature.</summary>
    public static ReadOnlySpan<byte> Version2Signature => "\r\n\r\n\0\r\nQUIT\n"u8;

    private static ReadOnlySpan<byte> Version1Prefix => "PROXY "u8;

    /// <summary>Parses a header at the start of <paramref name="data"/>.</summary>
    /// <param name="data">The bytes read so far.</param>
    /// <param name="maxLength">The longest header taken (a version 2 header announcing more is invalid).</param>
    public static ProxyParseResult TryParse(ReadOnlySpan<byte> data, int maxLength)
    {
        int prefix = Math.Min(data.Length, Version2Signature.Length);
        if (data[..prefix].SequenceEqual(Version2Signature[..prefix]) && data.Length > 0)
        {
            return ParseVersion2(data, maxLength);
        }

        prefix = Math.Min(data.Length, Version1Prefix.Length);
        if (data.Length == 0 || data[..prefix].SequenceEqual(Version1Prefix[..prefix]))
        {
            return ParseVersion1(data);
        }

        return Invalid("no PROXY header (wrong signature)");
    }

    private static ProxyParseResult ParseVersion1(ReadOnlySpan<byte> data)
    {
        int lf = data.IndexOf((byte)'\n');
        if (lf < 0)
        {
            return data.Length >= MaxVersion1Length
                ? Invalid($"PROXY v1 header longer than {MaxVersion1Length} bytes")
                : new ProxyParseResult(ProxyParseStatus.Incomplete, null, 0, data.Length + 1, null);
        }

        if (lf + 1 > MaxVersion1Length)
        {
            return Invalid($"PROXY v1 header longer than {MaxVersion1Length} bytes");
        }

        if (lf == 0 || data[lf - 1] != '\r')
        {
            return Invalid("PROXY v1 header does not end in CRLF");
        }

        string line = Encoding.ASCII.GetString(data[..(lf - 1)]);
        string[] fields = line.Split(' ');
        if (fields.Length >= 2 && fields[1] == "UNKNOWN")
        {
            return new ProxyParseResult(ProxyParseStatus.Done, new ProxyHeader(1, null, null), lf + 1, 0, null);
        }

        if (fields.Length != 6 || fields[1] is not ("TCP4" or "TCP6"))
        {
            return Invalid("PROXY v1 header is not 'PROXY TCP4|TCP6 src dst sport dport'");
        }

        var family = fields[1] == "TCP4" ? System.Net.Sockets.AddressFamily.InterNetwork : System.Net.Sockets.AddressFamily.InterNetworkV6;
        if (!TryAddress(fields[2], family, out var source) || !TryAddress(fields[3], family, out var destination)
            || !TryPort(fields[4], out int sourcePort) || !TryPort(fields[5], out int destinationPort))
        {
            return Invalid("PROXY v1 header has a malformed address or port");
        }

        return new ProxyParseResult(ProxyParseStatus.Done, new ProxyHeader(1, new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort)), lf + 1, 0, null);
    }

    private static ProxyParseResult ParseVersion2(ReadOnlySpan<byte> data, int maxLength)
    {
        const int fixedLength = 16;
        if (data.Length < fixedLength)
        {
            return new ProxyParseResult(ProxyParseStatus.Incomplete, null, 0, fixedLength, null);
        }

        int version = data[12] >> 4, command = data[12] & 0x0F;
        if (version != 2)
        {
            return Invalid($"PROXY v2 header with version {version}");
        }

        if (command > 1)
        {
            return Invalid($"PROXY v2 header with command {command}");
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(data[14..16]);
        int total = fixedLength + length;
        if (total > maxLength)
        {
            return Invalid($"PROXY v2 header of {total} bytes, above the limit of {maxLength}");
        }

        if (data.Length < total)
        {
            return new ProxyParseResult(ProxyParseStatus.Incomplete, null, 0, total, null);
        }

        var body = data[fixedLength..total];
        if (command == 0)
        {
            return new ProxyParseResult(ProxyParseStatus.Done, new ProxyHeader(2, null, null), total, 0, null);
        }

        switch (data[13])
        {
            case 0x11: // TCP over IPv4
                if (body.Length < 12)
                {
                    return Invalid("PROXY v2 TCP4 header shorter than its addresses");
                }

                return Done(new IPAddress(body[..4]), new IPAddress(body[4..8]), body[8..12], total);
            case 0x21: // TCP over IPv6
                if (body.Length < 36)
                {
                    return Invalid("PROXY v2 TCP6 header shorter than its addresses");
                }

                return Done(new IPAddress(body[..16]), new IPAddress(body[16..32]), body[32..36], total);
            default: // UNSPEC, UDP, UNIX: no TCP client to name; the connection's own peer stands
                return new ProxyParseResult(ProxyParseStatus.Done, new ProxyHeader(2, null, null), total, 0, null);
        }
    }

    private static ProxyParseResult Done(IPAddress source, IPAddress destination, ReadOnlySpan<byte> ports, int total) =>
        new(ProxyParseStatus.Done, new ProxyHeader(2,
            new IPEndPoint(source, BinaryPrimitives.ReadUInt16BigEndian(ports[..2])),
            new IPEndPoint(destination, BinaryPrimitives.ReadUInt16BigEndian(ports[2..4]))), total, 0, null);

    private static ProxyParseResult Invalid(string error) => new(ProxyParseStatus.Invalid, null, 0, 0, error);

    private static bool TryAddress(string text, System.Net.Sockets.AddressFamily family, out IPAddress address) =>
        IPAddress.TryParse(text, out address!) && address.AddressFamily == family
        && (family != System.Net.Sockets.AddressFamily.InterNetwork || text.Count(c => c == '.') == 3);

    private static bool TryPort(string text, out int port)
    {
        port = 0;
        return text.Length is >= 1 and <= 5 && text.All(char.IsAsciiDigit) && (text.Length == 1 || text[0] != '0')
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port <= 65535;
    }
}
