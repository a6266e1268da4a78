using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;
using Letterlock.Client.Accounts;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;

namespace Letterlock.Cli.Commands;

/// <summary>
/// The commands that make an account outlive a device: <c>account recovery-kit</c>, <c>account recover</c>,
/// <c>account delete</c> and <c>devices list|revoke</c> (docs/design/accounts.md).
/// </summary>
internal static class AccountAccessCommands
{
    /// <summary>The --ca option of commands that talk to a provider.</summary>
    public static Option<string?> CaOption() =>
        new("--ca") { Description = "Trust this CA certificate (PEM) for the provider instead of the system's (default: the one kept with the account at account create --ca)." };

    public static Task<X509Certificate2Collection?> LoadRootsAsync(string? caPath, CancellationToken ct) => LoadRootsAsync(caPath, "--ca", ct);

    /// <summary>
    /// Every certificate of the PEM file given with <paramref name="option"/> (a CA, or a chain), to trust instead of the
    /// system's; null when no file was given. One reader for every command's CA option, with one error.
    /// </summary>
    public static async Task<X509Certificate2Collection?> LoadRootsAsync(string? path, string option, CancellationToken ct)
    {
        if (path is null)
        {
            return null;
        }

        try
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPem(await File.ReadAllTextAsync(path, ct));
            return roots.Count > 0 ? roots : throw new System.Security.Cryptography.CryptographicException("no certificate in the file");
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            throw new CliException($"{option}: cannot read a PEM certificate from {path}", 2);
        }
    }

    /// <summary>
    /// The roots to trust for an account's provider: <c>--ca</c> when given, else the trust anchor stored with the
    /// account at sign-up (<see cref="ProviderTrust"/>), else null (the system's).
    /// </summary>
    public static async Task<X509Certificate2Collection?> LoadRootsAsync(string? caPath, LocalStore store, AccountRecord account, CancellationToken ct) =>
        await LoadRootsAsync(caPath, ct) ?? await ProviderTrust.GetAsync(store, account.Id, ct);

    /// <summary>Keeps the PEM of <c>--ca</c> with an account that was just added to this client, for every later command.</summary>
    public static async Task RememberCaAsync(string? caPath, LocalStore store, AccountRecord account, CancellationToken ct)
    {
        if (caPath is not null)
        {
            await ProviderTrust.SetAsync(store, account.Id, await File.ReadAllTextAsync(caPath, ct), ct);
        }
    }

    /// <summary>Prints a freshly made recovery code in a box the user cannot miss.</summary>
    public static async Task PrintRecoveryCodeAsync(TextWriter output, RecoveryCode code)
    {
        await output.WriteLineAsync();
        await output.WriteLineAsync("Your recovery code (shown once; write it down and keep it somewhere safe):");
        await output.WriteLineAsync();
        await output.WriteLineAsync($"    {code}");
        await output.WriteLineAsync();
        await output.WriteLineAsync("With it, 'letterlock account recover' brings the account back when every device and the password are lost.");
        await output.WriteLineAsync("Anyone holding it can take over the account. 'letterlock account recovery-kit' makes a new one.");
    }

    /// <summary>The --password-file option.</summary>
    public static Option<string?> PasswordFileOption() =>
        new("--password-file") { Description = "Read the account password from this file's first line (else standard input when it is a pipe, else a prompt)." };

    /// <summary>
    /// The account password: from --password-file, else a line of standard input when it is a pipe, else typed twice
    /// (when <paramref name="confirm"/>) at a prompt that does not echo.
    /// </summary>
    public static async Task<string> ReadPasswordAsync(string? passwordFile, bool confirm, CancellationToken ct)
    {
        string password;
        if (passwordFile is not null)
        {
            password = (await ReadSecretFileAsync(passwordFile, "--password-file", ct)).Split('\n')[0].TrimEnd('\r');
        }
        else if (Console.IsInputRedirected)
        {
            password = (await Console.In.ReadLineAsync(ct)) ?? "";
        }
        else
        {
            password = PromptHidden("Account password: ");
            if (confirm && !string.Equals(password, PromptHidden("The same password again: "), StringComparison.Ordinal))
            {
                throw new CliException("the two passwords differ; nothing was changed", 2);
            }
        }

        if (password.Length < MinPasswordLength)
        {
            throw new CliException($"the account password must have at least {MinPasswordLength} characters", 2);
        }

        try
        {
            PasswordText.Prepare(password);
        }
        catch (ArgumentException)
        {
            throw new CliException($"the account password must be at most {AccountPassword.MaxPasswordBytes} bytes (UTF-8) without control characters", 2);
        }

        return password;
    }

    /// <summary>The shortest account password accepted (OPAQUE and Argon2id make guessing costly, not impossible).</summary>
    public const int MinPasswordLength = 10;

    private static string PromptHidden(string text)
    {
        Console.Error.Write(text);
        var buffer = new System.Text.StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (buffer.Length > 0)
                {
                    buffer.Length--;
                }

                continue;
            }

            buffer.Append(key.KeyChar);
        }

        Console.Error.WriteLine();
        return buffer.ToString();
    }

    public static Command Login(ClientStoreAccess access)
    {
        var provider = new Option<string>("--provider") { Description = "The provider's URL, e.g. https://example.org", Required = true };
        var address = new Option<string>("--address") { Description = "The account's address.", Required = true };
        var passwordFile = PasswordFileOption();
        var deviceName = new Option<string>("--device-name") { Description = "A name for this device in the device list.", DefaultValueFactory = _ => Environment.MachineName };
        var ca = CaOption();
        var command = new Command("login",
            "Sign in on this device with the account's address and password: this device gets its own device key, the\n" +
            "account's keys, and (with letterlock bridge) the whole mailbox. The password never leaves the device (OPAQUE).\n" +
            "The account's other devices show \"new device signed in\".\n\n" +
            "Examples:\n" +
            "  letterlock account login --provider https://example.org --address alice@example.org\n" +
            "  letterlock account login --provider https://example.org --address alice@example.org --password-file pw.txt")
        {
            provider, address, passwordFile, deviceName, ca,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (!Uri.TryCreate(parse.GetValue(provider), UriKind.Absolute, out var providerUrl) || providerUrl.Scheme != Uri.UriSchemeHttps)
            {
                throw new CliException("--provider must be an https:// URL", 2);
            }

            var normalized = ContactsCommand.Normalize(parse.GetValue(address)!);
            string password = await ReadPasswordAsync(parse.GetValue(passwordFile), confirm: false, ct);
            using var store = await access.OpenOrCreateAsync(parse, ct);
            using var http = new HttpClient(HttpFetch.CreateHandler(null, await LoadRootsAsync(parse.GetValue(ca), ct))) { Timeout = Timeout.InfiniteTimeSpan };
            var account = await Guard(() => AccountPassword.LoginAsync(store, new ProviderClient(http, providerUrl), normalized, password, parse.GetValue(deviceName)!,
                credentials => new ProviderClient(http, providerUrl, credentials), ct: ct));
            await RememberCaAsync(parse.GetValue(ca), store, account, ct);
            var output = parse.InvocationConfiguration.Output;
            await output.WriteLineAsync($"Signed in to {account.Address} on this device (device {account.DeviceId}).");
            await output.WriteLineAsync("Next: letterlock bridge   (syncs all mail and prints the settings for your mail app)");
            return 0;
        });
        return command;
    }

    public static Command Password(ClientStoreAccess access)
    {
        var address = new Argument<string?>("address") { Description = "The account (needed when the client has several).", Arity = ArgumentArity.ZeroOrOne };
        var passwordFile = PasswordFileOption();
        var ca = CaOption();
        var command = new Command("password",
            "Set or change the account's password (the old one stops working; the account's devices keep working).\n\n" +
            "Example:\n  letterlock account password alice@example.org")
        {
            address, passwordFile, ca,
        };
        command.SetAction(async (parse, ct) =>
        {
            using var store = await access.OpenAsync(parse, ct);
            var account = await ContactsCommand.ResolveAccountAsync(store, parse.GetValue(address), ct);
            string password = await ReadPasswordAsync(parse.GetValue(passwordFile), confirm: true, ct);
            using var http = new HttpClient(HttpFetch.CreateHandler(null, await LoadRootsAsync(parse.GetValue(ca), store, account, ct))) { Timeout = Timeout.InfiniteTimeSpan };
            var provider = await ConnectAsync(store, account, http, ct);
            await Guard(() => AccountPassword.SetAsync(store, account, provider, password, ct: ct));
            await parse.InvocationConfiguration.Output.WriteLineAsync($"The password of {account.Address} is set; sign in on another device with: letterlock account login --address {account.Address}");
            return 0;
        });
        return command;
    }

    public static Command RevokeKey(ClientStoreAccess access)
    {
        var address = new Argument<string?>("address") { Description = "The account (needed when the client has several).", Arity = ArgumentArity.ZeroOrOne };
        var yes = new Option<bool>("--yes") { Description = "Confirm: the current OpenPGP key is revoked for good." };
        var ca = CaOption();
        var command = new Command("revoke-key",
            "Revoke the account's OpenPGP key (it leaked) and publish a new one: the directory and key transparency, WKD\n" +
            "and HKP serve the new key and the old key's revocation, and later mail carries the new key (Autocrypt). The\n" +
            "old key certifies the new one, so correspondents see a rotation rather than a suspicious change. Mail sent to\n" +
            "the old key still opens on your devices.\n\n" +
            "Example:\n  letterlock account revoke-key alice@example.org --yes")
        {
            address, yes, ca,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (!parse.GetValue(yes))
            {
                throw new CliException("revoking the OpenPGP key cannot be undone: add --yes", 2);
            }

            using var store = await access.OpenAsync(parse, ct);
            var account = await ContactsCommand.ResolveAccountAsync(store, parse.GetValue(address), ct);
            using var http = new HttpClient(HttpFetch.CreateHandler(null, await LoadRootsAsync(parse.GetValue(ca), store, account, ct))) { Timeout = Timeout.InfiniteTimeSpan };
            var provider = await ConnectAsync(store, account, http, ct);
            var result = await Guard(() => KeyRevocation.RevokeKeyAsync(store, account, provider, ct: ct));
            var output = parse.InvocationConfiguration.Output;
            await output.WriteLineAsync($"Revoked {result.Revoked.Hex.ToUpperInvariant()}; the new key of {account.Address} is {result.Replacement.Hex.ToUpperInvariant()}.");
            await output.WriteLineAsync("Published to the directory (key transparency), WKD and HKP; your other devices get it with the key bundle (version " +
                result.BundleVersion.ToString(System.Globalization.CultureInfo.InvariantCulture) + ").");
            await output.WriteLineAsync("Make a new recovery kit, whose revocation certificate is for the new key: letterlock account recovery-kit --out FILE");
            return 0;
        });
        return command;
    }

    public static Command Delete(ClientStoreAccess access)
    {
        var address = new Argument<string>("address") { Description = "The account to delete." };
        var confirm = new Option<string?>("--confirm") { Description = "The account's address again: deleting cannot be undone." };
        var ca = CaOption();
        var command = new Command("delete",
            "Delete the account at the provider: its mail, documents and keys are erased there, every device is revoked,\n" +
            "the key directory publishes it as revoked, and the address is held back for the provider's quarantine period\n" +
            "(nobody inherits its mail or its correspondents' trust). The account is removed from this client too.\n" +
            "Nothing brings it back, not the password, not the recovery code.\n\n" +
            "Example:\n  letterlock account delete alice@example.org --confirm alice@example.org")
        {
            address, confirm, ca,
        };
        command.SetAction(async (parse, ct) =>
        {
            var normalized = ContactsCommand.Normalize(parse.GetValue(address)!);
            if (!string.Equals(parse.GetValue(confirm)?.Trim(), normalized, StringComparison.OrdinalIgnoreCase))
            {
                throw new CliException($"deleting {normalized} erases its mail and keys at the provider for good: repeat the address with --confirm {normalized}", 2);
            }

            using var store = await access.OpenAsync(parse, ct);
            var account = await store.Accounts.FindAsync(normalized, ct) ?? throw new CliException($"no account {normalized} in this client");
            using var http = new HttpClient(HttpFetch.CreateHandler(null, await LoadRootsAsync(parse.GetValue(ca), store, account, ct))) { Timeout = Timeout.InfiniteTimeSpan };
            var provider = await ConnectAsync(store, account, http, ct);
            await Guard(() => provider.DeleteAccountAsync(normalized, ct));
            await store.Accounts.RemoveAsync(account.Id, ct);
            await parse.InvocationConfiguration.Output.WriteLineAsync($"Deleted {normalized} at the provider and from this client.");
            return 0;
        });
        return command;
    }

    public static Command RecoveryKit(ClientStoreAccess access)
    {
        var address = new Argument<string?>("address") { Description = "The account (needed when the client has several).", Arity = ArgumentArity.ZeroOrOne };
        var output = new Option<string>("--out") { Description = "The file to write (created with mode 0600; an existing file is not overwritten).", Required = true };
        var ca = CaOption();
        var command = new Command("recovery-kit",
            "Make a new recovery code and write it, with the OpenPGP revocation certificate, to a file only you can read.\n" +
            "The new code replaces the previous one at the provider (the old code stops working). Print the file or keep\n" +
            "it offline: it recovers the account, and the certificate revokes its key, when every device is lost.\n\n" +
            "Example:\n  letterlock account recovery-kit alice@example.org --out ~/alice-recovery-kit.txt")
        {
            address, output, ca,
        };
        command.SetAction(async (parse, ct) =>
        {
            string path = Path.GetFullPath(parse.GetValue(output)!);
            if (File.Exists(path))
            {
                throw new CliException($"{path} exists: choose another file (a recovery kit is never overwritten)", 2);
            }

            using var store = await access.OpenAsync(parse, ct);
            var account = await ContactsCommand.ResolveAccountAsync(store, parse.GetValue(address), ct);
            using var http = new HttpClient(HttpFetch.CreateHandler(null, await LoadRootsAsync(parse.GetValue(ca), store, account, ct))) { Timeout = Timeout.InfiniteTimeSpan };
            var provider = await ConnectAsync(store, account, http, ct);
            var revocation = await store.Keys.GetCurrentAsync(account.Id, AccountKeys.OpenPgpRevocation, ct)
                ?? throw new CliException($"{account.Address} has no revocation certificate in this client");
            var code = await Guard(() => AccountRecovery.CreateCodeAsync(store, account, provider, ct));
            var text =
                $"Letterlock recovery kit for {account.Address}\n" +
                $"Provider: {account.ProviderUrl}\n" +
                $"Made: {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC (replaces any earlier recovery code)\n\n" +
                $"Recovery code: {code}\n\n" +
                "If every device and the password are lost, on a new device:\n" +
                $"  letterlock account recover --provider {account.ProviderUrl} --address {account.Address}\n\n" +
                "If the key itself must be revoked (it leaked), publish this revocation certificate (gpg --import, or a keyserver):\n\n" +
                System.Text.Encoding.ASCII.GetString(revocation.Material).TrimEnd() + "\n";
            WritePrivateFile(path, text);
            await parse.InvocationConfiguration.Output.WriteLineAsync($"Wrote the recovery kit for {account.Address} to {path} (mode 0600). The previous recovery code no longer works.");
            return 0;
        });
        return command;
    }

    public static Command Recover(ClientStoreAccess access)
    {
        var provider = new Option<string>("--provider") { Description = "The provider's URL, e.g. https://example.org", Required = true };
        var address = new Option<string>("--address") { Description = "The account's address.", Required = true };
        var codeFile = new Option<string?>("--code-file") { Description = "Read the recovery code from this file (else standard input, or a prompt)." };
        var deviceName = new Option<string>("--device-name") { Description = "A name for this device in the device list.", DefaultValueFactory = _ => Environment.MachineName };
        var revokeOthers = new Option<bool>("--revoke-other-devices") { Description = "Revoke every other device of the account (they are lost or in the wrong hands)." };
        var passwordFile = PasswordFileOption();
        passwordFile.Description = "Read the new account password from this file's first line (else standard input when it is a pipe, else a prompt).";
        var noPassword = new Option<bool>("--no-password") { Description = "Set no new password: the old one is removed and the account becomes device-only." };
        var ca = CaOption();
        var command = new Command("recover",
            "Bring an account back on this device with its recovery code, when every device and the password are lost.\n" +
            "This device joins the account, gets its keys back, and syncs all mail (letterlock bridge). The old password\n" +
            "stops working: you choose a new one (or --no-password). Consider revoking the lost devices\n" +
            "(--revoke-other-devices, or letterlock devices revoke ID later).\n\n" +
            "Examples:\n" +
            "  letterlock account recover --provider https://example.org --address alice@example.org\n" +
            "  letterlock account recover --provider https://example.org --address alice@example.org --code-file kit-code.txt --password-file new-pw.txt --revoke-other-devices")
        {
            provider, address, codeFile, passwordFile, noPassword, deviceName, revokeOthers, ca,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (!Uri.TryCreate(parse.GetValue(provider), UriKind.Absolute, out var providerUrl) || providerUrl.Scheme != Uri.UriSchemeHttps)
            {
                throw new CliException("--provider must be an https:// URL", 2);
            }

            string text = parse.GetValue(codeFile) is { } file
                ? await ReadSecretFileAsync(file, "--code-file", ct)
                : await ReadLineAsync("Recovery code: ", ct);
            var status = RecoveryCode.TryParse(text, out var code);
            if (status != RecoveryCodeStatus.Valid)
            {
                throw new CliException(status switch
                {
                    RecoveryCodeStatus.ChecksumMismatch => "the recovery code has a typo (its check group does not match): compare it with the kit",
                    RecoveryCodeStatus.InvalidCharacter => "the recovery code has a character that is not a letter or digit of the code",
                    _ => $"a recovery code has {RecoveryCode.DataCharacters + RecoveryCode.CheckCharacters} letters and digits (eight groups of four)",
                }, 2);
            }

            if (parse.GetValue(noPassword) && parse.GetValue(passwordFile) is not null)
            {
                throw new CliException("--no-password and --password-file exclude each other", 2);
            }

            string? newPassword = parse.GetValue(noPassword) ? null : await ReadPasswordAsync(parse.GetValue(passwordFile), confirm: true, ct);
            var normalized = ContactsCommand.Normalize(parse.GetValue(address)!);
            using var store = await access.OpenOrCreateAsync(parse, ct);
            using var http = new HttpClient(HttpFetch.CreateHandler(null, await LoadRootsAsync(parse.GetValue(ca), ct))) { Timeout = Timeout.InfiniteTimeSpan };
            var output = parse.InvocationConfiguration.Output;
            AccountRecord account;
            try
            {
                account = await Guard(() => AccountRecovery.RecoverAsync(store, new ProviderClient(http, providerUrl), normalized, code!, newPassword, parse.GetValue(deviceName)!,
                    credentials => new ProviderClient(http, providerUrl, credentials), ct: ct));
            }
            catch (PasswordNotReplacedException e)
            {
                await output.WriteLineAsync($"Recovered {e.Account.Address} on this device (device {e.Account.DeviceId}).");
                throw new CliException(e.Message, 1);
            }

            await RememberCaAsync(parse.GetValue(ca), store, account, ct);
            await output.WriteLineAsync($"Recovered {account.Address} on this device (device {account.DeviceId}).");
            await output.WriteLineAsync(newPassword is null
                ? "The old password no longer works; the account is device-only (letterlock account password sets one)."
                : "The old password no longer works; sign in on other devices with the new one.");
            var connected = await ConnectAsync(store, account, http, ct);
            var devices = await Guard(() => connected.ListDevicesAsync(ct));
            var others = devices.Devices.Where(d => d.RevokedAt is null && d.DeviceId != account.DeviceId).ToList();
            if (parse.GetValue(revokeOthers))
            {
                foreach (var device in others)
                {
                    await Guard(() => connected.RevokeDeviceAsync(device.DeviceId, ct));
                    await output.WriteLineAsync($"Revoked device {device.DeviceId} ({device.Name}).");
                }

                if (others.Count > 0)
                {
                    ulong version = await Guard(() => DeviceRevocation.RotateReceivingKeysAsync(store, account, connected, ct: ct));
                    await output.WriteLineAsync($"New inbox and encryption keys published (key bundle version {version}).");
                }
            }
            else if (others.Count > 0)
            {
                await output.WriteLineAsync($"{others.Count} other device(s) still belong to the account; if they are lost, revoke them:");
                foreach (var device in others)
                {
                    await output.WriteLineAsync($"  letterlock devices revoke {device.DeviceId}   # {device.Name}, last seen {Seen(device.LastSeenAt)}");
                }
            }

            await output.WriteLineAsync("The recovery code stays valid until you make a new one: letterlock account recovery-kit --out FILE");
            await output.WriteLineAsync("Next: letterlock bridge   (syncs all mail and prints the settings for your mail app)");
            return 0;
        });
        return command;
    }

    public static Command Devices()
    {
        var access = new ClientStoreAccess();
        var accountOption = new Option<string?>("--account") { Description = "The account (needed when the client has several).", Recursive = true };
        var ca = CaOption();
        ca.Recursive = true;
        var command = new Command("devices",
            "The devices of an account: every one holds its own device key; the account's keys reach each through the\n" +
            "encrypted key bundle.\n\n" +
            "Examples:\n" +
            "  letterlock devices list\n" +
            "  letterlock devices revoke 3f2c...   # a lost device");
        access.AddTo(command);
        command.Add(accountOption);
        command.Add(ca);

        var json = new Option<bool>("--json") { Description = "Print JSON for scripts." };
        var list = new Command("list", "List the account's devices: name, when added, last seen, and which one is this device.\n\n" +
            "Example:\n  letterlock devices list --json") { json };
        list.SetAction(async (parse, ct) =>
        {
            using var store = await access.OpenAsync(parse, ct);
            var account = await ContactsCommand.ResolveAccountAsync(store, parse.GetValue(accountOption), ct);
            using var http = new HttpClient(HttpFetch.CreateHandler(null, await LoadRootsAsync(parse.GetValue(ca), store, account, ct))) { Timeout = Timeout.InfiniteTimeSpan };
            var provider = await ConnectAsync(store, account, http, ct);
            var devices = await Guard(() => provider.ListDevicesAsync(ct));
            var output = parse.InvocationConfiguration.Output;
            var rows = devices.Devices.Select(d => new DeviceJson(d.DeviceId, d.Name, d.CreatedAt, d.LastSeenAt, d.RevokedAt, d.DeviceId == account.DeviceId)).ToList();
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(rows, AccountAccessJson.Default.ListDeviceJson));
                return 0;
            }

            await output.WriteLineAsync($"Devices of {account.Address}:");
            foreach (var row in rows)
            {
                string state = row.RevokedAt is { } revoked ? $"revoked {revoked:yyyy-MM-dd HH:mm}" : $"last seen {Seen(row.LastSeenAt)}";
                await output.WriteLineAsync($"{(row.ThisDevice ? "*" : " ")} {row.DeviceId}  {row.Name,-24} added {row.CreatedAt:yyyy-MM-dd HH:mm}  {state}{(row.ThisDevice ? "  (this device)" : "")}");
            }

            await output.WriteLineAsync($"Password: {(devices.HasPassword ? "yes" : "no")}   Recovery code: {(devices.HasRecovery ? "yes" : "no (letterlock account recovery-kit)")}");
            return 0;
        });

        var id = new Argument<Guid>("id") { Description = "The device id (letterlock devices list)." };
        var revoke = new Command("revoke",
            "Revoke a device of the account (lost, sold, in the wrong hands): its tokens stop working at once, and the\n" +
            "directory and the transparency log no longer list it.\n\n" +
            "Example:\n  letterlock devices revoke 3f2c0a9e-5b1d-4a7e-9f00-0123456789ab") { id };
        revoke.SetAction(async (parse, ct) =>
        {
            using var store = await access.OpenAsync(parse, ct);
            var account = await ContactsCommand.ResolveAccountAsync(store, parse.GetValue(accountOption), ct);
            var deviceId = parse.GetValue(id);
            if (deviceId == account.DeviceId)
            {
                throw new CliException("that is this device: revoke it from another device, or remove the account here (letterlock account remove)", 2);
            }

            using var http = new HttpClient(HttpFetch.CreateHandler(null, await LoadRootsAsync(parse.GetValue(ca), store, account, ct))) { Timeout = Timeout.InfiniteTimeSpan };
            var provider = await ConnectAsync(store, account, http, ct);
            ulong version = await Guard(() => DeviceRevocation.RevokeAsync(store, account, provider, deviceId, ct: ct));
            await parse.InvocationConfiguration.Output.WriteLineAsync(
                $"Revoked device {deviceId} of {account.Address}; new inbox and encryption keys published (key bundle version {version}): it cannot read mail that arrives from now on.");
            return 0;
        });

        var linkProvider = new Option<string>("--provider") { Description = "The provider's URL, e.g. https://example.org", Required = true };
        var linkName = new Option<string>("--device-name") { Description = "A name for this device in the device list.", DefaultValueFactory = _ => Environment.MachineName };
        var link = new Command("link",
            "Join an account on this new device without its password: prints a short code and a QR code, then waits\n" +
            "while you run 'letterlock devices approve CODE' on a device of the account. Both screens then show the\n" +
            "same six digits; the account's keys arrive only after the other device confirms them (CPace: the provider\n" +
            "relays only ciphertext). Works for accounts made with --no-password.\n\n" +
            "Example:\n  letterlock devices link --provider https://example.org --device-name phone") { linkProvider, linkName };
        link.SetAction(async (parse, ct) =>
        {
            if (!Uri.TryCreate(parse.GetValue(linkProvider), UriKind.Absolute, out var providerUrl) || providerUrl.Scheme != Uri.UriSchemeHttps)
            {
                throw new CliException("--provider must be an https:// URL", 2);
            }

            using var store = await access.OpenOrCreateAsync(parse, ct);
            using var http = new HttpClient(HttpFetch.CreateHandler(null, await LoadRootsAsync(parse.GetValue(ca), ct))) { Timeout = Timeout.InfiniteTimeSpan };
            var output = parse.InvocationConfiguration.Output;
            using var pending = await Guard(() => DeviceLink.StartAsync(new ProviderClient(http, providerUrl), parse.GetValue(linkName)!, ct));
            await output.WriteLineAsync("On a device that already has the account, run:");
            await output.WriteLineAsync();
            await output.WriteLineAsync($"    letterlock devices approve {pending.Code}");
            await output.WriteLineAsync();
            await output.WriteLineAsync("or scan:");
            await output.WriteLineAsync(QrCode(DeviceLink.QrText(providerUrl, pending.Code)));
            await output.WriteLineAsync($"Waiting for the other device (the code expires at {pending.ExpiresAt.ToLocalTime():HH:mm})...");
            var account = await Guard(() => pending.CompleteAsync(store, credentials => new ProviderClient(http, providerUrl, credentials),
                async (sas, token) =>
                {
                    await output.WriteLineAsync();
                    await output.WriteLineAsync($"Check that the other device shows:   {sas}");
                    await output.WriteLineAsync("Waiting for it to confirm...");
                }, ct));
            await RememberCaAsync(parse.GetValue(ca), store, account, ct);
            await output.WriteLineAsync($"Linked: {account.Address} is on this device now (device {account.DeviceId}).");
            await output.WriteLineAsync("Next: letterlock bridge   (syncs all mail and prints the settings for your mail app)");
            return 0;
        });

        var code = new Argument<string>("code") { Description = "The code the new device shows (letterlock devices link)." };
        var sasMatches = new Option<string?>("--sas-matches") { Description = "The six digits the new device shows, for scripts (otherwise you are asked to compare them)." };
        var approve = new Command("approve",
            "Let a new device into the account: type the code it shows (letterlock devices link). Both screens then\n" +
            "show six digits; answer yes only if they are the same. This device registers the new one and sends it\n" +
            "the account's keys, encrypted so that only that device can read them.\n\n" +
            "Examples:\n  letterlock devices approve 7KQ2M-X4D9TP\n  letterlock devices approve 7KQ2M-X4D9TP --sas-matches \"123 456\"") { code, sasMatches };
        approve.SetAction(async (parse, ct) =>
        {
            using var store = await access.OpenAsync(parse, ct);
            var account = await ContactsCommand.ResolveAccountAsync(store, parse.GetValue(accountOption), ct);
            using var http = new HttpClient(HttpFetch.CreateHandler(null, await LoadRootsAsync(parse.GetValue(ca), store, account, ct))) { Timeout = Timeout.InfiniteTimeSpan };
            var provider = await ConnectAsync(store, account, http, ct);
            var output = parse.InvocationConfiguration.Output;
            string? expected = parse.GetValue(sasMatches);
            var device = await Guard(() => DeviceLink.ApproveAsync(store, account, provider, parse.GetValue(code)!, async (sas, token) =>
            {
                await output.WriteLineAsync($"The new device must show:   {sas}");
                if (expected is not null)
                {
                    return string.Equals(Digits(expected), Digits(sas), StringComparison.Ordinal);
                }

                string answer = await ReadLineAsync("Does it show the same six digits? [yes/no] ", token);
                return answer.Equals("yes", StringComparison.OrdinalIgnoreCase) || answer.Equals("y", StringComparison.OrdinalIgnoreCase);
            }, ct));
            await output.WriteLineAsync($"Approved: {device.Name} (device {device.DeviceId}) is now a device of {account.Address}.");
            return 0;
        });

        command.Add(list);
        command.Add(revoke);
        command.Add(link);
        command.Add(approve);
        return command;
    }

    private static string Digits(string text) => new(text.Where(char.IsAsciiDigit).ToArray());

    /// <summary>A QR code drawn with half-block characters (two rows per line), quiet zone included.</summary>
    internal static string QrCode(string text)
    {
        using var generator = new QRCoder.QRCodeGenerator();
        using var data = generator.CreateQrCode(text, QRCoder.QRCodeGenerator.ECCLevel.L);
        return new QRCoder.AsciiQRCode(data).GetGraphicSmall();
    }

    internal static async Task<ProviderClient> ConnectAsync(LocalStore store, AccountRecord account, HttpClient http, CancellationToken ct)
    {
        try
        {
            return await AccountRegistration.ConnectAsync(store, account, http, ct: ct);
        }
        catch (LocalStoreException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>Runs a provider call, turning its failures into CLI messages (no secrets in any of them).</summary>
    internal static async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (ProviderProblemException e)
        {
            throw new CliException($"the provider refused: {e.Message}", e.Status == 429 ? 5 : 1);
        }
        catch (ProviderUnavailableException e)
        {
            throw new CliException(e.Message, 4);
        }
        catch (RecoveryFailedException e)
        {
            throw new CliException(e.Message, 3);
        }
        catch (LoginFailedException e)
        {
            throw new CliException(e.Message, 3);
        }
        catch (KeyBundleException e)
        {
            throw new CliException(e.Message, 6);
        }
        catch (LinkFailedException e)
        {
            throw new CliException(e.Message, 3);
        }
        catch (LocalStoreException e)
        {
            throw new CliException(e.Message);
        }
    }

    internal static async Task Guard(Func<Task> call) => await Guard(async () =>
    {
        await call();
        return true;
    });

    internal static async Task<string> ReadSecretFileAsync(string path, string option, CancellationToken ct)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Length > 4096)
            {
                throw new CliException($"{option}: {path} is larger than 4 KiB", 2);
            }

            return (await File.ReadAllTextAsync(path, ct)).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{option}: cannot read {path}", 2);
        }
    }

    /// <summary>A line from standard input (a pipe), or typed at a prompt on the terminal.</summary>
    internal static async Task<string> ReadLineAsync(string prompt, CancellationToken ct)
    {
        if (!Console.IsInputRedirected)
        {
            await Console.Error.WriteAsync(prompt);
        }

        return (await Console.In.ReadLineAsync(ct))?.Trim() ?? "";
    }

    private static void WritePrivateFile(string path, string text)
    {
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using var stream = new FileStream(path, options);
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write {path}: {e.Message}", 1);
        }
    }

    private static string Seen(DateTimeOffset? at) => at is { } value ? value.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture) : "never";
}

internal sealed record DeviceJson(Guid DeviceId, string Name, DateTimeOffset CreatedAt, DateTimeOffset? LastSeenAt, DateTimeOffset? RevokedAt, bool ThisDevice);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = false)]
[JsonSerializable(typeof(List<DeviceJson>), TypeInfoPropertyName = "ListDeviceJson")]
internal sealed partial class AccountAccessJson : JsonSerializerContext;
