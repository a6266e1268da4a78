using System.Buffers;
using System.Collections;
using System.Reflection;
using System.Text;
using CsCheck;
using Letterlock.Imap.Protocol;

namespace Letterlock.Imap.Tests;

public sealed class ParserTests
{
    private static readonly ImapServerOptions Options = new();

    /// <summary>Valid commands covering every command and every literal kind (synchronizing, LITERAL+, literal8, empty).</summary>
    public static readonly string[] ValidCommands =
    [
        "a1 CAPABILITY\r\n",
        "a2 NOOP\r\n",
        "a3 LOGOUT\r\n",
        "a4 STARTTLS\r\n",
        "a5 LOGIN alice \"pass word\"\r\n",
        "a6 LOGIN {5}\r\nalice {8}\r\npassword\r\n",
        "a7 LOGIN {5+}\r\nalice {0+}\r\n\r\n",
        "a8 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
        "a9 AUTHENTICATE PLAIN\r\n",
        "b1 ENABLE CONDSTORE QRESYNC IMAP4rev2\r\n",
        "b2 SELECT INBOX\r\n",
        "b3 EXAMINE \"Sent Items\" (CONDSTORE)\r\n",
        "b4 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
        "b5 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:15,16:20 41:55,214:219)))\r\n",
        "b6 CREATE \"Projects/2026\"\r\n",
        "b7 CREATE MySpecial (USE (\\Drafts \\Sent))\r\n",
        "b8 DELETE foo\r\n",
        "b9 RENAME foo {3}\r\nbar\r\n",
        "c1 SUBSCRIBE foo\r\n",
        "c2 UNSUBSCRIBE \"foo\"\r\n",
        "c3 LIST \"\" *\r\n",
        "c4 LIST \"\" \"\"\r\n",
        "c5 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX* %/foo) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n",
        "c6 LSUB \"\" %\r\n",
        "c7 NAMESPACE\r\n",
        "c8 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ RECENT)\r\n",
        "c9 APPEND INBOX {13}\r\nSubject: x\r\n\r\n",
        "d1 APPEND Drafts (\\Seen \\Draft $Forwarded) \" 7-Feb-1994 21:52:25 -0800\" {13+}\r\nSubject: x\r\n\r\n",
        "d2 APPEND INBOX ~{5}\r\nab\0cd\r\n",
        "d3 IDLE\r\n",
        "d4 ID (\"name\" \"mutt\" \"version\" NIL)\r\n",
        "d5 ID NIL\r\n",
        "d6 CLOSE\r\n",
        "d7 UNSELECT\r\n",
        "d8 EXPUNGE\r\n",
        "d9 UID EXPUNGE 3000:3002,4000\r\n",
        "e1 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
        "e2 UID SEARCH RETURN (MIN MAX COUNT ALL) CHARSET UTF-8 TEXT {6}\r\nXXXXXX\r\n",
        "e3 SEARCH OR (SEEN UNDELETED) (LARGER 100 SMALLER 5000) 1:5,*\r\n",
        "e4 SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n",
        "e5 SEARCH HEADER Message-ID <x@y> UID 1:* KEYWORD $Junk UNKEYWORD foo NEW OLD RECENT\r\n",
        "e6 SEARCH SENTBEFORE \"1-Jan-2000\" SENTON 1-Jan-2000 SENTSINCE 01-Jan-2000 BEFORE 1-Jan-2000 ON 1-Jan-2000 BODY x SUBJECT y CC z BCC w TO v\r\n",
        "f1 FETCH 1:* (FLAGS ENVELOPE)\r\n",
        "f2 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
        "f3 FETCH 2 (BODY.PEEK[HEADER.FIELDS (DATE FROM)] BODY[1.2.MIME] BODY[TEXT]<0.2048> RFC822.SIZE INTERNALDATE)\r\n",
        "f4 FETCH 1 ALL\r\n",
        "f5 FETCH 1 FAST\r\n",
        "f6 FETCH 1 FULL\r\n",
        "f7 FETCH 1 (BINARY.PEEK[1]<0.100> BINARY.SIZE[2] BINARY[] BODYSTRUCTURE BODY MODSEQ UID)\r\n",
        "f8 FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT BODY[] BODY[HEADER.FIELDS.NOT (X-Spam)] BODY[3.HEADER] BODY[3.TEXT])\r\n",
        "f9 FETCH 1 BODY[]\r\n",
        "g1 STORE 1:3 +FLAGS (\\Deleted)\r\n",
        "g2 UID STORE 4 -FLAGS.SILENT \\Seen $Important\r\n",
        "g3 STORE 7,5,9 (UNCHANGEDSINCE 320162338) FLAGS.SILENT ()\r\n",
        "g4 COPY 2:4 MEETING\r\n",
        "g5 UID COPY 1:* {7}\r\nArchive\r\n",
        "g6 MOVE 1 Trash\r\n",
        "g7 UID MOVE 42:69 \"foo bar\"\r\n",
        "g8 CHECK\r\n",
        "g9 list \"\" \"*\"\n",
        "h1 SORT (REVERSE ARRIVAL CC DATE FROM SIZE SUBJECT TO) UTF-8 SUBJECT hello\r\n",
        "h2 UID SORT RETURN (MIN MAX ALL COUNT SAVE) (REVERSE SIZE) US-ASCII 1:*\r\n",
        "h3 THREAD REFERENCES UTF-8 ALL\r\n",
        "h4 UID THREAD ORDEREDSUBJECT US-ASCII SINCE 1-Feb-2000 NOT DELETED\r\n",
        "h5 SEARCH RETURN (SAVE) UID $\r\n",
        "h6 FETCH $ (UID FLAGS)\r\n",
        "h7 UID COPY $ Archive\r\n",
        "h8 SELECT ~foo\r\n",
        "h9 COMPRESS DEFLATE\r\n",
    ];

    public static IEnumerable<object[]> Valid() => ValidCommands.Select(c => new object[] { c });

    [Theory]
    [MemberData(nameof(Valid))]
    public void Every_proper_prefix_asks_for_more_and_the_whole_command_parses(string command)
    {
        var bytes = Encoding.Latin1.GetBytes(command);
        for (int n = 0; n < bytes.Length; n++)
        {
            var frame = ImapCommandFramer.Frame(new ReadOnlySequence<byte>(bytes, 0, n), Options);
            Assert.True(frame.Status is FrameStatus.NeedMoreData or FrameStatus.NeedLiteral,
                $"prefix of {n} bytes gave {frame.Status}");
        }

        var whole = ImapCommandFramer.Frame(new ReadOnlySequence<byte>(bytes), Options);
        Assert.Equal(FrameStatus.Complete, whole.Status);
        Assert.Equal(bytes.Length, whole.Length);
        var parsed = ImapCommandParser.Parse(new ReadOnlySequence<byte>(bytes), Options);
        Assert.True(parsed.Command is not null, $"{command.Trim()}: {parsed.Error}");
    }

    [Theory]
    [MemberData(nameof(Valid))]
    public void Splitting_at_every_byte_gives_the_same_command(string command)
    {
        var bytes = Encoding.Latin1.GetBytes(command);
        var expected = Describe(ImapCommandParser.Parse(new ReadOnlySequence<byte>(bytes), Options).Command);
        for (int split = 1; split < bytes.Length; split++)
        {
            var sequence = Segments(bytes[..split], bytes[split..]);
            var frame = ImapCommandFramer.Frame(sequence, Options);
            Assert.Equal(FrameStatus.Complete, frame.Status);
            Assert.Equal(bytes.Length, frame.Length);
            Assert.Equal(expected, Describe(ImapCommandParser.Parse(sequence, Options).Command));
        }

        // And one byte per segment.
        var bytewise = Segments(bytes.Select(b => new[] { b }).ToArray());
        Assert.Equal(expected, Describe(ImapCommandParser.Parse(bytewise, Options).Command));
    }

    [Fact]
    public void Synchronizing_literal_is_announced_once_its_line_is_complete()
    {
        var text = "x LOGIN {5}\r\n"u8.ToArray();
        var frame = ImapCommandFramer.Frame(new ReadOnlySequence<byte>(text), Options);
        Assert.Equal(FrameStatus.NeedLiteral, frame.Status);
        Assert.Equal(5, frame.LiteralSize);
        Assert.Equal(0, frame.LiteralIndex);

        var second = "x LOGIN {5}\r\nalice {3}\r\n"u8.ToArray();
        frame = ImapCommandFramer.Frame(new ReadOnlySequence<byte>(second), Options);
        Assert.Equal(FrameStatus.NeedLiteral, frame.Status);
        Assert.Equal(1, frame.LiteralIndex);

        var nonSync = "x LOGIN {5+}\r\n"u8.ToArray();
        Assert.Equal(FrameStatus.NeedMoreData, ImapCommandFramer.Frame(new ReadOnlySequence<byte>(nonSync), Options).Status);
    }

    [Fact]
    public void Parsed_values_are_right()
    {
        var login = Parse<LoginCommand>("a LOGIN {5}\r\nalice \"p\\\"w\"\r\n");
        Assert.Equal(("alice", "p\"w"), (login.User, login.Password));

        var append = Parse<AppendCommand>("a APPEND Drafts (\\Seen kw) \" 7-Feb-1994 21:52:25 -0800\" {4+}\r\nab\r\n\r\n");
        Assert.Equal("Drafts", append.Mailbox);
        var message = Assert.Single(append.Messages);
        Assert.Equal(["\\Seen", "kw"], message.Flags);
        Assert.Equal(new DateTimeOffset(1994, 2, 7, 21, 52, 25, TimeSpan.FromHours(-8)), message.InternalDate);
        Assert.Equal("ab\r\n"u8.ToArray(), Assert.IsType<AppendText>(Assert.Single(message.Parts)).Data);

        var binary = Assert.IsType<AppendText>(Assert.Single(Assert.Single(Parse<AppendCommand>("a APPEND INBOX ~{3}\r\na\0b\r\n").Messages).Parts));
        Assert.True(binary.Binary);
        Assert.Equal(new byte[] { (byte)'a', 0, (byte)'b' }, binary.Data);

        // MULTIAPPEND (RFC 3502) with CATENATE (RFC 4469): each message its own options.
        var multi = Parse<AppendCommand>("a APPEND INBOX (\\Seen) {1}\r\nx CATENATE (URL \"/INBOX;UIDVALIDITY=9/;UID=2/;SECTION=HEADER\" TEXT {2}\r\nyz) \" 7-Feb-1994 21:52:25 -0800\" CATENATE (TEXT ~{1}\r\n\0)\r\n");
        Assert.Equal(3, multi.Messages.Count);
        Assert.Equal(["\\Seen"], multi.Messages[0].Flags);
        Assert.False(multi.Messages[0].Catenate);
        Assert.True(multi.Messages[1].Catenate);
        Assert.Equal("/INBOX;UIDVALIDITY=9/;UID=2/;SECTION=HEADER", Assert.IsType<AppendUrl>(multi.Messages[1].Parts[0]).Url);
        Assert.Equal("yz"u8.ToArray(), Assert.IsType<AppendText>(multi.Messages[1].Parts[1]).Data);
        Assert.NotNull(multi.Messages[2].InternalDate);
        Assert.True(Assert.IsType<AppendText>(Assert.Single(multi.Messages[2].Parts)).Binary);

        var fetch = Parse<FetchCommand>("a UID FETCH 1:*,7 (BODY.PEEK[1.2.HEADER.FIELDS (From To)]<10.20>) (CHANGEDSINCE 99 VANISHED)\r\n");
        Assert.True(fetch.ByUid && fetch.Vanished);
        Assert.Equal(99UL, fetch.ChangedSince);
        Assert.Equal([(1u, SequenceSet.Star), (7u, 7u)], fetch.Set.Ranges);
        var item = Assert.Single(fetch.Items);
        Assert.True(item.Peek);
        Assert.Equal([1, 2], item.Section!.Part);
        Assert.Equal(SectionText.HeaderFields, item.Section.Text);
        Assert.Equal(["From", "To"], item.Section.Fields);
        Assert.Equal((10u, 20u), (item.PartialStart!.Value, item.PartialLength!.Value));

        var store = Parse<StoreCommand>("a STORE 1 (UNCHANGEDSINCE 5) -FLAGS.SILENT (\\Seen)\r\n");
        Assert.Equal((StoreMode.Remove, true, 5UL), (store.Mode, store.Silent, store.UnchangedSince!.Value));

        var search = Parse<SearchCommand>("a SEARCH OR FROM a TO b NOT 2:3\r\n");
        var and = Assert.IsType<AndKey>(search.Key);
        var or = Assert.IsType<OrKey>(and.Keys[0]);
        Assert.Equal(new HeaderKey("FROM", "a"), or.Left);
        Assert.Equal(new HeaderKey("TO", "b"), or.Right);
        var not = Assert.IsType<NotKey>(and.Keys[1]);
        Assert.Equal([(2u, 3u)], Assert.IsType<SequenceKey>(not.Key).Set.Ranges);

        var select = Parse<SelectCommand>("a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:15,16:20 41:55,214:219)))\r\n");
        Assert.Equal(67890007u, select.Qresync!.UidValidity);
        Assert.Equal(90060115194045000UL, select.Qresync.ModSeq);
        Assert.Equal(2, select.Qresync.KnownUids!.Ranges.Count);
        Assert.NotNull(select.Qresync.KnownSequenceUids);
    }

    private static T Parse<T>(string text) where T : ImapCommand
    {
        var result = ImapCommandParser.Parse(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text)), Options);
        Assert.True(result.Command is not null, result.Error);
        return Assert.IsType<T>(result.Command);
    }

    public static readonly TheoryData<string, string?> Malformed = new()
    {
        { "a1 FROB\r\n", "a1" },
        { "a2 LOGIN alice\r\n", "a2" },
        { "a3 SELECT\r\n", "a3" },
        { "a4 FETCH 0 FLAGS\r\n", "a4" },
        { "a5 FETCH 1 (FLAGS\r\n", "a5" },
        { "a6 FETCH 1 BODY[HEADER.FOO]\r\n", "a6" },
        { "a7 FETCH 1 FLAGS (VANISHED)\r\n", "a7" },
        { "a8 STORE 1 FLAGZ (\\Seen)\r\n", "a8" },
        { "a9 SEARCH SINCE 31-Foo-2020\r\n", "a9" },
        { "b1 LOGIN \"unterminated\r\n", "b1" },
        { "b2 CAPABILITY extra\r\n", "b2" },
        { "b3 LOGIN a\0 b\r\n", "b3" },
        { "+bad NOOP\r\n", null },
        { "\r\n", null },
        { "b4 SEARCH 1,$\r\n", "b4" },
        { "c4 SORT (SUBJECT) ALL\r\n", "c4" },
        { "c5 SORT (BOGUS) US-ASCII ALL\r\n", "c5" },
        { "c6 SORT () US-ASCII ALL\r\n", "c6" },
        { "c7 THREAD REFERENCES\r\n", "c7" },
        { "b5 NOOP  \r\n", "b5" },
        { "b6 LOGIN ~{1}\r\nx b\r\n", "b6" },
        { "b7 LOGIN {3}\r\na\rb c\r\n", "b7" },
        { "b8 SEARCH UID 1:4294967296\r\n", "b8" },
        { "b9 STATUS INBOX (BOGUS)\r\n", "b9" },
        { "c1 LIST (BOGUS) \"\" *\r\n", "c1" },
        { "c2 LIST (RECURSIVEMATCH) \"\" *\r\n", "c2" },
        { "c3 LIST \"\" * RETURN (BOGUS)\r\n", "c3" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_commands_are_rejected_with_their_tag(string text, string? tag)
    {
        var bytes = Encoding.Latin1.GetBytes(text);
        var frame = ImapCommandFramer.Frame(new ReadOnlySequence<byte>(bytes), Options);
        Assert.Equal(FrameStatus.Complete, frame.Status);
        var result = ImapCommandParser.Parse(new ReadOnlySequence<byte>(bytes, 0, (int)frame.Length), Options);
        Assert.Null(result.Command);
        Assert.NotNull(result.Error);
        Assert.Equal(tag, result.Tag);
    }

    [Fact]
    public void Line_length_limit_holds_at_its_edge()
    {
        var options = new ImapServerOptions { MaxLineLength = 1024 };
        static string Line(int length) => "a LIST \"\" " + new string('x', length - 10) + "\r\n";
        var atLimit = Encoding.ASCII.GetBytes(Line(1024));
        Assert.Equal(1024 + 2, atLimit.Length);
        Assert.Equal(FrameStatus.Complete, ImapCommandFramer.Frame(new ReadOnlySequence<byte>(atLimit), options).Status);
        var over = Encoding.ASCII.GetBytes(Line(1025));
        Assert.Equal(FrameStatus.LineTooLong, ImapCommandFramer.Frame(new ReadOnlySequence<byte>(over), options).Status);
        // Without a line end yet, too many bytes is also too long.
        var unterminated = new byte[1024 + 3];
        Array.Fill(unterminated, (byte)'x');
        Assert.Equal(FrameStatus.LineTooLong, ImapCommandFramer.Frame(new ReadOnlySequence<byte>(unterminated), options).Status);
    }

    [Fact]
    public void Literal_size_limits_hold_at_their_edges()
    {
        var options = new ImapServerOptions { MaxMessageSize = 2048, MaxStringLiteralSize = 256 };
        Assert.Equal(FrameStatus.NeedLiteral, Frame("a APPEND INBOX {2048}\r\n", options).Status);
        Assert.Equal(FrameStatus.LiteralRefused, Frame("a APPEND INBOX {2049}\r\n", options).Status);
        Assert.Equal(FrameStatus.Fatal, Frame("a APPEND INBOX {2049+}\r\n", options).Status);
        Assert.Equal(FrameStatus.NeedLiteral, Frame("a LOGIN {256}\r\n", options).Status);
        Assert.Equal(FrameStatus.LiteralRefused, Frame("a LOGIN {257}\r\n", options).Status);

        var minus = new ImapServerOptions { NonSynchronizingLiteralLimit = 4096 };
        Assert.Equal(FrameStatus.NeedMoreData, Frame("a APPEND INBOX {4096+}\r\n", minus).Status);
        Assert.Equal(FrameStatus.Fatal, Frame("a APPEND INBOX {4097+}\r\n", minus).Status);
        Assert.Equal(FrameStatus.NeedLiteral, Frame("a APPEND INBOX {4097}\r\n", minus).Status);
    }

    [Fact]
    public void Literal_count_limit_holds_at_its_edge()
    {
        var options = new ImapServerOptions { MaxLiteralsPerCommand = 2 };
        Assert.Equal(FrameStatus.Complete, Frame("a LOGIN {1}\r\na {1}\r\nb\r\n", options).Status);
        Assert.Equal(FrameStatus.LiteralRefused, Frame("a SEARCH TEXT {1}\r\na TEXT {1}\r\nb TEXT {1}\r\n", options).Status);
    }

    [Fact]
    public void Nesting_limit_holds_at_its_edge()
    {
        var options = new ImapServerOptions { MaxNestingDepth = 4 };
        Assert.NotNull(ParseWith("a SEARCH ((((ALL))))\r\n", options).Command);
        Assert.Null(ParseWith("a SEARCH (((((ALL)))))\r\n", options).Command);
        Assert.Null(ParseWith("a SEARCH NOT NOT NOT NOT NOT ALL\r\n", options).Command);
    }

    [Fact]
    public void Sequence_set_range_limit_holds_at_its_edge()
    {
        var options = new ImapServerOptions { MaxSequenceSetRanges = 3 };
        Assert.NotNull(ParseWith("a FETCH 1,2:3,5 FLAGS\r\n", options).Command);
        var result = ParseWith("a FETCH 1,2:3,5,7 FLAGS\r\n", options);
        Assert.Null(result.Command);
        Assert.Contains("ranges", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_bytes_never_crash_or_hang_the_framer_and_parser()
    {
        var options = new ImapServerOptions { MaxLineLength = 1024, MaxStringLiteralSize = 256 };
        Gen.Byte.Array[0, 300].Sample(bytes =>
        {
            var frame = ImapCommandFramer.Frame(new ReadOnlySequence<byte>(bytes), options);
            if (frame.Status == FrameStatus.Complete)
            {
                _ = ImapCommandParser.Parse(new ReadOnlySequence<byte>(bytes, 0, (int)frame.Length), options);
            }
        }, iter: 20_000);
    }

    [Fact]
    public void Mutated_valid_commands_never_crash_the_parser()
    {
        var options = new ImapServerOptions { MaxNestingDepth = 8 };
        var gen = Gen.Select(Gen.Int[0, ValidCommands.Length - 1], Gen.Int[0, 200], Gen.Byte, Gen.Int[0, 3]);
        gen.Sample((index, position, value, kind) =>
        {
            var bytes = Encoding.Latin1.GetBytes(ValidCommands[index]).ToList();
            int at = Math.Min(position, bytes.Count - 1);
            switch (kind)
            {
                case 0: bytes[at] = value; break;
                case 1: bytes.Insert(at, value); break;
                case 2: bytes.RemoveAt(at); break;
                default: bytes.InsertRange(at, Encoding.ASCII.GetBytes("(((((((((")); break;
            }

            var array = bytes.ToArray();
            var frame = ImapCommandFramer.Frame(new ReadOnlySequence<byte>(array), options);
            if (frame.Status == FrameStatus.Complete)
            {
                var result = ImapCommandParser.Parse(new ReadOnlySequence<byte>(array, 0, (int)frame.Length), options);
                Assert.True(result.Command is not null || result.Error is not null);
            }
        }, iter: 20_000);
    }

    [Fact]
    public void Deep_nesting_without_limit_would_recurse_but_the_limit_stops_it()
    {
        var deep = "a SEARCH " + string.Concat(Enumerable.Repeat("NOT ", 100_000)) + "ALL\r\n";
        var result = ParseWith(deep, new ImapServerOptions { MaxLineLength = 1024 * 1024 });
        Assert.Null(result.Command);
    }

    [Fact]
    public void Modified_utf7_round_trips()
    {
        Assert.Equal("~peter/mail/&U,BTFw-/&ZeVnLIqe-", MailboxNameCodec.Encode("~peter/mail/台北/日本語"));
        Assert.Equal("~peter/mail/台北/日本語", MailboxNameCodec.Decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-"));
        Assert.Equal("a&b", MailboxNameCodec.Decode("a&-b"));
        Assert.Equal("a&-b", MailboxNameCodec.Encode("a&b"));
        Assert.Null(MailboxNameCodec.Decode("&Jjo"));
        Gen.String.Sample(s => Assert.Equal(s, MailboxNameCodec.Decode(MailboxNameCodec.Encode(s))), iter: 2000);
    }

    private static FrameResult Frame(string text, ImapServerOptions options) =>
        ImapCommandFramer.Frame(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text)), options);

    private static ParseResult ParseWith(string text, ImapServerOptions options) =>
        ImapCommandParser.Parse(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text)), options);

    internal static ReadOnlySequence<byte> Segments(params byte[][] parts)
    {
        Segment? first = null, last = null;
        foreach (var part in parts)
        {
            var s = new Segment(part);
            if (first is null)
            {
                first = last = s;
            }
            else
            {
                last = last!.Append(s);
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data) => Memory = data;

        public Segment Append(Segment next)
        {
            next.RunningIndex = RunningIndex + Memory.Length;
            Next = next;
            return next;
        }
    }

    /// <summary>A structural description of a command (records hold lists, which do not compare by value).</summary>
    internal static string Describe(object? value)
    {
        switch (value)
        {
            case null: return "null";
            case string s: return "\"" + s + "\"";
            case byte[] b: return Convert.ToHexString(b);
            case IEnumerable e when value is not string:
                return "[" + string.Join(",", e.Cast<object?>().Select(Describe)) + "]";
            case ValueType when value.GetType().IsPrimitive || value is Enum || value is DateTimeOffset || value is DateOnly:
                return value.ToString()!;
            case ImapCommand or SearchKey or FetchItem or BodySection or QresyncParameters or SequenceSet:
                var props = value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
                    .Where(p => p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract")
                    .OrderBy(p => p.Name, StringComparer.Ordinal)
                    .Select(p => p.Name + "=" + Describe(p.GetValue(value)));
                return value.GetType().Name + "{" + string.Join(";", props) + "}";
            default:
                return value.ToString() ?? "";
        }
    }
}
