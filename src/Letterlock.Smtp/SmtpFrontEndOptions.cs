using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Letterlock.Smtp;

/// <summary>How a listener treats TLS.</summary>
public enum SmtpTlsMode
{
    /// <summary>Plain TCP, with STARTTLS offered when a certificate is configured (port 25, 587, the bridge).</summary>
    StartTls,

    /// <summary>TLS from the first byte (RFC 8314, port 465).</summary>
    Implicit,
}

/// <summary>One listening socket of the SMTP front end.</summary>
public sealed class SmtpListenerOptions
{
    /// <summary>A name for logs and <see cref="SmtpSessionInfo.ListenerName"/>, such as <c>mx</c> or <c>submission</c>.</summary>
    public string Name { get; set; } = "smtp";

    /// <summary>The address and port to bind; port 0 picks a free port (see <see cref="SmtpFrontEnd.BoundEndpoints"/>).</summary>
    public IPEndPoint EndPoint { get; set; } = new(IPAddress.Loopback, 25);

    /// <summary>STARTTLS or implicit TLS.</summary>
    public SmtpTlsMode TlsMode { get; set; } = SmtpTlsMode.StartTls;

    /// <summary>Whether MAIL FROM requires a successful AUTH first (submission).</summary>
    public bool RequireAuthentication { get; set; }

    /// <summary>
    /// Whether AUTH is allowed before TLS. Only for loopback listeners such as the bridge's local
    /// SMTP, where no network sees the password.
    /// </summary>
    public bool AllowAuthenticationWithoutTls { get; set; }
}

/// <summary>
/// Every limit the SMTP front end puts on hostile input, in one place (STYLE.md, convention 3).
/// Call <see cref="Validate"/> (done by <see cref="SmtpFrontEnd"/>) to get a message that names a wrong setting.
/// </summary>
public sealed class SmtpFrontEndOptions
{
    /// <summary>The host name in the greeting and EHLO reply.</summary>
    public string ServerName { get; set; } = "localhost";

    /// <summary>The listeners; at least one.</summary>
    public IList<SmtpListenerOptions> Listeners { get; } = [];

    /// <summary>The certificate for STARTTLS and implicit TLS; without one STARTTLS is not offered.</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>
    /// Where each TLS handshake takes its certificate (with its chain) from, instead of <see cref="Certificate"/>: a
    /// renewed certificate is used by the next handshake without a restart, and sessions already under TLS keep theirs.
    /// </summary>
    public Func<SslStreamCertificateContext>? CertificateSelector { get; set; }

    /// <summary>Whether TLS is offered (STARTTLS) or possible (implicit TLS): a certificate or a selector is set.</summary>
    internal bool HasCertificate => Certificate is not null || CertificateSelector is not null;

    /// <summary>The server side of one handshake: the selector's current certificate, else <see cref="Certificate"/>.</summary>
    internal SslServerAuthenticationOptions ServerTlsOptions() => CertificateSelector is { } select
        ? new SslServerAuthenticationOptions { ServerCertificateContext = select(), ClientCertificateRequired = false }
        : new SslServerAuthenticationOptions { ServerCertificate = Certificate, ClientCertificateRequired = false };

    /// <summary>
    /// Largest message accepted, in bytes. Announced with SIZE (RFC 1870); a larger declared SIZE or a
    /// larger DATA or BDAT total gets <c>552</c>. The body streams to the backend in chunks, so this bounds the spool, not memory.
    /// </summary>
    public int MaxMessageSize { get; set; } = 25 * 1024 * 1024;

    /// <summary>Recipients per transaction; more get <c>452 4.5.3</c>. RFC 5321 asks servers to take at least 100.</summary>
    public int MaxRecipients { get; set; } = 100;

    /// <summary>Simultaneous connections over all clients; more are answered <c>421 4.7.0</c> and closed.</summary>
    public int MaxConnections { get; set; } = 1000;

    /// <summary>Simultaneous connections from one client IP address; more are answered <c>421 4.7.0</c> and closed.</summary>
    public int MaxConnectionsPerClient { get; set; } = 50;

    /// <summary>New connections one client IP address may open per minute; more are answered <c>421 4.7.0</c> and closed.</summary>
    public int MaxConnectionRatePerClient { get; set; } = 600;

    /// <summary>
    /// Longest command line, CRLF included. RFC 5321 (4.5.3.1.4) sets 512 octets, extensions add
    /// parameters, so the default leaves room; a longer line gets <c>500 5.5.2</c> and the connection is closed,
    /// because without a bound a client could make the server buffer without end.
    /// </summary>
    public int MaxCommandLineLength { get; set; } = 2048;

    /// <summary>Longest wait for the next command before the session is dropped.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Longest a whole session may last (slow-loris bound).</summary>
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Bad commands tolerated in one session before it is closed.</summary>
    public int MaxBadCommands { get; set; } = 10;

    /// <summary>Failed AUTH attempts tolerated in one session before it is closed.</summary>
    public int MaxAuthenticationAttempts { get; set; } = 3;

    /// <summary>
    /// Recognises a backend failure that means the server's storage is full (a full disk, a database out of space).
    /// Such a failure is answered <c>452 4.3.1</c> (RFC 3463) instead of <c>451 4.3.0</c>, so the client knows to wait.
    /// </summary>
    public Func<Exception, bool>? InsufficientStorage { get; set; }

    /// <summary>
    /// Proxies (load balancers such as haproxy with <c>send-proxy-v2</c>) whose connections start with a PROXY protocol
    /// header (v1 or v2) naming the real client; empty (the default) turns the PROXY protocol off. A connection from one
    /// of these must start with a valid header (else it is closed without a greeting), and the client it names is the
    /// one every per-client limit and the trace fields see. From any other peer no header is read: a PROXY line is
    /// an unknown command (<c>500</c>), never believed.
    /// </summary>
    public IList<IPNetwork> TrustedProxies { get; } = [];

    /// <summary>Longest PROXY header taken from a trusted proxy, in bytes (536 is the specification's advice for v2 with TLVs).</summary>
    public int MaxProxyHeaderLength { get; set; } = 536;

    /// <summary>Longest wait for a trusted proxy's PROXY header before the connection is dropped.</summary>
    public TimeSpan ProxyHeaderTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (MaxProxyHeaderLength < Protocol.ProxyHeader.MaxVersion1Length)
        {
            throw new ArgumentException($"MaxProxyHeaderLength must be at least {Protocol.ProxyHeader.MaxVersion1Length} (a PROXY v1 header).", nameof(MaxProxyHeaderLength));
        }

        if (ProxyHeaderTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("ProxyHeaderTimeout must be positive.", nameof(ProxyHeaderTimeout));
        }

        if (string.IsNullOrWhiteSpace(ServerName) || ServerName.Any(c => c <= ' ' || c > '~'))
        {
            throw new ArgumentException("ServerName must be a host name without spaces.", nameof(ServerName));
        }

        if (Listeners.Count == 0)
        {
            throw new ArgumentException("At least one listener is required.", nameof(Listeners));
        }

        foreach (var listener in Listeners)
        {
            if (listener.TlsMode == SmtpTlsMode.Implicit && !HasCertificate)
            {
                throw new ArgumentException($"Listener '{listener.Name}' uses implicit TLS but no Certificate is set.", nameof(Certificate));
            }
        }

        Positive(MaxMessageSize, nameof(MaxMessageSize));
        Positive(MaxRecipients, nameof(MaxRecipients));
        Positive(MaxConnections, nameof(MaxConnections));
        Positive(MaxConnectionsPerClient, nameof(MaxConnectionsPerClient));
        Positive(MaxConnectionRatePerClient, nameof(MaxConnectionRatePerClient));
        Positive(MaxBadCommands, nameof(MaxBadCommands));
        Positive(MaxAuthenticationAttempts, nameof(MaxAuthenticationAttempts));
        if (MaxCommandLineLength < 512)
        {
            throw new ArgumentException("MaxCommandLineLength must be at least 512 (RFC 5321, 4.5.3.1.4).", nameof(MaxCommandLineLength));
        }

        if (CommandTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("CommandTimeout must be positive.", nameof(CommandTimeout));
        }

        if (SessionTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("SessionTimeout must be positive.", nameof(SessionTimeout));
        }

        static void Positive(int value, string name)
        {
            if (value <= 0)
            {
                throw new ArgumentException($"{name} must be positive.", name);
            }
        }
    }
}
