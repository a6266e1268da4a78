using System.CommandLine;
using System.Globalization;
using Letterlock.Client.Net;
using Letterlock.Client.Transparency;
using Letterlock.Transparency;

namespace Letterlock.Cli.Commands;

/// <summary>
/// <c>letterlock transparency check|status|accept|acknowledge</c>: the client's key-transparency monitor of its
/// own addresses, its alerts and the evidence it keeps. <c>check</c> exits with 4 while an alert is unacknowledged.
/// </summary>
internal static class TransparencyCommand
{
    public const int ExitAlert = 4;

    public static Command Create()
    {
        var access = new ClientStoreAccess();
        var command = new Command("transparency",
            "Key transparency on this client: check that your provider publishes only the keys you made, and see\n" +
            "alerts and the evidence kept when a provider showed conflicting directories.\n\n" +
            "Examples:\n" +
            "  letterlock transparency check\n" +
            "  letterlock transparency status --evidence ./kt-evidence\n" +
            "  letterlock transparency accept 3f2a...");
        access.AddTo(command);
        command.Add(Check(access));
        command.Add(Status(access));
        command.Add(Accept(access));
        command.Add(Acknowledge(access));
        return command;
    }

    private static Option<string?> CaCertOption() => new("--ca-cert")
    {
        Description = "Trust only the certificates in this PEM file for providers' TLS (a private CA, e.g. the sandbox's).",
    };

    private static Command Check(ClientStoreAccess access)
    {
        var caCert = CaCertOption();
        var command = new Command("check",
            "Monitor every account's own directory entry now: verify the provider's proofs for every epoch since the last\n" +
            "check and alert on any key set this client did not make. Exit code 4 while an alert is unacknowledged.\n\n" +
            "Example:\n  letterlock transparency check")
        {
            caCert,
        };
        command.SetAction(async (parse, ct) =>
        {
            using var store = await access.OpenAsync(parse, ct);

            // Without --ca-cert, the accounts' stored provider trust anchors (account create --ca) are added to the system's roots.
            var explicitRoots = await AccountAccessCommands.LoadRootsAsync(parse.GetValue(caCert), "--ca-cert", ct);
            var roots = explicitRoots ?? await ProviderTrust.GetAllAsync(store, ct);
            using var http = new HttpClient(HttpFetch.CreateHandler(trustedRoots: roots, keepSystemRoots: explicitRoots is null)) { Timeout = Timeout.InfiniteTimeSpan };
            var service = new TransparencyService(store, http);
            var output = parse.InvocationConfiguration.Output;
            var reports = await new TransparencyWatch(store, service).CheckAllAsync(ct);
            if (reports.Count == 0)
            {
                await output.WriteLineAsync("No account with a provider to monitor.");
            }

            foreach (var report in reports)
            {
                string state = report.Error is { } error ? $"not checked: {error}"
                    : string.Create(CultureInfo.InvariantCulture, $"checked up to epoch {report.Epoch}");
                await output.WriteLineAsync($"{report.Address}: {state}");
            }

            var open = (await service.State.GetAlertsAsync(ct)).Where(a => !a.Acknowledged).ToList();
            foreach (var alert in open)
            {
                await output.WriteLineAsync($"ALERT {alert.Id}: {alert.Detail}");
            }

            if (open.Count > 0)
            {
                throw new CliException($"{open.Count} key-transparency alert(s): see 'letterlock transparency status'", ExitAlert);
            }

            return reports.Any(r => r.Error is not null) ? 3 : 0;
        });
        return command;
    }

    private static Command Status(ClientStoreAccess access)
    {
        var evidence = new Option<string?>("--evidence")
        {
            Description = "Write every piece of evidence kept (conflicting signed heads with the failed proof; keys and proofs a directory served) into this folder, named by evidence id.",
        };
        var command = new Command("status",
            "Show the alerts and the evidence of provider misbehaviour this client keeps.\n\n" +
            "Example:\n  letterlock transparency status --evidence ./kt-evidence")
        {
            evidence,
        };
        command.SetAction(async (parse, ct) =>
        {
            using var store = await access.OpenAsync(parse, ct);
            var state = new TransparencyState(store);
            var output = parse.InvocationConfiguration.Output;
            var alerts = await state.GetAlertsAsync(ct);
            var conflicts = await state.GetConflictsAsync(ct);
            await output.WriteLineAsync(alerts.Count == 0 ? "No alerts." : $"{alerts.Count} alert(s):");
            foreach (var alert in alerts)
            {
                await output.WriteLineAsync($"  {alert.Id} {alert.DetectedAt:yyyy-MM-dd HH:mm} {(alert.Acknowledged ? "acknowledged" : "OPEN"),-12} {alert.Kind}: {alert.Detail}" +
                    (alert.EvidenceId is { } evidenceId ? $" (evidence {evidenceId})" : ""));
            }

            await output.WriteLineAsync(conflicts.Count == 0 ? "No conflicting heads kept." : $"{conflicts.Count} conflict(s) kept as evidence:");
            int n = 0;
            foreach (var conflict in conflicts)
            {
                n++;
                var first = SignedTreeHead.FromBytes(conflict.First);
                var second = SignedTreeHead.FromBytes(conflict.Second);
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"  {n}. {(conflict.Id is { } id ? id + " " : "")}{conflict.Provider} {conflict.Kind}: epoch {first.Epoch} vs epoch {second.Epoch} ({conflict.Source}, {conflict.DetectedAt:yyyy-MM-dd HH:mm})"));
                if (parse.GetValue(evidence) is { } folder)
                {
                    // Named by the evidence id that alerts and notices quote (conflicts kept by earlier releases by number).
                    string prefix = conflict.Id is { } id2 ? id2.ToString() : string.Create(CultureInfo.InvariantCulture, $"conflict-{n}");
                    Directory.CreateDirectory(folder);
                    await File.WriteAllBytesAsync(Path.Combine(folder, $"{prefix}-first.head"), conflict.First, ct);
                    await File.WriteAllBytesAsync(Path.Combine(folder, $"{prefix}-second.head"), conflict.Second, ct);
                    if (conflict.ConsistencyProof is { } proof)
                    {
                        await File.WriteAllBytesAsync(Path.Combine(folder, $"{prefix}-consistency.proof"), proof, ct);
                    }
                }
            }

            var kept = await state.GetEvidenceAsync(ct);
            if (kept.Count > 0)
            {
                await output.WriteLineAsync($"{kept.Count} other piece(s) of evidence kept:");
            }

            foreach (var item in kept)
            {
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"  {item.Id} {item.Provider} {item.Kind}: {string.Join(", ", item.Items.Select(i => i.Name))} ({item.Source}, {item.DetectedAt:yyyy-MM-dd HH:mm})"));
                if (parse.GetValue(evidence) is { } folder)
                {
                    Directory.CreateDirectory(folder);
                    foreach (var file in item.Items)
                    {
                        await File.WriteAllBytesAsync(Path.Combine(folder, $"{item.Id}-{Path.GetFileName(file.Name)}"), file.Content, ct);
                    }
                }
            }

            return alerts.Any(a => !a.Acknowledged) ? ExitAlert : 0;
        });
        return command;
    }

    private static Command Accept(ClientStoreAccess access)
    {
        var id = new Argument<string>("alert") { Description = "The id of an unexpected-key-change alert (from 'status')." };
        var command = new Command("accept",
            "Accept a key set an alert reported because you made that change yourself (e.g. added a device from\n" +
            "another computer): its devices become known and the alert is acknowledged.\n\n" +
            "Example:\n  letterlock transparency accept 3f2a6c1e-...")
        {
            id,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (!Guid.TryParse(parse.GetValue(id), out var alertId))
            {
                throw new CliException("the alert id is a UUID as 'letterlock transparency status' shows it", 2);
            }

            using var store = await access.OpenAsync(parse, ct);
            using var http = new HttpClient();
            if (!await new TransparencyService(store, http).AcceptAsync(alertId, ct))
            {
                throw new CliException($"no unexpected-key-change alert {alertId}");
            }

            await parse.InvocationConfiguration.Output.WriteLineAsync($"Accepted the key set of alert {alertId}.");
            return 0;
        });
        return command;
    }

    private static Command Acknowledge(ClientStoreAccess access)
    {
        var id = new Argument<string?>("alert") { Description = "The alert id (omit with --all).", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Acknowledge every alert." };
        var command = new Command("acknowledge",
            "Mark alerts as seen (the evidence is kept).\n\n" +
            "Examples:\n  letterlock transparency acknowledge 3f2a6c1e-...\n  letterlock transparency acknowledge --all")
        {
            id, all,
        };
        command.SetAction(async (parse, ct) =>
        {
            Guid? alertId = null;
            if (!parse.GetValue(all))
            {
                if (!Guid.TryParse(parse.GetValue(id), out var parsed))
                {
                    throw new CliException("name an alert id, or pass --all", 2);
                }

                alertId = parsed;
            }

            using var store = await access.OpenAsync(parse, ct);
            int changed = await new TransparencyState(store).AcknowledgeAlertsAsync(alertId, ct);
            await parse.InvocationConfiguration.Output.WriteLineAsync($"Acknowledged {changed} alert(s).");
            return 0;
        });
        return command;
    }
}
