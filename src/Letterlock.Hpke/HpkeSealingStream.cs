using System.Buffers;
using System.Security.Cryptography;

namespace Letterlock.Cryptography;

/// <summary>
/// A write-only stream that seals everything written to it into an HPKE sealed envelope
/// (<see cref="HpkeEnvelope"/>, docs/FORMATS.md) for one recipient public key. Memory use is
/// constant (about 128 KiB) whatever the message size.
/// </summary>
/// <remarks>
/// <para>The envelope is complete only once the final chunk is written: by <see cref="CompleteAsync"/>
/// (preferred: asynchronous, and it flushes the destination) or by <see cref="Dispose(bool)"/> /
/// <see cref="DisposeAsync"/>. A writer that fails half-way should call <see cref="Abort"/> so that
/// disposal does not mark a partial message complete; the partial envelope then fails to open.</para>
/// <para>For a temporary spill file, seal to a fresh <see cref="HpkeKeyPair.Generate"/> key pair held
/// only in memory and dispose the key pair with the file: the file is unreadable once the process
/// forgets the key.</para>
/// </remarks>
public sealed class HpkeSealingStream : Stream
{
    private readonly Stream _destination;
    private readonly bool _leaveOpen;
    private readonly HpkeContext _context;
    private readonly byte[] _header;
    private readonly byte[] _plain;
    private readonly byte[] _sealed;
    private int _buffered;
    private ulong _chunkIndex;
    private bool _headerWritten;
    private long _plaintextLength;
    private State _state;

    private HpkeSealingStream(Stream destination, HpkeKem kem, byte[] enc, HpkeContext context, bool leaveOpen)
    {
        _destination = destination;
        _leaveOpen = leaveOpen;
        _context = context;
        _header = new byte[HpkeEnvelope.HeaderLengthOf(kem)];
        HpkeEnvelope.WriteHeader(_header, kem, enc);
        _plain = ArrayPool<byte>.Shared.Rent(HpkeEnvelope.ChunkSize);
        _sealed = ArrayPool<byte>.Shared.Rent(_header.Length + HpkeEnvelope.SealedChunkSize);
    }

    private enum State
    {
        Open,
        Completed,
        Faulted,
        Aborted,
        Disposed,
    }

    /// <summary>
    /// Starts an envelope sealed to <paramref name="recipientPublicKey"/>. Nothing is written to
    /// <paramref name="destination"/> until the first chunk is full or the envelope is completed.
    /// </summary>
    /// <param name="destination">Where the envelope goes; written sequentially.</param>
    /// <param name="recipientPublicKey">The recipient's public key: 32 bytes (X25519) or 1,216 bytes (X-Wing);
    /// the envelope's KEM follows from it.</param>
    /// <param name="info">HPKE info binding the envelope to its purpose; the reader must pass the same.</param>
    /// <param name="leaveOpen">True to keep <paramref name="destination"/> open after disposal.</param>
    /// <exception cref="HpkeException">The public key is invalid.</exception>
    public static HpkeSealingStream Create(
        Stream destination, ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (!destination.CanWrite)
        {
            throw new ArgumentException("The destination stream must be writable.", nameof(destination));
        }

        var kem = HpkeKems.ForPublicKey(recipientPublicKey);
        var (enc, context) = Hpke.SetupBaseSender(recipientPublicKey, info);
        return new HpkeSealingStream(destination, kem, enc, context, leaveOpen);
    }

    /// <summary>The HPKE encapsulated key of this envelope (also in its header).</summary>
    public ReadOnlySpan<byte> EncapsulatedKey => _header.AsSpan(HpkeEnvelope.FixedHeaderLength);

    /// <summary>True once the final chunk has been written.</summary>
    public bool IsCompleted => _state == State.Completed;

    /// <inheritdoc />
    public override bool CanRead => false;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => _state == State.Open;

    /// <summary>Plaintext bytes written so far.</summary>
    public override long Length => _plaintextLength;

    /// <inheritdoc />
    public override long Position
    {
        get => _plaintextLength;
        set => throw new NotSupportedException();
    }

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        EnsureOpen();
        while (!buffer.IsEmpty)
        {
            // A full chunk is sealed only when more data arrives, so the last chunk is always
            // known to be final when the envelope is completed (and is never empty unless the
            // whole message is).
            if (_buffered == HpkeEnvelope.ChunkSize)
            {
                Emit(SealChunk(_plain.AsSpan(0, _buffered), final: false), flush: false);
            }
            else if (_buffered == 0 && buffer.Length > HpkeEnvelope.ChunkSize)
            {
                // More than a chunk is at hand, so this one is not the last: seal it in place, no copy.
                Emit(SealChunk(buffer[..HpkeEnvelope.ChunkSize], final: false), flush: false);
                _plaintextLength += HpkeEnvelope.ChunkSize;
                buffer = buffer[HpkeEnvelope.ChunkSize..];
                continue;
            }

            int take = Math.Min(buffer.Length, HpkeEnvelope.ChunkSize - _buffered);
            buffer[..take].CopyTo(_plain.AsSpan(_buffered));
            _buffered += take;
            _plaintextLength += take;
            buffer = buffer[take..];
        }
    }

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <inheritdoc />
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EnsureOpen();
        while (!buffer.IsEmpty)
        {
            if (_buffered == HpkeEnvelope.ChunkSize)
            {
                int length = SealChunk(_plain.AsSpan(0, _buffered), final: false);
                await EmitAsync(length, cancellationToken).ConfigureAwait(false);
            }
            else if (_buffered == 0 && buffer.Length > HpkeEnvelope.ChunkSize)
            {
                int length = SealChunk(buffer.Span[..HpkeEnvelope.ChunkSize], final: false);
                await EmitAsync(length, cancellationToken).ConfigureAwait(false);
                _plaintextLength += HpkeEnvelope.ChunkSize;
                buffer = buffer[HpkeEnvelope.ChunkSize..];
                continue;
            }

            int take = Math.Min(buffer.Length, HpkeEnvelope.ChunkSize - _buffered);
            buffer.Span[..take].CopyTo(_plain.AsSpan(_buffered));
            _buffered += take;
            _plaintextLength += take;
            buffer = buffer[take..];
        }
    }

    /// <inheritdoc />
    public override void WriteByte(byte value) => Write([value]);

    /// <summary>
    /// Flushes the destination. Buffered plaintext of an unfinished chunk stays buffered: a chunk is
    /// sealed only when it is full or the envelope completes.
    /// </summary>
    public override void Flush()
    {
        if (_state is State.Open or State.Completed)
        {
            _destination.Flush();
        }
    }

    /// <inheritdoc cref="Flush"/>
    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _state is State.Open or State.Completed ? _destination.FlushAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>
    /// Writes the final chunk and flushes the destination. Call it when the whole message has been
    /// written; later writes fail. Calling it again does nothing.
    /// </summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        if (_state == State.Completed)
        {
            return;
        }

        EnsureOpen();
        int length = SealChunk(_plain.AsSpan(0, _buffered), final: true);
        await EmitAsync(length, cancellationToken).ConfigureAwait(false);
        try
        {
            await _destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _state = State.Faulted;
            throw;
        }

        _state = State.Completed;
    }

    /// <summary>Synchronous <see cref="CompleteAsync"/>.</summary>
    public void Complete()
    {
        if (_state == State.Completed)
        {
            return;
        }

        EnsureOpen();
        Emit(SealChunk(_plain.AsSpan(0, _buffered), final: true), flush: true);
        _state = State.Completed;
    }

    /// <summary>
    /// Gives up on the envelope: nothing more is written, and disposal will not write the final
    /// chunk, so whatever reached the destination fails to open instead of passing as a shorter message.
    /// </summary>
    public void Abort()
    {
        if (_state == State.Open)
        {
            _state = State.Aborted;
        }
    }

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Completes the envelope (unless aborted or faulted), then releases everything.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (_state == State.Disposed)
        {
            return;
        }

        try
        {
            if (_state == State.Open)
            {
                await CompleteAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            Release();
            if (!_leaveOpen)
            {
                await _destination.DisposeAsync().ConfigureAwait(false);
            }

            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Completes the envelope (unless aborted or faulted), then releases everything.</summary>
    protected override void Dispose(bool disposing)
    {
        if (!disposing || _state == State.Disposed)
        {
            base.Dispose(disposing);
            return;
        }

        try
        {
            if (_state == State.Open)
            {
                Complete();
            }
        }
        finally
        {
            Release();
            if (!_leaveOpen)
            {
                _destination.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    private void Release()
    {
        _state = State.Disposed;
        _context.Dispose();
        CryptographicOperations.ZeroMemory(_plain);
        ArrayPool<byte>.Shared.Return(_plain);
        ArrayPool<byte>.Shared.Return(_sealed);
    }

    /// <summary>Seals <paramref name="plaintext"/> as the next chunk into <see cref="_sealed"/> (after the header if first).</summary>
    private int SealChunk(ReadOnlySpan<byte> plaintext, bool final)
    {
        int at = 0;
        if (!_headerWritten)
        {
            _header.CopyTo(_sealed, 0);
            at = _header.Length;
        }

        Span<byte> aad = stackalloc byte[_header.Length + 9];
        HpkeEnvelope.WriteAad(aad, _header, _chunkIndex, final);
        int sealedLength = plaintext.Length + Hpke.TagLength;
        _context.Seal(aad, plaintext, _sealed.AsSpan(at, sealedLength));
        // The plaintext buffer is overwritten by the next chunk and wiped on dispose, not after every chunk.
        _buffered = 0;
        _chunkIndex++;
        return at + sealedLength;
    }

    private void Emit(int length, bool flush)
    {
        try
        {
            _destination.Write(_sealed, 0, length);
            if (flush)
            {
                _destination.Flush();
            }
        }
        catch
        {
            // What reached the destination is unknown: never follow it with more chunks or a final one.
            _state = State.Faulted;
            throw;
        }

        _headerWritten = true;
    }

    private async ValueTask EmitAsync(int length, CancellationToken cancellationToken)
    {
        try
        {
            await _destination.WriteAsync(_sealed.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _state = State.Faulted;
            throw;
        }

        _headerWritten = true;
    }

    private void EnsureOpen()
    {
        switch (_state)
        {
            case State.Open:
                return;
            case State.Disposed:
                throw new ObjectDisposedException(nameof(HpkeSealingStream));
            case State.Completed:
                throw new InvalidOperationException("The envelope is complete; nothing more can be written.");
            case State.Aborted:
                throw new InvalidOperationException("The envelope was aborted.");
            default:
                throw new InvalidOperationException("An earlier write to the destination failed; the envelope is unusable.");
        }
    }
}
