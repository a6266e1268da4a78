using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Operations;

/// <summary>
/// One log line and one count per API request, by route template (<c>GET /v1/directory/{address} 404 3 ms</c>): the
/// path itself carries addresses, WKD hashes and document ids, which the log must not.
/// </summary>
internal static class RequestLog
{
    /// <summary>The request's route template, or a fixed word when no route matched (the raw path is never used).</summary>
    public static string RouteOf(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.GetEndpoint() is RouteEndpoint { RoutePattern.RawText: { } template } ? template : "(no route)";
    }

    public static async Task LogAsync(HttpContext context, RequestDelegate next, ProviderMetrics metrics, ILogger logger)
    {
        long started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            string route = RouteOf(context);
            int status = context.Response.StatusCode;
            metrics.CountApiRequest(route, status);
            Log.RequestHandled(logger, context.Request.Method, route, status, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }
}

/// <summary>
/// The logger factory ASP.NET Core gets: its own categories only from Warning up. Its Information lines ("Request starting
/// HTTP/1.1 GET https://host/v1/directory/alice%40example.org", "Executing endpoint") carry the full URL; the provider
/// logs each request once itself, by route template (<see cref="RequestLog"/>).
/// </summary>
internal sealed class FrameworkLogFilter(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) =>
        categoryName.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) ? new WarningsOnly(inner.CreateLogger(categoryName)) : inner.CreateLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        // the inner factory belongs to whoever made it
    }

    private sealed class WarningsOnly(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning)
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
