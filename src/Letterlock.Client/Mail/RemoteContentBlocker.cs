using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using MimeKit;
using MimeKit.Text;

namespace Letterlock.Client.Mail;

/// <summary>
/// Removes every reference a mail app would load by itself from the HTML parts of decrypted mail
/// (DESIGN.md invariant 4: "no remote content in decrypted HTML"). Remote images, style sheets, frames and
/// CSS <c>url()</c>s are how decrypted text leaks (EFAIL's direct exfiltration, read receipts that confirm a
/// decryption); links the reader clicks (<c>a href</c>) stay. Local references (<c>cid:</c> parts of the same
/// message, <c>data:</c> URIs and fragments) stay too.
/// </summary>
/// <remarks>
/// <para>Parsing is MimeKit's HTML tokenizer (<see cref="HtmlToHtml"/>); this class decides, tag by tag. The rule is
/// "keep content, drop only what loads": scripts and frames go with their content (a browser never shows it);
/// objects, embeds and applets lose their tags but keep their content (the fallback a browser shows when the object
/// does not load, which in a mail app it never does); style sheet links, <c>base</c>, <c>param</c> and refreshing
/// <c>meta</c> go; event handlers and every attribute that fetches go; text, links and every other element stay.
/// CSS is neutralised rather than parsed: comments and escapes are removed first, so <c>u\72l(</c> cannot hide a
/// <c>url(</c>, then every fetching function and <c>@import</c> is disabled.</para>
/// <para>MimeKit reads the content of <c>noscript</c>, <c>noembed</c> and <c>noframes</c> as raw text, but a mail app
/// (scripts off) renders <c>noscript</c> as markup: their content is cleaned on its own first, so nothing passes
/// through unchecked.</para>
/// </remarks>
public static partial class RemoteContentBlocker
{
    // Attributes whose value a browser engine fetches without the reader's action (HTML Living Standard, SVG 2).
    private static readonly HashSet<string> FetchedAttributes = new(StringComparer.OrdinalIgnoreCase)
    {
        "src", "srcset", "lowsrc", "dynsrc", "background", "poster", "data", "codebase", "archive", "code", "action",
        "formaction", "longdesc", "ping", "manifest", "icon", "profile", "xlink:href",
    };

    // Candidate lists ("a.png 1x, https://... 2x"): one remote candidate is enough, so these never count as local.
    private static readonly HashSet<string> CandidateListAttributes = new(StringComparer.OrdinalIgnoreCase) { "srcset", "imagesrcset" };

    // Elements whose href is fetched (style sheets, base URL, SVG images and uses): only a and area navigate on a click.
    private static readonly HashSet<string> NavigatingElements = new(StringComparer.OrdinalIgnoreCase) { "a", "area" };

    /// <summary>
    /// Rewrites each <c>text/html</c> part of <paramref name="message"/> in place; returns how many references
    /// were removed.
    /// </summary>
    public static int Apply(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        int removed = 0;
        foreach (var part in message.BodyParts.OfType<TextPart>().Where(p => p.IsHtml).ToList())
        {
            string original = part.Text;
            var (html, count) = Clean(original);
            if (!string.Equals(html, original, StringComparison.Ordinal))
            {
                part.SetText(part.ContentType.CharsetEncoding ?? Encoding.UTF8, html);
            }

            removed += count;
        }

        return removed;
    }

    /// <summary>
    /// The HTML with every automatically fetched reference removed, and how many there were. The result is
    /// always the tokenizer's re-serialisation, never the input: where a browser would parse the input
    /// differently from MimeKit (an unquoted <c>src=//host</c>, say), the mail app then sees what was checked.
    /// </summary>
    public static (string Html, int Removed) Clean(string html) => Clean(html, 0);

    private static (string Html, int Removed) Clean(string html, int depth)
    {
        ArgumentNullException.ThrowIfNull(html);
        int removed = 0;

        // <style> is raw text to the tokenizer: neutralise its CSS before the tag pass. The match runs to the
        // first "</style>" (or the end), never stopping before a browser would, so no CSS escapes the check.
        string styled = StyleElement().Replace(html, m =>
        {
            var (css, count) = CleanCss(WebUtility.HtmlDecode(m.Groups["css"].Value));
            removed += count;
            return count == 0 ? m.Value : m.Groups["open"].Value + css + m.Groups["close"].Value;
        });

        // Elements MimeKit reads as raw text but a mail app may render as markup: their content is cleaned as a document
        // of its own (to a bounded depth; deeper nesting is nonsense and goes).
        styled = RawTextElement().Replace(styled, m =>
        {
            if (depth >= MaxRawTextNesting)
            {
                removed++;
                return m.Groups["open"].Value + m.Groups["close"].Value;
            }

            var (inner, count) = Clean(m.Groups["inner"].Value, depth + 1);
            removed += count;
            return count == 0 ? m.Value : m.Groups["open"].Value + inner + m.Groups["close"].Value;
        });

        var converter = new HtmlToHtml
        {
            FilterComments = true,
            HtmlTagCallback = (context, writer) =>
            {
                if (IsRemovedWithContent(context.TagId))
                {
                    removed++;
                    context.DeleteTag = true;
                    context.DeleteEndTag = true;
                    context.SuppressInnerContent = true;
                    return;
                }

                if (IsRemovedKeepingContent(context.TagId) || IsFetchingElement(context))
                {
                    removed++;
                    context.DeleteTag = true;
                    context.DeleteEndTag = true;
                    return;
                }

                if (context.IsEndTag)
                {
                    // An end tag carries no attributes that mean anything ("</H TML>" is an end tag "H" with one): write it bare.
                    context.WriteTag(writer, false);
                    return;
                }

                context.WriteTag(writer, false);
                foreach (var attribute in context.Attributes)
                {
                    string name = attribute.Name;
                    string value = WebUtility.HtmlDecode(attribute.Value ?? string.Empty);
                    if (!AttributeName().IsMatch(name)
                        || name.StartsWith("on", StringComparison.OrdinalIgnoreCase)
                        || CandidateListAttributes.Contains(name)
                        || (FetchedAttributes.Contains(name) && !IsLocal(value))
                        || (name.Equals("href", StringComparison.OrdinalIgnoreCase) && !NavigatingElements.Contains(context.TagName) && !IsLocal(value)))
                    {
                        removed++;
                        continue;
                    }

                    if (name.Equals("style", StringComparison.OrdinalIgnoreCase))
                    {
                        var (css, count) = CleanCss(value);
                        if (count > 0)
                        {
                            removed += count;
                            writer.WriteAttribute(name, css);
                            continue;
                        }
                    }

                    writer.WriteAttribute(attribute);
                }
            },
        };

        return (converter.Convert(styled), removed);
    }

    /// <summary>
    /// CSS with every fetching construct replaced by <c>none</c> (the whole function call up to its first
    /// closing parenthesis) and every <c>@import</c> rule removed; the input itself when it has none. Comments
    /// and escapes are removed before looking, so <c>u\72l(</c> or <c>u/**/rl(</c> hide nothing.
    /// </summary>
    internal static (string Css, int Removed) CleanCss(string css)
    {
        string plain = CssEscape().Replace(CssComment().Replace(css, string.Empty), Unescape);
        int removed = 0;
        plain = CssFetch().Replace(plain, _ =>
        {
            removed++;
            return "none";
        });
        plain = CssImport().Replace(plain, _ =>
        {
            removed++;
            return string.Empty;
        });
        return removed == 0 ? (css, 0) : (plain, removed);
    }

    // CSS Syntax 3, 4.3.7 "consume an escaped code point": up to six hex digits and one optional white space, or any other code point.
    private static string Unescape(Match m)
    {
        if (!m.Groups["hex"].Success)
        {
            return m.Groups["char"].Value;
        }

        int code = int.Parse(m.Groups["hex"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return code is 0 or > 0x10FFFF or (>= 0xD800 and <= 0xDFFF) ? "\uFFFD" : char.ConvertFromUtf32(code);
    }

    /// <summary>How deep <c>noscript</c>-like elements may nest before their content is dropped.</summary>
    private const int MaxRawTextNesting = 4;

    // Their content is never shown: scripts run (or not), frames show their src.
    private static bool IsRemovedWithContent(HtmlTagId tag) =>
        tag is HtmlTagId.Script or HtmlTagId.IFrame or HtmlTagId.Frame or HtmlTagId.FrameSet;

    // They load something, but their content is the fallback a browser shows when they do not.
    private static bool IsRemovedKeepingContent(HtmlTagId tag) =>
        tag is HtmlTagId.Object or HtmlTagId.Embed or HtmlTagId.Applet;

    private static bool IsFetchingElement(HtmlTagContext context) =>
        context.TagId is HtmlTagId.Link or HtmlTagId.Base or HtmlTagId.Param
        || (context.TagId == HtmlTagId.Meta && context.Attributes.Any(a =>
            a.Name.Equals("http-equiv", StringComparison.OrdinalIgnoreCase) && (a.Value ?? string.Empty).Trim().Equals("refresh", StringComparison.OrdinalIgnoreCase)));

    /// <summary>A reference inside the message itself, which loads nothing from the network.</summary>
    private static bool IsLocal(string value)
    {
        string v = value.Trim();
        return v.Length == 0
            || v.StartsWith('#')
            || v.StartsWith("cid:", StringComparison.OrdinalIgnoreCase)
            || v.StartsWith("data:", StringComparison.OrdinalIgnoreCase);
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_:-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex AttributeName();

    [GeneratedRegex(@"(?<open><style\b[^>]*>)(?<css>.*?)(?<close></style\s*>|$)", RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex StyleElement();

    // Like the style pass: to the first end tag of the same name (or the end), never stopping before a browser would.
    [GeneratedRegex(@"(?<open><(?<name>noscript|noembed|noframes)\b[^>]*>)(?<inner>.*?)(?<close></\k<name>\s*>|$)",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex RawTextElement();

    [GeneratedRegex(@"/\*.*?(\*/|$)", RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex CssComment();

    [GeneratedRegex(@"\\(?:(?<hex>[0-9a-fA-F]{1,6})[ \t\r\n\f]?|(?<char>[^\r\n\f0-9a-fA-F])|[\r\n\f])", RegexOptions.CultureInvariant)]
    private static partial Regex CssEscape();

    // Every CSS function that fetches: url(), image(), image-set() and cross-fade() with their prefixed forms, src().
    [GeneratedRegex(@"\b(url|image|(-[a-z]+-)?image-set|(-[a-z]+-)?cross-fade|src)\s*\([^)]*\)?", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex CssFetch();

    [GeneratedRegex(@"@import\b[^;]*;?", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex CssImport();
}
