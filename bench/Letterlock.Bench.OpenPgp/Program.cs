using System.Diagnostics;
using System.Globalization;
using Letterlock.OpenPgp;

// In-process throughput of the OpenPGP core on one thread (one core):
// 10 KiB encrypt+sign / decrypt+verify in messages per second, 1 MiB in MB/s.
var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 5;
var engine = new OpenPgpEngine();
var alice = KeyGenerator.Generate("Alice <alice@example.org>", "").SecretKey.Unlock();
var bob = KeyGenerator.Generate("Bob <bob@example.net>", "").SecretKey.Unlock();
var small = new byte[10 * 1024];
var large = new byte[1024 * 1024];
Random.Shared.NextBytes(small);
Random.Shared.NextBytes(large);
EncryptOptions encrypt = new() { Signers = [alice], Armor = true };
DecryptOptions decrypt = new() { Keys = [bob], Verifiers = [alice.Certificate] };
var smallCipher = engine.Encrypt(small, [bob.Certificate], encrypt);
var largeCipher = engine.Encrypt(large, [bob.Certificate], encrypt);

if (Environment.GetEnvironmentVariable("PROF") is not null)
{
    var tiny = new byte[16];
    Report("encrypt 16 B, no signature, binary", Rate(() => engine.Encrypt(tiny, [bob.Certificate], new EncryptOptions { Armor = false })), "op/s");
    Report("encrypt 10 KiB, no signature, binary", Rate(() => engine.Encrypt(small, [bob.Certificate], new EncryptOptions { Armor = false })), "op/s");
    Report("sign detached 16 B", Rate(() => engine.SignDetached(tiny, [alice], SignatureMode.Binary, false)), "op/s");
    Report("sign detached 10 KiB", Rate(() => engine.SignDetached(small, [alice], SignatureMode.Binary, false)), "op/s");
    Report("sign inline 10 KiB binary", Rate(() => engine.SignInline(small, [alice], InlineSignStyle.Binary, false)), "op/s");
    Report("encrypt+sign 10 KiB armored", Rate(() => engine.Encrypt(small, [bob.Certificate], encrypt)), "op/s");
    Report("armor 10 KiB", Rate(() => Armor.Encode(small)), "op/s");
    Report("encrypt+sign 10 KiB binary", Rate(() => engine.Encrypt(small, [bob.Certificate], new EncryptOptions { Signers = [alice], Armor = false })), "op/s");
    Report("select encryption key", Rate(() => bob.Certificate.SelectEncryptionKey(DateTimeOffset.UtcNow)!), "op/s");
    return 0;
}

Console.WriteLine($"# Letterlock.Bench.OpenPgp: {Environment.ProcessorCount} cores, {seconds} s per case, one thread");
Console.WriteLine("| case | wall clock | per CPU-second of this process |");
Console.WriteLine("|---|---|---|");
Report("10 KiB encrypt+sign (armored)", Rate(() => engine.Encrypt(small, [bob.Certificate], encrypt)), "msg/s");
Report("10 KiB decrypt+verify", Rate(() => Check(engine.Decrypt(smallCipher, decrypt))), "msg/s");
Report("1 MiB encrypt+sign (armored)", Rate(() => engine.Encrypt(large, [bob.Certificate], encrypt)), "MB/s", 1.048576);
Report("1 MiB decrypt+verify", Rate(() => Check(engine.Decrypt(largeCipher, decrypt))), "MB/s", 1.048576);
return 0;

(double Wall, double Cpu) Rate(Func<object> operation)
{
    // Warm up for a second: tiered compilation and PGO need a few thousand calls to settle.
    var warm = Stopwatch.StartNew();
    while (warm.Elapsed.TotalSeconds < 1)
    {
        operation();
    }

    // CPU time is reported too: on a shared, loaded machine wall-clock rates understate what one core does.
    var process = Process.GetCurrentProcess();
    var cpuStart = process.TotalProcessorTime;
    var watch = Stopwatch.StartNew();
    var count = 0;
    while (watch.Elapsed.TotalSeconds < seconds)
    {
        operation();
        count++;
    }

    var wall = watch.Elapsed.TotalSeconds;
    process.Refresh();
    var cpu = (process.TotalProcessorTime - cpuStart).TotalSeconds;
    return (count / wall, count / cpu);
}

static object Check(DecryptionResult result) =>
    result.Signatures.Count == 1 && result.Signatures[0].Status == SignatureStatus.Valid ? result : throw new InvalidOperationException("bad signature");

static void Report(string name, (double Wall, double Cpu) rate, string unit, double scale = 1) =>
    Console.WriteLine($"| {name} | {(rate.Wall * scale).ToString("N0", CultureInfo.InvariantCulture)} {unit} | {(rate.Cpu * scale).ToString("N0", CultureInfo.InvariantCulture)} {unit} |");
