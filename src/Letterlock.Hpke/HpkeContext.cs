using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Letterlock.Cryptography;

/// <summary>
/// An HPKE encryption context (RFC 9180, 5.2 and 5.3): seals (sender) or opens (recipient) a
/// sequence of messages, each with the next nonce, and exports secrets. Messages must be opened in
/// the order they were sealed. Not thread-safe; dispose it to wipe its keys.
/// </summary>
public sealed class HpkeContext : IDisposable
{
    private readonly ChaCha20Poly1305 _aead;
    private readonly byte[] _baseNonce;
    private readonly byte[] _exporterSecret;
    private ulong _sequence;
    private bool _disposed;

    internal HpkeContext(ReadOnlySpan<byte> key, byte[] baseNonce, byte[] exporterSecret, bool isSender)
    {
        _aead = new ChaCha20Poly1305(key);
        _baseNonce = baseNonce;
        _exporterSecret = exporterSecret;
        IsSender = isSender;
    }

    /// <summary>True for a context from SetupBaseSender (it seals), false for a recipient's (it opens).</summary>
    public bool IsSender { get; }

    /// <summary>The sequence number of the next message to seal or open (starts at 0).</summary>
    public ulong SequenceNumber => _sequence;

    /// <summary>Seals <paramref name="plaintext"/> with <paramref name="associatedData"/>; returns ciphertext and tag.</summary>
    /// <exception cref="InvalidOperationException">This is a recipient context.</exception>
    /// <exception cref="HpkeException">The message limit is reached.</exception>
    public byte[] Seal(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext)
    {
        var ciphertext = new byte[plaintext.Length + Hpke.TagLength];
        Seal(associatedData, plaintext, ciphertext);
        return ciphertext;
    }

    /// <summary>
    /// Seals into <paramref name="ciphertext"/>, which must be exactly
    /// <c>plaintext.Length + </c><see cref="Hpke.TagLength"/> bytes (ciphertext, then tag).
    /// </summary>
    /// <exception cref="InvalidOperationException">This is a recipient context.</exception>
    /// <exception cref="HpkeException">The message limit is reached.</exception>
    public void Seal(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!IsSender)
        {
            throw new InvalidOperationException("A recipient context cannot seal (RFC 9180, 5.2).");
        }

        if (ciphertext.Length != plaintext.Length + Hpke.TagLength)
        {
            throw new ArgumentException("The ciphertext buffer must be the plaintext length plus the tag length.", nameof(ciphertext));
        }

        Span<byte> nonce = stackalloc byte[Hpke.NonceLength];
        ComputeNonce(nonce);
        _aead.Encrypt(nonce, plaintext, ciphertext[..plaintext.Length], ciphertext[plaintext.Length..], associatedData);
        _sequence++;
    }

    /// <summary>Opens <paramref name="ciphertext"/> (ciphertext and tag) sealed with <paramref name="associatedData"/>.</summary>
    /// <exception cref="HpkeException">
    /// The ciphertext does not authenticate (<see cref="HpkeError.OpenFailed"/>); nothing is returned and
    /// the sequence number does not move, so the next genuine message still opens.
    /// </exception>
    /// <exception cref="InvalidOperationException">This is a sender context.</exception>
    public byte[] Open(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext)
    {
        if (ciphertext.Length < Hpke.TagLength)
        {
            throw new HpkeException(HpkeError.OpenFailed);
        }

        var plaintext = new byte[ciphertext.Length - Hpke.TagLength];
        Open(associatedData, ciphertext, plaintext);
        return plaintext;
    }

    /// <summary>
    /// Opens into <paramref name="plaintext"/>, which must be exactly <c>ciphertext.Length - </c>
    /// <see cref="Hpke.TagLength"/> bytes. On failure the destination is zeroed: no unauthenticated
    /// byte is ever left in it.
    /// </summary>
    /// <exception cref="HpkeException">The ciphertext does not authenticate (<see cref="HpkeError.OpenFailed"/>).</exception>
    /// <exception cref="InvalidOperationException">This is a sender context.</exception>
    public void Open(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> plaintext)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsSender)
        {
            throw new InvalidOperationException("A sender context cannot open (RFC 9180, 5.2).");
        }

        if (ciphertext.Length < Hpke.TagLength)
        {
            throw new HpkeException(HpkeError.OpenFailed);
        }

        int length = ciphertext.Length - Hpke.TagLength;
        if (plaintext.Length != length)
        {
            throw new ArgumentException("The plaintext buffer must be the ciphertext length minus the tag length.", nameof(plaintext));
        }

        Span<byte> nonce = stackalloc byte[Hpke.NonceLength];
        ComputeNonce(nonce);
        try
        {
            _aead.Decrypt(nonce, ciphertext[..length], ciphertext[length..], plaintext, associatedData);
        }
        catch (CryptographicException e)
        {
            // .NET zeroes the destination on a tag mismatch; do it again so that holds whatever the backend.
            CryptographicOperations.ZeroMemory(plaintext);
            throw new HpkeException(HpkeError.OpenFailed, "The ciphertext could not be authenticated (wrong key, wrong info or associated data, or tampered).", e);
        }

        _sequence++;
    }

    /// <summary>
    /// Export(exporter_context, L) = LabeledExpand(exporter_secret, "sec", exporter_context, L)
    /// (RFC 9180, 5.3): a secret both sides derive identically, independent of sealed messages.
    /// </summary>
    /// <param name="exporterContext">Distinguishes independent exported secrets.</param>
    /// <param name="length">1 to 8160 bytes (255 * Nh).</param>
    public byte[] Export(ReadOnlySpan<byte> exporterContext, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, 255 * HpkeKdf.HashLength);
        var output = new byte[length];
        Export(exporterContext, output);
        return output;
    }

    /// <summary>Exports <c>destination.Length</c> bytes (at most 8160) into <paramref name="destination"/>.</summary>
    public void Export(ReadOnlySpan<byte> exporterContext, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        HpkeKdf.LabeledExpand(Hpke.HpkeSuiteId, _exporterSecret, "sec"u8, exporterContext, destination);
    }

    /// <summary>Wipes the keys; the context cannot be used afterwards.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _aead.Dispose();
            CryptographicOperations.ZeroMemory(_baseNonce);
            CryptographicOperations.ZeroMemory(_exporterSecret);
        }
    }

    /// <summary>
    /// ComputeNonce(seq) = xor(base_nonce, I2OSP(seq, Nn)) (RFC 9180, 5.2). The sequence number is
    /// kept in 64 bits, a stricter limit than the RFC's 2^96 - 1 that no real use comes near.
    /// </summary>
    private void ComputeNonce(Span<byte> nonce)
    {
        if (_sequence == ulong.MaxValue)
        {
            throw new HpkeException(HpkeError.MessageLimitReached);
        }

        _baseNonce.CopyTo(nonce);
        ulong tail = BinaryPrimitives.ReadUInt64BigEndian(nonce[4..]) ^ _sequence;
        BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], tail);
    }
}
