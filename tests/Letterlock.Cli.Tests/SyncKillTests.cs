using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Provider.Hosting;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;
using Xunit.Abstractions;

namespace Letterlock.Cli.Tests;

/// <summary>
/// Exactly once with real crashes: <c>letterlock sync</c> runs as a child process and is killed with SIGKILL at a
/// random moment, again and again, while mail keeps arriving (legacy mail through the provider's MX, documents of
/// another device) and the user keeps changing things on the device (flags, deletions, drafts). At the end one
/// uninterrupted sync must leave every message exactly once, with its flags, on the device and at the provider,
/// and a further sync must find nothing to do. The default run kills 8 times; the soak run (<see cref="SoakFactAttribute"/>) 50 times.
/// The random seed is printed, and a failure names it: <c>LETTERLOCK_KILL_SEED=N</c> repeats a run's choices.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class SyncKillTests(ITestOutputHelper log) : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-sync-kill-" + Guid.NewGuid().ToString("N"));
    private ProviderHost _provider = null!;
    private HttpClient _http = null!;

    private string ProviderData => Path.Combine(_dir, "provider");

    private string ClientData => Path.Combine(_dir, "client");

    private string KeyFilePath => Path.Combine(ClientData, "store.key");

    private string CaPath => Path.Combine(ProviderData, "tls", "cert.pem");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(ClientData);
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", ProviderData, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
        // Every child process logs in anew: far more logins a minute than one person's devices make.
        var settingsPath = Path.Combine(ProviderData, "provider.json");
        var settings = JsonNode.Parse(await File.ReadAllTextAsync(settingsPath), null, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })!;
        settings["api"] ??= new JsonObject();
        settings["api"]!["challengesPerMinutePerClient"] = 100_000;
        await File.WriteAllTextAsync(settingsPath, settings.ToJsonString());
        _provider = await ProviderHost.StartAsync(ProviderData, null, new Letterlock.Dns.StaticDnsResolver(), LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
        _http = new HttpClient(HttpFetch.CreateHandler(null, [X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(CaPath))])) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _provider.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public Task Sync_killed_with_sigkill_8_times_at_random_moments_leaves_every_message_exactly_once() => KillLoopAsync(8);

    [SoakFact]
    [Trait(TestCategory.Name, TestCategory.Soak)]
    public Task Sync_killed_with_sigkill_50_times_at_random_moments_leaves_every_message_exactly_once() => KillLoopAsync(50);

    private async Task KillLoopAsync(int kills)
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("LETTERLOCK_KILL_SEED"), out var given) ? given : Random.Shared.Next();
        log.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var url = new Uri($"https://127.0.0.1:{_provider.HttpsEndPoint.Port}/");
        KeyFile.Create(KeyFilePath);
        AccountRecord account;
        ProviderClient otherDevice;
        DocumentSealer sealer;
        using (var store = await OpenStoreAsync(create: true))
        {
            account = await AccountRegistration.CreateAsync(store, new ProviderClient(_http, url), "alice@alpha.test", "Alice");
            otherDevice = await AccountRegistration.ConnectAsync(store, account, _http);
            sealer = new DocumentSealer((await store.Keys.GetCurrentAsync(account.Id, AccountKeys.AccountMasterKey))!.Material);
        }

        using var _ = sealer;
        var expected = new Dictionary<string, string>(StringComparer.Ordinal); // subject -> flags (without \Seen)
        var otherRevisions = new Dictionary<string, long>(StringComparer.Ordinal);
        int killed = 0, finished = 0;
        TimeSpan perMessage = TimeSpan.Zero;
        int held = 0;
        for (int round = 0; round <= kills; round++)
        {
            // New work for this round: mail through the MX, another device's documents (and one of its deletions),
            // and changes here to messages the device holds.
            for (int i = 0; i < 24; i++)
            {
                await DeliverAsync($"legacy {round}.{i}");
                expected[$"legacy {round}.{i}"] = "";
            }

            for (int i = 0; i < 8; i++)
            {
                var id = $"m-other-{round}-{i}";
                otherRevisions[id] = await PutAsOtherDeviceAsync(otherDevice, sealer, id, $"other {round}.{i}", i % 2 == 0 ? "INBOX" : "Archive");
                expected[$"other {round}.{i}"] = "";
            }

            if (round > 1)
            {
                var gone = otherRevisions.Keys.Order(StringComparer.Ordinal).ElementAt(random.Next(otherRevisions.Count));
                Assert.Equal(WriteStatus.Ok, (await otherDevice.DeleteDocumentAsync(gone, otherRevisions[gone])).Status);
                otherRevisions.Remove(gone);
                expected.Remove("other " + gone["m-other-".Length..].Replace('-', '.'));
            }

            await ChangeHereAsync(account, round, random, expected);

            // Round 0 measures how long syncing one message takes. Every later run is killed with SIGKILL at a random
            // moment within the time its backlog would take (the work left by earlier kills grows it), counted from
            // when the sync starts; some finish first, and that is fine too.
            if (round == 0)
            {
                var calibration = await RunSyncAsync(killAfter: null);
                Assert.True(calibration.Code == 0, calibration.Output);
                perMessage = calibration.Syncing / expected.Count;
                log.WriteLine($"syncing a message takes {perMessage.TotalMilliseconds:F0} ms");
                held = expected.Count;
                continue;
            }

            var killAfter = perMessage * (expected.Count - held + 2) * random.NextDouble() * 1.2;
            var (exited, code, output, ran) = await RunSyncAsync(killAfter);
            if (exited)
            {
                Assert.True(code == 0, $"seed {seed}, round {round}: sync failed with {code}:\n{output}");
                finished++;
            }
            else
            {
                killed++;
            }

            // Where the kill landed: how much of the expected state the device holds now.
            using (var store = await OpenStoreAsync(create: false))
            {
                var subjects = (await DescribeDeviceAsync(store, account)).Select(l => l[..l.IndexOf(" [", StringComparison.Ordinal)]).ToHashSet(StringComparer.Ordinal);
                held = expected.Keys.Count(subjects.Contains);
                log.WriteLine($"round {round}: {(exited ? "finished" : $"killed after {killAfter.TotalMilliseconds:F0} ms of {ran.TotalMilliseconds:F0}")}, " +
                    $"the device holds {held} of {expected.Count} messages");
            }
        }

        // How many runs the kill reached depends on the machine's speed, so it is reported, not asserted.
        log.WriteLine($"{killed} runs killed, {finished} finished before the kill");

        // One run to the end, then one that finds nothing to do.
        var final = await RunSyncAsync(killAfter: null);
        Assert.True(final.Code == 0, $"seed {seed}: the final sync failed:\n{final.Output}");
        var idle = await RunSyncAsync(killAfter: null);
        Assert.Contains("alice@alpha.test: 0 received, 0 pushed, 0 deleted, 0 not applied", idle.Output, StringComparison.Ordinal);

        var want = expected.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key} [{e.Value}]").ToList();
        using (var store = await OpenStoreAsync(create: false))
        {
            var device = await DescribeDeviceAsync(store, account);
            Assert.True(want.SequenceEqual(device), $"seed {seed}: the device holds\n{Diff(want, device)}");
        }

        var provider = await Letterlock.Client.Tests.Sync.ProviderDocuments.DescribeAsync(otherDevice, sealer);
        Assert.True(want.SequenceEqual(provider), $"seed {seed}: the provider holds\n{Diff(want, provider)}");
    }

    /// <summary>On the device, between runs: a flag on one legacy message, one legacy message deleted, a new draft.</summary>
    private async Task ChangeHereAsync(AccountRecord account, int round, Random random, Dictionary<string, string> expected)
    {
        using var store = await OpenStoreAsync(create: false);
        var mail = store.Mail(account.Id);
        var legacy = new List<StoredMessage>();
        foreach (var folder in await mail.ListFoldersAsync())
        {
            legacy.AddRange((await mail.ListAsync(folder.Id)).Where(m => m.Summary.Subject!.StartsWith("legacy", StringComparison.Ordinal)));
        }

        legacy.Sort((a, b) => string.CompareOrdinal(a.Summary.Subject, b.Summary.Subject));
        if (legacy.Count >= 2)
        {
            var flagged = legacy[random.Next(legacy.Count)];
            var keyword = $"$Round{round}";
            var update = (await mail.SetFlagsAsync([flagged.Id], FlagOperation.Replace, [keyword])).Done.Single();
            expected[flagged.Summary.Subject!] = keyword;
            var deleted = legacy.Where(m => m.Id != flagged.Id).ElementAt(random.Next(legacy.Count - 1));
            Assert.Single(await mail.DeleteAsync([deleted.Id]));
            expected.Remove(deleted.Summary.Subject!);
            _ = update;
        }

        var drafts = (await mail.FindFolderAsync(FolderRole.Drafts))!;
        var subject = $"draft {round}";
        var summary = new MessageSummary(DateTimeOffset.UtcNow, 40, DateTimeOffset.UtcNow, subject, [new EnvelopeAddress(null, "alice@alpha.test")], [], [], [], [], [], null,
            $"<draft-{round}@alpha.test>", MessageSecurity.Plain);
        _ = (await mail.AppendAsync(drafts.Id, new NewMessage(summary, Encoding.UTF8.GetBytes($"Subject: {subject}\r\n\r\nunsent\r\n"), ["\\Draft"]))).Done;
        expected[subject] = "\\Draft";
    }

    /// <summary>
    /// Runs <c>letterlock sync</c>; with <paramref name="killAfter"/>, kills it with SIGKILL that long after it said it
    /// started syncing. Returns whether it exited by itself, its code, its output, and how long it synced.
    /// </summary>
    private async Task<(bool Exited, int Code, string Output, TimeSpan Syncing)> RunSyncAsync(TimeSpan? killAfter)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "letterlock.dll"), "sync", "--data", ClientData, "--key-file", KeyFilePath, "--ca", CaPath })
        {
            start.ArgumentList.Add(arg);
        }

        var output = new StringBuilder();
        var syncing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (output)
            {
                output.AppendLine(e.Data);
            }

            if (e.Data?.Contains(": syncing with ", StringComparison.Ordinal) == true)
            {
                syncing.TrySetResult();
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(3)); // bounds a hang, never a success
        await Task.WhenAny(syncing.Task, process.WaitForExitAsync(bound.Token));
        var started = Stopwatch.StartNew();
        if (killAfter is { } delay)
        {
            using var moment = new CancellationTokenSource(delay);
            try
            {
                await process.WaitForExitAsync(moment.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true); // SIGKILL
                await process.WaitForExitAsync(bound.Token);
                lock (output)
                {
                    return (false, -1, output.ToString(), started.Elapsed);
                }
            }
        }

        await process.WaitForExitAsync(bound.Token);
        var elapsed = started.Elapsed;
        lock (output)
        {
            return (true, process.ExitCode, output.ToString(), elapsed);
        }
    }

    private Task<LocalStore> OpenStoreAsync(bool create) => create
        ? LocalStore.CreateAsync(Path.Combine(ClientData, "client.db"), StoreUnlock.WithKeyFile(KeyFilePath))
        : LocalStore.OpenAsync(Path.Combine(ClientData, "client.db"), StoreUnlock.WithKeyFile(KeyFilePath));

    private async Task DeliverAsync(string subject)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Carol", "carol@elsewhere.test"));
        message.To.Add(new MailboxAddress("Alice", "alice@alpha.test"));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = $"Body of {subject}" };
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", _provider.SmtpEndPoint.Port, SecureSocketOptions.None);
        await smtp.SendAsync(message);
        await smtp.DisconnectAsync(true);
    }

    private static async Task<long> PutAsOtherDeviceAsync(ProviderClient client, DocumentSealer sealer, string id, string subject, string folder)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Carol", "carol@elsewhere.test"));
        message.To.Add(new MailboxAddress("Alice", "alice@alpha.test"));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = $"Body of {subject}" };
        using var bytes = new MemoryStream();
        await message.WriteToAsync(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, bytes);
        var role = folder == "INBOX" ? FolderRole.Inbox : FolderRole.Archive;
        var document = new MessageDocument(folder, role, [], DateTimeOffset.UtcNow, MessageSecurity.Plain, bytes.ToArray());
        var (status, info) = await client.PutDocumentAsync(id, SyncEngine.MessageKind, sealer.Seal(id, SyncEngine.MessageKind, document), null);
        Assert.Equal(WriteStatus.Ok, status);
        return info!.Revision;
    }

    private static async Task<List<string>> DescribeDeviceAsync(LocalStore store, AccountRecord account)
    {
        var mail = store.Mail(account.Id);
        var lines = new List<string>();
        foreach (var folder in await mail.ListFoldersAsync())
        {
            lines.AddRange((await mail.ListAsync(folder.Id)).Select(m =>
                $"{m.Summary.Subject} [{string.Join(' ', m.Flags.Where(f => f != "\\Seen").Order(StringComparer.Ordinal))}]"));
        }

        return lines.Order(StringComparer.Ordinal).ToList();
    }

    private static string Diff(List<string> want, List<string> have) =>
        string.Join('\n', have.Except(want).Select(l => "  unexpected or duplicate? " + l)
            .Concat(want.Except(have).Select(l => "  missing " + l))
            .Concat(have.GroupBy(l => l).Where(g => g.Count() > 1).Select(g => $"  {g.Count()} times: {g.Key}")));
}
