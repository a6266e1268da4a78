using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;

namespace Letterlock.Provider.Tests;

/// <summary>
/// Debian's pebble (Let's Encrypt's ACME test server) with pebble-challtestsrv as its DNS server answering every
/// name with 127.0.0.1, so its validation authority reaches the provider under test on the challenge ports given.
/// Its own HTTPS certificate comes from a CA made here (pebble's test CA is not packaged); nothing skips validation.
/// </summary>
public sealed class Pebble : IAsyncDisposable
{
    private readonly Process _pebble;
    private readonly Process _dns;

    private Pebble(string directory, Process pebble, Process dns, int acmePort, int managementPort)
    {
        Folder = directory;
        _pebble = pebble;
        _dns = dns;
        DirectoryUrl = new Uri($"https://127.0.0.1:{acmePort}/dir");
        ManagementPort = managementPort;
    }

    /// <summary>The folder of its configuration and CA.</summary>
    public string Folder { get; }

    public Uri DirectoryUrl { get; }

    public int ManagementPort { get; }

    /// <summary>The CA of pebble's own HTTPS listener (what acme.caBundle names).</summary>
    public string CaBundlePath => Path.Combine(Folder, "minica.pem");

    /// <summary>Starts pebble validating HTTP-01 on <paramref name="httpPort"/> and TLS-ALPN-01 on <paramref name="tlsPort"/>.</summary>
    /// <param name="nonceRejectPercent">The share of good nonces pebble refuses as badNonce.</param>
    public static async Task<Pebble> StartAsync(int httpPort, int tlsPort, int nonceRejectPercent = 0)
    {
        string directory = Path.Combine(Path.GetTempPath(), "letterlock-pebble-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        WriteCertificates(directory);
        int acmePort = FreePort(), managementPort = FreePort(), dnsPort = FreePort();
        var config = new JsonObject
        {
            ["pebble"] = new JsonObject
            {
                ["listenAddress"] = $"127.0.0.1:{acmePort}",
                ["managementListenAddress"] = $"127.0.0.1:{managementPort}",
                ["certificate"] = Path.Combine(directory, "cert.pem"),
                ["privateKey"] = Path.Combine(directory, "key.pem"),
                ["httpPort"] = httpPort,
                ["tlsPort"] = tlsPort,
                ["ocspResponderURL"] = "",
                ["externalAccountBindingRequired"] = false,
            },
        };
        await File.WriteAllTextAsync(Path.Combine(directory, "pebble.json"), config.ToJsonString());

        var dns = Start("pebble-challtestsrv", ["-dns01", $"127.0.0.1:{dnsPort}", "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", $"127.0.0.1:{FreePort()}", "-defaultIPv6", ""], []);
        var pebble = Start("pebble", ["-config", Path.Combine(directory, "pebble.json"), "-dnsserver", $"127.0.0.1:{dnsPort}", "-strict=false"],
            new() { ["PEBBLE_VA_NOSLEEP"] = "1", ["PEBBLE_WFE_NONCEREJECT"] = nonceRejectPercent.ToString(System.Globalization.CultureInfo.InvariantCulture), ["PEBBLE_AUTHZREUSE"] = "0" });
        var started = new Pebble(directory, pebble, dns, acmePort, managementPort);
        try
        {
            await Task.WhenAll(WaitForPortAsync(acmePort, pebble), WaitForPortAsync(dnsPort, dns));
        }
        catch
        {
            await started.DisposeAsync();
            throw;
        }

        return started;
    }

    /// <summary>Pebble's issuing root (GET /roots/0 of its management interface), to check a chain with.</summary>
    public async Task<X509Certificate2> RootAsync()
    {
        using var http = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } });
        return X509Certificate2.CreateFromPem(await http.GetStringAsync(new Uri($"https://127.0.0.1:{ManagementPort}/roots/0")));
    }

    /// <summary>A loopback TCP port free right now (pebble's challenge ports must be known before anything listens on them).</summary>
    public static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    private static Process Start(string file, string[] arguments, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Waits until the process listens (a TCP connect succeeds; challtestsrv opens DNS on TCP and UDP together), bounded only against a hang.</summary>
    private static async Task WaitForPortAsync(int port, Process process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{process.StartInfo.FileName} exited with {process.ExitCode}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    private static void WriteCertificates(string directory)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=letterlock test minica", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = request.Create(ca, now.AddDays(-1), now.AddDays(29), RandomNumberGenerator.GetBytes(12));
        File.WriteAllText(Path.Combine(directory, "minica.pem"), ca.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(directory, "cert.pem"), leaf.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(directory, "key.pem"), key.ExportECPrivateKeyPem() + "\n");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in new[] { _pebble, _dns })
        {
            try
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            catch (InvalidOperationException)
            {
                // already gone
            }

            process.Dispose();
        }

        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // a temp folder
        }
    }
}
