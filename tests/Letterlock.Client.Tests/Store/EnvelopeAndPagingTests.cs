using System.Text;
using Letterlock.Client.Store;

namespace Letterlock.Client.Tests.Store;

/// <summary>The read side the bridge's FETCH uses: folder pages by UID and the sealed per-message ENVELOPE.</summary>
public sealed class EnvelopeAndPagingTests
{
    [Fact]
    public async Task Pages_cover_a_uid_span_exactly_once_in_order()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
        for (int i = 0; i < 25; i++)
        {
            await store.Messages.AppendAsync(inbox.Id, TestStores.Message($"m{i}", "body"));
        }

        var seen = new List<uint>();
        var after = new Uid(3);
        while (true)
        {
            var page = await store.Messages.ListRowsAsync(inbox.Id, after, new Uid(21), 4, withEnvelope: false);
            seen.AddRange(page.Select(p => p.Uid.Value));
            Assert.InRange(page.Count, 0, 4);
            if (page.Count < 4)
            {
                break;
            }

            after = page[^1].Uid;
        }

        Assert.Equal(Enumerable.Range(4, 18).Select(u => (uint)u), seen);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.Messages.ListRowsAsync(inbox.Id, new Uid(0), new Uid(9), 0, false));
    }

    [Fact]
    public async Task The_envelope_is_kept_per_row_not_copied_and_does_not_open_in_another_row()
    {
        using var dir = new TempDir();
        AccountId accountId;
        using (var store = await TestStores.Create(dir))
        {
            var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
            accountId = account.Id;
            var inbox = (await store.Folders.FindAsync(account.Id, "INBOX"))!;
            var archive = (await store.Folders.FindAsync(account.Id, "Archive"))!;
            var first = await store.Messages.AppendAsync(inbox.Id, TestStores.Message("first", "one"));
            var second = await store.Messages.AppendAsync(inbox.Id, TestStores.Message("second", "two"));
            await store.Messages.SetEnvelopesAsync([(first.Id, accountId, "(\"first\")"u8.ToArray()), (second.Id, accountId, "(\"second\")"u8.ToArray())]);

            var page = await store.Messages.ListRowsAsync(inbox.Id, new Uid(0), new Uid(uint.MaxValue), 10, withEnvelope: true);
            Assert.Equal(["(\"first\")", "(\"second\")"], page.Select(p => Encoding.ASCII.GetString(p.Envelope!)));
            var unopened = await store.Messages.ListRowsAsync(inbox.Id, new Uid(0), new Uid(uint.MaxValue), 10, withEnvelope: false,
                needSummary: uid => uid.Value == 2);
            Assert.All(unopened, p => Assert.Null(p.Envelope));
            Assert.Null(unopened[0].Summary);
            Assert.Equal("second", unopened[1].Summary!.Subject);

            // A copy is a new row: it has no envelope until the bridge computes one for it; a move keeps it.
            await store.Messages.CopyAsync(first.Id, archive.Id);
            Assert.Null(Assert.Single(await store.Messages.ListRowsAsync(archive.Id, new Uid(0), new Uid(uint.MaxValue), 10, true)).Envelope);
            await store.Messages.MoveAsync(second.Id, archive.Id);
            var moved = await store.Messages.ListRowsAsync(archive.Id, new Uid(0), new Uid(uint.MaxValue), 10, true);
            Assert.Equal("(\"second\")", Encoding.ASCII.GetString(moved[^1].Envelope!));
            var left = Assert.Single(await store.Messages.ListRowsAsync(inbox.Id, new Uid(0), new Uid(uint.MaxValue), 10, true));
            Assert.Equal("(\"first\")", Encoding.ASCII.GetString(left.Envelope!));
            Assert.Equal("one", Encoding.ASCII.GetString(store.Messages.TryReadBodyOnly(first.Id)!).Split("\r\n\r\n")[1].Trim());
            Assert.Null(store.Messages.TryReadBodyOnly(MessageId.New()));
        }

        // Each envelope is valid ciphertext, but bound to its own row: moved to another row, it does not open.
        await UnlockTests.ExecuteRaw(dir, "UPDATE messages SET envelope = (SELECT envelope FROM messages m2 WHERE m2.envelope IS NOT NULL AND m2.id <> messages.id LIMIT 1) WHERE envelope IS NULL");
        using (var store = await TestStores.Open(dir))
        {
            var archive = (await store.Folders.FindAsync(accountId, "Archive"))!;
            var e = await Assert.ThrowsAsync<StoreIntegrityException>(() => store.Messages.ListRowsAsync(archive.Id, new Uid(0), new Uid(uint.MaxValue), 10, true));
            Assert.Contains("messages.envelope", e.Message, StringComparison.Ordinal);
            // Without the envelope the rows still read.
            Assert.Equal(2, (await store.Messages.ListRowsAsync(archive.Id, new Uid(0), new Uid(uint.MaxValue), 10, false)).Count);
        }
    }
}
