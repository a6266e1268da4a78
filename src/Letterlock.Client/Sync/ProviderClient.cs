using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Letterlock.Api;

namespace Letterlock.Client.Sync;

/// <summary>The provider answered with an error (application/problem+json); the message is the provider's title and detail.</summary>
public sealed class ProviderProblemException(int status, Problem? problem)
    : Exception(problem is null ? $"the provider answered HTTP {status}" : $"{problem.Title}{(problem.Detail is null ? "" : ": " + problem.Detail)} (HTTP {status})")
{
    /// <summary>The HTTP status.</summary>
    public int Status { get; } = status;

    /// <summary>The problem body, when there was one.</summary>
    public Problem? Problem { get; } = problem;

    /// <summary>How long the provider asked to wait before trying again (<c>Retry-After</c>), when it said.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>
    /// Whether trying the same request again later may succeed: the provider failed (5xx), was too busy
    /// (429, 408), or did not accept this device's authentication even after a fresh login (401: a clock or key
    /// problem that may pass; a revoked device gets 403), or is still handling the same submission (409, its
    /// idempotency key in progress). Any other 4xx is the request's fault.
    /// </summary>
    public bool IsTransient => Status is >= 500 or 429 or 408 or 401 || (Status == 409 && Problem?.Type == SubmissionProblemTypes.InProgress);
}

/// <summary>The provider could not be reached (network, TLS, timeout); nothing is known to have changed.</summary>
public sealed class ProviderUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A document as fetched.</summary>
public sealed record RemoteDocument(string Id, string Kind, long Revision, byte[] Content);

/// <summary>The outcome of a conditional write.</summary>
public enum WriteStatus
{
    /// <summary>Written.</summary>
    Ok,

    /// <summary>The revision did not match (409): fetch, merge, retry.</summary>
    Conflict,

    /// <summary>The document does not exist (404).</summary>
    NotFound,
}

/// <summary>Limits on what the client reads from a provider.</summary>
public sealed class ProviderClientOptions
{
    /// <summary>The largest document read, in bytes (default 128 MiB).</summary>
    public long MaxDocumentBytes { get; init; } = 128L * 1024 * 1024;

    /// <summary>The largest JSON answer read, in bytes (default 4 MiB).</summary>
    public long MaxJsonBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>How long one request may take (default 60 s; long polls add their wait).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>A device's credentials for one provider.</summary>
/// <param name="Domain">The provider's mail domain (part of every signed message).</param>
/// <param name="DeviceId">The device id the provider assigned.</param>
/// <param name="PrivateKey">The device's Ed25519 seed.</param>
public sealed record DeviceCredentials(string Domain, Guid DeviceId, byte[] PrivateKey);

/// <summary>
/// The provider's HTTPS JSON API (Letterlock.Api contracts) as the client uses it: account
/// creation, device authentication (signed challenge -> bearer token, renewed before it expires),
/// the change feed, documents with revision preconditions, and the key directory.
/// </summary>
public sealed partial class ProviderClient(HttpClient http, Uri baseUri, DeviceCredentials? credentials = null, ProviderClientOptions? options = null, TimeProvider? time = null)
{
    private readonly ProviderClientOptions _options = options ?? new ProviderClientOptions();
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly SemaphoreSlim _tokenLock = new(1, 1);
    private string? _token;
    private DateTimeOffset _tokenExpires;

    /// <summary>The provider's base URL.</summary>
    public Uri BaseUri { get; } = baseUri;

    /// <summary><c>GET /.well-known/letterlock</c>.</summary>
    public Task<ProviderInfo> GetInfoAsync(CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Get, Url(".well-known/letterlock")), ApiJsonContext.Default.ProviderInfo, false, ct);

    /// <summary><c>POST /v1/accounts</c>.</summary>
    public Task<CreateAccountResponse> CreateAccountAsync(CreateAccountRequest request, CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Post, Url("v1/accounts"))
        {
            Content = JsonContent.Create(request, ApiJsonContext.Default.CreateAccountRequest),
        }, ApiJsonContext.Default.CreateAccountResponse, false, ct);

    /// <summary><c>PUT /v1/account/keys</c>: publish a new OpenPGP certificate and inbox key (key rotation).</summary>
    public async Task UpdateKeysAsync(UpdateKeysRequest request, CancellationToken ct = default)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Put, Url("v1/account/keys"))
        {
            Content = JsonContent.Create(request, ApiJsonContext.Default.UpdateKeysRequest),
        }, true, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary><c>GET /v1/directory/{address}</c>; null when the provider has no such address.</summary>
    public async Task<DirectoryEntry?> GetDirectoryEntryAsync(string address, CancellationToken ct = default)
    {
        try
        {
            return await SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Get, Url("v1/directory/" + Uri.EscapeDataString(address))),
                ApiJsonContext.Default.DirectoryEntry, false, ct).ConfigureAwait(false);
        }
        catch (ProviderProblemException e) when (e.Status == 404)
        {
            return null;
        }
    }

    /// <summary><c>GET /v1/changes?since=N&amp;limit=L&amp;wait=W</c>.</summary>
    public Task<ChangesResponse> GetChangesAsync(long since, int limit = 100, int waitSeconds = 0, CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Get, Url(FormattableString.Invariant($"v1/changes?since={since}&limit={limit}&wait={waitSeconds}"))),
            ApiJsonContext.Default.ChangesResponse, true, ct, TimeSpan.FromSeconds(waitSeconds));

    /// <summary>
    /// <c>GET /v1/changes?since=N&amp;limit=L&amp;content=1&amp;maxBytes=B</c>: a page of changes with the ciphertext of its live
    /// documents (at most <paramref name="maxBytes"/> of it). A provider without content pages answers a plain page:
    /// <see cref="ChangesResponse.Contents"/> is null then.
    /// </summary>
    public Task<ChangesResponse> GetChangesWithContentAsync(long since, int limit, long maxBytes, CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Get, Url(FormattableString.Invariant($"v1/changes?since={since}&limit={limit}&content=1&maxBytes={maxBytes}"))),
            ApiJsonContext.Default.ChangesResponse, true, ct, bound: _options.MaxJsonBytes + (maxBytes / 3 * 4) + 4);

    /// <summary>
    /// A batch's JSON, written into a buffer of about its final size (the documents as base64 and room for the rest), not
    /// streamed by <see cref="JsonContent"/>: that writes each document's base64 whole through ArrayPool&lt;byte&gt;.Shared,
    /// which then keeps a buffer of up to a batch's size per thread long after the sync (see <see cref="DocumentSealer.Seal"/>).
    /// </summary>
    private static ReadOnlyMemoryContent BatchContent(IReadOnlyList<DocumentOperation> operations)
    {
        long estimate = operations.Sum(o => 4L * (((o.Content?.Length ?? 0) + 2) / 3) + 256 + 2L * o.Id.Length);
        var json = new ArrayBufferWriter<byte>((int)Math.Min(Array.MaxLength, estimate));
        using (var writer = new Utf8JsonWriter(json))
        {
            JsonSerializer.Serialize(writer, new DocumentBatchRequest(operations), ApiJsonContext.Default.DocumentBatchRequest);
        }

        var content = new ReadOnlyMemoryContent(json.WrittenMemory);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        return content;
    }

    /// <summary>
    /// <c>POST /v1/documents/batch</c>: PUTs and DELETEs in order in one request and one commit at the provider, one result
    /// each; null when the provider has no batch endpoint (an older provider: use the single requests).
    /// </summary>
    public async Task<IReadOnlyList<DocumentOperationResult>?> WriteDocumentsAsync(IReadOnlyList<DocumentOperation> operations, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, Url("v1/documents/batch"))
        {
            Content = BatchContent(operations),
        }, true, ct).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
        {
            return null;
        }

        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
        var body = await ReadBoundedAsync(response, _options.MaxJsonBytes, ct).ConfigureAwait(false);
        try
        {
            var results = JsonSerializer.Deserialize(body, ApiJsonContext.Default.DocumentBatchResponse)?.Results;
            return results is not null && results.Count == operations.Count
                ? results
                : throw new ProviderUnavailableException("the provider's answer to a batch does not match it");
        }
        catch (JsonException e)
        {
            throw new ProviderUnavailableException("the provider's answer to a batch is not valid JSON", e);
        }
    }

    /// <summary><c>GET /v1/documents/{id}</c>; null when it does not exist.</summary>
    public async Task<RemoteDocument?> GetDocumentAsync(string id, CancellationToken ct = default)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, Url("v1/documents/" + Uri.EscapeDataString(id))), true, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
        var kind = response.Headers.TryGetValues(ApiHeaders.Kind, out var kinds) ? kinds.First() : "";
        var revision = response.Headers.TryGetValues(ApiHeaders.Revision, out var revisions) && long.TryParse(revisions.First(), System.Globalization.CultureInfo.InvariantCulture, out var r) ? r : 0;
        var content = await ReadBoundedAsync(response, _options.MaxDocumentBytes, ct).ConfigureAwait(false);
        return new RemoteDocument(id, kind, revision, content);
    }

    /// <summary><c>PUT /v1/documents/{id}</c>: create (<paramref name="expectedRevision"/> null) or replace that revision.</summary>
    public async Task<(WriteStatus Status, DocumentInfo? Info)> PutDocumentAsync(string id, string kind, ReadOnlyMemory<byte> content, long? expectedRevision,
        CancellationToken ct = default)
    {
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, Url("v1/documents/" + Uri.EscapeDataString(id)))
            {
                Content = new ReadOnlyMemoryContent(content),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            request.Headers.Add(ApiHeaders.Kind, kind);
            if (expectedRevision is { } revision)
            {
                request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{revision}\""));
            }
            else
            {
                request.Headers.IfNoneMatch.Add(EntityTagHeaderValue.Any);
            }

            return request;
        }, true, ct).ConfigureAwait(false);
        return await WriteOutcomeAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary><c>DELETE /v1/documents/{id}</c> with <c>If-Match</c>.</summary>
    public async Task<(WriteStatus Status, DocumentInfo? Info)> DeleteDocumentAsync(string id, long revision, CancellationToken ct = default)
    {
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Delete, Url("v1/documents/" + Uri.EscapeDataString(id)));
            request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{revision}\""));
            return request;
        }, true, ct).ConfigureAwait(false);
        return await WriteOutcomeAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>POST /v1/submission</c>: hands a finished message (already end-to-end encrypted, or plain as the policy
    /// allowed) to the provider for delivery, with its envelope. 202 means every recipient was delivered or queued
    /// durably by the provider. The envelope travels in the body (a <c>multipart/mixed</c> of a JSON
    /// <see cref="SubmissionEnvelope"/> and the message), so internationalised addresses (RFC 6531) pass; a provider
    /// that only knows the first form (415) is sent that instead when every address is ASCII.
    /// </summary>
    /// <exception cref="ProviderProblemException">Refused; <see cref="ProviderProblemException.IsTransient"/> says whether to retry.</exception>
    /// <exception cref="ProviderUnavailableException">The provider could not be reached; retry later.</exception>
    /// <exception cref="ArgumentException">The envelope is malformed (no recipient, a control character in an address).</exception>
    public Task<SubmissionResponse> SubmitAsync(string mailFrom, IReadOnlyList<string> recipients, ReadOnlyMemory<byte> message, CancellationToken ct = default) =>
        SubmitCoreAsync(null, mailFrom, recipients, message, ct);

    /// <summary>
    /// <see cref="SubmitAsync"/> under the client's own name for this submission (<c>Idempotency-Key</c>): when a retry
    /// follows an answer that was lost, the provider answers as it did the first time and sends nothing again. The
    /// provider keeps the key 24 hours; the same key must never name another message.
    /// </summary>
    /// <exception cref="ProviderProblemException">Refused; a submission with this key still in progress is transient (409).</exception>
    /// <exception cref="ProviderUnavailableException">The provider could not be reached; retry later with the same key.</exception>
    public Task<SubmissionResponse> SubmitOnceAsync(string idempotencyKey, string mailFrom, IReadOnlyList<string> recipients, ReadOnlyMemory<byte> message,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(idempotencyKey);
        if (idempotencyKey.Length > SubmissionHeaders.MaxIdempotencyKeyLength || idempotencyKey.Any(ch => ch is < '!' or > '~' or '"' or '\\'))
        {
            throw new ArgumentException($"An idempotency key is 1 to {SubmissionHeaders.MaxIdempotencyKeyLength} visible ASCII characters without quotes.", nameof(idempotencyKey));
        }

        return SubmitCoreAsync(idempotencyKey, mailFrom, recipients, message, ct);
    }

    private async Task<SubmissionResponse> SubmitCoreAsync(string? idempotencyKey, string mailFrom, IReadOnlyList<string> recipients, ReadOnlyMemory<byte> message,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(mailFrom);
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Count == 0)
        {
            throw new ArgumentException("A submission needs at least one recipient.", nameof(recipients));
        }

        if (recipients.Append(mailFrom).Any(a => a is null || a.Any(char.IsControl)))
        {
            throw new ArgumentException("An envelope address contains a control character.", nameof(recipients));
        }

        byte[] envelope = JsonSerializer.SerializeToUtf8Bytes(new SubmissionEnvelope(recipients, mailFrom.Length == 0 ? null : mailFrom),
            SubmissionJsonContext.Default.SubmissionEnvelope);
        HttpResponseMessage response = await SendAsync(() =>
        {
            var content = new MultipartContent("mixed");
            var envelopePart = new ByteArrayContent(envelope);
            envelopePart.Headers.ContentType = new MediaTypeHeaderValue(SubmissionMediaTypes.Envelope);
            var messagePart = new ReadOnlyMemoryContent(message);
            messagePart.Headers.ContentType = new MediaTypeHeaderValue(SubmissionMediaTypes.Message);
            content.Add(envelopePart);
            content.Add(messagePart);
            return WithKey(new HttpRequestMessage(HttpMethod.Post, Url("v1/submission")) { Content = content });
        }, true, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.UnsupportedMediaType && recipients.Append(mailFrom).All(a => a.All(char.IsAscii)))
        {
            // A provider from before the envelope moved into the body: its header form carries ASCII addresses.
            response.Dispose();
            response = await SendAsync(() =>
            {
                var request = new HttpRequestMessage(HttpMethod.Post, Url("v1/submission")) { Content = new ReadOnlyMemoryContent(message) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue(SubmissionMediaTypes.Message);
                request.Headers.Add(SubmissionHeaders.MailFrom, mailFrom);
                request.Headers.Add(SubmissionHeaders.RcptTo, string.Join(", ", recipients));
                return WithKey(request);
            }, true, ct).ConfigureAwait(false);
        }

        HttpRequestMessage WithKey(HttpRequestMessage request)
        {
            if (idempotencyKey is not null)
            {
                request.Headers.Add(SubmissionHeaders.IdempotencyKey, "\"" + idempotencyKey + "\"");
            }

            return request;
        }

        using (response)
        {
            await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
            var body = await ReadBoundedAsync(response, _options.MaxJsonBytes, ct).ConfigureAwait(false);
            try
            {
                return JsonSerializer.Deserialize(body, SubmissionJsonContext.Default.SubmissionResponse)
                    ?? throw new ProviderUnavailableException("the provider's answer to a submission is empty");
            }
            catch (JsonException e)
            {
                throw new ProviderUnavailableException("the provider's answer to a submission is not valid JSON", e);
            }
        }
    }

    private async Task<(WriteStatus, DocumentInfo?)> WriteOutcomeAsync(HttpResponseMessage response, CancellationToken ct)
    {
        switch (response.StatusCode)
        {
            case HttpStatusCode.Conflict or HttpStatusCode.PreconditionFailed:
                return (WriteStatus.Conflict, null);
            case HttpStatusCode.NotFound:
                return (WriteStatus.NotFound, null);
        }

        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
        var body = await ReadBoundedAsync(response, _options.MaxJsonBytes, ct).ConfigureAwait(false);
        return (WriteStatus.Ok, body.Length == 0 ? null : JsonSerializer.Deserialize(body, ApiJsonContext.Default.DocumentInfo));
    }

    private Uri Url(string relative) => new(BaseUri, relative);

    private async Task<T> SendJsonAsync<T>(Func<HttpRequestMessage> build, JsonTypeInfo<T> type, bool authenticated, CancellationToken ct, TimeSpan? extra = null,
        long? bound = null)
    {
        using var response = await SendAsync(build, authenticated, ct, extra).ConfigureAwait(false);
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
        var body = await ReadBoundedAsync(response, bound ?? _options.MaxJsonBytes, ct).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize(body, type) ?? throw new ProviderProblemException((int)response.StatusCode, null);
        }
        catch (JsonException e)
        {
            throw new ProviderUnavailableException("the provider's answer is not valid JSON", e);
        }
    }

    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> build, bool authenticated, CancellationToken ct, TimeSpan? extra = null)
    {
        for (int attempt = 0; ; attempt++)
        {
            using var request = build();
            if (authenticated)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(attempt > 0, ct).ConfigureAwait(false));
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.RequestTimeout + (extra ?? TimeSpan.Zero));
            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new ProviderUnavailableException($"cannot reach the provider at {BaseUri}: {e.HttpRequestError}", e);
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                throw new ProviderUnavailableException($"the provider at {BaseUri} did not answer in time", e);
            }

            // An expired or revoked token: log in again once.
            if (authenticated && response.StatusCode == HttpStatusCode.Unauthorized && attempt == 0)
            {
                response.Dispose();
                continue;
            }

            return response;
        }
    }

    private async Task<string> TokenAsync(bool renew, CancellationToken ct)
    {
        var device = credentials ?? throw new InvalidOperationException("This provider client has no device credentials.");
        await _tokenLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!renew && _token is not null && _tokenExpires - _time.GetUtcNow() > TimeSpan.FromMinutes(1))
            {
                return _token;
            }

            var challenge = await SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Post, Url("v1/auth/challenge"))
            {
                Content = JsonContent.Create(new ChallengeRequest(device.DeviceId), ApiJsonContext.Default.ChallengeRequest),
            }, ApiJsonContext.Default.ChallengeResponse, false, ct).ConfigureAwait(false);
            var signature = DeviceAuthentication.Sign(device.PrivateKey,
                DeviceAuthentication.ChallengeMessage(device.Domain, device.DeviceId, challenge.ChallengeId, challenge.Challenge));
            var token = await SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Post, Url("v1/auth/token"))
            {
                Content = JsonContent.Create(new TokenRequest(challenge.ChallengeId, signature), ApiJsonContext.Default.TokenRequest),
            }, ApiJsonContext.Default.TokenResponse, false, ct).ConfigureAwait(false);
            _token = token.Token;
            _tokenExpires = token.ExpiresAt;
            return _token;
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    private async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        Problem? problem = null;
        try
        {
            var body = await ReadBoundedAsync(response, 64 * 1024, ct).ConfigureAwait(false);
            problem = body.Length > 0 ? JsonSerializer.Deserialize(body, ApiJsonContext.Default.Problem) : null;
        }
        catch (Exception e) when (e is JsonException or ProviderUnavailableException)
        {
            // Not a problem document: the status says enough.
        }

        throw new ProviderProblemException((int)response.StatusCode, problem)
        {
            RetryAfter = response.Headers.RetryAfter switch
            {
                { Delta: { } delta } => delta,
                { Date: { } date } => date - _time.GetUtcNow() is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
                _ => null,
            },
        };
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, long max, CancellationToken ct)
    {
        if (response.Content.Headers.ContentLength is long length && length > max)
        {
            throw new ProviderUnavailableException($"the provider's answer is larger than {max} bytes");
        }

        var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await using var scope = stream.ConfigureAwait(false);
        if (response.Content.Headers.ContentLength is long exact)
        {
            // The usual case (documents are sent with their length): read straight into the result, one
            // allocation of the document's size instead of a 64 KiB chunk, a growing buffer and a copy.
            var content = new byte[exact];
            try
            {
                await stream.ReadExactlyAsync(content, ct).ConfigureAwait(false);
            }
            catch (EndOfStreamException e)
            {
                throw new ProviderUnavailableException("the provider's answer ended before its announced length", e);
            }

            return content;
        }

        var buffer = new ArrayBufferWriter<byte>();
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
            {
                if ((long)buffer.WrittenCount + read > max)
                {
                    throw new ProviderUnavailableException($"the provider's answer is larger than {max} bytes");
                }

                buffer.Write(chunk.AsSpan(0, read));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk, clearArray: true);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
