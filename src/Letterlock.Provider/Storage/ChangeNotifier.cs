using System.Collections.Concurrent;

namespace Letterlock.Provider.Storage;

/// <summary>
/// Wakes requests waiting for an account's change feed (long-poll). Within one process stores signal it
/// after each commit; across processes the PostgreSQL backend feeds it from LISTEN/NOTIFY.
/// </summary>
public sealed class ChangeNotifier
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiters = new();

    /// <summary>
    /// Returns a task that completes at the next signal for the account. Take it before reading the feed,
    /// then read, then wait: a change committed in between is not missed.
    /// </summary>
    public Task NextChangeAsync(Guid accountId) =>
        _waiters.GetOrAdd(accountId, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Whether a request waits for the account's next change (for tests of the long poll).</summary>
    internal bool IsWaiting(Guid accountId) => _waiters.ContainsKey(accountId);

    public void Signal(Guid accountId)
    {
        if (_waiters.TryRemove(accountId, out var waiter))
        {
            waiter.TrySetResult();
        }
    }
}
