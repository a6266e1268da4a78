using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Bench.Imap;
using Letterlock.Bridge;
using Letterlock.Client.Accounts;
using Letterlock.Client.Import;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Provider.Hosting;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

// Client sync and bridge benchmark (docs/PERFORMANCE.md, "Client sync and bridge"); bench/client.sh starts
// Dovecot with the same messages and passes --dovecot.
// Usage: dotnet run -c Release --project bench/Letterlock.Bench.Client -- [--messages 10000] [--sessions 8]
//          [--copies 20] [--bodies 1000] [--only sync|bridge|store|import|rss] [--size BYTES] [--idle SECONDS] [--dovecot PORT USER PASS] [--source DIR] [--work DIR] [--bridge-store FILE] [--maildir DIR]
//   --bridge-store FILE keeps the bridge's filled store there and reuses it when it exists (the 60,000-message
//   fill takes 10-20 minutes; a store written by an older Letterlock is migrated when the bridge opens it).
//   --work puts the stores and the provider's data in DIR (default: a new folder under /tmp); with DIR on
//   /dev/shm (tmpfs, where fsync costs nothing) it shows how much of the time is waiting for the disk.
// Child modes (started by the harness itself, so each server's memory is its own process's):
//   serve-provider DATA_DIR            a provider (SQLite) on loopback; prints its ports, then "ready"; stops at end of stdin
//   serve-bridge STORE_FILE PASSPHRASE the bridge over a local store; prints "imap PORT USER PASSWORD", then "ready"
//   serve-bridge STORE_FILE PASSPHRASE HTTPS_PORT CERT_PEM trim|no-trim  the same, syncing from the provider at alpha.test
//                                      on that port, with or without the bridge's memory trim after large sync rounds
// --only rss: the bridge's memory with large messages. N messages of --size bytes (default 6 x 24 MiB) are delivered
//   to the provider's MX while a bridge (own process, background sync on) syncs them; the bridge's VmRSS is sampled
//   during the sync and every 5 s for --idle seconds (default 90) after its sync round is over; --no-trim turns the
//   bridge's memory trim (BridgeOptions.IdleTrimAfterAllocatedBytes) off, to compare.
if (args is ["serve-provider", var providerData])
{
    await ServeProvider(providerData);
    return 0;
}

if (args is ["serve-bridge", var storeFile, var passphrase])
{
    await ServeBridge(storeFile, passphrase);
    return 0;
}

if (args is ["serve-bridge", var syncStoreFile, var syncPassphrase, var httpsPort, var certPem, var trimMode])
{
    await ServeBridge(syncStoreFile, syncPassphrase, int.Parse(httpsPort, CultureInfo.InvariantCulture), certPem, trimMode == "trim");
    return 0;
}

int messages = 10_000;
int sessions = 8;
int copies = 20;
int bodies = 1000;
string? only = null;
(int Port, string User, string Pass)? dovecot = null;
string source = FindCorpus();
string? workParent = null;
string? bridgeStore = null;
string? maildir = null;
int size = 24 * 1024 * 1024;
int idleSeconds = 90;
bool messagesGiven = false;
bool trim = true;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--messages": messages = int.Parse(args[++i], CultureInfo.InvariantCulture); messagesGiven = true; break;
        case "--size": size = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--no-trim": trim = false; break;
        case "--idle": idleSeconds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--sessions": sessions = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--copies": copies = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--bodies": bodies = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--only": only = args[++i]; break;
        case "--source": source = args[++i]; break;
        case "--work": workParent = args[++i]; break;
        case "--bridge-store": bridgeStore = Path.GetFullPath(args[++i]); break;
        case "--maildir": maildir = Path.GetFullPath(args[++i]); break;
        case "--dovecot": dovecot = (int.Parse(args[++i], CultureInfo.InvariantCulture), args[++i], args[++i]); break;
        default: throw new ArgumentException("unknown argument " + args[i]);
    }
}

var corpus = Directory.EnumerateFiles(source, "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
Console.WriteLine($"# Client sync and bridge benchmark, {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine($"- machine: {Environment.ProcessorCount} cores, {CpuModel()}, .NET {Environment.Version}; corpus {corpus.Count} messages from {source}");
Console.WriteLine($"- load average at start: {Load()}");
using var work = new TempFolder(workParent);
Console.WriteLine($"- stores and provider data in {work.Path}");
var tables = new List<string>();

if (only is "rss")
{
    tables.Add(await BridgeRssBenchmark(work.Path, messagesGiven ? messages : 6, size, idleSeconds, trim));
}

if (only is "store")
{
    tables.Add(await StoreAppendBenchmark(work.Path, corpus, messages));
}

if (only is "import")
{
    tables.Add(await ImportBenchmark(work.Path, corpus));
}

if (only is null or "sync")
{
    tables.Add(await SyncBenchmark(work.Path, corpus, messages, sessions, dovecot));
}

if (only is null or "bridge")
{
    tables.Add(await BridgeBenchmark(work.Path, corpus, copies, bodies, dovecot, bridgeStore, maildir));
}

Console.WriteLine();
Console.WriteLine($"- load average at end: {Load()}");
foreach (var table in tables)
{
    Console.WriteLine();
    Console.WriteLine(table);
}

return 0;

// ---------------------------------------------------------------------------------------------
// 1. New-device sync: a provider (child process, SQLite), N messages delivered over SMTP, then the
//    first device (which converts inbox documents into the account's message documents) and a
//    second, new device (which downloads those) sync them all.
// ---------------------------------------------------------------------------------------------
static async Task<string> SyncBenchmark(string work, List<byte[]> corpus, int messages, int sessions, (int Port, string User, string Pass)? dovecot)
{
    Console.WriteLine();
    Console.WriteLine($"## New-device sync of {messages} messages");
    string data = Path.Combine(work, "provider");
    ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", data, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
    await using var provider = await ChildServer.StartAsync(["serve-provider", data]);
    int smtpPort = int.Parse(provider.Values["smtp"], CultureInfo.InvariantCulture);
    var https = new IPEndPoint(IPAddress.Loopback, int.Parse(provider.Values["https"], CultureInfo.InvariantCulture));
    var map = new StaticHostMap { AllowSystemDns = false }.Add("alpha.test", https);
    var roots = new X509Certificate2Collection(X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(data, "tls", "cert.pem"))));
    using var http = new HttpClient(HttpFetch.CreateHandler(map, roots)) { Timeout = Timeout.InfiniteTimeSpan };

    // The Argon2id unlock is not what is measured here: the cheapest the store allows.
    var storeOptions = new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 };
    using var device1 = await LocalStore.CreateAsync(Path.Combine(work, "device1.db"), StoreUnlock.WithPassphrase("one"), storeOptions);
    var alice = await AccountRegistration.CreateAsync(device1, new ProviderClient(http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");

    // Delivery: the corpus replicated, over SMTP to the provider's MX (the real ingest path: every message
    // sealed to the inbox key and committed before 250), from several sessions at once.
    var deliver = Stopwatch.StartNew();
    var (accepted, rejected, bytes) = await DeliverAsync(smtpPort, corpus, messages, sessions);
    deliver.Stop();
    Console.WriteLine($"- delivered {accepted} messages ({bytes / 1024 / 1024} MiB, {rejected} refused by the MX and replaced by the next) over SMTP in {deliver.Elapsed.TotalSeconds:F1} s = {accepted / deliver.Elapsed.TotalSeconds:F0} msg/s");
    Console.WriteLine($"- provider RSS after delivery: {provider.RssKiB() / 1024} MiB; load average: {Load()}");

    var first = await MeasureSync("first device (converts inbox documents into message documents)", device1, alice, http, messages, provider);

    using var device2 = await LocalStore.CreateAsync(Path.Combine(work, "device2.db"), StoreUnlock.WithPassphrase("two"), storeOptions);
    // The new device signs in with the password (OPAQUE, Argon2id at the default 64 MiB x 3), gets the AMK and the key
    // bundle, then syncs; "login to first message" runs from the start of the login to the first message stored.
    var url = new Uri("https://alpha.test/");
    await AccountPassword.SetAsync(device1, alice, await AccountRegistration.ConnectAsync(device1, alice, http), "bench password 1234");
    var loginClock = Stopwatch.StartNew();
    var alice2 = await AccountPassword.LoginAsync(device2, new ProviderClient(http, url), "alice@alpha.test", "bench password 1234", "device 2",
        credentials => new ProviderClient(http, url, credentials));
    double loginSeconds = loginClock.Elapsed.TotalSeconds;
    var second = await MeasureSync("new device (downloads the account's message documents)", device2, alice2, http, messages, provider, loginClock);
    Console.WriteLine($"- new device: password login {loginSeconds:F2} s, login to first message stored {second.FirstMessageSeconds:F2} s, to all {messages} {loginClock.Elapsed.TotalSeconds:F1} s");

    double? imapSeconds = null;
    if (dovecot is { } d)
    {
        // Reference only: a classic IMAP client's first download of the same number of messages from Dovecot
        // (bodies read and discarded, nothing decrypted, nothing stored).
        await using var imap = await RawImapClient.ConnectAsync(d.Port);
        await imap.CommandAsync($"LOGIN {d.User} {d.Pass}");
        await imap.CommandAsync("SELECT INBOX");
        var sw = Stopwatch.StartNew();
        var (fetched, count, _) = await imap.CommandAsync($"UID FETCH 1:{messages} (FLAGS BODY.PEEK[])");
        imapSeconds = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"- Dovecot: UID FETCH 1:{messages} (FLAGS BODY.PEEK[]) returned {count} messages, {fetched / 1024 / 1024} MiB in {imapSeconds:F1} s");
    }

    var table = new System.Text.StringBuilder();
    table.AppendLine(CultureInfo.InvariantCulture, $"| sync of {messages} messages (loopback, provider on SQLite in its own process) | wall time | messages/s | peak RSS | peak managed heap | allocated | GCs (gen0/1/2) | CPU ms/msg: client + provider |");
    table.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
    foreach (var r in new[] { second, first })
    {
        table.AppendLine(CultureInfo.InvariantCulture,
            $"| {r.Label} | {r.Seconds:F1} s | {r.Received / r.Seconds:F0} | {r.PeakRssKiB / 1024} MiB | {r.PeakHeapBytes / 1024 / 1024} MiB | {r.AllocatedBytes / 1024 / 1024 / 1024.0:F1} GiB | {r.Gen0}/{r.Gen1}/{r.Gen2} | {r.ClientCpuMs:F1} + {r.ProviderCpuMs:F1} |");
    }

    if (imapSeconds is { } s)
    {
        table.AppendLine(CultureInfo.InvariantCulture, $"| reference: Dovecot, `UID FETCH 1:{messages} (FLAGS BODY.PEEK[])` to a raw client (nothing decrypted or stored) | {s:F1} s | {messages / s:F0} | - | - | - | - | - |");
    }

    table.Append(CultureInfo.InvariantCulture, $"\nSMTP delivery before the sync (not part of it): {accepted} messages in {deliver.Elapsed.TotalSeconds:F1} s over {sessions} sessions.");
    return table.ToString();
}

// ---------------------------------------------------------------------------------------------
// 0. The store alone (--only store): N corpus messages appended in pages of 100 (as sync writes them), the
//    time of each quarter, to tell how the write path's cost grows with the store.
// ---------------------------------------------------------------------------------------------
static async Task<string> StoreAppendBenchmark(string work, List<byte[]> corpus, int messages)
{
    Console.WriteLine();
    Console.WriteLine($"## Appending {messages} messages to one store, 100 per transaction");
    var storeOptions = new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 };
    using var store = await LocalStore.CreateAsync(Path.Combine(work, "append.db"), StoreUnlock.WithPassphrase("one"), storeOptions);
    var account = await store.Accounts.CreateAsync("alice@alpha.test", "Alice", null);
    var mail = store.Mail(account.Id);
    var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
    var quarters = new List<double>();
    var sw = Stopwatch.StartNew();
    var lap = Stopwatch.StartNew();
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    for (int done = 0; done < messages; done += 100)
    {
        var page = Enumerable.Range(done, Math.Min(100, messages - done)).AsParallel().AsOrdered().Select(i =>
        {
            var raw = corpus[i % corpus.Count];
            var (summary, text) = MessageSummaryBuilder.Build(raw, DateTimeOffset.UtcNow, MessageSecurity.Plain);
            return new NewMessage(summary, raw, [], text);
        }).ToList();
        _ = (await mail.AppendAsync(inbox.Id, page)).Done;
        if ((done + 100) % (messages / 4) == 0)
        {
            quarters.Add(lap.Elapsed.TotalSeconds);
            var used = Process.GetCurrentProcess().TotalProcessorTime;
            Console.WriteLine($"- quarter {quarters.Count}: {messages / 4} messages in {lap.Elapsed.TotalSeconds:F1} s = {messages / 4 / lap.Elapsed.TotalSeconds:F0} msg/s, " +
                $"CPU {(used - cpu).TotalMilliseconds / (messages / 4):F2} ms/msg; load {Load()}");
            cpu = used;
            lap.Restart();
        }
    }

    var size = new FileInfo(store.FilePath).Length + (File.Exists(store.FilePath + "-wal") ? new FileInfo(store.FilePath + "-wal").Length : 0);
    return $"| append {messages} messages, 100 per transaction | {sw.Elapsed.TotalSeconds:F1} s | {messages / sw.Elapsed.TotalSeconds:F0} msg/s | quarters {string.Join(" / ", quarters.Select(q => (messages / 4 / q).ToString("F0", CultureInfo.InvariantCulture)))} msg/s | {size / 1024 / 1024} MiB |";
}

// ---------------------------------------------------------------------------------------------
// 3. The bridge's memory with large messages (--only rss): a provider and a syncing bridge, each in its own process;
//    N large messages delivered over SMTP; the bridge's RSS during the sync and while it idles afterwards.
// ---------------------------------------------------------------------------------------------
static async Task<string> BridgeRssBenchmark(string work, int messages, int size, int idleSeconds, bool trim)
{
    Console.WriteLine();
    Console.WriteLine($"## Bridge RSS syncing {messages} messages of {size / 1024.0 / 1024:F1} MiB, then idling {idleSeconds} s; memory trim {(trim ? "on" : "off")}");
    string data = Path.Combine(work, "provider");
    ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", data, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
    await using var provider = await ChildServer.StartAsync(["serve-provider", data]);
    int smtpPort = int.Parse(provider.Values["smtp"], CultureInfo.InvariantCulture);
    string httpsPort = provider.Values["https"];
    string certPem = Path.Combine(data, "tls", "cert.pem");
    var https = new IPEndPoint(IPAddress.Loopback, int.Parse(httpsPort, CultureInfo.InvariantCulture));
    var map = new StaticHostMap { AllowSystemDns = false }.Add("alpha.test", https);
    var roots = new X509Certificate2Collection(X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(certPem)));
    string file = Path.Combine(work, "bridge.db");
    const string passphrase = "bridge bench";
    using (var http = new HttpClient(HttpFetch.CreateHandler(map, roots)))
    using (var store = await LocalStore.CreateAsync(file, StoreUnlock.WithPassphrase(passphrase), new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 }))
    {
        await AccountRegistration.CreateAsync(store, new ProviderClient(http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");
    }

    await using var bridge = await ChildServer.StartAsync(["serve-bridge", file, passphrase, httpsPort, certPem, trim ? "trim" : "no-trim"]);
    var imap = bridge.Values["imap"].Split(' ');
    int imapPort = int.Parse(imap[0], CultureInfo.InvariantCulture);
    long startRss = bridge.RssKiB();
    int before = await InboxCountAsync(imapPort, imap[1], imap[2]);
    Console.WriteLine($"- bridge started (pid {bridge.Pid}), RSS {startRss / 1024} MiB, {before} messages in INBOX; load average {Load()}");

    // Random content (incompressible), base64 in a multipart/mixed: the raw message is about `size` bytes.
    var random = new Random(7);
    var sender = new MailboxAddress("Sender", "big@sender.test");
    var recipient = new MailboxAddress("Alice", "alice@alpha.test");
    var sw = Stopwatch.StartNew();
    long peakDuring = 0;
    using var sampling = new CancellationTokenSource();
    var sampler = Task.Run(async () =>
    {
        while (!sampling.IsCancellationRequested)
        {
            peakDuring = Math.Max(peakDuring, bridge.RssKiB());
            try
            {
                await Task.Delay(200, sampling.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    });
    using (var smtp = new SmtpClient())
    {
        await smtp.ConnectAsync("127.0.0.1", smtpPort, SecureSocketOptions.None);
        for (int i = 0; i < messages; i++)
        {
            var content = new byte[(size - 4096) / 78 * 57];
            random.NextBytes(content);
            var body = new Multipart("mixed")
            {
                new TextPart("plain") { Text = $"Large message {i + 1} of {messages}." },
                new MimePart("application", "octet-stream")
                {
                    Content = new MimeContent(new MemoryStream(content)), ContentTransferEncoding = ContentEncoding.Base64, FileName = $"large-{i + 1}.bin",
                },
            };
            var message = new MimeMessage([sender], [recipient], $"large {i + 1}", body);
            await smtp.SendAsync(message);
            Console.WriteLine($"- delivered {i + 1} of {messages} at {sw.Elapsed.TotalSeconds:F0} s; bridge RSS {bridge.RssKiB() / 1024} MiB");
        }

        await smtp.DisconnectAsync(true);
    }

    // In the INBOX first (each page is stored as it is read), then the round ends (the bridge logs "N received"):
    // only then is the bridge idle.
    int count = before;
    double inboxSeconds = 0;
    int printed = 0;
    while (true)
    {
        await Task.Delay(2000);
        var lines = bridge.Lines();
        foreach (var line in lines.Skip(printed))
        {
            Console.WriteLine($"  bridge at {sw.Elapsed.TotalSeconds:F0} s: {line}");
        }

        printed = lines.Count;
        if (count < before + messages && (count = await InboxCountAsync(imapPort, imap[1], imap[2])) >= before + messages)
        {
            inboxSeconds = sw.Elapsed.TotalSeconds;
            Console.WriteLine($"- all {messages} in the bridge's INBOX after {inboxSeconds:F0} s; RSS {bridge.RssKiB() / 1024} MiB");
        }

        int received = lines.Select(l => System.Text.RegularExpressions.Regex.Match(l, @"(\d+) (?:new \w+ )?received")).Where(m => m.Success)
            .Sum(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
        if (count >= before + messages && received >= messages)
        {
            break;
        }

        if (sw.Elapsed > TimeSpan.FromMinutes(30))
        {
            throw new TimeoutException($"the bridge synced {count - before} of {messages} messages ({received} in finished rounds) in 30 minutes");
        }
    }

    double syncSeconds = sw.Elapsed.TotalSeconds;
    await sampling.CancelAsync();
    await sampler;
    long rssSynced = bridge.RssKiB();
    long peak = bridge.PeakRssKiB();
    Console.WriteLine($"- sync rounds over after {syncSeconds:F0} s; RSS {rssSynced / 1024} MiB, peak (VmHWM) {peak / 1024} MiB; load average {Load()}");
    var idle = new List<(int Seconds, long RssKiB)>();
    var idleClock = Stopwatch.StartNew();
    while (idleClock.Elapsed.TotalSeconds < idleSeconds)
    {
        await Task.Delay(5000);
        idle.Add(((int)idleClock.Elapsed.TotalSeconds, bridge.RssKiB()));
        var more = bridge.Lines();
        foreach (var line in more.Skip(printed))
        {
            Console.WriteLine($"  bridge: {line}");
        }

        printed = more.Count;
        Console.WriteLine($"  idle {idle[^1].Seconds} s: RSS {idle[^1].RssKiB / 1024} MiB ({bridge.RssBreakdown()})");
    }

    long at60 = idle.Where(s => s.Seconds >= 60).Select(s => s.RssKiB).DefaultIfEmpty(idle[^1].RssKiB).First();
    return $"| bridge{(trim ? "" : " (memory trim off)")}, {messages} x {size / 1024.0 / 1024:F1} MiB synced (provider and bridge in their own processes) | RSS at start | peak during sync | RSS when synced | after 60 s idle | after {idle[^1].Seconds} s |\n" +
        "|---|---:|---:|---:|---:|---:|\n" +
        $"| {inboxSeconds:F0} s to the INBOX, {syncSeconds:F0} s to the round's end | {startRss / 1024} MiB | {peak / 1024} MiB | {rssSynced / 1024} MiB | {at60 / 1024} MiB | {idle[^1].RssKiB / 1024} MiB |";
}

// Messages in the bridge's INBOX, on a fresh connection (no unsolicited EXISTS mixed into the count).
static async Task<int> InboxCountAsync(int port, string user, string pass)
{
    await using var client = await RawImapClient.ConnectAsync(port);
    await client.CommandAsync($"LOGIN {user} {pass}");
    await client.CommandAsync("SELECT INBOX");
    try
    {
        return (await client.CommandAsync("UID FETCH 1:* (UID)")).Untagged;
    }
    catch (InvalidOperationException)
    {
        return 0;
    }
}

static async Task<(int Accepted, int Rejected, long Bytes)> DeliverAsync(int port, List<byte[]> corpus, int messages, int sessions)
{
    int claimed = 0, next = -1, rejected = 0, done = 0;
    long bytes = 0;
    var sender = new MailboxAddress("Corpus", "corpus@sender.test");
    var recipient = new MailboxAddress("Alice", "alice@alpha.test");
    await Task.WhenAll(Enumerable.Range(0, sessions).Select(async _ =>
    {
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", port, SecureSocketOptions.None);
        while (Interlocked.Increment(ref claimed) <= messages)
        {
            // Each claimed slot ends with exactly one accepted message.
            while (true)
            {
                var raw = corpus[Interlocked.Increment(ref next) % corpus.Count];
                MimeMessage message;
                using (var stream = new MemoryStream(raw, writable: false))
                {
                    message = await MimeMessage.LoadAsync(stream);
                }

                try
                {
                    await smtp.SendAsync(message, sender, [recipient]);
                    Interlocked.Add(ref bytes, raw.Length);
                    if (Interlocked.Increment(ref done) % 1000 == 0)
                    {
                        Console.Error.WriteLine($"  delivered {done}");
                    }

                    break;
                }
                catch (SmtpCommandException e) when (e.ErrorCode is SmtpErrorCode.MessageNotAccepted or SmtpErrorCode.RecipientNotAccepted)
                {
                    Interlocked.Increment(ref rejected);
                }
            }
        }

        await smtp.DisconnectAsync(true);
    }));
    return (done, rejected, bytes);
}

static async Task<SyncResult> MeasureSync(string label, LocalStore store, AccountRecord account, HttpClient http, int expected, ChildServer server, Stopwatch? sinceLogin = null)
{
    double firstMessage = double.NaN;
    GC.Collect(2, GCCollectionMode.Forced, true, true);
    GC.WaitForPendingFinalizers();
    ResetPeakRss();
    int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
    long allocated = GC.GetTotalAllocatedBytes(precise: true);
    using var sampler = new HeapSampler();
    string loadBefore = Load();
    var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
    var serverCpu = server.CpuTime();
    var sw = Stopwatch.StartNew();
    var provider = await AccountRegistration.ConnectAsync(store, account, http);
    // When each quarter of the messages was reached (reported synchronously on the syncing thread).
    var quarters = new List<double>();
    var progress = new SyncProgressReporter(p =>
    {
        if (p.Applied >= 1 && double.IsNaN(firstMessage))
        {
            firstMessage = (sinceLogin ?? sw).Elapsed.TotalSeconds;
        }

        if (p.Applied % 1000 == 0)
        {
            Console.Error.WriteLine($"  {label}: {p.Applied} changes applied, {sw.Elapsed.TotalSeconds:F0} s");
        }

        while (quarters.Count < 4 && p.Applied >= expected * (quarters.Count + 1) / 4)
        {
            quarters.Add(sw.Elapsed.TotalSeconds);
        }
    });
    var report = await new SyncEngine(store, account, provider).SyncAsync(progress);
    sw.Stop();
    var quarterRates = quarters.Select((t, i) => expected / 4 / (t - (i == 0 ? 0 : quarters[i - 1]))).ToList();
    Console.WriteLine($"- {label}: quarters {string.Join(" / ", quarterRates.Select(r => r.ToString("F0", CultureInfo.InvariantCulture)))} msg/s" +
        (quarterRates.Count == 4 ? $" (last quarter {quarterRates[3] / quarterRates[0]:P0} of the first)" : ""));
    var result = new SyncResult(label, report.Received, sw.Elapsed.TotalSeconds, PeakRssKiB(), sampler.Stop(),
        GC.GetTotalAllocatedBytes(precise: true) - allocated, GC.CollectionCount(0) - gen0, GC.CollectionCount(1) - gen1, GC.CollectionCount(2) - gen2,
        (Process.GetCurrentProcess().TotalProcessorTime - clientCpu).TotalMilliseconds / Math.Max(1, report.Received),
        (server.CpuTime() - serverCpu).TotalMilliseconds / Math.Max(1, report.Received)) { FirstMessageSeconds = firstMessage };
    var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
    int stored = (await store.Mail(account.Id).ListAsync(inbox.Id)).Count;
    Console.WriteLine($"- {label}: {report.Received} received, {report.Errors.Count} errors, {stored} in INBOX, {result.Seconds:F1} s = {report.Received / result.Seconds:F0} msg/s; " +
        $"peak RSS {result.PeakRssKiB / 1024} MiB, peak managed heap {result.PeakHeapBytes / 1024 / 1024} MiB; CPU per message: client {result.ClientCpuMs:F1} ms, provider {result.ProviderCpuMs:F1} ms; load average before {loadBefore}, after {Load()}");
    foreach (var error in report.Errors.Take(5))
    {
        Console.WriteLine($"  error: {error.DocumentId} {error.Reason}");
    }

    if (stored != expected || report.Received != expected)
    {
        throw new InvalidOperationException($"{label}: expected {expected} messages, {report.Received} received and {stored} stored");
    }

    return result;
}

// ---------------------------------------------------------------------------------------------
// 2. The bridge on a 60,000-message INBOX (the corpus x copies), against Dovecot on the same messages.
// ---------------------------------------------------------------------------------------------
static async Task<string> BridgeBenchmark(string work, List<byte[]> corpus, int copies, int bodies, (int Port, string User, string Pass)? dovecot,
    string? keptStore, string? maildir)
{
    int total = corpus.Count * copies;
    Console.WriteLine();
    Console.WriteLine($"## Bridge on a {total}-message INBOX");
    string file = keptStore ?? Path.Combine(work, "bridge.db");
    const string passphrase = "bridge bench";
    if (keptStore is not null && File.Exists(keptStore))
    {
        Console.WriteLine($"- reusing the filled store {keptStore} ({new FileInfo(keptStore).Length / 1024 / 1024} MiB on disk)");
    }
    else
    {
        using (var store = await LocalStore.CreateAsync(file, StoreUnlock.WithPassphrase(passphrase), new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 }))
        {
            // Filled through the store API with the same processing sync applies to every arriving message
            // (parse, security summary headers, summary, index, sealed under the local key), without the
            // provider round trips: syncing 60,000 messages would take longer than the run can.
            var account = await store.Accounts.CreateAsync("alice@alpha.test", "Alice", null);
            await AccountKeys.GenerateAsync(store, account);
            var incoming = new IncomingMailProcessor(store, account, await AccountKeys.LoadOpenPgpAsync(store, account.Id));
            var fill = Stopwatch.StartNew();
            for (int c = 0; c < copies; c++)
            {
                foreach (var raw in corpus)
                {
                    await incoming.ProcessAsync(raw);
                }

                Console.Error.WriteLine($"  local store: {(c + 1) * corpus.Count} of {total} messages, {fill.Elapsed.TotalSeconds:F0} s");
            }

            Console.WriteLine($"- local store filled with {total} messages through IncomingMailProcessor in {fill.Elapsed.TotalSeconds:F0} s ({total / fill.Elapsed.TotalSeconds:F0} msg/s); {new FileInfo(file).Length / 1024 / 1024} MiB on disk");
        }
    }

    await using var bridge = await ChildServer.StartAsync(["serve-bridge", file, passphrase]);
    var imap = bridge.Values["imap"].Split(' ');
    int port = int.Parse(imap[0], CultureInfo.InvariantCulture);
    long idleRss = bridge.RssKiB();
    Console.WriteLine($"- bridge started (pid {bridge.Pid}), RSS {idleRss / 1024} MiB before any session; load average {Load()}");

    var bridgeResults = await MeasureImap("bridge", port, imap[1], imap[2], total, bodies, () => bridge.RssKiB());
    long bridgeRss = bridge.RssKiB();
    long bridgePeak = bridge.PeakRssKiB();
    Console.WriteLine($"- bridge RSS after the run {bridgeRss / 1024} MiB, peak {bridgePeak / 1024} MiB; load average {Load()}");
    Dictionary<string, double>? dovecotResults = null;
    if (dovecot is { } d)
    {
        dovecotResults = await MeasureImap("Dovecot", d.Port, d.User, d.Pass, total, bodies, DovecotImapRssKiB);
        Console.WriteLine($"- load average {Load()}");
    }

    var table = new System.Text.StringBuilder();
    table.AppendLine(CultureInfo.InvariantCulture, $"| {total} messages in INBOX, same raw IMAP client, plain on loopback | Letterlock bridge | Dovecot | bridge / Dovecot |");
    table.AppendLine("|---|---:|---:|---:|");
    foreach (var (name, value) in bridgeResults)
    {
        double? other = dovecotResults?.GetValueOrDefault(name);
        string unit = name.Contains("RSS", StringComparison.Ordinal) ? "MiB" : "ms";
        string ratio = other is > 0 ? (value / other.Value).ToString("F2", CultureInfo.InvariantCulture) : "-";
        table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {value:F0} {unit} | {(other is null ? "-" : other.Value.ToString("F0", CultureInfo.InvariantCulture) + " " + unit)} | {ratio} |");
    }

    table.AppendLine(CultureInfo.InvariantCulture, $"| bridge process RSS: idle after start / after the run / peak | {idleRss / 1024} / {bridgeRss / 1024} / {bridgePeak / 1024} MiB | - | - |");
    if (maildir is not null)
    {
        var search = await SearchPeers.MeasureAsync(work, maildir, file, passphrase);
        table.AppendLine();
        table.AppendLine(CultureInfo.InvariantCulture, $"| {total} messages | letterlock search (in-process query) | notmuch (process) | mu (process) | messages found: letterlock / notmuch / mu | letterlock / notmuch |");
        table.AppendLine("|---|---:|---:|---:|---|---:|");
        foreach (var (name, (ours, notmuch, mu, counts)) in search)
        {
            string ratio = double.IsNaN(ours) ? "-" : (ours / notmuch).ToString("F2", CultureInfo.InvariantCulture);
            table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {SearchPeers.Format(ours)} | {SearchPeers.Format(notmuch)} | {SearchPeers.Format(mu)} | {counts} | {ratio} |");
        }
    }

    return table.ToString();
}

static async Task<Dictionary<string, double>> MeasureImap(string label, int port, string user, string pass, int total, int bodies, Func<long> rss)
{
    Console.WriteLine($"- {label} on port {port}:");
    var r = new Dictionary<string, double>();
    var select = Stopwatch.StartNew();
    await using var client = await RawImapClient.ConnectAsync(port);
    await client.CommandAsync($"LOGIN {user} {pass}");
    await client.CommandAsync("SELECT INBOX");
    r["connect + LOGIN + SELECT INBOX (first)"] = select.Elapsed.TotalMilliseconds;

    var fetch = Stopwatch.StartNew();
    var (bytes, untagged, _) = await client.CommandAsync("UID FETCH 1:* (FLAGS ENVELOPE)");
    r["UID FETCH 1:* (FLAGS ENVELOPE), cold"] = fetch.Elapsed.TotalMilliseconds;
    Console.WriteLine($"  FETCH returned {untagged} responses, {bytes / 1024 / 1024} MiB, {fetch.Elapsed.TotalMilliseconds:F0} ms");
    if (untagged < total)
    {
        throw new InvalidOperationException($"{label}: expected {total} messages, got {untagged}");
    }

    var times = new List<double>();
    for (int i = 0; i < 3; i++)
    {
        var sw = Stopwatch.StartNew();
        await client.CommandAsync("UID FETCH 1:* (FLAGS ENVELOPE)");
        times.Add(sw.Elapsed.TotalMilliseconds);
    }

    r["UID FETCH 1:* (FLAGS ENVELOPE), warm (median of 3)"] = Median(times);
    Console.WriteLine($"  warm FETCH {string.Join(", ", times.Select(t => t.ToString("F0", CultureInfo.InvariantCulture)))} ms");

    // Without ENVELOPE neither server opens the messages: the cost of the index and summaries alone.
    times.Clear();
    for (int i = 0; i < 3; i++)
    {
        var sw = Stopwatch.StartNew();
        await client.CommandAsync("UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE)");
        times.Add(sw.Elapsed.TotalMilliseconds);
    }

    r["UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE), warm (median of 3)"] = Median(times);

    // The same random UIDs, in the same order, for both servers.
    var random = new Random(42);
    long bodyBytes = 0;
    var sw2 = Stopwatch.StartNew();
    for (int i = 0; i < bodies; i++)
    {
        var (b, n, _) = await client.CommandAsync($"UID FETCH {random.Next(1, total + 1)} BODY.PEEK[]");
        if (n != 1)
        {
            throw new InvalidOperationException($"{label}: BODY.PEEK[] returned {n} responses");
        }

        bodyBytes += b;
    }

    r[$"{bodies} x UID FETCH n BODY.PEEK[] (random n)"] = sw2.Elapsed.TotalMilliseconds;

    // Substring searches (RFC 9051): the bridge narrows them with its trigram index and reads only the candidates;
    // Dovecot (no full-text plugin here) reads the messages. Warm, median of 3; the answer sizes are printed.
    foreach (var criteria in new[] { "TEXT \"guaranteed\"", "BODY \"zzyzx\"", "BODY \"linux\"", "SUBJECT \"money\"", "FROM \"fork\"", "TEXT \"the\"" })
    {
        times.Clear();
        long answer = 0;
        for (int i = 0; i < 3; i++)
        {
            var sw = Stopwatch.StartNew();
            var (b, _, _) = await client.CommandAsync("UID SEARCH " + criteria);
            times.Add(sw.Elapsed.TotalMilliseconds);
            answer = b;
        }

        r[$"UID SEARCH {criteria}, warm (median of 3)"] = Median(times);
        Console.WriteLine($"  UID SEARCH {criteria}: {string.Join(", ", times.Select(t => t.ToString("F0", CultureInfo.InvariantCulture)))} ms, answer {answer} bytes");
    }
    Console.WriteLine($"  {bodies} bodies, {bodyBytes / 1024} KiB, {sw2.Elapsed.TotalMilliseconds:F0} ms");
    r["server RSS after these commands"] = rss() / 1024.0;
    return r;
}

// Resident memory (KiB) of Dovecot's per-session "imap" processes, read from /proc.
static long DovecotImapRssKiB()
{
    long total = 0;
    foreach (var dir in Directory.EnumerateDirectories("/proc"))
    {
        try
        {
            var cmd = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim();
            if (cmd == "dovecot/imap" || cmd.StartsWith("dovecot/imap ", StringComparison.Ordinal))
            {
                total += ProcStatus(int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture), "VmRSS:");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
        }
    }

    return total;
}

static long ProcStatus(int pid, string field)
{
    foreach (var line in File.ReadLines($"/proc/{pid}/status"))
    {
        if (line.StartsWith(field, StringComparison.Ordinal))
        {
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
    }

    return 0;
}

static long PeakRssKiB() => ProcStatus(Environment.ProcessId, "VmHWM:");

// Writing 5 to clear_refs resets VmHWM (Linux 4.0+), so each phase's peak is its own.
static void ResetPeakRss()
{
    try
    {
        File.WriteAllText("/proc/self/clear_refs", "5");
    }
    catch (IOException)
    {
    }
    catch (UnauthorizedAccessException)
    {
    }
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted[sorted.Length / 2];
}

static string Load() => File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Aggregate((a, b) => a + " " + b);

static string CpuModel() =>
    File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";

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

// ---------------------------------------------------------------------------------------------
// letterlock import (--only import): the corpus as an mbox file and as a Maildir, imported into a registered
// account's store (parsed, indexed, sealed, one transaction per batch), then pushed to a real provider (child
// process, loopback HTTPS) as sealed message documents by the ordinary sync push; then the same import again
// (every message a duplicate).
// ---------------------------------------------------------------------------------------------
static async Task<string> ImportBenchmark(string work, List<byte[]> corpus)
{
    Console.WriteLine();
    Console.WriteLine($"## letterlock import of {corpus.Count} messages");
    string data = Path.Combine(work, "provider");
    ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", data, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
    await using var provider = await ChildServer.StartAsync(["serve-provider", data]);
    var https = new IPEndPoint(IPAddress.Loopback, int.Parse(provider.Values["https"], CultureInfo.InvariantCulture));
    var map = new StaticHostMap { AllowSystemDns = false }.Add("alpha.test", https);
    var roots = new X509Certificate2Collection(X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(data, "tls", "cert.pem"))));
    using var http = new HttpClient(HttpFetch.CreateHandler(map, roots)) { Timeout = Timeout.InfiniteTimeSpan };
    var storeOptions = new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 };

    // The sources, LF line ends as on disk.
    var lf = corpus.Select(b => b.Where((c, i) => !(c == '\r' && i + 1 < b.Length && b[i + 1] == '\n')).ToArray()).ToList();
    string mbox = Path.Combine(work, "corpus.mbox");
    await using (var file = File.Create(mbox))
    {
        for (int i = 0; i < lf.Count; i++)
        {
            file.Write(Encoding.ASCII.GetBytes($"From bench@example.org Mon Jan  1 00:{i / 60 % 60:D2}:{i % 60:D2} 2001\n"));
            foreach (var line in Encoding.Latin1.GetString(lf[i]).Split('\n'))
            {
                file.Write(Encoding.Latin1.GetBytes((line.TrimStart('>').StartsWith("From ", StringComparison.Ordinal) ? ">" : "") + line + "\n"));
            }

            file.Write("\n"u8);
        }
    }

    string maildir = Path.Combine(work, "Maildir");
    Directory.CreateDirectory(Path.Combine(maildir, "cur"));
    for (int i = 0; i < lf.Count; i++)
    {
        await File.WriteAllBytesAsync(Path.Combine(maildir, "cur", $"{1000000 + i}.M{i}.bench:2,S"), lf[i]);
    }

    var rows = new StringBuilder();
    rows.AppendLine("| step | messages | time | rate | CPU per message |");
    rows.AppendLine("|---|---:|---:|---:|---:|");
    async Task<T> Measure<T>(string label, int count, Func<Task<T>> work)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var result = await work();
        clock.Stop();
        double ms = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / count;
        Console.WriteLine($"- {label}: {count} in {clock.Elapsed.TotalSeconds:F1} s = {count / clock.Elapsed.TotalSeconds:F0} msg/s, CPU {ms:F2} ms/msg; load {Load()}");
        rows.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {label} | {count} | {clock.Elapsed.TotalSeconds:F1} s | {count / clock.Elapsed.TotalSeconds:F0} msg/s | {ms:F2} ms |"));
        return result;
    }

    foreach (var (name, open) in new (string, Func<ImportOptions, IImportSource>)[] { ("mbox", o => new MboxReader(mbox, "INBOX", o)), ("Maildir", o => new MaildirReader(maildir, o)) })
    {
        using var store = await LocalStore.CreateAsync(Path.Combine(work, $"import-{name}.db"), StoreUnlock.WithPassphrase("one"), storeOptions);
        var alice = await AccountRegistration.CreateAsync(store, new ProviderClient(http, new Uri("https://alpha.test/")), $"{name.ToLowerInvariant()}@alpha.test", "Alice");
        var client = await AccountRegistration.ConnectAsync(store, alice, http);
        var options = new ImportOptions();
        var total = Stopwatch.StartNew();
        var report = await Measure($"{name}: import into the local store", corpus.Count, () => new MailImporter(store, alice.Id, options).ImportAsync(open(options)));
        var pushed = await Measure($"{name}: push to the provider (sync)", corpus.Count, () => new SyncEngine(store, alice, client).SyncAsync());
        total.Stop();
        Console.WriteLine($"- {name}: {report.Imported} imported, {report.Duplicates} duplicates, {report.Refused.Count} refused; {pushed.Pushed} pushed");
        rows.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| **{name}: import + push, end to end** | {corpus.Count} | {total.Elapsed.TotalSeconds:F1} s | **{corpus.Count / total.Elapsed.TotalSeconds:F0} msg/s** | |"));
        await Measure($"{name}: the same import again (all duplicates)", corpus.Count, () => new MailImporter(store, alice.Id, options).ImportAsync(open(options)));
    }

    return rows.ToString();
}

static async Task ServeProvider(string data)
{
    using var logs = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning));
    await using var host = await ProviderHost.StartAsync(data, null, new Letterlock.Dns.StaticDnsResolver(), logs);
    Console.WriteLine($"smtp {host.SmtpEndPoint.Port}");
    Console.WriteLine($"https {host.HttpsEndPoint.Port}");
    Console.WriteLine("ready");
    await Console.In.ReadToEndAsync();
}

static async Task ServeBridge(string file, string passphrase, int? httpsPort = null, string? certPem = null, bool trim = true)
{
    using var store = await LocalStore.OpenAsync(file, StoreUnlock.WithPassphrase(passphrase), new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
    var options = new BridgeOptions { ImapPort = 0, SmtpPort = 0, SyncInterval = null, MonitorTransparency = false };
    if (httpsPort is { } port)
    {
        options = new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, MonitorTransparency = false, SyncInterval = TimeSpan.FromSeconds(30),
            HostMap = new StaticHostMap { AllowSystemDns = false }.Add("alpha.test", new IPEndPoint(IPAddress.Loopback, port)),
            TrustedRoots = new X509Certificate2Collection(X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(certPem!))),
            SyncLog = line => Console.WriteLine("log " + line),
            IdleTrimAfterAllocatedBytes = trim ? new BridgeOptions().IdleTrimAfterAllocatedBytes : null,
        };
    }

    await using var bridge = await BridgeHost.StartAsync(store, options);
    var settings = (await bridge.GetSettingsAsync()).Single();
    Console.WriteLine($"imap {settings.ImapPort} {settings.UserName} {settings.Password}");
    Console.WriteLine("ready");
    await Console.In.ReadToEndAsync();
}

internal sealed record SyncResult(string Label, int Received, double Seconds, long PeakRssKiB, long PeakHeapBytes, long AllocatedBytes, int Gen0, int Gen1, int Gen2,
    double ClientCpuMs, double ProviderCpuMs)
{
    /// <summary>Seconds from the start (of the login, for a new device) to the first message stored.</summary>
    public double FirstMessageSeconds { get; init; } = double.NaN;
}

/// <summary>Progress reported synchronously on the syncing thread (Progress&lt;T&gt; would post it later, blurring the first-message time).</summary>
internal sealed class SyncProgressReporter(Action<SyncProgress> report) : IProgress<SyncProgress>
{
    public void Report(SyncProgress value) => report(value);
}

/// <summary>Samples the managed heap size every 20 ms and keeps the largest.</summary>
internal sealed class HeapSampler : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _peak;

    public HeapSampler() => _loop = Task.Run(async () =>
    {
        while (!_stop.IsCancellationRequested)
        {
            _peak = Math.Max(_peak, GC.GetTotalMemory(false));
            try
            {
                await Task.Delay(20, _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    });

    public long Stop()
    {
        _stop.Cancel();
        _loop.Wait();
        return Math.Max(_peak, GC.GetTotalMemory(false));
    }

    public void Dispose()
    {
        if (!_stop.IsCancellationRequested)
        {
            Stop();
        }

        _stop.Dispose();
    }
}

/// <summary>This harness started again in a child mode: reads "key value" lines up to "ready"; ends when its stdin closes.</summary>
internal sealed class ChildServer : IAsyncDisposable
{
    private readonly Process _process;

    private readonly List<string> _lines = [];
    private Task? _reader;

    private ChildServer(Process process) => _process = process;

    /// <summary>The lines the child printed after "ready" so far.</summary>
    public List<string> Lines()
    {
        lock (_lines)
        {
            return [.. _lines];
        }
    }

    public Dictionary<string, string> Values { get; } = [];

    public int Pid => _process.Id;

    public static async Task<ChildServer> StartAsync(string[] arguments)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            psi.ArgumentList.Add(typeof(ChildServer).Assembly.Location);
        }

        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        var child = new ChildServer(Process.Start(psi)!);
        while (await child._process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line == "ready")
            {
                child._reader = Task.Run(async () =>
                {
                    while (await child._process.StandardOutput.ReadLineAsync() is { } more)
                    {
                        lock (child._lines)
                        {
                            child._lines.Add(more);
                        }
                    }
                });
                return child;
            }

            var parts = line.Split(' ', 2);
            if (parts.Length == 2)
            {
                child.Values[parts[0]] = parts[1];
            }
        }

        throw new InvalidOperationException($"{arguments[0]} ended before it was ready");
    }

    public long RssKiB() => ReadStatus("VmRSS:");

    /// <summary>User + system CPU time of the child so far.</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    public long PeakRssKiB() => ReadStatus("VmHWM:");

    /// <summary>What the resident memory is: anonymous (heaps, pools, native buffers), file-backed (mapped files and code), shared.</summary>
    public string RssBreakdown() => $"anonymous {ReadStatus("RssAnon:") / 1024} MiB, file {ReadStatus("RssFile:") / 1024} MiB, shared {ReadStatus("RssShmem:") / 1024} MiB";

    private long ReadStatus(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        _process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }

        if (_reader is not null)
        {
            await _reader;
        }

        _process.Dispose();
    }
}

/// <summary>A fresh temporary folder for the run's stores and provider data, deleted afterwards.</summary>
internal sealed class TempFolder(string? parent) : IDisposable
{
    public string Path { get; } = parent is null
        ? Directory.CreateTempSubdirectory("letterlock-bench-client-").FullName
        : Directory.CreateDirectory(System.IO.Path.Combine(parent, "letterlock-bench-client-" + Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
