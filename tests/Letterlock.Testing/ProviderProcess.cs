using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace Letterlock.Testing;

/// <summary>`letterlock provider serve` as a real child process, for crash and cluster tests.</summary>
public sealed class ProviderProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ProviderProcess(Process process) => _process = process;

    public IPEndPoint Smtp { get; private set; } = null!;

    public IPEndPoint Https { get; private set; } = null!;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <c>letterlock provider serve</c> on <paramref name="dataDirectory"/>.</summary>
    /// <param name="dataDirectory">The provider's data folder.</param>
    /// <param name="database">A PostgreSQL connection string, or null for SQLite.</param>
    /// <param name="filesystemBytes">
    /// When set, the data folder is copied onto a tmpfs of this size in a private mount namespace (<c>unshare -m</c>, as
    /// root) and served from there: a disk that really fills up. The copy lives and dies with the process.
    /// </param>
    public static async Task<ProviderProcess> StartAsync(string dataDirectory, string? database, long? filesystemBytes = null)
    {
        var start = new ProcessStartInfo(filesystemBytes is null ? "dotnet" : "unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string served = dataDirectory;
        if (filesystemBytes is long size)
        {
            served = dataDirectory + ".tmpfs";
            Directory.CreateDirectory(served);
            foreach (string arg in new[] { "--mount", "--propagation", "private", "sh", "-c",
                "mount -t tmpfs -o size=$1 tmpfs \"$3\" && cp -a \"$2/.\" \"$3/\" && shift 3 && exec \"$@\"", "sh",
                size.ToString(CultureInfo.InvariantCulture), dataDirectory, served, "dotnet" })
            {
                start.ArgumentList.Add(arg);
            }
        }

        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "letterlock.dll"));
        foreach (string arg in new[] { "provider", "serve", "--data", served })
        {
            start.ArgumentList.Add(arg);
        }

        if (database is not null)
        {
            start.ArgumentList.Add("--database");
            start.ArgumentList.Add(database);
        }

        var process = new ProviderProcess(Process.Start(start)!);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process._process.OutputDataReceived += (_, e) => process.OnLine(e.Data, ready);
        process._process.ErrorDataReceived += (_, e) => process.OnLine(e.Data, null);
        process._process.BeginOutputReadLine();
        process._process.BeginErrorReadLine();
        var exited = process._process.WaitForExitAsync();
        var first = await Task.WhenAny(ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(60)));
        if (first != ready.Task)
        {
            await process.DisposeAsync();
            throw new InvalidOperationException("the provider did not start:\n" + process.Output);
        }

        return process;
    }

    private void OnLine(string? line, TaskCompletionSource? ready)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        // "listening: smtp 127.0.0.1 40123"
        string[] parts = line.Split(' ');
        if (parts is ["listening:", var protocol, var address, var port])
        {
            var endPoint = new IPEndPoint(IPAddress.Parse(address), int.Parse(port, CultureInfo.InvariantCulture));
            if (protocol == "smtp")
            {
                Smtp = endPoint;
            }
            else if (protocol == "https")
            {
                Https = endPoint;
            }
        }

        if (line == "ready")
        {
            ready?.TrySetResult();
        }
    }

    /// <summary>SIGTERM, as a service manager stops it; returns the exit code.</summary>
    public async Task<int> TerminateAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await KillAsync();
        }

        _process.Dispose();
    }
}
