using System.Security.Cryptography;

namespace Letterlock.Provider.Storage;

/// <summary>A committed blob and when it was last written or re-used (what the collector's grace period is measured from).</summary>
public readonly record struct StoredBlob(string Hash, DateTime LastWriteUtc);

/// <summary>
/// Where ciphertexts above the inline threshold live, content-addressed by the lowercase hex SHA-256 of their bytes.
/// Only ciphertext is ever written to a blob store. The contract every implementation keeps (and
/// <c>BlobStoreTests</c> checks on each):
/// <list type="bullet">
/// <item>A blob is durable when <see cref="IBlobUpload.CommitAsync"/> returns, before the database row that
/// refers to it is committed; it is never rewritten in place.</item>
/// <item>Writing bytes that are already stored commits nothing new but makes the blob young again, so the
/// collector (<see cref="BlobCollector"/>) cannot remove it under the write that is about to refer to it.</item>
/// <item>Reads and writes stream: memory per operation is bounded by a chunk, whatever the blob's size.</item>
/// <item>An upload that is never committed (a crash, an aborted request) leaves at most a temporary that
/// <see cref="DeleteStaleUploadsAsync"/> removes.</item>
/// </list>
/// The operations map onto an S3-compatible object store as well: an upload onto a multipart upload (abandoned
/// uploads listed and aborted by <see cref="DeleteStaleUploadsAsync"/>), the listing onto ListObjectsV2 with
/// LastModified, re-use onto a metadata copy in place, the conditional delete onto a HEAD then DELETE.
/// </summary>
public interface IBlobStore
{
    /// <summary>Where the blobs are, for the start-up banner (never a credential).</summary>
    string Description { get; }

    /// <summary>Starts writing a blob; the caller hashes what it writes and commits with that hash.</summary>
    IBlobUpload BeginUpload();

    /// <summary>Opens a committed blob for a sequential read.</summary>
    /// <exception cref="ArgumentException"><paramref name="hash"/> is not a lowercase hex SHA-256.</exception>
    /// <exception cref="FileNotFoundException">No such blob.</exception>
    Task<Stream> OpenReadAsync(string hash, CancellationToken ct);

    /// <summary>Every committed blob with its last write or re-use.</summary>
    IAsyncEnumerable<StoredBlob> ListAsync(CancellationToken ct);

    /// <summary>Deletes the blob unless it was written or re-used after <paramref name="cutoffUtc"/>; returns whether it went.</summary>
    Task<bool> DeleteIfUnusedSinceAsync(string hash, DateTime cutoffUtc, CancellationToken ct);

    /// <summary>Removes what uploads that were never committed left behind, if started before <paramref name="cutoffUtc"/>.</summary>
    Task<int> DeleteStaleUploadsAsync(DateTime cutoffUtc, CancellationToken ct);
}

/// <summary>One blob being written. Disposing it without <see cref="CommitAsync"/> abandons it.</summary>
public interface IBlobUpload : IAsyncDisposable
{
    /// <summary>Appends ciphertext.</summary>
    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct);

    /// <summary>Makes what was written durable under its content address and returns the address.</summary>
    /// <param name="sha256">The SHA-256 of everything written, computed by the caller as it wrote.</param>
    /// <param name="ct">Cancels the commit (the upload is then abandoned).</param>
    Task<string> CommitAsync(byte[] sha256, CancellationToken ct);
}

/// <summary>Helpers over <see cref="IBlobStore"/>.</summary>
public static class BlobStoreExtensions
{
    /// <summary>Writes a ciphertext held in memory.</summary>
    public static async Task<string> PutAsync(this IBlobStore blobs, ReadOnlyMemory<byte> ciphertext, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        var upload = blobs.BeginUpload();
        await using (upload.ConfigureAwait(false))
        {
            await upload.WriteAsync(ciphertext, ct).ConfigureAwait(false);
            return await upload.CommitAsync(SHA256.HashData(ciphertext.Span), ct).ConfigureAwait(false);
        }
    }

    /// <summary>Whether <paramref name="hash"/> is a blob address: 64 lowercase hex digits.</summary>
    public static bool IsHash(string hash) => hash is { Length: 64 } && hash.All(char.IsAsciiHexDigitLower);

    internal static string CheckHash(string hash) =>
        IsHash(hash) ? hash : throw new ArgumentException("Not a blob hash.", nameof(hash));
}
