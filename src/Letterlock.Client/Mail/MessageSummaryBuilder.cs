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
        return (summary, BodyText(parsed));
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
