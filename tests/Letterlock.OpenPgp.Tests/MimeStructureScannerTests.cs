using System.Text;
using Letterlock.OpenPgp.Mime;
using MimeKit;

namespace Letterlock.OpenPgp.Tests;

/// <summary>
/// The linear pre-parse check of a message's MIME structure: it finds the entities MimeKit would build (the whole
/// spamassassin corpus and hostile shapes), whatever the chunking, and every limit holds at its edge.
/// </summary>
public sealed class MimeStructureScannerTests
{
    private static readonly MimeLimits Unlimited = new()
    {
        MaxHeaderBytes = int.MaxValue / 2, MaxHeaderFields = int.MaxValue, MaxHeaderFieldLines = int.MaxValue, MaxTotalHeaderBytes = int.MaxValue,
        MaxMimeParts = int.MaxValue, MaxMimeDepth = int.MaxValue,
    };

    [Fact]
    public void Every_corpus_message_has_the_entities_and_depth_mimekit_builds()
    {
        int checkedMessages = 0;
        foreach (string file in Directory.EnumerateFiles(RobustnessTests.SpamAssassinDirectory(), "*.eml", SearchOption.AllDirectories))
        {
            byte[] bytes = File.ReadAllBytes(file);
            var scanner = new MimeStructureScanner(Unlimited);
            Assert.Null(scanner.Feed(bytes) ?? scanner.Complete());
            Assert.True(Structure(bytes) == (scanner.Parts, scanner.Depth), file);
            checkedMessages++;
        }

        Assert.True(checkedMessages >= 3000, $"{checkedMessages} messages");
    }

    public static TheoryData<string, string> HostileShapes() => new()
    {
        { "nested multiparts", Nested(20) },
        { "many parts", Multipart(500) },
        { "boundary with trailing blanks", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b  \t\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n\r\ny\r\n--b--  \r\n" },
        { "boundary by RFC 2231 continuation", "Content-Type: multipart/mixed; boundary*0=\"ab\"; boundary*1=\"cd\"\r\n\r\n--abcd\r\n\r\nx\r\n--abcd\r\n\r\ny\r\n--abcd--\r\n" },
        { "folded content type", "Content-Type: multipart/mixed;\r\n\tboundary=\"folded\"\r\n\r\n--folded\r\n\r\nx\r\n--folded\r\n\r\ny\r\n--folded--\r\n" },
        { "second content type ignored", "Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n" },
        { "attached message", "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\na\r\n--i\r\n\r\nb\r\n--i--\r\n--o--\r\n" },
        { "encoded attached message is opaque", "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" + Convert.ToBase64String(Encoding.ASCII.GetBytes(Multipart(5))) + "\r\n" },
        { "outer delimiter ends the inner multipart", "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\na\r\n--o\r\n\r\nb\r\n--o--\r\n" },
        { "delimiter inside a part header block", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-A: 1\r\n--b\r\n\r\nx\r\n--b--\r\n" },
        { "headers only part", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: a@b\r\nSubject: s\r\n\r\n--b--\r\n" },
        { "bare LF line ends", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b\n\ny\n--b--\n" },
    };

    [Theory]
    [MemberData(nameof(HostileShapes))]
    public void Hostile_shapes_are_counted_as_mimekit_builds_them_in_any_chunking(string shape, string message)
    {
        byte[] bytes = Encoding.ASCII.GetBytes("From: a@example.org\r\n" + message);
        var expected = Structure(bytes);
        foreach (int chunk in new[] { 1, 2, 3, 7, 64, 4096, bytes.Length })
        {
            var scanner = new MimeStructureScanner(Unlimited);
            for (int i = 0; i < bytes.Length; i += chunk)
            {
                Assert.Null(scanner.Feed(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i))));
            }

            Assert.Null(scanner.Complete());
            Assert.True(expected == (scanner.Parts, scanner.Depth), $"{shape}, chunks of {chunk}: expected {expected}, scanned ({scanner.Parts}, {scanner.Depth})");
        }
    }

    [Fact]
    public void Every_limit_holds_at_its_edge()
    {
        // Header block size: the top-level block of "From: x\r\n" + padding field + blank line.
        string block = "From: a@example.org\r\nX-Pad: " + new string('p', 100) + "\r\n\r\n";
        AtEdge(new MimeLimits { MaxHeaderBytes = block.Length }, new MimeLimits { MaxHeaderBytes = block.Length - 1 }, block + "body\r\n", nameof(MimeLimits.MaxHeaderBytes));

        string fields = string.Concat(Enumerable.Range(0, 10).Select(i => $"X-F{i}: v\r\n")) + "\r\nbody\r\n";
        AtEdge(new MimeLimits { MaxHeaderFields = 10 }, new MimeLimits { MaxHeaderFields = 9 }, fields, nameof(MimeLimits.MaxHeaderFields));

        string folded = "Subject: a\r\n" + string.Concat(Enumerable.Repeat(" b\r\n", 9)) + "\r\nbody\r\n"; // 10 lines
        AtEdge(new MimeLimits { MaxHeaderFieldLines = 10 }, new MimeLimits { MaxHeaderFieldLines = 9 }, folded, nameof(MimeLimits.MaxHeaderFieldLines));

        string parts = "From: a@example.org\r\n" + Multipart(9); // the message, the multipart's 9 parts: 10 entities
        AtEdge(new MimeLimits { MaxMimeParts = 10 }, new MimeLimits { MaxMimeParts = 9 }, parts, nameof(MimeLimits.MaxMimeParts));

        string nested = "From: a@example.org\r\n" + Nested(5); // depth 6
        AtEdge(new MimeLimits { MaxMimeDepth = 6 }, new MimeLimits { MaxMimeDepth = 5 }, nested, nameof(MimeLimits.MaxMimeDepth));

        string partHeaders = "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-A: " + new string('a', 200) + "\r\n\r\nx\r\n--b--\r\n";
        int total = Encoding.ASCII.GetByteCount("From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n") + 5 + 200 + 2 + 2;
        AtEdge(new MimeLimits { MaxTotalHeaderBytes = total }, new MimeLimits { MaxTotalHeaderBytes = total - 1 }, partHeaders, nameof(MimeLimits.MaxTotalHeaderBytes));
    }

    [Fact]
    public void A_part_bomb_and_a_folded_header_bomb_are_refused_before_anything_is_built()
    {
        // 100,000 empty parts in about 2 MB, and one field folded over 200,000 lines.
        var bomb = Encoding.ASCII.GetBytes("From: a@example.org\r\n" + Multipart(100_000));
        var parts = MimeStructureScanner.Check(bomb);
        Assert.Equal(nameof(MimeLimits.MaxMimeParts), parts!.Limit);
        Assert.Equal(1000, parts.Allowed);

        var folded = new StringBuilder("From: a@example.org\r\nTo: ");
        for (int i = 0; i < 200_000; i++)
        {
            folded.Append("x,\r\n ");
        }

        var header = MimeStructureScanner.Check(Encoding.ASCII.GetBytes(folded.Append("y@example.org\r\n\r\nbody\r\n").ToString()));
        Assert.Equal(nameof(MimeLimits.MaxHeaderFieldLines), header!.Limit);
    }

    [Fact]
    public void A_five_megabyte_folded_header_is_refused_within_the_first_chunk_that_crosses_the_limit()
    {
        // The shape that cost the MX 12.6 s and the bridge minutes: one field folded into 5 MB of short lines, fed as
        // the SMTP engine hands content on (64 KiB chunks). The scanner must stop at the 501st line of the field, in
        // the first chunk, and ignore the remaining megabytes (they are read and dropped, never spooled or parsed).
        var folded = new StringBuilder("From: a@example.org\r\nX-Long: ");
        while (folded.Length < 5 * 1024 * 1024)
        {
            folded.Append("word,\r\n ");
        }

        byte[] bytes = Encoding.ASCII.GetBytes(folded.Append("end\r\n\r\nbody\r\n").ToString());
        var scanner = new MimeStructureScanner();
        const int Chunk = 64 * 1024;
        int refusedAfter = -1;
        for (int offset = 0; offset < bytes.Length; offset += Chunk)
        {
            if (scanner.Feed(bytes.AsSpan(offset, Math.Min(Chunk, bytes.Length - offset))) is not null && refusedAfter < 0)
            {
                refusedAfter = offset + Chunk;
            }
        }

        Assert.Equal(nameof(MimeLimits.MaxHeaderFieldLines), scanner.Violation?.Limit);
        Assert.Equal(Chunk, refusedAfter);
        Assert.Equal(scanner.Violation, scanner.Complete());
        Assert.True(scanner.TotalHeaderBytes < 501 * "word,\r\n ".Length + 64, $"{scanner.TotalHeaderBytes} header bytes counted");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Limits_are_validated_when_set(int value)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MimeLimits { MaxHeaderBytes = value });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MimeLimits { MaxHeaderFields = value });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MimeLimits { MaxHeaderFieldLines = value });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MimeLimits { MaxTotalHeaderBytes = value });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MimeLimits { MaxMimeParts = value });
        Assert.Throws<ArgumentOutOfRangeException>(() => new MimeLimits { MaxMimeDepth = value });
    }

    private static void AtEdge(MimeLimits atLimit, MimeLimits overLimit, string message, string limit)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(message);
        Assert.Null(MimeStructureScanner.Check(bytes, atLimit));
        var violation = MimeStructureScanner.Check(bytes, overLimit);
        Assert.NotNull(violation);
        Assert.Equal(limit, violation.Limit);
    }

    private static string Multipart(int parts) =>
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" + string.Concat(Enumerable.Repeat("--b\r\n\r\nx\r\n", parts)) + "--b--\r\n";

    private static string Nested(int levels)
    {
        var text = new StringBuilder();
        for (int i = 0; i < levels; i++)
        {
            text.Append($"Content-Type: multipart/mixed; boundary=\"n{i}\"\r\n\r\n--n{i}\r\n");
        }

        text.Append("Content-Type: text/plain\r\n\r\ndeep\r\n");
        for (int i = levels - 1; i >= 0; i--)
        {
            text.Append($"--n{i}--\r\n");
        }

        return text.ToString();
    }

    /// <summary>The entities MimeKit builds (the message, every multipart, part and attached message) and their deepest nesting.</summary>
    private static (int Count, int Depth) Structure(byte[] message)
    {
        var parsed = MimeMessage.Load(new ParserOptions { MaxMimeDepth = 100_000 }, new MemoryStream(message));
        return parsed.Body is null ? (1, 1) : Count(parsed.Body, 1);
    }

    private static (int Count, int Depth) Count(MimeEntity entity, int depth)
    {
        int count = 1, deepest = depth;
        IEnumerable<MimeEntity> children = entity switch
        {
            Multipart multipart => multipart,
            MessagePart { Message.Body: { } body } => [body],
            _ => [],
        };
        foreach (var child in children)
        {
            var (c, d) = Count(child, depth + 1);
            count += c;
            deepest = Math.Max(deepest, d);
        }

        return (count, deepest);
    }
}
