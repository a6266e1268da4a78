using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Letterlock.Cryptography;
using Letterlock.Dns;
using Letterlock.Provider.Storage;
using Letterlock.Relay;
using Letterlock.Relay.Delivery;
using Letterlock.Relay.Dkim;
using Letterlock.Relay.Queue;
using Letterlock.Relay.Routing;
using Letterlock.Relay.Tests;
using Letterlock.Relay.Tests.Peers;
using Letterlock.Relay.Tls;

// Outbound relay benchmark (docs/PERFORMANCE.md, "Outbound relay").
//   throughput: N messages of S bytes queued, then drained into a private Postfix sink over STARTTLS, by our relay
//               (queue in the provider's SQLite store, ed25519 + rsa DKIM per message) and, in the same run, by a
//               private Postfix relay whose queue holds the same number of messages of the same size.
//   blackhole:  how long a batch to a live destination takes while another destination accepts TCP and never answers,
//               against the same batch with no blackholed destination.
// Usage: dotnet run -c Release --project bench/Letterlock.Bench.Relay -- [throughput|postfix|dkim|blackhole|all] [--messages 5000]
//        [--size 10240] [--connections 4] [--batch 1000] [--dead 200]
string mode = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "all";
int messages = Arg("--messages", 5000);
int size = Arg("--size", 10240);
int connections = Arg("--connections", 4);
int batch = Arg("--batch", 1000);
int dead = Arg("--dead", 200);
var rows = new List<string>();
using var ca = new TestCa("Bench CA");

if (mode is "throughput" or "all")
{
    rows.Add(await OursAsync(connections));
    if (connections != 20)
    {
        rows.Add(await OursAsync(20));
    }
}

if (mode is "throughput" or "postfix" or "all")
{
    rows.Add(await PostfixAsync());
}

if (mode is "dkim" or "all")
{
    rows.AddRange(DkimCost(size));
}

if (mode is "blackhole" or "all")
{
    rows.Add(await BlackholeAsync(withBlackhole: false));
    rows.Add(await BlackholeAsync(withBlackhole: true));
}

Console.WriteLine();
Console.WriteLine("| run | result | notes |");
Console.WriteLine("|---|---|---|");
foreach (string row in rows)
{
    Console.WriteLine(row);
}

return 0;

async Task<string> OursAsync(int perDestination)
{
    Console.WriteLine($"Letterlock relay: {messages} x {size} B, {perDestination} connections to the destination");
    await using var sink = await PostfixInstance.StartAsync(ca.Issue(["mx.sink.test"]));
    await using var relay = await OurRelay.StartAsync(ca, perDestination);
    relay.Route("sink.test", "mx.sink.test", sink.Port);
    byte[] message = Message(size);
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var watch = Stopwatch.StartNew();
    await Parallel.ForAsync(0, messages, new ParallelOptions { MaxDegreeOfParallelism = 20 }, async (i, ct) =>
    {
        var result = await relay.Queue.EnqueueAsync("alice@alpha.test", [$"u{i}@sink.test"], message, ct);
        if (!result.Accepted)
        {
            throw new InvalidOperationException(result.Error);
        }
    });
    double enqueueSeconds = watch.Elapsed.TotalSeconds;
    var cpuQueued = Process.GetCurrentProcess().TotalProcessorTime;
    Console.WriteLine($"  queued in {enqueueSeconds:F1} s ({messages / enqueueSeconds:F0} msg/s, 20 concurrent submitters, durable commits)");

    watch.Restart();
    relay.Start();
    await WaitAsync(() => Task.FromResult(Delivered(sink) >= messages), TimeSpan.FromMinutes(30), () => $"{Delivered(sink)} delivered");
    double delivered = watch.Elapsed.TotalSeconds;
    await WaitAsync(async () => await relay.Queue.Store.CountAsync(default) == 0, TimeSpan.FromMinutes(5), () => "queue not empty");
    double drained = watch.Elapsed.TotalSeconds;
    var cpuEnd = Process.GetCurrentProcess().TotalProcessorTime;
    double enqueueCpu = (cpuQueued - cpu).TotalSeconds, drainCpu = (cpuEnd - cpuQueued).TotalSeconds;
    string check = CheckDelivered(sink, signatures: 2);
    Console.WriteLine($"  in the sink's Maildir after {delivered:F1} s ({messages / delivered:F0} msg/s); queue empty after {drained:F1} s; CPU enqueue {enqueueCpu:F1} s, drain {drainCpu:F1} s; {check}");
    return $"| Letterlock relay, {perDestination} connections | **{messages / drained:F0} msg/s** ({messages} in {drained:F1} s, queue empty); CPU {drainCpu * 1000 / messages:F2} ms/msg ({drainCpu:F1} s) | enqueue {messages / enqueueSeconds:F0} msg/s, CPU {enqueueCpu * 1000 / messages:F2} ms/msg; {check} |";
}

async Task<string> PostfixAsync()
{
    Console.WriteLine($"Postfix relay: {messages} x {size} B");
    await using var sink = await PostfixInstance.StartAsync(ca.Issue(["mx.sink.test"]));
    // the relay holds everything in its queue first (defer_transports), then flushes it: the same drain as ours
    await using var relay = await PostfixInstance.StartAsync(
        ca.Issue(["mx.relay.test"]),
        transports: new Dictionary<string, string> { ["sink.test"] = $"[127.0.0.1]:{sink.Port}" },
        extraMainCf: "virtual_mailbox_domains =\nmyhostname = mx.relay.test\ndefer_transports = smtp\nsmtp_tls_security_level = may\nsmtp_tls_loglevel = 1");
    double cpu0 = await PostfixCpuSecondsAsync(relay);
    var inject = await Tools.RunAsync("smtp-source", ["-s", "20", "-m", messages.ToString(CultureInfo.InvariantCulture), "-l", size.ToString(CultureInfo.InvariantCulture),
        "-f", "alice@alpha.test", "-t", "bob@sink.test", $"127.0.0.1:{relay.Port}"], timeout: TimeSpan.FromMinutes(30));
    if (inject.ExitCode != 0)
    {
        throw new InvalidOperationException("smtp-source failed: " + inject);
    }

    await WaitAsync(async () => await PostfixQueuedAsync(relay) >= messages, TimeSpan.FromMinutes(10), () => "relay queue not full");
    double injectCpu = await PostfixCpuSecondsAsync(relay) - cpu0;
    string etc = Path.Combine(relay.Directory, "etc");
    await MustAsync("postconf", ["-c", etc, "-e", "defer_transports ="]);
    // not `postfix reload`: the running qmgr (still deferring) can take the flush and put everything off for
    // queue_run_delay (seen: 300 s). A restart reads the new setting; its start is not timed.
    await MustAsync("postfix", ["-c", etc, "stop"]);
    await WaitAsync(async () => (await Tools.RunAsync("postfix", ["-c", etc, "status"])).ExitCode != 0, TimeSpan.FromMinutes(2), () => "relay did not stop");
    await MustAsync("postfix", ["-c", etc, "start"]);
    double cpu1 = await PostfixCpuSecondsAsync(relay);
    var watch = Stopwatch.StartNew();
    await MustAsync("postqueue", ["-c", etc, "-f"]);
    await WaitAsync(() => Task.FromResult(Delivered(sink) >= messages), TimeSpan.FromMinutes(30), () => $"{Delivered(sink)} delivered");
    double delivered = watch.Elapsed.TotalSeconds;
    await WaitAsync(async () => await PostfixQueuedAsync(relay) == 0, TimeSpan.FromMinutes(5), () => "relay queue not empty");
    double drained = watch.Elapsed.TotalSeconds;
    double cpu2 = await PostfixCpuSecondsAsync(relay);
    string check = CheckDelivered(sink, signatures: 0);
    Console.WriteLine($"  in the sink's Maildir after {delivered:F1} s; queue empty after {drained:F1} s; CPU of the relay instance: inject {injectCpu:F1} s, drain {cpu2 - cpu1:F1} s; {check}");
    return $"| Postfix 3.7 relay (default concurrency: up to 20 connections) | **{messages / drained:F0} msg/s** ({messages} in {drained:F1} s, queue empty); CPU {(cpu2 - cpu1) * 1000 / messages:F2} ms/msg ({cpu2 - cpu1:F1} s, all its processes) | injected by smtp-source (20 sessions), CPU {injectCpu * 1000 / messages:F2} ms/msg; {check} |";
}

async Task<string> BlackholeAsync(bool withBlackhole)
{
    Console.WriteLine($"Batch of {batch} to a live destination, {(withBlackhole ? $"with {dead} messages to a blackholed destination queued first" : "alone")}");
    await using var sink = await PostfixInstance.StartAsync(ca.Issue(["mx.sink.test"]));
    using var blackhole = new Blackhole();
    await using var relay = await OurRelay.StartAsync(ca, connections);
    relay.Route("sink.test", "mx.sink.test", sink.Port);
    relay.Route("dead.test", "mx.dead.test", blackhole.Port);
    byte[] message = Message(size);
    relay.Start();
    if (withBlackhole)
    {
        for (int i = 0; i < dead; i++)
        {
            await relay.Queue.EnqueueAsync("alice@alpha.test", [$"d{i}@dead.test"], message, default);
        }

        // every worker the dead destination may have is stuck there before the live batch starts
        int stuck = Math.Min(connections, (dead + 19) / 20);
        await WaitAsync(() => Task.FromResult(blackhole.Connections >= stuck), TimeSpan.FromMinutes(2), () => "blackhole not reached");
    }

    var watch = Stopwatch.StartNew();
    await Parallel.ForAsync(0, batch, new ParallelOptions { MaxDegreeOfParallelism = 20 }, async (i, ct) =>
        await relay.Queue.EnqueueAsync("alice@alpha.test", [$"u{i}@sink.test"], message, ct));
    await WaitAsync(() => Task.FromResult(Delivered(sink) >= batch), TimeSpan.FromMinutes(30), () => $"{Delivered(sink)} delivered");
    double seconds = watch.Elapsed.TotalSeconds;
    if (withBlackhole && blackhole.Connections == 0)
    {
        throw new InvalidOperationException("the relay never tried the blackholed destination");
    }

    string state = withBlackhole ? $"{blackhole.Connections} connections hanging at the blackhole, {dead} messages waiting" : "no other destination";
    Console.WriteLine($"  {batch} delivered in {seconds:F1} s; {state}");
    return $"| batch of {batch} to a live destination, {(withBlackhole ? "another blackholed" : "alone")} | **{seconds:F1} s** ({batch / seconds:F0} msg/s, from first enqueue to last in the Maildir) | {state}; {connections} connections per destination |";
}

static IEnumerable<string> DkimCost(int size)
{
    // CPU per message on one thread for what the relay does per message besides I/O: parse, then sign
    byte[] raw = Message(size);
    var ed = DkimKey.Generate("ed", DkimKeyType.Ed25519);
    var rsa = DkimKey.Generate("rsa", DkimKeyType.Rsa);
    var plainRsa = new MimeKit.Cryptography.DkimSigner(
        (Org.BouncyCastle.Crypto.AsymmetricKeyParameter)new Org.BouncyCastle.OpenSsl.PemReader(new StringReader(rsa.ExportPrivateKeyPem())).ReadObject(),
        "alpha.test", "rsa", MimeKit.Cryptography.DkimSignatureAlgorithm.RsaSha256);
    var headers = new[] { "From", "To", "Subject", "Date", "Message-ID" };
    var cases = new (string Label, Action<MimeKit.MimeMessage>? Sign)[]
    {
        ("parse only (MimeKit)", null),
        ("parse + ed25519-sha256 (BouncyCastle)", new DkimSigning("alpha.test", [ed]).Sign),
        ("parse + rsa-sha256 2048, MimeKit's BouncyCastle RSA", m => plainRsa.Sign(DkimSigning.Format, m, headers)),
        ("parse + rsa-sha256 2048, OpenSSL RSA (ours)", new DkimSigning("alpha.test", [rsa]).Sign),
        ("parse + both signatures (ours, as sent)", new DkimSigning("alpha.test", [ed, rsa]).Sign),
    };
    // one untimed pass over every case first, so tiered JIT has settled before anything is timed
    foreach (var (_, sign) in cases)
    {
        for (int i = 0; i < 300; i++)
        {
            var message = MimeKit.MimeMessage.Load(new MemoryStream(raw));
            sign?.Invoke(message);
        }
    }

    foreach (var (label, sign) in cases)
    {
        const int Rounds = 500;
        TimeSpan best = TimeSpan.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            for (int i = 0; i < Rounds; i++)
            {
                var message = MimeKit.MimeMessage.Load(new MemoryStream(raw));
                sign?.Invoke(message);
            }

            var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            best = used < best ? used : best;
        }

        double ms = best.TotalMilliseconds / Rounds;
        Console.WriteLine($"{label}: {ms:F2} ms CPU per {size} B message");
        yield return $"| {label}, one {size} B message | {ms:F2} ms CPU | best of 3 x {Rounds}, one thread |";
    }
}

// a delivered copy came over TLS (the sink's Received header, smtpd_tls_received_header) with the expected DKIM signatures
static string CheckDelivered(PostfixInstance sink, int signatures)
{
    string first = File.ReadAllText(Directory.GetFiles(sink.MaildirNew).First());
    if (!Regex.IsMatch(first, @"\(using TLSv1\.[23] with cipher"))
    {
        throw new InvalidOperationException("a message reached the sink without TLS:\n" + first[..Math.Min(first.Length, 2000)]);
    }

    int found = Regex.Matches(first, "^DKIM-Signature:", RegexOptions.Multiline | RegexOptions.IgnoreCase).Count;
    bool both = Regex.IsMatch(first, @"a=ed25519-sha256") && Regex.IsMatch(first, @"a=rsa-sha256");
    if (found != signatures || (signatures == 2 && !both))
    {
        throw new InvalidOperationException($"expected {signatures} DKIM signatures, found {found}");
    }

    return signatures == 0 ? "sink saw TLS, no DKIM" : "sink saw TLS and both DKIM signatures (ed25519-sha256, rsa-sha256)";
}

// CPU (user + system) of a Postfix instance: its master with the children it has reaped, plus its live children
static async Task<double> PostfixCpuSecondsAsync(PostfixInstance postfix)
{
    // the master holds a lock on its pid file that .NET's own (advisory) locking on open runs into: read it with cat
    var pidFile = await Tools.RunAsync("cat", [Path.Combine(postfix.Directory, "spool", "pid", "master.pid")]);
    int master = int.Parse(pidFile.StandardOutput.Trim(), CultureInfo.InvariantCulture);
    long ticks = Ticks(master);
    foreach (string proc in Directory.GetDirectories("/proc"))
    {
        if (int.TryParse(Path.GetFileName(proc), out int pid) && pid != master && ParentOf(pid) == master)
        {
            ticks += Ticks(pid);
        }
    }

    return ticks / 100.0; // USER_HZ

    static string[]? Stat(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // fields from 3 (state) on
        }
        catch (IOException)
        {
            return null;
        }
    }

    static int ParentOf(int pid) => Stat(pid) is { } f ? int.Parse(f[1], CultureInfo.InvariantCulture) : -1;

    // utime, stime, cutime, cstime are fields 14-17 (proc(5))
    static long Ticks(int pid) => Stat(pid) is { } f ? f[11..15].Sum(field => long.Parse(field, CultureInfo.InvariantCulture)) : 0;
}

static int Delivered(PostfixInstance sink) => Directory.Exists(sink.MaildirNew) ? Directory.GetFiles(sink.MaildirNew).Length : 0;

static async Task MustAsync(string tool, string[] arguments)
{
    var result = await Tools.RunAsync(tool, arguments);
    if (result.ExitCode != 0)
    {
        throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)}: {result}");
    }
}

static async Task<int> PostfixQueuedAsync(PostfixInstance postfix)
{
    var result = await Tools.RunAsync("postqueue", ["-c", Path.Combine(postfix.Directory, "etc"), "-p"]);
    var match = Regex.Match(result.StandardOutput, @"in (\d+) Requests?\.");
    return match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
}

static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> state)
{
    var deadline = DateTime.UtcNow + timeout;
    while (!await condition())
    {
        if (DateTime.UtcNow > deadline)
        {
            throw new TimeoutException(state());
        }

        await Task.Delay(250);
    }
}

static byte[] Message(int size)
{
    var text = new StringBuilder("From: Alice <alice@alpha.test>\r\nTo: Bob <bob@sink.test>\r\nSubject: benchmark\r\n")
        .Append("Date: Fri, 27 Nov 2026 12:00:00 +0000\r\nMessage-ID: <bench@alpha.test>\r\nMIME-Version: 1.0\r\n")
        .Append("Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    var random = new Random(1);
    while (text.Length + 78 <= size)
    {
        for (int i = 0; i < 76; i++)
        {
            text.Append((char)('a' + random.Next(26)));
        }

        text.Append("\r\n");
    }

    text.Append('x', Math.Max(0, size - text.Length - 2)).Append("\r\n");
    return Encoding.ASCII.GetBytes(text.ToString());
}

int Arg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

/// <summary>Our relay as the provider runs it: the queue in the provider's SQLite store, both DKIM keys, the scheduler.</summary>
internal sealed class OurRelay : IAsyncDisposable
{
    private readonly TempDir _dir;
    private readonly SqliteProviderStore _store;
    private readonly RelayScheduler _scheduler;
    private readonly HttpMessageInvoker _http;

    private OurRelay(TempDir dir, SqliteProviderStore store, RelayQueue queue, RelayScheduler scheduler, HttpMessageInvoker http, StaticDnsResolver dns, Dictionary<string, int> ports)
    {
        _dir = dir;
        _store = store;
        Queue = queue;
        _scheduler = scheduler;
        _http = http;
        Dns = dns;
        Ports = ports;
    }

    public RelayQueue Queue { get; }

    public StaticDnsResolver Dns { get; }

    public Dictionary<string, int> Ports { get; }

    public static async Task<OurRelay> StartAsync(TestCa ca, int perDestination)
    {
        var dir = new TempDir("letterlock-relay-bench-");
        var store = new SqliteProviderStore(dir.File("letterlock.db"), new ChangeNotifier());
        await store.InitializeAsync(default);
        var queueStore = new SqlRelayQueueStore(store);
        await queueStore.InitializeAsync(default);
        var options = new RelayOptions
        {
            HeloName = "mx.alpha.test",
            MaxConnectionsPerDestination = perDestination,
            MaxConcurrentConnections = Math.Max(32, perDestination * 2),
            PollInterval = TimeSpan.FromSeconds(1),
            MaxMessageSize = 64 * 1024 * 1024,
        };
        var dns = new StaticDnsResolver();
        var ports = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var connector = new HostConnector(dns, options.ConnectTimeout, ports, useIPv6: false);
        var trust = TlsTrust.WithRoots(ca.Root);
        var http = new HttpMessageInvoker(connector.CreateHttpHandler(trust, TimeProvider.System));
        var dkim = new DkimSigning("alpha.test", [DkimKey.Generate("ed", DkimKeyType.Ed25519), DkimKey.Generate("rsa", DkimKeyType.Rsa)]);
        var agent = new DeliveryAgent(options, dns, connector, new MtaStsResolver(dns, http, new MtaStsOptions(), TimeProvider.System), dkim, trust, TimeProvider.System);
        var queue = new RelayQueue(queueStore, HpkeKeyPair.Generate(), options, TimeProvider.System);
        var scheduler = new RelayScheduler(queue, agent, new Dsns(), options, "alpha.test", TimeProvider.System);
        return new OurRelay(dir, store, queue, scheduler, http, dns, ports);
    }

    public void Route(string domain, string host, int port)
    {
        Dns.AddMx(domain, 10, host).AddAddress(host, IPAddress.Loopback);
        Ports[host] = port;
    }

    public void Start() => _scheduler.Start();

    public async ValueTask DisposeAsync()
    {
        await _scheduler.DisposeAsync();
        await _store.DisposeAsync();
        _http.Dispose();
        _dir.Dispose();
    }

    private sealed class Dsns : ILocalDelivery
    {
        public Task DeliverAsync(string recipient, ReadOnlyMemory<byte> message, CancellationToken ct) =>
            throw new InvalidOperationException("the benchmark expects no bounces");
    }
}
