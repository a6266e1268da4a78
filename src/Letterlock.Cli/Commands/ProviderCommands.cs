using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Hosting;
using Letterlock.Provider.Storage;

namespace Letterlock.Cli.Commands;

/// <summary><c>letterlock provider ...</c>: set up, run and administer a provider.</summary>
internal static class ProviderCommands
{
    public static Command Build()
    {
        var provider = new Command("provider", "Run a Letterlock provider: the server an organisation runs for its mail domain.\n\n" +
            "Examples:\n" +
            "  letterlock provider init --domain example.org --data /var/lib/letterlock\n" +
            "  letterlock provider serve --data /var/lib/letterlock");
        provider.Subcommands.Add(Init());
        provider.Subcommands.Add(Serve());
        provider.Subcommands.Add(ProviderDoctorCommand.Build());
        provider.Subcommands.Add(Invite());
        provider.Subcommands.Add(Accounts());
        return provider;
    }

    private static Option<string> DataOption() => new("--data")
    {
        Description = "The provider's data directory (settings, keys, database, blobs).",
        Required = true,
    };

    private static Option<string?> DatabaseOption() => new("--database")
    {
        Description = "Storage: sqlite:PATH or postgres://user@host:port/db (default: the settings file's).",
    };

    private static Command Init()
    {
        var domain = new Option<string>("--domain") { Description = "The mail domain to serve.", Required = true };
        var data = DataOption();
        var hostName = new Option<string?>("--host-name") { Description = "This server's host name (default mx.DOMAIN)." };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "A real certificate (PEM) instead of a self-signed one." };
        var tlsKey = new Option<string?>("--tls-key") { Description = "The key (PEM) of --tls-cert." };
        var smtpListen = new Option<string?>("--smtp-listen") { Description = "SMTP listener, address:port (default 0.0.0.0:25)." };
        var apiListen = new Option<string?>("--api-listen") { Description = "HTTPS listener, address:port (default: the SMTP address, port 443; 8443 when --smtp-listen has an unprivileged port)." };
        var submissionListen = new Option<string?>("--submission-listen") { Description = "SMTP submission with STARTTLS, address:port (default: the SMTP address, port 587; the SMTP port + 1 when that is unprivileged (1024 and up); port 0 when it is 0)." };
        var submissionsListen = new Option<string?>("--submissions-listen") { Description = "SMTP submission with implicit TLS, address:port (default: the SMTP address, port 465; the SMTP port + 2 when that is unprivileged; port 0 when it is 0)." };
        var opsListen = new Option<string?>("--ops-listen") { Description = "Plain-HTTP listener for /healthz and /metrics, address:port (default 127.0.0.1:9464; \"\" turns it off)." };
        var signUp = new Option<string>("--sign-up") { Description = "open, or invite (default): accounts need a token from 'provider invite'.", DefaultValueFactory = _ => "invite" };
        signUp.AcceptOnlyFromAmong("open", "invite");
        var acmeEmail = new Option<string?>("--acme-email") { Description = "Turn on automatic certificates with ACME (Let's Encrypt unless --acme-directory), with this contact address; agrees to the CA's terms of service." };
        var acmeDirectory = new Option<string?>("--acme-directory") { Description = "The ACME server's directory URL (default Let's Encrypt's)." };
        var acmeChallenge = new Option<string>("--acme-challenge") { Description = "http-01 (default: a listener on port 80) or tls-alpn-01 (the HTTPS listener, port 443).", DefaultValueFactory = _ => "http-01" };
        acmeChallenge.AcceptOnlyFromAmong("http-01", "tls-alpn-01");
        var command = new Command("init", "Create the settings file and the provider's keys (TLS, DKIM rsa-sha256 and ed25519-sha256, signing key, relay queue key), and print the DNS records to publish.\n\n" +
            "Examples:\n" +
            "  letterlock provider init --domain example.org --data /var/lib/letterlock\n" +
            "  letterlock provider init --domain example.org --data ./p --smtp-listen 127.0.0.1:2525 --api-listen 127.0.0.1:8443 --sign-up open\n" +
            "  letterlock provider init --domain example.org --data /var/lib/letterlock --acme-email postmaster@example.org")
        {
            domain, data, hostName, tlsCert, tlsKey, smtpListen, apiListen, signUp, submissionListen, submissionsListen, opsListen, acmeEmail, acmeDirectory, acmeChallenge,
        };
        command.SetAction(result =>
        {
            var output = result.InvocationConfiguration.Output;
            ProviderKeys.InitResult init;
            try
            {
                init = ProviderKeys.Initialize(new ProviderKeys.InitOptions(
                    result.GetValue(domain)!, result.GetValue(data)!, result.GetValue(hostName), result.GetValue(tlsCert), result.GetValue(tlsKey),
                    result.GetValue(smtpListen), result.GetValue(apiListen), result.GetValue(signUp)!, result.GetValue(submissionListen), result.GetValue(submissionsListen), result.GetValue(opsListen))
                {
                    AcmeContact = result.GetValue(acmeEmail),
                    AcmeDirectory = result.GetValue(acmeDirectory),
                    AcmeChallenge = result.GetValue(acmeChallenge)!,
                });
            }
            catch (Exception e) when (e is SettingsException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw new CliException(NameTheOption(e.Message), 2);
            }

            output.WriteLine($"Wrote {init.SettingsPath} and the provider's keys.");
            output.WriteLine();
            output.WriteLine("Publish these DNS records:");
            output.Write(init.DnsRecords);
            output.WriteLine();
            var written = ProviderSettingsLoader.Load(result.GetValue(data)!);
            if (written.Acme.Enabled && written.Acme.Challenge == "http-01")
            {
                output.WriteLine($"ACME (http-01): the CA connects to port 80 of {written.HostName}; open or forward port 80 to acme.httpListen ({written.Acme.HttpListen}).");
            }

            output.WriteLine($"Then start it: letterlock provider serve --data {result.GetValue(data)}");
            return 0;
        });
        return command;
    }

    /// <summary>The settings init writes from its options, and the option that gave each.</summary>
    private static readonly (string Setting, string Option)[] InitOptionOfSetting =
    [
        ("acme.contact", "--acme-email"), ("acme.directory", "--acme-directory"), ("acme.challenge", "--acme-challenge"),
        ("smtp.listen", "--smtp-listen"), ("api.listen", "--api-listen"), ("submission.listen", "--submission-listen"),
        ("submission.listenTls", "--submissions-listen"), ("ops.listen", "--ops-listen"), ("hostName", "--host-name"),
        ("domain", "--domain"), ("tls.certificate", "--tls-cert"), ("tls.key", "--tls-key"), ("signUp", "--sign-up"),
    ];

    /// <summary>A settings error from init also names the option the person typed ("setting 'acme.contact' (--acme-email): ...").</summary>
    private static string NameTheOption(string message)
    {
        foreach (var (setting, option) in InitOptionOfSetting)
        {
            string quoted = $"setting '{setting}'";
            if (message.Contains(quoted + ":", StringComparison.Ordinal))
            {
                return message.Replace(quoted, $"{quoted} ({option})", StringComparison.Ordinal);
            }
        }

        return message;
    }

    private static Command Serve()
    {
        var data = DataOption();
        var database = DatabaseOption();
        var smtpListen = new Option<string?>("--smtp-listen") { Description = "This node's MX SMTP listener, address:port, instead of the settings file's smtp.listen." };
        var apiListen = new Option<string?>("--api-listen") { Description = "This node's HTTPS listener, address:port, instead of the settings file's api.listen." };
        var logFormat = new Option<string>("--log-format")
        {
            Description = "text (one line per event, the default) or json (one JSON object per line, for log collectors).",
            DefaultValueFactory = _ => "text",
        };
        logFormat.AcceptOnlyFromAmong("text", "json");
        var command = new Command("serve", "Run the provider: the MX (SMTP with STARTTLS), submission (SMTP 587/465), the outbound relay, the HTTPS API and, when ops.listen is set, /healthz and /metrics, until Ctrl+C.\n" +
            "Several nodes on one PostgreSQL database with one settings file make a cluster (docs/design/cluster.md; scripts/cluster starts one).\n\n" +
            "Examples:\n" +
            "  letterlock provider serve --data /var/lib/letterlock\n" +
            "  letterlock provider serve --data /var/lib/letterlock --log-format json\n" +
            "  letterlock provider serve --data /var/lib/letterlock --database postgres://letterlock@db.internal:5432/letterlock\n" +
            "  letterlock provider serve --data /srv/shared --database postgres://letterlock@db.internal/letterlock --smtp-listen 127.0.0.1:2526 --api-listen 127.0.0.1:8444")
        {
            data, database, smtpListen, apiListen, logFormat,
        };
        command.SetAction(async (result, ct) =>
        {
            var output = result.InvocationConfiguration.Output;
            bool json = result.GetValue(logFormat) == "json";
            using var loggers = LoggerFactory.Create(b =>
            {
                if (json)
                {
                    b.AddJsonConsole(o =>
                    {
                        o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                        o.UseUtcTimestamp = true;
                    });
                }
                else
                {
                    b.AddSimpleConsole(o => o.SingleLine = true);
                }

                b.SetMinimumLevel(LogLevel.Information);
            });
            string dataDirectory = result.GetValue(data)!;
            ProviderHost host;
            try
            {
                host = await ProviderHost.StartAsync(dataDirectory, result.GetValue(database), null, loggers, (result.GetValue(smtpListen), result.GetValue(apiListen)), ct);
            }
            catch (SettingsException e)
            {
                throw new CliException(e.Message, 2);
            }
            catch (StartupException e)
            {
                throw new CliException(e.Message, 1);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new CliException($"cannot start: permission denied: {e.Message} The provider's user must own its data folder: chown -R <user> {Path.GetFullPath(dataDirectory)}", 1);
            }
            catch (Microsoft.Data.Sqlite.SqliteException e)
            {
                throw new CliException($"cannot start: the SQLite database (setting 'database') cannot be opened: {e.Message}; the provider's user must be able to write the database file and its folder (chown -R <user> {Path.GetFullPath(dataDirectory)})", 1);
            }
            catch (Npgsql.NpgsqlException e)
            {
                throw new CliException($"cannot start: the PostgreSQL database (setting 'database' or --database) cannot be reached: {e.Message}", 1);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
            {
                throw new CliException($"cannot start: {e.Message}", 1);
            }

            await using (host)
            {
                var banner = loggers.CreateLogger("Letterlock.Provider");
                void Say(string line)
                {
                    if (json)
                    {
                        // stdout carries only JSON objects in this format: the banner goes through the log
                        Log.ProviderBanner(banner, line);
                    }
                    else
                    {
                        output.WriteLine(line);
                    }
                }

                Say($"Letterlock provider for {host.Settings.Domain} ({host.Settings.HostName})");
                foreach (var listener in host.Listeners)
                {
                    Say($"listening: {listener.Protocol} {listener.EndPoint.Address} {listener.EndPoint.Port}");
                }

                Say($"data: {host.Settings.DataDirectory}");
                Say($"database: {host.Store.Description}");
                Say($"blobs: {host.Blobs.Description}");
                Say("ready");
                await output.FlushAsync(ct);
                try
                {
                    using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, host.Stopping);
                    await Task.Delay(Timeout.Infinite, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    Say("stopping");
                }
            }

            return 0;
        });
        return command;
    }

    private static Command Invite()
    {
        var data = DataOption();
        var database = DatabaseOption();
        var hours = new Option<int?>("--hours") { Description = "Validity in hours (default: accounts.inviteLifetimeHours)." };
        var command = new Command("invite", "Create a single-use invite token for creating one account.\n\n" +
            "Example:\n" +
            "  letterlock provider invite --data /var/lib/letterlock --hours 48")
        {
            data, database, hours,
        };
        command.SetAction(async (result, ct) =>
        {
            int? validity = result.GetValue(hours);
            if (validity is <= 0)
            {
                throw new CliException("--hours must be positive", 2);
            }

            await using var admin = await OpenAdmin(result, data, database, ct);
            var (token, expires) = await admin.CreateInviteAsync(validity is int h ? TimeSpan.FromHours(h) : null, ct);
            await result.InvocationConfiguration.Output.WriteLineAsync(token);
            await result.InvocationConfiguration.Error.WriteLineAsync($"valid until {expires:u}");
            return 0;
        });
        return command;
    }

    private static Command Accounts()
    {
        var accounts = new Command("accounts", "List accounts, disable or enable them, set quotas.\n\n" +
            "Examples:\n" +
            "  letterlock provider accounts list --data /var/lib/letterlock\n" +
            "  letterlock provider accounts quota alice@example.org 5GiB --data /var/lib/letterlock");

        {
            var data = DataOption();
            var database = DatabaseOption();
            var list = new Command("list", "List accounts: address, status, used and quota bytes, documents.\n\nExample:\n  letterlock provider accounts list --data /var/lib/letterlock") { data, database };
            list.SetAction(async (result, ct) =>
            {
                await using var admin = await OpenAdmin(result, data, database, ct);
                var output = result.InvocationConfiguration.Output;
                await output.WriteLineAsync("address\tstatus\tused\tquota\tdocuments");
                foreach (var account in await admin.ListAccountsAsync(ct))
                {
                    await output.WriteLineAsync($"{account.LocalPart}@{admin.Settings.Domain}\t{account.Status.ToString().ToLowerInvariant()}\t{account.UsedBytes}\t{account.QuotaBytes}\t{account.DocumentCount}");
                }

                return 0;
            });
            accounts.Subcommands.Add(list);
        }

        foreach (var (name, status) in new[] { ("disable", AccountStatus.Disabled), ("enable", AccountStatus.Active) })
        {
            var data = DataOption();
            var database = DatabaseOption();
            var address = new Argument<string>("address") { Description = "The account's address (or local part)." };
            var command = new Command(name, $"{(status == AccountStatus.Disabled ? "Disable an account: it receives no mail (550) and cannot sign in" : "Enable a disabled account")}.\n\nExample:\n  letterlock provider accounts {name} alice@example.org --data /var/lib/letterlock")
            {
                address, data, database,
            };
            command.SetAction(async (result, ct) =>
            {
                await using var admin = await OpenAdmin(result, data, database, ct);
                try
                {
                    await admin.SetStatusAsync(result.GetValue(address)!, status, ct);
                }
                catch (SettingsException e)
                {
                    throw new CliException(e.Message, 3);
                }

                await result.InvocationConfiguration.Output.WriteLineAsync($"{result.GetValue(address)}: {status.ToString().ToLowerInvariant()}");
                return 0;
            });
            accounts.Subcommands.Add(command);
        }

        {
            var data = DataOption();
            var database = DatabaseOption();
            var address = new Argument<string>("address") { Description = "The account's address (or local part)." };
            var size = new Argument<string>("size") { Description = "The quota: bytes, or with a suffix KiB, MiB, GiB, TiB." };
            var quota = new Command("quota", "Set an account's quota. Mail beyond it gets 552 5.2.2, API writes 507.\n\nExample:\n  letterlock provider accounts quota alice@example.org 5GiB --data /var/lib/letterlock")
            {
                address, size, data, database,
            };
            quota.SetAction(async (result, ct) =>
            {
                long bytes = ParseSize(result.GetValue(size)!);
                await using var admin = await OpenAdmin(result, data, database, ct);
                try
                {
                    await admin.SetQuotaAsync(result.GetValue(address)!, bytes, ct);
                }
                catch (SettingsException e)
                {
                    throw new CliException(e.Message, 3);
                }

                await result.InvocationConfiguration.Output.WriteLineAsync($"{result.GetValue(address)}: quota {bytes} bytes");
                return 0;
            });
            accounts.Subcommands.Add(quota);
        }

        return accounts;
    }

    internal static long ParseSize(string text)
    {
        string[] suffixes = ["TiB", "GiB", "MiB", "KiB"];
        long multiplier = 1;
        string number = text.Trim();
        for (int i = 0; i < suffixes.Length; i++)
        {
            if (number.EndsWith(suffixes[i], StringComparison.OrdinalIgnoreCase))
            {
                multiplier = 1L << (10 * (suffixes.Length - i));
                number = number[..^suffixes[i].Length].Trim();
                break;
            }
        }

        if (!long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value <= 0 || value > long.MaxValue / multiplier)
        {
            throw new CliException($"'{text}' is not a size such as 1073741824 or 5GiB", 2);
        }

        return value * multiplier;
    }

    private static async Task<ProviderAdmin> OpenAdmin(ParseResult result, Option<string> data, Option<string?> database, CancellationToken ct)
    {
        try
        {
            return await ProviderAdmin.OpenAsync(result.GetValue(data)!, result.GetValue(database), ct);
        }
        catch (SettingsException e)
        {
            throw new CliException(e.Message, 2);
        }
    }
}
