using System.Text;
using Letterlock.Client.Search;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;

namespace Letterlock.Client.Tests.Store;

/// <summary>
/// The store holds no plaintext on disk: a marker written into every kind of sensitive value is
/// found in no file of the store's folder (database, WAL, shared memory, any temporary file),
/// while the store is open and after it is closed.
/// </summary>
public sealed class NoPlaintextTests
{
    private const string Marker = "Zebrafinch7Q";

    [Fact]
    public async Task No_file_beside_the_store_contains_the_marker()
    {
        using var dir = new TempDir();
        var keyFile = dir.File("store.key");
        KeyFile.Create(keyFile);
        var markerLower = Marker.ToLowerInvariant();
        using (var store = await TestStores.Create(dir))
        {
            await store.AddUnlockAsync(StoreUnlock.WithKeyFile(keyFile));
            var account = await store.Accounts.CreateAsync($"{Marker}@alpha.test", $"{Marker} Display", new Uri($"https://{markerLower}.alpha.test/"));
            var folder = (await store.Mail(account.Id).CreateFolderAsync($"Projects/{Marker}")).Done;
            var summary = TestStores.Summary($"Subject {Marker}", from: $"{markerLower}@beta.test", to: $"to-{markerLower}@alpha.test", fromName: $"{Marker} Sender");
            var body = Encoding.UTF8.GetBytes($"From: {Marker}\r\nSubject: {Marker}\r\n\r\nBody text {Marker} and more {Marker}\r\n");
            var message = (await store.Mail(account.Id).AppendAsync(folder.Id, new NewMessage(summary, body, ["\\Seen", $"${Marker}"], $"Body text {Marker}"))).Done;
            await store.Mail(account.Id).RememberEnvelopesAsync([(message.Id, Encoding.UTF8.GetBytes($"(NIL \"Subject {Marker}\" NIL)"))]);
            _ = (await store.Mail(account.Id).CopyAsync([message.Id], (await store.Mail(account.Id).FindFolderAsync("INBOX"))!.Id)).Done.Single().Result;
            _ = (await store.Mail(account.Id).SetFlagsAsync([message.Id], FlagOperation.Add, [$"Keyword{Marker}"])).Done.Single();
            await store.Keys.AddAsync(account.Id, "openpgp-secret", Encoding.UTF8.GetBytes($"-----BEGIN PGP PRIVATE KEY BLOCK----- {Marker}"));
            await store.Contacts.ObserveKeyAsync(account.Id, $"{markerLower}@beta.test",
                new ObservedKey(KeyFingerprint.Parse(new string('A', 40)), Encoding.UTF8.GetBytes($"cert {Marker}"), KeyOrigin.Wkd),
                TransparencyVerdict.Absent);
            await store.Contacts.UpdateAsync(account.Id, $"{markerLower}@beta.test",
                c => new ContactUpdate(c with { DisplayName = $"{Marker} Contact" }, []));
            var job = await store.Jobs.EnqueueAsync("send", Encoding.UTF8.GetBytes($"queued mail {Marker}"), account.Id);
            var claimed = await store.Jobs.ClaimAsync("send", TimeSpan.FromMinutes(1));
            await store.Jobs.RetryLaterAsync(claimed!.Id, $"provider said {Marker}", TimeSpan.FromMinutes(1));
            Assert.Equal(job, claimed.Id);

            // The index answers for the marker, so its tokens are in the file, keyed rather than in the clear.
            Assert.Equal(2, ((await store.Mail(account.Id).SearchAsync([new SearchTerm(SearchField.Any, Marker)])).Done).Count);

            Assert.True(File.Exists(dir.File("client.db-wal")), "the WAL is where fresh writes sit; it must be scanned too");
            AssertNoMarker(dir, "while open");
        }

        AssertNoMarker(dir, "after closing");
        Assert.False(File.Exists(dir.File("client.db-journal")));
    }

    private static void AssertNoMarker(TempDir dir, string when)
    {
        var files = Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.EndsWith("client.db", StringComparison.Ordinal));
        var needles = new[]
        {
            Encoding.UTF8.GetBytes(Marker),
            Encoding.UTF8.GetBytes(Marker.ToLowerInvariant()),
            Encoding.UTF8.GetBytes(Marker.ToUpperInvariant()),
            Encoding.Unicode.GetBytes(Marker),
            Encoding.UTF8.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(Marker))[..12]),
        };
        foreach (var file in files)
        {
            byte[] content;
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                content = new byte[stream.Length];
                stream.ReadExactly(content);
            }

            foreach (var needle in needles)
            {
                Assert.True(content.AsSpan().IndexOf(needle) < 0,
                    $"{Path.GetFileName(file)} contains the marker ({Encoding.UTF8.GetString(needle)}) {when}");
            }
        }
    }
}
