using System.Globalization;
using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using MimeKit;

namespace Letterlock.Client.Transparency;

/// <summary>An alert delivered to the person: the accounts whose INBOX got the notice, and the line for the bridge's output.</summary>
/// <param name="Alert">The alert.</param>
/// <param name="Accounts">The addresses of the accounts that got a notice.</param>
public sealed record DeliveredNotice(TransparencyAlert Alert, IReadOnlyList<string> Accounts)
{
    /// <summary>One line for a log or a terminal (no secrets, no mail content).</summary>
    public string LogLine =>
        string.Create(CultureInfo.InvariantCulture,
            $"KEY TRANSPARENCY ALERT {Alert.Id} ({Alert.Kind}, {Alert.Provider}{(Alert.Address is { } a ? " " + a : "")}): {Alert.Detail} " +
            $"Evidence: {Alert.EvidenceLocation}. A notice is in the INBOX of {(Accounts.Count == 0 ? "no account (none has an INBOX)" : string.Join(", ", Accounts))}.");
}

/// <summary>
/// Makes every key-transparency alert reach the person, once per incident: a flagged notice message in the INBOX of
/// the accounts concerned (any mail app shows it), written in the same store transaction that clears the alert's
/// pending mark, so a crash never loses a notice and never repeats one. Alerts raised by any process on the store (the
/// bridge, the CLI) are delivered by whichever process runs this next (the bridge does on every alert and every
/// monitoring round). The caller prints <see cref="DeliveredNotice.LogLine"/> for its output.
/// </summary>
/// <remarks>
/// Who is told: an alert about one of this client's own addresses goes to that account; an alert about a provider
/// (conflicting heads, a rollback, a changed signing key) or about a contact's key goes to the accounts hosted at that
/// provider, and to every account when none is (a contact's provider lying concerns whoever writes to the contact).
/// </remarks>
public sealed class TransparencyNotices(LocalStore store, TransparencyState state)
{
    private readonly SemaphoreSlim _delivering = new(1, 1);

    /// <summary>Delivers every pending notice; returns what was delivered now.</summary>
    public async Task<IReadOnlyList<DeliveredNotice>> DeliverPendingAsync(CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        await _delivering.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var pending = (await state.GetAlertsAsync(ct).ConfigureAwait(false)).Where(a => a.NoticePending).ToList();
            if (pending.Count == 0)
            {
                return [];
            }

            var accounts = new List<Target>();
            foreach (var account in await store.Accounts.ListAsync(ct).ConfigureAwait(false))
            {
                var mail = store.Mail(account.Id);
                if (await mail.FindFolderAsync(FolderRole.Inbox, ct).ConfigureAwait(false) is { } inbox)
                {
                    accounts.Add(new Target(account, mail, inbox));
                }
            }

            // Sealed and indexed off the write lock; appended, with the alert's pending mark cleared, in one transaction.
            var notices = new Dictionary<Guid, List<(Target Target, PreparedMessage Notice)>>();
            foreach (var alert in pending)
            {
                var list = notices[alert.Id] = [];
                foreach (var target in Targets(alert, accounts))
                {
                    if (target.Mail.Prepare(Notice(alert with { NoticePending = false }, target.Account)) is { IsOk: true } prepared)
                    {
                        list.Add((target, prepared.Value!));
                    }
                }
            }

            return await store.Write<IReadOnlyList<DeliveredNotice>>((connection, transaction) =>
            {
                var alerts = state.ReadAlerts(connection, transaction);
                var delivered = new List<DeliveredNotice>();
                for (int i = 0; i < alerts.Count; i++)
                {
                    if (!alerts[i].NoticePending || !notices.TryGetValue(alerts[i].Id, out var list))
                    {
                        continue; // delivered by another process meanwhile, or raised after this round read the alerts
                    }

                    foreach (var (target, notice) in list)
                    {
                        new MailWriter(store, target.Mail, connection, transaction, ChangeOrigin.ThisDevice).Append(target.Inbox, notice);
                    }

                    alerts[i] = alerts[i] with { NoticePending = false };
                    delivered.Add(new DeliveredNotice(alerts[i], list.Select(n => n.Target.Account.Address).ToList()));
                }

                state.WriteAlerts(connection, transaction, alerts);
                return delivered;
            }, ct).ConfigureAwait(false);
        }
        finally
        {
            _delivering.Release();
        }
    }

    private sealed record Target(AccountRecord Account, AccountMail Mail, FolderRecord Inbox);

    private static List<Target> Targets(TransparencyAlert alert, List<Target> accounts)
    {
        var own = accounts.Where(a => string.Equals(a.Account.Address, alert.Address, StringComparison.OrdinalIgnoreCase)).ToList();
        if (own.Count > 0)
        {
            return own;
        }

        var hosted = accounts.Where(a => string.Equals(MailAddress.Split(a.Account.Address).Domain, alert.Provider, StringComparison.OrdinalIgnoreCase)).ToList();
        return hosted.Count > 0 ? hosted : accounts;
    }

    /// <summary>A local notice message (never sent anywhere), flagged so every mail app shows it prominently.</summary>
    private static NewMessage Notice(TransparencyAlert alert, AccountRecord account)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Letterlock security", "security@letterlock.invalid"));
        message.To.Add(MailboxAddress.Parse(account.Address));
        message.Subject = "Security alert: " + alert.Kind switch
        {
            TransparencyAlertKind.UnexpectedKeyChange => "your provider published keys you did not make",
            TransparencyAlertKind.MonitoringProofFailed => "your provider's key history does not verify",
            TransparencyAlertKind.Equivocation => $"{alert.Provider} shows different people different keys",
            TransparencyAlertKind.InconsistentHistory => $"{alert.Provider} rewrote its key history",
            TransparencyAlertKind.Rollback => $"{alert.Provider}'s key log went back in time",
            TransparencyAlertKind.DirectoryProofFailed => $"{alert.Provider} served a key for {alert.Address} that it has not published",
            TransparencyAlertKind.InboxKeyUnknown => "mail for you was sealed to a key this device does not hold",
            _ => $"{alert.Provider} changed its signing key",
        };
        message.Date = alert.DetectedAt;
        message.MessageId = string.Create(CultureInfo.InvariantCulture, $"{alert.Id:N}.{account.Id.Value:N}@letterlock.invalid");
        var text = new StringBuilder()
            .AppendLine("Letterlock's key transparency check found a problem:")
            .AppendLine()
            .AppendLine(alert.Detail)
            .AppendLine()
            .AppendLine("Evidence: " + alert.EvidenceLocation + ".")
            .AppendLine();
        if (alert.Kind == TransparencyAlertKind.UnexpectedKeyChange)
        {
            text.AppendLine("If you made this change yourself (for example by adding a device from another computer), accept it with:")
                .AppendLine($"  letterlock transparency accept {alert.Id}")
                .AppendLine("Otherwise keep this message and the evidence, and contact your provider.");
        }
        else
        {
            text.AppendLine("Until this is resolved, do not trust keys from this provider's directory; Letterlock will not encrypt")
                .AppendLine("to a key it could not check. Keep this message and the evidence, and report it to the provider's operator.");
        }

        text.AppendLine("Details: letterlock transparency status. Once you have seen it:")
            .AppendLine($"  letterlock transparency acknowledge {alert.Id}");
        message.Body = new TextPart("plain") { Text = text.ToString() };
        var security = MessageSecurity.Plain;
        SecurityHeaders.Apply(message, security);
        byte[] bytes = IncomingMailProcessor.Canonical(message);
        var (summary, indexText) = MessageSummaryBuilder.Build(bytes, alert.DetectedAt, security);
        return new NewMessage(summary, bytes, ["\\Flagged"], indexText);
    }
}
