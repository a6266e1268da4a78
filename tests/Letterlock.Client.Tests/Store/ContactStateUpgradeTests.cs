using Letterlock.Client.Discovery;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;

namespace Letterlock.Client.Tests.Store;

/// <summary>
/// Contact state and message summaries written by main at bb77344 (tests/Fixtures/sandbox-bb77344, a real sandbox run)
/// read with the key-change rules of this build: the new fields (pending reason, ignored keys, how an Autocrypt key was
/// authenticated, decryption failure, sender check) are absent there and read as "unknown", which is the safe reading:
/// an Autocrypt key stored before is taken as unauthenticated, so it can no longer move a pinned contact.
/// </summary>
public sealed class ContactStateUpgradeTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("alice", "bob@beta.test")]
    [InlineData("bob", "alice@alpha.test")]
    public async Task Contact_state_written_by_main_at_bb77344_reads_and_follows_the_new_rules(string client, string peer)
    {
        string folder = CopyClient(client);
        string database = Path.Combine(folder, "client.db"), keyFile = Path.Combine(folder, "store.key");
        AccountId account;
        ContactKeyState before;
        var impostor = KeyGenerator.Generate($"Impostor <{peer}>", ReadOnlySpan<char>.Empty).Certificate;
        var impostorFingerprint = KeyFingerprint.Parse(impostor.Fingerprint.Hex);
        int historyBefore;
        using (var store = await LocalStore.OpenAsync(database, StoreUnlock.WithKeyFile(keyFile)))
        {
            account = Assert.Single(await store.Accounts.ListAsync()).Id;
            var contact = (await store.Contacts.GetAsync(account, peer))!;
            before = contact.KeyState;
            Assert.NotNull(before.Pinned);
            Assert.True(before.CanEncryptAutomatically);
            Assert.Null(before.PendingReason);
            Assert.Null(before.IgnoredKeys);
            Assert.Null(contact.Autocrypt?.PublicKeyAuthentication);
            historyBefore = (await store.Contacts.HistoryAsync(account, peer)).Count;
            Assert.True(historyBefore > 0);

            // An Autocrypt key stored by the earlier release counts as unauthenticated when discovery offers it again.
            var lookup = await new AutocryptKeySource(store, account).LookupAsync(peer, default);
            if (lookup.Status == SourceLookupStatus.Found)
            {
                Assert.Equal(KeyAuthentication.Unauthenticated, lookup.Authentication);
            }

            // Summaries of the earlier release read with no failure and no sender check recorded.
            foreach (var folderRecord in await store.Mail(account).ListFoldersAsync())
            {
                foreach (var message in await store.Mail(account).ListAsync(folderRecord.Id))
                {
                    Assert.NotEqual(EncryptionState.Failed, message.Summary.Security.Encryption);
                    Assert.Null(message.Summary.Security.Failure);
                    Assert.Null(message.Summary.Security.Sender);
                }
            }

            // Key-transparency state of the earlier release (views pinned by its bridges) reads; alerts gain their new fields.
            var transparency = new Letterlock.Client.Transparency.TransparencyState(store);
            string ownDomain = MailAddress.Split((await store.Accounts.GetAsync(account))!.Address).Domain;
            Assert.NotNull(await transparency.GetProviderAsync(ownDomain, default));
            Assert.All(await transparency.GetAlertsAsync(default), a => Assert.False(a.NoticePending));
            Assert.All(await transparency.GetConflictsAsync(default), c => Assert.Null(c.Id));
            Assert.Empty(await transparency.GetEvidenceAsync(default));

            // The new rules apply to the old state: a key seen only in unauthenticated mail is recorded, never pinned.
            var result = await store.Contacts.ObserveKeyAsync(account, peer, new ObservedKey(impostorFingerprint, impostor.Export(armored: false),
                KeyOrigin.Autocrypt, null, KeyAuthentication.Unauthenticated), TransparencyVerdict.Absent);
            Assert.Equal(before.Level, result.State.Level);
            Assert.Equal(before.Pinned!.Fingerprint, result.State.Pinned!.Fingerprint);
        }

        using (var reopened = await LocalStore.OpenAsync(database, StoreUnlock.WithKeyFile(keyFile)))
        {
            var state = (await reopened.Contacts.GetAsync(account, peer))!.KeyState;
            Assert.Equal((before.Level, before.Pinned!.Fingerprint), (state.Level, state.Pinned!.Fingerprint));
            Assert.Equal(before.Pinned.Certificate, state.Pinned.Certificate);
            Assert.Null(state.Candidate);
            Assert.Equal([impostorFingerprint], state.IgnoredKeys!);
            var history = await reopened.Contacts.HistoryAsync(account, peer);
            Assert.Equal(historyBefore + 1, history.Count);
            Assert.Equal(KeyTransitionReason.UnauthenticatedKeyIgnored, history[^1].Reason);
        }
    }

    private string CopyClient(string name)
    {
        string source = Path.Combine(RepositoryRoot(), "tests", "Fixtures", "sandbox-bb77344", "clients", name);
        string target = Path.Combine(_dir.Path, name);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }

        // Git keeps no modes but the executable bit; the client refuses key files others can read, as it should.
        File.SetUnixFileMode(Path.Combine(target, "store.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return target;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Letterlock.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("the repository root (Letterlock.slnx) was not found above " + AppContext.BaseDirectory);
    }
}
