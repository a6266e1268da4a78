using MailKit;
using MailKit.Net.Smtp;
using MimeKit;

namespace Letterlock.Relay.Delivery;

/// <summary>
/// MailKit's SMTP client with per-recipient results: a refused RCPT TO is recorded instead of aborting the
/// transaction, so the accepted recipients still get the message and each refused one gets its own outcome. When
/// every recipient is refused, MailKit ends the transaction with RSET (its "no recipients" exception), so the
/// connection stays usable and is ended with QUIT.
/// The message is prepared (transfer-encoding downgrade) and DKIM-signed before sending, so MailKit's own
/// preparation step must not change it afterwards.
/// </summary>
internal sealed class RelaySmtpClient : SmtpClient
{
    public List<(string Address, SmtpResponse Response)> Accepted { get; } = [];

    public List<(string Address, SmtpResponse Response)> Refused { get; } = [];

    public void ResetRecipients()
    {
        Accepted.Clear();
        Refused.Clear();
    }

    protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        Accepted.Add((mailbox.Address, response));

    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        Refused.Add((mailbox.Address, response));

    // RFC 3030: with CHUNKING the message goes as BDAT chunks (no dot-stuffing, no scan for the end of data)
    protected override bool PreferSendAsBinaryData => true;

    protected override void Prepare(FormatOptions options, MimeMessage message, EncodingConstraint constraint, int maxLineLength)
    {
        // already prepared and signed by DestinationDeliverer; re-encoding now would break the DKIM signatures
    }

    protected override string? GetEnvelopeId(MimeMessage message) => null;

    protected override DeliveryStatusNotification? GetDeliveryStatusNotifications(MimeMessage message, MailboxAddress mailbox) => null;
}
