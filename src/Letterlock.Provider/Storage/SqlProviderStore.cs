using System.Data;
using System.Data.Common;

namespace Letterlock.Provider.Storage;

/// <summary>
/// The SQL shared by both backends. Identifiers are stored as text and times as Unix milliseconds so the
/// same statements run on SQLite and PostgreSQL; subclasses supply connections, the write transaction
/// (SQLite: one writer with group commit; PostgreSQL: a transaction per call) and notification.
/// </summary>
public abstract partial class SqlProviderStore(ChangeNotifier notifier) : IProviderStore
{
    protected ChangeNotifier Notifier { get; } = notifier;

    public abstract string Description { get; }

    protected abstract string BlobType { get; }

    /// <summary>A statement run first in the schema transaction (PostgreSQL: a lock, so nodes starting together do not race).</summary>
    protected virtual string? SchemaLockStatement => null;

    /// <summary>
    /// What a SELECT that leases queue rows appends so that nodes sharing the database skip each other's rows. Empty
    /// for a database with one writer (SQLite), where a SELECT cannot race another node's lease.
    /// </summary>
    protected virtual string LeaseLockClause => string.Empty;

    protected abstract Task<DbConnection> OpenReadConnectionAsync(CancellationToken ct);

    /// <summary>
    /// Runs <paramref name="work"/> in a write transaction. When it returns Keep = false its changes are
    /// rolled back; otherwise they are committed durably before this returns.
    /// </summary>
    protected abstract Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<(T Result, bool Keep)>> work, CancellationToken ct);

    /// <summary>Called inside a write transaction for each account whose change feed moved.</summary>
    protected virtual Task OnAccountChangedAsync(DbConnection connection, DbTransaction transaction, Guid accountId, CancellationToken ct) => Task.CompletedTask;

    /// <summary>Brings the database to the newest schema (<see cref="Migrations"/>), creating it when empty.</summary>
    /// <exception cref="StoreSchemaException">The database was written by a newer provider.</exception>
    public virtual Task InitializeAsync(CancellationToken ct) => MigrateAsync(ct);

    public Task<CreateAccountOutcome> CreateAccountAsync(NewAccount account, NewDevice device, byte[]? inviteHash, CancellationToken ct) =>
        WriteAsync(
            async (c, t) =>
            {
                long now = account.CreatedAt.ToUnixTimeMilliseconds();
                if (inviteHash is not null)
                {
                    int used = await Exec(c, t, "UPDATE invites SET used_at = @now, account_id = @a WHERE hash = @h AND used_at IS NULL AND expires_at > @now", ct,
                        ("@now", now), ("@a", Id(account.Id)), ("@h", inviteHash)).ConfigureAwait(false);
                    if (used != 1)
                    {
                        return (CreateAccountOutcome.InviteInvalid, false);
                    }
                }

                object? existing = await Scalar(c, t, "SELECT 1 FROM accounts WHERE local_part = @l", ct, ("@l", account.LocalPart)).ConfigureAwait(false);
                if (existing is not null)
                {
                    return (CreateAccountOutcome.AddressTaken, false);
                }

                await Exec(c, t, """
                    INSERT INTO accounts (id, local_part, wkd_hash, status, quota_bytes, used_bytes, doc_count, last_seq, openpgp_cert, inbox_key, opaque_record, created_at, keys_updated_at)
                    VALUES (@id, @l, @w, 0, @q, 0, 0, 0, @cert, @inbox, NULL, @now, @now)
                    """, ct,
                    ("@id", Id(account.Id)), ("@l", account.LocalPart), ("@w", account.WkdHash), ("@q", account.QuotaBytes),
                    ("@cert", account.OpenPgpCertificate), ("@inbox", account.InboxPublicKey), ("@now", now)).ConfigureAwait(false);
                await InsertDevice(c, t, device, ct).ConfigureAwait(false);
                return (CreateAccountOutcome.Created, true);
            },
            ct);

    public async Task<AccountRecord?> GetAccountAsync(Guid id, CancellationToken ct) =>
        (await QueryAccounts("WHERE id = @v", ("@v", Id(id)), ct).ConfigureAwait(false)).FirstOrDefault();

    public async Task<AccountRecord?> FindAccountAsync(string localPart, CancellationToken ct) =>
        (await QueryAccounts("WHERE local_part = @v", ("@v", localPart), ct).ConfigureAwait(false)).FirstOrDefault();

    public async Task<AccountRecord?> FindAccountByWkdHashAsync(string wkdHash, CancellationToken ct) =>
        (await QueryAccounts("WHERE wkd_hash = @v", ("@v", wkdHash), ct).ConfigureAwait(false)).FirstOrDefault();

    public Task<IReadOnlyList<AccountRecord>> ListAccountsAsync(CancellationToken ct) => QueryAccounts("WHERE 1 = @v", ("@v", 1), ct);

    public Task<bool> SetAccountStatusAsync(Guid id, AccountStatus status, CancellationToken ct) =>
        WriteAsync(async (c, t) => (await Exec(c, t, "UPDATE accounts SET status = @s WHERE id = @id AND status <> 2", ct, ("@s", (int)status), ("@id", Id(id))).ConfigureAwait(false) == 1, true), ct);

    public Task<bool> SetQuotaAsync(Guid id, long quotaBytes, CancellationToken ct) =>
        WriteAsync(async (c, t) => (await Exec(c, t, "UPDATE accounts SET quota_bytes = @q WHERE id = @id", ct, ("@q", quotaBytes), ("@id", Id(id))).ConfigureAwait(false) == 1, true), ct);

    public Task<bool> UpdateKeysAsync(Guid id, byte[] openPgpCertificate, byte[] inboxPublicKey, DateTimeOffset now, CancellationToken ct) =>
        WriteAsync(
            async (c, t) => (await Exec(c, t, "UPDATE accounts SET openpgp_cert = @c, inbox_key = @i, keys_updated_at = @now WHERE id = @id", ct,
                ("@c", openPgpCertificate), ("@i", inboxPublicKey), ("@now", now.ToUnixTimeMilliseconds()), ("@id", Id(id))).ConfigureAwait(false) == 1, true),
            ct);

    public Task<bool> AddDeviceAsync(NewDevice device, CancellationToken ct) =>
        WriteAsync(
            async (c, t) =>
            {
                object? account = await Scalar(c, t, "SELECT 1 FROM accounts WHERE id = @id AND status = 0", ct, ("@id", Id(device.AccountId))).ConfigureAwait(false);
                if (account is null)
                {
                    return (false, false);
                }

                await InsertDevice(c, t, device, ct).ConfigureAwait(false);
                return (true, true);
            },
            ct);

    public async Task<DeviceRecord?> GetDeviceAsync(Guid id, CancellationToken ct) =>
        (await QueryDevices("WHERE id = @v", ("@v", Id(id)), ct).ConfigureAwait(false)).FirstOrDefault();

    public Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(Guid accountId, CancellationToken ct) =>
        QueryDevices("WHERE account_id = @v", ("@v", Id(accountId)), ct);

    public Task<bool> RevokeDeviceAsync(Guid accountId, Guid deviceId, CancellationToken ct) =>
        WriteAsync(
            async (c, t) =>
            {
                int n = await Exec(c, t, "UPDATE devices SET revoked = 1, revoked_at = @now WHERE id = @d AND account_id = @a AND revoked = 0", ct,
                    ("@d", Id(deviceId)), ("@a", Id(accountId)), ("@now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())).ConfigureAwait(false);
                await Exec(c, t, "DELETE FROM tokens WHERE device_id = @d", ct, ("@d", Id(deviceId))).ConfigureAwait(false);
                return (n == 1, true);
            },
            ct);

    public Task CreateInviteAsync(byte[] hash, DateTimeOffset createdAt, DateTimeOffset expiresAt, CancellationToken ct) =>
        WriteAsync(
            async (c, t) => (await Exec(c, t, "INSERT INTO invites (hash, created_at, expires_at) VALUES (@h, @c, @e)", ct,
                ("@h", hash), ("@c", createdAt.ToUnixTimeMilliseconds()), ("@e", expiresAt.ToUnixTimeMilliseconds())).ConfigureAwait(false), true),
            ct);

    public Task StoreChallengeAsync(ChallengeRecord challenge, CancellationToken ct) =>
        WriteAsync(
            async (c, t) => (await Exec(c, t, "INSERT INTO challenges (id, device_id, challenge, expires_at) VALUES (@id, @d, @c, @e)", ct,
                ("@id", Id(challenge.Id)), ("@d", Id(challenge.DeviceId)), ("@c", challenge.Challenge), ("@e", challenge.ExpiresAt.ToUnixTimeMilliseconds())).ConfigureAwait(false), true),
            ct);

    public Task<ChallengeRecord?> ConsumeChallengeAsync(Guid id, CancellationToken ct) =>
        WriteAsync<ChallengeRecord?>(
            async (c, t) =>
            {
                await using var command = Command(c, t, "DELETE FROM challenges WHERE id = @id RETURNING device_id, challenge, expires_at", ("@id", Id(id)));
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    return (null, true);
                }

                return (new ChallengeRecord(id, Guid.Parse(reader.GetString(0)), (byte[])reader.GetValue(1), Time(reader.GetInt64(2))), true);
            },
            ct);

    public Task StoreTokenAsync(byte[] hash, TokenRecord token, CancellationToken ct) =>
        WriteAsync(
            async (c, t) => (await Exec(c, t, "INSERT INTO tokens (hash, device_id, account_id, expires_at) VALUES (@h, @d, @a, @e)", ct,
                ("@h", hash), ("@d", Id(token.DeviceId)), ("@a", Id(token.AccountId)), ("@e", token.ExpiresAt.ToUnixTimeMilliseconds())).ConfigureAwait(false), true),
            ct);

    /// <summary>Asks the database the cheapest question there is: the health check's "is it reachable".</summary>
    public async Task PingAsync(CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = Command(connection, null, "SELECT 1");
            await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
        }
    }

    public async Task<TokenRecord?> FindTokenAsync(byte[] hash, CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = Command(connection, null, "SELECT device_id, account_id, expires_at FROM tokens WHERE hash = @h", ("@h", hash));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? new TokenRecord(Guid.Parse(reader.GetString(0)), Guid.Parse(reader.GetString(1)), Time(reader.GetInt64(2)))
                : null;
        }
    }

    public Task<WriteOutcome> PutDocumentAsync(DocumentWrite write, CancellationToken ct) =>
        WriteAsync(async (c, t) =>
            {
                var outcome = await PutDocument(c, t, write, ct).ConfigureAwait(false);
                return (outcome, outcome.Status == WriteStatus.Ok);
            },
            ct);

    public Task<IReadOnlyList<WriteOutcome>> WriteDocumentsAsync(Guid accountId, IReadOnlyList<BatchWrite> writes, DateTimeOffset now, CancellationToken ct) =>
        WriteAsync<IReadOnlyList<WriteOutcome>>(
            async (c, t) =>
            {
                var outcomes = new WriteOutcome[writes.Count];
                bool changed = false;
                for (int i = 0; i < writes.Count; i++)
                {
                    var write = writes[i];
                    if (write.Requires is { } required)
                    {
                        var current = await CurrentDocument(c, t, accountId, required.Id, ct).ConfigureAwait(false);
                        if (current is not { Deleted: false } || current.Revision != required.Revision)
                        {
                            outcomes[i] = new WriteOutcome(WriteStatus.Conflict);
                            continue;
                        }
                    }

                    outcomes[i] = write.Content is { } content
                        ? await PutDocument(c, t, new DocumentWrite(accountId, write.Id, write.Kind!, write.ExpectedRevision, content, now), ct).ConfigureAwait(false)
                        : await DeleteDocument(c, t, accountId, write.Id, write.ExpectedRevision!.Value, now, ct).ConfigureAwait(false);
                    changed |= outcomes[i].Status == WriteStatus.Ok;
                }

                return (outcomes, changed);
            },
            ct);

    /// <summary>A PUT inside the caller's transaction.</summary>
    private async Task<WriteOutcome> PutDocument(DbConnection c, DbTransaction t, DocumentWrite write, CancellationToken ct)
    {
        var account = await NextSequence(c, t, write.AccountId, ct).ConfigureAwait(false);
        if (account is null)
        {
            return new WriteOutcome(WriteStatus.AccountUnavailable);
        }

        var existing = await CurrentDocument(c, t, write.AccountId, write.Id, ct).ConfigureAwait(false);
        bool live = existing is { Deleted: false };
        bool preconditionHolds = write.ExpectedRevision is null ? !live : live && existing!.Revision == write.ExpectedRevision;
        if (!preconditionHolds)
        {
            return new WriteOutcome(WriteStatus.Conflict, CurrentRevision: live ? existing!.Revision : null);
        }

        long delta = write.Content.Size - (live ? existing!.Size : 0);
        if (delta > 0 && account.Value.Used + delta > account.Value.Quota)
        {
            return new WriteOutcome(WriteStatus.QuotaExceeded);
        }

        var info = new StoredDocumentInfo(write.Id, write.Kind, (existing?.Revision ?? 0) + 1, account.Value.Sequence, write.Content.Size, false, write.Now);
        await UpsertDocument(c, t, write.AccountId, info, write.Content, write.Content.Size, ct).ConfigureAwait(false);
        await Exec(c, t, "UPDATE accounts SET used_bytes = used_bytes + @d, doc_count = doc_count + @n WHERE id = @a", ct,
            ("@d", delta), ("@n", live ? 0 : 1), ("@a", Id(write.AccountId))).ConfigureAwait(false);
        await OnAccountChangedAsync(c, t, write.AccountId, ct).ConfigureAwait(false);
        return new WriteOutcome(WriteStatus.Ok, info);
    }

    public virtual Task<IReadOnlyList<WriteOutcome>> AppendInboxAsync(IReadOnlyList<InboxWrite> writes, CancellationToken ct) =>
        WriteAsync<IReadOnlyList<WriteOutcome>>(
            async (c, t) =>
            {
                // All recipients of one message in one transaction: after a crash the message is either
                // in every inbox or in none, so a retry by the sending MTA cannot duplicate it.
                var outcomes = new WriteOutcome[writes.Count];
                bool allOk = true;
                for (int i = 0; i < writes.Count; i++)
                {
                    var write = writes[i];

                    // One statement reserves the sequence number and the quota and takes the row lock; the
                    // rare refusal is told apart afterwards.
                    await using var reserve = Command(c, t,
                        "UPDATE accounts SET last_seq = last_seq + 1, used_bytes = used_bytes + @d, doc_count = doc_count + 1 WHERE id = @a AND status = 0 AND used_bytes + @d <= quota_bytes RETURNING last_seq",
                        ("@d", write.Content.Size), ("@a", Id(write.AccountId)));
                    object? sequence = await reserve.ExecuteScalarAsync(ct).ConfigureAwait(false);
                    if (sequence is null or DBNull)
                    {
                        object? active = await Scalar(c, t, "SELECT 1 FROM accounts WHERE id = @a AND status = 0", ct, ("@a", Id(write.AccountId))).ConfigureAwait(false);
                        outcomes[i] = new WriteOutcome(active is null ? WriteStatus.AccountUnavailable : WriteStatus.QuotaExceeded);
                        allOk = false;
                        continue;
                    }

                    // The id says nothing about the message: random, like every inbox document's metadata.
                    var info = new StoredDocumentInfo("in-" + Guid.NewGuid().ToString("N"), "inbox", 1, Convert.ToInt64(sequence, System.Globalization.CultureInfo.InvariantCulture), write.Content.Size, false, write.ArrivedAt);
                    await UpsertDocument(c, t, write.AccountId, info, write.Content, write.PaddedSize, ct).ConfigureAwait(false);
                    await OnAccountChangedAsync(c, t, write.AccountId, ct).ConfigureAwait(false);
                    outcomes[i] = new WriteOutcome(WriteStatus.Ok, info);
                }

                return (outcomes, allOk);
            },
            ct);

    public async Task<StoredDocument?> GetDocumentAsync(Guid accountId, string id, CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = Command(connection, null,
                "SELECT id, kind, revision, seq, size, deleted, modified_at, inline_data, blob_hash FROM documents WHERE account_id = @a AND id = @id",
                ("@a", Id(accountId)), ("@id", id));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            var info = ReadInfo(reader);
            CiphertextRef? content = info.Deleted ? null
                : !await reader.IsDBNullAsync(8, ct).ConfigureAwait(false) ? CiphertextRef.Blob(reader.GetString(8), info.Size)
                : CiphertextRef.InlineBytes((byte[])reader.GetValue(7));
            return new StoredDocument(info, content);
        }
    }

    public async Task<IReadOnlyList<StoredDocument>> GetDocumentsAsync(Guid accountId, IReadOnlyList<string> ids, CancellationToken ct)
    {
        var documents = new List<StoredDocument>(ids.Count);
        if (ids.Count == 0)
        {
            return documents;
        }

        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // One statement per chunk of ids (both engines take a few hundred parameters without trouble).
            foreach (var chunk in ids.Chunk(200))
            {
                var parameters = chunk.Select((id, i) => (Name: "@i" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), Value: (object?)id))
                    .Prepend((Name: "@a", Value: (object?)Id(accountId))).ToArray();
                await using var command = Command(connection, null,
                    "SELECT id, kind, revision, seq, size, deleted, modified_at, inline_data, blob_hash FROM documents WHERE account_id = @a AND id IN (" +
                    string.Join(", ", parameters.Skip(1).Select(p => p.Name)) + ")", parameters);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var info = ReadInfo(reader);
                    CiphertextRef? content = info.Deleted ? null
                        : !await reader.IsDBNullAsync(8, ct).ConfigureAwait(false) ? CiphertextRef.Blob(reader.GetString(8), info.Size)
                        : CiphertextRef.InlineBytes((byte[])reader.GetValue(7));
                    documents.Add(new StoredDocument(info, content));
                }
            }
        }

        return documents;
    }

    public async Task<bool> IsBlobReferencedAsync(string hash, CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = Command(connection, null, "SELECT 1 FROM documents WHERE blob_hash = @h LIMIT 1", ("@h", hash));
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
        }
    }

    public Task<WriteOutcome> DeleteDocumentAsync(Guid accountId, string id, long expectedRevision, DateTimeOffset now, CancellationToken ct) =>
        WriteAsync(async (c, t) =>
            {
                var outcome = await DeleteDocument(c, t, accountId, id, expectedRevision, now, ct).ConfigureAwait(false);
                return (outcome, outcome.Status == WriteStatus.Ok);
            },
            ct);

    /// <summary>A DELETE inside the caller's transaction.</summary>
    private async Task<WriteOutcome> DeleteDocument(DbConnection c, DbTransaction t, Guid accountId, string id, long expectedRevision, DateTimeOffset now, CancellationToken ct)
    {
        var existing = await CurrentDocument(c, t, accountId, id, ct).ConfigureAwait(false);
        if (existing is null || existing.Deleted)
        {
            return new WriteOutcome(WriteStatus.NotFound);
        }

        if (existing.Revision != expectedRevision)
        {
            return new WriteOutcome(WriteStatus.Conflict, CurrentRevision: existing.Revision);
        }

        var account = await NextSequence(c, t, accountId, ct).ConfigureAwait(false);
        if (account is null)
        {
            return new WriteOutcome(WriteStatus.AccountUnavailable);
        }

        var info = new StoredDocumentInfo(id, existing.Kind, existing.Revision + 1, account.Value.Sequence, 0, true, now);
        await UpsertDocument(c, t, accountId, info, null, 0, ct).ConfigureAwait(false);
        await Exec(c, t, "UPDATE accounts SET used_bytes = used_bytes - @d, doc_count = doc_count - 1 WHERE id = @a", ct,
            ("@d", existing.Size), ("@a", Id(accountId))).ConfigureAwait(false);
        await OnAccountChangedAsync(c, t, accountId, ct).ConfigureAwait(false);
        return new WriteOutcome(WriteStatus.Ok, info);
    }

    public async Task<ChangesPage> GetChangesAsync(Guid accountId, long since, int limit, CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = Command(connection, null,
                "SELECT id, kind, revision, seq, size, deleted, modified_at FROM documents WHERE account_id = @a AND seq > @s ORDER BY seq LIMIT @l",
                ("@a", Id(accountId)), ("@s", since), ("@l", limit + 1));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var changes = new List<StoredDocumentInfo>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                changes.Add(ReadInfo(reader));
            }

            bool hasMore = changes.Count > limit;
            if (hasMore)
            {
                changes.RemoveAt(changes.Count - 1);
            }

            return new ChangesPage(changes, changes.Count > 0 ? changes[^1].Sequence : since, hasMore);
        }
    }

    public Task PurgeExpiredAsync(DateTimeOffset now, CancellationToken ct) =>
        WriteAsync(
            async (c, t) =>
            {
                long ms = now.ToUnixTimeMilliseconds();
                await Exec(c, t, "DELETE FROM challenges WHERE expires_at <= @n", ct, ("@n", ms)).ConfigureAwait(false);
                await Exec(c, t, "DELETE FROM tokens WHERE expires_at <= @n", ct, ("@n", ms)).ConfigureAwait(false);
                await Exec(c, t, "DELETE FROM pending_logins WHERE expires_at <= @n", ct, ("@n", ms)).ConfigureAwait(false);
                await PurgePrekeysAsync(c, t, ms, ct).ConfigureAwait(false);
                // every window is at most an hour; a day-old count limits nothing
                await Exec(c, t, "DELETE FROM rate_limits WHERE window_start < @n", ct, ("@n", ms - (24 * 3600 * 1000))).ConfigureAwait(false);
                return (true, true);
            },
            ct);

    public Task<(long Attempts, DateTimeOffset WindowStart)> CountAttemptAsync(string kind, string key, DateTimeOffset now, TimeSpan window, CancellationToken ct) =>
        WriteAsync(
            async (c, t) =>
            {
                // In the SET list rate_limits.* is the row before the update, on both backends.
                await using var command = Command(c, t, """
                    INSERT INTO rate_limits (kind, client, window_start, attempts) VALUES (@k, @c, @n, 1)
                    ON CONFLICT (kind, client) DO UPDATE SET
                        attempts = CASE WHEN rate_limits.window_start > @open THEN rate_limits.attempts + 1 ELSE 1 END,
                        window_start = CASE WHEN rate_limits.window_start > @open THEN rate_limits.window_start ELSE @n END
                    RETURNING attempts, window_start
                    """, ("@k", kind), ("@c", key), ("@n", now.ToUnixTimeMilliseconds()), ("@open", (now - window).ToUnixTimeMilliseconds()));
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await reader.ReadAsync(ct).ConfigureAwait(false);
                return ((reader.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1))), true);
            },
            ct);

    public abstract ValueTask DisposeAsync();

    private static async Task<(long Sequence, long Used, long Quota)?> NextSequence(DbConnection c, DbTransaction t, Guid accountId, CancellationToken ct)
    {
        // Takes the account row's write lock (PostgreSQL) for the rest of the transaction, so revisions,
        // quota and sequence numbers of one account change one writer at a time.
        await using var command = Command(c, t, "UPDATE accounts SET last_seq = last_seq + 1 WHERE id = @a AND status = 0 RETURNING last_seq, used_bytes, quota_bytes", ("@a", Id(accountId)));
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)) : null;
    }

    private static async Task<StoredDocumentInfo?> CurrentDocument(DbConnection c, DbTransaction t, Guid accountId, string id, CancellationToken ct)
    {
        await using var command = Command(c, t, "SELECT id, kind, revision, seq, size, deleted, modified_at FROM documents WHERE account_id = @a AND id = @id", ("@a", Id(accountId)), ("@id", id));
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadInfo(reader) : null;
    }

    protected static Task<int> UpsertDocument(DbConnection c, DbTransaction t, Guid accountId, StoredDocumentInfo info, CiphertextRef? content, long paddedSize, CancellationToken ct) =>
        Exec(c, t, """
            INSERT INTO documents (account_id, id, kind, revision, seq, size, padded_size, modified_at, deleted, inline_data, blob_hash)
            VALUES (@a, @id, @k, @r, @s, @z, @p, @m, @d, @data, @blob)
            ON CONFLICT (account_id, id) DO UPDATE SET kind = excluded.kind, revision = excluded.revision, seq = excluded.seq,
                size = excluded.size, padded_size = excluded.padded_size, modified_at = excluded.modified_at, deleted = excluded.deleted,
                inline_data = excluded.inline_data, blob_hash = excluded.blob_hash
            """, ct,
            ("@a", Id(accountId)), ("@id", info.Id), ("@k", info.Kind), ("@r", info.Revision), ("@s", info.Sequence), ("@z", info.Size),
            ("@p", paddedSize), ("@m", info.ModifiedAt.ToUnixTimeMilliseconds()), ("@d", info.Deleted ? 1 : 0),
            ("@data", (object?)content?.Inline ?? DBNull.Value), ("@blob", (object?)content?.BlobHash ?? DBNull.Value));

    private static Task InsertDevice(DbConnection c, DbTransaction t, NewDevice device, CancellationToken ct) =>
        Exec(c, t, "INSERT INTO devices (id, account_id, public_key, name, created_at, revoked) VALUES (@id, @a, @k, @n, @c, 0)", ct,
            ("@id", Id(device.Id)), ("@a", Id(device.AccountId)), ("@k", device.PublicKey), ("@n", device.Name), ("@c", device.CreatedAt.ToUnixTimeMilliseconds()));

    private async Task<IReadOnlyList<AccountRecord>> QueryAccounts(string where, (string, object) parameter, CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = Command(connection, null,
                $"SELECT id, local_part, wkd_hash, status, quota_bytes, used_bytes, doc_count, openpgp_cert, inbox_key, opaque_record, created_at, keys_updated_at, deleted_at FROM accounts {where} ORDER BY local_part",
                parameter);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var list = new List<AccountRecord>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add(new AccountRecord(
                    Guid.Parse(reader.GetString(0)), reader.GetString(1), reader.GetString(2), (AccountStatus)reader.GetInt32(3),
                    reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), (byte[])reader.GetValue(7), (byte[])reader.GetValue(8),
                    await reader.IsDBNullAsync(9, ct).ConfigureAwait(false) ? null : (byte[])reader.GetValue(9), Time(reader.GetInt64(10)), Time(reader.GetInt64(11)),
                    await reader.IsDBNullAsync(12, ct).ConfigureAwait(false) ? null : Time(reader.GetInt64(12))));
            }

            return list;
        }
    }

    private async Task<IReadOnlyList<DeviceRecord>> QueryDevices(string where, (string, object) parameter, CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = Command(connection, null, $"SELECT id, account_id, public_key, name, created_at, revoked, last_seen_at, revoked_at FROM devices {where} ORDER BY created_at", parameter);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var list = new List<DeviceRecord>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add(new DeviceRecord(Guid.Parse(reader.GetString(0)), Guid.Parse(reader.GetString(1)), (byte[])reader.GetValue(2), reader.GetString(3), Time(reader.GetInt64(4)), reader.GetInt32(5) != 0,
                    await reader.IsDBNullAsync(6, ct).ConfigureAwait(false) ? null : Time(reader.GetInt64(6)),
                    await reader.IsDBNullAsync(7, ct).ConfigureAwait(false) ? null : Time(reader.GetInt64(7))));
            }

            return list;
        }
    }

    private static StoredDocumentInfo ReadInfo(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt32(5) != 0, Time(r.GetInt64(6)));

    protected static string Id(Guid id) => id.ToString("D");

    protected static DateTimeOffset Time(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs);

    protected internal static DbCommand Command(DbConnection c, DbTransaction? t, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = c.CreateCommand();
        command.Transaction = t;
#pragma warning disable CA2100 // statements are constants of this class; values are always parameters
        command.CommandText = sql;
#pragma warning restore CA2100
        foreach (var (name, value) in parameters)
        {
            var p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            if (value is byte[])
            {
                p.DbType = DbType.Binary;
            }

            command.Parameters.Add(p);
        }

        return command;
    }

    protected internal static async Task<int> Exec(DbConnection c, DbTransaction? t, string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(c, t, sql, parameters);
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    protected internal static async Task<object?> Scalar(DbConnection c, DbTransaction? t, string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(c, t, sql, parameters);
        object? value = await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }
}
