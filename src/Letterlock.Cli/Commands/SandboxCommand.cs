using System.CommandLine;
using System.Text.Json;
using Letterlock.Sandbox;

namespace Letterlock.Cli.Commands;

/// <summary><c>letterlock sandbox</c>: two providers, two accounts and their bridges on loopback, until Ctrl-C.</summary>
internal static class SandboxCommand
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Keep the sandbox's state in this folder, so the next run reuses the accounts, their mail, passwords and bridge ports (default: a temporary folder, deleted at the end)." };
        var json = new Option<bool>("--json") { Description = "Print the settings as one JSON object on stdout (progress stays on stderr)." };
        var imapPorts = new Option<string>("--imap-ports") { Description = "IMAP ports of alice's and bob's bridges, as ALICE,BOB (0: the last run's with --data, else a free port).", DefaultValueFactory = _ => "0,0" };
        var webPorts = new Option<string>("--web-ports") { Description = "Web app ports of alice's and bob's clients, as ALICE,BOB (0: a free port).", DefaultValueFactory = _ => "0,0" };
        var noWeb = new Option<bool>("--no-web") { Description = "Do not serve the web app." };
        var smtpPorts = new Option<string>("--smtp-ports") { Description = "SMTP ports of alice's and bob's bridges, as ALICE,BOB (0: the last run's with --data, else a free port).", DefaultValueFactory = _ => "0,0" };
        var dnsRecords = new Option<string?>("--dns-records") { Description = "Add DNS records from this file (one per line: NAME A|AAAA|MX|TXT VALUE, and HOST PORT N for an MX listening elsewhere than 25), so mail can go to a third domain beside alpha.test and beta.test (docs/FORMATS.md, \"Sandbox DNS records\")." };
        var command = new Command("sandbox",
            "Try Letterlock on this machine: starts two providers (alpha.test and beta.test) with their own CA and DNS map,\n" +
            "creates alice@alpha.test and bob@beta.test (each on its own client device), starts both bridges, sends a\n" +
            "first end-to-end encrypted message from alice to bob, and prints the IMAP/SMTP settings for your mail app\n" +
            "and a one-time login link to each client's web app.\n" +
            "Everything stays on 127.0.0.1 and needs no network. Runs until Ctrl-C.\n\n" +
            "Examples:\n" +
            "  letterlock sandbox\n" +
            "  letterlock sandbox --data ~/letterlock-sandbox\n" +
            "  letterlock sandbox --data /tmp/ll --imap-ports 1143,1144 --smtp-ports 1025,1026 --json\n" +
            "  letterlock sandbox --dns-records gamma.zone   # gamma.zone: 'gamma.test MX 10 mx.gamma.test',\n" +
            "                                                #   'mx.gamma.test A 127.0.0.1', 'mx.gamma.test PORT 2525'")
        {
            data, json, imapPorts, smtpPorts, webPorts, noWeb, dnsRecords,
        };
        command.SetAction(async (parse, ct) =>
        {
            var imap = Ports(parse.GetValue(imapPorts)!, "--imap-ports");
            var smtp = Ports(parse.GetValue(smtpPorts)!, "--smtp-ports");
            var records = DnsRecords(parse.GetValue(dnsRecords));
            var web = Ports(parse.GetValue(webPorts)!, "--web-ports");
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            string? kept = parse.GetValue(data);
            string folder = kept ?? Path.Combine(Path.GetTempPath(), "letterlock-sandbox-" + Guid.NewGuid().ToString("N")[..12]);
            await error.WriteLineAsync(kept is null
                ? $"Starting the Letterlock sandbox in {folder} (deleted at the end; --data DIR keeps it)"
                : $"Starting the Letterlock sandbox in {Path.GetFullPath(folder)}");
            var progress = new SynchronousProgress(line => error.WriteLine("  " + line));
            SandboxEnvironment sandbox;
            try
            {
                sandbox = await SandboxEnvironment.StartAsync(new SandboxOptions
                {
                    DataDirectory = folder,
                    ImapPorts = imap,
                    SmtpPorts = smtp,
                    DnsRecords = records,
                    WebPorts = web,
                    Web = !parse.GetValue(noWeb),
                    BridgeLog = line => error.WriteLine("  " + line),
                }, progress, ct);
            }
            catch (SandboxException e)
            {
                Cleanup(kept, folder);
                throw new CliException(e.Message, 3);
            }
            catch (OperationCanceledException)
            {
                Cleanup(kept, folder);
                await error.WriteLineAsync("Stopped before the sandbox was ready.");
                return 130;
            }
            catch
            {
                Cleanup(kept, folder);
                throw;
            }

            try
            {
                if (parse.GetValue(json))
                {
                    await output.WriteLineAsync(JsonSerializer.Serialize(sandbox.Info, SandboxJson.Default.SandboxInfo));
                }
                else
                {
                    await WriteSettingsAsync(output, sandbox.Info);
                }

                await output.FlushAsync(CancellationToken.None);
                try
                {
                    using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, sandbox.Stopping);
                    await Task.Delay(Timeout.Infinite, stop.Token);
                }
                catch (OperationCanceledException)
                {
                }

                await error.WriteLineAsync("Stopping the sandbox...");
            }
            finally
            {
                await sandbox.DisposeAsync();
                Cleanup(kept, folder);
            }

            await error.WriteLineAsync("Stopped.");
            return 0;
        });
        return command;
    }

    private static (int Alice, int Bob) Ports(string value, string option)
    {
        var parts = value.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || !int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out int alice) ||
            !int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out int bob) || alice is < 0 or > 65535 || bob is < 0 or > 65535)
        {
            throw new CliException($"{option} takes two ports, ALICE,BOB, each 0 to 65535 (0 picks a free one), not '{value}'", 2);
        }

        return (alice, bob);
    }

    private static SandboxDnsRecords? DnsRecords(string? path)
    {
        if (path is null)
        {
            return null;
        }

        try
        {
            return SandboxDnsRecords.Parse(File.ReadAllText(path), SandboxEnvironment.Domains);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--dns-records: cannot read {path}: {e.Message}", 2);
        }
        catch (FormatException e)
        {
            throw new CliException($"--dns-records {path}, {e.Message}", 2);
        }
    }

    private static void Cleanup(string? kept, string folder)
    {
        if (kept is null && Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    internal static async Task WriteSettingsAsync(TextWriter output, SandboxInfo info)
    {
        await output.WriteLineAsync();
        await output.WriteLineAsync($"The Letterlock sandbox is running (started in {info.StartSeconds:0.0} s). Point your mail app at these accounts:");
        foreach (var a in info.Accounts)
        {
            await output.WriteLineAsync();
            await output.WriteLineAsync($"  {a.Address}");
            await output.WriteLineAsync($"    IMAP        {a.ImapHost} port {a.ImapPort}, {a.ImapSecurity}");
            await output.WriteLineAsync($"    SMTP        {a.SmtpHost} port {a.SmtpPort}, {a.SmtpSecurity}, authentication: normal password");
            await output.WriteLineAsync($"    User name   {a.UserName}");
            await output.WriteLineAsync($"    Password    {a.Password}");
            await output.WriteLineAsync($"    Certificate self-signed by the bridge, SHA-256 {a.CertificateSha256}");
            await output.WriteLineAsync($"                (accept it when your app asks, after comparing; PEM: {a.CertificatePath})");
            await output.WriteLineAsync($"    mutt        mutt -F {a.MuttConfig}   (or neomutt -F ...)");
            if (a.WebLoginLink is { } link)
            {
                await output.WriteLineAsync($"    Web app     {link}");
                await output.WriteLineAsync($"                (one-time login link; later: letterlock web --data {a.ClientDirectory} --key-file {a.KeyFile})");
            }
        }

        await output.WriteLineAsync();
        await output.WriteLineAsync("  Thunderbird: add a mail account, choose manual configuration, enter the values above (\"Normal password\"),");
        await output.WriteLineAsync("  and confirm the security exception for the bridge's certificate. Letterlock encrypts and decrypts: leave");
        await output.WriteLineAsync("  Thunderbird's own end-to-end encryption off. Mail from alice to bob (and back) is encrypted automatically.");

        await output.WriteLineAsync();
        await output.WriteLineAsync($"  First message from alice to bob: {info.FirstMessage}; it is in bob's INBOX.");
        await output.WriteLineAsync("  Providers:");
        foreach (var p in info.Providers)
        {
            await output.WriteLineAsync($"    {p.Domain,-11} https {p.Https}  MX {p.Smtp}  data {p.DataDirectory}");
        }

        await output.WriteLineAsync($"  Logs: {Path.Combine(info.DataDirectory, "logs")}");
        await output.WriteLineAsync();
        await output.WriteLineAsync("Press Ctrl-C to stop.");
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    private sealed class SynchronousProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
