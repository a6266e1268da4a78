using System.Text;
using Letterlock.Client.Accounts;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Tests.Sync;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;
using Letterlock.OpenPgp.Mime;
using MimeKit;

namespace Letterlock.Client.Tests.Accounts;

/// <summary>
/// <c>account revoke-key</c> against a real provider: the directory, WKD and HKP serve the new key (certified by the
/// old one) and the old key's revocation; a correspondent who pinned the old key takes the published key as a
/// rotation; mail encrypted to the old key still opens.
/// </summary>
public sealed class KeyRevocationTests : IAsyncLifetime
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
        await KeyBundleSync.PublishAsync(_laptop, _alice, await Connect());
    }

    public async Task DisposeAsync()
    {
        _laptop.Dispose();
        await _local.DisposeAsync();
        _dir.Dispose();
    }

    private Task<ProviderClient> Connect() => AccountRegistration.ConnectAsync(_laptop, _alice, _local.Http);

    [Fact]
    public async Task The_new_key_and_the_revocation_reach_every_channel_and_read_as_a_rotation()
    {
        var old = (await AccountKeys.LoadOpenPgpAsync(_laptop, _alice.Id)).Certificate;
        var result = await KeyRevocation.RevokeKeyAsync(_laptop, _alice, await Connect());
        Assert.Equal(old.Fingerprint, result.Revoked);
        Assert.NotEqual(old.Fingerprint, result.Replacement);
        var current = (await AccountKeys.LoadOpenPgpAsync(_laptop, _alice.Id)).Certificate;
        Assert.Equal(result.Replacement, current.Fingerprint);
        Assert.True(current.IsCertifiedBy(old));

        // Directory (and so key transparency): the new key, endorsed.
        var entry = (await new ProviderClient(_local.Http, ProviderUrl).GetDirectoryEntryAsync("alice@alpha.test"))!;
        var published = Certificate.Parse(entry.OpenPgpCertificate);
        Assert.Equal(result.Replacement, published.Fingerprint);
        Assert.True(published.IsCertifiedBy(old));

        // WKD: the new key first, then the revoked old one.
        var wkd = await _local.Http.GetByteArrayAsync(new Uri(ProviderUrl, ".well-known/openpgpkey/hu/" + Letterlock.Client.Discovery.Wkd.HashLocalPart("alice") + "?l=alice"));
        var wkdKeys = Certificate.ParseAll(wkd);
        Assert.Equal([result.Replacement, old.Fingerprint], wkdKeys.Select(c => c.Fingerprint).ToList());
        Assert.True(wkdKeys[1].IsRevoked);

        // HKP: get (armored keyring with both) and the machine-readable index with the revoked flag.
        var hkpGet = await _local.Http.GetAsync(new Uri(ProviderUrl, "pks/lookup?op=get&search=alice%40alpha.test"));
        Assert.Equal("application/pgp-keys", hkpGet.Content.Headers.ContentType?.MediaType);
        var hkpKeys = Certificate.ParseAll(await hkpGet.Content.ReadAsByteArrayAsync());
        Assert.Equal(2, hkpKeys.Count);
        string index = await _local.Http.GetStringAsync(new Uri(ProviderUrl, "pks/lookup?op=index&options=mr&search=alice%40alpha.test"));
        var lines = index.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("info:1:2", lines[0]);
        Assert.StartsWith($"pub:{result.Replacement.Hex.ToUpperInvariant()}:", lines[1], StringComparison.Ordinal);
        Assert.EndsWith(":", lines[1], StringComparison.Ordinal); // not revoked
        Assert.Contains(lines, l => l.StartsWith($"pub:{old.Fingerprint.Hex.ToUpperInvariant()}:", StringComparison.Ordinal) && l.EndsWith(":r", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("uid:Alice%20%3Calice%40alpha.test%3E:", StringComparison.Ordinal));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await _local.Http.GetAsync(new Uri(ProviderUrl, "pks/lookup?op=get&search=nobody%40alpha.test"))).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await _local.Http.GetAsync(new Uri(ProviderUrl, "pks/lookup?op=get&search=alice%40elsewhere.test"))).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotImplemented, (await _local.Http.GetAsync(new Uri(ProviderUrl, "pks/lookup?op=add&search=alice%40alpha.test"))).StatusCode);

        // A correspondent who pinned the old key (no transparency proof at hand) takes what WKD serves as a rotation.
        var pinned = ContactKeyValidator.Observe(ContactKeyState.Empty,
            new ObservedKey(KeyFingerprint.Parse(old.Fingerprint.Hex), old.Export(armored: false), KeyOrigin.Wkd), TransparencyVerdict.Absent, DateTimeOffset.UtcNow).State;
        var seen = ContactKeyValidator.Observe(pinned,
            new ObservedKey(KeyFingerprint.Parse(wkdKeys[0].Fingerprint.Hex), wkdKeys[0].Export(armored: false), KeyOrigin.Wkd), TransparencyVerdict.Absent, DateTimeOffset.UtcNow);
        Assert.Equal(KeyTransitionReason.Rotated, Assert.Single(seen.Transitions).Reason);
        Assert.NotEqual(KeyValidationLevel.Changed, seen.State.Level);

        // Mail still encrypted to the old key (a correspondent who had not refreshed) opens, as does mail to the new one.
        var bob = KeyGenerator.Generate("Bob <bob@elsewhere.test>", []);
        foreach (var (to, subject) in new[] { (old, "to the old key"), (current, "to the new key") })
        {
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Bob", "bob@elsewhere.test"));
            message.To.Add(new MailboxAddress("Alice", "alice@alpha.test"));
            message.Subject = subject;
            message.Body = new TextPart("plain") { Text = "hello" };
            var encrypted = new PgpMimeComposer().Encrypt(message, bob.SecretKey.Unlock(), new Dictionary<string, Certificate> { ["alice@alpha.test"] = to });
            await _local.DeliverAsync(encrypted[0].Message, "bob@elsewhere.test", "alice@alpha.test");
        }

        var report = await new SyncEngine(_laptop, _alice, await Connect()).SyncAsync();
        Assert.Empty(report.Errors);
        var inbox = (await _laptop.Mail(_alice.Id).FindFolderAsync("INBOX"))!;
        var messages = await _laptop.Mail(_alice.Id).ListAsync(inbox.Id);
        Assert.Equal(["to the new key", "to the old key"], messages.Select(m => m.Summary.Subject).Order().ToList());
        foreach (var stored in messages)
        {
            Assert.Contains("hello", Encoding.UTF8.GetString((await _laptop.Mail(_alice.Id).ReadBodyAsync(stored.Id))!), StringComparison.Ordinal);
        }
    }
}
