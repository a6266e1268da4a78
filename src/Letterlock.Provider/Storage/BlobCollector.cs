namespace Letterlock.Provider.Storage;

/// <summary>What one sweep of the blob store did.</summary>
/// <param name="Examined">Blobs old enough to be considered.</param>
/// <param name="Removed">Blobs no document referred to, deleted.</param>
/// <param name="Temporaries">Leftovers of interrupted writes, deleted.</param>
public sealed record BlobSweepReport(int Examined, int Removed, int Temporaries);

/// <summary>
/// Removes the ciphertext of deleted and replaced documents from the blob store, so what a user deletes
/// does not stay on the provider's disk. Several nodes may sweep one store at once: each delete is conditional. A blob goes only when no document refers to it and it has not been
/// written or re-used for the grace period: a write in flight commits its blob before its row, and a blob
/// written again (same ciphertext, a retried upload) is touched, so neither can lose its blob.
/// </summary>
public sealed class BlobCollector(IProviderStore store, IBlobStore blobs, TimeSpan grace)
{
    /// <summary>One pass over the blob store at <paramref name="now"/>.</summary>
    public async Task<BlobSweepReport> SweepAsync(DateTimeOffset now, CancellationToken ct)
    {
        var cutoff = (now - grace).UtcDateTime;
        int examined = 0, removed = 0;
        await foreach (var (hash, lastWrite) in blobs.ListAsync(ct).ConfigureAwait(false))
        {
            if (lastWrite > cutoff)
            {
                continue;
            }

            examined++;
            // The reference check comes before the age is read again (inside the delete), so a re-use that
            // races the check has already made the blob young when the delete looks.
            if (!await store.IsBlobReferencedAsync(hash, ct).ConfigureAwait(false) && await blobs.DeleteIfUnusedSinceAsync(hash, cutoff, ct).ConfigureAwait(false))
            {
                removed++;
            }
        }

        return new BlobSweepReport(examined, removed, await blobs.DeleteStaleUploadsAsync(cutoff, ct).ConfigureAwait(false));
    }
}
