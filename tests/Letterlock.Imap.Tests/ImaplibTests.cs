using System.Diagnostics;

namespace Letterlock.Imap.Tests;

/// <summary>A client from another ecosystem: Python's imaplib, driven by Scripts/imaplib_client.py, against a real socket.</summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class ImaplibTests
{
    [Fact]
    public async Task Python_imaplib_client_passes_its_checks()
    {
        await using var server = new SocketServer();
        var script = Path.Combine(AppContext.BaseDirectory, "Scripts", "imaplib_client.py");
        var start = new ProcessStartInfo("python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { script, server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), SocketServer.User, SocketServer.Password })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        Assert.True(process.ExitCode == 0, $"imaplib script failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        Assert.Contains("imaplib: all checks passed", await stdout, StringComparison.Ordinal);
    }
}
