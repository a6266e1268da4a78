using System.Data.Common;
using Npgsql;

namespace Letterlock.Provider.Storage;

/// <summary>
/// The cluster backend: many provider processes on one PostgreSQL. Each write is one transaction
/// (PostgreSQL's own group commit batches the WAL flushes; <c>synchronous_commit</c> stays on, so a
/// commit is durable when it returns). Changes are announced with NOTIFY inside the transaction, so
/// they are delivered to every node's LISTEN exactly when they commit.
/// </summary>
public sealed class PostgresProviderStore(string connectionString, ChangeNotifier notifier) : SqlProviderStore(notifier)
{
    public const string Channel = "letterlock_changes";

    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(connectionString);
    private readonly CancellationTokenSource _stop = new();
    private Task? _listener;

    public override string Description
    {
        get
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            return $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}";
        }
    }

    protected override string BlobType => "BYTEA";

    public override async Task InitializeAsync(CancellationToken ct)
    {
        // Two nodes starting together must not race on CREATE TABLE IF NOT EXISTS.
        await using (var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false))
        {
            await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await Exec(connection, transaction, "SELECT pg_advisory_xact_lock(7331001)", ct).ConfigureAwait(false);
            await transaction.CommitAsync(ct).ConfigureAwait(false);
        }

        await base.InitializeAsync(ct).ConfigureAwait(false);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _listener = Task.Run(() => ListenAsync(ready, _stop.Token), CancellationToken.None);
        await ready.Task.WaitAsync(ct).ConfigureAwait(false);
    }

    protected override async Task<DbConnection> OpenReadConnectionAsync(CancellationToken ct) =>
        await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);

    protected override async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<(T Result, bool Keep)>> work, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        var changed = new List<Guid>();
        var scope = new WriteScope(changed);
        Scope.Value = scope;
        T result;
        bool keep;
        try
        {
            (result, keep) = await work(connection, transaction).ConfigureAwait(false);
        }
        finally
        {
            Scope.Value = null;
        }

        if (!keep)
        {
            await transaction.RollbackAsync(ct).ConfigureAwait(false);
            return result;
        }

        await transaction.CommitAsync(ct).ConfigureAwait(false);
        foreach (var account in changed)
        {
            Notifier.Signal(account);
        }

        return result;
    }

    private static readonly AsyncLocal<WriteScope?> Scope = new();

    private sealed record WriteScope(List<Guid> Changed);

    protected override async Task OnAccountChangedAsync(DbConnection connection, DbTransaction transaction, Guid accountId, CancellationToken ct)
    {
        Scope.Value?.Changed.Add(accountId);
        await Exec(connection, transaction, "SELECT pg_notify(@c, @a)", ct, ("@c", Channel), ("@a", Id(accountId))).ConfigureAwait(false);
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
        if (_listener is not null)
        {
            await _listener.ConfigureAwait(false);
        }

        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
