using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Text;
using Letterlock.Imap.Backend;
using Letterlock.Imap.Protocol;

namespace Letterlock.Imap.Session;

/// <summary>The connection states of RFC 9051, 3.</summary>
public enum ImapState
{
    /// <summary>Before LOGIN/AUTHENTICATE.</summary>
    NotAuthenticated = 1,
    /// <summary>Logged in, no mailbox selected.</summary>
    Authenticated = 2,
    /// <summary>A mailbox is selected.</summary>
    Selected = 4,
    /// <summary>The session is over.</summary>
    Logout = 8,
}

/// <summary>
/// One IMAP session: reads commands from an <see cref="IImapTransport"/>, runs them against the
/// account's <see cref="IMailAccount"/>, and writes responses, including the untagged updates other
/// sessions and sync cause. Pure protocol: no sockets, no logging framework.
/// </summary>
public sealed partial class ImapSession : IMailboxListener
{
    private readonly IImapTransport _transport;
    private readonly ImapServerContext _context;
    private readonly ImapServerOptions _options;
    private readonly ConcurrentQueue<MailboxChange> _changes = new();
    private readonly SemaphoreSlim _changeSignal = new(0, 1);
    private ImapResponseWriter _writer;
    private IMailAccount? _account;
    private SelectedMailbox? _selected;
    private int _failedLogins;
    private int _badCommands;
    private double _tokens;
    private long _lastRefill;
    private long _pacedInARow;
    private bool _pacingLogged;
    private bool _rev2;
    private bool _condstore;
    private bool _qresync;
    private bool _utf8;
    private PipeReader? _inflated;
    private PipeWriter? _deflated;

    /// <summary>Creates a session on a transport.</summary>
    public ImapSession(IImapTransport transport, ImapServerContext context, string? id = null)
    {
        _transport = transport ?? throw new ArgumentNullException(nameof(transport));
        _context = context ?? throw new ArgumentNullException(nameof(context));
        _options = context.Options;
        _writer = new ImapResponseWriter(transport.Output);
        _tokens = _options.CommandBurst;
        _lastRefill = context.Time.GetTimestamp();
        Id = id ?? Guid.NewGuid().ToString("N")[..12];
    }

    /// <summary>An identifier for logs.</summary>
    public string Id { get; }

    /// <summary>The current state.</summary>
    public ImapState State { get; private set; } = ImapState.NotAuthenticated;

    private PipeReader Input => _inflated ?? _transport.Input;

    private PipeWriter Output => _deflated ?? _transport.Output;

    private sealed class SelectedMailbox(MailboxId id, string name, bool readOnly, MessageIndex index, UidValidity validity, IDisposable registration)
    {
        public MailboxId Id { get; } = id;
        public string Name { get; set; } = name;
        public bool ReadOnly { get; } = readOnly;
        public MessageIndex Index { get; } = index;
        public UidValidity Validity { get; } = validity;
        public IDisposable Registration { get; } = registration;
        public ulong HighestModSeq { get; set; }

        /// <summary>The UIDs the last SEARCH/SORT ... RETURN (SAVE) saved for "$" (RFC 5182), ascending.</summary>
        public uint[] Saved { get; set; } = [];

        /// <summary>The messages that are \Recent in this session (IMAP4rev1 sessions only).</summary>
        public HashSet<uint> Recent { get; } = [];

        /// <summary>The keywords announced in FLAGS/PERMANENTFLAGS so far; a new one is announced before it is used.</summary>
        public HashSet<string> Keywords { get; } = new(StringComparer.OrdinalIgnoreCase);
        /// <summary>
        /// What this session has told its client about a message's flags outside the update queue (STORE and
        /// FETCH answers) while older queued changes may still wait: the mod-sequence, the flags, and whether
        /// the flags themselves went out (a .SILENT STORE tells the client the change, not the result).
        /// </summary>
        public Dictionary<uint, (ulong ModSeq, MessageFlags Flags, bool Silent)> Told { get; } = [];
        public bool Gone { get; set; }
    }

    /// <summary>Called by the backend on any thread: queue the change and wake the session if it idles.</summary>
    void IMailboxListener.OnChange(MailboxChange change)
    {
        _changes.Enqueue(change);
        if (_changeSignal.CurrentCount == 0)
        {
            try
            {
                _changeSignal.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another change already woke the session.
            }
        }
    }

    private void Log(ImapLogLevel level, string message, Exception? e = null) =>
        _context.Log?.Invoke(new ImapLogEntry(level, Id, message, e));

    /// <summary>Runs the session until the client logs out, the connection ends, a timeout fires or <paramref name="ct"/> (server shutdown) is cancelled.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            _writer.Raw("* OK [CAPABILITY "u8).Ascii(Capabilities()).Raw("] "u8).Ascii(_options.ServerName).Raw(" IMAP4rev2 ready\r\n"u8);
            await FlushAsync(ct).ConfigureAwait(false);
            await CommandLoopAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await TryByeAsync("Server shutting down").ConfigureAwait(false);
        }
        catch (ImapFatalException e)
        {
            await TryByeAsync(e.Message).ConfigureAwait(false);
        }
        catch (ImapTimeoutException)
        {
            await TryByeAsync("Autologout; idle for too long").ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            Log(ImapLogLevel.Debug, "Connection lost: " + e.GetType().Name + ": " + e.Message);
        }
        finally
        {
            await CloseSessionAsync().ConfigureAwait(false);
        }
    }

    private async Task TryByeAsync(string text)
    {
        try
        {
            _writer.Raw("* BYE "u8).Ascii(text).Crlf();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await Output.FlushAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The peer is gone; nothing more to say.
        }
    }

    private async Task CloseSessionAsync()
    {
        State = ImapState.Logout;
        Unselect();
        if (_account is not null)
        {
            _context.RemoveSession(_account.AccountKey);
            await _account.DisposeAsync().ConfigureAwait(false);
            _account = null;
        }

        if (_deflated is not null)
        {
            // Ends the DEFLATE streams (and frees their zlib state); the transport's own pipes are completed by the host.
            await _deflated.CompleteAsync().ConfigureAwait(false);
            await _inflated!.CompleteAsync().ConfigureAwait(false);
        }

        _changeSignal.Dispose();
    }

    private TimeSpan CurrentTimeout => State == ImapState.NotAuthenticated ? _options.UnauthenticatedTimeout : _options.AutologoutTimeout;

    /// <summary>Reads with the autologout timer running.</summary>
    private async ValueTask<ReadResult> ReadAsync(CancellationToken ct)
    {
        if (Input.TryRead(out var ready))
        {
            return ready;
        }

        using var timeout = new CancellationTokenSource(CurrentTimeout, _context.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            return await Input.ReadAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new ImapTimeoutException();
        }
    }

    private sealed class ImapTimeoutException : Exception;

    /// <summary>A protocol violation that leaves the stream unreadable: answered with BYE, then the connection closes.</summary>
    private sealed class ImapFatalException(string message) : Exception(message);

    private async Task CommandLoopAsync(CancellationToken ct)
    {
        int continuationSentFor = -1;
        string? discardTag = null;
        bool discarding = false;
        while (State != ImapState.Logout)
        {
            var result = await ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;

            if (discarding)
            {
                // Skipping the rest of an over-long line.
                var lf = buffer.PositionOf((byte)'\n');
                if (lf is null)
                {
                    Input.AdvanceTo(buffer.End);
                    if (result.IsCompleted)
                    {
                        return;
                    }

                    continue;
                }

                Input.AdvanceTo(buffer.GetPosition(1, lf.Value));
                discarding = false;
                await AnswerBadAsync(discardTag, "TOOBIG", "Command line too long", ct).ConfigureAwait(false);
                continue;
            }

            if (buffer.IsEmpty && result.IsCompleted)
            {
                Log(ImapLogLevel.Debug, "Connection lost: client closed the connection");
                return;
            }

            var frame = ImapCommandFramer.Frame(buffer, _options);
            switch (frame.Status)
            {
                case FrameStatus.Complete:
                {
                    var commandBytes = buffer.Slice(0, frame.Length);
                    var parsed = ImapCommandParser.Parse(commandBytes, _options);
                    string? raw = parsed.Command is null ? ImapCommandFormatter.FormatRaw(commandBytes) : null;
                    Input.AdvanceTo(commandBytes.End);
                    continuationSentFor = -1;
                    if (!await PaceAsync(ct).ConfigureAwait(false))
                    {
                        Log(ImapLogLevel.Warning, "Flooding without pause past the abuse threshold; closing");
                        _writer.Ascii(parsed.Tag ?? "*").Raw(" NO [LIMIT] Too many commands\r\n* BYE Too many commands without pause\r\n"u8);
                        await FlushAsync(ct).ConfigureAwait(false);
                        State = ImapState.Logout;
                        return;
                    }

                    if (parsed.Command is null)
                    {
                        Log(ImapLogLevel.Debug, $"Malformed: {raw}: {parsed.Error}");
                        await AnswerBadAsync(parsed.Tag, "CLIENTBUG", parsed.Error ?? "Syntax error", ct).ConfigureAwait(false);
                    }
                    else
                    {
                        _badCommands = 0;
                        await ExecuteAsync(parsed.Command, ct).ConfigureAwait(false);
                    }

                    break;
                }

                case FrameStatus.NeedMoreData:
                    Input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        Log(ImapLogLevel.Debug, "Connection lost: closed in the middle of a command");
                        return;
                    }

                    break;

                case FrameStatus.NeedLiteral:
                    if (frame.LiteralIndex > continuationSentFor)
                    {
                        continuationSentFor = frame.LiteralIndex;
                        _writer.Raw("+ Ready for literal data\r\n"u8);
                        await FlushAsync(ct).ConfigureAwait(false);
                    }

                    Input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        return;
                    }

                    break;

                case FrameStatus.LineTooLong:
                {
                    var lf = buffer.PositionOf((byte)'\n');
                    if (lf is null)
                    {
                        discarding = true;
                        discardTag = frame.Tag;
                        Input.AdvanceTo(buffer.End);
                    }
                    else
                    {
                        Input.AdvanceTo(buffer.GetPosition(1, lf.Value));
                        await AnswerBadAsync(frame.Tag, "TOOBIG", "Command line too long", ct).ConfigureAwait(false);
                    }

                    break;
                }

                case FrameStatus.LiteralRefused:
                    Input.AdvanceTo(buffer.GetPosition(frame.Length));
                    continuationSentFor = -1;
                    await AnswerBadAsync(frame.Tag, "TOOBIG", "Literal too large", ct, no: true).ConfigureAwait(false);
                    break;

                case FrameStatus.Fatal:
                    Input.AdvanceTo(buffer.End);
                    Log(ImapLogLevel.Warning, "Non-synchronizing literal over the limit; closing");
                    _writer.Raw("* BYE [TOOBIG] Literal too large\r\n"u8);
                    await FlushAsync(ct).ConfigureAwait(false);
                    State = ImapState.Logout;
                    return;
            }
        }
    }

    private async Task AnswerBadAsync(string? tag, string code, string text, CancellationToken ct, bool no = false)
    {
        _writer.Ascii(tag ?? "*").Raw(no ? " NO ["u8 : " BAD ["u8).Ascii(code).Raw("] "u8).Ascii(text).Crlf();
        if (!no && ++_badCommands >= _options.MaxBadCommands)
        {
            Log(ImapLogLevel.Warning, "Too many malformed commands; closing");
            _writer.Raw("* BYE Too many invalid commands\r\n"u8);
            State = ImapState.Logout;
        }

        await FlushAsync(ct).ConfigureAwait(false);
    }

    private ValueTask<FlushResult> FlushAsync(CancellationToken ct)
    {
        _writer.ResetCount();
        return Output.FlushAsync(ct);
    }

    /// <summary>Flushes when a large response has accumulated, so a FETCH of 60,000 messages streams instead of buffering.</summary>
    private async ValueTask MaybeFlushAsync(CancellationToken ct)
    {
        if (_writer.Written > 64 * 1024)
        {
            await FlushAsync(ct).ConfigureAwait(false);
        }
    }

    private static ImapState Allowed(ImapCommand command) => command.Name switch
    {
        "CAPABILITY" or "NOOP" or "LOGOUT" or "ID" => ImapState.NotAuthenticated | ImapState.Authenticated | ImapState.Selected,
        "STARTTLS" or "AUTHENTICATE" or "LOGIN" => ImapState.NotAuthenticated,
        "ENABLE" => ImapState.Authenticated,
        "SELECT" or "EXAMINE" or "CREATE" or "DELETE" or "RENAME" or "SUBSCRIBE" or "UNSUBSCRIBE" or "LIST" or "LSUB" or
            "NAMESPACE" or "STATUS" or "APPEND" or "IDLE" or "COMPRESS" => ImapState.Authenticated | ImapState.Selected,
        _ => ImapState.Selected,
    };

    /// <summary>A tagged completion.</summary>
    private readonly record struct Completion(string Status, string? Code, string Text)
    {
        public static Completion Ok(string text, string? code = null) => new("OK", code, text);

        public static Completion No(string text, string? code = null) => new("NO", code, text);

        public static Completion Bad(string text, string? code = null) => new("BAD", code, text);
    }

    private void Refill()
    {
        long now = _context.Time.GetTimestamp();
        double elapsed = _context.Time.GetElapsedTime(_lastRefill, now).TotalSeconds;
        _lastRefill = now;
        _tokens = Math.Min(_options.CommandBurst, _tokens + (elapsed * _options.MaxCommandsPerSecond));
    }

    /// <summary>
    /// Takes one command from the rate budget. When it is spent, waits for it to refill without reading
    /// the connection (backpressure: the kernel's buffers fill and TCP flow control stops the client), so
    /// a fast client is slowed to <see cref="ImapServerOptions.MaxCommandsPerSecond"/>, never refused.
    /// Returns false only past <see cref="ImapServerOptions.MaxPacedCommands"/> commands in a row at the pace.
    /// </summary>
    private async ValueTask<bool> PaceAsync(CancellationToken ct)
    {
        Refill();
        if (_tokens >= 1)
        {
            _tokens -= 1;
            _pacedInARow = 0;
            return true;
        }

        if (++_pacedInARow > _options.MaxPacedCommands)
        {
            return false;
        }

        if (!_pacingLogged)
        {
            _pacingLogged = true;
            Log(ImapLogLevel.Debug, $"Pacing commands at {_options.MaxCommandsPerSecond}/s");
        }

        // Wait for a batch of about 20 ms worth of commands rather than for one: a timer per command
        // would cost more than the commands, and timers are too coarse to pace thousands per second.
        double batch = Math.Clamp(_options.MaxCommandsPerSecond / 50.0, 1, _options.CommandBurst);
        var wait = TimeSpan.FromSeconds((batch - _tokens) / _options.MaxCommandsPerSecond);
        await Task.Delay(wait, _context.Time, ct).ConfigureAwait(false);
        Refill();
        _tokens = Math.Max(0, _tokens - 1);
        return true;
    }

    private async Task ExecuteAsync(ImapCommand command, CancellationToken ct)
    {
        Log(ImapLogLevel.Debug, "C: " + ImapCommandFormatter.Format(command));
        Completion completion;
        bool allowExpunge = command is not (FetchCommand { ByUid: false } or StoreCommand { ByUid: false } or SearchCommand { ByUid: false } or SortCommand { ByUid: false } or ThreadCommand { ByUid: false });
        if ((Allowed(command) & State) == 0)
        {
            completion = Completion.Bad($"{command.Name} is not allowed in this state", "CLIENTBUG");
        }
        else
        {
            try
            {
                completion = await DispatchAsync(command, ct).ConfigureAwait(false);
            }
            catch (StartTlsDoneException)
            {
                return;
            }
            catch (Exception e) when (!(e is OperationCanceledException && ct.IsCancellationRequested) && e is not (ImapTimeoutException or ImapFatalException))
            {
                // Tell the peer little, log the detail; the server keeps running.
                Log(ImapLogLevel.Error, $"{command.Name} failed", e);
                completion = Completion.No("Internal server error", "SERVERBUG");
            }
        }

        if (_selected is not null && State != ImapState.Logout)
        {
            DrainChanges(allowExpunge);
        }

        _writer.Ascii(command.Tag).Sp().Ascii(completion.Status).Sp();
        if (completion.Code is not null)
        {
            _writer.Byte((byte)'[').Ascii(completion.Code).Raw("] "u8);
        }

        _writer.Ascii(completion.Text).Crlf();
        await FlushAsync(ct).ConfigureAwait(false);
    }

    private ValueTask<Completion> DispatchAsync(ImapCommand command, CancellationToken ct) => command switch
    {
        SimpleCommand { Verb: "CAPABILITY" } => Done(CapabilityResponse()),
        SimpleCommand { Verb: "NOOP" or "CHECK" } => Done(Completion.Ok(command.Name + " completed")),
        SimpleCommand { Verb: "LOGOUT" } => Done(Logout(command.Tag)),
        SimpleCommand { Verb: "STARTTLS" } => StartTlsAsync(command.Tag, ct),
        CompressCommand compress => CompressAsync(compress, ct),
        SimpleCommand { Verb: "NAMESPACE" } => Done(Namespace()),
        SimpleCommand { Verb: "IDLE" } => IdleAsync(ct),
        SimpleCommand { Verb: "CLOSE" } => CloseAsync(ct),
        SimpleCommand { Verb: "UNSELECT" } => Done(UnselectCommand()),
        IdCommand => Done(IdResponse()),
        LoginCommand login => LoginAsync(login.User, login.Password, ct),
        AuthenticateCommand auth => AuthenticateAsync(auth, ct),
        EnableCommand enable => Done(Enable(enable)),
        SelectCommand select => SelectAsync(select, ct),
        MailboxCommand { Verb: "CREATE" } create => CreateAsync(create, ct),
        MailboxCommand { Verb: "DELETE" } delete => DeleteAsync(delete, ct),
        MailboxCommand { Verb: "SUBSCRIBE" or "UNSUBSCRIBE" } sub => SubscribeAsync(sub, ct),
        RenameCommand rename => RenameAsync(rename, ct),
        ListCommand list => ListAsync(list, ct),
        StatusCommand status => StatusAsync(status, ct),
        AppendCommand append => AppendAsync(append, ct),
        ExpungeCommand expunge => ExpungeAsync(expunge, ct),
        SearchCommand search => SearchAsync(search, ct),
        SortCommand sort => SortAsync(sort, ct),
        ThreadCommand thread => ThreadAsync(thread, ct),
        FetchCommand fetch => FetchAsync(fetch, ct),
        StoreCommand store => StoreAsync(store, ct),
        CopyCommand copy => CopyAsync(copy, ct),
        _ => Done(Completion.Bad("Unknown command", "CLIENTBUG")),
    };

    private static ValueTask<Completion> Done(Completion c) => ValueTask.FromResult(c);

    private bool LoginAllowed => _transport.Connection.IsSecure || _transport.Connection.IsLoopback;

    /// <summary>The capability list for the current state.</summary>
    public string Capabilities()
    {
        var sb = new StringBuilder("IMAP4rev1 IMAP4rev2");
        if (State == ImapState.NotAuthenticated)
        {
            if (_transport.CanStartTls && !_transport.Connection.IsSecure)
            {
                sb.Append(" STARTTLS");
            }

            sb.Append(LoginAllowed ? " AUTH=PLAIN SASL-IR" : " LOGINDISABLED");
        }

        sb.Append(_options.NonSynchronizingLiteralLimit is null ? " LITERAL+" : " LITERAL-");
        sb.Append(" ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CONDSTORE QRESYNC ESEARCH SEARCHRES SORT ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES");
        sb.Append(" MULTIAPPEND CATENATE SPECIAL-USE CREATE-SPECIAL-USE");
        sb.Append(" LIST-EXTENDED LIST-STATUS CHILDREN BINARY STATUS=SIZE COMPRESS=DEFLATE APPENDLIMIT=").Append(_options.MaxMessageSize);
        return sb.ToString();
    }

    private Completion CapabilityResponse()
    {
        _writer.Raw("* CAPABILITY "u8).Ascii(Capabilities()).Crlf();
        return Completion.Ok("CAPABILITY completed");
    }

    private Completion Logout(string tag)
    {
        _ = tag;
        _writer.Raw("* BYE Logging out\r\n"u8);
        State = ImapState.Logout;
        return Completion.Ok("LOGOUT completed");
    }

    private Completion Namespace()
    {
        // namespace-response = "NAMESPACE" SP namespace SP namespace SP namespace  (personal, other users', shared)
        _writer.Raw("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"u8);
        return Completion.Ok("NAMESPACE completed");
    }

    private Completion IdResponse()
    {
        _writer.Raw("* ID (\"name\" "u8).String(_options.ServerName).Raw(" \"vendor\" \"Letterlock\")\r\n"u8);
        return Completion.Ok("ID completed");
    }

    private Completion Enable(EnableCommand enable)
    {
        var enabled = new List<string>();
        foreach (var cap in enable.Capabilities)
        {
            switch (cap)
            {
                case "CONDSTORE" when !_condstore:
                    _condstore = true;
                    enabled.Add(cap);
                    break;
                case "QRESYNC" when !_qresync:
                    _qresync = true;
                    _condstore = true;
                    enabled.Add(cap);
                    break;
                case "IMAP4REV2" when !_rev2:
                    _rev2 = true;
                    _utf8 = true;
                    enabled.Add("IMAP4rev2");
                    break;
                case "UTF8=ACCEPT" when !_utf8:
                    _utf8 = true;
                    enabled.Add(cap);
                    break;
            }
        }

        _writer.Raw("* ENABLED"u8);
        foreach (var e in enabled)
        {
            _writer.Sp().Ascii(e);
        }

        _writer.Crlf();
        return Completion.Ok("ENABLE completed");
    }

    private async ValueTask<Completion> StartTlsAsync(string tag, CancellationToken ct)
    {
        if (!_transport.CanStartTls || _transport.Connection.IsSecure)
        {
            return Completion.Bad("STARTTLS is not available", "CLIENTBUG");
        }

        _writer.Ascii(tag).Raw(" OK Begin TLS negotiation now\r\n"u8);
        await FlushAsync(ct).ConfigureAwait(false);
        await _transport.StartTlsAsync(ct).ConfigureAwait(false);
        _writer = new ImapResponseWriter(_transport.Output);
        throw new StartTlsDoneException();
    }

    /// <summary>Signals that STARTTLS or COMPRESS has answered itself (before changing the stream); no tagged response follows.</summary>
    private sealed class StartTlsDoneException : Exception;

    /// <summary>
    /// COMPRESS=DEFLATE (RFC 4978): after the tagged OK, both directions are raw DEFLATE (RFC 1951) streams; bytes
    /// the client pipelined after the command are already compressed and are read through the inflater. Every
    /// flush of a response is a zlib sync flush (DeflateStream.Flush), so each response reaches the client whole
    /// instead of waiting in the compressor.
    /// </summary>
    private async ValueTask<Completion> CompressAsync(CompressCommand compress, CancellationToken ct)
    {
        if (compress.Algorithm != "DEFLATE")
        {
            return Completion.Bad("Unknown compression algorithm", "CLIENTBUG");
        }

        if (_deflated is not null)
        {
            return Completion.No("DEFLATE active via COMPRESS", "COMPRESSIONACTIVE");
        }

        _writer.Ascii(compress.Tag).Raw(" OK DEFLATE active\r\n"u8);
        await FlushAsync(ct).ConfigureAwait(false);
        var inflater = new System.IO.Compression.DeflateStream(_transport.Input.AsStream(leaveOpen: true), System.IO.Compression.CompressionMode.Decompress);
        var deflater = new System.IO.Compression.DeflateStream(_transport.Output.AsStream(leaveOpen: true), System.IO.Compression.CompressionLevel.Optimal);
        _inflated = PipeReader.Create(inflater, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024));
        _deflated = PipeWriter.Create(deflater, new StreamPipeWriterOptions(minimumBufferSize: 4096));
        _writer = new ImapResponseWriter(_deflated);
        Log(ImapLogLevel.Debug, "COMPRESS DEFLATE active");
        throw new StartTlsDoneException();
    }

    private async ValueTask<Completion> LoginAsync(string user, string password, CancellationToken ct)
    {
        if (!LoginAllowed)
        {
            return Completion.No("Login is only allowed over TLS", "PRIVACYREQUIRED");
        }

        IMailAccount? account = await _context.Authenticator.AuthenticateAsync(user, password, _transport.Connection, ct).ConfigureAwait(false);
        if (account is null)
        {
            Log(ImapLogLevel.Warning, "Failed login");
            await Task.Delay(_options.FailedLoginDelay, _context.Time, ct).ConfigureAwait(false);
            if (++_failedLogins >= _options.MaxFailedLogins)
            {
                _writer.Raw("* BYE Too many failed logins\r\n"u8);
                State = ImapState.Logout;
            }

            return Completion.No("Authentication failed", "AUTHENTICATIONFAILED");
        }

        if (!_context.TryAddSession(account.AccountKey))
        {
            await account.DisposeAsync().ConfigureAwait(false);
            return Completion.No("Too many sessions for this user", "LIMIT");
        }

        _account = account;
        State = ImapState.Authenticated;
        Log(ImapLogLevel.Information, "Logged in");
        return Completion.Ok("Logged in", "CAPABILITY " + Capabilities());
    }

    private async ValueTask<Completion> AuthenticateAsync(AuthenticateCommand auth, CancellationToken ct)
    {
        if (auth.Mechanism != "PLAIN")
        {
            return Completion.No("Unsupported authentication mechanism", "CANNOT");
        }

        if (!LoginAllowed)
        {
            return Completion.No("Authentication is only allowed over TLS", "PRIVACYREQUIRED");
        }

        string? response = auth.InitialResponse;
        if (response is null)
        {
            // initial-resp absent: ask for it with an empty challenge (RFC 9051, 6.2.2).
            _writer.Raw("+ \r\n"u8);
            await FlushAsync(ct).ConfigureAwait(false);
            response = await ReadLineAsync(ct).ConfigureAwait(false);
            if (response is null)
            {
                State = ImapState.Logout;
                return Completion.Bad("Connection closed");
            }
        }

        if (response == "*")
        {
            return Completion.Bad("Authentication cancelled");
        }

        byte[] decoded;
        try
        {
            // initial-resp = (base64 / "="): "=" is an empty response.
            decoded = response == "=" ? [] : Convert.FromBase64String(response);
        }
        catch (FormatException)
        {
            return Completion.Bad("Invalid base64 in SASL response", "CLIENTBUG");
        }

        // message = [authzid] UTF8NUL authcid UTF8NUL passwd   (RFC 4616)
        var parts = Encoding.UTF8.GetString(decoded).Split('\0');
        Array.Clear(decoded);
        if (parts.Length != 3 || parts[1].Length == 0)
        {
            return Completion.Bad("Malformed PLAIN response", "CLIENTBUG");
        }

        if (parts[0].Length > 0 && parts[0] != parts[1])
        {
            await Task.Delay(_options.FailedLoginDelay, _context.Time, ct).ConfigureAwait(false);
            return Completion.No("Acting as another user is not allowed", "AUTHORIZATIONFAILED");
        }

        return await LoginAsync(parts[1], parts[2], ct).ConfigureAwait(false);
    }

    /// <summary>Reads one line (AUTHENTICATE responses, DONE); null at end of stream.</summary>
    private async ValueTask<string?> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            var result = await ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            var lf = buffer.PositionOf((byte)'\n');
            if (lf is not null)
            {
                var line = buffer.Slice(0, lf.Value);
                string text = Encoding.ASCII.GetString(line).TrimEnd('\r');
                Input.AdvanceTo(buffer.GetPosition(1, lf.Value));
                return text;
            }

            if (buffer.Length > _options.MaxLineLength)
            {
                Input.AdvanceTo(buffer.End);
                throw new ImapFatalException("Line too long");
            }

            Input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return null;
            }
        }
    }
}
