using Letterlock.Api;
using Letterlock.Client.Accounts;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Tests.Sync;
using Letterlock.Cryptography;
using Letterlock.Cryptography.Opaque;
using Letterlock.OpenPgp;

namespace Letterlock.Client.Tests.Accounts;

/// <summary>
/// DESIGN.md invariant 8, second half: a revoked device reads nothing that arrives after its revocation. It cannot
/// authenticate (so it cannot sync or submit), and even the raw ciphertext of later mail is sealed to keys it never had;
/// the remaining devices pick the new keys up from the key bundle and read on.
/// </summary>
public sealed class RevocationTests : IAsyncLifetime
{
    private static readonly Uri ProviderUrl = new("https://alpha.test/");
    private static readonly Argon2idParameters Cheap = new() { MemoryKiB = 19 * 1024, Iterations = 1 };
    private readonly TempDir _dir = new();
    private LocalProvider _local = null!;
    private LocalStore _laptop = null!;
    private LocalStore _phone = null!;
    private LocalStore _tablet = null!;
    private AccountRecord _onLaptop = null!;
    private AccountRecord _onPhone = null!;
    private AccountRecord _onTablet = null!;

    public async Task InitializeAsync()
    {
        _local = await LocalProvider.StartAsync(_dir);
        _laptop = await LocalStore.CreateAsync(_dir.File("laptop.db"), StoreUnlock.WithPassphrase("1"), TestStores.FastOptions());
        _phone = await LocalStore.CreateAsync(_dir.File("phone.db"), StoreUnlock.WithPassphrase("2"), TestStores.FastOptions());
        _tablet = await LocalStore.CreateAsync(_dir.File("tablet.db"), StoreUnlock.WithPassphrase("3"), TestStores.FastOptions());
        _onLaptop = await AccountRegistration.CreateAsync(_laptop, new ProviderClient(_local.Http, ProviderUrl), "alice@alpha.test", "Alice");
        await AccountPassword.SetAsync(_laptop, _onLaptop, await Connect(_laptop, _onLaptop), "correct horse battery staple", Cheap);
        _onPhone = await Login(_phone);
        _onTablet = await Login(_tablet);
    }

    public async Task DisposeAsync()
    {
        _laptop.Dispose();
        _phone.Dispose();
        _tablet.Dispose();
        await _local.DisposeAsync();
        _dir.Dispose();
    }

    private Task<ProviderClient> Connect(LocalStore store, AccountRecord account) => AccountRegistration.ConnectAsync(store, account, _local.Http);

    private Task<AccountRecord> Login(LocalStore store) =>
        AccountPassword.LoginAsync(store, new ProviderClient(_local.Http, ProviderUrl), "alice@alpha.test", "correct horse battery staple", "device",
            credentials => new ProviderClient(_local.Http, ProviderUrl, credentials));

    [Fact]
    public async Task A_revoked_device_can_neither_fetch_nor_open_later_mail_and_the_others_read_on()
    {
        await _local.DeliverAsync("Before the theft", "everyone may read this");
        await new SyncEngine(_laptop, _onLaptop, await Connect(_laptop, _onLaptop)).SyncAsync();
        var stolenInboxKeys = (await _phone.Keys.ListAsync(_onPhone.Id, AccountKeys.InboxXWingSecret)).Select(k => k.Material).ToList();
        var stolenOpenPgp = await AccountKeys.LoadOpenPgpAsync(_phone, _onPhone.Id);

        // The laptop revokes the stolen phone; new receiving keys are published.
        ulong before = await KeyBundleSync.HighestSeenAsync(_laptop, _onLaptop);
        ulong version = await DeviceRevocation.RevokeAsync(_laptop, _onLaptop, await Connect(_laptop, _onLaptop), _onPhone.DeviceId!.Value);
        Assert.Equal(before + 1, version);
        var directory = (await new ProviderClient(_local.Http, ProviderUrl).GetDirectoryEntryAsync("alice@alpha.test"))!;
        Assert.DoesNotContain(directory.Devices, d => d.DeviceId == _onPhone.DeviceId);
        Assert.DoesNotContain(stolenInboxKeys, k => HpkeKeyPair.FromPrivateKey(k).PublicKey.ToArray().AsSpan().SequenceEqual(directory.InboxPublicKey));

        // The phone cannot authenticate: no sync, no submission.
        var phoneProvider = await Connect(_phone, _onPhone);
        var refused = await Assert.ThrowsAsync<ProviderProblemException>(() => new SyncEngine(_phone, _onPhone, phoneProvider).SyncAsync());
        Assert.Equal(401, refused.Status);
        var submit = await Assert.ThrowsAsync<ProviderProblemException>(() => phoneProvider.SubmitAsync("alice@alpha.test", ["bob@beta.test"], "Subject: x\r\n\r\nx"u8.ToArray()));
        Assert.Equal(401, submit.Status);

        // Mail arriving now: even its raw ciphertext (as a provider colluding with the thief holds it) does not open with the phone's keys.
        await _local.DeliverAsync("After the theft", "only the remaining devices read this");
        var account = (await _local.Host.Store.FindAccountAsync("alice", CancellationToken.None))!;
        var changes = await _local.Host.Store.GetChangesAsync(account.Id, 0, 1000, CancellationToken.None);
        var arrived = changes.Changes.Last(c => c.Kind == "inbox" && !c.Deleted);
        var raw = (await _local.Host.Store.GetDocumentAsync(account.Id, arrived.Id, CancellationToken.None))!.Content!;
        byte[] ciphertext = raw.Inline ?? await File.ReadAllBytesAsync(Directory.GetFiles(Path.Combine(_local.DataDirectory, "blobs"), raw.BlobHash!, SearchOption.AllDirectories).Single());
        foreach (var key in stolenInboxKeys)
        {
            Assert.ThrowsAny<HpkeException>(() =>
            {
                using var opening = HpkeOpeningStream.Open(new MemoryStream(ciphertext), key, InboxEnvelope.Info);
                opening.CopyTo(Stream.Null);
            });
        }

        // What a correspondent encrypts to from now on goes to a subkey the phone never had (dated at least a second
        // after the one it replaces, so the two never tie).
        var newSubkey = Certificate.Parse(directory.OpenPgpCertificate).SelectEncryptionKey(DateTimeOffset.UtcNow.AddSeconds(2))!;
        Assert.NotEqual(stolenOpenPgp.Certificate.SelectEncryptionKey(DateTimeOffset.UtcNow.AddSeconds(2))!.KeyId, newSubkey.KeyId);
        Assert.False(stolenOpenPgp.HasSecret(newSubkey.KeyId));
        Assert.True((await AccountKeys.LoadOpenPgpAsync(_laptop, _onLaptop.Id)).HasSecret(newSubkey.KeyId));
        Assert.Equal(stolenOpenPgp.Fingerprint, Certificate.Parse(directory.OpenPgpCertificate).Fingerprint); // same primary: contacts' pins hold

        // The tablet had never seen the new keys: its sync fetches the new key bundle and reads the new mail.
        var report = await new SyncEngine(_tablet, _onTablet, await Connect(_tablet, _onTablet)).SyncAsync();
        Assert.Empty(report.Errors);
        var inbox = (await _tablet.Mail(_onTablet.Id).FindFolderAsync("INBOX"))!;
        Assert.Equal(["After the theft", "Before the theft"], (await _tablet.Mail(_onTablet.Id).ListAsync(inbox.Id)).Select(m => m.Summary.Subject).Order().ToList());
        Assert.Equal(version, await KeyBundleSync.HighestSeenAsync(_tablet, _onTablet));
        Assert.Equal(2, (await _tablet.Keys.ListAsync(_onTablet.Id, AccountKeys.InboxXWingSecret)).Count);
    }
}
