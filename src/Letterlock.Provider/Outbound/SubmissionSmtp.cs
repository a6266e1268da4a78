using Letterlock.Provider.Accounts;
using Letterlock.Provider.Storage;
using Letterlock.Smtp;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Outbound;

/// <summary>
/// AUTH PLAIN on the submission listeners: the user name is the account's address, the password a device-bound token
/// from <c>POST /v1/submission/token</c>. The front end offers AUTH only over TLS (STARTTLS on 587, implicit on 465);
/// this refuses a session without TLS as well, so a misconfiguration cannot put a token on the wire in clear.
/// </summary>
internal sealed class SubmissionAuthenticator(SubmissionService service) : ISmtpAuthenticator
{
    public async ValueTask<bool> AuthenticateAsync(SmtpSessionInfo session, string user, string password, CancellationToken ct) =>
        session.IsSecure && await service.AuthenticateAsync(user, password, ct) is not null;
}

/// <summary>
/// SMTP submission (RFC 6409) for authenticated users: each step is checked as it happens (sender at MAIL FROM,
/// limits and local recipients at RCPT TO) with a reply that says what to do, then <see cref="SubmissionService"/>
/// delivers or queues the message before 250 is answered.
/// </summary>
internal sealed class SubmissionBackend(IProviderStore store, SubmissionService service, ILogger logger) : ISmtpBackend
{
    public async ValueTask<SmtpDeliveryStart> StartDeliveryAsync(SmtpSessionInfo session, string reversePath, long declaredSize, CancellationToken ct)
    {
        // the front end requires AUTH on these listeners; this is the second lock on the door
        if (session.AuthenticatedUser is null || !session.IsSecure)
        {
            return SmtpDeliveryStart.Reject(SmtpReply.AuthenticationRequired);
        }

        var account = AccountService.TryParseAddress(session.AuthenticatedUser, out string localPart, out _) ? await store.FindAccountAsync(localPart, ct) : null;
        if (account is null || account.Status != AccountStatus.Active)
        {
            return SmtpDeliveryStart.Reject(new SmtpReply(550, "5.7.1", "Account disabled"));
        }

        var sender = service.CheckSender(account, reversePath);
        if (!sender.Accepted)
        {
            return SmtpDeliveryStart.Reject(ToReply(sender));
        }

        if (declaredSize > service.Limits.MaxMessageSize)
        {
            return SmtpDeliveryStart.Reject(new SmtpReply(552, "5.3.4", $"Message larger than {service.Limits.MaxMessageSize} bytes"));
        }

        var rate = await service.CheckRateAsync(account, 0, ct);
        if (!rate.Accepted)
        {
            Log.SubmissionRateLimited(logger, session.SessionId);
            return SmtpDeliveryStart.Reject(ToReply(rate));
        }

        return SmtpDeliveryStart.Accept(new Delivery(service, account, reversePath, logger, session));
    }

    /// <summary>The SMTP reply for a refusal; the text is the user's own business, so it says what is wrong.</summary>
    internal static SmtpReply ToReply(SubmissionCheck check) => check.Refusal switch
    {
        SubmissionRefusal.None => SmtpReply.Ok,
        SubmissionRefusal.BadAddress => new SmtpReply(553, "5.1.3", check.Detail),
        SubmissionRefusal.NotYourAddress => new SmtpReply(550, "5.7.1", check.Detail),
        SubmissionRefusal.NoSuchUser => new SmtpReply(550, "5.1.1", check.Detail),
        SubmissionRefusal.MailboxFull => new SmtpReply(552, "5.2.2", check.Detail),
        SubmissionRefusal.TooManyRecipients => new SmtpReply(452, "4.5.3", check.Detail),
        SubmissionRefusal.RateLimited => new SmtpReply(450, "4.7.1", check.Detail),
        SubmissionRefusal.TooLarge => new SmtpReply(552, "5.3.4", check.Detail),
        SubmissionRefusal.TooComplex => new SmtpReply(552, "5.3.4", check.Detail),
        _ => new SmtpReply(550, "5.6.0", check.Detail),
    };

    private sealed class Delivery(SubmissionService service, AccountRecord account, string sender, ILogger logger, SmtpSessionInfo session) : ISmtpDelivery
    {
        private readonly List<string> _recipients = [];
        private readonly MemoryStream _body = new();

        public async ValueTask<SmtpReply> AddRecipientAsync(string forwardPath, CancellationToken ct)
        {
            if (_recipients.Contains(forwardPath, StringComparer.OrdinalIgnoreCase))
            {
                return SmtpReply.RecipientOk;
            }

            if (_recipients.Count >= service.Limits.MaxRecipientsPerMessage)
            {
                return ToReply(service.TooManyRecipients());
            }

            var (check, _) = await service.CheckRecipientAsync(forwardPath, ct);
            if (check.Accepted)
            {
                check = await service.CheckRateAsync(account, _recipients.Count + 1, ct);
            }

            if (!check.Accepted)
            {
                return ToReply(check);
            }

            _recipients.Add(forwardPath);
            return SmtpReply.RecipientOk;
        }

        public ValueTask WriteBodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken ct)
        {
            // the front end bounds the whole message by submission.maxMessageSize
            _body.Write(chunk.Span);
            return ValueTask.CompletedTask;
        }

        public async ValueTask<SmtpReply> CommitAsync(CancellationToken ct)
        {
            var (check, receipt) = await service.SubmitAsync(account, sender, _recipients, _body.GetBuffer().AsMemory(0, (int)_body.Length),
                session.Protocol, session.SessionId.ToString("N"), ct);
            if (!check.Accepted)
            {
                Log.SubmissionRefused(logger, session.SessionId, check.Refusal);
                return ToReply(check);
            }

            return new SmtpReply(250, "2.0.0", $"Queued as {receipt!.SubmissionId}");
        }

        public ValueTask AbortAsync() => ValueTask.CompletedTask;

        public ValueTask DisposeAsync()
        {
            _body.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
