using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace Letterlock.Smtp.Protocol;

/// <summary>The commands the front end knows (RFC 5321, 4.1.1; RFC 3207; RFC 4954; RFC 3030).</summary>
internal enum SmtpVerb
{
    Unknown,
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    StartTls,
    Auth,
}

/// <summary>A mailbox from a MAIL or RCPT path.</summary>
/// <param name="Address"><c>local@domain</c> as the client wrote it (a quoted local part keeps its quotes); empty for the null path <c>&lt;&gt;</c>.</param>
/// <param name="NeedsUtf8">Whether it holds non-ASCII (a UTF-8 local part or a U-label), which only an <c>SMTPUTF8</c> transaction may carry (RFC 6531, 3.3).</param>
internal readonly record struct SmtpPath(string Address, bool NeedsUtf8);

/// <summary>Why a command's argument did not parse.</summary>
internal enum ParseStatus
{
    Ok,

    /// <summary>The command's own syntax is wrong (no <c>FROM:</c>, a bad parameter list).</summary>
    Syntax,

    /// <summary>The path is not a valid mailbox.</summary>
    BadPath,

    /// <summary>The line is not well-formed UTF-8 (RFC 6531 carries UTF-8 only; RFC 3629 forbids the rest).</summary>
    InvalidUtf8,
}

/// <summary>
/// The SMTP command grammar, without I/O: a command line (without its CRLF) in, a verb, a path and parameters out.
/// Paths follow RFC 5321, 4.1.2 with the RFC 6531, 3.3 extensions (UTF-8 in atext, qtext and domain labels), which the
/// session then allows only in an <c>SMTPUTF8</c> transaction.
/// </summary>
internal static class SmtpGrammar
{
    /// <summary>RFC 5321, 4.5.3.1.1: the longest local part is 64 octets.</summary>
    public const int MaxLocalPartOctets = 64;

    /// <summary>RFC 5321, 4.5.3.1.2: the longest domain is 255 octets.</summary>
    public const int MaxDomainOctets = 255;

    /// <summary>Splits <c>verb [SP argument]</c>; the verb is matched case-insensitively (RFC 5321, 2.4).</summary>
    /// <param name="line">The command line without CRLF.</param>
    /// <param name="argumentStart">Where the argument starts (the line's length when there is none).</param>
    public static SmtpVerb ParseVerb(ReadOnlySpan<byte> line, out int argumentStart)
    {
        int space = line.IndexOf((byte)' ');
        var verb = space < 0 ? line : line[..space];
        argumentStart = space < 0 ? line.Length : space + 1;
        if (verb.Length is < 4 or > 8)
        {
            return SmtpVerb.Unknown;
        }

        Span<byte> upper = stackalloc byte[verb.Length];
        for (int i = 0; i < verb.Length; i++)
        {
            upper[i] = verb[i] is >= (byte)'a' and <= (byte)'z' ? (byte)(verb[i] - 32) : verb[i];
        }

        return upper switch
        {
            _ when upper.SequenceEqual("HELO"u8) => SmtpVerb.Helo,
            _ when upper.SequenceEqual("EHLO"u8) => SmtpVerb.Ehlo,
            _ when upper.SequenceEqual("MAIL"u8) => SmtpVerb.Mail,
            _ when upper.SequenceEqual("RCPT"u8) => SmtpVerb.Rcpt,
            _ when upper.SequenceEqual("DATA"u8) => SmtpVerb.Data,
            _ when upper.SequenceEqual("BDAT"u8) => SmtpVerb.Bdat,
            _ when upper.SequenceEqual("RSET"u8) => SmtpVerb.Rset,
            _ when upper.SequenceEqual("NOOP"u8) => SmtpVerb.Noop,
            _ when upper.SequenceEqual("QUIT"u8) => SmtpVerb.Quit,
            _ when upper.SequenceEqual("VRFY"u8) => SmtpVerb.Vrfy,
            _ when upper.SequenceEqual("HELP"u8) => SmtpVerb.Help,
            _ when upper.SequenceEqual("STARTTLS"u8) => SmtpVerb.StartTls,
            _ when upper.SequenceEqual("AUTH"u8) => SmtpVerb.Auth,
            _ => SmtpVerb.Unknown,
        };
    }

    /// <summary>
    /// <c>mail = "MAIL FROM:" Reverse-path [SP Mail-parameters]</c> (RFC 5321, 4.1.1.2); <paramref name="argument"/> is
    /// what follows <c>MAIL SP</c>. A space after the colon is tolerated, as most servers do.
    /// </summary>
    public static ParseStatus ParseMail(ReadOnlySpan<byte> argument, out SmtpPath path, out List<KeyValuePair<string, string?>> parameters) =>
        ParseCommandPath(argument, "FROM:"u8, allowNull: true, out path, out parameters);

    /// <summary><c>rcpt = "RCPT TO:" Forward-path [SP Rcpt-parameters]</c> (RFC 5321, 4.1.1.3).</summary>
    public static ParseStatus ParseRcpt(ReadOnlySpan<byte> argument, out SmtpPath path, out List<KeyValuePair<string, string?>> parameters) =>
        ParseCommandPath(argument, "TO:"u8, allowNull: false, out path, out parameters);

    /// <summary>
    /// <c>bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]; chunk-size = 1*DIGIT; end-marker = "LAST"</c> (RFC 3030, 2).
    /// </summary>
    public static bool TryParseBdat(ReadOnlySpan<byte> argument, out long size, out bool last)
    {
        size = 0;
        last = false;
        int space = argument.IndexOf((byte)' ');
        var digits = space < 0 ? argument : argument[..space];
        if (digits.Length is 0 or > 18)
        {
            return false;
        }

        foreach (byte b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            size = (size * 10) + (b - '0');
        }

        if (space < 0)
        {
            return true;
        }

        last = Ascii.EqualsIgnoreCase(argument[(space + 1)..], "LAST"u8);
        return last;
    }

    /// <summary>Whether <paramref name="line"/> is well-formed UTF-8 (ASCII is).</summary>
    public static bool IsValidUtf8(ReadOnlySpan<byte> line) => Utf8.IsValid(line);

    private static ParseStatus ParseCommandPath(ReadOnlySpan<byte> argument, ReadOnlySpan<byte> keyword, bool allowNull, out SmtpPath path,
        out List<KeyValuePair<string, string?>> parameters)
    {
        path = default;
        parameters = [];
        if (argument.Length < keyword.Length || !Ascii.EqualsIgnoreCase(argument[..keyword.Length], keyword))
        {
            return ParseStatus.Syntax;
        }

        if (!Utf8.IsValid(argument))
        {
            return ParseStatus.InvalidUtf8;
        }

        var rest = argument[keyword.Length..];
        while (rest.Length > 0 && rest[0] == (byte)' ')
        {
            rest = rest[1..];
        }

        if (rest.Length == 0 || rest[0] != (byte)'<')
        {
            return ParseStatus.Syntax;
        }

        int close = ClosingBracket(rest);
        if (close < 0)
        {
            return ParseStatus.BadPath;
        }

        var inner = rest[1..close];
        if (inner.Length == 0)
        {
            if (!allowNull)
            {
                return ParseStatus.BadPath;
            }

            path = new SmtpPath(string.Empty, false);
        }
        else
        {
            // Path = "<" [ A-d-l ":" ] Mailbox ">": a source route is accepted and ignored (RFC 5321, 4.1.2, C)
            if (inner[0] == (byte)'@')
            {
                int colon = inner.IndexOf((byte)':');
                if (colon < 0)
                {
                    return ParseStatus.BadPath;
                }

                inner = inner[(colon + 1)..];
            }

            if (!TryParseMailbox(inner, out path))
            {
                return ParseStatus.BadPath;
            }
        }

        var tail = rest[(close + 1)..];
        if (tail.Length > 0 && tail[0] != (byte)' ')
        {
            return ParseStatus.Syntax;
        }

        return TryParseParameters(tail, parameters) ? ParseStatus.Ok : ParseStatus.Syntax;
    }

    /// <summary>The index of the <c>&gt;</c> that ends the path, skipping quoted strings (a local part may quote <c>&gt;</c>).</summary>
    private static int ClosingBracket(ReadOnlySpan<byte> rest)
    {
        bool quoted = false;
        for (int i = 1; i < rest.Length; i++)
        {
            byte b = rest[i];
            if (quoted && b == (byte)'\\')
            {
                i++;
            }
            else if (b == (byte)'"')
            {
                quoted = !quoted;
            }
            else if (!quoted && b == (byte)'>')
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary><c>Mailbox = Local-part "@" ( Domain / address-literal )</c>.</summary>
    internal static bool TryParseMailbox(ReadOnlySpan<byte> mailbox, out SmtpPath path)
    {
        path = default;
        int at = mailbox.LastIndexOf((byte)'@');
        if (at <= 0 || at == mailbox.Length - 1)
        {
            return false;
        }

        var local = mailbox[..at];
        var domain = mailbox[(at + 1)..];
        if (local.Length > MaxLocalPartOctets || domain.Length > MaxDomainOctets)
        {
            return false;
        }

        bool localOk = local[0] == (byte)'"' ? IsQuotedString(local) : IsDotString(local);
        bool domainOk = domain[0] == (byte)'[' ? IsAddressLiteral(domain) : IsDomain(domain);
        if (!localOk || !domainOk)
        {
            return false;
        }

        bool needsUtf8 = !Ascii.IsValid(mailbox);
        path = new SmtpPath(Encoding.UTF8.GetString(mailbox), needsUtf8);
        return true;
    }

    // Dot-string = Atom *("." Atom); Atom = 1*atext; atext =/ UTF8-non-ascii (RFC 6531, 3.3)
    private static bool IsDotString(ReadOnlySpan<byte> local)
    {
        bool atomStart = true;
        foreach (byte b in local)
        {
            if (b == (byte)'.')
            {
                if (atomStart)
                {
                    return false;
                }

                atomStart = true;
                continue;
            }

            if (!IsAtext(b))
            {
                return false;
            }

            atomStart = false;
        }

        return !atomStart;
    }

    // atext = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "/" / "=" / "?" / "^" / "_" / "`" / "{" / "|" / "}" / "~"   (RFC 5322, 3.2.3)
    private static bool IsAtext(byte b) =>
        b >= 0x80 || char.IsAsciiLetterOrDigit((char)b) || b is (byte)'!' or (byte)'#' or (byte)'$' or (byte)'%' or (byte)'&' or (byte)'\''
            or (byte)'*' or (byte)'+' or (byte)'-' or (byte)'/' or (byte)'=' or (byte)'?' or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'{'
            or (byte)'|' or (byte)'}' or (byte)'~';

    // Quoted-string = DQUOTE *QcontentSMTP DQUOTE; QcontentSMTP = qtextSMTP / quoted-pairSMTP
    // qtextSMTP = %d32-33 / %d35-91 / %d93-126 (=/ UTF8-non-ascii); quoted-pairSMTP = %d92 %d32-126
    private static bool IsQuotedString(ReadOnlySpan<byte> local)
    {
        if (local.Length < 2 || local[^1] != (byte)'"')
        {
            return false;
        }

        var content = local[1..^1];
        for (int i = 0; i < content.Length; i++)
        {
            byte b = content[i];
            if (b == (byte)'\\')
            {
                if (++i >= content.Length || content[i] is < 32 or > 126)
                {
                    return false;
                }
            }
            else if (b == (byte)'"' || (b < 0x80 && b is < 32 or > 126))
            {
                return false;
            }
        }

        return true;
    }

    // Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] / U-label (RFC 6531, 3.3); checked by IDNA
    private static bool IsDomain(ReadOnlySpan<byte> domain)
    {
        foreach (byte b in domain)
        {
            if (b < 0x80 && !char.IsAsciiLetterOrDigit((char)b) && b is not (byte)'-' and not (byte)'.')
            {
                return false;
            }
        }

        try
        {
            string ascii = new IdnMapping { UseStd3AsciiRules = true }.GetAscii(Encoding.UTF8.GetString(domain));
            return ascii.Length is > 0 and <= MaxDomainOctets && !ascii.EndsWith('.');
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    // address-literal = "[" ( IPv4-address-literal / IPv6-address-literal / General-address-literal ) "]"; dcontent = %d33-90 / %d94-126
    private static bool IsAddressLiteral(ReadOnlySpan<byte> domain)
    {
        if (domain.Length < 3 || domain[^1] != (byte)']')
        {
            return false;
        }

        foreach (byte b in domain[1..^1])
        {
            if (b is < 33 or > 126 or (byte)'[' or (byte)']' or (byte)'\\')
            {
                return false;
            }
        }

        return true;
    }

    // Mail-parameters = esmtp-param *(SP esmtp-param); esmtp-param = esmtp-keyword ["=" esmtp-value]
    // esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 / %d62-126) (=/ UTF8-non-ascii, RFC 6531)
    private static bool TryParseParameters(ReadOnlySpan<byte> text, List<KeyValuePair<string, string?>> parameters)
    {
        while (text.Length > 0)
        {
            if (text[0] == (byte)' ')
            {
                text = text[1..];
                continue;
            }

            int end = text.IndexOf((byte)' ');
            var token = end < 0 ? text : text[..end];
            text = end < 0 ? [] : text[end..];
            int equals = token.IndexOf((byte)'=');
            var keyword = equals < 0 ? token : token[..equals];
            if (keyword.Length == 0 || !char.IsAsciiLetterOrDigit((char)keyword[0]))
            {
                return false;
            }

            foreach (byte b in keyword)
            {
                if (!char.IsAsciiLetterOrDigit((char)b) && b != (byte)'-')
                {
                    return false;
                }
            }

            string? value = null;
            if (equals >= 0)
            {
                var raw = token[(equals + 1)..];
                if (raw.Length == 0)
                {
                    return false;
                }

                foreach (byte b in raw)
                {
                    if (b < 0x80 && b is < 33 or > 126 or (byte)'=')
                    {
                        return false;
                    }
                }

                value = Encoding.UTF8.GetString(raw);
            }

            parameters.Add(new(Encoding.ASCII.GetString(keyword).ToUpperInvariant(), value));
        }

        return true;
    }
}
