using System.Net;
using System.Text;
using Letterlock.Smtp;

namespace Letterlock.Provider.Tests;

/// <summary>The role-neutral SMTP front end with a recording backend: limits at their edges, transactions.</summary>
public sealed class SmtpFrontEndTests
{
    private sealed class RecordingBackend : ISmtpBackend
    {
        public List<(string From, List<string> To, byte[] Body)> Committed { get; } = [];

        public int Aborted;

        public List<SmtpSessionInfo> Started { get; } = [];

        public ValueTask<SmtpDeliveryStart> StartDeliveryAsync(SmtpSessionInfo session, string reversePath, long declaredSize, CancellationToken ct)
        {
            lock (Started)
            {
                Started.Add(session);
            }

            return ValueTask.FromResult(reversePath.StartsWith("spammer@", StringComparison.Ordinal)
                ? SmtpDeliveryStart.Reject(SmtpReply.SenderRejected)
                : SmtpDeliveryStart.Accept(new Delivery(this, reversePath)));
        }

        private sealed class Delivery(RecordingBackend backend, string from) : ISmtpDelivery
        {
            private readonly List<string> _to = [];
            private readonly MemoryStream _body = new();
            private bool _done;

            public ValueTask<SmtpReply> AddRecipientAsync(string forwardPath, CancellationToken ct)
            {
                if (forwardPath.StartsWith("full@", StringComparison.Ordinal))
                {
                    // what a full disk looks like on Linux: ENOSPC
                    throw new IOException("No space left on device", 28);
                }

                if (forwardPath.StartsWith("broken@", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException("a bug");
                }

                _to.Add(forwardPath);
                return ValueTask.FromResult(SmtpReply.RecipientOk);
            }

            public ValueTask WriteBodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken ct)
            {
                _body.Write(chunk.Span);
                return ValueTask.CompletedTask;
            }

            public ValueTask<SmtpReply> CommitAsync(CancellationToken ct)
            {
                _done = true;
                lock (backend.Committed)
                {
                    backend.Committed.Add((from, _to, _body.ToArray()));
                }

                return ValueTask.FromResult(SmtpReply.Ok);
            }

            public ValueTask AbortAsync()
            {
                if (!_done)
                {
                    Interlocked.Increment(ref backend.Aborted);
                }

                _done = true;
                return ValueTask.CompletedTask;
            }

            public ValueTask DisposeAsync() => AbortAsync();
        }
    }

    private static byte[] Utf8(string line) => Encoding.UTF8.GetBytes(line + "\r\n");

    private static SmtpFrontEnd Start(RecordingBackend backend, Action<SmtpFrontEndOptions>? configure = null)
    {
        var options = new SmtpFrontEndOptions { ServerName = "smtp.test", InsufficientStorage = e => e is IOException { HResult: 28 } };
        options.Listeners.Add(new SmtpListenerOptions { Name = "test", EndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        configure?.Invoke(options);
        return SmtpFrontEnd.Start(options, backend);
    }

    [Fact]
    public async Task A_transaction_streams_its_body_and_RSET_or_a_dropped_connection_aborts()
    {
        var backend = new RecordingBackend();
        await using var server = Start(backend);
        await using (var session = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]))
        {
            await session.CommandAsync("EHLO c.test");
            Assert.StartsWith("550 5.7.1", await session.CommandAsync("MAIL FROM:<spammer@x.test>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<b@y.test>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await session.CommandAsync("RSET"), StringComparison.Ordinal);
            Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<c@y.test>"), StringComparison.Ordinal);
            Assert.StartsWith("354", await session.CommandAsync("DATA"), StringComparison.Ordinal);
            Assert.StartsWith("250 2.0.0", await session.CommandAsync("Subject: t\r\n\r\n..dot\r\nend\r\n.\r\n", raw: true), StringComparison.Ordinal);
            Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
            Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<d@y.test>"), StringComparison.Ordinal);
        }

        var (from, to, body) = Assert.Single(backend.Committed);
        Assert.Equal("a@x.test", from);
        Assert.Equal(["c@y.test"], to);
        Assert.Equal("Subject: t\r\n\r\n.dot\r\nend\r\n", Encoding.ASCII.GetString(body));
        await WaitForAsync(() => Volatile.Read(ref backend.Aborted) >= 2);
        Assert.Equal(2, Volatile.Read(ref backend.Aborted));
    }

    [Fact]
    public async Task Connections_per_client_beyond_the_limit_get_421()
    {
        var backend = new RecordingBackend();
        await using var server = Start(backend, o => o.MaxConnectionsPerClient = 2);
        await using var first = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        await using var second = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        using var third = new System.Net.Sockets.TcpClient();
        await third.ConnectAsync(IPAddress.Loopback, server.BoundEndpoints[0].Port);
        using var reader = new StreamReader(third.GetStream(), Encoding.ASCII);
        Assert.StartsWith("421 4.7.0", await reader.ReadLineAsync(), StringComparison.Ordinal);
        Assert.Null(await reader.ReadLineAsync());

        // Once the server has seen the second connection close, a new one is let in (polled: how soon it sees the
        // close depends on the machine's load; the deadline only bounds a hang).
        await second.DisposeAsync();
        string? greeting = null;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            using var attempt = new System.Net.Sockets.TcpClient();
            await attempt.ConnectAsync(IPAddress.Loopback, server.BoundEndpoints[0].Port, deadline.Token);
            using var attemptReader = new StreamReader(attempt.GetStream(), Encoding.ASCII);
            greeting = await attemptReader.ReadLineAsync(deadline.Token);
            if (greeting is not null && !greeting.StartsWith("421", StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(50, deadline.Token);
        }

        Assert.StartsWith("220", greeting, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_connection_rate_per_client_is_limited()
    {
        var backend = new RecordingBackend();
        await using var server = Start(backend, o => o.MaxConnectionRatePerClient = 3);
        for (int i = 0; i < 3; i++)
        {
            await using var session = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        }

        using var fourth = new System.Net.Sockets.TcpClient();
        await fourth.ConnectAsync(IPAddress.Loopback, server.BoundEndpoints[0].Port);
        using var reader = new StreamReader(fourth.GetStream(), Encoding.ASCII);
        Assert.StartsWith("421 4.7.0", await reader.ReadLineAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_command_line_at_the_limit_is_accepted_and_one_byte_more_is_refused()
    {
        var backend = new RecordingBackend();
        await using var server = Start(backend, o => o.MaxCommandLineLength = 512);
        await using var session = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        string atLimit = "HELO " + new string('x', 512 - 2 - 5);
        Assert.StartsWith("250", await session.CommandAsync(atLimit), StringComparison.Ordinal);
        Assert.StartsWith("500 5.5.2", await session.CommandAsync(atLimit + "x"), StringComparison.Ordinal);
        Assert.Null(await session.ReadReplyOrNullAsync());
    }

    [Fact]
    public async Task Smtputf8_is_advertised_and_honoured_and_utf8_or_malformed_addresses_without_it_are_refused()
    {
        var backend = new RecordingBackend();
        await using var server = Start(backend);
        await using var session = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        string ehlo = await session.CommandAsync("EHLO c.test");
        Assert.Contains("250-SMTPUTF8", ehlo, StringComparison.Ordinal);
        Assert.Contains("250-8BITMIME", ehlo, StringComparison.Ordinal);

        // without SMTPUTF8 on MAIL FROM no address may hold UTF-8 (RFC 6531, 3.4); an A-label is ASCII and fine
        Assert.StartsWith("553 5.6.7", await session.CommandAsync(Utf8("MAIL FROM:<zoë@x.test>")), StringComparison.Ordinal);
        Assert.StartsWith("553 5.6.7", await session.CommandAsync(Utf8("MAIL FROM:<a@bücher.test>")), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
        Assert.StartsWith("553 5.6.7", await session.CommandAsync(Utf8("RCPT TO:<zoë@y.test>")), StringComparison.Ordinal);
        Assert.StartsWith("553 5.6.7", await session.CommandAsync(Utf8("RCPT TO:<user@bücher.test>")), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<user@xn--bcher-kva.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RSET"), StringComparison.Ordinal);

        // malformed UTF-8 (a truncated sequence, an overlong encoding of '/') is refused with SMTPUTF8 too
        Assert.StartsWith("553 5.1.7", await session.CommandAsync([.. "MAIL FROM:<"u8, 0xC3, 0x28, .. "@x.test> SMTPUTF8\r\n"u8]), StringComparison.Ordinal);
        Assert.StartsWith("553 5.1.7", await session.CommandAsync([.. "MAIL FROM:<a"u8, 0xC0, 0xAF, .. "@x.test> SMTPUTF8\r\n"u8]), StringComparison.Ordinal);
        Assert.StartsWith("555 5.5.4", await session.CommandAsync("MAIL FROM:<a@x.test> SMTPUTF8=yes"), StringComparison.Ordinal);

        // with it, UTF-8 local parts and U-labels reach the backend exactly as written
        Assert.StartsWith("250", await session.CommandAsync(Utf8("MAIL FROM:<jürgen@x.test> SMTPUTF8 BODY=8BITMIME")), StringComparison.Ordinal);
        Assert.StartsWith("553 5.1.3", await session.CommandAsync([.. "RCPT TO:<"u8, 0xFF, .. "@y.test>\r\n"u8]), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync(Utf8("RCPT TO:<zoë@y.test>")), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync(Utf8("RCPT TO:<user@bücher.test>")), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync(Utf8("RCPT TO:<δοκιμή@παράδειγμα.test>")), StringComparison.Ordinal);
        Assert.StartsWith("354", await session.CommandAsync("DATA"), StringComparison.Ordinal);
        byte[] content = Encoding.UTF8.GetBytes("Subject: Grüße\r\nTo: zoë@y.test\r\n\r\nHallo\r\n");
        Assert.StartsWith("250", await session.CommandAsync([.. content, .. ".\r\n"u8]), StringComparison.Ordinal);

        var (from, to, body) = Assert.Single(backend.Committed);
        Assert.Equal("jürgen@x.test", from);
        Assert.Equal(["zoë@y.test", "user@bücher.test", "δοκιμή@παράδειγμα.test"], to);
        Assert.Equal(content, body);
        var info = backend.Started.Last();
        Assert.True(info.Utf8);
        Assert.Equal("UTF8SMTP", info.Protocol);
        Assert.Equal("c.test", info.HeloName);
    }

    [Fact]
    public async Task A_bare_LF_gets_an_error_reply_in_a_command_and_ends_the_session_in_content_with_nothing_kept()
    {
        var backend = new RecordingBackend();
        await using var server = Start(backend);
        await using var session = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        Assert.StartsWith("500 5.5.2", await session.CommandAsync("EHLO c.test\n"u8.ToArray()), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("EHLO c.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<b@y.test>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await session.CommandAsync("DATA"), StringComparison.Ordinal);

        // a client that ends lines (and the content) with LF alone: it hears why at once instead of waiting forever
        Assert.StartsWith("554 5.5.2", await session.CommandAsync("Subject: x\n\nbody\n.\n"u8.ToArray()), StringComparison.Ordinal);
        Assert.Null(await session.ReadReplyOrNullAsync());
        Assert.Empty(backend.Committed);
        await WaitForAsync(() => Volatile.Read(ref backend.Aborted) == 1);
    }

    [Fact]
    public async Task Chunking_takes_bdat_chunks_within_the_size_limit_and_stays_in_step_after_a_refused_chunk()
    {
        var backend = new RecordingBackend();
        await using var server = Start(backend, o => o.MaxMessageSize = 100);
        await using var session = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        Assert.Contains("250-CHUNKING", await session.CommandAsync("EHLO c.test"), StringComparison.Ordinal);

        // refused, but its bytes are read (RFC 3030, 2), so the next command is still understood
        Assert.StartsWith("503", await session.CommandAsync("BDAT 5\r\nhello"u8.ToArray()), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("NOOP"), StringComparison.Ordinal);

        Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<b@y.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0 10 octets", await session.CommandAsync("BDAT 10\r\nSubject: x"u8.ToArray()), StringComparison.Ordinal);
        Assert.StartsWith("503", await session.CommandAsync("DATA"), StringComparison.Ordinal);
        // binary-safe: no dot-stuffing, a lone "." line is content
        Assert.StartsWith("250 2.0.0", await session.CommandAsync("BDAT 10 LAST\r\n\r\n\r\n.\r\nb\r\n"u8.ToArray()), StringComparison.Ordinal);
        var (_, to, body) = Assert.Single(backend.Committed);
        Assert.Equal(["b@y.test"], to);
        Assert.Equal("Subject: x\r\n\r\n.\r\nb\r\n", Encoding.ASCII.GetString(body));

        // the size limit holds at its edge over the chunks of one message; one byte more ends the session
        Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<c@y.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync([.. "BDAT 60\r\n"u8, .. new byte[60]]), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync([.. "BDAT 40 LAST\r\n"u8, .. new byte[40]]), StringComparison.Ordinal);
        Assert.Equal(100, backend.Committed[1].Body.Length);
        Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<d@y.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync([.. "BDAT 60\r\n"u8, .. new byte[60]]), StringComparison.Ordinal);
        Assert.StartsWith("552 5.3.4", await session.CommandAsync("BDAT 41 LAST\r\n"u8.ToArray()), StringComparison.Ordinal);
        Assert.Null(await session.ReadReplyOrNullAsync());
        Assert.Equal(2, backend.Committed.Count);
    }

    [Fact]
    public async Task Mailkit_sends_with_bdat_when_it_prefers_chunking()
    {
        var backend = new RecordingBackend();
        await using var server = Start(backend);
        var message = new MimeKit.MimeMessage();
        message.From.Add(MimeKit.MailboxAddress.Parse("a@x.test"));
        message.To.Add(MimeKit.MailboxAddress.Parse("b@y.test"));
        message.Subject = "chunked";
        message.Body = new MimeKit.TextPart("plain") { Text = "one\r\n.\r\ntwo" };
        using var client = new ChunkingClient();
        await client.ConnectAsync("127.0.0.1", server.BoundEndpoints[0].Port, MailKit.Security.SecureSocketOptions.None);
        Assert.True(client.Capabilities.HasFlag(MailKit.Net.Smtp.SmtpCapabilities.Chunking));
        await client.SendAsync(message);
        await client.DisconnectAsync(true);
        var (_, _, body) = Assert.Single(backend.Committed);
        Assert.Equal("chunked", (await MimeKit.MimeMessage.LoadAsync(new MemoryStream(body))).Subject);
        Assert.EndsWith("\r\n\r\none\r\n.\r\ntwo\r\n", Encoding.ASCII.GetString(body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pipelined_commands_are_answered_in_order()
    {
        var backend = new RecordingBackend();
        await using var server = Start(backend);
        await using var session = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        Assert.Contains("250-PIPELINING", await session.CommandAsync("EHLO c.test"), StringComparison.Ordinal);
        await session.SendAsync("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<spammer@y.test>\r\nDATA\r\n"u8.ToArray());
        foreach (string expected in new[] { "250", "250", "250", "354" })
        {
            Assert.StartsWith(expected, await session.ReadReplyOrNullAsync(), StringComparison.Ordinal);
        }

        await session.SendAsync("x\r\n.\r\nQUIT\r\n"u8.ToArray());
        Assert.StartsWith("250", await session.ReadReplyOrNullAsync(), StringComparison.Ordinal);
        Assert.StartsWith("221", await session.ReadReplyOrNullAsync(), StringComparison.Ordinal);
        Assert.Null(await session.ReadReplyOrNullAsync());
        Assert.Equal(["b@y.test", "spammer@y.test"], Assert.Single(backend.Committed).To);
    }

    [Fact]
    public async Task A_full_disk_is_452_4_3_1_and_any_other_failure_451_4_3_0()
    {
        var backend = new RecordingBackend();
        await using var server = Start(backend);
        await using var session = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        await session.CommandAsync("EHLO c.test");
        Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
        Assert.StartsWith("452 4.3.1", await session.CommandAsync("RCPT TO:<full@y.test>"), StringComparison.Ordinal);
        Assert.StartsWith("451 4.3.0", await session.CommandAsync("RCPT TO:<broken@y.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<fine@y.test>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Shutting_down_tells_an_open_session_421_at_once_and_aborts_its_transaction()
    {
        var backend = new RecordingBackend();
        var server = Start(backend, o => o.CommandTimeout = TimeSpan.FromMinutes(10));
        await using var session = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        await session.CommandAsync("EHLO c.test");
        Assert.StartsWith("250", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await session.CommandAsync("RCPT TO:<b@y.test>"), StringComparison.Ordinal);

        var stopping = server.DisposeAsync();
        Assert.StartsWith("421 4.3.2", await session.ReadReplyOrNullAsync(), StringComparison.Ordinal);
        Assert.Null(await session.ReadReplyOrNullAsync());
        await stopping;
        Assert.Equal(1, Volatile.Read(ref backend.Aborted));
        Assert.Empty(backend.Committed);
    }

    /// <summary>MailKit's client told to send with BDAT whenever the server offers CHUNKING.</summary>
    private sealed class ChunkingClient : MailKit.Net.Smtp.SmtpClient
    {
        protected override bool PreferSendAsBinaryData => true;
    }

    /// <summary>Polls <paramref name="condition"/>; the minute only bounds a hang on a loaded machine.</summary>
    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while (!condition() && !deadline.IsCancellationRequested)
        {
            await Task.Delay(50, CancellationToken.None);
        }

        Assert.True(condition());
    }
}
