using System.Runtime.InteropServices;

namespace Letterlock.Provider.Storage;

/// <summary>
/// The blob store of a single node (the default with SQLite): a file named by the SHA-256 of its bytes under
/// <c>blobs/ab/cdef...</c>. A blob is made durable (file fsync, rename, directory fsync) before the database
/// row that refers to it is committed. A blob's modification time is its last write or re-use, which the
/// collector's grace period protects. Uploads in flight are files in <c>blobs/incoming</c>, deleted on close.
/// </summary>
public sealed partial class FolderBlobStore : IBlobStore
{
    private readonly string _root;
    private readonly string _incoming;

    public FolderBlobStore(string root)
    {
        _root = root;
        _incoming = Path.Combine(root, "incoming");
        Directory.CreateDirectory(_incoming);
    }

    public string Root => _root;

    public string Description => _root;

    public IBlobUpload BeginUpload() => new Upload(this);

    public Task<Stream> OpenReadAsync(string hash, CancellationToken ct) => Task.FromResult(OpenRead(hash));

    public async IAsyncEnumerable<StoredBlob> ListAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        foreach (var (hash, lastWrite) in Enumerate())
        {
            ct.ThrowIfCancellationRequested();
            yield return new StoredBlob(hash, lastWrite);
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    public Task<bool> DeleteIfUnusedSinceAsync(string hash, DateTime cutoffUtc, CancellationToken ct) => Task.FromResult(DeleteIfUnusedSince(hash, cutoffUtc));

    public Task<int> DeleteStaleUploadsAsync(DateTime cutoffUtc, CancellationToken ct) => Task.FromResult(DeleteStaleTemporaries(cutoffUtc));

    /// <summary>Creates a temporary file for a ciphertext being written; <see cref="CommitAsync"/> moves it into place.</summary>
    private FileStream CreateIncoming(out string path)
    {
        path = Path.Combine(_incoming, Guid.NewGuid().ToString("N"));
        return new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
            Options = FileOptions.Asynchronous | FileOptions.DeleteOnClose,
            BufferSize = 0,
        });
    }

    /// <summary>Makes the incoming file durable under its content address and returns the hash.</summary>
    private async Task<string> CommitAsync(FileStream incoming, byte[] sha256, CancellationToken ct)
    {
        string hash = Convert.ToHexStringLower(sha256);
        string directory = Path.Combine(_root, hash[..2]);
        string final = Path.Combine(directory, hash);
        if (File.Exists(final))
        {
            // Re-used (the same ciphertext written again): young again, so the collector leaves it to this write.
            File.SetLastWriteTimeUtc(final, DateTime.UtcNow);
        }
        else
        {
            Directory.CreateDirectory(directory);
            string staging = final + "." + Guid.NewGuid().ToString("N") + ".tmp";
            incoming.Position = 0;
            await using (var target = new FileStream(staging, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous))
            {
                await incoming.CopyToAsync(target, ct).ConfigureAwait(false);
                await target.FlushAsync(ct).ConfigureAwait(false);
#pragma warning disable CA1849 // there is no asynchronous fsync
                target.Flush(flushToDisk: true);
#pragma warning restore CA1849
            }

            File.Move(staging, final, overwrite: true);
            FsyncDirectory(directory);
        }

        return hash;
    }

    /// <summary>Every committed blob with its last write or re-use.</summary>
    public IEnumerable<(string Hash, DateTime LastWriteUtc)> Enumerate()
    {
        foreach (var directory in Directory.EnumerateDirectories(_root))
        {
            if (Path.GetFileName(directory) is not { Length: 2 } prefix || !prefix.All(char.IsAsciiHexDigitLower))
            {
                continue;
            }

            foreach (var file in Directory.EnumerateFiles(directory))
            {
                string name = Path.GetFileName(file);
                if (IsHash(name) && name.StartsWith(prefix, StringComparison.Ordinal))
                {
                    yield return (name, File.GetLastWriteTimeUtc(file));
                }
            }
        }
    }

    /// <summary>Deletes the blob unless it was written or re-used after <paramref name="cutoffUtc"/>; returns whether it went.</summary>
    public bool DeleteIfUnusedSince(string hash, DateTime cutoffUtc)
    {
        string path = PathOf(hash);
        if (!File.Exists(path) || File.GetLastWriteTimeUtc(path) > cutoffUtc)
        {
            return false;
        }

        File.Delete(path);
        return true;
    }

    /// <summary>Removes leftovers of writes a crash interrupted (incoming and staging files) older than <paramref name="cutoffUtc"/>.</summary>
    public int DeleteStaleTemporaries(DateTime cutoffUtc)
    {
        int removed = 0;
        var leftovers = Directory.EnumerateFiles(_incoming)
            .Concat(Directory.EnumerateDirectories(_root).Where(d => d != _incoming).SelectMany(d => Directory.EnumerateFiles(d, "*.tmp")));
        foreach (var file in leftovers.ToList())
        {
            if (File.GetLastWriteTimeUtc(file) <= cutoffUtc)
            {
                try
                {
                    File.Delete(file);
                    removed++;
                }
                catch (IOException)
                {
                    // still open by a live write: its own DeleteOnClose removes it
                }
            }
        }

        return removed;
    }

    public Stream OpenRead(string hash) =>
        File.Exists(PathOf(hash)) is false ? throw new FileNotFoundException("No such blob.") : new FileStream(PathOf(hash), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>The file a blob lives in (for the import into another store and for tests).</summary>
    public string PathOf(string hash) => BlobStoreExtensions.CheckHash(hash) is var checkedHash ? Path.Combine(_root, checkedHash[..2], checkedHash) : "";

    private static bool IsHash(string name) => BlobStoreExtensions.IsHash(name);

    private sealed class Upload(FolderBlobStore store) : IBlobUpload
    {
        private FileStream? _file;

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            _file ??= store.CreateIncoming(out _);
            await _file.WriteAsync(data, ct).ConfigureAwait(false);
        }

        public Task<string> CommitAsync(byte[] sha256, CancellationToken ct)
        {
            _file ??= store.CreateIncoming(out _);
            return store.CommitAsync(_file, sha256, ct);
        }

        public ValueTask DisposeAsync() => _file?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    private static void FsyncDirectory(string directory)
    {
        // A rename is durable only once its directory is flushed (POSIX); .NET has no API for that.
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        int fd = NativeMethods.open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory for fsync (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (NativeMethods.fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = NativeMethods.close(fd);
        }
    }

    private static partial class NativeMethods
    {
#pragma warning disable CA5392, SYSLIB1054, CA1401, IDE1006
        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
#pragma warning restore CA5392, SYSLIB1054, CA1401, IDE1006
    }
}
