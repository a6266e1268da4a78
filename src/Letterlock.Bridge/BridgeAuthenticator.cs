using System.Security.Cryptography;
using System.Text;
using Letterlock.Imap.Backend;

namespace Letterlock.Bridge;

/// <summary>
/// Logs mail apps in with the account address and its bridge password. Comparison is in constant
/// time over SHA-256 digests (equal lengths); unknown users cost the same as wrong passwords. The
/// IMAP engine adds the delay after a failure.
/// </summary>
internal sealed class BridgeAuthenticator(BridgeMailboxes mailboxes, int maxMimeDepth, Letterlock.OpenPgp.Mime.MimeLimits mimeLimits) : IImapAuthenticator
{
    private static readonly byte[] Unknown = SHA256.HashData(RandomNumberGenerator.GetBytes(32));

    public async ValueTask<IMailAccount?> AuthenticateAsync(string user, string password, ImapConnectionInfo connection, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(password);
        var store = mailboxes.Store;
        var account = await store.Accounts.FindAsync(user, ct).ConfigureAwait(false);
        byte[] expected = Unknown;
        if (account is not null && await store.Keys.GetCurrentAsync(account.Id, BridgeCredentials.Purpose, ct).ConfigureAwait(false) is { } stored)
        {
            expected = SHA256.HashData(stored.Material);
        }

        var given = SHA256.HashData(Encoding.UTF8.GetBytes(password));
        bool ok = CryptographicOperations.FixedTimeEquals(given, expected) && account is not null && !ReferenceEquals(expected, Unknown);
        return ok ? new StoreMailAccount(mailboxes, account!, maxMimeDepth, mimeLimits) : null;
    }
}
