using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Letterlock.Transparency;

/// <summary>A new key set for an address, to be published in the next epoch.</summary>
public sealed record KeySetUpdate(string Address, KeySet Keys);

/// <summary>
/// The provider's side of key transparency, pure: publishes epochs (prefix tree over VRF outputs, log of
/// epochs, Ed25519-signed heads) into an <see cref="ITransparencyStore"/> and answers lookup, monitor and
/// consistency requests with proofs. Publishing is serialised; queries run concurrently with it.
/// </summary>
/// <remarks>
/// Addresses are used exactly as given (the VRF input is their UTF-8 bytes): the caller canonicalises them
/// (e.g. lower-cases the domain) before every call, the same way for publishing and lookups.
/// </remarks>
public sealed class TransparencyDirectory
{
    private readonly string _provider;
    private readonly Key _signingKey;
    private readonly EcVrfSecretKey _vrfKey;
    private readonly ITransparencyStore _store;
    private readonly TransparencyLimits _limits;
    private readonly SemaphoreSlim _publishing = new(1, 1);

    /// <summary>Creates the directory of <paramref name="provider"/>.</summary>
    /// <param name="provider">The provider's name (its mail domain), signed into every head.</param>
    /// <param name="signingKey">The provider's Ed25519 signing key (NSec), kept by the caller.</param>
    /// <param name="vrfKey">The provider's ECVRF key, kept by the caller.</param>
    /// <param name="store">Where the trees, heads and entries live.</param>
    /// <param name="limits">Limits on addresses and key sets (the same ones clients apply).</param>
    public TransparencyDirectory(string provider, Key signingKey, EcVrfSecretKey vrfKey, ITransparencyStore store, TransparencyLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(provider);
        _provider = provider;
        _signingKey = signingKey ?? throw new ArgumentNullException(nameof(signingKey));
        _vrfKey = vrfKey ?? throw new ArgumentNullException(nameof(vrfKey));
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _limits = limits ?? TransparencyLimits.Default;
        if (Encoding.UTF8.GetByteCount(provider) > _limits.MaxProviderNameLength)
        {
            throw new ArgumentException("Provider name too long.", nameof(provider));
        }
    }

    /// <summary>The VRF input for an address: "letterlock-kt-v1" || 0x00 || UTF-8(address).</summary>
    public static byte[] VrfInput(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        byte[] prefix = "letterlock-kt-v1\0"u8.ToArray();
        return [.. prefix, .. Encoding.UTF8.GetBytes(address)];
    }

    /// <summary>The tree index of a VRF output: its first 32 bytes.</summary>
    public static Hash256 IndexFromVrfOutput(ReadOnlySpan<byte> output) => new(output[..Hash256.Length]);

    /// <summary>
    /// Publishes the next epoch with <paramref name="updates"/> (the last update of an address wins; each changed
    /// address gets version + 1) and returns its signed head. An empty batch publishes an epoch that changes nothing.
    /// </summary>
    /// <exception cref="ArgumentException">An address or key set breaks a limit, or time runs backwards.</exception>
    public async Task<SignedTreeHead> PublishEpochAsync(IReadOnlyList<KeySetUpdate> updates, DateTimeOffset timestamp, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(updates);
        var latestByAddress = new Dictionary<string, KeySet>(StringComparer.Ordinal);
        foreach (KeySetUpdate update in updates)
        {
            Validate(update);
            latestByAddress[update.Address] = update.Keys;
        }

        await _publishing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            SignedTreeHead? previous = await _store.GetLatestHeadAsync(cancellationToken).ConfigureAwait(false);
            long epoch = previous is null ? 0 : previous.Epoch + 1;
            long timestampMs = timestamp.ToUnixTimeMilliseconds();
            if (previous is not null && timestampMs < previous.TimestampMs)
            {
                throw new ArgumentException("Epoch timestamps must not go backwards.", nameof(timestamp));
            }

            // Known addresses reuse their stored VRF index and proof; new ones are evaluated (in parallel: ~0.2 ms each).
            var addresses = latestByAddress.Keys.ToArray();
            var records = await _store.GetAddressesAsync(addresses, cancellationToken).ConfigureAwait(false);
            if (records.Count != addresses.Length)
            {
                throw new InvalidOperationException("The store answered a different number of address records.");
            }

            var vrf = new (Hash256 Index, byte[] Proof)[addresses.Length];
            Parallel.For(0, addresses.Length, new ParallelOptions { CancellationToken = cancellationToken }, i =>
            {
                if (records[i] is { } record)
                {
                    vrf[i] = (record.Index, record.VrfProof.ToArray());
                }
                else
                {
                    var (output, proof) = _vrfKey.Evaluate(VrfInput(addresses[i]));
                    vrf[i] = (IndexFromVrfOutput(output), proof);
                }
            });

            var leafUpdates = new PrefixLeafUpdate[addresses.Length];
            var versions = new AddressVersion[addresses.Length];
            for (int i = 0; i < addresses.Length; i++)
            {
                ulong version = (records[i]?.LatestVersion ?? 0) + 1;
                var entry = new DirectoryEntry(version, (ulong)epoch, latestByAddress[addresses[i]], RandomNumberGenerator.GetBytes(DirectoryEntry.OpeningLength));
                Hash256 commitment = entry.Commitment(addresses[i]);
                leafUpdates[i] = new PrefixLeafUpdate(vrf[i].Index, version, commitment);
                versions[i] = new AddressVersion(addresses[i], vrf[i].Index, vrf[i].Proof, entry);
            }

            var created = new Dictionary<Hash256, PrefixNode>();
            Hash256 prefixRoot = await PrefixTree.UpdateAsync(_store, previous?.PrefixRoot ?? Hash256.Zero, leafUpdates, (ulong)epoch, created, cancellationToken).ConfigureAwait(false);

            var logEntry = new LogEntry(epoch, timestampMs, prefixRoot);
            var logNodes = await MerkleLog.AppendAsync(_store, epoch, logEntry.LeafHash, cancellationToken).ConfigureAwait(false);
            Hash256 logRoot = await MerkleLog.RangeHashAsync(new OverlayLogSource(_store, logNodes), 0, epoch + 1, cancellationToken).ConfigureAwait(false);

            SignedTreeHead head = SignedTreeHead.Sign(_signingKey, _provider, epoch, timestampMs, logRoot, prefixRoot, _vrfKey.PublicKey);
            var changes = leafUpdates.Select(u => new LeafChange(u.Index, u.Version, u.Commitment)).ToArray();
            Array.Sort(changes, static (a, b) => a.Index.CompareTo(b.Index));
            var commit = new EpochCommit(new EpochAudit(head, changes), created.Values, logNodes, versions);
            await _store.CommitEpochAsync(commit, cancellationToken).ConfigureAwait(false);
            return head;
        }
        finally
        {
            _publishing.Release();
        }
    }

    /// <summary>lookup(address): the entry at the newest head, with its proof (also when the address has none).</summary>
    /// <exception cref="InvalidOperationException">No epoch has been published yet.</exception>
    public async Task<LookupProof> LookupAsync(string address, CancellationToken cancellationToken)
    {
        SignedTreeHead head = await _store.GetLatestHeadAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("No epoch has been published yet.");
        return await LookupAtAsync(address, head, cancellationToken).ConfigureAwait(false);
    }

    private async Task<LookupProof> LookupAtAsync(string address, SignedTreeHead head, CancellationToken ct)
    {
        ValidateAddress(address);
        AddressRecord? record = await _store.GetAddressAsync(address, ct).ConfigureAwait(false);
        Hash256 index;
        byte[] vrfProof;
        if (record is not null)
        {
            index = record.Index;
            vrfProof = record.VrfProof.ToArray();
        }
        else
        {
            var (output, proof) = _vrfKey.Evaluate(VrfInput(address));
            index = IndexFromVrfOutput(output);
            vrfProof = proof;
        }

        PrefixProof prefix = await PrefixTree.SearchAsync(_store, head.PrefixRoot, index, ct).ConfigureAwait(false);
        DirectoryEntry? entry = null;
        if (prefix.Terminal == PrefixProofTerminal.Inclusion)
        {
            // The leaf says which version the head holds; the record may already be newer than the head.
            PrefixNode leaf = (await PrefixTree.FindLeafAsync(_store, head.PrefixRoot, index, ct).ConfigureAwait(false))!;
            entry = await _store.GetAddressVersionAsync(address, leaf.Version, ct).ConfigureAwait(false)
                ?? throw new InvalidOperationException("The store lacks an entry the tree holds.");
        }

        return new LookupProof(head, vrfProof, prefix, entry);
    }

    /// <summary>
    /// monitor(address, since-epoch): the current state and every version published in epochs &gt;= <paramref name="sinceEpoch"/>,
    /// oldest first, at most <see cref="TransparencyLimits.MaxMonitorEntries"/> (the client asks again from the last one).
    /// </summary>
    public async Task<MonitorProof> MonitorAsync(string address, long sinceEpoch, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sinceEpoch);
        LookupProof current = await LookupAsync(address, cancellationToken).ConfigureAwait(false);
        var versions = new List<DirectoryEntry>();
        if (current.Entry is { } newest)
        {
            // Versions are published in increasing epochs: find the first one at or after sinceEpoch by binary search,
            // so a long history costs O(log n + page) reads, not one read per version ever published (this endpoint
            // is public).
            ulong low = 1, high = newest.Version + 1;
            while (low < high)
            {
                ulong middle = low + ((high - low) / 2);
                if ((long)(await VersionAsync(address, middle, newest, cancellationToken).ConfigureAwait(false)).Epoch >= sinceEpoch)
                {
                    high = middle;
                }
                else
                {
                    low = middle + 1;
                }
            }

            for (ulong v = low; v <= newest.Version && versions.Count < _limits.MaxMonitorEntries; v++)
            {
                versions.Add(await VersionAsync(address, v, newest, cancellationToken).ConfigureAwait(false));
            }
        }

        Hash256 index = (await _store.GetAddressAsync(address, cancellationToken).ConfigureAwait(false))?.Index ?? default;
        var changes = new List<HistoricalEntry>(versions.Count);
        foreach (DirectoryEntry entry in versions)
        {
            SignedTreeHead epochHead = await _store.GetHeadAsync((long)entry.Epoch, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException("The store lacks a head.");
            var inclusion = await MerkleLog.InclusionProofAsync(_store, epochHead.Epoch, current.Head.LogSize, cancellationToken).ConfigureAwait(false);
            PrefixProof prefix = await PrefixTree.SearchAsync(_store, epochHead.PrefixRoot, index, cancellationToken).ConfigureAwait(false);
            changes.Add(new HistoricalEntry(entry, epochHead.LogEntry, inclusion, prefix));
        }

        return new MonitorProof(sinceEpoch, current, changes);
    }

    private async Task<DirectoryEntry> VersionAsync(string address, ulong version, DirectoryEntry newest, CancellationToken ct) =>
        version == newest.Version ? newest
        : await _store.GetAddressVersionAsync(address, version, ct).ConfigureAwait(false) ?? throw new InvalidOperationException("The store lacks an address version.");

    /// <summary>consistency(from, to): proves the log at <paramref name="toEpoch"/> extends the log at <paramref name="fromEpoch"/>.</summary>
    public async Task<ConsistencyProof> ConsistencyAsync(long fromEpoch, long toEpoch, CancellationToken cancellationToken)
    {
        SignedTreeHead latest = await _store.GetLatestHeadAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("No epoch has been published yet.");
        if (fromEpoch < 0 || fromEpoch > toEpoch || toEpoch > latest.Epoch)
        {
            throw new ArgumentOutOfRangeException(nameof(fromEpoch), "Epochs must satisfy 0 <= from <= to <= newest.");
        }

        var hashes = await MerkleLog.ConsistencyProofAsync(_store, fromEpoch + 1, toEpoch + 1, cancellationToken).ConfigureAwait(false);
        return new ConsistencyProof(fromEpoch, toEpoch, hashes);
    }

    /// <summary>The signed head of <paramref name="epoch"/>, or the newest when null.</summary>
    public async Task<SignedTreeHead?> GetHeadAsync(long? epoch, CancellationToken cancellationToken) =>
        epoch is { } e
            ? await _store.GetHeadAsync(e, cancellationToken).ConfigureAwait(false)
            : await _store.GetLatestHeadAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>The audit record (head and leaf changes) of <paramref name="epoch"/>, for auditors.</summary>
    public async Task<EpochAudit?> GetEpochAuditAsync(long epoch, CancellationToken cancellationToken) =>
        await _store.GetEpochAuditAsync(epoch, cancellationToken).ConfigureAwait(false);

    private void Validate(KeySetUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        ValidateAddress(update.Address);
        KeySet keys = update.Keys ?? throw new ArgumentException("An update needs a key set.", nameof(update));
        if (keys.OpenPgpFingerprint.Length > _limits.MaxFingerprintLength || keys.InboxKey.Length > _limits.MaxInboxKeyLength
            || keys.DeviceKeys.Count > _limits.MaxDeviceKeys || keys.DeviceKeys.Any(k => k.Length > _limits.MaxDeviceKeyLength))
        {
            throw new ArgumentException("The key set exceeds a transparency limit.", nameof(update));
        }
    }

    private void ValidateAddress(string address)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        if (Encoding.UTF8.GetByteCount(address) > _limits.MaxAddressLength)
        {
            throw new ArgumentException("The address is too long.", nameof(address));
        }
    }

    /// <summary>The store's log nodes plus the ones an epoch is about to add.</summary>
    private sealed class OverlayLogSource(ILogNodeSource inner, List<(int Level, long Index, Hash256 Hash)> extra) : ILogNodeSource
    {
        public ValueTask<Hash256> GetLogNodeAsync(int level, long index, CancellationToken cancellationToken)
        {
            foreach (var (l, i, h) in extra)
            {
                if (l == level && i == index)
                {
                    return ValueTask.FromResult(h);
                }
            }

            return inner.GetLogNodeAsync(level, index, cancellationToken);
        }
    }
}
