using System.Net;
using System.Net.Sockets;
using System.Text;
using SmtpServer;
using SmtpServer.IO;
using SmtpServer.Net;

namespace Letterlock.Smtp.Transport;

/// <summary>
/// Accepts connections on a socket we bound ourselves (so port 0 can be reported), applies the
/// per-client connection limits before SmtpServer sees the connection, and hands SmtpServer a
/// <see cref="GuardedDuplexPipe"/>.
/// </summary>
internal sealed class GuardedEndpointListener(
    Socket listenSocket,
    SmtpListenerOptions listener,
    SmtpFrontEndOptions options,
    ClientLimiter limiter,
    Action<SmtpEvent> log) : IEndpointListener
{
    internal const string SessionStateKey = "Letterlock.Smtp.Session";

    public async Task<ISecurableDuplexPipe> GetPipeAsync(ISessionContext context, CancellationToken cancellationToken)
    {
        while (true)
        {
            var socket = await listenSocket.AcceptAsync(cancellationToken).ConfigureAwait(false);
            var remote = (IPEndPoint)socket.RemoteEndPoint!;
            var verdict = limiter.TryEnter(remote.Address);
            if (verdict != ClientLimiter.Verdict.Allowed)
            {
                log(new SmtpEvent(SmtpEventLevel.Warning, Guid.Empty, remote, $"connection refused on {listener.Name}: {verdict}"));
                await RefuseAsync(socket).ConfigureAwait(false);
                continue;
            }

            socket.NoDelay = true;
            var state = new SessionState(Guid.NewGuid(), remote, listener);
            context.Properties[EndpointListener.LocalEndPointKey] = socket.LocalEndPoint!;
            context.Properties[EndpointListener.RemoteEndPointKey] = remote;
            context.Properties[SessionStateKey] = state;
            var pipe = new GuardedDuplexPipe(socket, options.MaxCommandLineLength, () => limiter.Leave(remote.Address));
            state.Pipe = pipe;
            return pipe;
        }
    }

    private static async Task RefuseAsync(Socket socket)
    {
        // RFC 5321, 3.1: a server may answer 421 instead of 220 and close.
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.SendAsync(Encoding.ASCII.GetBytes("421 4.7.0 Too many connections, try again later\r\n"), SocketFlags.None, timeout.Token).ConfigureAwait(false);
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

    public void Dispose() => listenSocket.Dispose();
}

/// <summary>Per-session state shared by the SmtpServer adapters.</summary>
internal sealed class SessionState(Guid sessionId, IPEndPoint remote, SmtpListenerOptions listener)
{
    public Guid SessionId { get; } = sessionId;

    public IPEndPoint Remote { get; } = remote;

    public SmtpListenerOptions Listener { get; } = listener;

    public GuardedDuplexPipe? Pipe { get; set; }

    public ISmtpDelivery? Delivery { get; set; }

    public int RecipientCount { get; set; }

    public SmtpSessionInfo Describe(ISessionContext context) => new(
        SessionId,
        Remote,
        Listener.Name,
        Pipe?.IsSecure ?? false,
        context.Authentication.IsAuthenticated ? context.Authentication.User : null);

    public async ValueTask AbortDeliveryAsync()
    {
        var delivery = Delivery;
        Delivery = null;
        RecipientCount = 0;
        if (delivery is not null)
        {
            try
            {
                await delivery.AbortAsync().ConfigureAwait(false);
            }
            finally
            {
                await delivery.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}

/// <summary>Hands SmtpServer the listeners bound by <see cref="SmtpFrontEnd"/>.</summary>
internal sealed class GuardedEndpointListenerFactory(IReadOnlyDictionary<IEndpointDefinition, GuardedEndpointListener> listeners) : IEndpointListenerFactory
{
    public IEndpointListener CreateListener(IEndpointDefinition endpointDefinition) => listeners[endpointDefinition];
}
