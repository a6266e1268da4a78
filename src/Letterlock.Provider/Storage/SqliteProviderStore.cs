using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Letterlock.Provider.Storage;

/// <summary>
/// The embedded backend: one SQLite file in WAL mode with <c>synchronous=FULL</c>, so a commit is on disk
/// when it returns (DESIGN.md section 7, invariant 3). SQLite has one writer at a time anyway; all writes
/// go through a <see cref="GroupCommitWriter"/>, reads use pooled connections.
/// </summary>
public sealed class SqliteProviderStore : SqlProviderStore
{
    private readonly string _connectionString;
    private readonly GroupCommitWriter _writer;

    public SqliteProviderStore(string path, ChangeNotifier notifier)
        : base(notifier)
    {
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        _writer = new GroupCommitWriter(OpenWriterAsync, static (_, _, _) => Task.CompletedTask, changed =>
        {
            foreach (var account in changed)
            {
                Notifier.Signal(account);
            }
        });
    }

    public string Path { get; }

    public override string Description => $"SQLite {Path} (WAL, synchronous=FULL)";

    protected override string BlobType => "BLOB";

    private async Task<DbConnection> OpenWriterAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000;";
        await pragma.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return connection;
    }

    protected override async Task<DbConnection> OpenReadConnectionAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        return connection;
    }

    protected override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<(T Result, bool Keep)>> work, CancellationToken ct) =>
        _writer.WriteAsync(work, ct);

    protected override Task OnAccountChangedAsync(DbConnection connection, DbTransaction transaction, Guid accountId, CancellationToken ct)
    {
        GroupCommitWriter.NoteChanged(accountId);
        return Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        await _writer.DisposeAsync().ConfigureAwait(false);
        SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
    }
}
