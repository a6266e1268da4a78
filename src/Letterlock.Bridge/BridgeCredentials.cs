using System.Security.Cryptography;
using System.Text;
using Letterlock.Client;
using Letterlock.Client.Store;

namespace Letterlock.Bridge;

/// <summary>
/// The per-account bridge password: random, generated on the device, kept sealed in the store
/// (the bridge has to print it for the mail app's settings), never the account's real password.
/// </summary>
public static class BridgeCredentials
{
    /// <summary>The key-store purpose under which the password is kept.</summary>
    public const string Purpose = "bridge-password";

    // Lower-case letters and digits without look-alikes (0/o, 1/l): easy to type into a mail app.
    private const string Alphabet = "abcdefghijkmnpqrstuvwxyz23456789";

    /// <summary>The account's bridge password, created on first use (20 characters, 100 bits).</summary>
    public static async Task<string> GetOrCreateAsync(LocalStore store, AccountId account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (await store.Keys.GetCurrentAsync(account, Purpose, ct).ConfigureAwait(false) is { } existing)
        {
            return Encoding.UTF8.GetString(existing.Material);
        }

        var password = Generate();
        await store.Keys.AddAsync(account, Purpose, Encoding.UTF8.GetBytes(password), ct).ConfigureAwait(false);
        return password;
    }

    /// <summary>Replaces the account's bridge password (mail apps must be given the new one).</summary>
    public static async Task<string> ResetAsync(LocalStore store, AccountId account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        foreach (var key in await store.Keys.ListAsync(account, Purpose, ct).ConfigureAwait(false))
        {
            await store.Keys.DeleteAsync(account, key.Id, ct).ConfigureAwait(false);
        }

        return await GetOrCreateAsync(store, account, ct).ConfigureAwait(false);
    }

    private static string Generate()
    {
        var chars = new char[20];
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        }

        return new string(chars);
    }
}
