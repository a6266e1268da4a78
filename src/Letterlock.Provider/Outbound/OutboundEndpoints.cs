using System.Globalization;
using System.Text;
using System.Text.Json;
using Letterlock.Api;
using Letterlock.Provider.Accounts;
using Letterlock.Provider.Api;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Letterlock.Provider.Outbound;

/// <summary>
/// The outbound path's HTTPS endpoints (docs/API.md): submission of a raw message, the device's SMTP submission token,
/// and this provider's MTA-STS policy. Authentication is the API's device-key scheme: a bearer token obtained by
/// signing a challenge with the device key.
/// </summary>
internal sealed class OutboundEndpoints(IProviderStore store, SubmissionService submission, ProviderSettings settings, TimeProvider time)
{
    public void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/submission", Authenticated(Submit));
        app.MapPost("/v1/submission/token", Authenticated(IssueToken));
        app.MapDelete("/v1/submission/token", Authenticated(RevokeToken));
        app.MapGet("/.well-known/mta-sts.txt", MtaStsPolicy);
    }

    private async Task Submit(HttpContext context, AccountRecord account, Guid deviceId)
    {
        var request = context.Request;
        var limits = settings.Submission;
        MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType);
        bool multipart = contentType?.MediaType.Value?.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase) == true;
        bool legacy = contentType?.MediaType.Equals(SubmissionMediaTypes.Message, StringComparison.OrdinalIgnoreCase) == true;
        if (!multipart && !legacy)
        {
            await ApiEndpoints.WriteProblem(context, 415, ProblemTypes.InvalidRequest, "Unsupported media type",
                $"Send {SubmissionMediaTypes.Multipart} with the envelope ({SubmissionMediaTypes.Envelope}) and the message ({SubmissionMediaTypes.Message}).");
            return;
        }

        if (request.ContentLength > limits.MaxMessageSize + (multipart ? submission.MaxEnvelopeBytes + MultipartOverhead : 0))
        {
            await ApiEndpoints.WriteProblem(context, 413, ProblemTypes.TooLarge, "Message too large", $"At most {limits.MaxMessageSize} bytes.");
            return;
        }

        var sizeLimit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeLimit is { IsReadOnly: false })
        {
            sizeLimit.MaxRequestBodySize = (long)limits.MaxMessageSize + 1 + (multipart ? submission.MaxEnvelopeBytes + MultipartOverhead : 0);
        }

        string? sender;
        List<string> recipients;
        Stream messageStream;
        if (multipart)
        {
            var boundary = HeaderUtilities.RemoveQuotes(contentType!.Boundary).Value;
            if (string.IsNullOrEmpty(boundary) || boundary.Length > 70)
            {
                await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid submission", "The multipart body has no valid boundary (RFC 2046, 5.1.1).");
                return;
            }

            var reader = new MultipartReader(boundary, request.Body) { HeadersCountLimit = 16, HeadersLengthLimit = 16 * 1024 };
            SubmissionEnvelope? envelope = null;
            MultipartSection? section;
            try
            {
                section = await reader.ReadNextSectionAsync(context.RequestAborted);
                if (section is not null && IsPart(section, SubmissionMediaTypes.Envelope))
                {
                    envelope = await ReadEnvelopeAsync(section.Body, context.RequestAborted);
                    section = await reader.ReadNextSectionAsync(context.RequestAborted);
                }
            }
            catch (Exception e) when (e is InvalidDataException or IOException or JsonException)
            {
                await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid submission", "The body is not a valid submission (RFC 2046 multipart with a JSON envelope).");
                return;
            }

            if (envelope is null || section is null || !IsPart(section, SubmissionMediaTypes.Message))
            {
                await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid submission",
                    $"Send two parts: the envelope ({SubmissionMediaTypes.Envelope}, at most {submission.MaxEnvelopeBytes} bytes) and then the message ({SubmissionMediaTypes.Message}).");
                return;
            }

            sender = envelope.MailFrom;
            recipients = envelope.RcptTo.ToList();
            messageStream = section.Body;
        }
        else
        {
            recipients = [];
            foreach (string? value in request.Headers[SubmissionHeaders.RcptTo])
            {
                recipients.AddRange((value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            }

            sender = request.Headers[SubmissionHeaders.MailFrom].ToString();
            messageStream = request.Body;
        }

        if (recipients.Count == 0)
        {
            await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "No recipients", "Name the recipients in the envelope.");
            return;
        }

        // a count check before the body is read spares reading a message that can never be sent
        if (recipients.Distinct(StringComparer.OrdinalIgnoreCase).Count() > limits.MaxRecipientsPerMessage)
        {
            await Refuse(context, submission.TooManyRecipients());
            return;
        }

        if (string.IsNullOrEmpty(sender))
        {
            sender = submission.AddressOf(account);
        }

        using var body = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        int read;
        try
        {
            while ((read = await messageStream.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                if (body.Length + read > limits.MaxMessageSize)
                {
                    await ApiEndpoints.WriteProblem(context, 413, ProblemTypes.TooLarge, "Message too large", $"At most {limits.MaxMessageSize} bytes.");
                    return;
                }

                await body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
            }
        }
        catch (Exception e) when (multipart && e is InvalidDataException or IOException)
        {
            // the multipart body ended without its closing boundary (or the client went away)
            await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid submission", "The multipart body is incomplete.");
            return;
        }

        var message = body.GetBuffer().AsMemory(0, (int)body.Length);
        byte[]? keyHash = null;
        if (request.Headers.ContainsKey(SubmissionHeaders.IdempotencyKey))
        {
            if (!TryReadIdempotencyKey(request.Headers[SubmissionHeaders.IdempotencyKey], out keyHash))
            {
                await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid idempotency key",
                    $"{SubmissionHeaders.IdempotencyKey} is one string of 1 to {SubmissionHeaders.MaxIdempotencyKeyLength} visible ASCII characters, quoted or not.");
                return;
            }

            var (state, answer) = await submission.ClaimKeyAsync(account, keyHash!, Fingerprint(sender, recipients, message.Span), context.RequestAborted);
            switch (state)
            {
                case SubmissionKeyState.Done:
                    // The first request was accepted and its answer lost on the way: the same answer, nothing sent again.
                    await WriteAcceptedAsync(context, Encoding.UTF8.GetBytes(answer!));
                    return;
                case SubmissionKeyState.InProgress:
                    context.Response.Headers.RetryAfter = "5";
                    await ApiEndpoints.WriteProblem(context, 409, SubmissionProblemTypes.InProgress, "Submission in progress",
                        "A submission with this idempotency key is being handled; ask again shortly for its answer.");
                    return;
                case SubmissionKeyState.Mismatch:
                    await ApiEndpoints.WriteProblem(context, 422, SubmissionProblemTypes.KeyReused, "Idempotency key reused",
                        "This idempotency key was used for a different message or envelope in the last 24 hours; nothing was sent.");
                    return;
            }
        }

        bool kept = false;
        try
        {
            var (check, receipt) = await submission.SubmitAsync(account, sender, recipients, message, "HTTPS", null, context.RequestAborted);
            if (!check.Accepted)
            {
                await Refuse(context, check);
                return;
            }

            var response = JsonSerializer.SerializeToUtf8Bytes(new SubmissionResponse(receipt!.SubmissionId, receipt.Recipients
                .Select(r => new SubmissionRecipient(r.Address, r.Local ? SubmissionDispositions.Delivered : SubmissionDispositions.Queued)).ToList()),
                SubmissionJsonContext.Default.SubmissionResponse);
            if (keyHash is not null)
            {
                // Recorded before the answer leaves: a client that never sees it gets it again for the same key.
                await submission.CompleteKeyAsync(account, keyHash, Encoding.UTF8.GetString(response), CancellationToken.None);
                kept = true;
            }

            await WriteAcceptedAsync(context, response);
        }
        finally
        {
            if (keyHash is not null && !kept)
            {
                await submission.ReleaseKeyAsync(account, keyHash, CancellationToken.None);
            }
        }
    }

    private static async Task WriteAcceptedAsync(HttpContext context, byte[] response)
    {
        context.Response.StatusCode = 202;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(response, context.RequestAborted);
    }

    /// <summary>
    /// The <c>Idempotency-Key</c> field (draft-ietf-httpapi-idempotency-key-header: a structured-field string; a bare
    /// token is taken too): one value of 1 to <see cref="SubmissionHeaders.MaxIdempotencyKeyLength"/> visible ASCII
    /// characters, kept only as its SHA-256.
    /// </summary>
    internal static bool TryReadIdempotencyKey(Microsoft.Extensions.Primitives.StringValues values, out byte[]? hash)
    {
        hash = null;
        if (values.Count != 1 || values[0] is not { } value)
        {
            return false;
        }

        if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
        {
            value = value[1..^1];
        }

        if (value.Length is 0 or > SubmissionHeaders.MaxIdempotencyKeyLength || value.Any(ch => ch is < '!' or > '~' or '"' or '\\'))
        {
            return false;
        }

        hash = System.Security.Cryptography.SHA256.HashData(Encoding.ASCII.GetBytes(value));
        return true;
    }

    /// <summary>What a key is bound to: the envelope as given and the message, so a reused key for other mail is caught.</summary>
    private static byte[] Fingerprint(string sender, List<string> recipients, ReadOnlySpan<byte> message)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(sender + "\n" + string.Join("\n", recipients) + "\n\n"));
        hash.AppendData(message);
        return hash.GetHashAndReset();
    }

    /// <summary>Room for the boundary lines and part headers of a multipart submission, on top of its envelope and message.</summary>
    private const int MultipartOverhead = 64 * 1024;

    private static bool IsPart(MultipartSection section, string mediaType) =>
        MediaTypeHeaderValue.TryParse(section.ContentType, out var type) && type.MediaType.Equals(mediaType, StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads the envelope part, bounded by <see cref="SubmissionService.MaxEnvelopeBytes"/>; null when it is larger or malformed.</summary>
    private async Task<SubmissionEnvelope?> ReadEnvelopeAsync(Stream part, CancellationToken ct)
    {
        var json = new MemoryStream();
        byte[] buffer = new byte[16 * 1024];
        int read;
        while ((read = await part.ReadAsync(buffer, ct)) > 0)
        {
            if (json.Length + read > submission.MaxEnvelopeBytes)
            {
                return null;
            }

            await json.WriteAsync(buffer.AsMemory(0, read), ct);
        }

        try
        {
            return JsonSerializer.Deserialize(json.GetBuffer().AsSpan(0, (int)json.Length), SubmissionJsonContext.Default.SubmissionEnvelope);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private async Task IssueToken(HttpContext context, AccountRecord account, Guid deviceId)
    {
        var (token, expires) = await submission.IssueTokenAsync(account, deviceId, context.RequestAborted);
        context.Response.StatusCode = 201;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        await JsonSerializer.SerializeAsync(context.Response.Body, new SubmissionTokenResponse(submission.AddressOf(account), token, expires, deviceId),
            SubmissionJsonContext.Default.SubmissionTokenResponse, context.RequestAborted);
    }

    private async Task RevokeToken(HttpContext context, AccountRecord account, Guid deviceId)
    {
        if (!await submission.RevokeTokenAsync(deviceId, context.RequestAborted))
        {
            await ApiEndpoints.WriteProblem(context, 404, ProblemTypes.NotFound, "No submission token", "This device has no submission token.");
            return;
        }

        context.Response.StatusCode = 204;
    }

    /// <summary>RFC 8461, 3.2: the policy for this provider's MX, when <c>mtaSts.mode</c> asks for one.</summary>
    private async Task MtaStsPolicy(HttpContext context)
    {
        if (settings.MtaSts.Mode == "none")
        {
            context.Response.StatusCode = 404;
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/plain";
        string policy = Hosting.DnsRecords.MtaStsPolicy(settings);
        await context.Response.Body.WriteAsync(Encoding.ASCII.GetBytes(policy), context.RequestAborted);
    }

    private static async Task Refuse(HttpContext context, SubmissionCheck check)
    {
        switch (check.Refusal)
        {
            case SubmissionRefusal.NotYourAddress:
                await ApiEndpoints.WriteProblem(context, 403, ProblemTypes.Forbidden, "Not your address", check.Detail);
                return;
            case SubmissionRefusal.NoSuchUser:
            case SubmissionRefusal.MailboxFull:
                await ApiEndpoints.WriteProblem(context, 422, SubmissionProblemTypes.RecipientRefused, "Recipient refused", check.Detail);
                return;
            case SubmissionRefusal.RateLimited:
                context.Response.Headers.RetryAfter = ((int)Math.Ceiling((check.RetryAfter ?? TimeSpan.FromMinutes(1)).TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                await ApiEndpoints.WriteProblem(context, 429, ProblemTypes.RateLimited, "Sending limit reached", check.Detail);
                return;
            case SubmissionRefusal.TooLarge:
                await ApiEndpoints.WriteProblem(context, 413, ProblemTypes.TooLarge, "Message too large", check.Detail);
                return;
            case SubmissionRefusal.TooComplex:
                await ApiEndpoints.WriteProblem(context, 422, SubmissionProblemTypes.TooComplex, "Message too complex", check.Detail);
                return;
            default:
                await ApiEndpoints.WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid submission", check.Detail);
                return;
        }
    }

    /// <summary>The API's bearer-token check (device-key authentication), plus: the device must still be active.</summary>
    private RequestDelegate Authenticated(Func<HttpContext, AccountRecord, Guid, Task> handler) => async context =>
    {
        string header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || header.Length > 200)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await ApiEndpoints.WriteProblem(context, 401, ProblemTypes.Unauthorized, "Authentication required", "Send Authorization: Bearer <token> from POST /v1/auth/token.");
            return;
        }

        var token = await store.FindTokenAsync(AccountService.HashSecret(header["Bearer ".Length..].Trim()), context.RequestAborted);
        if (token is null || token.ExpiresAt <= time.GetUtcNow())
        {
            context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
            await ApiEndpoints.WriteProblem(context, 401, ProblemTypes.Unauthorized, "Invalid token", "The token is unknown or expired; authenticate again.");
            return;
        }

        var account = await store.GetAccountAsync(token.AccountId, context.RequestAborted);
        var device = await store.GetDeviceAsync(token.DeviceId, context.RequestAborted);
        if (account is null || account.Status != AccountStatus.Active || device is null || device.Revoked)
        {
            await ApiEndpoints.WriteProblem(context, 403, ProblemTypes.Forbidden, "Account or device disabled", null);
            return;
        }

        await handler(context, account, token.DeviceId);
    };
}
