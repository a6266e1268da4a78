using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Letterlock.Relay.Tests.Peers;

/// <summary>One event the raw peer logged: a connection (with the peer's address), a command line, a message, an end.</summary>
internal sealed record PeerEvent(int Session, string Event, string? Peer, string? Line, string? Via, byte[]? Data, string? After, string? How);

/// <summary>
/// An SMTP server written in plain Python sockets (Peers/smtp_peer.py), independent of Letterlock's engine and of
/// MailKit: it offers exactly the extensions a test names, refuses the recipients it is told to, and logs what the
/// client sent on the wire, the client's address as the server sees it and how each session ended (a TLS close with
/// close_notify or a bare TCP close).
/// </summary>
internal sealed class RawSmtpPeer : IDisposable
{
    private readonly Process _process;
    private readonly TempDir _dir;

    private RawSmtpPeer(Process process, TempDir dir)
    {
        _process = process;
        _dir = dir;
    }

    public int Port { get; private set; }

    public static async Task<RawSmtpPeer> StartAsync(IEnumerable<string> capabilities, X509Certificate2? certificate = null, IReadOnlyDictionary<string, string>? refuse = null)
    {
        var dir = new TempDir("letterlock-rawpeer-");
        var config = new JsonObject
        {
            ["caps"] = new JsonArray([.. capabilities.Select(c => JsonValue.Create(c))]),
            ["refuse"] = new JsonObject((refuse ?? new Dictionary<string, string>()).Select(r => KeyValuePair.Create(r.Key, (JsonNode?)JsonValue.Create(r.Value)))),
        };
        if (certificate is not null)
        {
            await File.WriteAllTextAsync(dir.File("cert.pem"), TestCa.CertificatePem(certificate));
            await File.WriteAllTextAsync(dir.File("key.pem"), TestCa.KeyPem(certificate));
            config["cert"] = dir.File("cert.pem");
            config["key"] = dir.File("key.pem");
        }

        await File.WriteAllTextAsync(dir.File("config.json"), config.ToJsonString());
        var info = new ProcessStartInfo(Tools.Python) { UseShellExecute = false, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Peers", "smtp_peer.py"));
        info.ArgumentList.Add("server");
        info.ArgumentList.Add(dir.Path);
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start the raw SMTP peer");
        var peer = new RawSmtpPeer(process, dir);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!File.Exists(dir.File("port")))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                peer.Dispose();
                throw new InvalidOperationException("the raw SMTP peer did not start: " + (process.HasExited ? await process.StandardError.ReadToEndAsync() : "timeout"));
            }

            await Task.Delay(20);
        }

        peer.Port = int.Parse(await File.ReadAllTextAsync(dir.File("port")), System.Globalization.CultureInfo.InvariantCulture);
        return peer;
    }

    /// <summary>Everything logged so far, in order.</summary>
    public IReadOnlyList<PeerEvent> Events()
    {
        string path = _dir.File("log.jsonl");
        if (!File.Exists(path))
        {
            return [];
        }

        var events = new List<PeerEvent>();
        foreach (string line in File.ReadAllLines(path).Where(l => l.EndsWith('}')))
        {
            var e = JsonNode.Parse(line)!;
            events.Add(new PeerEvent(
                (int)e["session"]!,
                (string)e["event"]!,
                (string?)e["peer"],
                (string?)e["line"],
                (string?)e["via"],
                e["data"] is { } data ? Convert.FromBase64String((string)data!) : null,
                (string?)e["after"],
                (string?)e["how"]));
        }

        return events;
    }

    /// <summary>Waits (bounded, for a hang only) until an event matches.</summary>
    public async Task<PeerEvent> WaitForAsync(Func<PeerEvent, bool> match, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (Events().FirstOrDefault(match) is { } found)
            {
                return found;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"the raw SMTP peer never logged {what}: {string.Join(" | ", Events().Select(e => $"{e.Event} {e.Line}{e.How}"))}");
    }

    /// <summary>The command lines of one session.</summary>
    public IReadOnlyList<string> Commands(int session) =>
        Events().Where(e => e.Session == session && e.Event == "command").Select(e => e.Line!).ToList();

    /// <summary>Runs the Python client against an SMTP server: EHLO, STARTTLS, EHLO, QUIT; returns how the server ended TLS.</summary>
    public static async Task<string> HowServerEndsTlsAsync(int port)
    {
        var result = await Tools.RunAsync(Tools.Python, [Path.Combine(AppContext.BaseDirectory, "Peers", "smtp_peer.py"), "client", "127.0.0.1", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(result.ExitCode == 0, result.ToString());
        var json = JsonNode.Parse(result.StandardOutput)!;
        Assert.StartsWith("221", (string?)json["quit"] ?? string.Empty, StringComparison.Ordinal);
        return (string)json["how"]!;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        _dir.Dispose();
    }
}
