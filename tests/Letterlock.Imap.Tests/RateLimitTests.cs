using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Letterlock.Imap.InMemory;
using Letterlock.Imap.Session;
using MailKit;
using MailKit.Net.Imap;

namespace Letterlock.Imap.Tests;

/// <summary>
/// The command rate limit paces clients (backpressure) and never refuses a well-behaved one: clock-driven
/// edge tests, the pipelining patterns of Thunderbird and MailKit, and real mbsync mirroring the shared corpus.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class RateLimitTests
{
    private static InMemoryBackend Backend(int messages = 0)
    {
        var backend = new InMemoryBackend();
        backend.AddUser("alice", "secret");
        for (int i = 1; i <= messages; i++)
        {
            backend.Import("alice", "INBOX", TestData.Message("Message " + i, "Body " + i + "\r\n"));
        }

        return backend;
    }

    [Fact]
    public async Task Commands_past_the_burst_wait_for_the_budget_and_all_succeed()
    {
        var clock = new SteppingClock();
        var options = new ImapServerOptions { MaxCommandsPerSecond = 10, CommandBurst = 3, FailedLoginDelay = TimeSpan.Zero };
        await using var s = new PipeSession(new ImapServerContext(options, Backend(), clock));
        await s.ReadLineAsync();

        // Twenty commands in one write, as a pipelining client sends them: the first three use the burst,
        // the other seventeen wait for the budget (at 10/s) and none is refused.
        var batch = new StringBuilder();
        for (int i = 0; i < 20; i++)
        {
            batch.Append(CultureInfo.InvariantCulture, $"n{i} NOOP\r\n");
        }

        await s.SendAsync(batch.ToString());
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal($"n{i} OK NOOP completed", await s.ReadLineAsync());
        }

        // The waits went through the clock: 17 commands at 10/s is at least 1.7 s of waiting.
        Assert.True(clock.Waited >= TimeSpan.FromSeconds(1.7), $"waited only {clock.Waited}");
        Assert.True(clock.Waited <= TimeSpan.FromSeconds(2.5), $"waited {clock.Waited}");
    }

    [Fact]
    public async Task Flooding_past_the_abuse_threshold_gets_NO_LIMIT_and_BYE_at_its_edge()
    {
        var clock = new SteppingClock();
        var options = new ImapServerOptions { MaxCommandsPerSecond = 1, CommandBurst = 2, MaxPacedCommands = 3, FailedLoginDelay = TimeSpan.Zero };
        await using var s = new PipeSession(new ImapServerContext(options, Backend(), clock));
        await s.ReadLineAsync();
        await s.SendAsync("a NOOP\r\nb NOOP\r\nc NOOP\r\nd NOOP\r\ne NOOP\r\nf NOOP\r\n");
        // a and b use the burst; c, d and e wait (three in a row at the pace: the limit); f is one more.
        foreach (var tag in new[] { "a", "b", "c", "d", "e" })
        {
            Assert.Equal(tag + " OK NOOP completed", await s.ReadLineAsync());
        }

        Assert.Equal("f NO [LIMIT] Too many commands", await s.ReadLineAsync());
        Assert.Equal("* BYE Too many commands without pause", await s.ReadLineAsync());
        await s.Completion.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_client_that_lets_the_budget_refill_starts_the_abuse_count_again()
    {
        var clock = new SteppingClock();
        var options = new ImapServerOptions { MaxCommandsPerSecond = 1, CommandBurst = 1, MaxPacedCommands = 2, FailedLoginDelay = TimeSpan.Zero };
        await using var s = new PipeSession(new ImapServerContext(options, Backend(), clock));
        await s.ReadLineAsync();
        for (int round = 0; round < 3; round++)
        {
            // One from the budget, two paced (the limit), then a pause that refills the budget.
            await s.SendAsync($"a{round} NOOP\r\nb{round} NOOP\r\nc{round} NOOP\r\n");
            Assert.Equal($"a{round} OK NOOP completed", await s.ReadLineAsync());
            Assert.Equal($"b{round} OK NOOP completed", await s.ReadLineAsync());
            Assert.Equal($"c{round} OK NOOP completed", await s.ReadLineAsync());
            clock.Advance(TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public void Abuse_threshold_is_validated_naming_the_setting()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new ImapServerOptions().MaxPacedCommands = 0);
        Assert.Equal(nameof(ImapServerOptions.MaxPacedCommands), e.ParamName);
        Assert.Equal(5_000_000, new ImapServerOptions().MaxPacedCommands);
    }

    /// <summary>
    /// Thunderbird's pattern: at start-up it pipelines a STATUS per folder, then, for each new message, a
    /// chunked partial body fetch, all in one write and without waiting for answers.
    /// </summary>
    [Fact]
    public async Task Thunderbird_style_pipelined_burst_is_paced_and_fully_answered()
    {
        var backend = Backend(messages: 40);
        var log = new List<ImapLogEntry>();
        var options = new ImapServerOptions { MaxCommandsPerSecond = 100, CommandBurst = 10 };
        await using var server = new SocketServer(options, backend: backend, log: log);
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", server.Port);
        var stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.Latin1);
        Assert.StartsWith("* OK", await reader.ReadLineAsync(), StringComparison.Ordinal);

        var tags = new List<string>();
        var batch = new StringBuilder("1 LOGIN alice secret\r\n2 LIST \"\" \"*\"\r\n");
        tags.AddRange(["1", "2"]);
        int n = 3;
        foreach (var folder in new[] { "INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive" })
        {
            batch.Append(CultureInfo.InvariantCulture, $"{n} STATUS {folder} (UIDNEXT MESSAGES UNSEEN RECENT)\r\n");
            tags.Add((n++).ToString(CultureInfo.InvariantCulture));
        }

        batch.Append(CultureInfo.InvariantCulture, $"{n} SELECT INBOX\r\n");
        tags.Add((n++).ToString(CultureInfo.InvariantCulture));
        for (int uid = 1; uid <= 40; uid++)
        {
            batch.Append(CultureInfo.InvariantCulture, $"{n} UID FETCH {uid} (UID RFC822.SIZE FLAGS BODY.PEEK[]<0.10240>)\r\n");
            tags.Add((n++).ToString(CultureInfo.InvariantCulture));
        }

        await stream.WriteAsync(Encoding.ASCII.GetBytes(batch.ToString()));
        var tagged = new List<string>();
        while (tagged.Count < tags.Count)
        {
            var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)) ?? throw new EndOfStreamException();
            if (System.Text.RegularExpressions.Regex.IsMatch(line, "^[0-9]+ (OK|NO|BAD) "))
            {
                tagged.Add(line);
            }
        }

        Assert.Equal(tags, tagged.Select(l => l.Split(' ')[0]));
        Assert.All(tagged, l => Assert.Contains(" OK ", l, StringComparison.Ordinal));
        lock (log)
        {
            Assert.Contains(log, e => e.Message.StartsWith("Pacing", StringComparison.Ordinal));
        }
    }

    /// <summary>MailKit's pattern: one small command after another as fast as the answers come (GetMessage per UID).</summary>
    [Fact]
    public async Task MailKit_fetching_message_by_message_is_paced_and_never_refused()
    {
        var backend = Backend(messages: 120);
        var log = new List<ImapLogEntry>();
        await using var server = new SocketServer(new ImapServerOptions { MaxCommandsPerSecond = 200, CommandBurst = 20 }, backend: backend, log: log);
        using var client = new ImapClient { Timeout = 60_000 };
        await client.ConnectAsync("127.0.0.1", server.Port, MailKit.Security.SecureSocketOptions.None);
        await client.AuthenticateAsync("alice", "secret");
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var uids = await client.Inbox.SearchAsync(MailKit.Search.SearchQuery.All);
        Assert.Equal(120, uids.Count);
        for (int i = 0; i < uids.Count; i++)
        {
            var message = await client.Inbox.GetMessageAsync(uids[i]);
            Assert.Equal("Message " + (i + 1), message.Subject);
            await client.Inbox.AddFlagsAsync(uids[i], MessageFlags.Flagged, silent: true);
        }

        await client.DisconnectAsync(true);
        lock (log)
        {
            Assert.Contains(log, e => e.Message.StartsWith("Pacing", StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// Real mbsync (isync) mirrors the whole shared corpus from `letterlock imap serve` with the default
    /// limits and fsync off, which is as fast as it can pull: every message arrives, byte for byte.
    /// </summary>
    [Fact]
    public async Task Mbsync_mirrors_the_whole_corpus_from_imap_serve_at_full_speed()
    {
        var dir = Directory.CreateTempSubdirectory("letterlock-mbsync-");
        try
        {
            var exe = Path.Combine(AppContext.BaseDirectory, "letterlock.dll");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { exe, "imap", "serve", "--memory", "--user", "alice", "--password", "pw-mirror", "--port", "0", "--import", TestData.SpamAssassin })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            try
            {
                int port = 0;
                string? line;
                while ((line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(120))) is not null)
                {
                    if (line.StartsWith("Listening on 127.0.0.1:", StringComparison.Ordinal))
                    {
                        port = int.Parse(line["Listening on 127.0.0.1:".Length..].Split(' ')[0], CultureInfo.InvariantCulture);
                        break;
                    }
                }

                Assert.NotEqual(0, port);
                var output = await RunMbsyncAsync(dir.FullName, port, "alice", "pw-mirror");
                AssertMirrored(TestData.AllMessages().ToList(), Path.Combine(dir.FullName, "mail", "INBOX"), output);
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The same mirror of a slice of the corpus with a pace low enough that mbsync spends most of the run held back.</summary>
    [Fact]
    public async Task Mbsync_held_back_by_backpressure_still_mirrors_every_message()
    {
        var files = TestData.AllMessages().Take(300).ToList();
        var backend = new InMemoryBackend();
        backend.AddUser(SocketServer.User, SocketServer.Password);
        foreach (var file in files)
        {
            backend.Import(SocketServer.User, "INBOX", await File.ReadAllBytesAsync(file));
        }

        var log = new List<ImapLogEntry>();
        await using var server = new SocketServer(new ImapServerOptions { MaxCommandsPerSecond = 300, CommandBurst = 30 }, backend: backend, log: log);
        var dir = Directory.CreateTempSubdirectory("letterlock-mbsync-");
        try
        {
            var output = await RunMbsyncAsync(dir.FullName, server.Port, SocketServer.User, SocketServer.Password);
            AssertMirrored(files, Path.Combine(dir.FullName, "mail", "INBOX"), output);
            lock (log)
            {
                Assert.Contains(log, e => e.Message.StartsWith("Pacing", StringComparison.Ordinal));
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task<string> RunMbsyncAsync(string dir, int port, string user, string password)
    {
        var mail = Path.Combine(dir, "mail");
        Directory.CreateDirectory(mail);
        var config = Path.Combine(dir, "mbsyncrc");
        await File.WriteAllTextAsync(config, $"""
            FSync no

            IMAPAccount test
            Host 127.0.0.1
            Port {port}
            User {user}
            Pass {password}
            SSLType None
            AuthMechs LOGIN

            IMAPStore remote
            Account test

            MaildirStore local
            Path {mail}/
            Inbox {mail}/INBOX

            Channel mirror
            Far :remote:
            Near :local:
            Patterns *
            Create Near
            SyncState *

            """);
        var start = new ProcessStartInfo("mbsync") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-c", config, "-a" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"mbsync failed ({process.ExitCode}):\n{output}");
        return output;
    }

    /// <summary>Every original arrived once, with the same bytes (mbsync stores LF line ends and may add an X-TUID header).</summary>
    private static void AssertMirrored(List<string> originals, string maildir, string mbsyncOutput)
    {
        Assert.DoesNotContain("error", mbsyncOutput, StringComparison.OrdinalIgnoreCase);
        var mirrored = Directory.EnumerateFiles(Path.Combine(maildir, "cur"))
            .Concat(Directory.EnumerateFiles(Path.Combine(maildir, "new")))
            .Select(f => Digest(File.ReadAllBytes(f)))
            .Order(StringComparer.Ordinal)
            .ToList();
        var expected = originals.Select(f => Digest(File.ReadAllBytes(f))).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected.Count, mirrored.Count);
        Assert.Equal(expected, mirrored);

        static string Digest(byte[] bytes)
        {
            var text = Encoding.Latin1.GetString(bytes).Replace("\r", "", StringComparison.Ordinal);
            var lines = text.Split('\n').Where(l => !l.StartsWith("X-TUID: ", StringComparison.Ordinal));
            return Convert.ToHexString(SHA256.HashData(Encoding.Latin1.GetBytes(string.Join('\n', lines).TrimEnd('\n'))));
        }
    }

    /// <summary>
    /// A clock the test drives: timers up to ten seconds (the pacing waits) fire at once and move the clock
    /// on by their due time; longer ones (autologout) never fire. No test step depends on real time.
    /// </summary>
    private sealed class SteppingClock : TimeProvider
    {
        private long _ticks;
        private long _waited;

        public TimeSpan Waited => TimeSpan.FromTicks(Interlocked.Read(ref _waited));

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(GetTimestamp());

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            if (dueTime >= TimeSpan.Zero && dueTime <= TimeSpan.FromSeconds(10))
            {
                Advance(dueTime);
                Interlocked.Add(ref _waited, dueTime.Ticks);
                ThreadPool.QueueUserWorkItem(_ => callback(state));
            }

            return new DormantTimer();
        }

        private sealed class DormantTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
