using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Letterlock.Cryptography;

namespace Letterlock.Relay.Queue;

/// <summary>
/// Seals queue entries to the provider's queue key with HPKE (Letterlock.Hpke's sealed envelope, docs/FORMATS.md)
/// and derives the destination keys that group work without naming domains on disk.
/// </summary>
internal sealed class QueueSealing
{
    private static readonly byte[] MessageInfo = "letterlock-relay-message-v1"u8.ToArray();
    private static readonly byte[] StateInfo = "letterlock-relay-state-v1"u8.ToArray();

    private readonly HpkeKeyPair _key;
    private readonly byte[] _destinationKey;

    public QueueSealing(HpkeKeyPair key)
    {
        _key = key;
        _destinationKey = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, key.PrivateKey.Span, _destinationKey, salt: [], info: "letterlock-relay-destination-v1"u8);
    }

    /// <summary>HMAC-SHA256(key, domain), truncated to 128 bits, hex.</summary>
    public string Destination(string domain) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(_destinationKey, Encoding.UTF8.GetBytes(domain.ToLowerInvariant()))[..16]);

    public byte[] SealMessage(ReadOnlySpan<byte> message) => Seal(message, MessageInfo);

    public byte[] OpenMessage(byte[] sealedMessage) => Open(sealedMessage, MessageInfo);

    public byte[] SealState(QueuedState state) => Seal(JsonSerializer.SerializeToUtf8Bytes(state, QueueJson.Default.QueuedState), StateInfo);

    public QueuedState OpenState(byte[] sealedState) =>
        JsonSerializer.Deserialize(Open(sealedState, StateInfo), QueueJson.Default.QueuedState) ?? throw new InvalidDataException("empty queue state");

    private byte[] Seal(ReadOnlySpan<byte> plaintext, byte[] info)
    {
        using var output = new MemoryStream(plaintext.Length + 256);
        using (var sealing = HpkeSealingStream.Create(output, _key.PublicKey.Span, info, leaveOpen: true))
        {
            sealing.Write(plaintext);
            sealing.Complete();
        }

        return output.ToArray();
    }

    private byte[] Open(byte[] sealedBytes, byte[] info)
    {
        using var input = new MemoryStream(sealedBytes, writable: false);
        using var opening = HpkeOpeningStream.Open(input, _key.PrivateKey.Span, info);
        using var output = new MemoryStream();
        opening.CopyTo(output);
        if (!opening.IsComplete)
        {
            throw new InvalidDataException("truncated queue entry");
        }

        return output.ToArray();
    }
}
