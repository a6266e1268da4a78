using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Cryptography;
using Letterlock.OpenPgp;
using MimeKit;
using NSec.Cryptography;

namespace Letterlock.Client.Transparency;

/// <summary>
/// Monitoring of this client's own addresses at start-up and then every epoch (the provider's announced
/// interval): checks the provider's signing key, moves the head forward, and runs <see cref="TransparencyService.MonitorAsync"/>
/// for each account that has a provider. New alerts go to <see cref="TransparencyService.AlertRaised"/> and,
/// when <see cref="DeliverNotices"/> is set, into the account's INBOX as a notice any mail app shows.
/// </summary>
public sealed class TransparencyWatch(LocalStore store, TransparencyService service)
{
    /// <summary>Put a notice message into the INBOX of the account concerned for every new alert (the bridge does).</summary>
    public bool DeliverNotices { get; init; }

    /// <summary>The shortest wait between rounds, whatever a provider announces.</summary>
    public TimeSpan MinimumInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>One round over every account: provider key, newest head, own entry.</summary>
    public async Task<IReadOnlyList<MonitorReport>> CheckAllAsync(CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var reports = new List<MonitorReport>();
        foreach (var account in await store.Accounts.ListAsync(ct).ConfigureAwait(false))
        {
            if (account.ProviderUrl is not { } providerUrl || account.DeviceId is null)
            {
                continue; // not registered with a provider: nothing is published for it yet
            }

            var own = await LoadOwnKeysAsync(store, account.Id, ct).ConfigureAwait(false);
            if (own is null)
            {
                reports.Add(new MonitorReport(account.Address, false, null, [], "the account has no keys on this device"));
                continue;
            }

            string provider = Letterlock.Transparency.TransparencyAddress.Domain(Letterlock.Transparency.TransparencyAddress.Canonicalize(account.Address));
            await service.CheckProviderKeyAsync(provider, providerUrl, ct).ConfigureAwait(false);
            var report = await service.MonitorAsync(account.Address, own, account.CreatedAt, providerUrl, ct).ConfigureAwait(false);
            reports.Add(report);
            if (DeliverNotices)
            {
                foreach (var alert in report.NewAlerts)
                {
                    await DeliverNoticeAsync(account, alert, ct).ConfigureAwait(false);
                }
            }
        }

        return reports;
    }

    /// <summary>
    /// Runs rounds until <paramref name="ct"/> is cancelled; <paramref name="log"/> hears of failures (never content).
    /// A round that fails (provider unreachable, a proof that could not be checked) is retried after
    /// <see cref="MinimumInterval"/>, doubling up to the epoch interval, so a transient failure at start-up does not
    /// hold an alert back for a whole interval.
    /// </summary>
    public async Task RunAsync(Action<string>? log, CancellationToken ct)
    {
        await Task.Yield();
        var retry = MinimumInterval;
        while (!ct.IsCancellationRequested)
        {
            TimeSpan wait;
            bool failed = false;
            try
            {
                foreach (var report in await CheckAllAsync(ct).ConfigureAwait(false))
                {
                    foreach (var alert in report.NewAlerts)
                    {
                        log?.Invoke($"KEY TRANSPARENCY ALERT for {report.Address}: {alert.Detail}");
                    }

                    if (report.Error is { } error)
                    {
                        log?.Invoke($"key transparency: {report.Address}: {error}");
                        failed = true;
                    }
                }

                var interval = await NextIntervalAsync(ct).ConfigureAwait(false);
                wait = failed && retry < interval ? retry : interval;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The watch must survive any one failed round; the next round retries.
            catch (Exception e)
#pragma warning restore CA1031
            {
                log?.Invoke("key transparency: monitoring round failed: " + e.GetType().Name);
                failed = true;
                wait = retry;
            }

            retry = failed ? TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, TimeSpan.FromSeconds(60).Ticks)) : MinimumInterval;
            try
            {
                await Task.Delay(wait, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>The keys this device holds for an account (null when it holds none).</summary>
    public static async Task<OwnKeys?> LoadOwnKeysAsync(LocalStore store, AccountId account, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var secret = await store.Keys.GetCurrentAsync(account, AccountKeys.OpenPgpSecret, ct).ConfigureAwait(false);
        var inbox = await store.Keys.GetCurrentAsync(account, AccountKeys.InboxSecret, ct).ConfigureAwait(false);
        var device = await store.Keys.GetCurrentAsync(account, AccountKeys.DeviceSecret, ct).ConfigureAwait(false);
        if (secret is null || inbox is null || device is null)
        {
            return null;
        }

        static byte[] Fingerprint(byte[] material) => SecretKey.Parse(material).Fingerprint.ToBytes();
        static byte[] InboxPublic(byte[] material)
        {
            using var pair = HpkeKeyPair.FromPrivateKey(material);
            return pair.PublicKey.ToArray();
        }

        var earlier = new List<byte[]>();
        foreach (var old in await store.Keys.ListAsync(account, AccountKeys.OpenPgpSecret, ct).ConfigureAwait(false))
        {
            earlier.Add(Fingerprint(old.Material));
        }

        foreach (var old in await store.Keys.ListAsync(account, AccountKeys.InboxSecret, ct).ConfigureAwait(false))
        {
            earlier.Add(InboxPublic(old.Material));
        }

        using var deviceKey = Key.Import(SignatureAlgorithm.Ed25519, device.Material, KeyBlobFormat.RawPrivateKey);
        return new OwnKeys(Fingerprint(secret.Material), InboxPublic(inbox.Material), deviceKey.PublicKey.Export(KeyBlobFormat.RawPublicKey), earlier);
    }

    private async Task<TimeSpan> NextIntervalAsync(CancellationToken ct)
    {
        int seconds = int.MaxValue;
        foreach (var account in await store.Accounts.ListAsync(ct).ConfigureAwait(false))
        {
            if (account.ProviderUrl is not null
                && await service.State.GetProviderAsync(Letterlock.Transparency.TransparencyAddress.Domain(account.Address.ToLowerInvariant()), ct).ConfigureAwait(false) is { } view)
            {
                seconds = Math.Min(seconds, view.EpochIntervalSeconds);
            }
        }

        var interval = seconds == int.MaxValue ? TimeSpan.FromSeconds(60) : TimeSpan.FromSeconds(seconds);
        return interval < MinimumInterval ? MinimumInterval : interval;
    }

    /// <summary>A local notice message in the account's INBOX (never sent anywhere), so every mail app shows the alert.</summary>
    private async Task DeliverNoticeAsync(AccountRecord account, TransparencyAlert alert, CancellationToken ct)
    {
        var mail = store.Mail(account.Id);
        var inbox = await mail.FindFolderAsync(FolderRole.Inbox, ct).ConfigureAwait(false);
        if (inbox is null)
        {
            return;
        }

        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Letterlock security", "security@letterlock.invalid"));
        message.To.Add(MailboxAddress.Parse(account.Address));
        message.Subject = alert.Kind switch
        {
            TransparencyAlertKind.UnexpectedKeyChange => "Security alert: your provider published keys you did not make",
            TransparencyAlertKind.MonitoringProofFailed => "Security alert: your provider's key history does not verify",
            TransparencyAlertKind.Equivocation => $"Security alert: {alert.Provider} shows different people different keys",
            TransparencyAlertKind.InconsistentHistory => $"Security alert: {alert.Provider} rewrote its key history",
            _ => $"Security alert: {alert.Provider} changed its signing key",
        };
        message.Date = alert.DetectedAt;
        message.MessageId = $"{alert.Id:N}@letterlock.invalid";
        var text = new StringBuilder()
            .AppendLine("Letterlock's key transparency check found a problem:")
            .AppendLine()
            .AppendLine(alert.Detail)
            .AppendLine()
            .AppendLine("Until this is resolved, do not trust keys from this provider's directory. If you made this change yourself")
            .AppendLine("(for example by adding a device from another computer), accept it with:")
            .AppendLine($"  letterlock transparency accept {alert.Id}")
            .AppendLine("Otherwise keep this message as evidence and contact your provider. Details and evidence:")
            .AppendLine("  letterlock transparency status");
        message.Body = new TextPart("plain") { Text = text.ToString() };
        var security = new MessageSecurity(EncryptionState.None, SignatureState.None, null, null);
        SecurityHeaders.Apply(message, security);
        byte[] bytes = IncomingMailProcessor.Canonical(message);
        var (summary, indexText) = MessageSummaryBuilder.Build(bytes, alert.DetectedAt, security);
        await mail.AppendAsync(inbox.Id, new NewMessage(summary, bytes, ["\\Flagged"], indexText), ct).ConfigureAwait(false);
    }
}
