using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Transparency;
using Letterlock.Provider.Transparency;
using Letterlock.Transparency;

namespace Letterlock.Cli.Commands;

/// <summary>
/// <c>letterlock audit --provider URL [--follow]</c>: an independent auditor of a provider's key-transparency
/// log. It replays every epoch from the first into a view of its own (an SQLite file), checking each signature
/// and append-only step, and prints a summary; <c>--follow</c> keeps auditing new epochs.
/// Exit codes: 0 verified, 2 bad arguments, 3 the provider cannot be reached or the view file cannot be used, 4 the
/// provider misbehaved: a record that does not verify, or one it announced and cannot serve (the failing record or the
/// head that announced it is saved beside the view as evidence).
/// </summary>
internal static class AuditCommand
{
    public const int ExitMisbehaviour = 4;
    public const int ExitUnavailable = 3;

    /// <summary>How often an epoch record the provider answers with an HTTP error is asked for before that counts as misbehaviour.</summary>
    private const int EpochAttempts = 3;

    public static Command Create()
    {
        var provider = new Option<string>("--provider") { Description = "The provider's API URL, e.g. https://example.org/.", Required = true };
        var follow = new Option<bool>("--follow") { Description = "Keep auditing each new epoch until Ctrl-C." };
        var state = new Option<string?>("--state") { Description = "The auditor's own view (an SQLite file; default: DATA/audit/HOST.db)." };
        var access = new ClientStoreAccess();
        var signingKey = new Option<string?>("--signing-key") { Description = "The provider's Ed25519 key (base64), obtained out of band; default: trust the one it announces on first contact." };
        var caCert = new Option<string?>("--ca-cert")
        {
            Description = "Trust only the certificates in this PEM file for the provider's TLS (a private CA, or a self-signed server). " +
                "Without it, the trust anchor stored with an account at that provider (account create --ca) is added to the system's roots.",
        };
        var interval = new Option<int?>("--interval") { Description = "Seconds between rounds with --follow (default: the provider's epoch interval)." };
        var command = new Command("audit",
            "Audit a provider's key-transparency log: fetch every epoch from the first, verify each signed head and\n" +
            "that each epoch only appends to the previous one (every changed entry's version grows by exactly one),\n" +
            "keep the verified view in a file of its own, and print a summary. Run it anywhere: it needs no account.\n" +
            "Exit codes: 0 verified, 2 bad arguments, 3 provider or view unavailable, 4 the provider misbehaved.\n\n" +
            "Examples:\n" +
            "  letterlock audit --provider https://example.org/\n" +
            "  letterlock audit --provider https://example.org/ --follow --state /var/lib/audit/example.org.db")
        {
            provider, follow, state, signingKey, caCert, interval,
        };
        access.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var progress = parse.InvocationConfiguration.Error;
            if (!Uri.TryCreate(parse.GetValue(provider), UriKind.Absolute, out var baseUri) || baseUri.Scheme != Uri.UriSchemeHttps)
            {
                throw new CliException("--provider must be an https:// URL such as https://example.org/", 2);
            }

            if (!baseUri.AbsolutePath.EndsWith('/'))
            {
                baseUri = new Uri(baseUri.AbsoluteUri + "/");
            }

            if (parse.GetValue(interval) is int seconds && seconds is < 1 or > 86_400)
            {
                throw new CliException("--interval must be between 1 and 86400 seconds", 2);
            }

            byte[]? pinnedKey = null;
            if (parse.GetValue(signingKey) is { } keyText)
            {
                try
                {
                    pinnedKey = Convert.FromBase64String(keyText);
                }
                catch (FormatException)
                {
                }

                if (pinnedKey is not { Length: 32 })
                {
                    throw new CliException("--signing-key must be a base64 Ed25519 public key (32 bytes)", 2);
                }
            }

            var roots = await AccountAccessCommands.LoadRootsAsync(parse.GetValue(caCert), "--ca-cert", ct);

            bool systemRoots = roots is null;
            roots ??= await StoredAnchorsAsync(access, parse, baseUri, progress, ct);
            string statePath = parse.GetValue(state) ?? Path.Combine(parse.GetValue(access.Data) ?? ClientStoreAccess.DefaultDataDirectory(), "audit", SafeName(baseUri) + ".db");
            using var http = new HttpClient(HttpFetch.CreateHandler(trustedRoots: roots, keepSystemRoots: systemRoots)) { Timeout = Timeout.InfiniteTimeSpan };
            var audit = new ProviderAudit(new TransparencyHttp(http, baseUri), statePath, pinnedKey, progress);
            return await audit.RunAsync(output, parse.GetValue(follow), parse.GetValue(interval), ct);
        });
        return command;
    }

    /// <summary>
    /// The trust anchors stored with the client's accounts at this provider (same host and port), when the client store
    /// exists and opens; the audit needs no account, so a missing or locked store only means none (said on stderr).
    /// </summary>
    private static async Task<X509Certificate2Collection?> StoredAnchorsAsync(ClientStoreAccess access, ParseResult parse, Uri provider, TextWriter progress, CancellationToken ct)
    {
        if (!File.Exists(access.StorePath(parse)))
        {
            return null;
        }

        LocalStore store;
        try
        {
            store = await access.OpenAsync(parse, ct);
        }
        catch (CliException e)
        {
            await progress.WriteLineAsync($"note: no stored trust anchor used ({e.Message}); auditing with the system's roots (or pass --ca-cert)");
            return null;
        }

        using (store)
        {
            var anchors = new X509Certificate2Collection();
            foreach (var account in await store.Accounts.ListAsync(ct))
            {
                if (account.ProviderUrl is { } url && string.Equals(url.Host, provider.Host, StringComparison.OrdinalIgnoreCase) && url.Port == provider.Port
                    && await ProviderTrust.GetAsync(store, account.Id, ct) is { } stored)
                {
                    anchors.AddRange(stored);
                }
            }

            return anchors.Count > 0 ? anchors : null;
        }
    }

    private static string SafeName(Uri uri) =>
        string.Concat($"{uri.Host}{(uri.IsDefaultPort ? "" : "-" + uri.Port.ToString(CultureInfo.InvariantCulture))}".Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '_'));

    /// <summary>One audit run over one provider and one view file.</summary>
    private sealed class ProviderAudit(TransparencyHttp http, string statePath, byte[]? pinnedKey, TextWriter progress)
    {
        private long _verifiedThisRun;
        private long _changesThisRun;

        public async Task<int> RunAsync(TextWriter output, bool follow, int? interval, CancellationToken ct)
        {
            string? folder = Path.GetDirectoryName(Path.GetFullPath(statePath));
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
            }

            SqlTransparencyStore view;
            try
            {
                view = new SqlTransparencyStore(new SqliteTransparencyDatabase(statePath), nodeCacheSize: 500_000);
                await view.InitializeAsync(ct);
            }
            catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot use the audit view {statePath}: {e.Message}", ExitUnavailable);
            }

            await using (view)
            {
                var (providerName, key) = await IdentifyAsync(view, ct);
                var auditor = new TransparencyAuditor(providerName, key, view);
                var verifier = new TransparencyVerifier(providerName, key);
                await progress.WriteLineAsync($"Auditing {providerName} at {http.BaseUri} (signing key {Convert.ToBase64String(key)}), view {statePath}");
                while (true)
                {
                    int? providerInterval;
                    try
                    {
                        providerInterval = await RoundAsync(auditor, verifier, view, ct);
                    }
                    catch (OperationCanceledException) when (ct.IsCancellationRequested)
                    {
                        break;
                    }
                    catch (CliException e) when (follow && e.ExitCode == ExitUnavailable)
                    {
                        // Following: an unreachable provider is retried next round; misbehaviour still ends the run.
                        await progress.WriteLineAsync($"letterlock: {e.Message}; retrying");
                        providerInterval = null;
                    }

                    if (!follow)
                    {
                        break;
                    }

                    await WriteSummaryAsync(output, providerName, view, ct);
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(interval ?? providerInterval ?? 60), ct);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }

                await WriteSummaryAsync(output, providerName, view, CancellationToken.None);
                return 0;
            }
        }

        /// <summary>The provider's name and key: pinned in the view at the first run, compared on every later one.</summary>
        private async Task<(string Provider, byte[] Key)> IdentifyAsync(SqlTransparencyStore view, CancellationToken ct)
        {
            Letterlock.Api.ProviderInfo info;
            try
            {
                info = await http.GetProviderInfoAsync(ct);
            }
            catch (TransparencyFetchException e)
            {
                throw new CliException($"{http.BaseUri} is not a reachable Letterlock provider: {e.Message}", ExitUnavailable);
            }

            string announcedName = info.Domain.ToLowerInvariant();
            byte[]? storedKey = await view.GetMetaAsync("signing-key", ct);
            byte[]? storedName = await view.GetMetaAsync("provider", ct);
            if (storedKey is not null && storedName is not null)
            {
                string name = Encoding.UTF8.GetString(storedName);
                if (name != announcedName || !storedKey.AsSpan().SequenceEqual(info.ProviderSigningKey ?? []))
                {
                    throw new CliException($"{http.BaseUri} now announces {announcedName} with a different signing key than the view {statePath} pinned for {name}; " +
                        "its history cannot be continued with another key", ExitMisbehaviour);
                }

                return (name, storedKey);
            }

            byte[] key = pinnedKey ?? info.ProviderSigningKey ?? [];
            if (key.Length != 32 || (pinnedKey is not null && !pinnedKey.AsSpan().SequenceEqual(info.ProviderSigningKey ?? [])))
            {
                throw new CliException($"{announcedName} announces a signing key other than --signing-key", ExitMisbehaviour);
            }

            await view.SetMetaAsync("provider", Encoding.UTF8.GetBytes(announcedName), ct);
            await view.SetMetaAsync("signing-key", key, ct);
            await view.SetMetaAsync("provider-url", Encoding.UTF8.GetBytes(http.BaseUri.AbsoluteUri), ct);
            return (announcedName, key);
        }

        /// <summary>Audits every epoch up to the provider's newest; returns its announced interval.</summary>
        private async Task<int?> RoundAsync(TransparencyAuditor auditor, TransparencyVerifier verifier, SqlTransparencyStore view, CancellationToken ct)
        {
            SignedTreeHead latest;
            int providerInterval;
            try
            {
                (latest, providerInterval) = await http.GetLatestHeadAsync(ct);
            }
            catch (TransparencyFetchException e) when (e.HttpStatus == 503)
            {
                await progress.WriteLineAsync("The provider has not published its first epoch yet.");
                return null;
            }
            catch (TransparencyFetchException e)
            {
                throw new CliException($"cannot fetch the newest head: {e.Message}", ExitUnavailable);
            }

            if (verifier.VerifyHead(latest) != TransparencyFailure.None)
            {
                await SaveEvidenceAsync($"head-{latest.Epoch}", latest.ToBytes());
                throw new CliException($"the provider's newest head (epoch {latest.Epoch}) is not validly signed by its key", ExitMisbehaviour);
            }

            var held = await auditor.GetLatestHeadAsync(ct);
            if (held is not null && latest.Epoch < held.Epoch)
            {
                await SaveEvidenceAsync($"head-{latest.Epoch}", latest.ToBytes());
                throw new CliException($"the provider's newest head is epoch {latest.Epoch}, but this view already verified epoch {held.Epoch}: it went back in time", ExitMisbehaviour);
            }

            long first = held is null ? 0 : held.Epoch + 1;
            var clock = Stopwatch.StartNew();
            for (long epoch = first; epoch <= latest.Epoch; epoch++)
            {
                var record = await FetchEpochAsync(epoch, latest, ct);
                if (record is null)
                {
                    string evidence = await SaveEvidenceAsync($"head-{latest.Epoch}", latest.ToBytes());
                    throw new CliException($"the provider announced epoch {latest.Epoch} but has no record of epoch {epoch}. Evidence: {evidence}", ExitMisbehaviour);
                }

                var result = await auditor.ApplyAsync(record, ct);
                if (!result.IsValid)
                {
                    string evidence = await SaveEvidenceAsync($"epoch-{epoch}", record.ToBytes());
                    throw new CliException($"epoch {epoch} does not verify ({result.Failure}): {result.Detail} Evidence: {evidence}", ExitMisbehaviour);
                }

                _verifiedThisRun++;
                _changesThisRun += record.Changes.Count;
                if (clock.ElapsedMilliseconds >= 1000 || epoch == latest.Epoch)
                {
                    long total = latest.Epoch - first + 1;
                    await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"verified epoch {epoch} of {latest.Epoch} ({100.0 * (epoch - first + 1) / total:0}%, {_changesThisRun} changed entries this run)"));
                    clock.Restart();
                }
            }

            // The newest head as served must be the one the replayed epoch record carried.
            var replayed = await view.GetHeadAsync(latest.Epoch, ct);
            if (replayed is not null && verifier.Relate(replayed, latest) == HeadRelation.Equivocation)
            {
                await SaveEvidenceAsync($"head-{latest.Epoch}-served", latest.ToBytes());
                await SaveEvidenceAsync($"head-{latest.Epoch}-replayed", replayed.ToBytes());
                throw new CliException($"the provider serves two different signed heads for epoch {latest.Epoch}", ExitMisbehaviour);
            }

            return providerInterval;
        }

        /// <summary>
        /// One epoch's record. A provider that signed a head for epoch L must serve every epoch up to L: an HTTP error for
        /// one of them (a stored epoch it cannot read, "500") is retried <see cref="EpochAttempts"/> times and then is
        /// misbehaviour (exit 4), not unavailability; only a provider that cannot be reached at all (no HTTP answer) is
        /// unavailable (exit 3).
        /// </summary>
        private async Task<EpochAudit?> FetchEpochAsync(long epoch, SignedTreeHead latest, CancellationToken ct)
        {
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    return await http.GetEpochAuditAsync(epoch, ct);
                }
                catch (TransparencyFetchException e) when (e.Message.StartsWith("malformed", StringComparison.Ordinal))
                {
                    throw new CliException($"cannot use epoch {epoch}: {e.Message}", ExitMisbehaviour);
                }
                catch (TransparencyFetchException e) when (e.HttpStatus is null)
                {
                    throw new CliException($"cannot fetch epoch {epoch}: {e.Message}", ExitUnavailable);
                }
                catch (TransparencyFetchException e) when (attempt < EpochAttempts)
                {
                    await progress.WriteLineAsync($"epoch {epoch}: {e.Message}; trying again");
                    await Task.Delay(TimeSpan.FromSeconds(attempt), ct);
                }
                catch (TransparencyFetchException e)
                {
                    string evidence = await SaveEvidenceAsync($"head-{latest.Epoch}", latest.ToBytes());
                    throw new CliException($"the provider signed epoch {latest.Epoch} but cannot serve its own epoch {epoch} ({e.Message}, {EpochAttempts} attempts): " +
                        $"a provider that cannot show its history is misbehaving. Evidence: {evidence}", ExitMisbehaviour);
                }
            }
        }

        private async Task WriteSummaryAsync(TextWriter output, string provider, SqlTransparencyStore view, CancellationToken ct)
        {
            var latest = await view.GetLatestHeadAsync(ct);
            var (epochs, _, _, changes) = await view.CountAsync(ct);
            await output.WriteLineAsync($"Provider:        {provider} ({http.BaseUri})");
            if (latest is null)
            {
                await output.WriteLineAsync("Verified epochs: none yet");
                return;
            }

            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Verified epochs: 0..{latest.Epoch} ({epochs} epochs, {_verifiedThisRun} in this run)"));
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Newest epoch:    {latest.Epoch} at {DateTimeOffset.FromUnixTimeMilliseconds(latest.TimestampMs):yyyy-MM-dd HH:mm:ss} UTC"));
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Entry changes:   {changes} in all, every one a version one above the previous"));
            await output.WriteLineAsync($"Log root:        {latest.LogRoot}");
            await output.WriteLineAsync($"Prefix root:     {latest.PrefixRoot}");
            await output.WriteLineAsync("Result:          consistent (append-only, validly signed)");
            await output.FlushAsync(ct);
        }

        private async Task<string> SaveEvidenceAsync(string name, byte[] bytes)
        {
            string path = $"{statePath}.evidence-{name}.bin";
            await File.WriteAllBytesAsync(path, bytes);
            return path;
        }
    }
}
