using System.Diagnostics;
using System.Globalization;
using System.Net;
using Xunit.Abstractions;

namespace Letterlock.Provider.Tests;

/// <summary>
/// <c>scripts/cluster</c> run by a test as an operator runs it: a private PostgreSQL, provider nodes sharing one data
/// directory and Debian's haproxy in front. Stopped (everything it started) on dispose.
/// </summary>
public sealed class ClusterScript : IAsyncDisposable
{
    private readonly ITestOutputHelper _output;

    private ClusterScript(string directory, ITestOutputHelper output)
    {
        Directory = directory;
        _output = output;
    }

    /// <summary>The cluster's folder: state, logs, <c>cluster.env</c>.</summary>
    public string Directory { get; }

    /// <summary>What <c>cluster.env</c> says: SMTP_PORT, HTTPS_PORT, DATABASE_URL, PG_PORT, DATA, NODE<i>i</i>_SMTP/_HTTPS.</summary>
    public IReadOnlyDictionary<string, string> Env { get; private set; } = new Dictionary<string, string>();

    /// <summary>haproxy's SMTP front.</summary>
    public IPEndPoint Smtp => EndPoint("SMTP_PORT");

    /// <summary>haproxy's HTTPS front (TCP passthrough to the nodes).</summary>
    public IPEndPoint Https => EndPoint("HTTPS_PORT");

    /// <summary>Starts a cluster in <paramref name="directory"/>; <c>args</c> are further options of <c>scripts/cluster start</c>.</summary>
    public static async Task<ClusterScript> StartAsync(string directory, ITestOutputHelper output, params string[] args)
    {
        var cluster = new ClusterScript(directory, output);
        await cluster.RunAsync(["start", directory, .. args]);
        cluster.Env = (await File.ReadAllLinesAsync(Path.Combine(directory, "cluster.env"))).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        return cluster;
    }

    public IPEndPoint EndPoint(string key) => new(IPAddress.Loopback, int.Parse(Env[key], CultureInfo.InvariantCulture));

    /// <summary>The process id of node <paramref name="node"/>, as its pid file says.</summary>
    public int NodePid(int node) => int.Parse(File.ReadAllText(Path.Combine(Directory, $"node{node}.pid")).Trim(), CultureInfo.InvariantCulture);

    public Task KillNodeAsync(int node) => RunAsync(["kill-node", Directory, node.ToString(CultureInfo.InvariantCulture)]);

    public Task StartNodeAsync(int node) => RunAsync(["start-node", Directory, node.ToString(CultureInfo.InvariantCulture)]);

    public Task KillDatabaseAsync() => RunAsync(["kill-db", Directory]);

    public Task StartDatabaseAsync() => RunAsync(["start-db", Directory]);

    public Task StopAsync() => RunAsync(["stop", Directory]);

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(Directory, "cluster.env")))
        {
            await StopAsync();
        }
    }

    private async Task RunAsync(string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(RepositoryRoot(), "scripts", "cluster"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["LETTERLOCK"] = "dotnet " + Path.Combine(AppContext.BaseDirectory, "letterlock.dll");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5)); // bounds a hang only
        await process.WaitForExitAsync(timeout.Token);
        string said = (await stdout + await stderr).Trim();
        if (said.Length > 0)
        {
            _output.WriteLine(said);
        }

        Assert.True(process.ExitCode == 0, $"scripts/cluster {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Letterlock.slnx")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
