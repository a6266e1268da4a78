using System.Diagnostics;
using System.Text;

// The tests run on Linux (CI and the sandbox): real Postfix, unshare, opendkim.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Letterlock.Relay.Tests;

/// <summary>The result of an external command.</summary>
internal sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {StandardOutput}\nstderr: {StandardError}";
}

/// <summary>Runs Debian tools (python3-dkim, opendkim, postfix) as real peers.</summary>
internal static class Tools
{
    /// <summary>Debian's Python, where python3-dkim lives (a pyenv shim may shadow it on PATH).</summary>
    public const string Python = "/usr/bin/python3";

    public static async Task<ProcessResult> RunAsync(string fileName, IEnumerable<string> arguments, byte[]? stdin = null, TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                info.Environment[key] = value;
            }
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {fileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} did not finish in time");
        }

        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }

    public static string Ascii(byte[] bytes) => Encoding.ASCII.GetString(bytes);
}
