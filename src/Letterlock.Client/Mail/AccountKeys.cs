using System.Security.Cryptography;
using Letterlock.Client.Store;
using Letterlock.Cryptography;
using Letterlock.OpenPgp;
using NSec.Cryptography;

namespace Letterlock.Client.Mail;

/// <summary>
/// The key material of an account, generated on the device (DESIGN.md section 4): an OpenPGP v4
/// key (Ed25519 primary, Cv25519 encryption subkey) with its revocation certificate, the inbox
/// key pair (X25519, for encrypt-on-arrival), a device key (Ed25519) and a random 256-bit account
/// master key. All of it is kept sealed in the local store; the OpenPGP secret key needs no
/// passphrase of its own there.
/// </summary>
public static class AccountKeys
{
    /// <summary>Purpose of the OpenPGP secret key (binary transferable secret key).</summary>
    public const string OpenPgpSecret = "openpgp-secret";

    /// <summary>Purpose of the OpenPGP revocation certificate (armored), for the recovery kit.</summary>
    public const string OpenPgpRevocation = "openpgp-revocation";

    /// <summary>Purpose of the 32-byte X25519 inbox private key.</summary>
    public const string InboxSecret = "inbox-secret";

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
    /// <param name="InboxPublicKey">The X25519 inbox public key.</param>
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
        using var inbox = HpkeKeyPair.Generate();
        using var device = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        var devicePrivate = device.Export(KeyBlobFormat.RawPrivateKey);
        var amk = RandomNumberGenerator.GetBytes(32);
        try
        {
            await store.Keys.AddAsync(account.Id, OpenPgpSecret, generated.SecretKey.Export(armored: false), ct).ConfigureAwait(false);
            await store.Keys.AddAsync(account.Id, OpenPgpRevocation, generated.RevocationCertificate, ct).ConfigureAwait(false);
            await store.Keys.AddAsync(account.Id, InboxSecret, inbox.PrivateKey, ct).ConfigureAwait(false);
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
