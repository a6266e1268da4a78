namespace Letterlock.Relay.Queue;

/// <summary>A message to put in the queue: its sealed body and one delivery per destination domain.</summary>
/// <param name="MessageId">A random id.</param>
/// <param name="SealedBody">The raw message, HPKE-sealed to the queue key.</param>
/// <param name="CreatedAt">When it was accepted.</param>
/// <param name="Deliveries">One per destination domain.</param>
public sealed record NewQueueMessage(string MessageId, byte[] SealedBody, DateTimeOffset CreatedAt, IReadOnlyList<NewQueueDelivery> Deliveries);

/// <summary>One destination of a queued message.</summary>
/// <param name="DeliveryId">A random id.</param>
/// <param name="Destination">A keyed hash of the destination domain: groups work per destination without naming it on disk.</param>
/// <param name="SealedState">The envelope and per-recipient state, HPKE-sealed to the queue key.</param>
/// <param name="ExpiresAt">When it bounces if still undelivered.</param>
/// <param name="NextAttemptAt">When it is first due.</param>
public sealed record NewQueueDelivery(string DeliveryId, string Destination, byte[] SealedState, DateTimeOffset ExpiresAt, DateTimeOffset NextAttemptAt);

/// <summary>A destination with due work.</summary>
/// <param name="Destination">The destination key.</param>
/// <param name="Due">How many deliveries are due.</param>
public sealed record DueDestination(string Destination, int Due);

/// <summary>A delivery leased to one worker until <see cref="LeasedUntil"/>.</summary>
/// <param name="DeliveryId">The delivery.</param>
/// <param name="MessageId">Its message.</param>
/// <param name="SealedState">Its sealed state.</param>
/// <param name="Attempts">Attempts recorded so far.</param>
/// <param name="CreatedAt">When the message was accepted.</param>
/// <param name="ExpiresAt">When it bounces.</param>
/// <param name="LeasedUntil">The lease's end.</param>
/// <param name="Interrupted">
/// True when an earlier lease lapsed without a recorded result (the worker or process died mid-attempt): the
/// destination may already have the message. The store has recorded the interruption durably.
/// </param>
public sealed record QueueLease(string DeliveryId, string MessageId, byte[] SealedState, int Attempts, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset LeasedUntil, bool Interrupted);

/// <summary>An interrupted attempt the store recorded (see <see cref="QueueLease.Interrupted"/>).</summary>
/// <param name="DeliveryId">The delivery.</param>
/// <param name="MessageId">Its message.</param>
/// <param name="RecordedAt">When the lapsed lease was found.</param>
public sealed record QueueInterruption(string DeliveryId, string MessageId, DateTimeOffset RecordedAt);

/// <summary>Why a delivery left the queue.</summary>
public enum QueueFinish
{
    /// <summary>Every recipient was delivered.</summary>
    Delivered,

    /// <summary>At least one recipient failed permanently or expired, and its DSN was handed on.</summary>
    Bounced,

    /// <summary>The delivery could not be read (corrupt, or sealed to another queue key).</summary>
    Discarded,
}

/// <summary>
/// The durable relay queue, narrow and transaction-shaped: enqueue, lease what is due, record an attempt, finish
/// (complete or bounce). Every method is atomic and durable when it returns. The store sees only ids, times,
/// destination hashes and ciphertexts (DESIGN.md section 7, invariant 1): sender, recipients and content stay
/// sealed under the provider's queue key. A message's body is deleted with its last delivery.
/// Implemented on SQLite and PostgreSQL by <see cref="SqlRelayQueueStore"/>; several nodes may share one store.
/// </summary>
public interface IRelayQueueStore
{
    /// <summary>Stores a message and its deliveries in one transaction.</summary>
    Task EnqueueAsync(NewQueueMessage message, CancellationToken ct);

    /// <summary>Destinations with due, unleased deliveries, the longest-waiting first.</summary>
    Task<IReadOnlyList<DueDestination>> FindDueDestinationsAsync(DateTimeOffset now, int max, CancellationToken ct);

    /// <summary>When the next delivery becomes due (or its lease lapses); null for an empty queue.</summary>
    Task<DateTimeOffset?> NextDueAsync(CancellationToken ct);

    /// <summary>Leases up to <paramref name="max"/> due deliveries of one destination under <paramref name="leaseToken"/>.</summary>
    Task<IReadOnlyList<QueueLease>> LeaseAsync(string destination, string leaseToken, DateTimeOffset now, DateTimeOffset until, int max, CancellationToken ct);

    /// <summary>Extends leases still held under <paramref name="leaseToken"/>; returns how many were.</summary>
    Task<int> RenewAsync(IReadOnlyList<string> deliveryIds, string leaseToken, DateTimeOffset until, CancellationToken ct);

    /// <summary>
    /// Gives up leases still held under <paramref name="leaseToken"/> without recording an attempt (a stopping worker
    /// that never started them), so they are due again at once instead of after the lease lapses; returns how many were.
    /// </summary>
    Task<int> ReleaseAsync(IReadOnlyList<string> deliveryIds, string leaseToken, CancellationToken ct);

    /// <summary>The sealed body of a message, or null if it is gone.</summary>
    Task<byte[]?> ReadMessageAsync(string messageId, CancellationToken ct);

    /// <summary>Records an attempt's outcome and releases the lease; false if the lease was lost meanwhile.</summary>
    Task<bool> RecordAttemptAsync(string deliveryId, string leaseToken, byte[] sealedState, int attempts, DateTimeOffset nextAttemptAt, CancellationToken ct);

    /// <summary>Removes a finished delivery (and its message body with the last one); false if the lease was lost meanwhile.</summary>
    Task<bool> FinishAsync(string deliveryId, string leaseToken, QueueFinish reason, CancellationToken ct);

    /// <summary>Interrupted attempts recorded since <paramref name="since"/> (possible duplicates, for operators and tests).</summary>
    Task<IReadOnlyList<QueueInterruption>> ListInterruptionsAsync(DateTimeOffset since, CancellationToken ct);

    /// <summary>Deliveries in the queue.</summary>
    Task<int> CountAsync(CancellationToken ct);

    /// <summary>When the oldest delivery in the queue was queued, or null when it is empty (the queue's age, for monitoring).</summary>
    Task<DateTimeOffset?> OldestAsync(CancellationToken ct);
}
