using System.Buffers;

namespace Letterlock.Imap.Protocol;

/// <summary>What the framer found at the start of the buffer.</summary>
public enum FrameStatus
{
    /// <summary>A whole command (lines and literals) of <see cref="FrameResult.Length"/> bytes is buffered.</summary>
    Complete,
    /// <summary>The command is incomplete; read more and call again with the same buffer start.</summary>
    NeedMoreData,
    /// <summary>
    /// A synchronizing literal of <see cref="FrameResult.LiteralSize"/> bytes was announced and is not
    /// yet buffered: the server must send a continuation request (once per <see cref="FrameResult.LiteralIndex"/>)
    /// before the client sends it.
    /// </summary>
    NeedLiteral,
    /// <summary>A line exceeds <see cref="ImapServerOptions.MaxLineLength"/>; discard through the next LF and answer BAD [TOOBIG].</summary>
    LineTooLong,
    /// <summary>
    /// A synchronizing literal exceeds its limit (or the command has too many, or would pass
    /// <see cref="ImapServerOptions.MaxCommandSize"/>): answer the tag with
    /// NO/BAD [TOOBIG] and drop the first <see cref="FrameResult.Length"/> bytes; the client sends nothing more for it.
    /// </summary>
    LiteralRefused,
    /// <summary>A non-synchronizing literal exceeds a limit: its bytes are on their way, so the stream is unreadable. Close with BYE.</summary>
    Fatal,
}

/// <summary>The framer's verdict.</summary>
/// <param name="Status">What was found.</param>
/// <param name="Length">Bytes of a complete command (Complete) or to drop (LiteralRefused).</param>
/// <param name="LiteralSize">The announced literal size (NeedLiteral, LiteralRefused, Fatal).</param>
/// <param name="LiteralIndex">Ordinal of the literal within the command (0-based), so a continuation is sent only once.</param>
/// <param name="Tag">The command's tag when it could be read, for error responses.</param>
public readonly record struct FrameResult(FrameStatus Status, long Length, long LiteralSize, int LiteralIndex, string? Tag);

/// <summary>
/// Finds where one command ends: its line, and for each line that ends with a literal
/// announcement, the literal and the line that follows. It never parses arguments; that is the
/// parser's job once a whole command is buffered. Reading the whole command first keeps the
/// parser free of suspension points (Stalwart and Kestrel do the same).
/// <code>
/// command  = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF   (RFC 9051, 9)
/// literal  = "{" number64 ["+"] "}" CRLF *CHAR8        ; "+" is LITERAL+ / LITERAL- (RFC 7888)
/// literal8 = "~{" number64 ["+"] "}" CRLF *OCTET       ; RFC 3516 BINARY
/// </code>
/// A bare LF is accepted as a line end, as most servers do, because some clients send it.
/// </summary>
public static class ImapCommandFramer
{
    /// <summary>Frames the command at the start of <paramref name="buffer"/>.</summary>
    public static FrameResult Frame(in ReadOnlySequence<byte> buffer, ImapServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        long pos = 0;
        int literalIndex = 0;
        string? tag = null;
        bool isAppend = false;
        var reader = new SequenceReader<byte>(buffer);
        Span<byte> tail = stackalloc byte[24];

        while (true)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n', advancePastDelimiter: true))
            {
                if (buffer.Length - pos > options.MaxLineLength + 2)
                {
                    return new FrameResult(FrameStatus.LineTooLong, 0, 0, literalIndex, tag ?? PeekTag(buffer.Slice(pos)));
                }

                return new FrameResult(FrameStatus.NeedMoreData, 0, 0, literalIndex, tag);
            }

            long lineLength = line.Length;
            if (lineLength > options.MaxLineLength + 1)
            {
                return new FrameResult(FrameStatus.LineTooLong, 0, 0, literalIndex, tag ?? PeekTag(buffer.Slice(pos)));
            }

            // The tail of the line is enough to spot a literal announcement; copy at most 24 bytes.
            int tailLength = (int)Math.Min(lineLength, tail.Length);
            line.Slice(lineLength - tailLength).CopyTo(tail);
            var t = tail[..tailLength];
            if (t.Length > 0 && t[^1] == '\r')
            {
                t = t[..^1];
            }

            if (tag is null)
            {
                (tag, isAppend) = ReadTagAndVerb(line);
            }

            pos += lineLength + 1;
            if (!TryParseLiteralAnnouncement(t, out long size, out bool nonSync))
            {
                return new FrameResult(FrameStatus.Complete, pos, 0, literalIndex, tag);
            }

            long limit = isAppend ? options.MaxMessageSize : options.MaxStringLiteralSize;
            bool tooMany = literalIndex >= options.MaxLiteralsPerCommand || pos + size > options.MaxCommandSize;
            if (nonSync)
            {
                if (tooMany || size > limit || (options.NonSynchronizingLiteralLimit is int l && size > l))
                {
                    return new FrameResult(FrameStatus.Fatal, pos, size, literalIndex, tag);
                }
            }
            else if (tooMany || size > limit)
            {
                return new FrameResult(FrameStatus.LiteralRefused, pos, size, literalIndex, tag);
            }

            if (buffer.Length - pos < size)
            {
                return new FrameResult(nonSync ? FrameStatus.NeedMoreData : FrameStatus.NeedLiteral, 0, size, literalIndex, tag);
            }

            pos += size;
            literalIndex++;
            reader.Advance(size);
        }
    }

    /// <summary>Recognises <c>{N}</c>, <c>{N+}</c>, <c>~{N}</c> and <c>~{N+}</c> at the end of a line.</summary>
    internal static bool TryParseLiteralAnnouncement(ReadOnlySpan<byte> t, out long size, out bool nonSync)
    {
        size = 0;
        nonSync = false;
        if (t.Length < 3 || t[^1] != '}')
        {
            return false;
        }

        int end = t.Length - 1;
        if (t[end - 1] == '+')
        {
            nonSync = true;
            end--;
        }

        int open = t[..end].LastIndexOf((byte)'{');
        if (open < 0 || open == end - 1 || end - open - 1 > 19)
        {
            return false;
        }

        long value = 0;
        for (int i = open + 1; i < end; i++)
        {
            if (t[i] is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (t[i] - '0');
        }

        size = value;
        return true;
    }

    private static (string? Tag, bool IsAppend) ReadTagAndVerb(ReadOnlySequence<byte> line)
    {
        Span<byte> head = stackalloc byte[96];
        int n = (int)Math.Min(line.Length, head.Length);
        line.Slice(0, n).CopyTo(head);
        var h = head[..n];
        int sp = h.IndexOf((byte)' ');
        if (sp <= 0)
        {
            return (null, false);
        }

        string? tag = ImapTokenizer.IsValidTag(h[..sp]) ? System.Text.Encoding.ASCII.GetString(h[..sp]) : null;
        var rest = h[(sp + 1)..];
        bool isAppend = rest.Length >= 7 && System.Text.Ascii.EqualsIgnoreCase(rest[..7], "APPEND "u8);
        return (tag, isAppend);
    }

    private static string? PeekTag(ReadOnlySequence<byte> line) => ReadTagAndVerb(line).Tag;
}
