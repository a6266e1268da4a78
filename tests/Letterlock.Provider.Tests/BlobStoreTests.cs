using System.Security.Cryptography;
using Letterlock.Provider.Storage;
using Npgsql;

namespace Letterlock.Provider.Tests;

/// <summary>The contract of <see cref="IBlobStore"/>, run against every implementation.</summary>
public abstract class BlobStoreTests : IAsyncLifetime
{
    private const int Piece = 64 * 1024;

    protected IBlobStore Blobs { get; set; } = null!;

    public abstract Task InitializeAsync();

    public abstract Task DisposeAsync();

    /// <summary>Makes a blob look last written <paramref name="age"/> ago.</summary>
    protected abstract Task AgeAsync(string hash, TimeSpan age);

    public static async Task<List<StoredBlob>> ListAsync(IBlobStore blobs)
    {
        var all = new List<StoredBlob>();
        await foreach (var blob in blobs.ListAsync(CancellationToken.None))
        {
            all.Add(blob);
        }

        return all;
    }

    [Fact]
    public async Task A_blob_larger_than_a_message_limit_streams_in_and_out_unchanged()
    {
        // 26 MiB written and read in 64 KiB pieces, compared by hash: neither side holds the blob
        const int Pieces = 26 * 1024 * 1024 / Piece;
        using var written = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] piece = new byte[Piece];
        string hash;
        await using (var upload = Blobs.BeginUpload())
        {
            for (int i = 0; i < Pieces; i++)
            {
                FillPiece(piece, i);
                written.AppendData(piece);
                await upload.WriteAsync(piece, CancellationToken.None);
            }

            hash = await upload.CommitAsync(written.GetHashAndReset(), CancellationToken.None);
        }

        var listed = Assert.Single(await ListAsync(Blobs));
        Assert.Equal(hash, listed.Hash);
        Assert.True(listed.LastWriteUtc > DateTime.UtcNow.AddMinutes(-10));

        using var read = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        await using (var stream = await Blobs.OpenReadAsync(hash, CancellationToken.None))
        {
            byte[] buffer = new byte[Piece - 123]; // reads that straddle the store's chunks
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                read.AppendData(buffer, 0, n);
                total += n;
            }
        }

        Assert.Equal((long)Pieces * Piece, total);
        Assert.Equal(hash, Convert.ToHexStringLower(read.GetHashAndReset()));
    }

    [Fact]
    public async Task The_same_bytes_written_again_are_stored_once_and_made_young_again()
    {
        byte[] content = RandomNumberGenerator.GetBytes(300 * 1024);
        string hash = await Blobs.PutAsync(content, CancellationToken.None);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), hash);
        await AgeAsync(hash, TimeSpan.FromDays(1));
        var cutoff = DateTime.UtcNow.AddMinutes(-1);

        Assert.Equal(hash, await Blobs.PutAsync(content, CancellationToken.None));
        Assert.Single(await ListAsync(Blobs));
        Assert.False(await Blobs.DeleteIfUnusedSinceAsync(hash, cutoff, CancellationToken.None));
        Assert.Equal(content, await ReadAllAsync(hash));

        await AgeAsync(hash, TimeSpan.FromDays(1));
        Assert.True(await Blobs.DeleteIfUnusedSinceAsync(hash, cutoff, CancellationToken.None));
        Assert.False(await Blobs.DeleteIfUnusedSinceAsync(hash, cutoff, CancellationToken.None));
        Assert.Empty(await ListAsync(Blobs));
        await Assert.ThrowsAsync<FileNotFoundException>(() => Blobs.OpenReadAsync(hash, CancellationToken.None));
    }

    [Fact]
    public async Task Uploads_never_committed_leave_nothing_behind()
    {
        await using (var abandoned = Blobs.BeginUpload())
        {
            await abandoned.WriteAsync(RandomNumberGenerator.GetBytes(600 * 1024), CancellationToken.None);
        }

        Assert.Empty(await ListAsync(Blobs));
        Assert.Equal(0, await Blobs.DeleteStaleUploadsAsync(DateTime.UtcNow.AddMinutes(1), CancellationToken.None));

        // a crash: neither committed nor disposed; the sweep takes it once older than its cutoff
        var crashed = Blobs.BeginUpload();
        await crashed.WriteAsync(RandomNumberGenerator.GetBytes(600 * 1024), CancellationToken.None);
        Assert.Equal(0, await Blobs.DeleteStaleUploadsAsync(DateTime.UtcNow.AddHours(-1), CancellationToken.None));
        Assert.Equal(1, await Blobs.DeleteStaleUploadsAsync(DateTime.UtcNow.AddMinutes(1), CancellationToken.None));
        Assert.Equal(0, await Blobs.DeleteStaleUploadsAsync(DateTime.UtcNow.AddMinutes(1), CancellationToken.None));
        Assert.Empty(await ListAsync(Blobs));
        await crashed.DisposeAsync();
    }

    [Fact]
    public async Task Empty_and_odd_sized_blobs_round_trip_and_bad_addresses_are_refused()
    {
        foreach (int size in new[] { 0, 1, Piece - 1, Piece + 1, (4 * Piece) + 7 })
        {
            byte[] content = RandomNumberGenerator.GetBytes(size);
            string hash = await Blobs.PutAsync(content, CancellationToken.None);
            Assert.Equal(content, await ReadAllAsync(hash));
        }

        Assert.Equal(5, (await ListAsync(Blobs)).Count);
        await Assert.ThrowsAsync<FileNotFoundException>(() => Blobs.OpenReadAsync(new string('a', 64), CancellationToken.None));
        foreach (string bad in new[] { "", "../etc/passwd", new string('A', 64), new string('a', 63), new string('a', 65) })
        {
            await Assert.ThrowsAsync<ArgumentException>(() => Blobs.OpenReadAsync(bad, CancellationToken.None));
            await Assert.ThrowsAsync<ArgumentException>(() => Blobs.DeleteIfUnusedSinceAsync(bad, DateTime.UtcNow, CancellationToken.None));
        }
    }

    protected async Task<byte[]> ReadAllAsync(string hash)
    {
        await using var stream = await Blobs.OpenReadAsync(hash, CancellationToken.None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    private static void FillPiece(byte[] piece, int index)
    {
        // distinct, incompressible-looking pieces without holding 26 MiB of random bytes
        byte[] seed = SHA256.HashData(BitConverter.GetBytes(index));
        for (int i = 0; i < piece.Length; i += seed.Length)
        {
            seed = SHA256.HashData(seed);
            seed.CopyTo(piece, i);
        }
    }
}

public sealed class FolderBlobStoreTests : BlobStoreTests
{
    private readonly string _directory = TestProvider.CreateDirectory();

    public override Task InitializeAsync()
    {
        Blobs = new FolderBlobStore(Path.Combine(_directory, "blobs"));
        return Task.CompletedTask;
    }

    public override Task DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    protected override Task AgeAsync(string hash, TimeSpan age)
    {
        File.SetLastWriteTimeUtc(((FolderBlobStore)Blobs).PathOf(hash), DateTime.UtcNow - age);
        return Task.CompletedTask;
    }
}

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostgresBlobStoreTests(PostgresServer postgres) : BlobStoreTests
{
    private PostgresProviderStore _store = null!;

    public override async Task InitializeAsync()
    {
        _store = new PostgresProviderStore(PostgresServer.ConnectionString(await postgres.CreateDatabaseAsync()), new ChangeNotifier());
        await _store.InitializeAsync(CancellationToken.None);
        Blobs = new PostgresBlobStore(_store.DataSource);
    }

    public override async Task DisposeAsync() => await _store.DisposeAsync();

    protected override async Task AgeAsync(string hash, TimeSpan age)
    {
        await using var command = _store.DataSource.CreateCommand("UPDATE blobs SET written_at = @w WHERE hash = @h");
        command.Parameters.AddWithValue("w", DateTimeOffset.UtcNow.Add(-age).ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("h", hash);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    [Fact]
    public async Task Chunks_are_bounded_and_a_reused_blob_keeps_one_copy()
    {
        byte[] content = RandomNumberGenerator.GetBytes((3 * PostgresBlobStore.DefaultChunkSize) + 5);
        string hash = await Blobs.PutAsync(content, CancellationToken.None);
        Assert.Equal(hash, await Blobs.PutAsync(content, CancellationToken.None));
        await using var command = _store.DataSource.CreateCommand("SELECT COUNT(*), MAX(length(data)), (SELECT COUNT(*) FROM blob_uploads) FROM blob_chunks");
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(4, reader.GetInt64(0));
        Assert.Equal(PostgresBlobStore.DefaultChunkSize, reader.GetInt32(1));
        Assert.Equal(0, reader.GetInt64(2));
    }
}
