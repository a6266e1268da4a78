using System.Text;
using CsCheck;
using MailKit;
using MimeKit;

namespace Letterlock.Imap.Tests;

/// <summary>
/// BODYSTRUCTURE (RFC 9051, 7.5.2) of any MIME tree: MailKit, an independent IMAP client, reads what the server
/// writes back into the tree that was written: the same nesting, media types, charsets, transfer encodings,
/// multipart subtypes and boundaries, the enclosed message's subject, and for 7bit text parts the exact size in
/// octets and lines.
/// </summary>
public sealed class BodyStructurePropertyTests
{
    /// <summary>A MIME tree as the test writes it, and what BODYSTRUCTURE must say of it.</summary>
    private abstract record Node;

    private sealed record Leaf(string Type, string Subtype, string? Charset, ContentEncoding Encoding, string Text) : Node;

    private sealed record Multi(string Subtype, string Boundary, Node[] Children) : Node;

    private sealed record Enclosed(string Subject, Node Body) : Node;

    private static readonly Gen<string> Line = Gen.String[Gen.Char["abcdefghij klmnopqrstuvwxyz0123456789.,-"], 0, 70];

    private static readonly Gen<Node> LeafGen = Gen.Select(
        Gen.OneOf(Gen.Const(("text", "plain")), Gen.Const(("text", "html")), Gen.Const(("application", "octet-stream")), Gen.Const(("image", "png"))),
        Gen.Int[0, 3].Select(i => i == 0 ? null : new[] { "us-ascii", "utf-8", "iso-8859-1" }[i - 1]),
        Gen.OneOf(Gen.Const(ContentEncoding.SevenBit), Gen.Const(ContentEncoding.Base64), Gen.Const(ContentEncoding.QuotedPrintable)),
        Line.Array[1, 8],
        (type, charset, encoding, lines) => (Node)new Leaf(type.Item1, type.Item2, type.Item1 == "text" ? charset : null, encoding,
            string.Concat(lines.Select(l => l + "\r\n"))));

    private static Gen<Node> Tree(int depth) => depth == 0
        ? LeafGen
        : Gen.Frequency(
            (3, LeafGen),
            (2, Gen.Select(Gen.OneOf(Gen.Const("mixed"), Gen.Const("alternative"), Gen.Const("related"), Gen.Const("x-custom")),
                Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789"], 8, 30], Tree(depth - 1).Array[1, 4],
                (subtype, boundary, children) => (Node)new Multi(subtype, "b" + depth + boundary, children))),
            (1, Gen.Select(Line.Where(l => l.Trim().Length > 0), Tree(depth - 1), (subject, body) => (Node)new Enclosed(subject.Trim(), body))));

    private static MimeEntity Build(Node node) => node switch
    {
        Leaf leaf => new MimePart(leaf.Type, leaf.Subtype)
        {
            Content = new MimeContent(new MemoryStream(Encoding.ASCII.GetBytes(leaf.Text))),
            ContentTransferEncoding = leaf.Encoding,
        }.With(part =>
        {
            if (leaf.Charset is { } charset)
            {
                part.ContentType.Charset = charset;
            }
        }),
        Multi multi => new Multipart(multi.Subtype) { Boundary = multi.Boundary }.With(m =>
        {
            foreach (var child in multi.Children)
            {
                m.Add(Build(child));
            }
        }),
        Enclosed enclosed => new MessagePart("rfc822") { Message = Message(enclosed.Subject, enclosed.Body) },
        _ => throw new InvalidOperationException(),
    };

    private static MimeMessage Message(string subject, Node body)
    {
        var message = new MimeMessage { Subject = subject, Body = Build(body) };
        message.From.Add(new MailboxAddress("A", "a@example.test"));
        message.To.Add(new MailboxAddress("B", "b@example.test"));
        return message;
    }

    private static void AssertSame(Node written, BodyPart read, string path)
    {
        switch (written)
        {
            case Leaf leaf:
            {
                var basic = Assert.IsAssignableFrom<BodyPartBasic>(read);
                Assert.True(basic.ContentType.IsMimeType(leaf.Type, leaf.Subtype), $"{path}: {basic.ContentType.MimeType}, written {leaf.Type}/{leaf.Subtype}");
                if (leaf.Charset is not null)
                {
                    Assert.Equal(leaf.Charset, basic.ContentType.Charset, ignoreCase: true);
                }

                string encoding = leaf.Encoding switch { ContentEncoding.Base64 => "base64", ContentEncoding.QuotedPrintable => "quoted-printable", _ => "7bit" };
                Assert.Equal(encoding, basic.ContentTransferEncoding, ignoreCase: true);
                if (leaf.Encoding == ContentEncoding.SevenBit)
                {
                    // The part's body is the text as written, its last CRLF belonging to the boundary line that follows.
                    Assert.True(leaf.Text.Length - 2 == basic.Octets || leaf.Text.Length == basic.Octets, $"{path}: {basic.Octets} octets of {leaf.Text.Length}");
                    if (basic is BodyPartText text)
                    {
                        int lines = leaf.Text.Split("\r\n").Length - 1;
                        Assert.InRange(text.Lines, (uint)lines - 1, (uint)lines);
                    }
                }

                break;
            }

            case Multi multi:
            {
                var multipart = Assert.IsType<BodyPartMultipart>(read);
                Assert.True(multipart.ContentType.IsMimeType("multipart", multi.Subtype), $"{path}: {multipart.ContentType.MimeType}");
                Assert.Equal(multi.Boundary, multipart.ContentType.Boundary);
                Assert.Equal(multi.Children.Length, multipart.BodyParts.Count);
                for (int i = 0; i < multi.Children.Length; i++)
                {
                    AssertSame(multi.Children[i], multipart.BodyParts[i], $"{path}.{i + 1}");
                }

                break;
            }

            case Enclosed enclosed:
            {
                var message = Assert.IsType<BodyPartMessage>(read);
                Assert.Equal(enclosed.Subject, message.Envelope?.Subject);
                AssertSame(enclosed.Body, message.Body ?? throw new InvalidOperationException(path + ": no body"), path + ".rfc822");
                break;
            }
        }
    }

    [Fact]
    public async Task MailKit_reads_the_bodystructure_of_any_mime_tree_back_into_that_tree()
    {
        // Each tree is appended over a real socket and its BODYSTRUCTURE fetched, as a mail app does.
        await using var server = new SocketServer();
        using var client = await MailKitTests.ConnectAsync(server);
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        await Tree(3).SampleAsync(async tree =>
        {
            var uid = await client.Inbox.AppendAsync(options, Message("structure", tree));
            var summary = Assert.Single(await client.Inbox.FetchAsync([uid!.Value], MessageSummaryItems.BodyStructure));
            AssertSame(tree, summary.Body!, "1");
        }, iter: 200, threads: 1); // one client, one command at a time
        await client.DisconnectAsync(true);
    }
}

internal static class BuildExtensions
{
    public static T With<T>(this T value, Action<T> change)
    {
        change(value);
        return value;
    }
}
