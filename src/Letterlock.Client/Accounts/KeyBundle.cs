using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Letterlock.Client.Mail;
using NSec.Cryptography;

namespace Letterlock.Client.Accounts;

/// <summary>One private key of the account in the bundle.</summary>
/// <param name="Purpose">The store's key purpose (<c>openpgp-secret</c>, <c>inbox-secret</c>, ...).</param>
/// <param name="Material">The key material, as the local store keeps it.</param>
/// <param name="CreatedAt">When it was made (keys of one purpose are kept oldest first; the newest is current).</param>
public sealed record BundledKey(string Purpose, byte[] Material, DateTimeOffset CreatedAt);

/// <summary>
/// The account-wide keys a device needs, besides the AMK itself: the OpenPGP secret key (every version, as
/// subkeys rotate), its revocation certificate, every inbox secret key (older ones still open inbox documents
/// sealed before a rotation), and the public keys the AMK's password and recovery slots are sealed to
/// (<see cref="AccountKeys.PasswordSlotPublic"/>, <see cref="AccountKeys.RecoverySlotPublic"/>).
/// </summary>
/// <param name="Keys">The keys, by purpose, oldest first within a purpose.</param>
public sealed record KeyBundleContent(IReadOnlyList<BundledKey> Keys)
{
    /// <summary>Key purposes that never leave the device they were made on (device keys, and the AMK, which wraps the bundle).</summary>
    public static bool IsDeviceOnly(string purpose) =>
        purpose is AccountKeys.DeviceSecret or AccountKeys.AccountMasterKey || purpose.StartsWith("device-", StringComparison.Ordinal);
}

/// <summary>What opening a key bundle found.</summary>
public enum KeyBundleStatus
{
    /// <summary>Opened, and at least as new as every bundle this device has seen.</summary>
    Ok,

    /// <summary>Not a key bundle of this format.</summary>
    Malformed,

    /// <summary>Does not authenticate: altered, sealed for another account, or under another AMK.</summary>
    NotAuthentic,

    /// <summary>Authentic but older than a bundle this device has already seen: the provider rolled it back.</summary>
    Stale,
}

/// <summary>
/// The key-bundle document (kind <c>keybundle</c>, id <c>keybundle</c>), synced through the provider like any
/// other document and sealed under the AMK:
/// <c>0x01 || version(8, big-endian) || nonce(24) || XChaCha20-Poly1305(key, json)</c>, where
/// <c>key = HKDF-SHA256(AMK, salt "letterlock key bundle v1", info "key bundle")</c> and the associated data is
/// <c>"letterlock.keybundle.v1" 0 account-id 0 address 0 "keybundle" 0 version</c>.
/// </summary>
/// <remarks>
/// The version increases with every change; each device keeps the highest version it opened and refuses a lower
/// one (<see cref="KeyBundleStatus.Stale"/>), so a provider can neither serve an older bundle (say, from before
/// a key rotation) nor one of another account (the account id and address are authenticated) nor a modified one.
/// </remarks>
public static class KeyBundle
{
    /// <summary>The document id and kind.</summary>
    public const string DocumentId = "keybundle";

    /// <summary>The document kind.</summary>
    public const string Kind = "keybundle";

    /// <summary>The largest bundle accepted (a bundle with a hundred rotated keys is a few tens of KiB).</summary>
    public const int MaxSize = 1024 * 1024;

    private const byte Format = 1;
    private static readonly AeadAlgorithm Aead = AeadAlgorithm.XChaCha20Poly1305;
    private const int HeaderLength = 1 + 8;

    /// <summary>Seals <paramref name="content"/> as version <paramref name="version"/> of the account's bundle.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> amk, Guid accountId, string address, ulong version, KeyBundleContent content)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var key = DeriveKey(amk);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(Wire.From(content), KeyBundleJson.Default.KeyBundleWire);
        try
        {
            var output = new byte[HeaderLength + Aead.NonceSize + json.Length + Aead.TagSize];
            output[0] = Format;
            BinaryPrimitives.WriteUInt64BigEndian(output.AsSpan(1), version);
            RandomNumberGenerator.Fill(output.AsSpan(HeaderLength, Aead.NonceSize));
            Aead.Encrypt(key, output.AsSpan(HeaderLength, Aead.NonceSize), AssociatedData(accountId, address, version), json,
                output.AsSpan(HeaderLength + Aead.NonceSize));
            return output;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(json);
        }
    }

    /// <summary>The version a sealed bundle claims (authenticated only by <see cref="Open"/>), or null when malformed.</summary>
    public static ulong? PeekVersion(ReadOnlySpan<byte> sealedBundle) =>
        sealedBundle.Length >= HeaderLength && sealedBundle[0] == Format ? BinaryPrimitives.ReadUInt64BigEndian(sealedBundle[1..]) : null;

    /// <summary>
    /// Opens a bundle of this account and checks it is not older than <paramref name="highestSeen"/> (the highest
    /// version this device opened before; 0 for none).
    /// </summary>
    public static KeyBundleStatus Open(ReadOnlySpan<byte> amk, Guid accountId, string address, ReadOnlySpan<byte> sealedBundle, ulong highestSeen,
        out KeyBundleContent? content, out ulong version)
    {
        content = null;
        version = 0;
        if (sealedBundle.Length < HeaderLength + Aead.NonceSize + Aead.TagSize || sealedBundle.Length > MaxSize || sealedBundle[0] != Format)
        {
            return KeyBundleStatus.Malformed;
        }

        ulong claimed = BinaryPrimitives.ReadUInt64BigEndian(sealedBundle[1..]);
        using var key = DeriveKey(amk);
        var json = new byte[sealedBundle.Length - HeaderLength - Aead.NonceSize - Aead.TagSize];
        try
        {
            if (!Aead.Decrypt(key, sealedBundle.Slice(HeaderLength, Aead.NonceSize), AssociatedData(accountId, address, claimed),
                sealedBundle[(HeaderLength + Aead.NonceSize)..], json))
            {
                return KeyBundleStatus.NotAuthentic;
            }

            // Authentic from here: the version is the one the writer sealed.
            version = claimed;
            if (claimed < highestSeen)
            {
                return KeyBundleStatus.Stale;
            }

            var wire = JsonSerializer.Deserialize(json, KeyBundleJson.Default.KeyBundleWire);
            if (wire?.Keys is null || wire.Keys.Any(k => k.Purpose is null || k.Material is null || IsDeviceOnlyOrInvalid(k.Purpose)))
            {
                return KeyBundleStatus.Malformed;
            }

            content = wire.ToContent();
            return KeyBundleStatus.Ok;
        }
        catch (JsonException)
        {
            return KeyBundleStatus.Malformed;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(json);
        }
    }

    private static bool IsDeviceOnlyOrInvalid(string purpose) =>
        KeyBundleContent.IsDeviceOnly(purpose) || purpose.Length is 0 or > 64 || !purpose.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.');

    private static Key DeriveKey(ReadOnlySpan<byte> amk)
    {
        if (amk.Length != AccountKeyWrap.AmkLength)
        {
            throw new ArgumentException("The account master key is 32 bytes.", nameof(amk));
        }

        return KeyDerivationAlgorithm.HkdfSha256.DeriveKey(amk, "letterlock key bundle v1"u8, "key bundle"u8, Aead,
            new KeyCreationParameters { ExportPolicy = KeyExportPolicies.None });
    }

    private static byte[] AssociatedData(Guid accountId, string address, ulong version) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"letterlock.keybundle.v1\0{accountId:D}\0{address.ToLowerInvariant()}\0{Kind}\0{version}"));

    internal sealed record WireKey(string Purpose, byte[] Material, DateTimeOffset CreatedAt);

    internal sealed record Wire(IReadOnlyList<WireKey> Keys)
    {
        public static Wire From(KeyBundleContent content) => new(content.Keys.Select(k => new WireKey(k.Purpose, k.Material, k.CreatedAt)).ToList());

        public KeyBundleContent ToContent() => new(Keys.Select(k => new BundledKey(k.Purpose, k.Material, k.CreatedAt)).ToList());
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(KeyBundle.Wire), TypeInfoPropertyName = "KeyBundleWire")]
internal sealed partial class KeyBundleJson : JsonSerializerContext;
