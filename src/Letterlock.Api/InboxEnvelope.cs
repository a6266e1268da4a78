using System.Buffers.Binary;
using Letterlock.Primitives;

namespace Letterlock.Api;

/// <summary>
/// The format of an <c>inbox</c> document, written by the provider's MX. The document body is an HPKE
/// sealed envelope (Letterlock.Hpke's chunked format, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
/// ChaCha20-Poly1305, base mode) to the account's inbox public key with HPKE info <see cref="Info"/>.
/// Its plaintext is framed so the stored size reveals only the Padmé-padded length:
/// <code>
/// framed = length (8 octets, big-endian) || message || zero octets up to Padmé(8 + length)
/// </code>
/// where <c>message</c> is the raw RFC 5322 message as received, headers included, with the provider's
/// <c>Authentication-Results</c> header prepended.
/// </summary>
public static class InboxEnvelope
{
    /// <summary>The HPKE info string for inbox documents.</summary>
    public static ReadOnlySpan<byte> Info => "letterlock-inbox-v1"u8;

    /// <summary>Length of the length prefix.</summary>
    public const int PrefixLength = 8;

    /// <summary>The framed (padded) plaintext length for a message of <paramref name="messageLength"/> octets.</summary>
    public static long FramedLength(long messageLength) => Padme.PaddedLength(PrefixLength + messageLength);

    /// <summary>Writes the length prefix of a message of <paramref name="messageLength"/> octets.</summary>
    public static void WritePrefix(Span<byte> destination, long messageLength) =>
        BinaryPrimitives.WriteInt64BigEndian(destination, messageLength);

    /// <summary>
    /// Extracts the message from an opened (decrypted) framed plaintext; false when the framing is
    /// inconsistent (a length beyond the data, or non-zero padding).
    /// </summary>
    public static bool TryUnframe(ReadOnlySpan<byte> framed, out ReadOnlySpan<byte> message)
    {
        message = default;
        if (framed.Length < PrefixLength)
        {
            return false;
        }

        long length = BinaryPrimitives.ReadInt64BigEndian(framed);
        if (length < 0 || length > framed.Length - PrefixLength || framed.Length != FramedLength(length))
        {
            return false;
        }

        if (framed[(PrefixLength + (int)length)..].ContainsAnyExcept((byte)0))
        {
            return false;
        }

        message = framed.Slice(PrefixLength, (int)length);
        return true;
    }
}
