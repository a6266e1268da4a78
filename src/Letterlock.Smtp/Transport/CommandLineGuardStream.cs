using System.Text;

namespace Letterlock.Smtp.Transport;

/// <summary>
/// Sits between the (TLS) stream and SmtpServer's pipes and bounds the length of command lines.
/// SmtpServer bounds a command line only by the maximum message size, so a client could make it
/// buffer megabytes before a CRLF arrives; this stream answers <c>500 5.5.2</c> and closes instead.
/// Message content between the <c>354</c> reply and the terminating <c>CRLF.CRLF</c> is left to the
/// message size limit: RFC 5321's 1000-octet text line limit is widely exceeded by real mail.
/// </summary>
internal sealed class CommandLineGuardStream(Stream inner, int maxCommandLineLength) : Stream
{
    private static readonly byte[] LineTooLong = Encoding.ASCII.GetBytes("500 5.5.2 Line too long\r\n");

    // Content states: mid-line, at the start of a line, saw "." at line start, saw ".\r" at line start.
    private enum DataState
    {
        MidLine,
        LineStart,
        Dot,
        DotCr,
    }

    private bool _inData;
    private DataState _dataState;
    private int _lineLength;

    public Stream Inner => inner;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (!Inspect(buffer.Span[..read]))
        {
            await inner.WriteAsync(LineTooLong, cancellationToken).ConfigureAwait(false);
            await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
            throw new SmtpLimitException("command line longer than MaxCommandLineLength");
        }

        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // A "354" reply line starts message content (RFC 5321, 4.1.1.4); clients send content only after it.
        if (StartsContent(buffer.Span))
        {
            _inData = true;
            _dataState = DataState.LineStart;
        }

        return inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();

    private static bool StartsContent(ReadOnlySpan<byte> written)
    {
        // Replies may be batched (PIPELINING): look at the start of every line.
        int start = 0;
        while (start + 4 <= written.Length)
        {
            if (written[start] == (byte)'3' && written[start + 1] == (byte)'5' && written[start + 2] == (byte)'4' && written[start + 3] == (byte)' ')
            {
                return true;
            }

            int next = written[start..].IndexOf((byte)'\n');
            if (next < 0)
            {
                break;
            }

            start += next + 1;
        }

        return false;
    }

    /// <summary>Tracks command and content mode over the bytes read; false when a command line is too long.</summary>
    private bool Inspect(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            if (_inData)
            {
                // content ends with CRLF "." CRLF (RFC 5321, 4.1.1.4); the CRLF before "." is LineStart
                _dataState = (_dataState, b) switch
                {
                    (_, (byte)'\n') when _dataState == DataState.DotCr => EndOfData(),
                    (_, (byte)'\n') => DataState.LineStart,
                    (DataState.LineStart, (byte)'.') => DataState.Dot,
                    (DataState.Dot, (byte)'\r') => DataState.DotCr,
                    _ => DataState.MidLine,
                };
                continue;
            }

            if (b == (byte)'\n')
            {
                _lineLength = 0;
                continue;
            }

            if (++_lineLength >= maxCommandLineLength)
            {
                return false;
            }
        }

        return true;
    }

    private DataState EndOfData()
    {
        _inData = false;
        _lineLength = 0;
        return DataState.MidLine;
    }
}

/// <summary>A limit on hostile input was hit; the connection is closed after the peer was told.</summary>
public sealed class SmtpLimitException(string message) : IOException(message);
