using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Letterlock.Client.Import;
using Letterlock.Client.Store;

namespace Letterlock.Client.Tests.Import;

/// <summary>
/// <c>letterlock import</c>'s engine on the shared corpus as an mbox file and as a Maildir tree: the exact message set
/// arrives in the right folders with its flags and dates, a second run imports nothing, an interrupted run resumes.
/// </summary>
public sealed class ImportTests : IAsyncLifetime
{
    private const int Count = 300;
    private readonly TempDir _dir = new();
    private LocalStore _store = null!;
    private AccountRecord _alice = null!;

    public async Task InitializeAsync()
    {
        _store = await TestStores.Create(_dir);
        _alice = await _store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
    }

    public Task DisposeAsync()
    {
        _store.Dispose();
        _dir.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task The_corpus_as_an_mbox_arrives_exactly_with_flags_and_dates_and_a_second_run_imports_nothing()
    {
        var expected = ImportCorpus.WriteMbox(_dir.File("corpus.mbox"), ImportCorpus.Messages(Count), "Archive/Corpus");
        var options = new ImportOptions { BatchSize = 64 };
        var first = await new MailImporter(_store, _alice.Id, options).ImportAsync(new MboxReader(_dir.File("corpus.mbox"), "Archive/Corpus", options));
        Assert.Empty(first.Refused);
        var distinct = Distinct(expected);
        Assert.Equal(distinct.Count, first.Imported);
        Assert.Equal(expected.Count - distinct.Count, first.Duplicates);
        await AssertStoreHoldsExactlyAsync(distinct);

        var second = await new MailImporter(_store, _alice.Id, options).ImportAsync(new MboxReader(_dir.File("corpus.mbox"), "Archive/Corpus", options));
        Assert.Equal((0L, (long)expected.Count, 0), (second.Imported, second.Duplicates, second.Refused.Count));
        await AssertStoreHoldsExactlyAsync(distinct);
    }

    [Fact]
    public async Task The_corpus_as_a_maildir_tree_arrives_exactly_in_its_folders_with_flags_and_dates_and_a_second_run_imports_nothing()
    {
        var root = _dir.File("Maildir");
        var expected = ImportCorpus.WriteMaildir(root, ImportCorpus.Messages(Count));
        var options = new ImportOptions { BatchSize = 50 };
        var first = await new MailImporter(_store, _alice.Id, options).ImportAsync(new MaildirReader(root, options));
        Assert.Empty(first.Refused);
        var distinct = Distinct(expected);
        Assert.Equal(distinct.Count, first.Imported);
        await AssertStoreHoldsExactlyAsync(distinct);

        var second = await new MailImporter(_store, _alice.Id, options).ImportAsync(new MaildirReader(root, options));
        Assert.Equal((0L, (long)expected.Count, 0), (second.Imported, second.Duplicates, second.Refused.Count));
        await AssertStoreHoldsExactlyAsync(distinct);
    }

    [Fact]
    public async Task A_source_failing_part_way_keeps_the_whole_messages_read_and_the_next_run_imports_exactly_the_rest()
    {
        var root = _dir.File("Maildir");
        var expected = Distinct(ImportCorpus.WriteMaildir(root, ImportCorpus.Messages(120)));
        var options = new ImportOptions { BatchSize = 16 };
        var failing = new FailingAfter(new MaildirReader(root, options), 50);
        var error = await Assert.ThrowsAsync<ImportSourceException>(() => new MailImporter(_store, _alice.Id, options).ImportAsync(failing));
        Assert.Contains("gone after 50", error.Message, StringComparison.Ordinal);
        Assert.Equal(50, await CountAsync());

        // Cancelled in the middle of a batch: the batch in hand is not committed, nothing of it half-stored.
        using var cancel = new CancellationTokenSource();
        var cancelling = new FailingAfter(new MaildirReader(root, options), 75, cancel);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new MailImporter(_store, _alice.Id, options).ImportAsync(cancelling, ct: cancel.Token));
        int afterCancel = await CountAsync();
        Assert.InRange(afterCancel, 50, 75);

        var rest = await new MailImporter(_store, _alice.Id, options).ImportAsync(new MaildirReader(root, options));
        Assert.Equal(expected.Count - afterCancel, rest.Imported);
        await AssertStoreHoldsExactlyAsync(expected);
    }

    [Fact]
    public async Task The_size_limit_holds_at_its_edge_and_names_itself_and_a_refused_message_leaves_nothing()
    {
        var options = new ImportOptions { MaxMessageBytes = 2048 };
        var root = _dir.File("Maildir");
        Directory.CreateDirectory(Path.Combine(root, "cur"));
        await File.WriteAllBytesAsync(Path.Combine(root, "cur", "1.a:2,S"), MessageOfSize(2048));
        await File.WriteAllBytesAsync(Path.Combine(root, "cur", "2.b:2,S"), MessageOfSize(2049));
        var report = await new MailImporter(_store, _alice.Id, options).ImportAsync(new MaildirReader(root, options));
        Assert.Equal(1, report.Imported);
        var refused = Assert.Single(report.Refused);
        Assert.Contains("2.b", refused.Where, StringComparison.Ordinal);
        Assert.Contains("2048 bytes (ImportOptions.MaxMessageBytes)", refused.Reason, StringComparison.Ordinal);
        Assert.Equal(1, await CountAsync());

        // The same edge in an mbox file (CRLF inside, so the stored size is the size in the file).
        var mbox = _dir.File("edge.mbox");
        await File.WriteAllBytesAsync(mbox, [.. "From a@b Mon Jan  1 00:00:00 2001\r\n"u8, .. MessageOfSize(2048, "in mbox"), .. "\r\nFrom a@b Mon Jan  1 00:00:01 2001\r\n"u8,
            .. MessageOfSize(2049, "in mbox"), .. "\r\n"u8]);
        var mboxReport = await new MailImporter(_store, _alice.Id, options).ImportAsync(new MboxReader(mbox, "INBOX", options));
        Assert.Equal(1, mboxReport.Imported);
        Assert.Contains("ImportOptions.MaxMessageBytes", Assert.Single(mboxReport.Refused).Reason, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImportOptions { MaxMessageBytes = 1023 });
    }

    [Fact]
    public async Task Non_utf8_headers_are_imported_and_decoded_and_a_message_past_the_mime_limits_is_refused_by_name()
    {
        var root = _dir.File("Maildir");
        Directory.CreateDirectory(Path.Combine(root, "cur"));
        // Latin-1 bytes in a header, not encoded as RFC 2047 words (older mailers write this).
        await File.WriteAllBytesAsync(Path.Combine(root, "cur", "1.a:2,S"), [.. "From: Ren"u8, 0xE9, .. " <rene@example.org>\nSubject: Caf"u8, 0xE9, .. "\n\nbody\n"u8]);
        var deep = new StringBuilder("Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n");
        for (int i = 0; i < 200; i++)
        {
            deep.Append($"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n");
        }

        await File.WriteAllTextAsync(Path.Combine(root, "cur", "2.b:2,S"), deep.ToString());
        var report = await new MailImporter(_store, _alice.Id).ImportAsync(new MaildirReader(root, new ImportOptions()));
        Assert.Equal(1, report.Imported);
        Assert.Contains("MimeLimits.", Assert.Single(report.Refused).Reason, StringComparison.Ordinal);
        var inbox = (await _store.Mail(_alice.Id).FindFolderAsync("INBOX"))!;
        var message = Assert.Single(await _store.Mail(_alice.Id).ListAsync(inbox.Id));
        Assert.Equal("Café", message.Summary.Subject);
        Assert.Equal("René", message.Summary.From.Single().Name);
    }

    private static byte[] MessageOfSize(int size, string subject = "edge")
    {
        var head = Encoding.ASCII.GetBytes($"Subject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@example.org>\r\n\r\n");
        var body = new byte[size - head.Length];
        for (int i = 0; i < body.Length; i++)
        {
            body[i] = (i % 60) == 58 ? (byte)'\r' : (i % 60) == 59 ? (byte)'\n' : (byte)('a' + (i % 26));
        }

        body[^2] = (byte)'\r'; // whole lines, so the blank line after it in an mbox is a blank line
        body[^1] = (byte)'\n';
        return [.. head, .. body];
    }

    private static List<Expected> Distinct(List<Expected> expected) =>
        expected.DistinctBy(e => (e.Folder, e.Hash)).ToList();

    private async Task<int> CountAsync()
    {
        var mail = _store.Mail(_alice.Id);
        int count = 0;
        foreach (var folder in await mail.ListFoldersAsync())
        {
            count += (await mail.ListAsync(folder.Id)).Count;
        }

        return count;
    }

    /// <summary>Every message of the account, read back and decrypted, is exactly one expected message, in its folder, with its flags and date.</summary>
    private async Task AssertStoreHoldsExactlyAsync(List<Expected> expected)
    {
        var mail = _store.Mail(_alice.Id);
        var actual = new List<(string Folder, string Hash, string Flags, DateTimeOffset Date)>();
        foreach (var folder in await mail.ListFoldersAsync())
        {
            foreach (var message in await mail.ListAsync(folder.Id))
            {
                var body = (await mail.ReadBodyAsync(message.Id))!;
                actual.Add((folder.Name, Convert.ToHexString(SHA256.HashData(body)), string.Join(' ', message.Flags.Order(StringComparer.Ordinal)), message.Summary.InternalDate));
            }
        }

        var wanted = expected.Select(e => (e.Folder, e.Hash, string.Join(' ', e.Flags.Order(StringComparer.Ordinal)), e.Date)).ToList();
        Assert.Equal(wanted.Order().ToList(), actual.Order().ToList());
    }

    /// <summary>A source that fails (or cancels the run) after handing out some messages, as a dying disk or server would.</summary>
    private sealed class FailingAfter(IImportSource inner, int after, CancellationTokenSource? cancel = null) : IImportSource
    {
        public string Description => inner.Description;

        public SourcePosition Position => inner.Position;

        public async IAsyncEnumerable<SourceMessage> ReadAsync([EnumeratorCancellation] CancellationToken ct)
        {
            int n = 0;
            await foreach (var message in inner.ReadAsync(ct))
            {
                if (n++ == after)
                {
                    if (cancel is null)
                    {
                        throw new ImportSourceException($"gone after {after}");
                    }

                    await cancel.CancelAsync();
                    ct.ThrowIfCancellationRequested();
                }

                yield return message;
            }
        }
    }
}
