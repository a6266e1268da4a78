namespace Letterlock.Provider.Storage;

/// <summary>The statements of <see cref="IAccountSecurityStore"/>, shared by both backends.</summary>
public abstract partial class SqlProviderStore
{
    public Task<bool> SetSlotAsync(SlotRecord slot, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(slot);
        return WriteAsync(
            async (c, t) =>
            {
                if (await Scalar(c, t, "SELECT 1 FROM accounts WHERE id = @a AND status = 0", ct, ("@a", Id(slot.AccountId))).ConfigureAwait(false) is null)
                {
                    return (false, false);
                }

                await UpsertSlot(c, t, slot, ct).ConfigureAwait(false);
                return (true, true);
            },
            ct);
    }

    public async Task<SlotRecord?> GetSlotAsync(Guid accountId, string kind, CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = Command(connection, null, "SELECT wrapped, verifier, updated_at FROM account_slots WHERE account_id = @a AND kind = @k",
                ("@a", Id(accountId)), ("@k", kind));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            return new SlotRecord(accountId, kind, (byte[])reader.GetValue(0),
                await reader.IsDBNullAsync(1, ct).ConfigureAwait(false) ? null : (byte[])reader.GetValue(1), Time(reader.GetInt64(2)));
        }
    }

    public Task<bool> SetPasswordAsync(Guid accountId, byte[] opaqueRecord, SlotRecord passwordSlot, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(passwordSlot);
        return WriteAsync(
            async (c, t) =>
            {
                if (await Exec(c, t, "UPDATE accounts SET opaque_record = @r WHERE id = @a AND status = 0", ct, ("@r", opaqueRecord), ("@a", Id(accountId))).ConfigureAwait(false) != 1)
                {
                    return (false, false);
                }

                await UpsertSlot(c, t, passwordSlot, ct).ConfigureAwait(false);
                return (true, true);
            },
            ct);
    }

    public Task<bool> RemovePasswordAsync(Guid accountId, CancellationToken ct) =>
        WriteAsync(
            async (c, t) =>
            {
                int n = await Exec(c, t, "UPDATE accounts SET opaque_record = NULL WHERE id = @a", ct, ("@a", Id(accountId))).ConfigureAwait(false);
                await Exec(c, t, "DELETE FROM account_slots WHERE account_id = @a AND kind = @k", ct, ("@a", Id(accountId)), ("@k", SlotKinds.Password)).ConfigureAwait(false);
                return (n == 1, true);
            },
            ct);

    public Task StorePendingLoginAsync(PendingLogin login, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(login);
        return WriteAsync(
            async (c, t) => (await Exec(c, t, "INSERT INTO pending_logins (id, kind, account_id, state, expires_at) VALUES (@id, @k, @a, @s, @e)", ct,
                ("@id", Id(login.Id)), ("@k", login.Kind), ("@a", login.AccountId is { } a ? Id(a) : null), ("@s", login.State),
                ("@e", login.ExpiresAt.ToUnixTimeMilliseconds())).ConfigureAwait(false), true),
            ct);
    }

    public Task<PendingLogin?> ConsumePendingLoginAsync(Guid id, CancellationToken ct) =>
        WriteAsync<PendingLogin?>(
            async (c, t) =>
            {
                await using var command = Command(c, t, "DELETE FROM pending_logins WHERE id = @id RETURNING kind, account_id, state, expires_at", ("@id", Id(id)));
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    return (null, true);
                }

                return (new PendingLogin(id, reader.GetString(0), await reader.IsDBNullAsync(1, ct).ConfigureAwait(false) ? null : Guid.Parse(reader.GetString(1)),
                    (byte[])reader.GetValue(2), Time(reader.GetInt64(3))), true);
            },
            ct);

    public async Task<LoginFailures> GetLoginFailuresAsync(Guid accountId, CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = Command(connection, null, "SELECT failures, blocked_until FROM login_failures WHERE account_id = @a", ("@a", Id(accountId)));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? new LoginFailures(reader.GetInt32(0), Time(reader.GetInt64(1)))
                : new LoginFailures(0, DateTimeOffset.MinValue);
        }
    }

    public Task<LoginFailures> RecordLoginFailureAsync(Guid accountId, DateTimeOffset now, Func<int, TimeSpan> blockFor, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(blockFor);
        return WriteAsync(
            async (c, t) =>
            {
                object? current = await Scalar(c, t, "SELECT failures FROM login_failures WHERE account_id = @a", ct, ("@a", Id(accountId))).ConfigureAwait(false);
                int failures = (current is null ? 0 : Convert.ToInt32(current, System.Globalization.CultureInfo.InvariantCulture)) + 1;
                var until = now + blockFor(failures);
                await Exec(c, t, """
                    INSERT INTO login_failures (account_id, failures, blocked_until) VALUES (@a, @f, @u)
                    ON CONFLICT (account_id) DO UPDATE SET failures = excluded.failures, blocked_until = excluded.blocked_until
                    """, ct, ("@a", Id(accountId)), ("@f", failures), ("@u", until.ToUnixTimeMilliseconds())).ConfigureAwait(false);
                return (new LoginFailures(failures, until), true);
            },
            ct);
    }

    public Task ClearLoginFailuresAsync(Guid accountId, CancellationToken ct) =>
        WriteAsync(async (c, t) => (await Exec(c, t, "DELETE FROM login_failures WHERE account_id = @a", ct, ("@a", Id(accountId))).ConfigureAwait(false), true), ct);

    public Task TouchDeviceAsync(Guid deviceId, DateTimeOffset now, CancellationToken ct) =>
        WriteAsync(async (c, t) => (await Exec(c, t, "UPDATE devices SET last_seen_at = @n WHERE id = @d", ct,
            ("@n", now.ToUnixTimeMilliseconds()), ("@d", Id(deviceId))).ConfigureAwait(false), true), ct);

    public Task<bool> DeleteAccountAsync(Guid accountId, DateTimeOffset now, CancellationToken ct) =>
        WriteAsync(
            async (c, t) =>
            {
                string a = Id(accountId);
                long ms = now.ToUnixTimeMilliseconds();
                int n = await Exec(c, t, "UPDATE accounts SET status = 2, deleted_at = @n, opaque_record = NULL, used_bytes = 0, doc_count = 0, last_seq = last_seq + 1 WHERE id = @a AND status <> 2", ct,
                    ("@n", ms), ("@a", a)).ConfigureAwait(false);
                if (n != 1)
                {
                    return (false, false);
                }

                // Rows go, not just their content: blobs no row names are removed by the collector after its grace period.
                await Exec(c, t, "DELETE FROM documents WHERE account_id = @a", ct, ("@a", a)).ConfigureAwait(false);
                await Exec(c, t, "DELETE FROM tokens WHERE account_id = @a", ct, ("@a", a)).ConfigureAwait(false);
                await Exec(c, t, "DELETE FROM account_slots WHERE account_id = @a", ct, ("@a", a)).ConfigureAwait(false);
                await Exec(c, t, "DELETE FROM pending_logins WHERE account_id = @a", ct, ("@a", a)).ConfigureAwait(false);
                await Exec(c, t, "DELETE FROM login_failures WHERE account_id = @a", ct, ("@a", a)).ConfigureAwait(false);
                await Exec(c, t, "UPDATE devices SET revoked = 1, revoked_at = @n WHERE account_id = @a AND revoked = 0", ct, ("@n", ms), ("@a", a)).ConfigureAwait(false);
                await OnAccountChangedAsync(c, t, accountId, ct).ConfigureAwait(false);
                return (true, true);
            },
            ct);

    public Task<int> PurgeDeletedAccountsAsync(DateTimeOffset cutoff, CancellationToken ct) =>
        WriteAsync(
            async (c, t) =>
            {
                const string Deleted = "SELECT id FROM accounts WHERE status = 2 AND deleted_at <= @c";
                long ms = cutoff.ToUnixTimeMilliseconds();
                await Exec(c, t, $"DELETE FROM documents WHERE account_id IN ({Deleted})", ct, ("@c", ms)).ConfigureAwait(false);
                await Exec(c, t, $"DELETE FROM devices WHERE account_id IN ({Deleted})", ct, ("@c", ms)).ConfigureAwait(false);
                await Exec(c, t, $"DELETE FROM account_slots WHERE account_id IN ({Deleted})", ct, ("@c", ms)).ConfigureAwait(false);
                int n = await Exec(c, t, "DELETE FROM accounts WHERE status = 2 AND deleted_at <= @c", ct, ("@c", ms)).ConfigureAwait(false);
                return (n, true);
            },
            ct);

    private static Task<int> UpsertSlot(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction t, SlotRecord slot, CancellationToken ct) =>
        Exec(c, t, """
            INSERT INTO account_slots (account_id, kind, wrapped, verifier, updated_at) VALUES (@a, @k, @w, @v, @u)
            ON CONFLICT (account_id, kind) DO UPDATE SET wrapped = excluded.wrapped, verifier = excluded.verifier, updated_at = excluded.updated_at
            """, ct,
            ("@a", Id(slot.AccountId)), ("@k", slot.Kind), ("@w", slot.Wrapped), ("@v", slot.Verifier), ("@u", slot.UpdatedAt.ToUnixTimeMilliseconds()));
}
