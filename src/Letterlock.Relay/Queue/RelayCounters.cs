namespace Letterlock.Relay.Queue;

/// <summary>
/// Running totals of the scheduler's delivery outcomes per recipient, since start (a node's own; the host exports them
/// as Prometheus counters).
/// </summary>
public sealed class RelayCounters
{
    private long _delivered;
    private long _failed;
    private long _deferred;

    /// <summary>Recipients the destination accepted.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Recipients given up on (refused permanently, or expired): each gets a DSN.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Attempts per recipient that ended in a temporary failure (to be retried).</summary>
    public long Deferred => Interlocked.Read(ref _deferred);

    internal void Add(int delivered, int failed, int deferred)
    {
        Interlocked.Add(ref _delivered, delivered);
        Interlocked.Add(ref _failed, failed);
        Interlocked.Add(ref _deferred, deferred);
    }
}
