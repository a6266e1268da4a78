using System.Diagnostics;

internal sealed class PrivatePostgres : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string _bin;
    private readonly int _port;

    private PrivatePostgres(string directory, string bin, int port)
    {
        _directory = directory;
        _bin = bin;
        _port = port;
    }

    public static async Task<PrivatePostgres> StartAsync(params string[] serverSettings)
    {
        string bin = Directory.GetDirectories("/usr/lib/postgresql").Select(v => Path.Combine(v, "bin")).Order().Last();
        string directory = Path.Combine(Path.GetTempPath(), "letterlock-bench-pg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        await Exec("chown", "postgres:postgres", directory);
        await Exec("runuser", "-u", "postgres", "--", Path.Combine(bin, "initdb"), "-D", Path.Combine(directory, "data"), "-A", "trust", "-U", "postgres");
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        await Exec("runuser", "-u", "postgres", "--", Path.Combine(bin, "pg_ctl"), "-D", Path.Combine(directory, "data"), "-w", "-l", Path.Combine(directory, "log"),
            "-o", $"-p {port} -k {directory} -c listen_addresses=127.0.0.1" + string.Concat(serverSettings.Select(s => " -c " + s)), "start");
        return new PrivatePostgres(directory, bin, port);
    }

    public async Task<string> CreateDatabaseAsync()
    {
        await using var connection = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={_port};Username=postgres;Database=postgres");
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("CREATE DATABASE bench", connection);
        await command.ExecuteNonQueryAsync();
        return $"postgres://postgres@127.0.0.1:{_port}/bench";
    }

    public async Task<long> DatabaseSizeAsync()
    {
        await using var connection = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={_port};Username=postgres;Database=bench");
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT pg_database_size('bench')", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public async ValueTask DisposeAsync()
    {
        await Exec("runuser", "-u", "postgres", "--", Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_directory, "data"), "-m", "fast", "-w", "stop");
        Directory.Delete(_directory, recursive: true);
    }

    private static async Task Exec(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} failed: {output}");
        }
    }
}
