using System.Net;
using System.Text;
using Letterlock.Bridge;
using Letterlock.Client.Store;
using Letterlock.Web.Api;
using Letterlock.Web.Mail;
using Letterlock.Web.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Letterlock.Web;

/// <summary>
/// The local web app (docs/design/web.md): a browser front end over the bridge's accounts, on 127.0.0.1 only, in the
/// bridge's process. Mail goes through the store's <see cref="AccountMail"/>, sending through the bridge's
/// <see cref="BridgeSubmission"/> (the path SMTP submission takes), contacts and trust through the client's stores.
/// </summary>
public sealed class WebHost : IAsyncDisposable
{
    private readonly WebApplication _web;
    private readonly WebSessions _sessions;
    private readonly MailViews _views;
    private readonly DeviceApprovals _approvals;

    private WebHost(WebApplication web, WebSessions sessions, MailViews views, DeviceApprovals approvals, Uri url)
    {
        _web = web;
        _sessions = sessions;
        _views = views;
        _approvals = approvals;
        Url = url;
    }

    /// <summary>The app's address, e.g. <c>http://127.0.0.1:8143/</c>.</summary>
    public Uri Url { get; }

    /// <summary>The listener's address.</summary>
    public IPEndPoint EndPoint => new(IPAddress.Loopback, Url.Port);

    internal MailViews Views => _views;

    /// <summary>Sessions signed in now.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Every route with its methods (for the tests that check each state-changing route is guarded).</summary>
    internal IReadOnlyList<(string Method, string Pattern)> Routes =>
        _web.Services.GetRequiredService<Microsoft.AspNetCore.Routing.EndpointDataSource>().Endpoints.OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["*"]).Select(m => (m, e.RoutePattern.RawText!)))
            .ToList();

    /// <summary>A new one-time login link (good for <see cref="WebOptions.LoginLinkLifetime"/>); the token is in the fragment.</summary>
    public Uri NewLoginLink() => LoginLink(Url, _sessions.IssueLink());

    /// <summary>Starts the web app over the bridge's store and sending path.</summary>
    /// <exception cref="IOException">The port is taken (Kestrel reports an <see cref="IOException"/>).</exception>
    public static async Task<WebHost> StartAsync(BridgeHost bridge, WebOptions? options = null, Action<string>? log = null, TimeProvider? time = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(bridge);
        options ??= new WebOptions();
        time ??= TimeProvider.System;
        var store = bridge.Submission.Store;
        var sessions = new WebSessions(options, store, time);
        var assets = StaticAssets.Load();
        int boundPort = options.Port;
        var guard = new WebGuard(sessions, () => boundPort, log);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        // The process that hosts the app owns Ctrl-C and SIGTERM (the bridge stops everything in order); ASP.NET Core's
        // console lifetime would take them over and stop only the web app.
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, HostedByCaller>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // The largest body any route takes; each route holds its own, smaller limit.
            kestrel.Limits.MaxRequestBodySize = Math.Max(options.MaxAttachmentBytes, options.MaxJsonBytes) + 64 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Listen(IPAddress.Loopback, options.Port, listen => listen.Protocols = HttpProtocols.Http1);
        });
        var web = builder.Build();
        var views = new MailViews(store, options);
        var approvals = new DeviceApprovals(options, time);
        var context = new WebContext(store, bridge, options, sessions, views, approvals, time, log, guard);
        web.Use(guard.InvokeAsync);
        web.MapGet("/", http => assets.ServeAsync(http, "index.html"));
        web.MapGet("/login", http => assets.ServeAsync(http, "index.html"));
        web.MapGet("/static/{**name}", http => assets.ServeAsync(http, (string)http.Request.RouteValues["name"]!));
        new SessionEndpoints(context).Map(web);
        new MailEndpoints(context).Map(web);
        new ComposeEndpoints(context).Map(web);
        new ContactEndpoints(context).Map(web);
        new AccountEndpoints(context).Map(web);
        web.MapFallback(http => WebGuard.Problem(http, 404, "Not found", "No such page."));

        try
        {
            await web.StartAsync(ct);
        }
        catch
        {
            await web.DisposeAsync();
            views.Dispose();
            approvals.Dispose();
            throw;
        }

        var address = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a)).First();
        boundPort = address.Port;
        var url = new Uri($"http://127.0.0.1:{boundPort}/");
        // Where `letterlock web` (another process over the same store) finds this app.
        await store.Settings.SetAsync(WebSessions.EndpointSetting, Encoding.UTF8.GetBytes(url.ToString()), ct);
        return new WebHost(web, sessions, views, approvals, url);
    }

    /// <summary>
    /// The address of the web app serving <paramref name="store"/> (left by the running bridge), or null when none
    /// ever ran. Whether it still runs is for the caller to try.
    /// </summary>
    public static async Task<Uri?> FindAsync(LocalStore store, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return await store.Settings.GetAsync(WebSessions.EndpointSetting, ct) is { } value && Uri.TryCreate(Encoding.UTF8.GetString(value), UriKind.Absolute, out var url)
            ? url
            : null;
    }

    /// <summary>
    /// A one-time login link for the web app that another process runs over <paramref name="store"/> (<c>letterlock
    /// web</c>): its token's hash is left, sealed, in the store.
    /// </summary>
    public static async Task<Uri> NewLoginLinkAsync(LocalStore store, Uri url, TimeSpan? lifetime = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        var token = await WebSessions.IssueStoredLinkAsync(store, lifetime ?? new WebOptions().LoginLinkLifetime, ct: ct);
        return LoginLink(url, token);
    }

    private static Uri LoginLink(Uri url, string token) => new(url, "login#" + token);

    /// <summary>Stops listening; every session ends.</summary>
    public async ValueTask DisposeAsync()
    {
        _sessions.EndAll();
        _approvals.Dispose();
        await _web.StopAsync();
        await _web.DisposeAsync();
        _views.Dispose();
    }
}

/// <summary>A lifetime that leaves signals to the process that started the app.</summary>
internal sealed class HostedByCaller : Microsoft.Extensions.Hosting.IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>What every endpoint class of the app works with.</summary>
internal sealed record WebContext(LocalStore Store, BridgeHost Bridge, WebOptions Options, WebSessions Sessions, MailViews Views, DeviceApprovals Approvals, TimeProvider Time,
    Action<string>? Log, WebGuard Guard)
{
    public static WebSession Session(HttpContext context) => (WebSession)context.Items[WebGuard.SessionItem]!;
}
