using Letterlock.Client.Mail;

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
    public void An_end_tag_with_attributes_is_written_without_them_instead_of_failing()
    {
        // Seen in real mail (SpamAssassin corpus): "</font size=2>". It used to throw, failing the whole message.
        var (html, removed) = RemoteContentBlocker.Clean("<font size=3>big</font size=2><p>x</p onclick=\"a()\"><img src=https://evil.test/x></img src=https://evil.test/y>");
        Assert.True(removed > 0);
        Assert.Contains("big</font>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("evil.test", html, StringComparison.Ordinal);
        Assert.DoesNotContain("onclick", html, StringComparison.Ordinal);
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
}
