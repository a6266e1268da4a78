using System.Globalization;
using System.Net;

namespace Letterlock.Smtp;

/// <summary>
/// The <c>Received:</c> trace field a server prepends when it takes responsibility for a message (RFC 5321, 4.4). It
/// goes on top of the header section and is never DKIM-signed by anyone before, so it cannot break a signature.
/// </summary>
/// <remarks>
/// <code>
/// Time-stamp-line = "Received:" FWS Stamp CRLF
/// Stamp           = From-domain By-domain Opt-info [CFWS] ";" FWS date-time
/// From-domain     = "FROM" FWS Extended-Domain
/// Extended-Domain = Domain / ( Domain FWS "(" TCP-info ")" ) / ( address-literal FWS "(" TCP-info ")" )
/// By-domain       = CFWS "BY" FWS Extended-Domain
/// Opt-info        = [Via] [With] [ID] [For] [Additional-Registered-Clauses]
/// With            = CFWS "WITH" FWS Protocol
/// ID              = CFWS "ID" FWS ( Atom / msg-id )
/// </code>
/// A field without <c>From-domain</c> (the submitting device left out for privacy) follows the looser RFC 5322, 3.6.7
/// form (<c>"Received:" *received-token ";" date-time</c>), as Postfix's local pickup does. There is never a <c>for</c>
/// clause: with several recipients it would tell each of them who else got the message (RFC 5321, 7.2).
/// </remarks>
public static class TraceField
{
    /// <summary>Formats the field, folded, ending in CRLF; only ASCII.</summary>
    /// <param name="by">This server's host name.</param>
    /// <param name="with">The protocol (<see cref="SmtpSessionInfo.Protocol"/>, or <c>HTTPS</c> for the submission API).</param>
    /// <param name="time">When the message was received.</param>
    /// <param name="fromHelo">The name the client gave in EHLO/HELO; written only with <paramref name="fromAddress"/>.</param>
    /// <param name="fromAddress">The client's address; null leaves the <c>from</c> clause out.</param>
    /// <param name="id">An identifier that finds this transaction in the server's logs.</param>
    /// <param name="tlsProtocol">The TLS version (<see cref="SmtpSessionInfo.TlsProtocol"/>), when the session was secure.</param>
    /// <param name="tlsCipher">The TLS cipher suite, when the session was secure.</param>
    public static string Received(string by, string with, DateTimeOffset time, string? fromHelo = null, IPAddress? fromAddress = null,
        string? id = null, string? tlsProtocol = null, string? tlsCipher = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(by);
        ArgumentException.ThrowIfNullOrEmpty(with);
        var field = new System.Text.StringBuilder("Received:");
        if (fromAddress is not null)
        {
            string literal = AddressLiteral(fromAddress);
            string domain = fromHelo is not null && IsPlainHeloName(fromHelo) ? fromHelo : literal;
            field.Append(" from ").Append(domain).Append(" (").Append(literal).Append(")\r\n\t");
        }
        else
        {
            field.Append(' ');
        }

        field.Append("by ").Append(Atom(by)).Append(" (Letterlock) with ").Append(Atom(with));
        if (id is not null)
        {
            field.Append(" id ").Append(Atom(id));
        }

        if (tlsProtocol is not null)
        {
            field.Append("\r\n\t(using ").Append(TlsName(tlsProtocol));
            if (tlsCipher is not null)
            {
                field.Append(" with cipher ").Append(Atom(tlsCipher));
            }

            field.Append(')');
        }

        field.Append(";\r\n\t").Append(time.ToUniversalTime().ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture)).Append("\r\n");
        return field.ToString();
    }

    /// <summary>An address literal (RFC 5321, 4.1.3): <c>[192.0.2.1]</c> or <c>[IPv6:2001:db8::1]</c>.</summary>
    private static string AddressLiteral(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[IPv6:{address}]" : $"[{address}]";
    }

    // the client chose the name: only a plain domain or address literal is repeated, nothing that could end the comment,
    // the field or carry non-ASCII into a message that is not SMTPUTF8
    private static bool IsPlainHeloName(string name) =>
        name.Length is > 0 and <= 255 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or ':' or '[' or ']');

    private static string Atom(string text) => new([.. text.Where(c => c is > ' ' and < '\x7f' and not ('(' or ')' or ';' or '\\' or '"'))]);

    private static string TlsName(string protocol) => protocol switch
    {
        "Tls12" => "TLSv1.2",
        "Tls13" => "TLSv1.3",
        _ => Atom(protocol),
    };
}
