using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Letterlock.Api;
using Letterlock.Cryptography;
using Letterlock.OpenPgp;
using Letterlock.Provider.Hosting;

// SMTP ingest benchmark (docs/PERFORMANCE.md, "Provider MX ingest"). Load generator: Postfix's smtp-source.
// Usage: dotnet run -c Release --project bench/Letterlock.Bench.Ingest -- [--messages 5000] [--sessions 20] [--size 10240] [--only sqlite|postgres|postfix|cluster] [--rss]
// --only cluster [--nodes 1,2,3] runs scripts/cluster with that many nodes behind haproxy on one PostgreSQL, each in turn.
// --rss samples the provider process's resident memory during the measured run (peak) and after a minute of idling:
// the MX memory figure is `--only sqlite --rss --sessions 20 --messages 20 --size 25165824` (20 concurrent 24 MiB messages).
int messages = Arg("--messages", 5000);
int sessions = Arg("--sessions", 20);
int size = Arg("--size", 10240);
string? only = ArgText("--only");
bool rss = args.Contains("--rss");
var results = new List<string>();

if (only is null or "postfix")
{
    results.Add(await Postfix());
}

if (only is null or "sqlite")
{
    results.Add(await Letterlock("SQLite (WAL, synchronous=FULL)", null));
}

if (only is null or "postgres")
{
    await using var postgres = await PrivatePostgres.StartAsync("max_connections=200");
    results.Add(await Letterlock("PostgreSQL 15 (synchronous_commit=on)", await postgres.CreateDatabaseAsync()));
}

if (only is "cluster")
{
    // not in the default run: it starts three clusters; see docs/PERFORMANCE.md, "Cluster scaling"
    await Cluster(ArgText("--nodes") ?? "1,2,3");
    return 0;
}

Console.WriteLine();
Console.WriteLine($"| server, {messages} x {size} B over {sessions} sessions | accepted msg/s | notes |");
Console.WriteLine("|---|---|---|");
foreach (string row in results)
{
    Console.WriteLine(row);
}

return 0;

async Task<string> Letterlock(string label, string? database)
{
    string directory = Directory.CreateTempSubdirectory("letterlock-bench-").FullName;
    string data = await PrepareData(directory);

    var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (string arg in new[] { Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "provider", "serve", "--data", data })
    {
        start.ArgumentList.Add(arg);
    }

    if (database is not null)
    {
        start.ArgumentList.Add("--database");
        start.ArgumentList.Add(database);
    }

    using var provider = Process.Start(start)!;
    int smtpPort = 0;
    int httpsPort = 0;
    while (await provider.StandardOutput.ReadLineAsync() is { } line && line != "ready")
    {
        string[] parts = line.Split(' ');
        if (parts is ["listening:", "smtp", _, var p])
        {
            smtpPort = int.Parse(p, CultureInfo.InvariantCulture);
        }
        else if (parts is ["listening:", "https", _, var q])
        {
            httpsPort = int.Parse(q, CultureInfo.InvariantCulture);
        }
    }

    _ = provider.StandardOutput.ReadToEndAsync();
    _ = provider.StandardError.ReadToEndAsync();
    try
    {
        using var http = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } })
        {
            BaseAddress = new Uri($"https://127.0.0.1:{httpsPort}/"),
        };
        var (account, devicePrivate, inbox) = await CreateAlice(http);
        using var inboxKeys = inbox;

        // warm-up outside the measurement: JIT, connection pools, the first group commits
        await SmtpSource(smtpPort, Math.Min(200, messages), "alice@example.test");
        long before = ResidentBytes(provider.Id);
        long peak = before;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, ResidentBytes(provider.Id));
                await Task.Delay(50);
            }
        });
        var watch = Stopwatch.StartNew();
        await SmtpSource(smtpPort, messages, "alice@example.test");
        watch.Stop();
        await sampling.CancelAsync();
        await sampler;
        string memory = "";
        if (rss)
        {
            await Task.Delay(TimeSpan.FromMinutes(1));
            memory = $"; RSS {before / 1048576} MiB before, peak {peak / 1048576} MiB (process peak incl. warm-up {ResidentBytes(provider.Id, "VmHWM:") / 1048576} MiB), {ResidentBytes(provider.Id) / 1048576} MiB after a minute idle";
            Console.WriteLine(label + memory);
        }

        var challenge = (await (await http.PostAsJsonAsync("v1/auth/challenge", new ChallengeRequest(account.DeviceId), ApiJsonContext.Default.ChallengeRequest)).Content.ReadFromJsonAsync(ApiJsonContext.Default.ChallengeResponse))!;
        byte[] signature = DeviceAuthentication.Sign(devicePrivate, DeviceAuthentication.ChallengeMessage("example.test", account.DeviceId, challenge.ChallengeId, challenge.Challenge));
        var token = (await (await http.PostAsJsonAsync("v1/auth/token", new TokenRequest(challenge.ChallengeId, signature), ApiJsonContext.Default.TokenRequest)).Content.ReadFromJsonAsync(ApiJsonContext.Default.TokenResponse))!;
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
        var quota = (await http.GetFromJsonAsync("v1/quota", ApiJsonContext.Default.QuotaResponse))!;
        var last = (await http.GetFromJsonAsync("v1/changes?since=0&limit=1", ApiJsonContext.Default.ChangesResponse))!.Changes[0];
        using var opened = HpkeOpeningStream.Open(new MemoryStream(await http.GetByteArrayAsync($"v1/documents/{last.Id}")), inbox.PrivateKey.Span, InboxEnvelope.Info);
        using var plain = new MemoryStream();
        await opened.CopyToAsync(plain);
        bool decrypts = InboxEnvelope.TryUnframe(plain.ToArray(), out _);
        double rate = messages / watch.Elapsed.TotalSeconds;
        Console.WriteLine($"{label}: {messages} messages in {watch.Elapsed.TotalSeconds:F2} s = {rate:F0} msg/s; stored {quota.DocumentCount} documents; sample decrypts: {decrypts}");
        return $"| Letterlock MX, {label}: HPKE-sealed, durable commit before 250 | {rate:F0} | {quota.DocumentCount} inbox documents stored (incl. {Math.Min(200, messages)} warm-up), sample opened with the inbox key: {decrypts}{memory} |";
    }
    finally
    {
        provider.Kill();
        await provider.WaitForExitAsync();
        Directory.Delete(directory, recursive: true);
    }
}

// A provider data folder for example.test as the benchmark runs it: no network (static DNS), no per-client connection rate.
static async Task<string> PrepareData(string directory)
{
    string data = Path.Combine(directory, "data");
    ProviderKeys.Initialize(new ProviderKeys.InitOptions("example.test", data, SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
    await File.WriteAllTextAsync(Path.Combine(data, "dns.txt"), "# benchmark: no network\n");
    string settings = Path.Combine(data, "provider.json");
    await File.WriteAllTextAsync(settings, (await File.ReadAllTextAsync(settings)).Replace("\"resolver\": \"system\"", "\"resolver\": \"static:dns.txt\"", StringComparison.Ordinal)
        // smtp-source opens one connection per message from one address: lift the per-client limits, as for Postfix
        .Replace("\"maxConnectionRatePerClient\": 600", "\"maxConnectionRatePerClient\": 1000000", StringComparison.Ordinal));
    return data;
}

// Signs up alice@example.test with a fresh device key and inbox key.
static async Task<(CreateAccountResponse Account, byte[] DevicePrivate, HpkeKeyPair Inbox)> CreateAlice(HttpClient http)
{
    var (devicePrivate, devicePublic) = DeviceAuthentication.GenerateKeyPair();
    var inbox = HpkeKeyPair.Generate();
    byte[] certificate = KeyGenerator.Generate("Bench <alice@example.test>", "").Certificate.Export(armored: false);
    byte[] proof = DeviceAuthentication.Sign(devicePrivate, DeviceAuthentication.RegistrationMessage("example.test", "alice@example.test", devicePublic, certificate, inbox.PublicKey.Span));
    var created = await http.PostAsJsonAsync("v1/accounts", new CreateAccountRequest("alice@example.test", devicePublic, "bench", certificate, inbox.PublicKey.ToArray(), proof), ApiJsonContext.Default.CreateAccountRequest);
    created.EnsureSuccessStatusCode();
    return ((await created.Content.ReadFromJsonAsync(ApiJsonContext.Default.CreateAccountResponse))!, devicePrivate, inbox);
}

// Ingest through haproxy into 1, 2, 3 nodes (scripts/cluster) on one private PostgreSQL; CPU per message of each node,
// of PostgreSQL and of haproxy from /proc (user + system time), and the load average beside each figure.
async Task Cluster(string nodeCounts)
{
    string root = AppContext.BaseDirectory;
    while (!File.Exists(Path.Combine(root, "Letterlock.slnx")))
    {
        root = Path.GetDirectoryName(root.TrimEnd('/')) ?? throw new InvalidOperationException("run from the repository");
    }

    var rows = new List<string>();
    foreach (int nodes in nodeCounts.Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture)))
    {
        string directory = Directory.CreateTempSubdirectory("letterlock-bench-cluster-").FullName;
        // PostgreSQL runs as its own user and must reach its folder inside
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        string cluster = Path.Combine(directory, "cluster");
        string data = await PrepareData(directory);
        var script = Path.Combine(root, "scripts", "cluster");
        var env = new Dictionary<string, string> { ["LETTERLOCK"] = "dotnet " + Path.Combine(AppContext.BaseDirectory, "letterlock.dll") };
        await RunWith(env, script, "start", cluster, "--nodes", nodes.ToString(CultureInfo.InvariantCulture), "--domain", "example.test", "--data", data);
        try
        {
            var values = (await File.ReadAllLinesAsync(Path.Combine(cluster, "cluster.env"))).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
            using var http = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } })
            {
                BaseAddress = new Uri($"https://127.0.0.1:{values["HTTPS_PORT"]}/"),
            };
            var (_, _, inbox) = await CreateAlice(http);
            inbox.Dispose();
            int smtp = int.Parse(values["SMTP_PORT"], CultureInfo.InvariantCulture);
            await SmtpSource(smtp, Math.Min(200 * nodes, messages), "alice@example.test");

            var nodePids = Enumerable.Range(1, nodes).Select(i => PidIn(Path.Combine(cluster, $"node{i}.pid"))).ToList();
            int postmaster = PidIn(Path.Combine(cluster, "postgres", "data", "postmaster.pid"));
            int haproxy = PidIn(Path.Combine(cluster, "haproxy.pid"));
            var nodeBefore = nodePids.Select(CpuTicks).ToList();
            long postgresBefore = TreeTicks(postmaster), haproxyBefore = CpuTicks(haproxy);
            string loadBefore = LoadAverage();
            var watch = Stopwatch.StartNew();
            await SmtpSource(smtp, messages, "alice@example.test");
            watch.Stop();
            string loadAfter = LoadAverage();
            // clock ticks are 10 ms (USER_HZ 100 on Linux)
            var nodeMs = nodePids.Select((pid, i) => (CpuTicks(pid) - nodeBefore[i]) * 10.0 / messages).ToList();
            double postgresMs = (TreeTicks(postmaster) - postgresBefore) * 10.0 / messages;
            double haproxyMs = (CpuTicks(haproxy) - haproxyBefore) * 10.0 / messages;
            double rate = messages / watch.Elapsed.TotalSeconds;
            string row = $"| {nodes} | {rate:F0} | {string.Join(" / ", nodeMs.Select(ms => ms.ToString("F2", CultureInfo.InvariantCulture)))} | {nodeMs.Sum():F2} | {postgresMs:F2} | {haproxyMs:F2} | {loadBefore} -> {loadAfter} |";
            Console.WriteLine(row);
            rows.Add(row);
        }
        finally
        {
            await RunWith(env, script, "stop", cluster);
            Directory.Delete(directory, recursive: true);
        }
    }

    Console.WriteLine();
    Console.WriteLine($"| nodes | msg/s ({messages} x {size} B, {sessions} sessions, through haproxy) | CPU ms per message, each node | all nodes | PostgreSQL | haproxy | load average (1 min) before -> after |");
    Console.WriteLine("|---|---|---|---|---|---|---|");
    rows.ForEach(Console.WriteLine);
}

// the first line of a pid file
static int PidIn(string path) => int.Parse(File.ReadLines(path).First().Trim(), CultureInfo.InvariantCulture);

// the one-minute load average
static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

// user + system clock ticks of a process (/proc/PID/stat fields 14 and 15, after the parenthesised name)
static long CpuTicks(int pid)
{
    string stat = File.ReadAllText($"/proc/{pid}/stat");
    string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
}

// CPU ticks of a process and its children (PostgreSQL: the postmaster and its backends)
static long TreeTicks(int parent)
{
    long total = CpuTicks(parent);
    foreach (string dir in Directory.EnumerateDirectories("/proc"))
    {
        if (int.TryParse(Path.GetFileName(dir), out int pid) && pid != parent)
        {
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1], CultureInfo.InvariantCulture) == parent)
                {
                    total += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                }
            }
            catch (IOException)
            {
                // the process ended meanwhile
            }
        }
    }

    return total;
}

static async Task RunWith(Dictionary<string, string> environment, string program, params string[] args)
{
    var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (string arg in args)
    {
        start.ArgumentList.Add(arg);
    }

    foreach (var (key, value) in environment)
    {
        start.Environment[key] = value;
    }

    using var process = Process.Start(start)!;
    string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
    await process.WaitForExitAsync();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {output}");
    }
}

async Task<string> Postfix()
{
    string directory = Directory.CreateTempSubdirectory("letterlock-bench-postfix-").FullName;
    await Run("chmod", "755", directory);
    string etc = Path.Combine(directory, "etc");
    string lib = Path.Combine(directory, "lib");
    string vmail = Path.Combine(directory, "vmail");
    foreach (string d in new[] { etc, Path.Combine(directory, "spool"), lib, vmail })
    {
        Directory.CreateDirectory(d);
    }

    await Run("chown", "postfix", lib);
    await Run("chown", "8:8", vmail);
    int port = FreePort();
    await File.WriteAllTextAsync(Path.Combine(etc, "main.cf"), $"""
        compatibility_level = 3.6
        queue_directory = {directory}/spool
        data_directory = {lib}
        maillog_file = {directory}/maillog
        maillog_file_prefixes = /var, /dev/stdout, {directory}
        inet_interfaces = 127.0.0.1
        inet_protocols = ipv4
        mydestination =
        mynetworks = 127.0.0.0/8
        virtual_mailbox_domains = sink.test
        virtual_mailbox_base = {vmail}
        virtual_mailbox_maps = static:sink/Maildir/
        virtual_uid_maps = static:8
        virtual_gid_maps = static:8
        virtual_minimum_uid = 8
        virtual_mailbox_limit = 0
        smtpd_client_connection_count_limit = 0
        smtpd_client_connection_rate_limit = 0

        """);
    var master = new StringBuilder();
    foreach (string line in await File.ReadAllLinesAsync("/etc/postfix/master.cf"))
    {
        if (line.StartsWith('#') || line.StartsWith(' ') || line.Length == 0 || line.StartsWith("smtp      inet", StringComparison.Ordinal))
        {
            continue;
        }

        string[] f = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (f.Length >= 8)
        {
            f[4] = "n"; // no chroot: the private instance has no chroot jail set up
            master.AppendLine(string.Join(' ', f));
        }
    }

    master.AppendLine($"127.0.0.1:{port} inet n - n - - smtpd");
    await File.WriteAllTextAsync(Path.Combine(etc, "master.cf"), master.ToString());
    await Run("postfix", "-c", etc, "start");
    try
    {
        await Task.Delay(1500);
        await SmtpSource(port, Math.Min(200, messages), "sink@sink.test");
        await WaitForFiles(vmail, Math.Min(200, messages), TimeSpan.FromMinutes(2));
        var watch = Stopwatch.StartNew();
        await SmtpSource(port, messages, "sink@sink.test");
        var accepted = watch.Elapsed;
        await WaitForFiles(vmail, Math.Min(200, messages) + messages, TimeSpan.FromMinutes(5));
        var delivered = watch.Elapsed;
        double acceptRate = messages / accepted.TotalSeconds;
        double deliverRate = messages / delivered.TotalSeconds;
        Console.WriteLine($"Postfix: {messages} accepted in {accepted.TotalSeconds:F2} s = {acceptRate:F0} msg/s; delivered to Maildir in {delivered.TotalSeconds:F2} s = {deliverRate:F0} msg/s");
        return $"| Postfix 3.7 (private instance), queue then Maildir | {acceptRate:F0} | delivered to Maildir at {deliverRate:F0} msg/s; queue files fsynced, plaintext on disk |";
    }
    finally
    {
        await Run("postfix", "-c", etc, "stop");
        await Task.Delay(500);
        Directory.Delete(directory, recursive: true);
    }
}

async Task SmtpSource(int port, int count, string recipient)
{
    // smtp-source -s sessions -m messages -l size: 20 parallel sessions, 5000 messages in total, 10 KiB each
    await Run("smtp-source", "-s", sessions.ToString(CultureInfo.InvariantCulture), "-m", count.ToString(CultureInfo.InvariantCulture),
        "-l", size.ToString(CultureInfo.InvariantCulture), "-f", "load@sender.test", "-t", recipient, $"127.0.0.1:{port}");
}

static async Task WaitForFiles(string root, int count, TimeSpan timeout)
{
    var watch = Stopwatch.StartNew();
    while (Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Count(f => f.Contains("/new/", StringComparison.Ordinal)) < count)
    {
        if (watch.Elapsed > timeout)
        {
            throw new TimeoutException($"Postfix delivered fewer than {count} messages");
        }

        await Task.Delay(20);
    }
}

static async Task Run(string program, params string[] args)
{
    var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (string arg in args)
    {
        start.ArgumentList.Add(arg);
    }

    using var process = Process.Start(start)!;
    string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
    await process.WaitForExitAsync();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {output}");
    }
}

// VmRSS (or another Vm field, such as VmHWM, the peak) of a process, from /proc (Linux).
static long ResidentBytes(int pid, string field = "VmRSS:")
{
    foreach (string line in File.ReadLines($"/proc/{pid}/status"))
    {
        if (line.StartsWith(field, StringComparison.Ordinal))
        {
            return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
    }

    return 0;
}

static int FreePort()
{
    using var probe = new TcpListener(IPAddress.Loopback, 0);
    probe.Start();
    return ((IPEndPoint)probe.LocalEndpoint).Port;
}

int Arg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

string? ArgText(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
