using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Letterlock.Relay.Tests.Peers;

/// <summary>An HTTPS server (Kestrel) that serves MTA-STS policies at /.well-known/mta-sts.txt, per host name.</summary>
internal sealed class PolicyServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private PolicyServer(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Host (mta-sts.DOMAIN) to (status, content type, body).</summary>
    public Dictionary<string, (int Status, string ContentType, string Body)> Policies { get; } = new(StringComparer.OrdinalIgnoreCase);

    public int Requests;

    public static async Task<PolicyServer> StartAsync(X509Certificate2 certificate)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate)));
        var app = builder.Build();
        PolicyServer? server = null;
        app.MapGet("/.well-known/mta-sts.txt", (HttpContext context) =>
        {
            Interlocked.Increment(ref server!.Requests);
            if (!server.Policies.TryGetValue(context.Request.Host.Host, out var policy))
            {
                return Results.NotFound();
            }

            if (policy.Status is >= 300 and < 400)
            {
                return Results.Redirect(policy.Body);
            }

            return Results.Text(policy.Body, policy.ContentType, statusCode: policy.Status);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server = new PolicyServer(app, new Uri(address).Port);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
