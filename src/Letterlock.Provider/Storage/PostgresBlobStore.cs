using System.Runtime.CompilerServices;
using Npgsql;
using NpgsqlTypes;

namespace Letterlock.Provider.Storage;

/// <summary>
/// The blob store of a cluster (the default with PostgreSQL): blobs live in the same database as everything
/// else, cut into chunks, so every node reads what any node wrote and a node keeps nothing on its own disk.
/// Tables (schema version 4): <c>blob_uploads</c> (uploads in flight, with their start), <c>blob_chunks</c>
/// (the bytes, keyed by upload and index) and <c>blobs</c> (hash to the upload that holds its chunks, size,
/// last write or re-use). Each chunk is its own short transaction, so an upload holds no connection and
/// memory is one chunk per upload or read; the commit inserts the <c>blobs</c> row and forgets the upload in
/// one transaction. A re-used blob (same hash written again) keeps its first chunks and only gets younger;
/// the second copy's chunks are dropped in that transaction.
/// </summary>
public sealed class PostgresBlobStore : IBlobStore
{
    /// <summary>The default chunk size: large enough that a 25 MiB blob is a hundred round trips, small enough to never matter for memory.</summary>
    public const int DefaultChunkSize = 256 * 1024;

    private const int ListPage = 1000;

    private readonly NpgsqlDataSource _dataSource;
    private readonly int _chunkSize;
    private readonly TimeProvider _time;

    /// <param name="dataSource">The provider's database (its schema migrated to version 4 or later); not disposed here.</param>
    /// <param name="chunkSize">Bytes per stored chunk.</param>
    /// <param name="time">The clock that stamps writes (for the collector's grace period).</param>
    public PostgresBlobStore(NpgsqlDataSource dataSource, int chunkSize = DefaultChunkSize, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        _dataSource = dataSource;
        _chunkSize = chunkSize;
        _time = time ?? TimeProvider.System;
    }

    public string Description => "PostgreSQL (table blob_chunks)";

    public IBlobUpload BeginUpload() => new Upload(this);

    public async Task<Stream> OpenReadAsync(string hash, CancellationToken ct)
    {
        BlobStoreExtensions.CheckHash(hash);
        await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT upload_id, size, chunk_count FROM blobs WHERE hash = @h", connection);
        command.Parameters.AddWithValue("h", hash);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            throw new FileNotFoundException("No such blob.");
        }

        return new ChunkReadStream(this, reader.GetString(0), reader.GetInt64(1), reader.GetInt32(2));
    }

    public async IAsyncEnumerable<StoredBlob> ListAsync([EnumeratorCancellation] CancellationToken ct)
    {
        string after = "";
        while (true)
        {
            // Keyset pages: no connection is held while the caller works on a page (the collector deletes as it goes).
            var page = new List<StoredBlob>(ListPage);
            await using (var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false))
            {
                await using var command = new NpgsqlCommand("SELECT hash, written_at FROM blobs WHERE hash > @after ORDER BY hash LIMIT @n", connection);
                command.Parameters.AddWithValue("after", after);
                command.Parameters.AddWithValue("n", ListPage);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    page.Add(new StoredBlob(reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)).UtcDateTime));
                }
            }

            foreach (var blob in page)
            {
                yield return blob;
            }

            if (page.Count < ListPage)
            {
                yield break;
            }

            after = page[^1].Hash;
        }
    }

    public async Task<bool> DeleteIfUnusedSinceAsync(string hash, DateTime cutoffUtc, CancellationToken ct)
    {
        BlobStoreExtensions.CheckHash(hash);
        await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        // A re-use committing at the same time either makes the row young first (the WHERE is re-checked on
        // the updated row and nothing goes) or waits for this delete and then inserts its own chunks' row.
        await using var command = new NpgsqlCommand("DELETE FROM blobs WHERE hash = @h AND written_at <= @cutoff RETURNING upload_id", connection, transaction);
        command.Parameters.AddWithValue("h", hash);
        command.Parameters.AddWithValue("cutoff", new DateTimeOffset(cutoffUtc, TimeSpan.Zero).ToUnixTimeMilliseconds());
        if (await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is not string upload)
        {
            return false;
        }

        await Exec(connection, transaction, "DELETE FROM blob_chunks WHERE upload_id = @u", upload, ct).ConfigureAwait(false);

        await transaction.CommitAsync(ct).ConfigureAwait(false);
        return true;
    }

    public async Task<int> DeleteStaleUploadsAsync(DateTime cutoffUtc, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            """
            WITH stale AS (DELETE FROM blob_uploads WHERE started_at <= @cutoff RETURNING id),
                 chunks AS (DELETE FROM blob_chunks WHERE upload_id IN (SELECT id FROM stale))
            SELECT COUNT(*) FROM stale
            """, connection);
        command.Parameters.AddWithValue("cutoff", new DateTimeOffset(cutoffUtc, TimeSpan.Zero).ToUnixTimeMilliseconds());
        return Convert.ToInt32(await command.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    private long NowMilliseconds => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private sealed class Upload(PostgresBlobStore store) : IBlobUpload
    {
        private readonly string _id = Guid.NewGuid().ToString("N");
        private byte[]? _buffer;
        private int _buffered;
        private int _chunks;
        private long _size;
        private bool _started;
        private bool _committed;

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            _buffer ??= new byte[store._chunkSize];
            while (!data.IsEmpty)
            {
                int take = Math.Min(data.Length, _buffer.Length - _buffered);
                data[..take].CopyTo(_buffer.AsMemory(_buffered));
                _buffered += take;
                _size += take;
                data = data[take..];
                if (_buffered == _buffer.Length)
                {
                    await FlushChunkAsync(ct).ConfigureAwait(false);
                }
            }
        }

        public async Task<string> CommitAsync(byte[] sha256, CancellationToken ct)
        {
            string hash = Convert.ToHexStringLower(sha256);
            if (_buffered > 0)
            {
                await FlushChunkAsync(ct).ConfigureAwait(false);
            }

            await using var connection = await store._dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var insert = new NpgsqlCommand(
                """
                INSERT INTO blobs (hash, upload_id, size, chunk_count, written_at) VALUES (@h, @u, @s, @c, @w)
                ON CONFLICT (hash) DO UPDATE SET written_at = GREATEST(blobs.written_at, excluded.written_at)
                RETURNING upload_id
                """, connection, transaction))
            {
                insert.Parameters.AddWithValue("h", hash);
                insert.Parameters.AddWithValue("u", _id);
                insert.Parameters.AddWithValue("s", _size);
                insert.Parameters.AddWithValue("c", _chunks);
                insert.Parameters.AddWithValue("w", store.NowMilliseconds);
                string kept = (string)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                if (kept != _id)
                {
                    // the same bytes were stored before: the blob got younger above, this copy is not needed
                    await Exec(connection, transaction, "DELETE FROM blob_chunks WHERE upload_id = @u", _id, ct).ConfigureAwait(false);
                }
            }

            await Exec(connection, transaction, "DELETE FROM blob_uploads WHERE id = @u", _id, ct).ConfigureAwait(false);
            await transaction.CommitAsync(ct).ConfigureAwait(false);
            _committed = true;
            return hash;
        }

        private async Task FlushChunkAsync(CancellationToken ct)
        {
            await using var connection = await store._dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            if (!_started)
            {
                // The upload is recorded before its first chunk, so a crash leaves chunks the stale sweep can find.
                await using var begin = new NpgsqlCommand("INSERT INTO blob_uploads (id, started_at) VALUES (@u, @t)", connection);
                begin.Parameters.AddWithValue("u", _id);
                begin.Parameters.AddWithValue("t", store.NowMilliseconds);
                await begin.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                _started = true;
            }

            await using var chunk = new NpgsqlCommand("INSERT INTO blob_chunks (upload_id, idx, data) VALUES (@u, @i, @d)", connection);
            chunk.Parameters.AddWithValue("u", _id);
            chunk.Parameters.AddWithValue("i", _chunks);
            chunk.Parameters.Add(new NpgsqlParameter("d", NpgsqlDbType.Bytea) { Value = new ArraySegment<byte>(_buffer!, 0, _buffered) });
            await chunk.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            _chunks++;
            _buffered = 0;
        }

        public async ValueTask DisposeAsync()
        {
            if (_committed || !_started)
            {
                return;
            }

            try
            {
                await using var connection = await store._dataSource.OpenConnectionAsync(CancellationToken.None).ConfigureAwait(false);
                await using var transaction = await connection.BeginTransactionAsync(CancellationToken.None).ConfigureAwait(false);
                await Exec(connection, transaction, "DELETE FROM blob_chunks WHERE upload_id = @u", _id, CancellationToken.None).ConfigureAwait(false);
                await Exec(connection, transaction, "DELETE FROM blob_uploads WHERE id = @u", _id, CancellationToken.None).ConfigureAwait(false);
                await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (NpgsqlException)
            {
                // the database is unreachable: the stale-upload sweep removes this upload later
            }
        }
    }

    private static async Task Exec(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, string upload, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("u", upload);
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Reads a blob chunk by chunk, each on a pooled connection of its own.</summary>
    private sealed class ChunkReadStream(PostgresBlobStore store, string upload, long size, int chunkCount) : Stream
    {
        private byte[] _chunk = [];
        private int _offset;
        private int _next;
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => size;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.IsEmpty)
            {
                return 0;
            }

            while (_offset == _chunk.Length)
            {
                if (_next == chunkCount)
                {
                    return 0;
                }

                _chunk = await FetchAsync(_next, cancellationToken).ConfigureAwait(false);
                _offset = 0;
                _next++;
            }

            int n = Math.Min(buffer.Length, _chunk.Length - _offset);
            _chunk.AsMemory(_offset, n).CopyTo(buffer);
            _offset += n;
            _position += n;
            return n;
        }

        private async Task<byte[]> FetchAsync(int index, CancellationToken ct)
        {
            await using var connection = await store._dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var command = new NpgsqlCommand("SELECT data FROM blob_chunks WHERE upload_id = @u AND idx = @i", connection);
            command.Parameters.AddWithValue("u", upload);
            command.Parameters.AddWithValue("i", index);
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) as byte[]
                ?? throw new IOException("The blob was removed while it was read.");
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
