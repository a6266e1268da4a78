using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Serialization;
using Letterlock.Client;
using Letterlock.Client.Discovery;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Imap;
using Letterlock.Imap.Server;
using Letterlock.Imap.Session;
using Letterlock.Smtp;

namespace Letterlock.Bridge;

/// <summary>Where and how the bridge listens.</summary>
public sealed class BridgeOptions
{
    /// <summary>IMAP port on 127.0.0.1 (default 1143; 0 picks a free port).</summary>
    public int ImapPort { get; init; } = 1143;

    /// <summary>SMTP submission port on 127.0.0.1 (default 1025; 0 picks a free port).</summary>
    public int SmtpPort { get; init; } = 1025;

    /// <summary>Limits of key discovery when sending.</summary>
    public KeyDiscoveryOptions Discovery { get; init; } = new();

    /// <summary>Host names answered without DNS (the sandbox's providers), or null for system DNS.</summary>
    public StaticHostMap? HostMap { get; init; }

    /// <summary>Roots trusted for key discovery instead of the system's (the sandbox CA), or null.</summary>
    public X509Certificate2Collection? TrustedRoots { get; init; }

    /// <summary>
    /// Background sync and delivery (default 30 s; null: never, tests call <see cref="BridgeHost.SyncOnceAsync"/>). Each
    /// account waits for new mail with the provider's long poll and syncs as soon as something arrives; this is the
    /// wait before trying again when its provider cannot be reached, and the longest the outbox sleeps.
    /// </summary>
    public TimeSpan? SyncInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one long poll for new mail waits at the provider (default 25 s; providers cap it at 60 s).</summary>
    public int LongPollSeconds { get; init; } = 25;

    /// <summary>Retries and lifetime of queued outgoing mail.</summary>
    public OutboxOptions Outbox { get; init; } = new();

    /// <summary>Receives sync outcomes and failures (never content), e.g. "provider unreachable, serving cached mail".</summary>
    public Action<string>? SyncLog { get; init; }

    /// <summary>
    /// Monitor the accounts' own key-transparency entries at start-up and every epoch; alerts arrive as notices in
    /// the account's INBOX and on <see cref="SyncLog"/> (default true).
    /// </summary>
    public bool MonitorTransparency { get; init; } = true;

    /// <summary>The largest message a mail app may submit, in bytes (default 25 MiB).</summary>
    public int MaxSubmissionSize { get; init; } = 25 * 1024 * 1024;

    /// <summary>
    /// Limits on the MIME structure of every message a mail app hands over (IMAP APPEND, SMTP submission), checked before
    /// anything parses it: beyond one, APPEND is answered <c>NO [LIMIT]</c> and submission <c>552 5.3.4</c>, naming it.
    /// </summary>
    public Letterlock.OpenPgp.Mime.MimeLimits MimeLimits { get; init; } = Letterlock.OpenPgp.Mime.MimeLimits.Default;

    /// <summary>
    /// After a sync round, when the process has allocated at least this many bytes since the last trim (large messages
    /// synced or fetched), one full compacting collection gives the freed heap back to the operating system, so an idle
    /// bridge does not keep the memory of its busiest moment (default 128 MiB; null: never).
    /// </summary>
    public long? IdleTrimAfterAllocatedBytes
    {
        get => _idleTrim;
        init => _idleTrim = value is null or >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(IdleTrimAfterAllocatedBytes), value, "IdleTrimAfterAllocatedBytes must be null or at least 0");
    }

    private readonly long? _idleTrim = 128L * 1024 * 1024;

    /// <summary>Limits of the IMAP engine (line and literal sizes, failed-login delay, sessions...).</summary>
    public ImapServerOptions Imap { get; init; } = new() { ServerName = "Letterlock bridge" };

    /// <summary>Receives the engine's log entries (sanitised: no passwords, no content).</summary>
    public Action<ImapLogEntry>? Log { get; init; }

    /// <summary>
    /// Receives every event of the background work with its level (what a person watching the bridge should see:
    /// accounts online and offline, sync progress, mail received and sent, failures, notices); never content or secrets.
    /// </summary>
    public Action<BridgeEvent>? Events { get; init; }

    /// <summary>
    /// Extra roots trusted for the accounts' providers (each account's stored trust anchor, e.g. a private CA), in
    /// addition to the system's or to <see cref="TrustedRoots"/>; null or empty for none.
    /// </summary>
    public X509Certificate2Collection? ProviderRoots { get; init; }

    /// <summary>Paging and limits of sync (null: the defaults).</summary>
    public SyncOptions? Sync { get; init; }

    /// <summary>A long sync prints a progress line every this many applied changes (default 500, at least 1).</summary>
    public int ProgressEvery
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(ProgressEvery), value, "ProgressEvery must be at least 1.");
    } = 500;
}

/// <summary>How much an event of the bridge matters.</summary>
public enum BridgeEventLevel
{
    /// <summary>Something failed (shown even with <c>--quiet</c>).</summary>
    Error,

    /// <summary>An event that matters to the person (shown by default).</summary>
    Notice,

    /// <summary>A detail (shown with <c>--verbose</c>).</summary>
    Verbose,
}

/// <summary>One event of the bridge's background work.</summary>
/// <param name="Level">How much it matters.</param>
/// <param name="Text">The line shown by default: the account's own address, counts and reasons, never the addresses of others.</param>
/// <param name="Detail">The same event with details (e.g. the recipients) for <c>--verbose</c>, or null when it has none.</param>
public sealed record BridgeEvent(BridgeEventLevel Level, string Text, string? Detail = null)
{
    /// <summary>The line to show at the given verbosity.</summary>
    public string Line(bool verbose) => verbose ? Detail ?? Text : Text;
}

/// <summary>What a mail app needs for one account.</summary>
/// <param name="Address">The account.</param>
/// <param name="UserName">The user name to type (the address).</param>
/// <param name="Password">The generated bridge password.</param>
/// <param name="ImapHost">IMAP host.</param>
/// <param name="ImapPort">IMAP port.</param>
/// <param name="ImapSecurity">How IMAP is secured (<c>STARTTLS</c>).</param>
/// <param name="SmtpHost">SMTP submission host.</param>
/// <param name="SmtpPort">SMTP submission port.</param>
/// <param name="SmtpSecurity">How SMTP is secured (<c>STARTTLS</c>, AUTH PLAIN or LOGIN with the same user and password).</param>
/// <param name="CertificateSha256">Fingerprint of the bridge's self-signed certificate, to compare when the app asks.</param>
public sealed record BridgeAccountSettings(
    string Address,
    string UserName,
    string Password,
    string ImapHost,
    int ImapPort,
    string ImapSecurity,
    string SmtpHost,
    int SmtpPort,
    string SmtpSecurity,
    string CertificateSha256);

/// <summary>Source-generated JSON for <c>--json</c> output.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(List<BridgeAccountSettings>))]
[JsonSerializable(typeof(AccountBridgeStatus))]
[JsonSerializable(typeof(BridgePortChoice))]
public sealed partial class BridgeJson : JsonSerializerContext;

/// <summary>
/// Runs the bridge: the IMAP engine on 127.0.0.1 with the store-backed accounts and the bridge's
/// own certificate (STARTTLS). Stopping it says BYE to every session.
/// </summary>
public sealed class BridgeHost : IAsyncDisposable
{
    private readonly BridgeMailboxes _mailboxes;
    private readonly ImapServer _imap;
    private readonly SmtpFrontEnd _smtp;
    private readonly HttpClient _http;
    private readonly X509Certificate2 _certificate;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly HashSet<AccountId> _looping = [];
    private readonly Client.Transparency.TransparencyService _transparency;
    private readonly OutboxDelivery _outbox;
    private readonly SemaphoreSlim _outboxWake = new(0, int.MaxValue);
    private readonly BridgeOptions _options;
    private readonly ConcurrentDictionary<AccountId, bool> _unreachable = new();
    private readonly ConcurrentDictionary<AccountId, ProviderClient> _providers = new();
    private readonly Client.Transparency.TransparencyNotices _notices;
    private readonly SemaphoreSlim _noticeWake = new(0, int.MaxValue);
    private long _allocatedAtLastTrim = GC.GetTotalAllocatedBytes();
    private int _memoryTrims;

    /// <summary>How long after a trim the bridge collects once more, the round's last buffers no longer reachable (see <see cref="TrimMemoryIfDue"/>).</summary>
    private static readonly TimeSpan IdleTrimDelay = TimeSpan.FromSeconds(10);

    private readonly Timer _idleTrimTimer;
    private readonly Action<BridgeEvent> _emit;
    private readonly ConcurrentDictionary<AccountId, bool> _synced = new();

    private BridgeHost(BridgeMailboxes mailboxes, ImapServer imap, SmtpFrontEnd smtp, HttpClient http, X509Certificate2 certificate, BridgeOptions options,
        Client.Transparency.TransparencyService transparency)
    {
        _options = options;
        _transparency = transparency;
        _mailboxes = mailboxes;
        _imap = imap;
        _smtp = smtp;
        _http = http;
        _certificate = certificate;
        _outbox = new OutboxDelivery(mailboxes.Store, ProviderForAsync, options.Outbox);
        _notices = new Client.Transparency.TransparencyNotices(mailboxes.Store, transparency.State);
        _idleTrimTimer = new Timer(_ => TrimMemory(), null, Timeout.Infinite, Timeout.Infinite);

        // Every alert, whatever found it (monitoring, gossip in mail, a directory lookup while sending, sync), reaches the
        // mail app as a notice and the output as one line, once: at start-up for what is pending, then on each alert.
        _emit = e =>
        {
            options.Events?.Invoke(e);
            if (e.Level != BridgeEventLevel.Verbose)
            {
                options.SyncLog?.Invoke(e.Text);
            }
        };
        Action<string> notice = line => _emit(new BridgeEvent(BridgeEventLevel.Notice, line));
        transparency.AlertRaised += _ => _noticeWake.Release();
        _loops.Add(NoticeLoopAsync(notice, _stop.Token));
        if (options.MonitorTransparency)
        {
            _loops.Add(new Client.Transparency.TransparencyWatch(mailboxes.Store, transparency)
            {
                Notices = _notices,
                AccountDevices = async (account, ct) => account.RemoteAccountId is null ? null : await (await ProviderForAsync(account, ct).ConfigureAwait(false)).ListDevicesAsync(ct).ConfigureAwait(false),
                BeforeCheck = async (account, ct) =>
                {
                    if (account.RemoteAccountId is not null)
                    {
                        await Client.Accounts.KeyBundleSync.FetchAsync(mailboxes.Store, account, await ProviderForAsync(account, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
                    }
                },
                DeviceLog = notice,
            }.RunAsync(notice, _stop.Token));
        }
    }

    /// <summary>Delivers pending key-transparency notices now and after every new alert, each with one line on <paramref name="log"/>.</summary>
    private async Task NoticeLoopAsync(Action<string>? log, CancellationToken ct)
    {
        await Task.Yield();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                foreach (var notice in await _notices.DeliverPendingAsync(ct).ConfigureAwait(false))
                {
                    log?.Invoke(notice.LogLine);
                }

                await _noticeWake.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The loop must survive a failed delivery; the notice stays pending and the next alert or round retries.
            catch (Exception e)
#pragma warning restore CA1031
            {
                log?.Invoke("key transparency: delivering a notice failed: " + e.GetType().Name);
                await DelayQuietlyAsync(TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Syncs every registered account once (pull, push), then hands every due queued message to its provider. A
    /// provider that cannot be reached is reported: the bridge keeps serving cached mail and queued sends wait.
    /// </summary>
    public async Task SyncOnceAsync(Action<string>? log = null, CancellationToken ct = default)
    {
        Action<BridgeEvent> events = e =>
        {
            _emit(e);
            log?.Invoke(e.Line(verbose: true));
        };
        foreach (var account in await _mailboxes.Store.Accounts.ListAsync(ct).ConfigureAwait(false))
        {
            if (account.DeviceId is not null)
            {
                await SyncAccountAsync(account, events, ct).ConfigureAwait(false);
                TrimMemoryIfDue();
            }
        }

        await DeliverOutboxAsync(events, ct).ConfigureAwait(false);
    }

    /// <summary>Wakes the outbox: a message was queued (the SMTP submission calls this).</summary>
    internal void WakeOutbox() => _outboxWake.Release();

    /// <summary>One sync of one account; false when its provider could not be reached or refused.</summary>
    private async Task<bool> SyncAccountAsync(AccountRecord account, Action<BridgeEvent> log, CancellationToken ct)
    {
        var store = _mailboxes.Store;
        var who = account.Address;
        try
        {
            var provider = await ProviderForAsync(account, ct).ConfigureAwait(false);
            switch (await InboxKeyUpgrade.EnsureAsync(store, account, provider, ct).ConfigureAwait(false))
            {
                case InboxUpgradeOutcome.Published:
                    log(new(BridgeEventLevel.Notice, $"{who}: arriving mail is now sealed to a post-quantum (X-Wing) inbox key"));
                    break;
                case InboxUpgradeOutcome.Refused:
                    log(new(BridgeEventLevel.Verbose, $"{who}: the provider does not take an X-Wing inbox key yet; arriving mail stays sealed to X25519"));
                    break;
            }

            await MaintainPrekeysAsync(store, account, provider, log, ct).ConfigureAwait(false);

            // A long sync (the first one on a new device, or after a long time offline) shows its progress with a rate.
            var started = System.Diagnostics.Stopwatch.StartNew();
            int shown = 0;
            var progress = new ProgressLines(p =>
            {
                if (p.MoreWaiting && p.Applied - shown >= _options.ProgressEvery)
                {
                    shown = p.Applied;
                    var rate = p.Applied / Math.Max(started.Elapsed.TotalSeconds, 0.001);
                    log(new(BridgeEventLevel.Notice, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"{who}: syncing, {p.Applied} changes applied ({rate:0} per second), more waiting")));
                }
            });
            var report = await new SyncEngine(store, account, provider, gossip: _transparency, syncOptions: _options.Sync, native: NativeFor(account, provider)).SyncAsync(progress, ct).ConfigureAwait(false);
            await BridgeStatus.SaveSyncAsync(store, account.Id, null, ct).ConfigureAwait(false);
            if (_synced.TryAdd(account.Id, true))
            {
                log(new(BridgeEventLevel.Notice, $"{who}: online ({account.ProviderUrl?.Host})"));
            }

            if (shown > 0)
            {
                log(new(BridgeEventLevel.Notice, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{who}: sync done, {report.Received} received, {report.Pushed} pushed, {report.Deleted} deleted in {started.Elapsed.TotalSeconds:0.0} s")));
            }
            else if (report.Received > 0)
            {
                log(new(BridgeEventLevel.Notice, $"{who}: {report.Received} new {(report.Received == 1 ? "message" : "messages")} received"));
            }

            if (report.Pushed + report.Deleted > 0 || (shown == 0 && report.Received > 0))
            {
                log(new(BridgeEventLevel.Verbose, $"{who}: {report.Received} received, {report.Pushed} pushed, {report.Deleted} deleted, {report.Errors.Count} skipped"));
            }

            if (report.Errors.Count > 0)
            {
                log(new(BridgeEventLevel.Error, $"{who}: {report.Errors.Count} synced {(report.Errors.Count == 1 ? "document" : "documents")} could not be applied and stay at the provider"));
            }

            foreach (var error in report.Errors)
            {
                log(new(BridgeEventLevel.Verbose, $"{who}: skipped document {error.DocumentId} ({error.Kind}): {error.Reason}"));
                if (error.SealedToUnknownKey)
                {
                    // Not a quiet skip: the provider may have swapped the inbox key. The document stays at the provider.
                    await _transparency.ReportUnknownInboxKeyAsync(account.Address, error.DocumentId, ct).ConfigureAwait(false);
                }
            }

            if (_unreachable.TryRemove(account.Id, out _))
            {
                // Back after an outage: what waited for it is due now, not after its backoff.
                log(new(BridgeEventLevel.Notice, $"{who}: online again, the provider is reachable again"));
                if (await store.Jobs.MakeDueNowAsync(Client.Mail.QueuedMail.JobKind, account.Id, ct).ConfigureAwait(false) > 0)
                {
                    WakeOutbox();
                }
            }

            return true;
        }
        catch (ProviderUnavailableException e)
        {
            // The status first: whoever reads the line may ask `letterlock status` next.
            await BridgeStatus.SaveSyncAsync(store, account.Id, "provider unreachable: " + e.Message, ct).ConfigureAwait(false);
            _synced.TryRemove(account.Id, out _);
            if (_unreachable.TryAdd(account.Id, true))
            {
                log(new(BridgeEventLevel.Error, $"{who}: offline: {e.Message}; retrying every {RetryText()}, serving cached mail, sends stay queued"));
            }
        }
        catch (ProviderProblemException e)
        {
            await BridgeStatus.SaveSyncAsync(store, account.Id, "sync refused: " + e.Message, ct).ConfigureAwait(false);
            _synced.TryRemove(account.Id, out _);
            _unreachable.TryAdd(account.Id, true);
            log(new(BridgeEventLevel.Error, $"{who}: sync refused by the provider: {e.Message}; retrying every {RetryText()}"));
        }

        return false;
    }

    /// <summary>How many times the bridge gave its freed heap back to the operating system after a sync round.</summary>
    internal int MemoryTrims => Volatile.Read(ref _memoryTrims);

    /// <summary>
    /// Returns freed memory to the operating system once a sync round is over, if much was allocated since the last time.
    /// A 24 MiB message passes through several whole-message buffers on the large-object heap; the GC keeps those
    /// segments committed for reuse, so without this an idle bridge sat at the size of its largest sync (2.3 GiB after
    /// a few dozen such messages). An aggressive collection decommits what is free; it is blocking, so it runs only
    /// after rounds that allocated at least <see cref="BridgeOptions.IdleTrimAfterAllocatedBytes"/>, between syncs.
    /// Right after a round some of its buffers are still reachable for a moment (objects awaiting finalization, the
    /// last work items of the thread pool's threads): measured, 150 MiB per 24 MiB message outlived the collection. So
    /// finalizers run first, and the collection is repeated once the bridge has idled for <see cref="IdleTrimDelay"/>.
    /// </summary>
    private void TrimMemoryIfDue()
    {
        if (_options.IdleTrimAfterAllocatedBytes is not { } threshold)
        {
            return;
        }

        long allocated = GC.GetTotalAllocatedBytes();
        long last = Interlocked.Read(ref _allocatedAtLastTrim);
        if (allocated - last < threshold || Interlocked.CompareExchange(ref _allocatedAtLastTrim, allocated, last) != last)
        {
            return; // not enough yet, or another account's round is trimming now
        }

        TrimMemory();
        _idleTrimTimer.Change(IdleTrimDelay, Timeout.InfiniteTimeSpan);
    }

    private void TrimMemory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Increment(ref _memoryTrims);
    }

    private string RetryText() => _options.SyncInterval is { } i ? $"{i.TotalSeconds:0} s" : "sync";

    /// <summary>Reports progress synchronously on the syncing thread (<see cref="Progress{T}"/> would post to the thread pool and reorder lines).</summary>
    private sealed class ProgressLines(Action<SyncProgress> report) : IProgress<SyncProgress>
    {
        public void Report(SyncProgress value) => report(value);
    }

    /// <summary>Publishes, rotates and refills the device's native prekeys; a refusal is logged, and mail goes on as PGP/MIME meanwhile.</summary>
    private static async Task MaintainPrekeysAsync(LocalStore store, AccountRecord account, ProviderClient provider, Action<BridgeEvent> log, CancellationToken ct)
    {
        try
        {
            var prekeys = await Client.Native.PrekeyMaintenance.RunAsync(store, account, provider, ct: ct).ConfigureAwait(false);
            if (prekeys.Rotated || prekeys.OneTimeAdded > 0)
            {
                log(new(BridgeEventLevel.Verbose, $"{account.Address}: native prekeys published ({(prekeys.Rotated ? "signed prekeys rotated, " : "")}{prekeys.OneTimeAdded} one-time prekeys added)"));
            }
        }
        catch (ProviderProblemException e) when (e.Status is 400 or 404 or 405)
        {
            // A provider without the prekey endpoints (older release) or refusing these prekeys: mail stays PGP/MIME.
            log(new(BridgeEventLevel.Verbose, $"{account.Address}: the provider did not take native prekeys: {e.Message}"));
        }
    }

    private async Task DeliverOutboxAsync(Action<BridgeEvent> log, CancellationToken ct)
    {
        foreach (var result in await _outbox.DeliverDueAsync(ct).ConfigureAwait(false))
        {
            // By default a line names the account and counts the recipients; --verbose names them.
            var to = string.Join(", ", result.Recipients);
            var count = result.Recipients.Count == 1 ? "1 recipient" : $"{result.Recipients.Count} recipients";
            BridgeEvent line = result.Outcome switch
            {
                OutboxOutcome.Sent => new(BridgeEventLevel.Notice, $"{result.Account}: mail sent ({count})", $"{result.Account}: sent to {to}"),
                OutboxOutcome.RetryLater => new(BridgeEventLevel.Notice, $"{result.Account}: mail not sent yet ({count}): {result.Reason}; next try {result.NextAttempt:HH:mm:ss}",
                    $"{result.Account}: not sent yet to {to} ({result.Reason}); next try {result.NextAttempt:HH:mm:ss}"),
                _ => new(BridgeEventLevel.Error, $"{result.Account}: NOT DELIVERED ({count}): {result.Reason} (a notice is in the INBOX)",
                    $"{result.Account}: NOT DELIVERED to {to}: {result.Reason} (a notice is in the INBOX)"),
            };
            if (result.Outcome != OutboxOutcome.Sent && await _mailboxes.Store.Accounts.FindAsync(result.Account, ct).ConfigureAwait(false) is { } account)
            {
                await BridgeStatus.SaveErrorAsync(_mailboxes.Store, account.Id,
                    (result.Outcome == OutboxOutcome.RetryLater ? "not sent yet: " : "not delivered: ") + result.Reason, ct).ConfigureAwait(false);
            }

            log(line);
        }
    }

    /// <summary>Starts the background work: one loop per registered account and the outbox.</summary>
    private async Task StartLoopsAsync(TimeSpan interval, CancellationToken ct)
    {
        lock (_loops)
        {
            _loops.Add(OutboxLoopAsync(interval, _emit, _stop.Token));
        }

        await StartAccountLoopsAsync(interval, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a loop for every registered account that has none: at start-up, and on every outbox round, so an account
    /// added while the bridge runs (<c>letterlock account create</c>) is synced without a restart.
    /// </summary>
    private async Task StartAccountLoopsAsync(TimeSpan interval, CancellationToken ct)
    {
        var accounts = await _mailboxes.Store.Accounts.ListAsync(ct).ConfigureAwait(false);
        lock (_loops)
        {
            // Checked under the lock that DisposeAsync takes after cancelling: no loop starts after it took its snapshot.
            foreach (var account in accounts.Where(a => a.DeviceId is not null))
            {
                if (!_stop.IsCancellationRequested && _looping.Add(account.Id))
                {
                    _loops.Add(AccountLoopAsync(account, interval, _emit, _stop.Token));
                }
            }
        }
    }

    /// <summary>One API client per account, so its device token is reused between syncs, long polls and submissions.</summary>
    private Client.Native.NativeMail NativeFor(AccountRecord account, ProviderClient provider) =>
        new(_mailboxes.Store, account, provider, Client.Native.NativeMail.FromTransparency(_transparency));

    /// <summary>The native protocol for a registered account; null when it has no provider connection.</summary>
    private async Task<Client.Native.NativeMail?> NativeForAsync(AccountRecord account, CancellationToken ct)
    {
        if (account.DeviceId is null)
        {
            return null;
        }

        try
        {
            return NativeFor(account, await ProviderForAsync(account, ct).ConfigureAwait(false));
        }
        catch (LocalStoreException)
        {
            return null;
        }
    }

    private async Task<ProviderClient> ProviderForAsync(AccountRecord account, CancellationToken ct)
    {
        if (_providers.TryGetValue(account.Id, out var provider))
        {
            return provider;
        }

        provider = await AccountRegistration.ConnectAsync(_mailboxes.Store, account, _http, ct: ct).ConfigureAwait(false);
        return _providers.GetOrAdd(account.Id, provider);
    }

    /// <summary>Sync, then wait for the provider to say something changed (long poll); after a failure, wait the interval.</summary>
    private async Task AccountLoopAsync(AccountRecord account, TimeSpan interval, Action<BridgeEvent> log, CancellationToken ct)
    {
        await Task.Yield();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (await _mailboxes.Store.Accounts.GetAsync(account.Id, ct).ConfigureAwait(false) is null)
                {
                    // Removed while the bridge runs: its loop ends (a new account with the address gets its own).
                    lock (_loops)
                    {
                        _looping.Remove(account.Id);
                    }

                    return;
                }

                bool synced = await SyncAccountAsync(account, log, ct).ConfigureAwait(false);
                TrimMemoryIfDue();
                if (!synced)
                {
                    await Task.Delay(interval, ct).ConfigureAwait(false);
                    continue;
                }

                var provider = await ProviderForAsync(account, ct).ConfigureAwait(false);
                await new SyncEngine(_mailboxes.Store, account, provider).WaitForChangesAsync(_options.LongPollSeconds, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (ProviderUnavailableException)
            {
                // The long poll failed: the next sync reports the outage.
            }
            catch (ProviderProblemException)
            {
                await DelayQuietlyAsync(interval, ct).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // The loop must survive any one failed round; the next round retries.
            catch (Exception e)
#pragma warning restore CA1031
            {
                log(new(BridgeEventLevel.Error, $"{account.Address}: sync failed: {e.GetType().Name}"));
                await DelayQuietlyAsync(interval, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Delivers what is due, then sleeps until the next message is due, a new one is queued, or the interval passes.</summary>
    private async Task OutboxLoopAsync(TimeSpan interval, Action<BridgeEvent> log, CancellationToken ct)
    {
        await Task.Yield();
        while (!ct.IsCancellationRequested)
        {
            var wait = interval;
            try
            {
                await StartAccountLoopsAsync(interval, ct).ConfigureAwait(false);
                await DeliverOutboxAsync(log, ct).ConfigureAwait(false);
                if (await _outbox.NextDueAsync(ct).ConfigureAwait(false) is { } next)
                {
                    var until = next - DateTimeOffset.UtcNow;
                    wait = until < TimeSpan.FromMilliseconds(100) ? TimeSpan.FromMilliseconds(100) : until < interval ? until : interval;
                }

                await _outboxWake.WaitAsync(wait, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The loop must survive any one failed round; the next round retries.
            catch (Exception e)
#pragma warning restore CA1031
            {
                log(new(BridgeEventLevel.Error, "outbox: delivery round failed: " + e.GetType().Name));
                await DelayQuietlyAsync(interval, ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task DelayQuietlyAsync(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>How this bridge sends: the path SMTP submission takes, for the other front ends of its process.</summary>
    public BridgeSubmission Submission { get; private init; } = null!;

    /// <summary>Key transparency of this bridge's accounts (directory proofs, monitoring).</summary>
    public Client.Transparency.TransparencyService Transparency => _transparency;

    /// <summary>The provider API client of an account (one per account, shared with sync and the outbox).</summary>
    public Task<ProviderClient> ProviderAsync(AccountRecord account, CancellationToken ct = default) => ProviderForAsync(account, ct);

    /// <summary>The SMTP submission listener's address.</summary>
    public IPEndPoint SmtpEndPoint => _smtp.BoundEndpoints[0];

    /// <summary>The IMAP listener's address.</summary>
    public IPEndPoint ImapEndPoint => _imap.LocalEndPoint;

    /// <summary>The certificate mail apps see.</summary>
    public X509Certificate2 Certificate => _certificate;

    /// <summary>Starts the bridge over <paramref name="store"/>.</summary>
    /// <exception cref="SocketException">The port is taken.</exception>
    /// <exception cref="BridgeAlreadyRunningException">Another bridge serves this store.</exception>
    public static async Task<BridgeHost> StartAsync(LocalStore store, BridgeOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        options ??= new BridgeOptions();
        var storeLock = BridgeLock.Acquire(store.FilePath);
        try
        {
            var host = await StartLockedAsync(store, options, ct).ConfigureAwait(false);
            host._lock = storeLock;
            return host;
        }
        catch
        {
            storeLock.Dispose();
            throw;
        }
    }

    private BridgeLock? _lock;

    private static async Task<BridgeHost> StartLockedAsync(LocalStore store, BridgeOptions options, CancellationToken ct)
    {
        var certificate = await BridgeCertificate.GetOrCreateAsync(store, ct).ConfigureAwait(false);
        var mailboxes = new BridgeMailboxes(store);
        var context = new ImapServerContext(options.Imap, new BridgeAuthenticator(mailboxes, options.Imap.MaxMimeDepth, options.MimeLimits), log: options.Log);
        var imap = new ImapServer(new ImapListenOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, options.ImapPort), Certificate = certificate }, context);
        // Each account's provider trust anchor (account create --ca) is added to the roots, for every connection of the
        // bridge: sync, submission, devices, transparency.
        var roots = new X509Certificate2Collection();
        roots.AddRange(options.TrustedRoots ?? []);
        roots.AddRange(options.ProviderRoots ?? []);
        roots.AddRange(await ProviderTrust.GetAllAsync(store, ct).ConfigureAwait(false));
        var http = new HttpClient(HttpFetch.CreateHandler(options.HostMap, roots, options.Discovery.RequestTimeout, keepSystemRoots: options.TrustedRoots is null))
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        var discoveryOptions = options.Discovery;
        var transparency = new Client.Transparency.TransparencyService(store, http);
        BridgeHost? host = null;
        var submission = new BridgeSubmission(store, account => new KeyDiscovery(
            [new DirectoryKeySource(http, discoveryOptions), new WkdKeySource(http, discoveryOptions), new HkpKeySource(http, discoveryOptions),
                new AutocryptKeySource(store, account)], discoveryOptions), transparency, () => host?.WakeOutbox(),
            async (account, ct) => host is null ? null : await host.NativeForAsync(account, ct).ConfigureAwait(false), options.MimeLimits);
        var smtpBackend = new BridgeSmtp(submission);
        var smtpOptions = new SmtpFrontEndOptions { ServerName = "localhost", Certificate = certificate, MaxMessageSize = options.MaxSubmissionSize };
        smtpOptions.Listeners.Add(new SmtpListenerOptions
        {
            Name = "bridge-submission",
            EndPoint = new IPEndPoint(IPAddress.Loopback, options.SmtpPort),
            TlsMode = SmtpTlsMode.StartTls,
            RequireAuthentication = true,
        });
        SmtpFrontEnd? smtp = null;
        try
        {
            imap.Start();
            smtp = SmtpFrontEnd.Start(smtpOptions, smtpBackend, smtpBackend);
        }
        catch
        {
            mailboxes.Dispose();
            http.Dispose();
            await imap.DisposeAsync().ConfigureAwait(false);
            certificate.Dispose();
            throw;
        }

        host = new BridgeHost(mailboxes, imap, smtp, http, certificate, options, transparency) { Submission = submission };
        if (options.SyncInterval is { } interval)
        {
            await host.StartLoopsAsync(interval, ct).ConfigureAwait(false);
        }

        return host;
    }

    /// <summary>The settings of every account (creating bridge passwords where missing).</summary>
    public Task<IReadOnlyList<BridgeAccountSettings>> GetSettingsAsync(CancellationToken ct = default) =>
        SettingsAsync(_mailboxes.Store, new BridgePortChoice(ImapEndPoint.Port, SmtpEndPoint.Port), _certificate, ct);

    /// <summary>
    /// The settings of every account for a bridge on <paramref name="ports"/> with <paramref name="certificate"/>,
    /// without running it (<c>letterlock bridge settings</c>); bridge passwords are created where missing.
    /// </summary>
    public static async Task<IReadOnlyList<BridgeAccountSettings>> SettingsAsync(LocalStore store, BridgePortChoice ports, X509Certificate2 certificate,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(ports);
        ArgumentNullException.ThrowIfNull(certificate);
        var settings = new List<BridgeAccountSettings>();
        foreach (var account in await store.Accounts.ListAsync(ct).ConfigureAwait(false))
        {
            var password = await BridgeCredentials.GetOrCreateAsync(store, account.Id, ct).ConfigureAwait(false);
            settings.Add(new BridgeAccountSettings(account.Address, account.Address, password, "127.0.0.1", ports.Imap, "STARTTLS",
                "127.0.0.1", ports.Smtp, "STARTTLS", BridgeCertificate.Fingerprint(certificate)));
        }

        return settings;
    }

    /// <summary>Stops listening and ends every session.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Task[] loops;
        lock (_loops)
        {
            loops = [.. _loops];
        }

        foreach (var loop in loops)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        await _idleTrimTimer.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _outboxWake.Dispose();
        _noticeWake.Dispose();
        await _smtp.DisposeAsync().ConfigureAwait(false);
        await _imap.StopAsync().ConfigureAwait(false);
        await _imap.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
        _mailboxes.Dispose();
        _certificate.Dispose();
        _lock?.Dispose();
    }
}
