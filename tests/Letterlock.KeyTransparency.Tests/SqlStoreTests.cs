using Letterlock.Provider.Configuration;
using Letterlock.Provider.Transparency;
using Letterlock.Transparency;
using NSec.Cryptography;

namespace Letterlock.KeyTransparency.Tests;

/// <summary>
/// <see cref="SqlTransparencyStore"/> behaves as the library's reference store on both backends: epochs
/// published through it give proofs that verify and records an auditor replays; it persists across instances
/// (no cache), refuses a second commit of one epoch (two provider nodes), and its key-change queue keeps
/// entries queued after a read.
/// </summary>
public abstract class SqlStoreTests(Backend backend, PostgresServer postgres) : IDisposable
{
    private const string Provider = "example.test";
    private readonly TempDir _dir = new();
    private readonly Key _signingKey = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
    private readonly EcVrfSecretKey _vrfKey = EcVrfSecretKey.Generate(out _);
    private long _clock = 1_700_000_000_000;

    public void Dispose()
    {
        _signingKey.Dispose();
        _vrfKey.Dispose();
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task Published_epochs_prove_and_replay_and_survive_reopening()
    {
        var location = await LocationAsync();
        var verifier = new TransparencyVerifier(Provider, _signingKey.PublicKey.Export(KeyBlobFormat.RawPublicKey));
        var random = new Random(7);
        var current = new Dictionary<string, KeySet>();
        await using (var store = await OpenAsync(location, cache: 1000))
        {
            var directory = new TransparencyDirectory(Provider, _signingKey, _vrfKey, store);
            for (int epoch = 0; epoch < 6; epoch++)
            {
                var updates = Enumerable.Range(0, 1 + random.Next(12)).Select(_ => $"user{random.Next(25)}@example.test").Distinct()
                    .Select(a => new KeySetUpdate(a, Keys(random))).ToList();
                await directory.PublishEpochAsync(updates, Tick(), default);
                foreach (var u in updates)
                {
                    current[u.Address] = u.Keys;
                }
            }
        }

        // A fresh instance with no cache reads everything from the database.
        await using (var store = await OpenAsync(location, cache: 0))
        {
            var directory = new TransparencyDirectory(Provider, _signingKey, _vrfKey, store);
            Assert.Equal(5, (await store.GetLatestHeadAsync(default))!.Epoch);
            foreach (var (address, keys) in current)
            {
                var lookup = verifier.VerifyLookup(address, await directory.LookupAsync(address, default));
                Assert.True(lookup.IsValid, lookup.Failure.ToString());
                Assert.Equal(keys, lookup.Entry!.Keys);
                Assert.Equal(keys, (await store.GetLatestEntryAsync(address, default))!.Keys);
                var monitor = verifier.VerifyMonitor(address, 0, await directory.MonitorAsync(address, 0, default));
                Assert.True(monitor.IsValid && monitor.IsComplete, monitor.Failure.ToString());
                Assert.Equal(lookup.Entry.Version, (ulong)monitor.Changes.Count);
            }

            Assert.True(verifier.VerifyLookup("nobody@example.test", await directory.LookupAsync("nobody@example.test", default)).IsValid);
            for (long from = 0; from <= 5; from++)
            {
                var older = (await store.GetHeadAsync(from, default))!;
                Assert.Equal(TransparencyFailure.None, verifier.VerifyConsistency(older, (await store.GetHeadAsync(5, default))!, await directory.ConsistencyAsync(from, 5, default)));
            }

            // Every stored epoch record replays in an auditor's own (in-memory) view.
            var auditor = new TransparencyAuditor(Provider, _signingKey.PublicKey.Export(KeyBlobFormat.RawPublicKey), new InMemoryTransparencyStore());
            for (long epoch = 0; epoch <= 5; epoch++)
            {
                var result = await auditor.ApplyAsync((await store.GetEpochAuditAsync(epoch, default))!, default);
                Assert.True(result.IsValid, result.Detail);
            }

            Assert.Equal(6, (await store.GetHeadsAsync(0, 100, default)).Count);
            Assert.Equal(2, (await store.GetHeadsAsync(4, 100, default)).Count);
            var (epochs, addresses, versions, changes) = await store.CountAsync(default);
            Assert.Equal(6, epochs);
            Assert.Equal(current.Count, addresses);
            Assert.Equal(versions, changes);

            // Publishing continues where the other instance stopped.
            await directory.PublishEpochAsync([new KeySetUpdate("late@example.test", Keys(random))], Tick(), default);
            Assert.True(verifier.VerifyLookup("late@example.test", await directory.LookupAsync("late@example.test", default)).IsValid);
        }
    }

    [Fact]
    public async Task Two_nodes_cannot_commit_the_same_epoch()
    {
        var location = await LocationAsync();
        await using var first = await OpenAsync(location, cache: 100);
        await using var second = await OpenAsync(location, cache: 100);
        var a = new TransparencyDirectory(Provider, _signingKey, _vrfKey, first);
        var b = new TransparencyDirectory(Provider, _signingKey, _vrfKey, second);
        await a.PublishEpochAsync([new KeySetUpdate("a@example.test", Keys(new Random(1)))], Tick(), default);
        await b.PublishEpochAsync([new KeySetUpdate("b@example.test", Keys(new Random(2)))], Tick(), default);

        // Node a prepared its own epoch 1 before it saw b's: its commit is refused, nothing of it is written.
        var racing = SignedTreeHead.Sign(_signingKey, Provider, 1, Tick().ToUnixTimeMilliseconds(), default, default, _vrfKey.PublicKey);
        await Assert.ThrowsAsync<TransparencyConflictException>(() => first.CommitEpochAsync(new EpochCommit(new EpochAudit(racing, []), [], [], []), default).AsTask());
        Assert.Equal((await second.GetHeadAsync(1, default))!, (await first.GetLatestHeadAsync(default))!);

        // The next epoch is built on the committed one, whichever node publishes it.
        var head = await a.PublishEpochAsync([new KeySetUpdate("c@example.test", Keys(new Random(3)))], Tick(), default);
        Assert.Equal(2, head.Epoch);
        var verifier = new TransparencyVerifier(Provider, _signingKey.PublicKey.Export(KeyBlobFormat.RawPublicKey));
        Assert.True(verifier.VerifyLookup("b@example.test", await a.LookupAsync("b@example.test", default)).IsValid);
    }

    [Fact]
    public async Task The_key_change_queue_keeps_what_was_queued_after_it_was_read()
    {
        var location = await LocationAsync();
        await using var store = await OpenAsync(location, cache: 0);
        Guid one = Guid.NewGuid(), two = Guid.NewGuid();
        var now = DateTimeOffset.UtcNow;
        await store.EnqueueAsync(one, now, default);
        await store.EnqueueAsync(two, now, default);
        await store.EnqueueAsync(one, now, default);
        var pending = await store.GetPendingAsync(10, default);
        Assert.Equal([one, two], pending.Select(p => p.AccountId));
        Assert.Single(await store.GetPendingAsync(1, default));

        await store.EnqueueAsync(one, now, default); // a change after the read
        await store.DequeueAsync(pending, default);
        var left = Assert.Single(await store.GetPendingAsync(10, default));
        Assert.Equal(one, left.AccountId);
        Assert.Equal(1, await store.CountPendingAsync(default));

        await store.SetMetaAsync("provider", [1, 2, 3], default);
        await store.SetMetaAsync("provider", [4], default);
        Assert.Equal([4], await store.GetMetaAsync("provider", default));
        Assert.Null(await store.GetMetaAsync("other", default));
    }

    private async Task<DatabaseLocation> LocationAsync() =>
        backend == Backend.Postgres
            ? DatabaseLocation.Parse(await postgres.CreateDatabaseAsync(), _dir.Path)
            : DatabaseLocation.Parse("sqlite:kt.db", _dir.Path);

    private static async Task<SqlTransparencyStore> OpenAsync(DatabaseLocation location, int cache)
    {
        var store = new SqlTransparencyStore(TransparencyDatabase.For(location), cache);
        await store.InitializeAsync(default);
        return store;
    }

    private DateTimeOffset Tick() => DateTimeOffset.FromUnixTimeMilliseconds(_clock += 1000);

    private static KeySet Keys(Random random)
    {
        byte[] fingerprint = new byte[20], inbox = new byte[32], device = new byte[32];
        random.NextBytes(fingerprint);
        random.NextBytes(inbox);
        random.NextBytes(device);
        return new KeySet(fingerprint, inbox, [device], random.Next(10) == 0);
    }
}

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SqliteSqlStoreTests(PostgresServer postgres) : SqlStoreTests(Backend.Sqlite, postgres);

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostgresSqlStoreTests(PostgresServer postgres) : SqlStoreTests(Backend.Postgres, postgres);
