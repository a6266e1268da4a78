using System.Text;
using System.Text.RegularExpressions;

namespace Letterlock.Provider.Tests;

/// <summary>
/// The MX's limits on a message's MIME structure (mx.* settings): each at its edge over real SMTP (at the limit the
/// message is sealed and stored; one past it is answered 552 5.3.4 naming the setting and its value, and nothing is
/// stored), and the bombs from outside testing (one header folded over megabytes, 100,000 parts) refused whole.
/// </summary>
public sealed class MxLimitTests
{
    private const string Limits = "\"mx\": { \"maxHeaderBytes\": 2048, \"maxHeaderFields\": 20, \"maxHeaderFieldLines\": 10, \"maxTotalHeaderBytes\": 4096, \"maxMimeParts\": 10, \"maxMimeDepth\": 4 }";

    public static TheoryData<string, string, string> Edges()
    {
        const string From = "From: carol@sender.test\r\nTo: alice@example.test\r\n"; // two fields, 52 bytes
        var data = new TheoryData<string, string, string>();

        // A header block of exactly 2048 bytes (with its ending empty line), and one byte more.
        string pad(int total) => From + "X-Pad: " + new string('p', total - From.Length - "X-Pad: ".Length - 4) + "\r\n\r\n";
        data.Add("mx.maxHeaderBytes", pad(2048) + "body\r\n", pad(2049) + "body\r\n");

        string fields(int n) => From + string.Concat(Enumerable.Range(0, n - 2).Select(i => $"X-F{i}: v\r\n")) + "\r\nbody\r\n";
        data.Add("mx.maxHeaderFields", fields(20), fields(21));

        string folded(int lines) => From + "Subject: a\r\n" + string.Concat(Enumerable.Repeat(" b\r\n", lines - 1)) + "\r\nbody\r\n";
        data.Add("mx.maxHeaderFieldLines", folded(10), folded(11));

        string parts(int n) => From + "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + string.Concat(Enumerable.Repeat("--b\r\n\r\nx\r\n", n - 1)) + "--b--\r\n";
        data.Add("mx.maxMimeParts", parts(10), parts(11));

        string nested(int depth)
        {
            var text = new StringBuilder(From);
            for (int i = 1; i < depth; i++)
            {
                text.Append($"Content-Type: multipart/mixed; boundary=n{i}\r\n\r\n--n{i}\r\n");
            }

            text.Append("Content-Type: text/plain\r\n\r\ndeep\r\n");
            for (int i = depth - 1; i >= 1; i--)
            {
                text.Append($"--n{i}--\r\n");
            }

            return text.ToString();
        }

        data.Add("mx.maxMimeDepth", nested(4), nested(5));

        // Three header blocks of 4096 bytes in all: the message's (2048), one part's (2046 or 2047) and one empty one
        // (2 bytes), so one more byte in all exceeds no single block.
        string total(int extra)
        {
            string top = From + "Content-Type: multipart/mixed; boundary=b\r\n";
            string topBlock = top + "X-Pad: " + new string('t', 2048 - top.Length - "X-Pad: ".Length - 4) + "\r\n\r\n";
            string partBlock = "X-Part: " + new string('q', 2046 - "X-Part: ".Length - 4 + extra) + "\r\n\r\n";
            return topBlock + "--b\r\n" + partBlock + "x\r\n--b\r\n\r\ny\r\n--b--\r\n";
        }

        data.Add("mx.maxTotalHeaderBytes", total(0), total(1));
        return data;
    }

    [Theory]
    [MemberData(nameof(Edges))]
    public async Task Every_mime_limit_holds_at_its_edge_and_names_itself_in_the_552(string setting, string atLimit, string overLimit)
    {
        await using var provider = await TestProvider.StartAsync(Backend.Sqlite, null, editSettings: path => SetLimits(path, Limits));
        using var api = provider.Client();
        var alice = await api.CreateAccountAsync("alice@example.test");

        await using var session = await RawSmtp.ConnectAsync(provider.Host.SmtpEndPoint);
        Assert.StartsWith("250", await session.CommandAsync("EHLO sender.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await SendAsync(session, atLimit), StringComparison.Ordinal);
        string refused = await SendAsync(session, overLimit);
        Assert.StartsWith("552 5.3.4", refused, StringComparison.Ordinal);
        Assert.Contains(setting, refused, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"\b(2048|20|10|4|4096)\b"), refused);

        // The session goes on, and only the message at the limit was stored.
        Assert.StartsWith("250", await SendAsync(session, atLimit), StringComparison.Ordinal);
        using var client = provider.Client();
        await client.LoginAsync(alice);
        Assert.Equal(2, (await client.FetchInboxAsync(alice)).Count);
    }

    public static TheoryData<string, string> Bombs()
    {
        var folded = new StringBuilder("From: carol@sender.test\r\nTo: alice@example.test\r\nX-Long: ");
        while (folded.Length < 10 * 1024 * 1024)
        {
            folded.Append("word,\r\n ");
        }

        var partBomb = new StringBuilder("From: carol@sender.test\r\nTo: alice@example.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        for (int i = 0; i < 100_000; i++)
        {
            partBomb.Append("--b\r\n\r\n\r\n");
        }

        var wideFolded = new StringBuilder("From: carol@sender.test\r\nTo: alice@example.test\r\nX-Wide: ");
        for (int i = 0; i < 400; i++)
        {
            wideFolded.Append(new string('w', 990)).Append("\r\n ");
        }

        return new()
        {
            { "mx.maxHeaderFieldLines", folded.Append("end\r\n\r\nbody\r\n").ToString() },
            { "mx.maxMimeParts", partBomb.Append("--b--\r\n").ToString() },
            { "mx.maxHeaderBytes", wideFolded.Append("end\r\n\r\nbody\r\n").ToString() },
        };
    }

    [Theory]
    [MemberData(nameof(Bombs))]
    public async Task Header_and_part_bombs_are_refused_with_the_limit_that_stops_them(string setting, string bomb)
    {
        await using var provider = await TestProvider.StartAsync(Backend.Sqlite, null);
        using var api = provider.Client();
        var alice = await api.CreateAccountAsync("alice@example.test");
        await using var session = await RawSmtp.ConnectAsync(provider.Host.SmtpEndPoint);
        Assert.StartsWith("250", await session.CommandAsync("EHLO sender.test"), StringComparison.Ordinal);
        string reply = await SendAsync(session, bomb);
        Assert.StartsWith("552 5.3.4", reply, StringComparison.Ordinal);
        Assert.Contains(setting, reply, StringComparison.Ordinal);
        using var client = provider.Client();
        await client.LoginAsync(alice);
        Assert.Empty(await client.FetchInboxAsync(alice));
    }

    [Theory]
    [InlineData("maxHeaderBytes", 0, "mx.maxHeaderBytes")]
    [InlineData("maxHeaderFields", 0, "mx.maxHeaderFields")]
    [InlineData("maxHeaderFieldLines", 0, "mx.maxHeaderFieldLines")]
    [InlineData("maxTotalHeaderBytes", 100, "mx.maxTotalHeaderBytes")]
    [InlineData("maxMimeParts", -1, "mx.maxMimeParts")]
    [InlineData("maxMimeDepth", 0, "mx.maxMimeDepth")]
    public async Task A_wrong_limit_fails_start_up_naming_the_setting(string name, int value, string setting)
    {
        string limits = Regex.Replace(Limits, $"\"{name}\": \\d+", $"\"{name}\": {value}");
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestProvider.StartAsync(Backend.Sqlite, null, editSettings: path => SetLimits(path, limits)));
        Assert.Contains(setting, e.Message, StringComparison.Ordinal);
    }

    private static async Task<string> SendAsync(RawSmtp session, string message)
    {
        Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<carol@sender.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<alice@example.test>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await session.CommandAsync("DATA"), StringComparison.Ordinal);
        return await session.CommandAsync(message + ".\r\n", raw: true);
    }

    private static void SetLimits(string path, string limits) =>
        File.WriteAllText(path, Regex.Replace(File.ReadAllText(path), "\"mx\": \\{[^}]*\\}", limits));
}
