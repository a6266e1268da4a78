namespace Letterlock.Transparency;

/// <summary>The outcome of auditing one epoch.</summary>
public sealed record AuditResult(TransparencyFailure Failure, long Epoch, string Detail)
{
    /// <summary>True when the epoch was verified and added to the auditor's view.</summary>
    public bool IsValid => Failure == TransparencyFailure.None;
}

/// <summary>
/// An independent auditor, pure: replays every epoch of a provider from the first into its own replica
/// (prefix tree and log, in any <see cref="ITransparencyStore"/>) and checks that each epoch follows the
/// previous one, that every changed leaf's version grows by exactly one (so no change can be hidden
/// and later undone), that the signed roots are the ones the replay produces, and the signature.
/// </summary>
public sealed class TransparencyAuditor
{
    private readonly TransparencyVerifier _verifier;
    private readonly ITransparencyStore _replica;

    /// <summary>Creates an auditor of <paramref name="provider"/> keeping its view in <paramref name="replica"/>.</summary>
    public TransparencyAuditor(string provider, ReadOnlySpan<byte> signingPublicKey, ITransparencyStore replica)
    {
        _verifier = new TransparencyVerifier(provider, signingPublicKey);
        _replica = replica ?? throw new ArgumentNullException(nameof(replica));
    }

    /// <summary>The newest epoch verified so far, or null.</summary>
    public async Task<SignedTreeHead?> GetLatestHeadAsync(CancellationToken cancellationToken) =>
        await _replica.GetLatestHeadAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Verifies the next epoch and, if it is valid, adds it to the replica. An invalid epoch changes nothing.</summary>
    public async Task<AuditResult> ApplyAsync(EpochAudit audit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(audit);
        SignedTreeHead head = audit.Head;
        AuditResult Fail(TransparencyFailure f, string detail) => new(f, head.Epoch, detail);

        TransparencyFailure signature = _verifier.VerifyHead(head);
        if (signature != TransparencyFailure.None)
        {
            return Fail(signature, "The head is not validly signed by the provider.");
        }

        SignedTreeHead? previous = await _replica.GetLatestHeadAsync(cancellationToken).ConfigureAwait(false);
        long expectedEpoch = previous is null ? 0 : previous.Epoch + 1;
        if (head.Epoch != expectedEpoch)
        {
            if (previous is not null && head.Epoch == previous.Epoch && _verifier.Relate(previous, head) == HeadRelation.Equivocation)
            {
                return Fail(TransparencyFailure.Equivocation, "Two different signed heads for one epoch.");
            }

            return Fail(TransparencyFailure.BadEpochSequence, $"Expected epoch {expectedEpoch}.");
        }

        if (previous is not null && (head.TimestampMs < previous.TimestampMs || !head.VrfPublicKey.Span.SequenceEqual(previous.VrfPublicKey.Span)))
        {
            return Fail(TransparencyFailure.BadEpochSequence, "Time went backwards or the VRF key changed.");
        }

        Hash256 previousRoot = previous?.PrefixRoot ?? Hash256.Zero;
        var updates = new PrefixLeafUpdate[audit.Changes.Count];
        for (int i = 0; i < audit.Changes.Count; i++)
        {
            LeafChange change = audit.Changes[i];
            if (i > 0 && change.Index.CompareTo(audit.Changes[i - 1].Index) <= 0)
            {
                return Fail(TransparencyFailure.BadEpochSequence, "Changes are not sorted by index or repeat one.");
            }

            PrefixNode? old = await PrefixTree.FindLeafAsync(_replica, previousRoot, change.Index, cancellationToken).ConfigureAwait(false);
            if (change.Version != (old?.Version ?? 0) + 1)
            {
                return Fail(TransparencyFailure.BadVersion, "A leaf version did not grow by exactly one.");
            }

            updates[i] = new PrefixLeafUpdate(change.Index, change.Version, change.Commitment);
        }

        var created = new Dictionary<Hash256, PrefixNode>();
        Hash256 root = await PrefixTree.UpdateAsync(_replica, previousRoot, updates, (ulong)head.Epoch, created, cancellationToken).ConfigureAwait(false);
        if (root != head.PrefixRoot)
        {
            return Fail(TransparencyFailure.BadPrefixProof, "The signed prefix root is not the replayed one.");
        }

        var logNodes = await MerkleLog.AppendAsync(_replica, head.Epoch, head.LogEntry.LeafHash, cancellationToken).ConfigureAwait(false);
        var overlay = new ListLogSource(_replica, logNodes);
        Hash256 logRoot = await MerkleLog.RangeHashAsync(overlay, 0, head.LogSize, cancellationToken).ConfigureAwait(false);
        if (logRoot != head.LogRoot)
        {
            return Fail(TransparencyFailure.BadLogProof, "The signed log root is not the replayed one.");
        }

        await _replica.CommitEpochAsync(new EpochCommit(audit, created.Values, logNodes, []), cancellationToken).ConfigureAwait(false);
        return new AuditResult(TransparencyFailure.None, head.Epoch, "ok");
    }

    private sealed class ListLogSource(ILogNodeSource inner, List<(int Level, long Index, Hash256 Hash)> extra) : ILogNodeSource
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
