namespace Letterlock.Transparency;

/// <summary>
/// The narrow storage a <see cref="TransparencyDirectory"/> (and an auditor's replica) needs. Everything
/// written is immutable once committed, and one epoch is committed in one atomic
/// <see cref="CommitEpochAsync"/>; reads may run concurrently with a commit and must see either all of
/// an epoch or none of it (<see cref="GetLatestHeadAsync"/> returns the new head only after the rest is visible).
/// Implementations: <see cref="InMemoryTransparencyStore"/> here; SQLite and PostgreSQL in the provider.
/// </summary>
public interface ITransparencyStore : IPrefixNodeSource, ILogNodeSource
{
    /// <summary>The signed head of <paramref name="epoch"/>, or null.</summary>
    ValueTask<SignedTreeHead?> GetHeadAsync(long epoch, CancellationToken cancellationToken);

    /// <summary>The newest signed head, or null before the first epoch.</summary>
    ValueTask<SignedTreeHead?> GetLatestHeadAsync(CancellationToken cancellationToken);

    /// <summary>The record of <paramref name="address"/> (its index, VRF proof and latest version), or null.</summary>
    ValueTask<AddressRecord?> GetAddressAsync(string address, CancellationToken cancellationToken);

    /// <summary>
    /// The records of <paramref name="addresses"/>, in the same order (null where there is none). A database store
    /// answers an epoch's thousand addresses in a few round trips instead of a thousand; the default asks one by one.
    /// </summary>
    async ValueTask<IReadOnlyList<AddressRecord?>> GetAddressesAsync(IReadOnlyList<string> addresses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var records = new AddressRecord?[addresses.Count];
        for (int i = 0; i < addresses.Count; i++)
        {
            records[i] = await GetAddressAsync(addresses[i], cancellationToken).ConfigureAwait(false);
        }

        return records;
    }

    /// <summary>Version <paramref name="version"/> of <paramref name="address"/>'s entry, or null.</summary>
    ValueTask<DirectoryEntry?> GetAddressVersionAsync(string address, ulong version, CancellationToken cancellationToken);

    /// <summary>The leaf changes of <paramref name="epoch"/> with its head, or null.</summary>
    ValueTask<EpochAudit?> GetEpochAuditAsync(long epoch, CancellationToken cancellationToken);

    /// <summary>Writes everything one epoch produced, atomically and durably.</summary>
    ValueTask CommitEpochAsync(EpochCommit commit, CancellationToken cancellationToken);
}

/// <summary>What the store keeps per address: its VRF index and proof (computed once) and its latest version.</summary>
public sealed record AddressRecord(string Address, Hash256 Index, ReadOnlyMemory<byte> VrfProof, ulong LatestVersion);

/// <summary>A new version of an address written by an epoch.</summary>
public sealed record AddressVersion(string Address, Hash256 Index, ReadOnlyMemory<byte> VrfProof, DirectoryEntry Entry);

/// <summary>Everything one epoch writes.</summary>
public sealed class EpochCommit
{
    /// <summary>Creates one.</summary>
    public EpochCommit(
        EpochAudit audit,
        IReadOnlyCollection<PrefixNode> prefixNodes,
        IReadOnlyList<(int Level, long Index, Hash256 Hash)> logNodes,
        IReadOnlyList<AddressVersion> addressVersions)
    {
        Audit = audit ?? throw new ArgumentNullException(nameof(audit));
        PrefixNodes = prefixNodes ?? throw new ArgumentNullException(nameof(prefixNodes));
        LogNodes = logNodes ?? throw new ArgumentNullException(nameof(logNodes));
        AddressVersions = addressVersions ?? throw new ArgumentNullException(nameof(addressVersions));
    }

    /// <summary>The new head and the leaf changes.</summary>
    public EpochAudit Audit { get; }

    /// <summary>New prefix-tree nodes (stored under their hash; a node may already exist).</summary>
    public IReadOnlyCollection<PrefixNode> PrefixNodes { get; }

    /// <summary>New complete-subtree hashes of the log.</summary>
    public IReadOnlyList<(int Level, long Index, Hash256 Hash)> LogNodes { get; }

    /// <summary>New address versions (empty for an auditor's replica).</summary>
    public IReadOnlyList<AddressVersion> AddressVersions { get; }
}
