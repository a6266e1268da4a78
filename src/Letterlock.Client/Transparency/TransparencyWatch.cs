using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.OpenPgp;
using MimeKit;
using NSec.Cryptography;

namespace Letterlock.Client.Transparency;

/// <summary>
/// Monitoring of this client's own addresses at start-up and then every epoch (the shortest interval any of the
/// providers announces, at least <see cref="MinimumInterval"/>): checks each provider's signing key, moves its head
/// forward (a newest head older than one already verified is a rollback, alerted at once), and runs
/// <see cref="TransparencyService.MonitorAsync"/> for each account that has a provider. With <see cref="Notices"/> set
/// (the bridge), every pending alert — from this round, from gossip, lookups or sync, or from another process — is
/// delivered to the mail app and reported on the log after each round.
/// </summary>
public sealed class TransparencyWatch(LocalStore store, TransparencyService service)
{
    /// <summary>Delivers pending alerts after each round (the bridge sets it); null leaves them pending.</summary>
    public TransparencyNotices? Notices { get; init; }

    /// <summary>
    /// Asks the provider (authenticated as this device) for the account's devices; when set, a device the account
    /// gained elsewhere (a password login, a recovery) is announced as "new device signed in" (a notice and a log line)
    /// and expected, instead of raising an alert when the directory publishes its key. A key the directory publishes
    /// that the account's own device list does not show still raises an alert.
    /// </summary>
    public Func<AccountRecord, CancellationToken, Task<Letterlock.Api.DeviceListResponse?>>? AccountDevices { get; init; }

    /// <summary>
    /// Runs before an account is checked: the bridge fetches the key bundle here, so keys another device of the account
    /// rotated (after revoking a device) are this device's own when the directory publishes them.
    /// </summary>
    public Func<AccountRecord, CancellationToken, Task>? BeforeCheck { get; init; }

    /// <summary>Hears of every device that signed in elsewhere (the bridge logs it).</summary>
    public Action<string>? DeviceLog { get; init; }

    /// <summary>The shortest wait between rounds, whatever a provider announces (providers may announce 1 s).</summary>
    public TimeSpan MinimumInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The wait when no provider has announced an interval yet.</summary>
    public TimeSpan DefaultInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>One round over every account: provider key, newest head, own entry; then pending notices.</summary>
    public async Task<IReadOnlyList<MonitorReport>> CheckAllAsync(CancellationToken ct) => (await RoundAsync(ct).ConfigureAwait(false)).Reports;

    private async Task<(IReadOnlyList<MonitorReport> Reports, IReadOnlyList<DeliveredNotice> Notices)> RoundAsync(CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var reports = new List<MonitorReport>();
        var providersChecked = new HashSet<string>(StringComparer.Ordinal);
        foreach (var account in await store.Accounts.ListAsync(ct).ConfigureAwait(false))
        {
            if (account.ProviderUrl is not { } providerUrl || account.DeviceId is null)
            {
                continue; // not registered with a provider: nothing is published for it yet
            }

            try
            {
                if (BeforeCheck is not null)
                {
                    await BeforeCheck(account, ct).ConfigureAwait(false);
                }

                await AnnounceNewDevicesAsync(account, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is Sync.ProviderProblemException or Sync.ProviderUnavailableException or Accounts.KeyBundleException)
            {
                // An older provider without device lists, a provider that is down, or a bundle that must be refused:
                // monitoring goes on without it (a key the account did not make then raises the usual alert).
                DeviceLog?.Invoke($"{account.Address}: devices and key bundle not checked: {e.Message}");
            }
            var own = await LoadOwnKeysAsync(store, account.Id, ct).ConfigureAwait(false);
            if (own is null)
            {
                reports.Add(new MonitorReport(account.Address, false, null, [], "the account has no keys on this device"));
                continue;
            }

            string provider = Letterlock.Transparency.TransparencyAddress.Domain(Letterlock.Transparency.TransparencyAddress.Canonicalize(account.Address));
            if (providersChecked.Add(provider) && await service.CheckProviderKeyAsync(provider, providerUrl, ct).ConfigureAwait(false))
            {
                // The newest head first: it carries the epoch interval to follow, and a rollback is caught here at once.
                await service.RefreshHeadAsync(provider, providerUrl, ct).ConfigureAwait(false);
            }

            reports.Add(await service.MonitorAsync(account.Address, own, account.CreatedAt, providerUrl, ct).ConfigureAwait(false));
        }

        IReadOnlyList<DeliveredNotice> notices = Notices is { } deliverer ? await deliverer.DeliverPendingAsync(ct).ConfigureAwait(false) : [];
        return (reports, notices);
    }

    /// <summary>
    /// Runs rounds until <paramref name="ct"/> is cancelled; <paramref name="log"/> hears of every alert delivered (once)
    /// and of failures (never content). A round that fails (provider unreachable, a proof that could not be checked) is
    /// retried after <see cref="MinimumInterval"/>, doubling up to the epoch interval, so a transient failure at start-up
    /// does not hold an alert back for a whole interval.
    /// </summary>
    public async Task RunAsync(Action<string>? log, CancellationToken ct)
    {
        await Task.Yield();
        var retry = MinimumInterval;
        while (!ct.IsCancellationRequested)
        {
            TimeSpan wait;
            TimeSpan interval = DefaultInterval;
            bool failed = false;
            try
            {
                var (reports, notices) = await RoundAsync(ct).ConfigureAwait(false);
                foreach (var notice in notices)
                {
                    log?.Invoke(notice.LogLine);
                }

                foreach (var report in reports)
                {
                    if (report.Error is { } error)
                    {
                        log?.Invoke($"key transparency: {report.Address}: {error}");
                        failed = true;
                    }
                }

                interval = await NextIntervalAsync(ct).ConfigureAwait(false);
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

            retry = failed ? TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, interval.Ticks)) : MinimumInterval;
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

    /// <summary>The interval to wait before the next round: the shortest any account's provider announced, bounded below.</summary>
    public async Task<TimeSpan> NextIntervalAsync(CancellationToken ct)
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

        var interval = seconds == int.MaxValue ? DefaultInterval : TimeSpan.FromSeconds(seconds);
        return interval < MinimumInterval ? MinimumInterval : interval;
    }

    /// <summary>The keys this device holds for an account (null when it holds none).</summary>
    public static async Task<OwnKeys?> LoadOwnKeysAsync(LocalStore store, AccountId account, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var secret = await store.Keys.GetCurrentAsync(account, AccountKeys.OpenPgpSecret, ct).ConfigureAwait(false);
        var device = await store.Keys.GetCurrentAsync(account, AccountKeys.DeviceSecret, ct).ConfigureAwait(false);
        InboxKeyRing inbox;
        try
        {
            inbox = await AccountKeys.LoadInboxKeysAsync(store, account, ct).ConfigureAwait(false);
        }
        catch (LocalStoreException)
        {
            return null;
        }

        if (secret is null || device is null)
        {
            return null;
        }

        static byte[] Fingerprint(byte[] material) => SecretKey.Parse(material).Fingerprint.ToBytes();

        var earlier = new List<byte[]>();
        foreach (var old in await store.Keys.ListAsync(account, AccountKeys.OpenPgpSecret, ct).ConfigureAwait(false))
        {
            earlier.Add(Fingerprint(old.Material));
        }

        // Every inbox key the account has had, X25519 ones included: an upgrade to X-Wing is the account's own change.
        earlier.AddRange(inbox.AllPublicKeys);

        using var deviceKey = Key.Import(SignatureAlgorithm.Ed25519, device.Material, KeyBlobFormat.RawPrivateKey);
        return new OwnKeys(Fingerprint(secret.Material), inbox.CurrentPublicKey, deviceKey.PublicKey.Export(KeyBlobFormat.RawPublicKey), earlier);
    }

    /// <summary>
    /// Every active device of the account this client has not seen yet: recorded as expected (its key is the account's
    /// own from now on) and announced once, flagged in the INBOX and in the log, with what to do if it was not the user.
    /// </summary>
    private async Task AnnounceNewDevicesAsync(AccountRecord account, CancellationToken ct)
    {
        if (AccountDevices is null)
        {
            return;
        }

        var list = await AccountDevices(account, ct).ConfigureAwait(false);
        if (list is null)
        {
            return;
        }

        string canonical = Letterlock.Transparency.TransparencyAddress.Canonicalize(account.Address);
        var state = await service.State.GetOwnAddressAsync(canonical, ct).ConfigureAwait(false);
        var own = await LoadOwnKeysAsync(store, account.Id, ct).ConfigureAwait(false);
        foreach (var device in list.Devices.Where(d => d.RevokedAt is null && d.DeviceId != account.DeviceId))
        {
            bool known = (own is not null && device.PublicKey.AsSpan().SequenceEqual(own.DeviceKey))
                || (state?.AcceptedDeviceKeys.Any(k => k.AsSpan().SequenceEqual(device.PublicKey)) ?? false);
            if (known)
            {
                continue;
            }

            await service.ExpectDeviceAsync(account.Address, device.PublicKey, ct).ConfigureAwait(false);
            if (device.CreatedAt < account.CreatedAt)
            {
                continue; // already there when this device joined: not news
            }

            DeviceLog?.Invoke($"new device signed in to {account.Address}: \"{device.Name}\" ({device.DeviceId}) at {device.CreatedAt:yyyy-MM-dd HH:mm} UTC");
            if (Notices is not null)
            {
                await DeliverDeviceNoticeAsync(account, device, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task DeliverDeviceNoticeAsync(AccountRecord account, Letterlock.Api.DeviceStatus device, CancellationToken ct)
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
        message.Subject = $"New device signed in: {device.Name}";
        message.Date = device.CreatedAt;
        message.MessageId = $"device-{device.DeviceId:N}-{account.DeviceId:N}@letterlock.invalid";
        var text = new StringBuilder()
            .AppendLine($"A new device signed in to {account.Address}:")
            .AppendLine()
            .AppendLine($"  name:    {device.Name}")
            .AppendLine($"  device:  {device.DeviceId}")
            .AppendLine($"  added:   {device.CreatedAt:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine("If this was you, there is nothing to do. If it was not, revoke it and change your password:")
            .AppendLine($"  letterlock devices revoke {device.DeviceId}")
            .AppendLine("  letterlock account password")
            .AppendLine("Every device of the account: letterlock devices list");
        message.Body = new TextPart("plain") { Text = text.ToString() };
        var security = new MessageSecurity(EncryptionState.None, SignatureState.None, null, null);
        SecurityHeaders.Apply(message, security);
        byte[] bytes = IncomingMailProcessor.Canonical(message);
        var (summary, indexText) = MessageSummaryBuilder.Build(bytes, device.CreatedAt, security);
        await mail.AppendAsync(inbox.Id, new NewMessage(summary, bytes, ["\\Flagged"], indexText), ct).ConfigureAwait(false);
    }
}
