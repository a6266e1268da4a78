using System.Security.Cryptography;
using Letterlock.Transparency;
using NSec.Cryptography;

namespace Letterlock.Transparency.Tests;

/// <summary>The directory, the client verifier and the auditor together, over the in-memory store.</summary>
public sealed class DirectoryTests : IDisposable
{
    private const string Provider = "example.org";
    private readonly Key _signingKey = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
    private readonly EcVrfSecretKey _vrfKey = EcVrfSecretKey.Generate(out _);
    private readonly InMemoryTransparencyStore _store = new();
    private readonly TransparencyDirectory _directory;
    private readonly TransparencyVerifier _verifier;
    private long _clock = 1_700_000_000_000;

    public DirectoryTests()
    {
        _directory = new TransparencyDirectory(Provider, _signingKey, _vrfKey, _store);
        _verifier = new TransparencyVerifier(Provider, _signingKey.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    public void Dispose()
    {
        _signingKey.Dispose();
        _vrfKey.Dispose();
    }

    [Fact]
    public async Task Lookups_of_present_and_absent_addresses_verify()
    {
        KeySet alice = Keys(1), bob = Keys(2);
        await PublishAsync(("alice@example.org", alice), ("bob@example.org", bob));
        await PublishAsync(("carol@example.org", Keys(3)));

        LookupVerification a = _verifier.VerifyLookup("alice@example.org", await _directory.LookupAsync("alice@example.org", default));
        Assert.True(a.IsValid, a.Failure.ToString());
        Assert.Equal(alice, a.Entry!.Keys);
        Assert.Equal(1UL, a.Entry.Version);
        Assert.Equal(0UL, a.Entry.Epoch);
        Assert.Equal(1, a.Head.Epoch);

        LookupVerification nobody = _verifier.VerifyLookup("nobody@example.org", await _directory.LookupAsync("nobody@example.org", default));
        Assert.True(nobody.IsValid, nobody.Failure.ToString());
        Assert.Null(nobody.Entry);
    }

    [Fact]
    public async Task Tampered_lookups_fail()
    {
        await PublishAsync(("alice@example.org", Keys(1)), ("bob@example.org", Keys(2)));
        LookupProof proof = await _directory.LookupAsync("alice@example.org", default);
        LookupProof bobProof = await _directory.LookupAsync("bob@example.org", default);

        // The proof for alice is not a proof for bob, and bob's VRF proof does not prove alice's index.
        Assert.Equal(TransparencyFailure.BadVrfProof, _verifier.VerifyLookup("bob@example.org", proof).Failure);
        Assert.Equal(TransparencyFailure.BadVrfProof, _verifier.VerifyLookup("alice@example.org", new LookupProof(proof.Head, bobProof.VrfProof.Span, proof.Prefix, proof.Entry)).Failure);

        // A swapped key set (the attack the whole system exists for) breaks the commitment.
        var swapped = new DirectoryEntry(proof.Entry!.Version, proof.Entry.Epoch, Keys(99), proof.Entry.Opening.Span);
        Assert.Equal(TransparencyFailure.BadPrefixProof, _verifier.VerifyLookup("alice@example.org", new LookupProof(proof.Head, proof.VrfProof.Span, proof.Prefix, swapped)).Failure);

        // Hiding the entry: an inclusion path without the entry is refused; bob's path claims the wrong kind.
        Assert.Equal(TransparencyFailure.BadPrefixProof, _verifier.VerifyLookup("alice@example.org", new LookupProof(proof.Head, proof.VrfProof.Span, proof.Prefix, null)).Failure);

        // Another provider's key, or another provider's name.
        using var other = Key.Create(SignatureAlgorithm.Ed25519);
        Assert.Equal(TransparencyFailure.BadSignature, new TransparencyVerifier(Provider, other.PublicKey.Export(KeyBlobFormat.RawPublicKey)).VerifyLookup("alice@example.org", proof).Failure);
        Assert.Equal(TransparencyFailure.WrongProvider, new TransparencyVerifier("evil.example", _signingKey.PublicKey.Export(KeyBlobFormat.RawPublicKey)).VerifyLookup("alice@example.org", proof).Failure);

        // Every single-byte change of the encoded proof either fails to decode or fails to verify.
        byte[] bytes = proof.ToBytes();
        var random = new Random(7);
        for (int i = 0; i < bytes.Length; i++)
        {
            byte[] tampered = (byte[])bytes.Clone();
            tampered[i] ^= (byte)(1 << random.Next(8));
            try
            {
                LookupProof decoded = LookupProof.FromBytes(tampered);
                Assert.False(_verifier.VerifyLookup("alice@example.org", decoded).IsValid, $"byte {i} of {bytes.Length}");
            }
            catch (TransparencyFormatException)
            {
            }
            catch (ArgumentException)
            {
            }
        }
    }

    [Fact]
    public async Task Monitoring_sees_every_version_and_detects_a_hidden_change()
    {
        await PublishAsync(("bob@example.org", Keys(1)));                            // epoch 0, v1
        await PublishAsync(("alice@example.org", Keys(2)));                          // epoch 1
        await PublishAsync(("bob@example.org", Keys(3)));                            // epoch 2, v2 (bob made it)
        await PublishAsync(("carol@example.org", Keys(4)));                          // epoch 3
        await PublishAsync(("bob@example.org", Keys(66)));                           // epoch 4, v3 (the provider swaps bob's key)

        // Bob last checked epoch 2 and knows version 2: the monitor shows version 3 he did not make.
        MonitorProof proof = await _directory.MonitorAsync("bob@example.org", sinceEpoch: 3, default);
        MonitorVerification result = _verifier.VerifyMonitor("bob@example.org", knownVersion: 2, proof);
        Assert.True(result.IsValid, result.Failure.ToString());
        Assert.True(result.IsComplete);
        var change = Assert.Single(result.Changes);
        Assert.Equal(3UL, change.Version);
        Assert.Equal(Keys(66), change.Keys);

        // From the start: all three versions, in order, each proven in its own epoch.
        MonitorVerification all = _verifier.VerifyMonitor("bob@example.org", 0, await _directory.MonitorAsync("bob@example.org", 0, default));
        Assert.True(all.IsValid, all.Failure.ToString());
        Assert.Equal([1UL, 2UL, 3UL], all.Changes.Select(c => c.Version));
        Assert.Equal([0UL, 2UL, 4UL], all.Changes.Select(c => c.Epoch));

        // A provider that leaves the change out of the history is caught: the versions no longer add up.
        var hidden = new MonitorProof(proof.SinceEpoch, proof.Current, []);
        Assert.Equal(TransparencyFailure.BadHistory, _verifier.VerifyMonitor("bob@example.org", 2, hidden).Failure);
        var gap = new MonitorProof(0, all.Changes.Count > 0 ? (await _directory.MonitorAsync("bob@example.org", 0, default)).Current : proof.Current,
            (await _directory.MonitorAsync("bob@example.org", 0, default)).Changes.Where(c => c.Entry.Version != 2).ToList());
        Assert.Equal(TransparencyFailure.BadHistory, _verifier.VerifyMonitor("bob@example.org", 0, gap).Failure);

        // Nothing new since epoch 5: an empty, complete history.
        await PublishAsync(("dave@example.org", Keys(5)));
        MonitorVerification quiet = _verifier.VerifyMonitor("bob@example.org", 3, await _directory.MonitorAsync("bob@example.org", 5, default));
        Assert.True(quiet.IsValid, quiet.Failure.ToString());
        Assert.Empty(quiet.Changes);

        // Each historical entry is bound to its epoch: a broken log path or prefix path is refused.
        HistoricalEntry real = proof.Changes[0];
        var badLog = new HistoricalEntry(real.Entry, real.LogEntry, real.LogInclusion.Select((h, i) => i == 0 ? MerkleLogTests.Flip(h) : h).ToList(), real.Prefix);
        Assert.Equal(TransparencyFailure.BadLogProof, _verifier.VerifyMonitor("bob@example.org", 2, new MonitorProof(3, proof.Current, [badLog])).Failure);
        var otherEpoch = new HistoricalEntry(real.Entry, (await _directory.GetHeadAsync(3, default))!.LogEntry, real.LogInclusion, real.Prefix);
        Assert.NotEqual(TransparencyFailure.None, _verifier.VerifyMonitor("bob@example.org", 2, new MonitorProof(3, proof.Current, [otherEpoch])).Failure);
        var badPrefix = new HistoricalEntry(real.Entry, real.LogEntry, real.LogInclusion, new PrefixProof(real.Prefix.Copath.Skip(1).ToList(), real.Prefix.Terminal, null));
        Assert.Equal(TransparencyFailure.BadPrefixProof, _verifier.VerifyMonitor("bob@example.org", 2, new MonitorProof(3, proof.Current, [badPrefix])).Failure);

        // Round trip through the wire format.
        MonitorProof decoded = MonitorProof.FromBytes(proof.ToBytes());
        Assert.True(_verifier.VerifyMonitor("bob@example.org", 2, decoded).IsValid);
    }

    [Fact]
    public async Task Consistency_between_any_two_epochs_verifies_and_rewritten_history_fails()
    {
        var heads = new List<SignedTreeHead>();
        for (int i = 0; i < 11; i++)
        {
            heads.Add(await PublishAsync(($"user{i}@example.org", Keys(i))));
        }

        for (int from = 0; from < heads.Count; from++)
        {
            for (int to = from; to < heads.Count; to++)
            {
                ConsistencyProof proof = ConsistencyProof.FromBytes((await _directory.ConsistencyAsync(from, to, default)).ToBytes());
                Assert.Equal(TransparencyFailure.None, _verifier.VerifyConsistency(heads[from], heads[to], proof));
            }
        }

        // A second directory with the same keys but a different history (user3 has other keys) signs heads
        // that are not consistent with the first one's: the rewrite is detected.
        var forkStore = new InMemoryTransparencyStore();
        var fork = new TransparencyDirectory(Provider, _signingKey, _vrfKey, forkStore);
        var forkHeads = new List<SignedTreeHead>();
        _clock = 1_700_000_000_000;
        for (int i = 0; i < 11; i++)
        {
            forkHeads.Add(await fork.PublishEpochAsync([new KeySetUpdate($"user{i}@example.org", Keys(i == 3 ? 333 : i))], DateTimeOffset.FromUnixTimeMilliseconds(_clock += 1000), default));
        }

        ConsistencyProof forkProof = await fork.ConsistencyAsync(5, 10, default);
        Assert.Equal(TransparencyFailure.BadLogProof, _verifier.VerifyConsistency(heads[5], forkHeads[10], forkProof));
        Assert.Equal(HeadRelation.Equivocation, _verifier.Relate(heads[10], forkHeads[10]));
        Assert.Equal(TransparencyFailure.Equivocation, _verifier.VerifyConsistency(heads[10], forkHeads[10], new ConsistencyProof(10, 10, [])));
        // Fresh commitment openings make even an identical history sign different roots: any fork shows.
        Assert.Equal(HeadRelation.Equivocation, _verifier.Relate(heads[2], forkHeads[2]));
        Assert.Equal(HeadRelation.Same, _verifier.Relate(heads[2], SignedTreeHead.FromBytes(heads[2].ToBytes())));
        Assert.Equal(HeadRelation.DifferentEpochs, _verifier.Relate(heads[2], heads[3]));
    }

    [Fact]
    public async Task The_auditor_replays_every_epoch_and_catches_bad_ones()
    {
        for (int i = 0; i < 6; i++)
        {
            await PublishAsync(($"user{i}@example.org", Keys(i)), ("shared@example.org", Keys(100 + i)));
        }

        var auditor = new TransparencyAuditor(Provider, _signingKey.PublicKey.Export(KeyBlobFormat.RawPublicKey), new InMemoryTransparencyStore());
        for (int e = 0; e < 6; e++)
        {
            EpochAudit audit = EpochAudit.FromBytes((await _directory.GetEpochAuditAsync(e, default))!.ToBytes());
            AuditResult result = await auditor.ApplyAsync(audit, default);
            Assert.True(result.IsValid, result.Detail);
        }

        Assert.Equal(5, (await auditor.GetLatestHeadAsync(default))!.Epoch);

        // A provider that hides a change by replaying an old version number.
        await PublishAsync(("shared@example.org", Keys(200)));
        EpochAudit next = (await _directory.GetEpochAuditAsync(6, default))!;
        LeafChange real = Assert.Single(next.Changes);
        var rollback = new EpochAudit(next.Head, [real with { Version = real.Version - 1 }]);
        Assert.Equal(TransparencyFailure.BadVersion, (await auditor.ApplyAsync(rollback, default)).Failure);
        // A change list that does not produce the signed root.
        var forged = new EpochAudit(next.Head, [real with { Commitment = MerkleLogTests.Flip(real.Commitment) }]);
        Assert.Equal(TransparencyFailure.BadPrefixProof, (await auditor.ApplyAsync(forged, default)).Failure);
        // Skipping an epoch.
        await PublishAsync(("x@example.org", Keys(7)));
        Assert.Equal(TransparencyFailure.BadEpochSequence, (await auditor.ApplyAsync((await _directory.GetEpochAuditAsync(7, default))!, default)).Failure);
        // The real one still applies after the refused attempts.
        Assert.True((await auditor.ApplyAsync(next, default)).IsValid);
        Assert.True((await auditor.ApplyAsync((await _directory.GetEpochAuditAsync(7, default))!, default)).IsValid);

        // An audit record whose change count does not match its length is refused before any allocation.
        byte[] record = (await _directory.GetEpochAuditAsync(7, default))!.ToBytes();
        Assert.Throws<TransparencyFormatException>(() => EpochAudit.FromBytes(record.AsSpan(0, record.Length - 1)));
        Assert.Throws<TransparencyFormatException>(() => EpochAudit.FromBytes(record, TransparencyLimits.Default with { MaxEpochChanges = 0 }));

        // Two signed heads for one epoch.
        var forkStore = new InMemoryTransparencyStore();
        var fork = new TransparencyDirectory(Provider, _signingKey, _vrfKey, forkStore);
        _clock = 1_700_000_000_000;
        for (int i = 0; i < 8; i++)
        {
            await fork.PublishEpochAsync([new KeySetUpdate($"z{i}@example.org", Keys(i))], DateTimeOffset.FromUnixTimeMilliseconds(_clock += 1000), default);
        }

        Assert.Equal(TransparencyFailure.Equivocation, (await auditor.ApplyAsync((await fork.GetEpochAuditAsync(7, default))!, default)).Failure);
    }

    [Fact]
    public async Task Limits_are_enforced_at_their_edges()
    {
        var limits = TransparencyLimits.Default;
        string longest = new string('a', limits.MaxAddressLength - "@example.org".Length) + "@example.org";
        var maxKeys = new KeySet(new byte[limits.MaxFingerprintLength], new byte[limits.MaxInboxKeyLength],
            Enumerable.Range(0, limits.MaxDeviceKeys).Select(_ => (ReadOnlyMemory<byte>)new byte[limits.MaxDeviceKeyLength]), false);
        await PublishAsync((longest, maxKeys), ("other@example.org", Keys(2)));
        LookupProof proof = LookupProof.FromBytes((await _directory.LookupAsync(longest, default)).ToBytes());
        Assert.True(_verifier.VerifyLookup(longest, proof).IsValid);

        await Assert.ThrowsAsync<ArgumentException>(() => _directory.LookupAsync(longest + "x", default));
        var tooMany = new KeySet([], [], Enumerable.Range(0, limits.MaxDeviceKeys + 1).Select(_ => (ReadOnlyMemory<byte>)new byte[32]), false);
        await Assert.ThrowsAsync<ArgumentException>(() => _directory.PublishEpochAsync([new KeySetUpdate("a@example.org", tooMany)], DateTimeOffset.UtcNow, default));

        // A client with tighter limits refuses the same bytes.
        byte[] bytes = proof.ToBytes();
        Assert.Throws<TransparencyFormatException>(() => LookupProof.FromBytes(bytes, limits with { MaxDeviceKeys = limits.MaxDeviceKeys - 1 }));
        Assert.Throws<TransparencyFormatException>(() => LookupProof.FromBytes(bytes, limits with { MaxInboxKeyLength = limits.MaxInboxKeyLength - 1 }));
        Assert.Throws<TransparencyFormatException>(() => LookupProof.FromBytes(bytes, limits with { MaxPrefixDepth = 0 }));
        for (int cut = 0; cut < bytes.Length; cut += 97)
        {
            Assert.Throws<TransparencyFormatException>(() => LookupProof.FromBytes(bytes.AsSpan(0, cut)));
        }

        Assert.Throws<TransparencyFormatException>(() => LookupProof.FromBytes([.. bytes, 0]));
        await Assert.ThrowsAsync<ArgumentException>(() => _directory.PublishEpochAsync([], DateTimeOffset.FromUnixTimeMilliseconds(_clock - 5000), default));
    }

    [Fact]
    public async Task Revocation_and_updates_keep_the_address_in_the_tree()
    {
        await PublishAsync(("alice@example.org", Keys(1)));
        var revoked = new KeySet(Keys(1).OpenPgpFingerprint.Span, [], [], revoked: true);
        await PublishAsync(("alice@example.org", revoked));
        LookupVerification result = _verifier.VerifyLookup("alice@example.org", await _directory.LookupAsync("alice@example.org", default));
        Assert.True(result.IsValid);
        Assert.True(result.Entry!.Keys.Revoked);
        Assert.Equal(2UL, result.Entry.Version);
    }

    [Fact]
    public async Task Monitoring_pages_start_at_the_first_version_since_the_epoch_and_hold_at_most_the_limit()
    {
        var paged = new TransparencyDirectory(Provider, _signingKey, _vrfKey, new InMemoryTransparencyStore(), TransparencyLimits.Default with { MaxMonitorEntries = 3 });
        for (int epoch = 0; epoch < 20; epoch++)
        {
            // bob changes in every even epoch: versions 1..10 in epochs 0, 2, ..., 18
            var address = epoch % 2 == 0 ? "bob@example.org" : $"other{epoch}@example.org";
            await paged.PublishEpochAsync([new KeySetUpdate(address, Keys(epoch))], DateTimeOffset.FromUnixTimeMilliseconds(_clock += 1000), default);
        }

        foreach (var (since, first) in new[] { (0L, 1UL), (1L, 2UL), (2L, 2UL), (7L, 5UL), (17L, 10UL), (18L, 10UL) })
        {
            var proof = await paged.MonitorAsync("bob@example.org", since, default);
            var result = _verifier.VerifyMonitor("bob@example.org", first - 1, proof);
            Assert.True(result.IsValid, $"since {since}: {result.Failure}");
            Assert.Equal(first, result.Changes[0].Version);
            Assert.Equal((int)Math.Min(3UL, 11 - first), result.Changes.Count);
            Assert.Equal(first + 2 >= 10, result.IsComplete);
        }

        var none = _verifier.VerifyMonitor("bob@example.org", 10, await paged.MonitorAsync("bob@example.org", 19, default));
        Assert.True(none.IsValid && none.IsComplete && none.Changes.Count == 0, none.Failure.ToString());
    }

    private async Task<SignedTreeHead> PublishAsync(params (string Address, KeySet Keys)[] updates) =>
        await _directory.PublishEpochAsync(updates.Select(u => new KeySetUpdate(u.Address, u.Keys)).ToList(), DateTimeOffset.FromUnixTimeMilliseconds(_clock += 1000), default);

    internal static KeySet Keys(int seed)
    {
        var random = new Random(seed);
        byte[] fingerprint = new byte[20], inbox = new byte[32], device = new byte[32];
        random.NextBytes(fingerprint);
        random.NextBytes(inbox);
        random.NextBytes(device);
        return new KeySet(fingerprint, inbox, [device], revoked: false);
    }
}
