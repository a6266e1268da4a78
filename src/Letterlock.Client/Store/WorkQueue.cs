using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>The state of a recorded job.</summary>
public enum JobState
{
    /// <summary>Waiting to run (possibly not before a retry time).</summary>
    Pending = 0,

    /// <summary>Claimed by a worker under a lease; if the lease runs out (the process died), it is claimed again.</summary>
    Running = 1,

    /// <summary>Given up on; kept so the user can see why.</summary>
    Failed = 2,
}

/// <summary>A job claimed by a worker.</summary>
/// <param name="Id">Job id.</param>
/// <param name="Account">Owning account, if any.</param>
/// <param name="Kind">What kind of work (e.g. <c>send</c>, <c>sync-push</c>).</param>
/// <param name="Payload">The work's data (sealed at rest).</param>
/// <param name="Attempts">How many times it has been claimed, this time included.</param>
public sealed record ClaimedJob(JobId Id, AccountId? Account, string Kind, byte[] Payload, int Attempts);

/// <summary>A job as listed for status.</summary>
public sealed record JobInfo(JobId Id, AccountId? Account, string Kind, JobState State, int Attempts, DateTimeOffset NotBefore, string? LastError);

/// <summary>
/// Resumable work recorded in the store (crash safety): a job is written before the work starts,
/// claimed under a time lease, and deleted in the same transaction that records the work's result
/// where possible. A worker that dies leaves its job <c>Running</c> with an expired lease, and the
/// next claim picks it up again, so work is done at least once and callers make it idempotent.
/// </summary>
public sealed class WorkQueue
{
    private readonly LocalStore _store;

    internal WorkQueue(LocalStore store) => _store = store;

    /// <summary>Records a job.</summary>
    public Task<JobId> EnqueueAsync(string kind, ReadOnlyMemory<byte> payload, AccountId? account = null,
        DateTimeOffset? notBefore = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        var id = JobId.New();
        var due = (notBefore ?? _store.Time.GetUtcNow()).ToUnixTimeMilliseconds();
        return _store.Write((connection, transaction) =>
        {
            try
            {
                Sql.Execute(connection, transaction, """
                    INSERT INTO jobs (id, account_id, kind, state, attempts, not_before, lease_until, payload, last_error)
                    VALUES ($id, $account, $kind, 0, 0, $due, NULL, $payload, NULL)
                    """,
                    ("$id", id.Value), ("$account", account?.Value), ("$kind", kind), ("$due", due),
                    ("$payload", _store.Cipher.Seal(SealedColumn.JobPayload, id.Value, account?.Value ?? Guid.Empty, payload.Span)));
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19)
            {
                throw new LocalStoreException("no such account");
            }

            return id;
        }, ct);
    }

    /// <summary>Records several jobs of one kind in one transaction: all or none.</summary>
    public Task<IReadOnlyList<JobId>> EnqueueManyAsync(string kind, IReadOnlyList<ReadOnlyMemory<byte>> payloads, AccountId? account = null,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        ArgumentNullException.ThrowIfNull(payloads);
        return _store.Write<IReadOnlyList<JobId>>((connection, transaction) =>
            payloads.Select(payload => Enqueue(connection, transaction, kind, payload, account)).ToList(), ct);
    }

    /// <summary>Records a job due now inside a larger write transaction (queued mail and its Sent copy commit together).</summary>
    internal JobId Enqueue(SqliteConnection connection, SqliteTransaction transaction, string kind, ReadOnlyMemory<byte> payload, AccountId? account)
    {
        var id = JobId.New();
        Sql.Execute(connection, transaction, """
            INSERT INTO jobs (id, account_id, kind, state, attempts, not_before, lease_until, payload, last_error)
            VALUES ($id, $account, $kind, 0, 0, $due, NULL, $payload, NULL)
            """,
            ("$id", id.Value), ("$account", account?.Value), ("$kind", kind), ("$due", _store.Time.GetUtcNow().ToUnixTimeMilliseconds()),
            ("$payload", _store.Cipher.Seal(SealedColumn.JobPayload, id.Value, account?.Value ?? Guid.Empty, payload.Span)));
        return id;
    }

    /// <summary>
    /// Claims the oldest due job of <paramref name="kind"/>: pending and due, or running with an expired
    /// lease (its worker died). Returns null when there is none.
    /// </summary>
    public Task<ClaimedJob?> ClaimAsync(string kind, TimeSpan lease, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        return _store.Write((connection, transaction) =>
        {
            var now = _store.Time.GetUtcNow().ToUnixTimeMilliseconds();
            using var command = Sql.Command(connection, transaction, """
                UPDATE jobs SET state = 1, attempts = attempts + 1, lease_until = $lease
                WHERE rowid = (
                    SELECT rowid FROM jobs
                    WHERE kind = $kind AND ((state = 0 AND not_before <= $now) OR (state = 1 AND lease_until <= $now))
                    ORDER BY not_before, rowid LIMIT 1)
                RETURNING id, account_id, payload, attempts
                """, ("$kind", kind), ("$now", now), ("$lease", now + (long)lease.TotalMilliseconds));
            using var reader = command.ExecuteReader();
            if (!reader.Read())
            {
                return null;
            }

            var id = reader.GetId(0);
            Guid? account = reader.IsDBNull(1) ? null : reader.GetId(1);
            var payload = _store.Cipher.Open(SealedColumn.JobPayload, id, account ?? Guid.Empty, reader.GetBlob(2));
            return new ClaimedJob(new JobId(id), account is { } a ? new AccountId(a) : null, kind, payload, (int)reader.GetInt64(3));
        }, ct);
    }

    /// <summary>Marks a job done (deletes it).</summary>
    public Task<bool> CompleteAsync(JobId id, CancellationToken ct = default) =>
        _store.Write((connection, transaction) => Complete(connection, transaction, id), ct);

    /// <summary>Returns a job to the queue to retry after <paramref name="delay"/>, keeping the error for status.</summary>
    public Task<bool> RetryLaterAsync(JobId id, string error, TimeSpan delay, CancellationToken ct = default) =>
        SetState(id, JobState.Pending, error, _store.Time.GetUtcNow() + delay, ct);

    /// <summary>Gives up on a job, keeping it with its error so the user can see it.</summary>
    public Task<bool> FailAsync(JobId id, string error, CancellationToken ct = default) =>
        SetState(id, JobState.Failed, error, _store.Time.GetUtcNow(), ct);

    /// <summary>
    /// Makes every waiting job of one kind and account due now (its provider is reachable again, so the backoff that
    /// was meant for an outage is over); returns how many. Failed jobs stay failed.
    /// </summary>
    public Task<int> MakeDueNowAsync(string kind, AccountId account, CancellationToken ct = default) =>
        _store.Write((connection, transaction) =>
        {
            var now = _store.Time.GetUtcNow().ToUnixTimeMilliseconds();
            return Sql.Execute(connection, transaction,
                "UPDATE jobs SET not_before = $now WHERE kind = $kind AND account_id = $account AND state = 0 AND not_before > $now",
                ("$kind", kind), ("$account", account.Value), ("$now", now));
        }, ct);

    /// <summary>Jobs of one kind (or all), oldest first.</summary>
    public Task<IReadOnlyList<JobInfo>> ListAsync(string? kind = null, CancellationToken ct = default) =>
        _store.Read<IReadOnlyList<JobInfo>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction,
                "SELECT id, account_id, kind, state, attempts, not_before, last_error FROM jobs WHERE ($kind IS NULL OR kind = $kind) ORDER BY rowid",
                ("$kind", kind));
            using var reader = command.ExecuteReader();
            var jobs = new List<JobInfo>();
            while (reader.Read())
            {
                var id = reader.GetId(0);
                Guid? account = reader.IsDBNull(1) ? null : reader.GetId(1);
                var error = reader.IsDBNull(6)
                    ? null
                    : _store.Cipher.OpenString(SealedColumn.JobError, id, account ?? Guid.Empty, reader.GetBlob(6));
                jobs.Add(new JobInfo(new JobId(id), account is { } a ? new AccountId(a) : null, reader.GetString(2),
                    (JobState)reader.GetInt64(3), (int)reader.GetInt64(4),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)), error));
            }

            return jobs;
        }, ct);

    internal static bool Complete(SqliteConnection connection, SqliteTransaction transaction, JobId id) =>
        Sql.Execute(connection, transaction, "DELETE FROM jobs WHERE id = $id", ("$id", id.Value)) == 1;

    private Task<bool> SetState(JobId id, JobState state, string error, DateTimeOffset notBefore, CancellationToken ct) =>
        _store.Write((connection, transaction) =>
        {
            var account = Sql.Scalar(connection, transaction, "SELECT account_id FROM jobs WHERE id = $id", ("$id", id.Value));
            if (account is null)
            {
                return false;
            }

            var scope = account is byte[] bytes ? StoreCipher.ReadGuid(bytes) : Guid.Empty;
            return Sql.Execute(connection, transaction,
                "UPDATE jobs SET state = $state, lease_until = NULL, not_before = $due, last_error = $error WHERE id = $id",
                ("$id", id.Value), ("$state", (int)state), ("$due", notBefore.ToUnixTimeMilliseconds()),
                ("$error", _store.Cipher.SealString(SealedColumn.JobError, id.Value, scope, error))) == 1;
        }, ct);
}
