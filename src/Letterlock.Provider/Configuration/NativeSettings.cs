namespace Letterlock.Provider.Configuration;

/// <summary>
/// The <c>native</c> section of <c>provider.json</c>: the limits of the prekey endpoints of the native protocol
/// (docs/design/native-protocol.md, "Prekeys through the provider"). Prekeys are public and signed by the
/// device, so these bound storage and the rate at which anyone can drain a device's one-time pool.
/// </summary>
public sealed class NativeSettings
{
    /// <summary>One-time prekeys a device may hold at the provider, per kind (X25519, ML-KEM-768); a publication beyond it gets 400.</summary>
    public int MaxOneTimePrekeys { get; set; } = 200;

    /// <summary>Longest encoded prekey accepted, in bytes (an ML-KEM-768 prekey is 1,261).</summary>
    public int MaxPrekeyLength { get; set; } = 1300;

    /// <summary>Furthest ahead a published prekey may expire, in days.</summary>
    public int MaxPrekeyLifetimeDays { get; set; } = 60;

    /// <summary>Bundle fetches an account may make through its own provider per hour; more get 429.</summary>
    public int BundleFetchesPerHourPerAccount { get; set; } = 600;

    /// <summary>Bundle fetches one client (another provider: IPv4 address or IPv6 /64) may make per hour at the federation endpoint.</summary>
    public int BundleFetchesPerHourPerClient { get; set; } = 3600;

    /// <summary>Largest answer accepted from another provider's federation endpoint, in bytes.</summary>
    public int MaxBundleResponseBytes { get; set; } = 256 * 1024;

    /// <summary>How long a fetch from another provider may take, in seconds.</summary>
    public int FederationTimeoutSeconds { get; set; } = 20;

    /// <summary>Checks every value; a wrong one fails start-up with the setting named.</summary>
    public static void Validate(NativeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ProviderSettingsLoader.Range(settings.MaxOneTimePrekeys, 1, 10_000, "native.maxOneTimePrekeys");
        ProviderSettingsLoader.Range(settings.MaxPrekeyLength, 1261, 65_536, "native.maxPrekeyLength");
        ProviderSettingsLoader.Range(settings.MaxPrekeyLifetimeDays, 1, 3650, "native.maxPrekeyLifetimeDays");
        ProviderSettingsLoader.Range(settings.BundleFetchesPerHourPerAccount, 1, 1_000_000, "native.bundleFetchesPerHourPerAccount");
        ProviderSettingsLoader.Range(settings.BundleFetchesPerHourPerClient, 1, 10_000_000, "native.bundleFetchesPerHourPerClient");
        ProviderSettingsLoader.Range(settings.MaxBundleResponseBytes, 4096, 64 * 1024 * 1024, "native.maxBundleResponseBytes");
        ProviderSettingsLoader.Range(settings.FederationTimeoutSeconds, 1, 600, "native.federationTimeoutSeconds");
    }
}
