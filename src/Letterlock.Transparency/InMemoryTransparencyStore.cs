namespace Letterlock.Transparency;

/// <summary>
/// <see cref="ITransparencyStore"/> in memory: for tests, benchmarks, auditors that keep no files, and as the
/// reference the database stores are tested against. Thread-safe; a commit becomes visible all at once.
/// </summary>
public sealed class InMemoryTransparencyStore : ITransparencyStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Hash256, PrefixNode> _prefixNodes = [];
    private readonly Dictionary<(int, long), Hash256> _logNodes = [];
    private readonly List<SignedTreeHead> _heads = [];
    private readonly List<IReadOnlyList<LeafChange>> _changes = [];
    private readonly Dictionary<string, AddressRecord> _addresses = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, ulong), DirectoryEntry> _versions = [];

    /// <summary>Number of prefix-tree nodes held.</summary>
    public int PrefixNodeCount
    {
        get
        {
            lock (_lock)
            {
                return _prefixNodes.Count;
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<PrefixNode?> GetPrefixNodeAsync(Hash256 hash, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_prefixNodes.GetValueOrDefault(hash));
        }
    }

    /// <inheritdoc />
    public ValueTask<Hash256> GetLogNodeAsync(int level, long index, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _logNodes.TryGetValue((level, index), out Hash256 hash)
                ? ValueTask.FromResult(hash)
                : throw new InvalidOperationException($"Log node ({level}, {index}) is missing from the store.");
        }
    }

    /// <inheritdoc />
    public ValueTask<SignedTreeHead?> GetHeadAsync(long epoch, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(epoch >= 0 && epoch < _heads.Count ? _heads[(int)epoch] : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<SignedTreeHead?> GetLatestHeadAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_heads.Count > 0 ? _heads[^1] : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<AddressRecord?> GetAddressAsync(string address, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_addresses.GetValueOrDefault(address));
        }
    }

    /// <inheritdoc />
    public ValueTask<DirectoryEntry?> GetAddressVersionAsync(string address, ulong version, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_versions.GetValueOrDefault((address, version)));
        }
    }

    /// <inheritdoc />
    public ValueTask<EpochAudit?> GetEpochAuditAsync(long epoch, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(epoch >= 0 && epoch < _heads.Count ? new EpochAudit(_heads[(int)epoch], _changes[(int)epoch]) : null);
        }
    }

    /// <inheritdoc />
    public ValueTask CommitEpochAsync(EpochCommit commit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commit);
        lock (_lock)
        {
            if (commit.Audit.Head.Epoch != _heads.Count)
            {
                throw new InvalidOperationException("Epochs must be committed in order.");
            }

            foreach (PrefixNode node in commit.PrefixNodes)
            {
                _prefixNodes.TryAdd(node.Hash, node);
            }

            foreach (var (level, index, hash) in commit.LogNodes)
            {
                _logNodes[(level, index)] = hash;
            }

            foreach (AddressVersion v in commit.AddressVersions)
            {
                _versions[(v.Address, v.Entry.Version)] = v.Entry;
                _addresses[v.Address] = new AddressRecord(v.Address, v.Index, v.VrfProof, v.Entry.Version);
            }

            _changes.Add(commit.Audit.Changes);
            _heads.Add(commit.Audit.Head);
        }

        return ValueTask.CompletedTask;
    }
}
