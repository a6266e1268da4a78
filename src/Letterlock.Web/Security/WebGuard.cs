using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Letterlock.Web.Security;

/// <summary>
/// Every request passes here first (docs/design/web.md, "Security model"): the Host header must name this loopback
/// listener (DNS rebinding), every answer carries the strict headers, and what a route needs is checked before it
/// runs: nothing for the shell and its static files, the session cookie for a message frame, the cookie and the
/// CSRF header for every <c>/api</c> call (reads included, so a cookie that leaked alone opens nothing).
/// </summary>
internal sealed class WebGuard(WebSessions sessions, Func<int> port, Action<string>? log)
{
    /// <summary>The app's own pages: its scripts and styles only, nothing inline, nothing evaluated, DOM sinks closed to strings.</summary>
    public const string AppPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; " +
        "form-action 'none'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; " +
        "require-trusted-types-for 'script'; trusted-types 'none'";

    /// <summary>
    /// A message frame: a sandbox without scripts, forms or same origin (an opaque origin that can reach nothing of the
    /// app), nothing loaded from anywhere but the message itself.
    /// </summary>
    public static string FramePolicy(bool remoteImages) =>
        "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; " +
        (remoteImages ? "img-src data: https: http:; " : "img-src data:; ") +
        "style-src 'unsafe-inline'; font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'";

    public const string SessionItem = "letterlock.session";

    /// <summary>The session cookie's name: per port, since browsers keep one cookie jar for every port of a host.</summary>
    public string CookieName => "letterlock_session_" + port().ToString(System.Globalization.CultureInfo.InvariantCulture);

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        var response = context.Response;
        var path = request.Path.Value ?? "/";
        // The server's own time for the request, for the browser's developer tools and the benchmark.
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        response.OnStarting(() =>
        {
            response.Headers["Server-Timing"] = "app;dur=" + System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds.ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        });
        bool frame = path.StartsWith("/frame/", StringComparison.Ordinal);
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers["Cross-Origin-Opener-Policy"] = "same-origin";
        response.Headers["Cross-Origin-Resource-Policy"] = "same-origin";
        response.Headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()";
        response.Headers.XFrameOptions = frame ? "SAMEORIGIN" : "DENY";
        response.Headers.ContentSecurityPolicy = AppPolicy;
        response.Headers.CacheControl = "no-store";

        if (!HostIsLoopback(request.Host))
        {
            // A page on another name that resolved to 127.0.0.1 (DNS rebinding) gets nothing, not even the shell.
            await Problem(context, 421, "Misdirected request", "This app answers only as 127.0.0.1 or localhost.");
            return;
        }

        bool api = path.StartsWith("/api/", StringComparison.Ordinal);
        bool safe = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method);
        if (!safe && !api)
        {
            await Problem(context, 405, "Method not allowed", "Only the API takes changes.");
            return;
        }

        if ((api || frame) && !SameOrigin(request))
        {
            // Another site (or another port's page) asking: the browser says so in Origin or Sec-Fetch-Site.
            await Problem(context, 403, "Cross-origin request refused", "Requests must come from this app's own pages.");
            return;
        }

        bool open = path is "/api/ping" || (path is "/api/session" && HttpMethods.IsPost(request.Method));
        if (api && !open || frame)
        {
            var session = sessions.Find(request.Cookies[CookieName]);
            if (session is null)
            {
                await Problem(context, 401, "Not signed in", "Open a new login link: run `letterlock web`.");
                return;
            }

            if (api && !WebSessions.CsrfMatches(session, request.Headers[WebSessions.CsrfHeader]))
            {
                await Problem(context, 403, "Missing or wrong CSRF token", $"Every API request carries the session's token in {WebSessions.CsrfHeader}.");
                return;
            }

            context.Items[SessionItem] = session;
        }

        try
        {
            await next(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // the browser went away
        }
        catch (BadHttpRequestException e)
        {
            if (!response.HasStarted)
            {
                await Problem(context, e.StatusCode, e.StatusCode == 413 ? "Request too large" : "Bad request",
                    e.StatusCode == 413 ? "The request is larger than this app accepts." : "The request is malformed.");
            }
        }
#pragma warning disable CA1031 // Unexpected failures are answered generically; the type (never a message, which may hold content) is logged.
        catch (Exception e)
#pragma warning restore CA1031
        {
            log?.Invoke($"web: {request.Method} {RouteShape(path)} failed: {e.GetType().Name}");
            if (!response.HasStarted)
            {
                await Problem(context, 500, "Internal error", "The request failed; nothing was changed.");
            }
        }
    }

    private bool HostIsLoopback(HostString host)
    {
        if (!host.HasValue || host.Port != port())
        {
            return false;
        }

        return host.Host is "127.0.0.1" or "localhost";
    }

    /// <summary>
    /// Whether the request comes from this app's own pages: a browser always says where a request comes from, in
    /// <c>Sec-Fetch-Site</c> (every current browser) and in <c>Origin</c> (every POST, and every cross-origin request).
    /// A request without either is not a browser's: the cookie and CSRF token still have to be right.
    /// </summary>
    private bool SameOrigin(HttpRequest request)
    {
        if (request.Headers["Sec-Fetch-Site"] is { Count: > 0 } site && site.ToString() is not "same-origin")
        {
            return false;
        }

        if (request.Headers.Origin is { Count: > 0 } origin)
        {
            string value = origin.ToString();
            string p = port().ToString(System.Globalization.CultureInfo.InvariantCulture);
            return value == "http://127.0.0.1:" + p || value == "http://localhost:" + p;
        }

        return true;
    }

    /// <summary>The path with ids replaced, for the log: no message, folder or account id ends up there.</summary>
    internal static string RouteShape(string path) =>
        string.Join('/', path.Split('/').Select(s => s.Length >= 16 && s.All(char.IsAsciiHexDigit) ? "{id}" : s.Length > 40 ? "{...}" : s));

    public static Task Problem(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new ProblemDto("about:blank", title, status, detail), WebJson.Default.ProblemDto),
            context.RequestAborted);
    }
}
