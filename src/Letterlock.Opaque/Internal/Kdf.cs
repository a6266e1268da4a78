using System.Security.Cryptography;

namespace Letterlock.Cryptography.Internal;

/// <summary>
/// The KDF, MAC and Hash of the ristretto255-SHA512 configuration (RFC 9807, section 7): HKDF-SHA-512,
/// HMAC-SHA-512 and SHA-512, all .NET's (OpenSSL underneath). Nh = Nm = Nx = 64.
/// </summary>
internal static class Kdf
{
    public const int HashLength = 64;

    /// <summary>Extract(salt, ikm) with an empty salt, as every OPAQUE call uses.</summary>
    public static void Extract(ReadOnlySpan<byte> ikm, Span<byte> prk) =>
        HKDF.Extract(HashAlgorithmName.SHA512, ikm, ReadOnlySpan<byte>.Empty, prk);

    /// <summary>Expand(prk, info, L).</summary>
    public static void Expand(ReadOnlySpan<byte> prk, ReadOnlySpan<byte> info, Span<byte> output) =>
        HKDF.Expand(HashAlgorithmName.SHA512, prk, output, info);

    /// <summary>Expand(prk, concat(nonce, label), L): the form the envelope and masking functions use.</summary>
    public static void Expand(ReadOnlySpan<byte> prk, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> label, Span<byte> output)
    {
        Span<byte> info = stackalloc byte[nonce.Length + label.Length];
        nonce.CopyTo(info);
        label.CopyTo(info[nonce.Length..]);
        Expand(prk, info, output);
    }

    /// <summary>
    /// Expand-Label(Secret, Label, Context, Length) = Expand(Secret, CustomLabel, Length), with
    /// <code>
    /// struct {
    ///   uint16 length = Length;
    ///   opaque label&lt;8..255&gt; = "OPAQUE-" + Label;
    ///   uint8 context&lt;0..255&gt; = Context;
    /// } CustomLabel;
    /// </code>
    /// (RFC 9807, section 6.4.2.1).
    /// </summary>
    public static void ExpandLabel(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> label, ReadOnlySpan<byte> context, Span<byte> output)
    {
        ReadOnlySpan<byte> prefix = "OPAQUE-"u8;
        int labelLength = prefix.Length + label.Length;
        Span<byte> info = stackalloc byte[2 + 1 + labelLength + 1 + context.Length];
        info[0] = (byte)(output.Length >> 8);
        info[1] = (byte)output.Length;
        info[2] = (byte)labelLength;
        prefix.CopyTo(info[3..]);
        label.CopyTo(info[(3 + prefix.Length)..]);
        info[3 + labelLength] = (byte)context.Length;
        context.CopyTo(info[(4 + labelLength)..]);
        Expand(secret, info, output);
    }

    /// <summary>MAC(key, msg) = HMAC-SHA-512.</summary>
    public static void Mac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, Span<byte> tag) =>
        HMACSHA512.HashData(key, message, tag);

    /// <summary>Hash(msg) = SHA-512.</summary>
    public static void Hash(ReadOnlySpan<byte> message, Span<byte> digest) => SHA512.HashData(message, digest);
}
