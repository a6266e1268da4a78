using System.Text;
using System.Text.Json;
using Letterlock.Client;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;

namespace Letterlock.Cli.Tests;

/// <summary><c>letterlock search</c> over a real store unlocked with a key file.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SearchCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-cli-search-" + Guid.NewGuid().ToString("N"));
    private readonly string _keyFile;

    public SearchCliTests()
    {
        Directory.CreateDirectory(_dir);
        _keyFile = Path.Combine(_dir, "store.key");
        KeyFile.Create(_keyFile);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task Seed()
    {
        using var store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithKeyFile(_keyFile));
        var alice = await store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
        var mail = store.Mail(alice.Id);
        var inbox = (await mail.FindFolderAsync("INBOX"))!;
        var archive = (await mail.FindFolderAsync(FolderRole.Archive))!;
        await Add(mail, inbox.Id, "Bob Builder <bob@beta.test>", "alice@alpha.test", "Quarterly report", "The quarterly report is attached. Invoice follows.", "2025-01-10", "\\Seen");
        await Add(mail, inbox.Id, "Carol <carol@gamma.test>", "alice@alpha.test", "Lunch?", "Report back about lunch, quarterly plans later.", "2025-02-20");
        await Add(mail, archive.Id, "Bob Builder <bob@beta.test>", "dave@delta.test", "Old invoice", "An invoice from last year.", "2024-12-24", "\\Seen", "\\Flagged");
    }

    private static async Task Add(AccountMail mail, FolderId folder, string from, string to, string subject, string body, string date, params string[] flags)
    {
        var raw = Encoding.UTF8.GetBytes($"From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {DateTimeOffset.Parse(date + "T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture):R}\r\n" +
            $"Message-ID: <{Guid.NewGuid():N}@test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n");
        var (summary, text, searchText) = MessageSummaryBuilder.BuildForIndex(raw, DateTimeOffset.UtcNow, MessageSecurity.Plain);
        Assert.True((await mail.AppendAsync(folder, new NewMessage(summary, raw, flags, text, searchText))).IsOk);
    }

    private Task<CliRun> Run(params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync([.. args, "--data", _dir, "--key-file", _keyFile], output, error));

    private async Task<List<string?>> Subjects(params string[] query)
    {
        var (code, output, error) = await Run(["search", .. query, "--json"]);
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        return json.RootElement.EnumerateArray().Select(e => e.GetProperty("subject").GetString()).ToList();
    }

    [Fact]
    public async Task Words_phrases_fields_dates_folders_and_states_find_exactly_their_messages_newest_first()
    {
        await Seed();
        Assert.Equal(["Lunch?", "Quarterly report"], await Subjects("alice@alpha.test"));
        Assert.Equal(["Lunch?", "Quarterly report"], await Subjects("quarterly"));
        Assert.Equal(["Quarterly report"], await Subjects("\"quarterly report\""));
        Assert.Equal(["Quarterly report", "Old invoice"], await Subjects("invoice"));
        Assert.Equal(["Quarterly report", "Old invoice"], await Subjects("from:bob@beta.test"));
        Assert.Equal(["Quarterly report", "Old invoice"], await Subjects("from:\"bob builder\""));
        Assert.Equal(["Old invoice"], await Subjects("to:dave"));
        Assert.Equal(["Old invoice"], await Subjects("subject:invoice"));
        Assert.Equal(["Quarterly report"], await Subjects("invoice", "date:2025-01-01.."));
        Assert.Equal(["Old invoice"], await Subjects("invoice", "date:..2024-12-31"));
        Assert.Equal(["Quarterly report"], await Subjects("date:2025-01-10"));
        Assert.Equal(["Old invoice"], await Subjects("invoice", "folder:Archive"));
        Assert.Equal(["Lunch?"], await Subjects("is:unread"));
        Assert.Equal(["Old invoice"], await Subjects("is:flagged"));
        Assert.Empty(await Subjects("quarterly", "is:flagged"));
        Assert.Empty(await Subjects("zebracorn"));

        var (code, output, _) = await Run("search", "quarterly");
        Assert.Equal(0, code);
        Assert.Contains("2025-02-20 10:00  INBOX", output, StringComparison.Ordinal);
        Assert.Contains("Carol", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"quarterly report", "no closing")]
    [InlineData("date:2025-13-01", "is not a date or range")]
    [InlineData("date:2025-03-01..2025-01-01", "is not a date or range")]
    [InlineData("is:bogus", "'is:' takes unread, read or flagged")]
    [InlineData("from:", "needs a value")]
    [InlineData("a", "has no word of at least 2 letters or digits")]
    [InlineData("folder:Nowhere", "there is no folder 'Nowhere'")]
    public async Task A_bad_query_is_refused_with_a_clear_message_and_exit_code_2(string query, string message)
    {
        await Seed();
        var (code, output, error) = await Run("search", query);
        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_gives_the_grammar_and_an_example()
    {
        var (code, output, _) = await Run("search", "--help");
        Assert.Equal(0, code);
        Assert.Contains("Examples:", output, StringComparison.Ordinal);
        Assert.Contains("letterlock search invoice from:bob@beta.test", output, StringComparison.Ordinal);
        Assert.Contains("is:unread", output, StringComparison.Ordinal);
    }
}
