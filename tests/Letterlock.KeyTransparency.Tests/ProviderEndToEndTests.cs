using System.Net;
using System.Net.Http.Json;
using Letterlock.Api;
using Letterlock.Client.Discovery;
using Letterlock.Client.Mail;
using Letterlock.Client.Transparency;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;
using Letterlock.Provider.Hosting;
using Letterlock.Provider.Storage;
using Letterlock.Transparency;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Letterlock.KeyTransparency.Tests;

/// <summary>
/// The real provider over real HTTPS, on both backends: every kind of key change becomes a new version, the
/// directory carries a proof the client verifies (the key is <c>transparent</c>), the owner's monitor accepts
/// its own changes and alerts on the others, the queue survives a restart, and the auditor replays it all.
/// </summary>
public abstract class ProviderEndToEndTests(Backend backend, PostgresServer postgres)
{
    private const string Alice = "alice@example.test";
    private const string Bob = "bob@example.test";

    [Fact]
    public async Task Directory_keys_verify_as_transparent_and_every_change_is_published_as_a_version()
    {
        await using var provider = await KtProvider.StartAsync(backend, postgres);
        await using var alice = await provider.RegisterAsync(Alice);
        await using var bob = await provider.RegisterAsync(Bob);

        // Before the next epoch the directory says the keys are pending, and the proof shows no entry yet.
        var pending = (await (await bob.ConnectAsync()).GetDirectoryEntryAsync(Alice))!;
        Assert.True(pending.Transparency!.Pending);
        Assert.Null(LookupProof.FromBytes(pending.Transparency.LookupProof).Entry);

        var head = await provider.PublishAsync();
        Assert.Equal(1, head.Epoch); // epoch 0 was published empty when the provider started

        // Alice discovers bob's key through the directory: the proof verifies, so the key is transparent.
        var resolver = new ContactKeyResolver(alice.Store, alice.Account.Id,
            new KeyDiscovery([new DirectoryKeySource(alice.Http, new KeyDiscoveryOptions())], new KeyDiscoveryOptions()), alice.Service);
        var resolution = await resolver.ResolveAsync(Bob);
        Assert.Equal(KeyOrigin.ProviderDirectory, resolution.Discovery.Key!.Origin);
        Assert.Equal(KeyValidationLevel.Transparent, resolution.Level);

        // Bob's own changes: a device added and revoked, and a new OpenPGP key; none raises an alert.
        Assert.Empty((await bob.MonitorAsync()).NewAlerts);
        var (laptop, laptopId) = await bob.AddDeviceAsync();
        await bob.Service.ExpectDeviceAsync(Bob, laptop, default);
        await provider.PublishAsync();
        await bob.RevokeDeviceAsync(laptopId);
        await provider.PublishAsync();
        var rotated = KeyGenerator.Generate($"<{Bob}>", ReadOnlySpan<char>.Empty);
        await bob.Store.Keys.AddAsync(bob.Account.Id, AccountKeys.OpenPgpSecret, rotated.SecretKey.Export(armored: false));
        var inbox = (await TransparencyWatch.LoadOwnKeysAsync(bob.Store, bob.Account.Id, default))!.InboxKey;
        await (await bob.ConnectAsync()).UpdateKeysAsync(new UpdateKeysRequest(rotated.Certificate.Export(armored: false), inbox));
        await provider.PublishAsync();
        var report = await bob.MonitorAsync();
        Assert.True(report.Completed, report.Error);
        Assert.Empty(report.NewAlerts);
        var (verdict, entry, _) = await alice.Service.LookupAsync(Bob, default);
        Assert.Equal(TransparencyVerdict.Verified, verdict);
        Assert.Equal(4UL, entry!.Version); // created, device added, device revoked, key changed
        Assert.Equal(rotated.Certificate.Fingerprint.ToBytes(), entry.Keys.OpenPgpFingerprint.ToArray());

        // The lookup endpoint says the same in JSON, and the history is there for monitors.
        var lookup = await alice.Http.GetFromJsonAsync(new Uri($"https://example.test/v1/transparency/lookup/{Bob.ToUpperInvariant()}"),
            TransparencyJsonContext.Default.TransparencyLookupResponse);
        Assert.Equal(Bob, lookup!.Address);
        Assert.Equal(4UL, lookup.Keys!.Version);
        Assert.False(lookup.Pending);
        var monitor = MonitorProof.FromBytes((await alice.Http.GetFromJsonAsync(new Uri($"https://example.test/v1/transparency/monitor/{Bob}?since=0"),
            TransparencyJsonContext.Default.TransparencyMonitorResponse))!.Proof);
        Assert.Equal([1UL, 2UL, 3UL, 4UL], monitor.Changes.Select(c => c.Entry.Version));
        Assert.Empty(await alice.Service.State.GetConflictsAsync(default));
    }

    [Fact]
    public async Task A_key_swapped_in_the_providers_database_alerts_its_owner_and_the_queue_survives_a_restart_and_the_audit_passes()
    {
        await using var provider = await KtProvider.StartAsync(backend, postgres);
        await using var alice = await provider.RegisterAsync(Alice);

        // Registered, then the provider stops before its next epoch: the queued change is published on start.
        await provider.RestartAsync();
        alice.Map.Add(KtProvider.Domain, provider.Host.HttpsEndPoint);
        var (verdict, entry, _) = await alice.Service.LookupAsync(Alice, default);
        Assert.Equal(TransparencyVerdict.Verified, verdict);
        Assert.Equal(1UL, entry!.Version);
        Assert.Equal(0L, await provider.Host.Transparency.Store.CountPendingAsync(default));
        Assert.Empty((await alice.MonitorAsync()).NewAlerts);

        // Someone with access to the provider's database swaps alice's inbox key; the provider publishes it.
        byte[] attacker = new byte[32];
        attacker[0] = 1;
        await ExecuteAsync(provider, "UPDATE accounts SET inbox_key = @k WHERE local_part = 'alice'", attacker);
        await provider.Host.Transparency.RecordAsync(alice.Account.RemoteAccountId!.Value, default);
        await provider.PublishAsync();
        var alert = Assert.Single((await alice.MonitorAsync()).NewAlerts);
        Assert.Equal(TransparencyAlertKind.UnexpectedKeyChange, alert.Kind);
        Assert.Contains("inbox key", alert.Detail, StringComparison.Ordinal);

        // An account disabled by the operator is published as revoked: also a change alice did not make.
        await using (var admin = await ProviderAdmin.OpenAsync(provider.DataDirectory, provider.DatabaseUrl, default))
        {
            await admin.SetStatusAsync(Alice, AccountStatus.Disabled, default);
        }

        await provider.PublishAsync();
        Assert.Contains("revoked", Assert.Single((await alice.MonitorAsync()).NewAlerts).Detail, StringComparison.Ordinal);

        // An independent auditor replays every epoch of the real provider, and continues from its view next time.
        string state = alice.Dir.File("audit.db");
        var first = await Cli.RunAsync("audit", "--provider", provider.BaseUri.ToString(), "--state", state, "--ca-cert", provider.CaPath);
        Assert.True(first.Exit == 0, first.Error);
        Assert.Contains("Verified epochs: 0..3", first.Output, StringComparison.Ordinal);
        Assert.Contains("verified epoch 3 of 3", first.Error, StringComparison.Ordinal);
        await provider.Host.Transparency.RecordAsync(alice.Account.RemoteAccountId!.Value, default);
        await ExecuteAsync(provider, "UPDATE accounts SET inbox_key = @k WHERE local_part = 'alice'", new byte[32]);
        await provider.PublishAsync();
        var second = await Cli.RunAsync("audit", "--provider", provider.BaseUri.ToString(), "--state", state, "--ca-cert", provider.CaPath);
        Assert.True(second.Exit == 0, second.Error);
        Assert.Contains("Verified epochs: 0..4 (5 epochs, 1 in this run)", second.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Transparency_endpoints_refuse_bad_input_with_problem_json_at_their_limits()
    {
        await using var provider = await KtProvider.StartAsync(backend, postgres);
        await using var alice = await provider.RegisterAsync(Alice);
        await provider.PublishAsync();
        var http = alice.Http;

        async Task<HttpStatusCode> Status(string path, HttpStatusCode expected)
        {
            var response = await http.GetAsync(new Uri("https://example.test/" + path));
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                var problem = await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.Problem);
                Assert.Equal((int)expected, problem!.Status);
            }

            Assert.Equal(expected, response.StatusCode);
            return response.StatusCode;
        }

        string local320 = new string('a', 320 - "@example.test".Length);
        await Status($"v1/transparency/lookup/{local320}@example.test", HttpStatusCode.OK); // at the limit: a proof of absence
        await Status($"v1/transparency/lookup/{local320}a@example.test", HttpStatusCode.BadRequest);
        await Status("v1/transparency/lookup/no-at-sign", HttpStatusCode.BadRequest);
        await Status("v1/transparency/lookup/carol@elsewhere.test", HttpStatusCode.NotFound);
        await Status("v1/transparency/monitor/alice@example.test?since=-1", HttpStatusCode.BadRequest);
        await Status("v1/transparency/monitor/alice@example.test?since=2", HttpStatusCode.OK); // newest + 1: nothing new
        await Status("v1/transparency/monitor/alice@example.test?since=3", HttpStatusCode.BadRequest);
        await Status("v1/transparency/consistency?from=1&to=0", HttpStatusCode.BadRequest);
        await Status("v1/transparency/consistency?from=0", HttpStatusCode.BadRequest);
        await Status("v1/transparency/consistency?from=0&to=1", HttpStatusCode.OK);
        await Status("v1/transparency/consistency?from=0&to=2", HttpStatusCode.NotFound);
        await Status("v1/transparency/heads?from=0&limit=1000", HttpStatusCode.OK);
        await Status("v1/transparency/heads?from=0&limit=1001", HttpStatusCode.BadRequest);
        await Status("v1/transparency/heads/99999999999999999999", HttpStatusCode.BadRequest);
        await Status("v1/transparency/heads/2", HttpStatusCode.NotFound);
        await Status("v1/transparency/epochs/7", HttpStatusCode.NotFound);

        var heads = await http.GetFromJsonAsync(new Uri("https://example.test/v1/transparency/heads?from=0&limit=1"), TransparencyJsonContext.Default.TransparencyHeadsResponse);
        Assert.Equal(1, heads!.LatestEpoch);
        Assert.Single(heads.Heads);
        Assert.Equal(3600, heads.EpochIntervalSeconds);
        var epoch = await http.GetAsync(new Uri("https://example.test/v1/transparency/epochs/1"));
        Assert.Equal(TransparencyPaths.EpochAuditMediaType, epoch.Content.Headers.ContentType?.MediaType);
        Assert.Single(EpochAudit.FromBytes(await epoch.Content.ReadAsByteArrayAsync()).Changes);
    }

    private static async Task ExecuteAsync(KtProvider provider, string sql, byte[] value)
    {
        if (provider.DatabaseUrl is { } url)
        {
            await using var connection = new NpgsqlConnection(PostgresServer.ConnectionString(url));
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql.Replace("@k", "$1", StringComparison.Ordinal), connection) { Parameters = { new() { Value = value } } };
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }
        else
        {
            await using var connection = new SqliteConnection($"Data Source={Path.Combine(provider.DataDirectory, "letterlock.db")}");
            await connection.OpenAsync();
            await using var command = new SqliteCommand(sql, connection);
            command.Parameters.AddWithValue("@k", value);
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }
    }
}

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SqliteProviderEndToEndTests(PostgresServer postgres) : ProviderEndToEndTests(Backend.Sqlite, postgres);

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostgresProviderEndToEndTests(PostgresServer postgres) : ProviderEndToEndTests(Backend.Postgres, postgres);

/// <summary>Two provider nodes on one PostgreSQL database publish one history between them.</summary>
[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostgresClusterTransparencyTests(PostgresServer postgres)
{
    [Fact]
    public async Task Two_nodes_publishing_at_once_produce_one_consistent_history()
    {
        await using var provider = await KtProvider.StartAsync(Backend.Postgres, postgres);
        await using var second = await ProviderHost.StartAsync(provider.DataDirectory, provider.DatabaseUrl, new Letterlock.Dns.StaticDnsResolver(),
            LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
        await using var alice = await provider.RegisterAsync("alice@example.test");
        await using var bob = await provider.RegisterAsync("bob@example.test");

        // Both nodes try to publish the same queue at the same moment, several times.
        for (int round = 0; round < 3; round++)
        {
            if (round > 0)
            {
                await provider.Host.Transparency.RecordAsync(alice.Account.RemoteAccountId!.Value, default); // queued, but nothing changed: no epoch
            }

            await Task.WhenAll(provider.Host.Transparency.PublishPendingAsync(default), second.Transparency.PublishPendingAsync(default));
        }

        // Epoch 0 (start) and one epoch with both accounts: nothing published twice, nothing lost.
        var latest = (await second.Transparency.Store.GetLatestHeadAsync(default))!;
        Assert.Equal(1, latest.Epoch);
        Assert.Equal(2, (await second.Transparency.Store.GetEpochAuditAsync(1, default))!.Changes.Count);
        Assert.Equal(0L, await second.Transparency.Store.CountPendingAsync(default));
        var (verdict, entry, _) = await alice.Service.LookupAsync("bob@example.test", default);
        Assert.Equal(TransparencyVerdict.Verified, verdict);
        Assert.Equal(1UL, entry!.Version);
    }
}
