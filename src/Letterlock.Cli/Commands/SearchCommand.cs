using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Letterlock.Client.Search;

namespace Letterlock.Cli.Commands;

/// <summary><c>letterlock search</c>: searches an account's mail in the local store's encrypted index, notmuch-style.</summary>
internal static class SearchCommand
{
    public static Command Create()
    {
        var access = new ClientStoreAccess();
        var query = new Argument<string[]>("query") { Description = "The query (its words are joined with spaces).", Arity = ArgumentArity.OneOrMore };
        var account = new Option<string?>("--account") { Description = "The account to search (needed when the client has several)." };
        var json = new Option<bool>("--json") { Description = "Print JSON for scripts." };
        var limit = new Option<int?>("--limit") { Description = "Show at most this many messages (the newest)." };
        var command = new Command("search",
            "Search the mail of an account on this device, newest first. Every term must hold:\n" +
            "  word               the word in the subject, a sender, a recipient or the body (whole words)\n" +
            "  \"a phrase\"         these words in this order (quote it for the shell too)\n" +
            "  from: to: subject: body:   the word or phrase in that field; from:alice@example.org a whole address\n" +
            "  date:2025-01-31  date:2025-01-01..2025-03-31  date:..2025-01-31  date:2025-01-01..\n" +
            "  folder:NAME        only that folder\n" +
            "  is:unread  is:read  is:flagged\n" +
            "Words are matched through the store's keyed-hash index; no word is kept in the clear on disk.\n\n" +
            "Examples:\n" +
            "  letterlock search invoice from:bob@beta.test date:2025-01-01..\n" +
            "  letterlock search '\"quarterly report\"' folder:INBOX is:unread --json")
        {
            query, account, json, limit,
        };
        access.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var text = string.Join(' ', parse.GetValue(query) ?? []);
            if (!MailQuery.TryParse(text, out var parsed, out var problem))
            {
                throw new CliException("search: " + problem, 2);
            }

            if (parse.GetValue(limit) is < 1)
            {
                throw new CliException("--limit: must be at least 1", 2);
            }

            using var store = await access.OpenAsync(parse, ct);
            var owner = await ContactsCommand.ResolveAccountAsync(store, parse.GetValue(account), ct);
            var mail = store.Mail(owner.Id);
            var found = await mail.QueryAsync(parsed!, ct);
            if (!found.IsOk)
            {
                throw new CliException("search: " + found.Detail, 2);
            }

            var folders = (await mail.ListFoldersAsync(ct)).ToDictionary(f => f.Id, f => f.Name);
            var shown = parse.GetValue(limit) is { } n ? found.Done.Take(n).ToList() : found.Done.ToList();
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                var rows = shown.Select(m => new SearchResultJson(m.Id.Value.ToString(), folders.GetValueOrDefault(m.Folder, ""), m.Uid.Value,
                    m.Summary.Date ?? m.Summary.InternalDate, m.Summary.From.Select(a => a.Address).ToList(),
                    m.Summary.To.Concat(m.Summary.Cc).Select(a => a.Address).ToList(), m.Summary.Subject, m.Flags.Order(StringComparer.Ordinal).ToList())).ToList();
                await output.WriteLineAsync(JsonSerializer.Serialize(rows, SearchJson.Default.ListSearchResultJson));
                return 0;
            }

            foreach (var m in shown)
            {
                var from = m.Summary.From.FirstOrDefault() is { } a ? a.Name ?? a.Address : "";
                var date = (m.Summary.Date ?? m.Summary.InternalDate).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
                await output.WriteLineAsync($"{date}  {folders.GetValueOrDefault(m.Folder, ""),-10}  {Clip(from, 24),-24}  {m.Summary.Subject}");
            }

            await parse.InvocationConfiguration.Error.WriteLineAsync($"{found.Done.Count} messages" + (shown.Count < found.Done.Count ? $" ({shown.Count} shown)" : ""));
            return 0;
        });
        return command;
    }

    private static string Clip(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";
}

internal sealed record SearchResultJson(string Id, string Folder, uint Uid, DateTimeOffset Date, IReadOnlyList<string> From,
    IReadOnlyList<string> To, string? Subject, IReadOnlyList<string> Flags);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(List<SearchResultJson>))]
internal sealed partial class SearchJson : JsonSerializerContext;
