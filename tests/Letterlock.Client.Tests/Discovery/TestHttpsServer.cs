using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Client.Net;
using Letterlock.Sandbox;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Letterlock.Client.Tests.Discovery;

/// <summary>
/// A real HTTPS server (Kestrel on 127.0.0.1, port 0) with a certificate from a test CA, serving
/// whatever each test puts in <see cref="Routes"/>, keyed by host and path.
/// </summary>
internal sealed class TestHttpsServer : IAsyncDisposable
{
    public static readonly string[] Hosts = ["alpha.test", "openpgpkey.alpha.test", "beta.test", "openpgpkey.beta.test", "keys.test"];
    private static readonly Lazy<LocalCertificateAuthority> SharedCa = new(() => LocalCertificateAuthority.Create("Letterlock test CA"));
    private readonly WebApplication _app;

    private TestHttpsServer(WebApplication app, IPEndPoint endPoint)
    {
        _app = app;
        EndPoint = endPoint;
    }

    public static LocalCertificateAuthority Ca => SharedCa.Value;

    public ConcurrentDictionary<string, Func<HttpContext, Task>> Routes { get; } = new(StringComparer.OrdinalIgnoreCase);

    public ConcurrentQueue<string> Requests { get; } = new();

    public IPEndPoint EndPoint { get; }

    public static async Task<TestHttpsServer> StartAsync(X509Certificate2? certificate = null)
    {
        certificate ??= Ca.IssueServerCertificate(Hosts);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options => options.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        var app = builder.Build();
        TestHttpsServer? server = null;
        app.Run(async context =>
        {
            var host = context.Request.Host.Host;
            server!.Requests.Enqueue($"{host}{context.Request.Path}{context.Request.QueryString}");
            if (server.Routes.TryGetValue(host + context.Request.Path, out var handler))
            {
                await handler(context);
            }
            else
            {
                context.Response.StatusCode = 404;
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server = new TestHttpsServer(app, new IPEndPoint(IPAddress.Loopback, new Uri(address).Port));
        return server;
    }

    /// <summary>A host map sending the given names (default: all test hosts) to this server, and nothing else anywhere.</summary>
    public StaticHostMap HostMap(params string[] hosts)
    {
        var map = new StaticHostMap { AllowSystemDns = false };
        foreach (var host in hosts.Length > 0 ? hosts : Hosts)
        {
            map.Add(host, EndPoint);
        }

        return map;
    }

    /// <summary>An HttpClient trusting only the test CA, through <paramref name="map"/>.</summary>
    public static HttpClient Client(StaticHostMap map, bool trustCa = true) =>
        new(HttpFetch.CreateHandler(map, trustCa ? new X509Certificate2Collection(Ca.Root) : null)) { Timeout = Timeout.InfiniteTimeSpan };

    public void Serve(string hostAndPath, byte[] body, string contentType = "application/octet-stream") =>
        Routes[hostAndPath] = async context =>
        {
            context.Response.ContentType = contentType;
            await context.Response.Body.WriteAsync(body);
        };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
