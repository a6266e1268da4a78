using System.CommandLine;
using System.Text.Json;
using Letterlock.Client.Store;

namespace Letterlock.Cli.Commands;

/// <summary><c>letterlock account list|show|remove</c>: the accounts held by this client.</summary>
internal static class AccountCommand
{
    public static Command Create()
    {
        var access = new ClientStoreAccess();
        var command = new Command("account",
            "The accounts this client holds (several may share one client).\n\n" +
            "Examples:\n" +
            "  letterlock account list\n" +
            "  letterlock account show alice@alpha.test --json\n" +
            "  letterlock account remove alice@alpha.test --yes");
        access.AddTo(command);

        var json = new Option<bool>("--json") { Description = "Print JSON for scripts." };
        var list = new Command("list", "List the accounts.\n\nExample:\n  letterlock account list --json") { json };
        list.SetAction(async (parse, ct) =>
        {
            using var store = await access.OpenAsync(parse, ct);
            var accounts = await store.Accounts.ListAsync(ct);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(accounts.Select(a => ToJson(a, null, null)).ToList(), CliJson.Default.ListAccountJson));
                return 0;
            }

            if (accounts.Count == 0)
            {
                await output.WriteLineAsync("No accounts yet.");
            }

            foreach (var account in accounts)
            {
                await output.WriteLineAsync($"{account.Address,-40} {account.ProviderUrl?.ToString() ?? "-",-32} {Policy(account.Policy)}");
            }

            return 0;
        });

        var showAddress = new Argument<string>("address") { Description = "The account's address." };
        var showJson = new Option<bool>("--json") { Description = "Print JSON for scripts." };
        var show = new Command("show", "Show an account: provider, policy, folders and key purposes (never key material).\n\n" +
            "Example:\n  letterlock account show alice@alpha.test") { showAddress, showJson };
        show.SetAction(async (parse, ct) =>
        {
            using var store = await access.OpenAsync(parse, ct);
            var account = await ContactsCommand.ResolveAccountAsync(store, parse.GetValue(showAddress), ct);
            var folders = new List<FolderJson>();
            foreach (var folder in await store.Folders.ListAsync(account.Id, ct))
            {
                folders.Add(new FolderJson(folder.Name, folder.Role == FolderRole.None ? null : folder.Role.ToString(),
                    (await store.Messages.ListAsync(folder.Id, ct)).Count));
            }

            var keys = (await store.Keys.ListAsync(account.Id, ct: ct)).Select(k => new KeyJson(k.Purpose, k.CreatedAt)).ToList();
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(showJson))
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(ToJson(account, folders, keys), CliJson.Default.AccountJson));
                return 0;
            }

            await output.WriteLineAsync($"Account:   {account.Address}{(account.DisplayName is null ? "" : $" ({account.DisplayName})")}");
            await output.WriteLineAsync($"Provider:  {account.ProviderUrl?.ToString() ?? "-"}");
            await output.WriteLineAsync($"Policy:    {Policy(account.Policy)}");
            await output.WriteLineAsync($"Added:     {account.CreatedAt:yyyy-MM-dd HH:mm} UTC");
            await output.WriteLineAsync("Folders:");
            foreach (var folder in folders)
            {
                await output.WriteLineAsync($"  {folder.Name,-30} {folder.Role ?? "",-8} {folder.Messages} messages");
            }

            await output.WriteLineAsync("Keys:");
            foreach (var key in keys)
            {
                await output.WriteLineAsync($"  {key.Purpose,-30} {key.Created:yyyy-MM-dd}");
            }

            return 0;
        });

        var removeAddress = new Argument<string>("address") { Description = "The account's address." };
        var yes = new Option<bool>("--yes") { Description = "Confirm: the account's local mail, contacts and keys are deleted from this client." };
        var remove = new Command("remove",
            "Remove an account from this client with its local mail, contacts and keys. The provider keeps the\n" +
            "account and its encrypted mail; other devices are not affected.\n\n" +
            "Example:\n  letterlock account remove alice@alpha.test --yes") { removeAddress, yes };
        remove.SetAction(async (parse, ct) =>
        {
            var address = ContactsCommand.Normalize(parse.GetValue(removeAddress)!);
            if (!parse.GetValue(yes))
            {
                throw new CliException($"removing {address} deletes its local mail, contacts and keys from this client: add --yes to confirm", 2);
            }

            using var store = await access.OpenAsync(parse, ct);
            var account = await store.Accounts.FindAsync(address, ct) ?? throw new CliException($"no account {address} in this client");
            await store.Accounts.RemoveAsync(account.Id, ct);
            await parse.InvocationConfiguration.Output.WriteLineAsync($"Removed {address} from this client.");
            return 0;
        });

        command.Add(list);
        command.Add(show);
        command.Add(remove);
        return command;
    }

    private static string Policy(EncryptionPolicy policy) => policy == EncryptionPolicy.EncryptedOnly ? "encrypted-only" : "opportunistic";

    private static AccountJson ToJson(AccountRecord account, IReadOnlyList<FolderJson>? folders, IReadOnlyList<KeyJson>? keys) =>
        new(account.Address, account.DisplayName, account.ProviderUrl?.ToString(), Policy(account.Policy), account.CreatedAt, folders, keys);
}
