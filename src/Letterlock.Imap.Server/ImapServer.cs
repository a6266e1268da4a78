using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Imap.Session;

namespace Letterlock.Imap.Server;

/// <summary>How the host listens.</summary>
public sealed class ImapListenOptions
{
    /// <summary>Where to listen; port 0 picks a free port (see <see cref="ImapServer.LocalEndPoint"/>).</summary>
    public IPEndPoint EndPoint { get; init; } = new(IPAddress.Loopback, 1143);

    /// <summary>The server certificate; without it neither implicit TLS nor STARTTLS is offered.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>TLS from the first byte (port 993 style) instead of STARTTLS.</summary>
    public bool ImplicitTls { get; init; }
}

/// <summary>
/// The network host of the IMAP engine: accepts TCP connections, applies connection limits,
/// performs TLS, and runs one <see cref="ImapSession"/> per connection. Transports move bytes; the
/// session owns protocol behaviour. <see cref="StopAsync"/> says BYE to every session and waits up
/// to <see cref="ImapServerOptions.ShutdownGracePeriod"/> before closing what is left.
/// </summary>
public sealed class ImapServer : IAsyncDisposable
{
    private readonly ImapListenOptions _listen;
    private readonly ImapServerContext _context;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private readonly ConcurrentDictionary<long, SocketTransport> _transports = new();
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private long _nextId;

    /// <summary>Creates a server; call <see cref="Start"/>.</summary>
    public ImapServer(ImapListenOptions listen, ImapServerContext context)
    {
        _listen = listen ?? throw new ArgumentNullException(nameof(listen));
        _context = context ?? throw new ArgumentNullException(nameof(context));
        if (listen.ImplicitTls && listen.Certificate is null)
        {
            throw new ArgumentException("Implicit TLS needs a certificate.", nameof(listen));
        }
    }

    /// <summary>The address the server listens on (with the real port when 0 was asked for).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)(_listener?.LocalEndPoint ?? throw new InvalidOperationException("Not started"));

    /// <summary>Open connections right now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Binds and starts accepting connections.</summary>
    public void Start()
    {
        var socket = new Socket(_listen.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(_listen.EndPoint);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _listener = socket;
        _acceptLoop = AcceptLoopAsync(socket);
    }

    private void Log(ImapLogLevel level, string message, Exception? e = null) =>
        _context.Log?.Invoke(new ImapLogEntry(level, "server", message, e));

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_shutdown.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_shutdown.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                Log(ImapLogLevel.Warning, "Accept failed: " + e.SocketErrorCode);
                continue;
            }

            client.NoDelay = true;
            long id = Interlocked.Increment(ref _nextId);
            var address = (client.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
            int perAddress = _perAddress.AddOrUpdate(address, 1, (_, n) => n + 1);
            if (_connections.Count >= _context.Options.MaxConnections || perAddress > _context.Options.MaxConnectionsPerAddress)
            {
                Release(address);
                Log(ImapLogLevel.Warning, "Connection refused: limit reached");
                _ = RefuseAsync(client);
                continue;
            }

            // The task is registered before it may run (and finish), so StopAsync always waits for it.
            var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _connections[id] = RunConnectionAsync(id, client, address, registered.Task);
            registered.SetResult();
        }
    }

    private void Release(IPAddress address)
    {
        if (_perAddress.AddOrUpdate(address, 0, (_, n) => n - 1) <= 0)
        {
            _perAddress.TryRemove(new KeyValuePair<IPAddress, int>(address, 0));
        }
    }

    private static async Task RefuseAsync(Socket client)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.SendAsync("* BYE Too many connections\r\n"u8.ToArray(), SocketFlags.None, cts.Token).ConfigureAwait(false);
            client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // nothing to tell a peer that is gone
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task RunConnectionAsync(long id, Socket client, IPAddress address, Task registered)
    {
        await registered.ConfigureAwait(false);
        await Task.Yield();
        SocketTransport? transport = null;
        try
        {
            transport = await SocketTransport.CreateAsync(client, _listen.Certificate, _listen.ImplicitTls, _context.Options.TlsHandshakeTimeout, _shutdown.Token).ConfigureAwait(false);
            _transports[id] = transport;
            var session = new ImapSession(transport, _context, id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await session.RunAsync(_shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or SocketException or ObjectDisposedException)
        {
            Log(ImapLogLevel.Debug, $"Connection {id} ended: {e.GetType().Name}: {e.Message}");
        }
        catch (Exception e)
        {
            // Never let one connection take the server down.
            Log(ImapLogLevel.Error, $"Connection {id} failed", e);
        }
        finally
        {
            if (transport is not null)
            {
                await transport.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                client.Dispose();
            }

            Release(address);
            _transports.TryRemove(id, out _);
            _connections.TryRemove(id, out _);
        }
    }

    /// <summary>Stops accepting, tells every session BYE, waits for them up to the grace period, then closes the rest.</summary>
    public async Task StopAsync()
    {
        if (_shutdown.IsCancellationRequested)
        {
            return;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        var tasks = _connections.Values.ToArray();
        var all = Task.WhenAll(tasks);
        if (await Task.WhenAny(all, Task.Delay(_context.Options.ShutdownGracePeriod)).ConfigureAwait(false) != all)
        {
            foreach (var transport in _transports.Values)
            {
                await transport.DisposeAsync().ConfigureAwait(false);
            }

            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _shutdown.Dispose();
    }
}
