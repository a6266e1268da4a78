namespace Letterlock.Transparency;

/// <summary>Why a transparency check failed. <see cref="None"/> means it passed.</summary>
public enum TransparencyFailure
{
    /// <summary>Everything verified.</summary>
    None,

    /// <summary>The head is for another provider.</summary>
    WrongProvider,

    /// <summary>The head's signature does not verify under the provider's key.</summary>
    BadSignature,

    /// <summary>The VRF proof does not verify for this address.</summary>
    BadVrfProof,

    /// <summary>The prefix-tree proof does not lead to the head's root, or claims the wrong kind of result.</summary>
    BadPrefixProof,

    /// <summary>An entry is malformed (version 0, or published after the head it is shown under).</summary>
    BadEntry,

    /// <summary>A log inclusion or consistency proof does not verify.</summary>
    BadLogProof,

    /// <summary>A monitoring history is not the contiguous list of versions it must be, or disagrees with what the client knows.</summary>
    BadHistory,

    /// <summary>Two validly signed heads of one provider and epoch differ: the provider equivocated.</summary>
    Equivocation,

    /// <summary>An epoch does not follow the previous one (number, time, VRF key).</summary>
    BadEpochSequence,

    /// <summary>A leaf change does not increase the leaf's version by exactly one.</summary>
    BadVersion,
}

/// <summary>The outcome of verifying a lookup.</summary>
public sealed record LookupVerification(TransparencyFailure Failure, SignedTreeHead Head, DirectoryEntry? Entry)
{
    /// <summary>True when the proof verified; <see cref="LookupVerification.Entry"/> is then the address's entry (null: it has none).</summary>
    public bool IsValid => Failure == TransparencyFailure.None;
}

/// <summary>The outcome of verifying a monitoring proof.</summary>
public sealed record MonitorVerification(TransparencyFailure Failure, SignedTreeHead Head, DirectoryEntry? Current, IReadOnlyList<DirectoryEntry> Changes, bool IsComplete)
{
    /// <summary>True when everything verified. The client then compares <see cref="Changes"/> with the changes it made itself.</summary>
    public bool IsValid => Failure == TransparencyFailure.None;
}

/// <summary>How two signed heads of one provider relate.</summary>
public enum HeadRelation
{
    /// <summary>Same epoch, same content.</summary>
    Same,

    /// <summary>Different epochs: ask for a consistency proof.</summary>
    DifferentEpochs,

    /// <summary>Same epoch, different content, both validly signed: proof of misbehaviour, keep both.</summary>
    Equivocation,

    /// <summary>At least one head is not validly signed by this provider (ignore it, it proves nothing).</summary>
    Invalid,
}

/// <summary>
/// The client's side, pure: verifies heads, lookups, monitoring proofs and consistency proofs of one
/// provider, given the provider's name and Ed25519 public key (its trust anchor).
/// </summary>
public sealed class TransparencyVerifier
{
    private readonly string _provider;
    private readonly byte[] _signingPublicKey;

    /// <summary>Creates a verifier for <paramref name="provider"/>.</summary>
    public TransparencyVerifier(string provider, ReadOnlySpan<byte> signingPublicKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(provider);
        if (signingPublicKey.Length != 32)
        {
            throw new ArgumentException("An Ed25519 public key is 32 bytes.", nameof(signingPublicKey));
        }

        _provider = provider;
        _signingPublicKey = signingPublicKey.ToArray();
    }

    /// <summary>Checks that <paramref name="head"/> is this provider's and validly signed.</summary>
    public TransparencyFailure VerifyHead(SignedTreeHead head)
    {
        ArgumentNullException.ThrowIfNull(head);
        if (!string.Equals(head.Provider, _provider, StringComparison.Ordinal))
        {
            return TransparencyFailure.WrongProvider;
        }

        return head.VerifySignature(_signingPublicKey) ? TransparencyFailure.None : TransparencyFailure.BadSignature;
    }

    /// <summary>
    /// Verifies a lookup proof for <paramref name="address"/> (canonicalised as the provider does): head signature,
    /// VRF proof of the index, and the prefix-tree proof of the entry (or of its absence) against the head.
    /// </summary>
    public LookupVerification VerifyLookup(string address, LookupProof proof)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(proof);
        TransparencyFailure failure = VerifyLookupCore(address, proof, out _);
        return new LookupVerification(failure, proof.Head, failure == TransparencyFailure.None ? proof.Entry : null);
    }

    private TransparencyFailure VerifyLookupCore(string address, LookupProof proof, out Hash256 index)
    {
        index = default;
        TransparencyFailure headCheck = VerifyHead(proof.Head);
        if (headCheck != TransparencyFailure.None)
        {
            return headCheck;
        }

        Span<byte> output = stackalloc byte[EcVrf.OutputLength];
        if (!EcVrf.Verify(proof.Head.VrfPublicKey.Span, TransparencyDirectory.VrfInput(address), proof.VrfProof.Span, output))
        {
            return TransparencyFailure.BadVrfProof;
        }

        index = TransparencyDirectory.IndexFromVrfOutput(output);
        Hash256? root;
        if (proof.Entry is { } entry)
        {
            if (entry.Version == 0 || entry.Epoch > (ulong)proof.Head.Epoch)
            {
                return TransparencyFailure.BadEntry;
            }

            if (proof.Prefix.Terminal != PrefixProofTerminal.Inclusion)
            {
                return TransparencyFailure.BadPrefixProof;
            }

            root = proof.Prefix.ComputeRoot(index, entry.Version, entry.Epoch, entry.Commitment(address));
        }
        else
        {
            if (proof.Prefix.Terminal == PrefixProofTerminal.Inclusion)
            {
                return TransparencyFailure.BadPrefixProof;
            }

            root = proof.Prefix.ComputeRoot(index, 0, 0, default);
        }

        return root == proof.Head.PrefixRoot ? TransparencyFailure.None : TransparencyFailure.BadPrefixProof;
    }

    /// <summary>
    /// Verifies a monitoring proof for <paramref name="address"/>, given the newest version the client knows
    /// (<paramref name="knownVersion"/>, 0 for none) as of <see cref="MonitorProof.SinceEpoch"/>. Every change is
    /// proven against the epoch that published it, and versions must run on from <paramref name="knownVersion"/>
    /// without a gap. The caller then raises an alert for any change it did not make itself.
    /// </summary>
    /// <remarks>
    /// A version that a provider published and later overwrote still shows up here because versions only grow
    /// by one per change; auditors (<see cref="TransparencyAuditor"/>) enforce that rule on every epoch.
    /// </remarks>
    public MonitorVerification VerifyMonitor(string address, ulong knownVersion, MonitorProof proof)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(proof);
        SignedTreeHead head = proof.Current.Head;
        MonitorVerification Fail(TransparencyFailure f) => new(f, head, null, [], false);

        TransparencyFailure current = VerifyLookupCore(address, proof.Current, out Hash256 index);
        if (current != TransparencyFailure.None)
        {
            return Fail(current);
        }

        DirectoryEntry? currentEntry = proof.Current.Entry;
        ulong expected = knownVersion + 1;
        long previousEpoch = proof.SinceEpoch - 1;
        var changes = new List<DirectoryEntry>(proof.Changes.Count);
        foreach (HistoricalEntry change in proof.Changes)
        {
            DirectoryEntry entry = change.Entry;
            if (entry.Version != expected || (long)entry.Epoch <= previousEpoch || (long)entry.Epoch > head.Epoch
                || change.LogEntry.Epoch != (long)entry.Epoch)
            {
                return Fail(TransparencyFailure.BadHistory);
            }

            if (!MerkleLog.VerifyInclusion(change.LogEntry.Epoch, head.LogSize, change.LogEntry.LeafHash, change.LogInclusion, head.LogRoot))
            {
                return Fail(TransparencyFailure.BadLogProof);
            }

            if (change.Prefix.Terminal != PrefixProofTerminal.Inclusion
                || change.Prefix.ComputeRoot(index, entry.Version, entry.Epoch, entry.Commitment(address)) != change.LogEntry.PrefixRoot)
            {
                return Fail(TransparencyFailure.BadPrefixProof);
            }

            changes.Add(entry);
            expected++;
            previousEpoch = (long)entry.Epoch;
        }

        bool complete;
        if (changes.Count == 0)
        {
            // Nothing new: the current state must be the one the client knows, from before SinceEpoch.
            bool unchanged = currentEntry is null
                ? knownVersion == 0
                : currentEntry.Version == knownVersion && (long)currentEntry.Epoch < proof.SinceEpoch;
            if (!unchanged)
            {
                return Fail(TransparencyFailure.BadHistory);
            }

            complete = true;
        }
        else
        {
            DirectoryEntry last = changes[^1];
            if (currentEntry is null || last.Version > currentEntry.Version)
            {
                return Fail(TransparencyFailure.BadHistory);
            }

            complete = last.Version == currentEntry.Version;
            if (complete && (last.Epoch != currentEntry.Epoch || last.Commitment(address) != currentEntry.Commitment(address)))
            {
                return Fail(TransparencyFailure.BadHistory);
            }
        }

        return new MonitorVerification(TransparencyFailure.None, head, currentEntry, changes, complete);
    }

    /// <summary>
    /// Verifies that <paramref name="newer"/>'s log extends <paramref name="older"/>'s (both must be validly
    /// signed heads of this provider). Same epoch: the heads must be identical, or it is an equivocation.
    /// </summary>
    public TransparencyFailure VerifyConsistency(SignedTreeHead older, SignedTreeHead newer, ConsistencyProof proof)
    {
        ArgumentNullException.ThrowIfNull(older);
        ArgumentNullException.ThrowIfNull(newer);
        ArgumentNullException.ThrowIfNull(proof);
        TransparencyFailure check = VerifyHead(older);
        if (check == TransparencyFailure.None)
        {
            check = VerifyHead(newer);
        }

        if (check != TransparencyFailure.None)
        {
            return check;
        }

        if (older.Epoch == newer.Epoch)
        {
            return SameContent(older, newer) ? TransparencyFailure.None : TransparencyFailure.Equivocation;
        }

        if (proof.FromEpoch != older.Epoch || proof.ToEpoch != newer.Epoch || older.Epoch > newer.Epoch)
        {
            return TransparencyFailure.BadLogProof;
        }

        return MerkleLog.VerifyConsistency(older.LogSize, newer.LogSize, older.LogRoot, newer.LogRoot, proof.Hashes)
            ? TransparencyFailure.None
            : TransparencyFailure.BadLogProof;
    }

    /// <summary>Relates two heads, e.g. the client's own and one received by gossip inside a message.</summary>
    public HeadRelation Relate(SignedTreeHead a, SignedTreeHead b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (VerifyHead(a) != TransparencyFailure.None || VerifyHead(b) != TransparencyFailure.None)
        {
            return HeadRelation.Invalid;
        }

        if (a.Epoch != b.Epoch)
        {
            return HeadRelation.DifferentEpochs;
        }

        return SameContent(a, b) ? HeadRelation.Same : HeadRelation.Equivocation;
    }

    private static bool SameContent(SignedTreeHead a, SignedTreeHead b) =>
        a.TimestampMs == b.TimestampMs && a.LogRoot == b.LogRoot && a.PrefixRoot == b.PrefixRoot && a.VrfPublicKey.Span.SequenceEqual(b.VrfPublicKey.Span);
}
