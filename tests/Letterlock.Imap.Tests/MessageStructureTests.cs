using System.Text;
using CsCheck;
using Letterlock.Imap.Backend;
using Letterlock.Imap.Mime;
using Letterlock.Imap.Protocol;
using MimeKit;

namespace Letterlock.Imap.Tests;

public sealed class MessageStructureTests
{
    private static readonly byte[] Nested = Encoding.ASCII.GetBytes(
        "From: a@b.c\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n" +
        "--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n" +
        "--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n" +
        "--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nw6lsw6lwaGFudCBxdWlldA==\r\n" +
        "--XX--\r\nepilogue\r\n");

    [Theory]
    [InlineData("", "HEADER", "From: a@b.c|Subject: =?utf-8?q?caf=C3=A9?=|Content-Type: multipart/mixed; boundary=XX||")]
    [InlineData("1", "", "hello|world")]
    [InlineData("1", "MIME", "Content-Type: text/plain||")]
    [InlineData("2", "", "Subject: inner||inner body")]
    [InlineData("2", "HEADER", "Subject: inner||")]
    [InlineData("2", "TEXT", "inner body")]
    [InlineData("2.1", "", "inner body")]
    [InlineData("3", "", "w6lsw6lwaGFudCBxdWlldA==")]
    public void Sections_are_exact_byte_ranges(string part, string text, string expected)
    {
        var structure = MessageStructure.Parse(Nested);
        var path = part.Length == 0 ? [] : part.Split('.').Select(int.Parse).ToList();
        var section = new BodySection(path, text switch { "HEADER" => SectionText.Header, "TEXT" => SectionText.Text, "MIME" => SectionText.Mime, _ => SectionText.None }, null);
        var (start, length) = structure.Locate(section)!.Value;
        Assert.Equal(expected, Encoding.ASCII.GetString(Nested, (int)start, (int)length).Replace("\r\n", "|", StringComparison.Ordinal));
        Assert.Null(structure.Locate(new BodySection([9], SectionText.None, null)));
    }

    [Fact]
    public void Parse_headers_and_envelope_never_throw_on_any_bytes()
    {
        // Whatever a client APPENDs (a text file, binary junk, an mbox "From " line first) must be stored and
        // served, never answered NO [SERVERBUG]; structure, header fields and ENVELOPE agree on what they read.
        Gen.OneOf(
            Gen.Byte.Array[0, 400],
            Gen.String[Gen.Char["ab: \r\nF-"], 0, 200].Select(t => Encoding.ASCII.GetBytes(t)),
            Gen.String[Gen.Char.AlphaNumeric, 0, 80].Select(t => Encoding.ASCII.GetBytes("From " + t + "\r\nSubject: x\r\n\r\nbody\r\n")))
            .Sample(bytes =>
            {
                var structure = MessageStructure.Parse(bytes);
                Assert.Equal(bytes.Length, structure.Size);
                Assert.Equal(structure.Envelope, MessageStructure.ParseEnvelope(bytes));
                _ = MessageStructure.ParseHeaders(bytes);
                var (start, length) = structure.Locate(new BodySection([], SectionText.Header, null))!.Value;
                Assert.InRange(start + length, 0, bytes.Length);
            }, iter: 3000);
    }

    [Fact]
    public void Text_search_decodes_transfer_encodings_and_encoded_words()
    {
        var structure = MessageStructure.Parse(Nested);
        Assert.True(MessageTextSearch.Contains(Nested, structure, "PHANT QUIET", includeHeaders: false)); // base64 part
        Assert.True(MessageTextSearch.Contains(Nested, structure, "éléphant", includeHeaders: false));
        Assert.True(MessageTextSearch.Contains(Nested, structure, "café", includeHeaders: true)); // encoded word
        Assert.False(MessageTextSearch.Contains(Nested, structure, "café", includeHeaders: false));
        Assert.True(MessageTextSearch.Contains(Nested, structure, "INNER BODY", includeHeaders: false));
        Assert.False(MessageTextSearch.Contains(Nested, structure, "preamble", includeHeaders: true));
    }

    [Fact]
    public void Text_search_agrees_with_MimeKit_decoding_on_the_corpus()
    {
        string[] needles = ["guaranteed", "unsubscribe", "Linux", "click here", "razor", "=", "zzzznothing"];
        var disagreements = new List<string>();
        foreach (var file in TestData.AllMessages().Take(1000))
        {
            var bytes = LineEndings.Normalize(File.ReadAllBytes(file));
            var structure = MessageStructure.Parse(bytes);
            var parsed = MimeMessage.Load(new MemoryStream(bytes));
            var text = SearchableMessage.ExtractBodyText(parsed);
            foreach (var needle in needles)
            {
                bool expected = text.Contains(needle, StringComparison.OrdinalIgnoreCase);
                bool actual = MessageTextSearch.Contains(bytes, structure, needle, includeHeaders: false);
                if (expected != actual)
                {
                    disagreements.Add($"{Path.GetFileName(file)} '{needle}': MimeKit {expected}, search {actual}");
                }
            }
        }

        Assert.True(disagreements.Count == 0, string.Join("\n", disagreements.Take(20)));
    }

    [Fact]
    public void Mime_depth_limit_makes_deeper_parts_opaque()
    {
        var sb = new StringBuilder("Subject: deep\r\n");
        int depth = 10;
        for (int i = 0; i < depth; i++)
        {
            sb.Append($"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n");
        }

        sb.Append("Content-Type: text/plain\r\n\r\nleaf\r\n");
        for (int i = depth - 1; i >= 0; i--)
        {
            sb.Append($"--b{i}--\r\n");
        }

        var bytes = Encoding.ASCII.GetBytes(sb.ToString());
        static int Depth(byte[] structure) => Encoding.ASCII.GetString(structure).TakeWhile(c => c == '(').Count();
        Assert.Equal(depth + 1, Depth(MessageStructure.Parse(bytes, maxMimeDepth: 64).BodyStructure));
        Assert.True(Depth(MessageStructure.Parse(bytes, maxMimeDepth: 4).BodyStructure) <= 5);
    }
}
