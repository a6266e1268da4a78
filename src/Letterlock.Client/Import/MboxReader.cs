using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Letterlock.Client.Import;

/// <summary>
/// Reads an mbox file (RFC 4155, with mboxrd or mboxo quoting) message by message, streaming: one message is held
/// in memory at a time, and a message over <see cref="ImportOptions.MaxMessageBytes"/> is skipped without being held.
/// </summary>
/// <remarks>
/// <para>The grammar read (RFC 4155, appendix A, and the mboxrd convention):</para>
/// <code>
/// mbox      = *message
/// message   = postmark *line [blank-line]      ; the writer adds a blank line after each message
/// postmark  = "From " sender 1*SP date LF       ; date in asctime form: "Sat Jan  3 01:05:34 1996"
/// mboxrd    : a body line matching ^&gt;*From  was written with one more "&gt;"; one is removed on reading
/// </code>
/// <para>A line starting <c>From </c> is taken as a postmark only at the start of the file or after a blank line,
/// and only when it carries a time and a year like a postmark does: an unquoted <c>From here on...</c> in a body
/// (mboxo writers, hand-made files) stays in its message. The postmark's date is the message's internal date;
/// <c>Status:</c> and <c>X-Status:</c> headers (mutt, Thunderbird, Dovecot's mbox) give its flags. The final
/// message is refused as truncated when the file does not end with a line break or the message's header never
/// ends (the file was cut while being written or copied).</para>
/// </remarks>
public sealed partial class MboxReader(string path, string folder, ImportOptions options) : IImportSource
{
    private long _done;
    private long? _length;

    /// <inheritdoc />
    public string Description => $"mbox {path}";

    /// <inheritdoc />
    public SourcePosition Position => new(Interlocked.Read(ref _done), _length, "bytes");

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceMessage> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImportSourceException($"cannot open the mbox file {path}: {e.Message}", unreachable: true, e);
        }

        await using (stream.ConfigureAwait(false))
        {
            _length = stream.Length;
            foreach (var message in Read(stream, path, folder, options, done => Interlocked.Exchange(ref _done, done)))
            {
                ct.ThrowIfCancellationRequested();
                yield return message;
            }
        }
    }

    /// <summary>Splits an mbox stream into messages (synchronous: file reads are).</summary>
    internal static IEnumerable<SourceMessage> Read(Stream stream, string name, string folder, ImportOptions options, Action<long>? position = null)
    {
        var lines = new LineReader(stream, options.MaxMessageBytes + (1 << 16));
        var body = new MemoryStream();
        bool inMessage = false, tooLarge = false, headerEnded = false, previousBlank = true, lastHadBreak = true;
        long startLine = 0, lineNumber = 0, size = 0;
        DateTimeOffset? date = null;
        while (lines.Next())
        {
            lineNumber++;
            var line = lines.Line;
            lastHadBreak = line.Length > 0 && line[^1] == (byte)'\n';
            var content = TrimEnd(line);
            if (previousBlank && IsPostmark(content, out var postmarkDate))
            {
                if (inMessage)
                {
                    yield return Finish(body, folder, date, $"{name}, line {startLine}", tooLarge, options, dropLastBlank: true);
                }
                else if (lineNumber != 1)
                {
                    throw new ImportSourceException($"{name} is not an mbox file: line 1 is not a 'From ' line");
                }

                position?.Invoke(lines.Position);
                body = new MemoryStream();
                inMessage = true;
                tooLarge = headerEnded = false;
                size = 0;
                startLine = lineNumber;
                date = postmarkDate;
                previousBlank = false;
                continue;
            }

            if (!inMessage)
            {
                throw new ImportSourceException($"{name} is not an mbox file: line 1 is not a 'From ' line");
            }

            previousBlank = content.Length == 0;
            if (previousBlank)
            {
                headerEnded = true;
            }

            // Up to two bytes more: the blank line ending the message may be the writer's separator, not the message's.
            size += line.Length;
            if (size > options.MaxMessageBytes + 2)
            {
                tooLarge = true;
                body = new MemoryStream();
                continue;
            }

            if (tooLarge)
            {
                continue;
            }

            // mboxrd: ">From " came from "From ", ">>From " from ">From ", ...; mboxo cannot tell, so leaves them.
            if (options.MboxFormat == MboxFormat.Mboxrd && content.Length > 5 && content[0] == (byte)'>')
            {
                int quotes = 0;
                while (quotes < content.Length && content[quotes] == (byte)'>')
                {
                    quotes++;
                }

                if (content[quotes..].StartsWith("From "u8))
                {
                    line = line[1..];
                }
            }

            body.Write(line);
        }

        if (!inMessage)
        {
            if (lineNumber > 0)
            {
                throw new ImportSourceException($"{name} is not an mbox file: line 1 is not a 'From ' line");
            }

            yield break;
        }

        position?.Invoke(lines.Position);
        if (!lastHadBreak || !headerEnded)
        {
            yield return new SourceMessage(folder, [], date, null, $"{name}, line {startLine}",
                "the message is truncated: the file ends " + (lastHadBreak ? "inside its header" : "in the middle of a line"));
            yield break;
        }

        yield return Finish(body, folder, date, $"{name}, line {startLine}", tooLarge, options, dropLastBlank: true);
    }

    private static SourceMessage Finish(MemoryStream body, string folder, DateTimeOffset? date, string where, bool tooLarge,
        ImportOptions options, bool dropLastBlank)
    {
        if (tooLarge)
        {
            return new SourceMessage(folder, [], date, null, where,
                $"the message is larger than the limit of {options.MaxMessageBytes} bytes (ImportOptions.MaxMessageBytes)");
        }

        var bytes = body.ToArray();
        int length = bytes.Length;
        // The blank line the writer put before the next postmark is the separator's, not the message's.
        if (dropLastBlank && length > 0)
        {
            if (length >= 2 && bytes[length - 1] == '\n' && bytes[length - 2] == '\n')
            {
                length--;
            }
            else if (length >= 4 && bytes.AsSpan(length - 4).SequenceEqual("\r\n\r\n"u8))
            {
                length -= 2;
            }
        }

        var raw = length == bytes.Length ? bytes : bytes[..length];
        return new SourceMessage(folder, StatusFlags(raw), date, raw, where);
    }

    /// <summary>Flags from the <c>Status:</c> (R read) and <c>X-Status:</c> (A answered, F flagged, T draft, D deleted) headers.</summary>
    internal static IReadOnlyList<string> StatusFlags(ReadOnlySpan<byte> message)
    {
        var flags = new List<string>();
        while (message.Length > 0)
        {
            int end = message.IndexOf((byte)'\n');
            var line = TrimEnd(end < 0 ? message : message[..(end + 1)]);
            if (line.Length == 0)
            {
                break;
            }

            bool status = StartsWithIgnoreCase(line, "Status:"u8), extended = StartsWithIgnoreCase(line, "X-Status:"u8);
            if (status || extended)
            {
                foreach (var c in line[(status ? 7 : 9)..])
                {
                    var flag = (status, (char)c) switch
                    {
                        (true, 'R') => "\\Seen",
                        (false, 'A') => "\\Answered",
                        (false, 'F') => "\\Flagged",
                        (false, 'T') => "\\Draft",
                        (false, 'D') => "\\Deleted",
                        _ => null,
                    };
                    if (flag is not null && !flags.Contains(flag))
                    {
                        flags.Add(flag);
                    }
                }
            }

            if (end < 0)
            {
                break;
            }

            message = message[(end + 1)..];
        }

        return flags;
    }

    private static bool StartsWithIgnoreCase(ReadOnlySpan<byte> line, ReadOnlySpan<byte> prefix) =>
        line.Length >= prefix.Length && Ascii.EqualsIgnoreCase(line[..prefix.Length], prefix);

    private static ReadOnlySpan<byte> TrimEnd(ReadOnlySpan<byte> line)
    {
        if (line.Length > 0 && line[^1] == '\n')
        {
            line = line[..^1];
        }

        return line.Length > 0 && line[^1] == '\r' ? line[..^1] : line;
    }

    /// <summary>Whether a line is a postmark (<c>From sender date</c> with a time and a year), and its date when it parses.</summary>
    internal static bool IsPostmark(ReadOnlySpan<byte> line, out DateTimeOffset? date)
    {
        date = null;
        if (!line.StartsWith("From "u8) || line.Length > 1000)
        {
            return false;
        }

        var text = Encoding.Latin1.GetString(line[5..]);
        var match = Postmark().Match(text);
        if (!match.Success)
        {
            return false;
        }

        // The weekday is dropped before parsing: writers get it wrong, and the date is what counts.
        var stamp = Spaces().Replace(match.Groups["date"].Value.Trim(), " ");
        stamp = Weekday().Replace(stamp, "");
        string[] formats = ["MMM d HH:mm:ss yyyy", "MMM d HH:mm yyyy", "MMM d HH:mm:ss yyyy zzz", "MMM d HH:mm:ss zzz yyyy",
            "d MMM yyyy HH:mm:ss zzz", "MMM d HH:mm:ss 'UTC' yyyy", "MMM d HH:mm:ss 'GMT' yyyy"];
        if (DateTimeOffset.TryParseExact(stamp, formats, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var parsed))
        {
            date = parsed;
        }
        else if (Zone().Match(stamp) is { Success: true } zoned && DateTimeOffset.TryParseExact(
            zoned.Groups["rest"].Value, formats[0], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out parsed))
        {
            var offset = TimeSpan.FromMinutes(int.Parse(zoned.Groups["h"].Value, CultureInfo.InvariantCulture) * 60 + int.Parse(zoned.Groups["m"].Value, CultureInfo.InvariantCulture));
            date = new DateTimeOffset(parsed.DateTime, zoned.Groups["sign"].Value == "-" ? -offset : offset);
        }

        return true;
    }

    // A sender (possibly empty, "MAILER-DAEMON", an address) then something with a time and a four-digit year.
    [GeneratedRegex(@"^\S*\s+(?<date>.*\b\d{1,2}:\d{2}(:\d{2})?\b.*\b\d{4}\b.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex Postmark();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    [GeneratedRegex(@"^(?<rest>\w{3} \d{1,2} \d{2}:\d{2}:\d{2} \d{4}) (?<sign>[+-])(?<h>\d{2})(?<m>\d{2})$")]
    private static partial Regex Zone();

    [GeneratedRegex(@"^[A-Za-z]{3},? ")]
    private static partial Regex Weekday();

    /// <summary>Lines of a stream, each with its line break, from a reused buffer (a line may be as long as the file).</summary>
    private sealed class LineReader(Stream stream, long maxLine)
    {
        private byte[] _buffer = new byte[1 << 16];
        private int _start, _end, _lineStart, _lineEnd;
        private long _consumed;
        private bool _eof;

        public ReadOnlySpan<byte> Line => _buffer.AsSpan(_lineStart, _lineEnd - _lineStart);

        public long Position => _consumed;

        public bool Next()
        {
            int scanned = _start;
            while (true)
            {
                int newline = _buffer.AsSpan(scanned, _end - scanned).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    return Take(scanned + newline + 1);
                }

                if (_eof)
                {
                    return _end > _start && Take(_end);
                }

                scanned = _end;
                if (_start > 0)
                {
                    Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                    scanned -= _start;
                    _end -= _start;
                    _start = 0;
                }
                else if (_end == _buffer.Length && _buffer.Length >= maxLine)
                {
                    // A line longer than any message may be: handed on in pieces (the caller refuses the message by its size).
                    return Take(_end);
                }
                else if (_end == _buffer.Length)
                {
                    // One very long line: the buffer grows (a message over the size limit is dropped by the caller).
                    Array.Resize(ref _buffer, _buffer.Length * 2);
                }

                int read = stream.Read(_buffer, _end, _buffer.Length - _end);
                if (read == 0)
                {
                    _eof = true;
                }

                _end += read;
            }
        }

        private bool Take(int end)
        {
            _lineStart = _start;
            _lineEnd = end;
            _consumed += end - _start;
            _start = end;
            return true;
        }
    }
}
