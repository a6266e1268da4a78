using System.Data.Common;
using Letterlock.Relay.Queue;

namespace Letterlock.Provider.Storage;

/// <summary>
/// The provider's own database as the relay queue's database (<see cref="IRelayDatabase"/>): the queue's tables live
/// in the same SQLite file or PostgreSQL database as accounts and documents, and its writes go through the same
/// write path (SQLite: the group-commit writer with WAL and <c>synchronous=FULL</c>; PostgreSQL: a transaction per
/// batch with <c>synchronous_commit</c> on), so a queued message is exactly as durable as an inbox document.
/// </summary>
public abstract partial class SqlProviderStore : IRelayDatabase
{
    string IRelayDatabase.BlobType => BlobType;

    string IRelayDatabase.LeaseLockClause => LeaseLockClause;

    string? IRelayDatabase.SchemaLockStatement => SchemaLockStatement;

    Task<T> IRelayDatabase.WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        return WriteAsync(async (c, t) => (await work(c, t, ct).ConfigureAwait(false), true), ct);
    }

    async Task<T> IRelayDatabase.ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await work(connection, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A write for the outbound path's own tables (submission tokens, sending counters) that can roll itself back:
    /// Keep = false undoes the work's changes, as for the store's own writes.
    /// </summary>
    internal Task<T> OutboundWriteAsync<T>(Func<DbConnection, DbTransaction, Task<(T Result, bool Keep)>> work, CancellationToken ct) => WriteAsync(work, ct);

    /// <summary>A read for the outbound path's own tables.</summary>
    internal async Task<T> OutboundReadAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await work(connection).ConfigureAwait(false);
        }
    }

    /// <summary>The statement that serialises schema creation across nodes, or null.</summary>
    internal string? OutboundSchemaLock => SchemaLockStatement;

    /// <summary>The column type for byte strings in this database.</summary>
    internal string OutboundBlobType => BlobType;

    /// <summary>Runs <paramref name="sql"/> with parameters in the given transaction (for the outbound path's SQL).</summary>
    internal static Task<int> OutboundExec(DbConnection c, DbTransaction? t, string sql, CancellationToken ct, params (string Name, object? Value)[] parameters) =>
        Exec(c, t, sql, ct, parameters);

    /// <summary>Creates a command with parameters (for the outbound path's SQL).</summary>
    internal static DbCommand OutboundCommand(DbConnection c, DbTransaction? t, string sql, params (string Name, object? Value)[] parameters) =>
        Command(c, t, sql, parameters);
}
