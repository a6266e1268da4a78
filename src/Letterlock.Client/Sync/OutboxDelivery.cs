using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using MimeKit;

namespace Letterlock.Client.Sync;

/// <summary>How the outbox retries and when it gives up.</summary>
public sealed class OutboxOptions
{
    private TimeSpan _initialRetryDelay = TimeSpan.FromSeconds(30);
    private TimeSpan _maxRetryDelay = TimeSpan.FromMinutes(30);
    private TimeSpan _messageLifetime = TimeSpan.FromDays(5);
    private TimeSpan _lease = TimeSpan.FromMinutes(5);

    /// <summary>The wait after the first failed attempt (default 30 s); each further failure doubles it.</summary>
    public TimeSpan InitialRetryDelay
    {
        get => _initialRetryDelay;
        init => _initialRetryDelay = InRange(value, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1), nameof(InitialRetryDelay));
    }

    /// <summary>The longest wait between attempts (default 30 min).</summary>
    public TimeSpan MaxRetryDelay
    {
        get => _maxRetryDelay;
        init => _maxRetryDelay = InRange(value, TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1), nameof(MaxRetryDelay));
    }

    /// <summary>
    /// How long a message may wait for a provider that cannot be reached or keeps failing (default 5 days, as
    /// RFC 5321 4.5.4.1 suggests for MTAs); then it is given up and the user told.
    /// </summary>
    public TimeSpan MessageLifetime
    {
        get => _messageLifetime;
        init => _messageLifetime = InRange(value, TimeSpan.FromSeconds(1), TimeSpan.FromDays(30), nameof(MessageLifetime));
    }

    /// <summary>How long one attempt holds its job; a process that dies leaves it to be claimed again after this (default 5 min).</summary>
    public TimeSpan Lease
    {
        get => _lease;
        init => _lease = InRange(value, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1), nameof(Lease));
    }

    private static TimeSpan InRange(TimeSpan value, TimeSpan min, TimeSpan max, string name) =>
        value >= min && value <= max ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be between {min} and {max}.");
}

/// <summary>What became of one queued message in a delivery round.</summary>
public enum OutboxOutcome
{
    /// <summary>The provider took it (delivered to its own users or queued for relay); the job is gone.</summary>
    Sent,

    /// <summary>The provider could not be reached or failed for now; the job waits for its next attempt.</summary>
    RetryLater,

    /// <summary>Refused for good (or waited past its lifetime); the job is kept as failed and a notice is in the INBOX.</summary>
    Failed,
}

/// <summary>One queued message handled in a round.</summary>
/// <param name="Job">The job.</param>
/// <param name="Account">The sending account's address.</param>
/// <param name="Recipients">Its recipients.</param>
/// <param name="Outcome">What happened.</param>
/// <param name="Reason">For retries and failures, why (the provider's words, never content).</param>
/// <param name="NextAttempt">For retries, when the next attempt is due.</param>
public sealed record OutboxResult(JobId Job, string Account, IReadOnlyList<string> Recipients, OutboxOutcome Outcome, string? Reason, DateTimeOffset? NextAttempt);

/// <summary>
/// Delivers the local outbox (issue 6, "Sending"): every <see cref="QueuedMail"/> job is handed to the sending account's
/// provider over its submission API (<c>POST /v1/submission</c>, authenticated with the device key). 202 completes the
/// job. A provider that cannot be reached, fails (5xx) or asks to slow down (429, with Retry-After; 401 and 408 too)
/// leaves the job waiting with exponential backoff; the queue lives in the store, so it survives restarts. A refusal
/// (any other 4xx: unknown local recipient, not the account's address, too large) and any other failure on this side
/// (a request that cannot be built, an unexpected error) fails the job, kept with its reason, and puts a notice into
/// the account's INBOX, so every mail app shows it like a bounce. A message that fails never holds the account's
/// other messages: only "unreachable" (confirmed by a second, cheap request) and 429 make them wait.
/// </summary>
/// <remarks>
/// Once: every attempt at a job carries the job's id as its idempotency key, so when the provider took a message but its
/// answer was lost (timeout, a dropped connection), the next attempt gets the first answer and nothing is sent again.
/// Only a provider node stopped between queueing the message and recording the answer makes a retry (after five
/// minutes) send it again: at least once there, and the Message-ID is never changed. Messages are sent oldest first.
/// </remarks>
public sealed class OutboxDelivery(LocalStore store, Func<AccountRecord, CancellationToken, Task<ProviderClient>> connect, OutboxOptions? options = null,
    TimeProvider? time = null)
{
    private readonly OutboxOptions _options = options ?? new OutboxOptions();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The outbox options in force.</summary>
    public OutboxOptions Options => _options;

    /// <summary>Attempts every queued message that is due now; returns what happened to each.</summary>
    public async Task<IReadOnlyList<OutboxResult>> DeliverDueAsync(CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var results = new List<OutboxResult>();
        var providers = new Dictionary<AccountId, ProviderClient>();
        // An account whose provider could not be reached in this round: its other messages wait without another try.
        var unreachable = new Dictionary<AccountId, string>();
        while (await store.Jobs.ClaimAsync(QueuedMail.JobKind, _options.Lease, ct).ConfigureAwait(false) is { } job)
        {
            results.Add(await DeliverAsync(job, providers, unreachable, ct).ConfigureAwait(false));
        }

        return results;
    }

    /// <summary>When the next waiting message is due, or null when nothing waits.</summary>
    public async Task<DateTimeOffset?> NextDueAsync(CancellationToken ct = default)
    {
        DateTimeOffset? next = null;
        foreach (var job in await store.Jobs.ListAsync(QueuedMail.JobKind, ct).ConfigureAwait(false))
        {
            if (job.State != JobState.Failed && (next is null || job.NotBefore < next))
            {
                next = job.NotBefore;
            }
        }

        return next;
    }

    private async Task<OutboxResult> DeliverAsync(ClaimedJob job, Dictionary<AccountId, ProviderClient> providers, Dictionary<AccountId, string> unreachable,
        CancellationToken ct)
    {
        var account = job.Account is { } id ? await store.Accounts.GetAsync(id, ct).ConfigureAwait(false) : null;
        QueuedMail mail;
        try
        {
            mail = QueuedMail.FromPayload(job.Payload);
            if (mail.From is null || mail.Recipients is null || mail.Message is null || mail.Recipients.Any(r => r is null))
            {
                throw new FormatException("a queued message without its envelope or content");
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException or ArgumentException or NotSupportedException)
        {
            const string Unreadable = "the queued message cannot be read";
            if (account is null)
            {
                await store.Jobs.FailAsync(job.Id, Unreadable, ct).ConfigureAwait(false);
                return new OutboxResult(job.Id, "", [], OutboxOutcome.Failed, Unreadable, null);
            }

            return await FailAsync(job, account, new QueuedMail(account.Address, [], [], null, null, null), Unreadable, ct).ConfigureAwait(false);
        }

        if (account is null)
        {
            // The account was removed while the job ran (its jobs go with it); nothing to send from.
            await store.Jobs.CompleteAsync(job.Id, ct).ConfigureAwait(false);
            return new OutboxResult(job.Id, mail.From, mail.Recipients, OutboxOutcome.Failed, "the account no longer exists", null);
        }

        if (account.DeviceId is null)
        {
            return await FailAsync(job, account, mail, "the account is not registered with a provider", ct).ConfigureAwait(false);
        }

        if (unreachable.TryGetValue(account.Id, out var why))
        {
            return await RetryAsync(job, account, mail, why, null, ct).ConfigureAwait(false);
        }

        // Every outcome of the attempt is classified here (the classification is total): the provider could not be
        // reached -> wait (the account's other messages too); it failed or asked to slow down -> wait; it refused ->
        // fail with a notice; anything else went wrong with this message on this side (a request that cannot be
        // built or sent, a bug) -> fail with a notice too, never an endless retry that holds the queue.
        ProviderClient? provider = null;
        try
        {
            if (!providers.TryGetValue(account.Id, out provider))
            {
                provider = await connect(account, ct).ConfigureAwait(false);
                providers[account.Id] = provider;
            }

            // The job's id names the submission: a retry after a lost answer is not sent twice.
            await provider.SubmitOnceAsync("outbox-" + job.Id.Value.ToString("N", System.Globalization.CultureInfo.InvariantCulture), mail.From, mail.Recipients, mail.Message, ct).ConfigureAwait(false);
        }
        catch (ProviderUnavailableException e)
        {
            if (provider is not null && await ReachableAsync(provider, ct).ConfigureAwait(false))
            {
                // The provider answers: the failure belongs to this message (a lost upload, a timeout on a large
                // message), so only it waits; the account's other messages go on. Its lifetime still bounds it.
                return await RetryAsync(job, account, mail, e.Message, null, ct).ConfigureAwait(false);
            }

            unreachable[account.Id] = e.Message;
            return await RetryAsync(job, account, mail, e.Message, null, ct).ConfigureAwait(false);
        }
        catch (ProviderProblemException e) when (e.IsTransient)
        {
            if (e.Status == 429)
            {
                // The account's sending limit: the others would be refused the same way.
                unreachable[account.Id] = e.Message;
            }

            return await RetryAsync(job, account, mail, e.Message, e.RetryAfter, ct).ConfigureAwait(false);
        }
        catch (ProviderProblemException e)
        {
            return await FailAsync(job, account, mail, e.Message, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            string stage = provider is null ? "the provider connection could not be set up" : "the message could not be submitted";
            return await FailAsync(job, account, mail, $"{stage}: {e.Message}", ct).ConfigureAwait(false);
        }

        await store.Jobs.CompleteAsync(job.Id, ct).ConfigureAwait(false);
        return new OutboxResult(job.Id, account.Address, mail.Recipients, OutboxOutcome.Sent, null, null);
    }

    /// <summary>Whether the provider answers a cheap request now (its discovery document).</summary>
    private static async Task<bool> ReachableAsync(ProviderClient provider, CancellationToken ct)
    {
        try
        {
            await provider.GetInfoAsync(ct).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is ProviderUnavailableException or ProviderProblemException)
        {
            return false;
        }
    }

    private async Task<OutboxResult> RetryAsync(ClaimedJob job, AccountRecord account, QueuedMail mail, string reason, TimeSpan? retryAfter, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        if (mail.QueuedAt is { } queuedAt && now - queuedAt > _options.MessageLifetime)
        {
            var days = _options.MessageLifetime.TotalDays;
            var lifetime = days >= 1 ? $"{days:0.#} days" : $"{_options.MessageLifetime.TotalMinutes:0.#} minutes";
            return await FailAsync(job, account, mail, $"not accepted by the provider within {lifetime}; last attempt: {reason}", ct).ConfigureAwait(false);
        }

        var delay = Backoff(job.Attempts);
        if (retryAfter is { } asked && asked > delay)
        {
            delay = asked < _options.MaxRetryDelay * 4 ? asked : _options.MaxRetryDelay * 4;
        }

        await store.Jobs.RetryLaterAsync(job.Id, reason, delay, ct).ConfigureAwait(false);
        return new OutboxResult(job.Id, account.Address, mail.Recipients, OutboxOutcome.RetryLater, reason, now + delay);
    }

    /// <summary>Exponential backoff from <see cref="OutboxOptions.InitialRetryDelay"/>, capped, with up to 10 % jitter.</summary>
    private TimeSpan Backoff(int attempts)
    {
        double factor = Math.Pow(2, Math.Clamp(attempts - 1, 0, 30));
        var delay = TimeSpan.FromMilliseconds(Math.Min(_options.InitialRetryDelay.TotalMilliseconds * factor, _options.MaxRetryDelay.TotalMilliseconds));
        return delay + TimeSpan.FromMilliseconds(delay.TotalMilliseconds * 0.1 * Random.Shared.NextDouble());
    }

    private async Task<OutboxResult> FailAsync(ClaimedJob job, AccountRecord account, QueuedMail mail, string reason, CancellationToken ct)
    {
        // The notice first: if the process dies in between, the job is attempted again and the user may read two
        // notices, but never none.
        await DeliverNoticeAsync(account, mail, reason, ct).ConfigureAwait(false);
        await store.Jobs.FailAsync(job.Id, reason, ct).ConfigureAwait(false);
        return new OutboxResult(job.Id, account.Address, mail.Recipients, OutboxOutcome.Failed, reason, null);
    }

    /// <summary>A local message in the INBOX, like a bounce: which message, to whom, why, and what to do.</summary>
    private async Task DeliverNoticeAsync(AccountRecord account, QueuedMail mail, string reason, CancellationToken ct)
    {
        var accountMail = store.Mail(account.Id);
        var inbox = await accountMail.FindFolderAsync(FolderRole.Inbox, ct).ConfigureAwait(false);
        if (inbox is null)
        {
            return;
        }

        var now = _time.GetUtcNow();
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Letterlock outbox", "outbox@letterlock.invalid"));
        message.To.Add(new MailboxAddress(string.Empty, account.Address));
        message.Subject = "Not delivered: " + (string.IsNullOrWhiteSpace(mail.Subject) ? "(no subject)" : mail.Subject);
        message.Date = now;
        message.MessageId = $"{Guid.NewGuid():N}@letterlock.invalid";
        message.Headers.Add("Auto-Submitted", "auto-generated");
        var text = new StringBuilder()
            .AppendLine("Your provider did not accept this message, so it was not sent:")
            .AppendLine()
            .AppendLine("  Subject:    " + (mail.Subject ?? "(no subject)"))
            .AppendLine("  To:         " + string.Join(", ", mail.Recipients))
            .AppendLine("  Handed over " + (mail.QueuedAt ?? now).ToUniversalTime().ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture) + " UTC")
            .AppendLine()
            .AppendLine("The provider said: " + reason)
            .AppendLine()
            .AppendLine("Your copy is still in the Sent folder. Fix the address or the message and send it again.");
        message.Body = new TextPart("plain") { Text = text.ToString() };
        var security = MessageSecurity.Plain;
        SecurityHeaders.Apply(message, security);
        byte[] bytes = IncomingMailProcessor.Canonical(message);
        var (summary, indexText) = MessageSummaryBuilder.Build(bytes, now, security);
        await accountMail.AppendAsync(inbox.Id, new NewMessage(summary, bytes, ["\\Flagged"], indexText), ct).ConfigureAwait(false);
    }
}
