using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Acme;

/// <summary>
/// The answers to the challenges of an order in progress: key authorizations by token for HTTP-01
/// (<c>GET /.well-known/acme-challenge/TOKEN</c> on the plain-HTTP listener), validation certificates by domain for
/// TLS-ALPN-01 (the HTTPS listener gives one to a handshake that offers only <c>acme-tls/1</c>). Held in memory for
/// the few seconds of a validation.
/// </summary>
internal sealed class AcmeChallengeResponder : IAcmeChallengeResponder
{
    private const string AlpnDomainKey = "letterlock.acme-tls-1";
    private readonly ConcurrentDictionary<string, string> _http = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SslStreamCertificateContext> _alpn = new(StringComparer.OrdinalIgnoreCase);

    public void Add(string type, string domain, string token, string keyAuthorization)
    {
        if (type == "http-01")
        {
            _http[token] = keyAuthorization;
        }
        else
        {
            var certificate = TlsAlpnChallenge.CreateCertificate(domain, keyAuthorization);
            _alpn[domain] = SslStreamCertificateContext.Create(certificate, null, offline: true);
        }
    }

    public void Remove(string type, string domain, string token)
    {
        if (type == "http-01")
        {
            _http.TryRemove(token, out _);
        }
        else
        {
            _alpn.TryRemove(domain, out _);
        }
    }

    /// <summary>
    /// Kestrel's hook on the raw ClientHello: a handshake offering exactly <c>acme-tls/1</c> (RFC 8737, 3: the
    /// validation server offers nothing else) for a domain with a challenge in progress is marked on its connection.
    /// </summary>
    public void InspectClientHello(ConnectionContext connection, System.Buffers.ReadOnlySequence<byte> hello)
    {
        if (!_alpn.IsEmpty && TlsClientHello.TryParse(hello, out string? serverName, out var protocols)
            && serverName is not null && protocols is [var only] && only == TlsAlpnChallenge.Protocol.ToString() && _alpn.ContainsKey(serverName))
        {
            connection.Items[AlpnDomainKey] = serverName;
        }
    }

    /// <summary>The TLS-ALPN-01 validation certificate a marked connection gets, or null for an ordinary one.</summary>
    public SslStreamCertificateContext? AlpnCertificate(ConnectionContext connection) =>
        connection.Items.TryGetValue(AlpnDomainKey, out var domain) && domain is string d && _alpn.TryGetValue(d, out var context) ? context : null;

    /// <summary>
    /// Starts the plain-HTTP listener of HTTP-01 (<c>acme.httpListen</c>): the key authorization of a known token,
    /// 404 for an unknown one, and a redirect to HTTPS for everything else (port 80 is open anyway).
    /// </summary>
    public async Task<(WebApplication Web, IPEndPoint EndPoint)> StartHttpListenerAsync(IPEndPoint endPoint, ILogger logger, CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 0;
            kestrel.Listen(endPoint);
        });
        var web = builder.Build();
        web.Run(context =>
        {
            const string prefix = "/.well-known/acme-challenge/";
            string path = context.Request.Path.Value ?? "/";
            if (!path.StartsWith(prefix, StringComparison.Ordinal))
            {
                context.Response.StatusCode = StatusCodes.Status301MovedPermanently;
                context.Response.Headers.Location = $"https://{context.Request.Host.Host}{path}";
                return Task.CompletedTask;
            }

            if (!HttpMethods.IsGet(context.Request.Method) || !_http.TryGetValue(path[prefix.Length..], out string? keyAuthorization))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            Log.AcmeHttpChallengeAnswered(logger, context.Request.Host.Host);
            context.Response.ContentType = "application/octet-stream";
            return context.Response.WriteAsync(keyAuthorization, context.RequestAborted);
        });
        await web.StartAsync(ct);
        var address = new Uri(web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return (web, new IPEndPoint(endPoint.Address, address.Port));
    }

    /// <summary>
    /// The HTTPS listener's TLS: each handshake takes the current certificate of <paramref name="certificate"/>, or the
    /// TLS-ALPN-01 validation certificate (with only <c>acme-tls/1</c> negotiable) when the ClientHello asked for it.
    /// </summary>
    public HttpsConnectionAdapterOptions HttpsOptions(Func<SslStreamCertificateContext> certificate, Func<System.Security.Cryptography.X509Certificates.X509Certificate2> leaf) => new()
    {
        // required by Kestrel to accept the options; OnAuthenticate below replaces it by the whole chain
        ServerCertificateSelector = (_, _) => leaf(),
        TlsClientHelloBytesCallback = InspectClientHello,
        OnAuthenticate = (connection, ssl) =>
        {
            ssl.ServerCertificateSelectionCallback = null;
            ssl.ServerCertificate = null;
            if (AlpnCertificate(connection) is { } challenge)
            {
                ssl.ServerCertificateContext = challenge;
                ssl.ApplicationProtocols = [TlsAlpnChallenge.Protocol];
            }
            else
            {
                ssl.ServerCertificateContext = certificate();
            }
        },
    };
}
