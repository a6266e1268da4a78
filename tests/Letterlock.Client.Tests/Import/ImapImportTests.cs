using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using Letterlock.Client.Import;
using Letterlock.Client.Store;
using Letterlock.Sandbox;

namespace Letterlock.Client.Tests.Import;

/// <summary>
/// Import from a remote IMAP account: a private Dovecot (TLS with a private CA) holding a Maildir tree of the corpus;
/// a server that lies or dies in the middle of a FETCH; one that cannot be reached; one whose certificate is not trusted.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class ImapImportTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private LocalStore _store = null!;
    private AccountRecord _alice = null!;

    public async Task InitializeAsync()
    {
        _store = await TestStores.Create(_dir);
        _alice = await _store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
    }

    public Task DisposeAsync()
    {
        _store.Dispose();
        _dir.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_dovecot_account_arrives_exactly_with_folders_flags_and_internal_dates_over_verified_tls_and_twice_imports_nothing()
    {
        using var ca = LocalCertificateAuthority.Create("Import test CA");
        using var dovecot = await Dovecot.StartAsync(_dir, ca);
        var expected = ImportCorpus.WriteMaildir(dovecot.Maildir, ImportCorpus.Messages(150), onlyMaildirPlusPlus: true);
        dovecot.Own();
        var settings = new ImapSourceSettings("localhost", dovecot.Port, "alice", "alice-pass", ImapSourceTls.Implicit, [ca.Root]);
        var options = new ImportOptions { BatchSize = 40 };

        var report = await new MailImporter(_store, _alice.Id, options).ImportAsync(new ImapImportSource(settings, options));
        Assert.Empty(report.Refused);
        var distinct = expected.DistinctBy(e => (e.Folder, e.Hash)).ToList();
        Assert.Equal(distinct.Count, report.Imported);

        // Dovecot hands the corpus back as IMAP does (CRLF), with the Maildir flags as IMAP flags (a message in new/ is
        // \Recent there, which is not kept) and the file times as INTERNALDATE.
        var mail = _store.Mail(_alice.Id);
        var actual = new List<(string, string, string, DateTimeOffset)>();
        foreach (var folder in await mail.ListFoldersAsync())
        {
            foreach (var message in await mail.ListAsync(folder.Id))
            {
                actual.Add((folder.Name, Convert.ToHexString(SHA256.HashData((await mail.ReadBodyAsync(message.Id))!)),
                    string.Join(' ', message.Flags.Order(StringComparer.Ordinal)), message.Summary.InternalDate.ToUniversalTime()));
            }
        }

        Assert.Equal(distinct.Select(e => (e.Folder, e.Hash, string.Join(' ', e.Flags.Order(StringComparer.Ordinal)), e.Date)).Order().ToList(), actual.Order().ToList());

        var again = await new MailImporter(_store, _alice.Id, options).ImportAsync(new ImapImportSource(settings, options));
        Assert.Equal((0L, (long)expected.Count), (again.Imported, again.Duplicates));

        // The wrong password: a clear error that names the user and not the password.
        var wrong = await Assert.ThrowsAsync<ImportSourceException>(() => new MailImporter(_store, _alice.Id, options)
            .ImportAsync(new ImapImportSource(settings with { Password = "not-the-password" }, options)));
        Assert.True(wrong.Unreachable);
        Assert.Contains("refused the login of alice", wrong.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-password", wrong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_dies_in_the_middle_of_a_fetch_is_a_clear_error_and_nothing_is_half_imported()
    {
        using var ca = LocalCertificateAuthority.Create("Import test CA");
        await using var liar = new LyingServer(ca, LyingServer.Lie.CloseMidLiteral);
        var options = new ImportOptions();
        var settings = new ImapSourceSettings("localhost", liar.Port, "alice", "secret", ImapSourceTls.Implicit, [ca.Root]);
        var error = await Assert.ThrowsAsync<ImportSourceException>(() => new MailImporter(_store, _alice.Id, options).ImportAsync(new ImapImportSource(settings, options)));
        Assert.Contains("failed while fetching messages of INBOX", error.Message, StringComparison.Ordinal);
        Assert.Empty(await _store.Mail(_alice.Id).ListAsync((await _store.Mail(_alice.Id).FindFolderAsync("INBOX"))!.Id));
    }

    [Fact]
    public async Task A_server_that_sends_garbage_or_more_than_it_announced_is_refused_clearly()
    {
        using var ca = LocalCertificateAuthority.Create("Import test CA");
        await using (var liar = new LyingServer(ca, LyingServer.Lie.Garbage))
        {
            var options = new ImportOptions();
            var settings = new ImapSourceSettings("localhost", liar.Port, "alice", "secret", ImapSourceTls.Implicit, [ca.Root]);
            var error = await Assert.ThrowsAsync<ImportSourceException>(() => new MailImporter(_store, _alice.Id, options).ImportAsync(new ImapImportSource(settings, options)));
            Assert.Contains("the IMAP server localhost failed", error.Message, StringComparison.Ordinal);
        }

        await using (var liar = new LyingServer(ca, LyingServer.Lie.LargerThanAnnounced))
        {
            var options = new ImportOptions { MaxMessageBytes = 4096 };
            var settings = new ImapSourceSettings("localhost", liar.Port, "alice", "secret", ImapSourceTls.Implicit, [ca.Root]);
            var report = await new MailImporter(_store, _alice.Id, options).ImportAsync(new ImapImportSource(settings, options));
            Assert.Equal(1, report.Imported);
            Assert.Contains("4096 bytes (ImportOptions.MaxMessageBytes)", Assert.Single(report.Refused).Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_unreachable_server_and_an_untrusted_certificate_are_clear_errors()
    {
        var options = new ImportOptions { ImapTimeout = TimeSpan.FromSeconds(30) };
        using var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        int port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var unreachable = await Assert.ThrowsAsync<ImportSourceException>(() => new MailImporter(_store, _alice.Id, options)
            .ImportAsync(new ImapImportSource(new ImapSourceSettings("127.0.0.1", port, "alice", "secret"), options)));
        Assert.True(unreachable.Unreachable);
        Assert.Contains($"cannot connect to the IMAP server 127.0.0.1:{port}", unreachable.Message, StringComparison.Ordinal);

        using var ca = LocalCertificateAuthority.Create("Import test CA");
        await using var server = new LyingServer(ca, LyingServer.Lie.None);
        var untrusted = await Assert.ThrowsAsync<ImportSourceException>(() => new MailImporter(_store, _alice.Id, options)
            .ImportAsync(new ImapImportSource(new ImapSourceSettings("localhost", server.Port, "alice", "secret"), options)));
        Assert.Contains("did not present a certificate this client trusts (use --ca", untrusted.Message, StringComparison.Ordinal);
        using var otherCa = LocalCertificateAuthority.Create("Another CA");
        await Assert.ThrowsAsync<ImportSourceException>(() => new MailImporter(_store, _alice.Id, options)
            .ImportAsync(new ImapImportSource(new ImapSourceSettings("localhost", server.Port, "alice", "secret", TrustedRoots: [otherCa.Root]), options)));
    }

    /// <summary>A private Dovecot (Debian's dovecot-imapd) with implicit TLS on a free loopback port and one user, alice.</summary>
    private sealed class Dovecot : IDisposable
    {
        private readonly string _dir;

        private Dovecot(string dir, int port)
        {
            _dir = dir;
            Port = port;
        }

        public int Port { get; }

        public string Maildir => Path.Combine(_dir, "mail", "alice", "Maildir");

        public static async Task<Dovecot> StartAsync(TempDir temp, LocalCertificateAuthority ca)
        {
            var dir = temp.File("dovecot");
            Directory.CreateDirectory(Path.Combine(dir, "run"));
            Directory.CreateDirectory(Path.Combine(dir, "mail", "alice", "Maildir"));
            using var cert = ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
            await File.WriteAllTextAsync(Path.Combine(dir, "cert.pem"), cert.ExportCertificatePem());
            await File.WriteAllTextAsync(Path.Combine(dir, "key.pem"), cert.GetRSAPrivateKey() is { } rsa ? rsa.ExportPkcs8PrivateKeyPem() : cert.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            await File.WriteAllTextAsync(Path.Combine(dir, "passwd"), "alice:{PLAIN}alice-pass\n");
            int port = LoopbackPort.Free();
            await File.WriteAllTextAsync(Path.Combine(dir, "dovecot.conf"), $$"""
                protocols = imap
                listen = 127.0.0.1
                base_dir = {{dir}}/run
                state_dir = {{dir}}/run
                ssl = required
                ssl_cert = <{{dir}}/cert.pem
                ssl_key = <{{dir}}/key.pem
                auth_mechanisms = plain login
                mail_location = maildir:{{dir}}/mail/%u/Maildir:INDEX={{dir}}/index/%u
                mail_uid = mail
                mail_gid = mail
                first_valid_uid = 8
                log_path = {{dir}}/dovecot.log
                passdb {
                  driver = passwd-file
                  args = {{dir}}/passwd
                }
                userdb {
                  driver = static
                  args = uid=mail gid=mail home={{dir}}/mail/%u
                }
                service imap-login {
                  inet_listener imap {
                    port = 0
                  }
                  inet_listener imaps {
                    address = 127.0.0.1
                    port = {{port}}
                    ssl = yes
                  }
                }
                """);
            Directory.CreateDirectory(Path.Combine(dir, "index"));
            // Not redirected: the daemon it forks would hold the pipe open and the wait would never end.
            using var started = Process.Start(new ProcessStartInfo("dovecot", ["-c", Path.Combine(dir, "dovecot.conf")]))!;
            await started.WaitForExitAsync();
            Assert.True(started.ExitCode == 0, "dovecot did not start; see " + Path.Combine(dir, "dovecot.log"));
            var dovecot = new Dovecot(dir, port);
            // Wait until it accepts connections (bounded; a hang fails the test rather than the run).
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                try
                {
                    using var client = new TcpClient();
                    await client.ConnectAsync(IPAddress.Loopback, port);
                    break;
                }
                catch (SocketException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100);
                }
            }

            return dovecot;
        }

        /// <summary>Gives the mail to the mail user Dovecot runs as.</summary>
        public void Own()
        {
            using var chown = Process.Start("chown", ["-R", "mail:mail", Path.Combine(_dir, "mail"), Path.Combine(_dir, "index")])!;
            chown.WaitForExit();
        }

        public void Dispose()
        {
            var pidFile = Path.Combine(_dir, "run", "master.pid");
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid))
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(30_000);
                }
                catch (ArgumentException)
                {
                    // already gone
                }
            }
        }
    }

    /// <summary>
    /// A minimal IMAP server over TLS that answers what MailKit asks while listing and examining an INBOX of two
    /// messages, then misbehaves while sending their bodies.
    /// </summary>
    private sealed partial class LyingServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly X509Certificate2 _certificate;
        private readonly Lie _lie;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        private static readonly byte[] First = Encoding.ASCII.GetBytes("Subject: first\r\nMessage-ID: <1@liar>\r\n\r\nfirst body\r\n");

        public LyingServer(LocalCertificateAuthority ca, Lie lie)
        {
            _certificate = ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
            _lie = lie;
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public enum Lie
        {
            None,
            CloseMidLiteral,
            Garbage,
            LargerThanAnnounced,
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try
            {
                await _accepting;
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // stopped
            }

            _certificate.Dispose();
            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        try
                        {
                            await ServeAsync(client.GetStream());
                        }
                        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException or ObjectDisposedException)
                        {
                            // the client went away (or refused our certificate)
                        }
                    }
                });
            }
        }

        private async Task ServeAsync(NetworkStream network)
        {
            await using var tls = new SslStream(network);
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
            var reader = new StreamReader(tls, Encoding.ASCII);
            async Task Send(string text) => await tls.WriteAsync(Encoding.ASCII.GetBytes(text), _stop.Token);
            async Task SendBytes(byte[] bytes) => await tls.WriteAsync(bytes, _stop.Token);
            await Send("* OK [CAPABILITY IMAP4rev1] liar ready\r\n");
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                var parts = line.Split(' ', 3);
                string tag = parts[0], command = parts.Length > 1 ? parts[1].ToUpperInvariant() : "";
                string rest = parts.Length > 2 ? parts[2] : "";
                if (command == "UID")
                {
                    command = "UID " + rest.Split(' ')[0].ToUpperInvariant();
                }

                switch (command)
                {
                    case "CAPABILITY":
                        await Send($"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n");
                        break;
                    case "LOGIN":
                        await Send($"{tag} OK logged in\r\n");
                        break;
                    case "LIST":
                        await Send((rest.Contains("\"\" \"\"", StringComparison.Ordinal) ? "* LIST (\\Noselect) \"/\" \"\"\r\n" : "* LIST (\\HasNoChildren) \"/\" INBOX\r\n") + $"{tag} OK done\r\n");
                        break;
                    case "STATUS":
                        await Send($"* STATUS INBOX (MESSAGES 2)\r\n{tag} OK done\r\n");
                        break;
                    case "EXAMINE":
                    case "SELECT":
                        await Send($"* 2 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 3] ok\r\n* FLAGS (\\Seen)\r\n{tag} OK [READ-ONLY] done\r\n");
                        break;
                    case "FETCH":
                        await Send("* 1 FETCH (UID 1 FLAGS (\\Seen) INTERNALDATE \"01-Jan-2020 10:00:00 +0000\" RFC822.SIZE " + First.Length + ")\r\n" +
                            "* 2 FETCH (UID 2 FLAGS () INTERNALDATE \"02-Jan-2020 10:00:00 +0000\" RFC822.SIZE 100)\r\n" + $"{tag} OK done\r\n");
                        break;
                    case "UID FETCH":
                        await Send($"* 1 FETCH (UID 1 BODY[] {{{First.Length}}}\r\n");
                        await SendBytes(First);
                        await Send(")\r\n");
                        switch (_lie)
                        {
                            case Lie.CloseMidLiteral:
                                await Send("* 2 FETCH (UID 2 BODY[] {100}\r\nSubject: half");
                                await tls.FlushAsync(_stop.Token);
                                return;
                            case Lie.Garbage:
                                await Send("* 2 FETCH (UID 2 BODY[] \x01\x02 garbage ((( {{{\r\n)))\r\n");
                                await tls.FlushAsync(_stop.Token);
                                return;
                            case Lie.LargerThanAnnounced:
                                await Send("* 2 FETCH (UID 2 BODY[] {6000}\r\n" + new string('x', 6000) + ")\r\n" + $"{tag} OK done\r\n");
                                break;
                            default:
                                await Send($"{tag} OK done\r\n");
                                break;
                        }

                        break;
                    case "LOGOUT":
                        await Send($"* BYE bye\r\n{tag} OK done\r\n");
                        return;
                    default:
                        await Send($"{tag} OK done\r\n");
                        break;
                }
            }
        }
    }
}
