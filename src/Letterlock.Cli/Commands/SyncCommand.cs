using System.CommandLine;
using Letterlock.Client.Net;
using Letterlock.Client.Sync;

namespace Letterlock.Cli.Commands;

/// <summary><c>letterlock sync</c>: syncs this client's accounts with their providers once, without running the bridge.</summary>
internal static class SyncCommand
{
    public static Command Create()
    {
        var access = new ClientStoreAccess();
        var address = new Argument<string?>("address") { Description = "The account to sync (every account when left out).", Arity = ArgumentArity.ZeroOrOne };
        var ca = new Option<string?>("--ca") { Description = "Trust this CA certificate (PEM) for the provider instead of the system's (default: the one kept with the account at account create --ca)." };
        var command = new Command("sync",
            "Sync the accounts of this client with their providers once: new mail is fetched, decrypted, stored and\n" +
            "converted into the account's own documents; changes made here are pushed. Safe to interrupt at any\n" +
            "moment (Ctrl-C, a crash, a lost connection): the next sync finishes the work, each message exactly once.\n" +
            "Progress goes to stderr, a summary per account to stdout.\n\n" +
            "Examples:\n" +
            "  letterlock sync\n" +
            "  letterlock sync alice@example.org --key-file store.key")
        {
            address, ca,
        };
        access.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            // A --ca that cannot be read is a usage error, found before anything else happens.
            var explicitRoots = await AccountAccessCommands.LoadRootsAsync(parse.GetValue(ca), ct);
            using var store = await access.OpenAsync(parse, ct);
            var accounts = parse.GetValue(address) is { } one
                ? [await ContactsCommand.ResolveAccountAsync(store, one, ct)]
                : (await store.Accounts.ListAsync(ct)).Where(a => a.DeviceId is not null).ToList();
            if (accounts.Count == 0)
            {
                throw new CliException("no account of this client is registered with a provider (letterlock account create)");
            }

            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            int failed = 0;
            foreach (var account in accounts)
            {
                try
                {
                    await error.WriteLineAsync($"{account.Address}: syncing with {account.ProviderUrl}");
                    using var http = new HttpClient(HttpFetch.CreateHandler(null, explicitRoots ?? await ProviderTrust.GetAsync(store, account.Id, ct)))
                    {
                        Timeout = Timeout.InfiniteTimeSpan,
                    };
                    var provider = await AccountRegistration.ConnectAsync(store, account, http, ct: ct);
                    int lastShown = 0;
                    var progress = new SyncProgressLines(p =>
                    {
                        // A line per hundred changes: enough to see it move, little enough for a log.
                        if (p.Applied - lastShown >= 100)
                        {
                            lastShown = p.Applied;
                            error.WriteLine($"{account.Address}: {p.Applied} changes applied{(p.MoreWaiting ? ", more waiting" : "")}");
                        }
                    });
                    var report = await new SyncEngine(store, account, provider).SyncAsync(progress, ct);
                    await output.WriteLineAsync($"{account.Address}: {report.Received} received, {report.Pushed} pushed, {report.Deleted} deleted, {report.Errors.Count} not applied");
                    foreach (var problem in report.Errors)
                    {
                        await output.WriteLineAsync($"  not applied: {problem.Kind} document {problem.DocumentId}: {problem.Reason}");
                    }
                }
                catch (ProviderUnavailableException e)
                {
                    await error.WriteLineAsync($"letterlock: {account.Address}: the provider cannot be reached: {e.Message}");
                    failed = 4;
                }
                catch (ProviderProblemException e)
                {
                    await error.WriteLineAsync($"letterlock: {account.Address}: the provider refused: {e.Message}");
                    failed = failed == 0 ? 1 : failed;
                }
            }

            return failed;
        });
        return command;
    }

    /// <summary>Reports progress synchronously on the syncing thread (<see cref="Progress{T}"/> would post to the thread pool and reorder lines).</summary>
    private sealed class SyncProgressLines(Action<SyncProgress> report) : IProgress<SyncProgress>
    {
        public void Report(SyncProgress value) => report(value);
    }
}
