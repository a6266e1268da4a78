using System.Security.Cryptography;

namespace Letterlock.Provider.Storage;

/// <summary>
/// Collects a ciphertext being produced (an HPKE stream from the MX, a PUT body): in memory up to the
/// inline threshold, then streamed into a blob upload, hashing as it goes so the blob is content-addressed.
/// Only ciphertext ever passes through here.
/// </summary>
public sealed class CiphertextSink(IBlobStore blobs, int inlineThreshold) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private MemoryStream? _memory = new();
    private IBlobUpload? _file;
    private long _length;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _length;

    public override long Position { get => _length; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _hash.AppendData(buffer.Span);
        _length += buffer.Length;
        if (_memory is not null && _memory.Length + buffer.Length <= inlineThreshold)
        {
            _memory.Write(buffer.Span);
            return;
        }

        if (_file is null)
        {
            _file = blobs.BeginUpload();
            if (_memory is not null)
            {
                await _file.WriteAsync(_memory.GetBuffer().AsMemory(0, (int)_memory.Length), cancellationToken).ConfigureAwait(false);
                _memory = null;
            }
        }

        await _file.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Finishes: inline bytes, or a durable blob.</summary>
    public async Task<CiphertextRef> CompleteAsync(CancellationToken ct)
    {
        byte[] digest = _hash.GetHashAndReset();
        if (_file is null)
        {
            return CiphertextRef.InlineBytes(_memory!.ToArray());
        }

        string hash = await _file.CommitAsync(digest, ct).ConfigureAwait(false);
        return CiphertextRef.Blob(hash, _length);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_file is not null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
        }

        _hash.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
