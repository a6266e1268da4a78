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

        public ValueTask<SmtpDeliveryStart> StartDeliveryAsync(SmtpSessionInfo session, string reversePath, long declaredSize, CancellationToken ct) =>
            ValueTask.FromResult(reversePath.StartsWith("spammer@", StringComparison.Ordinal)
                ? SmtpDeliveryStart.Reject(SmtpReply.SenderRejected)
                : SmtpDeliveryStart.Accept(new Delivery(this, reversePath)));

        private sealed class Delivery(RecordingBackend backend, string from) : ISmtpDelivery
        {
            private readonly List<string> _to = [];
            private readonly MemoryStream _body = new();
            private bool _done;

            public ValueTask<SmtpReply> AddRecipientAsync(string forwardPath, CancellationToken ct)
            {
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

    private static SmtpFrontEnd Start(RecordingBackend backend, Action<SmtpFrontEndOptions>? configure = null)
    {
        var options = new SmtpFrontEndOptions { ServerName = "smtp.test" };
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
        for (int i = 0; i < 50 && Volatile.Read(ref backend.Aborted) < 2; i++)
        {
            await Task.Delay(100);
        }

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

        await second.DisposeAsync();
        await Task.Delay(200);
        await using var again = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]);
        Assert.StartsWith("250", await again.CommandAsync("NOOP"), StringComparison.Ordinal);
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
}
