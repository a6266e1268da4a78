using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using Letterlock.Cli.Commands;

namespace Letterlock.Cli.Tests.Thunderbird;

/// <summary>The Thunderbird add-on as <c>letterlock bridge addon</c> writes it, and its parser's rules (run by node).</summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class ThunderbirdAddonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("letterlock-addon-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static string RepositoryRoot()
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

    private static Task<CliRun> Run(params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync(args, output, error));

    [Fact]
    public async Task Addon_command_writes_the_repository_add_on_byte_for_byte_and_the_same_bytes_every_time()
    {
        string xpi = Path.Combine(_dir, "letterlock.xpi");
        var (code, output, error) = await Run("bridge", "addon", "--out", xpi);
        Assert.True(code == 0, error);
        Assert.Contains("Install Add-on From File", output, StringComparison.Ordinal);
        Assert.False(File.Exists(xpi + ".tmp"));

        string source = Path.Combine(RepositoryRoot(), "clients", "thunderbird");
        var expected = Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(source, f).Replace('\\', '/'))
            .Where(p => !p.StartsWith("test/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
        await using (var zip = await ZipFile.OpenReadAsync(xpi))
        {
            Assert.Equal(expected, zip.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal));
            foreach (var entry in zip.Entries)
            {
                await using var stream = await entry.OpenAsync();
                using var copy = new MemoryStream();
                await stream.CopyToAsync(copy);
                Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(source, entry.FullName)), copy.ToArray());
            }

            // Every file the manifest names is in the package, and the id is the one a profile installs it under.
            await using var manifestStream = await zip.GetEntry("manifest.json")!.OpenAsync();
            using var manifest = await JsonDocument.ParseAsync(manifestStream);
            var root = manifest.RootElement;
            Assert.Equal(BridgeAddonCommand.AddonId, root.GetProperty("browser_specific_settings").GetProperty("gecko").GetProperty("id").GetString());
            var named = root.GetProperty("background").GetProperty("scripts").EnumerateArray().Select(s => s.GetString()!).ToList();
            var action = root.GetProperty("message_display_action");
            named.Add(action.GetProperty("default_popup").GetString()!);
            named.Add(action.GetProperty("default_icon").GetString()!);
            named.AddRange(["icons/green.svg", "icons/amber.svg", "icons/red.svg", "icons/grey.svg", "popup.js", "popup.css"]);
            Assert.All(named, n => Assert.NotNull(zip.GetEntry(n)));
            Assert.Equal(["messagesRead"], root.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()));
        }

        // Nothing in the add-on evaluates code or reaches the network.
        foreach (var file in expected.Where(p => p.EndsWith(".js", StringComparison.Ordinal) || p.EndsWith(".html", StringComparison.Ordinal)))
        {
            string text = await File.ReadAllTextAsync(Path.Combine(source, file));
            foreach (var banned in new[] { "eval(", "new Function", "fetch(", "XMLHttpRequest", "innerHTML", "http://", "https://", "import(" })
            {
                Assert.False(text.Contains(banned, StringComparison.Ordinal), $"{file} contains {banned}");
            }
        }

        string again = Path.Combine(_dir, "again.xpi");
        Assert.Equal(0, (await Run("bridge", "addon", "--out", again)).Code);
        Assert.Equal(await File.ReadAllBytesAsync(xpi), await File.ReadAllBytesAsync(again));
    }

    [Fact]
    public async Task Addon_command_needs_a_writable_out_file()
    {
        var (code, _, error) = await Run("bridge", "addon");
        Assert.NotEqual(0, code);
        Assert.Contains("--out", error, StringComparison.Ordinal);

        string missing = Path.Combine(_dir, "no-such-folder", "letterlock.xpi");
        (code, _, error) = await Run("bridge", "addon", "--out", missing);
        Assert.Equal(3, code);
        Assert.Contains($"cannot write {missing}", error, StringComparison.Ordinal);

        var (helpCode, help, _) = await Run("bridge", "addon", "--help");
        Assert.Equal(0, helpCode);
        Assert.Contains("Examples:", help, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Parser_rules_hold_under_node()
    {
        string tests = Path.Combine(RepositoryRoot(), "clients", "thunderbird", "test");
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("--test");
        start.ArgumentList.Add(tests);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("node is not installed (scripts/install-test-deps installs Debian's nodejs)", e);
        }

        using (process)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            string output = await stdout + await stderr;
            Assert.True(process.ExitCode == 0, output);
            Assert.Contains("# fail 0", output, StringComparison.Ordinal);
            Assert.DoesNotContain("# pass 0", output, StringComparison.Ordinal);
        }
    }
}
