using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Letterlock.Api;
using Letterlock.Dns;
using Letterlock.Relay.Tests.Peers;
using Microsoft.Data.Sqlite;
using MimeKit;
using Xunit.Abstractions;

namespace Letterlock.Relay.Tests.Provider;

/// <summary>
/// The real <c>letterlock provider serve</c> process is killed with SIGKILL while its relay delivers a batch to a sink;
/// after a restart every accepted message reaches the sink, and every message the sink got twice is one whose
/// interrupted attempt the queue recorded (docs/design/relay.md, "Crash safety: at-least-once, duplicates recorded"; docs/adr/0008-at-least-once-relay.md).
/// </summary>
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class CrashTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestCa _ca = new();
    private readonly TempDir _dir = new("letterlock-crash-");

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task After_sigkill_mid_batch_and_a_restart_every_message_arrives_and_every_duplicate_was_recorded()
    {
        // a sink that keeps each message, then takes a while to say 250: a kill in between leaves the sender unsure
        await using var sink = ScriptedMta.Start(_ca.Issue(["mx.sink.test"]), "mx.sink.test");
        sink.AcceptDelay = TimeSpan.FromMilliseconds(200);
        string data = RelayKill.PrepareNode(_dir, _ca, sink);
        var submissionIds = await RelayKill.SubmitThenKillAsync(data, null, "crash", sink);

        int beforeRestart = sink.Received.Count;
        output.WriteLine($"{beforeRestart} of {RelayKill.Messages} received when the provider was killed");
        Assert.True(beforeRestart < RelayKill.Messages, "the kill interrupted the batch");

        await using var second = await ProviderProcess.StartAsync(data, null);
        await Wait.UntilAsync(() => Task.FromResult(DistinctIds(sink).Count == RelayKill.Messages), "every message delivered after the restart", TimeSpan.FromSeconds(180));
        await Wait.UntilAsync(async () => await QueueCountAsync(data) == 0, "the queue drained");

        // the kill left leases behind: the restarted relay recorded them and said so in its log
        RelayKill.AssertEveryMessageOnceOrRecordedTwice(sink, submissionIds, await InterruptedMessagesAsync(data), second.Output, output);
    }

    internal static string MessageIdOf(ReceivedMessage message)
    {
        using var stream = new MemoryStream(message.Data);
        return HeaderList.Load(stream)[HeaderId.MessageId]!.Trim().Trim('<', '>');
    }

    internal static HashSet<string> DistinctIds(ScriptedMta sink) => sink.Received.Select(MessageIdOf).ToHashSet();

    private static async Task<long> QueueCountAsync(string data)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "letterlock.db")};Mode=ReadOnly;Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM relay_deliveries";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<HashSet<string>> InterruptedMessagesAsync(string data)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "letterlock.db")};Mode=ReadOnly;Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT message_id FROM relay_interruptions";
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new HashSet<string>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }
}

/// <summary>
/// Two <c>letterlock provider serve</c> processes on one PostgreSQL database and one data directory share the relay
/// queue (each leases deliveries with <c>FOR UPDATE SKIP LOCKED</c>). The first is killed with SIGKILL mid-batch and
/// never restarted; a second node, started on the same settings file, takes over its lapsed leases, so every message
/// arrives, and a message that arrives twice is one whose interrupted attempt the queue recorded (the SMTP window:
/// the peer had the message but the killed node never read its 250). The second node starts only after the kill so
/// that the takeover is certain, not a matter of which node happened to hold which lease.
/// </summary>
[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class ClusterRelayTests(PostgresServer postgres, ITestOutputHelper output) : IDisposable
{
    private readonly TestCa _ca = new();
    private readonly TempDir _dir = new("letterlock-cluster-relay-");

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task A_node_killed_mid_batch_loses_its_leases_and_the_other_node_delivers_every_message()
    {
        await using var sink = ScriptedMta.Start(_ca.Issue(["mx.sink.test"]), "mx.sink.test");
        sink.AcceptDelay = TimeSpan.FromMilliseconds(500); // one node alone needs half a minute: the kill comes mid-batch
        string data = RelayKill.PrepareNode(_dir, _ca, sink);
        string database = await postgres.CreateDatabaseAsync();
        var submissionIds = await RelayKill.SubmitThenKillAsync(data, database, "cluster", sink);

        output.WriteLine($"{sink.Received.Count} of {RelayKill.Messages} received when one node was killed");
        Assert.True(sink.Received.Count < RelayKill.Messages, "the kill interrupted the batch");
        await using var survivor = await ProviderProcess.StartAsync(data, database);
        await Wait.UntilAsync(() => Task.FromResult(CrashTests.DistinctIds(sink).Count == RelayKill.Messages), "every message delivered by the surviving node", TimeSpan.FromSeconds(180));
        await Wait.UntilAsync(async () => await CountAsync(database, "SELECT COUNT(*) FROM relay_deliveries") == 0, "the queue drained");

        // the killed node held leases; the survivor took them over once lapsed and said so
        RelayKill.AssertEveryMessageOnceOrRecordedTwice(sink, submissionIds, await InterruptedMessagesAsync(database), survivor.Output, output);
    }

    internal static async Task<long> CountAsync(string database, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(PostgresServer.ConnectionString(database));
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    internal static async Task<HashSet<string>> InterruptedMessagesAsync(string database)
    {
        await using var connection = new Npgsql.NpgsqlConnection(PostgresServer.ConnectionString(database));
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT message_id FROM relay_interruptions", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new HashSet<string>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }
}

/// <summary>
/// What the relay crash tests share: a provider whose relay delivers to a slow sink, a batch submitted and the node
/// killed with SIGKILL once a quarter has arrived, and the verdict: every message arrived, at most twice, and twice
/// only when the queue recorded its interrupted attempt (the SMTP window).
/// </summary>
internal static class RelayKill
{
    public const int Messages = 120;

    /// <summary>A provider's data folder whose relay sends every message for sink.test to <paramref name="sink"/>.</summary>
    public static string PrepareNode(TempDir dir, TestCa ca, ScriptedMta sink)
    {
        string data = ProviderNode.Prepare(dir, "alpha.test", ca, new StaticDnsResolver(), edit: settings =>
        {
            settings["dns"]!["resolver"] = "static:dns.txt";
            settings["relay"]!["leaseSeconds"] = 3;
            settings["relay"]!["maxConnectionsPerDestination"] = 2;
            settings["relay"]!["portOverrides"] = new System.Text.Json.Nodes.JsonObject { ["mx.sink.test"] = sink.Port };
            settings["submission"]!["maxMessagesPerHour"] = 10_000;
            settings["submission"]!["maxRecipientsPerDay"] = 10_000;
        });
        File.WriteAllText(Path.Combine(data, "dns.txt"), "sink.test MX 10 mx.sink.test\nmx.sink.test A 127.0.0.1\n");
        return data;
    }

    /// <summary>Submits <see cref="Messages"/> messages through a node, then kills it mid-batch; Message-ID -> submission id.</summary>
    public static async Task<Dictionary<string, string>> SubmitThenKillAsync(string data, string? database, string prefix, ScriptedMta sink)
    {
        var submissionIds = new Dictionary<string, string>();
        await using var doomed = await ProviderProcess.StartAsync(data, database);
        using var client = new NodeClient("alpha.test", doomed.Https.Port);
        var alice = await client.CreateAccountAsync("alice");
        for (int i = 0; i < Messages; i++)
        {
            string messageId = $"{prefix}-{i}@alpha.test";
            var response = await client.SubmitAsync(NodeClient.Message(alice.Address, $"u{i}@sink.test", $"{prefix} {i}", messageId: messageId), [$"u{i}@sink.test"]);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            submissionIds[messageId] = (await response.Content.ReadFromJsonAsync(SubmissionJsonContext.Default.SubmissionResponse))!.SubmissionId;
        }

        await Wait.UntilAsync(() => Task.FromResult(sink.Received.Count >= Messages / 4), "a quarter delivered before the kill", TimeSpan.FromSeconds(120));
        await doomed.KillAsync();
        return submissionIds;
    }

    /// <summary>
    /// Every submitted message reached the sink once or twice, twice only when its interrupted attempt was recorded, and
    /// the node that took over found interrupted attempts and said so in its log.
    /// </summary>
    public static void AssertEveryMessageOnceOrRecordedTwice(ScriptedMta sink, Dictionary<string, string> submissionIds, HashSet<string> interrupted,
        string takeoverLog, ITestOutputHelper output)
    {
        var counts = sink.Received.GroupBy(CrashTests.MessageIdOf).ToDictionary(g => g.Key, g => g.Count());
        var duplicates = counts.Where(c => c.Value > 1).Select(c => c.Key).ToList();
        output.WriteLine($"{duplicates.Count} duplicate(s), {interrupted.Count} interrupted attempt(s) recorded");
        Assert.Equal(submissionIds.Keys.Order(), counts.Keys.Order());
        Assert.All(counts.Values, n => Assert.InRange(n, 1, 2));
        foreach (string duplicate in duplicates)
        {
            Assert.Contains(submissionIds[duplicate], interrupted);
        }

        Assert.NotEmpty(interrupted);
        Assert.Contains("may receive it twice", takeoverLog, StringComparison.Ordinal);
    }
}
