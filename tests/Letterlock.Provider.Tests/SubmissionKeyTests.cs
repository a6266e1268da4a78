using Letterlock.Provider.Outbound;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Tests;

/// <summary>
/// The idempotency keys of submissions in the provider's database, on each backend: a key is claimed once, answered
/// once, told apart from another message, kept 24 hours to the millisecond, and an abandoned claim is taken over.
/// </summary>
public abstract class SubmissionKeyTests(Backend backend, PostgresServer postgres) : IAsyncLifetime
{
    private static readonly TimeSpan InFlight = SubmissionService.IdempotencyKeyInFlight;
    private static readonly TimeSpan Keep = SubmissionService.IdempotencyKeyKept;
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDir _dir = new();
    private SqlProviderStore _db = null!;
    private SubmissionStore _keys = null!;

    public async Task InitializeAsync()
    {
        _db = backend == Backend.Postgres
            ? new PostgresProviderStore(PostgresServer.ConnectionString(await postgres.CreateDatabaseAsync()), new ChangeNotifier())
            : new SqliteProviderStore(_dir.File("letterlock.db"), new ChangeNotifier());
        await _db.InitializeAsync(CancellationToken.None);
        _keys = new SubmissionStore(_db);
        await _keys.InitializeAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        _dir.Dispose();
    }

    private static byte[] Bytes(string text) => System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text));

    private Task<(SubmissionKeyState State, string? Response)> Claim(Guid account, string key, string message, DateTimeOffset now) =>
        _keys.ClaimKeyAsync(account, Bytes(key), Bytes(message), now, InFlight, Keep, CancellationToken.None);

    [Fact]
    public async Task A_key_is_claimed_once_answered_once_and_refused_for_another_message()
    {
        var alice = Guid.NewGuid();
        Assert.Equal(SubmissionKeyState.Fresh, (await Claim(alice, "k", "m", T0)).State);
        Assert.Equal(SubmissionKeyState.InProgress, (await Claim(alice, "k", "m", T0.AddSeconds(1))).State);
        Assert.Equal(SubmissionKeyState.Mismatch, (await Claim(alice, "k", "other message", T0.AddSeconds(1))).State);
        // another account's key of the same name is its own
        Assert.Equal(SubmissionKeyState.Fresh, (await Claim(Guid.NewGuid(), "k", "m", T0.AddSeconds(1))).State);

        await _keys.CompleteKeyAsync(alice, Bytes("k"), "{\"submissionId\":\"q1\"}", CancellationToken.None);
        Assert.Equal((SubmissionKeyState.Done, "{\"submissionId\":\"q1\"}"), await Claim(alice, "k", "m", T0.AddSeconds(2)));
        Assert.Equal(SubmissionKeyState.Mismatch, (await Claim(alice, "k", "other message", T0.AddSeconds(2))).State);
    }

    [Fact]
    public async Task An_answer_is_kept_24_hours_to_the_millisecond()
    {
        var alice = Guid.NewGuid();
        await Claim(alice, "k", "m", T0);
        await _keys.CompleteKeyAsync(alice, Bytes("k"), "answer", CancellationToken.None);
        Assert.Equal(SubmissionKeyState.Done, (await Claim(alice, "k", "m", T0 + Keep)).State);
        Assert.Equal(SubmissionKeyState.Fresh, (await Claim(alice, "k", "m", T0 + Keep + TimeSpan.FromMilliseconds(1))).State);
    }

    [Fact]
    public async Task A_claim_left_without_an_answer_is_taken_over_after_its_time_in_flight_and_a_released_one_at_once()
    {
        var alice = Guid.NewGuid();
        await Claim(alice, "k", "m", T0);
        Assert.Equal(SubmissionKeyState.InProgress, (await Claim(alice, "k", "m", T0 + InFlight)).State);
        Assert.Equal(SubmissionKeyState.Fresh, (await Claim(alice, "k", "m", T0 + InFlight + TimeSpan.FromMilliseconds(1))).State);
        // taken over means claimed again: a third request meanwhile waits
        Assert.Equal(SubmissionKeyState.InProgress, (await Claim(alice, "k", "m", T0 + InFlight + TimeSpan.FromSeconds(1))).State);

        await _keys.ReleaseKeyAsync(alice, Bytes("k"), CancellationToken.None);
        Assert.Equal(SubmissionKeyState.Fresh, (await Claim(alice, "k", "m", T0 + InFlight + TimeSpan.FromSeconds(2))).State);
        // a release never forgets an answer
        await _keys.CompleteKeyAsync(alice, Bytes("k"), "answer", CancellationToken.None);
        await _keys.ReleaseKeyAsync(alice, Bytes("k"), CancellationToken.None);
        Assert.Equal(SubmissionKeyState.Done, (await Claim(alice, "k", "m", T0 + InFlight + TimeSpan.FromSeconds(3))).State);
    }
}

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SqliteSubmissionKeyTests(PostgresServer postgres) : SubmissionKeyTests(Backend.Sqlite, postgres);

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostgresSubmissionKeyTests(PostgresServer postgres) : SubmissionKeyTests(Backend.Postgres, postgres);
