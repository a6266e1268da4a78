using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Letterlock.Testing;

/// <summary>
/// A private PostgreSQL cluster for the tests (PEERS.md): initdb as the postgres user in a fresh
/// folder, started on a free loopback port with its socket in that folder, stopped at the end. xunit finds
/// collection definitions only in the test assembly: a project using it declares
/// <c>[CollectionDefinition("postgres")] public sealed class PostgresCollection : ICollectionFixture&lt;PostgresServer&gt;;</c>.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private static readonly string Bin = FindBin();
    private string _directory = "";
    private int _databases;

    public int Port { get; private set; }

    public async Task InitializeAsync()
    {
        _directory = Path.Combine(Path.GetTempPath(), "letterlock-pg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        string data = Path.Combine(_directory, "data");
        bool root = Environment.UserName == "root";
        if (root)
        {
            await Run("chown", ["postgres:postgres", _directory]);
        }

        await AsPostgres(root, Path.Combine(Bin, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
        for (int attempt = 0; ; attempt++)
        {
            Port = LoopbackPort.Free();
            try
            {
                await AsPostgres(root, Path.Combine(Bin, "pg_ctl"),
                [
                    "-D", data, "-w", "-t", "60", "-l", Path.Combine(_directory, "log"),
                    "-o", $"-p {Port} -k {_directory} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200 -c shared_buffers=64MB",
                    "start",
                ]);
                break;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                // the port was taken between probing and binding: try another
            }
        }
    }

    /// <summary>Creates a fresh database and returns its postgres:// URL.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        string name = $"t{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..20];
        await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync();
        return $"postgres://postgres@127.0.0.1:{Port}/{name}";
    }

    public static string ConnectionString(string url)
    {
        var uri = new Uri(url);
        return $"Host={uri.Host};Port={uri.Port};Username=postgres;Database={uri.AbsolutePath.Trim('/')};Pooling=false";
    }

    public async Task DisposeAsync()
    {
        bool root = Environment.UserName == "root";
        try
        {
            await AsPostgres(root, Path.Combine(Bin, "pg_ctl"), ["-D", Path.Combine(_directory, "data"), "-m", "immediate", "-w", "stop"]);
        }
        finally
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static string FindBin()
    {
        var versions = Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql") : [];
        return versions.Select(v => Path.Combine(v, "bin")).Where(b => File.Exists(Path.Combine(b, "initdb"))).OrderDescending().FirstOrDefault()
            ?? throw new InvalidOperationException("PostgreSQL is not installed (scripts/install-test-deps installs it)");
    }

    private static Task AsPostgres(bool root, string program, string[] args) =>
        root ? Run("runuser", ["-u", "postgres", "--", program, .. args]) : Run(program, args);

    private static async Task Run(string program, string[] args)
    {
        var (code, output) = await Tool.RunAsync(program, args);
        if (code != 0)
        {
            throw new InvalidOperationException($"{program} failed ({code}): {output}");
        }
    }
}
