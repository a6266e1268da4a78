using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Imap;
using Letterlock.Imap.InMemory;
using Letterlock.Imap.Server;
using Letterlock.Imap.Session;
using MimeKit;

namespace Letterlock.Cli.Commands;

/// <summary>`letterlock imap ...`: the IMAP engine on its own, for trying mail apps against it.</summary>
internal static class ImapCommands
{
    public static Command Create()
    {
        var imap = new Command("imap", "The IMAP4rev2 server engine on its own.\n\nExample:\n  letterlock imap serve --memory --user alice --password secret --port 1143");
        imap.Subcommands.Add(CreateServe());
        return imap;
    }

    private static Command CreateServe()
    {
        var memory = new Option<bool>("--memory") { Description = "Keep mailboxes in memory (the only backend of this command; contents vanish on exit)" };
        var user = new Option<string>("--user") { Description = "User name to accept", Required = true };
        var password = new Option<string>("--password") { Description = "Password for that user", Required = true };
        var port = new Option<int>("--port") { Description = "TCP port on 127.0.0.1 (0 picks a free one)", DefaultValueFactory = _ => 1143 };
        var import = new Option<string?>("--import") { Description = "Seed INBOX from a folder of .eml files or an mbox file" };
        var starttls = new Option<bool>("--starttls") { Description = "Offer STARTTLS with a freshly generated self-signed certificate" };
        var verbose = new Option<bool>("--verbose") { Description = "Log commands (sanitised: no passwords, no message content) to stderr" };
        var serve = new Command("serve",
            "Run the IMAP engine on loopback with the in-memory backend, so a mail app can be pointed at it.\n\n" +
            "Examples:\n" +
            "  letterlock imap serve --memory --user alice --password secret --port 1143\n" +
            "  letterlock imap serve --memory --user alice --password secret --import ~/mail/archive.mbox")
        {
            memory, user, password, port, import, starttls, verbose,
        };
        serve.SetAction(async (parse, ct) =>
        {
            try
            {
                return await ServeAsync(parse, ct).ConfigureAwait(false);
            }
            catch (CliException e)
            {
                // System.CommandLine's default handler would turn this into exit code 1 with a stack trace.
                await parse.InvocationConfiguration.Error.WriteLineAsync($"letterlock: {e.Message}").ConfigureAwait(false);
                return e.ExitCode;
            }
        });
        return serve;

        async Task<int> ServeAsync(ParseResult parse, CancellationToken ct)
        {
            if (!parse.GetValue(memory))
            {
                throw new CliException("only the in-memory backend exists here: pass --memory (the bridge serves real accounts)", 2);
            }

            int portValue = parse.GetValue(port);
            if (portValue is < 0 or > 65535)
            {
                throw new CliException($"--port must be between 0 and 65535, not {portValue}", 2);
            }

            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var userName = parse.GetValue(user)!;
            var backend = new InMemoryBackend();
            backend.AddUser(userName, parse.GetValue(password)!);
            if (parse.GetValue(import) is { } source)
            {
                int count = Import(backend, userName, source, error);
                await output.WriteLineAsync($"Imported {count} messages into INBOX").ConfigureAwait(false);
            }

            var options = new ImapServerOptions();
            bool log = parse.GetValue(verbose);
            var context = new ImapServerContext(options, backend, log: log ? entry => WriteLog(error, entry) : null);
            using var certificate = parse.GetValue(starttls) ? SelfSigned() : null;
            await using var server = new ImapServer(new ImapListenOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, portValue), Certificate = certificate }, context);
            try
            {
                server.Start();
            }
            catch (System.Net.Sockets.SocketException e)
            {
                throw new CliException($"cannot listen on 127.0.0.1:{portValue}: {e.SocketErrorCode}", 3);
            }

            // System.CommandLine 2.0.0 leaves SIGINT/SIGTERM to the runtime, which would end the process
            // at once; catch them here so sessions get their BYE.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            void Stop(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.Cancel();
            }

            await output.WriteLineAsync($"Listening on {server.LocalEndPoint} (IMAP{(certificate is null ? "" : " with STARTTLS")}); user {userName}. Press Ctrl+C to stop.").ConfigureAwait(false);
            await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C: fall through to a graceful shutdown.
            }

            await output.WriteLineAsync("Shutting down").ConfigureAwait(false);
            await server.StopAsync().ConfigureAwait(false);
            return 0;
        }
    }

    private static void WriteLog(TextWriter error, ImapLogEntry entry)
    {
        lock (error)
        {
            error.WriteLine($"{entry.Level} [{entry.SessionId}] {entry.Message}{(entry.Exception is null ? "" : " (" + entry.Exception.GetType().Name + ")")}");
        }
    }

    private static int Import(InMemoryBackend backend, string user, string source, TextWriter progress)
    {
        int count = 0;
        void Report()
        {
            if (++count % 500 == 0)
            {
                progress.WriteLine($"  {count} messages...");
            }
        }

        if (Directory.Exists(source))
        {
            // Only .eml files: a corpus folder also holds READMEs and licences, which are not messages.
            foreach (var file in Directory.EnumerateFiles(source, "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var bytes = File.ReadAllBytes(file);
                if (bytes.Length > 0)
                {
                    backend.Import(user, "INBOX", bytes);
                    Report();
                }
            }

            return count;
        }

        if (!File.Exists(source))
        {
            throw new CliException($"--import: no such file or folder: {source}", 2);
        }

        using var stream = File.OpenRead(source);
        if (!source.EndsWith(".eml", StringComparison.OrdinalIgnoreCase))
        {
            var parser = new MimeParser(Letterlock.OpenPgp.Mime.BoundedMime.Options(), stream, MimeFormat.Mbox);
            while (!parser.IsEndOfStream)
            {
                var message = parser.ParseMessage();
                using var buffer = new MemoryStream();
                message.WriteTo(buffer);
                backend.Import(user, "INBOX", buffer.ToArray());
                Report();
            }

            if (count == 0)
            {
                throw new CliException($"--import: {source} holds no messages (expected an mbox file or a folder of .eml files)", 2);
            }

            return count;
        }

        backend.Import(user, "INBOX", File.ReadAllBytes(source));
        return 1;
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }
}
