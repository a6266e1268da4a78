using System.Diagnostics;

namespace Letterlock.Testing;

/// <summary>Runs a program of the machine (a peer's tool: postfix, openssl, pg_ctl, ...) to its end, within two minutes.</summary>
public static class Tool
{
    /// <summary>The exit code and everything the program printed (standard output, then standard error).</summary>
    public static async Task<(int Code, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }
}
