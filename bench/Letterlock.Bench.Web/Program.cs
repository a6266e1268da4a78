// The web app on a large mailbox (docs/PERFORMANCE.md, "Web app"): a client store holding the SpamAssassin corpus
// copied COPIES times (60,000 messages by default) in INBOX, the bridge and the web app over it in this process, and
// one signed-in session asking what the browser asks: the folder list (cold: the first builds the folder's index),
// pages of 50 newest first, message views and frames of random messages, searches. Each request's server time is
// the app's own Server-Timing figure; the client's latency over loopback HTTP is given beside it. In the same run,
// the bridge's IMAP on the same store answers the same needs (a page of 50 ENVELOPEs, one message body), with MailKit.
//
//   dotnet run -c Release --project bench/Letterlock.Bench.Web -- [--copies 20] [--requests 200] [--store FILE]
//
// --store FILE keeps the filled store there (unlocked by the passphrase "web bench") and reuses it when it exists.
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Letterlock.Bridge;
using Letterlock.Client.Discovery;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Web;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;

int copies = Arg("--copies", 20);
int requests = Arg("--requests", 200);
string? kept = ArgString("--store");
const string Passphrase = "web bench";
string source = "/work/shared/testdata/spamassassin";
var work = Path.Combine(Path.GetTempPath(), "letterlock-web-bench-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(work);
string file = kept ?? Path.Combine(work, "client.db");
var random = new Random(20261207);

Console.WriteLine($"# Web app benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine($"- machine: {Environment.ProcessorCount} cores, {CpuModel()}, .NET {Environment.Version}; load average {Load()}");
var options = new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 };
if (!File.Exists(file))
{
    var corpus = Directory.EnumerateFiles(source, "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
    using var store = await LocalStore.CreateAsync(file, StoreUnlock.WithPassphrase(Passphrase), options);
    var account = await store.Accounts.CreateAsync("alice@alpha.test", "Alice", null);
    await AccountKeys.GenerateAsync(store, account);
    var mail = store.Mail(account.Id);
    var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
    var fill = Stopwatch.StartNew();
    int stored = 0;
    for (int c = 0; c < copies; c++)
    {
        // Summaries, index text and sealing as sync stores a message; a batch of the corpus per transaction.
        var batch = new List<NewMessage>();
        foreach (var raw in corpus)
        {
            try
            {
                var (summary, text) = MessageSummaryBuilder.Build(raw, DateTimeOffset.UtcNow, MessageSecurity.Plain);
                batch.Add(new NewMessage(summary, raw, random.Next(4) == 0 ? [] : ["\\Seen"], text));
            }
            catch (FormatException)
            {
            }
        }

        foreach (var chunk in batch.Chunk(500))
        {
            stored += (await mail.AppendAsync(inbox.Id, chunk)).Done.Count;
        }

        Console.Error.WriteLine($"  filled {stored} messages, {fill.Elapsed.TotalSeconds:F0} s");
    }

    Console.WriteLine($"- store filled with {stored} messages in {fill.Elapsed.TotalSeconds:F0} s; {new FileInfo(file).Length / 1024 / 1024} MiB on disk");
}
else
{
    Console.WriteLine($"- reusing the filled store {file} ({new FileInfo(file).Length / 1024 / 1024} MiB on disk)");
}

using var client = await LocalStore.OpenAsync(file, StoreUnlock.WithPassphrase(Passphrase), options);
var alice = (await client.Accounts.ListAsync()).Single();
await using var bridge = await BridgeHost.StartAsync(client, new BridgeOptions
{
    ImapPort = 0, SmtpPort = 0, SyncInterval = null, MonitorTransparency = false, HostMap = new StaticHostMap { AllowSystemDns = false },
    Discovery = new KeyDiscoveryOptions { HkpServers = [] },
});
await using var web = await WebHost.StartAsync(bridge, new WebOptions { Port = 0 });
Console.WriteLine($"- bridge and web app started; RSS {Rss() / 1024} MiB; load average {Load()}");

using var http = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = web.Url };
var signIn = await http.PostAsJsonAsync("/api/session", new { token = web.NewLoginLink().Fragment.TrimStart('#') });
string cookie = signIn.Headers.GetValues("Set-Cookie").Single().Split(';')[0];
string csrf = JsonDocument.Parse(await signIn.Content.ReadAsStringAsync()).RootElement.GetProperty("csrf").GetString()!;
string a = "/api/accounts/" + alice.Id.Value.ToString("N");

async Task<(double Server, double Client, JsonElement Body)> Get(string path)
{
    using var request = new HttpRequestMessage(HttpMethod.Get, path);
    request.Headers.Add("Cookie", cookie);
    request.Headers.Add("X-Letterlock-Csrf", csrf);
    var clock = Stopwatch.StartNew();
    using var response = await http.SendAsync(request);
    var text = await response.Content.ReadAsStringAsync();
    double elapsed = clock.Elapsed.TotalMilliseconds;
    response.EnsureSuccessStatusCode();
    double server = double.Parse(response.Headers.GetValues("Server-Timing").Single().Split("dur=")[1], CultureInfo.InvariantCulture);
    var body = response.Content.Headers.ContentType?.MediaType == "application/json" ? JsonDocument.Parse(text).RootElement.Clone() : default;
    return (server, elapsed, body);
}

var rows = new List<(string Name, List<double> Server, List<double> Client)>();
async Task Measure(string name, int count, Func<int, string> path)
{
    var server = new List<double>();
    var latency = new List<double>();
    for (int i = 0; i < count; i++)
    {
        var (s, c, _) = await Get(path(i));
        server.Add(s);
        latency.Add(c);
    }

    rows.Add((name, server, latency));
    Console.Error.WriteLine($"  {name}: median {Median(server):F1} ms server");
}

var (coldServer, coldClient, folders) = await Get(a + "/folders");
rows.Add(("folder list, cold (builds the INBOX index)", [coldServer], [coldClient]));
string inboxId = folders.EnumerateArray().First(f => f.GetProperty("role").GetString() == "Inbox").GetProperty("id").GetString()!;
int total = folders.EnumerateArray().First(f => f.GetProperty("role").GetString() == "Inbox").GetProperty("total").GetInt32();
Console.WriteLine($"- INBOX: {total} messages; RSS after the index {Rss() / 1024} MiB");
await Measure("folder list, warm", requests, _ => a + "/folders");
await Measure("page of 50, newest", requests, _ => $"{a}/folders/{inboxId}/messages?offset=0&size=50");
await Measure("page of 50, random offset", requests, _ => $"{a}/folders/{inboxId}/messages?offset={random.Next(total - 50)}&size=50");

// Random messages, picked from random pages; the same ids for the view and the frame.
var ids = new List<string>();
while (ids.Count < requests)
{
    var (_, _, page) = await Get($"{a}/folders/{inboxId}/messages?offset={random.Next(total - 50)}&size=50");
    ids.Add(page.GetProperty("messages")[random.Next(50)].GetProperty("id").GetString()!);
}

var threads = web.Views.Threads(client.Mail(alice.Id));
var threadClock = Stopwatch.StartNew();
while (!threads.Ready)
{
    await Task.Delay(50);
}

Console.WriteLine($"- conversation index of {total} messages built in the background in {threadClock.Elapsed.TotalSeconds:F1} s; RSS {Rss() / 1024} MiB");
await Measure("message open (view: body, banner, attachments, conversation)", requests, i => $"{a}/messages/{ids[i]}");
await Measure("message frame (sanitised HTML)", requests, i => $"/frame/{alice.Id.Value:N}/{ids[i]}");
await Measure("search, one common word (\"money\")", Math.Max(10, requests / 10), _ => $"{a}/search?q=money");
await Measure("search, one rare word + from:", Math.Max(10, requests / 10), _ => $"{a}/search?q={Uri.EscapeDataString("razor from:jm@jmason.org")}");

// The peer: the bridge's IMAP on the same store, with MailKit, asked for the same things.
var settings = (await bridge.GetSettingsAsync()).Single();
using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
await imap.ConnectAsync("127.0.0.1", settings.ImapPort, SecureSocketOptions.StartTls);
await imap.AuthenticateAsync(settings.UserName, settings.Password);
var folder = imap.Inbox;
var selectClock = Stopwatch.StartNew();
await folder.OpenAsync(FolderAccess.ReadOnly);
double select = selectClock.Elapsed.TotalMilliseconds;
var imapPage = new List<double>();
var imapBody = new List<double>();
for (int i = 0; i < requests; i++)
{
    var clock = Stopwatch.StartNew();
    int start = random.Next(folder.Count - 50);
    await folder.FetchAsync(start, start + 49, MessageSummaryItems.Envelope | MessageSummaryItems.Flags | MessageSummaryItems.UniqueId);
    imapPage.Add(clock.Elapsed.TotalMilliseconds);
    clock.Restart();
    await folder.GetMessageAsync(random.Next(folder.Count));
    imapBody.Add(clock.Elapsed.TotalMilliseconds);
}

await imap.DisconnectAsync(true);
Console.WriteLine($"- bridge IMAP (MailKit, STARTTLS on loopback): first SELECT of INBOX {select:F0} ms");
Console.WriteLine($"- RSS at the end {Rss() / 1024} MiB, peak {PeakRss() / 1024} MiB; load average {Load()}");
Console.WriteLine();
Console.WriteLine($"| {total} messages in INBOX, {requests} requests each | server median | server p95 | server max | client median (loopback HTTP) |");
Console.WriteLine("|---|---:|---:|---:|---:|");
foreach (var (name, server, latency) in rows)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {Median(server):F1} ms | {P95(server):F1} ms | {server.Max():F1} ms | {Median(latency):F1} ms |"));
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| peer: bridge IMAP, FETCH 50 ENVELOPE+FLAGS at a random place | | | | {Median(imapPage):F1} ms (p95 {P95(imapPage):F1}) |"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| peer: bridge IMAP, one random message BODY[] | | | | {Median(imapBody):F1} ms (p95 {P95(imapBody):F1}) |"));
if (kept is null)
{
    client.Dispose();
    Directory.Delete(work, recursive: true);
}

return;

static double Median(List<double> values) => Percentile(values, 0.5);

static double P95(List<double> values) => Percentile(values, 0.95);

static double Percentile(List<double> values, double p)
{
    var sorted = values.Order().ToList();
    return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}

static int Arg(string name, int fallback)
{
    var args = Environment.GetCommandLineArgs();
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

static string? ArgString(string name)
{
    var args = Environment.GetCommandLineArgs();
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static long Rss() => Status("VmRSS:");

static long PeakRss() => Status("VmHWM:");

static long Status(string field) =>
    long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(field, StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

static string Load() => File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Aggregate((x, y) => x + " " + y);

static string CpuModel() => File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "unknown CPU";
