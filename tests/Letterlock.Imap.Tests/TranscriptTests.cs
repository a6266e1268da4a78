using System.Text;
using System.Text.RegularExpressions;
using Letterlock.Imap.Backend;
using Letterlock.Imap.InMemory;

namespace Letterlock.Imap.Tests;

/// <summary>
/// Replays <c>Transcripts/*.txt</c> over in-memory pipes (MailKit's recorded-transcript idea). Format:
/// <c>C: line</c> is sent by the client, <c>S: line</c> must be the next line from the server, where
/// <c>{*}</c> matches anything; <c>C2:</c>/<c>S2:</c> talk to a second session. Directives:
/// <c>! fill MAILBOX N</c> appends N messages "Message i", <c>! append MAILBOX (flags) text</c> with
/// <c>|</c> standing for CRLF, <c>! option Name=Value</c> before the first command.
/// Every session starts logged out; the user is alice / secret.
/// </summary>
public sealed class TranscriptTests
{
    public static IEnumerable<object[]> Files() =>
        Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "Transcripts"), "*.txt")
            .Order(StringComparer.Ordinal)
            .Select(f => new object[] { Path.GetFileName(f) });

    [Theory]
    [MemberData(nameof(Files))]
    public async Task Transcript(string file)
    {
        var lines = await File.ReadAllLinesAsync(Path.Combine(AppContext.BaseDirectory, "Transcripts", file));
        // A fixed clock makes UIDVALIDITY predictable: INBOX gets 767225600.
        var backend = new InMemoryBackend(time: new FixedClock());
        backend.AddUser("alice", "secret");
        var options = new ImapServerOptions { FailedLoginDelay = TimeSpan.FromMilliseconds(10) };
        var sessions = new Dictionary<string, PipeSession>();
        Session.ImapServerContext? context = null;
        try
        {
            for (int n = 0; n < lines.Length; n++)
            {
                var line = lines[n];
                if (line.Length == 0 || line.StartsWith('#'))
                {
                    continue;
                }

                if (line.StartsWith("! ", StringComparison.Ordinal))
                {
                    Directive(backend, options, line[2..]);
                    continue;
                }

                int colon = line.IndexOf(':', StringComparison.Ordinal);
                var who = line[..colon];
                var text = line[(colon + 1)..];
                if (text.StartsWith(' '))
                {
                    text = text[1..];
                }

                var id = who[1..];
                if (!sessions.TryGetValue(id, out var session))
                {
                    // One server context for all sessions, as a real server has (session counts, \Recent).
                    context ??= TestData.Context(backend, options);
                    session = new PipeSession(context);
                    sessions[id] = session;
                    var greeting = await session.ReadLineAsync();
                    Assert.StartsWith("* OK", greeting, StringComparison.Ordinal);
                }

                if (who[0] == 'C')
                {
                    await session.SendLineAsync(text);
                }
                else
                {
                    string? actual;
                    try
                    {
                        actual = await session.ReadLineAsync(5000);
                    }
                    catch (TimeoutException)
                    {
                        actual = "<no response>";
                    }

                    var pattern = "^" + Regex.Escape(text).Replace(@"\{\*}", ".*", StringComparison.Ordinal) + "$";
                    Assert.True(actual is not null && Regex.IsMatch(actual, pattern),
                        $"{file}:{n + 1}: expected\n  {text}\nbut the server sent\n  {actual}");
                }
            }
        }
        finally
        {
            foreach (var s in sessions.Values)
            {
                await s.DisposeAsync();
            }
        }
    }

    private sealed class FixedClock : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    }

    private static void Directive(InMemoryBackend backend, ImapServerOptions options, string directive)
    {
        var parts = directive.Split(' ', 3);
        switch (parts[0])
        {
            case "fill":
                for (int i = 1; i <= int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture); i++)
                {
                    backend.Import("alice", parts[1], Encoding.ASCII.GetBytes(
                        $"From: Sender {i} <sender{i}@example.org>\r\nTo: alice@example.org\r\nSubject: Message {i}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{i}@example.org>\r\n\r\nBody of message {i}\r\n"),
                        internalDate: new DateTimeOffset(1994, 2, 7, 21, 52, 25, TimeSpan.FromHours(-8)));
                }

                break;
            case "append":
            {
                var rest = parts[2];
                var flags = MessageFlags.Empty;
                if (rest.StartsWith('('))
                {
                    int close = rest.IndexOf(')', StringComparison.Ordinal);
                    flags = MessageFlags.FromNames(rest[1..close].Split(' ', StringSplitOptions.RemoveEmptyEntries))!;
                    rest = rest[(close + 2)..];
                }

                backend.Import("alice", parts[1], Encoding.ASCII.GetBytes(rest.Replace("|", "\r\n", StringComparison.Ordinal)), flags,
                    new DateTimeOffset(1994, 2, 7, 21, 52, 25, TimeSpan.FromHours(-8)));
                break;
            }

            case "option":
            {
                var (name, value) = (directive[7..].Split('=')[0], directive[7..].Split('=')[1]);
                var property = typeof(ImapServerOptions).GetProperty(name)!;
                object converted = property.PropertyType == typeof(TimeSpan) ? TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture)
                    : property.PropertyType == typeof(int?) ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture)
                    : Convert.ChangeType(value, property.PropertyType, System.Globalization.CultureInfo.InvariantCulture);
                property.SetValue(options, converted);
                break;
            }

            default:
                throw new InvalidOperationException("Unknown directive " + directive);
        }
    }
}
