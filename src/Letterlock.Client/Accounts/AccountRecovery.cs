using System.Security.Cryptography;
using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using NSec.Cryptography;

namespace Letterlock.Client.Accounts;

/// <summary>The recovery code did not open the account (wrong code, unknown address, or the provider refused).</summary>
public sealed class RecoveryFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The recovery code (docs/design/accounts.md, "Recovery"): at account creation (or in a new recovery kit) a fresh
/// code is made, the AMK is sealed to the key pair derived from it and stored at the provider with the Ed25519
/// public key that proves the code. On a new device, <see cref="RecoverAsync"/> proves the code, registers the
/// device, opens the AMK and fetches the key bundle: the account is back with every key and, after a sync, all mail.
/// </summary>
public static class AccountRecovery
{
    /// <summary>
    /// Makes a new recovery code for the account and stores its slot at the provider (the previous code stops
    /// working), then publishes the key bundle (it carries the slot's public key). Returns the code: show it once.
    /// </summary>
    public static async Task<RecoveryCode> CreateCodeAsync(LocalStore store, AccountRecord account, ProviderClient provider, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(provider);
        var accountId = account.RemoteAccountId ?? throw new LocalStoreException($"{account.Address} is not registered with a provider");
        var amk = (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.AccountMasterKey, ct).ConfigureAwait(false))?.Material
            ?? throw new LocalStoreException($"{account.Address} has no account master key");
        var code = RecoveryCode.Generate();
        try
        {
            using var wrapKeys = AccountKeyWrap.RecoveryKeyPair(code);
            var wrapped = AccountKeyWrap.Seal(amk, wrapKeys.PublicKey.Span, AmkSlotKind.Recovery, accountId, account.Address);
            await provider.SetRecoveryAsync(new SetRecoveryRequest(wrapped, VerifierOf(code)), ct).ConfigureAwait(false);
            await store.Keys.AddAsync(account.Id, AccountKeys.RecoverySlotPublic, wrapKeys.PublicKey, ct).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(amk);
        }

        await KeyBundleSync.PublishAsync(store, account, provider, ct).ConfigureAwait(false);
        return code;
    }

    /// <summary>
    /// Brings an account back on this device with its recovery code: a new device key joins the account, the AMK
    /// is opened from the recovery slot, the key bundle is fetched. Nothing stays in the store if any step fails.
    /// </summary>
    /// <exception cref="RecoveryFailedException">Wrong code or unknown address (one message for both), or too many attempts.</exception>
    /// <exception cref="KeyBundleException">The provider's key bundle is not authentic.</exception>
    /// <exception cref="ProviderUnavailableException">The provider cannot be reached.</exception>
    public static async Task<AccountRecord> RecoverAsync(LocalStore store, ProviderClient provider, string address, RecoveryCode code, string deviceName,
        Func<DeviceCredentials, ProviderClient> connect, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(code);
        ArgumentNullException.ThrowIfNull(connect);
        var normalized = MailAddress.Normalize(address);
        var info = await provider.GetInfoAsync(ct).ConfigureAwait(false);
        if (!string.Equals(MailAddress.Split(normalized).Domain, info.Domain, StringComparison.OrdinalIgnoreCase))
        {
            throw new LocalStoreException($"the provider at {provider.BaseUri} serves {info.Domain}, not {MailAddress.Split(normalized).Domain}");
        }

        if (await store.Accounts.FindAsync(normalized, ct).ConfigureAwait(false) is not null)
        {
            throw new LocalStoreException($"an account for {normalized} already exists in this client");
        }

        var (devicePrivate, devicePublic) = DeviceAuthentication.GenerateKeyPair();
        AccountAccessResponse access;
        try
        {
            var start = await provider.StartRecoveryAsync(normalized, ct).ConfigureAwait(false);
            byte[] signature = SignWithCode(code, AccountAccess.RecoveryMessage(info.Domain, normalized, start.LoginId, start.Challenge, devicePublic));
            byte[] proof = DeviceAuthentication.Sign(devicePrivate, AccountAccess.JoinMessage(info.Domain, normalized, start.LoginId, devicePublic));
            access = await provider.FinishRecoveryAsync(new RecoveryFinishRequest(start.LoginId, signature, devicePublic, deviceName, proof), ct).ConfigureAwait(false);
        }
        catch (ProviderProblemException e) when (e.Status is 401 or 429)
        {
            CryptographicOperations.ZeroMemory(devicePrivate);
            throw new RecoveryFailedException(e.Status == 429
                ? $"too many failed recoveries for {normalized}: {e.Problem?.Detail ?? "try again later"}"
                : $"the recovery code does not open {normalized} at {info.Domain} (or there is no such account)", e);
        }

        using var wrapKeys = AccountKeyWrap.RecoveryKeyPair(code);
        var amk = AccountKeyWrap.Open(access.WrappedAmk, wrapKeys.PrivateKey.Span, AmkSlotKind.Recovery, access.AccountId, normalized);
        if (amk is null)
        {
            CryptographicOperations.ZeroMemory(devicePrivate);
            throw new RecoveryFailedException("the provider's recovery slot does not open with this code for this account (altered or another account's)");
        }

        try
        {
            return await JoinLocallyAsync(store, provider.BaseUri, info.Domain, normalized, access, devicePrivate, amk, connect, ct).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(amk);
            CryptographicOperations.ZeroMemory(devicePrivate);
        }
    }

    /// <summary>
    /// Creates the local account for a device that just joined (recovery, password login or link): stores the device
    /// key and the AMK, fetches the key bundle, and removes everything again if that fails.
    /// </summary>
    internal static async Task<AccountRecord> JoinLocallyAsync(LocalStore store, Uri providerUrl, string domain, string address, AccountAccessResponse access,
        byte[] devicePrivate, byte[] amk, Func<DeviceCredentials, ProviderClient> connect, CancellationToken ct)
    {
        var account = await store.Accounts.CreateAsync(address, null, providerUrl, ct: ct).ConfigureAwait(false);
        try
        {
            account = await store.Accounts.UpdateAsync(account with { ProviderDomain = domain, RemoteAccountId = access.AccountId, DeviceId = access.DeviceId }, ct)
                .ConfigureAwait(false);
            await store.Keys.AddAsync(account.Id, AccountKeys.DeviceSecret, devicePrivate, ct).ConfigureAwait(false);
            await store.Keys.AddAsync(account.Id, AccountKeys.AccountMasterKey, amk, ct).ConfigureAwait(false);
            var authenticated = connect(new DeviceCredentials(domain, access.DeviceId, devicePrivate));
            if (await KeyBundleSync.FetchAsync(store, account, authenticated, ct).ConfigureAwait(false) is null)
            {
                throw new KeyBundleException(KeyBundleStatus.Malformed, "the provider holds no key bundle for this account");
            }

            if (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.OpenPgpSecret, ct).ConfigureAwait(false) is null
                || (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.InboxXWingSecret, ct).ConfigureAwait(false) is null
                    && await store.Keys.GetCurrentAsync(account.Id, AccountKeys.InboxSecret, ct).ConfigureAwait(false) is null))
            {
                throw new KeyBundleException(KeyBundleStatus.Malformed, "the account's key bundle lacks the OpenPGP or the inbox key");
            }

            return account;
        }
        catch
        {
            await store.Accounts.RemoveAsync(account.Id, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The Ed25519 public key that proves the code (its private half is derived again at recovery).</summary>
    public static byte[] VerifierOf(RecoveryCode code)
    {
        ArgumentNullException.ThrowIfNull(code);
        using var key = AuthKeyOf(code);
        return key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    private static byte[] SignWithCode(RecoveryCode code, byte[] message)
    {
        using var key = AuthKeyOf(code);
        return SignatureAlgorithm.Ed25519.Sign(key, message);
    }

    private static Key AuthKeyOf(RecoveryCode code)
    {
        byte[] seed = code.DeriveKey("recovery auth");
        try
        {
            return Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }
}
