using Letterlock.Cryptography;

namespace Letterlock.Provider.Mx;

/// <summary>
/// Holds an arriving message until it is sealed to its recipients. Small messages stay in memory; past
/// the spill threshold the message moves to a temporary file sealed (HPKE) to a key pair that exists only
/// in this object's memory, so the spill file is unreadable once the process forgets the key — including
/// after a crash. The file is deleted on close.
/// </summary>
internal sealed class PlaintextSpool(string spillDirectory, int spillThreshold) : IAsyncDisposable
{
    private static ReadOnlySpan<byte> SpillInfo => "letterlock-mx-spill-v1"u8;

    private MemoryStream? _memory = new();
    private FileStream? _file;
    private HpkeKeyPair? _key;
    private HpkeSealingStream? _sealing;

    public long Length { get; private set; }

    public bool Spilled => _file is not null;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> chunk, CancellationToken ct)
    {
        Length += chunk.Length;
        if (_memory is not null && _memory.Length + chunk.Length <= spillThreshold)
        {
            _memory.Write(chunk.Span);
            return;
        }

        if (_sealing is null)
        {
            Directory.CreateDirectory(spillDirectory);
            _key = HpkeKeyPair.Generate();
            _file = new FileStream(Path.Combine(spillDirectory, Guid.NewGuid().ToString("N") + ".spill"), new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                Options = FileOptions.Asynchronous | FileOptions.DeleteOnClose,
            });
            _sealing = HpkeSealingStream.Create(_file, _key.PublicKey.Span, SpillInfo, leaveOpen: true);
            await _sealing.WriteAsync(_memory!.GetBuffer().AsMemory(0, (int)_memory.Length), ct).ConfigureAwait(false);
            _memory = null;
        }

        await _sealing.WriteAsync(chunk, ct).ConfigureAwait(false);
    }

    public async ValueTask CompleteAsync(CancellationToken ct)
    {
        if (_sealing is not null)
        {
            await _sealing.CompleteAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Reads the message from the start; each call gives an independent reader.</summary>
    public Stream OpenRead()
    {
        if (_memory is not null)
        {
            return new MemoryStream(_memory.GetBuffer(), 0, (int)_memory.Length, writable: false);
        }

        _file!.Position = 0;
        return HpkeOpeningStream.Open(_file, _key!.PrivateKey.Span, SpillInfo, leaveOpen: true);
    }

    /// <summary>
    /// Reads the message with seeking (for a persistent MIME parse, which leaves part contents in place): the memory
    /// copy as it is; a spilled message through a reader that re-opens the sealed file when asked to go back.
    /// </summary>
    public Stream OpenSeekable() => _memory is not null ? OpenRead() : new ReopeningReadStream(OpenRead, Length);

    public async ValueTask DisposeAsync()
    {
        if (_sealing is not null)
        {
            _sealing.Abort();
            await _sealing.DisposeAsync().ConfigureAwait(false);
        }

        if (_file is not null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
        }

        _key?.Dispose();
        _memory = null;
    }
}

/// <summary>
/// A read-only stream over a source that can only be read forward from its start (a sealed spill file): seeking forward
/// reads and drops, seeking backward opens the source again. A persistent MIME parse reads forward once, then each
/// signature's body hash reads the parts in order, so the source is opened once per pass.
/// </summary>
internal sealed class ReopeningReadStream(Func<Stream> open, long length) : Stream
{
    private Stream? _inner;
    private long _innerPosition;
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => length + offset,
    };

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var inner = Align();
        Span<byte> skip = stackalloc byte[4096];
        while (_innerPosition < _position)
        {
            int dropped = inner.Read(skip[..(int)Math.Min(skip.Length, _position - _innerPosition)]);
            if (dropped == 0)
            {
                return 0;
            }

            _innerPosition += dropped;
        }

        int read = inner.Read(buffer);
        _innerPosition += read;
        _position += read;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var inner = Align();
        if (_innerPosition < _position)
        {
            byte[] skip = new byte[(int)Math.Min(64 * 1024, _position - _innerPosition)];
            while (_innerPosition < _position)
            {
                int dropped = await inner.ReadAsync(skip.AsMemory(0, (int)Math.Min(skip.Length, _position - _innerPosition)), cancellationToken).ConfigureAwait(false);
                if (dropped == 0)
                {
                    return 0;
                }

                _innerPosition += dropped;
            }
        }

        int read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _innerPosition += read;
        _position += read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner?.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>The source positioned at or before <see cref="Position"/> (opened again when it is past it).</summary>
    private Stream Align()
    {
        if (_inner is null || _innerPosition > _position)
        {
            _inner?.Dispose();
            _inner = open();
            _innerPosition = 0;
        }

        return _inner;
    }
}
