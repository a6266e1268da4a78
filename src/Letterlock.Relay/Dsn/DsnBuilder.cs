using System.Text;
using MimeKit;
using MimeKit.Utils;

namespace Letterlock.Relay.Dsn;

/// <summary>The RFC 3464 action of a DSN.</summary>
public enum DsnAction
{
    /// <summary>The message could not be delivered and will not be retried.</summary>
    Failed,

    /// <summary>The message is still being retried (a delay warning).</summary>
    Delayed,
}

/// <summary>One recipient's entry in a DSN.</summary>
/// <param name="Recipient">The final recipient address.</param>
/// <param name="Action">Failed or delayed.</param>
/// <param name="Status">The RFC 3463 status, e.g. <c>5.1.1</c> or <c>4.4.7</c>.</param>
/// <param name="Diagnostic">The remote reply (<c>smtp; 550 ...</c>) or our reason.</param>
/// <param name="RemoteMta">The MX host that answered, if any.</param>
/// <param name="LastAttempt">When delivery was last tried.</param>
public sealed record DsnRecipient(string Recipient, DsnAction Action, string Status, string Diagnostic, string? RemoteMta, DateTimeOffset? LastAttempt);

/// <summary>
/// Builds delivery status notifications (RFC 3464): <c>multipart/report; report-type=delivery-status</c> with a
/// human-readable part, a <c>message/delivery-status</c> part and the original message's header section
/// (<c>text/rfc822-headers</c>; the body is not returned: it is usually end-to-end encrypted and the sender has it).
/// </summary>
public static class DsnBuilder
{
    /// <summary>Builds the DSN for <paramref name="sender"/>.</summary>
    /// <param name="reportingMta">Our host name (<c>Reporting-MTA: dns; ...</c>).</param>
    /// <param name="postmasterDomain">The domain of the From address (<c>MAILER-DAEMON@...</c>).</param>
    /// <param name="sender">The original envelope sender, who receives the DSN.</param>
    /// <param name="arrival">When the original message was accepted.</param>
    /// <param name="recipients">The recipients this DSN reports on.</param>
    /// <param name="originalHeaders">The original message's header section, or null if it could not be read.</param>
    /// <param name="now">The DSN's date.</param>
    /// <param name="willRetryUntil">For delay warnings: when the relay gives up.</param>
    public static MimeMessage Build(string reportingMta, string postmasterDomain, string sender, DateTimeOffset arrival, IReadOnlyList<DsnRecipient> recipients, HeaderList? originalHeaders, DateTimeOffset now, DateTimeOffset? willRetryUntil = null)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Count == 0)
        {
            throw new ArgumentException("A DSN reports on at least one recipient.", nameof(recipients));
        }

        bool delayed = recipients.All(r => r.Action == DsnAction.Delayed);
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Mail Delivery System", $"MAILER-DAEMON@{postmasterDomain}"));
        message.To.Add(new MailboxAddress(string.Empty, sender));
        message.Subject = delayed ? "Delayed Mail (still being retried)" : "Undelivered Mail Returned to Sender";
        message.Date = now;
        message.MessageId = MimeUtils.GenerateMessageId(reportingMta);
        // RFC 3834: automatic replies must not trigger further automatic replies
        message.Headers.Add("Auto-Submitted", "auto-replied");

        var human = new StringBuilder();
        human.Append(delayed
            ? "This is the mail system at " + reportingMta + ".\n\nYour message could not be delivered yet to the recipients below. It is still being retried"
            : "This is the mail system at " + reportingMta + ".\n\nYour message could not be delivered to the recipients below");
        human.Append(delayed && willRetryUntil is { } until ? $" until {DateUtils.FormatDate(until)}.\n\n" : ".\n\n");
        foreach (var r in recipients)
        {
            human.Append('<').Append(r.Recipient).Append(">: ").Append(r.Diagnostic).Append('\n');
        }

        var report = new MultipartReport("delivery-status");
        report.Add(new TextPart("plain") { Text = human.ToString() });

        var status = new MessageDeliveryStatus();
        var perMessage = new HeaderList
        {
            { "Reporting-MTA", "dns; " + reportingMta },
            { "Arrival-Date", DateUtils.FormatDate(arrival) },
        };
        status.StatusGroups.Add(perMessage);
        foreach (var r in recipients)
        {
            // per-recipient-fields (RFC 3464, 2.3): Final-Recipient, Action and Status are required
            var group = new HeaderList
            {
                { "Final-Recipient", "rfc822; " + r.Recipient },
                { "Action", r.Action == DsnAction.Failed ? "failed" : "delayed" },
                { "Status", r.Status },
            };
            if (r.RemoteMta is not null)
            {
                group.Add("Remote-MTA", "dns; " + r.RemoteMta);
            }

            if (r.Diagnostic.StartsWith("smtp; ", StringComparison.Ordinal))
            {
                group.Add("Diagnostic-Code", r.Diagnostic);
            }

            if (r.LastAttempt is { } last)
            {
                group.Add("Last-Attempt-Date", DateUtils.FormatDate(last));
            }

            if (r.Action == DsnAction.Delayed && willRetryUntil is { } retry)
            {
                group.Add("Will-Retry-Until", DateUtils.FormatDate(retry));
            }

            status.StatusGroups.Add(group);
        }

        report.Add(status);
        if (originalHeaders is not null)
        {
            var headers = new MimeMessage();
            headers.Headers.Clear();
            foreach (var header in originalHeaders)
            {
                headers.Headers.Add(header);
            }

            report.Add(new TextRfc822Headers { Message = headers });
        }

        message.Body = report;
        return message;
    }

    /// <summary>The DSN as bytes (CRLF line ends), ready for local delivery.</summary>
    /// <param name="dsn">A message from <see cref="Build"/>.</param>
    public static byte[] ToBytes(MimeMessage dsn)
    {
        ArgumentNullException.ThrowIfNull(dsn);
        using var output = new MemoryStream();
        dsn.WriteTo(Dkim.DkimSigning.Format, output);
        return output.ToArray();
    }
}
