using Letterlock.Bench.Crypto;

// Usage: dotnet run -c Release --project bench/Letterlock.Bench.Crypto -- [hpke|all]
string what = args.Length > 0 ? args[0] : "all";
Console.WriteLine($"Letterlock crypto benchmark, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
Console.WriteLine();
if (what is "hpke" or "all")
{
    HpkeBenchmark.Run();
}
