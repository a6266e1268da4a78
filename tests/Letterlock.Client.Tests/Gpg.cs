using System.Diagnostics;
using System.Text;

namespace Letterlock.Client.Tests;

/// <summary>Real GnuPG with a private GNUPGHOME, removed (and its agent stopped) afterwards.</summary>
internal sealed class Gpg : IDisposable
{
    public Gpg()
    {
        Home = Path.Combine(Path.GetTempPath(), "llgpg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public string Home { get; }

    public async Task<(int Code, byte[] Stdout, string Stderr)> RunAsync(byte[]? stdin, params string[] args)
    {
        var start = new ProcessStartInfo("gpg")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--homedir", Home, "--batch", "--yes", "--no-tty", "--trust-model", "always", "--pinentry-mode", "loopback", "--passphrase", "" }.Concat(args))
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var output = new MemoryStream();
        var copyOut = process.StandardOutput.BaseStream.CopyToAsync(output);
        var readErr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        await copyOut;
        var stderr = await readErr;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, output.ToArray(), stderr);
    }

    /// <summary>Generates an Ed25519/Cv25519 key and returns its fingerprint.</summary>
    public async Task<string> GenerateAsync(string userId)
    {
        var (code, _, err) = await RunAsync(null, "--quick-gen-key", userId, "future-default", "default", "never");
        Assert.True(code == 0, err);
        var (_, list, _) = await RunAsync(null, "--with-colons", "--list-keys", userId);
        return Encoding.ASCII.GetString(list).Split('\n').First(l => l.StartsWith("fpr:", StringComparison.Ordinal)).Split(':')[9];
    }

    public async Task<byte[]> ExportAsync(string userId)
    {
        var (code, output, err) = await RunAsync(null, "--export", userId);
        Assert.True(code == 0 && output.Length > 0, err);
        return output;
    }

    public async Task ImportAsync(byte[] key)
    {
        var (code, _, err) = await RunAsync(key, "--import");
        Assert.True(code == 0, err);
    }

    public void Dispose()
    {
        try
        {
            using var kill = Process.Start(new ProcessStartInfo("gpgconf", ["--homedir", Home, "--kill", "all"]) { UseShellExecute = false, RedirectStandardError = true });
            kill?.WaitForExit(10_000);
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }

        try
        {
            Directory.Delete(Home, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
