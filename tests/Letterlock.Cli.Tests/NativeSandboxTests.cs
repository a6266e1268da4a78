using System.Text;
using Letterlock.Client.Native;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Native;
using Letterlock.Sandbox;

namespace Letterlock.Cli.Tests;

/// <summary>The native protocol between the sandbox's two providers: prekeys published by the bridges, fetched across providers.</summary>
public sealed class NativeSandboxTests : IDisposable
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(4);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-native-sandbox-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task Alice_fetches_bobs_bundle_through_her_own_provider_and_bobs_stored_prekeys_open_her_session_start()
    {
        using var timeout = new CancellationTokenSource(Generous);
        await using var sandbox = await SandboxEnvironment.StartAsync(new SandboxOptions { DataDirectory = _dir }, ct: timeout.Token);
        using var http = new HttpClient(HttpFetch.CreateHandler(sandbox.HostMap, [sandbox.CaRoot]));
        var (aliceStore, bobStore) = (sandbox.Clients[0].Store, sandbox.Clients[1].Store);
        var alice = (await aliceStore.Accounts.FindAsync("alice@alpha.test", timeout.Token))!;
        var bob = (await bobStore.Accounts.FindAsync("bob@beta.test", timeout.Token))!;
        var aliceProvider = await AccountRegistration.ConnectAsync(aliceStore, alice, http, ct: timeout.Token);
        var bobProvider = await AccountRegistration.ConnectAsync(bobStore, bob, http, ct: timeout.Token);

        // Bob's bridge publishes his prekeys before its first sync.
        while ((await bobProvider.GetPrekeyStatusAsync(timeout.Token)).SignedPrekeyId is null)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), timeout.Token);
        }

        // alpha.test asks beta.test on Alice's behalf; the bundle is for the device key beta.test's directory lists for bob.
        var bobDeviceKey = (await bobProvider.GetDirectoryEntryAsync("bob@beta.test", timeout.Token))!.Devices.Single().PublicKey;
        var bundles = (await aliceProvider.FetchPrekeyBundlesAsync("bob@beta.test", timeout.Token))!;
        var bundle = PrekeyBundle.Decode(Assert.Single(bundles.Bundles));
        Assert.NotNull(bundle.OneTimePrekey);
        Assert.Null(await aliceProvider.FetchPrekeyBundlesAsync("nobody@beta.test", timeout.Token));

        using var aliceIdentity = await NativeKeys.LoadIdentityAsync(aliceStore, alice.Id, timeout.Token);
        var aliceDevice = new NativeDevice(aliceIdentity, alice.Address, new DevicePrekeys(), new DeviceSessions());
        aliceDevice.StartSession(bob.Address, bundle, bobDeviceKey);
        var envelope = aliceDevice.Seal(Encoding.UTF8.GetBytes("Subject: native\r\n\r\nhello bob"), [new EnvelopeRecipient(bobDeviceKey)]);

        using var bobIdentity = await NativeKeys.LoadIdentityAsync(bobStore, bob.Id, timeout.Token);
        var (bobPrekeys, _) = await NativeKeys.LoadPrekeysAsync(bobStore, bob.Id, timeout.Token);
        using (bobPrekeys)
        {
            var opened = new NativeDevice(bobIdentity, bob.Address, bobPrekeys, new DeviceSessions()).Open(envelope.Bytes);
            Assert.Equal(OpenStatus.Opened, opened.Status);
            Assert.Equal(alice.Address, opened.Sender!.Address);
            Assert.Equal(aliceIdentity.DeviceKey.ToArray(), opened.Sender.Identity.DeviceKey);
        }
    }
}
