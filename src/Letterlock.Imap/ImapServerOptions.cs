namespace Letterlock.Imap;

/// <summary>
/// Every limit the IMAP engine applies to hostile or careless input, in one place (STYLE.md,
/// convention 3). Each property says why the limit exists; setters validate their range so a wrong
/// setting fails at start-up with a message naming it.
/// </summary>
public sealed class ImapServerOptions
{
    private int _maxLineLength = 64 * 1024;
    private long _maxMessageSize = 64L * 1024 * 1024;
    private int _maxStringLiteralSize = 64 * 1024;
    private long _maxCommandSize = 128L * 1024 * 1024;
    private int _maxAppendParts = 100;
    private int _maxLiteralsPerCommand = 64;
    private int? _nonSynchronizingLiteralLimit;
    private int _maxNestingDepth = 16;
    private int _maxSequenceSetRanges = 4096;
    private int _maxCommandsPerSecond = 2000;
    private int _commandBurst = 10_000;
    private int _maxPacedCommands = 5_000_000;
    private int _maxSessionsPerUser = 50;
    private TimeSpan _failedLoginDelay = TimeSpan.FromSeconds(2);
    private int _maxFailedLogins = 3;
    private TimeSpan _autologoutTimeout = TimeSpan.FromMinutes(30);
    private TimeSpan _unauthenticatedTimeout = TimeSpan.FromSeconds(60);
    private int _maxBadCommands = 20;
    private int _maxSearchResultsInMemory = 1_000_000;
    private int _maxKeywordsPerMailbox = 256;
    private int _maxMailboxNameLength = 1024;
    private int _maxMailboxDepth = 32;
    private int _maxConnections = 1000;
    private int _maxConnectionsPerAddress = 100;
    private TimeSpan _tlsHandshakeTimeout = TimeSpan.FromSeconds(30);
    private TimeSpan _shutdownGracePeriod = TimeSpan.FromSeconds(5);
    private int _maxMimeDepth = 64;

    /// <summary>
    /// Longest command line in bytes, literals excluded. RFC 7162, 4 asks servers to accept at
    /// least 8192 octets; a long UID set from a resyncing client needs more, an unbounded line is a
    /// memory exhaustion attack. Default 64 KiB.
    /// </summary>
    public int MaxLineLength { get => _maxLineLength; set => _maxLineLength = Check(value, 1024, 16 * 1024 * 1024, nameof(MaxLineLength)); }

    /// <summary>
    /// Largest message APPEND accepts (advertised as APPENDLIMIT, RFC 7889). The engine holds an
    /// appended message in memory until the backend takes it. Default 64 MiB.
    /// </summary>
    public long MaxMessageSize { get => _maxMessageSize; set => _maxMessageSize = Check(value, 1024, 4L * 1024 * 1024 * 1024 - 1, nameof(MaxMessageSize)); }

    /// <summary>
    /// Largest command in bytes, literals included. A command is held in memory until it is complete, and
    /// MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469) put several messages into one APPEND, each up to
    /// <see cref="MaxMessageSize"/>: this bounds their sum. Default 128 MiB.
    /// </summary>
    public long MaxCommandSize { get => _maxCommandSize; set => _maxCommandSize = Check(value, 4096, 16L * 1024 * 1024 * 1024, nameof(MaxCommandSize)); }

    /// <summary>
    /// Most messages plus CATENATE parts in one APPEND: each URL part makes the server read a stored message, so
    /// this bounds the work one command can ask for. Default 100.
    /// </summary>
    public int MaxAppendParts { get => _maxAppendParts; set => _maxAppendParts = Check(value, 1, 100_000, nameof(MaxAppendParts)); }

    /// <summary>Largest literal used as a string argument (user name, search text) rather than a message. Default 64 KiB.</summary>
    public int MaxStringLiteralSize { get => _maxStringLiteralSize; set => _maxStringLiteralSize = Check(value, 256, 16 * 1024 * 1024, nameof(MaxStringLiteralSize)); }

    /// <summary>Most literals in one command: each costs a round trip and a buffer. Default 64.</summary>
    public int MaxLiteralsPerCommand { get => _maxLiteralsPerCommand; set => _maxLiteralsPerCommand = Check(value, 1, 100_000, nameof(MaxLiteralsPerCommand)); }

    /// <summary>
    /// When null (the default) the server advertises LITERAL+ (RFC 7888): non-synchronizing literals
    /// of any size up to the other limits. When set (RFC 7888 says 4096), it advertises LITERAL- and
    /// refuses larger non-synchronizing literals with BAD [TOOBIG], closing the connection because
    /// the literal's bytes are already on their way.
    /// </summary>
    public int? NonSynchronizingLiteralLimit
    {
        get => _nonSynchronizingLiteralLimit;
        set => _nonSynchronizingLiteralLimit = value is null ? null : Check(value.Value, 1, 16 * 1024 * 1024, nameof(NonSynchronizingLiteralLimit));
    }

    /// <summary>Deepest nesting of parenthesised lists (search keys, fetch items): bounds recursion. Default 16.</summary>
    public int MaxNestingDepth { get => _maxNestingDepth; set => _maxNestingDepth = Check(value, 2, 256, nameof(MaxNestingDepth)); }

    /// <summary>Most ranges in one sequence set: a set is expanded against the mailbox, so it bounds work per command. Default 4096.</summary>
    public int MaxSequenceSetRanges { get => _maxSequenceSetRanges; set => _maxSequenceSetRanges = Check(value, 1, 1_000_000, nameof(MaxSequenceSetRanges)); }

    /// <summary>
    /// Sustained commands per second per session (a token bucket), so one runaway client cannot take
    /// a core. Past <see cref="CommandBurst"/> the session applies backpressure: it stops reading the
    /// connection until the budget refills, so TCP flow control slows the client down and no command
    /// is ever refused for its rate (a pipelining mirror such as mbsync just runs at this pace).
    /// Default 2000.
    /// </summary>
    public int MaxCommandsPerSecond { get => _maxCommandsPerSecond; set => _maxCommandsPerSecond = Check(value, 1, 1_000_000, nameof(MaxCommandsPerSecond)); }

    /// <summary>Commands a session may send at once before <see cref="MaxCommandsPerSecond"/> paces it. Default 10,000.</summary>
    public int CommandBurst { get => _commandBurst; set => _commandBurst = Check(value, 1, 10_000_000, nameof(CommandBurst)); }

    /// <summary>
    /// The abuse threshold: commands in a row a session may send while held at <see cref="MaxCommandsPerSecond"/>
    /// (each one had to wait for the budget). One more is answered <c>NO [LIMIT]</c> and the connection is
    /// closed with BYE. A client that ever lets the budget refill (pauses, or sends slower than the pace)
    /// starts the count again, so only a client flooding without pause for a long time (about 40 minutes
    /// at the defaults) meets it; a mirror of a large mailbox does not. Default 5,000,000.
    /// </summary>
    public int MaxPacedCommands { get => _maxPacedCommands; set => _maxPacedCommands = Check(value, 1, int.MaxValue, nameof(MaxPacedCommands)); }

    /// <summary>Concurrent authenticated sessions of one user; one more is refused at login. Default 50.</summary>
    public int MaxSessionsPerUser { get => _maxSessionsPerUser; set => _maxSessionsPerUser = Check(value, 1, 100_000, nameof(MaxSessionsPerUser)); }

    /// <summary>Pause before answering a failed LOGIN or AUTHENTICATE: slows password guessing. Default 2 s.</summary>
    public TimeSpan FailedLoginDelay { get => _failedLoginDelay; set => _failedLoginDelay = Check(value, TimeSpan.Zero, TimeSpan.FromMinutes(1), nameof(FailedLoginDelay)); }

    /// <summary>Failed logins after which the connection is closed with BYE. Default 3.</summary>
    public int MaxFailedLogins { get => _maxFailedLogins; set => _maxFailedLogins = Check(value, 1, 1000, nameof(MaxFailedLogins)); }

    /// <summary>
    /// Inactivity after which an authenticated session is logged out. RFC 9051, 5.4 says at least 30
    /// minutes; IDLE clients re-issue IDLE within 29 minutes (RFC 2177). Default 30 minutes.
    /// </summary>
    public TimeSpan AutologoutTimeout { get => _autologoutTimeout; set => _autologoutTimeout = Check(value, TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1), nameof(AutologoutTimeout)); }

    /// <summary>Inactivity after which a connection that has not logged in is closed. Default 60 s.</summary>
    public TimeSpan UnauthenticatedTimeout { get => _unauthenticatedTimeout; set => _unauthenticatedTimeout = Check(value, TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1), nameof(UnauthenticatedTimeout)); }

    /// <summary>Malformed commands a session may send in a row before it is closed with BYE. Default 20.</summary>
    public int MaxBadCommands { get => _maxBadCommands; set => _maxBadCommands = Check(value, 1, 100_000, nameof(MaxBadCommands)); }

    /// <summary>Largest result a SEARCH may produce. Default 1,000,000.</summary>
    public int MaxSearchResults { get => _maxSearchResultsInMemory; set => _maxSearchResultsInMemory = Check(value, 1, int.MaxValue, nameof(MaxSearchResults)); }

    /// <summary>Distinct keywords a mailbox may hold: each one is sent with every FLAGS response. Default 256.</summary>
    public int MaxKeywordsPerMailbox { get => _maxKeywordsPerMailbox; set => _maxKeywordsPerMailbox = Check(value, 0, 100_000, nameof(MaxKeywordsPerMailbox)); }

    /// <summary>Longest mailbox name in characters. Default 1024.</summary>
    public int MaxMailboxNameLength { get => _maxMailboxNameLength; set => _maxMailboxNameLength = Check(value, 16, 65536, nameof(MaxMailboxNameLength)); }

    /// <summary>Deepest mailbox hierarchy (levels separated by '/'). Default 32.</summary>
    public int MaxMailboxDepth { get => _maxMailboxDepth; set => _maxMailboxDepth = Check(value, 1, 1024, nameof(MaxMailboxDepth)); }

    /// <summary>Open connections the host accepts; one more is greeted with BYE and closed. Default 1000.</summary>
    public int MaxConnections { get => _maxConnections; set => _maxConnections = Check(value, 1, 1_000_000, nameof(MaxConnections)); }

    /// <summary>Open connections from one address; bounds what one client can hold. Default 100 (the bridge's mail apps are all on loopback).</summary>
    public int MaxConnectionsPerAddress { get => _maxConnectionsPerAddress; set => _maxConnectionsPerAddress = Check(value, 1, 1_000_000, nameof(MaxConnectionsPerAddress)); }

    /// <summary>Longest a TLS handshake (implicit or STARTTLS) may take: a stalled handshake holds a connection slot. Default 30 s.</summary>
    public TimeSpan TlsHandshakeTimeout { get => _tlsHandshakeTimeout; set => _tlsHandshakeTimeout = Check(value, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10), nameof(TlsHandshakeTimeout)); }

    /// <summary>How long a shutdown waits for sessions to say BYE before closing their sockets. Default 5 s.</summary>
    public TimeSpan ShutdownGracePeriod { get => _shutdownGracePeriod; set => _shutdownGracePeriod = Check(value, TimeSpan.Zero, TimeSpan.FromMinutes(10), nameof(ShutdownGracePeriod)); }

    /// <summary>Deepest MIME nesting parsed for BODYSTRUCTURE and sections; deeper parts are opaque. Guards against stack exhaustion. Default 64.</summary>
    public int MaxMimeDepth { get => _maxMimeDepth; set => _maxMimeDepth = Check(value, 1, 1024, nameof(MaxMimeDepth)); }

    /// <summary>Sent in the greeting and in ID responses.</summary>
    public string ServerName { get; set; } = "Letterlock";

    private static T Check<T>(T value, T min, T max, string name) where T : IComparable<T>
    {
        if (value.CompareTo(min) < 0 || value.CompareTo(max) > 0)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be between {min} and {max}.");
        }

        return value;
    }
}
