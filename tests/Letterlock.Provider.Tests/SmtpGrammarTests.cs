using System.Text;
using Letterlock.Smtp.Protocol;

namespace Letterlock.Provider.Tests;

/// <summary>The SMTP grammar without I/O: paths (RFC 5321, 4.1.2 with RFC 6531, 3.3) and DATA content at every split point.</summary>
public sealed class SmtpGrammarTests
{
    [Theory]
    [InlineData("a@b.test", false)]
    [InlineData("first.last+tag@sub.b.test", false)]
    [InlineData("\"a b\\\"c\"@b.test", false)]
    [InlineData("a@[127.0.0.1]", false)]
    [InlineData("a@[IPv6:::1]", false)]
    [InlineData("user@xn--bcher-kva.test", false)]
    [InlineData("zoë@b.test", true)]
    [InlineData("user@bücher.test", true)]
    [InlineData("\"zoë q\"@b.test", true)]
    [InlineData("δοκιμή@παράδειγμα.δοκιμή", true)]
    public void Valid_mailboxes_parse_as_written(string mailbox, bool needsUtf8)
    {
        Assert.True(SmtpGrammar.TryParseMailbox(Encoding.UTF8.GetBytes(mailbox), out var path));
        Assert.Equal(mailbox, path.Address);
        Assert.Equal(needsUtf8, path.NeedsUtf8);
    }

    [Theory]
    [InlineData("a..b@x.test")]
    [InlineData(".a@x.test")]
    [InlineData("a.@x.test")]
    [InlineData("a@")]
    [InlineData("@x.test")]
    [InlineData("a b@x.test")]
    [InlineData("a@x..test")]
    [InlineData("a@-x.test")]
    [InlineData("a@x_y.test")]
    [InlineData("a@[1.2.3.4")]
    [InlineData("\"unterminated@x.test")]
    [InlineData("a\u0001@x.test")]
    public void Malformed_mailboxes_are_refused(string mailbox) =>
        Assert.False(SmtpGrammar.TryParseMailbox(Encoding.UTF8.GetBytes(mailbox), out _));

    [Fact]
    public void The_local_part_limit_holds_at_its_edge_in_octets()
    {
        Assert.True(SmtpGrammar.TryParseMailbox(Encoding.UTF8.GetBytes(new string('a', 64) + "@x.test"), out _));
        Assert.False(SmtpGrammar.TryParseMailbox(Encoding.UTF8.GetBytes(new string('a', 65) + "@x.test"), out _));
        // 32 two-octet characters are 64 octets; one more is over
        Assert.True(SmtpGrammar.TryParseMailbox(Encoding.UTF8.GetBytes(new string('ë', 32) + "@x.test"), out _));
        Assert.False(SmtpGrammar.TryParseMailbox(Encoding.UTF8.GetBytes(new string('ë', 32) + "a@x.test"), out _));
    }

    [Theory]
    [InlineData("FROM:<a@b.test>", "Ok", "a@b.test", 0)]
    [InlineData("from: <a@b.test> SIZE=10 BODY=8BITMIME", "Ok", "a@b.test", 2)]
    [InlineData("FROM:<>", "Ok", "", 0)]
    [InlineData("FROM:<@relay.test:a@b.test>", "Ok", "a@b.test", 0)]
    [InlineData("FROM:<\"a>b\"@b.test> SMTPUTF8", "Ok", "\"a>b\"@b.test", 1)]
    [InlineData("FROM:a@b.test", "Syntax", null, 0)]
    [InlineData("TO:<a@b.test>", "Syntax", null, 0)]
    [InlineData("FROM:<a@b.test>SIZE=1", "Syntax", null, 0)]
    [InlineData("FROM:<a@b.test> SIZE=", "Syntax", null, 0)]
    [InlineData("FROM:<a@b.test> =1", "Syntax", null, 0)]
    [InlineData("FROM:<a@@b.test>", "BadPath", null, 0)]
    [InlineData("FROM:<a@b.test", "BadPath", null, 0)]
    public void Mail_arguments(string argument, string outcome, string? address, int parameters)
    {
        var expected = Enum.Parse<ParseStatus>(outcome);
        var status = SmtpGrammar.ParseMail(Encoding.UTF8.GetBytes(argument), out var path, out var list);
        Assert.Equal(expected, status);
        if (expected == ParseStatus.Ok)
        {
            Assert.Equal(address, path.Address);
            Assert.Equal(parameters, list.Count);
        }
    }

    [Fact]
    public void The_null_path_is_not_a_recipient_and_malformed_utf8_is_its_own_status()
    {
        Assert.Equal(ParseStatus.BadPath, SmtpGrammar.ParseRcpt("TO:<>"u8, out _, out _));
        Assert.Equal(ParseStatus.InvalidUtf8, SmtpGrammar.ParseRcpt([.. "TO:<a"u8, 0xE2, 0x82, .. "@b.test>"u8], out _, out _));
        Assert.Equal(ParseStatus.InvalidUtf8, SmtpGrammar.ParseMail([.. "FROM:<"u8, 0xED, 0xA0, 0x80, .. "@b.test>"u8], out _, out _));
    }

    [Theory]
    [InlineData("10", true, 10, false)]
    [InlineData("0 LAST", true, 0, true)]
    [InlineData("7 last", true, 7, true)]
    [InlineData("", false, 0, false)]
    [InlineData("x", false, 0, false)]
    [InlineData("5 FIRST", false, 5, false)]
    [InlineData("-1", false, 0, false)]
    [InlineData("1234567890123456789", false, 0, false)]
    public void Bdat_arguments(string argument, bool ok, long size, bool last)
    {
        Assert.Equal(ok, SmtpGrammar.TryParseBdat(Encoding.ASCII.GetBytes(argument), out long parsedSize, out bool parsedLast));
        if (ok)
        {
            Assert.Equal((size, last), (parsedSize, parsedLast));
        }
    }

    private static (DotContentScanner.Outcome Outcome, string Content, int Consumed) Scan(byte[] input, int split, long max = long.MaxValue)
    {
        var scanner = new DotContentScanner(max);
        var output = new List<byte>();
        byte[] chunk = new byte[8];
        int position = 0;
        var outcome = DotContentScanner.Outcome.NeedMore;
        foreach (var part in new[] { input[..split], input[split..] })
        {
            int offset = 0;
            while (offset < part.Length)
            {
                outcome = scanner.Scan(part.AsSpan(offset), chunk, out int consumed);
                offset += consumed;
                output.AddRange(chunk[..scanner.Filled]);
                scanner.Filled = 0;
                if (outcome != DotContentScanner.Outcome.NeedMore)
                {
                    return (outcome, Encoding.ASCII.GetString(output.ToArray()), position + offset);
                }
            }

            position += part.Length;
        }

        return (outcome, Encoding.ASCII.GetString(output.ToArray()), position);
    }

    [Fact]
    public void Dot_content_ends_at_crlf_dot_crlf_and_is_unstuffed_at_every_split_point()
    {
        byte[] input = "Subject: x\r\n\r\n..stuffed\r\n.\rkept\r\n...\r\nlast\r\n.\r\nQUIT\r\n"u8.ToArray();
        int end = input.Length - "QUIT\r\n".Length;
        for (int split = 0; split <= input.Length; split++)
        {
            var (outcome, content, consumed) = Scan(input, split);
            Assert.Equal(DotContentScanner.Outcome.End, outcome);
            Assert.Equal("Subject: x\r\n\r\n.stuffed\r\n\rkept\r\n..\r\nlast\r\n", content);
            Assert.Equal(end, consumed);
        }
    }

    [Theory]
    [InlineData("a\n.\n")]
    [InlineData("a\r\n.\n")]
    [InlineData("a\n.\r\n")]
    [InlineData("a\r\n\n.\r\n")]
    public void A_bare_LF_stops_the_content_at_every_split_point(string text)
    {
        byte[] input = Encoding.ASCII.GetBytes(text);
        for (int split = 0; split <= input.Length; split++)
        {
            Assert.Equal(DotContentScanner.Outcome.BareLf, Scan(input, split).Outcome);
        }
    }

    [Fact]
    public void Content_over_the_limit_is_counted_to_its_end_but_not_copied()
    {
        var (outcome, content, _) = Scan("0123456789\r\n.\r\n"u8.ToArray(), 3, max: 5);
        Assert.Equal(DotContentScanner.Outcome.End, outcome);
        Assert.Equal("01234", content);
    }
}
