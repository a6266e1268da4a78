using System.Security.Cryptography;
using NSec.Cryptography;
using ChaCha20Poly1305 = System.Security.Cryptography.ChaCha20Poly1305;
using IncrementalHash = System.Security.Cryptography.IncrementalHash;

namespace Letterlock.Native;

/// <summary>
/// The primitives of the native protocol, each in one place: HKDF-SHA256 and HMAC-SHA256 (RFC 5869 /
/// RFC 2104, .NET's), ChaCha20-Poly1305 (RFC 8439, .NET's), Ed25519 (libsodium through NSec) and the
/// device hint. Every label is a distinct ASCII string ending in a version, so no two derivations share
/// an input.
/// </summary>
internal static class NativeCrypto
{
    public const int KeyLength = 32;
    public const int NonceLength = 12;
    public const int TagLength = 16;
    public const int SignatureLength = 64;
    public const int HashLength = 32;
    public const int DeviceHintLength = 8;

    /// <summary>HKDF-SHA256 (RFC 5869): Extract(salt, ikm) then Expand(prk, info, output.Length).</summary>
    public static void Hkdf(ReadOnlySpan<byte> inputKeyingMaterial, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> info, Span<byte> output) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, inputKeyingMaterial, output, salt, info);

    /// <summary>HKDF-Extract (RFC 5869, 2.2).</summary>
    public static void HkdfExtract(ReadOnlySpan<byte> inputKeyingMaterial, ReadOnlySpan<byte> salt, Span<byte> prk) =>
        HKDF.Extract(HashAlgorithmName.SHA256, inputKeyingMaterial, salt, prk);

    /// <summary>HKDF-Expand (RFC 5869, 2.3).</summary>
    public static void HkdfExpand(ReadOnlySpan<byte> prk, ReadOnlySpan<byte> info, Span<byte> output) =>
        HKDF.Expand(HashAlgorithmName.SHA256, prk, output, info);

    public static void Hmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data, Span<byte> output) =>
        HMACSHA256.HashData(key, data, output);

    public static byte[] Sha256(ReadOnlySpan<byte> data) => SHA256.HashData(data);

    /// <summary>ChaCha20-Poly1305 seal: ciphertext then tag into <paramref name="output"/> (plaintext length + 16).</summary>
    public static void Seal(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> output)
    {
        using var aead = new ChaCha20Poly1305(key);
        aead.Encrypt(nonce, plaintext, output[..plaintext.Length], output.Slice(plaintext.Length, TagLength), associatedData);
    }

    /// <summary>ChaCha20-Poly1305 open; false (and a wiped output) when the ciphertext does not authenticate.</summary>
    public static bool TryOpen(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData, Span<byte> output)
    {
        if (sealedData.Length < TagLength || output.Length != sealedData.Length - TagLength)
        {
            return false;
        }

        using var aead = new ChaCha20Poly1305(key);
        try
        {
            aead.Decrypt(nonce, sealedData[..^TagLength], sealedData[^TagLength..], output, associatedData);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            CryptographicOperations.ZeroMemory(output);
            return false;
        }
    }

    /// <summary>
    /// The device hint of an entry: <c>SHA-256("letterlock-native-device-hint-v1" || 0x00 || device_key)[0..8]</c>.
    /// It tells a device which entries are its own; anyone with the directory can compute it, so it
    /// names only devices of the envelope's own recipient (see docs/design/native-protocol.md).
    /// </summary>
    public static byte[] DeviceHint(ReadOnlySpan<byte> deviceKey)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("letterlock-native-device-hint-v1\0"u8);
        hash.AppendData(deviceKey);
        return hash.GetHashAndReset()[..DeviceHintLength];
    }

    public static byte[] Sign(Key signingKey, ReadOnlySpan<byte> data) => SignatureAlgorithm.Ed25519.Sign(signingKey, data);

    public static bool Verify(ReadOnlySpan<byte> deviceKey, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (deviceKey.Length != KeyLength || signature.Length != SignatureLength)
        {
            return false;
        }

        if (!PublicKey.TryImport(SignatureAlgorithm.Ed25519, deviceKey, KeyBlobFormat.RawPublicKey, out var publicKey) || publicKey is null)
        {
            return false;
        }

        return SignatureAlgorithm.Ed25519.Verify(publicKey, data, signature);
    }
}
