using Letterlock.Bench.Crypto;

// Usage: dotnet run -c Release --project bench/Letterlock.Bench.Crypto -- [hpke|xwing|native|opaque|accounts|kt [addresses]|all]
// For the one-core figures of docs/PERFORMANCE.md run it under `taskset -c 0`.
string what = args.Length > 0 ? args[0] : "all";
Console.WriteLine($"Letterlock crypto benchmark, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
Console.WriteLine();
if (what is "hpke" or "all")
{
    HpkeBenchmark.Run();
}

if (what is "xwing" or "all")
{
    XWingBenchmark.Run();
}

if (what is "native" or "all")
{
    NativeBenchmark.Run();
}

if (what is "opaque" or "all")
{
    OpaqueBenchmark.Run();
}

if (what is "accounts" or "all")
{
    AccountsBenchmark.Run();
}

if (what is "kt" or "all")
{
    int addresses = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000;
    await TransparencyBenchmark.RunAsync(addresses);
}
