using System.Security.Cryptography;
using System.Text;
using Letterlock.OpenPgp.Mime;
using Letterlock.Provider.Accounts;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;
using Letterlock.Relay.Queue;
using Letterlock.Relay.Routing;
using Letterlock.Smtp;
using Microsoft.Extensions.Logging;
using MimeKit;
using MimeKit.Utils;

namespace Letterlock.Provider.Outbound;

/// <summary>Why a submission (or one step of an SMTP submission) was refused.</summary>
internal enum SubmissionRefusal
{
    None,

    /// <summary>An address is not <c>local@domain</c>.</summary>
    BadAddress,

    /// <summary>The envelope sender or From is not the account's address.</summary>
    NotYourAddress,

    /// <summary>A local recipient does not exist or is disabled.</summary>
    NoSuchUser,

    /// <summary>A local recipient's mailbox is over quota.</summary>
    MailboxFull,

    /// <summary>More recipients than one message may have.</summary>
    TooManyRecipients,

    /// <summary>The account's hourly message or daily recipient limit is reached.</summary>
    RateLimited,

    /// <summary>The message is larger than submission.maxMessageSize.</summary>
    TooLarge,

    /// <summary>The message has no usable header section or no From.</summary>
    BadMessage,

    /// <summary>The message exceeds a limit on its MIME structure (the <c>mx.*</c> limits, the same as for arriving mail).</summary>
    TooComplex,
}

/// <summary>The outcome of a check or a submission. <see cref="Detail"/> is for the submitting user (it is their own account).</summary>
internal sealed record SubmissionCheck(SubmissionRefusal Refusal, string Detail, TimeSpan? RetryAfter = null)
{
    public static SubmissionCheck Ok { get; } = new(SubmissionRefusal.None, "");

    public bool Accepted => Refusal == SubmissionRefusal.None;
}

/// <summary>One recipient of an accepted submission: delivered to a local inbox, or queued for relay.</summary>
internal sealed record SubmittedRecipient(string Address, bool Local);

/// <summary>An accepted submission.</summary>
internal sealed record SubmissionReceipt(string SubmissionId, IReadOnlyList<SubmittedRecipient> Recipients);

/// <summary>
/// Authenticated submission, shared by the HTTPS API and SMTP (587/465): checks that the sender is the account's own
/// address, enforces the per-message recipient limit and the per-account sending limits, delivers to this provider's
/// own users straight into their inboxes (sealed on arrival, no SMTP loop) and queues the rest for the relay. It reads
/// the envelope and the outer header section only: an end-to-end encrypted body passes through untouched.
/// </summary>
internal sealed class SubmissionService(
    IProviderStore store,
    SubmissionStore submissions,
    LocalInbox inbox,
    RelayQueue queue,
    ProviderSettings settings,
    TimeProvider time,
    ILogger logger)
{
    /// <summary>Longest header section read to find From (a bound on hostile input).</summary>
    internal const int MaxHeaderBytes = 256 * 1024;

    private const string TokenPrefix = "llsub1_";

    private readonly MimeLimits _mimeLimits = settings.Mx.ToLimits();

    public SubmissionSettings Limits => settings.Submission;

    /// <summary>
    /// The largest envelope part of an API submission: 2 KiB per recipient allowed (an address is at most 320 octets,
    /// six times that when every character is JSON-escaped) plus 1 KiB; bounds what is read before the limits apply.
    /// </summary>
    public int MaxEnvelopeBytes => 1024 + (2048 * settings.Submission.MaxRecipientsPerMessage);

    /// <summary>How long the answer to a submission with an idempotency key is kept for a retry with the same key.</summary>
    public static readonly TimeSpan IdempotencyKeyKept = TimeSpan.FromHours(24);

    /// <summary>
    /// How long a claimed key without an answer counts as being handled: a retry meanwhile is told to wait (409); after
    /// it, the claim is taken to be abandoned (its node stopped) and the retry submits. Far longer than a submission takes
    /// once its body is read.
    /// </summary>
    public static readonly TimeSpan IdempotencyKeyInFlight = TimeSpan.FromMinutes(5);

    /// <summary>Claims a submission's idempotency key (hashed) for a message and envelope of <paramref name="fingerprint"/>.</summary>
    public Task<(SubmissionKeyState State, string? Response)> ClaimKeyAsync(AccountRecord account, byte[] keyHash, byte[] fingerprint, CancellationToken ct) =>
        submissions.ClaimKeyAsync(account.Id, keyHash, fingerprint, time.GetUtcNow(), IdempotencyKeyInFlight, IdempotencyKeyKept, ct);

    /// <summary>Records the answer given under a claimed key.</summary>
    public Task CompleteKeyAsync(AccountRecord account, byte[] keyHash, string response, CancellationToken ct) =>
        submissions.CompleteKeyAsync(account.Id, keyHash, response, ct);

    /// <summary>Lets go of a claimed key whose submission gave no answer to keep (refused, failed).</summary>
    public Task ReleaseKeyAsync(AccountRecord account, byte[] keyHash, CancellationToken ct) =>
        submissions.ReleaseKeyAsync(account.Id, keyHash, ct);

    /// <summary>The account's address.</summary>
    public string AddressOf(AccountRecord account) => $"{account.LocalPart}@{settings.Domain}";

    /// <summary>Issues a new SMTP submission token bound to <paramref name="deviceId"/>, replacing its previous one.</summary>
    public async Task<(string Token, DateTimeOffset ExpiresAt)> IssueTokenAsync(AccountRecord account, Guid deviceId, CancellationToken ct)
    {
        // The prefix lets secret scanners recognise a leaked token; the rest is 256 random bits.
        string token = TokenPrefix + AccountService.Base64Url(RandomNumberGenerator.GetBytes(32));
        var now = time.GetUtcNow();
        var expires = now.AddDays(settings.Submission.TokenLifetimeDays);
        await submissions.IssueTokenAsync(AccountService.HashSecret(token), deviceId, account.Id, now, expires, ct);
        return (token, expires);
    }

    /// <summary>Ends the SMTP submission token of <paramref name="deviceId"/>; false if it had none.</summary>
    public Task<bool> RevokeTokenAsync(Guid deviceId, CancellationToken ct) => submissions.RevokeTokenAsync(deviceId, ct);

    /// <summary>
    /// AUTH PLAIN: the user name must be the account's address and the password a live token of one of its active
    /// devices. Returns the account, or null.
    /// </summary>
    public async Task<AccountRecord?> AuthenticateAsync(string user, string password, CancellationToken ct)
    {
        if (!password.StartsWith(TokenPrefix, StringComparison.Ordinal) || password.Length > 128)
        {
            return null;
        }

        var token = await submissions.FindTokenAsync(AccountService.HashSecret(password), ct);
        if (token is null || token.ExpiresAt <= time.GetUtcNow())
        {
            return null;
        }

        var device = await store.GetDeviceAsync(token.DeviceId, ct);
        var account = await store.GetAccountAsync(token.AccountId, ct);
        if (device is null || device.Revoked || account is null || account.Status != AccountStatus.Active)
        {
            return null;
        }

        return IsAddressOf(account, user) ? account : null;
    }

    /// <summary>Whether <paramref name="address"/> is the account's own, compared as normalised (NFC, lower case, A-label domain).</summary>
    public bool IsAddressOf(AccountRecord account, string address) =>
        AccountService.TryParseAddress(address, out string localPart, out string domain)
        && string.Equals(localPart, account.LocalPart, StringComparison.Ordinal) && string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase);

    /// <summary>The envelope sender must be the account's own address (no null sender, no other address).</summary>
    public SubmissionCheck CheckSender(AccountRecord account, string envelopeFrom) =>
        IsAddressOf(account, envelopeFrom)
            ? SubmissionCheck.Ok
            : new SubmissionCheck(SubmissionRefusal.NotYourAddress, $"Send as your own address, {AddressOf(account)}");

    /// <summary>Whether one more message with <paramref name="recipients"/> recipients fits the account's limits now.</summary>
    public async Task<SubmissionCheck> CheckRateAsync(AccountRecord account, int recipients, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var usage = await submissions.GetUsageAsync(account.Id, now, ct);
        return Limited(usage.MessagesThisHour + 1 > settings.Submission.MaxMessagesPerHour, usage.RecipientsToday + recipients > settings.Submission.MaxRecipientsPerDay, now);
    }

    /// <summary>Checks one recipient: its syntax and, for this provider's own domain, that the account exists and receives mail.</summary>
    public async Task<(SubmissionCheck Check, AccountRecord? Local)> CheckRecipientAsync(string address, CancellationToken ct)
    {
        int at = address.LastIndexOf('@');
        string? domain = at > 0 ? MxRouter.ToAsciiDomain(address[(at + 1)..]) : null;
        if (domain is null || at > 64 || address.Length > 254 || address.Any(c => c <= ' ' || c is '<' or '>' or '\x7f' or ','))
        {
            return (new SubmissionCheck(SubmissionRefusal.BadAddress, $"'{Printable(address)}' is not an address"), null);
        }

        if (!string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase))
        {
            return (SubmissionCheck.Ok, null);
        }

        var account = AccountService.TryParseAddress(address, out string localPart, out _) ? await store.FindAccountAsync(localPart, ct) : null;
        if (account is null || account.Status != AccountStatus.Active)
        {
            return (new SubmissionCheck(SubmissionRefusal.NoSuchUser, $"No such user here: {Printable(address)}"), null);
        }

        return account.UsedBytes >= account.QuotaBytes
            ? (new SubmissionCheck(SubmissionRefusal.MailboxFull, $"Mailbox full: {Printable(address)}"), null)
            : (SubmissionCheck.Ok, account);
    }

    /// <summary>
    /// Submits a message: every check again (SMTP ran them step by step, the API not at all), then the sending limits
    /// are counted, local recipients get it in their inboxes and remote ones are queued, each durably before this
    /// returns. Nothing is delivered or queued when anything is refused.
    /// </summary>
    /// <param name="account">The sending account.</param>
    /// <param name="envelopeFrom">The envelope sender.</param>
    /// <param name="recipients">The envelope recipients.</param>
    /// <param name="message">The message as submitted.</param>
    /// <param name="with">How it was submitted, for the <c>Received:</c> field: the SMTP session's protocol (ESMTPSA) or <c>HTTPS</c>.</param>
    /// <param name="traceId">What finds the submission in the logs (the SMTP session id), if anything.</param>
    /// <param name="ct">Cancels the submission.</param>
    public async Task<(SubmissionCheck Check, SubmissionReceipt? Receipt)> SubmitAsync(AccountRecord account, string envelopeFrom, IReadOnlyList<string> recipients, ReadOnlyMemory<byte> message,
        string with, string? traceId, CancellationToken ct)
    {
        var sender = CheckSender(account, envelopeFrom);
        if (!sender.Accepted)
        {
            return (sender, null);
        }

        var distinct = recipients.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (distinct.Count == 0)
        {
            return (new SubmissionCheck(SubmissionRefusal.BadAddress, "At least one recipient is required"), null);
        }

        if (distinct.Count > settings.Submission.MaxRecipientsPerMessage)
        {
            return (TooManyRecipients(), null);
        }

        if (message.Length > settings.Submission.MaxMessageSize)
        {
            return (new SubmissionCheck(SubmissionRefusal.TooLarge, $"Message larger than {settings.Submission.MaxMessageSize} bytes"), null);
        }

        // Checked before anything parses it: the relay parses every queued message again, and local recipients' devices
        // would refuse it anyway.
        if (BoundedMime.Check(message.Span, _mimeLimits) is { } violation)
        {
            return (new SubmissionCheck(SubmissionRefusal.TooComplex, MxSettings.Describe(violation)), null);
        }

        var local = new List<AccountRecord>();
        var remote = new List<string>();
        foreach (string recipient in distinct)
        {
            var (check, account2) = await CheckRecipientAsync(recipient, ct);
            if (!check.Accepted)
            {
                return (check, null);
            }

            if (account2 is null)
            {
                remote.Add(recipient);
            }
            else if (!local.Any(a => a.Id == account2.Id))
            {
                local.Add(account2);
            }
        }

        var (headerCheck, completed) = CheckAndCompleteHeader(account, message, with, traceId);
        if (!headerCheck.Accepted)
        {
            return (headerCheck, null);
        }

        var reservedAt = time.GetUtcNow();
        if (!await submissions.TryReserveAsync(account.Id, distinct.Count, reservedAt, settings.Submission.MaxMessagesPerHour, settings.Submission.MaxRecipientsPerDay, ct))
        {
            var usage = await submissions.GetUsageAsync(account.Id, reservedAt, ct);
            var limited = Limited(usage.MessagesThisHour + 1 > settings.Submission.MaxMessagesPerHour, true, reservedAt);
            return (limited, null);
        }

        bool done = false;
        try
        {
            // Local recipients first: if queueing then failed, the sender's retry could at worst repeat a message in
            // our own inboxes, never to another server.
            if (local.Count > 0)
            {
                var outcomes = await inbox.DeliverAsync(local, completed, $"auth=pass smtp.auth={AddressOf(account)}", ct);
                if (outcomes.Any(o => o.Status != WriteStatus.Ok))
                {
                    bool full = outcomes.Any(o => o.Status == WriteStatus.QuotaExceeded);
                    return (new SubmissionCheck(full ? SubmissionRefusal.MailboxFull : SubmissionRefusal.NoSuchUser, full ? "A local recipient's mailbox is full" : "A local recipient no longer receives mail"), null);
                }
            }

            string id;
            if (remote.Count > 0)
            {
                var queued = await queue.EnqueueAsync(AddressOf(account), remote, completed, ct);
                if (!queued.Accepted)
                {
                    // the checks above mirror the queue's; this is a safety net
                    return (new SubmissionCheck(SubmissionRefusal.BadAddress, queued.Error ?? "refused"), null);
                }

                id = queued.MessageId!;
            }
            else
            {
                id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            }

            done = true;
            Log.SubmissionAccepted(logger, id, local.Count, remote.Count, completed.Length);
            var byAddress = local.Select(a => AddressOf(a)).ToHashSet(StringComparer.OrdinalIgnoreCase);
            return (SubmissionCheck.Ok, new SubmissionReceipt(id, distinct.Select(r => new SubmittedRecipient(r, byAddress.Contains(r))).ToList()));
        }
        finally
        {
            if (!done)
            {
                await submissions.ReleaseAsync(account.Id, distinct.Count, reservedAt, CancellationToken.None);
            }
        }
    }

    public SubmissionCheck TooManyRecipients() =>
        new(SubmissionRefusal.TooManyRecipients, $"Too many recipients: at most {settings.Submission.MaxRecipientsPerMessage} per message");

    private SubmissionCheck Limited(bool hourly, bool daily, DateTimeOffset now)
    {
        if (hourly)
        {
            var end = SubmissionStore.WindowEnd(now, hourly: true);
            return new SubmissionCheck(SubmissionRefusal.RateLimited,
                $"Sending limit reached: at most {settings.Submission.MaxMessagesPerHour} messages per hour; try again after {end:HH:mm} UTC", end - now);
        }

        if (daily)
        {
            var end = SubmissionStore.WindowEnd(now, hourly: false);
            return new SubmissionCheck(SubmissionRefusal.RateLimited,
                $"Sending limit reached: at most {settings.Submission.MaxRecipientsPerDay} recipients per day; try again after {end:yyyy-MM-dd HH:mm} UTC", end - now);
        }

        return SubmissionCheck.Ok;
    }

    /// <summary>
    /// Room for the fields submission adds on top of a message of <c>submission.maxMessageSize</c>: <c>Received</c>
    /// (about 150 bytes), <c>Date</c> and <c>Message-ID</c> (about 100 together).
    /// </summary>
    internal const int AddedFieldsAllowance = 1024;

    /// <summary>
    /// Reads the header section only: From must name exactly the account's address (DKIM then signs for our domain
    /// only what our user wrote). A missing Date or Message-ID is added (RFC 6409, 8.2 and 8.3); the Message-ID is what
    /// receivers de-duplicate on after a crash made the relay send twice. A <c>Received:</c> field goes on top (RFC 5321,
    /// 4.4) without the submitting device's address or name: where a person sends from is theirs, not every recipient's.
    /// </summary>
    private (SubmissionCheck Check, ReadOnlyMemory<byte> Message) CheckAndCompleteHeader(AccountRecord account, ReadOnlyMemory<byte> message, string with, string? traceId)
    {
        HeaderList headers;
        try
        {
            using var stream = new MemoryStream(message[..Math.Min(message.Length, MaxHeaderBytes)].ToArray(), writable: false);
            headers = HeaderList.Load(BoundedMime.Options(_mimeLimits), stream);
        }
        catch (FormatException)
        {
            return (new SubmissionCheck(SubmissionRefusal.BadMessage, "The message has no valid header section"), message);
        }

        string? from = headers[HeaderId.From];
        if (from is null || !InternetAddressList.TryParse(from, out var list) || list.Count == 0)
        {
            return (new SubmissionCheck(SubmissionRefusal.BadMessage, "The message has no From header"), message);
        }

        if (list.Count != 1 || list[0] is not MailboxAddress mailbox || !IsAddressOf(account, mailbox.Address))
        {
            return (new SubmissionCheck(SubmissionRefusal.NotYourAddress, $"From must be your own address, {AddressOf(account)}"), message);
        }

        // Bcc recipients are in the envelope; the field itself would show them to everyone (RFC 5322, 3.6.3)
        if (headers.Contains(HeaderId.Bcc))
        {
            message = WithoutField(message, "Bcc");
        }

        var added = new StringBuilder(TraceField.Received(settings.HostName, with, time.GetUtcNow(), id: traceId));
        if (!headers.Contains(HeaderId.Date))
        {
            added.Append("Date: ").Append(DateUtils.FormatDate(time.GetUtcNow())).Append("\r\n");
        }

        if (!headers.Contains(HeaderId.MessageId))
        {
            added.Append("Message-ID: <").Append(MimeUtils.GenerateMessageId(settings.Domain)).Append(">\r\n");
        }

        byte[] prefix = Encoding.ASCII.GetBytes(added.ToString());
        byte[] completed = new byte[prefix.Length + message.Length];
        prefix.CopyTo(completed, 0);
        message.CopyTo(completed.AsMemory(prefix.Length));
        return (SubmissionCheck.Ok, completed);
    }

    /// <summary>The message without the header fields named <paramref name="name"/>; everything else byte for byte.</summary>
    internal static ReadOnlyMemory<byte> WithoutField(ReadOnlyMemory<byte> message, string name)
    {
        // field = name ":" value CRLF *( WSP continuation CRLF )   (RFC 5322, 2.2.3); the header ends at the first empty line
        var span = message.Span;
        var output = new MemoryStream(message.Length);
        int position = 0;
        while (position < span.Length && !span[position..].StartsWith("\r\n"u8) && span[position] != (byte)'\n')
        {
            int end = position;
            do
            {
                int lf = span[end..].IndexOf((byte)'\n');
                end = lf < 0 ? span.Length : end + lf + 1;
            }
            while (end < span.Length && span[end] is (byte)' ' or (byte)'\t');

            var field = span[position..end];
            int colon = field.IndexOf((byte)':');
            bool drop = colon > 0 && Encoding.ASCII.GetString(field[..colon]).Trim().Equals(name, StringComparison.OrdinalIgnoreCase);
            if (!drop)
            {
                output.Write(field);
            }

            position = end;
        }

        output.Write(span[position..]);
        return output.ToArray();
    }

    private static string Printable(string text) => new(text.Select(c => c is >= ' ' and <= '~' ? c : '?').Take(100).ToArray());
}
