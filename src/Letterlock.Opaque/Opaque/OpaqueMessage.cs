using System.Diagnostics.CodeAnalysis;
using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Opaque;

/// <summary>
/// A fixed-length OPAQUE message (RFC 9807, sections 5.1 and 6.1, for the ristretto255-SHA512 configuration).
/// Instances are immutable and valid: <c>TryParse</c> checks the exact length and that every group element
/// is a canonical, non-identity ristretto255 encoding (RFC 9807, section 10.7; RFC 9497, section 4.1).
/// </summary>
public abstract class OpaqueMessage
{
    private protected OpaqueMessage(byte[] bytes)
    {
        Bytes = bytes;
    }

    /// <summary>The length of the serialized message in bytes.</summary>
    public int Length => Bytes.Length;

    internal byte[] Bytes { get; }

    /// <summary>The wire encoding: the RFC's struct, fields concatenated without length prefixes.</summary>
    public byte[] Serialize() => (byte[])Bytes.Clone();

    /// <summary>Copies exactly <paramref name="length"/> bytes when the input has that length and every element at the given offsets is valid.</summary>
    private protected static byte[]? Parse(ReadOnlySpan<byte> data, int length, params ReadOnlySpan<int> elementOffsets)
    {
        if (data.Length != length)
        {
            return null;
        }

        foreach (int offset in elementOffsets)
        {
            if (!Ristretto255.IsValidElement(data.Slice(offset, Ristretto255.ElementLength)))
            {
                return null;
            }
        }

        return data.ToArray();
    }
}

/// <summary>
/// RegistrationRequest (RFC 9807, section 5.1): <c>struct { uint8 blinded_message[Noe]; }</c>, 32 bytes.
/// Sent by the client to start registration.
/// </summary>
public sealed class RegistrationRequest : OpaqueMessage
{
    /// <summary>The serialized length: Noe = 32.</summary>
    public const int SerializedLength = OpaqueSuite.Noe;

    internal RegistrationRequest(byte[] bytes)
        : base(bytes)
    {
    }

    internal ReadOnlySpan<byte> BlindedMessage => Bytes;

    /// <summary>Parses a request of exactly <see cref="SerializedLength"/> bytes holding a valid group element.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, [NotNullWhen(true)] out RegistrationRequest? request)
    {
        byte[]? bytes = Parse(data, SerializedLength, 0);
        request = bytes is null ? null : new RegistrationRequest(bytes);
        return request is not null;
    }
}

/// <summary>
/// RegistrationResponse (RFC 9807, section 5.1):
/// <c>struct { uint8 evaluated_message[Noe]; uint8 server_public_key[Npk]; }</c>, 64 bytes.
/// </summary>
public sealed class RegistrationResponse : OpaqueMessage
{
    /// <summary>The serialized length: Noe + Npk = 64.</summary>
    public const int SerializedLength = OpaqueSuite.Noe + OpaqueSuite.Npk;

    internal RegistrationResponse(byte[] bytes)
        : base(bytes)
    {
    }

    internal ReadOnlySpan<byte> EvaluatedMessage => Bytes.AsSpan(0, OpaqueSuite.Noe);

    internal ReadOnlySpan<byte> ServerPublicKey => Bytes.AsSpan(OpaqueSuite.Noe, OpaqueSuite.Npk);

    /// <summary>Parses a response of exactly <see cref="SerializedLength"/> bytes whose two group elements are valid.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, [NotNullWhen(true)] out RegistrationResponse? response)
    {
        byte[]? bytes = Parse(data, SerializedLength, 0, OpaqueSuite.Noe);
        response = bytes is null ? null : new RegistrationResponse(bytes);
        return response is not null;
    }
}

/// <summary>
/// RegistrationRecord (RFC 9807, section 5.1), what the server stores for an account:
/// <c>struct { uint8 client_public_key[Npk]; uint8 masking_key[Nh]; Envelope envelope; }</c> with
/// <c>struct { uint8 envelope_nonce[Nn]; uint8 auth_tag[Nm]; } Envelope</c>, 192 bytes. It holds no password
/// and no password hash: checking a password guess against it costs an OPRF evaluation with the server's
/// oprf_seed and one run of the key-stretching function.
/// </summary>
public sealed class RegistrationRecord : OpaqueMessage
{
    /// <summary>The serialized length: Npk + Nh + Nn + Nm = 192.</summary>
    public const int SerializedLength = OpaqueSuite.Npk + OpaqueSuite.Nh + OpaqueSuite.EnvelopeLength;

    internal RegistrationRecord(byte[] bytes)
        : base(bytes)
    {
    }

    internal ReadOnlySpan<byte> ClientPublicKey => Bytes.AsSpan(0, OpaqueSuite.Npk);

    internal ReadOnlySpan<byte> MaskingKey => Bytes.AsSpan(OpaqueSuite.Npk, OpaqueSuite.Nh);

    internal ReadOnlySpan<byte> Envelope => Bytes.AsSpan(OpaqueSuite.Npk + OpaqueSuite.Nh, OpaqueSuite.EnvelopeLength);

    /// <summary>Parses a record of exactly <see cref="SerializedLength"/> bytes whose client public key is a valid group element.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, [NotNullWhen(true)] out RegistrationRecord? record)
    {
        byte[]? bytes = Parse(data, SerializedLength, 0);
        record = bytes is null ? null : new RegistrationRecord(bytes);
        return record is not null;
    }
}

/// <summary>
/// KE1 (RFC 9807, section 6.1), the client's first login message:
/// <c>struct { CredentialRequest credential_request; AuthRequest auth_request; }</c> =
/// blinded_message[Noe] || client_nonce[Nn] || client_public_keyshare[Npk], 96 bytes.
/// </summary>
public sealed class KE1 : OpaqueMessage
{
    /// <summary>The serialized length: Noe + Nn + Npk = 96.</summary>
    public const int SerializedLength = OpaqueSuite.Noe + OpaqueSuite.Nn + OpaqueSuite.Npk;

    internal KE1(byte[] bytes)
        : base(bytes)
    {
    }

    internal ReadOnlySpan<byte> BlindedMessage => Bytes.AsSpan(0, OpaqueSuite.Noe);

    internal ReadOnlySpan<byte> ClientPublicKeyshare => Bytes.AsSpan(OpaqueSuite.Noe + OpaqueSuite.Nn, OpaqueSuite.Npk);

    /// <summary>Parses a KE1 of exactly <see cref="SerializedLength"/> bytes whose blinded element and key share are valid.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, [NotNullWhen(true)] out KE1? message)
    {
        byte[]? bytes = Parse(data, SerializedLength, 0, OpaqueSuite.Noe + OpaqueSuite.Nn);
        message = bytes is null ? null : new KE1(bytes);
        return message is not null;
    }
}

/// <summary>
/// KE2 (RFC 9807, section 6.1), the server's login response:
/// <c>struct { CredentialResponse credential_response; AuthResponse auth_response; }</c> =
/// evaluated_message[Noe] || masking_nonce[Nn] || masked_response[Npk + Nn + Nm] || server_nonce[Nn] ||
/// server_public_keyshare[Npk] || server_mac[Nm], 320 bytes. A response for an unknown account has the same
/// form and is indistinguishable without the password.
/// </summary>
public sealed class KE2 : OpaqueMessage
{
    /// <summary>The serialized length: 192 (credential response) + Nn + Npk + Nm = 320.</summary>
    public const int SerializedLength = OpaqueSuite.CredentialResponseLength + OpaqueSuite.Nn + OpaqueSuite.Npk + OpaqueSuite.Nm;

    private const int KeyshareOffset = OpaqueSuite.CredentialResponseLength + OpaqueSuite.Nn;

    internal KE2(byte[] bytes)
        : base(bytes)
    {
    }

    internal ReadOnlySpan<byte> EvaluatedMessage => Bytes.AsSpan(0, OpaqueSuite.Noe);

    internal ReadOnlySpan<byte> MaskingNonce => Bytes.AsSpan(OpaqueSuite.Noe, OpaqueSuite.Nn);

    internal ReadOnlySpan<byte> MaskedResponse => Bytes.AsSpan(OpaqueSuite.Noe + OpaqueSuite.Nn, OpaqueSuite.MaskedResponseLength);

    internal ReadOnlySpan<byte> CredentialResponse => Bytes.AsSpan(0, OpaqueSuite.CredentialResponseLength);

    /// <summary>server_nonce || server_public_keyshare: the AuthResponse fields the preamble covers.</summary>
    internal ReadOnlySpan<byte> ServerNonceAndKeyshare => Bytes.AsSpan(OpaqueSuite.CredentialResponseLength, OpaqueSuite.Nn + OpaqueSuite.Npk);

    internal ReadOnlySpan<byte> ServerPublicKeyshare => Bytes.AsSpan(KeyshareOffset, OpaqueSuite.Npk);

    internal ReadOnlySpan<byte> ServerMac => Bytes.AsSpan(KeyshareOffset + OpaqueSuite.Npk, OpaqueSuite.Nm);

    /// <summary>Parses a KE2 of exactly <see cref="SerializedLength"/> bytes whose evaluated element and key share are valid.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, [NotNullWhen(true)] out KE2? message)
    {
        byte[]? bytes = Parse(data, SerializedLength, 0, KeyshareOffset);
        message = bytes is null ? null : new KE2(bytes);
        return message is not null;
    }
}

/// <summary>KE3 (RFC 9807, section 6.1): <c>struct { uint8 client_mac[Nm]; }</c>, 64 bytes.</summary>
public sealed class KE3 : OpaqueMessage
{
    /// <summary>The serialized length: Nm = 64.</summary>
    public const int SerializedLength = OpaqueSuite.Nm;

    internal KE3(byte[] bytes)
        : base(bytes)
    {
    }

    internal ReadOnlySpan<byte> ClientMac => Bytes;

    /// <summary>Parses a KE3 of exactly <see cref="SerializedLength"/> bytes.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, [NotNullWhen(true)] out KE3? message)
    {
        byte[]? bytes = Parse(data, SerializedLength);
        message = bytes is null ? null : new KE3(bytes);
        return message is not null;
    }
}
