using System.Text;
using Letterlock.Client.Search;
using Letterlock.Client.Store;

namespace Letterlock.Client.Tests.Store;

public sealed class MessageStoreTests
{
    [Fact]
    public async Task A_new_account_has_the_standard_special_use_folders()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("Alice@Alpha.TEST", "Alice", new Uri("https://alpha.test/"));
        Assert.Equal("alice@alpha.test", account.Address);
        var folders = await store.Folders.ListAsync(account.Id);
        Assert.Equal(["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"], folders.Select(f => f.Name));
        Assert.Equal(FolderRole.Sent, folders.Single(f => f.Name == "Sent").Role);
        Assert.Equal(FolderRole.Inbox, (await store.Folders.FindAsync(account.Id, "inbox"))!.Role);
        var duplicate = await Assert.ThrowsAsync<LocalStoreException>(() => store.Accounts.CreateAsync("alice@alpha.test", null, null));
        Assert.Contains("already exists", duplicate.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<FormatException>(() => store.Accounts.CreateAsync("not an address", null, null));
    }

    [Fact]
    public async Task Appended_messages_get_increasing_uids_and_round_trip()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
        var first = await store.Messages.AppendAsync(inbox.Id, TestStores.Message("One", "first body", "\\Seen"));
        var second = await store.Messages.AppendAsync(inbox.Id, TestStores.Message("Two", "second body"));
        Assert.Equal(1u, first.Uid.Value);
        Assert.Equal(2u, second.Uid.Value);
        Assert.True(second.ModSeq > first.ModSeq);

        var listed = await store.Messages.ListAsync(inbox.Id);
        Assert.Equal(["One", "Two"], listed.Select(m => m.Summary.Subject));
        Assert.Contains("\\Seen", listed[0].Flags);
        Assert.Equal("Subject: Two\r\n\r\nsecond body", Encoding.UTF8.GetString(await store.Messages.ReadBodyAsync(second.Id)));
        var folder = (await store.Folders.GetAsync(inbox.Id))!;
        Assert.Equal(3u, folder.UidNext);
    }

    [Fact]
    public async Task Flags_change_modseq_only_when_they_change_and_honour_unchangedsince()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
        var message = await store.Messages.AppendAsync(inbox.Id, TestStores.Message("One", "body"));

        var added = await store.Messages.SetFlagsAsync(message.Id, FlagOperation.Add, ["\\Seen", "$Label1"]);
        Assert.True(added.Applied);
        Assert.True(added.Message.ModSeq > message.ModSeq);
        var again = await store.Messages.SetFlagsAsync(message.Id, FlagOperation.Add, ["\\SEEN"]);
        Assert.Equal(added.Message.ModSeq, again.Message.ModSeq);

        var stale = await store.Messages.SetFlagsAsync(message.Id, FlagOperation.Remove, ["\\Seen"], unchangedSince: message.ModSeq);
        Assert.False(stale.Applied);
        Assert.Contains("\\Seen", (await store.Messages.GetAsync(message.Id))!.Flags);

        var removed = await store.Messages.SetFlagsAsync(message.Id, FlagOperation.Remove, ["\\seen"], unchangedSince: added.Message.ModSeq);
        Assert.True(removed.Applied);
        Assert.Equal(["$Label1"], (await store.Messages.GetAsync(message.Id))!.Flags);

        var replaced = await store.Messages.SetFlagsAsync(message.Id, FlagOperation.Replace, ["\\Flagged", "\\Recent"]);
        Assert.Equal(["\\Flagged"], replaced.Message.Flags);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\\")]
    [InlineData("has space")]
    [InlineData("paren(")]
    [InlineData("\\Se\\en")]
    [InlineData("ünicode")]
    public async Task Malformed_flags_are_refused_and_nothing_is_written(string flag)
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
        await Assert.ThrowsAsync<ArgumentException>(() => store.Messages.AppendAsync(inbox.Id, TestStores.Message("x", "y", flag)));
        Assert.Empty(await store.Messages.ListAsync(inbox.Id));
    }

    [Fact]
    public async Task Flag_count_and_length_limits_hold_at_their_edges()
    {
        using var dir = new TempDir();
        var options = TestStores.FastOptions();
        options.MaxFlagsPerMessage = 8;
        options.MaxFlagLength = 16;
        using var store = await TestStores.Create(dir, options: options);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
        var eight = Enumerable.Range(0, 8).Select(i => "k" + i).ToArray();
        var message = await store.Messages.AppendAsync(inbox.Id, TestStores.Message("x", "y", eight));
        await Assert.ThrowsAsync<ArgumentException>(() => store.Messages.SetFlagsAsync(message.Id, FlagOperation.Add, ["k8"]));
        await store.Messages.SetFlagsAsync(message.Id, FlagOperation.Replace, [new string('a', 16)]);
        await Assert.ThrowsAsync<ArgumentException>(() => store.Messages.SetFlagsAsync(message.Id, FlagOperation.Replace, [new string('a', 17)]));
    }

    [Fact]
    public async Task Message_size_limit_holds_at_its_edge()
    {
        using var dir = new TempDir();
        var options = TestStores.FastOptions();
        options.MaxMessageBytes = 4096;
        using var store = await TestStores.Create(dir, options: options);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
        await store.Messages.AppendAsync(inbox.Id, new NewMessage(TestStores.Summary("x"), new byte[4096], []));
        await Assert.ThrowsAsync<ArgumentException>(() => store.Messages.AppendAsync(inbox.Id, new NewMessage(TestStores.Summary("x"), new byte[4097], [])));
        Assert.Single(await store.Messages.ListAsync(inbox.Id));
    }

    [Fact]
    public async Task Move_copy_and_delete_keep_uids_and_tombstones_right()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
        var archive = (await store.Folders.FindByRoleAsync(account.Id, FolderRole.Archive))!;
        var a = await store.Messages.AppendAsync(inbox.Id, TestStores.Message("A", "alpha words"));
        var b = await store.Messages.AppendAsync(inbox.Id, TestStores.Message("B", "bravo words"));
        var before = (await store.Folders.GetAsync(inbox.Id))!.HighestModSeq;

        var moved = await store.Messages.MoveAsync(a.Id, archive.Id);
        Assert.Equal(archive.Id, moved.Folder);
        Assert.Equal(1u, moved.Uid.Value);
        Assert.Equal([new Uid(1)], await store.Messages.ExpungedSinceAsync(inbox.Id, before));
        Assert.Equal("Subject: A\r\n\r\nalpha words", Encoding.UTF8.GetString(await store.Messages.ReadBodyAsync(a.Id)));

        var copy = await store.Messages.CopyAsync(b.Id, archive.Id);
        Assert.NotEqual(b.Id, copy.Id);
        Assert.Equal(2u, copy.Uid.Value);
        Assert.Equal(await store.Messages.ReadBodyAsync(b.Id), await store.Messages.ReadBodyAsync(copy.Id));
        var found = await store.Messages.SearchAsync(account.Id, [new SearchTerm(SearchField.Body, "bravo")], archive.Id);
        Assert.Equal([copy.Id], found);

        Assert.True(await store.Messages.DeleteAsync(b.Id));
        Assert.False(await store.Messages.DeleteAsync(b.Id));
        Assert.Equal([new Uid(1), new Uid(2)], await store.Messages.ExpungedSinceAsync(inbox.Id, before));
        Assert.Empty(await store.Messages.ListAsync(inbox.Id));
        Assert.Equal(2, (await store.Messages.ListAsync(archive.Id)).Count);
        Assert.Empty(await store.Messages.SearchAsync(account.Id, [new SearchTerm(SearchField.Body, "bravo")], inbox.Id));
    }

    [Fact]
    public async Task Accounts_are_isolated_and_removing_one_removes_everything_it_owns()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var alice = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var bob = await store.Accounts.CreateAsync("bob@beta.test", null, null);
        var aliceInbox = (await store.Folders.FindAsync(alice.Id, "INBOX"))!;
        var bobInbox = (await store.Folders.FindAsync(bob.Id, "INBOX"))!;
        Assert.NotEqual(aliceInbox.Id, bobInbox.Id);
        await store.Messages.AppendAsync(aliceInbox.Id, TestStores.Message("Shared word", "pineapple"));
        var bobs = await store.Messages.AppendAsync(bobInbox.Id, TestStores.Message("Shared word", "pineapple"));
        await store.Keys.AddAsync(bob.Id, "device-secret", new byte[] { 1, 2, 3 });
        await store.Jobs.EnqueueAsync("send", new byte[] { 9 }, bob.Id);

        Assert.Equal([bobs.Id], await store.Messages.SearchAsync(bob.Id, [new SearchTerm(SearchField.Body, "pineapple")]));
        await Assert.ThrowsAsync<LocalStoreException>(() => store.Messages.MoveAsync(bobs.Id, aliceInbox.Id));

        Assert.True(await store.Accounts.RemoveAsync(bob.Id));
        Assert.Equal(["alice@alpha.test"], (await store.Accounts.ListAsync()).Select(a => a.Address));
        Assert.Empty(await store.Folders.ListAsync(bob.Id));
        Assert.Empty(await store.Keys.ListAsync(bob.Id));
        Assert.Empty(await store.Jobs.ListAsync());
        Assert.Null(await store.Messages.GetAsync(bobs.Id));
        Assert.Single(await store.Messages.SearchAsync(alice.Id, [new SearchTerm(SearchField.Body, "pineapple")]));
    }

    [Fact]
    public async Task Folders_can_be_created_renamed_and_deleted_but_not_inbox()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var folder = await store.Folders.CreateAsync(account.Id, "Projects/2025");
        await Assert.ThrowsAsync<LocalStoreException>(() => store.Folders.CreateAsync(account.Id, "Projects/2025"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.Folders.CreateAsync(account.Id, "bad\u0001name"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.Folders.CreateAsync(account.Id, new string('x', 513)));
        var renamed = await store.Folders.RenameAsync(folder.Id, "Projects/Done");
        Assert.Equal(folder.UidValidity, renamed.UidValidity);
        Assert.NotNull(await store.Folders.FindAsync(account.Id, "Projects/Done"));
        Assert.Null(await store.Folders.FindAsync(account.Id, "Projects/2025"));
        var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
        await Assert.ThrowsAsync<LocalStoreException>(() => store.Folders.DeleteAsync(inbox.Id));
        await Assert.ThrowsAsync<LocalStoreException>(() => store.Folders.RenameAsync(inbox.Id, "Old"));
        Assert.True(await store.Folders.DeleteAsync(renamed.Id));
    }

    [Fact]
    public async Task Search_matches_whole_words_per_field_and_requires_every_word()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
        var invoice = await store.Messages.AppendAsync(inbox.Id, new NewMessage(
            TestStores.Summary("Invoice for March", from: "billing@shop.test", fromName: "Shop Billing"), "x"u8.ToArray(), [], "Please pay the amount due."));
        var lunch = await store.Messages.AppendAsync(inbox.Id, new NewMessage(
            TestStores.Summary("Lunch?", from: "carol@beta.test"), "x"u8.ToArray(), [], "Shall we pay a visit to the new café on Friday?"));

        async Task<IReadOnlyList<MessageId>> Find(params SearchTerm[] terms) => await store.Messages.SearchAsync(account.Id, terms);
        Assert.Equal([invoice.Id], await Find(new SearchTerm(SearchField.Subject, "INVOICE")));
        Assert.Empty(await Find(new SearchTerm(SearchField.Body, "invoice")));
        Assert.Equal(2, (await Find(new SearchTerm(SearchField.Body, "pay"))).Count);
        Assert.Equal([lunch.Id], await Find(new SearchTerm(SearchField.Any, "pay café")));
        Assert.Equal([invoice.Id], await Find(new SearchTerm(SearchField.From, "billing@shop.test")));
        Assert.Equal([invoice.Id], await Find(new SearchTerm(SearchField.From, "Shop")));
        Assert.Empty(await Find(new SearchTerm(SearchField.From, "illing@shop.test")));
        Assert.Equal([invoice.Id], await Find(new SearchTerm(SearchField.Any, "march"), new SearchTerm(SearchField.Body, "due")));
        Assert.Empty(await Find(new SearchTerm(SearchField.Any, "march lunch")));
        await Assert.ThrowsAsync<ArgumentException>(() => store.Messages.SearchAsync(account.Id, [new SearchTerm(SearchField.Any, "a ! ?")]));
    }

    [Fact]
    public async Task Index_size_per_message_is_bounded_at_the_configured_edge()
    {
        using var dir = new TempDir();
        var options = TestStores.FastOptions();
        options.MaxIndexedTokensPerMessage = 10;
        using var store = await TestStores.Create(dir, options: options);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
        // Subject "s1" gives one token, From and To give 4 each (alice, alpha, test, whole address): 9, so one body word fits.
        var words = string.Join(' ', Enumerable.Range(0, 50).Select(i => "word" + i));
        var summary = TestStores.Summary("s1") with { From = [new EnvelopeAddress(null, "aa@bb.cc")], To = [new EnvelopeAddress(null, "dd@ee.ff")] };
        await store.Messages.AppendAsync(inbox.Id, new NewMessage(summary, "x"u8.ToArray(), [], words));
        Assert.Single(await store.Messages.SearchAsync(account.Id, [new SearchTerm(SearchField.Body, "word0")]));
        Assert.Empty(await store.Messages.SearchAsync(account.Id, [new SearchTerm(SearchField.Body, "word1")]));
    }
}
