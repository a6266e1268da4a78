using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Letterlock.Provider.Storage;

/// <summary>
/// Content-addressed store for ciphertexts above the inline threshold: a file named by the SHA-256 of its
/// bytes under <c>blobs/ab/cdef...</c>. Only ciphertext is ever written here. A blob is made durable
/// (file fsync, rename, directory fsync) before the database row that refers to it is committed.
/// Blobs are never rewritten in place. Blobs no document refers to any more (deleted or replaced documents)
/// are removed by <see cref="BlobCollector"/>; a blob's modification time is its last write or re-use, which
/// the collector's grace period protects.
/// </summary>
public sealed partial class BlobStore
{
    private readonly string _root;
    private readonly string _incoming;

    public BlobStore(string root)
    {
        _root = root;
        _incoming = Path.Combine(root, "incoming");
        Directory.CreateDirectory(_incoming);
    }

    public string Root => _root;

    /// <summary>Creates a temporary file for a ciphertext being written; <see cref="CommitAsync"/> moves it into place.</summary>
    public FileStream CreateIncoming(out string path)
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
    public async Task<string> CommitAsync(FileStream incoming, byte[] sha256, CancellationToken ct)
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

    /// <summary>Writes a ciphertext held in memory (used when content must be a blob but was buffered).</summary>
    public async Task<string> PutAsync(ReadOnlyMemory<byte> ciphertext, CancellationToken ct)
    {
        await using var incoming = CreateIncoming(out _);
        await incoming.WriteAsync(ciphertext, ct).ConfigureAwait(false);
        return await CommitAsync(incoming, SHA256.HashData(ciphertext.Span), ct).ConfigureAwait(false);
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
        new FileStream(PathOf(hash), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);

    private static bool IsHash(string name) => name.Length == 64 && name.All(char.IsAsciiHexDigitLower);

    private string PathOf(string hash) =>
        IsHash(hash) ? Path.Combine(_root, hash[..2], hash) : throw new ArgumentException("Not a blob hash.", nameof(hash));

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
