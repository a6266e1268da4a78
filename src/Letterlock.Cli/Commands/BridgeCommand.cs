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
        var imapPort = new Option<int>("--imap-port") { Description = "IMAP port on 127.0.0.1 (0 picks a free one).", DefaultValueFactory = _ => 1143 };
        var smtpPort = new Option<int>("--smtp-port") { Description = "SMTP submission port on 127.0.0.1 (0 picks a free one).", DefaultValueFactory = _ => 1025 };
        var json = new Option<bool>("--json") { Description = "Print the settings as JSON (one object per account) for scripts." };
        var webPort = new Option<int>("--web-port") { Description = "Web app port on 127.0.0.1 (0 picks a free one).", DefaultValueFactory = _ => Web.WebOptions.DefaultPort };
        var noWeb = new Option<bool>("--no-web") { Description = "Do not serve the web app." };
        var command = new Command("bridge",
            "Serve your mail to any mail app on 127.0.0.1: IMAP with the decrypted mailbox (security summary in\n" +
            "Letterlock-Encryption and Letterlock-Signature headers) and SMTP submission that encrypts automatically.\n" +
            "Prints the settings for each account (user name, generated bridge password, ports, certificate\n" +
            "fingerprint) and runs until Ctrl-C. Unattended: unlock with --key-file.\n" +
            "Also serves the web app on 127.0.0.1 and prints a one-time login link to it (later: letterlock web).\n\n" +
            "Examples:\n" +
            "  letterlock bridge\n" +
            "  letterlock bridge --key-file ~/.config/letterlock/store.key --json\n" +
            "  letterlock bridge --imap-port 0 --smtp-port 0 --web-port 0")
        {
            imapPort, smtpPort, json, webPort, noWeb,
        };
        access.AddTo(command);
        command.Subcommands.Add(BridgeAddonCommand.Create());
        command.SetAction(async (parse, ct) =>
        {
            foreach (var (name, value) in new[] { ("--imap-port", parse.GetValue(imapPort)), ("--smtp-port", parse.GetValue(smtpPort)), ("--web-port", parse.GetValue(webPort)) })
            {
                if (value is < 0 or > 65535)
                {
                    throw new CliException($"{name} must be between 0 and 65535, not {value}", 2);
                }
            }

            using var store = await access.OpenAsync(parse, ct);
            if ((await store.Accounts.ListAsync(ct)).Count == 0)
            {
                throw new CliException("this client has no account yet (letterlock account create)");
            }

            BridgeHost bridge;
            try
            {
                bridge = await BridgeHost.StartAsync(store, new BridgeOptions { ImapPort = parse.GetValue(imapPort), SmtpPort = parse.GetValue(smtpPort) }, ct);
            }
            catch (SocketException e)
            {
                throw new CliException($"cannot listen on 127.0.0.1: {e.SocketErrorCode} (is another bridge running? try --imap-port 0 --smtp-port 0)", 3);
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
                var output = parse.InvocationConfiguration.Output;
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

                    await output.WriteLineAsync("The bridge is running. Press Ctrl-C to stop.");
                }

                await output.FlushAsync(CancellationToken.None);
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
            await output.WriteLineAsync("  accept it in your mail app when it asks, after comparing the fingerprint.");
        }
    }
}
