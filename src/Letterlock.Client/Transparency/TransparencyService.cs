using System.Security.Cryptography;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.Transparency;

namespace Letterlock.Client.Transparency;

/// <summary>How a signed head relates to this client's view of its provider.</summary>
public enum HeadCheck
{
    /// <summary>It is newer and extends the head held so far: it is now the newest.</summary>
    Accepted,

    /// <summary>It is the head held.</summary>
    Known,

    /// <summary>It is older than the head held and consistent with it.</summary>
    Older,

    /// <summary>It conflicts with the head held (equivocation or rewritten history): kept as evidence and alerted.</summary>
    Conflict,

    /// <summary>It is not validly signed by the provider's pinned key (it proves nothing and is ignored).</summary>
    Invalid,

    /// <summary>It could not be checked now (the provider did not answer); nothing was learned.</summary>
    Unverifiable,
}

/// <summary>What a monitoring round found for one own address.</summary>
/// <param name="Address">The address.</param>
/// <param name="Completed">Whether every epoch up to the newest head was checked.</param>
/// <param name="Epoch">The newest epoch checked.</param>
/// <param name="NewAlerts">Alerts raised in this round.</param>
/// <param name="Error">Why the round could not complete (unreachable provider, ...), or null.</param>
public sealed record MonitorReport(string Address, bool Completed, long? Epoch, IReadOnlyList<TransparencyAlert> NewAlerts, string? Error);

/// <summary>The keys this client holds for one of its own addresses, which its directory entry must show.</summary>
/// <param name="OpenPgpFingerprint">The account certificate's fingerprint.</param>
/// <param name="InboxKey">The inbox public key.</param>
/// <param name="DeviceKey">This device's public key.</param>
/// <param name="EarlierKeys">OpenPGP fingerprints and inbox keys this client held before (it keeps their private
/// keys): a version published while an own rotation was under way shows them, and is still the client's own.</param>
public sealed record OwnKeys(byte[] OpenPgpFingerprint, byte[] InboxKey, byte[] DeviceKey, IReadOnlyList<byte[]>? EarlierKeys = null);

/// <summary>Gossip of signed tree heads inside encrypted mail.</summary>
public interface ITransparencyGossip
{
    /// <summary>The newest head of the sender's provider to put into an outgoing encrypted message, or null.</summary>
    Task<SignedTreeHead?> HeadForOutgoingAsync(string senderAddress, CancellationToken ct);

    /// <summary>Checks heads that arrived inside an encrypted message against this client's views.</summary>
    Task ReceivedAsync(IReadOnlyList<string> headerValues, string? senderAddress, CancellationToken ct);
}

/// <summary>
/// The client's side of key transparency (issue 7, "Client"): verifies lookup proofs before a directory key
/// is used (<see cref="ITransparencyVerifier"/>: a verified key is <c>transparent</c>), keeps the newest head
/// per provider and checks that each new one extends it, monitors the client's own addresses for entries it
/// did not make, and gossips heads inside encrypted mail. Conflicts are kept as evidence and raise alerts.
/// </summary>
/// <remarks>
/// Trust anchors: a provider's Ed25519 key is pinned at first contact (<c>/.well-known/letterlock</c>) and a
/// later different key raises an alert instead of being used. A proof whose head is older than the one held
/// is not accepted for a new key (a provider must not roll a key back to an earlier epoch).
/// </remarks>
public sealed class TransparencyService : ITransparencyVerifier, ITransparencyGossip
{
    private readonly HttpClient _http;
    private readonly TransparencyOptions _options;
    private readonly TimeProvider _time;
    private readonly Func<string, Uri> _providerUri;
    private readonly SemaphoreSlim _views = new(1, 1);

    /// <summary>Creates the service over <paramref name="store"/>.</summary>
    /// <param name="store">The client's store (the state is kept in its sealed settings).</param>
    /// <param name="http">HTTP for the providers (the discovery handler: host map, trusted roots).</param>
    /// <param name="options">Limits.</param>
    /// <param name="time">Clock.</param>
    /// <param name="providerUri">The API base URL of a provider domain (default <c>https://DOMAIN/</c>).</param>
    public TransparencyService(LocalStore store, HttpClient http, TransparencyOptions? options = null, TimeProvider? time = null, Func<string, Uri>? providerUri = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _options = options ?? new TransparencyOptions();
        _time = time ?? TimeProvider.System;
        _providerUri = providerUri ?? (domain => new Uri($"https://{domain}/"));
        State = new TransparencyState(store);
    }

    /// <summary>Alerts, conflicts and views as stored.</summary>
    public TransparencyState State { get; }

    /// <summary>Raised for every new alert (the bridge turns it into a notice).</summary>
    public event Action<TransparencyAlert>? AlertRaised;

    /// <summary>The API base URL used for <paramref name="provider"/>.</summary>
    public Uri ProviderUri(string provider) => _providerUri(provider);

    /// <inheritdoc />
    /// <remarks>
    /// A provider that publishes key transparency (it announces a signing key, or this client holds its view) must
    /// prove every key it serves: a missing proof, one that does not verify, or one for another key is
    /// <see cref="TransparencyVerdict.Failed"/>, alerted (<see cref="TransparencyAlertKind.DirectoryProofFailed"/>) and
    /// kept as evidence with the served certificate. A key the provider announces as pending while its log shows the
    /// address's previous key is <see cref="TransparencyVerdict.Unpublished"/>; a pending key for an address the log
    /// does not know yet (a new account) is judged without evidence.
    /// </remarks>
    public async ValueTask<TransparencyVerdict> VerifyAsync(string address, KeyFingerprint fingerprint, TransparencyEvidence evidence, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        string? canonical = TransparencyAddress.TryCanonicalize(address, _options.Limits);
        string provider = evidence.Log.ToLowerInvariant();
        if (canonical is null || TransparencyAddress.Domain(canonical) != provider)
        {
            return TransparencyVerdict.Failed; // a directory speaks only for its own domain
        }

        if (evidence.Proof.IsEmpty)
        {
            if (await GetVerifierAsync(provider, null, ct).ConfigureAwait(false) is null)
            {
                return TransparencyVerdict.Absent; // not a provider that publishes key transparency (or unreachable now)
            }

            await DirectoryFailureAsync(canonical, fingerprint, evidence, null, "served it without a lookup proof", ct).ConfigureAwait(false);
            return TransparencyVerdict.Failed;
        }

        LookupProof proof;
        try
        {
            proof = LookupProof.FromBytes(evidence.Proof.Span, _options.Limits);
        }
        catch (Exception e) when (e is TransparencyFormatException or ArgumentException)
        {
            await DirectoryFailureAsync(canonical, fingerprint, evidence, null, "served it with a lookup proof that is not well-formed", ct).ConfigureAwait(false);
            return TransparencyVerdict.Failed;
        }

        var verification = await VerifyLookupAsync(canonical, proof, ct).ConfigureAwait(false);
        if (verification.Verdict == TransparencyVerdict.Absent)
        {
            return TransparencyVerdict.Absent; // could not be checked now: nothing learned
        }

        if (verification.Verdict == TransparencyVerdict.Failed)
        {
            if (!verification.HeadConflict)
            {
                // (A head that conflicts with the held one was alerted with its own evidence already.)
                await DirectoryFailureAsync(canonical, fingerprint, evidence, proof, "served it with a lookup proof that does not verify", ct).ConfigureAwait(false);
            }

            return TransparencyVerdict.Failed;
        }

        var entry = verification.Entry;
        if (entry is not null && !entry.Keys.Revoked && entry.Keys.OpenPgpFingerprint.Span.SequenceEqual(Convert.FromHexString(fingerprint.Hex)))
        {
            return TransparencyVerdict.Verified;
        }

        if (evidence.Pending)
        {
            return entry is null ? TransparencyVerdict.Absent : TransparencyVerdict.Unpublished;
        }

        await DirectoryFailureAsync(canonical, fingerprint, evidence, proof,
            entry is null ? "served it while its log proves the address has no keys" : "served it while its log shows another key for the address", ct).ConfigureAwait(false);
        return TransparencyVerdict.Failed;
    }

    /// <summary>Keeps what the directory served and raises <see cref="TransparencyAlertKind.DirectoryProofFailed"/> (once per address and epoch).</summary>
    private async Task DirectoryFailureAsync(string address, KeyFingerprint fingerprint, TransparencyEvidence evidence, LookupProof? proof, string what, CancellationToken ct)
    {
        string provider = TransparencyAddress.Domain(address);
        var items = new List<EvidenceItem>();
        if (!evidence.Certificate.IsEmpty)
        {
            items.Add(new EvidenceItem("served-certificate.pgp", evidence.Certificate.ToArray()));
        }

        if (!evidence.Proof.IsEmpty)
        {
            items.Add(new EvidenceItem("lookup.proof", evidence.Proof.ToArray()));
        }

        var evidenceId = items.Count == 0 ? null
            : await State.AddEvidenceAsync(new KeptEvidence(Guid.NewGuid(), _time.GetUtcNow(), provider, TransparencyAlertKind.DirectoryProofFailed,
                $"directory lookup of {address}", items), ct).ConfigureAwait(false);
        await RaiseAsync(null, new TransparencyAlert(Guid.NewGuid(), _time.GetUtcNow(), TransparencyAlertKind.DirectoryProofFailed, provider, address,
            proof?.Head.Epoch, null, $"{provider} served the key {fingerprint.ToDisplayString()} for {address} but {what}: the provider served a key it has not published. " +
            "Letterlock does not encrypt to it.", EvidenceId: evidenceId), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Reports mail for one of this client's addresses that arrived sealed to an inbox key this device does not hold (the
    /// provider document is left where it is); alerted once until acknowledged. Returns whether the alert is new.
    /// </summary>
    public Task<bool> ReportUnknownInboxKeyAsync(string address, string documentId, CancellationToken ct)
    {
        string canonical = TransparencyAddress.Canonicalize(address, _options.Limits);
        string provider = TransparencyAddress.Domain(canonical);
        return RaiseAsync(null, new TransparencyAlert(Guid.NewGuid(), _time.GetUtcNow(), TransparencyAlertKind.InboxKeyUnknown, provider, canonical, null, null,
            $"Mail for {canonical} (provider document {documentId}) arrived sealed to an inbox key this device does not hold. Either {provider} sealed it to a key " +
            "it swapped in for yours, so that whoever holds that key can read mail sent to you, or the document was damaged. It was not opened and stays at the provider."),
            ct);
    }

    /// <summary>
    /// Fetches and verifies the lookup proof of <paramref name="address"/> from its provider: the verified entry
    /// (null: the provider proves it has none), with the verdict.
    /// </summary>
    public async Task<(TransparencyVerdict Verdict, DirectoryEntry? Entry, SignedTreeHead? Head)> LookupAsync(string address, CancellationToken ct)
    {
        string canonical = TransparencyAddress.Canonicalize(address, _options.Limits);
        string provider = TransparencyAddress.Domain(canonical);
        LookupProof proof;
        try
        {
            (proof, _) = await new TransparencyHttp(_http, _providerUri(provider), _options).LookupAsync(canonical, ct).ConfigureAwait(false);
        }
        catch (TransparencyFetchException)
        {
            return (TransparencyVerdict.Absent, null, null);
        }

        var verification = await VerifyLookupAsync(canonical, proof, ct).ConfigureAwait(false);
        return (verification.Verdict, verification.Entry, proof.Head);
    }

    private async Task<(TransparencyVerdict Verdict, DirectoryEntry? Entry, bool HeadConflict)> VerifyLookupAsync(string address, LookupProof proof, CancellationToken ct)
    {
        string provider = TransparencyAddress.Domain(address);
        var anchor = await GetVerifierAsync(provider, null, ct).ConfigureAwait(false);
        if (anchor is null)
        {
            return (TransparencyVerdict.Absent, null, false);
        }

        var lookup = anchor.VerifyLookup(address, proof);
        if (!lookup.IsValid)
        {
            return (TransparencyVerdict.Failed, null, false);
        }

        // A lookup is answered against the provider's newest head: one older than a head already verified is a rollback.
        var check = await ObserveHeadCoreAsync(provider, proof.Head, $"lookup of {address}", null, newest: true, ct).ConfigureAwait(false);
        return check switch
        {
            HeadCheck.Accepted or HeadCheck.Known => (TransparencyVerdict.Verified, lookup.Entry, false),
            HeadCheck.Conflict => (TransparencyVerdict.Failed, null, true),
            HeadCheck.Invalid => (TransparencyVerdict.Failed, null, false),
            _ => (TransparencyVerdict.Absent, null, false), // unverifiable now: nothing learned
        };
    }

    /// <summary>
    /// Relates <paramref name="head"/> to the newest head held for <paramref name="provider"/>: a newer one must be
    /// proven to extend it (consistency proof from the provider), the same epoch must carry the same head, an
    /// older one must be the provider's head of that epoch and be extended by the held one. Conflicts are kept
    /// and alerted.
    /// </summary>
    public Task<HeadCheck> ObserveHeadAsync(string provider, SignedTreeHead head, string source, Uri? baseUri, CancellationToken ct) =>
        ObserveHeadCoreAsync(provider, head, source, baseUri, newest: false, ct);

    /// <summary>
    /// As <see cref="ObserveHeadAsync"/>; with <paramref name="newest"/> the provider presents <paramref name="head"/> as its
    /// newest (the latest-head endpoint, a lookup or monitoring proof), so a head older than the one held is a rollback:
    /// alerted at once and kept as evidence, whatever the provider answers later.
    /// </summary>
    private async Task<HeadCheck> ObserveHeadCoreAsync(string provider, SignedTreeHead head, string source, Uri? baseUri, bool newest, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(head);
        var anchor = await GetVerifierAsync(provider, baseUri, ct).ConfigureAwait(false);
        if (anchor is null)
        {
            return HeadCheck.Unverifiable;
        }

        if (anchor.VerifyHead(head) != TransparencyFailure.None)
        {
            return HeadCheck.Invalid;
        }

        await _views.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var view = (await State.GetProviderAsync(provider, ct).ConfigureAwait(false))!;
            var http = new TransparencyHttp(_http, baseUri ?? _providerUri(provider), _options);
            if (view.NewestHead is not { } heldBytes)
            {
                await State.SetProviderAsync(view with { NewestHead = head.ToBytes() }, ct).ConfigureAwait(false);
                return HeadCheck.Accepted;
            }

            SignedTreeHead held = SignedTreeHead.FromBytes(heldBytes, _options.Limits);
            if (newest && head.Epoch < held.Epoch)
            {
                await ConflictAsync(provider, TransparencyAlertKind.Rollback, held, head, null, source, ct).ConfigureAwait(false);
                return HeadCheck.Conflict;
            }

            if (head.Epoch == held.Epoch)
            {
                if (anchor.Relate(held, head) == HeadRelation.Same)
                {
                    return HeadCheck.Known;
                }

                await ConflictAsync(provider, TransparencyAlertKind.Equivocation, held, head, null, source, ct).ConfigureAwait(false);
                return HeadCheck.Conflict;
            }

            var (older, newer) = head.Epoch < held.Epoch ? (head, held) : (held, head);
            ConsistencyProof proof;
            try
            {
                if (head.Epoch < held.Epoch && await http.GetHeadAsync(head.Epoch, ct).ConfigureAwait(false) is { } served
                    && anchor.Relate(served, head) == HeadRelation.Equivocation)
                {
                    // The provider's own head of that epoch differs from the one received: two signed heads, one epoch.
                    await ConflictAsync(provider, TransparencyAlertKind.Equivocation, served, head, null, source, ct).ConfigureAwait(false);
                    return HeadCheck.Conflict;
                }

                proof = await http.GetConsistencyAsync(older.Epoch, newer.Epoch, ct).ConfigureAwait(false);
            }
            catch (TransparencyFetchException e) when (e.HttpStatus is null or >= 500)
            {
                return HeadCheck.Unverifiable;
            }
            catch (TransparencyFetchException)
            {
                // The provider refuses to prove its own head consistent (e.g. "no such epoch" for a head it signed).
                await ConflictAsync(provider, TransparencyAlertKind.InconsistentHistory, held, head, null, source, ct).ConfigureAwait(false);
                return HeadCheck.Conflict;
            }

            if (anchor.VerifyConsistency(older, newer, proof) != TransparencyFailure.None)
            {
                await ConflictAsync(provider, TransparencyAlertKind.InconsistentHistory, held, head, proof.ToBytes(), source, ct).ConfigureAwait(false);
                return HeadCheck.Conflict;
            }

            if (head.Epoch < held.Epoch)
            {
                return HeadCheck.Older;
            }

            await State.SetProviderAsync(view with { NewestHead = head.ToBytes() }, ct).ConfigureAwait(false);
            return HeadCheck.Accepted;
        }
        finally
        {
            _views.Release();
        }
    }

    /// <summary>Fetches the provider's newest head and checks it against the held one (start-up and every epoch).</summary>
    public async Task<HeadCheck> RefreshHeadAsync(string provider, Uri? baseUri, CancellationToken ct)
    {
        var http = new TransparencyHttp(_http, baseUri ?? _providerUri(provider), _options);
        (SignedTreeHead head, int interval) latest;
        try
        {
            latest = await http.GetLatestHeadAsync(ct).ConfigureAwait(false);
        }
        catch (TransparencyFetchException)
        {
            return HeadCheck.Unverifiable;
        }

        var check = await ObserveHeadCoreAsync(provider, latest.head, "newest head", baseUri, newest: true, ct).ConfigureAwait(false);
        if (await State.GetProviderAsync(provider, ct).ConfigureAwait(false) is { } view && view.EpochIntervalSeconds != latest.interval)
        {
            await State.SetProviderAsync(view with { EpochIntervalSeconds = latest.interval }, ct).ConfigureAwait(false);
        }

        return check;
    }

    /// <summary>
    /// Monitors one of this client's addresses: every version published since the last check is proven against
    /// the epoch that published it and must continue the known version without a gap; a version whose key set
    /// this client did not make (another OpenPGP or inbox key, an unknown device, revoked) raises an alert and is
    /// recorded. Versions published before <paramref name="watchSince"/> (before this device held the account)
    /// are taken as the baseline.
    /// </summary>
    public async Task<MonitorReport> MonitorAsync(string address, OwnKeys own, DateTimeOffset watchSince, Uri? baseUri, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(own);
        string canonical = TransparencyAddress.Canonicalize(address, _options.Limits);
        string provider = TransparencyAddress.Domain(canonical);
        var alerts = new List<TransparencyAlert>();
        var anchor = await GetVerifierAsync(provider, baseUri, ct).ConfigureAwait(false);
        if (anchor is null)
        {
            return new MonitorReport(canonical, false, null, alerts, "the provider's signing key could not be obtained, or it changed");
        }

        var http = new TransparencyHttp(_http, baseUri ?? _providerUri(provider), _options);
        var state = await State.GetOwnAddressAsync(canonical, ct).ConfigureAwait(false) ?? new OwnAddressState(canonical, 0, 0, [], [], null);
        long? epoch = null;
        for (int page = 0; page < _options.MaxMonitorPages; page++)
        {
            MonitorProof proof;
            try
            {
                proof = await http.MonitorAsync(canonical, state.NextEpoch, ct).ConfigureAwait(false);
            }
            catch (TransparencyFetchException e)
            {
                if (e.HttpStatus is >= 400 and < 500)
                {
                    // Refused to prove epochs this client already saw: classify it now (a rollback is alerted at once)
                    // instead of retrying quietly until the provider catches up.
                    await RefreshHeadAsync(provider, baseUri, ct).ConfigureAwait(false);
                }

                return new MonitorReport(canonical, false, epoch, alerts, e.Message);
            }

            var result = proof.SinceEpoch == state.NextEpoch
                ? anchor.VerifyMonitor(canonical, state.KnownVersion, proof)
                : new MonitorVerification(TransparencyFailure.BadHistory, proof.Current.Head, null, [], false);
            if (!result.IsValid)
            {
                // Keyed by the first unchecked epoch: the same unresolved failure is one alert, not one per epoch.
                await RaiseAsync(alerts, new TransparencyAlert(Guid.NewGuid(), _time.GetUtcNow(), TransparencyAlertKind.MonitoringProofFailed, provider, canonical,
                    state.NextEpoch, null, $"The provider's monitoring proof for {canonical} since epoch {state.NextEpoch} does not verify ({result.Failure}): " +
                    "it may be hiding or rewriting a change of this address's keys."), ct).ConfigureAwait(false);
                return new MonitorReport(canonical, false, epoch, alerts, "the monitoring proof did not verify");
            }

            var headCheck = await ObserveHeadCoreAsync(provider, result.Head, $"monitoring of {canonical}", baseUri, newest: true, ct).ConfigureAwait(false);
            if (headCheck is HeadCheck.Conflict or HeadCheck.Invalid)
            {
                return new MonitorReport(canonical, false, epoch, alerts, "the provider's head conflicts with an earlier one");
            }

            for (int i = 0; i < result.Changes.Count; i++)
            {
                DirectoryEntry change = result.Changes[i];
                long publishedAt = proof.Changes[i].LogEntry.TimestampMs;
                if (publishedAt >= watchSince.ToUnixTimeMilliseconds() && Judge(change.Keys, own, state) is { } problem)
                {
                    await RaiseAsync(alerts, new TransparencyAlert(Guid.NewGuid(), _time.GetUtcNow(), TransparencyAlertKind.UnexpectedKeyChange, provider, canonical,
                        (long)change.Epoch, change.Version, $"{provider} published keys for {canonical} that this client did not make (version {change.Version}, epoch {change.Epoch}): {problem}.",
                        KeySetHash: SHA256.HashData(change.Keys.Encoded),
                        UnknownDevices: change.Keys.DeviceKeys.Select(k => k.ToArray()).Where(k => !IsKnownDevice(k, own, state)).ToList()), ct).ConfigureAwait(false);
                }

                state = state with { KnownVersion = change.Version };
            }

            epoch = result.Head.Epoch;
            if (result.IsComplete)
            {
                state = state with { NextEpoch = result.Head.Epoch + 1, LastCheckedAt = _time.GetUtcNow() };
                await State.SetOwnAddressAsync(state, ct).ConfigureAwait(false);
                return new MonitorReport(canonical, true, epoch, alerts, null);
            }

            state = state with { NextEpoch = (long)result.Changes[^1].Epoch + 1 };
            await State.SetOwnAddressAsync(state, ct).ConfigureAwait(false);
        }

        return new MonitorReport(canonical, false, epoch, alerts, $"more than {_options.MaxMonitorPages} pages of history; continuing next time");
    }

    /// <summary>
    /// Accepts the key set an <see cref="TransparencyAlertKind.UnexpectedKeyChange"/> alert reported (for example a
    /// device the user added from another device): its device keys and the key set become known, the alert is acknowledged.
    /// </summary>
    public async Task<bool> AcceptAsync(Guid alertId, CancellationToken ct)
    {
        var alert = (await State.GetAlertsAsync(ct).ConfigureAwait(false)).FirstOrDefault(a => a.Id == alertId);
        if (alert is not { Kind: TransparencyAlertKind.UnexpectedKeyChange, Address: { } address })
        {
            return false;
        }

        var state = await State.GetOwnAddressAsync(address, ct).ConfigureAwait(false) ?? new OwnAddressState(address, 0, 0, [], [], null);
        state = state with
        {
            AcceptedKeySets = alert.KeySetHash is { } hash ? [.. state.AcceptedKeySets, hash] : state.AcceptedKeySets,
            AcceptedDeviceKeys = [.. state.AcceptedDeviceKeys, .. alert.UnknownDevices ?? []],
        };
        await State.SetOwnAddressAsync(state, ct).ConfigureAwait(false);
        await State.AcknowledgeAlertsAsync(alertId, ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Records a device key this client added to its own account (after <c>POST /v1/devices</c>), so the version
    /// that publishes it is recognised as this client's own change.
    /// </summary>
    public async Task ExpectDeviceAsync(string address, ReadOnlyMemory<byte> devicePublicKey, CancellationToken ct)
    {
        string canonical = TransparencyAddress.Canonicalize(address, _options.Limits);
        var state = await State.GetOwnAddressAsync(canonical, ct).ConfigureAwait(false) ?? new OwnAddressState(canonical, 0, 0, [], [], null);
        if (!state.AcceptedDeviceKeys.Any(k => k.AsSpan().SequenceEqual(devicePublicKey.Span)))
        {
            await State.SetOwnAddressAsync(state with { AcceptedDeviceKeys = [.. state.AcceptedDeviceKeys, devicePublicKey.ToArray()] }, ct).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<SignedTreeHead?> HeadForOutgoingAsync(string senderAddress, CancellationToken ct)
    {
        if (TransparencyAddress.TryCanonicalize(senderAddress, _options.Limits) is not { } canonical)
        {
            return null;
        }

        var view = await State.GetProviderAsync(TransparencyAddress.Domain(canonical), ct).ConfigureAwait(false);
        return view?.NewestHead is { } bytes ? SignedTreeHead.FromBytes(bytes, _options.Limits) : null;
    }

    /// <inheritdoc />
    public async Task ReceivedAsync(IReadOnlyList<string> headerValues, string? senderAddress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(headerValues);
        foreach (string value in headerValues.Take(HeadGossip.MaxHeadsPerMessage))
        {
            if (HeadGossip.TryParse(value, _options.Limits) is not { } head)
            {
                continue;
            }

            // Only providers this client already holds a view of: the head's provider name is the sender's claim,
            // and a view (a pinned key) is what makes the head checkable at all.
            string provider = head.Provider.ToLowerInvariant();
            if (await State.GetProviderAsync(provider, ct).ConfigureAwait(false) is null)
            {
                continue;
            }

            await ObserveHeadAsync(provider, head, senderAddress is null ? "gossip" : $"gossip from {senderAddress}", null, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Pins the provider's key at first contact; null when it cannot be obtained or changed (alerted).</summary>
    private async Task<TransparencyVerifier?> GetVerifierAsync(string provider, Uri? baseUri, CancellationToken ct)
    {
        var view = await State.GetProviderAsync(provider, ct).ConfigureAwait(false);
        if (view is not null)
        {
            return new TransparencyVerifier(provider, view.SigningKey);
        }

        Letterlock.Api.ProviderInfo info;
        try
        {
            info = await new TransparencyHttp(_http, baseUri ?? _providerUri(provider), _options).GetProviderInfoAsync(ct).ConfigureAwait(false);
        }
        catch (TransparencyFetchException)
        {
            return null;
        }

        if (!string.Equals(info.Domain, provider, StringComparison.OrdinalIgnoreCase) || info.ProviderSigningKey is not { Length: 32 })
        {
            return null;
        }

        await _views.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            view = await State.GetProviderAsync(provider, ct).ConfigureAwait(false);
            if (view is null)
            {
                view = new ProviderView(provider, info.ProviderSigningKey, null, 60);
                await State.SetProviderAsync(view, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _views.Release();
        }

        return new TransparencyVerifier(provider, view.SigningKey);
    }

    /// <summary>Checks the pinned key against the one the provider announces now; a difference is alerted and nothing is re-pinned.</summary>
    public async Task<bool> CheckProviderKeyAsync(string provider, Uri? baseUri, CancellationToken ct)
    {
        var view = await State.GetProviderAsync(provider, ct).ConfigureAwait(false);
        if (view is null)
        {
            return await GetVerifierAsync(provider, baseUri, ct).ConfigureAwait(false) is not null;
        }

        Letterlock.Api.ProviderInfo info;
        try
        {
            info = await new TransparencyHttp(_http, baseUri ?? _providerUri(provider), _options).GetProviderInfoAsync(ct).ConfigureAwait(false);
        }
        catch (TransparencyFetchException)
        {
            return true; // unreachable is not a key change
        }

        if (info.ProviderSigningKey is not null && info.ProviderSigningKey.AsSpan().SequenceEqual(view.SigningKey))
        {
            return true;
        }

        await RaiseAsync(null, new TransparencyAlert(Guid.NewGuid(), _time.GetUtcNow(), TransparencyAlertKind.ProviderKeyChanged, provider, null, null, null,
            $"{provider} now announces a different transparency signing key than the one pinned at first contact; its heads are not trusted until this is resolved."), ct).ConfigureAwait(false);
        return false;
    }

    private static string? Judge(KeySet keys, OwnKeys own, OwnAddressState state)
    {
        byte[] hash = SHA256.HashData(keys.Encoded);
        if (state.AcceptedKeySets.Any(h => h.AsSpan().SequenceEqual(hash)))
        {
            return null;
        }

        var problems = new List<string>();
        if (keys.Revoked)
        {
            problems.Add("the address is marked revoked");
        }

        bool Own(ReadOnlyMemory<byte> key, byte[] current) =>
            key.Span.SequenceEqual(current) || (own.EarlierKeys ?? []).Any(k => key.Span.SequenceEqual(k));

        if (!Own(keys.OpenPgpFingerprint, own.OpenPgpFingerprint))
        {
            problems.Add($"the OpenPGP key {Convert.ToHexString(keys.OpenPgpFingerprint.Span)} is not this account's");
        }

        if (!Own(keys.InboxKey, own.InboxKey))
        {
            problems.Add("the inbox key is not this account's (arriving mail would be sealed to someone else)");
        }

        int unknown = keys.DeviceKeys.Count(k => !IsKnownDevice(k.ToArray(), own, state));
        if (unknown > 0)
        {
            problems.Add($"{unknown} device key(s) this client does not know");
        }

        if (!keys.DeviceKeys.Any(k => k.Span.SequenceEqual(own.DeviceKey)))
        {
            problems.Add("this device's key is missing");
        }

        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    private static bool IsKnownDevice(byte[] key, OwnKeys own, OwnAddressState state) =>
        key.AsSpan().SequenceEqual(own.DeviceKey) || state.AcceptedDeviceKeys.Any(k => k.AsSpan().SequenceEqual(key));

    private async Task ConflictAsync(string provider, TransparencyAlertKind kind, SignedTreeHead first, SignedTreeHead second, byte[]? proof, string source, CancellationToken ct)
    {
        var evidenceId = await State.AddConflictAsync(new TransparencyConflict(_time.GetUtcNow(), provider, kind, first.ToBytes(), second.ToBytes(), proof, source), ct)
            .ConfigureAwait(false);
        string detail = kind switch
        {
            TransparencyAlertKind.Equivocation =>
                $"{provider} signed two different tree heads for epoch {second.Epoch} (seen through {source}): it shows different people different key directories.",
            TransparencyAlertKind.Rollback =>
                $"{provider} presents epoch {second.Epoch} as its newest (seen through {source}), but this client already verified its epoch {first.Epoch}: its key log went back in time.",
            _ => $"{provider}'s tree head of epoch {second.Epoch} (seen through {source}) does not extend its head of epoch {first.Epoch}: its key history was rewritten.",
        };

        // Keyed by the held head's epoch: every later head conflicting with it is kept as evidence, but alerted once.
        await RaiseAsync(null, new TransparencyAlert(Guid.NewGuid(), _time.GetUtcNow(), kind, provider, null, first.Epoch, null, detail, EvidenceId: evidenceId), ct)
            .ConfigureAwait(false);
    }

    private async Task<bool> RaiseAsync(List<TransparencyAlert>? collected, TransparencyAlert alert, CancellationToken ct)
    {
        if (!await State.AddAlertAsync(alert, ct).ConfigureAwait(false))
        {
            return false;
        }

        var recorded = alert with { NoticePending = true };
        collected?.Add(recorded);
        AlertRaised?.Invoke(recorded);
        return true;
    }
}
