using System.Text;
using Letterlock.Client.Search;
using Letterlock.Client.Store;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Tests.Store;

/// <summary>
/// Client stores written by an earlier main (tests/Fixtures, see its README) open with this build: every migration
/// runs, and what the store held reads back the same, including the search index moved into its newer form.
/// </summary>
public sealed class UpgradeFromMainTests
{
    [Theory]
    [InlineData("alice")]
    [InlineData("bob")]
    public async Task A_store_written_by_main_at_bb77344_migrates_and_its_search_index_finds_what_a_scan_finds(string person)
    {
        using var dir = CopyFixtureStore(person);
        long tokenRowsBefore = await ScalarAsync(dir, "SELECT COUNT(*) FROM search_tokens");
        Assert.True(tokenRowsBefore > 0);
        Assert.Equal(4, await ScalarAsync(dir, "PRAGMA user_version"));

        using (var store = await LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(dir.File("store.key"))))
        {
            var account = Assert.Single(await store.Accounts.ListAsync());
            var mail = store.Mail(account.Id);
            var all = new List<(StoredMessage Message, string Body)>();
            foreach (var folder in await mail.ListFoldersAsync())
            {
                foreach (var message in await mail.ListAsync(folder.Id))
                {
                    all.Add((message, Encoding.UTF8.GetString((await mail.ReadBodyAsync(message.Id))!)));
                }
            }

            Assert.NotEmpty(all);
            // Words of the fixture's messages: each must find exactly the messages a scan of the bodies finds.
            foreach (var word in new[] { "marker", "fixture", "letterlock", "attachment" })
            {
                var found = (await mail.SearchAsync([new SearchTerm(SearchField.Any, word)])).Done.OrderBy(id => id.Value).ToList();
                var scanned = all.Where(m => IndexedWords(m.Message, m.Body).Contains(word)).Select(m => m.Message.Id).OrderBy(id => id.Value).ToList();
                Assert.True(scanned.SequenceEqual(found), $"{person}: '{word}' found {found.Count}, a scan {scanned.Count}");
            }

            Assert.Contains(all, m => m.Body.Contains("fixture-body-marker", StringComparison.Ordinal));

            // Messages from before the trigram index are read by every substring search: each is a candidate.
            foreach (var folder in await mail.ListFoldersAsync())
            {
                var uids = all.Where(m => m.Message.Folder == folder.Id).Select(m => m.Message.Uid).OrderBy(u => u.Value).ToList();
                Assert.Equal(uids, await mail.SearchCandidatesAsync(folder.Id, new TextContains("no such words anywhere")));
            }

            // Deleting a message takes it out of the index (the trigger), and a new one is found.
            var gone = all.First(m => m.Body.Contains("fixture-body-marker", StringComparison.Ordinal)).Message;
            Assert.Single(await mail.DeleteAsync([gone.Id]));
            Assert.DoesNotContain(gone.Id, (await mail.SearchAsync([new SearchTerm(SearchField.Any, "marker")])).Done);
            var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
            var added = (await mail.AppendAsync(inbox.Id, TestStores.Message("After the upgrade", "a zebracorn appears"))).Done;
            Assert.Equal([added.Id], (await mail.SearchAsync([new SearchTerm(SearchField.Body, "zebracorn")])).Done);
        }

        Assert.Equal(StoreSchema.CurrentVersion, await ScalarAsync(dir, "PRAGMA user_version"));
        Assert.Equal(0, await ScalarAsync(dir, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'search_tokens'"));
        Assert.Equal(await ScalarAsync(dir, "SELECT COUNT(*) FROM messages"), await ScalarAsync(dir, "SELECT COUNT(*) FROM search_index"));
        // All but the message appended after the upgrade (its trigrams are indexed).
        Assert.Equal(await ScalarAsync(dir, "SELECT COUNT(*) FROM messages") - 1, await ScalarAsync(dir, "SELECT COUNT(*) FROM search_unindexed"));
    }

    [Theory]
    [InlineData("alice")]
    [InlineData("bob")]
    public async Task After_the_backfill_a_substring_search_reads_only_the_messages_holding_it(string person)
    {
        using var dir = CopyFixtureStore(person);
        using (var store = await LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(dir.File("store.key"))))
        {
            var account = Assert.Single(await store.Accounts.ListAsync());
            var mail = store.Mail(account.Id);

            // One message per call, to cross call boundaries: every message is visited once, then nothing is left.
            int visits = 0;
            while (await mail.IndexPendingAsync(1) > 0)
            {
                visits++;
            }

            Assert.Equal(await ScalarAsync(dir, "SELECT COUNT(*) FROM messages"), visits);
            Assert.Equal(0, await mail.IndexPendingAsync(100));
            foreach (var folder in await mail.ListFoldersAsync())
            {
                var messages = await mail.ListAsync(folder.Id);
                var holding = new List<Uid>();
                foreach (var message in messages)
                {
                    if (Encoding.UTF8.GetString((await mail.ReadBodyAsync(message.Id))!).Contains("fixture-body-marker", StringComparison.Ordinal))
                    {
                        holding.Add(message.Uid);
                    }
                }

                Assert.Empty((await mail.SearchCandidatesAsync(folder.Id, new TextContains("no such words anywhere")))!);
                Assert.Equal(holding.OrderBy(u => u.Value), (await mail.SearchCandidatesAsync(folder.Id, new TextContains("fixture-body-marker")))!.OrderBy(u => u.Value));
            }

            // Word search is what it was.
            Assert.NotEmpty((await mail.SearchAsync([new SearchTerm(SearchField.Any, "marker")])).Done);
        }

        Assert.Equal(0, await ScalarAsync(dir, "SELECT COUNT(*) FROM search_unindexed"));
        Assert.Equal(await ScalarAsync(dir, "SELECT COUNT(*) FROM messages"), await ScalarAsync(dir, "SELECT COUNT(*) FROM search_index"));
    }

    /// <summary>The words the index covers, found by reading the message: subject, addresses and names, body text.</summary>
    private static HashSet<string> IndexedWords(StoredMessage message, string body)
    {
        var s = message.Summary;
        var text = Letterlock.Client.Mail.MessageSummaryBuilder.Build(Encoding.UTF8.GetBytes(body), s.InternalDate, s.Security).IndexText;
        var addresses = s.From.Concat(s.Sender).Concat(s.ReplyTo).Concat(s.To).Concat(s.Cc).Concat(s.Bcc).Select(a => (a.Name, a.Address));
        return SearchTokenizer.Words(s.Subject, 64).Concat(SearchTokenizer.Words(text, 64)).Concat(SearchTokenizer.AddressWords(addresses, 64))
            .ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>A copy of the client store the fixture holds for <paramref name="person"/> (never the fixture itself).</summary>
    private static TempDir CopyFixtureStore(string person)
    {
        var dir = new TempDir();
        var fixture = Path.Combine(RepositoryRoot(), "tests", "Fixtures", "sandbox-bb77344", "clients", person);
        File.Copy(Path.Combine(fixture, "client.db"), dir.File("client.db"));
        File.Copy(Path.Combine(fixture, "store.key"), dir.File("store.key"));
        File.SetUnixFileMode(dir.File("store.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return dir;
    }

    private static async Task<long> ScalarAsync(TempDir dir, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={dir.File("client.db")};Mode=ReadOnly;Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
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

        throw new InvalidOperationException("Letterlock.slnx not found above " + AppContext.BaseDirectory);
    }
}
