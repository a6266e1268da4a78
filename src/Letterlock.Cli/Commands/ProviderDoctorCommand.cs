using System.CommandLine;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Operations;
using Spectre.Console;

namespace Letterlock.Cli.Commands;

/// <summary><c>letterlock provider doctor</c>: DNS and the running server checked against what <c>init</c> printed.</summary>
internal static class ProviderDoctorCommand
{
    public static Command Build()
    {
        var data = new Option<string>("--data") { Description = "The provider's data directory (settings, keys, certificate).", Required = true };
        var httpsPort = new Option<int>("--https-port") { Description = "The HTTPS port the world reaches (default 443).", DefaultValueFactory = _ => 443 };
        var smtpPort = new Option<int>("--smtp-port") { Description = "The SMTP port the world reaches (default 25).", DefaultValueFactory = _ => 25 };
        var ca = new Option<string?>("--ca") { Description = "PEM roots to trust instead of the system's (a private CA)." };
        var command = new Command("doctor", "Check every DNS record 'provider init' printed against live DNS (dns.* settings) and the running server as the world reaches it: " +
            "addresses, MX, SPF, both DKIM keys against the private keys, DMARC, MTA-STS record and policy, TLS-RPT, TLSA against the certificate, " +
            "SRV, autoconfig, WKD, the certificate's validity and names, reverse DNS and refusal to relay. Prints a table with the fix for each problem; " +
            "exits 1 when something is wrong, 0 when only warnings remain.\n\n" +
            "Examples:\n" +
            "  letterlock provider doctor --data /var/lib/letterlock\n" +
            "  letterlock provider doctor --data ./p --https-port 8443 --smtp-port 2525 --ca ./p/tls/cert.pem")
        {
            data, httpsPort, smtpPort, ca,
        };
        command.SetAction(async (result, ct) =>
        {
            ProviderSettings settings;
            try
            {
                settings = ProviderSettingsLoader.Load(result.GetValue(data)!);
            }
            catch (SettingsException e)
            {
                throw new CliException(e.Message, 2);
            }

            var roots = await AccountAccessCommands.LoadRootsAsync(result.GetValue(ca), "--ca", ct);

            foreach (var (option, port) in new[] { ("--https-port", result.GetValue(httpsPort)), ("--smtp-port", result.GetValue(smtpPort)) })
            {
                if (port is <= 0 or > 65535)
                {
                    throw new CliException($"{option} must be a TCP port (1..65535)", 2);
                }
            }

            var error = result.InvocationConfiguration.Error;
            await error.WriteLineAsync($"checking {settings.Domain} ({settings.HostName}) against DNS and the running server...");
            var results = await ProviderDoctor.RunAsync(settings, new DoctorOptions
            {
                Dns = ProviderSettingsLoader.CreateResolver(settings),
                HttpsPort = result.GetValue(httpsPort),
                SmtpPort = result.GetValue(smtpPort),
                TrustedRoots = roots,
            }, ct);

            var output = result.InvocationConfiguration.Output;
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(output),
                Ansi = ReferenceEquals(output, Console.Out) ? AnsiSupport.Detect : AnsiSupport.No,
                ColorSystem = ReferenceEquals(output, Console.Out) ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            });
            if (!ReferenceEquals(output, Console.Out))
            {
                console.Profile.Width = 200;
            }

            var table = new Table().AddColumns("Check", "Status", "Found", "Fix");
            foreach (var r in results)
            {
                string status = r.Status switch
                {
                    DoctorStatus.Ok => "[green]ok[/]",
                    DoctorStatus.Warning => "[yellow]warning[/]",
                    _ => "[red]error[/]",
                };
                table.AddRow(Markup.Escape(r.Check), status, Markup.Escape(r.Found), Markup.Escape(r.Fix));
            }

            console.Write(table);
            int errors = results.Count(r => r.Status == DoctorStatus.Error);
            int warnings = results.Count(r => r.Status == DoctorStatus.Warning);
            console.WriteLine($"{errors} error(s), {warnings} warning(s), {results.Count - errors - warnings} ok");
            return errors > 0 ? 1 : 0;
        });
        return command;
    }
}
