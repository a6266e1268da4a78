using System.Buffers;
using System.Security.Cryptography;

namespace Letterlock.Cryptography;

/// <summary>
/// A read-only stream over an HPKE sealed envelope (<see cref="HpkeEnvelope"/>, docs/FORMATS.md):
/// it returns the plaintext chunk by chunk, each chunk only after it authenticates.
/// </summary>
/// <remarks>
/// <para>Every byte returned belongs to an authenticated chunk at its right position, but truncation
/// and appended data are detected only at the end: a reader that stops early has not proven the message
/// complete. A caller that must not act on a prefix (parse, index, forward, show) reads to the end first
/// (until <c>Read</c> returns 0 without throwing, e.g. into an encrypted temporary file) and only then
/// uses the data. Any failure throws <see cref="HpkeException"/>, and every later read throws again.</para>
/// <para>Nothing is read from the source until the first read; header errors surface there.</para>
/// </remarks>
public sealed class HpkeOpeningStream : Stream
{
    private readonly Stream _source;
    private readonly bool _leaveOpen;
    private readonly byte[] _privateKey;
    private readonly byte[] _info;
    private readonly byte[] _header = new byte[HpkeEnvelope.MaxHeaderLength];
    private int _headerLength;
    private readonly byte[] _sealed;
    private readonly byte[] _plain;
    private HpkeContext? _context;
    private int _plainOffset;
    private int _plainLength;
    private ulong _chunkIndex;
    private long _position;
    private bool _haveLookahead;
    private State _state;
    private HpkeException? _failure;

    private HpkeOpeningStream(Stream source, byte[] privateKey, byte[] info, bool leaveOpen)
    {
        _source = source;
        _privateKey = privateKey;
        _info = info;
        _leaveOpen = leaveOpen;
        // One byte more than a sealed chunk: the byte after a full chunk tells whether it is the last.
        _sealed = ArrayPool<byte>.Shared.Rent(HpkeEnvelope.SealedChunkSize + 1);
        _plain = ArrayPool<byte>.Shared.Rent(HpkeEnvelope.ChunkSize);
    }

    private enum State
    {
        NeedHeader,
        Chunks,
        Done,
        Faulted,
        Disposed,
    }

    /// <summary>Opens the envelope that <paramref name="source"/> holds.</summary>
    /// <param name="source">The envelope, read sequentially from its current position.</param>
    /// <param name="recipientPrivateKey">The recipient's 32-byte private key (copied, wiped on dispose): an X25519
    /// key or an X-Wing decapsulation key, used with the KEM the envelope's header names.</param>
    /// <param name="info">The HPKE info the envelope was sealed with.</param>
    /// <param name="leaveOpen">True to keep <paramref name="source"/> open after disposal.</param>
    public static HpkeOpeningStream Open(
        Stream source, ReadOnlySpan<byte> recipientPrivateKey, ReadOnlySpan<byte> info, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!source.CanRead)
        {
            throw new ArgumentException("The source stream must be readable.", nameof(source));
        }

        if (recipientPrivateKey.Length != Hpke.KeyLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An HPKE private key (X25519 or X-Wing) must be 32 bytes.");
        }

        return new HpkeOpeningStream(source, recipientPrivateKey.ToArray(), info.ToArray(), leaveOpen);
    }

    /// <summary>True once the final chunk has been authenticated (the message is proven complete).</summary>
    public bool IsComplete => _state == State.Done;

    /// <inheritdoc />
    public override bool CanRead => _state is not State.Disposed;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => false;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <summary>Plaintext bytes returned so far.</summary>
    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    /// <inheritdoc />
    public override int Read(Span<byte> buffer)
    {
        ThrowIfUnusable();
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (_plainOffset == _plainLength)
        {
            if (_state == State.Done)
            {
                return 0;
            }

            try
            {
                if (_state == State.NeedHeader)
                {
                    int got = _source.ReadAtLeast(_header.AsSpan(0, HpkeEnvelope.FixedHeaderLength), HpkeEnvelope.FixedHeaderLength, throwOnEndOfStream: false);
                    var kem = ReadFixedHeader(got);
                    int encLength = HpkeKems.EncapsulatedKeyLength(kem);
                    got = _source.ReadAtLeast(_header.AsSpan(HpkeEnvelope.FixedHeaderLength, encLength), encLength, throwOnEndOfStream: false);
                    AcceptHeader(kem, got);
                }

                int start = _haveLookahead ? 1 : 0;
                int read = _source.ReadAtLeast(_sealed.AsSpan(start, HpkeEnvelope.SealedChunkSize - start), HpkeEnvelope.SealedChunkSize - start, throwOnEndOfStream: false);
                int length = start + read;
                bool atEnd = length < HpkeEnvelope.SealedChunkSize
                    || _source.Read(_sealed.AsSpan(HpkeEnvelope.SealedChunkSize, 1)) == 0;
                OpenChunk(length, atEnd);
            }
            catch (Exception e)
            {
                Fail(e);
                throw;
            }
        }

        return Deliver(buffer);
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <inheritdoc />
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfUnusable();
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (_plainOffset == _plainLength)
        {
            if (_state == State.Done)
            {
                return 0;
            }

            try
            {
                if (_state == State.NeedHeader)
                {
                    int got = await _source.ReadAtLeastAsync(_header.AsMemory(0, HpkeEnvelope.FixedHeaderLength), HpkeEnvelope.FixedHeaderLength, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                    var kem = ReadFixedHeader(got);
                    int encLength = HpkeKems.EncapsulatedKeyLength(kem);
                    got = await _source.ReadAtLeastAsync(_header.AsMemory(HpkeEnvelope.FixedHeaderLength, encLength), encLength, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                    AcceptHeader(kem, got);
                }

                int start = _haveLookahead ? 1 : 0;
                int read = await _source.ReadAtLeastAsync(_sealed.AsMemory(start, HpkeEnvelope.SealedChunkSize - start), HpkeEnvelope.SealedChunkSize - start, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                int length = start + read;
                bool atEnd = length < HpkeEnvelope.SealedChunkSize
                    || await _source.ReadAsync(_sealed.AsMemory(HpkeEnvelope.SealedChunkSize, 1), cancellationToken).ConfigureAwait(false) == 0;
                OpenChunk(length, atEnd);
            }
            catch (Exception e)
            {
                Fail(e);
                throw;
            }
        }

        return Deliver(buffer.Span);
    }

    /// <summary>
    /// Reads and verifies the rest of the envelope, discarding the plaintext: proves that the
    /// message is complete and intact. Throws <see cref="HpkeException"/> if it is not.
    /// </summary>
    public async ValueTask VerifyToEndAsync(CancellationToken cancellationToken = default)
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(HpkeEnvelope.ChunkSize);
        try
        {
            while (await ReadAsync(scratch, cancellationToken).ConfigureAwait(false) > 0)
            {
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(scratch);
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <inheritdoc />
    public override void Flush()
    {
    }

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (_state == State.Disposed)
        {
            return;
        }

        Release();
        if (!_leaveOpen)
        {
            await _source.DisposeAsync().ConfigureAwait(false);
        }

        GC.SuppressFinalize(this);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && _state != State.Disposed)
        {
            Release();
            if (!_leaveOpen)
            {
                _source.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private HpkeKem ReadFixedHeader(int got)
    {
        if (got < HpkeEnvelope.FixedHeaderLength)
        {
            throw new HpkeException(HpkeError.TruncatedEnvelope, "The sealed envelope ends inside its header.");
        }

        return HpkeEnvelope.ValidateHeader(_header.AsSpan(0, HpkeEnvelope.FixedHeaderLength));
    }

    private void AcceptHeader(HpkeKem kem, int gotEnc)
    {
        int encLength = HpkeKems.EncapsulatedKeyLength(kem);
        if (gotEnc < encLength)
        {
            throw new HpkeException(HpkeError.TruncatedEnvelope, "The sealed envelope ends inside its header.");
        }

        _headerLength = HpkeEnvelope.FixedHeaderLength + encLength;
        _context = Hpke.SetupBaseRecipient(kem, _header.AsSpan(HpkeEnvelope.FixedHeaderLength, encLength), _privateKey, _info);
        CryptographicOperations.ZeroMemory(_privateKey);
        _state = State.Chunks;
    }

    /// <summary>
    /// Opens the <paramref name="length"/> sealed bytes at the start of <see cref="_sealed"/>;
    /// <paramref name="atEnd"/> says the source ended right after them (so this must be the final chunk).
    /// When it did not, the byte after the chunk was read and is kept as the first byte of the next one.
    /// </summary>
    private void OpenChunk(int length, bool atEnd)
    {
        if (length == 0)
        {
            throw new HpkeException(HpkeError.TruncatedEnvelope, "The sealed envelope ends before its final chunk.");
        }

        if (length < Hpke.TagLength)
        {
            throw new HpkeException(HpkeError.MalformedEnvelope, "A sealed envelope chunk is shorter than its tag.");
        }

        int plainLength = length - Hpke.TagLength;
        if (atEnd && plainLength == 0 && _chunkIndex > 0)
        {
            // The writer never produces an empty final chunk after others: refuse the non-canonical form.
            throw new HpkeException(HpkeError.MalformedEnvelope, "An empty final chunk may only be the first chunk.");
        }

        Span<byte> aad = stackalloc byte[_headerLength + 9];
        HpkeEnvelope.WriteAad(aad, _header.AsSpan(0, _headerLength), _chunkIndex, final: atEnd);
        _context!.Open(aad, _sealed.AsSpan(0, length), _plain.AsSpan(0, plainLength));
        _plainOffset = 0;
        _plainLength = plainLength;
        _chunkIndex++;
        if (atEnd)
        {
            _state = State.Done;
            _haveLookahead = false;
        }
        else
        {
            _sealed[0] = _sealed[HpkeEnvelope.SealedChunkSize];
            _haveLookahead = true;
        }
    }

    private int Deliver(Span<byte> buffer)
    {
        int count = Math.Min(buffer.Length, _plainLength - _plainOffset);
        _plain.AsSpan(_plainOffset, count).CopyTo(buffer);
        _plainOffset += count;
        _position += count;
        return count;
    }

    private void Fail(Exception e)
    {
        // A failed source read leaves the position inside a chunk unknown, so it poisons the stream too.
        _state = State.Faulted;
        _failure = e as HpkeException
            ?? new HpkeException(HpkeError.TruncatedEnvelope, "An earlier read of the sealed envelope failed.", e);
        _plainOffset = _plainLength = 0;
        CryptographicOperations.ZeroMemory(_plain);
    }

    private void ThrowIfUnusable()
    {
        if (_state == State.Disposed)
        {
            throw new ObjectDisposedException(nameof(HpkeOpeningStream));
        }

        if (_state == State.Faulted)
        {
            throw new HpkeException(_failure!.Error, _failure.Message);
        }
    }

    private void Release()
    {
        _state = State.Disposed;
        _context?.Dispose();
        CryptographicOperations.ZeroMemory(_privateKey);
        CryptographicOperations.ZeroMemory(_plain);
        ArrayPool<byte>.Shared.Return(_plain);
        ArrayPool<byte>.Shared.Return(_sealed);
    }
}
