using System.Net;
using System.Text;
using Letterlock.Client.Mail;
using MimeKit;
using MimeKit.Text;

namespace Letterlock.Web.Mail;

/// <summary>An attachment of a message, by its position among the message's attachments.</summary>
internal sealed record AttachmentInfo(int Index, string Name, string ContentType, long Size);

/// <summary>
/// A stored message read for display: its attachments, and the HTML its frame shows. The frame's HTML is built here,
/// on the server, from the message alone: remote references removed (<see cref="RemoteContentBlocker"/>) unless the
/// reader allowed remote images from the sender of a message that is not end-to-end encrypted; scripts, frames,
/// objects, base and refresh elements and event handlers removed in every case; links opened outside the frame;
/// <c>cid:</c> images inlined as <c>data:</c> URIs. The frame's sandbox and CSP enforce the same again in the browser.
/// </summary>
internal sealed class MessageContent
{
    private readonly MimeMessage _message;

    private MessageContent(MimeMessage message) => _message = message;

    /// <summary>Parses the stored bytes; null when they are not a message (a damaged store; the view says so).</summary>
    public static MessageContent? Parse(byte[] body, int maxMimeDepth)
    {
        try
        {
            using var stream = new MemoryStream(body, writable: false);
            return new MessageContent(MimeMessage.Load(new ParserOptions { MaxMimeDepth = maxMimeDepth }, stream));
        }
        catch (Exception e) when (e is FormatException or ParseException)
        {
            return null;
        }
    }

    public MimeMessage Message => _message;

    /// <summary>Whether the body is still an encrypted MIME structure (it could not be decrypted when it arrived).</summary>
    public bool StillEncrypted => _message.Body is MimeKit.Cryptography.MultipartEncrypted
        || (_message.Body is MimePart part && part.ContentType.IsMimeType("application", "pgp-encrypted"));

    public IReadOnlyList<AttachmentInfo> Attachments()
    {
        var list = new List<AttachmentInfo>();
        int index = 0;
        foreach (var entity in _message.Attachments)
        {
            list.Add(new AttachmentInfo(index++, FileName(entity, index), entity.ContentType.MimeType, Size(entity)));
        }

        return list;
    }

    /// <summary>The decoded bytes of attachment <paramref name="index"/>, or null.</summary>
    public (AttachmentInfo Info, byte[] Content)? Attachment(int index)
    {
        var entity = _message.Attachments.Skip(index).FirstOrDefault();
        if (index < 0 || entity is null)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        switch (entity)
        {
            case MimePart part when part.Content is not null:
                part.Content.DecodeTo(buffer);
                break;
            case MessagePart { Message: { } attached }:
                attached.WriteTo(buffer);
                break;
        }

        return (new AttachmentInfo(index, FileName(entity, index + 1), entity.ContentType.MimeType, buffer.Length), buffer.ToArray());
    }

    /// <summary>The text the reader sees, for quoting in a reply or forward (plain text, or the HTML's text).</summary>
    public string Text()
    {
        if (_message.TextBody is { } text)
        {
            return text;
        }

        return _message.HtmlBody is { } html ? HtmlText(html) : string.Empty;
    }

    /// <summary>How many automatically loaded references the HTML has (what the blocker removes when remote images are not allowed).</summary>
    public int RemoteReferences() => _message.HtmlBody is { } html ? RemoteContentBlocker.Clean(html).Removed : 0;

    /// <summary>The complete document the frame shows.</summary>
    public string FrameHtml(bool remoteImages, int maxInlineImageBytes)
    {
        string content;
        if (_message.HtmlBody is { } html)
        {
            content = remoteImages ? html : RemoteContentBlocker.Clean(html).Html;
        }
        else if (_message.TextBody is { } text)
        {
            content = new TextToHtml { OutputHtmlFragment = true }.Convert(text);
        }
        else
        {
            content = StillEncrypted
                ? "<p><em>This message could not be decrypted; nothing of its content is shown.</em></p>"
                : "<p><em>This message has no text.</em></p>";
        }

        var builder = new StringBuilder(content.Length + 512);
        builder.Append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><base target=\"_blank\">")
            .Append("<style>html{color-scheme:light}body{font:15px/1.45 system-ui,sans-serif;margin:16px;overflow-wrap:anywhere;color:#1d232b;background:#fff}")
            .Append("img{max-width:100%;height:auto}pre{white-space:pre-wrap}</style></head><body>")
            .Append(Harden(content, maxInlineImageBytes))
            .Append("</body></html>");
        return builder.ToString();
    }

    /// <summary>
    /// One more pass whatever else was done: active elements out with their content, base and refresh out, event handlers
    /// out, links to a new browsing context without opener or referrer, <c>cid:</c> images inlined (or dropped when larger
    /// than the limit or absent: never fetched).
    /// </summary>
    private string Harden(string html, int maxInlineImageBytes)
    {
        var converter = new HtmlToHtml
        {
            FilterComments = true,
            HtmlTagCallback = (context, writer) =>
            {
                if (context.TagId is HtmlTagId.Script or HtmlTagId.IFrame or HtmlTagId.Frame or HtmlTagId.FrameSet or HtmlTagId.Object or HtmlTagId.Embed
                    or HtmlTagId.Applet or HtmlTagId.Form or HtmlTagId.Input or HtmlTagId.Button or HtmlTagId.TextArea or HtmlTagId.Select)
                {
                    context.DeleteTag = true;
                    context.DeleteEndTag = true;
                    context.SuppressInnerContent = context.TagId is not (HtmlTagId.Form or HtmlTagId.Button);
                    return;
                }

                if (context.TagId is HtmlTagId.Base or HtmlTagId.Link or HtmlTagId.Meta or HtmlTagId.Html or HtmlTagId.Head or HtmlTagId.Body or HtmlTagId.Title)
                {
                    // The document's own frame (head, base, charset) is ours; a title would only show in a tooltip.
                    context.DeleteTag = true;
                    context.DeleteEndTag = true;
                    context.SuppressInnerContent = context.TagId == HtmlTagId.Title;
                    return;
                }

                if (context.IsEndTag)
                {
                    // As in RemoteContentBlocker: an end tag's attributes mean nothing ("</font size=2>"), so it is written bare.
                    context.WriteTag(writer, false);
                    return;
                }

                context.WriteTag(writer, false);
                bool link = context.TagId is HtmlTagId.A || string.Equals(context.TagName, "area", StringComparison.OrdinalIgnoreCase);
                foreach (var attribute in context.Attributes)
                {
                    string name = attribute.Name;
                    if (name.StartsWith("on", StringComparison.OrdinalIgnoreCase) || name.Equals("target", StringComparison.OrdinalIgnoreCase)
                        || name.Equals("rel", StringComparison.OrdinalIgnoreCase) || name.Equals("formaction", StringComparison.OrdinalIgnoreCase))
                    {
                        continue;
                    }

                    string value = WebUtility.HtmlDecode(attribute.Value ?? string.Empty);
                    if (name.Equals("src", StringComparison.OrdinalIgnoreCase) && value.Trim().StartsWith("cid:", StringComparison.OrdinalIgnoreCase))
                    {
                        if (Inline(value.Trim()[4..], maxInlineImageBytes) is { } data)
                        {
                            writer.WriteAttribute(name, data);
                        }

                        continue;
                    }

                    if (link && name.Equals("href", StringComparison.OrdinalIgnoreCase)
                        && !(value.Trim().StartsWith("http:", StringComparison.OrdinalIgnoreCase) || value.Trim().StartsWith("https:", StringComparison.OrdinalIgnoreCase)
                            || value.Trim().StartsWith("mailto:", StringComparison.OrdinalIgnoreCase) || value.Trim().StartsWith('#')))
                    {
                        // javascript:, data: and the like never become a link.
                        continue;
                    }

                    writer.WriteAttribute(attribute);
                }

                if (link)
                {
                    writer.WriteAttribute("target", "_blank");
                    writer.WriteAttribute("rel", "noopener noreferrer");
                }
            },
        };
        return converter.Convert(html);
    }

    private string? Inline(string contentId, int maxBytes)
    {
        var id = WebUtility.UrlDecode(contentId).Trim('<', '>');
        var part = _message.BodyParts.OfType<MimePart>().FirstOrDefault(p => p.ContentId is { } cid && cid.Trim('<', '>') == id);
        if (part?.Content is null || !part.ContentType.MediaType.Equals("image", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        using var buffer = new MemoryStream();
        part.Content.DecodeTo(buffer);
        if (buffer.Length > maxBytes)
        {
            return null;
        }

        // Only raster types the browser cannot run anything in: an SVG could carry script or references of its own.
        string type = part.ContentType.MimeType.ToLowerInvariant();
        return type is "image/png" or "image/jpeg" or "image/gif" or "image/webp" or "image/bmp"
            ? $"data:{type};base64,{Convert.ToBase64String(buffer.GetBuffer(), 0, (int)buffer.Length)}"
            : null;
    }

    private static string FileName(MimeEntity entity, int position) =>
        entity switch
        {
            MimePart { FileName: { Length: > 0 } name } => SafeName(name),
            MessagePart { Message.Subject: { Length: > 0 } subject } => SafeName(subject + ".eml"),
            MessagePart => "message.eml",
            _ => $"attachment-{position}",
        };

    /// <summary>A file name a download can carry: no path, no control characters, at most 200 characters.</summary>
    internal static string SafeName(string name)
    {
        var clean = new string(Path.GetFileName(name.Replace('\\', '/')).Where(c => !char.IsControl(c) && c is not ('"' or '/')).ToArray()).Trim();
        return clean.Length == 0 ? "attachment" : clean.Length > 200 ? clean[..200] : clean;
    }

    private static long Size(MimeEntity entity)
    {
        using var counter = new MemoryStream();
        switch (entity)
        {
            case MimePart part when part.Content is not null:
                part.Content.DecodeTo(counter);
                break;
            case MessagePart { Message: { } attached }:
                attached.WriteTo(counter);
                break;
        }

        return counter.Length;
    }

    private static string HtmlText(string html)
    {
        var text = new StringBuilder(html.Length);
        bool inTag = false;
        foreach (var c in html)
        {
            if (c == '<')
            {
                inTag = true;
            }
            else if (c == '>')
            {
                inTag = false;
                text.Append(' ');
            }
            else if (!inTag)
            {
                text.Append(c);
            }
        }

        return WebUtility.HtmlDecode(text.ToString());
    }
}
