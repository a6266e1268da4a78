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
        var folders = await store.Mail(account.Id).ListFoldersAsync();
        Assert.Equal(["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"], folders.Select(f => f.Name));
        Assert.Equal(FolderRole.Sent, folders.Single(f => f.Name == "Sent").Role);
        Assert.Equal(FolderRole.Inbox, (await store.Mail(account.Id).FindFolderAsync("inbox"))!.Role);
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
        var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
        var first = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("One", "first body", "\\Seen"))).Done;
        var second = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("Two", "second body"))).Done;
        Assert.Equal(1u, first.Uid.Value);
        Assert.Equal(2u, second.Uid.Value);
        Assert.True(second.ModSeq > first.ModSeq);

        var listed = await store.Mail(account.Id).ListAsync(inbox.Id);
        Assert.Equal(["One", "Two"], listed.Select(m => m.Summary.Subject));
        Assert.Contains("\\Seen", listed[0].Flags);
        Assert.Equal("Subject: Two\r\n\r\nsecond body", Encoding.UTF8.GetString((await store.Mail(account.Id).ReadBodyAsync(second.Id))!));
        var folder = (await store.Mail(account.Id).GetFolderAsync(inbox.Id))!;
        Assert.Equal(3u, folder.UidNext);
    }

    [Fact]
    public async Task Flags_change_modseq_only_when_they_change_and_honour_unchangedsince()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
        var message = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("One", "body"))).Done;

        var added = (await store.Mail(account.Id).SetFlagsAsync([message.Id], FlagOperation.Add, ["\\Seen", "$Label1"])).Done.Single();
        Assert.True(added.Applied);
        Assert.True(added.Message.ModSeq > message.ModSeq);
        var again = (await store.Mail(account.Id).SetFlagsAsync([message.Id], FlagOperation.Add, ["\\SEEN"])).Done.Single();
        Assert.Equal(added.Message.ModSeq, again.Message.ModSeq);

        var stale = (await store.Mail(account.Id).SetFlagsAsync([message.Id], FlagOperation.Remove, ["\\Seen"], unchangedSince: message.ModSeq)).Done.Single();
        Assert.False(stale.Applied);
        Assert.Contains("\\Seen", (await store.Mail(account.Id).GetAsync(message.Id))!.Flags);

        var removed = (await store.Mail(account.Id).SetFlagsAsync([message.Id], FlagOperation.Remove, ["\\seen"], unchangedSince: added.Message.ModSeq)).Done.Single();
        Assert.True(removed.Applied);
        Assert.Equal(["$Label1"], (await store.Mail(account.Id).GetAsync(message.Id))!.Flags);

        var replaced = (await store.Mail(account.Id).SetFlagsAsync([message.Id], FlagOperation.Replace, ["\\Flagged", "\\Recent"])).Done.Single();
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
        var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
        var refused = await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("x", "y", flag));
        Assert.Equal(MailStatus.InvalidFlags, refused.Status);
        Assert.Null(refused.Value);
        Assert.Empty(await store.Mail(account.Id).ListAsync(inbox.Id));
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
        var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
        var eight = Enumerable.Range(0, 8).Select(i => "k" + i).ToArray();
        var message = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("x", "y", eight))).Done;
        var ninth = await store.Mail(account.Id).SetFlagsAsync([message.Id], FlagOperation.Add, ["k8"]);
        Assert.Equal(MailStatus.InvalidFlags, ninth.Status);
        Assert.Contains("MaxFlagsPerMessage", ninth.Detail, StringComparison.Ordinal);
        Assert.Equal(8, (await store.Mail(account.Id).GetAsync(message.Id))!.Flags.Count);
        _ = (await store.Mail(account.Id).SetFlagsAsync([message.Id], FlagOperation.Replace, [new string('a', 16)])).Done.Single();
        var tooLong = await store.Mail(account.Id).SetFlagsAsync([message.Id], FlagOperation.Replace, [new string('a', 17)]);
        Assert.Equal(MailStatus.InvalidFlags, tooLong.Status);
        Assert.Contains("MaxFlagLength", tooLong.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Message_size_limit_holds_at_its_edge()
    {
        using var dir = new TempDir();
        var options = TestStores.FastOptions();
        options.MaxMessageBytes = 4096;
        using var store = await TestStores.Create(dir, options: options);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
        _ = (await store.Mail(account.Id).AppendAsync(inbox.Id, new NewMessage(TestStores.Summary("x"), new byte[4096], []))).Done;
        var tooLarge = await store.Mail(account.Id).AppendAsync(inbox.Id, new NewMessage(TestStores.Summary("x"), new byte[4097], []));
        Assert.Equal(MailStatus.TooLarge, tooLarge.Status);
        Assert.Contains("4096", tooLarge.Detail, StringComparison.Ordinal);
        Assert.Single(await store.Mail(account.Id).ListAsync(inbox.Id));
    }

    [Fact]
    public async Task Move_copy_and_delete_keep_uids_and_tombstones_right()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
        var archive = (await store.Mail(account.Id).FindFolderAsync(FolderRole.Archive))!;
        var a = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("A", "alpha words"))).Done;
        var b = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("B", "bravo words"))).Done;
        var before = (await store.Mail(account.Id).GetFolderAsync(inbox.Id))!.HighestModSeq;

        var moved = (await store.Mail(account.Id).MoveAsync([a.Id], archive.Id)).Done.Single().Result;
        Assert.Equal(archive.Id, moved.Folder);
        Assert.Equal(1u, moved.Uid.Value);
        Assert.Equal([new Uid(1)], await store.Mail(account.Id).ExpungedSinceAsync(inbox.Id, before));
        Assert.Equal("Subject: A\r\n\r\nalpha words", Encoding.UTF8.GetString((await store.Mail(account.Id).ReadBodyAsync(a.Id))!));

        var copy = (await store.Mail(account.Id).CopyAsync([b.Id], archive.Id)).Done.Single().Result;
        Assert.NotEqual(b.Id, copy.Id);
        Assert.Equal(2u, copy.Uid.Value);
        Assert.Equal((await store.Mail(account.Id).ReadBodyAsync(b.Id))!, (await store.Mail(account.Id).ReadBodyAsync(copy.Id))!);
        var found = (await store.Mail(account.Id).SearchAsync([new SearchTerm(SearchField.Body, "bravo")], archive.Id)).Done;
        Assert.Equal([copy.Id], found);

        Assert.Equal([b.Id], (await store.Mail(account.Id).DeleteAsync([b.Id])).Select(m => m.Id));
        Assert.Empty(await store.Mail(account.Id).DeleteAsync([b.Id]));
        Assert.Equal([new Uid(1), new Uid(2)], await store.Mail(account.Id).ExpungedSinceAsync(inbox.Id, before));
        Assert.Empty(await store.Mail(account.Id).ListAsync(inbox.Id));
        Assert.Equal(2, (await store.Mail(account.Id).ListAsync(archive.Id)).Count);
        Assert.Empty((await store.Mail(account.Id).SearchAsync([new SearchTerm(SearchField.Body, "bravo")], inbox.Id)).Done);
    }

    [Fact]
    public async Task Accounts_are_isolated_and_removing_one_removes_everything_it_owns()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var alice = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var bob = await store.Accounts.CreateAsync("bob@beta.test", null, null);
        var aliceInbox = (await store.Mail(alice.Id).FindFolderAsync("INBOX"))!;
        var bobInbox = (await store.Mail(bob.Id).FindFolderAsync("INBOX"))!;
        Assert.NotEqual(aliceInbox.Id, bobInbox.Id);
        _ = (await store.Mail(alice.Id).AppendAsync(aliceInbox.Id, TestStores.Message("Shared word", "pineapple"))).Done;
        var bobs = (await store.Mail(bob.Id).AppendAsync(bobInbox.Id, TestStores.Message("Shared word", "pineapple"))).Done;
        await store.Keys.AddAsync(bob.Id, "device-secret", new byte[] { 1, 2, 3 });
        await store.Jobs.EnqueueAsync("send", new byte[] { 9 }, bob.Id);

        Assert.Equal([bobs.Id], (await store.Mail(bob.Id).SearchAsync([new SearchTerm(SearchField.Body, "pineapple")])).Done);
        // Through one account's mail, another account's folders and messages do not exist.
        Assert.Equal(MailStatus.NotFound, (await store.Mail(bob.Id).MoveAsync([bobs.Id], aliceInbox.Id)).Status);
        Assert.Equal(MailStatus.NotFound, (await store.Mail(bob.Id).AppendAsync(aliceInbox.Id, TestStores.Message("x", "y"))).Status);
        Assert.Null(await store.Mail(alice.Id).GetAsync(bobs.Id));
        Assert.Null(await store.Mail(alice.Id).ReadBodyAsync(bobs.Id));
        Assert.Empty(await store.Mail(alice.Id).DeleteAsync([bobs.Id]));
        Assert.Empty(await store.Mail(alice.Id).ListAsync(bobInbox.Id));
        Assert.NotNull(await store.Mail(bob.Id).GetAsync(bobs.Id));

        Assert.True(await store.Accounts.RemoveAsync(bob.Id));
        Assert.Equal(["alice@alpha.test"], (await store.Accounts.ListAsync()).Select(a => a.Address));
        Assert.Empty(await store.Mail(bob.Id).ListFoldersAsync());
        Assert.Empty(await store.Keys.ListAsync(bob.Id));
        Assert.Empty(await store.Jobs.ListAsync());
        Assert.Null(await store.Mail(bob.Id).GetAsync(bobs.Id));
        Assert.Single((await store.Mail(alice.Id).SearchAsync([new SearchTerm(SearchField.Body, "pineapple")])).Done);
    }

    [Fact]
    public async Task Folders_can_be_created_renamed_and_deleted_but_not_inbox()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var folder = (await store.Mail(account.Id).CreateFolderAsync("Projects/2025")).Done;
        Assert.Equal(MailStatus.AlreadyExists, (await store.Mail(account.Id).CreateFolderAsync("Projects/2025")).Status);
        Assert.Equal(MailStatus.InvalidName, (await store.Mail(account.Id).CreateFolderAsync("bad\u0001name")).Status);
        Assert.Equal(MailStatus.InvalidName, (await store.Mail(account.Id).CreateFolderAsync(new string('x', 513))).Status);
        _ = (await store.Mail(account.Id).CreateFolderAsync(new string('x', 512))).Done;
        var renamed = (await store.Mail(account.Id).RenameFolderAsync(folder.Id, "Projects/Done")).Done;
        Assert.Equal(folder.UidValidity, renamed.UidValidity);
        Assert.NotNull(await store.Mail(account.Id).FindFolderAsync("Projects/Done"));
        Assert.Null(await store.Mail(account.Id).FindFolderAsync("Projects/2025"));
        var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
        Assert.Equal(MailStatus.NotAllowed, (await store.Mail(account.Id).DeleteFolderAsync(inbox.Id)).Status);
        Assert.Equal(MailStatus.NotAllowed, (await store.Mail(account.Id).RenameFolderAsync(inbox.Id, "Old")).Status);
        Assert.Equal(MailStatus.NotAllowed, (await store.Mail(account.Id).RenameFolderAsync(renamed.Id, "inbox")).Status);
        Assert.True((await store.Mail(account.Id).DeleteFolderAsync(renamed.Id)).IsOk);
        Assert.Equal(MailStatus.NotFound, (await store.Mail(account.Id).DeleteFolderAsync(renamed.Id)).Status);
    }

    [Fact]
    public async Task Search_matches_whole_words_per_field_and_requires_every_word()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
        var invoice = (await store.Mail(account.Id).AppendAsync(inbox.Id, new NewMessage(
            TestStores.Summary("Invoice for March", from: "billing@shop.test", fromName: "Shop Billing"), "x"u8.ToArray(), [], "Please pay the amount due."))).Done;
        var lunch = (await store.Mail(account.Id).AppendAsync(inbox.Id, new NewMessage(
            TestStores.Summary("Lunch?", from: "carol@beta.test"), "x"u8.ToArray(), [], "Shall we pay a visit to the new café on Friday?"))).Done;

        async Task<IReadOnlyList<MessageId>> Find(params SearchTerm[] terms) => (await store.Mail(account.Id).SearchAsync(terms)).Done;
        Assert.Equal([invoice.Id], await Find(new SearchTerm(SearchField.Subject, "INVOICE")));
        Assert.Empty(await Find(new SearchTerm(SearchField.Body, "invoice")));
        Assert.Equal(2, (await Find(new SearchTerm(SearchField.Body, "pay"))).Count);
        Assert.Equal([lunch.Id], await Find(new SearchTerm(SearchField.Any, "pay café")));
        Assert.Equal([invoice.Id], await Find(new SearchTerm(SearchField.From, "billing@shop.test")));
        Assert.Equal([invoice.Id], await Find(new SearchTerm(SearchField.From, "Shop")));
        Assert.Empty(await Find(new SearchTerm(SearchField.From, "illing@shop.test")));
        Assert.Equal([invoice.Id], await Find(new SearchTerm(SearchField.Any, "march"), new SearchTerm(SearchField.Body, "due")));
        Assert.Empty(await Find(new SearchTerm(SearchField.Any, "march lunch")));
        Assert.Equal(MailStatus.NothingToSearch, (await store.Mail(account.Id).SearchAsync([new SearchTerm(SearchField.Any, "a ! ?")])).Status);
    }

    [Fact]
    public async Task Index_rows_written_at_commit_follow_the_messages_deleted_and_appended_in_the_same_transaction()
    {
        // A write's index rows go in just before it commits: a message appended and deleted in the same transaction
        // leaves none, and a message that takes the same row id later is found by its own words only.
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var mail = store.Mail(account.Id);
        var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
        var kept = (await mail.AppendAsync(inbox.Id, TestStores.Message("kept", "cherry orchard"))).Done;
        var banana = await mail.WriteAsync(ChangeOrigin.Provider, w =>
        {
            var apricot = w.Append(inbox, mail.Prepare(TestStores.Message("a", "apricot jam"), new RemoteReference("m-a", 1)).Done);
            w.Delete(apricot);
            var banana = w.Append(inbox, mail.Prepare(TestStores.Message("b", "banana bread"), new RemoteReference("m-b", 1)).Done);
            w.Delete(w.Append(inbox, mail.Prepare(TestStores.Message("p", "plum pie"), new RemoteReference("m-p", 1)).Done));
            return banana;
        }, default);

        async Task<IReadOnlyList<MessageId>> Find(string word) => (await mail.SearchAsync([new SearchTerm(SearchField.Body, word)])).Done;
        Assert.Empty(await Find("apricot"));
        Assert.Empty(await Find("plum"));
        Assert.Equal([banana.Id], await Find("banana"));
        Assert.Equal([kept.Id], await Find("cherry"));

        // A write that fails leaves no index row behind either.
        await Assert.ThrowsAsync<IOException>(() => mail.WriteAsync<StoredMessage>(ChangeOrigin.Provider, w =>
        {
            w.Append(inbox, mail.Prepare(TestStores.Message("d", "damson"), new RemoteReference("m-d", 1)).Done);
            throw new IOException("injected");
        }, default));
        // The next message takes the row id the deleted last one had: only its own words find it.
        var elder = (await mail.AppendAsync(inbox.Id, TestStores.Message("e", "elderflower"))).Done;
        Assert.Empty(await Find("plum"));
        Assert.Empty(await Find("damson"));
        Assert.Equal([elder.Id], await Find("elderflower"));
    }

    [Fact]
    public async Task Index_size_per_message_is_bounded_at_the_configured_edge()
    {
        using var dir = new TempDir();
        var options = TestStores.FastOptions();
        options.MaxIndexedTokensPerMessage = 10;
        using var store = await TestStores.Create(dir, options: options);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
        // Subject "s1" gives one token, From and To give 4 each (alice, alpha, test, whole address): 9, so one body word fits.
        var words = string.Join(' ', Enumerable.Range(0, 50).Select(i => "word" + i));
        var summary = TestStores.Summary("s1") with { From = [new EnvelopeAddress(null, "aa@bb.cc")], To = [new EnvelopeAddress(null, "dd@ee.ff")] };
        _ = (await store.Mail(account.Id).AppendAsync(inbox.Id, new NewMessage(summary, "x"u8.ToArray(), [], words))).Done;
        Assert.Single((await store.Mail(account.Id).SearchAsync([new SearchTerm(SearchField.Body, "word0")])).Done);
        Assert.Empty((await store.Mail(account.Id).SearchAsync([new SearchTerm(SearchField.Body, "word1")])).Done);
    }

    [Fact]
    public async Task A_folder_is_renamed_with_the_folders_below_it_in_one_step_or_not_at_all()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var mail = store.Mail(account.Id);
        var projects = (await mail.CreateFolderAsync("Projects")).Done;
        var child = (await mail.CreateFolderAsync("Projects/2025")).Done;
        var grandchild = (await mail.CreateFolderAsync("Projects/2025/Q1")).Done;
        _ = (await mail.CreateFolderAsync("Taken/2025")).Done;

        // A child's new name is taken: nothing is renamed.
        var refused = await mail.RenameFolderAsync(projects.Id, "Taken");
        Assert.Equal(MailStatus.AlreadyExists, refused.Status);
        Assert.Equal(["Projects", "Projects/2025", "Projects/2025/Q1"], (await mail.ListFoldersAsync()).Select(f => f.Name).Where(n => n.StartsWith("Projects", StringComparison.Ordinal)));

        // Renamed into its own subtree: every name is free once the subtree has left its old names.
        var renamed = (await mail.RenameFolderAsync(projects.Id, "Projects/2025")).Done;
        Assert.Equal(projects.Id, renamed.Id);
        var names = (await mail.ListFoldersAsync()).ToDictionary(f => f.Id, f => f.Name);
        Assert.Equal("Projects/2025", names[projects.Id]);
        Assert.Equal("Projects/2025/2025", names[child.Id]);
        Assert.Equal("Projects/2025/2025/Q1", names[grandchild.Id]);
        Assert.Equal(child.UidValidity, (await mail.GetFolderAsync(child.Id))!.UidValidity);
        Assert.Equal(MailStatus.NotFound, (await mail.RenameFolderAsync(FolderId.New(), "Else")).Status);
    }

    [Fact]
    public async Task Expunge_removes_only_messages_flagged_deleted_and_only_among_those_named()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var mail = store.Mail(account.Id);
        var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
        var keep = (await mail.AppendAsync(inbox.Id, TestStores.Message("keep", "x"))).Done;
        var first = (await mail.AppendAsync(inbox.Id, TestStores.Message("first", "x", "\\Deleted"))).Done;
        var second = (await mail.AppendAsync(inbox.Id, TestStores.Message("second", "x", "\\Deleted"))).Done;

        Assert.Equal([first.Id], (await mail.ExpungeAsync(inbox.Id, [keep.Id, first.Id])).Select(m => m.Id));
        Assert.Equal([second.Id], (await mail.ExpungeAsync(inbox.Id)).Select(m => m.Id));
        Assert.Equal([keep.Id], (await mail.ListAsync(inbox.Id)).Select(m => m.Id));
    }

    [Fact]
    public async Task Changes_from_this_device_are_recorded_for_the_push_and_changes_from_the_provider_are_not()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var mail = store.Mail(account.Id);
        var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
        var archive = (await mail.FindFolderAsync(FolderRole.Archive))!;

        // From the provider: the message names its document; nothing to push, and its deletion is not pushed back.
        var fromProvider = await mail.WriteAsync(ChangeOrigin.Provider, w => w.Append(inbox, mail.Prepare(TestStores.Message("p", "x"), new RemoteReference("m-p", 3)).Done), default);
        Assert.Empty(await mail.ListUnpushedAsync(default));
        await mail.WriteAsync(ChangeOrigin.Provider, w => w.ApplyRemoteState(fromProvider, new HashSet<string> { "\\Seen" }, archive, new RemoteReference("m-p", 4)), default);
        Assert.Empty(await mail.ListUnpushedAsync(default));
        Assert.Equal(new RemoteReference("m-p", 4), (await mail.GetAsync(fromProvider.Id))!.Remote);

        // A user action on it marks it for the push; a deletion here is pushed at the revision last seen.
        _ = (await mail.SetFlagsAsync([fromProvider.Id], FlagOperation.Add, ["\\Flagged"])).Done;
        Assert.Equal([fromProvider.Id], await mail.ListUnpushedAsync(default));
        await mail.DeleteAsync([fromProvider.Id]);
        Assert.Equal([new RemoteReference("m-p", 4)], await mail.ListPendingDeletesAsync(default));

        // A message from the provider must name its document, one made here must not.
        Assert.Throws<InvalidOperationException>(() => mail.WriteAsync(ChangeOrigin.Provider, w => w.Append(inbox, mail.Prepare(TestStores.Message("q", "x")).Done), default)
            .GetAwaiter().GetResult());
        Assert.Throws<InvalidOperationException>(() => mail.WriteAsync(ChangeOrigin.ThisDevice, w => w.Append(inbox, mail.Prepare(TestStores.Message("q", "x"), new RemoteReference("m-q", 1)).Done), default)
            .GetAwaiter().GetResult());

        // Deleted by sync (another device deleted it): no deletion to push.
        var other = await mail.WriteAsync(ChangeOrigin.Provider, w => w.Append(inbox, mail.Prepare(TestStores.Message("o", "x"), new RemoteReference("m-o", 1)).Done), default);
        await mail.WriteAsync(ChangeOrigin.Provider, w =>
        {
            w.Delete(other);
            return true;
        }, default);
        Assert.Equal([new RemoteReference("m-p", 4)], await mail.ListPendingDeletesAsync(default));
    }
}
