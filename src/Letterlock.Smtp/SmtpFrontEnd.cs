using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Letterlock.Smtp.Transport;

namespace Letterlock.Smtp;

/// <summary>
/// The SMTP server used by every role (provider MX, submission, the bridge's local SMTP): binds the sockets, applies
/// the connection limits of <see cref="SmtpFrontEndOptions"/> and runs one <see cref="SmtpSession"/> per connection,
/// which speaks the protocol and hands each transaction to the transaction-shaped <see cref="ISmtpBackend"/>.
/// </summary>
/// <remarks>
/// Limits enforced here: connections in total and per client IP, new connections per client per minute (<c>421 4.7.0</c>
/// before the greeting), command line length (<c>500 5.5.2</c>, then close), recipients per transaction (<c>452 4.5.3</c>),
/// message size (<c>552 5.3.4</c>), bad commands and failed AUTH per session, command and session timeouts. Message
/// content is streamed to <see cref="ISmtpDelivery.WriteBodyAsync"/> in chunks of at most 64 KiB; nothing buffers a
/// whole message here.
/// </remarks>
public sealed class SmtpFrontEnd : IAsyncDisposable
{
    private static readonly byte[] TooManyConnections = Encoding.ASCII.GetBytes("421 4.7.0 Too many connections, try again later\r\n");

    private readonly SmtpFrontEndOptions _options;
    private readonly ISmtpBackend _backend;
    private readonly ISmtpAuthenticator? _authenticator;
    private readonly Action<SmtpEvent> _log;
    private readonly ClientLimiter _limiter;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(Socket Socket, SmtpListenerOptions Listener)> _listeners;
    private readonly ConcurrentDictionary<Guid, Task> _sessions = new();
    private readonly List<Task> _acceptLoops = [];
    private int _disposed;

    private SmtpFrontEnd(SmtpFrontEndOptions options, ISmtpBackend backend, ISmtpAuthenticator? authenticator, Action<SmtpEvent> log,
        List<(Socket Socket, SmtpListenerOptions Listener)> listeners)
    {
        _options = options;
        _backend = backend;
        _authenticator = authenticator;
        _log = log;
        _limiter = new ClientLimiter(options, TimeProvider.System);
        _listeners = listeners;
        BoundEndpoints = listeners.Select(l => (IPEndPoint)l.Socket.LocalEndPoint!).ToList();
    }

    /// <summary>The endpoints actually bound, in the order of <see cref="SmtpFrontEndOptions.Listeners"/> (port 0 resolved).</summary>
    public IReadOnlyList<IPEndPoint> BoundEndpoints { get; }

    /// <summary>Binds every listener and starts accepting sessions.</summary>
    /// <param name="options">The limits and listeners; validated here.</param>
    /// <param name="backend">Where transactions go.</param>
    /// <param name="authenticator">Checks AUTH credentials; null means AUTH is not offered.</param>
    /// <param name="log">Receives diagnostics; null discards them.</param>
    /// <exception cref="ArgumentException">A setting in <paramref name="options"/> is invalid; the message names it.</exception>
    /// <exception cref="SocketException">A listener could not be bound.</exception>
    public static SmtpFrontEnd Start(SmtpFrontEndOptions options, ISmtpBackend backend, ISmtpAuthenticator? authenticator = null, Action<SmtpEvent>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(backend);
        options.Validate();
        var bound = new List<(Socket, SmtpListenerOptions)>();
        try
        {
            foreach (var listener in options.Listeners)
            {
                var socket = new Socket(listener.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                bound.Add((socket, listener));
                socket.Bind(listener.EndPoint);
                socket.Listen(512);
            }
        }
        catch
        {
            foreach (var (socket, _) in bound)
            {
                socket.Dispose();
            }

            throw;
        }

        var frontEnd = new SmtpFrontEnd(options, backend, authenticator, log ?? (static _ => { }), bound);
        foreach (var (socket, listener) in bound)
        {
            frontEnd._acceptLoops.Add(Task.Run(() => frontEnd.AcceptAsync(socket, listener)));
        }

        return frontEnd;
    }

    /// <summary>
    /// Stops accepting and ends every session at once: a client waiting for a reply is told <c>421 4.3.2</c>, an
    /// unfinished transaction is aborted (nothing of it stays). Returns when the sessions are gone.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var (socket, _) in _listeners)
        {
            socket.Dispose();
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        await Task.WhenAll(_sessions.Values).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptAsync(Socket listenSocket, SmtpListenerOptions listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listenSocket.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || (e is SocketException && _stop.IsCancellationRequested))
            {
                return;
            }
            catch (SocketException e)
            {
                // a connection reset before it was accepted, or the process is out of descriptors: keep listening
                _log(new SmtpEvent(SmtpEventLevel.Warning, Guid.Empty, null, $"accept failed on {listener.Name}: {e.SocketErrorCode}"));
                continue;
            }

            var peer = (IPEndPoint)socket.RemoteEndPoint!;
            if (_options.TrustedProxies.Any(p => p.Contains(peer.Address)))
            {
                // the header is read off the accept loop: a slow proxy connection must not hold up the others
                var id = Guid.NewGuid();
                var proxied = AcceptProxiedAsync(socket, peer, listener);
                _sessions[id] = proxied;
                _ = proxied.ContinueWith(_ => _sessions.TryRemove(id, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                continue;
            }

            _ = Admit(socket, peer, listener);
        }
    }

    /// <summary>A connection from a trusted proxy: its PROXY header names the client; without a valid one it is closed.</summary>
    private async Task AcceptProxiedAsync(Socket socket, IPEndPoint proxy, SmtpListenerOptions listener)
    {
        await Task.Yield();
        Protocol.ProxyParseResult result;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
        {
            timeout.CancelAfter(_options.ProxyHeaderTimeout);
            try
            {
                result = await ProxyHeaderReader.ReadAsync(socket, _options.MaxProxyHeaderLength, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                result = new Protocol.ProxyParseResult(Protocol.ProxyParseStatus.Invalid, null, 0, 0, e is OperationCanceledException ? "no PROXY header in time" : "connection lost before the PROXY header");
            }
        }

        if (result.Status != Protocol.ProxyParseStatus.Done)
        {
            _log(new SmtpEvent(SmtpEventLevel.Warning, Guid.Empty, proxy, $"connection from proxy refused on {listener.Name}: {result.Error}"));
            socket.Dispose();
            return;
        }

        // awaited, so that shutdown, which waits for this task, also waits for the session it started
        await Admit(socket, result.Header!.Source ?? proxy, listener).ConfigureAwait(false);
    }

    private Task Admit(Socket socket, IPEndPoint remote, SmtpListenerOptions listener)
    {
        var verdict = _limiter.TryEnter(remote.Address);
        if (verdict != ClientLimiter.Verdict.Allowed)
        {
            _log(new SmtpEvent(SmtpEventLevel.Warning, Guid.Empty, remote, $"connection refused on {listener.Name}: {verdict}"));
            return RefuseAsync(socket);
        }

        socket.NoDelay = true;
        var connection = new SmtpConnection(socket);
        var session = new SmtpSession(connection, _options, listener, _backend, _authenticator, _log, remote);
        var run = RunAsync(session, connection, remote);
        _sessions[session.Id] = run;
        _ = run.ContinueWith(_ => _sessions.TryRemove(session.Id, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return run;
    }

    private async Task RunAsync(SmtpSession session, SmtpConnection connection, IPEndPoint remote)
    {
        await Task.Yield();
        try
        {
            await session.RunAsync(_stop.Token).ConfigureAwait(false);
        }
        finally
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            _limiter.Leave(remote.Address);
        }
    }

    private static async Task RefuseAsync(Socket socket)
    {
        // RFC 5321, 3.1: a server may answer 421 instead of 220 and close.
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.SendAsync(TooManyConnections, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // the client went away first: nothing to tell it
        }
        finally
        {
            socket.Dispose();
        }
    }
}

/// <summary>A limit on hostile input was hit; the connection is closed after the peer was told.</summary>
public sealed class SmtpLimitException(string message) : IOException(message);
