using System.Text;
using System.Text.RegularExpressions;
using Letterlock.Client.Mail;
using MimeKit;
using MimeKit.Text;

namespace Letterlock.Client.Tests.Mail;

/// <summary>Decrypted HTML never makes a mail app fetch anything (DESIGN.md invariant 4).</summary>
public sealed class RemoteContentBlockerTests
{
    [Theory]
    [InlineData("<img src=\"https://evil.test/x?secret\">")]
    [InlineData("<img SRC='http://evil.test/x'>")]
    [InlineData("<img src=//evil.test/x>")]
    [InlineData("<img src=\"relative.png\">")]
    [InlineData("<img srcset=\"data:image/png;base64,AA 1x, https://evil.test/x 2x\">")]
    [InlineData("<picture><source srcset=\"https://evil.test/x\"></picture>")]
    [InlineData("<body background=\"https://evil.test/x\">")]
    [InlineData("<table background=\"https://evil.test/x\"><tr><td>t</td></tr></table>")]
    [InlineData("<video poster=\"https://evil.test/x\"></video>")]
    [InlineData("<audio src=\"https://evil.test/x\"></audio>")]
    [InlineData("<input type=image src=\"https://evil.test/x\">")]
    [InlineData("<link rel=stylesheet href=\"https://evil.test/x\">")]
    [InlineData("<base href=\"https://evil.test/\">")]
    [InlineData("<meta http-equiv=\"Refresh\" content=\"0; url=https://evil.test/x\">")]
    [InlineData("<iframe src=\"https://evil.test/x\"></iframe>")]
    [InlineData("<object data=\"https://evil.test/x\"></object>")]
    [InlineData("<embed src=\"https://evil.test/x\">")]
    [InlineData("<script src=\"https://evil.test/x\"></script>")]
    [InlineData("<script>fetch('https://evil.test/x')</script>")]
    [InlineData("<svg><image href=\"https://evil.test/x\"/></svg>")]
    [InlineData("<svg><use xlink:href=\"https://evil.test/x#a\"/></svg>")]
    [InlineData("<div style=\"background:url(https://evil.test/x)\">t</div>")]
    [InlineData("<div style=\"background:u\\72l(https://evil.test/x)\">t</div>")]
    [InlineData("<div style=\"background-image: image-set('https://evil.test/x' 1x)\">t</div>")]
    [InlineData("<style>@import 'https://evil.test/x';</style>")]
    [InlineData("<style>p { background: URL( \"https://evil.test/x\" ) }</style>")]
    [InlineData("<style>p { background: u/**/rl(https://evil.test/x) }</style>")]
    [InlineData("<a href=\"https://ok.test\" ping=\"https://evil.test/x\">link</a>")]
    [InlineData("<img src=x onerror=\"this.src='https://evil.test/x'\">")]
    [InlineData("<form action=\"https://evil.test/x\"><button formaction=\"https://evil.test/y\">b</button></form>")]
    [InlineData("<noscript><img src=\"https://evil.test/x\">words</noscript>")]
    [InlineData("<noscript><noscript><img src=\"https://evil.test/x\"></noscript><img src=\"https://evil.test/y\"></noscript>")]
    [InlineData("<noembed><img src=\"https://evil.test/x\"></noembed><noframes><img src=\"https://evil.test/y\"></noframes>")]
    [InlineData("<object data=\"https://evil.test/x\"><param name=src value=\"https://evil.test/y\"></object>")]
    public void Every_reference_a_mail_app_would_fetch_is_removed(string body)
    {
        var (html, removed) = RemoteContentBlocker.Clean($"<html><head></head><body><p>Secret 4711</p>{body}</body></html>");
        Assert.True(removed > 0, html);
        Assert.DoesNotContain("evil.test", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Secret 4711", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("<p>Hello <b>world</b></p>", "<p>Hello <b>world</b></p>")]
    [InlineData("<a href=\"https://example.org/page\">a link the reader may click</a>", "href=\"https://example.org/page\"")]
    [InlineData("<img src=\"cid:logo@example.org\" alt=\"logo\">", "src=\"cid:logo@example.org\" alt=\"logo\"")]
    [InlineData("<img src=\"data:image/png;base64,iVBORw0KGgo=\">", "src=\"data:image/png;base64,iVBORw0KGgo=\"")]
    [InlineData("<a href=\"#top\">top</a><div style=\"color: red\">red</div>", "<a href=\"#top\">top</a><div style=\"color: red\">red</div>")]
    [InlineData("<p>The CSS function url( in prose stays prose.</p>", "<p>The CSS function url( in prose stays prose.</p>")]
    [InlineData("<style>p { color: red }</style><p>styled</p>", "<style>p { color: red }</style><p>styled</p>")]
    public void Local_content_and_links_stay(string body, string kept)
    {
        var (html, removed) = RemoteContentBlocker.Clean($"<html><body>{body}</body></html>");
        Assert.Equal(0, removed);
        Assert.Contains(kept, html, StringComparison.Ordinal);
    }

    [Fact]
    public void What_the_mail_app_gets_is_what_was_checked()
    {
        // MimeKit reads an unquoted "src=//host" as an empty src and a stray attribute, where a browser reads a
        // protocol-relative URL: the output is the checked parse, serialised with quotes, never the input.
        var (html, removed) = RemoteContentBlocker.Clean("<p>x</p><img src=//evil.test/x>");
        Assert.True(removed > 0);
        Assert.DoesNotContain("evil.test", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Css_keeps_its_other_rules()
    {
        var (css, removed) = RemoteContentBlocker.CleanCss("p { color: red } /* note */ div { background: url(https://evil.test/x) }");
        Assert.Equal(1, removed);
        Assert.Contains("color: red", css, StringComparison.Ordinal);
        Assert.DoesNotContain("url(", css, StringComparison.OrdinalIgnoreCase);
    }
    /// <summary>Everything that loads something, in the forms mail uses, including ones that once took the rest of the message with them.</summary>
    public static TheoryData<string> LoadingElements() => new()
    {
        "<img src=\"https://evil.test/x\">",
        "<input type=image src=\"https://evil.test/x\">",
        "<input type=\"image\" src=\"https://evil.test/x\" alt=\"Go\" name=\"go\">",
        "<INPUT TYPE=IMAGE SRC=https://evil.test/x>",
        "<input type=image src=\"https://evil.test/x\"/>",
        "<input type=image src=\"https://evil.test/x\"></input>",
        "<form action=\"https://evil.test/f\"><input type=image src=\"https://evil.test/x\"></form>",
        "<form action=\"https://evil.test/f\"><input type=image src=\"https://evil.test/x\">",
        "<object data=\"https://evil.test/x\"><param name=movie value=\"https://evil.test/m\">Fallback words</object>",
        "<object data=\"https://evil.test/x\">",
        "<applet code=\"X\" codebase=\"https://evil.test/\">Fallback words</applet>",
        "<embed src=\"https://evil.test/x\">",
        "<video src=\"https://evil.test/x\" poster=\"https://evil.test/p\">Fallback words</video>",
        "<audio><source src=\"https://evil.test/x\">Fallback words</audio>",
        "<picture><source srcset=\"https://evil.test/x\"><img src=\"https://evil.test/y\" alt=\"pic\"></picture>",
        "<svg><image href=\"https://evil.test/x\"/></svg>",
        "<link rel=stylesheet href=\"https://evil.test/x\">",
        "<base href=\"https://evil.test/\">",
        "<meta http-equiv=refresh content=\"0;url=https://evil.test/x\">",
        "<noscript><img src=\"https://evil.test/x\">Fallback words</noscript>",
        "<table background=\"https://evil.test/x\"><tr><td>Cell words</td></tr></table>",
        "<div style=\"background:url(https://evil.test/x)\">Styled words</div>",
        "<p>x</p></H\r\nTML>",
    };

    [Theory]
    [MemberData(nameof(LoadingElements))]
    public void What_follows_anything_that_loads_is_kept_and_only_what_loads_goes(string loading)
    {
        string html = $"<html><body><p>Before words</p>{loading}<p>After words <a href=\"https://example.org/after\">a link</a> and <b>bold</b></p></body></html>";
        var (clean, _) = RemoteContentBlocker.Clean(html);
        Assert.DoesNotContain("evil.test", clean, StringComparison.Ordinal);
        Assert.Equal(Visible(html), Visible(clean));
        Assert.Contains("href=\"https://example.org/after\"", clean, StringComparison.Ordinal);
        Assert.Empty(RemoteReferences(clean));
    }

    /// <summary>
    /// Every HTML part of the spamassassin corpus (real mail, much of it hostile): cleaning never fails, keeps every word
    /// a mail app (scripts off) would show, and leaves nothing that loads, judged by a check independent of the blocker.
    /// </summary>
    [Fact]
    public void Real_mail_keeps_every_word_and_loses_everything_that_loads()
    {
        int parts = 0, withRemote = 0;
        foreach (string file in Directory.EnumerateFiles(Corpus(), "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            MimeMessage message;
            try
            {
                message = MimeMessage.Load(file);
            }
            catch (FormatException)
            {
                continue;
            }

            foreach (var part in message.BodyParts.OfType<TextPart>().Where(p => p.IsHtml))
            {
                parts++;
                string html = part.Text;
                withRemote += RemoteReferences(html).Count > 0 ? 1 : 0;
                var (clean, _) = RemoteContentBlocker.Clean(html);
                Assert.True(Visible(html) == Visible(clean), $"{file}: text lost");
                var left = RemoteReferences(clean);
                Assert.True(left.Count == 0, $"{file}: {string.Join(", ", left)}");
            }
        }

        Assert.True(parts > 200 && withRemote > 100, $"{parts} HTML parts, {withRemote} with remote references: the corpus is not there");
    }

    /// <summary>The words a mail app shows with scripts off: not inside script, style, frames or title; noscript read as markup.</summary>
    private static string Visible(string html)
    {
        var text = new StringBuilder();
        var tokenizer = new HtmlTokenizer(new StringReader(html));
        int hidden = 0;
        bool rawMarkup = false;
        while (tokenizer.ReadNextToken(out var token))
        {
            if (token is HtmlTagToken tag && tag.Id is HtmlTagId.Script or HtmlTagId.Style or HtmlTagId.IFrame or HtmlTagId.Frame or HtmlTagId.FrameSet or HtmlTagId.Title
                && !tag.IsEmptyElement)
            {
                hidden = Math.Max(0, hidden + (tag.IsEndTag ? -1 : 1));
            }
            else if (hidden == 0 && token is HtmlDataToken data)
            {
                // Adjacent data without a separator: removed comments ("Opr<!-- -->ah") join words in the output as in a browser.
                text.Append(rawMarkup ? Visible(data.Data) : data.Data);
            }

            rawMarkup = token is HtmlTagToken { IsEndTag: false } opened && IsRawMarkup(opened.Name);
        }

        return string.Join(' ', WebUtilityDecode(text.ToString()).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    private static string WebUtilityDecode(string text) => System.Net.WebUtility.HtmlDecode(text);

    /// <summary>Elements whose content the tokenizer reads as raw text but a mail app with scripts off may render as markup.</summary>
    private static bool IsRawMarkup(string name) => name.ToLowerInvariant() is "noscript" or "noembed" or "noframes";

    private static readonly string[] Fetching = ["src", "srcset", "lowsrc", "dynsrc", "background", "poster", "data", "codebase", "archive", "action", "formaction",
        "longdesc", "ping", "manifest", "icon", "profile", "xlink:href", "imagesrcset"];

    /// <summary>An independent check: every reference left that a browser would load without the reader's action.</summary>
    private static List<string> RemoteReferences(string html)
    {
        var found = new List<string>();
        var tokenizer = new HtmlTokenizer(new StringReader(html));
        bool inStyle = false, rawMarkup = false;
        while (tokenizer.ReadNextToken(out var token))
        {
            bool afterRawMarkup = rawMarkup;
            rawMarkup = token is HtmlTagToken { IsEndTag: false } opened && IsRawMarkup(opened.Name);
            if (token is HtmlDataToken data)
            {
                if (inStyle && CssFetches(data.Data))
                {
                    found.Add("style element");
                }
                else if (afterRawMarkup)
                {
                    found.AddRange(RemoteReferences(data.Data)); // raw text a mail app may render as markup
                }

                continue;
            }

            if (token is not HtmlTagToken { IsEndTag: false } tag)
            {
                inStyle &= token is not HtmlTagToken { Id: HtmlTagId.Style, IsEndTag: true };
                continue;
            }

            inStyle = tag.Id == HtmlTagId.Style && !tag.IsEmptyElement;
            string name = tag.Name.ToLowerInvariant();
            if (name is "link" or "base" or "param" or "script" or "iframe" or "frame" or "frameset" or "object" or "embed" or "applet"
                || (name == "meta" && tag.Attributes.Any(a => a.Name.Equals("http-equiv", StringComparison.OrdinalIgnoreCase) && (a.Value ?? "").Trim().Equals("refresh", StringComparison.OrdinalIgnoreCase))))
            {
                found.Add("<" + name + ">");
            }

            foreach (var attribute in tag.Attributes)
            {
                string attr = attribute.Name.ToLowerInvariant();
                string value = System.Net.WebUtility.HtmlDecode(attribute.Value ?? "").Trim();
                bool local = value.Length == 0 || value.StartsWith('#') || value.StartsWith("cid:", StringComparison.OrdinalIgnoreCase)
                    || value.StartsWith("data:", StringComparison.OrdinalIgnoreCase);
                if ((Fetching.Contains(attr) && !local) || (attr == "href" && name is not ("a" or "area") && !local) || (attr == "style" && CssFetches(value))
                    || attr.StartsWith("on", StringComparison.Ordinal))
                {
                    found.Add($"<{name} {attr}>");
                }
            }
        }

        return found;
    }

    private static bool CssFetches(string css)
    {
        string plain = Regex.Replace(Regex.Replace(css, @"/\*.*?(\*/|$)", "", RegexOptions.Singleline), @"\\(?:[0-9a-fA-F]{1,6}\s?|.)",
            m => m.Value.Length > 1 && Uri.IsHexDigit(m.Value[1]) ? char.ConvertFromUtf32(Math.Min(0x10FFFF, Convert.ToInt32(m.Value[1..].Trim(), 16))) : m.Value[1..]);
        return Regex.IsMatch(plain, @"\b(url|image|image-set|cross-fade|src)\s*\(|@import", RegexOptions.IgnoreCase);
    }

    private static string Corpus()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            string candidate = Path.Combine(dir, "..", "shared", "testdata", "spamassassin");
            if (Directory.Exists(candidate))
            {
                return Path.GetFullPath(candidate);
            }
        }

        return "/work/shared/testdata/spamassassin";
    }
}
