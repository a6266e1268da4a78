using Letterlock.Client.Accounts;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Tests.Sync;

namespace Letterlock.Client.Tests.Accounts;

/// <summary>
/// Linking a device without the password, through a real provider's relay on loopback: the new device joins with
/// the keys and the mail; a wrong code, a code nobody started, a refused comparison and a replayed message all end
/// the link with nothing transferred and no device registered.
/// </summary>
public sealed class DeviceLinkTests : IAsyncLifetime
{
    private static readonly Uri ProviderUrl = new("https://alpha.test/");
    private readonly TempDir _dir = new();
    private LocalProvider _local = null!;
    private LocalStore _laptop = null!;
    private LocalStore _phone = null!;
    private AccountRecord _alice = null!;

    public async Task InitializeAsync()
    {
        _local = await LocalProvider.StartAsync(_dir);
        _laptop = await LocalStore.CreateAsync(_dir.File("laptop.db"), StoreUnlock.WithPassphrase("1"), TestStores.FastOptions());
        _phone = await LocalStore.CreateAsync(_dir.File("phone.db"), StoreUnlock.WithPassphrase("2"), TestStores.FastOptions());

        // A device-only account: no password was ever registered.
        _alice = await AccountRegistration.CreateAsync(_laptop, new ProviderClient(_local.Http, ProviderUrl), "alice@alpha.test", "Alice");
        await KeyBundleSync.PublishAsync(_laptop, _alice, await Connect(_laptop, _alice));
    }

    public async Task DisposeAsync()
    {
        _laptop.Dispose();
        _phone.Dispose();
        await _local.DisposeAsync();
        _dir.Dispose();
    }

    private Task<ProviderClient> Connect(LocalStore store, AccountRecord account) => AccountRegistration.ConnectAsync(store, account, _local.Http);

    private ProviderClient Anonymous() => new(_local.Http, ProviderUrl);

    private async Task<int> ActiveDevices() => (await (await Connect(_laptop, _alice)).ListDevicesAsync()).Devices.Count(d => d.RevokedAt is null);

    [Fact]
    public async Task A_new_device_joins_a_device_only_account_with_a_code_and_matching_strings()
    {
        await _local.DeliverAsync("Before the link", "old mail");
        await new SyncEngine(_laptop, _alice, await Connect(_laptop, _alice)).SyncAsync();

        using var pending = await DeviceLink.StartAsync(Anonymous(), "phone");
        Assert.Matches("^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{6}$", pending.Code);
        string? shownOnPhone = null;
        string? shownOnLaptop = null;
        var joining = pending.CompleteAsync(_phone, c => new ProviderClient(_local.Http, ProviderUrl, c), (sas, _) =>
        {
            shownOnPhone = sas;
            return Task.CompletedTask;
        });
        var device = await DeviceLink.ApproveAsync(_laptop, _alice, await Connect(_laptop, _alice), pending.Code.ToLowerInvariant(), (sas, _) =>
        {
            shownOnLaptop = sas;
            return Task.FromResult(true);
        });
        var onPhone = await joining;

        Assert.Matches("^[0-9]{3} [0-9]{3}$", shownOnLaptop!);
        Assert.Equal(shownOnLaptop, shownOnPhone);
        Assert.Equal("phone", device.Name);
        Assert.Equal(device.DeviceId, onPhone.DeviceId);
        Assert.Equal(_alice.RemoteAccountId, onPhone.RemoteAccountId);
        foreach (var purpose in new[] { AccountKeys.AccountMasterKey, AccountKeys.OpenPgpSecret, AccountKeys.InboxXWingSecret })
        {
            Assert.Equal((await _laptop.Keys.GetCurrentAsync(_alice.Id, purpose))!.Material, (await _phone.Keys.GetCurrentAsync(onPhone.Id, purpose))!.Material);
        }

        // The phone authenticates with its own device key and reads old and new mail.
        await _local.DeliverAsync("After the link", "new mail");
        var report = await new SyncEngine(_phone, onPhone, await Connect(_phone, onPhone)).SyncAsync();
        Assert.Empty(report.Errors);
        var inbox = (await _phone.Mail(onPhone.Id).FindFolderAsync("INBOX"))!;
        Assert.Equal(["After the link", "Before the link"], (await _phone.Mail(onPhone.Id).ListAsync(inbox.Id)).Select(m => m.Summary.Subject).Order().ToList());
        var devices = await (await Connect(_laptop, _alice)).ListDevicesAsync();
        Assert.False(devices.HasPassword);
        Assert.Equal(2, devices.Devices.Count(d => d.RevokedAt is null));

        // The link is over: its code means nothing any more.
        var laptopClient = await Connect(_laptop, _alice);
        var again = await Assert.ThrowsAsync<LinkFailedException>(() => DeviceLink.ApproveAsync(_laptop, _alice, laptopClient, pending.Code, (_, _) => Task.FromResult(true)));
        Assert.Contains("no open link", again.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_code_ends_the_link_on_both_sides_with_nothing_sent()
    {
        using var pending = await DeviceLink.StartAsync(Anonymous(), "phone");
        string slot = pending.Code[..5];
        string secret = pending.Code[6..];
        string wrong = slot + "-" + (secret[0] == '0' ? "1" : "0") + secret[1..];
        bool asked = false;
        var joining = pending.CompleteAsync(_phone, c => new ProviderClient(_local.Http, ProviderUrl, c), (_, _) => Task.CompletedTask);
        var approving = DeviceLink.ApproveAsync(_laptop, _alice, await Connect(_laptop, _alice), wrong, (_, _) =>
        {
            asked = true;
            return Task.FromResult(true);
        });

        await Assert.ThrowsAsync<LinkFailedException>(() => joining);
        await Assert.ThrowsAsync<LinkFailedException>(() => approving);
        Assert.False(asked);
        Assert.Empty(await _phone.Accounts.ListAsync());
        Assert.Equal(1, await ActiveDevices());
    }

    [Fact]
    public async Task A_code_nobody_started_cannot_be_approved()
    {
        var laptop = await Connect(_laptop, _alice);
        var failure = await Assert.ThrowsAsync<LinkFailedException>(() =>
            DeviceLink.ApproveAsync(_laptop, _alice, laptop, "7KQ2M-X4D9TP", (_, _) => Task.FromResult(true)));
        Assert.Contains("no open link has this code", failure.Message, StringComparison.Ordinal);
        var malformed = await Assert.ThrowsAsync<LinkFailedException>(() =>
            DeviceLink.ApproveAsync(_laptop, _alice, laptop, "7KQ2M-X4D9T", (_, _) => Task.FromResult(true)));
        Assert.Contains("letters and digits", malformed.Message, StringComparison.Ordinal);
        Assert.Equal(1, await ActiveDevices());
    }

    [Fact]
    public async Task Strings_that_do_not_match_abort_before_anything_is_sent()
    {
        using var pending = await DeviceLink.StartAsync(Anonymous(), "phone");
        var joining = pending.CompleteAsync(_phone, c => new ProviderClient(_local.Http, ProviderUrl, c), (_, _) => Task.CompletedTask);
        var laptop = await Connect(_laptop, _alice);
        var refused = await Assert.ThrowsAsync<LinkFailedException>(() =>
            DeviceLink.ApproveAsync(_laptop, _alice, laptop, pending.Code, (_, _) => Task.FromResult(false)));
        Assert.Contains("did not show the same string", refused.Message, StringComparison.Ordinal);
        var ended = await Assert.ThrowsAsync<LinkFailedException>(() => joining);
        Assert.Contains("ended the link", ended.Message, StringComparison.Ordinal);
        Assert.Empty(await _phone.Accounts.ListAsync());
        Assert.Equal(1, await ActiveDevices());
    }

    [Fact]
    public async Task A_message_replayed_from_another_link_does_not_verify()
    {
        // A real new device opens link 1; someone copies its first message into a link 2 they opened, and gets the
        // user to approve link 2 with link 1's secret (the worst case: the attacker knows it too).
        using var pending = await DeviceLink.StartAsync(Anonymous(), "phone");
        var relay = Anonymous();
        byte[] copied = (await relay.ReadLinkAsync(pending.Code[..5], DeviceLink.NewParty, 0, 0))!;
        var forged = await relay.StartLinkAsync();
        await relay.WriteLinkAsync(forged.Slot, DeviceLink.NewParty, 0, copied);

        bool asked = false;
        var approving = DeviceLink.ApproveAsync(_laptop, _alice, await Connect(_laptop, _alice), forged.Slot + "-" + pending.Code[6..], (_, _) =>
        {
            asked = true;
            return Task.FromResult(true);
        });

        // The attacker cannot answer with a confirmation made under link 2's session id; replaying bytes fails.
        await relay.ReadLinkAsync(forged.Slot, DeviceLink.ApproverParty, 0, 30);
        await relay.WriteLinkAsync(forged.Slot, DeviceLink.NewParty, 1, new byte[128]);
        var failure = await Assert.ThrowsAsync<LinkFailedException>(() => approving);
        Assert.Contains("does not match", failure.Message, StringComparison.Ordinal);
        Assert.False(asked);
        Assert.Equal(1, await ActiveDevices());

        // A message slot is written once: the relay refuses to replace or replay into it.
        var rewrite = await Assert.ThrowsAsync<ProviderProblemException>(() => relay.WriteLinkAsync(pending.Code[..5], DeviceLink.NewParty, 0, copied));
        Assert.Equal(409, rewrite.Status);
    }
}
