using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Letterlock.Api;

/// <summary>
/// The device request-authentication scheme. A device proves possession of its Ed25519 key by signing a
/// challenge; the provider consumes each challenge at most once (a replay finds it gone) and answers with
/// a short-lived bearer token. Every signed message starts with a distinct context string and names the
/// provider's domain, so a signature made for one purpose or one provider is useless for another.
/// </summary>
public static class DeviceAuthentication
{
    /// <summary>Length of an Ed25519 public key and of an X25519 inbox key.</summary>
    public const int PublicKeyLength = 32;

    /// <summary>Length of an Ed25519 signature.</summary>
    public const int SignatureLength = 64;

    /// <summary>The bytes a device signs to redeem a challenge.</summary>
    /// <param name="providerDomain">The provider's mail domain.</param>
    /// <param name="deviceId">The signing device.</param>
    /// <param name="challengeId">The challenge's id.</param>
    /// <param name="challenge">The challenge bytes.</param>
    public static byte[] ChallengeMessage(string providerDomain, Guid deviceId, Guid challengeId, ReadOnlySpan<byte> challenge) =>
        Message("letterlock-device-auth-v1", providerDomain.ToLowerInvariant(), deviceId.ToString("D"), challengeId.ToString("D"), Convert.ToBase64String(challenge));

    /// <summary>The bytes the first device signs when creating an account; binds the address and the published keys.</summary>
    /// <param name="providerDomain">The provider's mail domain.</param>
    /// <param name="address">The requested address.</param>
    /// <param name="devicePublicKey">The device's Ed25519 public key.</param>
    /// <param name="openPgpCertificate">The certificate being registered.</param>
    /// <param name="inboxPublicKey">The inbox key being registered.</param>
    public static byte[] RegistrationMessage(string providerDomain, string address, ReadOnlySpan<byte> devicePublicKey, ReadOnlySpan<byte> openPgpCertificate, ReadOnlySpan<byte> inboxPublicKey) =>
        Message(
            "letterlock-device-register-v1",
            providerDomain.ToLowerInvariant(),
            address.ToLowerInvariant(),
            Convert.ToBase64String(devicePublicKey),
            Convert.ToBase64String(SHA256.HashData(openPgpCertificate)),
            Convert.ToBase64String(inboxPublicKey));

    /// <summary>The bytes a new device signs with its own key when an existing device registers it.</summary>
    /// <param name="providerDomain">The provider's mail domain.</param>
    /// <param name="accountId">The account it joins.</param>
    /// <param name="newDevicePublicKey">Its Ed25519 public key.</param>
    public static byte[] AddDeviceMessage(string providerDomain, Guid accountId, ReadOnlySpan<byte> newDevicePublicKey) =>
        Message("letterlock-device-add-v1", providerDomain.ToLowerInvariant(), accountId.ToString("D"), Convert.ToBase64String(newDevicePublicKey));

    /// <summary>Signs <paramref name="message"/> with a raw 32-byte Ed25519 private key (seed).</summary>
    /// <param name="privateKey">The 32-byte seed.</param>
    /// <param name="message">The message.</param>
    public static byte[] Sign(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> message)
    {
        using var key = Key.Import(SignatureAlgorithm.Ed25519, privateKey, KeyBlobFormat.RawPrivateKey);
        return SignatureAlgorithm.Ed25519.Sign(key, message);
    }

    /// <summary>Verifies an Ed25519 signature; false for malformed keys or signatures too.</summary>
    /// <param name="publicKey">The raw 32-byte public key.</param>
    /// <param name="message">The signed message.</param>
    /// <param name="signature">The 64-byte signature.</param>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != PublicKeyLength || signature.Length != SignatureLength)
        {
            return false;
        }

        if (!PublicKey.TryImport(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey, out var key) || key is null)
        {
            return false;
        }

        return SignatureAlgorithm.Ed25519.Verify(key, message, signature);
    }

    /// <summary>Generates a device key pair: (32-byte private seed, 32-byte public key).</summary>
    public static (byte[] PrivateKey, byte[] PublicKey) GenerateKeyPair()
    {
        using var key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return (key.Export(KeyBlobFormat.RawPrivateKey), key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    private static byte[] Message(params string[] fields)
    {
        // Fields never contain a newline (domains, GUIDs, base64), so joining with LF is unambiguous.
        var builder = new StringBuilder();
        foreach (string field in fields)
        {
            if (field.Contains('\n', StringComparison.Ordinal))
            {
                throw new ArgumentException("A signed field may not contain a line feed.", nameof(fields));
            }

            builder.Append(field).Append('\n');
        }

        return Encoding.UTF8.GetBytes(builder.ToString());
    }
}
