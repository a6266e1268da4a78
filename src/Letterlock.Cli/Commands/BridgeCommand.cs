using System.CommandLine;
using System.Net.Sockets;
using System.Text.Json;
using Letterlock.Bridge;

namespace Letterlock.Cli.Commands;

/// <summary><c>letterlock bridge</c>: serve the client's accounts to mail apps on 127.0.0.1.</summary>
internal static class BridgeCommand
{
    public static Command Create()
    {
        var access = new ClientStoreAccess();
        var imapPort = new Option<int?>("--imap-port")
        {
            Description = $"IMAP port on 127.0.0.1 (default: the remembered one, first {BridgePorts.DefaultImap}; a new port is remembered; 0 picks a free one this time).",
        };
        var smtpPort = new Option<int?>("--smtp-port")
        {
            Description = $"SMTP submission port on 127.0.0.1 (default: the remembered one, first {BridgePorts.DefaultSmtp}; a new port is remembered; 0 picks a free one this time).",
        };
        var json = new Option<bool>("--json") { Description = "Print the settings as JSON (one object per account) for scripts." };
        var webPort = new Option<int>("--web-port") { Description = "Web app port on 127.0.0.1 (0 picks a free one).", DefaultValueFactory = _ => Web.WebOptions.DefaultPort };
        var noWeb = new Option<bool>("--no-web") { Description = "Do not serve the web app." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only errors after start-up." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Print details too (recipients of sent mail, every skipped document, prekeys)." };
        var command = new Command("bridge",
            "Serve your mail to any mail app on 127.0.0.1: IMAP with the decrypted mailbox (security summary in\n" +
            "Letterlock-Encryption and Letterlock-Signature headers) and SMTP submission that encrypts automatically.\n" +
            "Prints the settings for each account (user name, generated bridge password, ports, certificate\n" +
            "fingerprint), then one line per event (account online/offline, sync progress, mail received and sent,\n" +
            "delivery failures, key notices) until Ctrl-C. Unattended: unlock with --key-file.\n" +
            "One bridge per store: a second one on the same store exits with status 3.\n" +
            "Also serves the web app on 127.0.0.1 and prints a one-time login link to it (later: letterlock web).\n" +
            "Set up a mail app in one step: letterlock bridge settings.\n\n" +
            "Examples:\n" +
            "  letterlock bridge\n" +
            "  letterlock bridge --key-file ~/.config/letterlock/store.key --json --quiet\n" +
            "  letterlock bridge --imap-port 0 --smtp-port 0 --web-port 0")
        {
            imapPort, smtpPort, json, webPort, noWeb, quiet, verbose,
        };
        access.AddTo(command);
        command.Add(Settings(access));
        command.Add(BridgeAddonCommand.Create());
        command.SetAction(async (parse, ct) =>
        {
            foreach (var (name, value) in new[] { ("--imap-port", parse.GetValue(imapPort)), ("--smtp-port", parse.GetValue(smtpPort)), ("--web-port", parse.GetValue(webPort)) })
            {
                if (value is < 0 or > 65535)
                {
                    throw new CliException($"{name} must be between 0 and 65535, not {value}", 2);
                }
            }

            if (parse.GetValue(quiet) && parse.GetValue(verbose))
            {
                throw new CliException("--quiet and --verbose exclude each other", 2);
            }

            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            using var store = await access.OpenAsync(parse, ct);
            if ((await store.Accounts.ListAsync(ct)).Count == 0)
            {
                throw new CliException("this client has no account yet (letterlock account create)");
            }

            var ports = await BridgePorts.ResolveAsync(store, parse.GetValue(imapPort), parse.GetValue(smtpPort), ct);
            var level = parse.GetValue(quiet) ? BridgeEventLevel.Error : parse.GetValue(verbose) ? BridgeEventLevel.Verbose : BridgeEventLevel.Notice;
            var gate = new Lock();
            var started = false;
            var early = new List<BridgeEvent>();
            void Print(BridgeEvent e)
            {
                lock (gate)
                {
                    if (!started)
                    {
                        // Events of the first moments wait until the settings are printed.
                        early.Add(e);
                        return;
                    }

                    if (e.Level <= level)
                    {
                        var line = $"{DateTimeOffset.Now:HH:mm:ss} {e.Line(level == BridgeEventLevel.Verbose)}";
                        (e.Level == BridgeEventLevel.Error ? error : output).WriteLine(line);
                        (e.Level == BridgeEventLevel.Error ? error : output).Flush();
                    }
                }
            }

            BridgeHost bridge;
            try
            {
                bridge = await BridgeHost.StartAsync(store, new BridgeOptions { ImapPort = ports.Imap, SmtpPort = ports.Smtp, Events = Print }, ct);
            }
            catch (BridgeAlreadyRunningException e)
            {
                throw new CliException(e.Message, 3);
            }
            catch (SocketException e)
            {
                throw new CliException($"cannot listen on 127.0.0.1 (IMAP port {ports.Imap}, SMTP port {ports.Smtp}): {e.SocketErrorCode}; another program uses the port: " +
                    "choose others once with --imap-port N --smtp-port N (they are remembered), or 0 for any free port this time", 3);
            }

            await using (bridge)
            {
                Web.WebHost? web = null;
                if (!parse.GetValue(noWeb))
                {
                    try
                    {
                        web = await Web.WebHost.StartAsync(bridge, new Web.WebOptions { Port = parse.GetValue(webPort) }, ct: ct);
                    }
                    catch (IOException e)
                    {
                        throw new CliException($"the web app cannot listen on 127.0.0.1:{parse.GetValue(webPort)}: {e.Message} (try --web-port 0, or --no-web)", 3);
                    }
                }

                await using var webScope = web;
                var settings = await bridge.GetSettingsAsync(ct);
                if (parse.GetValue(json))
                {
                    await output.WriteLineAsync(JsonSerializer.Serialize(settings.ToList(), BridgeJson.Default.ListBridgeAccountSettings));
                }
                else
                {
                    await WriteSettingsAsync(output, settings);
                    if (web is not null)
                    {
                        await output.WriteLineAsync($"Web app  {web.Url}");
                        await output.WriteLineAsync($"  Log in with this one-time link: {web.NewLoginLink()}");
                        await output.WriteLineAsync("  (good for one login within the hour; `letterlock web` makes a new one)");
                    }

                    await output.WriteLineAsync("Set up a mail app in one step: letterlock bridge settings");
                    await output.WriteLineAsync("The bridge is running. Press Ctrl-C to stop.");
                }

                await output.FlushAsync(CancellationToken.None);
                List<BridgeEvent> pending;
                lock (gate)
                {
                    started = true;
                    pending = [.. early];
                    early.Clear();
                }

                foreach (var e in pending)
                {
                    Print(e);
                }

                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                catch (OperationCanceledException)
                {
                }
            }

            return 0;
        });
        return command;
    }

    /// <summary><c>letterlock bridge settings</c>: what a mail app needs, as text, an Apple profile or the certificate.</summary>
    private static Command Settings(ClientStoreAccess access)
    {
        var apple = new Option<bool>("--apple") { Description = "Write an Apple configuration profile (.mobileconfig) for Apple Mail: every account and the bridge certificate." };
        var includePassword = new Option<bool>("--include-password") { Description = "With --apple: put the bridge passwords in the profile (else Mail asks once)." };
        var certificate = new Option<bool>("--certificate") { Description = "Print the bridge's certificate (PEM), to trust it in a mail app." };
        var json = new Option<bool>("--json") { Description = "Print the settings as JSON (one object per account) for scripts." };
        var command = new Command("settings",
            "What a mail app needs to use the bridge, without starting it: the settings of each account (user name,\n" +
            "bridge password, the bridge's remembered ports), the certificate and the one command per app that trusts it.\n" +
            "Thunderbird finds the servers by itself from your provider's autoconfiguration: type your address and the\n" +
            "bridge password.\n\n" +
            "Examples:\n" +
            "  letterlock bridge settings\n" +
            "  letterlock bridge settings --certificate > letterlock-bridge.pem\n" +
            "  letterlock bridge settings --apple > letterlock.mobileconfig")
        {
            apple, includePassword, certificate, json,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (new[] { parse.GetValue(apple), parse.GetValue(certificate), parse.GetValue(json) }.Count(x => x) > 1)
            {
                throw new CliException("--apple, --certificate and --json exclude each other", 2);
            }

            if (parse.GetValue(includePassword) && !parse.GetValue(apple))
            {
                throw new CliException("--include-password goes with --apple", 2);
            }

            using var store = await access.OpenAsync(parse, ct);
            var ports = await BridgePorts.LoadAsync(store, ct) ?? new BridgePortChoice(BridgePorts.DefaultImap, BridgePorts.DefaultSmtp);
            using var cert = await BridgeCertificate.GetOrCreateAsync(store, ct);
            var settings = await BridgeHost.SettingsAsync(store, ports, cert, ct);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(apple))
            {
                await output.WriteAsync(System.Text.Encoding.UTF8.GetString(MailAppSetup.AppleProfile(settings, cert, parse.GetValue(includePassword))));
                return 0;
            }

            if (parse.GetValue(certificate))
            {
                await output.WriteLineAsync(cert.ExportCertificatePem());
                return 0;
            }

            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(settings.ToList(), BridgeJson.Default.ListBridgeAccountSettings));
                return 0;
            }

            if (settings.Count == 0)
            {
                await output.WriteLineAsync("No accounts yet (letterlock account create).");
            }

            await WriteSettingsAsync(output, settings);
            await output.WriteLineAsync();
            await output.WriteLineAsync("Trust the bridge certificate in one step (save it first: letterlock bridge settings --certificate > letterlock-bridge.pem):");
            foreach (var (app, line) in MailAppSetup.TrustCommands("letterlock-bridge.pem"))
            {
                await output.WriteLineAsync($"  {app}:");
                await output.WriteLineAsync($"    {line}");
            }

            await output.WriteLineAsync("  Apple Mail (macOS, iOS): letterlock bridge settings --apple > letterlock.mobileconfig, then open it (adds the accounts and trusts the certificate).");
            await output.WriteLineAsync("Thunderbird: Account Settings > Add Mail Account, type your address and the bridge password; the servers come from your provider.");
            return 0;
        });
        return command;
    }

    internal static async Task WriteSettingsAsync(TextWriter output, IEnumerable<BridgeAccountSettings> settings)
    {
        foreach (var s in settings)
        {
            await output.WriteLineAsync($"Account {s.Address}");
            await output.WriteLineAsync($"  IMAP  {s.ImapHost}:{s.ImapPort}  {s.ImapSecurity}");
            await output.WriteLineAsync($"  SMTP  {s.SmtpHost}:{s.SmtpPort}  {s.SmtpSecurity}");
            await output.WriteLineAsync($"  User name  {s.UserName}");
            await output.WriteLineAsync($"  Password   {s.Password}");
            await output.WriteLineAsync($"  The certificate is the bridge's own (SHA-256 {s.CertificateSha256});");
            await output.WriteLineAsync("  accept it in your mail app when it asks, after comparing the fingerprint (or trust it once: letterlock bridge settings).");
        }
    }
}
