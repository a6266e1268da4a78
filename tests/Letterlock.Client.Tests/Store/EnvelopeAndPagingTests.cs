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
        var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
        for (int i = 0; i < 25; i++)
        {
            _ = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message($"m{i}", "body"))).Done;
        }

        var seen = new List<uint>();
        var after = new Uid(3);
        while (true)
        {
            var page = await store.Mail(account.Id).PageAsync(inbox.Id, after, new Uid(21), 4, withEnvelope: false);
            seen.AddRange(page.Select(p => p.Uid.Value));
            Assert.InRange(page.Count, 0, 4);
            if (page.Count < 4)
            {
                break;
            }

            after = page[^1].Uid;
        }

        Assert.Equal(Enumerable.Range(4, 18).Select(u => (uint)u), seen);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.Mail(account.Id).PageAsync(inbox.Id, new Uid(0), new Uid(9), 0, false));
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
            var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
            var archive = (await store.Mail(account.Id).FindFolderAsync("Archive"))!;
            var first = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("first", "one"))).Done;
            var second = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("second", "two"))).Done;
            await store.Mail(account.Id).RememberEnvelopesAsync([(first.Id, "(\"first\")"u8.ToArray()), (second.Id, "(\"second\")"u8.ToArray())]);

            var page = await store.Mail(account.Id).PageAsync(inbox.Id, new Uid(0), new Uid(uint.MaxValue), 10, withEnvelope: true);
            Assert.Equal(["(\"first\")", "(\"second\")"], page.Select(p => Encoding.ASCII.GetString(p.Envelope!)));
            var unopened = await store.Mail(account.Id).PageAsync(inbox.Id, new Uid(0), new Uid(uint.MaxValue), 10, withEnvelope: false, needSummary: uid => uid.Value == 2);
            Assert.All(unopened, p => Assert.Null(p.Envelope));
            Assert.Null(unopened[0].Summary);
            Assert.Equal("second", unopened[1].Summary!.Subject);

            // A copy is a new row: it has no envelope until the bridge computes one for it; a move keeps it.
            _ = (await store.Mail(account.Id).CopyAsync([first.Id], archive.Id)).Done.Single().Result;
            Assert.Null(Assert.Single(await store.Mail(account.Id).PageAsync(archive.Id, new Uid(0), new Uid(uint.MaxValue), 10, true)).Envelope);
            _ = (await store.Mail(account.Id).MoveAsync([second.Id], archive.Id)).Done.Single().Result;
            var moved = await store.Mail(account.Id).PageAsync(archive.Id, new Uid(0), new Uid(uint.MaxValue), 10, true);
            Assert.Equal("(\"second\")", Encoding.ASCII.GetString(moved[^1].Envelope!));
            var left = Assert.Single(await store.Mail(account.Id).PageAsync(inbox.Id, new Uid(0), new Uid(uint.MaxValue), 10, true));
            Assert.Equal("(\"first\")", Encoding.ASCII.GetString(left.Envelope!));
            Assert.Equal("one", Encoding.ASCII.GetString((await store.Mail(account.Id).ReadBodyAsync(first.Id))!).Split("\r\n\r\n")[1].Trim());
            Assert.Null(await store.Mail(account.Id).ReadBodyAsync(MessageId.New()));
        }

        // Each envelope is valid ciphertext, but bound to its own row: moved to another row, it does not open.
        await UnlockTests.ExecuteRaw(dir, "UPDATE messages SET envelope = (SELECT envelope FROM messages m2 WHERE m2.envelope IS NOT NULL AND m2.id <> messages.id LIMIT 1) WHERE envelope IS NULL");
        using (var store = await TestStores.Open(dir))
        {
            var archive = (await store.Mail(accountId).FindFolderAsync("Archive"))!;
            var e = await Assert.ThrowsAsync<StoreIntegrityException>(() => store.Mail(accountId).PageAsync(archive.Id, new Uid(0), new Uid(uint.MaxValue), 10, true));
            Assert.Contains("messages.envelope", e.Message, StringComparison.Ordinal);
            // Without the envelope the rows still read.
            Assert.Equal(2, (await store.Mail(accountId).PageAsync(archive.Id, new Uid(0), new Uid(uint.MaxValue), 10, false)).Count);
        }
    }
}
