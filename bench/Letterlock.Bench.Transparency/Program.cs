using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Letterlock.Provider.Accounts;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;
using Letterlock.Provider.Transparency;
using Microsoft.Extensions.Logging.Abstractions;
using NSec.Cryptography;

// Provider-side key transparency (docs/PERFORMANCE.md, "Key transparency"): the real ProviderTransparency over the
// real provider stores publishes epochs of 1,000 changed addresses (500 key changes, 500 new accounts) in a directory
// of N addresses, on SQLite and on a private PostgreSQL cluster, and answers lookups. CPU time counts all threads
// of this process (the database server's CPU is not included; PostgreSQL's is reported from pg_stat where useful).
// Usage: dotnet run -c Release --project bench/Letterlock.Bench.Transparency -- [--addresses 100000] [--rounds 5] [--only sqlite|postgres]
// Needs root for the private PostgreSQL cluster (it runs as the postgres user).
int addresses = Arg("--addresses", 100_000);
int rounds = Arg("--rounds", 5);
string? only = args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault();
var notes = new List<string>();
var certificate = Letterlock.OpenPgp.KeyGenerator.Generate("<user@bench.test>", ReadOnlySpan<char>.Empty).Certificate.Export(armored: false);

Console.WriteLine($"Directory of {addresses:N0} addresses, epochs of 1,000 changes (500 key changes + 500 new accounts), {rounds} rounds; {Environment.ProcessorCount} cores");
Console.WriteLine();
Console.WriteLine("| backend | initial load (CPU / wall) | epoch of 1,000 changes, CPU median (min-max) | wall median | lookup (CPU / wall) | database size |");
Console.WriteLine("|---|---|---|---|---|---|");
if (only is null or "sqlite")
{
    using var dir = new TempDir();
    await RunAsync("SQLite (WAL, synchronous=FULL)", "sqlite:bench.db", dir.Path, () => Task.FromResult(new FileInfo(Path.Combine(dir.Path, "bench.db")).Length
        + (File.Exists(Path.Combine(dir.Path, "bench.db-wal")) ? new FileInfo(Path.Combine(dir.Path, "bench.db-wal")).Length : 0)));
}

if (only is null or "postgres")
{
    await using var postgres = await PrivatePostgres.StartAsync("shared_buffers=256MB");
    using var dir = new TempDir();
    string url = await postgres.CreateDatabaseAsync();
    await RunAsync("PostgreSQL 15 (synchronous_commit=on)", url, dir.Path, postgres.DatabaseSizeAsync);
}

Console.WriteLine();
notes.ForEach(Console.WriteLine);
return 0;

async Task RunAsync(string name, string database, string directory, Func<Task<long>> size)
{
    string keyPath = Path.Combine(directory, "signing.key");
    using (var key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }))
    {
        await File.WriteAllTextAsync(keyPath, Convert.ToBase64String(key.Export(KeyBlobFormat.RawPrivateKey)));
    }

    var settings = new ProviderSettings
    {
        Domain = "bench.test",
        HostName = "mx.bench.test",
        Database = database,
        SigningKey = keyPath,
        DataDirectory = directory,
        Transparency = new TransparencySettings { MaxChangesPerEpoch = 50_000 },
    };
    var location = DatabaseLocation.Parse(database, directory);
    var notifier = new ChangeNotifier();
    await using IProviderStore store = location.IsPostgres ? new PostgresProviderStore(location.ConnectionString, notifier) : new SqliteProviderStore(location.ConnectionString, notifier);
    await store.InitializeAsync(default);
    int next = 0;
    var ids = new List<Guid>(addresses + rounds * 500);
    ids.AddRange(await CreateAccountsAsync(store, addresses, () => next++));

    await using var kt = await ProviderTransparency.OpenAsync(store, settings, TimeProvider.System, NullLogger.Instance, default);
    var load = await MeasureAsync(async () =>
    {
        await kt.Store.EnqueueAllAccountsAsync(DateTimeOffset.UtcNow, default);
        while (await kt.Store.CountPendingAsync(default) > 0)
        {
            await kt.PublishPendingAsync(default);
        }
    });

    var cpu = new List<double>();
    var wall = new List<double>();
    var random = new Random(42);
    for (int round = 0; round < rounds; round++)
    {
        foreach (var id in Enumerable.Range(0, 500).Select(_ => ids[random.Next(ids.Count)]).Distinct())
        {
            await store.UpdateKeysAsync(id, certificate, RandomNumberGenerator.GetBytes(32), DateTimeOffset.UtcNow, default);
            await kt.RecordAsync(id, default);
        }

        foreach (var id in await CreateAccountsAsync(store, 500, () => next++))
        {
            ids.Add(id);
            await kt.RecordAsync(id, default);
        }

        var (c, w) = await MeasureAsync(() => kt.PublishPendingAsync(default));
        cpu.Add(c.TotalMilliseconds);
        wall.Add(w.TotalMilliseconds);
    }

    var lookup = await MeasureAsync(async () =>
    {
        for (int i = 0; i < 1000; i++)
        {
            await kt.Directory.LookupAsync($"user{random.Next(addresses)}@bench.test", default);
        }
    });
    var sample = (await store.GetAccountAsync(ids[0], default))!;
    var sampleDevices = await store.ListDevicesAsync(ids[0], default);
    var keySets = await MeasureAsync(() =>
    {
        for (int i = 0; i < 1000; i++)
        {
            ProviderTransparency.KeySetOf(sample, sampleDevices);
        }

        return Task.CompletedTask;
    });
    notes.Add(string.Create(CultureInfo.InvariantCulture, $"{name}: computing 1,000 key sets from account records (certificate parse included) takes {keySets.Cpu.TotalMilliseconds:0} ms CPU"));
    cpu.Sort();
    wall.Sort();
    long bytes = await size();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {name} | {load.Cpu.TotalSeconds:0.0} s / {load.Wall.TotalSeconds:0.0} s | **{cpu[cpu.Count / 2]:0} ms** ({cpu[0]:0}-{cpu[^1]:0}) | {wall[wall.Count / 2]:0} ms | " +
        $"{lookup.Cpu.TotalMilliseconds / 1000:0.00} ms / {lookup.Wall.TotalMilliseconds / 1000:0.00} ms | {bytes / 1e6:0} MB |"));
}

async Task<List<Guid>> CreateAccountsAsync(IProviderStore store, int count, Func<int> number)
{
    var created = new List<Guid>(count);
    var pending = new List<Task>();
    for (int i = 0; i < count; i++)
    {
        string local = $"user{number()}";
        var account = new NewAccount(Guid.NewGuid(), local, AccountService.WkdHash(local), 1 << 30, certificate, RandomNumberGenerator.GetBytes(32), DateTimeOffset.UtcNow);
        created.Add(account.Id);
        pending.Add(store.CreateAccountAsync(account, new NewDevice(Guid.NewGuid(), account.Id, RandomNumberGenerator.GetBytes(32), "bench", DateTimeOffset.UtcNow), null, default));
        if (pending.Count == 256)
        {
            await Task.WhenAll(pending);
            pending.Clear();
        }
    }

    await Task.WhenAll(pending);
    return created;
}

static async Task<(TimeSpan Cpu, TimeSpan Wall)> MeasureAsync(Func<Task> action)
{
    var process = Process.GetCurrentProcess();
    var cpu = process.TotalProcessorTime;
    var wall = Stopwatch.StartNew();
    await action();
    process.Refresh();
    return (process.TotalProcessorTime - cpu, wall.Elapsed);
}

int Arg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

internal sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "letterlock-bench-kt-" + Guid.NewGuid().ToString("N"));

    public TempDir() => Directory.CreateDirectory(Path);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
