using System.Text;
using Letterlock.Api;
using Letterlock.Cryptography;
using Letterlock.Provider.Accounts;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;
using Letterlock.Smtp;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Letterlock.Provider.Mx;

/// <summary>
/// The MX: accepts mail for the provider's accounts, evaluates SPF/DKIM/DMARC into an
/// Authentication-Results header, seals the complete message to each recipient's inbox key with HPKE
/// and commits the sealed documents durably before the front end answers 250. Only the account,
/// the arrival time and the padded size are stored in the clear; logs carry no addresses.
/// </summary>
internal sealed class MxBackend(
    IProviderStore store,
    IBlobStore blobs,
    ProviderSettings settings,
    MessageAuthenticator authenticator,
    TimeProvider time,
    ILogger logger) : ISmtpBackend
{
    private readonly IProviderStore _store = store;
    private readonly IBlobStore _blobs = blobs;
    private readonly ProviderSettings _settings = settings;
    private readonly MessageAuthenticator _authenticator = authenticator;
    private readonly TimeProvider _time = time;
    private readonly ILogger _logger = logger;
    private readonly string _spillDirectory = Path.Combine(settings.DataDirectory, "tmp");
    private readonly Letterlock.OpenPgp.Mime.MimeLimits _limits = settings.Mx.ToLimits();

    /// <summary>Where accepted and refused messages are counted; null counts nothing.</summary>
    internal Operations.ProviderMetrics? Metrics { get; init; }

    public ValueTask<SmtpDeliveryStart> StartDeliveryAsync(SmtpSessionInfo session, string reversePath, long declaredSize, CancellationToken ct) =>
        ValueTask.FromResult(SmtpDeliveryStart.Accept(new Delivery(this, session, reversePath)));

    private sealed class Delivery(MxBackend mx, SmtpSessionInfo session, string reversePath) : ISmtpDelivery
    {
        private readonly List<(Guid Account, byte[] InboxKey)> _recipients = [];
        private readonly PlaintextSpool _spool = new(mx._spillDirectory, mx._settings.Storage.SpillThreshold);

        // The structure is checked as the bytes arrive, before anything parses them (MimeKit's header parsing is
        // quadratic in the folding of a field; a part bomb builds an object per part).
        private readonly Letterlock.OpenPgp.Mime.MimeStructureScanner _scanner = new(mx._limits);

        public async ValueTask<SmtpReply> AddRecipientAsync(string forwardPath, CancellationToken ct)
        {
            if (!AccountService.TryParseAddress(forwardPath, out string localPart, out string domain))
            {
                return new SmtpReply(553, "5.1.3", "Bad recipient address syntax");
            }

            if (!string.Equals(domain, mx._settings.Domain, StringComparison.OrdinalIgnoreCase))
            {
                return SmtpReply.RelayDenied;
            }

            var account = await mx._store.FindAccountAsync(localPart, ct).ConfigureAwait(false);
            if (account is null || account.Status != AccountStatus.Active)
            {
                return SmtpReply.NoSuchUser;
            }

            if (account.UsedBytes >= account.QuotaBytes)
            {
                return SmtpReply.MailboxFull;
            }

            if (!_recipients.Any(r => r.Account == account.Id))
            {
                _recipients.Add((account.Id, account.InboxPublicKey));
            }

            return SmtpReply.RecipientOk;
        }

        public ValueTask WriteBodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken ct) =>
            _scanner.Violation is null && _scanner.Feed(chunk.Span) is null
                ? _spool.WriteAsync(chunk, ct)
                : ValueTask.CompletedTask; // refused at the end of DATA: the rest is read and dropped, not kept

        public async ValueTask<SmtpReply> CommitAsync(CancellationToken ct)
        {
            var arrived = mx._time.GetUtcNow();
            if ((_scanner.Violation ?? _scanner.Complete()) is { } violation)
            {
                Log.MxLimitExceeded(mx._logger, session.SessionId, violation.Limit, violation.Allowed);
                return new SmtpReply(552, "5.3.4", MxSettings.Describe(violation));
            }

            await _spool.CompleteAsync(ct).ConfigureAwait(false);

            // Authentication needs the parsed header and the body (DKIM body hash). The parse is persistent: parts stay
            // where they are in the spool (read again when DKIM hashes the body), so no copy of the message is held.
            AuthenticationOutcome outcome;
            await using (var reader = _spool.OpenSeekable())
            {
                var parser = new MimeParser(new ParserOptions { MaxMimeDepth = mx._limits.MaxMimeDepth }, reader, MimeFormat.Entity, persistent: true);
                var message = await parser.ParseMessageAsync(ct).ConfigureAwait(false);
                outcome = await mx._authenticator.EvaluateAsync(session.RemoteEndPoint.Address, reversePath, message, ct).ConfigureAwait(false);
            }

            // RFC 5321 4.4 trace field under the results: the sending server's address and name are kept (they are a
            // server's, not a person's, and what abuse tracing needs); the message is sealed to the recipient anyway
            string received = TraceField.Received(mx._settings.HostName, session.Protocol, arrived, session.HeloName, session.RemoteEndPoint.Address,
                session.SessionId.ToString("N"), session.TlsProtocol, session.TlsCipher);
            byte[] resultsHeader = Encoding.ASCII.GetBytes($"Authentication-Results: {outcome.ToHeaderValue(mx._settings.HostName)}\r\n{received}");
            byte[] headerBlock;
            long bodyOffset;
            await using (var reader = _spool.OpenRead())
            {
                (headerBlock, bodyOffset) = await HeaderFilter.ReadWithoutOwnResultsAsync(reader, mx._settings.HostName, mx._limits.MaxHeaderBytes, ct).ConfigureAwait(false);
            }

            long messageLength = resultsHeader.Length + headerBlock.Length + (_spool.Length - bodyOffset);
            long framedLength = InboxEnvelope.FramedLength(messageLength);
            var writes = new List<InboxWrite>(_recipients.Count);
            foreach (var (account, inboxKey) in _recipients)
            {
                var content = await SealAsync(inboxKey, resultsHeader, headerBlock, bodyOffset, messageLength, framedLength, ct).ConfigureAwait(false);
                writes.Add(new InboxWrite(account, content, framedLength, arrived));
            }

            var outcomes = await mx._store.AppendInboxAsync(writes, ct).ConfigureAwait(false);
            if (outcomes.All(o => o.Status == WriteStatus.Ok))
            {
                Log.MxSealed(mx._logger, session.SessionId, framedLength, writes.Count);
                mx.Metrics?.CountMxAccepted();
                return new SmtpReply(250, "2.0.0", "Message accepted");
            }

            Log.MxRefusedAtCommit(mx._logger, session.SessionId, string.Join(",", outcomes.Select(o => o.Status)));
            mx.Metrics?.CountMxRefused();
            return outcomes.Any(o => o.Status == WriteStatus.QuotaExceeded) ? SmtpReply.MailboxFull : new SmtpReply(550, "5.2.1", "Mailbox unavailable");
        }

        private async Task<CiphertextRef> SealAsync(byte[] inboxKey, byte[] resultsHeader, byte[] headerBlock, long bodyOffset, long messageLength, long framedLength, CancellationToken ct)
        {
            await using var sink = new CiphertextSink(mx._blobs, mx._settings.Storage.InlineThreshold);
            var sealing = HpkeSealingStream.Create(sink, inboxKey, InboxEnvelope.Info, leaveOpen: true);
            await using (sealing.ConfigureAwait(false))
            {
                byte[] prefix = new byte[InboxEnvelope.PrefixLength];
                InboxEnvelope.WritePrefix(prefix, messageLength);
                await sealing.WriteAsync(prefix, ct).ConfigureAwait(false);
                await sealing.WriteAsync(resultsHeader, ct).ConfigureAwait(false);
                await sealing.WriteAsync(headerBlock, ct).ConfigureAwait(false);
                await using (var body = _spool.OpenRead())
                {
                    await SkipAsync(body, bodyOffset, ct).ConfigureAwait(false);
                    await body.CopyToAsync(sealing, 64 * 1024, ct).ConfigureAwait(false);
                }

                long padding = framedLength - InboxEnvelope.PrefixLength - messageLength;
                byte[] zeros = new byte[(int)Math.Min(padding, 64 * 1024)];
                while (padding > 0)
                {
                    int n = (int)Math.Min(padding, zeros.Length);
                    await sealing.WriteAsync(zeros.AsMemory(0, n), ct).ConfigureAwait(false);
                    padding -= n;
                }

                await sealing.CompleteAsync(ct).ConfigureAwait(false);
            }

            return await sink.CompleteAsync(ct).ConfigureAwait(false);
        }

        private static async Task SkipAsync(Stream stream, long count, CancellationToken ct)
        {
            byte[] buffer = new byte[Math.Min(count, 64 * 1024) + 1];
            while (count > 0)
            {
                int read = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(count, buffer.Length)), ct).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new EndOfStreamException();
                }

                count -= read;
            }
        }

        public ValueTask AbortAsync() => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => _spool.DisposeAsync();
    }
}

/// <summary>
/// Copies a message's header block, dropping Authentication-Results fields that claim our own
/// authserv-id: RFC 8601, 5 asks a receiver to remove such forgeries before adding its own.
/// </summary>
internal static class HeaderFilter
{
    /// <summary>
    /// Returns the filtered header block (through the empty line) and where the body starts in the original. At most
    /// <paramref name="maxHeaderBlock"/> bytes are read for it (the MX checked the limit before; a longer block is cut there).
    /// </summary>
    public static async Task<(byte[] Headers, long BodyOffset)> ReadWithoutOwnResultsAsync(Stream message, string authServId, int maxHeaderBlock, CancellationToken ct)
    {
        int limit = maxHeaderBlock + 4; // the block and the empty line that ends it
        // Read the header block: everything up to and including the first empty line (CRLF CRLF).
        var raw = new MemoryStream();
        byte[] buffer = new byte[8192];
        int end = -1;
        while (end < 0 && raw.Length < limit)
        {
            int read = await message.ReadAsync(buffer, ct).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            int scanFrom = (int)Math.Max(0, raw.Length - 3);
            await raw.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
            end = IndexOfBlankLine(raw.GetBuffer().AsSpan(0, (int)raw.Length), scanFrom);
        }

        int headerLength = end >= 0 ? end : (int)Math.Min(raw.Length, limit);
        var block = raw.GetBuffer().AsSpan(0, headerLength);
        var output = new MemoryStream(headerLength);
        int position = 0;
        while (position < block.Length)
        {
            // field = name ":" value CRLF *( WSP continuation CRLF )   (RFC 5322, 2.2.3)
            int fieldEnd = position;
            do
            {
                int lf = block[fieldEnd..].IndexOf((byte)'\n');
                fieldEnd = lf < 0 ? block.Length : fieldEnd + lf + 1;
            }
            while (fieldEnd < block.Length && block[fieldEnd] is (byte)' ' or (byte)'\t');

            var field = block[position..fieldEnd];
            if (!IsOwnResults(field, authServId))
            {
                output.Write(field);
            }

            position = fieldEnd;
        }

        return (output.ToArray(), headerLength);
    }

    private static int IndexOfBlankLine(ReadOnlySpan<byte> data, int from)
    {
        if (from == 0 && data.Length >= 2 && data[0] == '\r' && data[1] == '\n')
        {
            return 2;
        }

        int index = data[from..].IndexOf("\r\n\r\n"u8);
        return index < 0 ? -1 : from + index + 4;
    }

    private static bool IsOwnResults(ReadOnlySpan<byte> field, string authServId)
    {
        const string Name = "Authentication-Results:";
        if (field.Length < Name.Length || !Encoding.ASCII.GetString(field[..Name.Length]).Equals(Name, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        string value = Encoding.ASCII.GetString(field[Name.Length..]).Trim();
        int semicolon = value.IndexOf(';', StringComparison.Ordinal);
        string id = (semicolon >= 0 ? value[..semicolon] : value).Trim();
        int space = id.IndexOfAny([' ', '\t', '\r', '\n']);
        if (space >= 0)
        {
            id = id[..space];
        }

        return id.Equals(authServId, StringComparison.OrdinalIgnoreCase);
    }
}
