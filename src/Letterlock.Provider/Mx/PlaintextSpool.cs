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
