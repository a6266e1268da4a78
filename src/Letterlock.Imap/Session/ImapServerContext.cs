using System.Collections.Concurrent;
using System.IO.Pipelines;
using Letterlock.Imap.Backend;

namespace Letterlock.Imap.Session;

/// <summary>
/// The bytes of one client connection, as the host hands them to a session. The engine never
/// sees a socket: tests pass in-memory pipes, the host passes a TCP (and TLS) stream.
/// </summary>
public interface IImapTransport
{
    /// <summary>Bytes from the client.</summary>
    PipeReader Input { get; }

    /// <summary>Bytes to the client.</summary>
    PipeWriter Output { get; }

    /// <summary>What the engine may know about the connection.</summary>
    ImapConnectionInfo Connection { get; }

    /// <summary>Whether STARTTLS can be offered (a certificate is configured and TLS is not already on).</summary>
    bool CanStartTls { get; }

    /// <summary>
    /// Performs the TLS handshake after the engine answered STARTTLS; afterwards <see cref="Input"/>,
    /// <see cref="Output"/> and <see cref="Connection"/> describe the protected stream, and any bytes the
    /// client sent before the handshake are discarded (they could be injected plaintext).
    /// </summary>
    ValueTask StartTlsAsync(CancellationToken ct);
}

/// <summary>How serious a log entry is.</summary>
public enum ImapLogLevel
{
    /// <summary>Commands and session events, for debugging.</summary>
    Debug,
    /// <summary>Session start and end, logins.</summary>
    Information,
    /// <summary>Clients misbehaving, limits hit.</summary>
    Warning,
    /// <summary>Backend or engine failures (answered with NO [SERVERBUG]).</summary>
    Error,
}

/// <summary>A log entry. Messages never contain passwords or message content: commands pass through <see cref="ImapCommandFormatter"/>.</summary>
public sealed record ImapLogEntry(ImapLogLevel Level, string SessionId, string Message, Exception? Exception = null);

/// <summary>What every session of one server shares: the limits, the authenticator, the clock, the per-user session counts and the log.</summary>
public sealed class ImapServerContext
{
    private readonly ConcurrentDictionary<string, int> _sessionsPerUser = new(StringComparer.Ordinal);

    /// <summary>Creates a context.</summary>
    public ImapServerContext(ImapServerOptions options, IImapAuthenticator authenticator, TimeProvider? time = null, Action<ImapLogEntry>? log = null)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        Authenticator = authenticator ?? throw new ArgumentNullException(nameof(authenticator));
        Time = time ?? TimeProvider.System;
        Log = log;
    }

    /// <summary>The limits.</summary>
    public ImapServerOptions Options { get; }

    /// <summary>Checks credentials and opens accounts.</summary>
    public IImapAuthenticator Authenticator { get; }

    /// <summary>The clock used for timeouts, delays and rate limits.</summary>
    public TimeProvider Time { get; }

    /// <summary>Receives log entries (the host forwards them to its logging framework).</summary>
    public Action<ImapLogEntry>? Log { get; }

    /// <summary>Which session holds \Recent for which messages (shared by all sessions of this server).</summary>
    internal RecentTracker Recent { get; } = new();

    internal bool TryAddSession(string accountKey)
    {
        while (true)
        {
            int current = _sessionsPerUser.GetOrAdd(accountKey, 0);
            if (current >= Options.MaxSessionsPerUser)
            {
                return false;
            }

            if (_sessionsPerUser.TryUpdate(accountKey, current + 1, current))
            {
                return true;
            }
        }
    }

    internal void RemoveSession(string accountKey)
    {
        _sessionsPerUser.AddOrUpdate(accountKey, 0, (_, n) => Math.Max(0, n - 1));
    }

    /// <summary>Authenticated sessions of one account right now.</summary>
    public int SessionCount(string accountKey) => _sessionsPerUser.GetValueOrDefault(accountKey);
}
