using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Letterlock.Api;
using Letterlock.Testing;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Dns;
using Letterlock.Provider.Tests;
using Letterlock.Relay.Tests.Peers;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Xunit.Abstractions;

namespace Letterlock.Relay.Tests.Provider;

/// <summary>
/// The cluster keeps its promises while its parts die (docs/design/cluster.md, "Proof under failure"). Through
/// <c>scripts/cluster</c> (a private PostgreSQL, three <c>letterlock provider serve</c> nodes, haproxy in front), 20
/// SMTP sessions deliver mail to four accounts while each account's client syncs, a sender submits mail that the
/// relay delivers to a real Postfix, and one node after another is killed with SIGKILL and started again. Then
/// PostgreSQL itself is killed: every node answers 451 (SMTP) and 503 problem+json (HTTP) while it is down and works
/// again once it is back, without a restart. At the end: no message acknowledged with 250 is missing, none is in a
/// mailbox twice, every client holds exactly what it was sent (and a further sync finds nothing), the relay delivered
/// every accepted submission (a second copy only where the queue recorded an interrupted attempt: the SMTP window),
/// and <c>letterlock audit</c> verifies the key-transparency log, resuming its own view from mid-run (append-only).
/// </summary>
public sealed class ClusterFailureTests(ITestOutputHelper output) : IDisposable
{
    private const string Domain = "cluster.test";
    private const int Sessions = 20;
    private const int Clients = 4;
    private readonly TestCa _ca = new();
    private readonly TempDir _dir = new("letterlock-cluster-failure-");

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public Task Nodes_killed_every_few_seconds_and_a_database_crash_lose_and_duplicate_nothing() => RunAsync(TimeSpan.FromSeconds(15));

    [SoakFact]
    [Trait("Category", "Soak")]
    public Task Nodes_killed_for_five_minutes_and_a_database_crash_lose_and_duplicate_nothing() => RunAsync(TimeSpan.FromMinutes(5));

    private async Task RunAsync(TimeSpan load)
    {
        await using var postfix = await PostfixInstance.StartAsync(_ca.Issue(["mx.sink.test"]));
        string data = ProviderNode.Prepare(_dir, Domain, _ca, new StaticDnsResolver(), edit: settings =>
        {
            settings["dns"]!["resolver"] = "static:dns.txt";
            settings["relay"]!["leaseSeconds"] = 3;
            settings["relay"]!["portOverrides"] = new System.Text.Json.Nodes.JsonObject { ["mx.sink.test"] = postfix.Port };
            settings["submission"]!["maxMessagesPerHour"] = 100_000;
            settings["submission"]!["maxRecipientsPerDay"] = 100_000;
            // every client comes through haproxy from 127.0.0.1: per-client limits would count them as one
            settings["api"]!["signUpsPerHourPerClient"] = 10_000;
            settings["api"]!["challengesPerMinutePerClient"] = 100_000;
            settings["smtp"]!["maxConnectionsPerClient"] = 1000;
            settings["smtp"]!["maxConnectionRatePerClient"] = 100_000;
            settings["transparency"]!["epochIntervalSeconds"] = 1; // epochs are published while nodes die
        });
        await File.WriteAllTextAsync(Path.Combine(data, "dns.txt"), "sink.test MX 10 mx.sink.test\nmx.sink.test A 127.0.0.1\n");
        await using var cluster = await ClusterScript.StartAsync(_dir.File("cluster"), output, "--nodes", "3", "--domain", Domain, "--data", data);
        var front = new Uri($"https://127.0.0.1:{cluster.Https.Port}/");
        using var http = new HttpClient(HttpFetch.CreateHandler(null, [_ca.Root])) { Timeout = TimeSpan.FromSeconds(60) };

        var clients = new List<SyncingClient>();
        for (int i = 0; i < Clients; i++)
        {
            clients.Add(await SyncingClient.CreateAsync(_dir.File($"client{i}"), $"user{i}@{Domain}", http, front));
        }

        using var sender = new NodeClient(Domain, cluster.Https.Port);
        var senderAccount = await sender.CreateAccountAsync("sender");
        string auditState = _dir.File("audit.db");

        using var stop = new CancellationTokenSource();
        var inbound = new Ledger();
        var relayed = new Ledger();
        var watch = Stopwatch.StartNew();
        var sessions = Enumerable.Range(0, Sessions).Select(s => SmtpSessionAsync(cluster.Smtp, s, inbound, stop.Token)).ToList();
        var syncs = clients.Select(c => c.SyncUntilAsync(stop.Token)).ToList();
        var submissions = SubmitAsync(sender, senderAccount, relayed, stop.Token);

        // one node after another: SIGKILL, then started again on its ports; each round signs up an account (a new
        // key-transparency entry, so epochs are published between kills); the audit looks once in the middle
        int kills = 0;
        long? midEpoch = null;
        while (kills < 3 || watch.Elapsed < load)
        {
            int node = kills % 3 + 1;
            await cluster.KillNodeAsync(node);
            kills++;
            await SignUpAsync(cluster, $"newcomer{kills}");
            await cluster.StartNodeAsync(node);
            if (midEpoch is null && kills >= 2)
            {
                midEpoch = await AuditAsync(front, auditState);
            }

            await Task.Delay(TimeSpan.FromSeconds(2)); // pacing of the kills, not a synchronisation
        }

        output.WriteLine($"{kills} nodes killed in {watch.Elapsed.TotalSeconds:F0} s; {inbound.Acknowledged.Count} messages acknowledged, " +
            $"{inbound.Attempted.Count - inbound.Acknowledged.Count} unacknowledged, {relayed.Acknowledged.Count} submissions accepted");
        await SignUpAsync(cluster, "last");

        await DatabaseCrashAsync(cluster, clients[0], inbound);

        await stop.CancelAsync();
        await Task.WhenAll(sessions);
        await submissions;
        foreach (var sync in syncs)
        {
            await sync;
        }

        // every client: everything acknowledged, nothing twice, nothing never sent, and the next sync finds nothing
        foreach (var client in clients)
        {
            await client.SyncToEndAsync();
            var held = await client.SubjectsAsync();
            Assert.True(held.Count == held.Distinct().Count(), $"{client.Address} holds a message twice: " +
                string.Join(", ", held.GroupBy(s => s).Where(g => g.Count() > 1).Select(g => g.Key)));
            var sent = inbound.For(client.Address);
            var missing = sent.Acknowledged.Except(held).ToList();
            Assert.True(missing.Count == 0, $"{client.Address} lacks {missing.Count} acknowledged messages: {string.Join(", ", missing.Take(10))}");
            var foreign = held.Except(sent.Attempted).ToList();
            Assert.True(foreign.Count == 0, $"{client.Address} holds messages never sent to it: {string.Join(", ", foreign.Take(10))}");
            output.WriteLine($"{client.Address}: {held.Count} messages ({sent.Acknowledged.Count} acknowledged, " +
                $"{held.Count - sent.Acknowledged.Count} stored whose 250 the sender never read); {client.SyncFailures} sync attempts failed");
            await client.DisposeAsync();
        }

        await RelayDeliveredOnceAsync(cluster, postfix, relayed);

        // the same view, resumed: every epoch since the middle extends the one verified then
        long lastEpoch = 0;
        await Wait.UntilAsync(async () => (lastEpoch = await AuditAsync(front, auditState)) > midEpoch, "an epoch published after the mid-run audit", TimeSpan.FromSeconds(120));
        output.WriteLine($"key transparency: epoch {midEpoch} verified mid-run, {lastEpoch} at the end");
    }

    /// <summary>Signs up an account through haproxy, as many times as a dying node makes it fail (each try a fresh address).</summary>
    private static async Task SignUpAsync(ClusterScript cluster, string localPart)
    {
        using var client = new NodeClient(Domain, cluster.Https.Port);
        int attempt = 0;
        await Wait.UntilAsync(async () =>
        {
            try
            {
                await client.CreateAccountAsync($"{localPart}.{attempt++}");
                return true;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, $"{localPart} signed up", TimeSpan.FromSeconds(120));
    }

    /// <summary>PostgreSQL dies: every node answers 451 and 503 while it is down and serves again once it is back.</summary>
    private async Task DatabaseCrashAsync(ClusterScript cluster, SyncingClient reader, Ledger inbound)
    {
        var pids = Enumerable.Range(1, 3).Select(cluster.NodePid).ToList();
        var tokens = new List<NodeClient>();
        for (int node = 1; node <= 3; node++)
        {
            var client = new NodeClient(Domain, cluster.EndPoint($"NODE{node}_HTTPS").Port);
            await client.LoginAsync(await LoginAccountAsync(reader));
            tokens.Add(client);
        }

        try
        {
            await cluster.KillDatabaseAsync();
            for (int node = 1; node <= 3; node++)
            {
                string subject = $"while-down-{node}";
                inbound.Attempt(reader.Address, subject);
                var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => SendOnceAsync(cluster.EndPoint($"NODE{node}_SMTP"), reader.Address, subject));
                Assert.Equal(451, (int)refused.StatusCode);
                using var response = await tokens[node - 1].Http.GetAsync("v1/changes?since=0");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                Assert.Equal(ProblemTypes.Unavailable, (await NodeClient.ProblemAsync(response)).Type);
                Assert.NotNull(response.Headers.RetryAfter);
            }

            await cluster.StartDatabaseAsync();
            for (int node = 1; node <= 3; node++)
            {
                var smtp = cluster.EndPoint($"NODE{node}_SMTP");
                int attempt = 0;
                await Wait.UntilAsync(async () =>
                {
                    string subject = $"after-restart-{node}-{attempt++}";
                    inbound.Attempt(reader.Address, subject);
                    try
                    {
                        await SendOnceAsync(smtp, reader.Address, subject);
                        inbound.Acknowledge(reader.Address, subject);
                        return true;
                    }
                    catch (SmtpCommandException e) when ((int)e.StatusCode == 451)
                    {
                        return false; // the node's pool has not reconnected yet
                    }
                }, $"node {node} accepts mail again", TimeSpan.FromSeconds(120));
                var api = tokens[node - 1];
                await Wait.UntilAsync(async () =>
                {
                    using var response = await api.Http.GetAsync("v1/changes?since=0");
                    return response.StatusCode == HttpStatusCode.OK;
                }, $"node {node} serves the API again", TimeSpan.FromSeconds(120));
            }

            // recovered in place: the same processes, none restarted
            Assert.Equal(pids, Enumerable.Range(1, 3).Select(cluster.NodePid).ToList());
            foreach (int pid in pids)
            {
                using var process = Process.GetProcessById(pid);
                Assert.False(process.HasExited);
            }
        }
        finally
        {
            foreach (var client in tokens)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>A further device key is not needed: the client's own device signs in over a second connection.</summary>
    private static async Task<NodeAccount> LoginAccountAsync(SyncingClient client) => await client.AsNodeAccountAsync();

    /// <summary>Every accepted submission reached Postfix; a second copy only where the queue recorded an interruption.</summary>
    private async Task RelayDeliveredOnceAsync(ClusterScript cluster, PostfixInstance postfix, Ledger relayed)
    {
        string database = cluster.Env["DATABASE_URL"];
        var accepted = relayed.For("sink").Acknowledged;
        await Wait.UntilAsync(() => Task.FromResult(accepted.All(DeliveredIds(postfix).Contains)), "every accepted submission delivered", TimeSpan.FromSeconds(180));
        await Wait.UntilAsync(async () => await ClusterRelayTests.CountAsync(database, "SELECT COUNT(*) FROM relay_deliveries") == 0, "the relay queue drained", TimeSpan.FromSeconds(180));
        var counts = postfix.DeliveredMessages().Select(MessageIdOf).GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
        var interrupted = await ClusterRelayTests.InterruptedMessagesAsync(database);
        var duplicates = counts.Where(c => c.Value > 1).Select(c => c.Key).ToList();
        output.WriteLine($"relay: {accepted.Count} accepted, {counts.Count} delivered, {duplicates.Count} twice, {interrupted.Count} interrupted attempts recorded");
        Assert.All(counts.Keys, id => Assert.Contains(id, relayed.For("sink").Attempted));
        Assert.All(counts.Values, n => Assert.InRange(n, 1, 2));
        foreach (string duplicate in duplicates)
        {
            Assert.True(interrupted.Contains(relayed.SubmissionId(duplicate)), $"{duplicate} was delivered twice without a recorded interruption");
        }
    }

    private static HashSet<string> DeliveredIds(PostfixInstance postfix) => postfix.DeliveredMessages().Select(MessageIdOf).ToHashSet();

    private static string MessageIdOf(byte[] message)
    {
        using var stream = new MemoryStream(message);
        return HeaderList.Load(stream)[HeaderId.MessageId]!.Trim().Trim('<', '>');
    }

    /// <summary>One SMTP session through haproxy: a message a second to one of the accounts, reconnecting when its node dies.</summary>
    private static async Task SmtpSessionAsync(IPEndPoint front, int session, Ledger ledger, CancellationToken stop)
    {
        for (int n = 0; !stop.IsCancellationRequested;)
        {
            try
            {
                using var smtp = new SmtpClient { Timeout = 30_000 };
                await smtp.ConnectAsync("127.0.0.1", front.Port, SecureSocketOptions.None, stop);
                while (!stop.IsCancellationRequested)
                {
                    string recipient = $"user{(session + n) % Clients}@{Domain}";
                    string subject = $"s{session}-{n++}";
                    ledger.Attempt(recipient, subject);
                    await smtp.SendAsync(Message(recipient, subject), stop);
                    ledger.Acknowledge(recipient, subject);
                    await Task.Delay(TimeSpan.FromSeconds(1), stop); // pacing of the load, not a synchronisation
                }
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or MailKit.ServiceNotConnectedException or MailKit.ProtocolException
                or SmtpCommandException { StatusCode: MailKit.Net.Smtp.SmtpStatusCode.ErrorInProcessing or MailKit.Net.Smtp.SmtpStatusCode.ServiceNotAvailable })
            {
                // its node died (or answered "try again later"): the message in flight was not acknowledged; a new session
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        }
    }

    private static async Task SendOnceAsync(IPEndPoint endPoint, string recipient, string subject)
    {
        using var smtp = new SmtpClient { Timeout = 60_000 };
        await smtp.ConnectAsync("127.0.0.1", endPoint.Port, SecureSocketOptions.None);
        await smtp.SendAsync(Message(recipient, subject));
        await smtp.DisconnectAsync(true);
    }

    private static MimeMessage Message(string recipient, string subject)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("load@sender.test"));
        message.To.Add(MailboxAddress.Parse(recipient));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = $"Body of {subject}\r\n" };
        return message;
    }

    /// <summary>The sender submits a message to Postfix's domain every half second through haproxy.</summary>
    private static async Task SubmitAsync(NodeClient sender, NodeAccount account, Ledger ledger, CancellationToken stop)
    {
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            string messageId = $"relay-{i}@{Domain}";
            ledger.Attempt("sink", messageId);
            try
            {
                using var response = await sender.SubmitAsync(NodeClient.Message(account.Address, $"u{i}@sink.test", $"relay {i}", messageId: messageId), [$"u{i}@sink.test"]);
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    var accepted = (await response.Content.ReadFromJsonAsync(SubmissionJsonContext.Default.SubmissionResponse, CancellationToken.None))!;
                    ledger.Acknowledge("sink", messageId, accepted.SubmissionId);
                }
                else if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    await sender.LoginAsync(account);
                }
                else
                {
                    Assert.True((int)response.StatusCode >= 500, $"submission refused: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(CancellationToken.None)}");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), stop); // pacing, not a synchronisation
            }
            catch (HttpRequestException)
            {
                // the node died mid-request: not accepted, as far as the sender knows
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>Runs <c>letterlock audit</c> on its view file; it must pass. Returns the newest epoch it verified.</summary>
    private async Task<long> AuditAsync(Uri front, string state)
    {
        var result = await Tools.RunAsync("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "audit", "--provider", front.AbsoluteUri, "--ca-cert", Path.Combine(_dir.Path, "data", "ca.pem"), "--state", state],
            timeout: TimeSpan.FromMinutes(3));
        output.WriteLine($"audit: {result}");
        Assert.True(result.ExitCode == 0, $"letterlock audit failed: {result}");
        var newest = System.Text.RegularExpressions.Regex.Match(result.StandardOutput, @"Verified epochs: 0\.\.(\d+)");
        Assert.True(newest.Success, result.StandardOutput);
        return long.Parse(newest.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>What was sent to whom: attempted, and acknowledged (250, 202).</summary>
    private sealed class Ledger
    {
        private readonly ConcurrentDictionary<string, (ConcurrentDictionary<string, byte> Attempted, ConcurrentDictionary<string, byte> Acknowledged)> _by = new();
        private readonly ConcurrentDictionary<string, string> _submissionIds = new();

        public HashSet<string> Attempted => _by.Values.SelectMany(v => v.Attempted.Keys).ToHashSet();

        public HashSet<string> Acknowledged => _by.Values.SelectMany(v => v.Acknowledged.Keys).ToHashSet();

        public void Attempt(string recipient, string id) => Of(recipient).Attempted[id] = 0;

        public void Acknowledge(string recipient, string id, string? submissionId = null)
        {
            Of(recipient).Acknowledged[id] = 0;
            if (submissionId is not null)
            {
                _submissionIds[id] = submissionId;
            }
        }

        public string SubmissionId(string id) => _submissionIds.TryGetValue(id, out var submission) ? submission : "(not accepted)";

        public (HashSet<string> Attempted, HashSet<string> Acknowledged) For(string recipient) =>
            (Of(recipient).Attempted.Keys.ToHashSet(), Of(recipient).Acknowledged.Keys.ToHashSet());

        private (ConcurrentDictionary<string, byte> Attempted, ConcurrentDictionary<string, byte> Acknowledged) Of(string recipient) =>
            _by.GetOrAdd(recipient, _ => (new(), new()));
    }

    /// <summary>A Letterlock client (its own store, the real sync engine) for one account, syncing through haproxy.</summary>
    private sealed class SyncingClient : IAsyncDisposable
    {
        private readonly LocalStore _store;
        private readonly AccountRecord _account;
        private readonly ProviderClient _provider;

        private SyncingClient(LocalStore store, AccountRecord account, ProviderClient provider)
        {
            _store = store;
            _account = account;
            _provider = provider;
        }

        public string Address => _account.Address;

        public int SyncFailures { get; private set; }

        public static async Task<SyncingClient> CreateAsync(string folder, string address, HttpClient http, Uri front)
        {
            Directory.CreateDirectory(folder);
            string keyFile = Path.Combine(folder, "store.key");
            KeyFile.Create(keyFile);
            var store = await LocalStore.CreateAsync(Path.Combine(folder, "client.db"), StoreUnlock.WithKeyFile(keyFile));
            var account = await AccountRegistration.CreateAsync(store, new ProviderClient(http, front), address, null);
            return new SyncingClient(store, account, await AccountRegistration.ConnectAsync(store, account, http));
        }

        /// <summary>Syncs again and again until stopped; a failure because a node or the database died is counted and retried.</summary>
        public async Task SyncUntilAsync(CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                if (!await TrySyncAsync())
                {
                    SyncFailures++;
                }
            }
        }

        /// <summary>Syncs until a sync succeeds, then once more: that one must find nothing.</summary>
        public async Task SyncToEndAsync()
        {
            await Wait.UntilAsync(TrySyncAsync, $"{Address} syncs", TimeSpan.FromSeconds(180));
            var idle = await new SyncEngine(_store, _account, _provider).SyncAsync();
            Assert.True(idle is { Received: 0, Pushed: 0, Deleted: 0, Errors.Count: 0 }, $"{Address}: a further sync found work: {idle}");
        }

        public async Task<List<string>> SubjectsAsync()
        {
            var mail = _store.Mail(_account.Id);
            var subjects = new List<string>();
            foreach (var folder in await mail.ListFoldersAsync())
            {
                subjects.AddRange((await mail.ListAsync(folder.Id)).Select(m => m.Summary.Subject ?? ""));
            }

            return subjects;
        }

        /// <summary>The account as the test's own HTTP client signs in with it (the device key of this client).</summary>
        public async Task<NodeAccount> AsNodeAccountAsync()
        {
            var device = await _store.Keys.GetCurrentAsync(_account.Id, Letterlock.Client.Mail.AccountKeys.DeviceSecret);
            return new NodeAccount(_account.Address, _account.RemoteAccountId!.Value, _account.DeviceId!.Value, device!.Material, null!);
        }

        public ValueTask DisposeAsync()
        {
            _store.Dispose();
            return ValueTask.CompletedTask;
        }

        private async Task<bool> TrySyncAsync()
        {
            try
            {
                var report = await new SyncEngine(_store, _account, _provider).SyncAsync();
                Assert.True(report.Errors.Count == 0, $"{Address}: {string.Join("; ", report.Errors.Select(e => e.Reason))}");
                return true;
            }
            catch (Exception e) when (e is ProviderUnavailableException or HttpRequestException or IOException or ProviderProblemException { Status: >= 500 })
            {
                return false;
            }
        }
    }
}
