using Letterlock.Client.Accounts;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Tests.Sync;

namespace Letterlock.Client.Tests.Accounts;

/// <summary>
/// Recovery with the recovery code against a real provider (in-process, loopback, SQLite, HTTPS): every device is
/// gone, a new one gets the account, its keys and its mail back; wrong codes, rollbacks and swapped bundles fail.
/// </summary>
public sealed class RecoveryTests : IAsyncLifetime
{
    private static readonly Uri ProviderUrl = new("https://alpha.test/");
    private readonly TempDir _dir = new();
    private LocalProvider _local = null!;
    private LocalStore _device1 = null!;
    private AccountRecord _alice = null!;

    public async Task InitializeAsync()
    {
        _local = await LocalProvider.StartAsync(_dir);
        _device1 = await LocalStore.CreateAsync(_dir.File("device1.db"), StoreUnlock.WithPassphrase("one"), TestStores.FastOptions());
        _alice = await AccountRegistration.CreateAsync(_device1, new ProviderClient(_local.Http, ProviderUrl), "alice@alpha.test", "Alice");
    }

    public async Task DisposeAsync()
    {
        _device1.Dispose();
        await _local.DisposeAsync();
        _dir.Dispose();
    }

    private Task<ProviderClient> Connect(LocalStore store, AccountRecord account) => AccountRegistration.ConnectAsync(store, account, _local.Http);

    private Task<AccountRecord> Recover(LocalStore store, RecoveryCode code, string address = "alice@alpha.test") =>
        AccountRecovery.RecoverAsync(store, new ProviderClient(_local.Http, ProviderUrl), address, code, "new laptop",
            credentials => new ProviderClient(_local.Http, ProviderUrl, credentials));

    [Fact]
    public async Task Every_device_lost_the_recovery_code_brings_back_keys_and_mail()
    {
        var code = await AccountRecovery.CreateCodeAsync(_device1, _alice, await Connect(_device1, _alice));
        await _local.DeliverAsync("Before the loss", "kept by the provider");
        await new SyncEngine(_device1, _alice, await Connect(_device1, _alice)).SyncAsync();
        var keysBefore = await _device1.Keys.ListAsync(_alice.Id);

        // The first device is gone for good.
        _device1.Dispose();
        File.Delete(_dir.File("device1.db"));
        _device1 = await LocalStore.CreateAsync(_dir.File("unused.db"), StoreUnlock.WithPassphrase("x"), TestStores.FastOptions());

        using var device2 = await LocalStore.CreateAsync(_dir.File("device2.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        var recovered = await Recover(device2, code);
        Assert.Equal(_alice.RemoteAccountId, recovered.RemoteAccountId);
        Assert.NotEqual(_alice.DeviceId, recovered.DeviceId);

        // The account-wide keys came back byte for byte; the device key is new; the AMK is the same.
        var keysAfter = await device2.Keys.ListAsync(recovered.Id);
        foreach (var purpose in new[] { AccountKeys.OpenPgpSecret, AccountKeys.OpenPgpRevocation, AccountKeys.InboxXWingSecret, AccountKeys.AccountMasterKey, AccountKeys.RecoverySlotPublic })
        {
            Assert.Equal(keysBefore.Single(k => k.Purpose == purpose).Material, keysAfter.Single(k => k.Purpose == purpose).Material);
        }

        Assert.NotEqual(keysBefore.Single(k => k.Purpose == AccountKeys.DeviceSecret).Material, keysAfter.Single(k => k.Purpose == AccountKeys.DeviceSecret).Material);

        // Old mail (already converted by the lost device) and new mail (still sealed to the inbox key) both arrive.
        await _local.DeliverAsync("After the loss", "arrived while no device was there");
        var report = await new SyncEngine(device2, recovered, await Connect(device2, recovered)).SyncAsync();
        Assert.Empty(report.Errors);
        var inbox = (await device2.Mail(recovered.Id).FindFolderAsync("INBOX"))!;
        var subjects = (await device2.Mail(recovered.Id).ListAsync(inbox.Id)).Select(m => m.Summary.Subject).Order().ToList();
        Assert.Equal(["After the loss", "Before the loss"], subjects);

        // Both devices are in the account's list; the code still works until a new one is made.
        var devices = await (await Connect(device2, recovered)).ListDevicesAsync();
        Assert.Equal(2, devices.Devices.Count(d => d.RevokedAt is null));
        Assert.True(devices.HasRecovery);
    }

    [Fact]
    public async Task A_wrong_code_and_an_unknown_address_fail_alike_and_leave_nothing_behind()
    {
        await AccountRecovery.CreateCodeAsync(_device1, _alice, await Connect(_device1, _alice));
        using var device2 = await LocalStore.CreateAsync(_dir.File("device2.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());

        var wrong = await Assert.ThrowsAsync<RecoveryFailedException>(() => Recover(device2, RecoveryCode.Generate()));
        var unknown = await Assert.ThrowsAsync<RecoveryFailedException>(() => Recover(device2, RecoveryCode.Generate(), "nobody@alpha.test"));
        Assert.Equal(401, ((ProviderProblemException)wrong.InnerException!).Status);
        Assert.Equal(401, ((ProviderProblemException)unknown.InnerException!).Status);
        Assert.Equal(((ProviderProblemException)wrong.InnerException!).Problem, ((ProviderProblemException)unknown.InnerException!).Problem);
        Assert.Empty(await device2.Accounts.ListAsync());

        var devices = await (await Connect(_device1, _alice)).ListDevicesAsync();
        Assert.Single(devices.Devices);
    }

    [Fact]
    public async Task A_new_code_replaces_the_old_one()
    {
        var first = await AccountRecovery.CreateCodeAsync(_device1, _alice, await Connect(_device1, _alice));
        var second = await AccountRecovery.CreateCodeAsync(_device1, _alice, await Connect(_device1, _alice));
        using var device2 = await LocalStore.CreateAsync(_dir.File("device2.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        await Assert.ThrowsAsync<RecoveryFailedException>(() => Recover(device2, first));
        var recovered = await Recover(device2, second);
        Assert.Equal("alice@alpha.test", recovered.Address);
    }

    [Fact]
    public async Task A_provider_serving_an_old_another_accounts_or_a_modified_bundle_is_caught()
    {
        var provider = await Connect(_device1, _alice);
        await KeyBundleSync.PublishAsync(_device1, _alice, provider);
        var old = (await provider.GetDocumentAsync(KeyBundle.DocumentId))!;
        Assert.Equal(2UL, await KeyBundleSync.PublishAsync(_device1, _alice, provider));
        Assert.Equal(2UL, await KeyBundleSync.HighestSeenAsync(_device1, _alice));

        // Rollback: the provider puts version 1 back.
        await Replace(provider, old.Content);
        var stale = await Assert.ThrowsAsync<KeyBundleException>(() => KeyBundleSync.FetchAsync(_device1, _alice, provider));
        Assert.Equal(KeyBundleStatus.Stale, stale.Status);
        await Assert.ThrowsAsync<KeyBundleException>(() => KeyBundleSync.PublishAsync(_device1, _alice, provider));

        // Someone else's bundle (bob's, on the same provider).
        using var bobStore = await LocalStore.CreateAsync(_dir.File("bob.db"), StoreUnlock.WithPassphrase("bob"), TestStores.FastOptions());
        var bob = await AccountRegistration.CreateAsync(bobStore, new ProviderClient(_local.Http, ProviderUrl), "bob@alpha.test", "Bob");
        var bobProvider = await Connect(bobStore, bob);
        await KeyBundleSync.PublishAsync(bobStore, bob, bobProvider);
        await KeyBundleSync.PublishAsync(bobStore, bob, bobProvider);
        await KeyBundleSync.PublishAsync(bobStore, bob, bobProvider);
        await Replace(provider, (await bobProvider.GetDocumentAsync(KeyBundle.DocumentId))!.Content);
        Assert.Equal(KeyBundleStatus.NotAuthentic, (await Assert.ThrowsAsync<KeyBundleException>(() => KeyBundleSync.FetchAsync(_device1, _alice, provider))).Status);

        // A modified one.
        var current = (byte[])old.Content.Clone();
        current[^5] ^= 1;
        await Replace(provider, current);
        Assert.Equal(KeyBundleStatus.NotAuthentic, (await Assert.ThrowsAsync<KeyBundleException>(() => KeyBundleSync.FetchAsync(_device1, _alice, provider))).Status);

        // Nothing of it reached the store: still exactly one key of each account-wide purpose.
        var keys = await _device1.Keys.ListAsync(_alice.Id);
        Assert.Single(keys, k => k.Purpose == AccountKeys.InboxXWingSecret);
        Assert.Single(keys, k => k.Purpose == AccountKeys.OpenPgpSecret);
    }

    /// <summary>What a misbehaving provider does: replace the stored bundle with other bytes.</summary>
    private static async Task Replace(ProviderClient provider, byte[] content)
    {
        var current = await provider.GetDocumentAsync(KeyBundle.DocumentId);
        var (status, _) = await provider.PutDocumentAsync(KeyBundle.DocumentId, KeyBundle.Kind, content, current?.Revision);
        Assert.Equal(Letterlock.Client.Sync.WriteStatus.Ok, status);
    }
}
