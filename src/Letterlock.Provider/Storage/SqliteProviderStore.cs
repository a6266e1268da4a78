using System.Data.Common;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Letterlock.Provider.Storage;

/// <summary>
/// The embedded backend: one SQLite file in WAL mode with <c>synchronous=FULL</c>, so a commit is on disk
/// when it returns (DESIGN.md section 7, invariant 3). SQLite has one writer at a time, so writes go
/// through a single writer task that commits everything queued in one transaction (group commit): with
/// 20 SMTP sessions one fsync acknowledges many messages. Each queued write runs in its own savepoint,
/// so one write's failure or rollback leaves the others of the batch alone.
/// </summary>
public sealed class SqliteProviderStore : SqlProviderStore
{
    private const int MaxBatch = 256;
    private readonly string _connectionString;
    private readonly Channel<PendingWrite> _queue = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SqliteConnection _writer;
    private readonly Task _writerLoop;

    public SqliteProviderStore(string path, ChangeNotifier notifier)
        : base(notifier)
    {
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        _writer = new SqliteConnection(_connectionString);
        _writer.Open();
        using (var pragma = _writer.CreateCommand())
        {
            pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000;";
            pragma.ExecuteNonQuery();
        }

        _writerLoop = Task.Run(RunWriterAsync);
    }

    public string Path { get; }

    public override string Description => $"SQLite {Path} (WAL, synchronous=FULL)";

    protected override string BlobType => "BLOB";

    protected override async Task<DbConnection> OpenReadConnectionAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        return connection;
    }

    protected override async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<(T Result, bool Keep)>> work, CancellationToken ct)
    {
        var pending = new PendingWrite<T>(work, ct);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(SqliteProviderStore));
        }

        return await pending.Completion.Task.ConfigureAwait(false);
    }

    private async Task RunWriterAsync()
    {
        var batch = new List<PendingWrite>(MaxBatch);
        var changed = new HashSet<Guid>();
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var next))
            {
                batch.Add(next);
            }

            try
            {
                await using var transaction = (SqliteTransaction)await _writer.BeginTransactionAsync().ConfigureAwait(false);
                foreach (var write in batch)
                {
                    await write.RunAsync(_writer, transaction).ConfigureAwait(false);
                }

                await transaction.CommitAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                foreach (var write in batch)
                {
                    write.Fail(e);
                }

                continue;
            }

            changed.Clear();
            foreach (var write in batch)
            {
                write.Complete(changed);
            }

            foreach (var account in changed)
            {
                Notifier.Signal(account);
            }
        }
    }

    protected override Task OnAccountChangedAsync(DbConnection connection, DbTransaction transaction, Guid accountId, CancellationToken ct)
    {
        PendingWrite.Current?.ChangedAccounts.Add(accountId);
        return Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writerLoop.ConfigureAwait(false);
        await _writer.DisposeAsync().ConfigureAwait(false);
        SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
    }

    private abstract class PendingWrite
    {
        private static readonly AsyncLocal<PendingWrite?> CurrentWrite = new();

        public static PendingWrite? Current => CurrentWrite.Value;

        public List<Guid> ChangedAccounts { get; } = [];

        protected abstract CancellationToken Token { get; }

        public async Task RunAsync(SqliteConnection connection, SqliteTransaction transaction)
        {
            if (Token.IsCancellationRequested)
            {
                Fail(new OperationCanceledException(Token));
                return;
            }

            await transaction.SaveAsync("w").ConfigureAwait(false);
            CurrentWrite.Value = this;
            try
            {
                bool keep = await ExecuteAsync(connection, transaction).ConfigureAwait(false);
                if (keep)
                {
                    await transaction.ReleaseAsync("w").ConfigureAwait(false);
                }
                else
                {
                    await transaction.RollbackAsync("w").ConfigureAwait(false);
                    await transaction.ReleaseAsync("w").ConfigureAwait(false);
                    ChangedAccounts.Clear();
                }
            }
            catch (Exception e)
            {
                await transaction.RollbackAsync("w").ConfigureAwait(false);
                await transaction.ReleaseAsync("w").ConfigureAwait(false);
                ChangedAccounts.Clear();
                Fail(e);
            }
            finally
            {
                CurrentWrite.Value = null;
            }
        }

        protected abstract Task<bool> ExecuteAsync(SqliteConnection connection, SqliteTransaction transaction);

        public abstract void Complete(HashSet<Guid> changed);

        public abstract void Fail(Exception e);
    }

    private sealed class PendingWrite<T>(Func<DbConnection, DbTransaction, Task<(T Result, bool Keep)>> work, CancellationToken ct) : PendingWrite
    {
        private T? _result;
        private bool _failed;

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override CancellationToken Token => ct;

        protected override async Task<bool> ExecuteAsync(SqliteConnection connection, SqliteTransaction transaction)
        {
            // CancellationToken.None: once started, a write finishes with its batch; cancelling half a batch helps nobody.
            var (result, keep) = await work(connection, transaction).ConfigureAwait(false);
            _result = result;
            return keep;
        }

        public override void Complete(HashSet<Guid> changed)
        {
            if (_failed)
            {
                return;
            }

            changed.UnionWith(ChangedAccounts);
            Completion.TrySetResult(_result!);
        }

        public override void Fail(Exception e)
        {
            _failed = true;
            Completion.TrySetException(e);
        }
    }
}
