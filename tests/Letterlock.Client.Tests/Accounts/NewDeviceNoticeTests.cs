using Letterlock.Client.Accounts;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Tests.Sync;
using Letterlock.Client.Transparency;
using Letterlock.Cryptography.Opaque;

namespace Letterlock.Client.Tests.Accounts;

/// <summary>
/// A device that signs in elsewhere is announced on the account's other devices ("new device signed in": a flagged
/// INBOX notice and a log line, once), and its key in the transparency log is the account's own, not an alert; keys
/// another device rotated are taken from the key bundle before the log is judged.
/// </summary>
public sealed class NewDeviceNoticeTests : IAsyncLifetime
{
    private static readonly Uri ProviderUrl = new("https://alpha.test/");
    private readonly TempDir _dir = new();
    private LocalProvider _local = null!;
    private LocalStore _laptop = null!;
    private AccountRecord _alice = null!;

    public async Task InitializeAsync()
    {
        _local = await LocalProvider.StartAsync(_dir);
        _laptop = await LocalStore.CreateAsync(_dir.File("laptop.db"), StoreUnlock.WithPassphrase("1"), TestStores.FastOptions());
        _alice = await AccountRegistration.CreateAsync(_laptop, new ProviderClient(_local.Http, ProviderUrl), "alice@alpha.test", "Alice");
        await AccountPassword.SetAsync(_laptop, _alice, await Connect(_laptop, _alice), "correct horse battery staple", new Argon2idParameters { MemoryKiB = 19 * 1024, Iterations = 1 });
    }

    public async Task DisposeAsync()
    {
        _laptop.Dispose();
        await _local.DisposeAsync();
        _dir.Dispose();
    }

    private Task<ProviderClient> Connect(LocalStore store, AccountRecord account) => AccountRegistration.ConnectAsync(store, account, _local.Http);

    private TransparencyWatch Watch(LocalStore store, List<string> log)
    {
        var service = new TransparencyService(store, _local.Http);
        return new(store, service)
        {
            Notices = new TransparencyNotices(store, service.State),
            AccountDevices = async (account, ct) => await (await Connect(store, account)).ListDevicesAsync(ct),
            BeforeCheck = async (account, ct) => await KeyBundleSync.FetchAsync(store, account, await Connect(store, account), ct),
            DeviceLog = log.Add,
        };
    }

    [Fact]
    public async Task A_password_login_elsewhere_is_a_notice_not_an_alert_and_a_rotation_elsewhere_is_the_accounts_own()
    {
        await _local.Host.Transparency!.PublishPendingAsync(default);
        var log = new List<string>();
        var reports = await Watch(_laptop, log).CheckAllAsync(default);
        Assert.Empty(Assert.Single(reports).NewAlerts);

        using var phone = await LocalStore.CreateAsync(_dir.File("phone.db"), StoreUnlock.WithPassphrase("2"), TestStores.FastOptions());
        var onPhone = await AccountPassword.LoginAsync(phone, new ProviderClient(_local.Http, ProviderUrl), "alice@alpha.test", "correct horse battery staple", "Phone",
            c => new ProviderClient(_local.Http, ProviderUrl, c));
        await _local.Host.Transparency.PublishPendingAsync(default);

        reports = await Watch(_laptop, log).CheckAllAsync(default);
        var report = Assert.Single(reports);
        Assert.True(report.Error is null, report.Error);
        Assert.Empty(report.NewAlerts);
        Assert.Contains(log, l => l.Contains("new device signed in to alice@alpha.test: \"Phone\"", StringComparison.Ordinal));
        var inbox = (await _laptop.Mail(_alice.Id).FindFolderAsync("INBOX"))!;
        var notice = Assert.Single(await _laptop.Mail(_alice.Id).ListAsync(inbox.Id));
        Assert.Equal("New device signed in: Phone", notice.Summary.Subject);
        Assert.Contains("\\Flagged", notice.Flags);

        // Once only.
        await Watch(_laptop, log).CheckAllAsync(default);
        Assert.Single(await _laptop.Mail(_alice.Id).ListAsync(inbox.Id));

        // The phone revokes nothing but rotates the receiving keys (as after revoking a third device): the laptop's
        // next round takes the bundle first, so the new inbox key in the log is its own.
        await DeviceRevocation.RotateReceivingKeysAsync(phone, onPhone, await Connect(phone, onPhone));
        await _local.Host.Transparency.PublishPendingAsync(default);
        report = Assert.Single(await Watch(_laptop, log).CheckAllAsync(default));
        Assert.True(report.Error is null, report.Error);
        Assert.Empty(report.NewAlerts);
        Assert.Empty(await new TransparencyService(_laptop, _local.Http).State.GetAlertsAsync(default));
    }
}
