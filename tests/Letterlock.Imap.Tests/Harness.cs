using System.IO.Pipelines;
using System.Net;
using System.Text;
using Letterlock.Imap.Backend;
using Letterlock.Imap.InMemory;
using Letterlock.Imap.Server;
using Letterlock.Imap.Session;

namespace Letterlock.Imap.Tests;

/// <summary>An in-memory transport: two pipes, no sockets (Kestrel's in-memory transport idea).</summary>
internal sealed class PipeTransport : IImapTransport
{
    // No back-pressure threshold: the framer keeps a whole command (with literals) unconsumed.
    private static readonly PipeOptions Options = new(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false);
    public readonly Pipe ClientToServer = new(Options);
    public readonly Pipe ServerToClient = new(Options);

    public PipeTransport(bool secure = false, bool loopback = true) => Connection = new ImapConnectionInfo("127.0.0.1", secure, loopback);

    public PipeReader Input => ClientToServer.Reader;
    public PipeWriter Output => ServerToClient.Writer;
    public ImapConnectionInfo Connection { get; }
    public bool CanStartTls => false;
    public ValueTask StartTlsAsync(CancellationToken ct) => throw new NotSupportedException();
}

/// <summary>A session over pipes plus a line-oriented client for it.</summary>
internal sealed class PipeSession : IAsyncDisposable
{
    private readonly PipeTransport _transport;
    private readonly Task _run;
    private readonly CancellationTokenSource _cts = new();
    private readonly StreamReader _reader;
    private readonly Stream _writer;

    public PipeSession(ImapServerContext context, bool secure = false, bool loopback = true)
    {
        _transport = new PipeTransport(secure, loopback);
        Session = new ImapSession(_transport, context);
        _run = Session.RunAsync(_cts.Token);
        _reader = new StreamReader(_transport.ServerToClient.Reader.AsStream(), Encoding.Latin1);
        _writer = _transport.ClientToServer.Writer.AsStream();
    }

    public ImapSession Session { get; }

    public Task Completion => _run;

    public async Task SendAsync(string text)
    {
        var bytes = Encoding.Latin1.GetBytes(text);
        await _writer.WriteAsync(bytes);
        await _writer.FlushAsync();
    }

    public Task SendLineAsync(string line) => SendAsync(line + "\r\n");

    public async Task<string?> ReadLineAsync(int timeoutMs = 10_000)
    {
        var read = _reader.ReadLineAsync();
        if (await Task.WhenAny(read, Task.Delay(timeoutMs)) != read)
        {
            throw new TimeoutException("No response from the server");
        }

        return await read;
    }

    /// <summary>Reads until the tagged response of <paramref name="tag"/>; returns all lines.</summary>
    public async Task<List<string>> ReadUntilTaggedAsync(string tag)
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync() ?? throw new EndOfStreamException("Connection closed; got:\n" + string.Join("\n", lines));
            lines.Add(line);
            if (line.StartsWith(tag + " ", StringComparison.Ordinal))
            {
                return lines;
            }
        }
    }

    public async Task<List<string>> CommandAsync(string tag, string command)
    {
        await SendLineAsync(tag + " " + command);
        return await ReadUntilTaggedAsync(tag);
    }

    public async Task CloseInputAsync() => await _transport.ClientToServer.Writer.CompleteAsync();

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        await _transport.ClientToServer.Writer.CompleteAsync();
        try
        {
            await _run.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
        }

        _cts.Dispose();
    }
}

/// <summary>A server on a real loopback socket with the in-memory backend.</summary>
internal sealed class SocketServer : IAsyncDisposable
{
    public const string User = "alice";
    public const string Password = "s3cret-pass";

    public SocketServer(ImapServerOptions? options = null, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null, bool implicitTls = false, InMemoryBackend? backend = null, List<ImapLogEntry>? log = null)
    {
        Backend = backend ?? new InMemoryBackend();
        if (backend is null)
        {
            Backend.AddUser(User, Password);
        }

        Options = options ?? new ImapServerOptions { FailedLoginDelay = TimeSpan.FromMilliseconds(50) };
        Log = log ?? [];
        Context = new ImapServerContext(Options, Backend, log: e => { lock (Log) { Log.Add(e); } });
        Server = new ImapServer(new ImapListenOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 0), Certificate = certificate, ImplicitTls = implicitTls }, Context);
        Server.Start();
    }

    public InMemoryBackend Backend { get; }
    public ImapServerOptions Options { get; }
    public ImapServerContext Context { get; }
    public ImapServer Server { get; }
    public List<ImapLogEntry> Log { get; }
    public int Port => Server.LocalEndPoint.Port;

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}

internal static class TestData
{
    public static string SpamAssassin
    {
        get
        {
            var dir = AppContext.BaseDirectory;
            while (dir is not null)
            {
                var candidate = Path.Combine(dir, "shared", "testdata", "spamassassin");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }

                candidate = Path.Combine(dir, "..", "shared", "testdata", "spamassassin");
                if (Directory.Exists(candidate))
                {
                    return Path.GetFullPath(candidate);
                }

                dir = Path.GetDirectoryName(dir);
            }

            return "/work/shared/testdata/spamassassin";
        }
    }

    public static IEnumerable<string> AllMessages() =>
        Directory.EnumerateFiles(SpamAssassin, "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    public static byte[] Message(string subject, string body = "Hello\r\n", string from = "Bob <bob@example.org>", string to = "alice@example.org") =>
        Encoding.ASCII.GetBytes($"From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{Guid.NewGuid():N}@example.org>\r\n\r\n{body}");

    public static ImapServerContext Context(InMemoryBackend backend, ImapServerOptions? options = null) =>
        new(options ?? new ImapServerOptions { FailedLoginDelay = TimeSpan.FromMilliseconds(10) }, backend);
}
