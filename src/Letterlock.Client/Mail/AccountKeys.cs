using System.Security.Cryptography;
using Letterlock.Client.Store;
using Letterlock.Cryptography;
using Letterlock.OpenPgp;
using NSec.Cryptography;

namespace Letterlock.Client.Mail;

/// <summary>
/// The key material of an account, generated on the device (DESIGN.md section 4): an OpenPGP v4
/// key (Ed25519 primary, Cv25519 encryption subkey) with its revocation certificate, the inbox
/// key pair (X-Wing, for encrypt-on-arrival; accounts made before X-Wing also keep their X25519 one),
/// a device key (Ed25519) and a random 256-bit account master key. All of it is kept sealed in the
/// local store; the OpenPGP secret key needs no passphrase of its own there.
/// </summary>
public static class AccountKeys
{
    /// <summary>Purpose of the OpenPGP secret key (binary transferable secret key).</summary>
    public const string OpenPgpSecret = "openpgp-secret";

    /// <summary>Purpose of the OpenPGP revocation certificate (armored), for the recovery kit.</summary>
    public const string OpenPgpRevocation = "openpgp-revocation";

    /// <summary>Purpose of a 32-byte X25519 inbox private key (accounts made before X-Wing; kept to open what was sealed to it).</summary>
    public const string InboxSecret = "inbox-secret";

    /// <summary>Purpose of the 32-byte X-Wing inbox private key (<see cref="DeriveXWingInbox"/>).</summary>
    public const string InboxXWingSecret = "inbox-xwing-secret";

    /// <summary>Purpose of the 32-byte Ed25519 device private key.</summary>
    public const string DeviceSecret = "device-secret";

    /// <summary>Purpose of the 32-byte account master key.</summary>
    public const string AccountMasterKey = "account-master-key";

    /// <summary>Purpose of the X25519 public key the AMK's password slot is sealed to (public; kept so any device can re-wrap).</summary>
    public const string PasswordSlotPublic = "amk-slot-password";

    /// <summary>Purpose of the X25519 public key the AMK's recovery slot is sealed to (public; kept so any device can re-wrap).</summary>
    public const string RecoverySlotPublic = "amk-slot-recovery";

    /// <summary>The public parts a provider needs at registration.</summary>
    /// <param name="OpenPgpCertificate">The OpenPGP certificate, binary.</param>
    /// <param name="InboxPublicKey">The X-Wing inbox public key (1,216 bytes).</param>
    /// <param name="DevicePublicKey">The Ed25519 device public key.</param>
    public sealed record PublicParts(byte[] OpenPgpCertificate, byte[] InboxPublicKey, byte[] DevicePublicKey);

    /// <summary>Generates and stores every key of the account; refuses if it already has an OpenPGP key.</summary>
    public static async Task<PublicParts> GenerateAsync(LocalStore store, AccountRecord account, TimeProvider? time = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        if (await store.Keys.GetCurrentAsync(account.Id, OpenPgpSecret, ct).ConfigureAwait(false) is not null)
        {
            throw new LocalStoreException($"{account.Address} already has keys");
        }

        var userId = account.DisplayName is { Length: > 0 } name ? $"{name} <{account.Address}>" : $"<{account.Address}>";
        var generated = KeyGenerator.Generate(userId, ReadOnlySpan<char>.Empty,
            new KeyGenerationOptions { CreationTime = (time ?? TimeProvider.System).GetUtcNow() });
        using var device = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        var devicePrivate = device.Export(KeyBlobFormat.RawPrivateKey);
        var amk = RandomNumberGenerator.GetBytes(32);
        using var inbox = DeriveXWingInbox(amk);
        try
        {
            await store.Keys.AddAsync(account.Id, OpenPgpSecret, generated.SecretKey.Export(armored: false), ct).ConfigureAwait(false);
            await store.Keys.AddAsync(account.Id, OpenPgpRevocation, generated.RevocationCertificate, ct).ConfigureAwait(false);
            await store.Keys.AddAsync(account.Id, InboxXWingSecret, inbox.PrivateKey, ct).ConfigureAwait(false);
            await store.Keys.AddAsync(account.Id, DeviceSecret, devicePrivate, ct).ConfigureAwait(false);
            await store.Keys.AddAsync(account.Id, AccountMasterKey, amk, ct).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(devicePrivate);
            CryptographicOperations.ZeroMemory(amk);
        }

        return new PublicParts(generated.Certificate.Export(armored: false), inbox.PublicKey.ToArray(), device.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    /// <summary>
    /// The account's X-Wing inbox key, derived from the account master key so that every device holding
    /// the master key (and a recovery from the recovery code) has the same one, with no key to copy:
    /// <code>
    /// seed = HKDF-SHA256(salt = "", ikm = AMK, info = "letterlock-inbox-xwing-v1" || uint32 generation, 32)
    /// key  = X-Wing GenerateKeyPairDerand(seed)        ; generation 1 until the inbox key rotates
    /// </code>
    /// </summary>
    public static XWingKeyPair DeriveXWingInbox(ReadOnlySpan<byte> accountMasterKey, uint generation = 1)
    {
        Span<byte> info = stackalloc byte[29];
        "letterlock-inbox-xwing-v1"u8.CopyTo(info);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(info[25..], generation);
        Span<byte> seed = stackalloc byte[XWing.PrivateKeyLength];
        try
        {
            HKDF.DeriveKey(HashAlgorithmName.SHA256, accountMasterKey, seed, [], info);
            return XWingKeyPair.FromPrivateKey(seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>Every inbox key of the account: the current one to publish, and all private keys to open inbox documents with.</summary>
    /// <exception cref="LocalStoreException">The account has no inbox key.</exception>
    public static async Task<InboxKeyRing> LoadInboxKeysAsync(LocalStore store, AccountId account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var xwing = await store.Keys.ListAsync(account, InboxXWingSecret, ct).ConfigureAwait(false);
        var x25519 = await store.Keys.ListAsync(account, InboxSecret, ct).ConfigureAwait(false);
        if (xwing.Count == 0 && x25519.Count == 0)
        {
            throw new LocalStoreException("the account has no inbox key");
        }

        return new InboxKeyRing([.. x25519.Select(k => k.Material)], [.. xwing.Select(k => k.Material)]);
    }

    /// <summary>The account's OpenPGP key, unlocked for this session.</summary>
    /// <exception cref="LocalStoreException">The account has no OpenPGP key.</exception>
    public static async Task<UnlockedKey> LoadOpenPgpAsync(LocalStore store, AccountId account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var stored = await store.Keys.GetCurrentAsync(account, OpenPgpSecret, ct).ConfigureAwait(false)
            ?? throw new LocalStoreException("the account has no OpenPGP key");
        return SecretKey.Parse(stored.Material).Unlock();
    }
}

/// <summary>
/// An account's inbox private keys, oldest first per KEM. The current key is the newest X-Wing key, or for an
/// account not yet upgraded the newest X25519 key; older keys stay to open documents sealed before a change.
/// </summary>
public sealed class InboxKeyRing
{
    internal InboxKeyRing(IReadOnlyList<byte[]> x25519, IReadOnlyList<byte[]> xwing)
    {
        X25519 = x25519;
        XWing = xwing;
    }

    /// <summary>X25519 private keys (32 bytes each).</summary>
    public IReadOnlyList<byte[]> X25519 { get; }

    /// <summary>X-Wing private keys (32-byte seeds).</summary>
    public IReadOnlyList<byte[]> XWing { get; }

    /// <summary>True once the account has an X-Wing inbox key.</summary>
    public bool HasXWing => XWing.Count > 0;

    /// <summary>The public key arriving mail should be sealed to.</summary>
    public byte[] CurrentPublicKey => HasXWing ? PublicOf(HpkeKem.XWing, XWing[^1]) : PublicOf(HpkeKem.X25519, X25519[^1]);

    /// <summary>The public keys of every inbox key, current or not.</summary>
    public IEnumerable<byte[]> AllPublicKeys =>
        X25519.Select(k => PublicOf(HpkeKem.X25519, k)).Concat(XWing.Select(k => PublicOf(HpkeKem.XWing, k)));

    /// <summary>The private keys that may open an envelope sealed with <paramref name="kem"/>, newest first.</summary>
    public IEnumerable<byte[]> PrivateKeysFor(HpkeKem kem) => Enumerable.Reverse(kem == HpkeKem.XWing ? XWing : X25519);

    internal static byte[] PublicOf(HpkeKem kem, byte[] privateKey)
    {
        if (kem == HpkeKem.XWing)
        {
            using var xwing = XWingKeyPair.FromPrivateKey(privateKey);
            return xwing.PublicKey.ToArray();
        }

        using var x25519 = HpkeKeyPair.FromPrivateKey(privateKey);
        return x25519.PublicKey.ToArray();
    }
}
