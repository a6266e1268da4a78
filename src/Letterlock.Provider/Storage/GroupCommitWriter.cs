using System.Data.Common;
using System.Threading.Channels;

namespace Letterlock.Provider.Storage;

/// <summary>
/// Runs every write of a store on one connection and commits whatever is queued in one transaction
/// (group commit): with 20 SMTP sessions one durable flush acknowledges many messages. Each write runs
/// in its own savepoint, so one write's failure or rollback leaves the others of its batch alone.
/// Commit completes a write's task only after the commit returned, i.e. after it is durable.
/// </summary>
internal sealed class GroupCommitWriter : IAsyncDisposable
{
    private const int MaxBatch = 256;
    private readonly Func<CancellationToken, Task<DbConnection>> _open;
    private readonly Func<DbConnection, DbTransaction, IReadOnlyCollection<Guid>, Task> _beforeCommit;
    private readonly Action<IReadOnlyCollection<Guid>> _afterCommit;
    private readonly Channel<PendingWrite> _queue = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;
    private DbConnection? _connection;

    public GroupCommitWriter(
        Func<CancellationToken, Task<DbConnection>> open,
        Func<DbConnection, DbTransaction, IReadOnlyCollection<Guid>, Task> beforeCommit,
        Action<IReadOnlyCollection<Guid>> afterCommit)
    {
        _open = open;
        _beforeCommit = beforeCommit;
        _afterCommit = afterCommit;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>The write being run, so the store can note which accounts' change feeds moved.</summary>
    public static void NoteChanged(Guid accountId) => PendingWrite.Current?.ChangedAccounts.Add(accountId);

    /// <param name="work">The write; returns Keep = false to undo its changes.</param>
    /// <param name="ct">Cancels the write if it has not started.</param>
    /// <param name="singleStatement">
    /// True when the work is one statement that either changes everything or nothing and never asks
    /// to be undone: it then runs without a savepoint, saving two round trips (the MX hot path).
    /// </param>
    public async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<(T Result, bool Keep)>> work, CancellationToken ct, bool singleStatement = false)
    {
        var pending = new PendingWrite<T>(work, ct) { SingleStatement = singleStatement };
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(GroupCommitWriter));
        }

        return await pending.Completion.Task.ConfigureAwait(false);
    }

    private async Task RunAsync()
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

            changed.Clear();
            try
            {
                _connection ??= await _open(CancellationToken.None).ConfigureAwait(false);
                await using var transaction = await _connection.BeginTransactionAsync().ConfigureAwait(false);
                foreach (var write in batch)
                {
                    await write.RunAsync(transaction).ConfigureAwait(false);
                    write.CollectChanged(changed);
                }

                if (changed.Count > 0)
                {
                    await _beforeCommit(_connection, transaction, changed).ConfigureAwait(false);
                }

                await transaction.CommitAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // A broken connection is never reused (after Npgsql): the next batch opens a new one.
                if (_connection is not null)
                {
                    await _connection.DisposeAsync().ConfigureAwait(false);
                    _connection = null;
                }

                foreach (var write in batch)
                {
                    write.Fail(e);
                }

                continue;
            }

            foreach (var write in batch)
            {
                write.Complete();
            }

            if (changed.Count > 0)
            {
                _afterCommit(changed);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private abstract class PendingWrite
    {
        private static readonly AsyncLocal<PendingWrite?> CurrentWrite = new();

        public static PendingWrite? Current => CurrentWrite.Value;

        public List<Guid> ChangedAccounts { get; } = [];

        protected abstract CancellationToken Token { get; }

        protected bool Failed { get; private set; }

        public bool SingleStatement { get; init; }

        public async Task RunAsync(DbTransaction transaction)
        {
            if (Token.IsCancellationRequested)
            {
                Fail(new OperationCanceledException(Token));
                return;
            }

            if (SingleStatement)
            {
                // A failing statement fails the batch (the exception propagates to RunAsync's caller).
                CurrentWrite.Value = this;
                try
                {
                    _ = await ExecuteAsync(transaction.Connection!, transaction).ConfigureAwait(false);
                }
                finally
                {
                    CurrentWrite.Value = null;
                }

                return;
            }

            await transaction.SaveAsync("w").ConfigureAwait(false);
            CurrentWrite.Value = this;
            bool keep;
            try
            {
                keep = await ExecuteAsync(transaction.Connection!, transaction).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Only this write is undone; if the transaction itself is broken, the rollback throws
                // and the whole batch fails (and is retried by nobody: its callers see the error).
                await transaction.RollbackAsync("w").ConfigureAwait(false);
                await transaction.ReleaseAsync("w").ConfigureAwait(false);
                ChangedAccounts.Clear();
                Fail(e);
                return;
            }
            finally
            {
                CurrentWrite.Value = null;
            }

            if (!keep)
            {
                await transaction.RollbackAsync("w").ConfigureAwait(false);
                ChangedAccounts.Clear();
            }

            await transaction.ReleaseAsync("w").ConfigureAwait(false);
        }

        public void CollectChanged(HashSet<Guid> changed)
        {
            if (!Failed)
            {
                changed.UnionWith(ChangedAccounts);
            }
        }

        protected abstract Task<bool> ExecuteAsync(DbConnection connection, DbTransaction transaction);

        public abstract void Complete();

        public virtual void Fail(Exception e) => Failed = true;
    }

    private sealed class PendingWrite<T>(Func<DbConnection, DbTransaction, Task<(T Result, bool Keep)>> work, CancellationToken ct) : PendingWrite
    {
        private T? _result;

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override CancellationToken Token => ct;

        protected override async Task<bool> ExecuteAsync(DbConnection connection, DbTransaction transaction)
        {
            var (result, keep) = await work(connection, transaction).ConfigureAwait(false);
            _result = result;
            return keep;
        }

        public override void Complete()
        {
            if (!Failed)
            {
                Completion.TrySetResult(_result!);
            }
        }

        public override void Fail(Exception e)
        {
            base.Fail(e);
            Completion.TrySetException(e);
        }
    }
}
