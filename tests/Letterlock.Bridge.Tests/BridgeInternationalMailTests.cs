using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Provider.Hosting;
using Letterlock.Smtp;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Letterlock.Bridge.Tests;

/// <summary>
/// Internationalised mail (RFC 6531) from a mail app (MailKit) through the bridge, the provider's submission API and
/// its relay to the next hop (a real SMTP server on loopback for gamma.test and bücher.test): a UTF-8 local part,
/// a UTF-8 sender, an IDN domain in U-labels and A-labels. Each reaches the next hop, none waits in the outbox.
/// </summary>
public sealed class BridgeInternationalMailTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-bridge-eai-" + Guid.NewGuid().ToString("N"));
    private readonly ConcurrentQueue<(SmtpSessionInfo Session, string Sender, List<string> Recipients, byte[] Data)> _received = new();
    private ProviderHost _provider = null!;
    private SmtpFrontEnd _nextHop = null!;
    private HttpClient _http = null!;
    private LocalStore _store = null!;
    private BridgeHost _bridge = null!;
    private IReadOnlyList<BridgeAccountSettings> _settings = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        var nextHopOptions = new SmtpFrontEndOptions { ServerName = "mx.gamma.test" };
        nextHopOptions.Listeners.Add(new SmtpListenerOptions { Name = "mx", EndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        _nextHop = SmtpFrontEnd.Start(nextHopOptions, new Recorder(_received));

        var dns = new Letterlock.Dns.StaticDnsResolver();
        dns.AddMx("gamma.test", 10, "mx.gamma.test").AddMx("xn--bcher-kva.test", 10, "mx.gamma.test").AddAddress("mx.gamma.test", IPAddress.Loopback);
        var data = Path.Combine(_dir, "provider");
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", data, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
        _provider = await ProviderHost.StartAsync(data, null, dns, LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
        _provider.Outbound.PortOverrides["mx.gamma.test"] = _nextHop.BoundEndpoints[0].Port;

        var map = new StaticHostMap { AllowSystemDns = false }.Add("alpha.test", _provider.HttpsEndPoint);
        var roots = new X509Certificate2Collection(X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(data, "tls", "cert.pem"))));
        _http = new HttpClient(HttpFetch.CreateHandler(map, roots)) { Timeout = Timeout.InfiniteTimeSpan };
        _store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithPassphrase("eai"),
            new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
        await AccountRegistration.CreateAsync(_store, new ProviderClient(_http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");
        await AccountRegistration.CreateAsync(_store, new ProviderClient(_http, new Uri("https://alpha.test/")), "jürgen@alpha.test", "Jürgen");
        _bridge = await BridgeHost.StartAsync(_store, new BridgeOptions { ImapPort = 0, SmtpPort = 0, HostMap = map, TrustedRoots = roots, SyncInterval = null });
        _settings = await _bridge.GetSettingsAsync();
    }

    public async Task DisposeAsync()
    {
        await _bridge.DisposeAsync();
        _store.Dispose();
        _http.Dispose();
        await _provider.DisposeAsync();
        await _nextHop.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task SendAsync(string account, string to, string subject, params string[] more)
    {
        var settings = _settings.Single(s => s.UserName == account);
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, certificate, _, _) => certificate is not null };
        await client.ConnectAsync(settings.SmtpHost, settings.SmtpPort, SecureSocketOptions.StartTls);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.UTF8));
        await client.AuthenticateAsync(settings.UserName, settings.Password);
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(null, account));
        message.To.Add(new MailboxAddress(null, to));
        foreach (string other in more)
        {
            message.Cc.Add(new MailboxAddress(null, other));
        }

        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Grüße aus Letterlock" };
        string reply = await client.SendAsync(message);
        Assert.Contains("Queued", reply, StringComparison.Ordinal);
        await client.DisconnectAsync(true);
    }

    private async Task<(SmtpSessionInfo Session, string Sender, List<string> Recipients, byte[] Data)> DeliveredAsync(string subject)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (true)
        {
            await _bridge.SyncOnceAsync(ct: timeout.Token);
            Assert.DoesNotContain(await _store.Jobs.ListAsync(QueuedMail.JobKind, timeout.Token), j => j.State == JobState.Failed);
            var found = _received.FirstOrDefault(m => MimeMessage.Load(new MemoryStream(m.Data)).Subject == subject);
            if (found.Data is not null)
            {
                return found;
            }

            await Task.Delay(100, timeout.Token);
        }
    }

    [Fact]
    public async Task A_message_to_a_utf8_local_part_and_to_an_idn_domain_reaches_the_next_hop()
    {
        await SendAsync("alice@alpha.test", "zoë@gamma.test", "Für Zoë", "ζωή@gamma.test");
        var toZoe = await DeliveredAsync("Für Zoë");
        Assert.Equal("alice@alpha.test", toZoe.Sender);
        Assert.Equal(["zoë@gamma.test", "ζωή@gamma.test"], toZoe.Recipients);
        Assert.True(toZoe.Session.Utf8);

        // the same domain in U-labels and in A-labels: one destination, both recipients
        await SendAsync("alice@alpha.test", "user@bücher.test", "Zum Bücherladen", "other@xn--bcher-kva.test");
        var toShop = await DeliveredAsync("Zum Bücherladen");
        Assert.Equal(["user@bücher.test", "other@bücher.test"], toShop.Recipients);
        Assert.Empty(await _store.Jobs.ListAsync(QueuedMail.JobKind));
    }

    [Fact]
    public async Task A_utf8_sender_sends_through_the_bridge_under_its_own_address()
    {
        await SendAsync("jürgen@alpha.test", "bob@gamma.test", "Von Jürgen");
        var delivered = await DeliveredAsync("Von Jürgen");
        Assert.Equal("jürgen@alpha.test", delivered.Sender);
        Assert.Equal(["bob@gamma.test"], delivered.Recipients);
        Assert.True(delivered.Session.Utf8);
        var message = await MimeMessage.LoadAsync(new MemoryStream(delivered.Data));
        Assert.Equal("jürgen@alpha.test", message.From.Mailboxes.Single().Address);
        Assert.Contains("d=alpha.test", message.Headers[HeaderId.DkimSignature], StringComparison.Ordinal);
    }

    /// <summary>The next hop: keeps what it accepts.</summary>
    private sealed class Recorder(ConcurrentQueue<(SmtpSessionInfo, string, List<string>, byte[])> received) : ISmtpBackend
    {
        public ValueTask<SmtpDeliveryStart> StartDeliveryAsync(SmtpSessionInfo session, string reversePath, long declaredSize, CancellationToken ct) =>
            ValueTask.FromResult(SmtpDeliveryStart.Accept(new Delivery(received, session, reversePath)));

        private sealed class Delivery(ConcurrentQueue<(SmtpSessionInfo, string, List<string>, byte[])> received, SmtpSessionInfo session, string sender) : ISmtpDelivery
        {
            private readonly List<string> _recipients = [];
            private readonly MemoryStream _data = new();

            public ValueTask<SmtpReply> AddRecipientAsync(string forwardPath, CancellationToken ct)
            {
                _recipients.Add(forwardPath);
                return ValueTask.FromResult(SmtpReply.RecipientOk);
            }

            public ValueTask WriteBodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken ct) => _data.WriteAsync(chunk, ct);

            public ValueTask<SmtpReply> CommitAsync(CancellationToken ct)
            {
                received.Enqueue((session, sender, _recipients.ToList(), _data.ToArray()));
                return ValueTask.FromResult(SmtpReply.Ok);
            }

            public ValueTask AbortAsync() => ValueTask.CompletedTask;

            public ValueTask DisposeAsync() => _data.DisposeAsync();
        }
    }
}
