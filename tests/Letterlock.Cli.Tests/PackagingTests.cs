using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Letterlock.Cli.Tests;

/// <summary>
/// The systemd units shipped in the release (packaging/systemd), checked offline with the real
/// systemd-analyze: the machine need not run systemd as PID 1.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed partial class PackagingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("letterlock-packaging-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Unit(string name) => Path.Combine(RepositoryRoot(), "packaging", "systemd", name);

    /// <summary>The built `letterlock` executable next to the tests, standing in for /opt/letterlock/letterlock.</summary>
    private static string Executable()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "letterlock");
        Assert.True(File.Exists(path), $"no letterlock executable in {AppContext.BaseDirectory}");
        return path;
    }

    [Fact]
    public void Provider_unit_passes_systemd_analyze_verify()
    {
        var result = VerifySystemUnit(File.ReadAllText(Unit("letterlock-provider.service")));
        Assert.True(result.ExitCode == 0 && result.Stderr.Length == 0, result.Stderr);
    }

    [Fact]
    public void Verify_reports_a_broken_unit()
    {
        // The check above can fail: a misspelt directive and a bad value are reported.
        string broken = File.ReadAllText(Unit("letterlock-provider.service"))
            .Replace("Type=exec", "Type=exce", StringComparison.Ordinal)
            .Replace("NoNewPrivileges=yes", "NoNewPrivilege=yes", StringComparison.Ordinal);
        var result = VerifySystemUnit(broken);
        Assert.Contains("Failed to parse service type", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("NoNewPrivilege", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Provider_unit_runs_as_its_own_user_with_one_capability_and_scores_ok()
    {
        var directives = Directives(File.ReadAllText(Unit("letterlock-provider.service")));
        Assert.Equal("letterlock", directives["User"]);
        Assert.Equal("letterlock", directives["StateDirectory"]);
        Assert.Equal("CAP_NET_BIND_SERVICE", directives["AmbientCapabilities"]);
        Assert.Equal("CAP_NET_BIND_SERVICE", directives["CapabilityBoundingSet"]);
        Assert.Equal("strict", directives["ProtectSystem"]);
        Assert.Equal("yes", directives["NoNewPrivileges"]);
        Assert.Contains("--data /var/lib/letterlock", directives["ExecStart"], StringComparison.Ordinal);

        var result = Run("systemd-analyze", ["security", "--offline=yes", Unit("letterlock-provider.service")]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        var score = ExposureLine().Match(result.Stdout);
        Assert.True(score.Success, result.Stdout);
        // systemd's scale: 0 (locked down) to 10 (unprotected); below 2 is "OK". What remains is what a
        // mail server needs: network access and binding ports below 1024.
        Assert.True(double.Parse(score.Groups[1].Value, CultureInfo.InvariantCulture) < 2.0, score.Value);
        foreach (var setting in new[] { "NoNewPrivileges=", "ProtectSystem=", "ProtectHome=", "PrivateTmp=", "PrivateDevices=",
            "ProtectKernelTunables=", "ProtectKernelModules=", "ProtectControlGroups=", "RestrictNamespaces=~user",
            "MemoryDenyWriteExecute=", "SystemCallFilter=~@privileged", "RestrictSUIDSGID=", "LockPersonality=", "UMask=" })
        {
            Assert.Contains(result.Stdout.Split('\n'), line => line.StartsWith("✓ " + setting, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Bridge_user_unit_passes_systemd_analyze_verify()
    {
        // A user manager cannot take --root, so the unit is verified with the executable's path
        // replaced by the built one; nothing else is changed.
        string runtime = Directory.CreateDirectory(Path.Combine(_dir, "run")).FullName;
        string unit = Path.Combine(_dir, "letterlock-bridge.service");
        File.WriteAllText(unit, File.ReadAllText(Unit("letterlock-bridge.service"))
            .Replace("/opt/letterlock/letterlock", Executable(), StringComparison.Ordinal));
        var result = Run("systemd-analyze", ["--user", "verify", unit], new() { ["XDG_RUNTIME_DIR"] = runtime });
        Assert.True(result.ExitCode == 0 && result.Stderr.Length == 0, result.Stderr);
        Assert.Contains("--key-file", Directives(File.ReadAllText(unit))["ExecStart"], StringComparison.Ordinal);
    }

    [Fact]
    public void Sysusers_file_creates_the_service_user()
    {
        var result = Run("systemd-sysusers", ["--dry-run", "--root=" + _dir, Unit("letterlock.sysusers.conf")]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("Creating user 'letterlock'", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// Runs `systemd-analyze verify --root` on a system unit, in a root with the distribution's units
    /// (for the targets it names) and the built executable at /opt/letterlock/letterlock.
    /// </summary>
    private (int ExitCode, string Stdout, string Stderr) VerifySystemUnit(string unitText)
    {
        string root = Directory.CreateDirectory(Path.Combine(_dir, "root-" + Guid.NewGuid().ToString("N"))).FullName;
        foreach (var file in Directory.EnumerateFiles("/usr/lib/systemd/system"))
        {
            string target = Path.Combine(root, "usr", "lib", "systemd", "system", Path.GetFileName(file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (new FileInfo(file).LinkTarget is null)
            {
                File.Copy(file, target);
            }
        }

        Directory.CreateDirectory(Path.Combine(root, "opt", "letterlock"));
        File.Copy(Executable(), Path.Combine(root, "opt", "letterlock", "letterlock"));
        Directory.CreateDirectory(Path.Combine(root, "etc", "systemd", "system"));
        File.WriteAllText(Path.Combine(root, "etc", "systemd", "system", "letterlock-provider.service"), unitText);
        return Run("systemd-analyze", ["verify", "--root=" + root, "/etc/systemd/system/letterlock-provider.service"]);
    }

    private static Dictionary<string, string> Directives(string unit)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in unit.Split('\n'))
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && !line.StartsWith('#'))
            {
                result[line[..eq].Trim()] = line[(eq + 1)..].Trim();
            }
        }

        return result;
    }

    private static (int ExitCode, string Stdout, string Stderr) Run(string file, string[] args, Dictionary<string, string>? env = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? [])
        {
            info.Environment[k] = v;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), $"{file} did not finish");
        return (process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Letterlock.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Letterlock.slnx not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"Overall exposure level for letterlock-provider\.service: ([0-9.]+)")]
    private static partial Regex ExposureLine();
}
