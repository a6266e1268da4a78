using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Letterlock.Api;
using Letterlock.Provider.Accounts;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Api;

/// <summary>
/// The HTTPS JSON API (docs/API.md). Handlers are plain request delegates with source-generated JSON
/// (no reflection, NativeAOT-safe) so that every malformed input is turned into a problem+json answer here.
/// </summary>
internal sealed partial class ApiEndpoints(
    IProviderStore store,
    BlobStore blobs,
    AccountService accounts,
    ChangeNotifier notifier,
    ProviderSettings settings,
    byte[] providerSigningPublicKey,
    TimeProvider time,
    ILogger logger,
    Transparency.ProviderTransparency? transparency = null,
    ClientRateLimits? limits = null,
    PrekeyFederation? prekeyFederation = null)
{
    private const int DefaultChangesLimit = 100;

    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/.well-known/letterlock", GetProviderInfo);
        app.MapPost("/v1/accounts", CreateAccount);
        app.MapPost("/v1/auth/challenge", CreateChallenge);
        app.MapPost("/v1/auth/token", CreateToken);
        app.MapGet("/v1/account", Authenticated(GetAccount));
        app.MapPut("/v1/account/keys", Authenticated(UpdateKeys));
        app.MapPost("/v1/devices", Authenticated(AddDevice));
        app.MapDelete("/v1/devices/{deviceId}", Authenticated(RevokeDevice));
        app.MapGet("/v1/changes", Authenticated(GetChanges));
        app.MapGet("/v1/documents/{id}", Authenticated(GetDocument));
        app.MapPut("/v1/documents/{id}", Authenticated(PutDocument));
        app.MapDelete("/v1/documents/{id}", Authenticated(DeleteDocument));
        app.MapGet("/v1/quota", Authenticated(GetQuota));
        app.MapGet("/v1/directory/{address}", GetDirectoryEntry);
        app.MapGet("/.well-known/openpgpkey/hu/{hash}", context => GetWkd(context, null));
        app.MapGet("/.well-known/openpgpkey/{domain}/hu/{hash}", context => GetWkd(context, (string?)context.Request.RouteValues["domain"]));
        app.MapGet("/.well-known/openpgpkey/policy", WkdPolicy);
        app.MapGet("/.well-known/openpgpkey/{domain}/policy", WkdPolicy);
        MapAccountAccess(app);
        MapPrekeys(app);
    }

    /// <summary>Turns unexpected failures into a bare 500 problem; the detail goes to the log only.</summary>
    public async Task GuardAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // the client went away
        }
        catch (BadHttpRequestException e)
        {
            if (!context.Response.HasStarted)
            {
                await WriteProblem(context, e.StatusCode, e.StatusCode == 413 ? ProblemTypes.TooLarge : ProblemTypes.InvalidRequest, e.StatusCode == 413 ? "Request too large" : "Bad request", null);
            }
        }
        catch (Exception e)
        {
            logger.LogError(e, "API request {Method} {Path} failed", context.Request.Method, context.Request.Path.Value);
            if (!context.Response.HasStarted)
            {
                await WriteProblem(context, 500, ProblemTypes.ServerError, "Internal error", "The request failed on the provider; nothing was changed.");
            }
        }
    }

    private Task GetProviderInfo(HttpContext context) =>
        WriteJson(context, 200, new ProviderInfo(settings.Domain, 1, settings.Accounts.SignUp, providerSigningPublicKey, settings.Api.MaxDocumentSize), ApiJsonContext.Default.ProviderInfo);

    private async Task CreateAccount(HttpContext context)
    {
        if (!await WithinLimitAsync(context, ClientRateLimits.Kind.SignUp, "sign-ups"))
        {
            return;
        }

        var request = await ReadJson(context, ApiJsonContext.Default.CreateAccountRequest);
        if (request is null)
        {
            return;
        }

        var (error, created) = await accounts.CreateAccountAsync(request, context.RequestAborted);
        switch (error)
        {
            case AccountError.None:
                await WriteJson(context, 201, created!, ApiJsonContext.Default.CreateAccountResponse);
                return;
            case AccountError.AddressTaken:
                await WriteProblem(context, 409, ProblemTypes.AddressTaken, "Address taken", "This address is already registered.");
                return;
            case AccountError.InviteRequired:
            case AccountError.InviteInvalid:
                await WriteProblem(context, 403, ProblemTypes.Forbidden, "Invite required", "Sign-up needs a valid, unused invite token.");
                return;
            case AccountError.BadProof:
                await WriteProblem(context, 401, ProblemTypes.Unauthorized, "Bad signature", "The proof is not a valid signature by the device key.");
                return;
            default:
                await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid request", Describe(error));
                return;
        }
    }

    private async Task CreateChallenge(HttpContext context)
    {
        if (!await WithinLimitAsync(context, ClientRateLimits.Kind.Challenge, "login challenges"))
        {
            return;
        }

        var request = await ReadJson(context, ApiJsonContext.Default.ChallengeRequest);
        if (request is null)
        {
            return;
        }

        // The same answer for unknown and known devices: the endpoint must not reveal which ids exist.
        var id = Guid.NewGuid();
        byte[] challenge = RandomNumberGenerator.GetBytes(32);
        var expires = time.GetUtcNow().AddSeconds(settings.Api.ChallengeLifetimeSeconds);
        await store.StoreChallengeAsync(new ChallengeRecord(id, request.DeviceId, challenge, expires), context.RequestAborted);
        await WriteJson(context, 200, new ChallengeResponse(id, challenge, expires), ApiJsonContext.Default.ChallengeResponse);
    }

    private async Task CreateToken(HttpContext context)
    {
        var request = await ReadJson(context, ApiJsonContext.Default.TokenRequest);
        if (request is null)
        {
            return;
        }

        var challenge = await store.ConsumeChallengeAsync(request.ChallengeId, context.RequestAborted);
        if (challenge is null || challenge.ExpiresAt <= time.GetUtcNow())
        {
            await WriteProblem(context, 401, ProblemTypes.ChallengeInvalid, "Challenge invalid", "The challenge is unknown, expired or already used; request a new one.");
            return;
        }

        var device = await store.GetDeviceAsync(challenge.DeviceId, context.RequestAborted);
        byte[] message = DeviceAuthentication.ChallengeMessage(settings.Domain, challenge.DeviceId, challenge.Id, challenge.Challenge);
        if (device is null || device.Revoked || request.Signature is null || !DeviceAuthentication.Verify(device.PublicKey, message, request.Signature))
        {
            await WriteProblem(context, 401, ProblemTypes.Unauthorized, "Bad signature", "The signature does not verify with the device's key.");
            return;
        }

        var account = await store.GetAccountAsync(device.AccountId, context.RequestAborted);
        if (account is null || account.Status != AccountStatus.Active)
        {
            await WriteProblem(context, 403, ProblemTypes.Forbidden, "Account disabled", null);
            return;
        }

        string token = AccountService.Base64Url(RandomNumberGenerator.GetBytes(32));
        var expires = time.GetUtcNow().AddSeconds(settings.Api.TokenLifetimeSeconds);
        await store.TouchDeviceAsync(device.Id, time.GetUtcNow(), context.RequestAborted);
        await store.StoreTokenAsync(AccountService.HashSecret(token), new TokenRecord(device.Id, device.AccountId, expires), context.RequestAborted);
        await WriteJson(context, 200, new TokenResponse(token, expires, device.AccountId, device.Id), ApiJsonContext.Default.TokenResponse);
    }

    private async Task GetAccount(HttpContext context, Principal who)
    {
        var devices = await store.ListDevicesAsync(who.Account.Id, context.RequestAborted);
        await WriteJson(context, 200, new AccountInfo(
            who.Account.Id,
            $"{who.Account.LocalPart}@{settings.Domain}",
            who.Account.QuotaBytes,
            who.Account.UsedBytes,
            devices.Where(d => !d.Revoked).Select(d => new DeviceInfo(d.Id, d.PublicKey, d.Name, d.CreatedAt)).ToList()), ApiJsonContext.Default.AccountInfo);
    }

    private async Task UpdateKeys(HttpContext context, Principal who)
    {
        var request = await ReadJson(context, ApiJsonContext.Default.UpdateKeysRequest);
        if (request is null)
        {
            return;
        }

        var error = await accounts.UpdateKeysAsync(who.Account.Id, request, context.RequestAborted);
        if (error != AccountError.None)
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid request", Describe(error));
            return;
        }

        context.Response.StatusCode = 204;
    }

    private async Task AddDevice(HttpContext context, Principal who)
    {
        var request = await ReadJson(context, ApiJsonContext.Default.AddDeviceRequest);
        if (request is null)
        {
            return;
        }

        var (error, device) = await accounts.AddDeviceAsync(who.Account.Id, request, context.RequestAborted);
        switch (error)
        {
            case AccountError.None:
                await WriteJson(context, 201, device!, ApiJsonContext.Default.DeviceInfo);
                return;
            case AccountError.BadProof:
                await WriteProblem(context, 401, ProblemTypes.Unauthorized, "Bad signature", "The proof is not a valid signature by the new device key.");
                return;
            default:
                await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid request", Describe(error));
                return;
        }
    }

    private async Task RevokeDevice(HttpContext context, Principal who)
    {
        if (!Guid.TryParse((string?)context.Request.RouteValues["deviceId"], out var deviceId))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid device id", null);
            return;
        }

        if (!await accounts.RevokeDeviceAsync(who.Account.Id, deviceId, context.RequestAborted))
        {
            await WriteProblem(context, 404, ProblemTypes.NotFound, "No such device", null);
            return;
        }

        context.Response.StatusCode = 204;
    }

    private async Task GetChanges(HttpContext context, Principal who)
    {
        var query = context.Request.Query;
        if (!TryQueryLong(query["since"], 0, 0, long.MaxValue, out long since)
            || !TryQueryLong(query["limit"], DefaultChangesLimit, 1, settings.Api.ChangesPageMax, out long limit)
            || !TryQueryLong(query["wait"], 0, 0, settings.Api.LongPollMaxSeconds, out long wait))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid query",
                $"since must be >= 0, limit 1..{settings.Api.ChangesPageMax}, wait 0..{settings.Api.LongPollMaxSeconds} seconds.");
            return;
        }

        var page = await store.GetChangesAsync(who.Account.Id, since, (int)limit, context.RequestAborted);
        if (page.Changes.Count == 0 && wait > 0)
        {
            // Take the waiter first, then re-read: a change committed in between is not missed.
            var next = notifier.NextChangeAsync(who.Account.Id);
            page = await store.GetChangesAsync(who.Account.Id, since, (int)limit, context.RequestAborted);
            if (page.Changes.Count == 0)
            {
                try
                {
                    await next.WaitAsync(TimeSpan.FromSeconds(wait), time, context.RequestAborted);
                }
                catch (TimeoutException)
                {
                    // nothing happened: answer with the empty page
                }

                page = await store.GetChangesAsync(who.Account.Id, since, (int)limit, context.RequestAborted);
            }
        }

        await WriteJson(context, 200, new ChangesResponse(page.Changes.Select(ToInfo).ToList(), page.Next, page.HasMore), ApiJsonContext.Default.ChangesResponse);
    }

    private async Task GetDocument(HttpContext context, Principal who)
    {
        if (!TryDocumentId(context, out string id))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid document id", DocumentIdRule);
            return;
        }

        var document = await store.GetDocumentAsync(who.Account.Id, id, context.RequestAborted);
        if (document is null || document.Info.Deleted || document.Content is null)
        {
            await WriteProblem(context, 404, ProblemTypes.NotFound, "No such document", null);
            return;
        }

        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "application/octet-stream";
        response.Headers.ETag = $"\"{document.Info.Revision}\"";
        response.Headers[ApiHeaders.Kind] = document.Info.Kind;
        response.Headers[ApiHeaders.Revision] = document.Info.Revision.ToString(CultureInfo.InvariantCulture);
        response.Headers[ApiHeaders.Sequence] = document.Info.Sequence.ToString(CultureInfo.InvariantCulture);
        response.ContentLength = document.Info.Size;
        if (document.Content.Inline is { } inline)
        {
            await response.Body.WriteAsync(inline, context.RequestAborted);
        }
        else
        {
            await using var blob = blobs.OpenRead(document.Content.BlobHash!);
            await blob.CopyToAsync(response.Body, context.RequestAborted);
        }
    }

    private async Task PutDocument(HttpContext context, Principal who)
    {
        var request = context.Request;
        if (!TryDocumentId(context, out string id))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid document id", DocumentIdRule);
            return;
        }

        string kind = request.Headers[ApiHeaders.Kind].ToString();
        if (!IsKind(kind) || kind == "inbox")
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid kind", $"The {ApiHeaders.Kind} header must be 1-32 characters a-z, 0-9 or '-', and not 'inbox' (reserved for the MX).");
            return;
        }

        if (!TryPrecondition(request, out long? expected, out bool present))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid precondition", "If-Match must be a revision number, If-None-Match must be *.");
            return;
        }

        if (!present)
        {
            await WriteProblem(context, 428, ProblemTypes.PreconditionRequired, "Precondition required", "Send If-None-Match: * to create, If-Match: \"revision\" to replace.");
            return;
        }

        if (request.ContentLength is long declared && declared > settings.Api.MaxDocumentSize)
        {
            await WriteProblem(context, 413, ProblemTypes.TooLarge, "Document too large", $"At most {settings.Api.MaxDocumentSize} bytes.");
            return;
        }

        // The exact check (replacing a document frees its old size) is in the store; this one only
        // spares reading a body that can never fit.
        if (request.ContentLength is long length && length > who.Account.QuotaBytes)
        {
            await WriteProblem(context, 507, ProblemTypes.QuotaExceeded, "Quota exceeded", "Storing this document would exceed the account's quota.");
            return;
        }

        await using var sink = new CiphertextSink(blobs, settings.Storage.InlineThreshold);
        long total = 0;
        byte[] buffer = new byte[64 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            total += read;
            if (total > settings.Api.MaxDocumentSize)
            {
                await WriteProblem(context, 413, ProblemTypes.TooLarge, "Document too large", $"At most {settings.Api.MaxDocumentSize} bytes.");
                return;
            }

            await sink.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
        }

        var content = await sink.CompleteAsync(context.RequestAborted);
        var outcome = await store.PutDocumentAsync(new DocumentWrite(who.Account.Id, id, kind, expected, content, time.GetUtcNow()), context.RequestAborted);
        await WriteOutcome(context, outcome, expected is null ? 201 : 200);
    }

    private async Task DeleteDocument(HttpContext context, Principal who)
    {
        if (!TryDocumentId(context, out string id))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid document id", DocumentIdRule);
            return;
        }

        if (!TryPrecondition(context.Request, out long? expected, out bool present) || (present && expected is null))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid precondition", "If-Match must be a revision number.");
            return;
        }

        if (!present)
        {
            await WriteProblem(context, 428, ProblemTypes.PreconditionRequired, "Precondition required", "Send If-Match: \"revision\".");
            return;
        }

        var outcome = await store.DeleteDocumentAsync(who.Account.Id, id, expected!.Value, time.GetUtcNow(), context.RequestAborted);
        await WriteOutcome(context, outcome, 200);
    }

    private async Task GetQuota(HttpContext context, Principal who) =>
        await WriteJson(context, 200, new QuotaResponse(who.Account.QuotaBytes, who.Account.UsedBytes, who.Account.DocumentCount), ApiJsonContext.Default.QuotaResponse);

    private async Task GetDirectoryEntry(HttpContext context)
    {
        string? address = (string?)context.Request.RouteValues["address"];
        if (!AccountService.TryParseAddress(address, out string localPart, out string domain))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid address", null);
            return;
        }

        var account = string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase)
            ? await store.FindAccountAsync(localPart, context.RequestAborted)
            : null;
        if (account is null || account.Status != AccountStatus.Active)
        {
            await WriteProblem(context, 404, ProblemTypes.NotFound, "No such address", null);
            return;
        }

        var devices = await store.ListDevicesAsync(account.Id, context.RequestAborted);
        // The lookup proof rides along (key transparency): clients verify it before using these keys.
        var proof = transparency is null ? null : await transparency.DirectoryProofAsync(account, devices, context.RequestAborted);
        await WriteJson(context, 200, new DirectoryEntry(
            $"{account.LocalPart}@{settings.Domain}",
            account.OpenPgpCertificate,
            account.InboxPublicKey,
            devices.Where(d => !d.Revoked).Select(d => new DirectoryDevice(d.Id, d.PublicKey)).ToList(),
            account.KeysUpdatedAt,
            proof is { } p ? new DirectoryTransparency(p.Proof.Head.Epoch, p.Proof.ToBytes(), p.Pending) : null), ApiJsonContext.Default.DirectoryEntry);
    }

    /// <summary>WKD (draft-koch-openpgp-webkey-service, 3.1): advanced and direct method; the binary certificate.</summary>
    private async Task GetWkd(HttpContext context, string? domain)
    {
        context.Response.Headers.AccessControlAllowOrigin = "*";
        string? hash = (string?)context.Request.RouteValues["hash"];
        if ((domain is not null && !string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase)) || string.IsNullOrEmpty(hash) || hash.Length != 32)
        {
            context.Response.StatusCode = 404;
            return;
        }

        var account = await store.FindAccountByWkdHashAsync(hash.ToLowerInvariant(), context.RequestAborted);
        string? local = context.Request.Query["l"];
        if (account is null || account.Status != AccountStatus.Active || (local is not null && !string.Equals(local, account.LocalPart, StringComparison.OrdinalIgnoreCase)))
        {
            context.Response.StatusCode = 404;
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/octet-stream";
        await context.Response.Body.WriteAsync(account.OpenPgpCertificate, context.RequestAborted);
    }

    private static Task WkdPolicy(HttpContext context)
    {
        context.Response.Headers.AccessControlAllowOrigin = "*";
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/plain";
        return Task.CompletedTask;
    }

    private async Task WriteOutcome(HttpContext context, WriteOutcome outcome, int okStatus)
    {
        switch (outcome.Status)
        {
            case WriteStatus.Ok:
                context.Response.Headers.ETag = $"\"{outcome.Document!.Revision}\"";
                await WriteJson(context, okStatus, ToInfo(outcome.Document), ApiJsonContext.Default.DocumentInfo);
                return;
            case WriteStatus.Conflict:
                await WriteProblem(context, 409, ProblemTypes.RevisionConflict, "Revision conflict",
                    outcome.CurrentRevision is long current ? $"The document is at revision {current}." : "The document does not exist or already exists.");
                return;
            case WriteStatus.NotFound:
                await WriteProblem(context, 404, ProblemTypes.NotFound, "No such document", null);
                return;
            case WriteStatus.QuotaExceeded:
                await WriteProblem(context, 507, ProblemTypes.QuotaExceeded, "Quota exceeded", "Storing this document would exceed the account's quota.");
                return;
            default:
                await WriteProblem(context, 403, ProblemTypes.Forbidden, "Account disabled", null);
                return;
        }
    }

    private sealed record Principal(AccountRecord Account, Guid DeviceId);

    private RequestDelegate Authenticated(Func<HttpContext, Principal, Task> handler) => async context =>
    {
        string header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || header.Length > 200)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await WriteProblem(context, 401, ProblemTypes.Unauthorized, "Authentication required", "Send Authorization: Bearer <token> from POST /v1/auth/token.");
            return;
        }

        var token = await store.FindTokenAsync(AccountService.HashSecret(header["Bearer ".Length..].Trim()), context.RequestAborted);
        if (token is null || token.ExpiresAt <= time.GetUtcNow())
        {
            context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
            await WriteProblem(context, 401, ProblemTypes.Unauthorized, "Invalid token", "The token is unknown or expired; authenticate again.");
            return;
        }

        var account = await store.GetAccountAsync(token.AccountId, context.RequestAborted);
        if (account is null || account.Status != AccountStatus.Active)
        {
            await WriteProblem(context, 403, ProblemTypes.Forbidden, "Account disabled", null);
            return;
        }

        await handler(context, new Principal(account, token.DeviceId));
    };

    private async Task<T?> ReadJson<T>(HttpContext context, JsonTypeInfo<T> type)
        where T : class
    {
        var request = context.Request;
        if (request.ContentType is null || !request.ContentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            await WriteProblem(context, 415, ProblemTypes.InvalidRequest, "Unsupported media type", "Send Content-Type: application/json.");
            return null;
        }

        if (request.ContentLength > settings.Api.MaxJsonBodySize)
        {
            await WriteProblem(context, 413, ProblemTypes.TooLarge, "Request too large", $"JSON bodies are limited to {settings.Api.MaxJsonBodySize} bytes.");
            return null;
        }

        var limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (limit is { IsReadOnly: false })
        {
            limit.MaxRequestBodySize = settings.Api.MaxJsonBodySize;
        }

        try
        {
            var value = await JsonSerializer.DeserializeAsync(request.Body, type, context.RequestAborted);
            if (value is null)
            {
                await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid JSON", "The body is null.");
            }

            return value;
        }
        catch (JsonException e)
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid JSON", e.Path is { Length: > 1 } path ? $"Malformed or unexpected value at {path}." : "The body is not valid JSON for this request.");
            return null;
        }
    }

    private static async Task WriteJson<T>(HttpContext context, int status, T value, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, value, type, context.RequestAborted);
    }

    /// <summary>Takes a permit of the per-client limit, or answers 429 with Retry-After and returns false.</summary>
    private async Task<bool> WithinLimitAsync(HttpContext context, ClientRateLimits.Kind kind, string what)
    {
        if (limits is null || limits.TryAcquire(kind, context.Connection.RemoteIpAddress, out var retryAfter))
        {
            return true;
        }

        int seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await WriteProblem(context, 429, ProblemTypes.RateLimited, "Too many requests", $"Too many {what} from your network; try again in {seconds} s.");
        return false;
    }

    internal static async Task WriteProblem(HttpContext context, int status, string type, string title, string? detail)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(context.Response.Body, new Problem(type, title, status, detail), ApiJsonContext.Default.Problem, context.RequestAborted);
    }

    private static DocumentInfo ToInfo(StoredDocumentInfo d) => new(d.Id, d.Kind, d.Revision, d.Sequence, d.Size, d.Deleted, d.ModifiedAt);

    private const string DocumentIdRule = "A document id is 1-128 characters A-Z, a-z, 0-9, '.', '_' or '-'.";

    private static bool TryDocumentId(HttpContext context, out string id)
    {
        id = (string?)context.Request.RouteValues["id"] ?? "";
        return id.Length is > 0 and <= 128 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-') && id is not ("." or "..");
    }

    private static bool IsKind(string kind) => kind.Length is > 0 and <= 32 && kind.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    /// <summary>If-Match: "N" (or N) means replace revision N; If-None-Match: * means create.</summary>
    private static bool TryPrecondition(HttpRequest request, out long? expected, out bool present)
    {
        expected = null;
        present = false;
        string ifMatch = request.Headers.IfMatch.ToString();
        string ifNoneMatch = request.Headers.IfNoneMatch.ToString();
        if (ifMatch.Length > 0 && ifNoneMatch.Length > 0)
        {
            return false;
        }

        if (ifNoneMatch.Length > 0)
        {
            present = true;
            return ifNoneMatch.Trim() == "*";
        }

        if (ifMatch.Length > 0)
        {
            present = true;
            string value = ifMatch.Trim().Trim('"');
            if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long revision) && revision > 0)
            {
                expected = revision;
                return true;
            }

            return false;
        }

        return true;
    }

    private static bool TryQueryLong(string? value, long fallback, long min, long max, out long result)
    {
        result = fallback;
        if (string.IsNullOrEmpty(value))
        {
            return true;
        }

        return long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out result) && result >= min && result <= max;
    }

    private static string Describe(AccountError error) => error switch
    {
        AccountError.InvalidAddress => "The address or device name is malformed.",
        AccountError.WrongDomain => "This provider does not serve that domain.",
        AccountError.InvalidKey => "Keys must be raw public keys: a 32-byte Ed25519 device key; a 32-byte X25519 or 1,216-byte X-Wing inbox key.",
        AccountError.InvalidCertificate => "The OpenPGP certificate must be one binary, unrevoked certificate with a user ID for this address.",
        AccountError.NotFound => "No such account.",
        _ => "The request is invalid.",
    };
}
