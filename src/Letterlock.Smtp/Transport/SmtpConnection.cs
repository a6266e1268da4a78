using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Letterlock.Smtp.Protocol;

namespace Letterlock.Smtp.Transport;

/// <summary>What reading a command line found.</summary>
internal enum LineStatus
{
    /// <summary>A line ending in CRLF.</summary>
    Line,

    /// <summary>The line is longer than allowed; the connection cannot be trusted to stay in step.</summary>
    TooLong,

    /// <summary>The line ended in a bare LF (RFC 5321, 2.3.8 requires CRLF).</summary>
    BareLf,

    /// <summary>The client closed the connection.</summary>
    Closed,
}

/// <summary>What reading message content found.</summary>
internal enum ContentStatus
{
    /// <summary>The content and its end were read.</summary>
    Complete,

    /// <summary>The content was read to its end, but it was larger than allowed; nothing past the limit was handed on.</summary>
    TooLarge,

    /// <summary>A bare LF in DATA content: its end cannot be found reliably (the SMTP smuggling class), so the session ends.</summary>
    BareLf,

    /// <summary>The client closed the connection before the end.</summary>
    Closed,
}

/// <summary>
/// One client connection: bytes in through a <see cref="PipeReader"/> over the socket or, after STARTTLS, over TLS;
/// replies out through a buffer that is flushed only when no further command is waiting (RFC 2920: a pipelining
/// client gets its replies in one write) or before the session blocks. The transport knows lines, dot-stuffed content
/// and counted chunks; the protocol lives in <see cref="SmtpSession"/>.
/// </summary>
internal sealed class SmtpConnection : IAsyncDisposable
{
    private const int ContentChunk = 64 * 1024;
    private readonly Socket _socket;
    private readonly NetworkStream _network;
    private readonly ArrayBufferWriter<byte> _output = new(4096);
    private Stream _stream;
    private PipeReader _input;
    private SslStream? _tls;
    private int _disposed;

    public SmtpConnection(Socket socket)
    {
        _socket = socket;
        _network = new NetworkStream(socket, ownsSocket: false);
        _stream = _network;
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
    }

    public bool IsSecure => _tls is not null;

    public SslProtocols TlsProtocol => _tls?.SslProtocol ?? SslProtocols.None;

    public string? TlsCipher => _tls?.NegotiatedCipherSuite.ToString();

    /// <summary>Queues a reply line (<c>code SP text</c> or <c>code "-" text</c>); CR, LF and other controls in the text become spaces.</summary>
    public void Write(int code, bool more, string text)
    {
        var line = new StringBuilder(text.Length + 6).Append(code).Append(more ? '-' : ' ');
        foreach (char c in text)
        {
            line.Append(char.IsControl(c) ? ' ' : c);
        }

        line.Append("\r\n");
        byte[] bytes = Encoding.UTF8.GetBytes(line.ToString());
        _output.Write(bytes);
    }

    public void Write(SmtpReply reply) =>
        Write(reply.Code, false, string.IsNullOrEmpty(reply.EnhancedCode) ? reply.Text : $"{reply.EnhancedCode} {reply.Text}");

    /// <summary>Sends every queued reply.</summary>
    public async ValueTask FlushAsync(CancellationToken ct)
    {
        if (_output.WrittenCount == 0)
        {
            return;
        }

        await _stream.WriteAsync(_output.WrittenMemory, ct).ConfigureAwait(false);
        await _stream.FlushAsync(ct).ConfigureAwait(false);
        _output.Clear();
    }

    /// <summary>Reads one command line, without its CRLF; replies are flushed first when no whole line is waiting.</summary>
    /// <param name="maxLength">The longest line, CRLF included.</param>
    /// <param name="ct">Cancels (timeouts, shutdown).</param>
    public async ValueTask<(LineStatus Status, byte[] Line)> ReadLineAsync(int maxLength, CancellationToken ct)
    {
        if (!_input.TryRead(out var result))
        {
            await FlushAsync(ct).ConfigureAwait(false);
            result = await _input.ReadAsync(ct).ConfigureAwait(false);
        }

        while (true)
        {
            var buffer = result.Buffer;
            var lf = buffer.PositionOf((byte)'\n');
            if (lf is { } position)
            {
                var line = buffer.Slice(0, position);
                var next = buffer.GetPosition(1, position);
                if (line.Length + 1 > maxLength)
                {
                    _input.AdvanceTo(next);
                    return (LineStatus.TooLong, []);
                }

                byte[] bytes = line.ToArray();
                _input.AdvanceTo(next);
                return bytes.Length > 0 && bytes[^1] == (byte)'\r' ? (LineStatus.Line, bytes[..^1]) : (LineStatus.BareLf, bytes);
            }

            if (buffer.Length >= maxLength)
            {
                _input.AdvanceTo(buffer.End);
                return (LineStatus.TooLong, []);
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                _input.AdvanceTo(buffer.End);
                return (LineStatus.Closed, []);
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
            await FlushAsync(ct).ConfigureAwait(false);
            result = await _input.ReadAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads DATA content up to <c>CRLF "." CRLF</c> (RFC 5321, 4.1.1.4), removes dot-stuffing (4.5.2) and hands it on in
    /// chunks, the final CRLF included. A bare CR is content; a bare LF ends the session (<see cref="ContentStatus.BareLf"/>).
    /// </summary>
    /// <param name="sink">Receives the content; not called past <paramref name="maxSize"/>.</param>
    /// <param name="maxSize">The most bytes handed on; beyond it the rest is read and dropped.</param>
    /// <param name="idle">The longest wait for the next bytes.</param>
    /// <param name="ct">Cancels.</param>
    public async ValueTask<ContentStatus> ReadDotContentAsync(Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> sink, long maxSize, TimeSpan idle,
        CancellationToken ct)
    {
        byte[] chunk = ArrayPool<byte>.Shared.Rent(ContentChunk);
        try
        {
            var scanner = new DotContentScanner(maxSize);
            while (true)
            {
                var result = await ReadWithIdleAsync(idle, ct).ConfigureAwait(false);
                var buffer = result.Buffer;
                var position = buffer.Start;
                DotContentScanner.Outcome outcome = DotContentScanner.Outcome.NeedMore;
                while (buffer.Slice(position).Length > 0)
                {
                    var rest = buffer.Slice(position);
                    var span = rest.FirstSpan;
                    outcome = scanner.Scan(span, chunk.AsSpan(0, ContentChunk), out int consumed);
                    position = rest.GetPosition(consumed);
                    if (scanner.Filled >= ContentChunk - 1 || (outcome == DotContentScanner.Outcome.End && scanner.Filled > 0))
                    {
                        await sink(chunk.AsMemory(0, scanner.Filled), ct).ConfigureAwait(false);
                        scanner.Filled = 0;
                    }

                    if (outcome != DotContentScanner.Outcome.NeedMore)
                    {
                        break;
                    }
                }

                if (outcome == DotContentScanner.Outcome.NeedMore)
                {
                    _input.AdvanceTo(position, buffer.End);
                }
                else
                {
                    // what follows (a pipelined command) is still to be read
                    _input.AdvanceTo(position);
                }

                switch (outcome)
                {
                    case DotContentScanner.Outcome.End:
                        return scanner.Total > maxSize ? ContentStatus.TooLarge : ContentStatus.Complete;
                    case DotContentScanner.Outcome.BareLf:
                        return ContentStatus.BareLf;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    return ContentStatus.Closed;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>Reads exactly <paramref name="size"/> bytes (a BDAT chunk, RFC 3030) and hands them on; a null sink drops them.</summary>
    /// <returns>False when the client closed the connection first.</returns>
    public async ValueTask<bool> ReadChunkAsync(long size, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask>? sink, TimeSpan idle, CancellationToken ct)
    {
        while (size > 0)
        {
            var result = await ReadWithIdleAsync(idle, ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var take = buffer.Slice(0, Math.Min(size, buffer.Length));
            if (sink is not null)
            {
                foreach (var segment in take)
                {
                    for (int offset = 0; offset < segment.Length; offset += ContentChunk)
                    {
                        await sink(segment.Slice(offset, Math.Min(ContentChunk, segment.Length - offset)), ct).ConfigureAwait(false);
                    }
                }
            }

            size -= take.Length;
            _input.AdvanceTo(take.End);
            if (size > 0 && (result.IsCompleted || result.IsCanceled))
            {
                return false;
            }
        }

        return true;
    }

    private async ValueTask<ReadResult> ReadWithIdleAsync(TimeSpan idle, CancellationToken ct)
    {
        if (_input.TryRead(out var ready))
        {
            if (!ready.Buffer.IsEmpty || ready.IsCompleted || ready.IsCanceled)
            {
                return ready;
            }

            _input.AdvanceTo(ready.Buffer.Start);
        }

        await FlushAsync(ct).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(idle);
        try
        {
            return await _input.ReadAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException("no data from the client in time");
        }
    }

    /// <summary>
    /// STARTTLS (RFC 3207): the plaintext reader is dropped with anything it had buffered, so commands pipelined after
    /// STARTTLS are never taken as sent under TLS (the CVE-2011-0411 class of injection).
    /// </summary>
    public async Task UpgradeAsync(SslServerAuthenticationOptions tlsOptions, CancellationToken ct)
    {
        await FlushAsync(ct).ConfigureAwait(false);
        await _input.CompleteAsync().ConfigureAwait(false);
        var tls = new SslStream(_network, leaveInnerStreamOpen: true);
        _tls = tls;
        _stream = tls;
        await tls.AuthenticateAsServerAsync(tlsOptions, ct)
            .ConfigureAwait(false);
        _input = PipeReader.Create(tls, new StreamPipeReaderOptions(leaveOpen: true));
    }

    /// <summary>
    /// Ends the connection politely: queued replies are sent, TLS is closed with close_notify (RFC 8446, 6.1) so the
    /// client can tell the end from a truncation, then the socket is shut down.
    /// </summary>
    public async ValueTask CloseAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await FlushAsync(timeout.Token).ConfigureAwait(false);
            if (_tls is not null)
            {
                await _tls.ShutdownAsync().WaitAsync(timeout.Token).ConfigureAwait(false);
            }

            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or AuthenticationException
            or InvalidOperationException)
        {
            // the client went away first: nothing more to tell it
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _input.CompleteAsync().ConfigureAwait(false);
        if (_tls is not null)
        {
            await _tls.DisposeAsync().ConfigureAwait(false);
        }

        await _network.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }
}
