using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Letterlock.Client.Store;

namespace Letterlock.Client.Transparency;

/// <summary>What kind of problem a transparency alert reports.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TransparencyAlertKind>))]
public enum TransparencyAlertKind
{
    /// <summary>The provider published a key set for one of this client's addresses that this client did not make.</summary>
    UnexpectedKeyChange,

    /// <summary>The provider's monitoring proof for one of this client's addresses did not verify (a hidden or rewritten change).</summary>
    MonitoringProofFailed,

    /// <summary>Two different signed heads for one epoch of a provider: proof that it shows different people different directories.</summary>
    Equivocation,

    /// <summary>A provider's newer head does not extend an older one: its history was rewritten.</summary>
    InconsistentHistory,

    /// <summary>A provider's signing key differs from the one pinned at first contact.</summary>
    ProviderKeyChanged,
}

/// <summary>One alert, kept in the local store until the user acknowledges it.</summary>
/// <param name="Id">Identifier (for <c>letterlock transparency acknowledge</c>).</param>
/// <param name="DetectedAt">When this client noticed.</param>
/// <param name="Kind">What happened.</param>
/// <param name="Provider">The provider concerned (its domain).</param>
/// <param name="Address">The address concerned, if any.</param>
/// <param name="Epoch">The epoch concerned, if any.</param>
/// <param name="Version">The entry version concerned, if any.</param>
/// <param name="Detail">A sentence for people (no secrets).</param>
/// <param name="Acknowledged">Whether the user has seen it and said so.</param>
/// <param name="KeySetHash">For an unexpected key change: SHA-256 of the published key set (what accepting it pins).</param>
/// <param name="UnknownDevices">For an unexpected key change: the device keys this client did not know.</param>
public sealed record TransparencyAlert(Guid Id, DateTimeOffset DetectedAt, TransparencyAlertKind Kind, string Provider, string? Address, long? Epoch, ulong? Version,
    string Detail, bool Acknowledged = false, byte[]? KeySetHash = null, IReadOnlyList<byte[]>? UnknownDevices = null);

/// <summary>
/// Evidence of a provider's misbehaviour: two validly signed heads that cannot both be honest (same epoch and
/// different content, or a newer one that does not extend an older one, with the failing consistency proof).
/// Anyone holding the provider's public key can check it; it is kept to be reported.
/// </summary>
/// <param name="DetectedAt">When.</param>
/// <param name="Provider">The provider.</param>
/// <param name="Kind"><see cref="TransparencyAlertKind.Equivocation"/> or <see cref="TransparencyAlertKind.InconsistentHistory"/>.</param>
/// <param name="First">The head this client held (SignedTreeHead encoding).</param>
/// <param name="Second">The conflicting head.</param>
/// <param name="ConsistencyProof">The consistency proof the provider gave that failed, if any.</param>
/// <param name="Source">Where the second head came from (a lookup, monitoring, or gossip from an address).</param>
public sealed record TransparencyConflict(DateTimeOffset DetectedAt, string Provider, TransparencyAlertKind Kind, byte[] First, byte[] Second, byte[]? ConsistencyProof,
    string Source);

/// <summary>This client's view of one provider: its pinned signing key and the newest head it verified.</summary>
/// <param name="Provider">The provider's domain.</param>
/// <param name="SigningKey">Its Ed25519 public key, pinned at first contact.</param>
/// <param name="NewestHead">The newest head verified to extend every head seen before (SignedTreeHead encoding).</param>
/// <param name="EpochIntervalSeconds">How often it publishes, as it last said.</param>
public sealed record ProviderView(string Provider, byte[] SigningKey, byte[]? NewestHead, int EpochIntervalSeconds);

/// <summary>Monitoring state of one of this client's own addresses.</summary>
/// <param name="Address">The canonical address.</param>
/// <param name="KnownVersion">The newest version checked.</param>
/// <param name="NextEpoch">The first epoch not yet checked.</param>
/// <param name="AcceptedKeySets">SHA-256 of key sets the user accepted (beside the ones matching this client's keys).</param>
/// <param name="AcceptedDeviceKeys">Device keys of the account's other devices the user accepted.</param>
/// <param name="LastCheckedAt">When monitoring last completed.</param>
public sealed record OwnAddressState(string Address, ulong KnownVersion, long NextEpoch, IReadOnlyList<byte[]> AcceptedKeySets, IReadOnlyList<byte[]> AcceptedDeviceKeys,
    DateTimeOffset? LastCheckedAt);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ProviderView))]
[JsonSerializable(typeof(OwnAddressState))]
[JsonSerializable(typeof(List<TransparencyAlert>))]
[JsonSerializable(typeof(List<TransparencyConflict>))]
internal sealed partial class TransparencyStateJson : JsonSerializerContext;

/// <summary>
/// The transparency state in the client's encrypted store (sealed settings, one value per provider, per own
/// address, and one list each of alerts and conflicts). Names carry a hash of the domain or address, not the
/// name itself. Updates are serialised within the process; two processes on one store (bridge and CLI) may
/// each move a view forward, never backward past a verified consistency check.
/// </summary>
public sealed class TransparencyState(LocalStore store, int maxAlerts = 1000, int maxConflicts = 100)
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>The view of <paramref name="provider"/>, or null before first contact.</summary>
    public Task<ProviderView?> GetProviderAsync(string provider, CancellationToken ct) =>
        ReadAsync(Name("provider", provider), TransparencyStateJson.Default.ProviderView, ct);

    /// <summary>Stores the view of a provider.</summary>
    public Task SetProviderAsync(ProviderView view, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(view);
        return WriteAsync(Name("provider", view.Provider), view, TransparencyStateJson.Default.ProviderView, ct);
    }

    /// <summary>The monitoring state of an own address, or null before the first check.</summary>
    public Task<OwnAddressState?> GetOwnAddressAsync(string address, CancellationToken ct) =>
        ReadAsync(Name("own", address), TransparencyStateJson.Default.OwnAddressState, ct);

    /// <summary>Stores the monitoring state of an own address.</summary>
    public Task SetOwnAddressAsync(OwnAddressState state, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(state);
        return WriteAsync(Name("own", state.Address), state, TransparencyStateJson.Default.OwnAddressState, ct);
    }

    /// <summary>Every alert kept, oldest first.</summary>
    public async Task<IReadOnlyList<TransparencyAlert>> GetAlertsAsync(CancellationToken ct) =>
        await ReadAsync("kt.alerts", TransparencyStateJson.Default.ListTransparencyAlert, ct).ConfigureAwait(false) ?? [];

    /// <summary>Every conflict kept, oldest first.</summary>
    public async Task<IReadOnlyList<TransparencyConflict>> GetConflictsAsync(CancellationToken ct) =>
        await ReadAsync("kt.conflicts", TransparencyStateJson.Default.ListTransparencyConflict, ct).ConfigureAwait(false) ?? [];

    /// <summary>
    /// Records an alert unless the same one (kind, provider, address, epoch, version) is already kept; returns
    /// whether it is new. Beyond the limit the oldest acknowledged alerts make room first.
    /// </summary>
    public async Task<bool> AddAlertAsync(TransparencyAlert alert, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(alert);
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var alerts = await ReadAsync("kt.alerts", TransparencyStateJson.Default.ListTransparencyAlert, ct).ConfigureAwait(false) ?? [];
            if (alerts.Any(a => a.Kind == alert.Kind && a.Provider == alert.Provider && a.Address == alert.Address && a.Epoch == alert.Epoch && a.Version == alert.Version))
            {
                return false;
            }

            alerts.Add(alert);
            while (alerts.Count > maxAlerts)
            {
                int oldest = alerts.FindIndex(a => a.Acknowledged);
                alerts.RemoveAt(oldest >= 0 ? oldest : 0);
            }

            await WriteCoreAsync("kt.alerts", alerts, TransparencyStateJson.Default.ListTransparencyAlert, ct).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Marks alerts acknowledged (all when <paramref name="id"/> is null); returns how many changed.</summary>
    public async Task<int> AcknowledgeAlertsAsync(Guid? id, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var alerts = await ReadAsync("kt.alerts", TransparencyStateJson.Default.ListTransparencyAlert, ct).ConfigureAwait(false) ?? [];
            int changed = 0;
            for (int i = 0; i < alerts.Count; i++)
            {
                if (!alerts[i].Acknowledged && (id is null || alerts[i].Id == id))
                {
                    alerts[i] = alerts[i] with { Acknowledged = true };
                    changed++;
                }
            }

            await WriteCoreAsync("kt.alerts", alerts, TransparencyStateJson.Default.ListTransparencyAlert, ct).ConfigureAwait(false);
            return changed;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Keeps a conflict (the first <c>maxConflicts</c> are kept: the earliest evidence matters most).</summary>
    public async Task AddConflictAsync(TransparencyConflict conflict, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(conflict);
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var conflicts = await ReadAsync("kt.conflicts", TransparencyStateJson.Default.ListTransparencyConflict, ct).ConfigureAwait(false) ?? [];
            if (conflicts.Count >= maxConflicts || conflicts.Any(c => c.First.AsSpan().SequenceEqual(conflict.First) && c.Second.AsSpan().SequenceEqual(conflict.Second)))
            {
                return;
            }

            conflicts.Add(conflict);
            await WriteCoreAsync("kt.conflicts", conflicts, TransparencyStateJson.Default.ListTransparencyConflict, ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    private static string Name(string kind, string key) =>
        $"kt.{kind}.{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..40]}";

    private async Task<T?> ReadAsync<T>(string name, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken ct)
        where T : class
    {
        byte[]? bytes = await store.Settings.GetAsync(name, ct).ConfigureAwait(false);
        return bytes is null ? null : JsonSerializer.Deserialize(bytes, type);
    }

    private async Task WriteAsync<T>(string name, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await WriteCoreAsync(name, value, type, ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    private Task WriteCoreAsync<T>(string name, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken ct) =>
        store.Settings.SetAsync(name, JsonSerializer.SerializeToUtf8Bytes(value, type), ct);
}
