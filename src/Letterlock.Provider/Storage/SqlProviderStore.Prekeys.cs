using System.Globalization;

namespace Letterlock.Provider.Storage;

/// <summary>Prekeys of the native protocol (schema version 3): one row per device, a pool of one-time prekeys.</summary>
public abstract partial class SqlProviderStore : IPrekeyStore
{
    private const int OneTimeKind = 3;
    private const int OneTimeKemKind = 4;

    public Task<PublishPrekeysOutcome> PublishPrekeysAsync(Guid accountId, Guid deviceId, PrekeyPublication publication, int maxPoolPerKind, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(publication);
        return WriteAsync(
            async (c, t) =>
            {
                long ms = now.ToUnixTimeMilliseconds();
                string d = Id(deviceId);
                if (publication.SignedPrekey is { } signed && publication.KemPrekey is { } kem)
                {
                    int updated = await Exec(c, t, "UPDATE device_prekeys SET identity = @i, signed_prekey = @s, kem_prekey = @k, updated_at = @n WHERE device_id = @d", ct,
                        ("@i", publication.Identity), ("@s", signed), ("@k", kem), ("@n", ms), ("@d", d)).ConfigureAwait(false);
                    if (updated == 0)
                    {
                        await Exec(c, t, "INSERT INTO device_prekeys (device_id, account_id, identity, signed_prekey, kem_prekey, updated_at) VALUES (@d, @a, @i, @s, @k, @n)", ct,
                            ("@d", d), ("@a", Id(accountId)), ("@i", publication.Identity), ("@s", signed), ("@k", kem), ("@n", ms)).ConfigureAwait(false);
                    }
                }
                else if (await Exec(c, t, "UPDATE device_prekeys SET identity = @i, updated_at = @n WHERE device_id = @d", ct,
                    ("@i", publication.Identity), ("@n", ms), ("@d", d)).ConfigureAwait(false) == 0)
                {
                    return (PublishPrekeysOutcome.NeedsSignedPrekeys, false);
                }

                foreach (var prekey in publication.OneTime)
                {
                    // A prekey published twice (a retried request) is kept once.
                    await Exec(c, t, "INSERT INTO one_time_prekeys (device_id, account_id, kind, id, prekey, expires_at) VALUES (@d, @a, @k, @id, @p, @e) ON CONFLICT DO NOTHING", ct,
                        ("@d", d), ("@a", Id(accountId)), ("@k", prekey.Kind), ("@id", (long)prekey.Id), ("@p", prekey.Encoded), ("@e", prekey.ExpiresAt.ToUnixTimeMilliseconds())).ConfigureAwait(false);
                }

                var (oneTime, oneTimeKem) = await PoolSizes(c, t, d, ms, ct).ConfigureAwait(false);
                return oneTime > maxPoolPerKind || oneTimeKem > maxPoolPerKind ? (PublishPrekeysOutcome.PoolFull, false) : (PublishPrekeysOutcome.Published, true);
            },
            ct);
    }

    public async Task<StoredPrekeyStatus> GetPrekeyStatusAsync(Guid deviceId, DateTimeOffset now, CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            string d = Id(deviceId);
            DevicePrekeyRecord? current = null;
            await using (var command = Command(connection, null, "SELECT identity, signed_prekey, kem_prekey FROM device_prekeys WHERE device_id = @d", ("@d", d)))
            await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                if (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    current = new DevicePrekeyRecord(deviceId, (byte[])reader.GetValue(0), (byte[])reader.GetValue(1), (byte[])reader.GetValue(2));
                }
            }

            var (oneTime, oneTimeKem) = await PoolSizes(connection, null, d, now.ToUnixTimeMilliseconds(), ct).ConfigureAwait(false);
            return new StoredPrekeyStatus(current, oneTime, oneTimeKem);
        }
    }

    public Task<IReadOnlyList<TakenPrekeys>> TakePrekeysAsync(Guid accountId, DateTimeOffset now, CancellationToken ct) =>
        WriteAsync<IReadOnlyList<TakenPrekeys>>(
            async (c, t) =>
            {
                long ms = now.ToUnixTimeMilliseconds();
                var devices = new List<DevicePrekeyRecord>();
                await using (var command = Command(c, t, """
                    SELECT p.device_id, p.identity, p.signed_prekey, p.kem_prekey FROM device_prekeys p
                    JOIN devices d ON d.id = p.device_id
                    WHERE p.account_id = @a AND d.account_id = @a AND d.revoked = 0 ORDER BY d.created_at, p.device_id
                    """, ("@a", Id(accountId))))
                await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        devices.Add(new DevicePrekeyRecord(Guid.Parse(reader.GetString(0)), (byte[])reader.GetValue(1), (byte[])reader.GetValue(2), (byte[])reader.GetValue(3)));
                    }
                }

                var taken = new List<TakenPrekeys>(devices.Count);
                foreach (var device in devices)
                {
                    string d = Id(device.DeviceId);
                    taken.Add(new TakenPrekeys(device, await TakeOne(c, t, d, OneTimeKind, ms, ct).ConfigureAwait(false),
                        await TakeOne(c, t, d, OneTimeKemKind, ms, ct).ConfigureAwait(false)));
                }

                return (taken, true);
            },
            ct);

    /// <summary>Deletes what no device can use any more: expired one-time prekeys, and every prekey of revoked or removed devices.</summary>
    private static async Task PurgePrekeysAsync(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction t, long nowMs, CancellationToken ct)
    {
        await Exec(c, t, "DELETE FROM one_time_prekeys WHERE expires_at <= @n", ct, ("@n", nowMs)).ConfigureAwait(false);
        const string Gone = "SELECT id FROM devices WHERE revoked = 0";
        await Exec(c, t, $"DELETE FROM one_time_prekeys WHERE device_id NOT IN ({Gone})", ct).ConfigureAwait(false);
        await Exec(c, t, $"DELETE FROM device_prekeys WHERE device_id NOT IN ({Gone})", ct).ConfigureAwait(false);
    }

    private static async Task<byte[]?> TakeOne(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction t, string deviceId, int kind, long nowMs, CancellationToken ct)
    {
        // Two fetches at once (PostgreSQL) may pick the same row; the one that loses deletes nothing and picks again.
        for (int attempt = 0; attempt < 3; attempt++)
        {
            await using var command = Command(c, t, """
                DELETE FROM one_time_prekeys WHERE device_id = @d AND kind = @k AND id = (
                    SELECT id FROM one_time_prekeys WHERE device_id = @d AND kind = @k AND expires_at > @n ORDER BY id LIMIT 1)
                RETURNING prekey
                """, ("@d", deviceId), ("@k", kind), ("@n", nowMs));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return (byte[])reader.GetValue(0);
            }

            await reader.CloseAsync().ConfigureAwait(false);
            object? left = await Scalar(c, t, "SELECT COUNT(*) FROM one_time_prekeys WHERE device_id = @d AND kind = @k AND expires_at > @n", ct,
                ("@d", deviceId), ("@k", kind), ("@n", nowMs)).ConfigureAwait(false);
            if (Convert.ToInt64(left ?? 0L, CultureInfo.InvariantCulture) == 0)
            {
                return null;
            }
        }

        return null;
    }

    private static async Task<(int OneTime, int OneTimeKem)> PoolSizes(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction? t, string deviceId, long nowMs, CancellationToken ct)
    {
        int oneTime = 0, oneTimeKem = 0;
        await using var command = Command(c, t, "SELECT kind, COUNT(*) FROM one_time_prekeys WHERE device_id = @d AND expires_at > @n GROUP BY kind", ("@d", deviceId), ("@n", nowMs));
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            int count = Convert.ToInt32(reader.GetValue(1), CultureInfo.InvariantCulture);
            switch (Convert.ToInt32(reader.GetValue(0), CultureInfo.InvariantCulture))
            {
                case OneTimeKind:
                    oneTime = count;
                    break;
                case OneTimeKemKind:
                    oneTimeKem = count;
                    break;
            }
        }

        return (oneTime, oneTimeKem);
    }
}
