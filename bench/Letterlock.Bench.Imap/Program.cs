using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime;
using Letterlock.Bench.Imap;
using Letterlock.Imap;
using Letterlock.Imap.InMemory;
using Letterlock.Imap.Server;
using Letterlock.Imap.Session;

// Usage:
//   dotnet run -c Release --project bench/Letterlock.Bench.Imap -- [--copies 20] [--dovecot PORT USER PASS] [--idle-sessions 200]
//   (bench/Letterlock.Bench.Imap/run.sh starts Dovecot with the same messages and passes --dovecot)
//   idle-clients PORT USER PASS N   (internal: holds N IDLE sessions open for the memory measurement)
if (args.Length > 0 && args[0] == "idle-clients")
{
    await HoldIdleClients(int.Parse(args[1], CultureInfo.InvariantCulture), args[2], args[3], int.Parse(args[4], CultureInfo.InvariantCulture));
    return 0;
}

int copies = 20;
int idleSessions = 200;
(int Port, string User, string Pass)? dovecot = null;
string source = FindCorpus();
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--copies": copies = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--idle-sessions": idleSessions = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--source": source = args[++i]; break;
        case "--dovecot": dovecot = (int.Parse(args[++i], CultureInfo.InvariantCulture), args[++i], args[++i]); break;
    }
}

var files = Directory.EnumerateFiles(source, "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
Console.WriteLine($"Corpus: {files.Count} messages x {copies} = {files.Count * copies}");
var backend = new InMemoryBackend();
backend.AddUser("bench", "bench-pass");
var import = Stopwatch.StartNew();
for (int c = 0; c < copies; c++)
{
    foreach (var f in files)
    {
        backend.Import("bench", "INBOX", f);
    }
}

Console.WriteLine($"Letterlock in-memory import: {import.Elapsed.TotalSeconds:F1} s");
var options = new ImapServerOptions { MaxConnections = 10_000, MaxConnectionsPerAddress = 10_000, MaxSessionsPerUser = 10_000, MaxCommandsPerSecond = 1_000_000, CommandBurst = 1_000_000 };
var context = new ImapServerContext(options, backend, log: e => { if (Environment.GetEnvironmentVariable("BENCH_LOG") == "all" || e.Level != ImapLogLevel.Debug || e.Message.Contains("lost", StringComparison.Ordinal) || e.Message.Contains("ended", StringComparison.Ordinal)) { Console.Error.WriteLine($"server {e.Level} [{e.SessionId}] {e.Message} {e.Exception}"); } });
await using var server = new ImapServer(new ImapListenOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 0) }, context);
server.Start();
int total = files.Count * copies;

var results = new List<(string Name, double Letterlock, double? Dovecot, string Unit)>();
var ll = await Measure("Letterlock", server.LocalEndPoint.Port, "bench", "bench-pass", total);
var dc = dovecot is { } d ? await Measure("Dovecot", d.Port, d.User, d.Pass, total) : null;
foreach (var (name, value) in ll)
{
    results.Add((name, value, dc?.GetValueOrDefault(name), "ms"));
}

// Memory per idle session: a child process holds N sessions in IDLE on the 60,000-message INBOX.
double llIdle = await IdleMemoryLetterlock(server.LocalEndPoint.Port, idleSessions);
double? dcIdle = dovecot is { } dd ? await IdleMemoryDovecot(dd.Port, dd.User, dd.Pass, idleSessions) : null;
results.Add(("memory per idle session (selected INBOX, IDLE)", llIdle, dcIdle, "KiB"));

Console.WriteLine();
Console.WriteLine("| operation | Letterlock | Dovecot | ratio |");
Console.WriteLine("|---|---:|---:|---:|");
foreach (var (name, a, b, unit) in results)
{
    string ratio = b is > 0 ? (a / b.Value).ToString("F2", CultureInfo.InvariantCulture) : "-";
    Console.WriteLine($"| {name} | {a:F1} {unit} | {(b is null ? "-" : b.Value.ToString("F1", CultureInfo.InvariantCulture) + " " + unit)} | {ratio} |");
}

return 0;

static async Task<Dictionary<string, double>> Measure(string label, int port, string user, string pass, int total)
{
    Console.WriteLine($"-- {label} on port {port}");
    var r = new Dictionary<string, double>();

    // login + SELECT of the 60,000-message INBOX (median of 10 fresh connections).
    var times = new List<double>();
    for (int i = 0; i < 11; i++)
    {
        var sw = Stopwatch.StartNew();
        await using var c = await RawImapClient.ConnectAsync(port);
        await c.CommandAsync($"LOGIN {user} {pass}");
        await c.CommandAsync("SELECT INBOX");
        times.Add(sw.Elapsed.TotalMilliseconds);
    }

    r["login + SELECT INBOX"] = Median(times.Skip(1));

    await using var client = await RawImapClient.ConnectAsync(port);
    await client.CommandAsync($"LOGIN {user} {pass}");
    await client.CommandAsync("SELECT INBOX");
    var fetch = Stopwatch.StartNew();
    var (bytes, untagged, _) = await client.CommandAsync("UID FETCH 1:* (FLAGS ENVELOPE)");
    r["UID FETCH 1:* (FLAGS ENVELOPE), cold"] = fetch.Elapsed.TotalMilliseconds;
    Console.WriteLine($"   FETCH returned {untagged} messages, {bytes / 1024 / 1024} MiB");
    if (untagged < total)
    {
        throw new InvalidOperationException($"{label}: expected {total} messages, got {untagged}");
    }

    times.Clear();
    for (int i = 0; i < 3; i++)
    {
        var sw = Stopwatch.StartNew();
        await client.CommandAsync("UID FETCH 1:* (FLAGS ENVELOPE)");
        times.Add(sw.Elapsed.TotalMilliseconds);
    }

    r["UID FETCH 1:* (FLAGS ENVELOPE), warm"] = Median(times);

    var random = new Random(42);
    var bodies = Stopwatch.StartNew();
    for (int i = 0; i < 1000; i++)
    {
        await client.CommandAsync($"UID FETCH {random.Next(1, total + 1)} BODY.PEEK[]");
    }

    r["1000 x UID FETCH n BODY.PEEK[]"] = bodies.Elapsed.TotalMilliseconds;

    var search = Stopwatch.StartNew();
    var (_, _, _) = await client.CommandAsync("UID SEARCH TEXT \"guaranteed\"");
    r["UID SEARCH TEXT, cold"] = search.Elapsed.TotalMilliseconds;
    times.Clear();
    for (int i = 0; i < 2; i++)
    {
        var sw = Stopwatch.StartNew();
        await client.CommandAsync("UID SEARCH TEXT \"guaranteed\"");
        times.Add(sw.Elapsed.TotalMilliseconds);
    }

    r["UID SEARCH TEXT, warm"] = Median(times);

    // IDLE wake-up: time from another session's APPEND to the idler's EXISTS.
    times.Clear();
    await using (var idler = await RawImapClient.ConnectAsync(port))
    await using (var writer = await RawImapClient.ConnectAsync(port))
    {
        await idler.CommandAsync($"LOGIN {user} {pass}");
        await idler.CommandAsync("SELECT INBOX");
        await writer.CommandAsync($"LOGIN {user} {pass}");
        await idler.IdleAsync();
        for (int i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            await writer.CommandAsync("APPEND INBOX {24+}\r\nSubject: idle test\r\n\r\nx\r\n");
            string line;
            do
            {
                line = await idler.ReadLineAsync();
            }
            while (!line.EndsWith("EXISTS", StringComparison.Ordinal));
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
    }

    r["IDLE wake-up after another session's APPEND"] = Median(times);

    // 20 concurrent clients, mixed: envelope pages, full bodies, flag changes, searches.
    var mixed = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, 20).Select(async n =>
    {
        var rnd = new Random(n);
        await using var c = await RawImapClient.ConnectAsync(port);
        await c.CommandAsync($"LOGIN {user} {pass}");
        await c.CommandAsync("SELECT INBOX");
        for (int i = 0; i < 25; i++)
        {
            int start = rnd.Next(1, total - 100);
            await c.CommandAsync($"UID FETCH {start}:{start + 99} (FLAGS ENVELOPE)");
            await c.CommandAsync($"UID FETCH {rnd.Next(1, total + 1)} BODY.PEEK[]");
            await c.CommandAsync($"UID STORE {rnd.Next(1, total + 1)} +FLAGS.SILENT (\\Flagged)");
            await c.CommandAsync($"UID SEARCH UID {start}:{start + 500} UNFLAGGED");
            await c.CommandAsync("NOOP");
        }
    }));
    r["20 clients x 25 rounds of 5 mixed commands"] = mixed.Elapsed.TotalMilliseconds;
    return r;
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted[sorted.Length / 2];
}

static async Task<double> IdleMemoryLetterlock(int port, int n)
{
    // Warm up: open and close the same number of sessions first, so pools and JIT are not counted.
    using (var warm = StartIdleClients(port, "bench", "bench-pass", n))
    {
        await WaitReady(warm, n);
        warm.Kill();
        await warm.WaitForExitAsync();
    }

    await Task.Delay(2000);
    GC.Collect(2, GCCollectionMode.Forced, true, true);
    GC.WaitForPendingFinalizers();
    GC.Collect(2, GCCollectionMode.Forced, true, true);
    long before = GC.GetTotalMemory(true);
    long rssBefore = Environment.WorkingSet;
    using var child = StartIdleClients(port, "bench", "bench-pass", n);
    await WaitReady(child, n);
    await Task.Delay(1000);
    GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
    GC.Collect(2, GCCollectionMode.Forced, true, true);
    GC.WaitForPendingFinalizers();
    GC.Collect(2, GCCollectionMode.Forced, true, true);
    long after = GC.GetTotalMemory(true);
    long rssAfter = Environment.WorkingSet;
    Console.WriteLine($"   Letterlock managed heap {before / 1024} KiB -> {after / 1024} KiB, process RSS {rssBefore / 1024} KiB -> {rssAfter / 1024} KiB ({(rssAfter - rssBefore) / 1024.0 / n:F1} KiB per session) with {n} idle sessions");
    child.Kill();
    await child.WaitForExitAsync();
    return (after - before) / 1024.0 / n;
}

static async Task<double> IdleMemoryDovecot(int port, string user, string pass, int n)
{
    long before = DovecotImapRss();
    using var child = StartIdleClients(port, user, pass, n);
    await WaitReady(child, n);
    await Task.Delay(2000);
    long after = DovecotImapRss();
    Console.WriteLine($"   Dovecot imap processes RSS {before} KiB -> {after} KiB with {n} idle sessions");
    child.Kill();
    await child.WaitForExitAsync();
    return (after - before) / (double)n;
}

// Resident memory (KiB) of Dovecot's per-session "imap" processes, read from /proc.
static long DovecotImapRss()
{
    long total = 0;
    foreach (var dir in Directory.EnumerateDirectories("/proc"))
    {
        try
        {
            var cmd = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
            if (!cmd.StartsWith("dovecot/imap ", StringComparison.Ordinal) && cmd.Trim() != "dovecot/imap")
            {
                continue;
            }

            foreach (var line in File.ReadAllLines(Path.Combine(dir, "status")))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    total += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    return total;
}

static Process StartIdleClients(int port, string user, string pass, int n)
{
    var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
    foreach (var a in new[] { typeof(RawImapClient).Assembly.Location, "idle-clients", port.ToString(CultureInfo.InvariantCulture), user, pass, n.ToString(CultureInfo.InvariantCulture) })
    {
        psi.ArgumentList.Add(a);
    }

    if (!Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal))
    {
        psi.ArgumentList.RemoveAt(0);
    }

    return Process.Start(psi)!;
}

static async Task WaitReady(Process child, int n)
{
    string? line;
    while ((line = await child.StandardOutput.ReadLineAsync()) is not null)
    {
        if (line == "ready")
        {
            return;
        }
    }

    throw new InvalidOperationException($"idle clients failed before {n} sessions were open");
}

static async Task HoldIdleClients(int port, string user, string pass, int n)
{
    var clients = new List<RawImapClient>();
    for (int i = 0; i < n; i++)
    {
        var c = await RawImapClient.ConnectAsync(port);
        await c.CommandAsync($"LOGIN {user} {pass}");
        await c.CommandAsync("SELECT INBOX");
        await c.IdleAsync();
        clients.Add(c);
    }

    Console.WriteLine("ready");
    await Task.Delay(Timeout.Infinite);
}

static string FindCorpus()
{
    var dir = AppContext.BaseDirectory;
    while (dir is not null)
    {
        var candidate = Path.Combine(dir, "shared", "testdata", "spamassassin");
        if (Directory.Exists(candidate))
        {
            return candidate;
        }

        dir = Path.GetDirectoryName(dir);
    }

    return "/work/shared/testdata/spamassassin";
}
