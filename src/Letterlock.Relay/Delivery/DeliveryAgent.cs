using Letterlock.Dns;
using Letterlock.Relay.Dkim;
using Letterlock.Relay.Routing;
using Letterlock.Relay.Tls;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Letterlock.Relay.Delivery;

/// <summary>
/// Delivers messages to remote MTAs: the shared parts (DNS, connector, MTA-STS cache, DKIM keys, TLS trust,
/// report counters) behind one <see cref="DestinationDeliverer"/> per destination domain. Thread-safe; each
/// deliverer is used by one worker at a time.
/// </summary>
public sealed class DeliveryAgent
{
    /// <summary>Creates an agent.</summary>
    /// <param name="options">The relay settings; validated here.</param>
    /// <param name="dns">The resolver for MX, A/AAAA, TXT and TLSA.</param>
    /// <param name="connector">Opens connections (its port overrides serve the sandbox and tests).</param>
    /// <param name="mtaSts">The MTA-STS policy source; null when <see cref="RelayOptions.MtaSts"/> is off.</param>
    /// <param name="dkim">Signs every message sent.</param>
    /// <param name="trust">The roots for PKIX validation under MTA-STS.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">The log; null discards.</param>
    /// <param name="reports">Collects TLS-RPT data; null for a private collector.</param>
    public DeliveryAgent(RelayOptions options, IDnsResolver dns, HostConnector connector, MtaStsResolver? mtaSts, DkimSigning dkim, TlsTrust trust, TimeProvider time, ILogger? logger = null, TlsReportCollector? reports = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(dns);
        ArgumentNullException.ThrowIfNull(connector);
        ArgumentNullException.ThrowIfNull(dkim);
        ArgumentNullException.ThrowIfNull(trust);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        if (options.MtaSts && mtaSts is null)
        {
            throw new ArgumentException("MTA-STS is on but no MtaStsResolver was given.", nameof(mtaSts));
        }

        Options = options;
        Dns = dns;
        Connector = connector;
        MtaSts = options.MtaSts ? mtaSts : null;
        Dkim = dkim;
        Trust = trust;
        Time = time;
        Logger = logger ?? NullLogger.Instance;
        Reports = reports ?? new TlsReportCollector();
    }

    internal RelayOptions Options { get; }

    internal IDnsResolver Dns { get; }

    internal HostConnector Connector { get; }

    internal MtaStsResolver? MtaSts { get; }

    internal DkimSigning Dkim { get; }

    internal TlsTrust Trust { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger { get; }

    /// <summary>The TLS report counters.</summary>
    public TlsReportCollector Reports { get; }

    /// <summary>A deliverer for one destination domain; dispose it to close its connection.</summary>
    /// <param name="domain">The recipient domain (any case, U-labels allowed).</param>
    /// <exception cref="ArgumentException">The name is not a domain.</exception>
    public DestinationDeliverer ForDestination(string domain)
    {
        string ascii = MxRouter.ToAsciiDomain(domain) ?? throw new ArgumentException("Not a domain name.", nameof(domain));
        return new DestinationDeliverer(this, ascii);
    }
}
