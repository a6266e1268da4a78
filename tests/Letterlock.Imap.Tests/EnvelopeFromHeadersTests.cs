using System.Text;
using Letterlock.Imap.Mime;

namespace Letterlock.Imap.Tests;

/// <summary>
/// <see cref="MessageStructure.ParseEnvelope"/> (header block only, what backends keep per message) must give the
/// ENVELOPE byte for byte as <see cref="MessageStructure.Parse"/> gives it from the whole MIME, so the two paths never drift.
/// </summary>
public sealed class EnvelopeFromHeadersTests
{
    [Fact]
    public void Header_only_envelope_is_byte_identical_to_the_full_parse_over_the_corpus()
    {
        var files = TestData.AllMessages().ToList();
        Assert.True(files.Count >= 3000, $"the corpus has {files.Count} messages");
        var differences = new List<string>();
        foreach (var file in files)
        {
            var raw = File.ReadAllBytes(file);
            // Both forms a backend may hold: as received (sync stores the bytes it decrypted) and CRLF-normalised (APPEND).
            foreach (var bytes in new[] { raw, LineEndings.Normalize(raw) })
            {
                var full = MessageStructure.Parse(bytes).Envelope;
                var fromHeaders = MessageStructure.ParseEnvelope(bytes);
                if (!full.AsSpan().SequenceEqual(fromHeaders))
                {
                    differences.Add($"{Path.GetFileName(file)}: {Encoding.Latin1.GetString(full)} <> {Encoding.Latin1.GetString(fromHeaders)}");
                }
            }
        }

        Assert.True(differences.Count == 0, string.Join("\n", differences.Take(10)));
    }

    [Theory]
    // Groups, encoded words kept as sent, nil fields, a missing empty line, LF-only, a leading empty line,
    // an in-body "From:" that must not leak into the envelope, folded fields and 8-bit header text.
    [InlineData("To: undisclosed-recipients:;\r\nCc: Team: a@b.c, \"B\" <b@c.d>;\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nbody\r\n")]
    [InlineData("Subject: only headers, no empty line\r\nFrom: x@y.z")]
    [InlineData("Subject: lf only\nFrom: X <x@y.z>\nReply-To: r@y.z\n\nFrom: body@evil.test\n")]
    [InlineData("\r\nFrom: in-body@evil.test\r\n")]
    [InlineData("\nFrom: in-body@evil.test\n")]
    [InlineData("")]
    [InlineData("From: a@b.c\r\nSubject: folded\r\n  across lines\r\nIn-Reply-To: <x@y>\r\nMessage-ID: <m@y>\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n\r\nFrom: no@no\r\n")]
    [InlineData("From: \"Zoë\" <zoe@example.org>\r\nSubject: naïve 8-bit\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nFrom: part@header\r\n\r\n--x--\r\n")]
    [InlineData("Not a header line\r\nFrom: after@garbage\r\n\r\nbody\r\n")]
    public void Header_only_envelope_is_byte_identical_on_edge_cases(string message)
    {
        // Input MimeKit refuses outright (no header at all) is refused by both paths alike.
        var bytes = Encoding.UTF8.GetBytes(message);
        Assert.Equal(Outcome(() => MessageStructure.Parse(bytes).Envelope), Outcome(() => MessageStructure.ParseEnvelope(bytes)));
    }

    private static string Outcome(Func<byte[]> envelope)
    {
        try
        {
            return Encoding.Latin1.GetString(envelope());
        }
        catch (FormatException e)
        {
            return "refused: " + e.Message;
        }
    }

    [Theory]
    [InlineData("A: b\r\n\r\nbody", 8)]
    [InlineData("A: b\n\nbody", 6)]
    [InlineData("A: b\r\nC: d", 10)]
    [InlineData("\r\nbody", 2)]
    [InlineData("\nbody", 1)]
    [InlineData("", 0)]
    [InlineData("A: b\r\n\r", 7)]
    public void Header_block_ends_after_the_first_empty_line(string message, int expected) =>
        Assert.Equal(expected, MessageStructure.HeaderBlockLength(Encoding.ASCII.GetBytes(message)));
}
