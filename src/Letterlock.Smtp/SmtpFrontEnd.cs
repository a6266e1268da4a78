using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Letterlock.Smtp.Transport;
using SmtpServer;
using SmtpServer.Authentication;
using SmtpServer.ComponentModel;
using SmtpServer.Mail;
using SmtpServer.Protocol;
using SmtpServer.Storage;
using SmtpServerHost = SmtpServer.SmtpServer;

namespace Letterlock.Smtp;

/// <summary>
/// The SMTP server used by every role (provider MX, submission, the bridge's local SMTP): SmtpServer
/// runs the protocol; this class binds the sockets, enforces the limits of <see cref="SmtpFrontEndOptions"/>
/// and translates between SmtpServer and the transaction-shaped <see cref="ISmtpBackend"/>.
/// </summary>
/// <remarks>
/// Where SmtpServer cannot enforce a limit we need, it is done here: connection counts and rates per
/// client (in the accept loop, <c>421 4.7.0</c>), command line length (a guard stream above TLS,
/// <c>500 5.5.2</c>), recipients per transaction (<c>452 4.5.3</c>). SmtpServer hands the store the whole
/// message as one buffer, bounded by <see cref="SmtpFrontEndOptions.MaxMessageSize"/>; it is passed on to
/// <see cref="ISmtpDelivery.WriteBodyAsync"/> in chunks so backends stream and never need the whole message.
/// </remarks>
public sealed class SmtpFrontEnd : IAsyncDisposable
{
    private const int BodyChunkSize = 64 * 1024;
    private static readonly byte[] Crlf = "\r\n"u8.ToArray();

    private readonly SmtpServerHost _server;
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<SmtpEvent> _log;
    private Task? _running;

    private SmtpFrontEnd(SmtpServerHost server, IReadOnlyList<IPEndPoint> bound, Action<SmtpEvent> log)
    {
        _server = server;
        BoundEndpoints = bound;
        _log = log;
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
        log ??= static _ => { };

        var limiter = new ClientLimiter(options, TimeProvider.System);
        var builder = new SmtpServerOptionsBuilder()
            .ServerName(options.ServerName)
            .MaxMessageSize(options.MaxMessageSize, MaxMessageSizeHandling.Strict)
            .MaxRetryCount(options.MaxBadCommands)
            .MaxAuthenticationAttempts(options.MaxAuthenticationAttempts)
            .CommandWaitTimeout(options.CommandTimeout)
            .CustomSmtpGreeting(_ => $"220 {options.ServerName} ESMTP");

        var listeners = new Dictionary<IEndpointDefinition, GuardedEndpointListener>();
        var bound = new List<IPEndPoint>();
        try
        {
            foreach (var listener in options.Listeners)
            {
                var socket = new Socket(listener.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.Bind(listener.EndPoint);
                    socket.Listen(512);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }

                var local = (IPEndPoint)socket.LocalEndPoint!;
                bound.Add(local);
                var definitionBuilder = new EndpointDefinitionBuilder()
                    .Endpoint(local)
                    .IsSecure(listener.TlsMode == SmtpTlsMode.Implicit)
                    .AuthenticationRequired(listener.RequireAuthentication)
                    .AllowUnsecureAuthentication(listener.AllowAuthenticationWithoutTls)
                    .SessionTimeout(options.SessionTimeout);
                if (options.Certificate is not null)
                {
                    definitionBuilder = definitionBuilder.Certificate(options.Certificate);
                }

                var definition = definitionBuilder.Build();
                builder = builder.Endpoint(definition);
                listeners[definition] = new GuardedEndpointListener(socket, listener, options, limiter, log);
            }
        }
        catch
        {
            foreach (var listener in listeners.Values)
            {
                listener.Dispose();
            }

            throw;
        }

        var services = new ServiceProvider();
        services.Add(new GuardedEndpointListenerFactory(listeners));
        services.Add(new MailboxFilterAdapter(backend, options, log));
        services.Add(new MessageStoreAdapter(log));
        if (authenticator is not null)
        {
            services.Add(new AuthenticatorAdapter(authenticator));
        }

        var server = new SmtpServerHost(builder.Build(), services);
        var frontEnd = new SmtpFrontEnd(server, bound, log);
        server.SessionCompleted += (_, e) => frontEnd.OnSessionEnded(e.Context, null);
        server.SessionCancelled += (_, e) => frontEnd.OnSessionEnded(e.Context, null);
        server.SessionFaulted += (_, e) => frontEnd.OnSessionEnded(e.Context, e.Exception);
        frontEnd._running = server.StartAsync(frontEnd._stop.Token);
        return frontEnd;
    }

    /// <summary>Stops accepting, ends the sessions and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _server.Shutdown();
        if (_running is not null)
        {
            try
            {
                await _running.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // the normal way a stopped server ends
            }
        }

        _stop.Dispose();
    }

    private void OnSessionEnded(ISessionContext context, Exception? fault)
    {
        if (!context.Properties.TryGetValue(GuardedEndpointListener.SessionStateKey, out var value) || value is not SessionState state)
        {
            return;
        }

        if (fault is not null)
        {
            _log(new SmtpEvent(
                fault is SmtpLimitException or IOException ? SmtpEventLevel.Warning : SmtpEventLevel.Error,
                state.SessionId,
                state.Remote,
                $"session ended: {fault.GetType().Name}: {fault.Message}",
                fault is SmtpLimitException ? null : fault));
        }

        // an unfinished transaction leaves nothing behind
        _ = state.AbortDeliveryAsync().AsTask().ContinueWith(
            t => _log(new SmtpEvent(SmtpEventLevel.Error, state.SessionId, state.Remote, "abort failed", t.Exception)),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted,
            TaskScheduler.Default);
    }

    internal static SmtpResponse ToResponse(SmtpReply reply) =>
        new((SmtpReplyCode)reply.Code, string.IsNullOrEmpty(reply.EnhancedCode) ? reply.Text : $"{reply.EnhancedCode} {reply.Text}");

    private static SessionState StateOf(ISessionContext context) =>
        context.Properties.TryGetValue(GuardedEndpointListener.SessionStateKey, out var value) && value is SessionState state
            ? state
            : throw new InvalidOperationException("SMTP session without Letterlock state.");

    private static string AddressOf(IMailbox? mailbox) =>
        mailbox is null || (string.IsNullOrEmpty(mailbox.User) && string.IsNullOrEmpty(mailbox.Host)) ? string.Empty : $"{mailbox.User}@{mailbox.Host}";

    /// <summary>MAIL FROM and RCPT TO: starts the backend transaction and adds recipients.</summary>
    private sealed class MailboxFilterAdapter(ISmtpBackend backend, SmtpFrontEndOptions options, Action<SmtpEvent> log) : IMailboxFilter
    {
        public async Task<bool> CanAcceptFromAsync(ISessionContext context, IMailbox from, int size, CancellationToken cancellationToken)
        {
            var state = StateOf(context);
            await state.AbortDeliveryAsync().ConfigureAwait(false);
            SmtpDeliveryStart start;
            try
            {
                start = await backend.StartDeliveryAsync(state.Describe(context), AddressOf(from), size, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log(new SmtpEvent(SmtpEventLevel.Error, state.SessionId, state.Remote, "backend failed at MAIL FROM", e));
                throw new SmtpResponseException(ToResponse(SmtpReply.TemporaryFailure));
            }

            if (start.Delivery is null || !start.Reply.IsPositive)
            {
                if (start.Delivery is not null)
                {
                    await start.Delivery.DisposeAsync().ConfigureAwait(false);
                }

                throw new SmtpResponseException(ToResponse(start.Reply));
            }

            state.Delivery = start.Delivery;
            state.RecipientCount = 0;
            return true;
        }

        public async Task<bool> CanDeliverToAsync(ISessionContext context, IMailbox to, IMailbox from, CancellationToken cancellationToken)
        {
            var state = StateOf(context);
            if (state.Delivery is null)
            {
                throw new SmtpResponseException(new SmtpResponse(SmtpReplyCode.BadSequence, "5.5.1 Need MAIL command"));
            }

            if (state.RecipientCount >= options.MaxRecipients)
            {
                log(new SmtpEvent(SmtpEventLevel.Warning, state.SessionId, state.Remote, "too many recipients"));
                throw new SmtpResponseException(ToResponse(SmtpReply.TooManyRecipients));
            }

            SmtpReply reply;
            try
            {
                reply = await state.Delivery.AddRecipientAsync(AddressOf(to), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log(new SmtpEvent(SmtpEventLevel.Error, state.SessionId, state.Remote, "backend failed at RCPT TO", e));
                throw new SmtpResponseException(ToResponse(SmtpReply.TemporaryFailure));
            }

            if (!reply.IsPositive)
            {
                throw new SmtpResponseException(ToResponse(reply));
            }

            state.RecipientCount++;
            return true;
        }
    }

    /// <summary>End of DATA: streams the message to the backend and commits.</summary>
    private sealed class MessageStoreAdapter(Action<SmtpEvent> log) : IMessageStore
    {
        public async Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
        {
            var state = StateOf(context);
            var delivery = state.Delivery;
            if (delivery is null)
            {
                return new SmtpResponse(SmtpReplyCode.BadSequence, "5.5.1 Need MAIL command");
            }

            state.Delivery = null;
            state.RecipientCount = 0;
            await using (delivery.ConfigureAwait(false))
            {
                try
                {
                    foreach (var segment in buffer)
                    {
                        for (int offset = 0; offset < segment.Length; offset += BodyChunkSize)
                        {
                            await delivery.WriteBodyAsync(segment.Slice(offset, Math.Min(BodyChunkSize, segment.Length - offset)), cancellationToken).ConfigureAwait(false);
                        }
                    }

                    // SmtpServer strips the CRLF that ends the last line together with the terminating "."
                    await delivery.WriteBodyAsync(Crlf, cancellationToken).ConfigureAwait(false);
                    var reply = await delivery.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return ToResponse(reply);
                }
                catch (Exception e)
                {
                    log(new SmtpEvent(SmtpEventLevel.Error, state.SessionId, state.Remote, "backend failed at end of DATA", e));
                    await delivery.AbortAsync().ConfigureAwait(false);
                    return ToResponse(SmtpReply.TemporaryFailure);
                }
            }
        }
    }

    /// <summary>AUTH PLAIN/LOGIN through <see cref="ISmtpAuthenticator"/>.</summary>
    private sealed class AuthenticatorAdapter(ISmtpAuthenticator authenticator) : IUserAuthenticator
    {
        public async Task<bool> AuthenticateAsync(ISessionContext context, string user, string password, CancellationToken cancellationToken) =>
            await authenticator.AuthenticateAsync(StateOf(context).Describe(context), user, password, cancellationToken).ConfigureAwait(false);
    }
}
