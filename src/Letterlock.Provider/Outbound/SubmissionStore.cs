using System.Globalization;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Outbound;

/// <summary>A submission token found by its hash.</summary>
internal sealed record SubmissionTokenRecord(Guid DeviceId, Guid AccountId, DateTimeOffset ExpiresAt);

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

    /// <summary>When the window of <paramref name="hourly"/> (else daily) that contains <paramref name="now"/> ends.</summary>
    public static DateTimeOffset WindowEnd(DateTimeOffset now, bool hourly)
    {
        long size = hourly ? HourMs : DayMs;
        return DateTimeOffset.FromUnixTimeMilliseconds(Window(now.ToUnixTimeMilliseconds(), size) + size);
    }

    private static long Window(long ms, long size) => ms - (ms % size);

    private static string Id(Guid id) => id.ToString("D", CultureInfo.InvariantCulture);
}
