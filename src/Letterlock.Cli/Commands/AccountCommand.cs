using System.CommandLine;
using System.Text.Json;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;

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
            foreach (var folder in await store.Mail(account.Id).ListFoldersAsync(ct))
            {
                folders.Add(new FolderJson(folder.Name, folder.Role == FolderRole.None ? null : folder.Role.ToString(),
                    (await store.Mail(account.Id).ListAsync(folder.Id, ct)).Count));
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
        var lastDevice = new Option<bool>("--i-have-the-recovery-code")
        {
            Description = "Confirm removing the account's last device: afterwards only the password or the recovery code opens the account.",
        };
        var removeCa = AccountAccessCommands.CaOption();
        var remove = new Command("remove",
            "Remove an account from this client with its local mail, contacts and keys. The provider keeps the\n" +
            "account and its encrypted mail; other devices are not affected. On the account's last device this is\n" +
            "refused unless you confirm that you hold the recovery code (or the password): without them, nothing\n" +
            "opens the account again and its mail and keys are lost for good.\n\n" +
            "Examples:\n  letterlock account remove alice@alpha.test --yes\n  letterlock account remove alice@alpha.test --yes --i-have-the-recovery-code")
        {
            removeAddress, yes, lastDevice, removeCa,
        };
        remove.SetAction(async (parse, ct) =>
        {
            var address = ContactsCommand.Normalize(parse.GetValue(removeAddress)!);
            if (!parse.GetValue(yes))
            {
                throw new CliException($"removing {address} deletes its local mail, contacts and keys from this client: add --yes to confirm", 2);
            }

            using var store = await access.OpenAsync(parse, ct);
            var account = await store.Accounts.FindAsync(address, ct) ?? throw new CliException($"no account {address} in this client");
            if (!parse.GetValue(lastDevice) && account.DeviceId is { } deviceId)
            {
                // Ask the provider how many devices are left; when it cannot say, assume this is the last one.
                string why;
                try
                {
                    using var http = new HttpClient(HttpFetch.CreateHandler(null, await AccountAccessCommands.LoadRootsAsync(parse.GetValue(removeCa), store, account, ct))) { Timeout = Timeout.InfiniteTimeSpan };
                    var devices = await (await AccountAccessCommands.ConnectAsync(store, account, http, ct)).ListDevicesAsync(ct);
                    bool others = devices.Devices.Any(d => d.RevokedAt is null && d.DeviceId != deviceId);
                    why = others ? "" : devices.HasPassword || devices.HasRecovery
                        ? $"this is the only device of {address}: afterwards only its {(devices.HasPassword ? "password or " : "")}recovery code opens the account"
                        : $"this is the only device of {address} and it has neither a password nor a recovery code: its mail and keys would be lost for good (make a kit first: letterlock account recovery-kit --out FILE)";
                }
                catch (Exception e) when (e is ProviderProblemException or ProviderUnavailableException or CliException)
                {
                    why = $"the provider cannot say whether other devices of {address} exist ({e.Message}); if this is the last one, only the password or the recovery code opens the account afterwards";
                }

                if (why.Length > 0)
                {
                    throw new CliException($"{why}. Without them the account's mail and keys are lost for good. Add --i-have-the-recovery-code to remove it anyway", 2);
                }
            }

            await store.Accounts.RemoveAsync(account.Id, ct);
            await ProviderTrust.RemoveAsync(store, account.Id, ct);
            await parse.InvocationConfiguration.Output.WriteLineAsync($"Removed {address} from this client.");
            return 0;
        });

        var provider = new Option<string>("--provider") { Description = "The provider's URL, e.g. https://alpha.test", Required = true };
        var address = new Option<string>("--address") { Description = "The new address, name@domain (the provider's domain).", Required = true };
        var name = new Option<string?>("--name") { Description = "Your name, shown in From." };
        var invite = new Option<string?>("--invite") { Description = "An invite token, when the provider signs up by invitation." };
        var ca = new Option<string?>("--ca")
        {
            Description = "Trust this CA certificate (PEM) for the provider instead of the system's (a private or test CA); kept with the account for every later command.",
        };
        var encryptedOnly = new Option<bool>("--encrypted-only") { Description = "Refuse to send unless every recipient gets an encrypted copy." };
        var passwordFile = AccountAccessCommands.PasswordFileOption();
        var noPassword = new Option<bool>("--no-password") { Description = "A device-only account: no password at the provider (link more devices with letterlock devices link; the recovery code still works)." };
        var create = new Command("create",
            "Create an account: every key is generated on this device (OpenPGP key with its revocation certificate,\n" +
            "inbox key, device key, account master key); the provider receives only the public parts. Creates the\n" +
            "client store on first use (passphrase from $LETTERLOCK_PASSPHRASE or a prompt, or --key-file, created if missing).\n\n" +
            "Examples:\n" +
            "  letterlock account create --provider https://example.org --address alice@example.org --name 'Alice'\n" +
            "  letterlock account create --provider https://example.org --address bob@example.org --no-password\n" +
            "  letterlock account create --provider https://alpha.test --address alice@alpha.test --ca sandbox-ca.pem --key-file store.key")
        {
            provider, address, name, invite, ca, encryptedOnly, passwordFile, noPassword,
        };
        create.SetAction(async (parse, ct) =>
        {
            if (!Uri.TryCreate(parse.GetValue(provider), UriKind.Absolute, out var providerUrl) || providerUrl.Scheme != Uri.UriSchemeHttps)
            {
                throw new CliException("--provider must be an https:// URL", 2);
            }

            var normalized = ContactsCommand.Normalize(parse.GetValue(address)!);
            var roots = await AccountAccessCommands.LoadRootsAsync(parse.GetValue(ca), ct);

            if (parse.GetValue(noPassword) && parse.GetValue(passwordFile) is not null)
            {
                throw new CliException("--no-password and --password-file exclude each other", 2);
            }

            string? password = parse.GetValue(noPassword) ? null : await AccountAccessCommands.ReadPasswordAsync(parse.GetValue(passwordFile), confirm: true, ct);
            using var store = await access.OpenOrCreateAsync(parse, ct);
            using var http = new HttpClient(HttpFetch.CreateHandler(null, roots)) { Timeout = Timeout.InfiniteTimeSpan };
            AccountRecord account;
            try
            {
                account = await AccountRegistration.CreateAsync(store, new ProviderClient(http, providerUrl), normalized, parse.GetValue(name),
                    parse.GetValue(invite), policy: parse.GetValue(encryptedOnly) ? EncryptionPolicy.EncryptedOnly : EncryptionPolicy.Opportunistic, ct: ct);
            }
            catch (ProviderProblemException e)
            {
                throw new CliException($"the provider refused: {e.Message}");
            }
            catch (ProviderUnavailableException e)
            {
                throw new CliException(e.Message, 4);
            }
            catch (LocalStoreException e)
            {
                throw new CliException(e.Message);
            }

            // The CA is kept with the account: the bridge, sync and every other command trust it without --ca.
            await AccountAccessCommands.RememberCaAsync(parse.GetValue(ca), store, account, ct);
            var key = await AccountKeys.LoadOpenPgpAsync(store, account.Id, ct);
            var output = parse.InvocationConfiguration.Output;
            await output.WriteLineAsync($"Created {account.Address} at {providerUrl}");
            await output.WriteLineAsync($"OpenPGP key {Fingerprint(key.Fingerprint.Hex)}");
            await output.WriteLineAsync("Keys were generated on this device; the revocation certificate is kept in the encrypted store.");

            // The account's keys go to the provider sealed under the AMK (the key bundle), the AMK sealed to the recovery code.
            var connected = await AccountAccessCommands.ConnectAsync(store, account, http, ct);
            try
            {
                if (password is not null)
                {
                    await Letterlock.Client.Accounts.AccountPassword.SetAsync(store, account, connected, password, ct: ct);
                }

                var code = await Letterlock.Client.Accounts.AccountRecovery.CreateCodeAsync(store, account, connected, ct);
                await AccountAccessCommands.PrintRecoveryCodeAsync(output, code);
            }
            catch (Exception e) when (e is ProviderProblemException or ProviderUnavailableException)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync(
                    $"letterlock: the account exists, but its password or recovery code could not be stored ({e.Message}); run: letterlock account password, then letterlock account recovery-kit --out FILE");
                return 1;
            }

            await output.WriteLineAsync();
            await output.WriteLineAsync("Next: letterlock bridge   (prints the settings for your mail app)");
            return 0;
        });

        command.Add(list);
        command.Add(show);
        command.Add(remove);
        command.Add(create);
        command.Add(AccountAccessCommands.RecoveryKit(access));
        command.Add(AccountAccessCommands.Login(access));
        command.Add(AccountAccessCommands.Password(access));
        command.Add(AccountAccessCommands.Delete(access));
        command.Add(AccountAccessCommands.Recover(access));
        command.Add(AccountAccessCommands.RevokeKey(access));
        return command;
    }

    private static string Fingerprint(string hex) => Letterlock.Client.Validation.KeyFingerprint.Parse(hex).ToDisplayString();

    private static string Policy(EncryptionPolicy policy) => policy == EncryptionPolicy.EncryptedOnly ? "encrypted-only" : "opportunistic";

    private static AccountJson ToJson(AccountRecord account, IReadOnlyList<FolderJson>? folders, IReadOnlyList<KeyJson>? keys) =>
        new(account.Address, account.DisplayName, account.ProviderUrl?.ToString(), Policy(account.Policy), account.CreatedAt, folders, keys);
}
