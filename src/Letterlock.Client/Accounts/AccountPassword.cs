using System.Security.Cryptography;
using System.Text;
using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Cryptography.Opaque;

namespace Letterlock.Client.Accounts;

/// <summary>The password did not open the account: one message for a wrong password and an unknown address.</summary>
public sealed class LoginFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The account password with OPAQUE (RFC 9807; docs/design/accounts.md, "Password"): registration from a device of
/// the account (the AMK is sealed to a key pair derived from OPAQUE's export key), and login from a new device,
/// which joins the account, opens the AMK and fetches the key bundle. The password never leaves the device.
/// </summary>
public static class AccountPassword
{
    /// <summary>The longest password accepted, in UTF-8 bytes.</summary>
    public const int MaxPasswordBytes = 1024;

    /// <summary>
    /// Sets (or changes) the account's password from this device: other devices keep working (the AMK does not
    /// change, only its password slot), and the old password stops opening the account.
    /// </summary>
    public static async Task SetAsync(LocalStore store, AccountRecord account, ProviderClient provider, string password,
        Argon2idParameters? ksf = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(provider);
        var accountId = account.RemoteAccountId ?? throw new LocalStoreException($"{account.Address} is not registered with a provider");
        var domain = account.ProviderDomain ?? throw new LocalStoreException($"{account.Address} is not registered with a provider");
        ksf ??= Argon2idParameters.Default;
        byte[] passwordBytes = Bytes(password);
        var amk = (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.AccountMasterKey, ct).ConfigureAwait(false))?.Material
            ?? throw new LocalStoreException($"{account.Address} has no account master key");
        try
        {
            var client = new OpaqueClient(new Argon2idKeyStretching(ksf));
            var (state, request) = client.StartRegistration(passwordBytes);
            using (state)
            {
                var answer = await provider.StartPasswordAsync(request.Serialize(), ct).ConfigureAwait(false);
                if (!RegistrationResponse.TryParse(answer.RegistrationResponse, out var response))
                {
                    throw new ProviderUnavailableException("the provider's OPAQUE registration response is malformed");
                }

                var (record, exportKey) = client.FinishRegistration(state, passwordBytes, response, Identities(account.Address, domain));
                try
                {
                    using var slotKeys = AccountKeyWrap.PasswordKeyPair(exportKey);
                    var wrapped = AccountKeyWrap.Seal(amk, slotKeys.PublicKey.Span, AmkSlotKind.Password, accountId, account.Address);
                    await provider.SetPasswordAsync(new SetPasswordRequest(record.Serialize(), wrapped, ksf.Serialize()), ct).ConfigureAwait(false);
                    await store.Keys.AddAsync(account.Id, AccountKeys.PasswordSlotPublic, slotKeys.PublicKey, ct).ConfigureAwait(false);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(exportKey);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(amk);
            CryptographicOperations.ZeroMemory(passwordBytes);
        }

        await KeyBundleSync.PublishAsync(store, account, provider, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Signs in on this device with address and password: a new device key joins the account, the AMK comes from the
    /// password slot, the key bundle from the provider. Nothing stays in the store if a step fails.
    /// </summary>
    /// <exception cref="LoginFailedException">Wrong password or unknown address (one message), or too many attempts.</exception>
    /// <exception cref="KeyBundleException">The provider's key bundle is not authentic.</exception>
    /// <exception cref="ProviderUnavailableException">The provider cannot be reached, or asked for Argon2id parameters outside <paramref name="limits"/>.</exception>
    public static async Task<AccountRecord> LoginAsync(LocalStore store, ProviderClient provider, string address, string password, string deviceName,
        Func<DeviceCredentials, ProviderClient> connect, OpaqueClientOptions? limits = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(provider);
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

        byte[] passwordBytes = Bytes(password);
        var (devicePrivate, devicePublic) = DeviceAuthentication.GenerateKeyPair();
        byte[]? exportKey = null;
        try
        {
            AccountAccessResponse access;
            try
            {
                // The blind is independent of the KSF; the Argon2id parameters arrive with KE2.
                var (state, ke1) = new OpaqueClient(IdentityKeyStretching.Instance).StartLogin(passwordBytes);
                using (state)
                {
                    var start = await provider.StartLoginAsync(normalized, ke1.Serialize(), ct).ConfigureAwait(false);
                    if (!Argon2idParameters.TryParse(start.KsfParameters, out var ksf) || (limits ?? OpaqueClientOptions.Default).Check(ksf) is var check && check != KeyStretchingCheck.Acceptable)
                    {
                        throw new ProviderUnavailableException("the provider asked for Argon2id parameters outside this client's limits; refusing to log in");
                    }

                    if (!KE2.TryParse(start.Ke2, out var ke2))
                    {
                        throw new ProviderUnavailableException("the provider's KE2 is malformed");
                    }

                    using var outcome = new OpaqueClient(new Argon2idKeyStretching(ksf, limits)).FinishLogin(state, passwordBytes, ke2,
                        Identities(normalized, info.Domain), AccountAccess.OpaqueContext(info.Domain, normalized, start.ServerNonce));
                    if (!outcome.Succeeded)
                    {
                        throw new LoginFailedException($"the password does not open {normalized} at {info.Domain} (or there is no such account)");
                    }

                    exportKey = (byte[])outcome.ExportKey!.Clone();
                    byte[] proof = DeviceAuthentication.Sign(devicePrivate, AccountAccess.JoinMessage(info.Domain, normalized, start.LoginId, devicePublic));
                    access = await provider.FinishLoginAsync(new LoginFinishRequest(start.LoginId, outcome.KE3!.Serialize(), devicePublic, deviceName, proof), ct)
                        .ConfigureAwait(false);
                }
            }
            catch (ProviderProblemException e) when (e.Status is 401 or 429)
            {
                throw new LoginFailedException(e.Status == 429
                    ? $"too many failed logins for {normalized}: {e.Problem?.Detail ?? "try again later"}"
                    : $"the password does not open {normalized} at {info.Domain} (or there is no such account)", e);
            }

            using var slotKeys = AccountKeyWrap.PasswordKeyPair(exportKey);
            var amk = AccountKeyWrap.Open(access.WrappedAmk, slotKeys.PrivateKey.Span, AmkSlotKind.Password, access.AccountId, normalized)
                ?? throw new LoginFailedException("the provider's password slot does not open with this password for this account (altered or another account's)");
            try
            {
                return await AccountRecovery.JoinLocallyAsync(store, provider.BaseUri, info.Domain, normalized, access, devicePrivate, amk, connect, ct).ConfigureAwait(false);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(amk);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passwordBytes);
            CryptographicOperations.ZeroMemory(devicePrivate);
            if (exportKey is not null)
            {
                CryptographicOperations.ZeroMemory(exportKey);
            }
        }
    }

    /// <summary>Client identity = the address, server identity = the provider's domain (the provider uses the same).</summary>
    private static OpaqueIdentities Identities(string address, string domain) => OpaqueIdentities.FromStrings(address.ToLowerInvariant(), domain.ToLowerInvariant());

    private static byte[] Bytes(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        // NFC, so the same password typed on two systems is the same bytes.
        byte[] bytes = Encoding.UTF8.GetBytes(password.Normalize(NormalizationForm.FormC));
        if (bytes.Length is 0 or > MaxPasswordBytes)
        {
            throw new ArgumentException($"A password is 1 to {MaxPasswordBytes} bytes.", nameof(password));
        }

        return bytes;
    }
}
