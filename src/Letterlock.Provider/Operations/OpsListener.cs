using System.Net;
using System.Text;
using Letterlock.Provider.Outbound;
using Letterlock.Provider.Storage;
using Letterlock.Provider.Transparency;
using Letterlock.Relay.Tls;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Operations;

/// <summary>
/// The operations listener (<c>ops.listen</c>): plain HTTP, apart from the public API, for the machine's monitoring.
/// <c>GET /healthz</c>: 200 when the database answers and the blob folder takes a write, else 503 naming what failed
/// (a load balancer's readiness check); <c>GET /healthz/live</c>: 200 while the process serves (liveness);
/// <c>GET /metrics</c>: Prometheus text format.
/// </summary>
internal sealed class OpsListener : IAsyncDisposable
{
    private readonly WebApplication _web;

    private OpsListener(WebApplication web, IPEndPoint endPoint)
    {
        _web = web;
        EndPoint = endPoint;
    }

    /// <summary>Where it listens (the bound port when the setting asked for 0).</summary>
    public IPEndPoint EndPoint { get; }

    public static async Task<OpsListener> StartAsync(IPEndPoint endPoint, ProviderMetrics metrics, SqlProviderStore store, IBlobStore blobs, OutboundHost outbound, ProviderTransparency transparency, ILogger logger, CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(endPoint);
        });
        var web = builder.Build();
        web.MapGet("/healthz/live", context =>
        {
            context.Response.ContentType = "text/plain";
            return context.Response.WriteAsync("ok\n", context.RequestAborted);
        });
        web.MapGet("/healthz", async context =>
        {
            var (database, storage) = (await CheckDatabaseAsync(store, logger, context.RequestAborted), CheckStorage(blobs, logger));
            bool ok = database is null && storage is null;
            context.Response.StatusCode = ok ? 200 : 503;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(
                $"{{\"status\":\"{(ok ? "ok" : "unavailable")}\",\"database\":\"{database ?? "ok"}\",\"storage\":\"{storage ?? "ok"}\"}}\n", context.RequestAborted);
        });
        web.MapGet("/metrics", async context =>
        {
            var snapshot = await SnapshotAsync(outbound, transparency, context.RequestAborted);
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await context.Response.WriteAsync(metrics.Render(snapshot), Encoding.UTF8, context.RequestAborted);
        });
        await web.StartAsync(ct);
        var address = new Uri(web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new OpsListener(web, new IPEndPoint(endPoint.Address, address.Port));
    }

    private static async Task<ProviderMetrics.Snapshot> SnapshotAsync(OutboundHost outbound, ProviderTransparency transparency, CancellationToken ct)
    {
        int depth = await outbound.Queue.Store.CountAsync(ct);
        var oldest = await outbound.Queue.Store.OldestAsync(ct);
        var head = await transparency.Store.GetLatestHeadAsync(ct);
        var counters = outbound.Counters;
        var reports = outbound.Agent.Reports;
        return new ProviderMetrics.Snapshot(
            depth,
            oldest is { } o ? Math.Max(0, (DateTimeOffset.UtcNow - o).TotalSeconds) : 0,
            counters.Delivered,
            counters.Failed,
            counters.Deferred,
            reports.SuccessesByType.ToDictionary(p => PolicyName(p.Key), p => p.Value),
            reports.Failures.GroupBy(f => (PolicyName(f.PolicyType), f.ResultType)).ToDictionary(g => g.Key, g => g.Sum(f => f.Count)),
            head?.Epoch is { } epoch ? (long)epoch : null);
    }

    private static string PolicyName(TlsPolicyType type) => type switch
    {
        TlsPolicyType.Sts => "sts",
        TlsPolicyType.Tlsa => "tlsa",
        _ => "none",
    };

    private static async Task<string?> CheckDatabaseAsync(SqlProviderStore store, ILogger logger, CancellationToken ct)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await store.PingAsync(timeout.Token);
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Log.HealthDatabase(logger, e);
            return "unreachable";
        }
    }

    /// <summary>
    /// Whether the blob store takes a write: a probe file in the blob folder. Blobs kept in PostgreSQL are written
    /// with the database, which the database check covers.
    /// </summary>
    private static string? CheckStorage(IBlobStore blobs, ILogger logger)
    {
        if (blobs is not FolderBlobStore folder)
        {
            return null;
        }

        string probe = Path.Combine(folder.Root, $".healthz-{Guid.NewGuid():N}");
        try
        {
            using (var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough))
            {
                stream.WriteByte(0);
                stream.Flush(flushToDisk: true);
            }

            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.HealthBlobFolder(logger, e, folder.Root);
            return StorageFull.IsFull(e) ? "full" : "not writable";
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _web.StopAsync();
        await _web.DisposeAsync();
    }
}
