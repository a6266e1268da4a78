using System.Data.Common;
using Letterlock.Relay.Queue;
using Microsoft.Data.Sqlite;

namespace Letterlock.Relay.Tests.Queue;

/// <summary>
/// A stand-alone SQLite database for the queue, so the queue is tested without a provider. WAL with
/// <c>synchronous=FULL</c>, so a commit is on disk when it returns; writes are serialised on one connection
/// (SQLite has one writer). In the product the queue lives in the provider's own database
/// (<c>SqlProviderStore</c> implements <see cref="IRelayDatabase"/>).
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
