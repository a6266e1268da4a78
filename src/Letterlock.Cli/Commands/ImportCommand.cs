using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Letterlock.Client.Import;
using Letterlock.Client.Net;
using Letterlock.Client.Sync;
using Spectre.Console;

namespace Letterlock.Cli.Commands;

/// <summary>
/// <c>letterlock import</c>: brings existing mail into an account from an mbox file, a Maildir tree or a remote IMAP
/// account, encrypted before anything is written, then pushes it to the provider (docs/design/import.md).
/// </summary>
internal static class ImportCommand
{
    public const string PasswordVariable = "LETTERLOCK_IMPORT_PASSWORD";

    private const string ExitCodes =
        "Exit codes: 0 everything imported or already there; 1 some messages refused (the rest imported, reasons listed);\n" +
        "2 bad arguments; 3 the store cannot be unlocked; 4 the source could not be read (not a mailbox, unreachable,\n" +
        "login refused, or failed part-way: what was read whole is kept; run again to resume); 5 imported on this\n" +
        "device but the provider could not be reached (the next sync pushes it).";

    public static Command Create()
    {
        var access = new ClientStoreAccess();
        var account = new Option<string?>("--account") { Description = "The account to import into (needed when the client has several).", Recursive = true };
        var maxSize = new Option<long?>("--max-message-size") { Description = "Refuse messages larger than this many bytes (default 64 MiB).", Recursive = true };
        var noSync = new Option<bool>("--no-sync") { Description = "Only store on this device; the next sync pushes to the provider.", Recursive = true };
        var providerCa = new Option<string?>("--provider-ca") { Description = "Trust this CA certificate (PEM) for the provider (test and sandbox providers).", Recursive = true };

        var command = new Command("import",
            "Import existing mail into an account: an mbox file, a Maildir (or a Dovecot/Thunderbird tree of them), or a\n" +
            "remote IMAP account. Folders, flags and dates are kept. Messages are encrypted before anything is written,\n" +
            "stored on this device and pushed to the provider, so every device of the account gets them. Running it\n" +
            "again imports nothing twice; interrupted, it resumes where it stopped.\n\n" +
            ExitCodes + "\n\n" +
            "Examples:\n" +
            "  letterlock import mbox ~/archive.mbox --folder Archive/2019\n" +
            "  letterlock import maildir ~/Maildir\n" +
            "  LETTERLOCK_IMPORT_PASSWORD=app-password letterlock import imap --host imap.example.org --user alice@example.org")
        {
            account, maxSize, noSync, providerCa,
        };
        access.AddTo(command);

        var mboxPath = new Argument<string>("file") { Description = "The mbox file." };
        var mboxFolder = new Option<string>("--folder") { Description = "The folder to import into (default INBOX).", DefaultValueFactory = _ => "INBOX" };
        var format = new Option<MboxFormat>("--format") { Description = "How the writer quoted 'From ' lines: mboxrd (default) or mboxo." };
        var mbox = new Command("mbox",
            "Import an mbox file (mboxrd or mboxo) into one folder. The date of each 'From ' line is the message's\n" +
            "arrival date; Status/X-Status headers give its flags.\n\n" + ExitCodes + "\n\n" +
            "Examples:\n" +
            "  letterlock import mbox ~/mail/saved.mbox\n" +
            "  letterlock import mbox old-lists.mbox --folder Lists/old --format mboxo")
        {
            mboxPath, mboxFolder, format,
        };
        mbox.SetAction((parse, ct) => RunAsync(parse, access, account, maxSize, noSync, providerCa,
            options =>
            {
                options.MboxFormat = parse.GetValue(format);
                var path = parse.GetValue(mboxPath)!;
                return File.Exists(path) ? new MboxReader(path, parse.GetValue(mboxFolder)!, options) : throw new CliException($"there is no file {path}", 2);
            }, ct));
        command.Add(mbox);

        var maildirPath = new Argument<string>("directory") { Description = "The Maildir, or the root of a Maildir++ or nested tree." };
        var rootFolder = new Option<string>("--folder") { Description = "The folder the root Maildir goes into (default INBOX).", DefaultValueFactory = _ => "INBOX" };
        var maildir = new Command("maildir",
            "Import a Maildir with its folders: Maildir++ '.Folder.Sub' directories (Dovecot, Courier) and nested\n" +
            "directories (Dovecot LAYOUT=fs, Thunderbird's maildir store). Flags come from the ':2,FRS' suffix of each\n" +
            "file name, the arrival date from its modification time.\n\n" + ExitCodes + "\n\n" +
            "Examples:\n" +
            "  letterlock import maildir ~/Maildir\n" +
            "  letterlock import maildir ~/backup/work --folder Work")
        {
            maildirPath, rootFolder,
        };
        maildir.SetAction((parse, ct) => RunAsync(parse, access, account, maxSize, noSync, providerCa,
            options => new MaildirReader(parse.GetValue(maildirPath)!, options, parse.GetValue(rootFolder)!), ct));
        command.Add(maildir);

        var host = new Option<string>("--host") { Description = "The IMAP server.", Required = true };
        var port = new Option<int?>("--port") { Description = "Its port (default 993, or 143 with --starttls)." };
        var user = new Option<string>("--user") { Description = "The login name.", Required = true };
        var passwordFile = new Option<string?>("--password-file") { Description = $"Read the password or app password from this file (else ${PasswordVariable}, else a prompt)." };
        var starttls = new Option<bool>("--starttls") { Description = "Connect in the clear and upgrade with STARTTLS (port 143) instead of TLS from the start." };
        var ca = new Option<string?>("--ca") { Description = "Trust this CA certificate (PEM) for the IMAP server instead of the system's (a private CA)." };
        var only = new Option<string[]>("--only-folder") { Description = "Import only this folder (repeatable; by its name on the server)." };
        var imap = new Command("imap",
            "Import every folder of a remote IMAP account, read-only (the server's mail and flags stay as they are).\n" +
            "The password never goes on the command line: --password-file, $" + PasswordVariable + ", or a prompt.\n" +
            "TLS is always on and verified (use --ca for a server with a private CA).\n\n" + ExitCodes + "\n\n" +
            "Examples:\n" +
            "  letterlock import imap --host imap.gmail.com --user alice@gmail.com\n" +
            "  letterlock import imap --host mail.internal --port 143 --starttls --ca internal-ca.pem --user alice --password-file pw.txt")
        {
            host, port, user, passwordFile, starttls, ca, only,
        };
        imap.SetAction(async (parse, ct) =>
        {
            var roots = await AccountAccessCommands.LoadRootsAsync(parse.GetValue(ca), "--ca", ct);
            var password = await PasswordAsync(parse.GetValue(passwordFile), parse.GetValue(user)!, parse.GetValue(host)!, ct);
            bool upgrade = parse.GetValue(starttls);
            var settings = new ImapSourceSettings(parse.GetValue(host)!, parse.GetValue(port) ?? (upgrade ? 143 : 993), parse.GetValue(user)!, password,
                upgrade ? ImapSourceTls.StartTls : ImapSourceTls.Implicit, roots, parse.GetValue(only) is { Length: > 0 } folders ? folders : null);
            return await RunAsync(parse, access, account, maxSize, noSync, providerCa, options => new ImapImportSource(settings, options), ct);
        });
        command.Add(imap);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, ClientStoreAccess access, Option<string?> accountOption, Option<long?> maxSize,
        Option<bool> noSync, Option<string?> providerCa, Func<ImportOptions, IImportSource> source, CancellationToken ct)
    {
        var options = new ImportOptions();
        if (parse.GetValue(maxSize) is { } max)
        {
            try
            {
                options.MaxMessageBytes = max;
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new CliException("--max-message-size: " + e.Message.Split(Environment.NewLine)[0], 2);
            }
        }

        var reader = source(options);
        var roots = await AccountAccessCommands.LoadRootsAsync(parse.GetValue(providerCa), "--provider-ca", ct);
        using var store = await access.OpenAsync(parse, ct);
        var owner = await ContactsCommand.ResolveAccountAsync(store, parse.GetValue(accountOption), ct);
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        var importer = new MailImporter(store, owner.Id, options);
        await error.WriteLineAsync($"{owner.Address}: importing from {reader.Description}");

        ImportReport? report = null;
        string? failure = null;
        var clock = Stopwatch.StartNew();
        try
        {
            bool live = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
            report = live ? await LiveAsync(importer, reader, clock, ct) : await PlainAsync(importer, reader, clock, output, ct);
        }
        catch (ImportSourceException e)
        {
            failure = e.Message;
        }

        if (report is null)
        {
            await error.WriteLineAsync($"letterlock: import: {failure}");
            await error.WriteLineAsync("letterlock: import: the messages read whole before are stored; run the same command again to resume");
            return 4;
        }

        double seconds = Math.Max(clock.Elapsed.TotalSeconds, 0.001);
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"{owner.Address}: {report.Imported} imported, {report.Duplicates} skipped as duplicates, {report.Refused.Count} refused " +
            $"({(report.Imported + report.Duplicates + report.Refused.Count) / seconds:0} msg/s)"));
        foreach (var refusal in report.Refused)
        {
            await output.WriteLineAsync($"  refused: {refusal.Where}: {refusal.Reason}");
        }

        int code = report.Refused.Count > 0 ? 1 : 0;
        if (parse.GetValue(noSync) || owner.DeviceId is null)
        {
            return code;
        }

        try
        {
            using var http = new HttpClient(HttpFetch.CreateHandler(null, roots)) { Timeout = Timeout.InfiniteTimeSpan };
            var provider = await AccountRegistration.ConnectAsync(store, owner, http, ct: ct);
            var sync = await new SyncEngine(store, owner, provider).SyncAsync(ct: ct);
            await output.WriteLineAsync($"{owner.Address}: {sync.Pushed} pushed to the provider");
            return code;
        }
        catch (Exception e) when (e is ProviderUnavailableException or ProviderProblemException)
        {
            await error.WriteLineAsync($"letterlock: {owner.Address}: imported on this device, but the provider could not take it now ({e.Message}); " +
                "the next sync (letterlock sync, or the bridge) pushes it");
            return 5;
        }
    }

    /// <summary>Plain lines, at most one every two seconds (stdout is a file or a pipe).</summary>
    private static async Task<ImportReport> PlainAsync(MailImporter importer, IImportSource reader, Stopwatch clock, TextWriter output, CancellationToken ct)
    {
        var last = TimeSpan.Zero;
        var progress = new Synchronous(p =>
        {
            if (clock.Elapsed - last >= TimeSpan.FromSeconds(2))
            {
                last = clock.Elapsed;
                output.WriteLine(Line(p, clock.Elapsed));
            }
        });
        return await importer.ImportAsync(reader, progress, ct);
    }

    /// <summary>A live bar with counts, rate and ETA (stdout is a terminal).</summary>
    private static async Task<ImportReport> LiveAsync(MailImporter importer, IImportSource reader, Stopwatch clock, CancellationToken ct)
    {
        ImportReport? report = null;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("import", maxValue: 1);
                task.IsIndeterminate = true;
                var progress = new Synchronous(p =>
                {
                    if (p.Position.Total is { } total && total > 0)
                    {
                        task.IsIndeterminate = false;
                        task.MaxValue = total;
                        task.Value = p.Position.Done;
                    }

                    task.Description = Markup.Escape(Line(p, clock.Elapsed));
                });
                report = await importer.ImportAsync(reader, progress, ct);
                task.Value = task.MaxValue;
                task.StopTask();
            });
        return report!;
    }

    internal static string Line(ImportProgress p, TimeSpan elapsed)
    {
        long processed = p.Imported + p.Duplicates + p.Refused;
        double rate = processed / Math.Max(elapsed.TotalSeconds, 0.001);
        var text = string.Create(CultureInfo.InvariantCulture, $"{p.Imported} imported, {p.Duplicates} duplicates, {p.Refused} refused, {rate:0} msg/s");
        if (p.Position.Total is { } total && total > 0 && p.Position.Done > 0)
        {
            double fraction = Math.Min(1, (double)p.Position.Done / total);
            var eta = TimeSpan.FromSeconds(elapsed.TotalSeconds * (1 - fraction) / fraction);
            text += string.Create(CultureInfo.InvariantCulture, $", {fraction:P0} read, ETA {eta:hh\\:mm\\:ss}");
        }

        return text;
    }

    private static async Task<string> PasswordAsync(string? file, string user, string host, CancellationToken ct)
    {
        if (file is not null)
        {
            try
            {
                var text = (await File.ReadAllTextAsync(file, ct)).TrimEnd('\r', '\n');
                return text.Length > 0 ? text : throw new CliException($"--password-file: {file} is empty", 2);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"--password-file: cannot read {file}", 2);
            }
        }

        if (Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } password)
        {
            return password;
        }

        if (Console.IsInputRedirected)
        {
            throw new CliException($"no IMAP password: pass --password-file FILE or set {PasswordVariable}", 2);
        }

        return ClientStoreAccess.Prompt($"Password for {user} at {host}: ", "an empty IMAP password", 2);
    }

    /// <summary>Reports on the importing thread, in order (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class Synchronous(Action<ImportProgress> report) : IProgress<ImportProgress>
    {
        public void Report(ImportProgress value) => report(value);
    }
}
