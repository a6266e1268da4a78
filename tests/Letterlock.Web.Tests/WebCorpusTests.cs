using System.Net;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;

namespace Letterlock.Web.Tests;

/// <summary>Real mail from the wild: every message of the SpamAssassin corpus opens, as a view and as a frame, without a server error.</summary>
public sealed class WebCorpusTests
{
    private const string Corpus = "/work/shared/testdata/spamassassin";

    [Fact]
    public async Task Every_corpus_message_opens_as_a_view_and_a_frame()
    {
        var root = Directory.Exists(Corpus) ? Corpus : Path.Combine(FindRoot(), "..", "shared", "testdata", "spamassassin");
        var files = Directory.EnumerateFiles(root, "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        Assert.True(files.Count >= 3000, $"the corpus has {files.Count} messages");
        await using var app = await WebFixture.StartAsync();
        using var client = new WebClient(app.Web.Url);
        await client.SignInAsync(app.Web.NewLoginLink());
        var mail = app.Store.Mail(app.Alice.Id);
        var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
        var batch = new List<NewMessage>();
        foreach (var file in files)
        {
            var raw = await File.ReadAllBytesAsync(file);
            var (summary, text) = MessageSummaryBuilder.Build(raw, DateTimeOffset.UtcNow, MessageSecurity.Plain);
            batch.Add(new NewMessage(summary, raw, [], text));
        }

        var stored = (await mail.AppendAsync(inbox.Id, batch)).Done;
        string account = Json.Id(app.Alice.Id.Value);
        var failures = new List<string>();
        foreach (var (message, file) in stored.Zip(files))
        {
            foreach (var path in new[] { $"/api/accounts/{account}/messages/{Json.Id(message.Id.Value)}", $"/frame/{account}/{Json.Id(message.Id.Value)}" })
            {
                using var response = await client.GetAsync(path);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    failures.Add($"{Path.GetFileName(file)} {path.Split('/')[1]}: {(int)response.StatusCode}");
                }
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} failed:\n{string.Join("\n", failures.Take(20))}\n{string.Join("\n", app.Log.Take(20))}");
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Letterlock.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Letterlock.slnx not found");
    }
}
