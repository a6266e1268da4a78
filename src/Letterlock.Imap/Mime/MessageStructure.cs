using System.Buffers;
using System.Text;
using Letterlock.Imap.Protocol;
using MimeKit;
using MimeKit.Utils;

namespace Letterlock.Imap.Mime;

/// <summary>
/// What IMAP needs to know about a message's MIME structure, computed once with MimeKit and then
/// kept by the backend (the bridge stores it encrypted next to the message): pre-rendered ENVELOPE,
/// BODYSTRUCTURE and BODY responses, the byte ranges of every part for <c>BODY[section]</c>, and the
/// sent date for SENTBEFORE/SENTON/SENTSINCE. Computing it needs the plaintext once; serving
/// ENVELOPE or BODYSTRUCTURE later does not, so a mail app listing a folder costs no decryption.
/// </summary>
public sealed class MessageStructure
{
    private readonly Part _root;

    private MessageStructure(long size, byte[] envelope, byte[] bodyStructure, byte[] body, DateTimeOffset? sentDate, Part root)
    {
        Size = size;
        Envelope = envelope;
        BodyStructure = bodyStructure;
        Body = body;
        SentDate = sentDate;
        _root = root;
    }

    /// <summary>The message size in bytes (RFC822.SIZE).</summary>
    public long Size { get; }

    /// <summary>The ENVELOPE value as it is written on the wire (ASCII; 8-bit values as literals).</summary>
    public byte[] Envelope { get; }

    /// <summary>The BODYSTRUCTURE value as it is written on the wire.</summary>
    public byte[] BodyStructure { get; }

    /// <summary>The BODY (non-extensible structure) value as it is written on the wire.</summary>
    public byte[] Body { get; }

    /// <summary>The Date: header, when present and valid.</summary>
    public DateTimeOffset? SentDate { get; }

    /// <summary>Parses a message and computes its structure. Never throws on malformed MIME: MimeKit is lenient, and so is this.</summary>
    /// <param name="message">The raw message.</param>
    /// <param name="maxMimeDepth">Deepest MIME nesting honoured (deeper parts are treated as opaque).</param>
    public static MessageStructure Parse(ReadOnlyMemory<byte> message, int maxMimeDepth = 64)
    {
        try
        {
            return ParseMime(message, maxMimeDepth);
        }
        catch (FormatException)
        {
            // MimeKit gives up when the first line is neither a header field nor an mbox "From " line (a text
            // file appended as a message). Such a message still has to be served: its header block is what
            // precedes the first empty line, it has no recognisable fields, and its body is plain text.
            return Unparsable(message);
        }
    }

    private const string NilEnvelope = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";

    private static MessageStructure Unparsable(ReadOnlyMemory<byte> message)
    {
        var raw = message.Span;
        long bodyStart = HeaderBlockLength(raw);
        var body = new Part { Begin = 0, BodyStart = bodyStart, End = raw.Length, Lines = CountLines(raw, bodyStart, raw.Length) };
        var root = new Part { Begin = 0, BodyStart = bodyStart, End = raw.Length, Body = body };
        var bodyStructure = new ArrayBufferWriter<byte>(128);
        WriteBody(new ImapResponseWriter(bodyStructure), body, raw, extensible: true);
        var bodyOnly = new ArrayBufferWriter<byte>(128);
        WriteBody(new ImapResponseWriter(bodyOnly), body, raw, extensible: false);
        return new MessageStructure(message.Length, Encoding.ASCII.GetBytes(NilEnvelope), bodyStructure.WrittenSpan.ToArray(), bodyOnly.WrittenSpan.ToArray(), null, root);
    }

    /// <summary>
    /// The top-level header fields of a message, parsed from its header block the way <see cref="Parse"/> reads
    /// them (an mbox "From " line before the fields is tolerated; a block MimeKit cannot read yields no fields),
    /// for searches on header fields.
    /// </summary>
    public static HeaderList ParseHeaders(ReadOnlyMemory<byte> message)
    {
        var headers = message[..HeaderBlockLength(message.Span)];
        using var stream = new ReadOnlyMemoryStream(headers);
        try
        {
            return new MimeParser(new ParserOptions { MaxMimeDepth = 1 }, stream, MimeFormat.Entity).ParseMessage().Headers;
        }
        catch (FormatException)
        {
            return new HeaderList();
        }
    }

    private static MessageStructure ParseMime(ReadOnlyMemory<byte> message, int maxMimeDepth)
    {
        var offsets = new Dictionary<object, (long Begin, long HeadersEnd, long End, int Lines)>(ReferenceEqualityComparer.Instance);
        var begins = new Dictionary<object, long>(ReferenceEqualityComparer.Instance);
        using var stream = new ReadOnlyMemoryStream(message);
        var parser = new MimeParser(new ParserOptions { MaxMimeDepth = maxMimeDepth }, stream, MimeFormat.Entity, persistent: true);
        parser.MimeEntityBegin += (_, e) => begins[e.Entity] = e.BeginOffset;
        parser.MimeEntityEnd += (_, e) => offsets[e.Entity] = (begins.GetValueOrDefault(e.Entity), e.HeadersEndOffset, e.EndOffset, e.Lines);
        parser.MimeMessageBegin += (_, e) => begins[e.Message] = e.BeginOffset;
        parser.MimeMessageEnd += (_, e) => offsets[e.Message] = (begins.GetValueOrDefault(e.Message), e.HeadersEndOffset, e.EndOffset, 0);
        var parsed = parser.ParseMessage();
        var root = BuildMessage(parsed, offsets, message.Length, message.Span);

        var envelope = new ArrayBufferWriter<byte>(512);
        WriteEnvelope(new ImapResponseWriter(envelope), parsed);
        var bodyStructure = new ArrayBufferWriter<byte>(512);
        WriteBody(new ImapResponseWriter(bodyStructure), root.Body!, message.Span, extensible: true);
        var body = new ArrayBufferWriter<byte>(256);
        WriteBody(new ImapResponseWriter(body), root.Body!, message.Span, extensible: false);
        DateTimeOffset? sent = parsed.Headers.Contains(HeaderId.Date) && parsed.Date != DateTimeOffset.MinValue ? parsed.Date : null;
        return new MessageStructure(message.Length, envelope.WrittenSpan.ToArray(), bodyStructure.WrittenSpan.ToArray(), body.WrittenSpan.ToArray(), sent, root);
    }

    /// <summary>
    /// The ENVELOPE of a message from its header block alone, byte for byte what <see cref="Parse"/> puts in
    /// <see cref="Envelope"/>: ENVELOPE describes only the top-level header fields, and MimeKit's header parse
    /// ends at the first empty line at the latest, so parsing the block up to it yields the same fields.
    /// Backends compute it once when a message arrives and keep it, so listing a folder reads no bodies.
    /// </summary>
    /// <param name="message">The raw message (or at least all of its header block and the empty line after it).</param>
    public static byte[] ParseEnvelope(ReadOnlyMemory<byte> message)
    {
        var headers = message[..HeaderBlockLength(message.Span)];
        using var stream = new ReadOnlyMemoryStream(headers);
        var parser = new MimeParser(new ParserOptions { MaxMimeDepth = 1 }, stream, MimeFormat.Entity);
        MimeMessage parsed;
        try
        {
            parsed = parser.ParseMessage();
        }
        catch (FormatException)
        {
            return Encoding.ASCII.GetBytes(NilEnvelope); // as Parse answers for a message without readable fields
        }

        var envelope = new ArrayBufferWriter<byte>(512);
        WriteEnvelope(new ImapResponseWriter(envelope), parsed);
        return envelope.WrittenSpan.ToArray();
    }

    /// <summary>The length of the header block including the empty line that ends it (the whole message when there is none).</summary>
    internal static int HeaderBlockLength(ReadOnlySpan<byte> message)
    {
        // header = 1*field CRLF (RFC 5322, 2.1): the block ends at the first line that is empty (LF or CRLF alone).
        if (message.Length > 0 && message[0] == (byte)'\n')
        {
            return 1;
        }

        if (message.Length > 1 && message[0] == (byte)'\r' && message[1] == (byte)'\n')
        {
            return 2;
        }

        int at = 0;
        while (true)
        {
            int lf = message[at..].IndexOf((byte)'\n');
            if (lf < 0)
            {
                return message.Length;
            }

            at += lf + 1;
            if (at < message.Length && message[at] == (byte)'\n')
            {
                return at + 1;
            }

            if (at + 1 < message.Length && message[at] == (byte)'\r' && message[at + 1] == (byte)'\n')
            {
                return at + 2;
            }
        }
    }

    /// <summary>The byte range of a section, or null when the message has no such part.</summary>
    public (long Start, long Length)? Locate(BodySection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        if (section.Part.Count == 0)
        {
            return section.Text switch
            {
                SectionText.None => (0, Size),
                SectionText.Header or SectionText.HeaderFields or SectionText.HeaderFieldsNot => (_root.Begin, _root.BodyStart - _root.Begin),
                SectionText.Text => (_root.BodyStart, _root.End - _root.BodyStart),
                _ => null,
            };
        }

        var part = Resolve(section.Part);
        if (part is null)
        {
            return null;
        }

        switch (section.Text)
        {
            case SectionText.None:
                return (part.BodyStart, part.End - part.BodyStart);
            case SectionText.Mime:
                return (part.Begin, part.BodyStart - part.Begin);
            default:
                // HEADER/TEXT of a part are those of the message it encapsulates (RFC 9051, 6.4.5).
                var inner = part.Embedded;
                if (inner is null)
                {
                    return null;
                }

                return section.Text == SectionText.Text
                    ? (inner.BodyStart, inner.End - inner.BodyStart)
                    : (inner.Begin, inner.BodyStart - inner.Begin);
        }
    }

    /// <summary>
    /// The Content-Transfer-Encoding of a part (for BINARY), or null when the part does not exist. A multipart
    /// and a message/rfc822 part have one too (7bit, 8bit or binary in practice): BINARY of such a part is its
    /// body, the encapsulated message for message/rfc822.
    /// </summary>
    public string? PartEncoding(IReadOnlyList<int> partPath)
    {
        ArgumentNullException.ThrowIfNull(partPath);
        var part = partPath.Count == 0 ? _root.Body : Resolve(partPath);
        return part?.Encoding;
    }

    /// <summary>
    /// The byte ranges of the bodies of leaf parts whose Content-Transfer-Encoding is binary: their bytes are
    /// data, so a bare LF in them must not be rewritten to CRLF when the message is stored.
    /// </summary>
    public IReadOnlyList<(long Start, long End)> BinaryBodyRanges()
    {
        var ranges = new List<(long, long)>();
        var stack = new Stack<Part>();
        stack.Push(_root.Body!);
        while (stack.Count > 0)
        {
            var p = stack.Pop();
            if (p.Children is not null)
            {
                foreach (var child in p.Children)
                {
                    stack.Push(child);
                }
            }
            else if (p.Embedded is not null)
            {
                stack.Push(p.Embedded.Body!);
            }
            else if (p.Encoding.Trim().Equals("binary", StringComparison.OrdinalIgnoreCase) && p.End > p.BodyStart)
            {
                ranges.Add((p.BodyStart, p.End));
            }
        }

        ranges.Sort();
        return ranges;
    }

    /// <summary>The header block and the text parts of the message (and of encapsulated messages), for text search.</summary>
    internal IEnumerable<TextRange> TextRanges()
    {
        var stack = new Stack<Part>();
        yield return new TextRange(_root.Begin, _root.BodyStart, "7bit", null, IsHeader: true);
        stack.Push(_root.Body!);
        while (stack.Count > 0)
        {
            var p = stack.Pop();
            if (p.Children is not null)
            {
                for (int i = p.Children.Count - 1; i >= 0; i--)
                {
                    stack.Push(p.Children[i]);
                }
            }
            else if (p.Embedded is not null)
            {
                yield return new TextRange(p.Embedded.Begin, p.Embedded.BodyStart, "7bit", null, IsHeader: true);
                stack.Push(p.Embedded.Body!);
            }
            else if (p.Type.Equals("text", StringComparison.OrdinalIgnoreCase))
            {
                string? charset = null;
                foreach (var (name, value) in p.Parameters)
                {
                    if (name.Equals("charset", StringComparison.OrdinalIgnoreCase))
                    {
                        charset = value;
                    }
                }

                yield return new TextRange(p.BodyStart, p.End, p.Encoding, charset, IsHeader: false);
            }
        }
    }

    /// <summary>A byte range that holds searchable text.</summary>
    internal readonly record struct TextRange(long Start, long End, string Encoding, string? Charset, bool IsHeader);

    private Part? Resolve(IReadOnlyList<int> path)
    {
        var cur = _root.Body!;
        for (int i = 0; i < path.Count; i++)
        {
            if (i > 0 && cur.Embedded is not null)
            {
                cur = cur.Embedded.Body!;
            }

            if (cur.Children is not null)
            {
                int n = path[i];
                if (n < 1 || n > cur.Children.Count)
                {
                    return null;
                }

                cur = cur.Children[n - 1];
            }
            else if (path[i] != 1)
            {
                return null;
            }
        }

        return cur;
    }

    private sealed class Part
    {
        public long Begin;
        public long BodyStart;
        public long End;
        public int Lines;
        public string Type = "text";
        public string Subtype = "plain";
        public List<(string Name, string Value)> Parameters = [];
        public string? Id;
        public string? Description;
        public string Encoding = "7bit";
        public string? Md5;
        public string? Disposition;
        public List<(string Name, string Value)> DispositionParameters = [];
        public List<string>? Languages;
        public string? Location;
        public List<Part>? Children;
        public Part? Embedded; // for message/rfc822: the encapsulated message (Begin/BodyStart/End of it), its Body the root entity
        public Part? Body;     // for a message node: its root entity
        public MimeMessage? EmbeddedMessage;
    }

    private static Part BuildMessage(MimeMessage message, Dictionary<object, (long Begin, long HeadersEnd, long End, int Lines)> offsets, long totalSize, ReadOnlySpan<byte> raw)
    {
        var node = new Part();
        if (offsets.TryGetValue(message, out var o))
        {
            node.Begin = o.Begin;
            node.BodyStart = o.HeadersEnd;
            node.End = o.End;
        }
        else
        {
            node.End = totalSize;
        }

        node.Body = message.Body is null ? new Part { Begin = node.Begin, BodyStart = node.BodyStart, End = node.End } : BuildEntity(message.Body, offsets, raw, 0);
        return node;
    }

    private static Part BuildEntity(MimeEntity entity, Dictionary<object, (long Begin, long HeadersEnd, long End, int Lines)> offsets, ReadOnlySpan<byte> raw, int depth)
    {
        var p = new Part();
        if (offsets.TryGetValue(entity, out var o))
        {
            p.Begin = o.Begin;
            p.BodyStart = o.HeadersEnd;
            p.End = o.End;
            p.Lines = o.Lines;
        }

        var ct = entity.ContentType;
        p.Type = ct.MediaType;
        p.Subtype = ct.MediaSubtype;
        foreach (var param in ct.Parameters)
        {
            p.Parameters.Add((param.Name, param.Value));
        }

        p.Id = entity.Headers[HeaderId.ContentId] is { Length: > 0 } id ? id.Trim() : null;
        p.Description = entity.Headers[HeaderId.ContentDescription] is { Length: > 0 } desc ? desc.Trim() : null;
        p.Location = entity.Headers[HeaderId.ContentLocation] is { Length: > 0 } loc ? loc.Trim() : null;
        p.Md5 = entity.Headers[HeaderId.ContentMd5] is { Length: > 0 } md5 ? md5.Trim() : null;
        var cte = entity.Headers[HeaderId.ContentTransferEncoding];
        p.Encoding = string.IsNullOrWhiteSpace(cte) ? "7bit" : cte.Trim();
        if (entity.ContentDisposition is { } disposition)
        {
            p.Disposition = disposition.Disposition;
            foreach (var param in disposition.Parameters)
            {
                p.DispositionParameters.Add((param.Name, param.Value));
            }
        }

        if (entity.Headers.Contains(HeaderId.ContentLanguage))
        {
            p.Languages = (entity.Headers[HeaderId.ContentLanguage] ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        }

        if (entity is Multipart multipart)
        {
            p.Children = [];
            foreach (var child in multipart)
            {
                p.Children.Add(BuildEntity(child, offsets, raw, depth + 1));
            }

            if (p.Children.Count == 0)
            {
                // body-type-mpart needs at least one body: describe the empty multipart as an empty text part.
                p.Children.Add(new Part { Begin = p.BodyStart, BodyStart = p.BodyStart, End = p.BodyStart });
            }
        }
        else if (entity is MessagePart { Message: { } inner } && IsMessageType(p.Type, p.Subtype))
        {
            p.Embedded = BuildMessage(inner, offsets, p.End, raw);
            p.EmbeddedMessage = inner;
            p.Lines = CountLines(raw, p.BodyStart, p.End);
        }

        if (p.Lines == 0 && p.End > p.BodyStart)
        {
            p.Lines = CountLines(raw, p.BodyStart, p.End);
        }

        return p;
    }

    // Only message/rfc822 (and IMAP4rev2's message/global) use body-type-msg; MimeKit also parses
    // text/rfc822-headers as a MessagePart, but on the wire that is a text part with a line count.
    private static bool IsMessageType(string type, string subtype) =>
        type.Equals("message", StringComparison.OrdinalIgnoreCase) &&
        (subtype.Equals("rfc822", StringComparison.OrdinalIgnoreCase) || subtype.Equals("global", StringComparison.OrdinalIgnoreCase));

    private static int CountLines(ReadOnlySpan<byte> raw, long start, long end)
    {
        if (start < 0 || end > raw.Length || end <= start)
        {
            return 0;
        }

        var span = raw[(int)start..(int)end];
        int lines = span.Count((byte)'\n');
        return span[^1] == '\n' ? lines : lines + 1;
    }

    // body = "(" (body-type-1part / body-type-mpart) ")"   (RFC 9051, 9)
    private static void WriteBody(ImapResponseWriter w, Part p, ReadOnlySpan<byte> raw, bool extensible)
    {
        w.Byte((byte)'(');
        if (p.Children is not null)
        {
            // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
            foreach (var child in p.Children)
            {
                WriteBody(w, child, raw, extensible);
            }

            w.Sp().String(p.Subtype);
            if (extensible)
            {
                // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
                w.Sp();
                WriteParams(w, p.Parameters);
                w.Sp();
                WriteDisposition(w, p);
                w.Sp();
                WriteLanguage(w, p);
                w.Sp().NString(p.Location);
            }

            w.Byte((byte)')');
            return;
        }

        // body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
        w.String(p.Type).Sp().String(p.Subtype).Sp();
        WriteParams(w, p.Parameters);
        w.Sp().NString(p.Id).Sp().NString(p.Description).Sp().String(p.Encoding).Sp().Number((ulong)Math.Max(0, p.End - p.BodyStart));
        if (p.Embedded is not null && p.EmbeddedMessage is not null)
        {
            // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
            w.Sp();
            WriteEnvelope(w, p.EmbeddedMessage);
            w.Sp();
            WriteBody(w, p.Embedded.Body!, raw, extensible);
            w.Sp().Number((ulong)p.Lines);
        }
        else if (IsMessageType(p.Type, p.Subtype))
        {
            // body-type-msg needs an envelope and a body even when the encapsulated message could not be
            // parsed (MimeKit leaves an encoded message/rfc822 opaque): describe it as an empty message.
            w.Raw(" (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0"u8);
            w.Raw(extensible ? " NIL NIL NIL NIL)"u8 : ")"u8);
            w.Sp().Number((ulong)p.Lines);
        }
        else if (p.Type.Equals("text", StringComparison.OrdinalIgnoreCase))
        {
            // body-type-text = media-text SP body-fields SP body-fld-lines
            w.Sp().Number((ulong)p.Lines);
        }

        if (extensible)
        {
            // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
            w.Sp().NString(p.Md5).Sp();
            WriteDisposition(w, p);
            w.Sp();
            WriteLanguage(w, p);
            w.Sp().NString(p.Location);
        }

        w.Byte((byte)')');
    }

    // body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
    private static void WriteParams(ImapResponseWriter w, List<(string Name, string Value)> parameters)
    {
        if (parameters.Count == 0)
        {
            w.Nil();
            return;
        }

        w.Byte((byte)'(');
        for (int i = 0; i < parameters.Count; i++)
        {
            if (i > 0)
            {
                w.Sp();
            }

            w.String(parameters[i].Name).Sp().String(parameters[i].Value);
        }

        w.Byte((byte)')');
    }

    // body-fld-dsp = "(" string SP body-fld-param ")" / nil
    private static void WriteDisposition(ImapResponseWriter w, Part p)
    {
        if (p.Disposition is null)
        {
            w.Nil();
            return;
        }

        w.Byte((byte)'(').String(p.Disposition).Sp();
        WriteParams(w, p.DispositionParameters);
        w.Byte((byte)')');
    }

    // body-fld-lang = nstring / "(" string *(SP string) ")"
    private static void WriteLanguage(ImapResponseWriter w, Part p)
    {
        if (p.Languages is null || p.Languages.Count == 0)
        {
            w.Nil();
            return;
        }

        if (p.Languages.Count == 1)
        {
            w.String(p.Languages[0]);
            return;
        }

        w.Byte((byte)'(');
        for (int i = 0; i < p.Languages.Count; i++)
        {
            if (i > 0)
            {
                w.Sp();
            }

            w.String(p.Languages[i]);
        }

        w.Byte((byte)')');
    }

    // envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to SP
    //            env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
    private static void WriteEnvelope(ImapResponseWriter w, MimeMessage m)
    {
        var headers = m.Headers;
        w.Byte((byte)'(');
        WriteRawHeader(w, headers, HeaderId.Date);
        w.Sp();
        WriteRawHeader(w, headers, HeaderId.Subject);
        w.Sp();
        WriteAddresses(w, headers, HeaderId.From);
        w.Sp();
        // env-sender and env-reply-to default to env-from (RFC 9051, 7.5.2: "If the Sender or Reply-To header
        // lines are absent in the [RFC-5322] header, or are present but empty, the server sets the
        // corresponding member of the envelope to be the same value as the from member").
        WriteAddresses(w, headers, HasAddresses(headers, HeaderId.Sender) ? HeaderId.Sender : HeaderId.From);
        w.Sp();
        WriteAddresses(w, headers, HasAddresses(headers, HeaderId.ReplyTo) ? HeaderId.ReplyTo : HeaderId.From);
        w.Sp();
        WriteAddresses(w, headers, HeaderId.To);
        w.Sp();
        WriteAddresses(w, headers, HeaderId.Cc);
        w.Sp();
        WriteAddresses(w, headers, HeaderId.Bcc);
        w.Sp();
        WriteRawHeader(w, headers, HeaderId.InReplyTo);
        w.Sp();
        WriteRawHeader(w, headers, HeaderId.MessageId);
        w.Byte((byte)')');
    }

    private static void WriteRawHeader(ImapResponseWriter w, HeaderList headers, HeaderId id)
    {
        int index = headers.IndexOf(id);
        if (index < 0)
        {
            w.Nil();
            return;
        }

        // The raw value, unfolded: encoded-words stay encoded, as Dovecot and Cyrus send them.
        var rawValue = headers[index].RawValue;
        var unfolded = new byte[rawValue.Length];
        int n = 0;
        foreach (var b in rawValue)
        {
            if (b is not ((byte)'\r' or (byte)'\n'))
            {
                unfolded[n++] = b;
            }
        }

        var span = unfolded.AsSpan(0, n).Trim(" \t"u8);
        w.String(span);
    }

    private static bool HasAddresses(HeaderList headers, HeaderId id)
    {
        foreach (var header in headers)
        {
            if (header.Id == id && InternetAddressList.TryParse(ParserOptions.Default, header.RawValue, out var parsed) && parsed.Count > 0)
            {
                return true;
            }
        }

        return false;
    }

    private static void WriteAddresses(ImapResponseWriter w, HeaderList headers, HeaderId id)
    {
        var list = new InternetAddressList();
        foreach (var header in headers)
        {
            if (header.Id == id && InternetAddressList.TryParse(ParserOptions.Default, header.RawValue, out var parsed))
            {
                list.AddRange(parsed);
            }
        }

        if (list.Count == 0)
        {
            w.Nil();
            return;
        }

        w.Byte((byte)'(');
        foreach (var address in list)
        {
            WriteAddress(w, address);
        }

        w.Byte((byte)')');
    }

    // address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
    private static void WriteAddress(ImapResponseWriter w, InternetAddress address)
    {
        if (address is GroupAddress group)
        {
            // Group syntax: start (NIL NIL "name" NIL), members, end (NIL NIL NIL NIL).
            w.Raw("(NIL NIL "u8).String(EncodePhrase(group.Name) ?? "").Raw(" NIL)"u8);
            foreach (var member in group.Members)
            {
                WriteAddress(w, member);
            }

            w.Raw("(NIL NIL NIL NIL)"u8);
            return;
        }

        var mailbox = (MailboxAddress)address;
        w.Byte((byte)'(').NString(EncodePhrase(mailbox.Name)).Sp();
        if (mailbox.Route.Count > 0)
        {
            w.String(mailbox.Route.ToString());
        }
        else
        {
            w.Nil();
        }

        w.Sp().NString(mailbox.LocalPart).Sp().NString(string.IsNullOrEmpty(mailbox.Domain) ? null : mailbox.Domain).Byte((byte)')');
    }

    private static string? EncodePhrase(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        foreach (char c in name)
        {
            if (c > 0x7e || c < 0x20)
            {
                return Encoding.ASCII.GetString(Rfc2047.EncodePhrase(Encoding.UTF8, name));
            }
        }

        return name;
    }

    private sealed class ReadOnlyMemoryStream(ReadOnlyMemory<byte> memory) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => memory.Length;
        public override long Position { get => _position; set => _position = value; }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_position >= memory.Length)
            {
                return 0;
            }

            int n = (int)Math.Min(buffer.Length, memory.Length - _position);
            memory.Span.Slice((int)_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin)
        {
            _position = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => _position + offset,
                _ => memory.Length + offset,
            };
            return _position;
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
