using System.Text.Json.Nodes;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using MimeKit;

namespace Letterlock.Client.Tests.Sync;

/// <summary>
/// A message whose document is larger than a batch request may carry (api.maxBatchBodySize at the provider; a 24 MiB
/// message is 32 MiB as base64 in JSON, over the default 32 MiB) is written back alone, not in a batch the provider
/// refuses: otherwise its conversion failed on every sync and the message was opened again each time.
/// </summary>
public sealed class LargeDocumentSyncTests
{
    [Fact]
    public async Task A_converted_message_larger_than_a_batch_goes_up_alone_and_the_sync_ends_once()
    {
        using var dir = new TempDir();
        // Client and provider agree as they do by default (client batches up to 8 MiB, provider takes 32 MiB), scaled down.
        await using var local = await LocalProvider.StartAsync(dir, settings: s =>
        {
            s["api"] ??= new JsonObject();
            s["api"]!["maxBatchBodySize"] = 512 * 1024;
        });
        using var device = await LocalStore.CreateAsync(dir.File("device.db"), StoreUnlock.WithPassphrase("one"), TestStores.FastOptions());
        var alice = await AccountRegistration.CreateAsync(device, new ProviderClient(local.Http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");
        var options = new SyncOptions { MaxBatchBytes = 256 * 1024 };

        var content = new byte[400 * 1024];
        new Random(5).NextBytes(content);
        await local.DeliverAsync(new MimeMessage([new MailboxAddress("Carol", "carol@elsewhere.test")], [new MailboxAddress("Alice", "alice@alpha.test")], "Large",
            new Multipart("mixed")
            {
                new TextPart("plain") { Text = "attached" },
                new MimePart("application", "octet-stream") { Content = new MimeContent(new MemoryStream(content)), ContentTransferEncoding = ContentEncoding.Base64 },
            }), "carol@elsewhere.test", "alice@alpha.test");
        // And one small message, which still goes up in a batch beside it.
        await local.DeliverAsync("Small", "small");

        var provider = await AccountRegistration.ConnectAsync(device, alice, local.Http);
        var report = await new SyncEngine(device, alice, provider, syncOptions: options).SyncAsync();
        Assert.Equal(2, report.Received);
        Assert.Empty(report.Errors);
        var inbox = (await device.Mail(alice.Id).FindFolderAsync("INBOX"))!;
        var messages = await device.Mail(alice.Id).ListAsync(inbox.Id);
        Assert.Equal(["Large", "Small"], messages.Select(m => m.Summary.Subject).Order(StringComparer.Ordinal));
        Assert.All(messages, m => Assert.StartsWith("m-", m.Remote!.DocumentId, StringComparison.Ordinal));
        foreach (var m in messages)
        {
            Assert.NotNull(await provider.GetDocumentAsync(m.Remote!.DocumentId)); // the message document is at the provider
        }

        // Nothing left to convert or push: the next round finds no work.
        var again = await new SyncEngine(device, alice, provider, syncOptions: options).SyncAsync();
        Assert.Equal(0, again.Received + again.Pushed);
        Assert.Empty(again.Errors);
    }
}
