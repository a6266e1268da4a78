using System.Text;
using Letterlock.Client.Import;

namespace Letterlock.Client.Tests.Import;

/// <summary>The mbox reader on hand-made files: quoting, postmarks, bodies that look like postmarks, truncation, flags.</summary>
public sealed class MboxReaderTests
{
    private static List<SourceMessage> Read(string mbox, ImportOptions? options = null) =>
        MboxReader.Read(new MemoryStream(Encoding.Latin1.GetBytes(mbox)), "test.mbox", "INBOX", options ?? new ImportOptions()).ToList();

    private static string Text(SourceMessage m) => Encoding.Latin1.GetString(m.Raw!);

    [Fact]
    public void Messages_split_at_postmarks_with_their_dates_and_the_separator_blank_line_is_not_the_messages()
    {
        var messages = Read("From alice@example.org Sat Jan  3 01:05:34 1996\nSubject: one\n\nfirst\n\nFrom MAILER-DAEMON Thu Feb 29 23:59:59 2024\nSubject: two\n\nsecond\n\n");
        Assert.Equal(2, messages.Count);
        Assert.Equal("Subject: one\n\nfirst\n", Text(messages[0]));
        Assert.Equal("Subject: two\n\nsecond\n", Text(messages[1]));
        Assert.Equal(new DateTimeOffset(1996, 1, 3, 1, 5, 34, TimeSpan.Zero), messages[0].InternalDate);
        Assert.Equal(new DateTimeOffset(2024, 2, 29, 23, 59, 59, TimeSpan.Zero), messages[1].InternalDate);
        Assert.Equal("test.mbox, line 6", messages[1].Where);
    }

    [Fact]
    public void A_from_line_inside_a_body_is_not_a_postmark_and_mboxrd_quoting_is_undone_by_one_level()
    {
        var messages = Read("From a@b Mon Jan  1 00:00:00 2001\nSubject: s\n\nFrom here on, it is a body line (mboxo left it unquoted).\n" +
            "\nFrom the top, no time and no year: still the body.\n>From quoted once\n>>From quoted twice\n> From not a quote\n\n" +
            "From a@b Mon Jan  1 00:00:01 2001\nSubject: t\n\nx\n\n");
        Assert.Equal(2, messages.Count);
        Assert.Equal("Subject: s\n\nFrom here on, it is a body line (mboxo left it unquoted).\n\nFrom the top, no time and no year: still the body.\n" +
            "From quoted once\n>From quoted twice\n> From not a quote\n", Text(messages[0]));

        var mboxo = Read("From a@b Mon Jan  1 00:00:00 2001\nSubject: s\n\n>From stays\n\n", new ImportOptions { MboxFormat = MboxFormat.Mboxo });
        Assert.Equal("Subject: s\n\n>From stays\n", Text(Assert.Single(mboxo)));
    }

    [Fact]
    public void A_truncated_final_message_is_refused_and_those_before_it_are_read()
    {
        var cut = Read("From a@b Mon Jan  1 00:00:00 2001\nSubject: whole\n\nbody\n\nFrom a@b Mon Jan  1 00:00:01 2001\nSubject: cut\n\nhalf a li");
        Assert.Equal("Subject: whole\n\nbody\n", Text(cut[0]));
        Assert.Null(cut[1].Raw);
        Assert.Contains("truncated", cut[1].Problem, StringComparison.Ordinal);

        var headerOnly = Read("From a@b Mon Jan  1 00:00:00 2001\nSubject: whole\n\nbody\n\nFrom a@b Mon Jan  1 00:00:01 2001\nSubject: cut\nTo: x@y\n");
        Assert.Contains("inside its header", headerOnly[1].Problem, StringComparison.Ordinal);

        // A file ending without the writer's blank line is not truncated.
        Assert.Equal("Subject: last\n\nbody\n", Text(Assert.Single(Read("From a@b Mon Jan  1 00:00:00 2001\nSubject: last\n\nbody\n"))));
    }

    [Fact]
    public void A_file_that_is_not_an_mbox_is_refused_and_an_empty_one_has_no_messages()
    {
        var error = Assert.Throws<ImportSourceException>(() => Read("Subject: hello\n\nnot an mbox\n"));
        Assert.Contains("not an mbox file", error.Message, StringComparison.Ordinal);
        Assert.Empty(Read(""));
    }

    [Fact]
    public void Status_headers_give_flags_and_a_message_over_the_limit_is_skipped_without_losing_the_next()
    {
        var options = new ImportOptions { MaxMessageBytes = 1024 };
        var messages = Read("From a@b Mon Jan  1 00:00:00 2001\nStatus: RO\nX-Status: AF\nSubject: s\n\nx\n\n" +
            "From a@b Mon Jan  1 00:00:00 2001\nSubject: big\n\n" + new string('y', 2000) + "\n\n" +
            "From a@b Mon Jan  1 00:00:00 2001\nSubject: after\n\nz\n\n", options);
        Assert.Equal(["\\Seen", "\\Answered", "\\Flagged"], messages[0].Flags);
        Assert.Contains("1024 bytes (ImportOptions.MaxMessageBytes)", messages[1].Problem, StringComparison.Ordinal);
        Assert.Equal("Subject: after\n\nz\n", Text(messages[2]));
    }

    [Theory]
    [InlineData("From a@b Sat Jan  3 01:05:34 1996", true)]
    [InlineData("From  Sat Jan  3 01:05:34 1996", true)]
    [InlineData("From a@b Sat Jan 3 01:05 1996", true)]
    [InlineData("From a@b Sat Jan  3 01:05:34 +0100 1996", true)]
    [InlineData("From here on we talk", false)]
    [InlineData("From: a@b", false)]
    [InlineData("From a@b yesterday", false)]
    public void Postmarks_are_recognised_by_their_time_and_year(string line, bool postmark) =>
        Assert.Equal(postmark, MboxReader.IsPostmark(Encoding.ASCII.GetBytes(line), out _));

    [Fact]
    public void Maildir_info_suffixes_give_flags_including_dovecot_keywords()
    {
        Assert.Equal(["\\Draft", "\\Flagged", "$Forwarded", "\\Answered", "\\Seen", "\\Deleted"], MaildirReader.Flags("1.M1.host,S=10:2,DFPRST"));
        Assert.Empty(MaildirReader.Flags("1.M1.host,S=10"));
        Assert.Equal(["\\Seen", "$Work"], MaildirReader.Flags("1.M1.host:2,Sb", new Dictionary<char, string> { ['b'] = "$Work" }));
        Assert.Equal(["\\Seen"], MaildirReader.Flags("1.M1.host!2,S"));
    }
}
