using System.Data.Common;
using Letterlock.Provider.Configuration;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Letterlock.Provider.Transparency;

/// <summary>
/// The two SQL dialects the transparency tables live in: the provider's SQLite file or its PostgreSQL
/// database (the same one as the rest of the provider, with connections of its own), or an auditor's own
/// SQLite file. Only connection handling, column types and locking differ; the statements are shared.
/// </summary>
public abstract class TransparencyDatabase : IAsyncDisposable
{
    /// <summary>The column type of byte strings.</summary>
    public abstract string BlobType { get; }

    /// <summary>The column definition of an auto-incrementing 64-bit primary key.</summary>
    public abstract string SerialPrimaryKey { get; }

    /// <summary>"SQLite PATH" or "PostgreSQL host:port/db", for messages.</summary>
    public abstract string Description { get; }

    /// <summary>Opens a connection for reads (pooled).</summary>
    public abstract Task<DbConnection> OpenAsync(CancellationToken ct);

    /// <summary>
    /// Starts a durable write transaction. SQLite: <c>BEGIN IMMEDIATE</c> with <c>synchronous=FULL</c> (one writer
    /// at a time, durable on commit). PostgreSQL: a transaction; with <paramref name="epochLock"/> it also holds an
    /// advisory lock, so two provider nodes commit epochs one after the other.
    /// </summary>
    public abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, bool epochLock, CancellationToken ct);

    /// <summary>
    /// Tries to become the node that publishes epochs. PostgreSQL: a session advisory lock held until the result
    /// is disposed, so among many provider processes on one database one publishes at a time (the others skip
    /// that round). SQLite: always granted (one serving process per file).
    /// </summary>
    public abstract Task<IAsyncDisposable?> TryLockPublisherAsync(CancellationToken ct);

    /// <summary>The database of a provider's <c>database</c> setting.</summary>
    public static TransparencyDatabase For(DatabaseLocation location)
    {
        ArgumentNullException.ThrowIfNull(location);
        return location.IsPostgres ? new PostgresTransparencyDatabase(location.ConnectionString) : new SqliteTransparencyDatabase(location.ConnectionString);
    }

    /// <inheritdoc />
    public abstract ValueTask DisposeAsync();
}

/// <summary>SQLite (WAL, <c>synchronous=FULL</c> on writes).</summary>
public sealed class SqliteTransparencyDatabase : TransparencyDatabase
{
    private readonly string _connectionString;

    /// <summary>Uses the SQLite file at <paramref name="path"/> (created when missing).</summary>
    public SqliteTransparencyDatabase(string path)
    {
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public override string BlobType => "BLOB";

    /// <inheritdoc />
    public override string SerialPrimaryKey => "INTEGER PRIMARY KEY AUTOINCREMENT";

    /// <inheritdoc />
    public override string Description => $"SQLite {Path}";

    /// <inheritdoc />
    public override async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        return connection;
    }

    /// <inheritdoc />
    public override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, bool epochLock, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using (var pragma = connection.CreateCommand())
        {
            pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;";
            await pragma.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        // Microsoft.Data.Sqlite starts a non-deferred transaction with BEGIN IMMEDIATE: the write lock is taken now.
        return await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override Task<IAsyncDisposable?> TryLockPublisherAsync(CancellationToken ct) => Task.FromResult<IAsyncDisposable?>(NoLock.Instance);

    /// <inheritdoc />
    public override ValueTask DisposeAsync()
    {
        SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
        return ValueTask.CompletedTask;
    }

    private sealed class NoLock : IAsyncDisposable
    {
        public static readonly NoLock Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>PostgreSQL, with advisory locks between provider nodes.</summary>
public sealed class PostgresTransparencyDatabase : TransparencyDatabase
{
    // Advisory lock keys of the transparency tables (the provider store uses 7331001 for its schema).
    private const long CommitLockKey = 7331070;
    private const long PublisherLockKey = 7331071;
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _description;

    /// <summary>Uses the database of <paramref name="connectionString"/>.</summary>
    public PostgresTransparencyDatabase(string connectionString)
    {
        _dataSource = NpgsqlDataSource.Create(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        _description = $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}";
    }

    /// <inheritdoc />
    public override string BlobType => "BYTEA";

    /// <inheritdoc />
    public override string SerialPrimaryKey => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";

    /// <inheritdoc />
    public override string Description => _description;

    /// <inheritdoc />
    public override async Task<DbConnection> OpenAsync(CancellationToken ct) => await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);

    /// <inheritdoc />
    public override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, bool epochLock, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        if (!epochLock)
        {
            return transaction;
        }

        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT pg_advisory_xact_lock({CommitLockKey})";
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return transaction;
    }

    /// <inheritdoc />
    public override async Task<IAsyncDisposable?> TryLockPublisherAsync(CancellationToken ct)
    {
        var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        try
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT pg_try_advisory_lock({PublisherLockKey})";
            if (await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is true)
            {
                return new SessionLock(connection);
            }
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        await connection.DisposeAsync().ConfigureAwait(false);
        return null;
    }

    /// <inheritdoc />
    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private sealed class SessionLock(NpgsqlConnection connection) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await using var command = connection.CreateCommand();
                command.CommandText = $"SELECT pg_advisory_unlock({PublisherLockKey})";
                await command.ExecuteNonQueryAsync().ConfigureAwait(false);
            }
            catch (NpgsqlException)
            {
                // A broken connection releases its session locks when it closes.
            }
            finally
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
