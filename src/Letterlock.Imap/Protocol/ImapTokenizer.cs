using System.Buffers;
using System.Globalization;
using System.Text;

namespace Letterlock.Imap.Protocol;

/// <summary>A malformed command: answered with BAD, the session goes on.</summary>
public sealed class ImapParseException(string message) : Exception(message);

/// <summary>
/// Reads the lexical tokens of RFC 9051, 9 from one framed command. Every method either consumes a
/// whole token or throws <see cref="ImapParseException"/>.
/// <code>
/// atom          = 1*ATOM-CHAR
/// ATOM-CHAR     = &lt;any CHAR except atom-specials&gt;
/// atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
/// astring       = 1*ASTRING-CHAR / string
/// ASTRING-CHAR  = ATOM-CHAR / resp-specials
/// string        = quoted / literal
/// quoted        = DQUOTE *QUOTED-CHAR DQUOTE
/// QUOTED-CHAR   = &lt;any TEXT-CHAR except quoted-specials&gt; / "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
/// nstring       = string / nil
/// list-mailbox  = 1*list-char / string
/// list-char     = ATOM-CHAR / list-wildcards / resp-specials
/// </code>
/// </summary>
internal ref struct ImapTokenizer
{
    private SequenceReader<byte> _reader;
    private readonly ImapServerOptions _options;
    private int _depth;

    public ImapTokenizer(ReadOnlySequence<byte> command, ImapServerOptions options)
    {
        _reader = new SequenceReader<byte>(command);
        _options = options;
        _depth = 0;
    }

    public static bool IsAtomChar(byte b) =>
        b > 0x20 && b < 0x7f && b is not ((byte)'(' or (byte)')' or (byte)'{' or (byte)'%' or (byte)'*' or (byte)'"' or (byte)'\\' or (byte)']');

    public static bool IsAStringChar(byte b) => IsAtomChar(b) || b == ']';

    public static bool IsListChar(byte b) => IsAStringChar(b) || b is (byte)'%' or (byte)'*';

    // tag = 1*<any ASTRING-CHAR except "+">
    public static bool IsValidTag(ReadOnlySpan<byte> tag)
    {
        if (tag.IsEmpty)
        {
            return false;
        }

        foreach (var b in tag)
        {
            if (!IsAStringChar(b) || b == '+')
            {
                return false;
            }
        }

        return true;
    }

    public readonly bool AtLineEnd => !_reader.TryPeek(out byte b) || b is (byte)'\r' or (byte)'\n';

    public readonly bool Peek(byte b) => _reader.TryPeek(out byte c) && c == b;

    public void Expect(byte b, string what)
    {
        if (!_reader.TryRead(out byte c) || c != b)
        {
            throw new ImapParseException($"Expected {what}");
        }
    }

    public void Space() => Expect((byte)' ', "a space");

    public bool TrySpace()
    {
        if (Peek((byte)' '))
        {
            _reader.Advance(1);
            return true;
        }

        return false;
    }

    /// <summary>Consumes the CRLF (or bare LF) that ends the command; anything else is an error.</summary>
    public void End()
    {
        if (_reader.TryPeek(out byte b) && b == '\r')
        {
            _reader.Advance(1);
        }

        if (!_reader.TryRead(out byte lf) || lf != '\n' || !_reader.End)
        {
            throw new ImapParseException("Unexpected extra arguments");
        }
    }

    public void Open()
    {
        Expect((byte)'(', "'('");
        if (++_depth > _options.MaxNestingDepth)
        {
            throw new ImapParseException("Parentheses nested too deeply");
        }
    }

    public bool TryOpen()
    {
        if (!Peek((byte)'('))
        {
            return false;
        }

        Open();
        return true;
    }

    public void Close()
    {
        Expect((byte)')', "')'");
        _depth--;
    }

    public bool TryClose()
    {
        if (!Peek((byte)')'))
        {
            return false;
        }

        Close();
        return true;
    }

    public int Depth => _depth;

    /// <summary>Enters a nesting level that is not a parenthesis (NOT/OR in search keys recurse too).</summary>
    public void Nest()
    {
        if (++_depth > _options.MaxNestingDepth)
        {
            throw new ImapParseException("Search keys nested too deeply");
        }
    }

    public void Unnest() => _depth--;

    private string ReadWhile(Func<byte, bool> accept, string what)
    {
        var start = _reader.Position;
        long count = 0;
        while (_reader.TryPeek(out byte b) && accept(b))
        {
            _reader.Advance(1);
            count++;
        }

        if (count == 0)
        {
            throw new ImapParseException($"Expected {what}");
        }

        var slice = _reader.Sequence.Slice(start, count);
        return Encoding.UTF8.GetString(slice);
    }

    public string Atom() => ReadWhile(IsAtomChar, "an atom");

    /// <summary>An atom that may contain '[' and ']' as fetch attributes do up to the section ("BODY.PEEK").</summary>
    public string FetchAtom() => ReadWhile(b => IsAtomChar(b) && b != '[' && b != '<', "a fetch attribute");

    public string AString()
    {
        // "~" is an ATOM-CHAR ("~foo" is a valid mailbox name): only literal8 starts with it, and literal8 is
        // never an astring (RFC 3516 allows it in APPEND alone).
        if (_reader.TryPeek(out byte b) && (b == '"' || b == '{'))
        {
            return String();
        }

        return ReadWhile(IsAStringChar, "an astring");
    }

    public string ListMailbox()
    {
        if (_reader.TryPeek(out byte b) && (b == '"' || b == '{'))
        {
            return String();
        }

        return ReadWhile(IsListChar, "a mailbox pattern");
    }

    public string? NString()
    {
        if (TryKeyword("NIL"))
        {
            return null;
        }

        return String();
    }

    public string String()
    {
        if (Peek((byte)'"'))
        {
            return Quoted();
        }

        var bytes = Literal(allowBinary: false);
        return DecodeUtf8(bytes);
    }

    private static string DecodeUtf8(ReadOnlySequence<byte> bytes)
    {
        foreach (var seg in bytes)
        {
            if (seg.Span.IndexOfAny((byte)0, (byte)'\r', (byte)'\n') >= 0)
            {
                // CHAR8 excludes NUL; a string argument with CR/LF would let a client smuggle a line.
                throw new ImapParseException("Literal contains NUL, CR or LF");
            }
        }

        return Encoding.UTF8.GetString(bytes);
    }

    private string Quoted()
    {
        Expect((byte)'"', "'\"'");
        var sb = new StringBuilder();
        var buffer = new List<byte>(32);
        while (true)
        {
            if (!_reader.TryRead(out byte b))
            {
                throw new ImapParseException("Unterminated quoted string");
            }

            if (b == '"')
            {
                break;
            }

            if (b == '\\')
            {
                if (!_reader.TryRead(out b) || (b != '"' && b != '\\'))
                {
                    throw new ImapParseException("Invalid escape in quoted string");
                }
            }
            else if (b is (byte)'\r' or (byte)'\n' or 0)
            {
                throw new ImapParseException("Unterminated quoted string");
            }

            buffer.Add(b);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Reads a literal (or literal8 when <paramref name="allowBinary"/>) and returns its bytes, still inside the framed command.</summary>
    public ReadOnlySequence<byte> Literal(bool allowBinary) => Literal(allowBinary, out _);

    public ReadOnlySequence<byte> Literal(bool allowBinary, out bool binary)
    {
        binary = false;
        if (Peek((byte)'~'))
        {
            if (!allowBinary)
            {
                throw new ImapParseException("literal8 is not allowed here");
            }

            binary = true;
            _reader.Advance(1);
        }

        Expect((byte)'{', "a string");
        long size = 0;
        int digits = 0;
        while (_reader.TryPeek(out byte d) && d >= '0' && d <= '9')
        {
            size = (size * 10) + (d - '0');
            _reader.Advance(1);
            if (++digits > 19)
            {
                throw new ImapParseException("Literal size too large");
            }
        }

        if (digits == 0)
        {
            throw new ImapParseException("Invalid literal");
        }

        if (Peek((byte)'+'))
        {
            _reader.Advance(1);
        }

        Expect((byte)'}', "'}'");
        if (Peek((byte)'\r'))
        {
            _reader.Advance(1);
        }

        Expect((byte)'\n', "CRLF after a literal announcement");
        if (_reader.Remaining < size)
        {
            throw new ImapParseException("Literal truncated");
        }

        var bytes = _reader.UnreadSequence.Slice(0, size);
        _reader.Advance(size);
        return bytes;
    }

    public bool TryKeyword(string keyword)
    {
        var unread = _reader.UnreadSpan;
        if (unread.Length >= keyword.Length)
        {
            for (int i = 0; i < keyword.Length; i++)
            {
                if (char.ToUpperInvariant((char)unread[i]) != keyword[i])
                {
                    return false;
                }
            }

            if (unread.Length > keyword.Length && IsAtomChar(unread[keyword.Length]) && unread[keyword.Length] != '[')
            {
                return false;
            }

            _reader.Advance(keyword.Length);
            return true;
        }

        // The rare case of a keyword straddling segments.
        Span<byte> tmp = stackalloc byte[keyword.Length + 1];
        if (!_reader.TryCopyTo(tmp[..keyword.Length]))
        {
            return false;
        }

        for (int i = 0; i < keyword.Length; i++)
        {
            if (char.ToUpperInvariant((char)tmp[i]) != keyword[i])
            {
                return false;
            }
        }

        if (_reader.TryCopyTo(tmp) && IsAtomChar(tmp[^1]) && tmp[^1] != '[')
        {
            return false;
        }

        _reader.Advance(keyword.Length);
        return true;
    }

    // number = 1*DIGIT ; unsigned 32-bit ; nz-number = digit-nz *DIGIT
    public uint Number(bool nonZero = false)
    {
        ulong v = Number64();
        if (v > uint.MaxValue || (nonZero && v == 0))
        {
            throw new ImapParseException("Number out of range");
        }

        return (uint)v;
    }

    // number64 = 1*DIGIT ; unsigned 63-bit
    public ulong Number64()
    {
        ulong v = 0;
        int digits = 0;
        while (_reader.TryPeek(out byte d) && d >= '0' && d <= '9')
        {
            v = (v * 10) + (ulong)(d - '0');
            _reader.Advance(1);
            if (++digits > 19 || v > long.MaxValue)
            {
                throw new ImapParseException("Number out of range");
            }
        }

        if (digits == 0)
        {
            throw new ImapParseException("Expected a number");
        }

        return v;
    }

    public bool PeekDigit() => _reader.TryPeek(out byte b) && b >= '0' && b <= '9';

    // sequence-set = (seq-number / seq-range) ["," sequence-set] ; seq-number = nz-number / "*"
    // sequence-set =/ seq-last-command ; seq-last-command = "$"   (RFC 5182: "$" stands alone)
    public SequenceSet SequenceSet()
    {
        if (TryConsume((byte)'$'))
        {
            return Protocol.SequenceSet.Saved;
        }

        var ranges = new List<(uint, uint)>();
        do
        {
            uint a = SeqNumber();
            uint b = a;
            if (Peek((byte)':'))
            {
                _reader.Advance(1);
                b = SeqNumber();
            }

            ranges.Add((a, b));
            if (ranges.Count > _options.MaxSequenceSetRanges)
            {
                throw new ImapParseException("Too many ranges in a sequence set");
            }
        }
        while (TryConsume((byte)','));
        return new SequenceSet(ranges);
    }

    public bool PeekSequenceSet() => _reader.TryPeek(out byte b) && ((b >= '1' && b <= '9') || b == '*' || b == '$');

    private uint SeqNumber()
    {
        if (TryConsume((byte)'*'))
        {
            return Protocol.SequenceSet.Star;
        }

        return Number(nonZero: true);
    }

    public bool TryConsume(byte b)
    {
        if (Peek(b))
        {
            _reader.Advance(1);
            return true;
        }

        return false;
    }

    // flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension
    // flag-extension = "\" atom ; flag-keyword = "$MDNSent" / "$Forwarded" / ... / atom
    public string Flag()
    {
        if (TryConsume((byte)'\\'))
        {
            return "\\" + Atom();
        }

        return Atom();
    }

    // flag-list = "(" [flag *(SP flag)] ")"
    public List<string> FlagList()
    {
        Open();
        var flags = new List<string>();
        if (!TryClose())
        {
            do
            {
                flags.Add(Flag());
            }
            while (TrySpace());
            Close();
        }

        return flags;
    }

    // date-text = date-day "-" date-month "-" date-year ; date = date-text / DQUOTE date-text DQUOTE
    public DateOnly Date()
    {
        string text = Peek((byte)'"') ? Quoted() : Atom();
        if (!DateOnly.TryParseExact(text, ["d-MMM-yyyy", "dd-MMM-yyyy"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
        {
            throw new ImapParseException("Invalid date");
        }

        return d;
    }

    // date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
    public DateTimeOffset DateTime()
    {
        string text = Quoted().TrimStart();
        if (!DateTimeOffset.TryParseExact(text, ["d-MMM-yyyy HH:mm:ss zzzz", "dd-MMM-yyyy HH:mm:ss zzzz"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
        {
            // .NET's zzz wants a colon in the zone; IMAP writes +hhmm.
            var parts = text.Split(' ');
            if (parts.Length == 3 && parts[2].Length == 5 && (parts[2][0] == '+' || parts[2][0] == '-') &&
                DateTimeOffset.TryParseExact($"{parts[0]} {parts[1]} {parts[2][..3]}:{parts[2][3..]}", ["d-MMM-yyyy HH:mm:ss zzz"], CultureInfo.InvariantCulture, DateTimeStyles.None, out d))
            {
                return d;
            }

            throw new ImapParseException("Invalid date-time");
        }

        return d;
    }

    /// <summary>The rest of the line as text (AUTHENTICATE responses, DONE).</summary>
    public string Rest()
    {
        var rest = _reader.UnreadSequence;
        var text = Encoding.ASCII.GetString(rest).TrimEnd('\r', '\n');
        _reader.AdvanceToEnd();
        return text;
    }
}
