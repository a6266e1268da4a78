using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Serialization;
using Letterlock.Client.Discovery;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Imap;
using Letterlock.Imap.Server;
using Letterlock.Imap.Session;
using Letterlock.Smtp;

namespace Letterlock.Bridge;

/// <summary>Where and how the bridge listens.</summary>
public sealed class BridgeOptions
{
    /// <summary>IMAP port on 127.0.0.1 (default 1143; 0 picks a free port).</summary>
    public int ImapPort { get; init; } = 1143;

    /// <summary>SMTP submission port on 127.0.0.1 (default 1025; 0 picks a free port).</summary>
    public int SmtpPort { get; init; } = 1025;

    /// <summary>Limits of key discovery when sending.</summary>
    public KeyDiscoveryOptions Discovery { get; init; } = new();

    /// <summary>Host names answered without DNS (the sandbox's providers), or null for system DNS.</summary>
    public StaticHostMap? HostMap { get; init; }

    /// <summary>Roots trusted for key discovery instead of the system's (the sandbox CA), or null.</summary>
    public X509Certificate2Collection? TrustedRoots { get; init; }

    /// <summary>How often registered accounts are synced with their provider (default 30 s; null: never, for tests).</summary>
    public TimeSpan? SyncInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Receives sync outcomes and failures (never content), e.g. "provider unreachable, serving cached mail".</summary>
    public Action<string>? SyncLog { get; init; }

    /// <summary>
    /// Monitor the accounts' own key-transparency entries at start-up and every epoch; alerts arrive as notices in
    /// the account's INBOX and on <see cref="SyncLog"/> (default true).
    /// </summary>
    public bool MonitorTransparency { get; init; } = true;

    /// <summary>The largest message a mail app may submit, in bytes (default 25 MiB).</summary>
    public int MaxSubmissionSize { get; init; } = 25 * 1024 * 1024;

    /// <summary>Limits of the IMAP engine (line and literal sizes, failed-login delay, sessions...).</summary>
    public ImapServerOptions Imap { get; init; } = new() { ServerName = "Letterlock bridge" };

    /// <summary>Receives the engine's log entries (sanitised: no passwords, no content).</summary>
    public Action<ImapLogEntry>? Log { get; init; }
}

/// <summary>What a mail app needs for one account.</summary>
/// <param name="Address">The account.</param>
/// <param name="UserName">The user name to type (the address).</param>
/// <param name="Password">The generated bridge password.</param>
/// <param name="ImapHost">IMAP host.</param>
/// <param name="ImapPort">IMAP port.</param>
/// <param name="ImapSecurity">How IMAP is secured (<c>STARTTLS</c>).</param>
/// <param name="SmtpHost">SMTP submission host.</param>
/// <param name="SmtpPort">SMTP submission port.</param>
/// <param name="SmtpSecurity">How SMTP is secured (<c>STARTTLS</c>, AUTH PLAIN or LOGIN with the same user and password).</param>
/// <param name="CertificateSha256">Fingerprint of the bridge's self-signed certificate, to compare when the app asks.</param>
public sealed record BridgeAccountSettings(
    string Address,
    string UserName,
    string Password,
    string ImapHost,
    int ImapPort,
    string ImapSecurity,
    string SmtpHost,
    int SmtpPort,
    string SmtpSecurity,
    string CertificateSha256);

/// <summary>Source-generated JSON for <c>--json</c> output.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(List<BridgeAccountSettings>))]
public sealed partial class BridgeJson : JsonSerializerContext;

/// <summary>
/// Runs the bridge: the IMAP engine on 127.0.0.1 with the store-backed accounts and the bridge's
/// own certificate (STARTTLS). Stopping it says BYE to every session.
/// </summary>
public sealed class BridgeHost : IAsyncDisposable
{
    private readonly BridgeMailboxes _mailboxes;
    private readonly ImapServer _imap;
    private readonly SmtpFrontEnd _smtp;
    private readonly HttpClient _http;
    private readonly X509Certificate2 _certificate;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _syncLoop;
    private readonly Client.Transparency.TransparencyService _transparency;
    private readonly Task _transparencyLoop;

    private BridgeHost(BridgeMailboxes mailboxes, ImapServer imap, SmtpFrontEnd smtp, HttpClient http, X509Certificate2 certificate, BridgeOptions options,
        Client.Transparency.TransparencyService transparency)
    {
        _transparency = transparency;
        _transparencyLoop = options.MonitorTransparency
            ? new Client.Transparency.TransparencyWatch(mailboxes.Store, transparency) { DeliverNotices = true }.RunAsync(options.SyncLog, _stop.Token)
            : Task.CompletedTask;
        _mailboxes = mailboxes;
        _imap = imap;
        _smtp = smtp;
        _http = http;
        _certificate = certificate;
        _syncLoop = options.SyncInterval is { } interval ? SyncLoopAsync(interval, options.SyncLog, _stop.Token) : Task.CompletedTask;
    }

    /// <summary>
    /// Syncs every registered account now and then. A provider that cannot be reached is reported
    /// and retried next round: the bridge keeps serving cached mail and queued sends wait.
    /// </summary>
    public async Task SyncOnceAsync(Action<string>? log = null, CancellationToken ct = default)
    {
        var store = _mailboxes.Store;
        foreach (var account in await store.Accounts.ListAsync(ct).ConfigureAwait(false))
        {
            if (account.DeviceId is null)
            {
                continue;
            }

            try
            {
                var provider = await AccountRegistration.ConnectAsync(store, account, _http, ct: ct).ConfigureAwait(false);
                var report = await new SyncEngine(store, account, provider, gossip: _transparency).SyncAsync(ct: ct).ConfigureAwait(false);
                if (report.Received + report.Pushed + report.Deleted + report.Errors.Count > 0)
                {
                    log?.Invoke($"{account.Address}: {report.Received} received, {report.Pushed} pushed, {report.Deleted} deleted, {report.Errors.Count} skipped");
                }
            }
            catch (ProviderUnavailableException e)
            {
                log?.Invoke($"{account.Address}: {e.Message}; serving cached mail, sends stay queued");
            }
            catch (ProviderProblemException e)
            {
                log?.Invoke($"{account.Address}: sync refused: {e.Message}");
            }
        }
    }

    private async Task SyncLoopAsync(TimeSpan interval, Action<string>? log, CancellationToken ct)
    {
        await Task.Yield();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await SyncOnceAsync(log, ct).ConfigureAwait(false);
                await Task.Delay(interval, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The loop must survive any one failed round; the next round retries.
            catch (Exception e)
#pragma warning restore CA1031
            {
                log?.Invoke("sync failed: " + e.GetType().Name);
                await Task.Delay(interval, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The SMTP submission listener's address.</summary>
    public IPEndPoint SmtpEndPoint => _smtp.BoundEndpoints[0];

    /// <summary>The IMAP listener's address.</summary>
    public IPEndPoint ImapEndPoint => _imap.LocalEndPoint;

    /// <summary>The certificate mail apps see.</summary>
    public X509Certificate2 Certificate => _certificate;

    /// <summary>Starts the bridge over <paramref name="store"/>.</summary>
    /// <exception cref="SocketException">The port is taken.</exception>
    public static async Task<BridgeHost> StartAsync(LocalStore store, BridgeOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        options ??= new BridgeOptions();
        var certificate = await BridgeCertificate.GetOrCreateAsync(store, ct).ConfigureAwait(false);
        var mailboxes = new BridgeMailboxes(store);
        var context = new ImapServerContext(options.Imap, new BridgeAuthenticator(mailboxes, options.Imap.MaxMimeDepth), log: options.Log);
        var imap = new ImapServer(new ImapListenOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, options.ImapPort), Certificate = certificate }, context);
        var http = new HttpClient(HttpFetch.CreateHandler(options.HostMap, options.TrustedRoots, options.Discovery.RequestTimeout)) { Timeout = Timeout.InfiniteTimeSpan };
        var discoveryOptions = options.Discovery;
        var transparency = new Client.Transparency.TransparencyService(store, http);
        var smtpBackend = new BridgeSmtp(store, account => new KeyDiscovery(
            [new DirectoryKeySource(http, discoveryOptions), new WkdKeySource(http, discoveryOptions), new HkpKeySource(http, discoveryOptions),
                new AutocryptKeySource(store, account)], discoveryOptions), transparency);
        var smtpOptions = new SmtpFrontEndOptions { ServerName = "localhost", Certificate = certificate, MaxMessageSize = options.MaxSubmissionSize };
        smtpOptions.Listeners.Add(new SmtpListenerOptions
        {
            Name = "bridge-submission",
            EndPoint = new IPEndPoint(IPAddress.Loopback, options.SmtpPort),
            TlsMode = SmtpTlsMode.StartTls,
            RequireAuthentication = true,
        });
        SmtpFrontEnd? smtp = null;
        try
        {
            imap.Start();
            smtp = SmtpFrontEnd.Start(smtpOptions, smtpBackend, smtpBackend);
        }
        catch
        {
            mailboxes.Dispose();
            http.Dispose();
            await imap.DisposeAsync().ConfigureAwait(false);
            certificate.Dispose();
            throw;
        }

        return new BridgeHost(mailboxes, imap, smtp, http, certificate, options, transparency);
    }

    /// <summary>The settings of every account (creating bridge passwords where missing).</summary>
    public async Task<IReadOnlyList<BridgeAccountSettings>> GetSettingsAsync(CancellationToken ct = default)
    {
        var store = _mailboxes.Store;
        var settings = new List<BridgeAccountSettings>();
        foreach (var account in await store.Accounts.ListAsync(ct).ConfigureAwait(false))
        {
            var password = await BridgeCredentials.GetOrCreateAsync(store, account.Id, ct).ConfigureAwait(false);
            settings.Add(new BridgeAccountSettings(account.Address, account.Address, password, "127.0.0.1", ImapEndPoint.Port, "STARTTLS",
                "127.0.0.1", SmtpEndPoint.Port, "STARTTLS", BridgeCertificate.Fingerprint(_certificate)));
        }

        return settings;
    }

    /// <summary>Stops listening and ends every session.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _syncLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await _transparencyLoop.ConfigureAwait(false);

        _stop.Dispose();
        await _smtp.DisposeAsync().ConfigureAwait(false);
        await _imap.StopAsync().ConfigureAwait(false);
        await _imap.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
        _mailboxes.Dispose();
        _certificate.Dispose();
    }
}
