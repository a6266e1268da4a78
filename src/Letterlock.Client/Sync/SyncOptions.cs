namespace Letterlock.Client.Sync;

/// <summary>How much <see cref="SyncEngine"/> does at once (docs/PERFORMANCE.md, "Client sync and bridge").</summary>
public sealed record SyncOptions
{
    /// <summary>The most changes <see cref="PageSize"/> may be set to (the provider bounds its pages too).</summary>
    public const int MaxPageSize = 1000;

    /// <summary>The most documents <see cref="MaxConcurrentFetches"/> may be set to.</summary>
    public const int MaxFetchLimit = 64;

    /// <summary>
    /// Changes read per request of the change feed (1..<see cref="MaxPageSize"/>). A page's new
    /// messages are committed in one store transaction with the cursor, so it is also what a crash
    /// applies again (and finds applied).
    /// </summary>
    public int PageSize { get; init; } = 100;

    /// <summary>Document downloads of a page in flight at once (1..<see cref="MaxFetchLimit"/>).</summary>
    public int MaxConcurrentFetches { get; init; } = 8;

    /// <summary>
    /// Documents opened, parsed and sealed for the store at once (1..<see cref="Environment.ProcessorCount"/> x 4);
    /// by default one per core. Store writes stay in change order whatever this is.
    /// </summary>
    public int MaxParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>The most bytes <see cref="MaxPageBytes"/> may be set to.</summary>
    public const long MaxPageBytesLimit = 64L * 1024 * 1024;

    /// <summary>
    /// Ciphertext a page of changes may carry with it (1 KiB..<see cref="MaxPageBytesLimit"/>): a provider with
    /// content pages sends the page's documents in the same answer, ending the page early rather than exceeding this.
    /// </summary>
    public long MaxPageBytes { get; init; } = 8L * 1024 * 1024;

    /// <summary>Operations per batched write (1..1000): inbox conversions (two each) and pushes. The provider's default limit is 500.</summary>
    public int MaxBatchOperations { get; init; } = 200;

    /// <summary>Ciphertext per batched write (1 KiB..<see cref="MaxPageBytesLimit"/>); it travels base64 in JSON, a third larger (the provider's default body limit is 32 MiB).</summary>
    public long MaxBatchBytes { get; init; } = 8L * 1024 * 1024;

    /// <summary>
    /// Messages stored before the substring search index (an upgraded store) brought into it at the end of each run
    /// (0..10,000; 0 turns it off): until then every substring search reads them in full.
    /// </summary>
    public int IndexBackfillPerRun { get; init; } = 200;

    /// <summary>
    /// Sync runs that may try again a native message whose opening failed unexpectedly here (0..1,000): it stays at the
    /// provider, is reported on each run, and after this many attempts is left to the account's other devices. A run
    /// that does not open native mail at all (a sync without the bridge's native protocol) defers such mail to the next
    /// run that does, without counting an attempt.
    /// </summary>
    public int MaxNativeRetries { get; init; } = 5;

    /// <summary>Whether to use the provider's content pages and batched writes when it has them (tests turn it off to run the single requests).</summary>
    internal bool UseBatchApi { get; init; } = true;

    /// <summary>
    /// Whether the next page is read and opened while one is applied (default true): the downloads, decryption, parsing
    /// and sealing of a page overlap the serial writing of the one before.
    /// </summary>
    public bool ReadAhead { get; init; } = true;

    /// <summary>
    /// Called at every step boundary of a run (<see cref="SyncStep"/>) with the document concerned; a test throws
    /// here to crash the run at that point and checks that the next run finishes the work exactly once.
    /// </summary>
    internal Action<SyncStep, string>? AtStep { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(PageSize, 1, nameof(PageSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(PageSize, MaxPageSize, nameof(PageSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentFetches, 1, nameof(MaxConcurrentFetches));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxConcurrentFetches, MaxFetchLimit, nameof(MaxConcurrentFetches));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxParallelism, 1, nameof(MaxParallelism));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxParallelism, Environment.ProcessorCount * 4, nameof(MaxParallelism));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPageBytes, 1024, nameof(MaxPageBytes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxPageBytes, MaxPageBytesLimit, nameof(MaxPageBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatchOperations, 1, nameof(MaxBatchOperations));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxBatchOperations, 1000, nameof(MaxBatchOperations));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatchBytes, 1024, nameof(MaxBatchBytes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxBatchBytes, MaxPageBytesLimit, nameof(MaxBatchBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(IndexBackfillPerRun, 0, nameof(IndexBackfillPerRun));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(IndexBackfillPerRun, 10_000, nameof(IndexBackfillPerRun));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxNativeRetries, 0, nameof(MaxNativeRetries));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxNativeRetries, 1000, nameof(MaxNativeRetries));
    }
}

/// <summary>The boundaries between the steps of a sync run, where a crash leaves the store and the provider as they are.</summary>
internal enum SyncStep
{
    /// <summary>A page's changes and documents are downloaded and opened; nothing is written yet.</summary>
    PageFetched,

    /// <summary>Inside a run's store transaction, before one change is applied (a crash here writes none of the run).</summary>
    Applying,

    /// <summary>A run of changes (with the cursor, for the page's last run) is committed.</summary>
    RunCommitted,

    /// <summary>
    /// A page's inbox messages are opened; native ones spent their message keys (saved with this device's sessions,
    /// with the opened message kept until it is filed); nothing is filed yet.
    /// </summary>
    InboxOpened,

    /// <summary>The messages of inbox documents are stored here, naming the inbox documents; the provider has not been written.</summary>
    InboxStored,

    /// <summary>
    /// The account's message documents for them are written at the provider (with batched writes, the inbox documents are
    /// deleted in the same request); the store does not know yet.
    /// </summary>
    InboxPut,

    /// <summary>The store records that the messages mirror their message documents (without batched writes, the inbox documents are still there).</summary>
    InboxRecorded,

    /// <summary>Without batched writes: an inbox document is deleted; the page's cursor is not committed yet.</summary>
    InboxDeleted,

    /// <summary>A change made here is written at the provider; the store does not know yet.</summary>
    Pushed,

    /// <summary>The store records the push.</summary>
    PushRecorded,

    /// <summary>A deletion made here is done at the provider; the store still lists it to push.</summary>
    DeletionPushed,
}
