using System.Text;
using System.Text.Json;

namespace Letterlock.Relay.Tests.Peers;

/// <summary>Independent DKIM verifiers from Debian: python3-dkim (dkimpy) and OpenDKIM's opendkim-testmsg.</summary>
internal static class DkimVerifiers
{
    private static string PeersDir => Path.Combine(AppContext.BaseDirectory, "Peers");

    /// <summary>Runs dkimpy over every signature; the key records come from <paramref name="txtRecords"/>.</summary>
    public static async Task<ProcessResult> PythonDkimAsync(byte[] message, IReadOnlyDictionary<string, string> txtRecords)
    {
        using var dir = new TempDir("letterlock-dkimpy-");
        await File.WriteAllTextAsync(dir.File("keys.json"), JsonSerializer.Serialize(txtRecords.ToDictionary(k => k.Key.ToLowerInvariant(), k => k.Value)));
        return await Tools.RunAsync(Tools.Python, [Path.Combine(PeersDir, "dkim_verify.py"), dir.File("keys.json")], message);
    }

    /// <summary>
    /// Runs opendkim-testmsg in verify mode. It asks DNS for the key, so it runs in a private network and
    /// mount namespace (unshare) where /etc/resolv.conf points at a small DNS server answering from
    /// <paramref name="txtRecords"/>; nothing outside the namespace is touched.
    /// </summary>
    public static async Task<ProcessResult> OpenDkimAsync(byte[] message, IReadOnlyDictionary<string, string> txtRecords)
    {
        using var dir = new TempDir("letterlock-opendkim-");
        var zone = txtRecords.ToDictionary(k => k.Key.ToLowerInvariant(), k => new[] { k.Value });
        await File.WriteAllTextAsync(dir.File("zone.json"), JsonSerializer.Serialize(zone));
        await File.WriteAllTextAsync(dir.File("resolv.conf"), "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n");
        await File.WriteAllBytesAsync(dir.File("message"), message);
        string script = $"""
            set -e
            ip link set lo up
            mount --bind '{dir.File("resolv.conf")}' /etc/resolv.conf
            {Tools.Python} '{Path.Combine(PeersDir, "dns_server.py")}' '{dir.File("zone.json")}' '{dir.File("ready")}' &
            dns=$!
            i=0
            while [ ! -e '{dir.File("ready")}' ]; do i=$((i+1)); [ $i -gt 600 ] && exit 97; sleep 0.1; done
            set +e
            opendkim-testmsg -t '{dir.Path}' < '{dir.File("message")}'
            rc=$?
            kill $dns
            exit $rc
            """;
        return await Tools.RunAsync("unshare", ["--mount", "--net", "sh", "-c", script]);
    }

    /// <summary>The message with only the <paramref name="keep"/>-th DKIM-Signature header (0-based) left.</summary>
    public static byte[] KeepOnlySignature(byte[] message, int keep)
    {
        string text = Encoding.ASCII.GetString(message);
        int headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var lines = text[..headerEnd].Split("\r\n");
        var fields = new List<string>();
        foreach (string line in lines)
        {
            if (line.Length > 0 && (line[0] == ' ' || line[0] == '\t') && fields.Count > 0)
            {
                fields[^1] += "\r\n" + line;
            }
            else
            {
                fields.Add(line);
            }
        }

        int index = 0;
        var kept = fields.Where(f =>
        {
            if (!f.StartsWith("DKIM-Signature:", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            return index++ == keep;
        });
        return Encoding.ASCII.GetBytes(string.Join("\r\n", kept) + text[headerEnd..]);
    }
}
