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
        _dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { MaxAutoPrepare = 64, AutoPrepareMinUsages = 2, NoResetOnClose = true }.ConnectionString);
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

    /// <summary>The pool every connection of this store comes from (the blob store shares it).</summary>
    public NpgsqlDataSource DataSource => _dataSource;

    protected override string SchemaLockStatement => "SELECT pg_advisory_xact_lock(7331001)";

    // Nodes on one PostgreSQL lease queue rows concurrently; each skips the rows another holds.
    protected override string LeaseLockClause => "FOR UPDATE SKIP LOCKED";

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
    /// The MX hot path for a message with one recipient: one statement reserves the sequence number
    /// and the quota and inserts the document (a data-modifying CTE), so it needs no savepoint and
    /// costs one round trip in the group commit. Several recipients take the general, savepointed path.
    /// </summary>
    public override async Task<IReadOnlyList<WriteOutcome>> AppendInboxAsync(IReadOnlyList<InboxWrite> writes, CancellationToken ct)
    {
        if (writes.Count != 1)
        {
            return await base.AppendInboxAsync(writes, ct).ConfigureAwait(false);
        }

        var write = writes[0];
        string id = "in-" + Guid.NewGuid().ToString("N");
        var outcome = await _writer.WriteAsync<WriteOutcome>(
            async (c, t) =>
            {
                object? sequence = await Scalar(c, t, """
                    WITH reserved AS (
                        UPDATE accounts SET last_seq = last_seq + 1, used_bytes = used_bytes + @d, doc_count = doc_count + 1
                        WHERE id = @a AND status = 0 AND used_bytes + @d <= quota_bytes RETURNING last_seq)
                    INSERT INTO documents (account_id, id, kind, revision, seq, size, padded_size, modified_at, deleted, inline_data, blob_hash)
                    SELECT @a, @id, 'inbox', 1, last_seq, @d, @p, @m, 0, @data, @blob FROM reserved
                    RETURNING seq
                    """, ct,
                    ("@a", Id(write.AccountId)), ("@d", write.Content.Size), ("@id", id), ("@p", write.PaddedSize),
                    ("@m", write.ArrivedAt.ToUnixTimeMilliseconds()), ("@data", (object?)write.Content.Inline ?? DBNull.Value), ("@blob", (object?)write.Content.BlobHash ?? DBNull.Value)).ConfigureAwait(false);
                if (sequence is null)
                {
                    return (new WriteOutcome(WriteStatus.QuotaExceeded), true);
                }

                GroupCommitWriter.NoteChanged(write.AccountId);
                return (new WriteOutcome(WriteStatus.Ok, new StoredDocumentInfo(id, "inbox", 1, Convert.ToInt64(sequence, System.Globalization.CultureInfo.InvariantCulture), write.Content.Size, false, write.ArrivedAt)), true);
            },
            ct,
            singleStatement: true).ConfigureAwait(false);
        if (outcome.Status == WriteStatus.QuotaExceeded)
        {
            // nothing was written; tell a disabled account from a full one
            var account = await GetAccountAsync(write.AccountId, ct).ConfigureAwait(false);
            if (account is null || account.Status != AccountStatus.Active)
            {
                outcome = new WriteOutcome(WriteStatus.AccountUnavailable);
            }
        }

        return [outcome];
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
