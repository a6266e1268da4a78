using System.Collections.Concurrent;
using System.Text;
using Letterlock.Cryptography;
using Letterlock.Relay.Queue;
using Letterlock.Relay.Tests.Dkim;
using Letterlock.Relay.Tests.Peers;
using Letterlock.Smtp;
using MimeKit;

namespace Letterlock.Relay.Tests.Queue;

/// <summary>Captures what the relay hands to local delivery (DSNs for the sender's inbox).</summary>
internal sealed class CapturingLocalDelivery : ILocalDelivery
{
    public ConcurrentQueue<(string Recipient, byte[] Message)> Delivered { get; } = new();

    public Task DeliverAsync(string recipient, ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        Delivered.Enqueue((recipient, message.ToArray()));
        return Task.CompletedTask;
    }
}

/// <summary>The queue, scheduler and DSNs end to end over scripted MTAs, with the queue in SQLite.</summary>
public sealed class QueueTests : IDisposable
{
    private const string Marker = "ZEBRA-MARKER-7731";
    private readonly TestCa _ca = new();
    private readonly TempDir _dir = new();

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }

    private sealed class Rig : IAsyncDisposable
    {
        public required RelayHarness Harness { get; init; }

        public required SqliteRelayDatabase Database { get; init; }

        public required RelayQueue Queue { get; init; }

        public required RelayScheduler Scheduler { get; init; }

        public required CapturingLocalDelivery Local { get; init; }

        public async ValueTask DisposeAsync()
        {
            await Scheduler.DisposeAsync();
            await Database.DisposeAsync();
            Harness.Dispose();
        }
    }

    private async Task<Rig> StartAsync(Action<RelayOptions>? configure = null, string name = "queue.db")
    {
        var harness = new RelayHarness(_ca, o =>
        {
            o.InitialRetryDelay = TimeSpan.FromMilliseconds(300);
            o.MaxRetryDelay = TimeSpan.FromSeconds(2);
            o.PollInterval = TimeSpan.FromSeconds(1);
            o.LeaseDuration = TimeSpan.FromSeconds(30);
            configure?.Invoke(o);
        });
        var db = new SqliteRelayDatabase(_dir.File(name));
        var store = new SqlRelayQueueStore(db);
        await store.InitializeAsync(default);
        var queue = new RelayQueue(store, HpkeKeyPair.Derive(Encoding.ASCII.GetBytes("test queue key material, 32+ bytes long")), harness.Options, TimeProvider.System);
        var local = new CapturingLocalDelivery();
        var scheduler = new RelayScheduler(queue, harness.Agent, local, harness.Options, "alpha.test", TimeProvider.System, harness.Logger);
        return new Rig { Harness = harness, Database = db, Queue = queue, Scheduler = scheduler, Local = local };
    }

    private static byte[] Message(string to, string subject = "Hello " + Marker)
    {
        var message = DkimSigningTests.SampleMessage("Body with " + Marker + "\r\n");
        message.To.Clear();
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("alpha.test");
        using var memory = new MemoryStream();
        message.WriteTo(Letterlock.Relay.Dkim.DkimSigning.Format, memory);
        return memory.ToArray();
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(what);
            }

            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_451_is_retried_with_backoff_until_250_and_then_leaves_the_queue()
    {
        await using var rig = await StartAsync();
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        int calls = 0;
        mta.OnData = _ => Interlocked.Increment(ref calls) == 1 ? new SmtpReply(451, "4.3.0", "Try again later") : null;
        rig.Harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        rig.Scheduler.Start();
        var queued = await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test"], Message("bob@beta.test"), default);
        Assert.True(queued.Accepted);

        await mta.WaitForMessageAsync();
        await WaitUntilAsync(async () => await rig.Queue.Store.CountAsync(default) == 0, "queue drained");
        Assert.Equal(2, calls);
        Assert.Single(mta.Received);
        Assert.Empty(rig.Local.Delivered);
        Assert.Contains("1 deferred", rig.Harness.Logger.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_550_bounces_with_an_rfc3464_dsn_to_the_sender()
    {
        await using var rig = await StartAsync();
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        mta.OnRecipient = r => r.StartsWith("gone@", StringComparison.Ordinal) ? SmtpReply.NoSuchUser : null;
        rig.Harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        rig.Scheduler.Start();
        await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test", "gone@beta.test"], Message("bob@beta.test"), default);

        await WaitUntilAsync(() => Task.FromResult(!rig.Local.Delivered.IsEmpty), "DSN handed to local delivery");
        await WaitUntilAsync(async () => await rig.Queue.Store.CountAsync(default) == 0, "queue drained");
        var (recipient, bytes) = rig.Local.Delivered.Single();
        Assert.Equal("alice@alpha.test", recipient);
        var dsn = await MimeMessage.LoadAsync(new MemoryStream(bytes));
        Assert.Equal("auto-replied", dsn.Headers["Auto-Submitted"]);
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        Assert.Equal("delivery-status", report.ReportType);
        var status = Assert.IsType<MessageDeliveryStatus>(report[1]);
        Assert.Equal("dns; mx.alpha.test", status.StatusGroups[0]["Reporting-MTA"]);
        var group = status.StatusGroups[1];
        Assert.Equal("rfc822; gone@beta.test", group["Final-Recipient"]);
        Assert.Equal("failed", group["Action"]);
        Assert.Equal("5.1.1", group["Status"]);
        Assert.Equal("dns; mx.beta.test", group["Remote-MTA"]);
        Assert.StartsWith("smtp; 550 5.1.1", group["Diagnostic-Code"], StringComparison.Ordinal);
        // bob was delivered and is not reported
        Assert.Equal(["rfc822; gone@beta.test"], status.StatusGroups.Select(g => g["Final-Recipient"]).Where(v => v is not null));
        Assert.IsType<TextRfc822Headers>(report[2]);
        Assert.Single(mta.Received);
    }

    [Fact]
    public async Task Expiry_bounces_with_status_4_4_7_after_the_lifetime()
    {
        await using var rig = await StartAsync(o =>
        {
            o.MessageLifetime = TimeSpan.FromSeconds(3);
            o.DelayWarningAfter = null;
        });
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        mta.OnData = _ => new SmtpReply(451, "4.3.0", "Still busy");
        rig.Harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        rig.Scheduler.Start();
        await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test"], Message("bob@beta.test"), default);
        await WaitUntilAsync(async () => await rig.Queue.Store.CountAsync(default) == 0, "expired", TimeSpan.FromSeconds(60));

        var group = StatusGroup(Assert.Single(await DeliveredAsync(rig)));
        Assert.Equal("failed", group["Action"]);
        Assert.Equal("4.4.7", group["Status"]);
        Assert.StartsWith("smtp; 451 4.3.0 Still busy", group["Diagnostic-Code"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_delay_warning_is_sent_once_while_the_message_stays_queued()
    {
        // Separate from the expiry test: on a loaded machine the first attempt may outlast a short
        // lifetime, and then (correctly) no warning precedes the bounce.
        await using var rig = await StartAsync(o =>
        {
            o.MessageLifetime = TimeSpan.FromMinutes(10);
            o.DelayWarningAfter = TimeSpan.FromSeconds(1);
        });
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        mta.OnData = _ => new SmtpReply(451, "4.3.0", "Still busy");
        rig.Harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        rig.Scheduler.Start();
        await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test"], Message("bob@beta.test"), default);
        await WaitUntilAsync(() => Task.FromResult(!rig.Local.Delivered.IsEmpty), "delay warning", TimeSpan.FromSeconds(60));

        var group = StatusGroup(Assert.Single(await DeliveredAsync(rig)));
        Assert.Equal("delayed", group["Action"]);
        Assert.StartsWith("4.", group["Status"], StringComparison.Ordinal);
        Assert.Equal(1, await rig.Queue.Store.CountAsync(default));
    }

    private static async Task<List<MimeMessage>> DeliveredAsync(Rig rig)
    {
        var dsns = new List<MimeMessage>();
        foreach (var (_, bytes) in rig.Local.Delivered)
        {
            dsns.Add(await MimeMessage.LoadAsync(new MemoryStream(bytes)));
        }

        return dsns;
    }

    private static HeaderList StatusGroup(MimeMessage dsn) => ((MessageDeliveryStatus)((MultipartReport)dsn.Body!)[1]).StatusGroups[1];

    [Fact]
    public async Task A_blackholed_destination_does_not_delay_the_others()
    {
        await using var rig = await StartAsync(o =>
        {
            o.ConnectTimeout = TimeSpan.FromSeconds(60);
            o.CommandTimeout = TimeSpan.FromMinutes(5);
            o.MaxConnectionsPerDestination = 2;
            o.MaxConcurrentConnections = 4;
        });
        using var blackhole = new Blackhole();
        await using var live = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        rig.Harness.AddMx("dead.test", "mx.dead.test", blackhole.Port);
        rig.Harness.AddMx("beta.test", "mx.beta.test", live.Port);
        rig.Scheduler.Start();
        for (int i = 0; i < 10; i++)
        {
            await rig.Queue.EnqueueAsync("alice@alpha.test", [$"u{i}@dead.test"], Message($"u{i}@dead.test"), default);
        }

        await WaitUntilAsync(() => Task.FromResult(blackhole.Connections > 0), "the blackhole is being waited on");
        for (int i = 0; i < 20; i++)
        {
            await rig.Queue.EnqueueAsync("alice@alpha.test", [$"u{i}@beta.test"], Message($"u{i}@beta.test"), default);
        }

        await WaitUntilAsync(() => Task.FromResult(live.Received.Count == 20), "live destination delivered");
        // The sink sees a message before the scheduler records its completion: wait for the records too.
        await WaitUntilAsync(async () => await rig.Queue.Store.CountAsync(default) == 10, "live deliveries recorded");
        // still hanging at the blackhole: nothing there has timed out yet, yet the live mail flowed
        Assert.InRange(blackhole.Connections, 1, 2);
        Assert.Equal(20, live.Received.Count);
    }

    [Fact]
    public async Task The_queue_file_never_holds_plaintext_and_bodies_go_with_the_last_delivery()
    {
        await using var rig = await StartAsync();
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        rig.Harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        var queued = await rig.Queue.EnqueueAsync("alice." + Marker + "@alpha.test", ["bob@beta.test", "carol@gamma.test"], Message("bob@beta.test"), default);
        Assert.True(queued.Accepted);
        foreach (string file in Directory.GetFiles(_dir.Path))
        {
            byte[] bytes = await File.ReadAllBytesAsync(file);
            Assert.DoesNotContain(Marker, Encoding.Latin1.GetString(bytes), StringComparison.Ordinal);
            Assert.DoesNotContain("bob@beta.test", Encoding.Latin1.GetString(bytes), StringComparison.Ordinal);
            Assert.DoesNotContain("beta.test", Encoding.Latin1.GetString(bytes), StringComparison.Ordinal);
        }

        Assert.Equal(2, await rig.Queue.Store.CountAsync(default));
        rig.Harness.Dns.AddMx("gamma.test", 0, ".");
        rig.Scheduler.Start();
        await WaitUntilAsync(async () => await rig.Queue.Store.CountAsync(default) == 0, "queue drained");
        Assert.Null(await rig.Queue.Store.ReadMessageAsync(queued.MessageId!, default));
    }

    [Theory]
    [InlineData(100, true)]
    [InlineData(101, false)]
    public async Task Recipient_limit_is_enforced_at_its_edge(int count, bool accepted)
    {
        await using var rig = await StartAsync(name: $"limit{count}.db");
        var recipients = Enumerable.Range(0, count).Select(i => $"r{i}@beta.test").ToList();
        var result = await rig.Queue.EnqueueAsync("alice@alpha.test", recipients, Message("r0@beta.test"), default);
        Assert.Equal(accepted, result.Accepted);
    }

    [Fact]
    public async Task Bad_addresses_and_oversized_messages_are_refused()
    {
        await using var rig = await StartAsync(o => o.MaxMessageSize = 4096);
        Assert.False((await rig.Queue.EnqueueAsync("alice@alpha.test", ["no-at-sign"], Message("bob@beta.test"), default)).Accepted);
        Assert.False((await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@bad domain"], Message("bob@beta.test"), default)).Accepted);
        Assert.False((await rig.Queue.EnqueueAsync("not an address", ["bob@beta.test"], Message("bob@beta.test"), default)).Accepted);
        Assert.False((await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test"], new byte[4097], default)).Accepted);
        Assert.True((await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test"], new byte[4096], default)).Accepted);
    }

    [Fact]
    public async Task A_message_beyond_a_mime_limit_is_refused_when_queued_naming_the_limit()
    {
        await using var rig = await StartAsync(o => o.MimeLimits = new OpenPgp.Mime.MimeLimits { MaxMimeParts = 3, MaxHeaderFields = 5 });
        static byte[] Parts(int entities) => Encoding.ASCII.GetBytes("From: alice@alpha.test\r\nTo: bob@beta.test\r\n" +
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + string.Concat(Enumerable.Repeat("--b\r\n\r\nx\r\n", entities - 1)) + "--b--\r\n");
        static byte[] Fields(int fields) => Encoding.ASCII.GetBytes("From: alice@alpha.test\r\nTo: bob@beta.test\r\n" +
            string.Concat(Enumerable.Range(0, fields - 2).Select(i => $"X-F{i}: v\r\n")) + "\r\nbody\r\n");

        Assert.True((await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test"], Parts(3), default)).Accepted);
        var parts = await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test"], Parts(4), default);
        Assert.False(parts.Accepted);
        Assert.Contains("MimeLimits.MaxMimeParts", parts.Error, StringComparison.Ordinal);

        Assert.True((await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test"], Fields(5), default)).Accepted);
        var fields = await rig.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test"], Fields(6), default);
        Assert.False(fields.Accepted);
        Assert.Contains("MimeLimits.MaxHeaderFields", fields.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_queued_message_beyond_a_mime_limit_lowered_since_bounces_to_its_sender_naming_the_limit()
    {
        await using (var before = await StartAsync(name: "lowered.db"))
        {
            Assert.True((await before.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test", "carol@beta.test"], Message("bob@beta.test"), default)).Accepted);
        }

        await using var rig = await StartAsync(o => o.MimeLimits = new OpenPgp.Mime.MimeLimits { MaxHeaderFields = 3 }, name: "lowered.db");
        var (action, status, human) = await BouncedAsync(rig, ["rfc822; bob@beta.test", "rfc822; carol@beta.test"]);
        Assert.Equal("failed", action);
        Assert.Equal("5.3.4", status);
        Assert.Contains("MimeLimits.MaxHeaderFields", human, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_queued_message_that_cannot_be_read_bounces_to_its_sender_instead_of_vanishing()
    {
        await using (var before = await StartAsync(name: "corrupt.db"))
        {
            Assert.True((await before.Queue.EnqueueAsync("alice@alpha.test", ["bob@beta.test"], Message("bob@beta.test"), default)).Accepted);
        }

        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_dir.File("corrupt.db")};Pooling=false"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "UPDATE relay_messages SET body = zeroblob(200)";
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }

        await using var rig = await StartAsync(name: "corrupt.db");
        var (action, status, human) = await BouncedAsync(rig, ["rfc822; bob@beta.test"]);
        Assert.Equal("failed", action);
        Assert.Equal("5.3.0", status);
        Assert.Contains("cannot be read", human, StringComparison.Ordinal);
    }

    /// <summary>Runs the scheduler until the queue is empty; the one DSN it handed to alice, checked for its recipients.</summary>
    private async Task<(string Action, string Status, string Human)> BouncedAsync(Rig rig, string[] recipients)
    {
        await using var mta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]));
        rig.Harness.AddMx("beta.test", "mx.beta.test", mta.Port);
        rig.Scheduler.Start();
        await WaitUntilAsync(async () => await rig.Queue.Store.CountAsync(default) == 0, "queue drained");
        Assert.Empty(mta.Received);
        var (to, bytes) = Assert.Single(rig.Local.Delivered);
        Assert.Equal("alice@alpha.test", to);
        var report = Assert.IsType<MultipartReport>((await MimeMessage.LoadAsync(new MemoryStream(bytes))).Body);
        var groups = Assert.IsType<MessageDeliveryStatus>(report[1]).StatusGroups.Skip(1).ToList();
        Assert.Equal(recipients, groups.Select(g => g["Final-Recipient"]));
        Assert.Single(groups.Select(g => (g["Action"], g["Status"])).Distinct());
        return (groups[0]["Action"] ?? "", groups[0]["Status"] ?? "", Assert.IsType<TextPart>(report[0]).Text);
    }
}
