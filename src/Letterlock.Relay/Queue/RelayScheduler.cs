using System.Collections.Concurrent;
using System.Security.Cryptography;
using Letterlock.Relay.Delivery;
using Letterlock.Relay.Dsn;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;

namespace Letterlock.Relay.Queue;

/// <summary>
/// Runs the relay queue: finds destinations with due deliveries, starts at most
/// <see cref="RelayOptions.MaxConnectionsPerDestination"/> workers per destination and
/// <see cref="RelayOptions.MaxConcurrentConnections"/> in all, so a slow or dead destination holds only its own
/// workers and never the others'. A worker leases a batch of one destination's deliveries, sends them over one
/// connection, and records each outcome: delivered, deferred with exponential backoff, or failed with a DSN handed
/// to <see cref="ILocalDelivery"/>. Deliveries older than <see cref="RelayOptions.MessageLifetime"/> bounce.
/// </summary>
/// <remarks>
/// Crash safety: a lease is written before a delivery is attempted and released with its result. A process killed
/// in between leaves the lease to lapse (<see cref="RelayOptions.LeaseDuration"/>); the next lease of that delivery
/// records the interruption durably and logs it, and the message is sent again: at-least-once, because SMTP cannot
/// tell whether a server that got the final dot before the crash kept the message.
/// </remarks>
public sealed class RelayScheduler : IAsyncDisposable
{
    private readonly RelayQueue _queue;
    private readonly DeliveryAgent _agent;
    private readonly ILocalDelivery _local;
    private readonly RelayOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _postmasterDomain;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly ConcurrentDictionary<string, int> _active = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Task, bool> _workers = new();
    private readonly string _leasePrefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private int _activeTotal;
    private Task? _loop;

    /// <summary>Creates a scheduler; call <see cref="Start"/>.</summary>
    /// <param name="queue">The queue.</param>
    /// <param name="agent">Delivers to remote MTAs.</param>
    /// <param name="local">Delivers DSNs to local senders.</param>
    /// <param name="options">Concurrency, retry and lifetime settings.</param>
    /// <param name="postmasterDomain">The domain DSNs come from (<c>MAILER-DAEMON@domain</c>).</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">The log; null discards.</param>
    public RelayScheduler(RelayQueue queue, DeliveryAgent agent, ILocalDelivery local, RelayOptions options, string postmasterDomain, TimeProvider time, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(agent);
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(postmasterDomain);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        _queue = queue;
        _agent = agent;
        _local = local;
        _options = options;
        _postmasterDomain = postmasterDomain;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        queue.Enqueued += Wake;
    }

    /// <summary>Delivery outcomes per recipient since start.</summary>
    public RelayCounters Counters { get; } = new();

    /// <summary>Starts the dispatch loop.</summary>
    public void Start() => _loop ??= Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Asks the loop to look for due work now.</summary>
    public void Wake() => _wake.Release();

    /// <summary>Stops dispatching, cancels running attempts and waits for the workers.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Enqueued -= Wake;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        await Task.WhenAll(_workers.Keys).ConfigureAwait(false);
        _stop.Dispose();
        _wake.Dispose();
    }

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            TimeSpan wait = _options.PollInterval;
            try
            {
                var now = _time.GetUtcNow();
                var due = await _queue.Store.FindDueDestinationsAsync(now, 256, stop).ConfigureAwait(false);
                foreach (var destination in due)
                {
                    int active = _active.GetValueOrDefault(destination.Destination);
                    int wanted = Math.Min(_options.MaxConnectionsPerDestination, (destination.Due + _options.LeaseBatchSize - 1) / _options.LeaseBatchSize);
                    for (; active < wanted && Volatile.Read(ref _activeTotal) < _options.MaxConcurrentConnections; active++)
                    {
                        StartWorker(destination.Destination, stop);
                    }
                }

                var next = await _queue.Store.NextDueAsync(stop).ConfigureAwait(false);
                if (next is { } at)
                {
                    var until = at - _time.GetUtcNow();
                    wait = until < TimeSpan.FromMilliseconds(20) ? TimeSpan.FromMilliseconds(20) : until < wait ? until : wait;
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.SchedulerFailed(_logger, e);
                wait = TimeSpan.FromSeconds(1);
            }

            try
            {
                await _wake.WaitAsync(wait, stop).ConfigureAwait(false);
                while (_wake.CurrentCount > 0 && _wake.Wait(0, CancellationToken.None))
                {
                    // coalesce wake-ups that arrived together
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void StartWorker(string destination, CancellationToken stop)
    {
        _active.AddOrUpdate(destination, 1, (_, n) => n + 1);
        Interlocked.Increment(ref _activeTotal);
        var task = Task.Run(() => WorkAsync(destination, stop), CancellationToken.None);
        _workers[task] = true;
        _ = task.ContinueWith(
            t =>
            {
                _workers.TryRemove(t, out _);
                _active.AddOrUpdate(destination, 0, (_, n) => n - 1);
                Interlocked.Decrement(ref _activeTotal);
                if (!stop.IsCancellationRequested)
                {
                    Wake();
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private async Task WorkAsync(string destination, CancellationToken stop)
    {
        string leaseToken = _leasePrefix + "-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        DestinationDeliverer? deliverer = null;
        IReadOnlyList<QueueLease> leases = [];
        int current = 0;
        try
        {
            DeliveryAttemptResult? destinationDown = null;
            while (!stop.IsCancellationRequested && destinationDown is null)
            {
                var now = _time.GetUtcNow();
                leases = [];
                current = 0;
                leases = await _queue.Store.LeaseAsync(destination, leaseToken, now, now + _options.LeaseDuration, _options.LeaseBatchSize, stop).ConfigureAwait(false);
                if (leases.Count == 0)
                {
                    break;
                }

                var leasedUntil = leases[0].LeasedUntil;
                for (int i = 0; i < leases.Count; i++)
                {
                    current = i;
                    if (leasedUntil - _time.GetUtcNow() < _options.LeaseDuration / 2)
                    {
                        leasedUntil = _time.GetUtcNow() + _options.LeaseDuration;
                        await _queue.Store.RenewAsync(leases.Skip(i).Select(l => l.DeliveryId).ToList(), leaseToken, leasedUntil, stop).ConfigureAwait(false);
                    }

                    var (result, used) = await ProcessAsync(leases[i], leaseToken, deliverer, destinationDown, stop).ConfigureAwait(false);
                    deliverer = used;
                    if (result is { Security: null } && result.Recipients.All(r => r.Status == RecipientStatus.Deferred))
                    {
                        // no connection could be made: the rest of this batch would wait out the same timeouts; defer them at once
                        destinationDown = result;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Shutting down. The attempt in flight may have reached the destination: its lease lapses and its retry is
            // recorded as interrupted. Deliveries this worker never started go back at once.
            await ReleaseUnstartedAsync(leases.Skip(current + 1).Select(l => l.DeliveryId).ToList(), leaseToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.WorkerFailed(_logger, e, destination);
        }
        finally
        {
            if (deliverer is not null)
            {
                await deliverer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task ReleaseUnstartedAsync(List<string> deliveryIds, string leaseToken)
    {
        if (deliveryIds.Count == 0)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _queue.Store.ReleaseAsync(deliveryIds, leaseToken, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // they lapse instead
            Log.WorkerFailed(_logger, e, "(releasing leases at shutdown)");
        }
    }

    private async Task<(DeliveryAttemptResult? Result, DestinationDeliverer? Deliverer)> ProcessAsync(QueueLease lease, string leaseToken, DestinationDeliverer? deliverer, DeliveryAttemptResult? destinationDown, CancellationToken stop)
    {
        QueuedState state;
        MimeMessage? message = null;
        try
        {
            state = _queue.Sealing.OpenState(lease.SealedState);
        }
        catch (Exception e) when (e is Letterlock.Cryptography.HpkeException or InvalidDataException or System.Text.Json.JsonException)
        {
            Log.Unreadable(_logger, e, lease.DeliveryId);
            await _queue.Store.FinishAsync(lease.DeliveryId, leaseToken, QueueFinish.Discarded, stop).ConfigureAwait(false);
            return (null, deliverer);
        }

        if (lease.Interrupted)
        {
            Log.InterruptedAttempt(_logger, lease.DeliveryId, state.Domain);
        }

        var now = _time.GetUtcNow();
        var pending = state.Recipients.Where(r => r.Final is null).ToList();
        DeliveryAttemptResult? result = null;
        if (pending.Count > 0 && now < lease.ExpiresAt)
        {
            if (destinationDown is not null)
            {
                var f = destinationDown.Recipients[0];
                result = new DeliveryAttemptResult(pending.Select(p => f with { Recipient = p.Address }).ToList(), null);
            }
            else
            {
                (message, var refusal) = await LoadMessageAsync(lease, stop).ConfigureAwait(false);
                if (message is null)
                {
                    // The sender is known, so the message is not dropped in silence: every open recipient fails with the
                    // reason and the sender gets a DSN (without the message's header, which cannot be read).
                    result = new DeliveryAttemptResult(pending.Select(p => refusal! with { Recipient = p.Address }).ToList(), null);
                }
                else
                {
                    deliverer ??= _agent.ForDestination(state.Domain);
                    result = await deliverer.DeliverAsync(state.Sender, pending.Select(p => p.Address).ToList(), message, stop).ConfigureAwait(false);
                }
            }

            now = _time.GetUtcNow();
            foreach (var r in result.Recipients)
            {
                var entry = pending.First(p => string.Equals(p.Address, r.Recipient, StringComparison.OrdinalIgnoreCase));
                entry.EnhancedStatus = r.EnhancedStatus;
                entry.Diagnostic = r.Diagnostic;
                entry.RemoteMta = r.RemoteMta;
                entry.LastAttemptAt = now;
                entry.Final = r.Status == RecipientStatus.Deferred ? null : r.Status;
            }

            state.LastReason = result.Recipients.FirstOrDefault(r => r.Status != RecipientStatus.Delivered)?.Diagnostic;
        }

        int attempts = lease.Attempts + (result is null ? 0 : 1);
        var nextAttempt = now + Backoff(attempts);
        bool expired = nextAttempt >= lease.ExpiresAt || now >= lease.ExpiresAt;
        if (expired)
        {
            foreach (var r in state.Recipients.Where(r => r.Final is null))
            {
                // RFC 3463 X.4.7: delivery time expired; keep the last remote answer as the diagnostic
                r.Final = RecipientStatus.Failed;
                r.EnhancedStatus = "4.4.7";
                r.Diagnostic ??= "delivery time expired";
            }
        }

        if (result is not null)
        {
            Log.AttemptRecorded(_logger, lease.DeliveryId, state.Domain,
                state.Recipients.Count(r => r.Final == RecipientStatus.Delivered), state.Recipients.Count(r => r.Final is null), state.Recipients.Count(r => r.Final == RecipientStatus.Failed), attempts);
        }

        // failures get their DSN before the state that says so is written: a crash in between repeats the DSN, never loses it
        var undelivered = state.Recipients.Where(r => r.Final == RecipientStatus.Failed && !r.DsnSent).ToList();
        var warn = !expired && !state.DelayWarned && _options.DelayWarningAfter is { } after && now - state.ArrivedAt >= after && state.Recipients.Any(r => r.Final is null);
        if ((undelivered.Count > 0 || warn) && state.Sender.Length > 0)
        {
            message ??= await LoadHeadersAsync(lease.MessageId, stop).ConfigureAwait(false);
            try
            {
                if (undelivered.Count > 0)
                {
                    await SendDsnAsync(state, undelivered, DsnAction.Failed, message, lease.ExpiresAt, stop).ConfigureAwait(false);
                    undelivered.ForEach(r => r.DsnSent = true);
                }

                if (warn)
                {
                    await SendDsnAsync(state, state.Recipients.Where(r => r.Final is null).ToList(), DsnAction.Delayed, message, lease.ExpiresAt, stop).ConfigureAwait(false);
                    state.DelayWarned = true;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log.DsnHandOffFailed(_logger, e, lease.DeliveryId);
                await _queue.Store.RecordAttemptAsync(lease.DeliveryId, leaseToken, _queue.Sealing.SealState(state), attempts, now + _options.InitialRetryDelay, stop).ConfigureAwait(false);
                return (result, deliverer);
            }
        }
        else if (state.Sender.Length == 0)
        {
            undelivered.ForEach(r => r.DsnSent = true); // never bounce a bounce (RFC 5321, 6.1)
        }

        bool done = state.Recipients.All(r => r.Final is not null);
        bool stored = done
            ? await _queue.Store.FinishAsync(lease.DeliveryId, leaseToken, state.Recipients.Any(r => r.Final == RecipientStatus.Failed) ? QueueFinish.Bounced : QueueFinish.Delivered, stop).ConfigureAwait(false)
            : await _queue.Store.RecordAttemptAsync(lease.DeliveryId, leaseToken, _queue.Sealing.SealState(state), attempts, nextAttempt, stop).ConfigureAwait(false);
        if (!stored)
        {
            Log.LeaseLost(_logger, lease.DeliveryId);
        }
        else
        {
            // the outcome of this attempt for the recipients it concerned (those still open before it)
            Counters.Add(
                pending.Count(r => r.Final == RecipientStatus.Delivered),
                pending.Count(r => r.Final == RecipientStatus.Failed),
                result is null ? 0 : pending.Count(r => r.Final is null));
        }

        if (stored && done && state.Recipients.Any(r => r.Final == RecipientStatus.Failed))
        {
            Log.Bounced(_logger, lease.DeliveryId, state.Domain, state.Recipients.Count(r => r.Final == RecipientStatus.Failed));
        }

        return (result, deliverer);
    }

    private TimeSpan Backoff(int attempts)
    {
        // InitialRetryDelay * 2^(attempts-1), capped, with up to 10% jitter so retries of a batch spread out
        double factor = Math.Pow(2, Math.Max(0, attempts - 1));
        double ticks = Math.Min(_options.MaxRetryDelay.Ticks, _options.InitialRetryDelay.Ticks * factor);
        ticks *= 1 + (RandomNumberGenerator.GetInt32(0, 1000) / 10_000.0);
        return TimeSpan.FromTicks((long)Math.Min(ticks, _options.MaxRetryDelay.Ticks * 1.1));
    }

    /// <summary>
    /// The queued message, or why it cannot be sent: its stored copy is missing or cannot be opened (5.3.0), or it
    /// exceeds a <see cref="RelayOptions.MimeLimits"/> limit lowered since it was queued (5.3.4, naming the limit).
    /// </summary>
    private async Task<(MimeMessage? Message, RecipientResult? Refusal)> LoadMessageAsync(QueueLease lease, CancellationToken ct)
    {
        byte[]? sealedBody = await _queue.Store.ReadMessageAsync(lease.MessageId, ct).ConfigureAwait(false);
        if (sealedBody is null)
        {
            return (null, Unsendable(new InvalidDataException("missing"), "5.3.0", "the queued copy of the message is missing"));
        }

        try
        {
            return (await OpenPgp.Mime.BoundedMime.LoadAsync(_queue.Sealing.OpenMessage(sealedBody), _options.MimeLimits, ct).ConfigureAwait(false), null);
        }
        catch (OpenPgp.Mime.MimeLimitExceededException e)
        {
            return (null, Unsendable(e, "5.3.4", $"{e.Violation.Description} (limit MimeLimits.{e.Violation.Limit})"));
        }
        catch (Exception e) when (e is Letterlock.Cryptography.HpkeException or InvalidDataException or FormatException)
        {
            return (null, Unsendable(e, "5.3.0", "the queued copy of the message cannot be read"));
        }

        RecipientResult Unsendable(Exception e, string status, string diagnostic)
        {
            Log.Unsendable(_logger, e, lease.DeliveryId, diagnostic);
            return new(string.Empty, RecipientStatus.Failed, status, diagnostic, null);
        }
    }

    private async Task<MimeMessage?> LoadHeadersAsync(string messageId, CancellationToken ct)
    {
        try
        {
            byte[]? sealedBody = await _queue.Store.ReadMessageAsync(messageId, ct).ConfigureAwait(false);
            return sealedBody is null ? null : await OpenPgp.Mime.BoundedMime.LoadAsync(_queue.Sealing.OpenMessage(sealedBody), _options.MimeLimits, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is Letterlock.Cryptography.HpkeException or InvalidDataException or FormatException)
        {
            return null;
        }
    }

    private async Task SendDsnAsync(QueuedState state, List<QueuedRecipient> recipients, DsnAction action, MimeMessage? original, DateTimeOffset expiresAt, CancellationToken ct)
    {
        var headers = original is null ? null : new HeaderList();
        if (original is not null)
        {
            foreach (var header in original.Headers.Where(h => h.Id != HeaderId.DkimSignature))
            {
                headers!.Add(header);
            }
        }

        var dsn = DsnBuilder.Build(
            _options.ReportingMta ?? _options.HeloName,
            _postmasterDomain,
            state.Sender,
            state.ArrivedAt,
            recipients.Select(r => new DsnRecipient(r.Address, action, r.EnhancedStatus ?? (action == DsnAction.Failed ? "5.0.0" : "4.0.0"), r.Diagnostic ?? "unknown", r.RemoteMta, r.LastAttemptAt)).ToList(),
            headers,
            _time.GetUtcNow(),
            action == DsnAction.Delayed ? expiresAt : null);
        await _local.DeliverAsync(state.Sender, DsnBuilder.ToBytes(dsn), ct).ConfigureAwait(false);
    }
}
