using System.Net;
using System.Net.Http.Json;
using Letterlock.Api;
using Letterlock.Native;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Tests;

/// <summary>The prekey endpoints of the native protocol; runs once per backend.</summary>
public abstract class PrekeyTests(Backend backend, PostgresServer postgres)
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private Task<TestProvider> Start(string? replace = null, string? with = null) =>
        TestProvider.StartAsync(backend, postgres, editSettings: replace is null ? null : path =>
        {
            string text = File.ReadAllText(path);
            Assert.Contains(replace, text, StringComparison.Ordinal);
            File.WriteAllText(path, text.Replace(replace, with, StringComparison.Ordinal));
        });

    private static async Task<(TestAccount Account, DeviceIdentity Identity)> SignUp(ApiClient client, string address)
    {
        var account = await client.CreateAccountAsync(address);
        await client.LoginAsync(account);
        return (account, DeviceIdentity.Generate(account.DevicePrivateKey));
    }

    private static byte[] Prekey(DeviceIdentity identity, PrekeyKind kind, uint id, DateTimeOffset? expires = null)
    {
        using var prekey = PrivatePrekey.Generate(identity, kind, id, expires ?? Now.AddDays(14));
        return prekey.Public.Encode();
    }

    private static PublishPrekeysRequest Full(DeviceIdentity identity, int oneTime, int oneTimeKem, uint firstId = 1) =>
        new(identity.Certificate.Encode(), Prekey(identity, PrekeyKind.Signed, 1), Prekey(identity, PrekeyKind.LastResortKem, 1),
        [
            .. Enumerable.Range(0, oneTime).Select(i => Prekey(identity, PrekeyKind.OneTime, firstId + (uint)i)),
            .. Enumerable.Range(0, oneTimeKem).Select(i => Prekey(identity, PrekeyKind.OneTimeKem, firstId + (uint)i)),
        ]);

    private static Task<HttpResponseMessage> Publish(ApiClient client, PublishPrekeysRequest request) =>
        client.Http.PutAsJsonAsync("v1/prekeys", request, PrekeyJsonContext.Default.PublishPrekeysRequest);

    private static async Task<PrekeyBundlesResponse> Fetch(ApiClient client, string address, string path = "v1/prekeys/")
    {
        var response = await client.Http.GetAsync(path + address);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(PrekeyJsonContext.Default.PrekeyBundlesResponse))!;
    }

    [Fact]
    public async Task A_bundle_hands_out_each_one_time_prekey_once_then_the_last_resort_ones()
    {
        await using var provider = await Start();
        using var aliceClient = provider.Client();
        var (alice, aliceIdentity) = await SignUp(aliceClient, "alice@example.test");
        using var bobClient = provider.Client();
        await SignUp(bobClient, "bob@example.test");

        // Before a publication: no native-capable device.
        Assert.Empty((await Fetch(bobClient, "alice@example.test")).Bundles);

        var published = await Publish(aliceClient, Full(aliceIdentity, oneTime: 2, oneTimeKem: 1));
        Assert.Equal(HttpStatusCode.OK, published.StatusCode);
        var status = (await published.Content.ReadFromJsonAsync(PrekeyJsonContext.Default.PrekeyStatus))!;
        Assert.Equal((2, 1, 1u), (status.OneTimePrekeys, status.OneTimeKemPrekeys, status.SignedPrekeyId));

        var first = PrekeyBundle.Decode(Assert.Single((await Fetch(bobClient, "alice@example.test")).Bundles));
        first.CheckUsable(alice.DevicePublicKey, Now);
        Assert.Equal(PrekeyKind.OneTimeKem, first.KemPrekey.Kind);
        Assert.NotNull(first.OneTimePrekey);

        // The federation endpoint (another provider asking) serves the same pool, without authentication.
        using var stranger = provider.Client();
        var second = PrekeyBundle.Decode(Assert.Single((await Fetch(stranger, "alice@example.test", "v1/federation/prekeys/")).Bundles));
        Assert.Equal(PrekeyKind.LastResortKem, second.KemPrekey.Kind);
        Assert.NotEqual(first.OneTimePrekey!.Id, second.OneTimePrekey!.Id);

        var third = PrekeyBundle.Decode(Assert.Single((await Fetch(bobClient, "alice@example.test")).Bundles));
        Assert.Null(third.OneTimePrekey);
        Assert.Equal(PrekeyKind.LastResortKem, third.KemPrekey.Kind);
        var empty = (await aliceClient.Http.GetFromJsonAsync("v1/prekeys", PrekeyJsonContext.Default.PrekeyStatus))!;
        Assert.Equal((0, 0), (empty.OneTimePrekeys, empty.OneTimeKemPrekeys));

        // A refill adds to the pool; a rotation replaces the signed prekey served.
        var rotation = new PublishPrekeysRequest(aliceIdentity.Certificate.Encode(), Prekey(aliceIdentity, PrekeyKind.Signed, 2), Prekey(aliceIdentity, PrekeyKind.LastResortKem, 2),
            [Prekey(aliceIdentity, PrekeyKind.OneTime, 10)]);
        Assert.Equal(HttpStatusCode.OK, (await Publish(aliceClient, rotation)).StatusCode);
        var fourth = PrekeyBundle.Decode(Assert.Single((await Fetch(bobClient, "alice@example.test")).Bundles));
        Assert.Equal((2u, 2u, 10u), (fourth.SignedPrekey.Id, fourth.KemPrekey.Id, fourth.OneTimePrekey!.Id));

        Assert.Equal(HttpStatusCode.NotFound, (await bobClient.Http.GetAsync("v1/prekeys/nobody@example.test")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.Http.GetAsync("v1/federation/prekeys/alice@elsewhere.test")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.Http.GetAsync("v1/prekeys/alice@example.test")).StatusCode);

        // A revoked device's prekeys are no longer served.
        Assert.Equal(HttpStatusCode.NoContent, (await aliceClient.Http.DeleteAsync($"v1/devices/{alice.DeviceId}")).StatusCode);
        Assert.Empty((await Fetch(bobClient, "alice@example.test")).Bundles);
        aliceIdentity.Dispose();
    }

    [Fact]
    public async Task Only_prekeys_signed_by_the_publishing_device_within_the_limits_are_accepted()
    {
        await using var provider = await Start("\"maxPrekeyLength\": 1300", "\"maxPrekeyLength\": 1261");
        using var client = provider.Client();
        var (_, identity) = await SignUp(client, "alice@example.test");
        using var other = DeviceIdentity.Generate(DeviceAuthentication.GenerateKeyPair().PrivateKey);

        async Task Refused(PublishPrekeysRequest request, string detail)
        {
            var response = await Publish(client, request);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(detail, (await ApiClient.ProblemAsync(response)).Detail, StringComparison.Ordinal);
        }

        var good = Full(identity, 0, 0);
        await Refused(new PublishPrekeysRequest(identity.Certificate.Encode(), [], [], null), "signedPrekey: not a signed prekey");
        await Refused(good with { KemPrekey = null }, "send both or neither");
        await Refused(good with { OneTimePrekeys = [Prekey(identity, PrekeyKind.OneTime, 5)], SignedPrekey = null, KemPrekey = null }, "first publication");
        await Refused(good with { Identity = other.Certificate.Encode() }, "device that publishes");
        await Refused(good with { SignedPrekey = Prekey(other, PrekeyKind.Signed, 1) }, "does not verify");
        await Refused(good with { SignedPrekey = Prekey(identity, PrekeyKind.OneTime, 1) }, "does not belong");
        await Refused(good with { SignedPrekey = Prekey(identity, PrekeyKind.Signed, 1, Now.AddMinutes(-1)) }, "native.maxPrekeyLifetimeDays");
        await Refused(good with { SignedPrekey = Prekey(identity, PrekeyKind.Signed, 1, Now.AddDays(61)) }, "native.maxPrekeyLifetimeDays");
        Assert.Equal(HttpStatusCode.OK, (await Publish(client, good with { SignedPrekey = Prekey(identity, PrekeyKind.Signed, 1, Now.AddDays(59)) })).StatusCode);

        // The ML-KEM-768 prekey is 1,261 bytes: at the limit it passes, one byte over is refused with the setting named.
        Assert.Equal(1261, good.KemPrekey!.Length);
        await Refused(good with { OneTimePrekeys = [[.. Prekey(identity, PrekeyKind.OneTimeKem, 7), 0]] }, "native.maxPrekeyLength");
        Assert.Equal(HttpStatusCode.OK, (await Publish(client, good with { OneTimePrekeys = [Prekey(identity, PrekeyKind.OneTimeKem, 7)] })).StatusCode);
        identity.Dispose();
    }

    [Fact]
    public async Task The_pool_and_the_fetch_rate_are_limited_at_their_edges()
    {
        await using var provider = await Start("\"maxOneTimePrekeys\": 200", "\"maxOneTimePrekeys\": 3");
        using var client = provider.Client();
        var (_, identity) = await SignUp(client, "alice@example.test");
        Assert.Equal(HttpStatusCode.OK, (await Publish(client, Full(identity, oneTime: 3, oneTimeKem: 3))).StatusCode);
        var over = await Publish(client, new PublishPrekeysRequest(identity.Certificate.Encode(), null, null, [Prekey(identity, PrekeyKind.OneTime, 100)]));
        Assert.Equal(HttpStatusCode.BadRequest, over.StatusCode);
        Assert.Contains("native.maxOneTimePrekeys", (await ApiClient.ProblemAsync(over)).Detail, StringComparison.Ordinal);
        var status = (await client.Http.GetFromJsonAsync("v1/prekeys", PrekeyJsonContext.Default.PrekeyStatus))!;
        Assert.Equal((3, 3), (status.OneTimePrekeys, status.OneTimeKemPrekeys)); // nothing of the refused publication stored

        // The same prekey published again (a retried request) is kept once, so the pool stays at the limit.
        Assert.Equal(HttpStatusCode.OK, (await Publish(client, new PublishPrekeysRequest(identity.Certificate.Encode(), null, null, [Prekey(identity, PrekeyKind.OneTime, 1)]))).StatusCode);
        identity.Dispose();

        await using var limited = await Start("\"bundleFetchesPerHourPerAccount\": 600", "\"bundleFetchesPerHourPerAccount\": 2");
        using var asker = limited.Client();
        await SignUp(asker, "bob@example.test");
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await asker.Http.GetAsync("v1/prekeys/bob@example.test")).StatusCode);
        }

        var refused = await asker.Http.GetAsync("v1/prekeys/bob@example.test");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
    }

    [Fact]
    public async Task Concurrent_fetches_never_hand_out_the_same_one_time_prekey()
    {
        await using var provider = await Start();
        using var client = provider.Client();
        var (_, identity) = await SignUp(client, "alice@example.test");
        Assert.Equal(HttpStatusCode.OK, (await Publish(client, Full(identity, oneTime: 20, oneTimeKem: 0))).StatusCode);
        var fetches = await Task.WhenAll(Enumerable.Range(0, 12).Select(async _ =>
        {
            using var asker = provider.Client();
            return PrekeyBundle.Decode(Assert.Single((await Fetch(asker, "alice@example.test", "v1/federation/prekeys/")).Bundles)).OneTimePrekey?.Id;
        }));
        var handed = fetches.Where(id => id is not null).ToList();
        Assert.Equal(handed.Count, handed.Distinct().Count());
        var status = (await client.Http.GetFromJsonAsync("v1/prekeys", PrekeyJsonContext.Default.PrekeyStatus))!;
        Assert.Equal(20 - handed.Count, status.OneTimePrekeys);
        identity.Dispose();
    }
}

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SqlitePrekeyTests(PostgresServer postgres) : PrekeyTests(Backend.Sqlite, postgres);

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostgresPrekeyTests(PostgresServer postgres) : PrekeyTests(Backend.Postgres, postgres);

/// <summary>The prekey tables arrive by migration on a database main wrote before them.</summary>
public sealed class PrekeyMigrationTests
{
    [Fact]
    public async Task The_fixture_database_gains_the_prekey_tables_and_keeps_its_accounts()
    {
        string directory = TestProvider.CreateDirectory();
        try
        {
            string path = Path.Combine(directory, "letterlock.db");
            File.Copy(Path.Combine(FixtureDirectory(), "providers", "alpha.test", "letterlock.db"), path);
            await using var store = new SqliteProviderStore(path, new ChangeNotifier());
            Assert.Equal(0, await store.GetSchemaVersionAsync(default)); // written before versions were recorded: every migration runs
            await store.InitializeAsync(default);
            Assert.Equal(SqlProviderStore.SchemaVersion, await store.GetSchemaVersionAsync(default));
            var alice = (await store.FindAccountAsync("alice", default))!;
            var device = Assert.Single(await store.ListDevicesAsync(alice.Id, default));
            var status = await store.GetPrekeyStatusAsync(device.Id, DateTimeOffset.UtcNow, default);
            Assert.Null(status.Current);
            Assert.Equal(0, status.OneTime);
            Assert.Empty(await store.TakePrekeysAsync(alice.Id, DateTimeOffset.UtcNow, default));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string FixtureDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "Fixtures", "sandbox-bb77344");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("tests/Fixtures/sandbox-bb77344 not found");
    }
}
