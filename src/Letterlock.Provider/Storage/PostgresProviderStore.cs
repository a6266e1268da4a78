using System.Data.Common;
using Npgsql;

namespace Letterlock.Provider.Storage;

/// <summary>
/// The cluster backend: many provider processes on one PostgreSQL. Each write is one transaction
/// (PostgreSQL's own group commit batches the WAL flushes; <c>synchronous_commit</c> stays on, so a
/// commit is durable when it returns). Changes are announced with NOTIFY inside the transaction, so
/// they are delivered to every node's LISTEN exactly when they commit.
/// </summary>
public sealed class PostgresProviderStore : SqlProviderStore
{
    public const string Channel = "letterlock_changes";

    private readonly string _connectionString;
    private readonly NpgsqlDataSource _dataSource;
    private readonly GroupCommitWriter _writer;
    private readonly CancellationTokenSource _stop = new();
    private Task? _listener;

    public PostgresProviderStore(string connectionString, ChangeNotifier notifier)
        : base(notifier)
    {
        _connectionString = connectionString;
        _dataSource = NpgsqlDataSource.Create(connectionString);
        _writer = new GroupCommitWriter(
            async ct => await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false),
            NotifyAsync,
            changed =>
            {
                foreach (var account in changed)
                {
                    Notifier.Signal(account);
                }
            });
    }

    public override string Description
    {
        get
        {
            var builder = new NpgsqlConnectionStringBuilder(_connectionString);
            return $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}";
        }
    }

    protected override string BlobType => "BYTEA";

    protected override string SchemaLockStatement => "SELECT pg_advisory_xact_lock(7331001)";

    public override async Task InitializeAsync(CancellationToken ct)
    {
        await base.InitializeAsync(ct).ConfigureAwait(false);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _listener = Task.Run(() => ListenAsync(ready, _stop.Token), CancellationToken.None);
        await ready.Task.WaitAsync(ct).ConfigureAwait(false);
    }

    protected override async Task<DbConnection> OpenReadConnectionAsync(CancellationToken ct) =>
        await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);

    protected override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<(T Result, bool Keep)>> work, CancellationToken ct) =>
        _writer.WriteAsync(work, ct);

    protected override Task OnAccountChangedAsync(DbConnection connection, DbTransaction transaction, Guid accountId, CancellationToken ct)
    {
        GroupCommitWriter.NoteChanged(accountId);
        return Task.CompletedTask;
    }

    /// <summary>
    /// One NOTIFY per account per batch, sent inside the transaction: PostgreSQL delivers it to every
    /// node's LISTEN when (and only when) the batch commits. Committing NOTIFYing transactions is
    /// serialized by PostgreSQL, which is why writes are batched rather than one transaction each.
    /// </summary>
    private static async Task NotifyAsync(DbConnection connection, DbTransaction transaction, IReadOnlyCollection<Guid> changed)
    {
        foreach (var account in changed)
        {
            await Exec(connection, transaction, "SELECT pg_notify(@c, @a)", CancellationToken.None, ("@c", Channel), ("@a", Id(account))).ConfigureAwait(false);
        }
    }

    private async Task ListenAsync(TaskCompletionSource ready, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(stop).ConfigureAwait(false);
                connection.Notification += (_, e) =>
                {
                    if (Guid.TryParse(e.Payload, out var account))
                    {
                        Notifier.Signal(account);
                    }
                };
                await Exec(connection, null, $"LISTEN {Channel}", stop).ConfigureAwait(false);
                ready.TrySetResult();
                while (!stop.IsCancellationRequested)
                {
                    await connection.WaitAsync(stop).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (NpgsqlException)
            {
                // The LISTEN connection broke: a broken connection is never reused; open a new one.
                // Waiters time out and re-read the feed meanwhile, so nothing is lost, only later.
                ready.TrySetResult();
                await Task.Delay(TimeSpan.FromSeconds(1), stop).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
            }
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _writer.DisposeAsync().ConfigureAwait(false);
        if (_listener is not null)
        {
            await _listener.ConfigureAwait(false);
        }

        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
