using System.Data.Common;

namespace Letterlock.Relay.Queue;

/// <summary>
/// The database under <see cref="SqlRelayQueueStore"/>: the provider's own SQLite or PostgreSQL backend plugs in
/// here so the queue shares its transactions (and, on SQLite, its single writer and group commit).
/// </summary>
public interface IRelayDatabase
{
    /// <summary>The column type for byte strings: <c>BLOB</c> (SQLite) or <c>BYTEA</c> (PostgreSQL).</summary>
    string BlobType { get; }

    /// <summary>
    /// Appended to the SELECT that picks deliveries to lease, so concurrent nodes skip each other's rows:
    /// <c>FOR UPDATE SKIP LOCKED</c> on PostgreSQL, empty on SQLite (one writer at a time).
    /// </summary>
    string LeaseLockClause { get; }

    /// <summary>
    /// A statement run first in the transaction that creates the queue's tables, so several nodes starting together
    /// do not race on <c>CREATE TABLE IF NOT EXISTS</c> (PostgreSQL: an advisory lock); null when not needed.
    /// </summary>
    string? SchemaLockStatement => null;

    /// <summary>Runs <paramref name="work"/> in a write transaction, committed durably before the task completes.</summary>
    Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct);

    /// <summary>Runs <paramref name="work"/> on a read connection.</summary>
    Task<T> ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken ct);
}
