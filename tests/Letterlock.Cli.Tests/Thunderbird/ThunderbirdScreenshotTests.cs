using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Letterlock.Cli.Commands;
using Letterlock.Sandbox;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Search;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Cli.Tests.Thunderbird;

/// <summary>
/// Debian's Thunderbird, under Xvfb, reads bob's mail through his bridge with the Letterlock add-on installed: the
/// message header area shows the locked green button for the end-to-end message from alice and the grey one for mail
/// from outside. A second, test-only add-on in the same profile only opens the two messages side by side; the
/// screenshot of the display is what is checked (and kept in docs/screenshots/ when LETTERLOCK_SCREENSHOTS is set).
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class ThunderbirdScreenshotTests : IDisposable
{
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(8);

    // Bounds a hang of Thunderbird (start-up, first sync, opening both messages) on a loaded machine.
    private static readonly TimeSpan ShownWithin = TimeSpan.FromMinutes(3);
    private const int ScreenWidth = 1640;
    private const int ScreenHeight = 960;
    private const int WindowWidth = 810;

    // The fill colours of icons/green.svg and icons/grey.svg.
    private const string Green = "1A8F3A";
    private const string Grey = "7A7A7A";

    private readonly string _dir = Directory.CreateTempSubdirectory("letterlock-thunderbird-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Thunderbird may still be letting go of a file; the temp folder is cleaned by the system.
        }
    }

    [ThunderbirdFact]
    public async Task Thunderbird_shows_end_to_end_and_not_encrypted_in_the_message_header_area()
    {
        using var timeout = new CancellationTokenSource(Generous);
        var ct = timeout.Token;
        await using var sandbox = await SandboxEnvironment.StartAsync(new SandboxOptions { DataDirectory = Path.Combine(_dir, "sandbox") }, ct: ct);
        var bob = sandbox.Info.Accounts[1];

        // Alice's welcome message is end to end; this one comes from outside, straight to bob's provider's MX.
        string plainSubject = "Hello from outside " + Guid.NewGuid().ToString("N")[..8];
        var plain = new MimeMessage();
        plain.From.Add(new MailboxAddress("Carol", "carol@outside.test"));
        plain.To.Add(new MailboxAddress("Bob", bob.Address));
        plain.Subject = plainSubject;
        plain.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("outside.test");
        plain.Body = new TextPart("plain") { Text = "Plain mail from the wider world.\n" };
        var mx = System.Net.IPEndPoint.Parse(sandbox.Info.Providers[1].Smtp);
        using (var smtp = new SmtpClient())
        {
            await smtp.ConnectAsync(mx.Address.ToString(), mx.Port, SecureSocketOptions.None, ct);
            await smtp.SendAsync(plain, ct);
            await smtp.DisconnectAsync(true, ct);
        }

        string encryptedSubject = await WaitForBothAsync(bob, plain.MessageId, ct);

        string profile = Path.Combine(_dir, "profile");
        Directory.CreateDirectory(profile);
        await PrepareProfileAsync(profile, bob, [encryptedSubject, plainSubject], ct);

        await using var display = await Xvfb.StartAsync(ScreenWidth, ScreenHeight, ct);
        var log = new StringBuilder();
        using var thunderbird = StartThunderbird(profile, display.Name, log);
        try
        {
            string shot = Path.Combine(_dir, "thunderbird.png");
            var left = new Region(0, 0, WindowWidth, ScreenHeight);
            var right = new Region(WindowWidth + 10, 0, WindowWidth, ScreenHeight);
            Dictionary<string, int> leftColours = [], rightColours = [];
            using var shown = CancellationTokenSource.CreateLinkedTokenSource(ct);
            shown.CancelAfter(ShownWithin);
            while (true)
            {
                if (shown.IsCancellationRequested)
                {
                    string kept = Path.Combine(Path.GetTempPath(), "letterlock-thunderbird-last.png");
                    File.Copy(shot, kept, overwrite: true);
                    Assert.Fail($"not shown within {ShownWithin}: green left {Count(leftColours, Green)}, grey right {Count(rightColours, Grey)}, " +
                        $"{States(log).Count} decisions logged; last screenshot in {kept}; Thunderbird said:\n{Tail(log)}");
                }

                if (thunderbird.HasExited)
                {
                    Assert.Fail($"Thunderbird exited ({thunderbird.ExitCode}):\n{Tail(log)}");
                }

                await RunAsync("import", ["-display", display.Name, "-window", "root", shot], ct);
                leftColours = await ColoursAsync(shot, left, ct);
                rightColours = await ColoursAsync(shot, right, ct);
                if (Count(leftColours, Green) >= 40 && Count(rightColours, Grey) >= 40 && States(log).Count >= 2)
                {
                    break;
                }

                await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
            }

            // What the add-on decided for each message, and what the screen shows for it.
            var states = States(log);
            Assert.Equal("green", states[encryptedSubject].Level);
            Assert.Equal($"End-to-end encrypted · signed by {sandbox.Info.Accounts[0].Address} (key in the provider's transparency log)", states[encryptedSubject].Label);
            Assert.Equal("grey", states[plainSubject].Level);
            Assert.Equal("Not end-to-end encrypted · not signed", states[plainSubject].Label);
            Assert.Equal(0, Count(rightColours, Green));
            Assert.Equal(0, Count(leftColours, "D0261B"));
            Assert.Equal(0, Count(rightColours, "D0261B"));

            if (Environment.GetEnvironmentVariable("LETTERLOCK_SCREENSHOTS") is { Length: > 0 } keep)
            {
                Directory.CreateDirectory(keep);
                File.Copy(shot, Path.Combine(keep, "thunderbird-security.png"), overwrite: true);
            }
        }
        finally
        {
            if (!thunderbird.HasExited)
            {
                thunderbird.Kill(entireProcessTree: true);
                await thunderbird.WaitForExitAsync(CancellationToken.None);
            }
        }
    }

    private readonly record struct Region(int X, int Y, int Width, int Height);

    private sealed record State(string Level, string Label);

    /// <summary>The add-on's decisions, from the lines it writes to the console (one per displayed message).</summary>
    private static Dictionary<string, State> States(StringBuilder log)
    {
        var states = new Dictionary<string, State>();
        string text;
        lock (log)
        {
            text = log.ToString();
        }

        foreach (var line in text.Split('\n'))
        {
            int at = line.IndexOf("letterlock-state ", StringComparison.Ordinal);
            if (at < 0)
            {
                continue;
            }

            // letterlock-state level=green subject=URI-ENCODED label=URI-ENCODED (the console may quote the line)
            var fields = line[(at + "letterlock-state ".Length)..].Trim().TrimEnd('"').Split(' ')
                .Select(f => f.Split('=', 2))
                .Where(kv => kv.Length == 2)
                .ToDictionary(kv => kv[0], kv => Uri.UnescapeDataString(kv[1]), StringComparer.Ordinal);
            if (fields.TryGetValue("level", out var level) && fields.TryGetValue("subject", out var subject) && fields.TryGetValue("label", out var label))
            {
                states[subject] = new State(level, label);
            }
        }

        return states;
    }

    private static string Tail(StringBuilder log)
    {
        lock (log)
        {
            string text = log.ToString();
            return text.Length > 4000 ? text[^4000..] : text;
        }
    }

    private static int Count(Dictionary<string, int> colours, string hex) => colours.GetValueOrDefault(hex);

    /// <summary>How many pixels of each colour the region holds (ImageMagick's histogram).</summary>
    private static async Task<Dictionary<string, int>> ColoursAsync(string image, Region region, CancellationToken ct)
    {
        string output = await RunAsync("convert",
            [image, "-crop", $"{region.Width}x{region.Height}+{region.X}+{region.Y}", "+repage", "-format", "%c", "histogram:info:-"], ct);
        var colours = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in output.Split('\n'))
        {
            // "    1234: ( 26,143, 58) #1A8F3A srgb(26,143,58)"
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            int hash = line.IndexOf('#', StringComparison.Ordinal);
            if (colon < 0 || hash < 0 || hash + 7 > line.Length)
            {
                continue;
            }

            if (int.TryParse(line[..colon].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int count))
            {
                colours[line.Substring(hash + 1, 6)] = count;
            }
        }

        return colours;
    }

    /// <summary>Waits until bob's bridge serves both messages; returns the end-to-end one's subject.</summary>
    private static async Task<string> WaitForBothAsync(SandboxAccount bob, string plainMessageId, CancellationToken ct)
    {
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync(bob.ImapHost, bob.ImapPort, SecureSocketOptions.StartTls, ct);
        await imap.AuthenticateAsync(bob.UserName, bob.Password, ct);
        var inbox = imap.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadOnly, ct);
        while ((await inbox.SearchAsync(SearchQuery.HeaderContains("Message-ID", plainMessageId), ct)).Count == 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            await imap.NoOpAsync(ct);
        }

        string? subject = null;
        for (int i = 0; i < inbox.Count && subject is null; i++)
        {
            var message = await inbox.GetMessageAsync(i, ct);
            if (message.Headers["Letterlock-Encryption"]?.StartsWith("end-to-end", StringComparison.Ordinal) == true)
            {
                subject = message.Subject;
            }
        }

        await imap.DisconnectAsync(true, ct);
        return subject ?? throw new InvalidOperationException("bob's inbox holds no end-to-end message");
    }

    /// <summary>
    /// A fresh profile: bob's IMAP account on his bridge (its self-signed certificate trusted as its own anchor, as `certutil -t C,,` does; its password in the
    /// password manager), no first-run screens, no updates or telemetry, and both add-ons installed and enabled.
    /// </summary>
    private static async Task PrepareProfileAsync(string profile, SandboxAccount bob, string[] subjects, CancellationToken ct)
    {
        await RunAsync("certutil", ["-N", "-d", "sql:" + profile, "--empty-password"], ct);
        await RunAsync("certutil", ["-A", "-d", "sql:" + profile, "-n", "letterlock-bridge", "-t", "C,,", "-a", "-i", bob.CertificatePath], ct);
        var encrypted = NssSecretStore.Encrypt(profile, bob.UserName, bob.Password);
        string origin = "imap://" + bob.ImapHost;
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var logins = new
        {
            nextId = 2,
            logins = new[]
            {
                new
                {
                    id = 1, hostname = origin, httpRealm = origin, formSubmitURL = (string?)null, usernameField = "", passwordField = "",
                    encryptedUsername = encrypted[0], encryptedPassword = encrypted[1], guid = "{" + Guid.NewGuid() + "}", encType = 1,
                    timeCreated = now, timeLastUsed = now, timePasswordChanged = now, timesUsed = 1,
                },
            },
            potentiallyVulnerablePasswords = Array.Empty<string>(),
            dismissedBreachAlertsByLoginGUID = new { },
            version = 3,
        };
        await File.WriteAllTextAsync(Path.Combine(profile, "logins.json"), JsonSerializer.Serialize(logins), ct);

        var prefs = new (string Name, object Value)[]
        {
            ("mail.accountmanager.accounts", "account1,account2"),
            ("mail.accountmanager.defaultaccount", "account1"),
            ("mail.accountmanager.localfoldersserver", "server2"),
            ("mail.account.account1.identities", "id1"),
            ("mail.account.account1.server", "server1"),
            ("mail.account.account2.server", "server2"),
            ("mail.identity.id1.fullName", "Bob"),
            ("mail.identity.id1.useremail", bob.Address),
            ("mail.identity.id1.valid", true),
            ("mail.server.server1.type", "imap"),
            ("mail.server.server1.hostname", bob.ImapHost),
            ("mail.server.server1.port", bob.ImapPort),
            ("mail.server.server1.userName", bob.UserName),
            ("mail.server.server1.name", bob.Address),
            ("mail.server.server1.socketType", 2), // STARTTLS
            ("mail.server.server1.authMethod", 3), // normal password
            ("mail.server.server1.login_at_startup", true),
            ("mail.server.server1.check_new_mail", true),
            ("mail.server.server1.autosync_offline_stores", false),
            ("mail.server.server1.directory-rel", "[ProfD]ImapMail/bridge"),
            ("mail.server.server2.type", "none"),
            ("mail.server.server2.hostname", "Local Folders"),
            ("mail.server.server2.userName", "nobody"),
            ("mail.server.server2.name", "Local Folders"),
            ("mail.server.server2.directory-rel", "[ProfD]Mail/Local Folders"),
            ("extensions.autoDisableScopes", 0),
            ("extensions.enabledScopes", 15),
            ("xpinstall.signatures.required", false),
            ("extensions.update.enabled", false),
            ("extensions.getAddons.cache.enabled", false),
            ("app.update.auto", false),
            ("app.update.enabled", false),
            ("app.update.checkInstallTime", false),
            ("app.donation.eoy.version.viewed", 9999),
            ("mail.shell.checkDefaultClient", false),
            ("mail.provider.suppress_dialog_on_startup", true),
            ("mail.startup.enabledMailCheckOnce", true),
            ("mail.spotlight.firstRunDone", true),
            ("mail.winsearch.firstRunDone", true),
            ("mail.rights.override", true),
            ("mail.inappnotifications.enabled", false),
            ("mailnews.start_page.enabled", false),
            ("mailnews.database.global.indexer.enabled", false),
            ("mail.biff.show_alert", false),
            ("mail.biff.play_sound", false),
            ("mail.phishing.detection.enabled", false),
            ("datareporting.policy.dataSubmissionEnabled", false),
            ("datareporting.healthreport.uploadEnabled", false),
            ("toolkit.telemetry.enabled", false),
            ("toolkit.telemetry.unified", false),
            ("browser.shell.checkDefaultBrowser", false),
            ("network.captive-portal-service.enabled", false),
            ("network.connectivity-service.enabled", false),
            ("offline.autoDetect", false),
            ("network.manage-offline-status", false),
            ("calendar.timezone.local", "UTC"),
            ("calendar.timezone.useSystemTimezone", false),
            ("devtools.console.stdout.chrome", true),
            ("devtools.console.stdout.content", true),
            ("browser.dom.window.dump.enabled", true),
            ("ui.prefersReducedMotion", 1),
        };
        var js = new StringBuilder();
        foreach (var (name, value) in prefs)
        {
            string literal = value switch
            {
                bool b => b ? "true" : "false",
                int i => i.ToString(CultureInfo.InvariantCulture),
                string s => JsonSerializer.Serialize(s),
                _ => throw new ArgumentException(name),
            };
            js.Append(CultureInfo.InvariantCulture, $"user_pref(\"{name}\", {literal});\n");
        }

        await File.WriteAllTextAsync(Path.Combine(profile, "user.js"), js.ToString(), ct);

        string extensions = Path.Combine(profile, "extensions");
        Directory.CreateDirectory(extensions);
        await BridgeAddonCommand.WriteAsync(Path.Combine(extensions, BridgeAddonCommand.AddonId + ".xpi"), ct);
        await WriteOpenerAsync(Path.Combine(extensions, "opener@letterlock.invalid.xpi"), subjects, ct);
    }

    /// <summary>
    /// The test-only add-on: waits until Thunderbird has fetched both messages' headers, then opens each in a window of
    /// its own, side by side. It shows nothing and decides nothing: the Letterlock add-on does that.
    /// </summary>
    private static async Task WriteOpenerAsync(string path, string[] subjects, CancellationToken ct)
    {
        string manifest = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["manifest_version"] = 2,
            ["name"] = "Letterlock test opener",
            ["version"] = "1.0",
            ["browser_specific_settings"] = new { gecko = new { id = "opener@letterlock.invalid" } },
            ["permissions"] = new[] { "messagesRead", "accountsRead" },
            ["background"] = new { scripts = new[] { "opener.js" } },
        });
        string script = $$"""
            "use strict";
            const subjects = {{JsonSerializer.Serialize(subjects)}};
            async function find(subject) {
              const page = await messenger.messages.query({ subject });
              return page.messages.find((m) => m.subject === subject);
            }
            async function run() {
              let found = [];
              while (found.length !== subjects.length || found.some((m) => !m)) {
                await new Promise((resolve) => setTimeout(resolve, 1000));
                try {
                  found = await Promise.all(subjects.map(find));
                } catch (e) {
                  console.log("letterlock-opener " + e);
                }
              }
              for (let i = 0; i < found.length; i++) {
                const tab = await messenger.messageDisplay.open({ messageId: found[i].id, location: "window" });
                await messenger.windows.update(tab.windowId, { left: i * {{WindowWidth + 10}}, top: 0, width: {{WindowWidth}}, height: {{ScreenHeight}} });
              }
              console.log("letterlock-opener opened " + found.length);
            }
            run();
            """;
        await using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create);
        foreach (var (name, text) in new[] { ("manifest.json", manifest), ("opener.js", script) })
        {
            await using var entry = await zip.CreateEntry(name).OpenAsync(ct);
            await entry.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
        }
    }

    private static Process StartThunderbird(string profile, string display, StringBuilder log)
    {
        var start = new ProcessStartInfo("thunderbird") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-profile", profile, "-no-remote" })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DISPLAY"] = display;
        start.Environment["HOME"] = profile;
        start.Environment["MOZ_CRASHREPORTER_DISABLE"] = "1";
        start.Environment["XDG_CONFIG_HOME"] = Path.Combine(profile, ".config");
        start.Environment.Remove("WAYLAND_DISPLAY");
        var process = new Process { StartInfo = start };
        void Append(object? sender, DataReceivedEventArgs e)
        {
            if (e.Data is { } line)
            {
                lock (log)
                {
                    log.Append(line).Append('\n');
                }
            }
        }

        process.OutputDataReceived += Append;
        process.ErrorDataReceived += Append;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task<string> RunAsync(string tool, string[] args, CancellationToken ct)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        string output = await stdout;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
        }

        return output;
    }

    /// <summary>An X display of its own (Xvfb picks a free number and says which).</summary>
    private sealed class Xvfb : IAsyncDisposable
    {
        private readonly Process _process;

        private Xvfb(Process process, string name) => (_process, Name) = (process, name);

        public string Name { get; }

        public static async Task<Xvfb> StartAsync(int width, int height, CancellationToken ct)
        {
            var start = new ProcessStartInfo("Xvfb") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { "-displayfd", "1", "-screen", "0", $"{width}x{height}x24", "-nolisten", "tcp" })
            {
                start.ArgumentList.Add(arg);
            }

            var process = Process.Start(start)!;
            _ = process.StandardError.ReadToEndAsync(CancellationToken.None);
            string? number = await process.StandardOutput.ReadLineAsync(ct);
            if (number is null || !int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                process.Kill();
                throw new InvalidOperationException("Xvfb did not report a display number");
            }

            return new Xvfb(process, ":" + number);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync(CancellationToken.None);
            }

            _process.Dispose();
        }
    }
}
