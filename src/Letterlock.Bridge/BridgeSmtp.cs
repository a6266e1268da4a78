using System.Security.Cryptography;
using System.Text;
using Letterlock.Client;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Smtp;

namespace Letterlock.Bridge;

/// <summary>
/// The bridge's SMTP submission (127.0.0.1, STARTTLS, AUTH required): a mail app hands over a
/// message, and the client encrypts and queues it (<see cref="OutgoingMailProcessor"/>). The reply
/// to DATA says what happened; a refusal names the recipients and what to do, since the person
/// reading it is the sender.
/// </summary>
internal sealed class BridgeSmtp(BridgeSubmission submission) : ISmtpBackend, ISmtpAuthenticator
{
    private static readonly byte[] Unknown = SHA256.HashData(RandomNumberGenerator.GetBytes(32));
    private readonly LocalStore _store = submission.Store;

    public async ValueTask<bool> AuthenticateAsync(SmtpSessionInfo session, string user, string password, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(password);
        var account = await _store.Accounts.FindAsync(user, ct).ConfigureAwait(false);
        var expected = Unknown;
        if (account is not null && await _store.Keys.GetCurrentAsync(account.Id, BridgeCredentials.Purpose, ct).ConfigureAwait(false) is { } stored)
        {
            expected = SHA256.HashData(stored.Material);
        }

        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(password)), expected) && !ReferenceEquals(expected, Unknown);
    }

    public async ValueTask<SmtpDeliveryStart> StartDeliveryAsync(SmtpSessionInfo session, string reversePath, long declaredSize, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.AuthenticatedUser is not { } user || await _store.Accounts.FindAsync(user, ct).ConfigureAwait(false) is not { } account)
        {
            return SmtpDeliveryStart.Reject(new SmtpReply(530, "5.7.0", "Authentication required"));
        }

        if (!string.Equals(MailAddress.TryNormalize(reversePath), account.Address, StringComparison.Ordinal))
        {
            return SmtpDeliveryStart.Reject(new SmtpReply(550, "5.7.1", $"Send as {account.Address} with this login"));
        }

        if (declaredSize > _store.Options.MaxMessageBytes)
        {
            return SmtpDeliveryStart.Reject(new SmtpReply(552, "5.3.4", "Message too big"));
        }

        return SmtpDeliveryStart.Accept(new Delivery(submission, account, _store.Options.MaxMessageBytes));
    }

    private sealed class Delivery(BridgeSubmission submission, AccountRecord account, long maxBytes) : ISmtpDelivery
    {
        private readonly List<string> _recipients = [];
        private readonly MemoryStream _body = new();
        private bool _tooBig;

        public ValueTask<SmtpReply> AddRecipientAsync(string forwardPath, CancellationToken ct)
        {
            if (MailAddress.TryNormalize(forwardPath) is not { } address)
            {
                return ValueTask.FromResult(new SmtpReply(553, "5.1.3", "Not a mail address"));
            }

            _recipients.Add(address);
            return ValueTask.FromResult(new SmtpReply(250, "2.1.5", "Recipient OK"));
        }

        public ValueTask WriteBodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken ct)
        {
            if (_body.Length + chunk.Length > maxBytes)
            {
                _tooBig = true;
                return ValueTask.CompletedTask;
            }

            return _body.WriteAsync(chunk, ct);
        }

        public async ValueTask<SmtpReply> CommitAsync(CancellationToken ct)
        {
            if (_tooBig)
            {
                return new SmtpReply(552, "5.3.4", "Message too big");
            }

            var outcome = await submission.SubmitAsync(account, _body.ToArray(), _recipients, requireEncryption: false, ct).ConfigureAwait(false);

            return outcome.Status switch
            {
                SendStatus.Queued => new SmtpReply(250, "2.0.0",
                    outcome.Encrypted ? "Queued, end-to-end encrypted" : "Queued, not end-to-end encrypted (no key for every recipient)"),
                SendStatus.RefusedNoKey => new SmtpReply(550, "5.7.1",
                    "Encryption required, but no usable key for: " + string.Join(", ", outcome.Recipients)),
                SendStatus.RefusedChangedKey => new SmtpReply(550, "5.7.1",
                    "Key changed for " + string.Join(", ", outcome.Recipients) + "; check with: letterlock contacts show " + outcome.Recipients[0]),
                SendStatus.RefusedUnpublishedKey => new SmtpReply(550, "5.7.1",
                    "The provider served a key it has not published for " + string.Join(", ", outcome.Recipients) +
                    "; not encrypting to it. See: letterlock transparency status"),
                SendStatus.RefusedSender => new SmtpReply(550, "5.7.1", "From must be the account's own address"),
                SendStatus.TooComplex when outcome.Limit is { } limit => new SmtpReply(552, "5.3.4", StoreMailAccount.LimitDetail(limit)),
                _ => new SmtpReply(554, "5.6.0", "Message not accepted: malformed or no recipients"),
            };
        }

        public ValueTask AbortAsync()
        {
            _body.SetLength(0);
            _recipients.Clear();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _body.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
