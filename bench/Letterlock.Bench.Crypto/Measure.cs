using System.Diagnostics;

namespace Letterlock.Bench.Crypto;

/// <summary>
/// A tiny timing helper. It counts CPU time of this process rather than wall-clock time: the reference
/// machine is shared by several engineers whose builds and tests run at the same time, and CPU time is what
/// "on one core" means. Single-threaded loops are timed as warm-up, then repeated rounds; the best round counts.
/// </summary>
internal static class Measure
{
    /// <summary>CPU time consumed by the whole process so far (all threads: Parallel work counts in full).</summary>
    public static TimeSpan Cpu => Process.GetCurrentProcess().TotalProcessorTime;

    /// <summary>Returns operations per CPU-second of <paramref name="action"/> (best of several rounds).</summary>
    public static double OpsPerSecond(Action action, double seconds = 1.5, int rounds = 3)
    {
        for (int i = 0; i < 3; i++)
        {
            action();
        }

        double best = 0;
        for (int round = 0; round < rounds; round++)
        {
            long count = 0;
            TimeSpan start = Cpu;
            var wall = Stopwatch.StartNew();
            // At least 0.3 s of CPU per round, whatever the machine's load.
            while ((Cpu - start).TotalSeconds < seconds / rounds && wall.Elapsed.TotalSeconds < 60)
            {
                for (int i = 0; i < 16; i++)
                {
                    action();
                }

                count += 16;
            }

            best = Math.Max(best, count / Math.Max((Cpu - start).TotalSeconds, 1e-9));
        }

        return best;
    }

    /// <summary>Throughput in MB/s (10^6 bytes per CPU-second) of an action that processes <paramref name="bytes"/> bytes.</summary>
    public static double MegabytesPerSecond(Action action, long bytes, double seconds = 1.5) =>
        OpsPerSecond(action, seconds) * bytes / 1e6;

    /// <summary>Runs <paramref name="action"/> once and returns (CPU time, wall time).</summary>
    public static async Task<(TimeSpan Cpu, TimeSpan Wall)> OnceAsync(Func<Task> action)
    {
        TimeSpan start = Cpu;
        var wall = Stopwatch.StartNew();
        await action();
        return (Cpu - start, wall.Elapsed);
    }

    public static void Row(params object[] cells) =>
        Console.WriteLine("| " + string.Join(" | ", cells) + " |");
}
