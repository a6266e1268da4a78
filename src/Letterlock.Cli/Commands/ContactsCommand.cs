using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Letterlock.Client;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;

namespace Letterlock.Cli.Commands;

/// <summary><c>letterlock contacts show|accept-key|verify</c>: see and decide about contact keys.</summary>
internal static class ContactsCommand
{
    public static Command Create()
    {
        var access = new ClientStoreAccess();
        var accountOption = new Option<string?>("--account")
        {
            Description = "The account whose contacts to use (needed when the client has several).",
            Recursive = true,
        };
        var command = new Command("contacts",
            "Contact keys and how far they are trusted: verified, transparent, tofu, changed or none.\n" +
            "A changed key is not used for automatic encryption until you accept a key or verify a fingerprint.\n\n" +
            "Examples:\n" +
            "  letterlock contacts show\n" +
            "  letterlock contacts show bob@beta.test --json\n" +
            "  letterlock contacts accept-key bob@beta.test 'B0B0 ... 40 hex digits'\n" +
            "  letterlock contacts verify bob@beta.test B0B0B0B0...");
        access.AddTo(command);
        command.Add(accountOption);

        var address = new Argument<string?>("address") { Description = "A contact's address (all contacts when left out).", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Print JSON for scripts." };
        var show = new Command("show",
            "Show contacts with their key validation level, or one contact with its keys and history.\n\n" +
            "Examples:\n  letterlock contacts show\n  letterlock contacts show bob@beta.test --json") { address, json };
        show.SetAction(async (parse, ct) =>
        {
            using var store = await access.OpenAsync(parse, ct);
            var account = await ResolveAccountAsync(store, parse.GetValue(accountOption), ct);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(address) is { } one)
            {
                var contact = await store.Contacts.GetAsync(account.Id, Normalize(one), ct)
                    ?? throw new CliException($"{one} is not a contact of {account.Address}");
                var history = await store.Contacts.HistoryAsync(account.Id, contact.Address, ct);
                if (parse.GetValue(json))
                {
                    await output.WriteLineAsync(JsonSerializer.Serialize(ToJson(contact, history), CliJson.Default.ContactJson));
                    return 0;
                }

                await WriteContactAsync(output, contact, history);
                return 0;
            }

            var contacts = await store.Contacts.ListAsync(account.Id, ct);
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(contacts.Select(c => ToJson(c, null)).ToList(), CliJson.Default.ListContactJson));
                return 0;
            }

            if (contacts.Count == 0)
            {
                await output.WriteLineAsync($"{account.Address} has no contacts yet.");
                return 0;
            }

            foreach (var contact in contacts)
            {
                await output.WriteLineAsync($"{contact.Address,-40} {Level(contact.KeyState.Level),-12} {Fp(contact.KeyState.Pinned?.Fingerprint)}");
            }

            return 0;
        });

        var decideAddress = new Argument<string>("address") { Description = "The contact's address." };
        var fingerprint = new Argument<string>("fingerprint") { Description = "The key's fingerprint (40 or 64 hex digits; spaces allowed)." };
        var accept = new Command("accept-key",
            "Accept a key for a contact: the new key after a change, or the old one if the change was not genuine.\n" +
            "The key becomes 'tofu'; compare fingerprints with the contact and use 'verify' to make it 'verified'.\n\n" +
            "Example:\n  letterlock contacts accept-key bob@beta.test '0B0B 1C1C ... (40 hex digits)'") { decideAddress, fingerprint };
        accept.SetAction((parse, ct) => DecideAsync(parse, access, accountOption, decideAddress, fingerprint, verify: false, ct));

        var verifyAddress = new Argument<string>("address") { Description = "The contact's address." };
        var verifyFingerprint = new Argument<string>("fingerprint") { Description = "The fingerprint you confirmed with the contact." };
        var verify = new Command("verify",
            "Mark a contact's key as verified after comparing its fingerprint with the contact (in person, by phone, QR code).\n" +
            "The fingerprint must match a key already seen for the address.\n\n" +
            "Example:\n  letterlock contacts verify bob@beta.test 0B0B1C1C...") { verifyAddress, verifyFingerprint };
        verify.SetAction((parse, ct) => DecideAsync(parse, access, accountOption, verifyAddress, verifyFingerprint, verify: true, ct));

        command.Add(show);
        command.Add(accept);
        command.Add(verify);
        return command;
    }

    internal static async Task<AccountRecord> ResolveAccountAsync(LocalStore store, string? address, CancellationToken ct)
    {
        if (address is not null)
        {
            return await store.Accounts.FindAsync(Normalize(address), ct) ?? throw new CliException($"no account {address} in this client");
        }

        var accounts = await store.Accounts.ListAsync(ct);
        return accounts.Count switch
        {
            0 => throw new CliException("this client has no account yet (letterlock account create)"),
            1 => accounts[0],
            _ => throw new CliException("this client has several accounts: choose one with --account ADDRESS (" +
                string.Join(", ", accounts.Select(a => a.Address)) + ")"),
        };
    }

    internal static string Normalize(string address) =>
        MailAddress.TryNormalize(address) ?? throw new CliException($"'{address}' is not a mail address");

    private static async Task<int> DecideAsync(ParseResult parse, ClientStoreAccess access, Option<string?> accountOption,
        Argument<string> addressArgument, Argument<string> fingerprintArgument, bool verify, CancellationToken ct)
    {
        var address = Normalize(parse.GetValue(addressArgument)!);
        if (!KeyFingerprint.TryParse(parse.GetValue(fingerprintArgument), out var fingerprint))
        {
            throw new CliException("a fingerprint is 40 (v4) or 64 (v6) hexadecimal digits, spaces and colons allowed", 2);
        }

        using var store = await access.OpenAsync(parse, ct);
        var account = await ResolveAccountAsync(store, parse.GetValue(accountOption), ct);
        if (await store.Contacts.GetAsync(account.Id, address, ct) is null)
        {
            throw new CliException($"{address} is not a contact of {account.Address}");
        }

        var result = verify
            ? await store.Contacts.VerifyKeyAsync(account.Id, address, fingerprint, ct)
            : await store.Contacts.AcceptKeyAsync(account.Id, address, fingerprint, ct);
        switch (result.Status)
        {
            case KeyDecisionStatus.UnknownFingerprint:
                throw new CliException($"{fingerprint.ToDisplayString()} is not a key seen for {address}; " +
                    $"see 'letterlock contacts show {address}'");
            case KeyDecisionStatus.NothingToAccept:
                throw new CliException($"no key is known for {address}");
        }

        await parse.InvocationConfiguration.Output.WriteLineAsync(
            $"{address}: {Level(result.State.Level)}, key {result.State.Pinned!.Fingerprint.ToDisplayString()}");
        return 0;
    }

    private static async Task WriteContactAsync(TextWriter output, ContactRecord contact, IReadOnlyList<KeyTransition> history)
    {
        var state = contact.KeyState;
        await output.WriteLineAsync($"Contact:     {contact.Address}");
        await output.WriteLineAsync($"Validation:  {Level(state.Level)}{(state.CanEncryptAutomatically ? "" : " (no automatic encryption)")}");
        if (state.Pinned is { } pinned)
        {
            await output.WriteLineAsync($"Key:         {pinned.Fingerprint.ToDisplayString()}  (from {pinned.Origin}, since {pinned.Since:yyyy-MM-dd})");
        }

        if (state.Candidate is { } candidate)
        {
            await output.WriteLineAsync($"Changed to:  {candidate.Fingerprint.ToDisplayString()}  (from {candidate.Origin}, seen {candidate.Since:yyyy-MM-dd})");
            await output.WriteLineAsync($"             Ask {contact.Address} which key is theirs, then:");
            await output.WriteLineAsync($"             letterlock contacts accept-key {contact.Address} {candidate.Fingerprint.Hex}");
        }

        if (history.Count > 0)
        {
            await output.WriteLineAsync("History:");
            foreach (var t in history)
            {
                await output.WriteLineAsync($"  {t.At:yyyy-MM-dd HH:mm} {Level(t.From)} -> {Level(t.To)}  {t.Reason}  {Fp(t.NewKey)}");
            }
        }
    }

    private static string Level(KeyValidationLevel level) => level.ToString().ToLowerInvariant();

    private static string Fp(KeyFingerprint? fingerprint) => fingerprint?.ToDisplayString() ?? "-";

    private static ContactJson ToJson(ContactRecord contact, IReadOnlyList<KeyTransition>? history) => new(
        contact.Address,
        Level(contact.KeyState.Level),
        contact.KeyState.CanEncryptAutomatically,
        contact.KeyState.Pinned?.Fingerprint.Hex,
        contact.KeyState.Pinned?.Origin.ToString(),
        contact.KeyState.Candidate?.Fingerprint.Hex,
        history?.Select(t => new TransitionJson(t.At, Level(t.From), Level(t.To), t.Reason.ToString(), t.OldKey?.Hex, t.NewKey?.Hex, t.RequiresNotice)).ToList());
}

internal sealed record ContactJson(string Address, string Level, bool EncryptAutomatically, string? Fingerprint, string? Origin,
    string? PendingFingerprint, IReadOnlyList<TransitionJson>? History);

internal sealed record TransitionJson(DateTimeOffset At, string From, string To, string Reason, string? OldFingerprint, string? NewFingerprint, bool RequiresNotice);

internal sealed record AccountJson(string Address, string? DisplayName, string? Provider, string Policy, DateTimeOffset Created,
    IReadOnlyList<FolderJson>? Folders, IReadOnlyList<KeyJson>? Keys);

internal sealed record FolderJson(string Name, string? Role, int Messages);

internal sealed record KeyJson(string Purpose, DateTimeOffset Created);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ContactJson))]
[JsonSerializable(typeof(List<ContactJson>))]
[JsonSerializable(typeof(AccountJson))]
[JsonSerializable(typeof(List<AccountJson>))]
internal sealed partial class CliJson : JsonSerializerContext;
