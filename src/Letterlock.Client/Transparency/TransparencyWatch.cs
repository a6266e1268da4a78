using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Cryptography;
using Letterlock.OpenPgp;
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
}
