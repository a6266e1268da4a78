using System.Collections.Concurrent;
using System.Net;
using Letterlock.Dns;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;
using Letterlock.Relay.Delivery;
using Letterlock.Relay.Dkim;
using Letterlock.Relay.Queue;
using Letterlock.Relay.Routing;
using Letterlock.Relay.Tls;
using Letterlock.Smtp;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Outbound;

/// <summary>
/// The provider's outbound half, started and stopped with the provider (<c>letterlock provider serve</c>): the relay
/// queue in the provider's own database, its scheduler, DSNs into local inboxes, and authenticated submission over
/// SMTP (587 STARTTLS, 465 implicit TLS) and the HTTPS API.
/// </summary>
public sealed class OutboundHost : IAsyncDisposable
{
    private readonly RelayScheduler _scheduler;
    private readonly SmtpFrontEnd? _smtp;
    private readonly HttpMessageInvoker _http;
    private readonly OutboundEndpoints _endpoints;

    private OutboundHost(RelayQueue queue, RelayScheduler scheduler, DeliveryAgent agent, SmtpFrontEnd? smtp, HttpMessageInvoker http, OutboundEndpoints endpoints, ConcurrentDictionary<string, int> ports, IReadOnlyList<(string Name, IPEndPoint EndPoint)> listeners)
    {
        Queue = queue;
        _scheduler = scheduler;
        Agent = agent;
        _smtp = smtp;
        _http = http;
        _endpoints = endpoints;
        PortOverrides = ports;
        Listeners = listeners;
    }

    /// <summary>The relay queue (tests and administration read its store).</summary>
    public RelayQueue Queue { get; }

    /// <summary>Delivery outcomes per recipient since start.</summary>
    public RelayCounters Counters => _scheduler.Counters;

    /// <summary>The delivery agent (its TLS report counters).</summary>
    public DeliveryAgent Agent { get; }

    /// <summary>
    /// Host name (lower case) to port for outgoing connections, from <c>relay.portOverrides</c>; read on every
    /// connection, so a sandbox can add the ports of providers it starts later.
    /// </summary>
    public ConcurrentDictionary<string, int> PortOverrides { get; }

    /// <summary>HTTPS to other providers (MTA-STS policies, prekey bundles): DNS, port overrides and trusted roots as the relay's.</summary>
    internal HttpMessageInvoker Http => _http;

    /// <summary>The submission listeners: <c>submission</c> (STARTTLS) and <c>submissions</c> (implicit TLS), when on.</summary>
    public IReadOnlyList<(string Name, IPEndPoint EndPoint)> Listeners { get; }

    /// <summary>Builds the outbound path over the provider's store and starts the scheduler and the submission listeners.</summary>
    /// <exception cref="SettingsException">A key or setting is unusable; the message names it.</exception>
    public static async Task<OutboundHost> StartAsync(ProviderSettings settings, IProviderStore store, IBlobStore blobs, IDnsResolver dns, Hosting.ServerCertificateHolder certificate, ILoggerFactory loggers, TimeProvider time, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(loggers);
        if (store is not SqlProviderStore database)
        {
            throw new ArgumentException("The relay queue needs the provider's SQL store.", nameof(store));
        }

        var options = OutboundSettingsValidator.ToRelayOptions(settings);
        var dkim = new DkimSigning(settings.Domain, OutboundKeys.LoadDkimKeys(settings));
        var queueKey = OutboundKeys.LoadQueueKey(settings);
        var roots = OutboundSettingsValidator.LoadTrustedRoots(settings);
        var trust = roots is null ? TlsTrust.System : TlsTrust.WithRoots([.. roots]);
        var ports = new ConcurrentDictionary<string, int>(settings.Relay.PortOverrides.Select(p => KeyValuePair.Create(p.Key.ToLowerInvariant(), p.Value)), StringComparer.OrdinalIgnoreCase);
        var connector = new HostConnector(dns, options.ConnectTimeout, ports, settings.Relay.UseIPv6, OutboundSettingsValidator.SourceAddresses(settings));
        var http = new HttpMessageInvoker(connector.CreateHttpHandler(trust, time));
        var relayLogger = loggers.CreateLogger("Letterlock.Relay");
        var mtaSts = new MtaStsResolver(dns, http, new MtaStsOptions(), time);
        var agent = new DeliveryAgent(options, dns, connector, mtaSts, dkim, trust, time, relayLogger);

        var queueStore = new SqlRelayQueueStore(database);
        await queueStore.InitializeAsync(ct);
        var submissionStore = new SubmissionStore(database);
        await submissionStore.InitializeAsync(ct);
        var queue = new RelayQueue(queueStore, queueKey, options, time);
        var inbox = new LocalInbox(store, blobs, settings, time);
        var outboundLogger = loggers.CreateLogger("Letterlock.Provider.Outbound");
        var scheduler = new RelayScheduler(queue, agent, new DsnToInbox(store, inbox, settings, outboundLogger), options, settings.Domain, time, relayLogger);
        var service = new SubmissionService(store, submissionStore, inbox, queue, settings, time, outboundLogger);

        SmtpFrontEnd? smtp = null;
        var listeners = new List<(string, IPEndPoint)>();
        try
        {
            var smtpOptions = new SmtpFrontEndOptions
            {
                InsufficientStorage = StorageFull.IsFull,
                ServerName = settings.HostName,
                CertificateSelector = () => certificate.Current.Context,
                MaxMessageSize = settings.Submission.MaxMessageSize,
                // one more than the limit, so the backend answers the extra recipient with the limit spelt out
                MaxRecipients = settings.Submission.MaxRecipientsPerMessage + 1,
                MaxConnections = settings.Smtp.MaxConnections,
                MaxConnectionsPerClient = settings.Smtp.MaxConnectionsPerClient,
                MaxConnectionRatePerClient = settings.Smtp.MaxConnectionRatePerClient,
                MaxCommandLineLength = settings.Smtp.MaxCommandLineLength,
                CommandTimeout = TimeSpan.FromSeconds(settings.Smtp.CommandTimeoutSeconds),
                SessionTimeout = TimeSpan.FromSeconds(settings.Smtp.SessionTimeoutSeconds),
            };
            foreach (var (name, value, setting, mode) in new[]
            {
                ("submission", settings.Submission.Listen, "submission.listen", SmtpTlsMode.StartTls),
                ("submissions", settings.Submission.ListenTls, "submission.listenTls", SmtpTlsMode.Implicit),
            })
            {
                if (OutboundSettingsValidator.OptionalEndPoint(value, setting) is { } endPoint)
                {
                    smtpOptions.Listeners.Add(new SmtpListenerOptions { Name = name, EndPoint = endPoint, TlsMode = mode, RequireAuthentication = true, AllowAuthenticationWithoutTls = false });
                }
            }

            // Behind the same load balancer as the MX, submission learns its clients from the same PROXY header, so the
            // per-client connection limits and the session's client address are the person's, not the balancer's.
            foreach (var proxy in settings.ProxyProtocol.Networks())
            {
                smtpOptions.TrustedProxies.Add(proxy);
            }

            smtpOptions.MaxProxyHeaderLength = settings.ProxyProtocol.MaxHeaderBytes;
            smtpOptions.ProxyHeaderTimeout = TimeSpan.FromSeconds(settings.ProxyProtocol.HeaderTimeoutSeconds);
            if (smtpOptions.Listeners.Count > 0)
            {
                var smtpLogger = loggers.CreateLogger("Letterlock.Smtp.Submission");
                smtp = SmtpFrontEnd.Start(smtpOptions, new SubmissionBackend(store, service, outboundLogger), new SubmissionAuthenticator(service), e => LogSmtp(smtpLogger, e));
                for (int i = 0; i < smtpOptions.Listeners.Count; i++)
                {
                    listeners.Add((smtpOptions.Listeners[i].Name, smtp.BoundEndpoints[i]));
                }
            }
        }
        catch
        {
            http.Dispose();
            throw;
        }

        scheduler.Start();
        return new OutboundHost(queue, scheduler, agent, smtp, http, new OutboundEndpoints(store, service, settings, time), ports, listeners);
    }

    /// <summary>Maps the submission and MTA-STS endpoints.</summary>
    public void Map(IEndpointRouteBuilder app) => _endpoints.Map(app);

    /// <summary>Stops the submission listeners, then the scheduler (unstarted deliveries are released for the next start).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_smtp is not null)
        {
            await _smtp.DisposeAsync();
        }

        await _scheduler.DisposeAsync();
        _http.Dispose();
    }

    private static void LogSmtp(ILogger logger, SmtpEvent e)
    {
        var level = e.Level switch
        {
            SmtpEventLevel.Error => LogLevel.Error,
            SmtpEventLevel.Warning => LogLevel.Warning,
            _ => LogLevel.Debug,
        };
        Log.SubmissionSession(logger, level, e.Exception, e.SessionId, e.Message);
    }
}
