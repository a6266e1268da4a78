using System.Security.Cryptography;
using Letterlock.Client.Import;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Tests.Sync;

namespace Letterlock.Client.Tests.Import;

/// <summary>
/// Imported mail reaches the provider through the ordinary push (sealed message documents, batched) and from there
/// every other device of the account, with its folders, flags and dates; importing again pushes nothing more.
/// </summary>
public sealed class ImportPushTests
{
    [Fact]
    public async Task An_imported_maildir_is_pushed_once_and_a_second_device_gets_the_same_mailbox()
    {
        using var dir = new TempDir();
        await using var provider = await LocalProvider.StartAsync(dir);
        using var device1 = await LocalStore.CreateAsync(dir.File("device1.db"), StoreUnlock.WithPassphrase("one"), TestStores.FastOptions());
        var alice = await AccountRegistration.CreateAsync(device1, new ProviderClient(provider.Http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");
        var client = await AccountRegistration.ConnectAsync(device1, alice, provider.Http);
        await new SyncEngine(device1, alice, client).SyncAsync(); // the welcome, if any, out of the way

        var root = dir.File("Maildir");
        var expected = ImportCorpus.WriteMaildir(root, ImportCorpus.Messages(60)).DistinctBy(e => (e.Folder, e.Hash)).ToList();
        var options = new ImportOptions();
        var report = await new MailImporter(device1, alice.Id, options).ImportAsync(new MaildirReader(root, options));
        Assert.Equal(expected.Count, report.Imported);
        var pushed = await new SyncEngine(device1, alice, client).SyncAsync();
        Assert.Equal(expected.Count, pushed.Pushed);

        var again = await new MailImporter(device1, alice.Id, options).ImportAsync(new MaildirReader(root, options));
        Assert.Equal(0, again.Imported);
        Assert.Equal(0, (await new SyncEngine(device1, alice, client).SyncAsync()).Pushed);

        using var device2 = await LocalStore.CreateAsync(dir.File("device2.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        var account2 = await device2.Accounts.CreateAsync(alice.Address, alice.DisplayName, alice.ProviderUrl);
        foreach (var key in await device1.Keys.ListAsync(alice.Id))
        {
            await device2.Keys.AddAsync(account2.Id, key.Purpose, key.Material);
        }

        account2 = account2 with { ProviderDomain = alice.ProviderDomain, RemoteAccountId = alice.RemoteAccountId, DeviceId = alice.DeviceId };
        await device2.Accounts.UpdateAsync(account2);
        await new SyncEngine(device2, account2, await AccountRegistration.ConnectAsync(device2, account2, provider.Http)).SyncAsync();

        async Task<List<(string, string, string, DateTimeOffset)>> MailboxOf(LocalStore store, AccountId account)
        {
            var mail = store.Mail(account);
            var all = new List<(string, string, string, DateTimeOffset)>();
            foreach (var folder in await mail.ListFoldersAsync())
            {
                foreach (var m in await mail.ListAsync(folder.Id))
                {
                    all.Add((folder.Name, Convert.ToHexString(SHA256.HashData((await mail.ReadBodyAsync(m.Id))!)),
                        string.Join(' ', m.Flags.Order(StringComparer.Ordinal)), m.Summary.InternalDate));
                }
            }

            return all.Order().ToList();
        }

        var one = await MailboxOf(device1, alice.Id);
        Assert.Equal(one, await MailboxOf(device2, account2.Id));
        foreach (var e in expected)
        {
            Assert.Contains((e.Folder, e.Hash, string.Join(' ', e.Flags.Order(StringComparer.Ordinal)), e.Date), one);
        }
    }
}
