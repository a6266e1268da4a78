using System.Net;
using Letterlock.Dns;
using Letterlock.Provider.Acme;
using Letterlock.Provider.Accounts;
using Letterlock.Provider.Api;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Mx;
using Letterlock.Provider.Operations;
using Letterlock.Provider.Outbound;
using Letterlock.Provider.Storage;
using Letterlock.Provider.Transparency;
using Letterlock.Smtp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Hosting;

/// <summary>The provider could not start for a reason outside its settings file's syntax (a port taken, a path denied); the message names it and the fix.</summary>
public sealed class StartupException(string message, Exception inner) : Exception(message, inner);

/// <summary>One listener of a running provider, for the start-up banner and for tests.</summary>
public sealed record ListenerInfo(string Protocol, IPEndPoint EndPoint);

/// <summary>
/// A running provider: storage, the MX on SMTP and the HTTPS API. <c>letterlock provider serve</c>
/// runs one; tests run several (one per backend, two on one PostgreSQL).
/// </summary>
public sealed class ProviderHost : IAsyncDisposable
{
    private readonly SmtpFrontEnd _smtp;
    private readonly WebApplication _web;
    private readonly CancellationTokenSource _stop;
    private readonly Task _purge;
    private readonly ILoggerFactory _loggerFactory;
    private readonly bool _ownsLoggerFactory;

    private ProviderHost(ProviderSettings settings, IProviderStore store, IBlobStore blobs, SmtpFrontEnd smtp, WebApplication web, IReadOnlyList<ListenerInfo> listeners, CancellationTokenSource stop, Task purge, ILoggerFactory loggerFactory, bool ownsLoggerFactory, OutboundHost outbound)
    {
        Settings = settings;
        Outbound = outbound;
        Store = store;
        Blobs = blobs;
        _smtp = smtp;
        _web = web;
        Listeners = listeners;
        _stop = stop;
        _purge = purge;
        _loggerFactory = loggerFactory;
        _ownsLoggerFactory = ownsLoggerFactory;
    }

    public ProviderSettings Settings { get; }

    public IProviderStore Store { get; }

    /// <summary>Where ciphertexts above the inline threshold live (storage.blobs).</summary>
    public IBlobStore Blobs { get; }

    /// <summary>Key transparency: the directory, its tables and the epoch publisher.</summary>
    public ProviderTransparency Transparency { get; private init; } = null!;

    public IReadOnlyList<ListenerInfo> Listeners { get; }

    /// <summary>The counters behind <c>GET /metrics</c>.</summary>
    public ProviderMetrics Metrics { get; private init; } = null!;

    private OpsListener? Ops { get; init; }

    /// <summary>The TLS certificate every listener takes at each handshake (replaced by an ACME renewal without a restart).</summary>
    public ServerCertificateHolder Certificate { get; private init; } = null!;

    /// <summary>Automatic certificates, when acme.enabled.</summary>
    public AcmeCertificateManager? Acme { get; private init; }

    /// <summary>Wakes the change feed's long polls.</summary>
    internal ChangeNotifier Notifier { get; private init; } = null!;

    /// <summary>
    /// Cancelled when the host was asked to stop by the operating system (SIGTERM, SIGINT: ASP.NET Core's
    /// console lifetime takes those signals over, so the caller must watch this as well as its own token).
    /// </summary>
    public CancellationToken Stopping => _web.Lifetime.ApplicationStopping;

    /// <summary>The outbound half: relay queue and scheduler, submission (src/Letterlock.Provider/Outbound).</summary>
    public OutboundHost Outbound { get; }

    public IPEndPoint SmtpEndPoint => Listeners.First(l => l.Protocol == "smtp").EndPoint;

    public IPEndPoint HttpsEndPoint => Listeners.First(l => l.Protocol == "https").EndPoint;

    /// <summary>Loads the settings of <paramref name="dataDirectory"/> and starts every listener.</summary>
    /// <exception cref="SettingsException">A setting is wrong; the message names it.</exception>
    public static Task<ProviderHost> StartAsync(string dataDirectory, string? databaseOverride = null, IDnsResolver? dns = null, ILoggerFactory? loggerFactory = null, CancellationToken ct = default) =>
        StartAsync(dataDirectory, databaseOverride, dns, loggerFactory, default, ct);

    /// <summary>Loads the settings of <paramref name="dataDirectory"/>, with this node's own listeners, and starts every listener.</summary>
    /// <param name="dataDirectory">The data directory with <c>provider.json</c>.</param>
    /// <param name="databaseOverride">A database instead of the settings file's.</param>
    /// <param name="dns">A resolver instead of the settings' (tests).</param>
    /// <param name="loggerFactory">Where logs go (default: the console).</param>
    /// <param name="listenOverride">
    /// The MX SMTP and HTTPS listeners of this node instead of the settings file's (either may be null): several
    /// nodes of a cluster share one settings file, and nodes on one machine cannot share a port.
    /// </param>
    /// <param name="ct">Cancels the start.</param>
    /// <exception cref="SettingsException">A setting is wrong; the message names it.</exception>
    public static async Task<ProviderHost> StartAsync(string dataDirectory, string? databaseOverride, IDnsResolver? dns, ILoggerFactory? loggerFactory,
        (string? Smtp, string? Https) listenOverride, CancellationToken ct)
    {
        var settings = ProviderSettingsLoader.Load(dataDirectory);
        if (databaseOverride is not null)
        {
            settings.Database = databaseOverride;
        }

        if (listenOverride.Smtp is not null)
        {
            settings.Smtp.Listen = listenOverride.Smtp;
        }

        if (listenOverride.Https is not null)
        {
            settings.Api.Listen = listenOverride.Https;
        }

        var database = DatabaseLocation.Parse(settings.Database, settings.DataDirectory);
        var smtpEndPoint = ProviderSettingsLoader.ParseEndPoint(settings.Smtp.Listen, "smtp.listen");
        var httpsEndPoint = ProviderSettingsLoader.ParseEndPoint(settings.Api.Listen, "api.listen");
        var opsEndPoint = settings.Ops.Listen.Length == 0 ? null : ProviderSettingsLoader.ParseEndPoint(settings.Ops.Listen, "ops.listen");
        var certificate = new ServerCertificateHolder(ServerCertificate.Load(settings.ResolvePath(settings.Tls.Certificate), settings.ResolvePath(settings.Tls.Key)));

        bool ownsLoggerFactory = loggerFactory is null;
        loggerFactory ??= LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
        var logger = loggerFactory.CreateLogger("Letterlock.Provider");
        byte[] signingPublicKey;
        try
        {
            StartupChecks.CheckPrivateKeyModes(settings, logger);
            signingPublicKey = ProviderKeys.LoadSigningPublicKey(settings.ResolvePath(settings.SigningKey));
        }
        catch when (ownsLoggerFactory)
        {
            loggerFactory.Dispose();
            throw;
        }
        dns ??= ProviderSettingsLoader.CreateResolver(settings);

        var notifier = new ChangeNotifier();
        IProviderStore store = database.IsPostgres
            ? new PostgresProviderStore(database.ConnectionString, notifier)
            : new SqliteProviderStore(database.ConnectionString, notifier);
        SmtpFrontEnd? smtp = null;
        WebApplication? web = null;
        OutboundHost? outbound = null;
        ProviderTransparency? transparency = null;
        OpsListener? ops = null;
        AcmeCertificateManager? acme = null;
        var metrics = new ProviderMetrics();
        try
        {
            await store.InitializeAsync(ct).ConfigureAwait(false);
            transparency = await ProviderTransparency.OpenAsync(store, settings, TimeProvider.System, loggerFactory.CreateLogger("Letterlock.Provider.Transparency"), ct).ConfigureAwait(false);
            var blobs = await OpenBlobsAsync(settings, database, store, logger, ct).ConfigureAwait(false);
            var accounts = new AccountService(store, settings, TimeProvider.System, transparency) { Opaque = AccountService.CreateOpaqueServer(settings.ResolvePath(settings.SigningKey)) };
            var suffixes = ProviderSettingsLoader.LoadPublicSuffixList(settings);
            if (suffixes is null)
            {
                Log.NoPublicSuffixList(logger);
            }

            var mx = new MxBackend(store, blobs, settings, new MessageAuthenticator(dns, suffixes), TimeProvider.System, loggerFactory.CreateLogger("Letterlock.Provider.Mx")) { Metrics = metrics };
            var smtpOptions = new SmtpFrontEndOptions
            {
                InsufficientStorage = StorageFull.IsFull,
                ServerName = settings.HostName,
                CertificateSelector = () => certificate.Current.Context,
                MaxMessageSize = settings.Smtp.MaxMessageSize,
                MaxRecipients = settings.Smtp.MaxRecipients,
                MaxConnections = settings.Smtp.MaxConnections,
                MaxConnectionsPerClient = settings.Smtp.MaxConnectionsPerClient,
                MaxConnectionRatePerClient = settings.Smtp.MaxConnectionRatePerClient,
                MaxCommandLineLength = settings.Smtp.MaxCommandLineLength,
                CommandTimeout = TimeSpan.FromSeconds(settings.Smtp.CommandTimeoutSeconds),
                SessionTimeout = TimeSpan.FromSeconds(settings.Smtp.SessionTimeoutSeconds),
            };
            smtpOptions.Listeners.Add(new SmtpListenerOptions { Name = "mx", EndPoint = smtpEndPoint, TlsMode = SmtpTlsMode.StartTls });
            var proxies = settings.ProxyProtocol.Networks();
            foreach (var proxy in proxies)
            {
                smtpOptions.TrustedProxies.Add(proxy);
            }

            smtpOptions.MaxProxyHeaderLength = settings.ProxyProtocol.MaxHeaderBytes;
            smtpOptions.ProxyHeaderTimeout = TimeSpan.FromSeconds(settings.ProxyProtocol.HeaderTimeoutSeconds);
            var smtpLogger = loggerFactory.CreateLogger("Letterlock.Smtp");
            smtp = SmtpFrontEnd.Start(smtpOptions, mx, null, e => LogSmtp(smtpLogger, e));
            outbound = await OutboundHost.StartAsync(settings, store, blobs, dns, certificate, loggerFactory, TimeProvider.System, ct).ConfigureAwait(false);

            acme = settings.Acme.Enabled ? AcmeCertificateManager.Create(settings, certificate, TimeProvider.System, loggerFactory.CreateLogger("Letterlock.Provider.Acme")) : null;
            var challenges = acme?.Challenges ?? new AcmeChallengeResponder();
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = settings.DataDirectory, Args = [] });
            builder.Logging.ClearProviders();
            builder.Services.AddSingleton<ILoggerFactory>(new FrameworkLogFilter(loggerFactory));
            builder.Services.AddSingleton(_ => new ClientRateLimits(store, settings.Api, settings.Link, TimeProvider.System));
            builder.Services.AddSingleton(_ => new PrekeyFederation(store, settings.Native, outbound.Http, TimeProvider.System));
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.AddServerHeader = false;
                kestrel.Limits.MaxRequestBodySize = settings.Api.MaxDocumentSize + 1;
                kestrel.Listen(httpsEndPoint, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    if (proxies.Count > 0)
                    {
                        // ahead of TLS: the header comes before the ClientHello
                        var proxyProtocol = new ProxyProtocolMiddleware(proxies, settings.ProxyProtocol.MaxHeaderBytes,
                            TimeSpan.FromSeconds(settings.ProxyProtocol.HeaderTimeoutSeconds), loggerFactory.CreateLogger("Letterlock.Provider.Api"));
                        listen.Use(next => connection => proxyProtocol.InvokeAsync(connection, next));
                    }

                    listen.UseHttps(challenges.HttpsOptions(() => certificate.Current.Context, () => certificate.Current.Leaf));
                });
            });
            web = builder.Build();
            var endpoints = new ApiEndpoints(store, blobs, accounts, notifier, settings, signingPublicKey, TimeProvider.System, loggerFactory.CreateLogger("Letterlock.Provider.Api"), transparency,
                web.Services.GetRequiredService<ClientRateLimits>(), web.Services.GetRequiredService<PrekeyFederation>());
            var requestLogger = loggerFactory.CreateLogger("Letterlock.Provider.Requests");
            web.Use((context, next) => RequestLog.LogAsync(context, next, metrics, requestLogger));
            web.Use(endpoints.GuardAsync);
            endpoints.Map(web);
            outbound.Map(web);
            AutoconfigEndpoints.Map(web, settings);
            new TransparencyEndpoints(transparency, settings.Transparency, transparency.Limits).Map(web);
            await transparency.StartAsync(ct).ConfigureAwait(false);
            await web.StartAsync(ct).ConfigureAwait(false);

            var addresses = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            var httpsBound = addresses.Select(a => new Uri(a)).Select(u => new IPEndPoint(httpsEndPoint.Address, u.Port)).First();
            var listeners = new List<ListenerInfo> { new("smtp", smtp.BoundEndpoints[0]), new("https", httpsBound) };
            listeners.AddRange(outbound.Listeners.Select(l => new ListenerInfo(l.Name, l.EndPoint)));
            if (opsEndPoint is not null)
            {
                ops = await OpsListener.StartAsync(opsEndPoint, metrics, (SqlProviderStore)store, blobs, outbound, transparency, loggerFactory.CreateLogger("Letterlock.Provider.Ops"), ct).ConfigureAwait(false);
                listeners.Add(new ListenerInfo("ops", ops.EndPoint));
            }

            if (acme is not null)
            {
                // after the HTTPS listener is up: a TLS-ALPN-01 validation connects to it
                await acme.StartAsync(ct).ConfigureAwait(false);
                if (acme.HttpEndPoint is { } acmeHttp)
                {
                    listeners.Add(new ListenerInfo("acme-http", acmeHttp));
                }
            }

            var stop = new CancellationTokenSource();
            var collector = new BlobCollector(store, blobs, TimeSpan.FromMinutes(settings.Storage.BlobGraceMinutes));
            var purge = Task.WhenAll(PurgeLoopAsync(store, settings, logger, stop.Token),
                SweepLoopAsync(collector, TimeSpan.FromMinutes(settings.Storage.BlobSweepMinutes), logger, stop.Token));
            return new ProviderHost(settings, store, blobs, smtp, web, listeners, stop, purge, loggerFactory, ownsLoggerFactory, outbound)
            {
                Transparency = transparency, Notifier = notifier, Ops = ops, Metrics = metrics, Certificate = certificate, Acme = acme,
            };
        }
        catch (Exception failure)
        {
            if (acme is not null)
            {
                await acme.DisposeAsync().ConfigureAwait(false);
            }

            if (ops is not null)
            {
                await ops.DisposeAsync().ConfigureAwait(false);
            }

            if (transparency is not null)
            {
                await transparency.DisposeAsync().ConfigureAwait(false);
            }

            if (outbound is not null)
            {
                await outbound.DisposeAsync().ConfigureAwait(false);
            }

            if (smtp is not null)
            {
                await smtp.DisposeAsync().ConfigureAwait(false);
            }

            if (web is not null)
            {
                await web.DisposeAsync().ConfigureAwait(false);
            }

            await store.DisposeAsync().ConfigureAwait(false);
            if (ownsLoggerFactory)
            {
                loggerFactory.Dispose();
            }

            // Kestrel says "Failed to bind to address", the SMTP front end only "Address already in use": find out which
            // listener it was now that everything this start opened is closed again
            if (failure is System.Net.Sockets.SocketException or IOException && StartupChecks.DiagnoseListeners(settings) is { } explained)
            {
                throw new StartupException(explained, failure);
            }

            throw;
        }
    }

    /// <summary>
    /// The blob store storage.blobs names. Blobs in the database: a <c>blobs/</c> folder left by a release that kept
    /// them on disk is moved in first (<see cref="BlobImport"/>), before any listener opens.
    /// </summary>
    private static async Task<IBlobStore> OpenBlobsAsync(ProviderSettings settings, DatabaseLocation database, IProviderStore store, ILogger logger, CancellationToken ct)
    {
        string folderPath = Path.Combine(settings.DataDirectory, "blobs");
        if (!settings.Storage.BlobsInDatabase(database))
        {
            return new FolderBlobStore(folderPath);
        }

        var blobs = new PostgresBlobStore(((PostgresProviderStore)store).DataSource);
        if (Directory.Exists(folderPath))
        {
            var folder = new FolderBlobStore(folderPath);
            if (folder.Enumerate().Any())
            {
                Log.BlobImportStarted(logger, folderPath);
                var report = await BlobImport.MoveAsync(folder, blobs, n =>
                {
                    if (n % 1000 == 0)
                    {
                        Log.BlobImportProgress(logger, n);
                    }
                }, ct).ConfigureAwait(false);
                Log.BlobImportDone(logger, report.Moved);
                foreach (string corrupt in report.Corrupt)
                {
                    Log.BlobImportCorrupt(logger, corrupt);
                }
            }
        }

        return blobs;
    }

    private static void LogSmtp(ILogger logger, SmtpEvent e)
    {
        var level = e.Level switch
        {
            SmtpEventLevel.Error => LogLevel.Error,
            SmtpEventLevel.Warning => LogLevel.Warning,
            _ => LogLevel.Information,
        };
        Log.SmtpSession(logger, level, e.Exception, e.SessionId, e.Message);
    }

    private static async Task PurgeLoopAsync(IProviderStore store, ProviderSettings settings, ILogger logger, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    await store.PurgeExpiredAsync(DateTimeOffset.UtcNow, stop);
                    await store.PurgeDeletedAccountsAsync(DateTimeOffset.UtcNow.AddDays(-settings.Accounts.DeletedAddressQuarantineDays), stop);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.PurgeFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private static async Task SweepLoopAsync(BlobCollector collector, TimeSpan interval, ILogger logger, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    var report = await collector.SweepAsync(DateTimeOffset.UtcNow, stop);
                    if (report.Removed > 0 || report.Temporaries > 0)
                    {
                        Log.BlobSweep(logger, report.Removed, report.Temporaries, report.Examined);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.BlobSweepFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _purge;
        if (Acme is not null)
        {
            await Acme.DisposeAsync();
        }

        if (Ops is not null)
        {
            await Ops.DisposeAsync();
        }

        await _smtp.DisposeAsync();
        await _web.StopAsync();
        await _web.DisposeAsync();
        await Outbound.DisposeAsync();
        await Transparency.DisposeAsync();
        await Store.DisposeAsync();
        _stop.Dispose();
        if (_ownsLoggerFactory)
        {
            _loggerFactory.Dispose();
        }
    }
}
