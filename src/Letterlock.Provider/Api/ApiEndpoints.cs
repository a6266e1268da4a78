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
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Api;

/// <summary>
/// The HTTPS JSON API (docs/API.md). Handlers are plain request delegates with source-generated JSON
/// (no reflection, NativeAOT-safe) so that every malformed input is turned into a problem+json answer here.
/// </summary>
internal sealed partial class ApiEndpoints(
    IProviderStore store,
    IBlobStore blobs,
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
        app.MapPost("/v1/documents/batch", Authenticated(WriteDocuments));
        app.MapGet("/v1/quota", Authenticated(GetQuota));
        app.MapGet("/v1/directory/{address}", GetDirectoryEntry);
        app.MapGet("/.well-known/openpgpkey/hu/{hash}", context => GetWkd(context, null));
        app.MapGet("/.well-known/openpgpkey/{domain}/hu/{hash}", context => GetWkd(context, (string?)context.Request.RouteValues["domain"]));
        app.MapGet("/.well-known/openpgpkey/policy", WkdPolicy);
        app.MapGet("/.well-known/openpgpkey/{domain}/policy", WkdPolicy);
        MapAccountAccess(app);
        MapLink(app);
        MapHkp(app);
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
        catch (Exception e) when (StorageFull.IsFull(e))
        {
            Log.ApiStorageFull(logger, e, context.Request.Method, Operations.RequestLog.RouteOf(context));
            if (!context.Response.HasStarted)
            {
                await WriteProblem(context, 507, ProblemTypes.InsufficientStorage, "Insufficient storage", "The provider's storage is full; nothing was changed. Try again later.");
            }
        }
        catch (Exception e) when (DatabaseUnavailable.Is(e))
        {
            Log.ApiDatabaseUnavailable(logger, context.Request.Method, Operations.RequestLog.RouteOf(context), e.Message);
            if (!context.Response.HasStarted)
            {
                context.Response.Headers.RetryAfter = "5";
                await WriteProblem(context, 503, ProblemTypes.Unavailable, "Service unavailable", "The provider's database cannot be reached; nothing was changed. Try again later.");
            }
        }
        catch (Exception e)
        {
            Log.ApiRequestFailed(logger, e, context.Request.Method, Operations.RequestLog.RouteOf(context));
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
            || !TryQueryLong(query["wait"], 0, 0, settings.Api.LongPollMaxSeconds, out long wait)
            || !TryQueryLong(query["content"], 0, 0, 1, out long content)
            || !TryQueryLong(query["maxBytes"], settings.Api.MaxChangesContentBytes, 1, settings.Api.MaxChangesContentBytes, out long maxBytes))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid query",
                $"since must be >= 0, limit 1..{settings.Api.ChangesPageMax}, wait 0..{settings.Api.LongPollMaxSeconds} seconds, content 0 or 1, " +
                $"maxBytes 1..{settings.Api.MaxChangesContentBytes} (api.maxChangesContentBytes).");
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
                // A shutdown ends the wait at once: the client gets its (empty) page now and asks again elsewhere
                // or later, instead of holding the shutdown for up to longPollMaxSeconds.
                var stopping = context.RequestServices.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
                try
                {
                    await next.WaitAsync(TimeSpan.FromSeconds(wait), time, wake.Token);
                }
                catch (TimeoutException)
                {
                    // nothing happened: answer with the empty page
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
                {
                    // shutting down: answer with what there is
                }

                page = await store.GetChangesAsync(who.Account.Id, since, (int)limit, context.RequestAborted);
            }
        }

        if (content == 0 || page.Changes.Count == 0)
        {
            await WriteJson(context, 200, new ChangesResponse(page.Changes.Select(ToInfo).ToList(), page.Next, page.HasMore), ApiJsonContext.Default.ChangesResponse);
            return;
        }

        await WriteJson(context, 200, await WithContentsAsync(who, page, maxBytes, context.RequestAborted), ApiJsonContext.Default.ChangesResponse);
    }

    /// <summary>
    /// A page of changes with the ciphertext of its live documents, up to <paramref name="budget"/> bytes: the page ends
    /// before the first document that would exceed it (so every change listed has its content), except that a single
    /// document larger than the whole budget is listed without content (the client fetches it alone).
    /// </summary>
    private async Task<ChangesResponse> WithContentsAsync(Principal who, ChangesPage page, long budget, CancellationToken ct)
    {
        var documents = (await store.GetDocumentsAsync(who.Account.Id, page.Changes.Where(c => !c.Deleted).Select(c => c.Id).ToList(), ct))
            .ToDictionary(d => d.Info.Id, StringComparer.Ordinal);
        var contents = new List<DocumentContent>();
        long used = 0;
        int kept = page.Changes.Count;
        for (int i = 0; i < page.Changes.Count; i++)
        {
            if (page.Changes[i].Deleted || !documents.TryGetValue(page.Changes[i].Id, out var document) || document.Content is not { } stored)
            {
                continue; // a tombstone, or deleted since the page was read (its tombstone comes later)
            }

            if (used + stored.Size > budget)
            {
                if (contents.Count > 0)
                {
                    kept = i;
                    break;
                }

                continue; // larger than the whole budget: listed without its content
            }

            byte[] bytes;
            if (stored.Inline is { } inline)
            {
                bytes = inline;
            }
            else
            {
                bytes = new byte[stored.Size];
                await using var blob = await blobs.OpenReadAsync(stored.BlobHash!, ct);
                await blob.ReadExactlyAsync(bytes, ct);
            }

            contents.Add(new DocumentContent(document.Info.Id, document.Info.Kind, document.Info.Revision, bytes));
            used += bytes.Length;
        }

        var changes = page.Changes.Take(kept).Select(ToInfo).ToList();
        return kept == page.Changes.Count
            ? new ChangesResponse(changes, page.Next, page.HasMore, contents)
            : new ChangesResponse(changes, changes[^1].Sequence, true, contents);
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
            await using var blob = await blobs.OpenReadAsync(document.Content.BlobHash!, context.RequestAborted);
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

    /// <summary><c>POST /v1/documents/batch</c>: PUTs and DELETEs in order, in one transaction, each with its own outcome.</summary>
    private async Task WriteDocuments(HttpContext context, Principal who)
    {
        var request = await ReadJson(context, ApiJsonContext.Default.DocumentBatchRequest, settings.Api.MaxBatchBodySize, "api.maxBatchBodySize");
        if (request is null)
        {
            return;
        }

        if (request.Operations.Count is 0 || request.Operations.Count > settings.Api.MaxBatchOperations)
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid batch",
                $"A batch has 1 to {settings.Api.MaxBatchOperations} operations (api.maxBatchOperations).");
            return;
        }

        // Every operation is checked before any is done: a malformed batch changes nothing.
        for (int i = 0; i < request.Operations.Count; i++)
        {
            if (CheckOperation(request.Operations[i]) is { } problem)
            {
                await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid batch operation", $"Operation {i}: {problem}");
                return;
            }
        }

        var writes = new List<BatchWrite>(request.Operations.Count);
        foreach (var op in request.Operations)
        {
            CiphertextRef? content = null;
            if (op.Content is { } bytes)
            {
                await using var sink = new CiphertextSink(blobs, settings.Storage.InlineThreshold);
                await sink.WriteAsync(bytes, context.RequestAborted);
                content = await sink.CompleteAsync(context.RequestAborted);
            }

            writes.Add(new BatchWrite(op.Id, op.Kind, content, op.IfMatch,
                op.Requires is { } r ? new DocumentRequirement(r.Id, r.Revision) : null));
        }

        var outcomes = await store.WriteDocumentsAsync(who.Account.Id, writes, time.GetUtcNow(), context.RequestAborted);
        await WriteJson(context, 200, new DocumentBatchResponse(outcomes.Select(o => new DocumentOperationResult(o.Status switch
        {
            WriteStatus.Ok => DocumentOperationStatus.Ok,
            WriteStatus.Conflict => DocumentOperationStatus.Conflict,
            WriteStatus.NotFound => DocumentOperationStatus.NotFound,
            WriteStatus.QuotaExceeded => DocumentOperationStatus.QuotaExceeded,
            _ => DocumentOperationStatus.Forbidden,
        }, o.Document is { } d ? ToInfo(d) : null, o.CurrentRevision)).ToList()), ApiJsonContext.Default.DocumentBatchResponse);
    }

    /// <summary>Why a batched operation is malformed, or null: the rules of the single PUT and DELETE.</summary>
    private string? CheckOperation(DocumentOperation op)
    {
        if (!IsDocumentId(op.Id) || op.Requires is { } r && (!IsDocumentId(r.Id) || r.Revision < 1))
        {
            return DocumentIdRule + " A required revision is at least 1.";
        }

        switch (op.Op)
        {
            case "put":
                if (op.Kind is null || !IsKind(op.Kind) || op.Kind == "inbox")
                {
                    return "kind must be 1-32 characters a-z, 0-9 or '-', and not 'inbox'.";
                }

                if (op.IfNoneMatch == op.IfMatch is not null || op.IfMatch is < 1)
                {
                    return "a put has either ifNoneMatch: true (create) or ifMatch: a revision (replace).";
                }

                if (op.Content is null || op.Content.Length > settings.Api.MaxDocumentSize)
                {
                    return $"a put has content of at most {settings.Api.MaxDocumentSize} bytes (api.maxDocumentSize).";
                }

                return null;
            case "delete":
                return op.IfMatch is null or < 1 || op.IfNoneMatch || op.Content is not null || op.Kind is not null
                    ? "a delete has ifMatch: a revision, and no kind, content or ifNoneMatch."
                    : null;
            default:
                return "op must be put or delete.";
        }
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

    /// <summary>WKD (draft-koch-openpgp-webkey-service, 3.1): advanced and direct method; the binary certificate, then the revoked ones.</summary>
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

        // The current certificate first, then any the account revoked (the draft allows several keys per response).
        var revoked = await RevokedCertificatesAsync(account.Id, $"{account.LocalPart}@{settings.Domain}", context.RequestAborted);
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/octet-stream";
        await context.Response.Body.WriteAsync(account.OpenPgpCertificate, context.RequestAborted);
        foreach (var certificate in revoked)
        {
            await context.Response.Body.WriteAsync(certificate.Export(armored: false), context.RequestAborted);
        }
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

    private Task<T?> ReadJson<T>(HttpContext context, JsonTypeInfo<T> type)
        where T : class => ReadJson(context, type, settings.Api.MaxJsonBodySize, "api.maxJsonBodySize");

    private async Task<T?> ReadJson<T>(HttpContext context, JsonTypeInfo<T> type, long maxBytes, string setting)
        where T : class
    {
        var request = context.Request;
        if (request.ContentType is null || !request.ContentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            await WriteProblem(context, 415, ProblemTypes.InvalidRequest, "Unsupported media type", "Send Content-Type: application/json.");
            return null;
        }

        if (request.ContentLength > maxBytes)
        {
            await WriteProblem(context, 413, ProblemTypes.TooLarge, "Request too large", $"This JSON body is limited to {maxBytes} bytes ({setting}).");
            return null;
        }

        var limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (limit is { IsReadOnly: false })
        {
            limit.MaxRequestBodySize = maxBytes;
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
        if (limits is null || await limits.TryAcquireAsync(kind, context.Connection.RemoteIpAddress, context.RequestAborted) is not (false, var retryAfter))
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
        return IsDocumentId(id);
    }

    private static bool IsDocumentId(string? id) =>
        id is { Length: > 0 and <= 128 } && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-') && id is not ("." or "..");

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
