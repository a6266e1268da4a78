using System.Collections.Concurrent;
using System.Net;
using Letterlock.Dns;
using Letterlock.Relay.Delivery;
using Letterlock.Relay.Dkim;
using Letterlock.Relay.Routing;
using Letterlock.Relay.Tls;
using Microsoft.Extensions.Logging;

namespace Letterlock.Relay.Tests;

/// <summary>Collects log lines so tests can check what the relay logged (and what it did not).</summary>
internal sealed class ListLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

    public string All => string.Join("\n", Entries.Select(e => $"{e.Level}: {e.Message}"));

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, formatter(state, exception)));
}

/// <summary>The relay's parts wired for a test: a static DNS map, loopback port overrides and a test CA.</summary>
internal sealed class RelayHarness : IDisposable
{
    public static readonly Lazy<DkimKey> RsaKey = new(() => DkimKey.Generate("rsa1", DkimKeyType.Rsa));
    public static readonly Lazy<DkimKey> EdKey = new(() => DkimKey.Generate("ed1", DkimKeyType.Ed25519));

    private readonly HttpMessageInvoker _http;

    public RelayHarness(Peers.TestCa ca, Action<RelayOptions>? configure = null, IReadOnlyList<IPAddress>? sourceAddresses = null)
    {
        Ca = ca;
        Options = new RelayOptions
        {
            HeloName = "mx.alpha.test",
            ConnectTimeout = TimeSpan.FromSeconds(20),
            CommandTimeout = TimeSpan.FromSeconds(60),
        };
        configure?.Invoke(Options);
        Trust = TlsTrust.WithRoots(ca.Root);
        Connector = new HostConnector(Dns, Options.ConnectTimeout, Ports, useIPv6: false, sourceAddresses);
        _http = new HttpMessageInvoker(Connector.CreateHttpHandler(Trust, TimeProvider.System));
        MtaSts = new MtaStsResolver(Dns, _http, new MtaStsOptions { FetchTimeout = TimeSpan.FromSeconds(30) }, TimeProvider.System);
        Dkim = new DkimSigning("alpha.test", [EdKey.Value, RsaKey.Value]);
        Agent = new DeliveryAgent(Options, Dns, Connector, MtaSts, Dkim, Trust, TimeProvider.System, Logger);
    }

    public Peers.TestCa Ca { get; }

    public StaticDnsResolver Dns { get; } = new();

    public Dictionary<string, int> Ports { get; } = new(StringComparer.OrdinalIgnoreCase);

    public RelayOptions Options { get; }

    public TlsTrust Trust { get; }

    public HostConnector Connector { get; }

    public MtaStsResolver MtaSts { get; }

    public DkimSigning Dkim { get; }

    public DeliveryAgent Agent { get; }

    public ListLogger Logger { get; } = new();

    public Dictionary<string, string> DkimRecords => new()
    {
        [RsaKey.Value.DnsName("alpha.test")] = RsaKey.Value.TxtRecord,
        [EdKey.Value.DnsName("alpha.test")] = EdKey.Value.TxtRecord,
    };

    /// <summary>Points <paramref name="domain"/>'s MX at a loopback server on <paramref name="port"/>.</summary>
    public void AddMx(string domain, string host, int port, int preference = 10, bool dnssec = false)
    {
        Dns.AddMx(domain, preference, host, dnssec);
        Dns.AddAddress(host, IPAddress.Loopback, dnssec);
        Ports[host] = port;
    }

    public void Dispose() => _http.Dispose();
}
