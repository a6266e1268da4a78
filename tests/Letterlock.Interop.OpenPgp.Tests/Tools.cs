using System.Diagnostics;

namespace Letterlock.Interop.OpenPgp.Tests;

public sealed record ToolResult(int ExitCode, byte[] Stdout, string Stderr);

/// <summary>Runs real peers (gpg, sqop) and our own `letterlock` executable as child processes.</summary>
public static class Tools
{
    /// <summary>The letterlock executable built next to the tests (copied by the project reference).</summary>
    public static string LetterlockDll => Path.Combine(AppContext.BaseDirectory, "letterlock.dll");

    /// <summary>
    /// A native `letterlock` executable to test instead of the JIT build next to the tests, from
    /// the environment variable LETTERLOCK_BIN (for example the NativeAOT binary from scripts/publish,
    /// so the release artifact passes the same interop tests); null when unset.
    /// </summary>
    public static string? LetterlockBinary => BinaryFromEnvironment("LETTERLOCK_BIN");

    public static ToolResult Letterlock(byte[]? stdin, string workDir, params string[] args) =>
        LetterlockBinary is { } binary
            ? Run(binary, args, stdin, workDir)
            : Run("dotnet", [LetterlockDll, .. args], stdin, workDir);

    /// <summary>The `letterlock-sop` executable built next to the tests (copied by the project reference).</summary>
    public static string SopDll => Path.Combine(AppContext.BaseDirectory, "letterlock-sop.dll");

    /// <summary>
    /// The native `letterlock-sop` to test instead of the JIT build, from LETTERLOCK_SOP_BIN (the NativeAOT binary
    /// scripts/publish writes next to `letterlock`); null when unset.
    /// </summary>
    public static string? SopBinary => BinaryFromEnvironment("LETTERLOCK_SOP_BIN");

    private static string? BinaryFromEnvironment(string variable)
    {
        var path = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        return File.Exists(path) ? Path.GetFullPath(path) : throw new FileNotFoundException($"{variable} names no file: {path}");
    }

    /// <summary>
    /// Runs a SOP subcommand with `letterlock-sop`, the executable SOP consumers are given (the interop tests drive
    /// it as gpg's and sqop's peers would); `letterlock sop` runs the same code, which SopCliTests checks.
    /// </summary>
    public static ToolResult Sop(byte[]? stdin, string workDir, params string[] args) =>
        SopWithEnvironment(stdin, workDir, null, args);

    /// <summary><see cref="Sop"/> with extra environment variables for the process.</summary>
    public static ToolResult SopWithEnvironment(byte[]? stdin, string workDir, IDictionary<string, string>? env, params string[] args) =>
        SopBinary is { } binary
            ? Run(binary, args, stdin, workDir, env)
            : Run("dotnet", [SopDll, .. args], stdin, workDir, env);

    public static ToolResult Run(string file, IEnumerable<string> args, byte[]? stdin, string workDir, IDictionary<string, string>? env = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdoutTask = Task.Run(() =>
        {
            using var buffer = new MemoryStream();
            process.StandardOutput.BaseStream.CopyTo(buffer);
            return buffer.ToArray();
        });
        var stderrTask = process.StandardError.ReadToEndAsync();
        try
        {
            if (stdin is not null)
            {
                process.StandardInput.BaseStream.Write(stdin);
            }

            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // the tool exited without reading all input (for example on an error): its exit code tells
        }

        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} did not finish in 120 s");
        }

        return new ToolResult(process.ExitCode, stdoutTask.GetAwaiter().GetResult(), stderrTask.GetAwaiter().GetResult());
    }
}

/// <summary>A throw-away GNUPGHOME; the agent it starts is stopped on dispose.</summary>
public sealed class GnuPg : IDisposable
{
    public GnuPg()
    {
        Home = Directory.CreateTempSubdirectory("llgpg").FullName;
        File.WriteAllText(Path.Combine(Home, "gpg.conf"), "trust-model always\n");
    }

    public string Home { get; }

    public ToolResult Run(byte[]? stdin, params string[] args) =>
        Tools.Run("gpg", ["--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "", .. args], stdin, Home,
            new Dictionary<string, string> { ["GNUPGHOME"] = Home });

    public void Import(byte[] key)
    {
        var result = Run(key, "--import");
        Assert.True(result.ExitCode == 0, result.Stderr);
    }

    public void Dispose()
    {
        Tools.Run("gpgconf", ["--kill", "all"], null, Home, new Dictionary<string, string> { ["GNUPGHOME"] = Home });
        try
        {
            Directory.Delete(Home, recursive: true);
        }
        catch (IOException)
        {
            // a socket may linger for a moment after the agent exits
        }
    }
}
