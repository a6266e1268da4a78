using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;

namespace Letterlock.Relay.Tests.Peers;

/// <summary>
/// A private Postfix (Debian's package) on a free loopback port with its own configuration, spool, data folder
/// and log (PEERS.md): a receiving MTA that stores mail for <c>sink.test</c> in a Maildir, optionally with
/// STARTTLS, and able to relay chosen domains to other loopback servers. Stopped and deleted on dispose.
/// </summary>
internal sealed class PostfixInstance : IAsyncDisposable
{
    private readonly TempDir _dir;

    private PostfixInstance(TempDir dir, int port)
    {
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    public string Directory => _dir.Path;

    public string MaildirNew => Path.Combine(_dir.Path, "vmail", "sink", "Maildir", "new");

    public string Log => File.Exists(_dir.File("maillog")) ? File.ReadAllText(_dir.File("maillog")) : string.Empty;

    /// <summary>Starts Postfix.</summary>
    /// <param name="certificate">Server certificate with key for STARTTLS; null for none.</param>
    /// <param name="chain">Further certificates to send after it (e.g. the CA, for DANE-TA).</param>
    /// <param name="transports">Domain to next hop (<c>[127.0.0.1]:port</c>) for relaying.</param>
    /// <param name="extraMainCf">More main.cf lines.</param>
    public static async Task<PostfixInstance> StartAsync(X509Certificate2? certificate = null, IEnumerable<X509Certificate2>? chain = null, IReadOnlyDictionary<string, string>? transports = null, string? extraMainCf = null)
    {
        var dir = new TempDir("letterlock-postfix-");
        try
        {
            // postfix processes run as the postfix user and must be able to reach their files
            File.SetUnixFileMode(dir.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            foreach (string sub in new[] { "etc", "spool", "lib", "vmail" })
            {
                System.IO.Directory.CreateDirectory(dir.File(sub));
            }

            await Tools.RunAsync("chown", ["postfix", dir.File("lib")]);
            await Tools.RunAsync("chown", ["8:8", dir.File("vmail")]);
            int port = LoopbackPort.Free();
            var main = new StringBuilder($"""
                compatibility_level = 3.6
                queue_directory = {dir.File("spool")}
                data_directory = {dir.File("lib")}
                maillog_file = {dir.File("maillog")}
                maillog_file_prefixes = /var, /dev/stdout, {dir.Path}
                inet_interfaces = 127.0.0.1
                inet_protocols = ipv4
                myhostname = mx.sink.test
                mydestination =
                mynetworks = 127.0.0.0/8
                alias_maps =
                alias_database =
                smtpd_peername_lookup = no
                virtual_mailbox_domains = sink.test
                virtual_mailbox_base = {dir.File("vmail")}
                virtual_mailbox_maps = static:sink/Maildir/
                virtual_uid_maps = static:8
                virtual_gid_maps = static:8
                virtual_minimum_uid = 8
                virtual_mailbox_limit = 0
                message_size_limit = 0
                smtpd_client_connection_count_limit = 0
                smtpd_client_connection_rate_limit = 0
                default_process_limit = 100
                smtp_tls_security_level = may
                smtp_dns_support_level = disabled

                """);
            if (certificate is not null)
            {
                string chainFile = dir.File("chain.pem");
                var pem = new StringBuilder(TestCa.KeyPem(certificate)).Append(TestCa.CertificatePem(certificate));
                foreach (var extra in chain ?? [])
                {
                    pem.Append(TestCa.CertificatePem(extra));
                }

                await File.WriteAllTextAsync(chainFile, pem.ToString());
                main.AppendLine("smtpd_tls_security_level = may");
                main.AppendLine($"smtpd_tls_chain_files = {chainFile}");
                main.AppendLine("smtpd_tls_received_header = yes");
                main.AppendLine("smtpd_tls_loglevel = 1");
            }

            if (transports is { Count: > 0 })
            {
                await File.WriteAllLinesAsync(dir.File("etc/transport"), transports.Select(t => $"{t.Key} smtp:{t.Value}"));
                main.AppendLine($"transport_maps = texthash:{dir.File("etc/transport")}");
                main.AppendLine($"relay_domains = {string.Join(", ", transports.Keys)}");
            }

            if (extraMainCf is not null)
            {
                main.AppendLine(extraMainCf);
            }

            await File.WriteAllTextAsync(dir.File("etc/main.cf"), LastEntryWins(main.ToString()));
            await File.WriteAllTextAsync(dir.File("etc/master.cf"), $"""
                127.0.0.1:{port} inet n - n - - smtpd
                pickup    unix  n       -       n       60      1       pickup
                cleanup   unix  n       -       n       -       0       cleanup
                qmgr      unix  n       -       n       300     1       qmgr
                tlsmgr    unix  -       -       n       1000?   1       tlsmgr
                rewrite   unix  -       -       n       -       -       trivial-rewrite
                bounce    unix  -       -       n       -       0       bounce
                defer     unix  -       -       n       -       0       bounce
                trace     unix  -       -       n       -       0       bounce
                verify    unix  -       -       n       -       1       verify
                flush     unix  n       -       n       1000?   0       flush
                proxymap  unix  -       -       n       -       -       proxymap
                proxywrite unix -       -       n       -       1       proxymap
                smtp      unix  -       -       n       -       -       smtp
                relay     unix  -       -       n       -       -       smtp
                showq     unix  n       -       n       -       -       showq
                error     unix  -       -       n       -       -       error
                retry     unix  -       -       n       -       -       error
                discard   unix  -       -       n       -       -       discard
                virtual   unix  -       n       n       -       -       virtual
                anvil     unix  -       -       n       -       1       anvil
                scache    unix  -       -       n       -       1       scache
                postlog   unix-dgram n  -       n       -       1       postlogd

                """);
            var started = await Tools.RunAsync("postfix", ["-c", dir.File("etc"), "start"]);
            if (started.ExitCode != 0)
            {
                string log = File.Exists(dir.File("maillog")) ? await File.ReadAllTextAsync(dir.File("maillog")) : "";
                throw new InvalidOperationException($"postfix did not start: {started}\n{log}");
            }

            var instance = new PostfixInstance(dir, port);
            await instance.WaitForGreetingAsync();
            return instance;
        }
        catch
        {
            await Tools.RunAsync("postfix", ["-c", dir.File("etc"), "abort"]);
            dir.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Keeps only the last setting of each parameter. Postfix warns about an overridden entry in every process it
    /// starts, and with logging through postlogd those warnings can fill the logging socket before postlogd reads
    /// it: the whole instance then blocks (seen with a relay instance overriding three defaults).
    /// </summary>
    private static string LastEntryWins(string mainCf)
    {
        // a logical line is a line starting in column one with its indented continuation lines (postconf(5))
        var logical = new List<(string Key, string Text)>();
        foreach (string line in mainCf.Split('\n'))
        {
            if (line.Length > 0 && char.IsWhiteSpace(line[0]) && line.Trim().Length > 0 && logical.Count > 0)
            {
                logical[^1] = (logical[^1].Key, logical[^1].Text + "\n" + line);
                continue;
            }

            int equals = line.IndexOf('=', StringComparison.Ordinal);
            string key = equals > 0 && !line.StartsWith('#') ? line[..equals].Trim() : string.Empty;
            logical.Add((key, line));
        }

        var last = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < logical.Count; i++)
        {
            if (logical[i].Key.Length > 0)
            {
                last[logical[i].Key] = i;
            }
        }

        return string.Join('\n', logical.Where((entry, i) => entry.Key.Length == 0 || last[entry.Key] == i).Select(entry => entry.Text));
    }

    /// <summary>
    /// Waits until Postfix's log matches <paramref name="pattern"/>. Postfix logs through postlogd, and a daemon logs
    /// a result (<c>status=sent</c>, the TLS session) after the peer has seen it: the message can be in the next hop's
    /// inbox before the line is in the file, so a test reads the log only through this.
    /// </summary>
    /// <returns>The log as it was when it matched.</returns>
    /// <exception cref="TimeoutException">No match within <paramref name="timeout"/>; the message carries the log.</exception>
    public async Task<string> WaitForLogAsync(Regex pattern, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            string log = Log;
            if (pattern.IsMatch(log))
            {
                return log;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Postfix's log did not match /{pattern}/ within {timeout.TotalSeconds:F0} s; log:\n{log}");
            }

            await Task.Delay(100);
        }
    }

    /// <inheritdoc cref="WaitForLogAsync(Regex, TimeSpan)"/>
    public Task<string> WaitForLogAsync(string pattern, TimeSpan timeout) => WaitForLogAsync(new Regex(pattern, RegexOptions.CultureInvariant), timeout);

    /// <summary>The files delivered to the sink Maildir so far.</summary>
    public IReadOnlyList<byte[]> DeliveredMessages() =>
        System.IO.Directory.Exists(MaildirNew) ? System.IO.Directory.GetFiles(MaildirNew).Select(File.ReadAllBytes).ToList() : [];

    public async Task<IReadOnlyList<byte[]>> WaitForDeliveriesAsync(int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (DateTime.UtcNow < deadline)
        {
            var delivered = DeliveredMessages();
            if (delivered.Count >= count)
            {
                return delivered;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"Postfix delivered {DeliveredMessages().Count} of {count} messages; log:\n{Log}");
    }

    private async Task WaitForGreetingAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                using var reader = new StreamReader(client.GetStream());
                string? line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
                if (line?.StartsWith("220", StringComparison.Ordinal) == true)
                {
                    return;
                }
            }
            catch (Exception e) when (e is SocketException or IOException or TimeoutException)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"postfix never greeted; log:\n{Log}");
                }
            }

            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        string pidFile = _dir.File("spool/pid/master.pid");
        await Tools.RunAsync("postfix", ["-c", _dir.File("etc"), "stop"]);
        // wait for the master to go away so no process keeps files in the folder
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (File.Exists(pidFile) && DateTime.UtcNow < deadline)
        {
            string text = (await File.ReadAllTextAsync(pidFile)).Trim();
            if (!int.TryParse(text, out int pid) || !System.IO.Directory.Exists($"/proc/{pid}"))
            {
                break;
            }

            await Task.Delay(100);
        }

        _dir.Dispose();
    }
}
