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

    /// <summary>Called inside the page's store transaction before each change is applied; a test throws here to crash a page part-way.</summary>
    internal Action<Letterlock.Api.DocumentInfo>? BeforeApply { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(PageSize, 1, nameof(PageSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(PageSize, MaxPageSize, nameof(PageSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentFetches, 1, nameof(MaxConcurrentFetches));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxConcurrentFetches, MaxFetchLimit, nameof(MaxConcurrentFetches));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxParallelism, 1, nameof(MaxParallelism));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxParallelism, Environment.ProcessorCount * 4, nameof(MaxParallelism));
    }
}
