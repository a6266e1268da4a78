using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Letterlock.Client.Store;

namespace Letterlock.Client.Net;

/// <summary>
/// The trust anchor an account's provider was reached with at sign-up (<c>account create --ca</c>: a private or test
/// CA), kept sealed in the store as the setting <c>provider.ca.ACCOUNT</c> (PEM) so that every later connection to
/// that provider (the bridge, sync, devices, transparency, audit) trusts the same CA without being told again.
/// A store without the setting (every store before it existed) trusts the system's roots, as it always did.
/// </summary>
public static class ProviderTrust
{
    /// <summary>The largest PEM accepted as a trust anchor, in bytes (a handful of certificates).</summary>
    public const int MaxPemBytes = 64 * 1024;

    /// <summary>The setting that holds an account's trust anchor.</summary>
    public static string SettingName(AccountId account) => "provider.ca." + account.Value.ToString("N");

    /// <summary>Parses PEM text into certificates; throws <see cref="CryptographicException"/> when it holds none or is too large.</summary>
    public static X509Certificate2Collection Parse(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        if (Encoding.UTF8.GetByteCount(pem) > MaxPemBytes)
        {
            throw new CryptographicException($"a provider trust anchor is at most {MaxPemBytes} bytes of PEM");
        }

        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(pem);
        return roots.Count > 0 ? roots : throw new CryptographicException("no certificate in the PEM text");
    }

    /// <summary>Keeps <paramref name="pem"/> as the account's provider trust anchor (replacing any earlier one).</summary>
    public static Task SetAsync(LocalStore store, AccountId account, string pem, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        _ = Parse(pem);
        return store.Settings.SetAsync(SettingName(account), Encoding.UTF8.GetBytes(pem), ct);
    }

    /// <summary>Forgets the account's trust anchor (the account was removed).</summary>
    public static Task<bool> RemoveAsync(LocalStore store, AccountId account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Settings.RemoveAsync(SettingName(account), ct);
    }

    /// <summary>The account's trust anchor, or null when it trusts the system's roots.</summary>
    public static async Task<X509Certificate2Collection?> GetAsync(LocalStore store, AccountId account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return await store.Settings.GetAsync(SettingName(account), ct).ConfigureAwait(false) is { } pem ? Parse(Encoding.UTF8.GetString(pem)) : null;
    }

    /// <summary>The trust anchors of every account of the store (empty when none has one).</summary>
    public static async Task<X509Certificate2Collection> GetAllAsync(LocalStore store, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var all = new X509Certificate2Collection();
        foreach (var account in await store.Accounts.ListAsync(ct).ConfigureAwait(false))
        {
            if (await GetAsync(store, account.Id, ct).ConfigureAwait(false) is { } roots)
            {
                all.AddRange(roots);
            }
        }

        return all;
    }
}
