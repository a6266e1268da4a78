using System.Diagnostics;

namespace Letterlock.Bench.Crypto;

/// <summary>A tiny timing helper: warm up, then repeat until a time budget is spent; report the best round.</summary>
internal static class Measure
{
    /// <summary>Returns operations per second of <paramref name="action"/> (best of several rounds).</summary>
    public static double OpsPerSecond(Action action, double seconds = 1.0, int rounds = 3)
    {
        for (int i = 0; i < 3; i++)
        {
            action();
        }

        double best = 0;
        for (int round = 0; round < rounds; round++)
        {
            long count = 0;
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed.TotalSeconds < seconds / rounds)
            {
                action();
                count++;
            }

            best = Math.Max(best, count / watch.Elapsed.TotalSeconds);
        }

        return best;
    }

    /// <summary>Throughput in MB/s (10^6 bytes) of an action that processes <paramref name="bytes"/> bytes.</summary>
    public static double MegabytesPerSecond(Action action, long bytes, double seconds = 1.5) =>
        OpsPerSecond(action, seconds) * bytes / 1e6;

    public static void Row(params object[] cells) =>
        Console.WriteLine("| " + string.Join(" | ", cells) + " |");
}
