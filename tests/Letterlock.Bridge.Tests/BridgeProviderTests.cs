using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Provider.Hosting;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Letterlock.Bridge.Tests;

/// <summary>
/// The bridge in front of a real provider: legacy mail sent with Debian's swaks is encrypted on
/// arrival, synced, and read decrypted through the bridge; when the provider goes away the bridge
/// keeps serving cached mail and queues what is sent, and delivers it when the provider is back.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class BridgeProviderTests : IAsyncLifetime
{
    private const string Marker = "Ibex31";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-bridge-e2e-" + Guid.NewGuid().ToString("N"));
    private ProviderHost? _provider;
    private HttpClient _http = null!;
    private LocalStore _store = null!;
    private BridgeHost _bridge = null!;
    private BridgeAccountSettings _settings = null!;
    private readonly List<string> _syncLog = [];
    private StaticHostMap _map = null!;
    private X509Certificate2 _roots = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        var data = Path.Combine(_dir, "provider");
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", data, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
        _provider = await ProviderHost.StartAsync(data, null, new Letterlock.Dns.StaticDnsResolver(), LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
        var map = _map = new StaticHostMap { AllowSystemDns = false }.Add("alpha.test", _provider.HttpsEndPoint);
        _roots = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(data, "tls", "cert.pem")));
        var roots = new X509Certificate2Collection(_roots);
        _http = new HttpClient(HttpFetch.CreateHandler(map, roots)) { Timeout = Timeout.InfiniteTimeSpan };
        _store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithPassphrase("e2e"),
            new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
        await AccountRegistration.CreateAsync(_store, new ProviderClient(_http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");
        _bridge = await BridgeHost.StartAsync(_store, new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, HostMap = map, TrustedRoots = roots, SyncInterval = null,
        });
        _settings = Assert.Single(await _bridge.GetSettingsAsync());
    }

    public async Task DisposeAsync()
    {
        await _bridge.DisposeAsync();
        _store.Dispose();
        _http.Dispose();
        if (_provider is not null)
        {
            await _provider.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private async Task<ImapClient> ImapAsync()
    {
        var client = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => c is not null };
        await client.ConnectAsync(_settings.ImapHost, _settings.ImapPort, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync(_settings.UserName, _settings.Password);
        return client;
    }

    [Fact]
    public async Task An_account_added_while_the_bridge_runs_is_synced_in_the_background_without_a_restart()
    {
        using var store = await LocalStore.CreateAsync(Path.Combine(_dir, "second.db"), StoreUnlock.WithPassphrase("second"),
            new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
        await using var bridge = await BridgeHost.StartAsync(store, new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, HostMap = _map, TrustedRoots = new X509Certificate2Collection(_roots), SyncInterval = TimeSpan.FromSeconds(1),
            LongPollSeconds = 2,
        });
        var carol = await AccountRegistration.CreateAsync(store, new ProviderClient(_http, new Uri("https://alpha.test/")), "carol@alpha.test", "Carol");
        var inbox = (await store.Mail(carol.Id).FindFolderAsync(FolderRole.Inbox))!;
        using var changed = new SemaphoreSlim(0);
        void OnChanged(StoreChange change) => changed.Release();
        store.Changed += OnChanged;
        try
        {
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Legacy", "legacy@old.test"));
            message.To.Add(new MailboxAddress("Carol", "carol@alpha.test"));
            message.Subject = $"Background {Marker}";
            message.Body = new TextPart("plain") { Text = "picked up by the running bridge" };
            using (var smtp = new SmtpClient())
            {
                await smtp.ConnectAsync("127.0.0.1", _provider!.SmtpEndPoint.Port, SecureSocketOptions.None);
                await smtp.SendAsync(message);
                await smtp.DisconnectAsync(true);
            }

            // Nobody calls SyncOnceAsync here: only the bridge's own loops can bring it in.
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            while (!(await store.Mail(carol.Id).ListAsync(inbox.Id, timeout.Token)).Any(m => m.Summary.Subject == $"Background {Marker}"))
            {
                await changed.WaitAsync(TimeSpan.FromSeconds(2), timeout.Token);
            }
        }
        finally
        {
            store.Changed -= OnChanged;
        }
    }

    [Fact]
    public async Task A_second_bridge_on_the_same_store_is_refused_until_the_first_stops_and_the_lock_file_stays_readable()
    {
        var refused = await Assert.ThrowsAsync<BridgeAlreadyRunningException>(() => BridgeHost.StartAsync(_store, new BridgeOptions { ImapPort = 0, SmtpPort = 0, SyncInterval = null }));
        Assert.Contains("another bridge is already running on the store", refused.Message, StringComparison.Ordinal);
        Assert.True(BridgeLock.IsHeld(_store.FilePath));

        // A backup or a scan of the data folder still reads every file: the lock is on a record, not on the file.
        Assert.Empty(await File.ReadAllBytesAsync(BridgeLock.PathFor(_store.FilePath)));
        await _bridge.DisposeAsync();
        Assert.False(BridgeLock.IsHeld(_store.FilePath));
        _bridge = await BridgeHost.StartAsync(_store, new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, HostMap = _map, TrustedRoots = new X509Certificate2Collection(_roots), SyncInterval = null,
        });
        Assert.True(BridgeLock.IsHeld(_store.FilePath));
    }

    [Fact]
    public async Task A_long_sync_reports_its_progress_with_a_rate_and_then_its_totals()
    {
        for (int i = 0; i < 5; i++)
        {
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Legacy", "legacy@old.test"));
            message.To.Add(new MailboxAddress("Alice", "alice@alpha.test"));
            message.Subject = $"Progress {i} {Marker}";
            message.Body = new TextPart("plain") { Text = "one of several" };
            using var smtp = new SmtpClient();
            await smtp.ConnectAsync("127.0.0.1", _provider!.SmtpEndPoint.Port, SecureSocketOptions.None);
            await smtp.SendAsync(message);
            await smtp.DisconnectAsync(true);
        }

        // The first sync of the device, paging two changes at a time and reporting every two.
        await _bridge.DisposeAsync();
        var events = new List<BridgeEvent>();
        _bridge = await BridgeHost.StartAsync(_store, new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, HostMap = _map, TrustedRoots = new X509Certificate2Collection(_roots), SyncInterval = null,
            Sync = new SyncOptions { PageSize = 2 }, ProgressEvery = 2, Events = e => { lock (events) { events.Add(e); } },
        });
        await _bridge.SyncOnceAsync();
        var lines = events.Where(e => e.Level == BridgeEventLevel.Notice).Select(e => e.Text).ToList();
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^alice@alpha\.test: syncing, [2-4] changes applied \(\d+ per second\), more waiting$"));
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^alice@alpha\.test: sync done, 5 received, 0 pushed, 0 deleted in \d+\.\d s$"));
        Assert.Contains("alice@alpha.test: online (alpha.test)", lines);
        Assert.DoesNotContain(lines, l => l.Contains("legacy@old.test", StringComparison.Ordinal));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BridgeOptions { ProgressEvery = 0 });
        Assert.Equal(1, new BridgeOptions { ProgressEvery = 1 }.ProgressEvery);
    }

    [Fact]
    public async Task Plain_mail_from_swaks_is_encrypted_on_arrival_and_readable_in_the_bridge_and_survives_the_provider_going_away()
    {
        var swaks = Process.Start(new ProcessStartInfo("swaks",
            ["--server", "127.0.0.1", "--port", _provider!.SmtpEndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--from", "legacy@old.test", "--to", "alice@alpha.test", "--header", $"Subject: Legacy {Marker}", "--body", $"Hello from swaks {Marker}"])
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        var transcript = await swaks.StandardOutput.ReadToEndAsync();
        await swaks.WaitForExitAsync();
        Assert.True(swaks.ExitCode == 0, transcript);

        await _bridge.SyncOnceAsync(_syncLog.Add);
        using (var imap = await ImapAsync())
        {
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
            Assert.Equal(1, imap.Inbox.Count);
            var message = await imap.Inbox.GetMessageAsync(0);
            Assert.Equal($"Legacy {Marker}", message.Subject);
            Assert.Contains($"Hello from swaks {Marker}", message.TextBody, StringComparison.Ordinal);
            Assert.Equal("none", message.Headers["Letterlock-Encryption"]);
            await imap.DisconnectAsync(true);
        }

        // The provider goes away: cached mail is still served, sends queue locally.
        await _provider.DisposeAsync();
        _provider = null;
        await _bridge.SyncOnceAsync(_syncLog.Add);
        Assert.Contains(_syncLog, l => l.Contains("serving cached mail", StringComparison.Ordinal));
        using (var imap = await ImapAsync())
        {
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
            Assert.Equal($"Legacy {Marker}", (await imap.Inbox.GetMessageAsync(0)).Subject);
            await imap.DisconnectAsync(true);
        }

        using var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, c, _, _) => c is not null };
        await smtp.ConnectAsync(_settings.SmtpHost, _settings.SmtpPort, SecureSocketOptions.StartTls);
        await smtp.AuthenticateAsync(_settings.UserName, _settings.Password);
        var reply = new MimeMessage();
        reply.From.Add(new MailboxAddress("Alice", "alice@alpha.test"));
        reply.To.Add(new MailboxAddress("Legacy", "legacy@old.test"));
        reply.Subject = "Re: Legacy";
        reply.Body = new TextPart("plain") { Text = "queued while the provider is down" };
        await smtp.SendAsync(reply);
        await smtp.DisconnectAsync(true);
        Assert.Single(await _store.Jobs.ListAsync(QueuedMail.JobKind));
        await _bridge.SyncOnceAsync(_syncLog.Add);
        Assert.Contains(_syncLog, l => l.Contains("not sent yet to legacy@old.test", StringComparison.Ordinal));
        var waiting = Assert.Single(await _store.Jobs.ListAsync(QueuedMail.JobKind));
        Assert.True(waiting.NotBefore > DateTimeOffset.UtcNow, "the message waits with its backoff");

        // The provider is back (same data, another port): the next round notices, makes the waiting message due at
        // once instead of after its backoff, and hands it over.
        _provider = await ProviderHost.StartAsync(Path.Combine(_dir, "provider"), null, new Letterlock.Dns.StaticDnsResolver(),
            LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
        _map.Add("alpha.test", _provider.HttpsEndPoint);
        await _bridge.SyncOnceAsync(_syncLog.Add);
        Assert.Contains(_syncLog, l => l.Contains("reachable again", StringComparison.Ordinal));
        Assert.Contains(_syncLog, l => l.Contains("sent to legacy@old.test", StringComparison.Ordinal) && !l.Contains("not sent", StringComparison.Ordinal));
        Assert.Empty(await _store.Jobs.ListAsync(QueuedMail.JobKind));
    }

    [Fact]
    public async Task A_sync_round_that_allocated_past_the_threshold_gives_the_freed_heap_back_once_and_a_quiet_round_does_not()
    {
        await _bridge.DisposeAsync();
        _bridge = await BridgeHost.StartAsync(_store, new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, HostMap = _map, TrustedRoots = new X509Certificate2Collection(_roots), SyncInterval = null,
            IdleTrimAfterAllocatedBytes = 16 * 1024 * 1024,
        });
        _settings = Assert.Single(await _bridge.GetSettingsAsync());
        await _bridge.SyncOnceAsync(_syncLog.Add); // the first round publishes prekeys; whether it trims does not matter here
        int before = _bridge.MemoryTrims;
        await _bridge.SyncOnceAsync(_syncLog.Add);
        Assert.Equal(before, _bridge.MemoryTrims); // nothing arrived: far below 16 MiB allocated, no collection

        // An 8 MiB attachment: fetching, opening, parsing and storing it allocates well past 16 MiB.
        var content = new byte[6 * 1024 * 1024];
        new Random(3).NextBytes(content);
        var large = new MimeMessage([new MailboxAddress("Big", "big@sender.test")], [new MailboxAddress("Alice", "alice@alpha.test")], $"Large {Marker}",
            new Multipart("mixed")
            {
                new TextPart("plain") { Text = "attached" },
                new MimePart("application", "octet-stream") { Content = new MimeContent(new MemoryStream(content)), ContentTransferEncoding = ContentEncoding.Base64, FileName = "large.bin" },
            });
        using (var smtp = new SmtpClient())
        {
            await smtp.ConnectAsync("127.0.0.1", _provider!.SmtpEndPoint.Port, SecureSocketOptions.None);
            await smtp.SendAsync(large);
            await smtp.DisconnectAsync(true);
        }

        await _bridge.SyncOnceAsync(_syncLog.Add);
        Assert.Equal(before + 1, _bridge.MemoryTrims);
        using var imap = await ImapAsync();
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var synced = await imap.Inbox.GetMessageAsync(imap.Inbox.Count - 1);
        Assert.Equal($"Large {Marker}", synced.Subject);
        var attachment = Assert.IsType<MimePart>(Assert.Single(synced.Attachments));
        using var decoded = new MemoryStream();
        await Assert.IsType<MimeContent>(attachment.Content).DecodeToAsync(decoded);
        Assert.Equal(content, decoded.ToArray());
        await imap.DisconnectAsync(true);
    }

    [Theory]
    [InlineData(-1L, false)]
    [InlineData(0L, true)]
    [InlineData(null, true)]
    public void The_idle_trim_threshold_is_null_or_at_least_zero(long? value, bool valid)
    {
        if (valid)
        {
            Assert.Equal(value, new BridgeOptions { IdleTrimAfterAllocatedBytes = value }.IdleTrimAfterAllocatedBytes);
        }
        else
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => new BridgeOptions { IdleTrimAfterAllocatedBytes = value });
            Assert.Contains("IdleTrimAfterAllocatedBytes", e.Message, StringComparison.Ordinal);
        }
    }
}
