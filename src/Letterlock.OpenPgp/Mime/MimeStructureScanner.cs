using System.Text;
using MimeKit;

namespace Letterlock.OpenPgp.Mime;

/// <summary>
/// Checks a message against <see cref="MimeLimits"/> in one linear pass over its bytes, fed in chunks of any size and
/// keeping only a bounded part of each line: the size, field count and folding of every header block, the number of
/// entities and their depth. It finds entities the way MimeKit's parser does (so the counts are what a parse would
/// build): the first <c>Content-Type</c> of a header block decides, parsed by MimeKit; a multipart with a boundary
/// opens its delimiter lines; an attached message whose transfer encoding is the identity continues with the nested
/// header block.
/// </summary>
/// <remarks>
/// Grammar followed:
/// <code>
/// header-block  = *( field / obs-garbage ) CRLF               ; RFC 5322 2.2, 3.6: field = name ":" value CRLF *( WSP text CRLF )
/// multipart-body = [preamble CRLF] dash-boundary *( transport-padding CRLF body-part CRLF dash-boundary ) "--" ...
/// dash-boundary = "--" boundary                               ; RFC 2046 5.1.1; any trailing whitespace accepted, as MimeKit does
/// </code>
/// Delimiters are checked innermost first, the close-delimiter before the delimiter, as MimeKit checks them. A
/// delimiter of an outer multipart ends every inner one. A body line is kept only as far as the longest open boundary
/// needs; whether the rest is whitespace is tracked, not kept.
/// </remarks>
public sealed class MimeStructureScanner
{
    private const int KeptPrefix = 256;
    private static readonly string[] NestedMessageTypes = ["message/rfc822", "message/news", "message/global", "message/global-headers", "text/rfc822-headers"];

    private readonly MimeLimits _limits;
    private readonly List<(byte[] Marker, int Depth)> _boundaries = [];
    private readonly MemoryStream _line = new();
    private readonly MemoryStream _contentType = new();
    private readonly MemoryStream _transferEncoding = new();
    private int _longestMarker;
    private long _lineLength;
    private bool _lineTailBlank = true;

    private bool _inHeaders = true;
    private int _depth = 1;
    private int _blockBytes;
    private int _blockFields;
    private int _fieldLines;
    private Field _field;
    private bool _sawContentType;
    private bool _sawTransferEncoding;

    /// <summary>Creates a scanner for one message.</summary>
    public MimeStructureScanner(MimeLimits? limits = null)
    {
        _limits = limits ?? MimeLimits.Default;
        Parts = 1;
    }

    private enum Field
    {
        Other,
        ContentType,
        TransferEncoding,
    }

    /// <summary>Entities seen so far (the message is the first).</summary>
    public int Parts { get; private set; }

    /// <summary>The deepest entity seen so far (the message is depth 1).</summary>
    public int Depth { get; private set; } = 1;

    /// <summary>Header bytes of all entities so far.</summary>
    public long TotalHeaderBytes { get; private set; }

    /// <summary>The first limit exceeded, or null; once set, further input is ignored.</summary>
    public MimeLimitViolation? Violation { get; private set; }

    /// <summary>Scans the next bytes of the message; returns the first limit exceeded so far, or null.</summary>
    public MimeLimitViolation? Feed(ReadOnlySpan<byte> data)
    {
        while (Violation is null && !data.IsEmpty)
        {
            int newline = data.IndexOf((byte)'\n');
            var piece = newline < 0 ? data : data[..(newline + 1)];
            Append(piece);
            data = data[piece.Length..];
            if (newline >= 0)
            {
                EndLine();
            }
        }

        return Violation;
    }

    /// <summary>Ends the message (a last line without a line break counts); returns the first limit exceeded, or null.</summary>
    public MimeLimitViolation? Complete()
    {
        if (Violation is null && _lineLength > 0)
        {
            EndLine();
        }

        return Violation;
    }

    /// <summary>Scans a whole message held in memory.</summary>
    public static MimeLimitViolation? Check(ReadOnlySpan<byte> message, MimeLimits? limits = null)
    {
        var scanner = new MimeStructureScanner(limits);
        return scanner.Feed(message) ?? scanner.Complete();
    }

    private void Append(ReadOnlySpan<byte> piece)
    {
        // A header line counts against its block as it arrives, so no block is ever kept past its limit.
        if (_inHeaders && !Exceeds((long)_blockBytes + piece.Length, _limits.MaxHeaderBytes, nameof(MimeLimits.MaxHeaderBytes), "a header block"))
        {
            _blockBytes += piece.Length;
            TotalHeaderBytes += piece.Length;
            if (Exceeds(TotalHeaderBytes, _limits.MaxTotalHeaderBytes, nameof(MimeLimits.MaxTotalHeaderBytes), "the header blocks of the message"))
            {
                return;
            }
        }

        if (Violation is not null)
        {
            return;
        }

        // A header line is kept whole (its block's limit bounds it); a body line only as far as the longest open
        // boundary needs, and whether the rest is white space is tracked instead.
        int limit = _inHeaders ? _limits.MaxHeaderBytes + 2 : Math.Max(KeptPrefix, _longestMarker + 4);
        int keep = (int)Math.Min(piece.Length, Math.Max(0, limit - _line.Length));
        _line.Write(piece[..keep]);
        foreach (byte b in piece[keep..])
        {
            _lineTailBlank &= b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';
        }

        _lineLength += piece.Length;
    }

    private void EndLine()
    {
        var kept = _line.GetBuffer().AsSpan(0, (int)_line.Length);
        var content = kept.TrimEnd("\r\n"u8);
        bool whole = _lineLength == _line.Length;
        if (IsBoundary(content, whole, out int frame, out bool final))
        {
            OnBoundary(frame, final);
        }
        else if (_inHeaders)
        {
            OnHeaderLine(content, whole);
        }

        _line.SetLength(0);
        _lineLength = 0;
        _lineTailBlank = true;
    }

    private void OnHeaderLine(ReadOnlySpan<byte> content, bool whole)
    {
        if (content.IsEmpty && whole)
        {
            EndHeaderBlock();
            return;
        }

        if (content.Length > 0 && content[0] is (byte)' ' or (byte)'\t')
        {
            // Continuation of the field being read (RFC 5322, 2.2.3).
            if (!Exceeds(++_fieldLines, _limits.MaxHeaderFieldLines, nameof(MimeLimits.MaxHeaderFieldLines), "a header field is folded over more lines than")
                && _field != Field.Other)
            {
                (_field == Field.ContentType ? _contentType : _transferEncoding).Write(content);
            }

            return;
        }

        // A new field (or a line no parser can use, which MimeKit still buffers: counted the same).
        _fieldLines = 1;
        if (Exceeds(++_blockFields, _limits.MaxHeaderFields, nameof(MimeLimits.MaxHeaderFields), "a header block has more fields than"))
        {
            return;
        }

        _field = Field.Other;
        int colon = content.IndexOf((byte)':');
        if (colon > 0)
        {
            var name = content[..colon].TrimEnd(" \t"u8);
            if (!_sawContentType && name.SequenceEqual("Content-Type"u8, AsciiCaseInsensitive.Instance))
            {
                _sawContentType = true;
                _field = Field.ContentType;
                _contentType.Write(content[(colon + 1)..]);
            }
            else if (!_sawTransferEncoding && name.SequenceEqual("Content-Transfer-Encoding"u8, AsciiCaseInsensitive.Instance))
            {
                _sawTransferEncoding = true;
                _field = Field.TransferEncoding;
                _transferEncoding.Write(content[(colon + 1)..]);
            }
        }
    }

    private void EndHeaderBlock()
    {
        var type = ParseContentType();
        string encoding = Encoding.ASCII.GetString(_transferEncoding.GetBuffer(), 0, (int)_transferEncoding.Length).Trim().ToLowerInvariant();
        bool identity = encoding is "" or "7bit" or "8bit" or "binary";
        _inHeaders = false;
        ResetBlock();
        if (type is { MediaType: var media } && media.Equals("multipart", StringComparison.OrdinalIgnoreCase)
            && type.Boundary is { Length: > 0 } boundary)
        {
            var marker = Encoding.UTF8.GetBytes("--" + boundary);
            _boundaries.Add((marker, _depth));
            _longestMarker = Math.Max(_longestMarker, marker.Length);
        }
        else if (type is not null && identity && NestedMessageTypes.Any(t => type.MimeType.Equals(t, StringComparison.OrdinalIgnoreCase)))
        {
            StartEntity(_depth + 1); // the attached message's own header block follows
        }
    }

    private void OnBoundary(int frame, bool final)
    {
        var (_, depth) = _boundaries[frame];
        _boundaries.RemoveRange(frame + 1, _boundaries.Count - frame - 1); // an outer delimiter ends every inner multipart
        if (_inHeaders)
        {
            _inHeaders = false; // a part whose header block never ended
            ResetBlock();
        }

        if (final)
        {
            _boundaries.RemoveAt(frame);
            return; // the epilogue belongs to the body around the multipart
        }

        StartEntity(depth + 1);
    }

    private void StartEntity(int depth)
    {
        _depth = depth;
        Depth = Math.Max(Depth, depth);
        if (!Exceeds(++Parts, _limits.MaxMimeParts, nameof(MimeLimits.MaxMimeParts), "the message has more MIME parts than"))
        {
            Exceeds(depth, _limits.MaxMimeDepth, nameof(MimeLimits.MaxMimeDepth), "MIME parts are nested deeper than");
        }

        _inHeaders = true;
        ResetBlock();
    }

    private void ResetBlock()
    {
        _blockBytes = 0;
        _blockFields = 0;
        _fieldLines = 0;
        _field = Field.Other;
        _sawContentType = false;
        _sawTransferEncoding = false;
        _contentType.SetLength(0);
        _transferEncoding.SetLength(0);
    }

    private ContentType? ParseContentType()
    {
        if (_contentType.Length == 0)
        {
            return null;
        }

        // Unfolded the way a parser reads it (line breaks were never kept), parsed by MimeKit itself.
        return ContentType.TryParse(ParserOptions.Default, _contentType.ToArray(), out var type) ? type : null;
    }

    /// <summary>Whether the line is a delimiter of an open multipart (innermost first, the close-delimiter before the delimiter).</summary>
    private bool IsBoundary(ReadOnlySpan<byte> content, bool whole, out int frame, out bool final)
    {
        for (frame = _boundaries.Count - 1; frame >= 0; frame--)
        {
            var marker = _boundaries[frame].Marker;
            if (!content.StartsWith(marker))
            {
                continue;
            }

            var rest = content[marker.Length..];
            final = rest.StartsWith("--"u8);
            if (final && IsBlank(rest[2..], whole))
            {
                return true;
            }

            if (IsBlank(rest, whole))
            {
                final = false;
                return true;
            }
        }

        frame = -1;
        final = false;
        return false;
    }

    private bool IsBlank(ReadOnlySpan<byte> rest, bool whole) =>
        !rest.ContainsAnyExcept(" \t\r"u8) && (whole || _lineTailBlank);

    private bool Exceeds(long value, int allowed, string limit, string what)
    {
        if (value <= allowed || Violation is not null)
        {
            return Violation is not null;
        }

        Violation = new MimeLimitViolation(limit, allowed, limit is nameof(MimeLimits.MaxHeaderBytes) or nameof(MimeLimits.MaxTotalHeaderBytes)
            ? $"{what} is larger than {allowed} bytes"
            : $"{what} {allowed}");
        return true;
    }

    private sealed class AsciiCaseInsensitive : IEqualityComparer<byte>
    {
        public static readonly AsciiCaseInsensitive Instance = new();

        public bool Equals(byte x, byte y) => Lower(x) == Lower(y);

        public int GetHashCode(byte obj) => Lower(obj);

        private static byte Lower(byte b) => b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b + 32) : b;
    }
}
