using System.Text;
using Letterlock.Imap.Protocol;
using MimeKit;

namespace Letterlock.Imap.Backend;

/// <summary>
/// One message as a search sees it. Cheap fields are properties; the parsed headers and the
/// decoded text are produced on demand (and may be cached by the backend), because most searches
/// only test flags and dates.
/// </summary>
public abstract class SearchableMessage
{
    /// <summary>The UID.</summary>
    public abstract Uid Uid { get; }

    /// <summary>The flags.</summary>
    public abstract MessageFlags Flags { get; }

    /// <summary>The mod-sequence.</summary>
    public abstract ModSeq ModSeq { get; }

    /// <summary>The internal date.</summary>
    public abstract DateTimeOffset InternalDate { get; }

    /// <summary>The size in bytes.</summary>
    public abstract long Size { get; }

    /// <summary>The Date: header, if any.</summary>
    public abstract DateTimeOffset? SentDate { get; }

    /// <summary>The message headers (top level).</summary>
    public abstract HeaderList GetHeaders();

    /// <summary>The decoded text of the body's text parts.</summary>
    public abstract string GetBodyText();

    /// <summary>
    /// A fast path for BODY/TEXT: whether the text contains <paramref name="needle"/>, or null when the
    /// implementation cannot tell without <see cref="GetBodyText"/> (the default).
    /// </summary>
    public virtual bool? ContainsText(string needle, bool includeHeaders) => null;

    /// <summary>The decoded header block as text.</summary>
    public virtual string GetHeaderText()
    {
        var sb = new StringBuilder();
        foreach (var h in GetHeaders())
        {
            sb.Append(h.Field).Append(": ").Append(h.Value).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Extracts the decoded text of every text part of a parsed message (for <see cref="GetBodyText"/>).</summary>
    public static string ExtractBodyText(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var sb = new StringBuilder();
        foreach (var part in message.BodyParts)
        {
            if (part is TextPart text)
            {
                sb.Append(text.Text).Append('\n');
            }
            else if (part is MessagePart { Message: { } inner })
            {
                foreach (var h in inner.Headers)
                {
                    sb.Append(h.Field).Append(": ").Append(h.Value).Append('\n');
                }

                sb.Append(ExtractBodyText(inner));
            }
        }

        return sb.ToString();
    }
}

/// <summary>
/// Evaluates RFC 9051 search keys against a message, for backends that keep messages they can read
/// (the in-memory backend; the bridge over its decrypted cache). String matching is a
/// case-insensitive substring test on decoded text, as RFC 9051, 6.4.4 asks.
/// </summary>
public static class SearchEvaluator
{
    /// <summary>Whether evaluating the key needs the message content (headers or text), not just its metadata.</summary>
    public static bool NeedsContent(SearchKey key) => key switch
    {
        HeaderKey or BodyKey or TextKey => true,
        DateKey d => d.SentDate,
        AndKey a => a.Keys.Any(NeedsContent),
        OrKey o => NeedsContent(o.Left) || NeedsContent(o.Right),
        NotKey n => NeedsContent(n.Key),
        _ => false,
    };

    // Allocation-free: a search over 60,000 messages tests this once per message.
    private static SystemFlags SystemBit(string name) =>
        name.Equals(@"\Seen", StringComparison.OrdinalIgnoreCase) ? SystemFlags.Seen :
        name.Equals(@"\Answered", StringComparison.OrdinalIgnoreCase) ? SystemFlags.Answered :
        name.Equals(@"\Flagged", StringComparison.OrdinalIgnoreCase) ? SystemFlags.Flagged :
        name.Equals(@"\Deleted", StringComparison.OrdinalIgnoreCase) ? SystemFlags.Deleted :
        name.Equals(@"\Draft", StringComparison.OrdinalIgnoreCase) ? SystemFlags.Draft : SystemFlags.None;

    private static bool IsAddressField(string field) =>
        field.Equals("From", StringComparison.OrdinalIgnoreCase) || field.Equals("To", StringComparison.OrdinalIgnoreCase) ||
        field.Equals("Cc", StringComparison.OrdinalIgnoreCase) || field.Equals("Bcc", StringComparison.OrdinalIgnoreCase) ||
        field.Equals("Sender", StringComparison.OrdinalIgnoreCase) || field.Equals("Reply-To", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// FROM, TO, CC and BCC search "the envelope structure's field" (RFC 9051, 6.4.4): the addresses as parsed,
    /// so comments and quoting in the raw field do not hide them. Each mailbox is rendered as
    /// <c>name &lt;local@domain&gt;</c> (a comment counts as the name when there is none) and each group as
    /// <c>name: members;</c>, and the key is a substring of that text or of the raw field.
    /// </summary>
    private static string AddressText(Header header)
    {
        if (!InternetAddressList.TryParse(ParserOptions.Default, header.RawValue, out var list))
        {
            return "";
        }

        var sb = new StringBuilder();
        Append(sb, list);
        return sb.ToString();

        static void Append(StringBuilder sb, IEnumerable<InternetAddress> addresses)
        {
            foreach (var address in addresses)
            {
                if (address is GroupAddress group)
                {
                    sb.Append(group.Name).Append(": ");
                    Append(sb, group.Members);
                    sb.Append("; ");
                }
                else if (address is MailboxAddress mailbox)
                {
                    if (!string.IsNullOrEmpty(mailbox.Name))
                    {
                        sb.Append(mailbox.Name).Append(' ');
                    }

                    sb.Append('<').Append(mailbox.Address).Append(">, ");
                }
            }
        }
    }

    /// <summary>Whether the message matches.</summary>
    /// <param name="key">The key (without <see cref="SequenceKey"/>).</param>
    /// <param name="message">The message.</param>
    /// <param name="largestUid">What '*' stands for in UID sets.</param>
    public static bool Matches(SearchKey key, SearchableMessage message, uint largestUid)
    {
        ArgumentNullException.ThrowIfNull(message);
        switch (key)
        {
            case AllKey:
                return true;
            case NoneKey:
                return false;
            case AndKey and:
                foreach (var k in and.Keys)
                {
                    if (!Matches(k, message, largestUid))
                    {
                        return false;
                    }
                }

                return true;
            case OrKey or:
                return Matches(or.Left, message, largestUid) || Matches(or.Right, message, largestUid);
            case NotKey not:
                return !Matches(not.Key, message, largestUid);
            case FlagKey flag:
            {
                bool has = flag.Flag.StartsWith('\\')
                    ? SystemBit(flag.Flag) is var bit && bit != SystemFlags.None && (message.Flags.System & bit) != 0
                    : message.Flags.HasKeyword(flag.Flag);
                return has == flag.Set;
            }

            case UidKey uid:
                return uid.Set.Contains(message.Uid.Value, largestUid);
            case ModSeqKey modseq:
                return message.ModSeq.Value >= modseq.ModSeq;
            case SizeKey size:
                return size.Larger ? message.Size > size.Size : message.Size < size.Size;
            case DateKey date:
            {
                DateTimeOffset? when = date.SentDate ? message.SentDate : message.InternalDate;
                if (when is null)
                {
                    return false;
                }

                // "disregarding time and timezone" (RFC 9051, 6.4.4): the date as written in its own zone.
                var d = DateOnly.FromDateTime(when.Value.DateTime);
                return date.Comparison switch
                {
                    DateComparison.Before => d < date.Date,
                    DateComparison.On => d == date.Date,
                    _ => d >= date.Date,
                };
            }

            case HeaderKey header:
            {
                bool address = IsAddressField(header.Field);
                foreach (var h in message.GetHeaders())
                {
                    if (h.Field.Equals(header.Field, StringComparison.OrdinalIgnoreCase) &&
                        (header.Value.Length == 0 || h.Value.Contains(header.Value, StringComparison.OrdinalIgnoreCase) ||
                         (address && AddressText(h).Contains(header.Value, StringComparison.OrdinalIgnoreCase))))
                    {
                        return true;
                    }
                }

                return false;
            }

            case BodyKey body:
                return message.ContainsText(body.Value, includeHeaders: false) ??
                       message.GetBodyText().Contains(body.Value, StringComparison.OrdinalIgnoreCase);
            case TextKey text:
                return message.ContainsText(text.Value, includeHeaders: true) ??
                       (message.GetHeaderText().Contains(text.Value, StringComparison.OrdinalIgnoreCase) ||
                        message.GetBodyText().Contains(text.Value, StringComparison.OrdinalIgnoreCase));
            case SequenceKey:
                throw new ArgumentException("Message sequence numbers must be translated to UIDs before a search reaches the backend.", nameof(key));
            default:
                throw new ArgumentException("Unknown search key", nameof(key));
        }
    }
}
