using System.Text;
using Letterlock.Client.Store;
using MimeKit;

namespace Letterlock.Client.Mail;

/// <summary>
/// Builds the stored summary of a message (the IMAP ENVELOPE fields, sizes, security summary) and
/// the plain text for the search index, from the decrypted RFC 5322 bytes.
/// </summary>
public static class MessageSummaryBuilder
{
    /// <summary>Parses <paramref name="message"/> (its protected headers already restored) into a summary and index text.</summary>
    /// <exception cref="FormatException">The bytes are not a parseable message.</exception>
    public static (MessageSummary Summary, string IndexText) Build(ReadOnlyMemory<byte> message, DateTimeOffset internalDate,
        MessageSecurity security, int maxMimeDepth = 64)
    {
        var (summary, indexText, _) = BuildForIndex(message, internalDate, security, maxMimeDepth, withSearchText: false);
        return (summary, indexText);
    }

    /// <summary>
    /// Like <see cref="Build"/>, plus the text IMAP SEARCH string keys look in (<see cref="SearchTextOf"/>),
    /// for <see cref="NewMessage.SearchText"/>, so the message is parsed once.
    /// </summary>
    /// <exception cref="FormatException">The bytes are not a parseable message.</exception>
    public static (MessageSummary Summary, string IndexText, string? SearchText) BuildForIndex(ReadOnlyMemory<byte> message,
        DateTimeOffset internalDate, MessageSecurity security, int maxMimeDepth = 64, bool withSearchText = true)
    {
        MimeMessage parsed;
        try
        {
            // Parsed in place when the bytes are an array (they always are here), not copied first.
            using var stream = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(message, out var array)
                ? new MemoryStream(array.Array!, array.Offset, array.Count, writable: false)
                : new MemoryStream(message.ToArray(), writable: false);
            parsed = MimeMessage.Load(new ParserOptions { MaxMimeDepth = maxMimeDepth }, stream);
        }
        catch (Exception e) when (e is ParseException or FormatException)
        {
            throw new FormatException("the message cannot be parsed: " + e.Message, e);
        }

        var date = parsed.Headers.Contains(HeaderId.Date) ? parsed.Date : (DateTimeOffset?)null;
        var summary = new MessageSummary(
            internalDate,
            message.Length,
            date,
            parsed.Headers.Contains(HeaderId.Subject) ? parsed.Subject : null,
            Addresses(parsed.From),
            Addresses(parsed.Sender is { } sender ? [sender] : []),
            Addresses(parsed.ReplyTo),
            Addresses(parsed.To),
            Addresses(parsed.Cc),
            Addresses(parsed.Bcc),
            parsed.Headers[HeaderId.InReplyTo]?.Trim(),
            parsed.Headers[HeaderId.MessageId]?.Trim(),
            security);
        return (summary, BodyText(parsed), withSearchText ? TrySearchTextOf(parsed) : null);
    }

    /// <summary>The search text, or null when a part cannot be decoded (the store then keeps the message out of the narrowing index).</summary>
    internal static string? TrySearchTextOf(MimeMessage message)
    {
        try
        {
            return SearchTextOf(message);
        }
        catch (Exception e) when (e is FormatException or ParseException or NotSupportedException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>
    /// Every text an IMAP SEARCH string key (HEADER, FROM, TO, CC, BCC, SUBJECT, BODY, TEXT) can match in the
    /// message: each top-level header's name and decoded value, the names and addresses of address headers as
    /// parsed, and the decoded text of every text part with the headers of attached messages (what the IMAP
    /// engine's scan reads). A superset is harmless (the search verifies candidates); a gap would lose results.
    /// </summary>
    public static string SearchTextOf(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var text = new StringBuilder();
        foreach (var header in message.Headers)
        {
            text.Append(header.Field).Append(": ").Append(header.Value).Append('\n');
            if (header.Id is HeaderId.From or HeaderId.To or HeaderId.Cc or HeaderId.Bcc or HeaderId.Sender or HeaderId.ReplyTo &&
                InternetAddressList.TryParse(ParserOptions.Default, header.RawValue, out var list))
            {
                AppendAddresses(text, list);
            }
        }

        AppendBodyText(text, message);
        return text.ToString();

        static void AppendAddresses(StringBuilder text, IEnumerable<InternetAddress> addresses)
        {
            foreach (var address in addresses)
            {
                text.Append(address.Name).Append(' ');
                if (address is GroupAddress group)
                {
                    AppendAddresses(text, group.Members);
                }
                else if (address is MailboxAddress mailbox)
                {
                    text.Append(mailbox.Address).Append('\n');
                }
            }
        }

        static void AppendBodyText(StringBuilder text, MimeMessage message)
        {
            foreach (var part in message.BodyParts)
            {
                if (part is TextPart textPart)
                {
                    text.Append(textPart.Text).Append('\n');
                }
                else if (part is MessagePart { Message: { } inner })
                {
                    foreach (var header in inner.Headers)
                    {
                        text.Append(header.Field).Append(": ").Append(header.Value).Append('\n');
                    }

                    AppendBodyText(text, inner);
                }
            }
        }
    }

    private static List<EnvelopeAddress> Addresses(IEnumerable<InternetAddress> list)
    {
        var result = new List<EnvelopeAddress>();
        foreach (var address in list)
        {
            switch (address)
            {
                case MailboxAddress mailbox:
                    result.Add(new EnvelopeAddress(string.IsNullOrEmpty(mailbox.Name) ? null : mailbox.Name, mailbox.Address));
                    break;
                case GroupAddress group:
                    result.AddRange(Addresses(group.Members));
                    break;
            }
        }

        return result;
    }

    private static string BodyText(MimeMessage message)
    {
        var text = new StringBuilder();
        foreach (var part in message.BodyParts)
        {
            if (part is TextPart { IsAttachment: false } textPart)
            {
                text.Append(textPart.IsHtml ? StripTags(textPart.Text) : textPart.Text).Append('\n');
            }
        }

        return text.ToString();
    }

    private static string StripTags(string html)
    {
        var text = new StringBuilder(html.Length);
        bool inTag = false;
        foreach (var c in html)
        {
            if (c == '<')
            {
                inTag = true;
                text.Append(' ');
            }
            else if (c == '>')
            {
                inTag = false;
            }
            else if (!inTag)
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }
}
