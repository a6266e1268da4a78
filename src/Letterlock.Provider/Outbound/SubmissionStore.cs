using System.Globalization;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Outbound;

/// <summary>A submission token found by its hash.</summary>
internal sealed record SubmissionTokenRecord(Guid DeviceId, Guid AccountId, DateTimeOffset ExpiresAt);

/// <summary>What an idempotency key of a submission stands for (<see cref="SubmissionStore.ClaimKeyAsync"/>).</summary>
internal enum SubmissionKeyState
{
    /// <summary>Not seen (or its earlier holder was abandoned): this request submits, then records its answer.</summary>
    Fresh,

    /// <summary>A submission with this key was accepted: its recorded answer is the answer.</summary>
    Done,

    /// <summary>A submission with this key is being handled right now (another request, another node).</summary>
    InProgress,

    /// <summary>The key was used for a different message or envelope.</summary>
    Mismatch,
}

/// <summary>What an account has sent in the current windows.</summary>
internal sealed record SendingUsage(long MessagesThisHour, long RecipientsToday);

/// <summary>
/// The outbound path's tables in the provider's database: submission tokens (only their SHA-256, bound to one device)
/// and the per-account sending counters. Counters use fixed windows (the clock hour, the UTC day) shared by every node
/// of a cluster; a sender can therefore send up to twice a limit across a window boundary, never more.
/// </summary>
internal sealed class SubmissionStore(SqlProviderStore db)
{
    private const long HourMs = 3_600_000;
    private const long DayMs = 86_400_000;

    public Task InitializeAsync(CancellationToken ct)
    {
        string blob = db.OutboundBlobType;
        string[] schema =
        [
            $"""
            CREATE TABLE IF NOT EXISTS submission_tokens (
                hash {blob} PRIMARY KEY, device_id TEXT NOT NULL UNIQUE, account_id TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)
            """,
            $"""
            CREATE TABLE IF NOT EXISTS submission_keys (
                account_id TEXT NOT NULL, key_hash {blob} NOT NULL, fingerprint {blob} NOT NULL, created_at BIGINT NOT NULL, response TEXT NULL,
                PRIMARY KEY (account_id, key_hash))
            """,
            """
            CREATE TABLE IF NOT EXISTS submission_counters (
                account_id TEXT NOT NULL, period TEXT NOT NULL, window_start BIGINT NOT NULL, messages BIGINT NOT NULL, recipients BIGINT NOT NULL,
                PRIMARY KEY (account_id, period))
            """,
        ];
        return db.OutboundWriteAsync(
            async (c, t) =>
            {
                if (db.OutboundSchemaLock is { } lockStatement)
                {
                    await SqlProviderStore.OutboundExec(c, t, lockStatement, ct);
                }

                foreach (string statement in schema)
                {
                    await SqlProviderStore.OutboundExec(c, t, statement, ct);
                }

                return (true, true);
            },
            ct);
    }

    /// <summary>Stores a new token for a device, replacing the device's previous one.</summary>
    public Task IssueTokenAsync(byte[] hash, Guid deviceId, Guid accountId, DateTimeOffset createdAt, DateTimeOffset expiresAt, CancellationToken ct) =>
        db.OutboundWriteAsync(
            async (c, t) =>
            {
                await SqlProviderStore.OutboundExec(c, t, "DELETE FROM submission_tokens WHERE device_id = @d", ct, ("@d", Id(deviceId)));
                await SqlProviderStore.OutboundExec(c, t, "INSERT INTO submission_tokens (hash, device_id, account_id, created_at, expires_at) VALUES (@h, @d, @a, @c, @e)", ct,
                    ("@h", hash), ("@d", Id(deviceId)), ("@a", Id(accountId)), ("@c", createdAt.ToUnixTimeMilliseconds()), ("@e", expiresAt.ToUnixTimeMilliseconds()));
                return (true, true);
            },
            ct);

    /// <summary>Deletes a device's token; false if it had none.</summary>
    public Task<bool> RevokeTokenAsync(Guid deviceId, CancellationToken ct) =>
        db.OutboundWriteAsync(async (c, t) => (await SqlProviderStore.OutboundExec(c, t, "DELETE FROM submission_tokens WHERE device_id = @d", ct, ("@d", Id(deviceId))) > 0, true), ct);

    public Task<SubmissionTokenRecord?> FindTokenAsync(byte[] hash, CancellationToken ct) =>
        db.OutboundReadAsync<SubmissionTokenRecord?>(
            async c =>
            {
                await using var command = SqlProviderStore.OutboundCommand(c, null, "SELECT device_id, account_id, expires_at FROM submission_tokens WHERE hash = @h", ("@h", hash));
                await using var reader = await command.ExecuteReaderAsync(ct);
                return await reader.ReadAsync(ct)
                    ? new SubmissionTokenRecord(Guid.Parse(reader.GetString(0)), Guid.Parse(reader.GetString(1)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)))
                    : null;
            },
            ct);

    public Task<SendingUsage> GetUsageAsync(Guid accountId, DateTimeOffset now, CancellationToken ct) =>
        db.OutboundReadAsync(
            async c =>
            {
                long ms = now.ToUnixTimeMilliseconds();
                await using var command = SqlProviderStore.OutboundCommand(c, null, "SELECT period, window_start, messages, recipients FROM submission_counters WHERE account_id = @a", ("@a", Id(accountId)));
                await using var reader = await command.ExecuteReaderAsync(ct);
                long messages = 0;
                long recipients = 0;
                while (await reader.ReadAsync(ct))
                {
                    string period = reader.GetString(0);
                    long window = reader.GetInt64(1);
                    if (period == "hour" && window == Window(ms, HourMs))
                    {
                        messages = reader.GetInt64(2);
                    }
                    else if (period == "day" && window == Window(ms, DayMs))
                    {
                        recipients = reader.GetInt64(3);
                    }
                }

                return new SendingUsage(messages, recipients);
            },
            ct);

    /// <summary>
    /// Counts one message with <paramref name="recipients"/> recipients against the account's hourly message and daily
    /// recipient limits, atomically across nodes; false (and nothing counted) when either limit would be exceeded.
    /// </summary>
    public Task<bool> TryReserveAsync(Guid accountId, int recipients, DateTimeOffset now, int maxMessagesPerHour, int maxRecipientsPerDay, CancellationToken ct) =>
        db.OutboundWriteAsync(
            async (c, t) =>
            {
                long ms = now.ToUnixTimeMilliseconds();
                foreach (var (period, window, maxMessages, maxRecipients) in new[]
                {
                    ("hour", Window(ms, HourMs), (long)maxMessagesPerHour, long.MaxValue / 2),
                    ("day", Window(ms, DayMs), long.MaxValue / 2, (long)maxRecipientsPerDay),
                })
                {
                    await SqlProviderStore.OutboundExec(c, t,
                        "INSERT INTO submission_counters (account_id, period, window_start, messages, recipients) VALUES (@a, @p, @w, 0, 0) ON CONFLICT (account_id, period) DO NOTHING", ct,
                        ("@a", Id(accountId)), ("@p", period), ("@w", window));
                    await SqlProviderStore.OutboundExec(c, t,
                        "UPDATE submission_counters SET window_start = @w, messages = 0, recipients = 0 WHERE account_id = @a AND period = @p AND window_start <> @w", ct,
                        ("@a", Id(accountId)), ("@p", period), ("@w", window));

                    // one conditional statement: on PostgreSQL the row lock makes concurrent nodes re-check the limit
                    int counted = await SqlProviderStore.OutboundExec(c, t,
                        "UPDATE submission_counters SET messages = messages + 1, recipients = recipients + @r WHERE account_id = @a AND period = @p AND messages + 1 <= @mm AND recipients + @r <= @mr", ct,
                        ("@a", Id(accountId)), ("@p", period), ("@r", (long)recipients), ("@mm", maxMessages), ("@mr", maxRecipients));
                    if (counted != 1)
                    {
                        return (false, false);
                    }
                }

                return (true, true);
            },
            ct);

    /// <summary>Takes back a reservation whose message was then refused (same windows only).</summary>
    public Task ReleaseAsync(Guid accountId, int recipients, DateTimeOffset reservedAt, CancellationToken ct) =>
        db.OutboundWriteAsync(
            async (c, t) =>
            {
                long ms = reservedAt.ToUnixTimeMilliseconds();
                foreach (var (period, window) in new[] { ("hour", Window(ms, HourMs)), ("day", Window(ms, DayMs)) })
                {
                    await SqlProviderStore.OutboundExec(c, t,
                        "UPDATE submission_counters SET messages = messages - 1, recipients = recipients - @r WHERE account_id = @a AND period = @p AND window_start = @w AND messages >= 1 AND recipients >= @r", ct,
                        ("@a", Id(accountId)), ("@p", period), ("@w", window), ("@r", (long)recipients));
                }

                return (true, true);
            },
            ct);

    /// <summary>
    /// Claims an idempotency key (by its hash) for a submission whose envelope and message hash to
    /// <paramref name="fingerprint"/>, atomically across nodes. Keys older than <paramref name="keep"/> are forgotten; a
    /// claim without an answer older than <paramref name="inFlight"/> was abandoned (its node stopped mid-way) and is
    /// taken over, so that message is submitted again: at least once, as without a key.
    /// </summary>
    public Task<(SubmissionKeyState State, string? Response)> ClaimKeyAsync(Guid accountId, byte[] keyHash, byte[] fingerprint, DateTimeOffset now,
        TimeSpan inFlight, TimeSpan keep, CancellationToken ct) =>
        db.OutboundWriteAsync<(SubmissionKeyState, string?)>(
            async (c, t) =>
            {
                long ms = now.ToUnixTimeMilliseconds();
                await SqlProviderStore.OutboundExec(c, t, "DELETE FROM submission_keys WHERE account_id = @a AND created_at < @old", ct,
                    ("@a", Id(accountId)), ("@old", ms - (long)keep.TotalMilliseconds));
                if (await SqlProviderStore.OutboundExec(c, t,
                        "INSERT INTO submission_keys (account_id, key_hash, fingerprint, created_at, response) VALUES (@a, @k, @f, @c, NULL) ON CONFLICT (account_id, key_hash) DO NOTHING", ct,
                        ("@a", Id(accountId)), ("@k", keyHash), ("@f", fingerprint), ("@c", ms)) == 1)
                {
                    return ((SubmissionKeyState.Fresh, null), true);
                }

                byte[] held;
                long createdAt;
                string? response;
                await using (var command = SqlProviderStore.OutboundCommand(c, t, "SELECT fingerprint, created_at, response FROM submission_keys WHERE account_id = @a AND key_hash = @k",
                                 ("@a", Id(accountId)), ("@k", keyHash)))
                await using (var reader = await command.ExecuteReaderAsync(ct))
                {
                    if (!await reader.ReadAsync(ct))
                    {
                        throw new InvalidOperationException("A submission key row vanished inside its transaction.");
                    }

                    held = (byte[])reader.GetValue(0);
                    createdAt = reader.GetInt64(1);
                    response = await reader.IsDBNullAsync(2, ct) ? null : reader.GetString(2);
                }

                if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(held, fingerprint))
                {
                    return ((SubmissionKeyState.Mismatch, null), false);
                }

                if (response is not null)
                {
                    return ((SubmissionKeyState.Done, response), false);
                }

                if (createdAt >= ms - (long)inFlight.TotalMilliseconds)
                {
                    return ((SubmissionKeyState.InProgress, null), false);
                }

                bool taken = await SqlProviderStore.OutboundExec(c, t,
                    "UPDATE submission_keys SET created_at = @c WHERE account_id = @a AND key_hash = @k AND created_at = @was AND response IS NULL", ct,
                    ("@a", Id(accountId)), ("@k", keyHash), ("@c", ms), ("@was", createdAt)) == 1;
                return ((taken ? SubmissionKeyState.Fresh : SubmissionKeyState.InProgress, null), true);
            },
            ct);

    /// <summary>Records the answer of an accepted submission under its key; a retry with the key gets it again.</summary>
    public Task CompleteKeyAsync(Guid accountId, byte[] keyHash, string response, CancellationToken ct) =>
        db.OutboundWriteAsync(
            async (c, t) =>
            {
                await SqlProviderStore.OutboundExec(c, t, "UPDATE submission_keys SET response = @r WHERE account_id = @a AND key_hash = @k", ct,
                    ("@a", Id(accountId)), ("@k", keyHash), ("@r", response));
                return (true, true);
            },
            ct);

    /// <summary>Forgets a key whose submission was refused or failed, so a retry with it is handled afresh.</summary>
    public Task ReleaseKeyAsync(Guid accountId, byte[] keyHash, CancellationToken ct) =>
        db.OutboundWriteAsync(
            async (c, t) =>
            {
                await SqlProviderStore.OutboundExec(c, t, "DELETE FROM submission_keys WHERE account_id = @a AND key_hash = @k AND response IS NULL", ct,
                    ("@a", Id(accountId)), ("@k", keyHash));
                return (true, true);
            },
            ct);

    /// <summary>When the window of <paramref name="hourly"/> (else daily) that contains <paramref name="now"/> ends.</summary>
    public static DateTimeOffset WindowEnd(DateTimeOffset now, bool hourly)
    {
        long size = hourly ? HourMs : DayMs;
        return DateTimeOffset.FromUnixTimeMilliseconds(Window(now.ToUnixTimeMilliseconds(), size) + size);
    }

    private static long Window(long ms, long size) => ms - (ms % size);

    private static string Id(Guid id) => id.ToString("D", CultureInfo.InvariantCulture);
}
