using System.Net;

namespace Letterlock.Smtp;

/// <summary>
/// What the SMTP front end knows about the session a transaction belongs to. It is handed to the
/// backend so that policies (per-user limits, authenticated submission) can be applied there; it is
/// never stored by the provider (DESIGN.md section 7: no client IP at rest).
/// </summary>
/// <param name="SessionId">A random identifier for correlating log lines of one session.</param>
/// <param name="RemoteEndPoint">The peer's address and port.</param>
/// <param name="ListenerName">The <see cref="SmtpListenerOptions.Name"/> of the listener that accepted the connection.</param>
/// <param name="IsSecure">Whether the session runs over TLS (implicit or after STARTTLS).</param>
/// <param name="AuthenticatedUser">The user name accepted by <see cref="ISmtpAuthenticator"/>, or null.</param>
public sealed record SmtpSessionInfo(
    Guid SessionId,
    IPEndPoint RemoteEndPoint,
    string ListenerName,
    bool IsSecure,
    string? AuthenticatedUser)
{
    /// <summary>The name the client gave in EHLO or HELO, or null before it did.</summary>
    public string? HeloName { get; init; }

    /// <summary>Whether the transaction was started with <c>SMTPUTF8</c> (RFC 6531): its addresses and header section may hold UTF-8.</summary>
    public bool Utf8 { get; init; }

    /// <summary>
    /// The protocol for a <c>Received</c> field's <c>with</c> clause: <c>SMTP</c>, <c>ESMTP</c>, with <c>S</c> for TLS
    /// and <c>A</c> for AUTH (RFC 3848), or <c>UTF8SMTP</c> and its variants for an SMTPUTF8 transaction (RFC 6531, 3.7.3).
    /// </summary>
    public string Protocol { get; init; } = "SMTP";

    /// <summary>The TLS protocol version, such as <c>Tls13</c>, when the session is secure.</summary>
    public string? TlsProtocol { get; init; }

    /// <summary>The TLS cipher suite, when the session is secure.</summary>
    public string? TlsCipher { get; init; }
}

/// <summary>
/// The storage side of an SMTP server, shaped as a transaction (after maddy): MAIL FROM starts a
/// delivery, each RCPT TO adds a recipient and gets its own reply, the body is streamed in chunks,
/// and only <see cref="ISmtpDelivery.CommitAsync"/> may make anything persistent.
/// </summary>
public interface ISmtpBackend
{
    /// <summary>
    /// Starts a transaction for MAIL FROM. Return <see cref="SmtpDeliveryStart.Reject"/> to refuse the sender.
    /// </summary>
    /// <param name="session">The session the transaction belongs to.</param>
    /// <param name="reversePath">The envelope sender (<c>local@domain</c>), empty for the null reverse path <c>&lt;&gt;</c>.</param>
    /// <param name="declaredSize">The size from the SIZE parameter (RFC 1870), or 0 when absent.</param>
    /// <param name="ct">Cancelled when the session ends.</param>
    ValueTask<SmtpDeliveryStart> StartDeliveryAsync(SmtpSessionInfo session, string reversePath, long declaredSize, CancellationToken ct);
}

/// <summary>The outcome of <see cref="ISmtpBackend.StartDeliveryAsync"/>.</summary>
/// <param name="Reply">The reply to MAIL FROM.</param>
/// <param name="Delivery">The transaction, or null when the sender was refused.</param>
public readonly record struct SmtpDeliveryStart(SmtpReply Reply, ISmtpDelivery? Delivery)
{
    /// <summary>Accepts the sender with <c>250 2.1.0</c>.</summary>
    public static SmtpDeliveryStart Accept(ISmtpDelivery delivery) => new(new SmtpReply(250, "2.1.0", "Sender OK"), delivery);

    /// <summary>Refuses the sender with <paramref name="reply"/> (a 4xx or 5xx reply).</summary>
    public static SmtpDeliveryStart Reject(SmtpReply reply) => new(reply, null);
}

/// <summary>
/// One mail transaction. Disposing an uncommitted delivery aborts it; nothing it wrote may survive.
/// </summary>
public interface ISmtpDelivery : IAsyncDisposable
{
    /// <summary>Adds a recipient for RCPT TO and returns the reply for it (250, 550 5.1.1, 552 5.2.2, 452, ...).</summary>
    /// <param name="forwardPath">The recipient address <c>local@domain</c>.</param>
    /// <param name="ct">Cancelled when the session ends.</param>
    ValueTask<SmtpReply> AddRecipientAsync(string forwardPath, CancellationToken ct);

    /// <summary>Receives the next chunk of the message as sent (dot-unstuffed, CRLF line ends).</summary>
    /// <param name="chunk">The bytes; only valid during the call.</param>
    /// <param name="ct">Cancelled when the session ends.</param>
    ValueTask WriteBodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken ct);

    /// <summary>
    /// Completes the message and makes it durable. The front end answers the end of DATA with the
    /// returned reply, so a 250 must only be returned after the commit is durable.
    /// </summary>
    /// <param name="ct">Cancelled when the session ends.</param>
    ValueTask<SmtpReply> CommitAsync(CancellationToken ct);

    /// <summary>Abandons the transaction (RSET, a new MAIL FROM, a broken connection).</summary>
    ValueTask AbortAsync();
}

/// <summary>Checks AUTH PLAIN/LOGIN credentials (submission listeners, the bridge's local SMTP).</summary>
public interface ISmtpAuthenticator
{
    /// <summary>Returns true when <paramref name="user"/> may use this server with <paramref name="password"/>.</summary>
    /// <param name="session">The session asking.</param>
    /// <param name="user">The user name as sent.</param>
    /// <param name="password">The password as sent; never log it.</param>
    /// <param name="ct">Cancelled when the session ends.</param>
    ValueTask<bool> AuthenticateAsync(SmtpSessionInfo session, string user, string password, CancellationToken ct);
}

/// <summary>Severity of an <see cref="SmtpEvent"/>.</summary>
public enum SmtpEventLevel
{
    /// <summary>Normal operation: a session started or ended.</summary>
    Information,

    /// <summary>The peer misbehaved or hit a limit.</summary>
    Warning,

    /// <summary>Something failed on our side.</summary>
    Error,
}

/// <summary>
/// A diagnostic event for the host's log. The library has no logging framework (DESIGN.md section 3);
/// the host turns these into log lines. Events never carry mail content, addresses of message
/// participants or credentials.
/// </summary>
/// <param name="Level">The severity.</param>
/// <param name="SessionId">The session, or <see cref="Guid.Empty"/> for events before a session exists.</param>
/// <param name="Remote">The peer, when known.</param>
/// <param name="Message">What happened.</param>
/// <param name="Exception">The failure, for <see cref="SmtpEventLevel.Error"/>.</param>
public sealed record SmtpEvent(SmtpEventLevel Level, Guid SessionId, EndPoint? Remote, string Message, Exception? Exception = null);
