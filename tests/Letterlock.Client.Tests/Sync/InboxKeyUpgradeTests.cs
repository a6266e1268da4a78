using System.Security.Cryptography;
using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Cryptography;
using NSec.Cryptography;

namespace Letterlock.Client.Tests.Sync;

/// <summary>
/// An account made before X-Wing (an X25519 inbox key, the keys exactly as the earlier release stored them) moves
/// to an X-Wing inbox key: mail sealed before still opens, mail after is sealed post-quantum, a second device
/// holding the same account master key agrees without publishing again.
/// </summary>
public sealed class InboxKeyUpgradeTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private LocalProvider _local = null!;
    private LocalStore _device1 = null!;
    private AccountRecord _alice = null!;

    public async Task InitializeAsync()
    {
        _local = await LocalProvider.StartAsync(_dir);
        _device1 = await LocalStore.CreateAsync(_dir.File("device1.db"), StoreUnlock.WithPassphrase("one"), TestStores.FastOptions());
        _alice = await CreateAccountAsEarlierReleasesDidAsync(_device1, new ProviderClient(_local.Http, new Uri("https://alpha.test/")), "alice@alpha.test");
    }

    public async Task DisposeAsync()
    {
        _device1.Dispose();
        await _local.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Mail_sealed_before_and_after_the_move_all_arrives_and_the_directory_shows_the_X_Wing_key()
    {
        var provider = await AccountRegistration.ConnectAsync(_device1, _alice, _local.Http);
        await _local.DeliverAsync("Sealed to X25519", "before");
        Assert.Equal(32, (await provider.GetDirectoryEntryAsync(_alice.Address))!.InboxPublicKey.Length);

        Assert.Equal(InboxUpgradeOutcome.Published, await InboxKeyUpgrade.EnsureAsync(_device1, _alice, provider));
        var entry = (await provider.GetDirectoryEntryAsync(_alice.Address))!;
        Assert.Equal(XWing.PublicKeyLength, entry.InboxPublicKey.Length);
        var amk = (await _device1.Keys.GetCurrentAsync(_alice.Id, AccountKeys.AccountMasterKey))!.Material;
        using (var derived = AccountKeys.DeriveXWingInbox(amk))
        {
            Assert.Equal(derived.PublicKey.ToArray(), entry.InboxPublicKey);
        }

        // The OpenPGP certificate stays what it was; the old X25519 key stays in the store.
        Assert.Equal((await AccountKeys.LoadOpenPgpAsync(_device1, _alice.Id)).Certificate.Export(armored: false), entry.OpenPgpCertificate);
        Assert.Single(await _device1.Keys.ListAsync(_alice.Id, AccountKeys.InboxSecret));
        Assert.Equal(InboxUpgradeOutcome.Current, await InboxKeyUpgrade.EnsureAsync(_device1, _alice, provider));

        await _local.DeliverAsync("Sealed to X-Wing", "after");
        var kems = new List<HpkeKem>();
        foreach (var change in (await provider.GetChangesAsync(0)).Changes.Where(c => c.Kind == "inbox"))
        {
            kems.Add(HpkeEnvelope.ReadKem((await provider.GetDocumentAsync(change.Id))!.Content));
        }

        Assert.Equal([HpkeKem.X25519, HpkeKem.XWing], kems);
        Assert.Equal(2, (await new SyncEngine(_device1, _alice, provider).SyncAsync()).Received);
        var inbox = (await _device1.Mail(_alice.Id).FindFolderAsync("INBOX"))!;
        Assert.Equal(["Sealed to X-Wing", "Sealed to X25519"], (await _device1.Mail(_alice.Id).ListAsync(inbox.Id)).Select(m => m.Summary.Subject).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_second_device_derives_the_same_key_and_publishes_nothing()
    {
        using var device2 = await LocalStore.CreateAsync(_dir.File("device2.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        var account2 = await device2.Accounts.CreateAsync(_alice.Address, _alice.DisplayName, _alice.ProviderUrl);
        foreach (var key in await _device1.Keys.ListAsync(_alice.Id))
        {
            await device2.Keys.AddAsync(account2.Id, key.Purpose, key.Material);
        }

        account2 = await device2.Accounts.UpdateAsync(account2 with { ProviderDomain = _alice.ProviderDomain, RemoteAccountId = _alice.RemoteAccountId, DeviceId = _alice.DeviceId });
        var provider1 = await AccountRegistration.ConnectAsync(_device1, _alice, _local.Http);
        var provider2 = await AccountRegistration.ConnectAsync(device2, account2, _local.Http);
        Assert.Equal(InboxUpgradeOutcome.Published, await InboxKeyUpgrade.EnsureAsync(_device1, _alice, provider1));
        var version = (await provider1.GetDirectoryEntryAsync(_alice.Address))!.UpdatedAt;
        Assert.Equal(InboxUpgradeOutcome.Current, await InboxKeyUpgrade.EnsureAsync(device2, account2, provider2));
        Assert.Equal(version, (await provider2.GetDirectoryEntryAsync(_alice.Address))!.UpdatedAt);

        await _local.DeliverAsync("For both devices", "x");
        Assert.Equal(1, (await new SyncEngine(device2, account2, provider2).SyncAsync()).Received);
    }

    [Fact]
    public async Task New_accounts_start_with_an_X_Wing_inbox_key_only()
    {
        using var store = await LocalStore.CreateAsync(_dir.File("new.db"), StoreUnlock.WithPassphrase("n"), TestStores.FastOptions());
        var bob = await AccountRegistration.CreateAsync(store, new ProviderClient(_local.Http, new Uri("https://alpha.test/")), "bob@alpha.test", "Bob");
        Assert.Empty(await store.Keys.ListAsync(bob.Id, AccountKeys.InboxSecret));
        var provider = await AccountRegistration.ConnectAsync(store, bob, _local.Http);
        Assert.Equal(XWing.PublicKeyLength, (await provider.GetDirectoryEntryAsync(bob.Address))!.InboxPublicKey.Length);
        Assert.Equal(InboxUpgradeOutcome.Current, await InboxKeyUpgrade.EnsureAsync(store, bob, provider));
    }

    /// <summary>What account creation stored and registered before X-Wing: an X25519 inbox key under "inbox-secret".</summary>
    private static async Task<AccountRecord> CreateAccountAsEarlierReleasesDidAsync(LocalStore store, ProviderClient provider, string address)
    {
        var info = await provider.GetInfoAsync();
        var account = await store.Accounts.CreateAsync(address, "Alice", provider.BaseUri, EncryptionPolicy.Opportunistic);
        var generated = Letterlock.OpenPgp.KeyGenerator.Generate($"Alice <{address}>", ReadOnlySpan<char>.Empty);
        using var inbox = HpkeKeyPair.Generate();
        using var device = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        var devicePrivate = device.Export(KeyBlobFormat.RawPrivateKey);
        var devicePublic = device.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        await store.Keys.AddAsync(account.Id, AccountKeys.OpenPgpSecret, generated.SecretKey.Export(armored: false));
        await store.Keys.AddAsync(account.Id, AccountKeys.OpenPgpRevocation, generated.RevocationCertificate);
        await store.Keys.AddAsync(account.Id, "inbox-secret", inbox.PrivateKey);
        await store.Keys.AddAsync(account.Id, AccountKeys.DeviceSecret, devicePrivate);
        await store.Keys.AddAsync(account.Id, AccountKeys.AccountMasterKey, RandomNumberGenerator.GetBytes(32));
        var certificate = generated.Certificate.Export(armored: false);
        var proof = DeviceAuthentication.Sign(devicePrivate, DeviceAuthentication.RegistrationMessage(info.Domain, address, devicePublic, certificate, inbox.PublicKey.Span));
        var created = await provider.CreateAccountAsync(new CreateAccountRequest(address, devicePublic, "old client", certificate, inbox.PublicKey.ToArray(), proof));
        return await store.Accounts.UpdateAsync(account with { ProviderDomain = info.Domain, RemoteAccountId = created.AccountId, DeviceId = created.DeviceId });
    }
}
