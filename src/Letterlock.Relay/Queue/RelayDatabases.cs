using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Letterlock.Relay.Queue;

/// <summary>
/// A stand-alone SQLite database for the queue (the relay outside a provider: benchmarks, tests). WAL with
/// <c>synchronous=FULL</c>, so a commit is on disk when it returns; writes are serialised on one connection
/// (SQLite has one writer). Inside a provider the provider's own database is used instead.
/// </summary>
public sealed class SqliteRelayDatabase : IRelayDatabase, IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly SqliteConnection _writer;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    /// <summary>Opens (creating if needed) the database file.</summary>
    /// <param name="path">The file.</param>
    public SqliteRelayDatabase(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        _writer = new SqliteConnection(_connectionString);
        _writer.Open();
        using var pragma = _writer.CreateCommand();
        pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000; PRAGMA secure_delete=ON;";
        pragma.ExecuteNonQuery();
    }

    /// <inheritdoc />
    public string BlobType => "BLOB";

    /// <inheritdoc />
    public string LeaseLockClause => string.Empty;

    /// <inheritdoc />
    public async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var transaction = (SqliteTransaction)await _writer.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                T result = await work(_writer, transaction, ct).ConfigureAwait(false);
                await transaction.CommitAsync(ct).ConfigureAwait(false);
                return result;
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public async Task<T> ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        var connection = new SqliteConnection(_connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            return await work(connection, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Closes the database.</summary>
    public async ValueTask DisposeAsync()
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        await _writer.DisposeAsync().ConfigureAwait(false);
        SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
        _writeLock.Dispose();
    }
}

/// <summary>A PostgreSQL database for the queue: a transaction per write; concurrent nodes lease with <c>FOR UPDATE SKIP LOCKED</c>.</summary>
public sealed class PostgresRelayDatabase : IRelayDatabase, IAsyncDisposable
{
    private readonly NpgsqlDataSource _source;

    /// <summary>Connects to <paramref name="connectionString"/>.</summary>
    /// <param name="connectionString">An Npgsql connection string.</param>
    public PostgresRelayDatabase(string connectionString) => _source = NpgsqlDataSource.Create(connectionString);

    /// <inheritdoc />
    public string BlobType => "BYTEA";

    /// <inheritdoc />
    public string LeaseLockClause => "FOR UPDATE SKIP LOCKED";

    /// <inheritdoc />
    public async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        var connection = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                T result = await work(connection, transaction, ct).ConfigureAwait(false);
                await transaction.CommitAsync(ct).ConfigureAwait(false);
                return result;
            }
        }
    }

    /// <inheritdoc />
    public async Task<T> ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        var connection = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await work(connection, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Closes the pool.</summary>
    public ValueTask DisposeAsync() => _source.DisposeAsync();
}
