using System.Net.Sockets;
using System.Text;
using Letterlock.Imap.Mime;

namespace Letterlock.Imap.Tests;

/// <summary>
/// BINARY (RFC 3516) and the bytes of literals, checked on the wire byte for byte over a real socket:
/// decoding of message/rfc822 and quoted-printable parts, literal8 for NUL, no NUL in a normal literal,
/// and binary parts stored without line-end rewriting.
/// </summary>
public sealed class BinaryTests
{
    private static readonly string Mixed =
        "From: user@domain.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
        "--b\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
        "hello=20\r\nsoft= \t\r\nbreak and=3D tail \t \r\nx=3dy =ZZ\r\n" +
        "--b\r\nContent-Type: message/rfc822\r\n\r\n" +
        "From: sub@domain.org\r\nSubject: submsg\r\n\r\nHello world\r\n" +
        "--b--\r\n";

    [Fact]
    public void Quoted_printable_follows_RFC_2045_6_7()
    {
        // Rule 1 (hex, lower case accepted), rule 3 (trailing padding deleted), rule 5 (soft break, padding after
        // "=" allowed), an invalid escape kept, hard breaks kept as written.
        Assert.Equal("a=b\r\n", Decode("a=3Db\r\n"));
        Assert.Equal("a=b", Decode("a=3db"));
        Assert.Equal("ab", Decode("a=\r\nb"));
        Assert.Equal("ab", Decode("a= \t \r\nb"));
        Assert.Equal("ab", Decode("a=\nb"));
        Assert.Equal("a\r\nb", Decode("a \t\r\nb"));
        Assert.Equal("a\t b\r\n", Decode("a\t b\r\n"));
        Assert.Equal("=ZZ =4", Decode("=ZZ =4"));
        Assert.Equal("end", Decode("end="));
        Assert.Equal("", Decode(""));

        static string Decode(string s) => Encoding.Latin1.GetString(TransferDecoding.DecodeQuotedPrintable(Encoding.Latin1.GetBytes(s)));
    }

    [Fact]
    public async Task Binary_of_message_rfc822_and_quoted_printable_parts()
    {
        await using var server = new SocketServer();
        server.Backend.Import(SocketServer.User, "INBOX", Encoding.ASCII.GetBytes(Mixed));
        await using var client = await RawClient.ConnectAsync(server.Port);
        await client.CommandAsync("SELECT INBOX");

        // RFC 3516, 4.2: BINARY of a message/rfc822 part is the encapsulated message (nothing to decode).
        const string inner = "From: sub@domain.org\r\nSubject: submsg\r\n\r\nHello world";
        Assert.Equal($"* 1 FETCH (BINARY[2] {{{inner.Length}}}\r\n{inner})\r\n", await client.FetchAsync("1 (BINARY.PEEK[2])"));
        Assert.Equal($"* 1 FETCH (BINARY.SIZE[2] {inner.Length})\r\n", await client.FetchAsync("1 (BINARY.SIZE[2])"));

        const string text = "hello \r\nsoftbreak and= tail\r\nx=y =ZZ";
        Assert.Equal($"* 1 FETCH (BINARY[1] {{{text.Length}}}\r\n{text})\r\n", await client.FetchAsync("1 (BINARY.PEEK[1])"));
        Assert.Equal($"* 1 FETCH (BINARY.SIZE[1] {text.Length})\r\n", await client.FetchAsync("1 (BINARY.SIZE[1])"));
        Assert.Equal("* 1 FETCH (BINARY[1]<6> {6}\r\n\r\nsoft)\r\n", await client.FetchAsync("1 (BINARY.PEEK[1]<6.6>)"));

        // Dovecot's extension: a section-text in BINARY is served as BODY serves it.
        Assert.Equal("* 1 FETCH (BINARY[2.HEADER] {41}\r\nFrom: sub@domain.org\r\nSubject: submsg\r\n\r\n)\r\n", await client.FetchAsync("1 (BINARY.PEEK[2.HEADER])"));
        Assert.Equal("* 1 FETCH (BINARY.SIZE[2.TEXT] 11)\r\n", await client.FetchAsync("1 (BINARY.SIZE[2.TEXT])"));
    }

    [Fact]
    public async Task Binary_append_keeps_NUL_and_bare_LF_and_only_literal8_carries_NUL()
    {
        await using var server = new SocketServer();
        await using var client = await RawClient.ConnectAsync(server.Port);
        await client.CommandAsync("SELECT INBOX");
        var header = "Subject: data\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n";
        var data = new byte[] { 0, 1, (byte)'a', (byte)'\n', (byte)'b', 0, (byte)'\r', (byte)'\n', (byte)'c' };
        var message = Encoding.ASCII.GetBytes(header).Concat(data).ToArray();
        var appended = await client.CommandAsync(Encoding.ASCII.GetBytes($"APPEND INBOX ~{{{message.Length}+}}\r\n").Concat(message).Concat("\r\n"u8.ToArray()).ToArray());
        Assert.Contains("OK [APPENDUID", appended, StringComparison.Ordinal);

        // BINARY: literal8 with the exact bytes (the bare LF not rewritten to CRLF).
        Assert.Equal($"* 1 FETCH (BINARY[1] ~{{{data.Length}}}\r\n{Encoding.Latin1.GetString(data)})\r\n", await client.FetchAsync("1 (BINARY.PEEK[1])"));
        Assert.Equal($"* 1 FETCH (RFC822.SIZE {message.Length})\r\n", await client.FetchAsync("1 (RFC822.SIZE)"));

        // BODY: a normal literal may not carry NUL (CHAR8): it goes out as 0x80, the length unchanged.
        var asBody = Encoding.Latin1.GetString(data).Replace('\0', '\u0080');
        Assert.Equal($"* 1 FETCH (BODY[1] {{{data.Length}}}\r\n{asBody})\r\n", await client.FetchAsync("1 (BODY.PEEK[1])"));
        var whole = await client.FetchAsync("1 (BODY.PEEK[])");
        Assert.DoesNotContain('\0', whole);
        Assert.EndsWith(asBody + ")\r\n", whole, StringComparison.Ordinal);
        Assert.StartsWith($"* 1 FETCH (BINARY[] ~{{{message.Length}}}\r\n", await client.FetchAsync("1 (BINARY.PEEK[])"), StringComparison.Ordinal);
    }

    /// <summary>A byte-exact IMAP client: responses are read as Latin-1 text with literals taken by their announced length.</summary>
    private sealed class RawClient : IAsyncDisposable
    {
        private readonly TcpClient _tcp;
        private readonly NetworkStream _stream;
        private readonly MemoryStream _pending = new();
        private int _tag;
        private string _lastTag = "";

        private RawClient(TcpClient tcp)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
        }

        public static async Task<RawClient> ConnectAsync(int port)
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync("127.0.0.1", port);
            var client = new RawClient(tcp);
            await client.ReadLineAsync();
            Assert.Contains("OK", await client.CommandAsync($"LOGIN {SocketServer.User} {SocketServer.Password}"), StringComparison.Ordinal);
            return client;
        }

        public Task<string> CommandAsync(string command) => CommandAsync(Encoding.ASCII.GetBytes(command + "\r\n"));

        /// <summary>Sends a command (without its tag) and returns everything up to and including the tagged reply.</summary>
        public async Task<string> CommandAsync(byte[] command)
        {
            string tag = "t" + (++_tag).ToString(System.Globalization.CultureInfo.InvariantCulture);
            _lastTag = tag;
            await _stream.WriteAsync(Encoding.ASCII.GetBytes(tag + " ").Concat(command).ToArray());
            var response = new StringBuilder();
            while (true)
            {
                var line = await ReadLineAsync();
                response.Append(line);
                if (line.StartsWith(tag + " ", StringComparison.Ordinal))
                {
                    return response.ToString();
                }

                // A line ending in a literal announcement is followed by that many bytes, then the rest of the line.
                var m = System.Text.RegularExpressions.Regex.Match(line, @"~?\{(\d+)\}\r\n$");
                if (m.Success)
                {
                    response.Append(Encoding.Latin1.GetString(await ReadExactlyAsync(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))));
                }
            }
        }

        /// <summary>FETCH returning only the untagged part of the answer.</summary>
        public async Task<string> FetchAsync(string arguments)
        {
            var all = await CommandAsync("FETCH " + arguments);
            return all[..all.LastIndexOf(_lastTag + " ", StringComparison.Ordinal)];
        }

        private async Task<string> ReadLineAsync()
        {
            var line = new List<byte>();
            while (true)
            {
                var b = await ReadExactlyAsync(1);
                line.Add(b[0]);
                if (b[0] == '\n')
                {
                    return Encoding.Latin1.GetString(line.ToArray());
                }
            }
        }

        private async Task<byte[]> ReadExactlyAsync(int count)
        {
            var buffer = new byte[count];
            await _stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            return buffer;
        }

        public ValueTask DisposeAsync()
        {
            _pending.Dispose();
            _tcp.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
