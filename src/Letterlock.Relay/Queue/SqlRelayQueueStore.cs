using System.Data.Common;

namespace Letterlock.Relay.Queue;

/// <summary>
/// <see cref="IRelayQueueStore"/> in SQL that runs unchanged on SQLite and PostgreSQL: ids are text, times Unix
/// milliseconds, and the only dialect differences (blob type, row locking) come from <see cref="IRelayDatabase"/>.
/// </summary>
public sealed class SqlRelayQueueStore : IRelayQueueStore
{
    private readonly IRelayDatabase _db;

    /// <summary>Creates the store; call <see cref="InitializeAsync"/> once before use.</summary>
    /// <param name="db">The database.</param>
    public SqlRelayQueueStore(IRelayDatabase db)
    {
        ArgumentNullException.ThrowIfNull(db);
        _db = db;
    }

    /// <summary>Creates the tables if they do not exist.</summary>
    /// <param name="ct">Cancels.</param>
    public Task InitializeAsync(CancellationToken ct)
    {
        string blob = _db.BlobType;
        string[] schema =
        [
            $"CREATE TABLE IF NOT EXISTS relay_messages (id TEXT PRIMARY KEY, created_at BIGINT NOT NULL, body {blob} NOT NULL)",
            $"""
            CREATE TABLE IF NOT EXISTS relay_deliveries (
                id TEXT PRIMARY KEY, message_id TEXT NOT NULL, destination TEXT NOT NULL, state {blob} NOT NULL,
                attempts INTEGER NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, next_attempt_at BIGINT NOT NULL,
                lease_token TEXT NULL, lease_until BIGINT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS relay_deliveries_due ON relay_deliveries (next_attempt_at)",
            "CREATE INDEX IF NOT EXISTS relay_deliveries_destination ON relay_deliveries (destination, next_attempt_at)",
            "CREATE INDEX IF NOT EXISTS relay_deliveries_message ON relay_deliveries (message_id)",
            "CREATE TABLE IF NOT EXISTS relay_interruptions (delivery_id TEXT NOT NULL, message_id TEXT NOT NULL, recorded_at BIGINT NOT NULL)",
        ];
        return _db.WriteAsync(
            async (c, t, token) =>
            {
                if (_db.SchemaLockStatement is { } lockStatement)
                {
                    await Exec(c, t, lockStatement, token).ConfigureAwait(false);
                }

                foreach (string statement in schema)
                {
                    await Exec(c, t, statement, token).ConfigureAwait(false);
                }

                return true;
            },
            ct);
    }

    /// <inheritdoc />
    public Task EnqueueAsync(NewQueueMessage message, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(message);
        return _db.WriteAsync(
            async (c, t, token) =>
            {
                await Exec(c, t, "INSERT INTO relay_messages (id, created_at, body) VALUES (@id, @at, @body)", token,
                    ("@id", message.MessageId), ("@at", Ms(message.CreatedAt)), ("@body", message.SealedBody)).ConfigureAwait(false);
                foreach (var d in message.Deliveries)
                {
                    await Exec(c, t, """
                        INSERT INTO relay_deliveries (id, message_id, destination, state, attempts, created_at, expires_at, next_attempt_at, lease_token, lease_until)
                        VALUES (@id, @m, @d, @s, 0, @c, @e, @n, NULL, NULL)
                        """, token,
                        ("@id", d.DeliveryId), ("@m", message.MessageId), ("@d", d.Destination), ("@s", d.SealedState),
                        ("@c", Ms(message.CreatedAt)), ("@e", Ms(d.ExpiresAt)), ("@n", Ms(d.NextAttemptAt))).ConfigureAwait(false);
                }

                return true;
            },
            ct);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<DueDestination>> FindDueDestinationsAsync(DateTimeOffset now, int max, CancellationToken ct) =>
        _db.ReadAsync<IReadOnlyList<DueDestination>>(
            async (c, token) =>
            {
                return await Query(c, null, """
                    SELECT destination, COUNT(*) FROM relay_deliveries
                    WHERE next_attempt_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
                    GROUP BY destination ORDER BY MIN(next_attempt_at) LIMIT @max
                    """, r => new DueDestination(r.GetString(0), Int(r.GetValue(1))), token, ("@now", Ms(now)), ("@max", max)).ConfigureAwait(false);
            },
            ct);

    /// <inheritdoc />
    public Task<DateTimeOffset?> NextDueAsync(CancellationToken ct) =>
        _db.ReadAsync<DateTimeOffset?>(
            async (c, token) =>
            {
                object? value = await Scalar(c, null,
                    "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > next_attempt_at THEN lease_until ELSE next_attempt_at END) FROM relay_deliveries", token).ConfigureAwait(false);
                return value is null or DBNull ? null : FromMs(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
            },
            ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<QueueLease>> LeaseAsync(string destination, string leaseToken, DateTimeOffset now, DateTimeOffset until, int max, CancellationToken ct) =>
        _db.WriteAsync<IReadOnlyList<QueueLease>>(
            async (c, t, token) =>
            {
                var candidates = await Query(c, t, $"""
                    SELECT id, message_id, state, attempts, created_at, expires_at, lease_until FROM relay_deliveries
                    WHERE destination = @d AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
                    ORDER BY next_attempt_at LIMIT @max {_db.LeaseLockClause}
                    """,
                    r => (Id: r.GetString(0), MessageId: r.GetString(1), State: (byte[])r.GetValue(2), Attempts: Int(r.GetValue(3)),
                        Created: Long(r.GetValue(4)), Expires: Long(r.GetValue(5)), Lapsed: r.GetValue(6) is not DBNull),
                    token, ("@d", destination), ("@now", Ms(now)), ("@max", max)).ConfigureAwait(false);

                var leases = new List<QueueLease>(candidates.Count);
                foreach (var candidate in candidates)
                {
                    int updated = await Exec(c, t, "UPDATE relay_deliveries SET lease_token = @t, lease_until = @u WHERE id = @id AND (lease_until IS NULL OR lease_until <= @now)", token,
                        ("@t", leaseToken), ("@u", Ms(until)), ("@id", candidate.Id), ("@now", Ms(now))).ConfigureAwait(false);
                    if (updated != 1)
                    {
                        continue;
                    }

                    if (candidate.Lapsed)
                    {
                        // a lease that was never released: its holder died between taking it and recording a result
                        await Exec(c, t, "INSERT INTO relay_interruptions (delivery_id, message_id, recorded_at) VALUES (@d, @m, @at)", token,
                            ("@d", candidate.Id), ("@m", candidate.MessageId), ("@at", Ms(now))).ConfigureAwait(false);
                    }

                    leases.Add(new QueueLease(candidate.Id, candidate.MessageId, candidate.State, candidate.Attempts, FromMs(candidate.Created), FromMs(candidate.Expires), until, candidate.Lapsed));
                }

                return leases;
            },
            ct);

    /// <inheritdoc />
    public Task<int> RenewAsync(IReadOnlyList<string> deliveryIds, string leaseToken, DateTimeOffset until, CancellationToken ct) =>
        _db.WriteAsync(
            async (c, t, token) =>
            {
                int renewed = 0;
                foreach (string id in deliveryIds)
                {
                    renewed += await Exec(c, t, "UPDATE relay_deliveries SET lease_until = @u WHERE id = @id AND lease_token = @t", token,
                        ("@u", Ms(until)), ("@id", id), ("@t", leaseToken)).ConfigureAwait(false);
                }

                return renewed;
            },
            ct);

    /// <inheritdoc />
    public Task<int> ReleaseAsync(IReadOnlyList<string> deliveryIds, string leaseToken, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(deliveryIds);
        return _db.WriteAsync(
            async (c, t, token) =>
            {
                int released = 0;
                foreach (string id in deliveryIds)
                {
                    released += await Exec(c, t, "UPDATE relay_deliveries SET lease_token = NULL, lease_until = NULL WHERE id = @id AND lease_token = @t", token,
                        ("@id", id), ("@t", leaseToken)).ConfigureAwait(false);
                }

                return released;
            },
            ct);
    }

    /// <inheritdoc />
    public Task<byte[]?> ReadMessageAsync(string messageId, CancellationToken ct) =>
        _db.ReadAsync(
            async (c, token) =>
            {
                return await Scalar(c, null, "SELECT body FROM relay_messages WHERE id = @id", token, ("@id", messageId)).ConfigureAwait(false) as byte[];
            },
            ct);

    /// <inheritdoc />
    public Task<bool> RecordAttemptAsync(string deliveryId, string leaseToken, byte[] sealedState, int attempts, DateTimeOffset nextAttemptAt, CancellationToken ct) =>
        _db.WriteAsync(
            async (c, t, token) => await Exec(c, t, """
                UPDATE relay_deliveries SET state = @s, attempts = @a, next_attempt_at = @n, lease_token = NULL, lease_until = NULL
                WHERE id = @id AND lease_token = @t
                """, token, ("@s", sealedState), ("@a", attempts), ("@n", Ms(nextAttemptAt)), ("@id", deliveryId), ("@t", leaseToken)).ConfigureAwait(false) == 1,
            ct);

    /// <inheritdoc />
    public Task<bool> FinishAsync(string deliveryId, string leaseToken, QueueFinish reason, CancellationToken ct) =>
        _db.WriteAsync(
            async (c, t, token) =>
            {
                string? messageId = await Scalar(c, t, "SELECT message_id FROM relay_deliveries WHERE id = @id AND lease_token = @t", token,
                    ("@id", deliveryId), ("@t", leaseToken)).ConfigureAwait(false) as string;

                if (messageId is null)
                {
                    return false;
                }

                await Exec(c, t, "DELETE FROM relay_deliveries WHERE id = @id", token, ("@id", deliveryId)).ConfigureAwait(false);
                await Exec(c, t, "DELETE FROM relay_messages WHERE id = @m AND NOT EXISTS (SELECT 1 FROM relay_deliveries WHERE message_id = @m)", token,
                    ("@m", messageId)).ConfigureAwait(false);
                return true;
            },
            ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<QueueInterruption>> ListInterruptionsAsync(DateTimeOffset since, CancellationToken ct) =>
        _db.ReadAsync<IReadOnlyList<QueueInterruption>>(
            async (c, token) =>
            {
                return await Query(c, null, "SELECT delivery_id, message_id, recorded_at FROM relay_interruptions WHERE recorded_at >= @s ORDER BY recorded_at",
                    r => new QueueInterruption(r.GetString(0), r.GetString(1), FromMs(Long(r.GetValue(2)))), token, ("@s", Ms(since))).ConfigureAwait(false);
            },
            ct);

    /// <inheritdoc />
    public Task<int> CountAsync(CancellationToken ct) =>
        _db.ReadAsync(
            async (c, token) =>
            {
                return Int(await Scalar(c, null, "SELECT COUNT(*) FROM relay_deliveries", token).ConfigureAwait(false));
            },
            ct);

    /// <inheritdoc />
    public Task<DateTimeOffset?> OldestAsync(CancellationToken ct) =>
        _db.ReadAsync(
            async (c, token) =>
            {
                object? oldest = await Scalar(c, null, "SELECT MIN(created_at) FROM relay_deliveries", token).ConfigureAwait(false);
                return oldest is null or DBNull ? (DateTimeOffset?)null : FromMs(Long(oldest));
            },
            ct);

    private static long Ms(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    private static int Int(object? value) => Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture);

    private static long Long(object? value) => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<int> Exec(DbConnection connection, DbTransaction transaction, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        var command = Command(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    private static async Task<object?> Scalar(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        var command = Command(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
        }
    }

    private static async Task<List<T>> Query<T>(DbConnection connection, DbTransaction? transaction, string sql, Func<DbDataReader, T> row, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        var command = Command(connection, transaction, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var result = new List<T>();
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    result.Add(row(reader));
                }

                return result;
            }
        }
    }
}
