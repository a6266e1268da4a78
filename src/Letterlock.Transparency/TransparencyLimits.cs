namespace Letterlock.Transparency;

/// <summary>
/// Every limit applied when decoding transparency data received from a provider, a peer or an auditor
/// feed (all hostile input). Each bounds memory or work an attacker could otherwise demand.
/// </summary>
public sealed record TransparencyLimits
{
    /// <summary>The defaults.</summary>
    public static TransparencyLimits Default { get; } = new();

    /// <summary>Longest address in bytes (RFC 5321 allows 64 + 1 + 255).</summary>
    public int MaxAddressLength { get; init; } = 320;

    /// <summary>Longest provider name (a domain).</summary>
    public int MaxProviderNameLength { get; init; } = 255;

    /// <summary>Longest OpenPGP fingerprint (v6 fingerprints are 32 bytes).</summary>
    public int MaxFingerprintLength { get; init; } = 64;

    /// <summary>Longest inbox public key (room for a post-quantum hybrid such as X-Wing, 1,216 bytes).</summary>
    public int MaxInboxKeyLength { get; init; } = 2048;

    /// <summary>Most device keys in one key set.</summary>
    public int MaxDeviceKeys { get; init; } = 64;

    /// <summary>Longest device key.</summary>
    public int MaxDeviceKeyLength { get; init; } = 64;

    /// <summary>Deepest prefix-tree proof (the index has 256 bits).</summary>
    public int MaxPrefixDepth { get; init; } = 256;

    /// <summary>Most hashes in a log inclusion or consistency proof (2 * 64 covers any 64-bit log size).</summary>
    public int MaxLogProofHashes { get; init; } = 128;

    /// <summary>Most historical entries in one monitoring proof; a client pages through longer histories.</summary>
    public int MaxMonitorEntries { get; init; } = 1024;

    /// <summary>Most leaf changes in one epoch's audit record.</summary>
    public int MaxEpochChanges { get; init; } = 1_000_000;
}
