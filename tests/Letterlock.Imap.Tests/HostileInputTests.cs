using System.Net.Sockets;
using System.Text;
using Letterlock.Imap.Backend;
using Letterlock.Imap.InMemory;
using Letterlock.Imap.Protocol;
using Letterlock.Imap.Session;

namespace Letterlock.Imap.Tests;

/// <summary>Every limit of <see cref="ImapServerOptions"/> at its edge, and the three tiers of errors.</summary>
public sealed class HostileInputTests
{
    private static InMemoryBackend Backend()
    {
        var backend = new InMemoryBackend();
        backend.AddUser("alice", "secret");
        return backend;
    }

    private static async Task<PipeSession> LoggedIn(ImapServerOptions options, InMemoryBackend? backend = null, Action<ImapLogEntry>? log = null)
    {
        var session = new PipeSession(new ImapServerContext(options, backend ?? Backend(), log: log));
        await session.ReadLineAsync();
        Assert.EndsWith("Logged in", (await session.CommandAsync("l", "LOGIN alice secret"))[^1], StringComparison.Ordinal);
        return session;
    }

    [Fact]
    public void Options_refuse_values_outside_their_range_naming_the_setting()
    {
        var options = new ImapServerOptions();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxLineLength = 10);
        Assert.Equal(nameof(ImapServerOptions.MaxLineLength), e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxNestingDepth = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.FailedLoginDelay = TimeSpan.FromHours(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => options.NonSynchronizingLiteralLimit = 0);
    }

    [Fact]
    public async Task Over_long_line_gets_BAD_TOOBIG_and_the_session_goes_on()
    {
        await using var s = await LoggedIn(new ImapServerOptions { MaxLineLength = 1024 });
        var atLimit = await s.CommandAsync("t1", "LIST \"\" " + new string('x', 1024 - "t1 LIST \"\" ".Length));
        Assert.Equal("t1 OK LIST completed", atLimit[^1]);
        await s.SendLineAsync("t2 LIST \"\" " + new string('x', 5000));
        Assert.Equal("t2 BAD [TOOBIG] Command line too long", await s.ReadLineAsync());
        Assert.Equal("t3 OK NOOP completed", (await s.CommandAsync("t3", "NOOP"))[^1]);
    }

    [Fact]
    public async Task Append_limit_holds_at_its_edge_and_a_refused_literal_keeps_the_session()
    {
        var options = new ImapServerOptions { MaxMessageSize = 2048 };
        await using var s = await LoggedIn(options);
        var body = "Subject: x\r\n\r\n" + new string('y', 2048 - 14);
        await s.SendLineAsync("a1 APPEND INBOX {2048}");
        Assert.StartsWith("+ ", await s.ReadLineAsync(), StringComparison.Ordinal);
        await s.SendLineAsync(body);
        Assert.StartsWith("a1 OK [APPENDUID", (await s.ReadUntilTaggedAsync("a1"))[^1], StringComparison.Ordinal);

        await s.SendLineAsync("a2 APPEND INBOX {2049}");
        Assert.Equal("a2 NO [TOOBIG] Literal too large", await s.ReadLineAsync());
        Assert.Equal("a3 OK NOOP completed", (await s.CommandAsync("a3", "NOOP"))[^1]);

        // A non-synchronizing literal over the limit is already on its way: BYE and close.
        await s.SendLineAsync("a4 APPEND INBOX {2049+}");
        Assert.Equal("* BYE [TOOBIG] Literal too large", await s.ReadLineAsync());
        await s.Completion.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Literal_minus_advertises_itself_and_enforces_4096()
    {
        var options = new ImapServerOptions { NonSynchronizingLiteralLimit = 4096 };
        await using var s = new PipeSession(new ImapServerContext(options, Backend()));
        Assert.Contains("LITERAL-", await s.ReadLineAsync(), StringComparison.Ordinal);
        await s.SendAsync("l LOGIN {5+}\r\nalice secret\r\n");
        Assert.StartsWith("l OK", (await s.ReadUntilTaggedAsync("l"))[^1], StringComparison.Ordinal);
        var message = "Subject: x\r\n\r\n" + new string('z', 4096 - 14);
        await s.SendAsync("a APPEND INBOX {4096+}\r\n" + message + "\r\n");
        Assert.StartsWith("a OK [APPENDUID", (await s.ReadUntilTaggedAsync("a"))[^1], StringComparison.Ordinal);
        await s.SendAsync("b APPEND INBOX {4097+}\r\n");
        Assert.Equal("* BYE [TOOBIG] Literal too large", await s.ReadLineAsync());
    }

    [Fact]
    public async Task Nesting_and_sequence_set_limits_answer_BAD()
    {
        await using var s = await LoggedIn(new ImapServerOptions { MaxNestingDepth = 3, MaxSequenceSetRanges = 2 });
        await s.CommandAsync("s", "SELECT INBOX");
        Assert.Equal("n1 OK SEARCH completed", (await s.CommandAsync("n1", "SEARCH (((ALL)))"))[^1]);
        Assert.Equal("n2 BAD [CLIENTBUG] Parentheses nested too deeply", (await s.CommandAsync("n2", "SEARCH ((((ALL))))"))[^1]);
        Assert.Equal("n3 OK FETCH completed", (await s.CommandAsync("n3", "FETCH 1,2 FLAGS"))[^1]);
        Assert.Equal("n4 BAD [CLIENTBUG] Too many ranges in a sequence set", (await s.CommandAsync("n4", "FETCH 1,2,3 FLAGS"))[^1]);
    }

    [Fact]
    public async Task Multiappend_command_size_and_part_count_hold_at_their_edges()
    {
        var options = new ImapServerOptions { MaxCommandSize = 4096, MaxAppendParts = 3 };
        await using var s = await LoggedIn(options);
        static string Message(int size) => "Subject: x\r\n\r\n" + new string('y', size - 14);

        // "a APPEND INBOX {2000}\r\n" + 2000 bytes + " {2064}\r\n" reaches 4096 bytes at the second literal's end.
        await s.SendAsync("a APPEND INBOX {2000}\r\n");
        Assert.StartsWith("+ ", await s.ReadLineAsync(), StringComparison.Ordinal);
        await s.SendAsync(Message(2000) + " {2064}\r\n");
        Assert.StartsWith("+ ", await s.ReadLineAsync(), StringComparison.Ordinal);
        await s.SendAsync(Message(2064) + "\r\n");
        Assert.Equal("a OK [APPENDUID", (await s.ReadUntilTaggedAsync("a"))[^1][..15]);

        await s.SendAsync("b APPEND INBOX {2000}\r\n");
        Assert.StartsWith("+ ", await s.ReadLineAsync(), StringComparison.Ordinal);
        await s.SendAsync(Message(2000) + " {2065}\r\n");
        Assert.Equal("b NO [TOOBIG] Literal too large", await s.ReadLineAsync());
        Assert.Equal("c OK NOOP completed", (await s.CommandAsync("c", "NOOP"))[^1]);

        // Three messages are the limit; a fourth part (here a CATENATE part) is one too many.
        await s.SendAsync("d APPEND INBOX {15+}\r\n" + Message(15) + " {15+}\r\n" + Message(15) + " {15+}\r\n" + Message(15) + "\r\n");
        Assert.StartsWith("d OK [APPENDUID", (await s.ReadUntilTaggedAsync("d"))[^1], StringComparison.Ordinal);
        await s.SendAsync("e APPEND INBOX {15+}\r\n" + Message(15) + " CATENATE (TEXT {15+}\r\n" + Message(15) + " TEXT {1+}\r\nz)\r\n");
        Assert.Equal("e NO [LIMIT] Too many messages or parts in one APPEND", (await s.ReadUntilTaggedAsync("e"))[^1]);
        Assert.Equal(["* STATUS INBOX (MESSAGES 5)", "f OK STATUS completed"], await s.CommandAsync("f", "STATUS INBOX (MESSAGES)"));
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxCommandSize = 100);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxAppendParts = 0);
    }

    [Fact]
    public async Task Multiappend_through_the_default_implementation_is_all_or_none()
    {
        // A backend without its own AppendBatchAsync (as the bridge is) that refuses the third message: the two
        // already appended are removed again and the client gets NO.
        var backend = Backend();
        var context = new ImapServerContext(new ImapServerOptions(), new RefuseNthAppend(backend, refuse: 3));
        await using var s = new PipeSession(context);
        await s.ReadLineAsync();
        await s.CommandAsync("l", "LOGIN alice secret");
        await s.SendAsync("a APPEND INBOX {14+}\r\nSubject: 1\r\n\r\n {14+}\r\nSubject: 2\r\n\r\n {14+}\r\nSubject: 3\r\n\r\n\r\n");
        Assert.Equal("a NO [OVERQUOTA] Over quota", (await s.ReadUntilTaggedAsync("a"))[^1]);
        Assert.Equal("* STATUS INBOX (MESSAGES 0 UIDNEXT 3)", (await s.CommandAsync("b", "STATUS INBOX (MESSAGES UIDNEXT)"))[0]);
        await s.SendAsync("c APPEND INBOX {14+}\r\nSubject: 4\r\n\r\n {14+}\r\nSubject: 5\r\n\r\n\r\n");
        var ok = (await s.ReadUntilTaggedAsync("c"))[^1];
        Assert.StartsWith("c OK [APPENDUID ", ok, StringComparison.Ordinal);
        Assert.EndsWith(" 3:4] APPEND completed", ok, StringComparison.Ordinal);
    }

    /// <summary>An account whose AppendAsync refuses every Nth message; it has no AppendBatchAsync of its own.</summary>
    private sealed class RefuseNthAppend(InMemoryBackend inner, int refuse) : IImapAuthenticator
    {
        private readonly int _refuse = refuse;
        private int _appends;

        public async ValueTask<IMailAccount?> AuthenticateAsync(string user, string password, ImapConnectionInfo connection, CancellationToken ct)
        {
            var account = await inner.AuthenticateAsync(user, password, connection, ct);
            return account is null ? null : new Account(account, this);
        }

        private sealed class Account(IMailAccount inner, RefuseNthAppend owner) : IMailAccount
        {
            public string AccountKey => inner.AccountKey;
            public ValueTask DisposeAsync() => inner.DisposeAsync();
            public ValueTask<IReadOnlyList<MailboxInfo>> ListMailboxesAsync(CancellationToken ct) => inner.ListMailboxesAsync(ct);
            public ValueTask<IReadOnlyList<string>> ListSubscriptionsAsync(CancellationToken ct) => inner.ListSubscriptionsAsync(ct);
            public ValueTask SetSubscribedAsync(string name, bool subscribed, CancellationToken ct) => inner.SetSubscribedAsync(name, subscribed, ct);
            public ValueTask<MailboxOperationStatus> CreateMailboxAsync(string name, SpecialUse specialUse, CancellationToken ct) => inner.CreateMailboxAsync(name, specialUse, ct);
            public ValueTask<MailboxOperationStatus> DeleteMailboxAsync(MailboxId mailbox, CancellationToken ct) => inner.DeleteMailboxAsync(mailbox, ct);
            public ValueTask<MailboxOperationStatus> RenameMailboxAsync(MailboxId mailbox, string newName, CancellationToken ct) => inner.RenameMailboxAsync(mailbox, newName, ct);
            public ValueTask<MailboxStatus?> GetStatusAsync(MailboxId mailbox, CancellationToken ct) => inner.GetStatusAsync(mailbox, ct);
            public ValueTask<MailboxSnapshot?> OpenMailboxAsync(MailboxId mailbox, IMailboxListener listener, CancellationToken ct) => inner.OpenMailboxAsync(mailbox, listener, ct);
            public IAsyncEnumerable<MessageRecord> FetchAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, bool withStructure, CancellationToken ct) => inner.FetchAsync(mailbox, uids, withStructure, ct);
            public ValueTask<Stream?> OpenContentAsync(MailboxId mailbox, Uid uid, CancellationToken ct) => inner.OpenContentAsync(mailbox, uid, ct);
            public ValueTask<StoreResult> StoreFlagsAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, StoreMode mode, MessageFlags flags, ModSeq? unchangedSince, CancellationToken ct) => inner.StoreFlagsAsync(mailbox, uids, mode, flags, unchangedSince, ct);
            public ValueTask<CopyResult> CopyAsync(MailboxId source, IReadOnlyList<UidRange> uids, MailboxId target, bool move, CancellationToken ct) => inner.CopyAsync(source, uids, target, move, ct);
            public ValueTask<IReadOnlyList<Uid>> ExpungeAsync(MailboxId mailbox, IReadOnlyList<UidRange>? only, CancellationToken ct) => inner.ExpungeAsync(mailbox, only, ct);
            public ValueTask<IReadOnlyList<Uid>> SearchAsync(MailboxId mailbox, SearchKey key, CancellationToken ct) => inner.SearchAsync(mailbox, key, ct);
            public ValueTask<IReadOnlyList<Uid>> GetExpungedSinceAsync(MailboxId mailbox, ModSeq since, CancellationToken ct) => inner.GetExpungedSinceAsync(mailbox, since, ct);

            public ValueTask<AppendResult> AppendAsync(MailboxId mailbox, Stream content, MessageFlags flags, DateTimeOffset internalDate, CancellationToken ct) =>
                Interlocked.Increment(ref owner._appends) % owner._refuse == 0
                    ? ValueTask.FromResult(new AppendResult(MailboxOperationStatus.OverQuota, default, default))
                    : inner.AppendAsync(mailbox, content, flags, internalDate, ct);
        }
    }

    [Fact]
    public async Task Sessions_per_user_limit_holds_at_its_edge()
    {
        var backend = Backend();
        var context = new ImapServerContext(new ImapServerOptions { MaxSessionsPerUser = 2 }, backend);
        await using var a = new PipeSession(context);
        await using var b = new PipeSession(context);
        await using var c = new PipeSession(context);
        foreach (var s in new[] { a, b, c })
        {
            await s.ReadLineAsync();
        }

        Assert.StartsWith("1 OK", (await a.CommandAsync("1", "LOGIN alice secret"))[^1], StringComparison.Ordinal);
        Assert.StartsWith("2 OK", (await b.CommandAsync("2", "LOGIN alice secret"))[^1], StringComparison.Ordinal);
        Assert.Equal("3 NO [LIMIT] Too many sessions for this user", (await c.CommandAsync("3", "LOGIN alice secret"))[^1]);
        await a.CommandAsync("4", "LOGOUT");
        await a.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("5 OK", (await c.CommandAsync("5", "LOGIN alice secret"))[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failed_logins_are_delayed_by_the_configured_time_and_closed_after_the_maximum()
    {
        var clock = new RecordingClock();
        var options = new ImapServerOptions { FailedLoginDelay = TimeSpan.FromMilliseconds(250), MaxFailedLogins = 2 };
        await using var s = new PipeSession(new ImapServerContext(options, Backend(), clock));
        await s.ReadLineAsync();
        Assert.Equal("f1 NO [AUTHENTICATIONFAILED] Authentication failed", (await s.CommandAsync("f1", "LOGIN alice wrong"))[^1]);
        Assert.Contains(TimeSpan.FromMilliseconds(250), clock.Timers);
        var lines = await s.CommandAsync("f2", "AUTHENTICATE PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0wrong")));
        Assert.Equal(["* BYE Too many failed logins", "f2 NO [AUTHENTICATIONFAILED] Authentication failed"], lines);
        await s.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, clock.Timers.Count(t => t == TimeSpan.FromMilliseconds(250)));
    }

    [Fact]
    public async Task Too_many_malformed_commands_in_a_row_close_the_connection()
    {
        await using var s = await LoggedIn(new ImapServerOptions { MaxBadCommands = 3 });
        Assert.Equal("b1 BAD [CLIENTBUG] Unknown command", (await s.CommandAsync("b1", "FROB"))[^1]);
        Assert.Equal("b2 OK NOOP completed", (await s.CommandAsync("b2", "NOOP"))[^1]);
        await s.CommandAsync("b3", "FROB");
        await s.CommandAsync("b4", "FROB");
        await s.SendLineAsync("b5 FROB");
        Assert.Equal("b5 BAD [CLIENTBUG] Unknown command", await s.ReadLineAsync());
        Assert.Equal("* BYE Too many invalid commands", await s.ReadLineAsync());
        await s.Completion.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Unauthenticated_and_autologout_timeouts_say_BYE()
    {
        var options = new ImapServerOptions { UnauthenticatedTimeout = TimeSpan.FromMilliseconds(200), AutologoutTimeout = TimeSpan.FromMilliseconds(400) };
        await using var idle = new PipeSession(new ImapServerContext(options, Backend()));
        await idle.ReadLineAsync();
        Assert.Equal("* BYE Autologout; idle for too long", await idle.ReadLineAsync());
        await idle.Completion.WaitAsync(TimeSpan.FromSeconds(10));

        // The same timer runs during IDLE: a client must re-issue IDLE before it fires.
        await using var s = await LoggedIn(options);
        await s.CommandAsync("s", "SELECT INBOX");
        await s.SendLineAsync("i IDLE");
        Assert.Equal("+ idling", await s.ReadLineAsync());
        Assert.Equal("* BYE Autologout; idle for too long", await s.ReadLineAsync());
    }

    [Fact]
    public async Task Mailbox_name_keyword_and_search_result_limits_hold_at_their_edges()
    {
        var options = new ImapServerOptions { MaxMailboxNameLength = 16, MaxMailboxDepth = 2, MaxKeywordsPerMailbox = 2, MaxSearchResults = 2 };
        var backend = Backend();
        for (int i = 0; i < 3; i++)
        {
            backend.Import("alice", "INBOX", TestData.Message("m" + i));
        }

        await using var s = await LoggedIn(options, backend);
        Assert.Equal("c1 OK CREATE completed", (await s.CommandAsync("c1", "CREATE " + new string('a', 16)))[^1]);
        Assert.Equal("c2 NO [CANNOT] Invalid mailbox name length", (await s.CommandAsync("c2", "CREATE " + new string('a', 17)))[^1]);
        Assert.Equal("c3 OK CREATE completed", (await s.CommandAsync("c3", "CREATE a/b"))[^1]);
        Assert.Equal("c4 NO [CANNOT] Mailbox hierarchy too deep", (await s.CommandAsync("c4", "CREATE a/b/c"))[^1]);
        await s.CommandAsync("s", "SELECT INBOX");
        Assert.Equal("k1 OK STORE completed", (await s.CommandAsync("k1", "STORE 1 +FLAGS (k1 k2)"))[^1]);
        Assert.Equal("k2 NO [LIMIT] Too many keywords", (await s.CommandAsync("k2", "STORE 1 +FLAGS (k1 k2 k3)"))[^1]);
        Assert.Equal("q1 OK SEARCH completed", (await s.CommandAsync("q1", "SEARCH 1:2"))[^1]);
        Assert.Equal("q2 NO [LIMIT] Too many results", (await s.CommandAsync("q2", "SEARCH ALL"))[^1]);
    }

    [Fact]
    public async Task Backend_failure_answers_SERVERBUG_and_the_session_goes_on()
    {
        var backend = Backend();
        backend.Import("alice", "INBOX", TestData.Message("m"));
        var log = new List<ImapLogEntry>();
        var context = new ImapServerContext(new ImapServerOptions(), new FailingSearch(backend), log: e => { lock (log) { log.Add(e); } });
        await using var s = new PipeSession(context);
        await s.ReadLineAsync();
        await s.CommandAsync("l", "LOGIN alice secret");
        await s.CommandAsync("s", "SELECT INBOX");
        Assert.StartsWith("s OK", (await s.CommandAsync("s2", "NOOP"))[^1].Replace("s2", "s", StringComparison.Ordinal), StringComparison.Ordinal);
        var failed = await s.CommandAsync("x", "SEARCH TEXT boom");
        Assert.Equal("x NO [SERVERBUG] Internal server error", failed[^1]);
        Assert.DoesNotContain("secret", string.Join("\n", failed), StringComparison.Ordinal);
        Assert.Equal("y OK FETCH completed", (await s.CommandAsync("y", "FETCH 1 FLAGS"))[^1]);
        var error = Assert.Single(log, e => e.Level == ImapLogLevel.Error);
        Assert.IsType<IOException>(error.Exception, exactMatch: false);
        Assert.DoesNotContain("disk exploded", string.Join("\n", await s.CommandAsync("z", "NOOP")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Login_needs_TLS_or_loopback()
    {
        var context = new ImapServerContext(new ImapServerOptions(), Backend());
        await using var remote = new PipeSession(context, secure: false, loopback: false);
        var greeting = await remote.ReadLineAsync();
        Assert.Contains("LOGINDISABLED", greeting, StringComparison.Ordinal);
        Assert.DoesNotContain("AUTH=PLAIN", greeting, StringComparison.Ordinal);
        Assert.Equal("1 NO [PRIVACYREQUIRED] Login is only allowed over TLS", (await remote.CommandAsync("1", "LOGIN alice secret"))[^1]);
        Assert.Equal("2 NO [PRIVACYREQUIRED] Authentication is only allowed over TLS", (await remote.CommandAsync("2", "AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="))[^1]);

        await using var secure = new PipeSession(context, secure: true, loopback: false);
        Assert.Contains("AUTH=PLAIN", await secure.ReadLineAsync(), StringComparison.Ordinal);
        Assert.StartsWith("3 OK", (await secure.CommandAsync("3", "LOGIN alice secret"))[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Passwords_and_message_content_never_reach_the_log()
    {
        var log = new List<string>();
        var context = new ImapServerContext(new ImapServerOptions { FailedLoginDelay = TimeSpan.Zero }, Backend(), log: e => { lock (log) { log.Add(e.Message + e.Exception); } });
        await using var s = new PipeSession(context);
        await s.ReadLineAsync();
        await s.CommandAsync("a", "LOGIN alice Hunter2-wrong");
        await s.CommandAsync("b", "AUTHENTICATE PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0secret")));
        await s.SendAsync("c APPEND INBOX {31+}\r\nSubject: confidential-plan\r\n\r\nx\r\n");
        await s.ReadUntilTaggedAsync("c");
        await s.CommandAsync("d", "SELECT INBOX");
        await s.CommandAsync("e", "SEARCH TEXT secret-search-term");
        await s.CommandAsync("f", "LOGIN \"unbalanced Hunter3 stuff");
        var all = string.Join("\n", log);
        Assert.Contains("LOGIN alice ***", all, StringComparison.Ordinal);
        Assert.Contains("APPEND INBOX () {31}", all, StringComparison.Ordinal);
        foreach (var secret in new[] { "Hunter2", "secret", "AGFsaWNl", "confidential-plan", "secret-search-term", "Hunter3" })
        {
            Assert.DoesNotContain(secret, all, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Connection_limits_greet_the_extra_connection_with_BYE()
    {
        await using var server = new SocketServer(new ImapServerOptions { MaxConnections = 2 });
        using var one = new TcpClient();
        using var two = new TcpClient();
        await one.ConnectAsync("127.0.0.1", server.Port);
        await two.ConnectAsync("127.0.0.1", server.Port);
        Assert.StartsWith("* OK", await ReadLine(one), StringComparison.Ordinal);
        Assert.StartsWith("* OK", await ReadLine(two), StringComparison.Ordinal);
        using var three = new TcpClient();
        await three.ConnectAsync("127.0.0.1", server.Port);
        Assert.Equal("* BYE Too many connections", await ReadLine(three));

        await using var perAddress = new SocketServer(new ImapServerOptions { MaxConnectionsPerAddress = 1 });
        using var first = new TcpClient();
        await first.ConnectAsync("127.0.0.1", perAddress.Port);
        Assert.StartsWith("* OK", await ReadLine(first), StringComparison.Ordinal);
        using var second = new TcpClient();
        await second.ConnectAsync("127.0.0.1", perAddress.Port);
        Assert.Equal("* BYE Too many connections", await ReadLine(second));
    }

    [Fact]
    public async Task Graceful_shutdown_says_BYE_to_idle_sessions()
    {
        var server = new SocketServer();
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", server.Port);
        var reader = new StreamReader(client.GetStream(), Encoding.ASCII);
        Assert.StartsWith("* OK", await reader.ReadLineAsync(), StringComparison.Ordinal);
        await client.GetStream().WriteAsync("a LOGIN alice s3cret-pass\r\nb SELECT INBOX\r\nc IDLE\r\n"u8.ToArray());
        string? line;
        do
        {
            line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        while (line != "+ idling");

        await server.DisposeAsync();
        Assert.Equal("* BYE Server shutting down", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Null(await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, server.Server.ConnectionCount);
    }

    private static async Task<string?> ReadLine(TcpClient client)
    {
        var reader = new StreamReader(client.GetStream(), Encoding.ASCII, leaveOpen: true);
        return await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Records the timers the engine asks for (the failed-login delay) without asserting on wall-clock time.</summary>
    private sealed class RecordingClock : TimeProvider
    {
        public List<TimeSpan> Timers { get; } = [];

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            lock (Timers)
            {
                Timers.Add(dueTime);
            }

            return base.CreateTimer(callback, state, dueTime, period);
        }
    }

    /// <summary>A backend whose SEARCH throws, as a broken store would.</summary>
    private sealed class FailingSearch(InMemoryBackend inner) : IImapAuthenticator
    {
        public async ValueTask<IMailAccount?> AuthenticateAsync(string user, string password, ImapConnectionInfo connection, CancellationToken ct)
        {
            var account = await inner.AuthenticateAsync(user, password, connection, ct);
            return account is null ? null : new Account(account);
        }

        private sealed class Account(IMailAccount inner) : IMailAccount
        {
            public string AccountKey => inner.AccountKey;
            public ValueTask DisposeAsync() => inner.DisposeAsync();
            public ValueTask<IReadOnlyList<MailboxInfo>> ListMailboxesAsync(CancellationToken ct) => inner.ListMailboxesAsync(ct);
            public ValueTask<IReadOnlyList<string>> ListSubscriptionsAsync(CancellationToken ct) => inner.ListSubscriptionsAsync(ct);
            public ValueTask SetSubscribedAsync(string name, bool subscribed, CancellationToken ct) => inner.SetSubscribedAsync(name, subscribed, ct);
            public ValueTask<MailboxOperationStatus> CreateMailboxAsync(string name, SpecialUse specialUse, CancellationToken ct) => inner.CreateMailboxAsync(name, specialUse, ct);
            public ValueTask<MailboxOperationStatus> DeleteMailboxAsync(MailboxId mailbox, CancellationToken ct) => inner.DeleteMailboxAsync(mailbox, ct);
            public ValueTask<MailboxOperationStatus> RenameMailboxAsync(MailboxId mailbox, string newName, CancellationToken ct) => inner.RenameMailboxAsync(mailbox, newName, ct);
            public ValueTask<MailboxStatus?> GetStatusAsync(MailboxId mailbox, CancellationToken ct) => inner.GetStatusAsync(mailbox, ct);
            public ValueTask<MailboxSnapshot?> OpenMailboxAsync(MailboxId mailbox, IMailboxListener listener, CancellationToken ct) => inner.OpenMailboxAsync(mailbox, listener, ct);
            public IAsyncEnumerable<MessageRecord> FetchAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, bool withStructure, CancellationToken ct) => inner.FetchAsync(mailbox, uids, withStructure, ct);
            public ValueTask<Stream?> OpenContentAsync(MailboxId mailbox, Uid uid, CancellationToken ct) => inner.OpenContentAsync(mailbox, uid, ct);
            public ValueTask<StoreResult> StoreFlagsAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, StoreMode mode, MessageFlags flags, ModSeq? unchangedSince, CancellationToken ct) => inner.StoreFlagsAsync(mailbox, uids, mode, flags, unchangedSince, ct);
            public ValueTask<AppendResult> AppendAsync(MailboxId mailbox, Stream content, MessageFlags flags, DateTimeOffset internalDate, CancellationToken ct) => inner.AppendAsync(mailbox, content, flags, internalDate, ct);
            public ValueTask<CopyResult> CopyAsync(MailboxId source, IReadOnlyList<UidRange> uids, MailboxId target, bool move, CancellationToken ct) => inner.CopyAsync(source, uids, target, move, ct);
            public ValueTask<IReadOnlyList<Uid>> ExpungeAsync(MailboxId mailbox, IReadOnlyList<UidRange>? only, CancellationToken ct) => inner.ExpungeAsync(mailbox, only, ct);
            public ValueTask<IReadOnlyList<Uid>> SearchAsync(MailboxId mailbox, SearchKey key, CancellationToken ct) =>
                key is TextKey ? throw new IOException("disk exploded at /secret/path") : inner.SearchAsync(mailbox, key, ct);
            public ValueTask<IReadOnlyList<Uid>> GetExpungedSinceAsync(MailboxId mailbox, ModSeq since, CancellationToken ct) => inner.GetExpungedSinceAsync(mailbox, since, ct);
        }
    }
}
