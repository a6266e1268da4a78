using System.Globalization;
using System.Net;
using System.Security.Authentication;
using System.Text;
using Letterlock.Smtp.Protocol;
using Letterlock.Smtp.Transport;

namespace Letterlock.Smtp;

/// <summary>
/// One SMTP session (RFC 5321) with the extensions every role needs: PIPELINING (RFC 2920), SIZE (1870), 8BITMIME
/// (6152), SMTPUTF8 (6531), CHUNKING (3030), ENHANCEDSTATUSCODES (2034), STARTTLS (3207), AUTH PLAIN and LOGIN (4954).
/// Commands are parsed by <see cref="SmtpGrammar"/>; the transaction goes to the <see cref="ISmtpBackend"/>.
/// </summary>
/// <remarks>
/// Replies say little (STYLE.md, 5): what failed inside goes to the log, the peer gets the class of failure.
/// Errors are counted: after <see cref="SmtpFrontEndOptions.MaxBadCommands"/> in a row the session ends with 421.
/// </remarks>
internal sealed class SmtpSession(
    SmtpConnection connection,
    SmtpFrontEndOptions options,
    SmtpListenerOptions listener,
    ISmtpBackend backend,
    ISmtpAuthenticator? authenticator,
    Action<SmtpEvent> log,
    IPEndPoint remote)
{
    private static readonly SmtpReply BadSequence = new(503, "5.5.1", "Bad sequence of commands");
    private static readonly SmtpReply ShuttingDown = new(421, "4.3.2", "Service shutting down, try again later");

    private readonly Guid _id = Guid.NewGuid();
    private string? _helo;
    private bool _extended;
    private string? _user;
    private int _authFailures;
    private int _badCommands;
    private ISmtpDelivery? _delivery;
    private bool _utf8;
    private int _recipients;
    private bool _chunking;
    private long _chunked;

    public Guid Id => _id;

    /// <summary>Runs the session to its end; never throws for what the client does.</summary>
    /// <param name="stopping">Cancelled when the server shuts down: the client is told 421 and the session ends.</param>
    public async Task RunAsync(CancellationToken stopping)
    {
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        lifetime.CancelAfter(options.SessionTimeout);
        var ct = lifetime.Token;
        try
        {
            if (listener.TlsMode == SmtpTlsMode.Implicit)
            {
                await connection.UpgradeAsync(options.ServerTlsOptions(), ct).ConfigureAwait(false);
            }

            connection.Write(220, false, $"{options.ServerName} ESMTP");
            while (await NextAsync(ct).ConfigureAwait(false))
            {
                if (_badCommands >= options.MaxBadCommands)
                {
                    log(new SmtpEvent(SmtpEventLevel.Warning, _id, remote, "too many bad commands"));
                    connection.Write(new SmtpReply(421, "4.7.0", "Too many errors, closing connection"));
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            connection.Write(ShuttingDown);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            log(new SmtpEvent(SmtpEventLevel.Warning, _id, remote, "session timeout"));
            connection.Write(new SmtpReply(421, "4.4.2", "Session too long, closing connection"));
        }
        catch (TimeoutException)
        {
            log(new SmtpEvent(SmtpEventLevel.Warning, _id, remote, "command timeout"));
            connection.Write(new SmtpReply(421, "4.4.2", "Timeout waiting for the client, closing connection"));
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or AuthenticationException or ObjectDisposedException)
        {
            log(new SmtpEvent(SmtpEventLevel.Warning, _id, remote, $"session ended: {e.GetType().Name}"));
        }
        catch (Exception e)
        {
            log(new SmtpEvent(SmtpEventLevel.Error, _id, remote, "session failed", e));
            connection.Write(new SmtpReply(421, "4.3.0", "Internal error, closing connection"));
        }
        finally
        {
            // an unfinished transaction leaves nothing behind
            await AbortAsync().ConfigureAwait(false);
            await connection.CloseAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Reads and answers one command; false when the session is over.</summary>
    private async Task<bool> NextAsync(CancellationToken ct)
    {
        var (status, line) = await ReadLineAsync(ct).ConfigureAwait(false);
        switch (status)
        {
            case LineStatus.Closed:
                return false;
            case LineStatus.TooLong:
                log(new SmtpEvent(SmtpEventLevel.Warning, _id, remote, "command line longer than MaxCommandLineLength"));
                connection.Write(new SmtpReply(500, "5.5.2", "Line too long"));
                return false;
            case LineStatus.BareLf:
                Bad(new SmtpReply(500, "5.5.2", "Syntax error: lines must end with CRLF"));
                return true;
        }

        var verb = SmtpGrammar.ParseVerb(line, out int argumentStart);
        var argument = line.AsMemory(argumentStart);
        bool ok = verb switch
        {
            SmtpVerb.Ehlo or SmtpVerb.Helo => await HelloAsync(verb, argument).ConfigureAwait(false),
            SmtpVerb.Mail => await MailAsync(argument, ct).ConfigureAwait(false),
            SmtpVerb.Rcpt => await RcptAsync(argument, ct).ConfigureAwait(false),
            SmtpVerb.Data => await DataAsync(argument, ct).ConfigureAwait(false),
            SmtpVerb.Bdat => await BdatAsync(argument, ct).ConfigureAwait(false),
            SmtpVerb.Rset => await ResetAsync().ConfigureAwait(false),
            SmtpVerb.Noop => Reply(SmtpReply.Ok),
            SmtpVerb.Vrfy => Reply(new SmtpReply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery")),
            SmtpVerb.Help => Reply(new SmtpReply(214, "2.0.0", "See RFC 5321")),
            SmtpVerb.Quit => Quit(),
            SmtpVerb.StartTls => await StartTlsAsync(argument, ct).ConfigureAwait(false),
            SmtpVerb.Auth => await AuthAsync(argument, ct).ConfigureAwait(false),
            _ => Bad(new SmtpReply(500, "5.5.1", "Command unrecognized")),
        };
        return ok;
    }

    private async ValueTask<(LineStatus Status, byte[] Line)> ReadLineAsync(CancellationToken ct)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
        idle.CancelAfter(options.CommandTimeout);
        try
        {
            return await connection.ReadLineAsync(options.MaxCommandLineLength, idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException("no command in time");
        }
    }

    private bool Reply(SmtpReply reply)
    {
        connection.Write(reply);
        if (reply.Code is >= 500 and <= 504)
        {
            _badCommands++;
        }
        else
        {
            _badCommands = 0;
        }

        return true;
    }

    private bool Bad(SmtpReply reply)
    {
        connection.Write(reply);
        _badCommands++;
        return true;
    }

    private bool Quit()
    {
        connection.Write(new SmtpReply(221, "2.0.0", "Bye"));
        return false;
    }

    // ehlo = "EHLO" SP ( Domain / address-literal ); helo = "HELO" SP Domain   (RFC 5321, 4.1.1.1)
    private async ValueTask<bool> HelloAsync(SmtpVerb verb, ReadOnlyMemory<byte> argument)
    {
        string? name = HeloName(argument.Span);
        if (name is null)
        {
            return Bad(new SmtpReply(501, "5.5.4", $"Syntax: {(verb == SmtpVerb.Ehlo ? "EHLO" : "HELO")} hostname"));
        }

        // RFC 5321, 4.1.4: EHLO/HELO mid-session resets the transaction
        await AbortAsync().ConfigureAwait(false);
        _helo = name;
        _extended = verb == SmtpVerb.Ehlo;
        if (!_extended)
        {
            return Reply(new SmtpReply(250, string.Empty, options.ServerName));
        }

        var lines = new List<string>
        {
            options.ServerName,
            "PIPELINING",
            string.Create(CultureInfo.InvariantCulture, $"SIZE {options.MaxMessageSize}"),
            "8BITMIME",
            "SMTPUTF8",
            "CHUNKING",
            "ENHANCEDSTATUSCODES",
        };
        if (options.HasCertificate && !connection.IsSecure)
        {
            lines.Add("STARTTLS");
        }

        if (AuthOffered)
        {
            lines.Add("AUTH PLAIN LOGIN");
        }

        for (int i = 0; i < lines.Count; i++)
        {
            connection.Write(250, i < lines.Count - 1, lines[i]);
        }

        _badCommands = 0;
        return true;
    }

    private static string? HeloName(ReadOnlySpan<byte> argument)
    {
        var name = argument.Trim((byte)' ');
        return name.Length == 0 || name.IndexOfAny((byte)' ', (byte)'\t') >= 0 || !SmtpGrammar.IsValidUtf8(name) || name.ContainsAnyInRange((byte)0, (byte)31)
            ? null
            : Encoding.UTF8.GetString(name);
    }

    private bool AuthOffered => authenticator is not null && (connection.IsSecure || listener.AllowAuthenticationWithoutTls);

    private async ValueTask<bool> MailAsync(ReadOnlyMemory<byte> argument, CancellationToken ct)
    {
        if (_helo is null)
        {
            return Bad(new SmtpReply(503, "5.5.1", "Send EHLO first"));
        }

        if (_delivery is not null)
        {
            return Bad(new SmtpReply(503, "5.5.1", "Nested MAIL command"));
        }

        if (listener.RequireAuthentication && _user is null)
        {
            return Reply(SmtpReply.AuthenticationRequired);
        }

        var status = SmtpGrammar.ParseMail(argument.Span, out var path, out var parameters);
        switch (status)
        {
            case ParseStatus.Syntax:
                return Bad(new SmtpReply(501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"));
            case ParseStatus.BadPath:
                return Reply(new SmtpReply(553, "5.1.7", "Bad sender address syntax"));
            case ParseStatus.InvalidUtf8:
                return Reply(new SmtpReply(553, "5.1.7", "Sender address is not valid UTF-8"));
        }

        bool utf8 = false;
        long size = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (keyword, value) in parameters)
        {
            if (!seen.Add(keyword) || !_extended)
            {
                return Bad(new SmtpReply(555, "5.5.4", "Parameter repeated or not allowed after HELO"));
            }

            switch (keyword)
            {
                case "SIZE" when value is not null && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out size):
                    break;
                case "BODY" when value is not null && (value.Equals("7BIT", StringComparison.OrdinalIgnoreCase) || value.Equals("8BITMIME", StringComparison.OrdinalIgnoreCase)):
                    break;
                case "SMTPUTF8" when value is null:
                    utf8 = true;
                    break;
                case "AUTH" when value is not null:
                    // RFC 4954, 5: the original submitter, informational for a relay; not used here
                    break;
                default:
                    return Reply(new SmtpReply(555, "5.5.4", "Unsupported MAIL parameter " + keyword));
            }
        }

        if (path.NeedsUtf8 && !utf8)
        {
            return Reply(new SmtpReply(553, "5.6.7", "Non-ASCII sender address needs SMTPUTF8 (RFC 6531)"));
        }

        if (size > options.MaxMessageSize)
        {
            return Reply(SmtpReply.MessageTooBig);
        }

        SmtpDeliveryStart start;
        try
        {
            start = await backend.StartDeliveryAsync(Describe(utf8), path.Address, size, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log(new SmtpEvent(SmtpEventLevel.Error, _id, remote, "backend failed at MAIL FROM", e));
            return Reply(Failure(e));
        }

        if (start.Delivery is null || !start.Reply.IsPositive)
        {
            if (start.Delivery is not null)
            {
                await start.Delivery.DisposeAsync().ConfigureAwait(false);
            }

            return Reply(start.Reply);
        }

        _delivery = start.Delivery;
        _utf8 = utf8;
        _recipients = 0;
        _chunking = false;
        _chunked = 0;
        return Reply(start.Reply);
    }

    private async ValueTask<bool> RcptAsync(ReadOnlyMemory<byte> argument, CancellationToken ct)
    {
        if (_delivery is null)
        {
            return Bad(new SmtpReply(503, "5.5.1", "Need MAIL command"));
        }

        var status = SmtpGrammar.ParseRcpt(argument.Span, out var path, out var parameters);
        switch (status)
        {
            case ParseStatus.Syntax:
                return Bad(new SmtpReply(501, "5.5.4", "Syntax: RCPT TO:<address>"));
            case ParseStatus.BadPath:
                return Reply(new SmtpReply(553, "5.1.3", "Bad recipient address syntax"));
            case ParseStatus.InvalidUtf8:
                return Reply(new SmtpReply(553, "5.1.3", "Recipient address is not valid UTF-8"));
        }

        if (parameters.Count > 0)
        {
            return Reply(new SmtpReply(555, "5.5.4", "Unsupported RCPT parameter " + parameters[0].Key));
        }

        if (path.NeedsUtf8 && !_utf8)
        {
            return Reply(new SmtpReply(553, "5.6.7", "Non-ASCII recipient address needs SMTPUTF8 on MAIL FROM (RFC 6531)"));
        }

        if (_recipients >= options.MaxRecipients)
        {
            log(new SmtpEvent(SmtpEventLevel.Warning, _id, remote, "too many recipients"));
            return Reply(SmtpReply.TooManyRecipients);
        }

        SmtpReply reply;
        try
        {
            reply = await _delivery.AddRecipientAsync(path.Address, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log(new SmtpEvent(SmtpEventLevel.Error, _id, remote, "backend failed at RCPT TO", e));
            return Reply(Failure(e));
        }

        if (reply.IsPositive)
        {
            _recipients++;
        }

        return Reply(reply);
    }

    private async ValueTask<bool> DataAsync(ReadOnlyMemory<byte> argument, CancellationToken ct)
    {
        if (argument.Length > 0)
        {
            return Bad(new SmtpReply(501, "5.5.4", "Syntax: DATA"));
        }

        if (_delivery is null || _chunking)
        {
            return Bad(_delivery is null ? new SmtpReply(503, "5.5.1", "Need MAIL command") : BadSequence);
        }

        if (_recipients == 0)
        {
            return Reply(new SmtpReply(554, "5.5.1", "No valid recipients"));
        }

        var delivery = _delivery;
        connection.Write(354, false, "Start mail input; end with <CRLF>.<CRLF>");
        Exception? failed = null;
        var status = await connection.ReadDotContentAsync(async (chunk, token) =>
        {
            if (failed is null)
            {
                try
                {
                    await delivery.WriteBodyAsync(chunk, token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    failed = e;
                }
            }
        }, options.MaxMessageSize, options.CommandTimeout, ct).ConfigureAwait(false);

        switch (status)
        {
            case ContentStatus.Closed:
                await AbortAsync().ConfigureAwait(false);
                return false;
            case ContentStatus.BareLf:
                log(new SmtpEvent(SmtpEventLevel.Warning, _id, remote, "bare LF in DATA"));
                await AbortAsync().ConfigureAwait(false);
                connection.Write(new SmtpReply(554, "5.5.2", "Bare LF in message content: lines must end with CRLF (RFC 5321, 2.3.8); closing connection"));
                return false;
            case ContentStatus.TooLarge:
                await AbortAsync().ConfigureAwait(false);
                return Reply(SmtpReply.MessageTooBig);
        }

        return Reply(await CommitAsync(failed, ct).ConfigureAwait(false));
    }

    private async ValueTask<bool> BdatAsync(ReadOnlyMemory<byte> argument, CancellationToken ct)
    {
        if (!SmtpGrammar.TryParseBdat(argument.Span, out long size, out bool last))
        {
            // without a size the chunk cannot be skipped: the session cannot stay in step
            connection.Write(new SmtpReply(501, "5.5.4", "Syntax: BDAT size [LAST]; closing connection"));
            return false;
        }

        if (_delivery is null || _recipients == 0)
        {
            if (size > options.MaxMessageSize)
            {
                connection.Write(new SmtpReply(552, "5.3.4", "Chunk exceeds the message size limit; closing connection"));
                return false;
            }

            // RFC 3030, 2: the chunk is read even when the command fails
            await connection.ReadChunkAsync(size, null, options.CommandTimeout, ct).ConfigureAwait(false);
            return Bad(_delivery is null ? new SmtpReply(503, "5.5.1", "Need MAIL command") : new SmtpReply(554, "5.5.1", "No valid recipients"));
        }

        if (_chunked + size > options.MaxMessageSize)
        {
            await AbortAsync().ConfigureAwait(false);
            connection.Write(new SmtpReply(552, "5.3.4", "Message size exceeds fixed limit; closing connection"));
            return false;
        }

        _chunking = true;
        _chunked += size;
        var delivery = _delivery;
        Exception? failed = null;
        bool complete = await connection.ReadChunkAsync(size, async (chunk, token) =>
        {
            if (failed is null)
            {
                try
                {
                    await delivery.WriteBodyAsync(chunk, token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    failed = e;
                }
            }
        }, options.CommandTimeout, ct).ConfigureAwait(false);
        if (!complete)
        {
            await AbortAsync().ConfigureAwait(false);
            return false;
        }

        if (!last)
        {
            if (failed is not null)
            {
                log(new SmtpEvent(SmtpEventLevel.Error, _id, remote, "backend failed during BDAT", failed));
                await AbortAsync().ConfigureAwait(false);
                return Reply(Failure(failed));
            }

            return Reply(new SmtpReply(250, "2.0.0", string.Create(CultureInfo.InvariantCulture, $"{size} octets received")));
        }

        return Reply(await CommitAsync(failed, ct).ConfigureAwait(false));
    }

    /// <summary>Commits the transaction (the backend answers 250 only once it is durable) and ends it either way.</summary>
    private async ValueTask<SmtpReply> CommitAsync(Exception? failed, CancellationToken ct)
    {
        var delivery = _delivery!;
        _delivery = null;
        _recipients = 0;
        _chunking = false;
        _chunked = 0;
        await using (delivery.ConfigureAwait(false))
        {
            try
            {
                if (failed is not null)
                {
                    throw failed;
                }

                return await delivery.CommitAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log(new SmtpEvent(SmtpEventLevel.Error, _id, remote, "backend failed at end of data", e));
                await delivery.AbortAsync().ConfigureAwait(false);
                return Failure(e);
            }
        }
    }

    private async ValueTask<bool> ResetAsync()
    {
        await AbortAsync().ConfigureAwait(false);
        return Reply(new SmtpReply(250, "2.0.0", "Flushed"));
    }

    private async ValueTask AbortAsync()
    {
        var delivery = _delivery;
        _delivery = null;
        _recipients = 0;
        _chunking = false;
        _chunked = 0;
        if (delivery is null)
        {
            return;
        }

        try
        {
            await delivery.AbortAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            log(new SmtpEvent(SmtpEventLevel.Error, _id, remote, "abort failed", e));
        }
        finally
        {
            await delivery.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask<bool> StartTlsAsync(ReadOnlyMemory<byte> argument, CancellationToken ct)
    {
        if (argument.Length > 0)
        {
            return Bad(new SmtpReply(501, "5.5.4", "Syntax: STARTTLS"));
        }

        if (!options.HasCertificate || connection.IsSecure)
        {
            return Bad(connection.IsSecure ? new SmtpReply(503, "5.5.1", "TLS already active") : new SmtpReply(502, "5.5.1", "STARTTLS not available"));
        }

        connection.Write(new SmtpReply(220, "2.0.0", "Ready to start TLS"));
        await connection.UpgradeAsync(options.ServerTlsOptions(), ct).ConfigureAwait(false);

        // RFC 3207, 4.2: everything learnt before TLS is forgotten
        await AbortAsync().ConfigureAwait(false);
        _helo = null;
        _extended = false;
        _user = null;
        _badCommands = 0;
        return true;
    }

    // auth-command = "AUTH" SP sasl-mech [SP initial-response]; initial-response = base64 / "="   (RFC 4954, 4)
    private async ValueTask<bool> AuthAsync(ReadOnlyMemory<byte> argument, CancellationToken ct)
    {
        if (authenticator is null || _helo is null || !_extended)
        {
            return Bad(authenticator is null ? new SmtpReply(502, "5.5.1", "AUTH not available") : new SmtpReply(503, "5.5.1", "Send EHLO first"));
        }

        if (!AuthOffered)
        {
            return Reply(new SmtpReply(538, "5.7.11", "Encryption required for requested authentication mechanism"));
        }

        if (_user is not null || _delivery is not null)
        {
            return Bad(BadSequence);
        }

        string text = Encoding.ASCII.GetString(argument.Span);
        int space = text.IndexOf(' ', StringComparison.Ordinal);
        string mechanism = (space < 0 ? text : text[..space]).ToUpperInvariant();
        string? initial = space < 0 ? null : text[(space + 1)..];
        string? user;
        string? password;
        switch (mechanism)
        {
            case "PLAIN":
            {
                // message = [authzid] UTF8NUL authcid UTF8NUL passwd   (RFC 4616, 2)
                byte[]? response = await ChallengeAsync(initial, string.Empty, ct).ConfigureAwait(false);
                if (response is null)
                {
                    return true;
                }

                var parts = Encoding.UTF8.GetString(response).Split('\0');
                if (parts.Length != 3)
                {
                    return Bad(new SmtpReply(501, "5.5.2", "Malformed PLAIN response"));
                }

                (user, password) = (parts[1], parts[2]);
                break;
            }

            case "LOGIN":
            {
                byte[]? name = await ChallengeAsync(initial, "VXNlcm5hbWU6", ct).ConfigureAwait(false);
                if (name is null)
                {
                    return true;
                }

                byte[]? secret = await ChallengeAsync(null, "UGFzc3dvcmQ6", ct).ConfigureAwait(false);
                if (secret is null)
                {
                    return true;
                }

                (user, password) = (Encoding.UTF8.GetString(name), Encoding.UTF8.GetString(secret));
                break;
            }

            default:
                return Reply(new SmtpReply(504, "5.5.4", "Unrecognized authentication mechanism"));
        }

        bool accepted;
        try
        {
            accepted = await authenticator.AuthenticateAsync(Describe(false), user, password, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log(new SmtpEvent(SmtpEventLevel.Error, _id, remote, "authenticator failed", e));
            return Reply(new SmtpReply(454, "4.7.0", "Temporary authentication failure"));
        }

        if (accepted)
        {
            _user = user;
            return Reply(new SmtpReply(235, "2.7.0", "Authentication successful"));
        }

        log(new SmtpEvent(SmtpEventLevel.Warning, _id, remote, "authentication failed"));
        if (++_authFailures >= options.MaxAuthenticationAttempts)
        {
            connection.Write(new SmtpReply(421, "4.7.0", "Too many failed authentication attempts, closing connection"));
            return false;
        }

        return Reply(new SmtpReply(535, "5.7.8", "Authentication credentials invalid"));
    }

    /// <summary>The client's answer to a SASL challenge (or its initial response), decoded; null when it was refused (the reply is written).</summary>
    private async ValueTask<byte[]?> ChallengeAsync(string? initial, string challenge, CancellationToken ct)
    {
        string? answer = initial;
        if (answer is null)
        {
            connection.Write(334, false, challenge);
            var (status, line) = await ReadLineAsync(ct).ConfigureAwait(false);
            if (status != LineStatus.Line)
            {
                Bad(new SmtpReply(501, "5.5.2", "Malformed authentication response"));
                return null;
            }

            answer = Encoding.ASCII.GetString(line);
        }

        if (answer == "*")
        {
            Bad(new SmtpReply(501, "5.0.0", "Authentication cancelled"));
            return null;
        }

        if (answer == "=")
        {
            return [];
        }

        byte[] buffer = new byte[(answer.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(answer, buffer, out int written))
        {
            Bad(new SmtpReply(501, "5.5.2", "Malformed authentication response"));
            return null;
        }

        return buffer[..written];
    }

    /// <summary>The reply for a failure inside: 452 4.3.1 when storage is full (RFC 3463), else 451 4.3.0.</summary>
    private SmtpReply Failure(Exception e) =>
        options.InsufficientStorage?.Invoke(e) == true ? SmtpReply.InsufficientStorage : SmtpReply.TemporaryFailure;

    private SmtpSessionInfo Describe(bool utf8) =>
        new(_id, remote, listener.Name, connection.IsSecure, _user)
        {
            HeloName = _helo,
            Utf8 = utf8,
            Protocol = Protocol(utf8),
            TlsProtocol = connection.IsSecure ? connection.TlsProtocol.ToString() : null,
            TlsCipher = connection.TlsCipher,
        };

    // with-protocol values of the Received field: RFC 3848 (ESMTPS, ESMTPA, ESMTPSA) and RFC 6531, 3.7.3 (UTF8SMTP...)
    private string Protocol(bool utf8)
    {
        if (!_extended)
        {
            return "SMTP";
        }

        string suffix = (connection.IsSecure ? "S" : string.Empty) + (_user is not null ? "A" : string.Empty);
        return (utf8 ? "UTF8SMTP" : "ESMTP") + suffix;
    }
}
