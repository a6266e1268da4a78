namespace Letterlock.Cryptography.Opaque;

/// <summary>
/// The one OPAQUE configuration Letterlock speaks (RFC 9807, section 7): OPRF ristretto255-SHA512 (RFC 9497),
/// KDF HKDF-SHA-512, MAC HMAC-SHA-512, Hash SHA-512, Group ristretto255, with the key-stretching function chosen
/// by the application (<see cref="IKeyStretchingFunction"/>). The sizes are the RFC's names.
/// </summary>
public static class OpaqueSuite
{
    /// <summary>A human-readable name of the configuration, for logs and documents.</summary>
    public const string Name = "OPAQUE-3DH ristretto255-SHA512 (HKDF-SHA-512, HMAC-SHA-512, SHA-512)";

    /// <summary>Noe: the size of a serialized OPRF element.</summary>
    public const int Noe = 32;

    /// <summary>Npk: the size of an AKE public key.</summary>
    public const int Npk = 32;

    /// <summary>Nsk: the size of an AKE private key.</summary>
    public const int Nsk = 32;

    /// <summary>Nn: the size of a nonce.</summary>
    public const int Nn = 32;

    /// <summary>Nseed: the size of a key-derivation seed.</summary>
    public const int Nseed = 32;

    /// <summary>Nok: the size of an OPRF private key.</summary>
    public const int Nok = 32;

    /// <summary>Nh: the hash output size, also the size of the oprf_seed, masking key, export key and session key.</summary>
    public const int Nh = 64;

    /// <summary>Nm: the MAC output size.</summary>
    public const int Nm = 64;

    /// <summary>Nx: the KDF Extract output size.</summary>
    public const int Nx = 64;

    /// <summary>The size of an Envelope: envelope_nonce[Nn] || auth_tag[Nm].</summary>
    public const int EnvelopeLength = Nn + Nm;

    /// <summary>The size of masked_response: Npk + Nn + Nm.</summary>
    public const int MaskedResponseLength = Npk + Nn + Nm;

    /// <summary>The size of a CredentialResponse: evaluated_message[Noe] || masking_nonce[Nn] || masked_response.</summary>
    public const int CredentialResponseLength = Noe + Nn + MaskedResponseLength;

    /// <summary>The longest client or server identity, context or password the wire format can frame (a 2-byte length).</summary>
    public const int MaxFramedLength = ushort.MaxValue;
}
