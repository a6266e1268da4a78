using System.Net.Sockets;
using System.Text;

namespace Letterlock.Bench.Imap;

/// <summary>A minimal IMAP client: sends a command, reads to its tagged response (literal-aware), counts bytes. Keeps client cost out of the measurement.</summary>
internal sealed class RawImapClient : IAsyncDisposable
{
    private readonly TcpClient _tcp = new() { NoDelay = true };
    private NetworkStream _stream = null!;
    private byte[] _buffer = new byte[256 * 1024];
    private int _start;
    private int _end;
    private int _tag;
    private string _last = "";

    public static async Task<RawImapClient> ConnectAsync(int port)
    {
        var client = new RawImapClient();
        await client._tcp.ConnectAsync("127.0.0.1", port);
        client._stream = client._tcp.GetStream();
        await client.ReadLineAsync(); // greeting
        return client;
    }

    public async Task<(long Bytes, int Untagged, string Status)> CommandAsync(string command)
    {
        string tag = "b" + (++_tag).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await _stream.WriteAsync(Encoding.ASCII.GetBytes(tag + " " + command + "\r\n"));
        long bytes = 0;
        int untagged = 0;
        while (true)
        {
            var line = await ReadLineAsync();
            bytes += line.Length;
            if (line.StartsWith("* ", StringComparison.Ordinal))
            {
                untagged++;
            }

            // literal: "... {n}" at the end of the line
            while (line.EndsWith('}') && line.LastIndexOf('{') is int open and >= 0 && long.TryParse(line.AsSpan(open + 1, line.Length - open - 2), out long n))
            {
                await SkipAsync(n);
                bytes += n;
                line = await ReadLineAsync();
                bytes += line.Length;
            }

            if (line.StartsWith(tag + " ", StringComparison.Ordinal))
            {
                var status = line[(tag.Length + 1)..];
                if (!status.StartsWith("OK", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"{command} -> {status}");
                }

                return (bytes, untagged, status);
            }
        }
    }

    /// <summary>Starts IDLE and waits for the continuation.</summary>
    public async Task IdleAsync()
    {
        await _stream.WriteAsync("idle IDLE\r\n"u8.ToArray());
        var line = await ReadLineAsync();
        if (!line.StartsWith('+'))
        {
            throw new InvalidOperationException(line);
        }
    }

    public async Task<string> ReadLineAsync()
    {
        while (true)
        {
            int lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (lf >= 0)
            {
                var line = Encoding.Latin1.GetString(_buffer, _start, lf - _start).TrimEnd('\r');
                _start = lf + 1;
                _last = line.Length > 200 ? line[..200] : line;
                return line;
            }

            await FillAsync();
        }
    }

    private async Task SkipAsync(long n)
    {
        while (n > 0)
        {
            if (_start == _end)
            {
                await FillAsync();
            }

            int take = (int)Math.Min(n, _end - _start);
            _start += take;
            n -= take;
        }
    }

    private async Task FillAsync()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2); // a long line (e.g. SEARCH with 60,000 numbers)
        }

        int read = await _stream.ReadAsync(_buffer.AsMemory(_end));
        if (read == 0)
        {
            throw new EndOfStreamException("Server closed the connection; last line: " + _last);
        }

        _end += read;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _stream.WriteAsync("z LOGOUT\r\n"u8.ToArray());
        }
        catch (IOException)
        {
        }

        _tcp.Dispose();
    }
}
