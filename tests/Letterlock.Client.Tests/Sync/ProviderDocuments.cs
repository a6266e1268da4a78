using Letterlock.Client.Mail;
using Letterlock.Client.Sync;
using MimeKit;

namespace Letterlock.Client.Tests.Sync;

/// <summary>What an account's provider holds, for the exactly-once tests (linked into the CLI's kill tests as well).</summary>
internal static class ProviderDocuments
{
    /// <summary>Every live document of the account: message documents opened (subject and flags but \Seen), any other kind named.</summary>
    public static async Task<List<string>> DescribeAsync(ProviderClient client, DocumentSealer sealer)
    {
        var latest = new Dictionary<string, Letterlock.Api.DocumentInfo>(StringComparer.Ordinal);
        long since = 0;
        while (true)
        {
            var page = await client.GetChangesAsync(since, 500);
            foreach (var change in page.Changes)
            {
                latest[change.Id] = change;
            }

            since = page.Next;
            if (!page.HasMore)
            {
                break;
            }
        }

        var lines = new List<string>();
        foreach (var change in latest.Values.Where(c => !c.Deleted))
        {
            if (change.Kind != SyncEngine.MessageKind)
            {
                lines.Add($"a live {change.Kind} document {change.Id}");
                continue;
            }

            var document = sealer.Open(change.Id, change.Kind, (await client.GetDocumentAsync(change.Id))!.Content)!;
            var parsed = await MimeMessage.LoadAsync(new MemoryStream(document.Message));
            lines.Add($"{parsed.Subject} [{string.Join(' ', document.Flags.Where(f => f != "\\Seen").Order(StringComparer.Ordinal))}]");
        }

        return lines.Order(StringComparer.Ordinal).ToList();
    }
}
