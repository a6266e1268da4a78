namespace Letterlock.Native;

/// <summary>
/// A device that cannot open an envelope addressed to it (its session state is gone) asks the sender,
/// through the envelope's reply alias, to start a new session and send the message again:
/// <code>
/// struct ResetRequest {
///   opaque magic[6] = "LLNRST"; uint8 version = 1;
///   opaque envelope_id[16];   // the envelope that did not open
///   opaque device_key[32];    // the requesting device (Ed25519)
///   uint64 issued_at;         // Unix seconds
///   opaque signature[64];     // Ed25519(device_key, "letterlock-native-reset-v1" || 0x00 || every field above)
/// }                           // 127 bytes
/// </code>
/// It reveals nothing the sender's provider does not know: that provider relayed the envelope to the
/// requester's address. A forged request can at most make a sender start a new session from the
/// requester's published prekeys.
/// </summary>
public sealed class ResetRequest
{
    /// <summary>Encoded length.</summary>
    public const int Length = 127;

    private ResetRequest(byte[] envelopeId, byte[] deviceKey, long issuedAt, byte[] signature)
    {
        EnvelopeId = envelopeId;
        DeviceKey = deviceKey;
        IssuedAtSeconds = issuedAt;
        Signature = signature;
    }

    private static ReadOnlySpan<byte> Magic => "LLNRST"u8;

    /// <summary>The envelope that did not open.</summary>
    public byte[] EnvelopeId { get; }

    /// <summary>The device asking.</summary>
    public byte[] DeviceKey { get; }

    /// <summary>When it asked.</summary>
    public DateTimeOffset IssuedAt => DateTimeOffset.FromUnixTimeSeconds(IssuedAtSeconds);

    /// <summary>Its signature.</summary>
    public byte[] Signature { get; }

    private long IssuedAtSeconds { get; }

    /// <summary>Reads a request and verifies its signature with the device key it names.</summary>
    /// <exception cref="NativeException">Malformed, or the signature does not verify.</exception>
    public static ResetRequest Decode(ReadOnlySpan<byte> encoded)
    {
        var reader = new WireReader(encoded, "reset request");
        if (!reader.ReadBytes(6).SequenceEqual(Magic) || reader.ReadByte() != 1)
        {
            throw new NativeException(NativeError.Malformed, "Not a Letterlock reset request.");
        }

        var envelopeId = reader.ReadBytes(NativeEnvelope.EnvelopeIdLength).ToArray();
        var deviceKey = reader.ReadBytes(32).ToArray();
        var issued = reader.ReadUInt64();
        var signature = reader.ReadBytes(NativeCrypto.SignatureLength).ToArray();
        reader.ExpectEnd();
        if (issued > (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            throw new NativeException(NativeError.Malformed, "The reset request time is out of range.");
        }

        if (!NativeCrypto.Verify(deviceKey, SignedData(encoded[..^NativeCrypto.SignatureLength]), signature))
        {
            throw new NativeException(NativeError.InvalidSignature, "The reset request's signature does not verify.");
        }

        return new ResetRequest(envelopeId, deviceKey, (long)issued, signature);
    }

    /// <summary>The 127-byte encoding.</summary>
    public byte[] Encode()
    {
        var writer = Unsigned(EnvelopeId, DeviceKey, IssuedAtSeconds);
        writer.WriteBytes(Signature);
        return writer.ToArray();
    }

    internal static ResetRequest Create(DeviceIdentity device, ReadOnlySpan<byte> envelopeId, DateTimeOffset now)
    {
        if (envelopeId.Length != NativeEnvelope.EnvelopeIdLength)
        {
            throw new ArgumentException("An envelope id is 16 bytes.", nameof(envelopeId));
        }

        var deviceKey = device.DeviceKey.ToArray();
        var issued = now.ToUnixTimeSeconds();
        var unsigned = Unsigned(envelopeId, deviceKey, issued);
        return new ResetRequest(envelopeId.ToArray(), deviceKey, issued, device.Sign(SignedData(unsigned.Written)));
    }

    private static WireWriter Unsigned(ReadOnlySpan<byte> envelopeId, ReadOnlySpan<byte> deviceKey, long issuedAt)
    {
        var writer = new WireWriter(Length);
        writer.WriteBytes(Magic);
        writer.WriteByte(1);
        writer.WriteBytes(envelopeId);
        writer.WriteBytes(deviceKey);
        writer.WriteUInt64((ulong)issuedAt);
        return writer;
    }

    private static byte[] SignedData(ReadOnlySpan<byte> fields)
    {
        var data = new byte[27 + fields.Length];
        "letterlock-native-reset-v1\0"u8.CopyTo(data);
        fields.CopyTo(data.AsSpan(27));
        return data;
    }
}
