using System.Data;
using System.Data.Common;
using System.Text;
using Letterlock.Provider.Storage;
using Letterlock.Transparency;

namespace Letterlock.Provider.Transparency;

/// <summary>Another provider node committed the epoch first; this node's epoch is discarded and redone from the new state.</summary>
public sealed class TransparencyConflictException(string message) : Exception(message);

/// <summary>
/// <see cref="ITransparencyStore"/> on SQLite or PostgreSQL (the same statements on both). Tables:
/// <c>kt_heads</c> (one row per epoch: signed head and leaf changes), <c>kt_prefix_nodes</c> (immutable nodes
/// under their hash), <c>kt_log_nodes</c> (complete-subtree hashes), <c>kt_addresses</c>/<c>kt_versions</c>
/// (the provider's entries), plus <c>kt_pending</c> (key changes waiting for an epoch) and <c>kt_meta</c>.
/// An epoch is one transaction; its head row is written last in it, so a reader that found a head finds
/// everything it refers to. Nodes are content-addressed and never change, so they are cached in memory.
/// </summary>
public sealed class SqlTransparencyStore : ITransparencyStore, IAsyncDisposable
{
    // Rows per multi-row INSERT: well under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
    private const int InsertChunk = 400;
    private readonly TransparencyDatabase _database;
    private readonly bool _ownsDatabase;
    private readonly TwoGenerationCache<Hash256, PrefixNode> _nodes;
    private readonly TwoGenerationCache<(int, long), Hash256> _logNodes;

    /// <summary>Creates the store over <paramref name="database"/>; call <see cref="InitializeAsync"/> before use.</summary>
    /// <param name="database">Where the tables live.</param>
    /// <param name="nodeCacheSize">Prefix-tree nodes kept in memory (0 for none).</param>
    /// <param name="ownsDatabase">Dispose <paramref name="database"/> with the store.</param>
    public SqlTransparencyStore(TransparencyDatabase database, int nodeCacheSize = 200_000, bool ownsDatabase = true)
    {
        _database = database ?? throw new ArgumentNullException(nameof(database));
        _ownsDatabase = ownsDatabase;
        _nodes = new TwoGenerationCache<Hash256, PrefixNode>(nodeCacheSize);
        _logNodes = new TwoGenerationCache<(int, long), Hash256>(Math.Min(nodeCacheSize, 100_000));
    }

    /// <summary>The database, for messages.</summary>
    public TransparencyDatabase Database => _database;

    /// <summary>Creates the tables when they are missing.</summary>
    public async Task InitializeAsync(CancellationToken ct)
    {
        string blob = _database.BlobType;
        string[] schema =
        [
            $"CREATE TABLE IF NOT EXISTS kt_heads (epoch BIGINT PRIMARY KEY, head {blob} NOT NULL, changes {blob} NOT NULL, change_count BIGINT NOT NULL)",
            $"CREATE TABLE IF NOT EXISTS kt_prefix_nodes (hash {blob} PRIMARY KEY, node {blob} NOT NULL)",
            $"CREATE TABLE IF NOT EXISTS kt_log_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash {blob} NOT NULL, PRIMARY KEY (level, idx))",
            $"CREATE TABLE IF NOT EXISTS kt_addresses (address TEXT PRIMARY KEY, idx {blob} NOT NULL, vrf_proof {blob} NOT NULL, latest_version BIGINT NOT NULL)",
            $"CREATE TABLE IF NOT EXISTS kt_versions (address TEXT NOT NULL, version BIGINT NOT NULL, epoch BIGINT NOT NULL, entry {blob} NOT NULL, PRIMARY KEY (address, version))",
            $"CREATE TABLE IF NOT EXISTS kt_pending (id {_database.SerialPrimaryKey}, account_id TEXT NOT NULL, queued_at BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS kt_pending_account ON kt_pending (account_id)",
            $"CREATE TABLE IF NOT EXISTS kt_meta (name TEXT PRIMARY KEY, value {blob} NOT NULL)",
        ];
        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await _database.BeginWriteAsync(connection, epochLock: true, ct).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                foreach (string statement in schema)
                {
                    await SqlProviderStore.Exec(connection, transaction, statement, ct).ConfigureAwait(false);
                }

                await transaction.CommitAsync(ct).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<PrefixNode?> GetPrefixNodeAsync(Hash256 hash, CancellationToken cancellationToken)
    {
        if (_nodes.TryGet(hash, out PrefixNode? cached))
        {
            return cached;
        }

        byte[]? bytes = await ScalarBytesAsync("SELECT node FROM kt_prefix_nodes WHERE hash = @h", cancellationToken, ("@h", hash.ToArray())).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        PrefixNode node = PrefixNode.FromBytes(bytes);
        if (node.Hash != hash)
        {
            throw new InvalidDataException($"Prefix-tree node {hash} is corrupt in {_database.Description}.");
        }

        _nodes.Add(hash, node);
        return node;
    }

    /// <inheritdoc />
    public async ValueTask<Hash256> GetLogNodeAsync(int level, long index, CancellationToken cancellationToken)
    {
        if (_logNodes.TryGet((level, index), out Hash256 cached))
        {
            return cached;
        }

        byte[] bytes = await ScalarBytesAsync("SELECT hash FROM kt_log_nodes WHERE level = @l AND idx = @i", cancellationToken, ("@l", level), ("@i", index)).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Log node ({level}, {index}) is missing from the store.");
        var hash = new Hash256(bytes);
        _logNodes.Add((level, index), hash);
        return hash;
    }

    /// <inheritdoc />
    public async ValueTask<SignedTreeHead?> GetHeadAsync(long epoch, CancellationToken cancellationToken)
    {
        byte[]? bytes = await ScalarBytesAsync("SELECT head FROM kt_heads WHERE epoch = @e", cancellationToken, ("@e", epoch)).ConfigureAwait(false);
        return bytes is null ? null : SignedTreeHead.FromBytes(bytes);
    }

    /// <inheritdoc />
    public async ValueTask<SignedTreeHead?> GetLatestHeadAsync(CancellationToken cancellationToken)
    {
        byte[]? bytes = await ScalarBytesAsync("SELECT head FROM kt_heads ORDER BY epoch DESC LIMIT 1", cancellationToken).ConfigureAwait(false);
        return bytes is null ? null : SignedTreeHead.FromBytes(bytes);
    }

    /// <summary>Heads of epochs <paramref name="from"/> .. <paramref name="from"/> + <paramref name="limit"/> - 1 that exist, in order.</summary>
    public async Task<IReadOnlyList<SignedTreeHead>> GetHeadsAsync(long from, int limit, CancellationToken ct)
    {
        var heads = new List<SignedTreeHead>();
        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = SqlProviderStore.Command(connection, null, "SELECT head FROM kt_heads WHERE epoch >= @f AND epoch < @t ORDER BY epoch", ("@f", from), ("@t", from + limit));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                heads.Add(SignedTreeHead.FromBytes((byte[])reader.GetValue(0)));
            }
        }

        return heads;
    }

    /// <inheritdoc />
    public async ValueTask<AddressRecord?> GetAddressAsync(string address, CancellationToken cancellationToken)
    {
        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = SqlProviderStore.Command(connection, null, "SELECT idx, vrf_proof, latest_version FROM kt_addresses WHERE address = @a", ("@a", address));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            return new AddressRecord(address, new Hash256((byte[])reader.GetValue(0)), (byte[])reader.GetValue(1), (ulong)reader.GetInt64(2));
        }
    }

    /// <inheritdoc />
    public async ValueTask<DirectoryEntry?> GetAddressVersionAsync(string address, ulong version, CancellationToken cancellationToken)
    {
        byte[]? bytes = await ScalarBytesAsync("SELECT entry FROM kt_versions WHERE address = @a AND version = @v", cancellationToken, ("@a", address), ("@v", (long)version)).ConfigureAwait(false);
        return bytes is null ? null : DirectoryEntry.FromBytes(bytes);
    }

    /// <summary>The newest published entries of <paramref name="addresses"/> (those that have one), read in batches.</summary>
    public async Task<Dictionary<string, DirectoryEntry>> GetLatestEntriesAsync(IReadOnlyList<string> addresses, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var entries = new Dictionary<string, DirectoryEntry>(StringComparer.Ordinal);
        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            foreach (var chunk in addresses.Distinct(StringComparer.Ordinal).Chunk(InsertChunk))
            {
                var names = chunk.Select((_, i) => $"@a{i}").ToArray();
                await using var command = SqlProviderStore.Command(connection, null,
                    $"SELECT a.address, v.entry FROM kt_addresses a JOIN kt_versions v ON v.address = a.address AND v.version = a.latest_version WHERE a.address IN ({string.Join(", ", names)})",
                    [.. chunk.Select((address, i) => (names[i], (object?)address))]);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    entries[reader.GetString(0)] = DirectoryEntry.FromBytes((byte[])reader.GetValue(1));
                }
            }
        }

        return entries;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<AddressRecord?>> GetAddressesAsync(IReadOnlyList<string> addresses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var found = new Dictionary<string, AddressRecord>(StringComparer.Ordinal);
        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            foreach (var chunk in addresses.Distinct(StringComparer.Ordinal).Chunk(InsertChunk))
            {
                var names = chunk.Select((_, i) => $"@a{i}").ToArray();
                await using var command = SqlProviderStore.Command(connection, null,
                    $"SELECT address, idx, vrf_proof, latest_version FROM kt_addresses WHERE address IN ({string.Join(", ", names)})",
                    [.. chunk.Select((address, i) => (names[i], (object?)address))]);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    string address = reader.GetString(0);
                    found[address] = new AddressRecord(address, new Hash256((byte[])reader.GetValue(1)), (byte[])reader.GetValue(2), (ulong)reader.GetInt64(3));
                }
            }
        }

        return addresses.Select(a => found.GetValueOrDefault(a)).ToList();
    }

    /// <summary>The newest published entry of <paramref name="address"/> (which may be newer than the newest head while an epoch commits), or null.</summary>
    public async Task<DirectoryEntry?> GetLatestEntryAsync(string address, CancellationToken ct)
    {
        byte[]? bytes = await ScalarBytesAsync(
            "SELECT v.entry FROM kt_versions v JOIN kt_addresses a ON a.address = v.address AND a.latest_version = v.version WHERE a.address = @a", ct, ("@a", address)).ConfigureAwait(false);
        return bytes is null ? null : DirectoryEntry.FromBytes(bytes);
    }

    /// <inheritdoc />
    public async ValueTask<EpochAudit?> GetEpochAuditAsync(long epoch, CancellationToken cancellationToken)
    {
        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = SqlProviderStore.Command(connection, null, "SELECT head, changes FROM kt_heads WHERE epoch = @e", ("@e", epoch));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            return new EpochAudit(SignedTreeHead.FromBytes((byte[])reader.GetValue(0)), DecodeChanges((byte[])reader.GetValue(1)));
        }
    }

    /// <summary>The stored encoding of an epoch's audit record without decoding it (what auditors download).</summary>
    public async Task<byte[]?> GetEpochAuditBytesAsync(long epoch, CancellationToken ct)
    {
        var audit = await GetEpochAuditAsync(epoch, ct).ConfigureAwait(false);
        return audit?.ToBytes();
    }

    /// <inheritdoc />
    public async ValueTask CommitEpochAsync(EpochCommit commit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commit);
        SignedTreeHead head = commit.Audit.Head;
        var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await _database.BeginWriteAsync(connection, epochLock: true, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                object? latest = await SqlProviderStore.Scalar(connection, transaction, "SELECT MAX(epoch) FROM kt_heads", cancellationToken).ConfigureAwait(false);
                long expected = latest is null ? 0 : Convert.ToInt64(latest, System.Globalization.CultureInfo.InvariantCulture) + 1;
                if (head.Epoch != expected)
                {
                    throw new TransparencyConflictException($"Epoch {head.Epoch} cannot be committed: the store expects epoch {expected} (another node published).");
                }

                await InsertManyAsync(connection, transaction, "kt_prefix_nodes", ["hash", "node"], " ON CONFLICT (hash) DO NOTHING",
                    commit.PrefixNodes.Select(n => new object[] { n.Hash.ToArray(), n.ToBytes() }), cancellationToken).ConfigureAwait(false);
                await InsertManyAsync(connection, transaction, "kt_log_nodes", ["level", "idx", "hash"], " ON CONFLICT (level, idx) DO NOTHING",
                    commit.LogNodes.Select(n => new object[] { n.Level, n.Index, n.Hash.ToArray() }), cancellationToken).ConfigureAwait(false);
                await InsertManyAsync(connection, transaction, "kt_versions", ["address", "version", "epoch", "entry"], "",
                    commit.AddressVersions.Select(v => new object[] { v.Address, (long)v.Entry.Version, (long)v.Entry.Epoch, v.Entry.ToBytes() }), cancellationToken).ConfigureAwait(false);
                await InsertManyAsync(connection, transaction, "kt_addresses", ["address", "idx", "vrf_proof", "latest_version"],
                    " ON CONFLICT (address) DO UPDATE SET latest_version = excluded.latest_version",
                    commit.AddressVersions.Select(v => new object[] { v.Address, v.Index.ToArray(), v.VrfProof.ToArray(), (long)v.Entry.Version }), cancellationToken).ConfigureAwait(false);
                await SqlProviderStore.Exec(connection, transaction, "INSERT INTO kt_heads (epoch, head, changes, change_count) VALUES (@e, @h, @c, @n)", cancellationToken,
                    ("@e", head.Epoch), ("@h", head.ToBytes()), ("@c", EncodeChanges(commit.Audit.Changes)), ("@n", (long)commit.Audit.Changes.Count)).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        // Committed nodes are final: the next epoch's paths start from them.
        foreach (var (level, index, hash) in commit.LogNodes)
        {
            _logNodes.Add((level, index), hash);
        }

        foreach (PrefixNode node in commit.PrefixNodes)
        {
            _nodes.Add(node.Hash, node);
        }
    }

    /// <summary>Queues a key change of <paramref name="accountId"/> for the next epoch (durable when this returns).</summary>
    public async Task EnqueueAsync(Guid accountId, DateTimeOffset now, CancellationToken ct)
    {
        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await _database.BeginWriteAsync(connection, epochLock: false, ct).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                await SqlProviderStore.Exec(connection, transaction, "INSERT INTO kt_pending (account_id, queued_at) VALUES (@a, @t)", ct,
                    ("@a", accountId.ToString("D")), ("@t", now.ToUnixTimeMilliseconds())).ConfigureAwait(false);
                await transaction.CommitAsync(ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Queues every account (the first epoch of a provider that already has accounts).</summary>
    public async Task EnqueueAllAccountsAsync(DateTimeOffset now, CancellationToken ct)
    {
        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await _database.BeginWriteAsync(connection, epochLock: false, ct).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                await SqlProviderStore.Exec(connection, transaction, "INSERT INTO kt_pending (account_id, queued_at) SELECT id, @t FROM accounts", ct, ("@t", now.ToUnixTimeMilliseconds())).ConfigureAwait(false);
                await transaction.CommitAsync(ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Up to <paramref name="limit"/> accounts with queued changes, oldest first, each with the newest queue id
    /// seen (pass it to <see cref="DequeueAsync"/> once published).
    /// </summary>
    public async Task<IReadOnlyList<(Guid AccountId, long UpTo)>> GetPendingAsync(int limit, CancellationToken ct)
    {
        var pending = new List<(Guid, long)>();
        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = SqlProviderStore.Command(connection, null,
                "SELECT account_id, MAX(id) FROM kt_pending GROUP BY account_id ORDER BY MIN(id) LIMIT @n", ("@n", limit));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                pending.Add((Guid.Parse(reader.GetString(0)), reader.GetInt64(1)));
            }
        }

        return pending;
    }

    /// <summary>Removes the queued changes that have been handled (those queued later stay).</summary>
    public async Task DequeueAsync(IReadOnlyList<(Guid AccountId, long UpTo)> handled, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(handled);
        if (handled.Count == 0)
        {
            return;
        }

        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await _database.BeginWriteAsync(connection, epochLock: false, ct).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                foreach (var (account, upTo) in handled)
                {
                    await SqlProviderStore.Exec(connection, transaction, "DELETE FROM kt_pending WHERE account_id = @a AND id <= @u", ct, ("@a", account.ToString("D")), ("@u", upTo)).ConfigureAwait(false);
                }

                await transaction.CommitAsync(ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Number of queued changes (rows), for status and tests.</summary>
    public async Task<long> CountPendingAsync(CancellationToken ct)
    {
        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            object? count = await SqlProviderStore.Scalar(connection, null, "SELECT COUNT(*) FROM kt_pending", ct).ConfigureAwait(false);
            return Convert.ToInt64(count ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>A value of the <c>kt_meta</c> table (an auditor's pinned provider identity), or null.</summary>
    public Task<byte[]?> GetMetaAsync(string name, CancellationToken ct) =>
        ScalarBytesAsync("SELECT value FROM kt_meta WHERE name = @n", ct, ("@n", name));

    /// <summary>Sets a value of the <c>kt_meta</c> table.</summary>
    public async Task SetMetaAsync(string name, byte[] value, CancellationToken ct)
    {
        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await _database.BeginWriteAsync(connection, epochLock: true, ct).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                await SqlProviderStore.Exec(connection, transaction, "INSERT INTO kt_meta (name, value) VALUES (@n, @v) ON CONFLICT (name) DO UPDATE SET value = excluded.value", ct,
                    ("@n", name), ("@v", value)).ConfigureAwait(false);
                await transaction.CommitAsync(ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Totals for summaries: epochs, addresses (entries), versions, and leaf changes over all epochs.</summary>
    public async Task<(long Epochs, long Addresses, long Versions, long LeafChanges)> CountAsync(CancellationToken ct)
    {
        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            static long L(object? v) => v is null ? 0 : Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture);
            return (
                L(await SqlProviderStore.Scalar(connection, null, "SELECT COUNT(*) FROM kt_heads", ct).ConfigureAwait(false)),
                L(await SqlProviderStore.Scalar(connection, null, "SELECT COUNT(*) FROM kt_addresses", ct).ConfigureAwait(false)),
                L(await SqlProviderStore.Scalar(connection, null, "SELECT COUNT(*) FROM kt_versions", ct).ConfigureAwait(false)),
                L(await SqlProviderStore.Scalar(connection, null, "SELECT COALESCE(SUM(change_count), 0) FROM kt_heads", ct).ConfigureAwait(false)));
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _ownsDatabase ? _database.DisposeAsync() : ValueTask.CompletedTask;

    private static byte[] EncodeChanges(IReadOnlyList<LeafChange> changes)
    {
        var bytes = new byte[changes.Count * 72];
        for (int i = 0; i < changes.Count; i++)
        {
            Span<byte> slot = bytes.AsSpan(i * 72, 72);
            changes[i].Index.CopyTo(slot);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(slot[32..], changes[i].Version);
            changes[i].Commitment.CopyTo(slot[40..]);
        }

        return bytes;
    }

    private static LeafChange[] DecodeChanges(byte[] bytes)
    {
        if (bytes.Length % 72 != 0)
        {
            throw new InvalidDataException("An epoch's stored changes are corrupt.");
        }

        var changes = new LeafChange[bytes.Length / 72];
        for (int i = 0; i < changes.Length; i++)
        {
            ReadOnlySpan<byte> slot = bytes.AsSpan(i * 72, 72);
            changes[i] = new LeafChange(new Hash256(slot[..32]), System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(slot[32..]), new Hash256(slot[40..]));
        }

        return changes;
    }

    private static async Task InsertManyAsync(DbConnection connection, DbTransaction transaction, string table, string[] columns, string suffix,
        IEnumerable<object[]> rows, CancellationToken ct)
    {
        var batch = new List<object[]>(InsertChunk);
        foreach (object[] row in rows)
        {
            batch.Add(row);
            if (batch.Count == InsertChunk)
            {
                await InsertBatchAsync(connection, transaction, table, columns, suffix, batch, ct).ConfigureAwait(false);
                batch.Clear();
            }
        }

        if (batch.Count > 0)
        {
            await InsertBatchAsync(connection, transaction, table, columns, suffix, batch, ct).ConfigureAwait(false);
        }
    }

    private static async Task InsertBatchAsync(DbConnection connection, DbTransaction transaction, string table, string[] columns, string suffix,
        List<object[]> rows, CancellationToken ct)
    {
        var sql = new StringBuilder($"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES ");
        var parameters = new List<(string, object?)>(rows.Count * columns.Length);
        for (int r = 0; r < rows.Count; r++)
        {
            sql.Append(r == 0 ? "(" : ", (");
            for (int c = 0; c < columns.Length; c++)
            {
                string name = $"@p{r}_{c}";
                sql.Append(c == 0 ? name : ", " + name);
                parameters.Add((name, rows[r][c]));
            }

            sql.Append(')');
        }

        sql.Append(suffix);
        await SqlProviderStore.Exec(connection, transaction, sql.ToString(), ct, [.. parameters]).ConfigureAwait(false);
    }

    private async Task<byte[]?> ScalarBytesAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        var connection = await _database.OpenAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await SqlProviderStore.Scalar(connection, null, sql, ct, parameters).ConfigureAwait(false) as byte[];
        }
    }
}

/// <summary>
/// A bounded cache of immutable values: entries go into a young generation; when it is half full it becomes
/// the old one (and the previous old one is dropped). A hit in the old generation is promoted. At most
/// <c>capacity</c> entries, no per-entry bookkeeping.
/// </summary>
internal sealed class TwoGenerationCache<TKey, TValue>(int capacity)
    where TKey : notnull
{
    private readonly Lock _lock = new();
    private Dictionary<TKey, TValue> _young = [];
    private Dictionary<TKey, TValue> _old = [];

    public bool TryGet(TKey key, out TValue value)
    {
        lock (_lock)
        {
            if (_young.TryGetValue(key, out value!))
            {
                return true;
            }

            if (_old.TryGetValue(key, out value!))
            {
                AddLocked(key, value);
                return true;
            }

            return false;
        }
    }

    public void Add(TKey key, TValue value)
    {
        lock (_lock)
        {
            AddLocked(key, value);
        }
    }

    private void AddLocked(TKey key, TValue value)
    {
        if (capacity < 2)
        {
            return;
        }

        _young[key] = value;
        if (_young.Count >= capacity / 2)
        {
            _old = _young;
            _young = [];
        }
    }
}
