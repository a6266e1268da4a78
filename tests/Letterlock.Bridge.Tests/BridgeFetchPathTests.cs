using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Imap.Backend;
using Letterlock.Imap.Mime;
using Letterlock.Imap.Protocol;

namespace Letterlock.Bridge.Tests;

/// <summary>
/// The bridge's read path against the engine's reference: ENVELOPE served from the envelope kept in the store
/// (filled lazily for messages stored without one, at once on APPEND) is byte for byte what the engine renders
/// from the whole MIME, over the spamassassin corpus; and FETCH walks a folder in pages without losing or
/// repeating a message.
/// </summary>
public sealed class BridgeFetchPathTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-bridge-fetch-" + Guid.NewGuid().ToString("N"));
    private LocalStore _store = null!;
    private AccountRecord _alice = null!;
    private BridgeMailboxes _mailboxes = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithPassphrase("fetch path test"),
            new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
        _alice = await _store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
        _mailboxes = new BridgeMailboxes(_store);
    }

    public Task DisposeAsync()
    {
        _mailboxes.Dispose();
        _store.Dispose();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Envelope_from_the_store_is_byte_identical_to_the_engine_over_the_corpus()
    {
        var inbox = (await _store.Mail(_alice.Id).FindFolderAsync("INBOX"))!;
        var mailbox = new MailboxId(inbox.Id.Value);
        var account = new StoreMailAccount(_mailboxes, _alice, 64);
        var expected = new Dictionary<uint, byte[]>();
        int appended = 0;
        foreach (var file in Corpus())
        {
            var raw = await File.ReadAllBytesAsync(file);
            uint uid;
            if (appended++ % 5 == 0)
            {
                // Through IMAP APPEND: the bridge keeps the envelope at once (of the CRLF-normalised bytes it stores).
                using var content = new MemoryStream(raw);
                var result = await account.AppendAsync(mailbox, content, MessageFlags.Empty, DateTimeOffset.UtcNow, default);
                if (result.Status != MailboxOperationStatus.Ok)
                {
                    continue; // a message MimeKit refuses is refused by APPEND; nothing to compare
                }

                uid = result.Uid.Value;
                expected[uid] = MessageStructure.Parse(LineEndings.Normalize(raw)).Envelope;
            }
            else
            {
                // As sync stores it (no envelope yet, like every message stored before the envelope was kept).
                (MessageSummary summary, string text) built;
                try
                {
                    built = MessageSummaryBuilder.Build(raw, DateTimeOffset.UtcNow, MessageSecurity.Plain);
                }
                catch (FormatException)
                {
                    continue;
                }

                var stored = (await _store.Mail(_alice.Id).AppendAsync(inbox.Id, new NewMessage(built.summary, raw, [], built.text))).Done;
                uid = stored.Uid.Value;
                expected[uid] = MessageStructure.Parse(raw).Envelope;
            }
        }

        Assert.True(expected.Count > 500, $"only {expected.Count} corpus messages were stored");
        var all = new List<UidRange> { new(new Uid(1), new Uid(uint.MaxValue - 1)) };

        // Flags only: nothing about the envelope is read or made up.
        await foreach (var record in account.FetchAsync(mailbox, all, FetchData.None, default))
        {
            Assert.Null(record.Envelope);
            Assert.Null(record.Structure);
        }

        // First ENVELOPE fetch computes the missing ones from the header block and keeps them; the second reads them back.
        for (int pass = 0; pass < 2; pass++)
        {
            var seen = new List<uint>();
            await foreach (var record in account.FetchAsync(mailbox, all, FetchData.Envelope, default))
            {
                seen.Add(record.Uid.Value);
                Assert.Null(record.Structure);
                Assert.NotNull(record.Envelope);
                Assert.True(expected[record.Uid.Value].AsSpan().SequenceEqual(record.Envelope),
                    $"pass {pass}, UID {record.Uid.Value}: {System.Text.Encoding.Latin1.GetString(record.Envelope)}");
            }

            Assert.Equal(expected.Keys.Order(), seen);
        }

        var kept = await _store.Mail(_alice.Id).PageAsync(inbox.Id, new Letterlock.Client.Uid(0), new Letterlock.Client.Uid(uint.MaxValue), 10_000, withEnvelope: true);
        Assert.All(kept, m => Assert.NotNull(m.Envelope));

        // With the structure, the envelope still agrees, and a sparse UID set returns exactly its members.
        var uids = expected.Keys.Order().ToList();
        var sparse = uids.Where((_, i) => i % 97 == 0).Select(u => new UidRange(new Uid(u), new Uid(u))).ToList();
        var got = new List<uint>();
        await foreach (var record in account.FetchAsync(mailbox, sparse, FetchData.Envelope | FetchData.Structure, default))
        {
            got.Add(record.Uid.Value);
            Assert.True(expected[record.Uid.Value].AsSpan().SequenceEqual(record.Structure!.Envelope));
            Assert.True(expected[record.Uid.Value].AsSpan().SequenceEqual(record.Envelope));
        }

        Assert.Equal(sparse.Select(r => r.First.Value), got);
    }

    [Fact]
    public async Task A_copied_message_gets_its_own_envelope_and_expunged_messages_are_skipped()
    {
        var inbox = (await _store.Mail(_alice.Id).FindFolderAsync("INBOX"))!;
        var archive = (await _store.Mail(_alice.Id).FindFolderAsync("Archive"))!;
        var account = new StoreMailAccount(_mailboxes, _alice, 64);
        var source = new MailboxId(inbox.Id.Value);
        var target = new MailboxId(archive.Id.Value);
        for (int i = 0; i < 600; i++)
        {
            var mime = System.Text.Encoding.ASCII.GetBytes($"From: Bob <bob@beta.test>\r\nTo: alice@alpha.test\r\nSubject: number {i}\r\n\r\nbody {i}\r\n");
            using var content = new MemoryStream(mime);
            Assert.Equal(MailboxOperationStatus.Ok, (await account.AppendAsync(source, content, MessageFlags.Empty, DateTimeOffset.UtcNow, default)).Status);
        }

        // Open both so the live state follows the changes below.
        await account.GetStatusAsync(source, default);
        await account.GetStatusAsync(target, default);
        var copy = await account.CopyAsync(source, [new UidRange(new Uid(10), new Uid(12))], target, move: false, default);
        Assert.Equal(3, copy.TargetUids.Count);
        var copied = new List<string>();
        await foreach (var record in account.FetchAsync(target, [new UidRange(new Uid(1), new Uid(100))], FetchData.Envelope, default))
        {
            copied.Add(System.Text.Encoding.ASCII.GetString(record.Envelope!));
        }

        Assert.Equal(3, copied.Count);
        Assert.Contains("\"number 9\"", copied[0], StringComparison.Ordinal);
        Assert.Contains("\"number 11\"", copied[2], StringComparison.Ordinal);

        await account.StoreFlagsAsync(source, [new UidRange(new Uid(200), new Uid(450))], StoreMode.Add, MessageFlags.Create(SystemFlags.Deleted), null, default);
        await account.ExpungeAsync(source, null, default);
        var left = new List<uint>();
        await foreach (var record in account.FetchAsync(source, [new UidRange(new Uid(1), new Uid(600))], FetchData.Envelope, default))
        {
            left.Add(record.Uid.Value);
        }

        Assert.Equal(Enumerable.Range(1, 199).Concat(Enumerable.Range(451, 150)).Select(u => (uint)u), left);
        var status = await account.GetStatusAsync(source, default);
        Assert.Equal(349u, status!.Messages);
    }

    private static IEnumerable<string> Corpus()
    {
        var dir = AppContext.BaseDirectory;
        string root = "/work/shared/testdata/spamassassin";
        while (dir is not null)
        {
            var candidate = Path.Combine(dir, "..", "shared", "testdata", "spamassassin");
            if (Directory.Exists(candidate))
            {
                root = Path.GetFullPath(candidate);
                break;
            }

            dir = Path.GetDirectoryName(dir);
        }

        // Every third message keeps the test within a few seconds while covering every kind the corpus has.
        return Directory.EnumerateFiles(root, "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Where((_, i) => i % 3 == 0);
    }
}
