using System.Text;
using Letterlock.Imap.Mime;
using Letterlock.Imap.Session;

namespace Letterlock.Imap.Tests;

/// <summary>The pure parts of SORT and THREAD (RFC 5256): base subjects, ENVELOPE read back, both threading algorithms.</summary>
public sealed class SortThreadTests
{
    [Theory]
    // RFC 5256, 2.1, step by step: trailers, leaders with blobs, a lone blob kept when nothing would remain,
    // [fwd: ...] unwrapped, encoded words decoded, white space collapsed.
    [InlineData("a", "a", false)]
    [InlineData("Re: hello", "hello", true)]
    [InlineData("RE:   Fwd:  re[2]: hello", "hello", true)]
    [InlineData("hello (fwd)", "hello", true)]
    [InlineData("hello (FWD) \t ", "hello", true)]
    [InlineData("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b", true)]
    [InlineData("Re: [FWD: c]", "c", true)]
    [InlineData("[xyz]", "[xyz]", false)]
    [InlineData("[list] topic", "topic", false)]
    [InlineData("b (a)", "b (a)", false)]
    [InlineData("Fwd:", "", true)]
    [InlineData("=?utf-8?q?Re=3A_caf=C3=A9?=", "café", true)]
    [InlineData("Re:\r\n  wrapped\t\tline", "wrapped line", true)]
    [InlineData("", "", false)]
    [InlineData(null, "", false)]
    public void Base_subject_follows_RFC_5256_2_1(string? subject, string expected, bool reply)
    {
        Assert.Equal(expected, BaseSubject.Extract(subject, out bool isReply));
        Assert.Equal(reply, isReply);
    }

    [Fact]
    public void Ascii_casemap_folds_only_a_to_z()
    {
        Assert.Equal(0, BaseSubject.CompareAsciiCasemap("abc", "ABC"));
        Assert.True(BaseSubject.CompareAsciiCasemap("C", "_") < 0);
        Assert.True(BaseSubject.CompareAsciiCasemap("[", "_") < 0);
        Assert.True(BaseSubject.CompareAsciiCasemap("", "a") < 0);
        Assert.NotEqual(0, BaseSubject.CompareAsciiCasemap("é", "É"));
    }

    [Fact]
    public void Envelope_reads_back_what_the_structure_wrote()
    {
        var raw = Encoding.UTF8.GetBytes("Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nSubject: \"quoted\" \\ and literal é\r\nFrom: \"A, B\" <a@example.org>, c@example.org\r\n" +
            "To: group: x@y.org;\r\nCc: Zoe <zoe@example.org>\r\nIn-Reply-To: <p@x>\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n");
        var fields = EnvelopeFields.Parse(MessageStructure.Parse(raw).Envelope)!;
        Assert.Equal("Mon, 1 Jan 2024 10:00:00 +0000", fields.Date);
        Assert.Equal("\"quoted\" \\ and literal é", fields.Subject);
        Assert.Equal(["a", "c"], fields.From.Select(a => a.Mailbox));
        Assert.Equal("A, B", fields.From[0].Name);
        Assert.Equal("group", fields.To[0].Mailbox);
        Assert.Null(fields.To[0].Host);
        Assert.Equal("zoe", Assert.Single(fields.Cc).Mailbox);
        Assert.Equal("<p@x>", fields.InReplyTo);
        Assert.Equal("<m@x>", fields.MessageId);
        Assert.Null(EnvelopeFields.Parse("(NIL"u8));
        Assert.Null(EnvelopeFields.Parse("(NIL NIL NIL NIL NIL NIL NIL NIL {99}\r\nx NIL)"u8));
    }

    private static ThreadMessage M(uint n, int hour, string subject, string? id, params string[] references)
    {
        string baseSubject = BaseSubject.Extract(subject, out bool reply);
        return new ThreadMessage(n, new DateTimeOffset(2024, 1, 1, hour, 0, 0, TimeSpan.Zero), baseSubject, reply, id, references);
    }

    [Fact]
    public void References_links_chains_and_prunes_empty_containers()
    {
        // 1 <- 2 <- 3 by References; 4 answers 1; 5 refers to a missing message under 1, so it hangs off 1.
        var messages = new[]
        {
            M(1, 1, "topic", "1@x"),
            M(2, 2, "Re: topic", "2@x", "1@x"),
            M(3, 3, "Re: topic", "3@x", "1@x", "2@x"),
            M(4, 4, "Re: topic", "4@x", "1@x"),
            M(5, 5, "Re: topic", "5@x", "1@x", "gone@x"),
        };
        Assert.Equal("(1 (2 3)(4)(5))", MessageThreading.References(messages));
    }

    [Fact]
    public void References_ignore_duplicate_ids_and_loops_and_sort_by_date()
    {
        var messages = new[]
        {
            M(1, 5, "one", "same@x"),
            M(2, 1, "two", "same@x"), // duplicate Message-ID: a thread of its own
            M(3, 3, "three", "3@x", "4@x"),
            M(4, 4, "four", "4@x", "3@x"), // would close a loop with 3
        };
        Assert.Equal("(2)(4 3)(1)", MessageThreading.References(messages));
    }

    [Fact]
    public void References_groups_roots_by_subject()
    {
        var messages = new[]
        {
            M(1, 1, "Plan", "a@x"),
            M(2, 2, "Re: Plan", "b@x"),          // no references: joins 1 as a reply
            M(3, 3, "Plan", "c@x"),              // not a reply: 1 and 3 under an empty container
            M(4, 4, "Re: Missing", "d@x", "z@x"),
            M(5, 5, "Re: Missing", "e@x", "z@x"), // both under the missing z: an empty root
        };
        Assert.Equal("((1 2)(3))((4)(5))", MessageThreading.References(messages));
    }

    [Fact]
    public void Ordered_subject_groups_by_base_subject_and_orders_by_date()
    {
        var messages = new[]
        {
            M(1, 3, "b", null),
            M(2, 1, "a", null),
            M(3, 2, "Re: a", null),
            M(4, 4, "re: A", null),
            M(5, 5, "c", null),
            M(6, 0, "Fwd: b", null),
        };
        Assert.Equal("(6 1)(2 (3)(4))(5)", MessageThreading.OrderedSubject(messages));
        Assert.Equal("", MessageThreading.OrderedSubject([]));
        Assert.Equal("", MessageThreading.References([]));
    }
}
