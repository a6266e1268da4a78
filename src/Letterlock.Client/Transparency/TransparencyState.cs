using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Letterlock.Client.Store;
using Microsoft.Data.Sqlite;

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

    /// <summary>A provider's newest head is older than a head this client already verified: its log went back in time.</summary>
    Rollback,

    /// <summary>
    /// A provider that publishes key transparency served a directory key whose lookup proof is missing, does not verify, or
    /// names another key: the key is not used, and the served key and proof are kept.
    /// </summary>
    DirectoryProofFailed,

    /// <summary>Mail arrived sealed to an inbox key this device does not hold (the provider may have swapped the inbox key).</summary>
    InboxKeyUnknown,
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
/// <param name="NoticePending">A notice for the mail app (and a line in the bridge's output) is still to be delivered;
/// delivering it clears this in the same transaction, so each alert reaches the person once. Alerts stored by earlier
/// releases read false (their monitoring alerts were delivered then).</param>
/// <param name="EvidenceId">The evidence kept for it (a <see cref="TransparencyConflict"/> or a <see cref="KeptEvidence"/>), if any.</param>
public sealed record TransparencyAlert(Guid Id, DateTimeOffset DetectedAt, TransparencyAlertKind Kind, string Provider, string? Address, long? Epoch, ulong? Version,
    string Detail, bool Acknowledged = false, byte[]? KeySetHash = null, IReadOnlyList<byte[]>? UnknownDevices = null, bool NoticePending = false,
    Guid? EvidenceId = null)
{
    /// <summary>
    /// Where the evidence is and how to get it out, for people (notices, the bridge's output). Evidence stays in the
    /// client's encrypted store until exported.
    /// </summary>
    public string EvidenceLocation =>
        EvidenceId is { } id
            ? $"kept in this client's store as evidence {id}; write it to files with: letterlock transparency status --evidence DIR"
            : Kind == TransparencyAlertKind.InboxKeyUnknown
                ? "the message stays at the provider, untouched, as the provider document named above"
                : "the provider's published log (see: letterlock transparency status)";
}

/// <summary>One item of <see cref="KeptEvidence"/>: a name (used as the file name on export) and its bytes.</summary>
public sealed record EvidenceItem(string Name, byte[] Content);

/// <summary>Evidence of a provider's misbehaviour other than two conflicting heads: what it served, as it served it.</summary>
/// <param name="Id">Identifier (referred to by alerts).</param>
/// <param name="DetectedAt">When.</param>
/// <param name="Provider">The provider.</param>
/// <param name="Kind">The alert kind it backs.</param>
/// <param name="Source">Where it came from (a directory lookup of an address, ...).</param>
/// <param name="Items">The served data: certificate, lookup proof, heads.</param>
public sealed record KeptEvidence(Guid Id, DateTimeOffset DetectedAt, string Provider, TransparencyAlertKind Kind, string Source, IReadOnlyList<EvidenceItem> Items);

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
/// <param name="Id">Identifier (referred to by alerts; null for conflicts kept by earlier releases).</param>
public sealed record TransparencyConflict(DateTimeOffset DetectedAt, string Provider, TransparencyAlertKind Kind, byte[] First, byte[] Second, byte[]? ConsistencyProof,
    string Source, Guid? Id = null);

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
[JsonSerializable(typeof(List<KeptEvidence>))]
internal sealed partial class TransparencyStateJson : JsonSerializerContext;

/// <summary>
/// The transparency state in the client's encrypted store (sealed settings, one value per provider, per own
/// address, and one list each of alerts, conflicts and evidence). Names carry a hash of the domain or address, not
/// the name itself. Alerts, conflicts and evidence are changed in one store write transaction each (read, change,
/// write), so two processes on one store (bridge and CLI) never lose each other's changes; views and own-address
/// states may be moved forward by either, never backward past a verified consistency check.
/// </summary>
public sealed class TransparencyState(LocalStore store, int maxAlerts = 1000, int maxConflicts = 100)
{
    private const string AlertsName = "kt.alerts";
    private const string ConflictsName = "kt.conflicts";
    private const string EvidenceName = "kt.evidence";
    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>The store this state lives in.</summary>
    internal LocalStore Store => store;

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
        await ReadAsync(AlertsName, TransparencyStateJson.Default.ListTransparencyAlert, ct).ConfigureAwait(false) ?? [];

    /// <summary>Every conflict kept, oldest first.</summary>
    public async Task<IReadOnlyList<TransparencyConflict>> GetConflictsAsync(CancellationToken ct) =>
        await ReadAsync(ConflictsName, TransparencyStateJson.Default.ListTransparencyConflict, ct).ConfigureAwait(false) ?? [];

    /// <summary>Every other piece of evidence kept, oldest first.</summary>
    public async Task<IReadOnlyList<KeptEvidence>> GetEvidenceAsync(CancellationToken ct) =>
        await ReadAsync(EvidenceName, TransparencyStateJson.Default.ListKeptEvidence, ct).ConfigureAwait(false) ?? [];

    /// <summary>
    /// Records an alert, with its notice pending, unless the same incident (kind, provider, address, epoch, version) is
    /// already kept; returns whether it is new. An unknown inbox key is one incident until the user acknowledges it (a
    /// later swap is a new one). Beyond the limit the oldest acknowledged alerts make room first.
    /// </summary>
    public Task<bool> AddAlertAsync(TransparencyAlert alert, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(alert);
        return store.Write((connection, transaction) =>
        {
            var alerts = ReadAlerts(connection, transaction);
            if (alerts.Any(a => a.Kind == alert.Kind && a.Provider == alert.Provider && a.Address == alert.Address && a.Epoch == alert.Epoch
                && a.Version == alert.Version && (alert.Kind != TransparencyAlertKind.InboxKeyUnknown || !a.Acknowledged)))
            {
                return false;
            }

            alerts.Add(alert with { NoticePending = true });
            while (alerts.Count > maxAlerts)
            {
                int oldest = alerts.FindIndex(a => a.Acknowledged);
                alerts.RemoveAt(oldest >= 0 ? oldest : 0);
            }

            WriteAlerts(connection, transaction, alerts);
            return true;
        }, ct);
    }

    /// <summary>Marks alerts acknowledged (all when <paramref name="id"/> is null); returns how many changed.</summary>
    public Task<int> AcknowledgeAlertsAsync(Guid? id, CancellationToken ct) =>
        store.Write((connection, transaction) =>
        {
            var alerts = ReadAlerts(connection, transaction);
            int changed = 0;
            for (int i = 0; i < alerts.Count; i++)
            {
                if (!alerts[i].Acknowledged && (id is null || alerts[i].Id == id))
                {
                    alerts[i] = alerts[i] with { Acknowledged = true };
                    changed++;
                }
            }

            WriteAlerts(connection, transaction, alerts);
            return changed;
        }, ct);

    /// <summary>Keeps a conflict (the first <c>maxConflicts</c> are kept: the earliest evidence matters most); returns its id, or the id of the same one kept before.</summary>
    public Task<Guid?> AddConflictAsync(TransparencyConflict conflict, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(conflict);
        return store.Write<Guid?>((connection, transaction) =>
        {
            var conflicts = Read(connection, transaction, ConflictsName, TransparencyStateJson.Default.ListTransparencyConflict) ?? [];
            if (conflicts.FirstOrDefault(c => c.First.AsSpan().SequenceEqual(conflict.First) && c.Second.AsSpan().SequenceEqual(conflict.Second)) is { } same)
            {
                return same.Id;
            }

            if (conflicts.Count >= maxConflicts)
            {
                return null;
            }

            var kept = conflict with { Id = conflict.Id ?? Guid.NewGuid() };
            conflicts.Add(kept);
            Write(connection, transaction, ConflictsName, conflicts, TransparencyStateJson.Default.ListTransparencyConflict);
            return kept.Id;
        }, ct);
    }

    /// <summary>Keeps evidence (the first <c>maxConflicts</c> are kept); returns its id, or null when the list is full.</summary>
    public Task<Guid?> AddEvidenceAsync(KeptEvidence evidence, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        return store.Write<Guid?>((connection, transaction) =>
        {
            var kept = Read(connection, transaction, EvidenceName, TransparencyStateJson.Default.ListKeptEvidence) ?? [];
            if (kept.Count >= maxConflicts)
            {
                return null;
            }

            kept.Add(evidence);
            Write(connection, transaction, EvidenceName, kept, TransparencyStateJson.Default.ListKeptEvidence);
            return evidence.Id;
        }, ct);
    }

    /// <summary>The alerts, inside the caller's transaction.</summary>
    internal List<TransparencyAlert> ReadAlerts(SqliteConnection connection, SqliteTransaction transaction) =>
        Read(connection, transaction, AlertsName, TransparencyStateJson.Default.ListTransparencyAlert) ?? [];

    /// <summary>Writes the alerts, inside the caller's write transaction.</summary>
    internal void WriteAlerts(SqliteConnection connection, SqliteTransaction transaction, List<TransparencyAlert> alerts) =>
        Write(connection, transaction, AlertsName, alerts, TransparencyStateJson.Default.ListTransparencyAlert);

    private static string Name(string kind, string key) =>
        $"kt.{kind}.{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..40]}";

    private T? Read<T>(SqliteConnection connection, SqliteTransaction transaction, string name, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class =>
        store.Settings.Get(connection, transaction, name) is { } bytes ? JsonSerializer.Deserialize(bytes, type) : null;

    private void Write<T>(SqliteConnection connection, SqliteTransaction transaction, string name, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        store.Settings.Set(connection, transaction, name, JsonSerializer.SerializeToUtf8Bytes(value, type));

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
            await store.Settings.SetAsync(name, JsonSerializer.SerializeToUtf8Bytes(value, type), ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }
}
