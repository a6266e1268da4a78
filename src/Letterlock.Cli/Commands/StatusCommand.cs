using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Letterlock.Bridge;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;

namespace Letterlock.Cli.Commands;

/// <summary>
/// <c>letterlock status</c>: each account's state as the bridge last saw it. The running bridge keeps its view in the
/// store (<see cref="BridgeStatus"/>) and the store is shared between processes, so this works while it runs; the
/// device list is asked of the provider (with the account's stored trust anchor) unless <c>--offline</c>.
/// </summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var access = new ClientStoreAccess();
        var offline = new Option<bool>("--offline") { Description = "Do not ask the providers for the device lists." };
        var json = new Option<bool>("--json") { Description = "Print JSON for scripts." };
        var command = new Command("status",
            "Show each account's state: whether a bridge is running on this store, online or offline, last sync,\n" +
            "mail waiting to be sent, the last error, and the account's devices (asked of the provider). Works while\n" +
            "the bridge runs.\n\n" +
            "Examples:\n" +
            "  letterlock status\n" +
            "  letterlock status --offline --json")
        {
            offline, json,
        };
        access.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var running = BridgeLock.IsHeld(access.StorePath(parse));
            using var store = await access.OpenAsync(parse, ct);
            var jobs = await store.Jobs.ListAsync(QueuedMail.JobKind, ct);
            var rows = new List<AccountStatusJson>();
            foreach (var account in await store.Accounts.ListAsync(ct))
            {
                var status = await BridgeStatus.LoadAsync(store, account.Id, ct);
                var queued = jobs.Count(j => j.Account == account.Id && j.State != JobState.Failed);
                var failed = jobs.Count(j => j.Account == account.Id && j.State == JobState.Failed);
                List<string>? devices = null;
                string? devicesError = null;
                if (!parse.GetValue(offline) && account.DeviceId is not null)
                {
                    try
                    {
                        using var http = new HttpClient(HttpFetch.CreateHandler(null, await ProviderTrust.GetAsync(store, account.Id, ct), TimeSpan.FromSeconds(10)))
                        {
                            Timeout = TimeSpan.FromSeconds(30),
                        };
                        var list = await (await AccountRegistration.ConnectAsync(store, account, http, ct: ct)).ListDevicesAsync(ct);
                        devices = [.. list.Devices.Where(d => d.RevokedAt is null)
                            .Select(d => d.Name + (d.DeviceId == account.DeviceId ? " (this device)" : "") +
                                (d.LastSeenAt is { } seen ? ", last seen " + seen.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : ""))];
                    }
                    catch (Exception e) when (e is ProviderProblemException or ProviderUnavailableException or HttpRequestException or TaskCanceledException or LocalStoreException)
                    {
                        devicesError = e is TaskCanceledException ? "the provider did not answer in time" : e.Message;
                    }
                }

                string state = account.DeviceId is null ? "local only (no provider)"
                    : status is null ? "never synced by a bridge"
                    : !running ? "bridge not running"
                    : status.Online ? "online" : "offline";
                rows.Add(new AccountStatusJson(account.Address, account.ProviderUrl?.ToString(), state, status?.LastSync, queued, failed, status?.LastError, status?.LastErrorAt,
                    devices, devicesError));
            }

            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(new StatusJson(running, rows), StatusJsonContext.Default.StatusJson));
                return 0;
            }

            await output.WriteLineAsync(running ? "Bridge: running on this store" : "Bridge: not running (letterlock bridge)");
            if (rows.Count == 0)
            {
                await output.WriteLineAsync("No accounts yet (letterlock account create).");
            }

            foreach (var row in rows)
            {
                await output.WriteLineAsync();
                await output.WriteLineAsync($"{row.Address}  {row.State}");
                await output.WriteLineAsync($"  Provider    {row.Provider ?? "-"}");
                await output.WriteLineAsync($"  Last sync   {When(row.LastSync)}");
                await output.WriteLineAsync($"  Outbox      {row.Queued} waiting to be sent{(row.Failed > 0 ? $", {row.Failed} not delivered" : "")}");
                await output.WriteLineAsync($"  Last error  {(row.LastError is null ? "none" : $"{row.LastError} ({When(row.LastErrorAt)})")}");
                if (row.Devices is { } list)
                {
                    await output.WriteLineAsync($"  Devices     {list.Count}");
                    foreach (var device in list)
                    {
                        await output.WriteLineAsync($"    {device}");
                    }
                }
                else if (row.DevicesError is { } problem)
                {
                    await output.WriteLineAsync($"  Devices     unknown ({problem})");
                }
            }

            return 0;
        });
        return command;
    }

    private static string When(DateTimeOffset? at) =>
        at is { } t ? t.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "never";
}

/// <summary>One account in <c>letterlock status --json</c>.</summary>
internal sealed record AccountStatusJson(string Address, string? Provider, string State, DateTimeOffset? LastSync, int Queued, int Failed, string? LastError,
    DateTimeOffset? LastErrorAt, List<string>? Devices, string? DevicesError);

/// <summary><c>letterlock status --json</c>.</summary>
internal sealed record StatusJson(bool BridgeRunning, List<AccountStatusJson> Accounts);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StatusJson))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
