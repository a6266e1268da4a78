using System.Security.Cryptography;

namespace Letterlock.Provider.Storage;

/// <summary>What moving a blob folder into another store did.</summary>
/// <param name="Moved">Blobs copied, checked and removed from the folder.</param>
/// <param name="Corrupt">Files whose bytes do not hash to their name: left in the folder, named in the log.</param>
public sealed record BlobImportReport(int Moved, IReadOnlyList<string> Corrupt);

/// <summary>
/// The upgrade of a PostgreSQL provider whose blobs were in its data directory's <c>blobs/</c> folder (every
/// release before blobs moved into the database): each blob is streamed into the new store while its SHA-256
/// is checked against its name, committed, and only then deleted from the folder. A crash in between leaves
/// the file, and the next start copies it again (a re-use of the same bytes, harmless). Runs at start-up
/// before any listener opens, so no request reads a blob that is still only in the folder.
/// </summary>
public static class BlobImport
{
    /// <summary>Moves every committed blob of <paramref name="folder"/> into <paramref name="target"/>.</summary>
    public static async Task<BlobImportReport> MoveAsync(FolderBlobStore folder, IBlobStore target, Action<int>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(target);
        int moved = 0;
        var corrupt = new List<string>();
        byte[] buffer = new byte[64 * 1024];
        foreach (var (hash, _) in folder.Enumerate().ToList())
        {
            string path = folder.PathOf(hash);
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var upload = target.BeginUpload();
            await using (upload.ConfigureAwait(false))
            {
                var source = folder.OpenRead(hash);
                await using (source.ConfigureAwait(false))
                {
                    int read;
                    while ((read = await source.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                    {
                        sha.AppendData(buffer, 0, read);
                        await upload.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                    }
                }

                byte[] digest = sha.GetHashAndReset();
                if (Convert.ToHexStringLower(digest) != hash)
                {
                    corrupt.Add(path);
                    continue; // disposed uncommitted: nothing of it stays in the target
                }

                await upload.CommitAsync(digest, ct).ConfigureAwait(false);
            }

            File.Delete(path);
            moved++;
            progress?.Invoke(moved);
        }

        return new BlobImportReport(moved, corrupt);
    }
}
