using Letterlock.Client.Accounts;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Tests.Sync;
using Letterlock.Cryptography.Opaque;

namespace Letterlock.Client.Tests.Accounts;

/// <summary>
/// Password login with OPAQUE against a real provider: a second device signs in with address and password, gets the
/// keys and the mail; a wrong password looks exactly like an unknown address; a password change leaves other devices
/// working; a provider asking for too little or too much Argon2id is refused.
/// </summary>
public sealed class PasswordLoginTests : IAsyncLifetime
{
    private static readonly Uri ProviderUrl = new("https://alpha.test/");

    /// <summary>The cheapest Argon2id a client accepts by default (19 MiB, one pass), so the tests stay quick.</summary>
    private static readonly Argon2idParameters Cheap = new() { MemoryKiB = 19 * 1024, Iterations = 1 };

    private readonly TempDir _dir = new();
    private LocalProvider _local = null!;
    private LocalStore _device1 = null!;
    private AccountRecord _alice = null!;

    public async Task InitializeAsync()
    {
        _local = await LocalProvider.StartAsync(_dir);
        _device1 = await LocalStore.CreateAsync(_dir.File("device1.db"), StoreUnlock.WithPassphrase("one"), TestStores.FastOptions());
        _alice = await AccountRegistration.CreateAsync(_device1, new ProviderClient(_local.Http, ProviderUrl), "alice@alpha.test", "Alice");
        var provider = await Connect(_device1, _alice);
        await AccountPassword.SetAsync(_device1, _alice, provider, "correct horse battery staple", Cheap);
    }

    public async Task DisposeAsync()
    {
        _device1.Dispose();
        await _local.DisposeAsync();
        _dir.Dispose();
    }

    private Task<ProviderClient> Connect(LocalStore store, AccountRecord account) => AccountRegistration.ConnectAsync(store, account, _local.Http);

    private Task<AccountRecord> Login(LocalStore store, string password, string address = "alice@alpha.test") =>
        AccountPassword.LoginAsync(store, new ProviderClient(_local.Http, ProviderUrl), address, password, "phone",
            credentials => new ProviderClient(_local.Http, ProviderUrl, credentials));

    [Fact]
    public async Task A_second_device_signs_in_with_the_password_and_sees_old_and_new_mail()
    {
        await _local.DeliverAsync("Before the phone", "old mail");
        await new SyncEngine(_device1, _alice, await Connect(_device1, _alice)).SyncAsync();

        using var phone = await LocalStore.CreateAsync(_dir.File("phone.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        var onPhone = await Login(phone, "correct horse battery staple");
        Assert.Equal(_alice.RemoteAccountId, onPhone.RemoteAccountId);
        foreach (var purpose in new[] { AccountKeys.OpenPgpSecret, AccountKeys.InboxXWingSecret, AccountKeys.AccountMasterKey })
        {
            Assert.Equal((await _device1.Keys.GetCurrentAsync(_alice.Id, purpose))!.Material, (await phone.Keys.GetCurrentAsync(onPhone.Id, purpose))!.Material);
        }

        await _local.DeliverAsync("After the phone", "new mail");
        var report = await new SyncEngine(phone, onPhone, await Connect(phone, onPhone)).SyncAsync();
        Assert.Empty(report.Errors);
        var inbox = (await phone.Mail(onPhone.Id).FindFolderAsync("INBOX"))!;
        Assert.Equal(["After the phone", "Before the phone"], (await phone.Mail(onPhone.Id).ListAsync(inbox.Id)).Select(m => m.Summary.Subject).Order().ToList());

        var devices = await (await Connect(_device1, _alice)).ListDevicesAsync();
        Assert.True(devices.HasPassword);
        Assert.Equal(["Letterlock client", "phone"], devices.Devices.Select(d => d.Name).Order().ToList());
    }

    [Fact]
    public async Task A_wrong_password_and_an_unknown_address_give_one_answer_and_leave_nothing()
    {
        using var phone = await LocalStore.CreateAsync(_dir.File("phone.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        var wrong = await Assert.ThrowsAsync<LoginFailedException>(() => Login(phone, "correct horse battery stapler"));
        var unknown = await Assert.ThrowsAsync<LoginFailedException>(() => Login(phone, "correct horse battery staple", "nobody@alpha.test"));
        Assert.Equal(wrong.Message.Replace("alice", "X", StringComparison.Ordinal), unknown.Message.Replace("nobody", "X", StringComparison.Ordinal));
        Assert.Empty(await phone.Accounts.ListAsync());
        Assert.Single((await (await Connect(_device1, _alice)).ListDevicesAsync()).Devices);
    }

    [Fact]
    public async Task A_password_change_keeps_other_devices_working_and_retires_the_old_password()
    {
        using var phone = await LocalStore.CreateAsync(_dir.File("phone.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        var onPhone = await Login(phone, "correct horse battery staple");

        await AccountPassword.SetAsync(_device1, _alice, await Connect(_device1, _alice), "a whole new password", Cheap);

        // The phone still syncs with its device key, and sees the new bundle version.
        await new SyncEngine(phone, onPhone, await Connect(phone, onPhone)).SyncAsync();
        Assert.NotNull(await KeyBundleSync.FetchAsync(phone, onPhone, await Connect(phone, onPhone)));

        using var tablet = await LocalStore.CreateAsync(_dir.File("tablet.db"), StoreUnlock.WithPassphrase("three"), TestStores.FastOptions());
        await Assert.ThrowsAsync<LoginFailedException>(() => Login(tablet, "correct horse battery staple"));
        var onTablet = await Login(tablet, "a whole new password");
        Assert.Equal(_alice.RemoteAccountId, onTablet.RemoteAccountId);
    }

    [Fact]
    public async Task Argon2id_parameters_outside_the_clients_limits_are_refused_before_any_work()
    {
        using var phone = await LocalStore.CreateAsync(_dir.File("phone.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        var strict = new OpaqueClientOptions { MinArgon2idMemoryKiB = 20 * 1024 };
        var refused = await Assert.ThrowsAsync<ProviderUnavailableException>(() => AccountPassword.LoginAsync(phone, new ProviderClient(_local.Http, ProviderUrl),
            "alice@alpha.test", "correct horse battery staple", "phone", c => new ProviderClient(_local.Http, ProviderUrl, c), strict));
        Assert.Contains("Argon2id", refused.Message, StringComparison.Ordinal);

        // at the limit it works
        var atLimit = new OpaqueClientOptions { MinArgon2idMemoryKiB = 19 * 1024 };
        var account = await AccountPassword.LoginAsync(phone, new ProviderClient(_local.Http, ProviderUrl),
            "alice@alpha.test", "correct horse battery staple", "phone", c => new ProviderClient(_local.Http, ProviderUrl, c), atLimit);
        Assert.Equal("alice@alpha.test", account.Address);
    }
}
