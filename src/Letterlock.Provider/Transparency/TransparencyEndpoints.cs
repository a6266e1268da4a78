using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Letterlock.Api;
using Letterlock.Provider.Api;
using Letterlock.Provider.Configuration;
using Letterlock.Transparency;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Letterlock.Provider.Transparency;

/// <summary>What the transparency endpoints read: the directory, its store, and whether an address has unpublished changes.</summary>
public interface ITransparencySource
{
    /// <summary>The provider's name (its mail domain) and the directory's authority.</summary>
    string ProviderName { get; }

    /// <summary>The directory.</summary>
    TransparencyDirectory Directory { get; }

    /// <summary>Heads in a range.</summary>
    Task<IReadOnlyList<SignedTreeHead>> GetHeadsAsync(long from, int limit, CancellationToken ct);

    /// <summary>Whether <paramref name="address"/>'s current keys differ from those <paramref name="proof"/> shows.</summary>
    Task<bool> IsPendingAsync(string address, LookupProof proof, CancellationToken ct);
}

/// <summary>
/// The key-transparency API (docs/API.md, "Key transparency"): heads, lookup, monitor, consistency, and the
/// epoch records auditors replay. All public (no authentication: anyone may audit), all read-only, every
/// parameter checked against <see cref="TransparencySettings"/> and <see cref="TransparencyLimits"/>.
/// </summary>
public sealed class TransparencyEndpoints(ITransparencySource source, TransparencySettings settings, TransparencyLimits limits)
{
    /// <summary>Maps every endpoint under <see cref="TransparencyPaths.Prefix"/>.</summary>
    public void Map(IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup(TransparencyPaths.Prefix);
        group.MapGet("/heads/latest", GetLatestHead);
        group.MapGet("/heads/{epoch}", GetHead);
        group.MapGet("/heads", GetHeads);
        group.MapGet("/lookup/{address}", Lookup);
        group.MapGet("/monitor/{address}", Monitor);
        group.MapGet("/consistency", Consistency);
        group.MapGet("/epochs/{epoch}", GetEpoch);
    }

    private async Task GetLatestHead(HttpContext context)
    {
        var head = await source.Directory.GetHeadAsync(null, context.RequestAborted);
        if (head is null)
        {
            await NoEpochYet(context);
            return;
        }

        NoStore(context);
        await WriteJson(context, new TransparencyHeadResponse(head.Epoch, head.TimestampMs, head.ToBytes(), settings.EpochIntervalSeconds), TransparencyJsonContext.Default.TransparencyHeadResponse);
    }

    private async Task GetHead(HttpContext context)
    {
        if (!TryEpoch((string?)context.Request.RouteValues["epoch"], out long epoch))
        {
            await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid epoch", "An epoch is a number from 0.");
            return;
        }

        var head = await source.Directory.GetHeadAsync(epoch, context.RequestAborted);
        if (head is null)
        {
            await ApiEndpoints.WriteProblem(context, 404, ProblemTypes.NotFound, "No such epoch", null);
            return;
        }

        Immutable(context);
        await WriteJson(context, new TransparencyHeadResponse(head.Epoch, head.TimestampMs, head.ToBytes(), settings.EpochIntervalSeconds), TransparencyJsonContext.Default.TransparencyHeadResponse);
    }

    private async Task GetHeads(HttpContext context)
    {
        var query = context.Request.Query;
        if (!TryQuery(query["from"], 0, long.MaxValue, 0, out long from) || !TryQuery(query["limit"], 1, settings.MaxHeadsPerPage, settings.MaxHeadsPerPage, out long limit))
        {
            await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid query", $"from must be an epoch from 0, limit 1..{settings.MaxHeadsPerPage}.");
            return;
        }

        var latest = await source.Directory.GetHeadAsync(null, context.RequestAborted);
        var heads = await source.GetHeadsAsync(from, (int)limit, context.RequestAborted);
        NoStore(context);
        await WriteJson(context, new TransparencyHeadsResponse(latest?.Epoch ?? -1, settings.EpochIntervalSeconds, heads.Select(h => h.ToBytes()).ToList()),
            TransparencyJsonContext.Default.TransparencyHeadsResponse);
    }

    private async Task Lookup(HttpContext context)
    {
        if (await AddressAsync(context) is not { } address)
        {
            return;
        }

        if (await source.Directory.GetHeadAsync(null, context.RequestAborted) is null)
        {
            await NoEpochYet(context);
            return;
        }

        // Heads are never removed, so a lookup after seeing one always finds a newest head.
        LookupProof proof = await source.Directory.LookupAsync(address, context.RequestAborted);

        bool pending = await source.IsPendingAsync(address, proof, context.RequestAborted);
        var entry = proof.Entry;
        var keys = entry is null ? null : new TransparencyKeySet(entry.Version, entry.Epoch, entry.Keys.OpenPgpFingerprint.ToArray(), entry.Keys.InboxKey.ToArray(),
            entry.Keys.DeviceKeys.Select(k => k.ToArray()).ToList(), entry.Keys.Revoked);
        NoStore(context);
        await WriteJson(context, new TransparencyLookupResponse(address, proof.Head.Epoch, proof.ToBytes(), keys, pending), TransparencyJsonContext.Default.TransparencyLookupResponse);
    }

    private async Task Monitor(HttpContext context)
    {
        if (!TryQuery(context.Request.Query["since"], 0, long.MaxValue, 0, out long since))
        {
            await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid query", "since must be an epoch from 0.");
            return;
        }

        if (await AddressAsync(context) is not { } address)
        {
            return;
        }

        var latest = await source.Directory.GetHeadAsync(null, context.RequestAborted);
        if (latest is null)
        {
            await NoEpochYet(context);
            return;
        }

        if (since > latest.Epoch + 1)
        {
            await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Epoch in the future", $"since must be at most {latest.Epoch + 1}.");
            return;
        }

        var proof = await source.Directory.MonitorAsync(address, since, context.RequestAborted);
        NoStore(context);
        await WriteJson(context, new TransparencyMonitorResponse(address, since, proof.ToBytes()), TransparencyJsonContext.Default.TransparencyMonitorResponse);
    }

    private async Task Consistency(HttpContext context)
    {
        var query = context.Request.Query;
        if (!TryQuery(query["from"], 0, long.MaxValue, -1, out long from) || !TryQuery(query["to"], 0, long.MaxValue, -1, out long to) || from < 0 || to < 0 || from > to)
        {
            await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid query", "from and to are epochs with from <= to.");
            return;
        }

        var latest = await source.Directory.GetHeadAsync(null, context.RequestAborted);
        if (latest is null || to > latest.Epoch)
        {
            await ApiEndpoints.WriteProblem(context, 404, ProblemTypes.NotFound, "No such epoch", latest is null ? "No epoch has been published yet." : $"The newest epoch is {latest.Epoch}.");
            return;
        }

        var proof = await source.Directory.ConsistencyAsync(from, to, context.RequestAborted);
        Immutable(context);
        await WriteJson(context, new TransparencyConsistencyResponse(from, to, proof.ToBytes()), TransparencyJsonContext.Default.TransparencyConsistencyResponse);
    }

    private async Task GetEpoch(HttpContext context)
    {
        if (!TryEpoch((string?)context.Request.RouteValues["epoch"], out long epoch))
        {
            await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid epoch", "An epoch is a number from 0.");
            return;
        }

        var audit = await source.Directory.GetEpochAuditAsync(epoch, context.RequestAborted);
        if (audit is null)
        {
            await ApiEndpoints.WriteProblem(context, 404, ProblemTypes.NotFound, "No such epoch", null);
            return;
        }

        byte[] body = audit.ToBytes();
        Immutable(context);
        context.Response.StatusCode = 200;
        context.Response.ContentType = TransparencyPaths.EpochAuditMediaType;
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>The canonical address of the route, or null after answering 400/404.</summary>
    private async Task<string?> AddressAsync(HttpContext context)
    {
        string? address = TransparencyAddress.TryCanonicalize((string?)context.Request.RouteValues["address"], limits);
        if (address is null)
        {
            await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid address", $"An address is local@domain, at most {limits.MaxAddressLength} bytes.");
            return null;
        }

        if (!string.Equals(TransparencyAddress.Domain(address), source.ProviderName, StringComparison.Ordinal))
        {
            await ApiEndpoints.WriteProblem(context, 404, ProblemTypes.NotFound, "Not this provider's domain", $"This directory is authoritative for {source.ProviderName} only.");
            return null;
        }

        return address;
    }

    private static Task NoEpochYet(HttpContext context)
    {
        context.Response.Headers.RetryAfter = "5";
        return ApiEndpoints.WriteProblem(context, 503, ProblemTypes.ServerError, "No epoch yet", "The provider has not published its first epoch yet.");
    }

    private static void NoStore(HttpContext context) => context.Response.Headers.CacheControl = "no-store";

    private static void Immutable(HttpContext context) => context.Response.Headers.CacheControl = "public, max-age=31536000, immutable";

    private static bool TryEpoch(string? value, out long epoch) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out epoch) && value!.Length <= 19;

    private static bool TryQuery(string? value, long min, long max, long fallback, out long result)
    {
        result = fallback;
        if (string.IsNullOrEmpty(value))
        {
            return fallback >= min;
        }

        return value.Length <= 19 && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out result) && result >= min && result <= max;
    }

    private static async Task WriteJson<T>(HttpContext context, T value, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, value, type, context.RequestAborted);
    }
}
