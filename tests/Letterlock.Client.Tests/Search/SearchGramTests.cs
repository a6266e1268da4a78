using Letterlock.Client.Search;
using Letterlock.Client.Store;

namespace Letterlock.Client.Tests.Search;

/// <summary>The trigram index that narrows IMAP substring searches: its grams, its limit and what it never loses.</summary>
public sealed class SearchGramTests
{
    [Fact]
    public void Needles_give_the_grams_of_their_runs_of_three_letters_or_digits_folded_as_ordinal_ignore_case_compares()
    {
        Assert.Equal(["ABC", "BCD"], SearchGrams.QueryGrams("abCd").Order(StringComparer.Ordinal));
        Assert.Equal(["ABC", "XYZ"], SearchGrams.QueryGrams("x-Abc xyz ab").Where(g => g is "ABC" or "XYZ").Order(StringComparer.Ordinal));
        Assert.Empty(SearchGrams.QueryGrams("ab"));
        Assert.Empty(SearchGrams.QueryGrams("ab-cd ef"));
        Assert.Empty(SearchGrams.QueryGrams(""));

        // Whatever a needle matches case-insensitively, the text holds all of the needle's grams.
        foreach (var (text, needle) in new[] { ("Straße und Öl", "STRAßE UND öl"), ("the Kernel-Panic", "kernel-p"), ("ΑΒΓΔ", "βγδ") })
        {
            Assert.Contains(needle, text, StringComparison.OrdinalIgnoreCase);
            var grams = new HashSet<string>(StringComparer.Ordinal);
            Assert.True(SearchGrams.AddGrams(text, grams, int.MaxValue));
            Assert.Subset(grams, SearchGrams.QueryGrams(needle).ToHashSet(StringComparer.Ordinal));
        }
    }

    [Fact]
    public async Task A_message_at_the_gram_limit_is_indexed_and_one_over_is_read_by_every_search_instead()
    {
        using var dir = new TempDir();
        var options = TestStores.FastOptions();
        options.MaxIndexedGramsPerMessage = 5;
        using var store = await TestStores.Create(dir, options: options);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
        var mail = store.Mail(account.Id);
        var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
        var atLimit = (await mail.AppendAsync(inbox.Id, TestStores.Message("s", "b") with { SearchText = "abcdefg" })).Done; // 5 grams
        var overLimit = (await mail.AppendAsync(inbox.Id, TestStores.Message("s", "b") with { SearchText = "abcdefgh" })).Done; // 6 grams

        Assert.Equal([atLimit.Uid, overLimit.Uid], await mail.SearchCandidatesAsync(inbox.Id, new TextContains("cde")));
        Assert.Equal([overLimit.Uid], await mail.SearchCandidatesAsync(inbox.Id, new TextContains("xyz")));
        Assert.Equal([atLimit.Uid, overLimit.Uid], await mail.SearchCandidatesAsync(inbox.Id, new AllOf([new TextContains("abc"), new TextContains("efg")])));
        Assert.Equal([overLimit.Uid], await mail.SearchCandidatesAsync(inbox.Id, new AnyOf([new TextContains("xyz"), new TextContains("qqq")])));

        // Deleting the unindexed message takes it off the list.
        Assert.Single(await mail.DeleteAsync([overLimit.Id]));
        await mail.ExpungeAsync(inbox.Id);
        Assert.Empty((await mail.SearchCandidatesAsync(inbox.Id, new TextContains("xyz")))!);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxIndexedGramsPerMessage = 0);
    }
}
