using Letterlock.Transparency;

namespace Letterlock.Provider.Configuration;

/// <summary>
/// The <c>transparency</c> section of <c>provider.json</c>: how often epochs are published and the limits of
/// the transparency API. The tree heads are signed with the provider's <c>signingKey</c>; the VRF key is
/// derived from it (docs/design/transparency.md, "In the provider and the client").
/// </summary>
public sealed class TransparencySettings
{
    /// <summary>Seconds between epochs; an epoch is published only when a key set changed.</summary>
    public int EpochIntervalSeconds { get; set; } = 60;

    /// <summary>
    /// Most addresses one epoch publishes; more pending changes wait for the next epoch. Bounds the work and
    /// memory of one publication and the size of an epoch's audit record.
    /// </summary>
    public int MaxChangesPerEpoch { get; set; } = 100_000;

    /// <summary>Most heads one <c>GET /v1/transparency/heads</c> answer holds.</summary>
    public int MaxHeadsPerPage { get; set; } = 1000;

    /// <summary>
    /// Most versions one monitoring answer holds (clients page through longer histories). Clients refuse more
    /// than <see cref="TransparencyLimits.MaxMonitorEntries"/> (1024), so that is the ceiling.
    /// </summary>
    public int MaxMonitorEntries { get; set; } = 1024;

    /// <summary>Prefix-tree nodes kept in memory (immutable, so caching is safe); the top of the tree stays hot.</summary>
    public int NodeCacheSize { get; set; } = 200_000;

    /// <summary>Checks every value; a wrong one fails start-up with the setting named.</summary>
    public static void Validate(TransparencySettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ProviderSettingsLoader.Range(settings.EpochIntervalSeconds, 1, 86_400, "transparency.epochIntervalSeconds");
        ProviderSettingsLoader.Range(settings.MaxChangesPerEpoch, 1, TransparencyLimits.Default.MaxEpochChanges, "transparency.maxChangesPerEpoch");
        ProviderSettingsLoader.Range(settings.MaxHeadsPerPage, 1, 100_000, "transparency.maxHeadsPerPage");
        ProviderSettingsLoader.Range(settings.MaxMonitorEntries, 1, TransparencyLimits.Default.MaxMonitorEntries, "transparency.maxMonitorEntries");
        ProviderSettingsLoader.Range(settings.NodeCacheSize, 0, 10_000_000, "transparency.nodeCacheSize");
    }
}
