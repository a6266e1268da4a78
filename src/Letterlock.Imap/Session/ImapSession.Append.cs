using System.Globalization;
using System.Text;
using Letterlock.Imap.Backend;
using Letterlock.Imap.Protocol;

namespace Letterlock.Imap.Session;

public sealed partial class ImapSession
{
    /// <summary>
    /// APPEND of one message, or several (MULTIAPPEND, RFC 3502: all or none), each a literal or a CATENATE
    /// (RFC 4469) of text literals and URLs of messages or parts on this server. Every message is checked and
    /// assembled before anything is stored.
    /// </summary>
    private async ValueTask<Completion> AppendAsync(AppendCommand append, CancellationToken ct)
    {
        var name = DecodeName(append.Mailbox);
        var info = name is null ? null : await FindAsync(name, ct).ConfigureAwait(false);
        if (info is null)
        {
            return Completion.No("No such mailbox", "TRYCREATE");
        }

        if (append.Messages.Count + append.Messages.Sum(m => m.Catenate ? m.Parts.Count : 0) > _options.MaxAppendParts)
        {
            return Completion.No("Too many messages or parts in one APPEND", "LIMIT");
        }

        var items = new List<AppendItem>(append.Messages.Count);
        foreach (var message in append.Messages)
        {
            var flags = ParseFlags(message.Flags);
            if (flags is null)
            {
                return Completion.Bad("Invalid flag", "CLIENTBUG");
            }

            if (flags.Keywords.Length > _options.MaxKeywordsPerMailbox)
            {
                return Completion.No("Too many keywords", "LIMIT");
            }

            byte[] content;
            if (message.Catenate)
            {
                var (catenated, failure) = await CatenateAsync(message.Parts, ct).ConfigureAwait(false);
                if (failure is { } f)
                {
                    return f;
                }

                content = catenated!;
            }
            else
            {
                content = ((AppendText)message.Parts[0]).Data;
            }

            if (content.Length == 0)
            {
                return Completion.No("Empty message", "CANNOT");
            }

            items.Add(new AppendItem(content, flags, message.InternalDate ?? _context.Time.GetUtcNow()));
        }

        await TouchRecentAsync(info, ct).ConfigureAwait(false);
        MailboxOperationStatus status;
        UidValidity validity;
        IReadOnlyList<Uid> uids;
        string? detail;
        if (items.Count == 1)
        {
            using var content = new MemoryStream(items[0].Content.ToArray(), writable: false);
            var result = await Account.AppendAsync(info.Id, content, items[0].Flags, items[0].InternalDate, ct).ConfigureAwait(false);
            (status, validity, uids, detail) = (result.Status, result.UidValidity, [result.Uid], result.Detail);
        }
        else
        {
            var result = await Account.AppendBatchAsync(info.Id, items, ct).ConfigureAwait(false);
            (status, validity, uids, detail) = (result.Status, result.UidValidity, result.Uids, result.Detail);
        }

        return status switch
        {
            // resp-code-apnd = "APPENDUID" SP nz-number SP append-uid ; append-uid = uniqueid / uid-set (MULTIAPPEND)   (RFC 4315)
            MailboxOperationStatus.Ok => Completion.Ok("APPEND completed", $"APPENDUID {validity.Value} {SequenceSet.Format(uids.Select(u => u.Value))}"),
            MailboxOperationStatus.NotFound => Completion.No("No such mailbox", "TRYCREATE"),
            MailboxOperationStatus.OverQuota => Completion.No("Over quota", "OVERQUOTA"),
            // resp-code-limit = "LIMIT"   (RFC 5530, 3: the operation ran into a limit the server imposes)
            MailboxOperationStatus.Limit => Completion.No(detail ?? "Message exceeds a limit", "LIMIT"),
            _ => Completion.No("Message refused", "CANNOT"),
        };
    }

    /// <summary>Assembles a CATENATE message; the failure names the first URL that could not be used (RFC 4469, 6: BADURL).</summary>
    private async ValueTask<(byte[]? Content, Completion? Failure)> CatenateAsync(IReadOnlyList<AppendPart> parts, CancellationToken ct)
    {
        using var message = new MemoryStream();
        foreach (var part in parts)
        {
            ReadOnlyMemory<byte> bytes;
            if (part is AppendText text)
            {
                bytes = text.Data;
            }
            else
            {
                var url = ((AppendUrl)part).Url;
                var resolved = await ResolveUrlAsync(url, ct).ConfigureAwait(false);
                if (resolved is null)
                {
                    return (null, Completion.No("Cannot use this URL", "BADURL " + UrlForResponse(url)));
                }

                bytes = resolved;
            }

            if (message.Length + bytes.Length > _options.MaxMessageSize)
            {
                return (null, Completion.No("Message too large", "TOOBIG"));
            }

            await message.WriteAsync(bytes, ct).ConfigureAwait(false);
        }

        return (message.ToArray(), null);
    }

    // url-resp-text = 1*(%x01-09 / %x0B-0C / %x0E-5C / %x5E-7F)   (RFC 4469): no "]", no CR or LF
    private static string UrlForResponse(string url)
    {
        var sb = new StringBuilder(Math.Min(url.Length, 256));
        foreach (char c in url.Length > 256 ? url[..256] : url)
        {
            if (c is > '\0' and < '\x7f' and not (']' or '\r' or '\n'))
            {
                sb.Append(c);
            }
        }

        return sb.Length > 0 ? sb.ToString() : "/";
    }

    /// <summary>
    /// The bytes an IMAP URL names on this server, or null when it names nothing usable. Only URLs relative to this
    /// server are taken (RFC 4469, 5: the server must be able to resolve the URL itself), in the form
    /// <code>
    /// "/" enc-mailbox [";UIDVALIDITY=" nz-number] "/;UID=" nz-number ["/;SECTION=" enc-section]
    ///     ["/;PARTIAL=" number ["." nz-number]]                                   (RFC 5092, 11)
    /// </code>
    /// with keywords in any case and %-escapes in the mailbox and section. The section is served as BODY[section]
    /// serves it; a partial range beyond the end gives no bytes.
    /// </summary>
    private async ValueTask<byte[]?> ResolveUrlAsync(string url, CancellationToken ct)
    {
        if (!url.StartsWith('/') || url.StartsWith("//", StringComparison.Ordinal))
        {
            return null;
        }

        int uidAt = url.IndexOf("/;UID=", StringComparison.OrdinalIgnoreCase);
        if (uidAt < 0)
        {
            return null;
        }

        string mailboxPart = url[1..uidAt];
        uint? expectedValidity = null;
        int validityAt = mailboxPart.IndexOf(";UIDVALIDITY=", StringComparison.OrdinalIgnoreCase);
        if (validityAt >= 0)
        {
            if (!uint.TryParse(mailboxPart[(validityAt + ";UIDVALIDITY=".Length)..], NumberStyles.None, CultureInfo.InvariantCulture, out uint v) || v == 0)
            {
                return null;
            }

            expectedValidity = v;
            mailboxPart = mailboxPart[..validityAt];
        }

        uint uid = 0;
        string? sectionText = null;
        (uint Start, uint? Length)? partial = null;
        foreach (var segment in url[(uidAt + 2)..].Split("/;"))
        {
            int eq = segment.IndexOf('=', StringComparison.Ordinal);
            var (key, value) = eq < 0 ? (segment, "") : (segment[..eq].ToUpperInvariant(), segment[(eq + 1)..]);
            switch (key)
            {
                case "UID" when uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out uid) && uid > 0:
                    break;
                case "SECTION" when sectionText is null && partial is null:
                    sectionText = Unescape(value);
                    break;
                case "PARTIAL" when partial is null:
                {
                    var range = value.Split('.');
                    if (!uint.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint start) ||
                        range.Length > 2 || (range.Length == 2 && (!uint.TryParse(range[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint l) || l == 0)))
                    {
                        return null;
                    }

                    partial = (start, range.Length == 2 ? uint.Parse(range[1], CultureInfo.InvariantCulture) : null);
                    break;
                }

                default:
                    return null; // unknown parts (URLAUTH, EXPIRE...) are not supported
            }
        }

        var mailboxName = Unescape(mailboxPart) is { Length: > 0 } escaped ? DecodeName(escaped) : null;
        var info = mailboxName is null ? null : await FindAsync(mailboxName, ct).ConfigureAwait(false);
        if (info is null || uid == 0)
        {
            return null;
        }

        if (expectedValidity is { } ev && (await Account.GetStatusAsync(info.Id, ct).ConfigureAwait(false))?.UidValidity.Value != ev)
        {
            return null;
        }

        var section = sectionText is null ? BodySection.Whole : ImapCommandParser.ParseSectionSpec(sectionText, _options);
        if (section is null)
        {
            return null;
        }

        byte[] content;
        var stream = await Account.OpenContentAsync(info.Id, new Uid(uid), ct).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }

        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, ct).ConfigureAwait(false);
            content = buffer.ToArray();
        }

        byte[] data = content;
        if (!IsWholeMessage(section))
        {
            Mime.MessageStructure? structure = null;
            await foreach (var record in Account.FetchAsync(info.Id, [new UidRange(new Uid(uid), new Uid(uid))], FetchData.Structure, ct).ConfigureAwait(false))
            {
                structure = record.Structure;
            }

            if (structure?.Locate(section) is not { } range)
            {
                return null;
            }

            long start = Math.Min(range.Start, content.Length);
            var slice = content.AsSpan((int)start, (int)Math.Min(range.Length, content.Length - start));
            data = section.Text is SectionText.HeaderFields or SectionText.HeaderFieldsNot
                ? FilterHeaders(slice, section.Fields!, section.Text == SectionText.HeaderFieldsNot)
                : slice.ToArray();
        }

        if (partial is { } p)
        {
            data = p.Start >= data.Length ? [] : data.AsSpan((int)p.Start, (int)Math.Min(p.Length ?? uint.MaxValue, data.Length - p.Start)).ToArray();
        }

        return data;

        // %-escapes (RFC 3986, 2.1) as UTF-8; null when malformed.
        static string? Unescape(string value)
        {
            try
            {
                return Uri.UnescapeDataString(value);
            }
            catch (UriFormatException)
            {
                return null;
            }
        }
    }
}
