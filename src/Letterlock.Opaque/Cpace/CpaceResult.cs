using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace Letterlock.Cryptography.Cpace;

/// <summary>How a CPace exchange ended.</summary>
public enum CpaceStatus
{
    /// <summary>Both sides hold the same key: the peer's confirmation tag verified.</summary>
    Success,

    /// <summary>The peer's message holds an element that does not decode or yields the identity; abort.</summary>
    InvalidPeerMessage,

    /// <summary>
    /// The peer's confirmation tag does not verify: it used another code, channel identifier or session id, or a
    /// message was altered on the way. The exchange is over; a new one needs a new session.
    /// </summary>
    ConfirmationFailed,

    /// <summary>The exchange finished but the peer's confirmation has not been checked yet.</summary>
    AwaitingConfirmation,
}

/// <summary>
/// The outcome of <see cref="CpaceSession.Finish"/>: this party's confirmation tag to send, and, once the peer's tag
/// verified (<see cref="ConfirmPeer"/>), the short authentication string for both screens and keys derived from the
/// intermediate session key (ISK). Dispose zeroes the ISK.
/// </summary>
public sealed class CpaceResult : IDisposable
{
    private const int SasDigits = 6;
    private static readonly byte[] SasLabel = "Letterlock CPace SAS v1"u8.ToArray();
    private static readonly byte[] KeyLabelPrefix = "Letterlock CPace key v1:"u8.ToArray();

    private readonly byte[]? _isk;
    private readonly byte[]? _expectedPeerTag;
    private readonly byte[]? _peerAssociatedData;
    private bool _disposed;

    internal CpaceResult(byte[] isk, byte[] ownTag, byte[] expectedPeerTag, byte[] peerAssociatedData)
    {
        _isk = isk;
        ConfirmationTag = ownTag;
        _expectedPeerTag = expectedPeerTag;
        _peerAssociatedData = peerAssociatedData;
        Status = CpaceStatus.AwaitingConfirmation;
    }

    private CpaceResult(CpaceStatus status)
    {
        Status = status;
    }

    /// <summary>The length of a confirmation tag: HMAC-SHA-512, 64 bytes.</summary>
    public const int ConfirmationTagLength = 64;

    /// <summary>Where the exchange stands.</summary>
    public CpaceStatus Status { get; private set; }

    /// <summary>
    /// This party's key confirmation tag (draft section 10.4: MAC(mac_key, lv_cat(Y, AD)) over the message it sent),
    /// to send to the peer; null when the peer's message was invalid.
    /// </summary>
    public byte[]? ConfirmationTag { get; }

    internal byte[] Isk => _isk ?? throw new InvalidOperationException("No key: the exchange failed.");

    internal static CpaceResult Invalid => new(CpaceStatus.InvalidPeerMessage);

    /// <summary>
    /// Checks the peer's confirmation tag in constant time. On success the keys and the short authentication string
    /// become available; on failure (a wrong code, or tampering) the ISK is zeroed and the exchange is over.
    /// </summary>
    public CpaceStatus ConfirmPeer(ReadOnlySpan<byte> peerTag)
    {
        ObjectDisposedException.ThrowIf(_disposed && Status == CpaceStatus.AwaitingConfirmation, this);
        if (Status != CpaceStatus.AwaitingConfirmation)
        {
            return Status == CpaceStatus.Success ? Status : throw new InvalidOperationException($"The exchange ended with {Status}.");
        }

        bool valid = peerTag.Length == ConfirmationTagLength && CryptographicOperations.FixedTimeEquals(peerTag, _expectedPeerTag);
        Status = valid ? CpaceStatus.Success : CpaceStatus.ConfirmationFailed;
        if (!valid)
        {
            Dispose();
        }

        return Status;
    }

    /// <summary>The peer's associated data, authenticated once <see cref="ConfirmPeer"/> succeeded.</summary>
    public byte[] PeerAssociatedData => (byte[])RequireConfirmed(_peerAssociatedData).Clone();

    /// <summary>
    /// A short authentication string both screens show, "123 456": six decimal digits from HKDF-Expand(ISK,
    /// "Letterlock CPace SAS v1"). Both parties see the same digits exactly when they share the ISK; a relay that
    /// guessed the code and ran two separate exchanges would show different digits on the two screens.
    /// </summary>
    public string ShortAuthenticationString
    {
        get
        {
            Span<byte> bytes = stackalloc byte[8];
            HKDF.Expand(HashAlgorithmName.SHA512, RequireConfirmed(_isk), bytes, SasLabel);

            // 64 bits reduced modulo 10^6: the bias is below 2^-44.
            ulong value = BinaryPrimitives.ReadUInt64BigEndian(bytes) % 1_000_000;
            string digits = value.ToString("D" + SasDigits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            return $"{digits[..3]} {digits[3..]}";
        }
    }

    /// <summary>
    /// A key for the application (for instance to encrypt the account's key bundle to the new device):
    /// HKDF-Expand(ISK, "Letterlock CPace key v1:" || <paramref name="label"/>, L). Different labels give independent keys.
    /// </summary>
    public void DeriveKey(ReadOnlySpan<byte> label, Span<byte> key)
    {
        byte[] info = [.. KeyLabelPrefix, .. label];
        HKDF.Expand(HashAlgorithmName.SHA512, RequireConfirmed(_isk), key, info);
    }

    /// <summary>Zeroes the ISK.</summary>
    public void Dispose()
    {
        if (_isk is not null)
        {
            CryptographicOperations.ZeroMemory(_isk);
        }

        _disposed = true;
    }

    private T RequireConfirmed<T>(T? value)
        where T : class =>
        Status == CpaceStatus.Success && value is not null && !_disposed
            ? value
            : throw new InvalidOperationException(Status != CpaceStatus.Success ? "The peer's confirmation tag has not verified." : "The result was disposed.");
}
