using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;

namespace Letterlock.Client.Sync;

/// <summary>
/// <c>letterlock account create</c>: every key is generated on this device; the provider receives
/// only public parts and a proof signed by the new device key (DESIGN.md section 4). If the provider
/// refuses, nothing of the account stays in the local store.
/// </summary>
public static class AccountRegistration
{
    /// <summary>Creates the account locally and registers it with the provider.</summary>
    /// <exception cref="FormatException">The address is malformed.</exception>
    /// <exception cref="LocalStoreException">The address is already in this client, or belongs to another domain.</exception>
    /// <exception cref="ProviderProblemException">The provider refused (address taken, invite needed, ...).</exception>
    /// <exception cref="ProviderUnavailableException">The provider cannot be reached.</exception>
    public static async Task<AccountRecord> CreateAsync(LocalStore store, ProviderClient provider, string address, string? displayName,
        string? inviteToken = null, string deviceName = "Letterlock client", EncryptionPolicy policy = EncryptionPolicy.Opportunistic, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(provider);
        var normalized = MailAddress.Normalize(address);
        var info = await provider.GetInfoAsync(ct).ConfigureAwait(false);
        var domain = MailAddress.Split(normalized).Domain;
        if (!string.Equals(domain, info.Domain, StringComparison.OrdinalIgnoreCase))
        {
            throw new LocalStoreException($"the provider at {provider.BaseUri} serves {info.Domain}, not {domain}");
        }

        var account = await store.Accounts.CreateAsync(normalized, displayName, provider.BaseUri, policy, ct).ConfigureAwait(false);
        try
        {
            var keys = await AccountKeys.GenerateAsync(store, account, ct: ct).ConfigureAwait(false);
            var device = await store.Keys.GetCurrentAsync(account.Id, AccountKeys.DeviceSecret, ct).ConfigureAwait(false)
                ?? throw new LocalStoreException("the device key was not stored");
            var proof = DeviceAuthentication.Sign(device.Material,
                DeviceAuthentication.RegistrationMessage(info.Domain, normalized, keys.DevicePublicKey, keys.OpenPgpCertificate, keys.InboxPublicKey));
            var created = await provider.CreateAccountAsync(new CreateAccountRequest(
                Address: normalized,
                DevicePublicKey: keys.DevicePublicKey,
                DeviceName: deviceName,
                OpenPgpCertificate: keys.OpenPgpCertificate,
                InboxPublicKey: keys.InboxPublicKey,
                Proof: proof,
                InviteToken: inviteToken), ct).ConfigureAwait(false);
            return await store.Accounts.UpdateAsync(account with
            {
                ProviderDomain = info.Domain,
                RemoteAccountId = created.AccountId,
                DeviceId = created.DeviceId,
            }, CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            await store.Accounts.RemoveAsync(account.Id, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>An authenticated API client for a registered account of this client.</summary>
    /// <exception cref="LocalStoreException">The account is not registered with a provider.</exception>
    public static async Task<ProviderClient> ConnectAsync(LocalStore store, AccountRecord account, HttpClient http,
        ProviderClientOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        if (account.ProviderUrl is null || account.DeviceId is null || account.ProviderDomain is null)
        {
            throw new LocalStoreException($"{account.Address} is not registered with a provider");
        }

        var device = await store.Keys.GetCurrentAsync(account.Id, AccountKeys.DeviceSecret, ct).ConfigureAwait(false)
            ?? throw new LocalStoreException($"{account.Address} has no device key");
        return new ProviderClient(http, account.ProviderUrl, new DeviceCredentials(account.ProviderDomain, account.DeviceId.Value, device.Material), options);
    }
}
