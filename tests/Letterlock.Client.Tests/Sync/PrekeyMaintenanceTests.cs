using System.Text;
using Letterlock.Client.Native;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Native;

namespace Letterlock.Client.Tests.Sync;

/// <summary>
/// A device publishes its native prekeys, refills its one-time pools and rotates its signed prekeys on schedule,
/// against a real provider; what it published opens session starts made from bundles the provider hands out.
/// </summary>
public sealed class PrekeyMaintenanceTests : IAsyncLifetime
{
    private static readonly PrekeyOptions Small = new() { PoolSize = 4, RefillBelow = 2, OneTimePrekeyValidity = TimeSpan.FromDays(10) };
    private readonly TempDir _dir = new();
    private LocalProvider _local = null!;
    private LocalStore _aliceStore = null!;
    private LocalStore _bobStore = null!;
    private AccountRecord _alice = null!;
    private AccountRecord _bob = null!;

    public async Task InitializeAsync()
    {
        _local = await LocalProvider.StartAsync(_dir);
        _aliceStore = await LocalStore.CreateAsync(_dir.File("alice.db"), StoreUnlock.WithPassphrase("a"), TestStores.FastOptions());
        _bobStore = await LocalStore.CreateAsync(_dir.File("bob.db"), StoreUnlock.WithPassphrase("b"), TestStores.FastOptions());
        _alice = await AccountRegistration.CreateAsync(_aliceStore, new ProviderClient(_local.Http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");
        _bob = await AccountRegistration.CreateAsync(_bobStore, new ProviderClient(_local.Http, new Uri("https://alpha.test/")), "bob@alpha.test", "Bob");
    }

    public async Task DisposeAsync()
    {
        _aliceStore.Dispose();
        _bobStore.Dispose();
        await _local.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task The_first_run_publishes_a_refill_follows_consumption_and_the_bundles_open_at_the_device()
    {
        var alice = await AccountRegistration.ConnectAsync(_aliceStore, _alice, _local.Http);
        var bob = await AccountRegistration.ConnectAsync(_bobStore, _bob, _local.Http);
        Assert.Empty((await bob.FetchPrekeyBundlesAsync("alice@alpha.test"))!.Bundles);

        var first = await PrekeyMaintenance.RunAsync(_aliceStore, _alice, alice, Small);
        Assert.Equal(new PrekeyReport(true, true, 8, 0), first);
        Assert.Equal(new PrekeyReport(false, false, 0, 0), await PrekeyMaintenance.RunAsync(_aliceStore, _alice, alice, Small)); // checked within the hour
        var status = await alice.GetPrekeyStatusAsync();
        Assert.Equal((4, 4), (status.OneTimePrekeys, status.OneTimeKemPrekeys));
        Assert.Equal(10, (await _aliceStore.Keys.ListAsync(_alice.Id, NativeKeys.PrekeyPurpose)).Count);

        // Bob starts three sessions (three of his devices, say); each start opens at Alice with her stored keys.
        var aliceDeviceKey = (await alice.GetDirectoryEntryAsync("alice@alpha.test"))!.Devices.Single().PublicKey;
        for (int i = 0; i < 3; i++)
        {
            var bundle = PrekeyBundle.Decode(Assert.Single((await bob.FetchPrekeyBundlesAsync("alice@alpha.test"))!.Bundles));
            using var bobIdentity = DeviceIdentity.Generate(Letterlock.Api.DeviceAuthentication.GenerateKeyPair().PrivateKey);
            var bobDevice = new NativeDevice(bobIdentity, "bob@alpha.test", new DevicePrekeys(), new DeviceSessions());
            bobDevice.StartSession("alice@alpha.test", bundle, aliceDeviceKey);
            var sealedEnvelope = bobDevice.Seal(Encoding.UTF8.GetBytes($"Subject: {i}\r\n\r\nhello"), [new EnvelopeRecipient(aliceDeviceKey)]);

            using var aliceIdentity = await NativeKeys.LoadIdentityAsync(_aliceStore, _alice.Id);
            var (prekeys, _) = await NativeKeys.LoadPrekeysAsync(_aliceStore, _alice.Id);
            using (prekeys)
            {
                var opened = new NativeDevice(aliceIdentity, "alice@alpha.test", prekeys, new DeviceSessions()).Open(sealedEnvelope.Bytes);
                Assert.Equal(OpenStatus.Opened, opened.Status);
                Assert.Equal("bob@alpha.test", opened.Sender!.Address);
                Assert.Equal(2, opened.ConsumedPrekeys.Count); // a one-time X25519 and a one-time ML-KEM prekey
            }
        }

        // One of each kind left, below the refill mark of 2: the next check tops both pools up to 4.
        var refill = await PrekeyMaintenance.RunAsync(_aliceStore, _alice, alice, Small, force: true);
        Assert.Equal(new PrekeyReport(true, false, 6, 0), refill);
        status = await alice.GetPrekeyStatusAsync();
        Assert.Equal((4, 4), (status.OneTimePrekeys, status.OneTimeKemPrekeys));
    }

    [Fact]
    public async Task Signed_prekeys_rotate_weekly_and_private_prekeys_go_after_their_retention()
    {
        var alice = await AccountRegistration.ConnectAsync(_aliceStore, _alice, _local.Http);
        var time = new ManualTime(DateTimeOffset.UtcNow);
        await PrekeyMaintenance.RunAsync(_aliceStore, _alice, alice, Small, time);
        var firstSigned = (await alice.GetPrekeyStatusAsync()).SignedPrekeyId;

        time.Advance(TimeSpan.FromDays(6));
        Assert.False((await PrekeyMaintenance.RunAsync(_aliceStore, _alice, alice, Small, time)).Rotated);
        time.Advance(TimeSpan.FromDays(1.5));
        Assert.True((await PrekeyMaintenance.RunAsync(_aliceStore, _alice, alice, Small, time)).Rotated);
        var status = await alice.GetPrekeyStatusAsync();
        Assert.NotEqual(firstSigned, status.SignedPrekeyId);

        // Day 45: the first signed and last-resort prekeys expired on day 14 and their 30 days of retention are over, and so
        // are the first one-time prekeys (expired on day 10); the second signed pair (expires day 21.5) stays until day 51.5.
        time.Advance(TimeSpan.FromDays(37.5));
        var late = await PrekeyMaintenance.RunAsync(_aliceStore, _alice, alice, Small, time);
        Assert.Equal(2 + 8, late.Deleted);
        var (held, _) = await NativeKeys.LoadPrekeysAsync(_aliceStore, _alice.Id);
        using (held)
        {
            Assert.Null(held.Find(PrekeyKind.Signed, firstSigned!.Value));
            Assert.NotNull(held.Find(PrekeyKind.Signed, status.SignedPrekeyId!.Value));
            Assert.All(held.All, p => Assert.True(p.Public.ExpiresAt + Small.RetentionAfterExpiry > time.GetUtcNow()));
        }
    }

    [Fact]
    public async Task Native_keys_stay_on_the_device_and_out_of_the_key_bundle()
    {
        var alice = await AccountRegistration.ConnectAsync(_aliceStore, _alice, _local.Http);
        await PrekeyMaintenance.RunAsync(_aliceStore, _alice, alice, Small);
        Assert.True(Letterlock.Client.Accounts.KeyBundleContent.IsDeviceOnly(NativeKeys.IdentityPurpose));
        Assert.True(Letterlock.Client.Accounts.KeyBundleContent.IsDeviceOnly(NativeKeys.PrekeyPurpose));
        Assert.Single(await _aliceStore.Keys.ListAsync(_alice.Id, NativeKeys.IdentityPurpose));
        Assert.Throws<ArgumentOutOfRangeException>(() => (Small with { RefillBelow = 5 }).Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => (Small with { RotationInterval = TimeSpan.FromDays(14) }).Validate());
    }
}
