using System.Globalization;
using Letterlock.Api;
using Letterlock.Native;
using Letterlock.Provider.Accounts;
using Letterlock.Provider.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Letterlock.Provider.Api;

/// <summary>Prekeys of the native protocol (docs/API.md, "Prekeys"; docs/design/native-protocol.md).</summary>
internal sealed partial class ApiEndpoints
{
    private void MapPrekeys(IEndpointRouteBuilder app)
    {
        app.MapPut("/v1/prekeys", Authenticated(PublishPrekeys));
        app.MapGet("/v1/prekeys", Authenticated(GetPrekeyStatus));
        app.MapGet("/v1/prekeys/{address}", Authenticated(FetchPrekeys));
        app.MapGet("/v1/federation/prekeys/{address}", FetchPrekeysForProvider);
    }

    private async Task PublishPrekeys(HttpContext context, Principal who)
    {
        var request = await ReadJson(context, PrekeyJsonContext.Default.PublishPrekeysRequest);
        if (request is null)
        {
            return;
        }

        var native = settings.Native;
        var device = await store.GetDeviceAsync(who.DeviceId, context.RequestAborted);
        if (device is null || device.Revoked)
        {
            await WriteProblem(context, 403, ProblemTypes.Forbidden, "Device revoked", null);
            return;
        }

        var (publication, problem) = ParsePublication(request, device.PublicKey, time.GetUtcNow());
        if (problem is not null)
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid prekeys", problem);
            return;
        }

        switch (await store.PublishPrekeysAsync(who.Account.Id, who.DeviceId, publication!, native.MaxOneTimePrekeys, time.GetUtcNow(), context.RequestAborted))
        {
            case PublishPrekeysOutcome.NeedsSignedPrekeys:
                await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid prekeys", "The first publication of a device carries signedPrekey and kemPrekey.");
                return;
            case PublishPrekeysOutcome.PoolFull:
                await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Too many prekeys",
                    $"A device keeps at most {native.MaxOneTimePrekeys} one-time prekeys of each kind here (native.maxOneTimePrekeys); nothing was stored.");
                return;
        }

        await WritePrekeyStatus(context, who.DeviceId);
    }

    private Task GetPrekeyStatus(HttpContext context, Principal who) => WritePrekeyStatus(context, who.DeviceId);

    private async Task WritePrekeyStatus(HttpContext context, Guid deviceId)
    {
        var status = await store.GetPrekeyStatusAsync(deviceId, time.GetUtcNow(), context.RequestAborted);
        SignedPrekey? signed = status.Current is { } c ? SignedPrekey.Decode(c.SignedPrekey) : null;
        SignedPrekey? kem = status.Current is { } k ? SignedPrekey.Decode(k.KemPrekey) : null;
        await WriteJson(context, 200, new PrekeyStatus(status.OneTime, status.OneTimeKem, signed?.Id, signed?.ExpiresAt, kem?.Id), PrekeyJsonContext.Default.PrekeyStatus);
    }

    /// <summary>Checks every value of a publication: the certificate is the device's, each prekey is of the right kind, signed by it, and expires within the limit.</summary>
    private (PrekeyPublication? Publication, string? Problem) ParsePublication(PublishPrekeysRequest request, byte[] deviceKey, DateTimeOffset now)
    {
        var native = settings.Native;
        IdentityCertificate identity;
        try
        {
            identity = IdentityCertificate.Decode(request.Identity);
        }
        catch (NativeException)
        {
            return (null, "identity must be an identity certificate (128 bytes) signed by its device key.");
        }

        if (!identity.DeviceKey.AsSpan().SequenceEqual(deviceKey))
        {
            return (null, "identity must certify the key of the device that publishes it.");
        }

        if ((request.SignedPrekey is null) != (request.KemPrekey is null))
        {
            return (null, "signedPrekey and kemPrekey are rotated together: send both or neither.");
        }

        var oneTime = request.OneTimePrekeys ?? [];
        if (oneTime.Count > 2 * native.MaxOneTimePrekeys)
        {
            return (null, $"A publication carries at most {2 * native.MaxOneTimePrekeys} one-time prekeys (native.maxOneTimePrekeys of each kind).");
        }

        var latest = now.AddDays(native.MaxPrekeyLifetimeDays);
        string? Check(byte[] encoded, string field, params PrekeyKind[] kinds)
        {
            if (encoded.Length > native.MaxPrekeyLength)
            {
                return $"{field}: a prekey is at most {native.MaxPrekeyLength} bytes (native.maxPrekeyLength).";
            }

            SignedPrekey prekey;
            try
            {
                prekey = SignedPrekey.Decode(encoded);
            }
            catch (NativeException)
            {
                return $"{field}: not a signed prekey.";
            }

            if (!kinds.Contains(prekey.Kind))
            {
                return $"{field}: a prekey of kind {prekey.Kind} does not belong here.";
            }

            if (!prekey.Verify(deviceKey))
            {
                return $"{field}: the signature does not verify with the device's key.";
            }

            if (prekey.ExpiresAt <= now || prekey.ExpiresAt > latest)
            {
                return $"{field}: a prekey must expire in the future and within {native.MaxPrekeyLifetimeDays} days (native.maxPrekeyLifetimeDays).";
            }

            return null;
        }

        if (request.SignedPrekey is { } signedBytes && request.KemPrekey is { } kemBytes
            && (Check(signedBytes, "signedPrekey", PrekeyKind.Signed) ?? Check(kemBytes, "kemPrekey", PrekeyKind.LastResortKem)) is { } bad)
        {
            return (null, bad);
        }

        var records = new List<OneTimePrekeyRecord>(oneTime.Count);
        for (int i = 0; i < oneTime.Count; i++)
        {
            if (Check(oneTime[i], $"oneTimePrekeys[{i.ToString(CultureInfo.InvariantCulture)}]", PrekeyKind.OneTime, PrekeyKind.OneTimeKem) is { } problem)
            {
                return (null, problem);
            }

            var prekey = SignedPrekey.Decode(oneTime[i]);
            records.Add(new OneTimePrekeyRecord((int)prekey.Kind, prekey.Id, oneTime[i], prekey.ExpiresAt));
        }

        return (new PrekeyPublication(request.Identity, request.SignedPrekey, request.KemPrekey, records), null);
    }

    private async Task FetchPrekeys(HttpContext context, Principal who)
    {
        if (prekeyFederation is { } limiter && await limiter.TryAcquireAsync(who.Account.Id, context.RequestAborted) is (false, var retryAfter))
        {
            await RateLimited(context, retryAfter, "prekey bundle fetches by this account");
            return;
        }

        string? address = (string?)context.Request.RouteValues["address"];
        if (!AccountService.TryParseAddress(address, out string localPart, out string domain))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid address", null);
            return;
        }

        if (string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase))
        {
            await WriteLocalBundles(context, localPart);
            return;
        }

        if (prekeyFederation is null)
        {
            await WriteProblem(context, 502, ProblemTypes.UpstreamFailed, "Not fetched", "This provider does not fetch prekeys from other providers.");
            return;
        }

        var (response, status, reason) = await prekeyFederation.FetchRemoteAsync($"{localPart}@{domain}", domain.ToLowerInvariant(), context.RequestAborted);
        if (response is null)
        {
            await WriteProblem(context, status, status == 404 ? ProblemTypes.NotFound : ProblemTypes.UpstreamFailed, status == 404 ? "No such address" : "Not fetched", reason);
            return;
        }

        await WriteJson(context, 200, response, PrekeyJsonContext.Default.PrekeyBundlesResponse);
    }

    private async Task FetchPrekeysForProvider(HttpContext context)
    {
        if (prekeyFederation is { } limiter && await limiter.TryAcquireAsync(context.Connection.RemoteIpAddress, context.RequestAborted) is (false, var retryAfter))
        {
            await RateLimited(context, retryAfter, "prekey bundle fetches from your network");
            return;
        }

        string? address = (string?)context.Request.RouteValues["address"];
        if (!AccountService.TryParseAddress(address, out string localPart, out string domain) || !string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase))
        {
            await WriteProblem(context, 404, ProblemTypes.NotFound, "No such address", null);
            return;
        }

        await WriteLocalBundles(context, localPart);
    }

    private async Task WriteLocalBundles(HttpContext context, string localPart)
    {
        var account = await store.FindAccountAsync(localPart, context.RequestAborted);
        if (account is null || account.Status != AccountStatus.Active)
        {
            await WriteProblem(context, 404, ProblemTypes.NotFound, "No such address", null);
            return;
        }

        var taken = await store.TakePrekeysAsync(account.Id, time.GetUtcNow(), context.RequestAborted);
        var bundles = taken.Select(t => new PrekeyBundle(
            IdentityCertificate.Decode(t.Device.Identity),
            SignedPrekey.Decode(t.Device.SignedPrekey),
            SignedPrekey.Decode(t.OneTimeKemPrekey ?? t.Device.KemPrekey),
            t.OneTimePrekey is { } oneTime ? SignedPrekey.Decode(oneTime) : null).Encode()).ToList();
        await WriteJson(context, 200, new PrekeyBundlesResponse($"{account.LocalPart}@{settings.Domain}", bundles), PrekeyJsonContext.Default.PrekeyBundlesResponse);
    }

    private static async Task RateLimited(HttpContext context, TimeSpan retryAfter, string what)
    {
        int seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await WriteProblem(context, 429, ProblemTypes.RateLimited, "Too many requests", $"Too many {what}; try again in {seconds} s.");
    }
}
