using Letterlock.Client.Store;
using Letterlock.Client.Validation;

namespace Letterlock.Client.Tests.Store;

public sealed class ContactStoreTests
{
    private static readonly KeyFingerprint Old = KeyFingerprint.Parse(new string('A', 40));
    private static readonly KeyFingerprint New = KeyFingerprint.Parse(new string('B', 40));

    [Fact]
    public async Task A_key_change_is_stored_blocks_encryption_and_every_transition_survives_a_restart()
    {
        using var dir = new TempDir();
        var time = new ManualTime();
        AccountId accountId;
        using (var store = await TestStores.Create(dir, time))
        {
            accountId = (await store.Accounts.CreateAsync("alice@alpha.test", null, null)).Id;
            await store.Contacts.ObserveKeyAsync(accountId, "Bob@Beta.test", new ObservedKey(Old, [1], KeyOrigin.Wkd), TransparencyVerdict.Absent);
            time.Advance(TimeSpan.FromDays(1));
            var changed = await store.Contacts.ObserveKeyAsync(accountId, "bob@beta.test", new ObservedKey(New, [2], KeyOrigin.ProviderDirectory), TransparencyVerdict.Absent);
            Assert.Equal(KeyValidationLevel.Changed, changed.State.Level);
        }

        using (var store = await TestStores.Open(dir, time))
        {
            var contact = (await store.Contacts.GetAsync(accountId, "BOB@beta.test"))!;
            Assert.Equal(KeyValidationLevel.Changed, contact.KeyState.Level);
            Assert.False(contact.KeyState.CanEncryptAutomatically);
            Assert.Equal(new byte[] { 2 }, contact.KeyState.Candidate!.Certificate);

            var wrong = await store.Contacts.AcceptKeyAsync(accountId, "bob@beta.test", KeyFingerprint.Parse(new string('C', 40)));
            Assert.Equal(KeyDecisionStatus.UnknownFingerprint, wrong.Status);
            var accepted = await store.Contacts.AcceptKeyAsync(accountId, "bob@beta.test", New);
            Assert.Equal(KeyValidationLevel.Tofu, accepted.State.Level);
            var verified = await store.Contacts.VerifyKeyAsync(accountId, "bob@beta.test", New);
            Assert.Equal(KeyValidationLevel.Verified, verified.State.Level);

            var history = await store.Contacts.HistoryAsync(accountId, "bob@beta.test");
            Assert.Equal(
                [KeyTransitionReason.FirstSeen, KeyTransitionReason.KeyChanged, KeyTransitionReason.UserAccepted, KeyTransitionReason.UserVerified],
                history.Select(t => t.Reason));
            Assert.Equal(time.GetUtcNow().AddDays(-1), history[0].At);
            Assert.Equal(
                [KeyValidationLevel.Tofu, KeyValidationLevel.Changed, KeyValidationLevel.Tofu, KeyValidationLevel.Verified],
                history.Select(t => t.To));
            Assert.Equal(["bob@beta.test"], (await store.Contacts.ListAsync(accountId)).Select(c => c.Address));
        }
    }

    [Fact]
    public async Task Contacts_are_per_account()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var alice = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var carol = await store.Accounts.CreateAsync("carol@alpha.test", null, null);
        await store.Contacts.ObserveKeyAsync(alice.Id, "bob@beta.test", new ObservedKey(Old, [1], KeyOrigin.Wkd), TransparencyVerdict.Absent);
        await store.Contacts.ObserveKeyAsync(carol.Id, "bob@beta.test", new ObservedKey(New, [2], KeyOrigin.Wkd), TransparencyVerdict.Absent);
        Assert.Equal(Old, (await store.Contacts.GetAsync(alice.Id, "bob@beta.test"))!.KeyState.Pinned!.Fingerprint);
        Assert.Equal(New, (await store.Contacts.GetAsync(carol.Id, "bob@beta.test"))!.KeyState.Pinned!.Fingerprint);
        await Assert.ThrowsAsync<LocalStoreException>(() => store.Contacts.ObserveKeyAsync(AccountId.New(), "bob@beta.test",
            new ObservedKey(Old, [1], KeyOrigin.Wkd), TransparencyVerdict.Absent));
    }
}
