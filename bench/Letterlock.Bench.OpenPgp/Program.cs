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
    Report("enc nosign noarmor", Rate(() => engine.Encrypt(small, [bob.Certificate], new EncryptOptions { Armor = false })), "msg/s");
    Report("sign detached", Rate(() => engine.SignDetached(small, [alice], SignatureMode.Binary, false)), "msg/s");
    Report("armor 10k", Rate(() => Armor.Encode(small)), "op/s");
    Report("select key", Rate(() => bob.Certificate.SelectEncryptionKey(DateTimeOffset.UtcNow)!), "op/s");
    return 0;
}

Console.WriteLine($"# Letterlock.Bench.OpenPgp: {Environment.ProcessorCount} cores, {seconds} s per case, one thread");
Console.WriteLine("| case | result |");
Console.WriteLine("|---|---|");
Report("10 KiB encrypt+sign (armored)", Rate(() => engine.Encrypt(small, [bob.Certificate], encrypt)), "msg/s");
Report("10 KiB decrypt+verify", Rate(() => Check(engine.Decrypt(smallCipher, decrypt))), "msg/s");
Report("1 MiB encrypt+sign (armored)", Rate(() => engine.Encrypt(large, [bob.Certificate], encrypt)), "MB/s", 1.048576);
Report("1 MiB decrypt+verify", Rate(() => Check(engine.Decrypt(largeCipher, decrypt))), "MB/s", 1.048576);
return 0;

double Rate(Func<object> operation)
{
    for (var i = 0; i < 20; i++)
    {
        operation(); // warm up the JIT (tiered PGO)
    }

    var watch = Stopwatch.StartNew();
    var count = 0;
    while (watch.Elapsed.TotalSeconds < seconds)
    {
        operation();
        count++;
    }

    return count / watch.Elapsed.TotalSeconds;
}

static object Check(DecryptionResult result) =>
    result.Signatures.Count == 1 && result.Signatures[0].Status == SignatureStatus.Valid ? result : throw new InvalidOperationException("bad signature");

static void Report(string name, double perSecond, string unit, double scale = 1) =>
    Console.WriteLine($"| {name} | {(perSecond * scale).ToString("N0", CultureInfo.InvariantCulture)} {unit} |");
