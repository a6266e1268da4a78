using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Letterlock.Imap.Protocol;

/// <summary>
/// Writes response tokens into a buffer writer (a <see cref="System.IO.Pipelines.PipeWriter"/> at the
/// edge). It chooses the wire form of a string itself: an atom-safe or quoted string when every byte
/// allows it, otherwise a literal, so no caller can produce an unparsable or injectable response.
/// <code>
/// quoted  = DQUOTE *QUOTED-CHAR DQUOTE      (RFC 9051, 9)
/// literal = "{" number64 ["+"] "}" CRLF *CHAR8
/// nstring = string / nil
/// </code>
/// </summary>
public sealed class ImapResponseWriter(IBufferWriter<byte> output)
{
    private readonly IBufferWriter<byte> _output = output;

    /// <summary>Bytes written since the last <see cref="ResetCount"/>, so the session can flush large responses in chunks.</summary>
    public long Written { get; private set; }

    /// <summary>Resets <see cref="Written"/>.</summary>
    public void ResetCount() => Written = 0;

    /// <summary>Writes bytes as they are.</summary>
    public ImapResponseWriter Raw(ReadOnlySpan<byte> bytes)
    {
        Written += bytes.Length;
        var span = _output.GetSpan(bytes.Length);
        if (span.Length >= bytes.Length)
        {
            bytes.CopyTo(span);
            _output.Advance(bytes.Length);
        }
        else
        {
            while (!bytes.IsEmpty)
            {
                span = _output.GetSpan();
                int n = Math.Min(span.Length, bytes.Length);
                bytes[..n].CopyTo(span);
                _output.Advance(n);
                bytes = bytes[n..];
            }
        }

        return this;
    }

    /// <summary>Writes a sequence of bytes as they are.</summary>
    public ImapResponseWriter Raw(in ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes)
        {
            Raw(segment.Span);
        }

        return this;
    }

    /// <summary>Writes ASCII text that the caller knows is safe (keywords, atoms built by the engine).</summary>
    public ImapResponseWriter Ascii(string text)
    {
        var span = _output.GetSpan(text.Length);
        int n = Encoding.ASCII.GetBytes(text, span);
        _output.Advance(n);
        Written += n;
        return this;
    }

    /// <summary>Writes one byte.</summary>
    public ImapResponseWriter Byte(byte b)
    {
        var span = _output.GetSpan(1);
        span[0] = b;
        _output.Advance(1);
        Written++;
        return this;
    }

    /// <summary>Writes a space.</summary>
    public ImapResponseWriter Sp() => Byte((byte)' ');

    /// <summary>Ends a response line.</summary>
    public ImapResponseWriter Crlf() => Raw("\r\n"u8);

    /// <summary>Writes a decimal number.</summary>
    public ImapResponseWriter Number(ulong value)
    {
        var span = _output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out int n);
        _output.Advance(n);
        Written += n;
        return this;
    }

    /// <summary>Writes NIL.</summary>
    public ImapResponseWriter Nil() => Raw("NIL"u8);

    /// <summary>Writes a string, or NIL for null.</summary>
    public ImapResponseWriter NString(string? value) => value is null ? Nil() : String(value);

    /// <summary>Writes a string as a quoted string when possible, else as a literal.</summary>
    public ImapResponseWriter String(string value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        byte[]? rented = null;
        Span<byte> bytes = max <= 512 ? stackalloc byte[max] : (rented = ArrayPool<byte>.Shared.Rent(max));
        int n = Encoding.UTF8.GetBytes(value, bytes);
        String(bytes[..n]);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        return this;
    }

    /// <summary>Writes raw bytes as a quoted string when every byte allows it, else as a literal.</summary>
    public ImapResponseWriter String(ReadOnlySpan<byte> value)
    {
        if (value.Length <= 1024 && IsQuotable(value))
        {
            Byte((byte)'"');
            foreach (var b in value)
            {
                if (b is (byte)'"' or (byte)'\\')
                {
                    Byte((byte)'\\');
                }

                Byte(b);
            }

            return Byte((byte)'"');
        }

        return Literal(value);
    }

    /// <summary>Writes an astring: an atom when the value is a non-empty run of ASTRING-CHARs, else a string.</summary>
    public ImapResponseWriter AString(string value)
    {
        bool atom = value.Length > 0 && value.Length < 256 && !value.Equals("NIL", StringComparison.OrdinalIgnoreCase);
        foreach (char c in value)
        {
            if (c > 0x7f || !ImapTokenizer.IsAStringChar((byte)c))
            {
                atom = false;
                break;
            }
        }

        return atom ? Ascii(value) : String(value);
    }

    /// <summary>Writes a literal with its bytes (a NUL, which no literal may carry, as 0x80).</summary>
    public ImapResponseWriter Literal(ReadOnlySpan<byte> value)
    {
        LiteralHeader(value.Length);
        return RawWithoutNul(value);
    }

    /// <summary>
    /// Writes bytes for a literal, each NUL replaced by 0x80: <c>literal</c> carries CHAR8, which excludes NUL
    /// (RFC 9051, 9); only <c>literal8</c> (BINARY) may hold one. Dovecot makes the same substitution.
    /// </summary>
    public ImapResponseWriter RawWithoutNul(ReadOnlySpan<byte> bytes)
    {
        int nul = bytes.IndexOf((byte)0);
        if (nul < 0)
        {
            return Raw(bytes);
        }

        while (!bytes.IsEmpty)
        {
            nul = bytes.IndexOf((byte)0);
            if (nul < 0)
            {
                return Raw(bytes);
            }

            Raw(bytes[..nul]).Byte(0x80);
            bytes = bytes[(nul + 1)..];
        }

        return this;
    }

    /// <summary>Writes a literal announcement; the caller writes exactly <paramref name="length"/> bytes next.</summary>
    public ImapResponseWriter LiteralHeader(long length, bool binary = false)
    {
        if (binary)
        {
            Byte((byte)'~');
        }

        Byte((byte)'{').Number((ulong)length).Byte((byte)'}');
        return Crlf();
    }

    // TEXT-CHAR = <any CHAR except "\r" and "\n">; CHAR = %x01-7F. Eight-bit bytes go as literals so
    // IMAP4rev1 clients never see them in a quoted string.
    private static bool IsQuotable(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            if (b == 0 || b == '\r' || b == '\n' || b > 0x7f)
            {
                return false;
            }
        }

        return true;
    }
}
