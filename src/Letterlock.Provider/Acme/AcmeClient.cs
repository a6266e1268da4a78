using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Acme;

/// <summary>The limits of one ACME client on what a server sends and how long it may take.</summary>
public sealed class AcmeClientOptions
{
    /// <summary>Largest answer read from the server (a directory, an order, a certificate chain), in bytes.</summary>
    public int MaxResponseBytes { get; init; } = 1024 * 1024;

    /// <summary>Time limit of one HTTP exchange.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often one request is sent again with a fresh nonce after <c>badNonce</c> (RFC 8555, 6.5).</summary>
    public int MaxBadNonceRetries { get; init; } = 5;

    /// <summary>The first wait between polls of a pending authorization or order when the server names none; it doubles up to <see cref="MaxPollInterval"/>.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest wait between two polls, whatever Retry-After the server sends.</summary>
    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one order may take from its creation to the downloaded certificate.</summary>
    public TimeSpan MaxOrderDuration { get; init; } = TimeSpan.FromMinutes(5);

    /// <exception cref="ArgumentException">A limit is not positive.</exception>
    public void Validate()
    {
        if (MaxResponseBytes <= 0 || RequestTimeout <= TimeSpan.Zero || MaxBadNonceRetries < 0 || PollInterval <= TimeSpan.Zero || MaxPollInterval < PollInterval || MaxOrderDuration <= TimeSpan.Zero)
        {
            throw new ArgumentException("ACME client limits must be positive (and maxPollInterval at least pollInterval)");
        }
    }
}

/// <summary>Puts a challenge's response where the server will look for it, and takes it away again.</summary>
internal interface IAcmeChallengeResponder
{
    /// <summary>Serves the response to one challenge of <paramref name="type"/> (<c>http-01</c>, <c>tls-alpn-01</c>) for <paramref name="domain"/>.</summary>
    void Add(string type, string domain, string token, string keyAuthorization);

    void Remove(string type, string domain, string token);
}

/// <summary>
/// A small ACME client (RFC 8555): one account key (ES256), newAccount, newOrder, authorizations with HTTP-01 or
/// TLS-ALPN-01 challenges, finalize with a CSR, certificate download. Nonces are kept from every answer and a
/// <c>badNonce</c> is retried with the nonce it carries; polling follows Retry-After within
/// <see cref="AcmeClientOptions.MaxOrderDuration"/>. Every failure is an <see cref="AcmeException"/> naming what
/// was being done, the domain and the server's problem.
/// </summary>
internal sealed class AcmeClient : IDisposable
{
    private readonly Uri _directoryUrl;
    private readonly ECDsa _accountKey;
    private readonly HttpClient _http;
    private readonly AcmeClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private AcmeDirectory? _directory;
    private Uri? _account;
    private string? _nonce;

    public AcmeClient(Uri directoryUrl, ECDsa accountKey, HttpMessageHandler handler, AcmeClientOptions options, TimeProvider time, ILogger logger)
    {
        options.Validate();
        _directoryUrl = directoryUrl;
        _accountKey = accountKey;
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = options.RequestTimeout };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("letterlock-acme", "1"));
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>How many requests were sent again after a <c>badNonce</c> answer (for tests and logs).</summary>
    public int BadNonceRetries { get; private set; }

    /// <summary>The key authorization of a token (RFC 8555, 8.1): token "." base64url(JWK thumbprint).</summary>
    public string KeyAuthorization(string token) => token + "." + AcmeJws.Thumbprint(_accountKey);

    /// <summary>
    /// Orders a certificate for <paramref name="names"/>, proves control of each with <paramref name="challengeType"/>
    /// through <paramref name="responder"/>, finalizes with <paramref name="csrDer"/> and returns the issued chain (PEM).
    /// One order at a time.
    /// </summary>
    public async Task<string> ObtainAsync(IReadOnlyList<string> names, string challengeType, IAcmeChallengeResponder responder, byte[] csrDer, IReadOnlyList<string> contact, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var deadline = _time.GetUtcNow() + _options.MaxOrderDuration;
            _directory ??= await GetDirectoryAsync(ct).ConfigureAwait(false);
            _account ??= await RegisterAsync(contact, ct).ConfigureAwait(false);

            var order = await PostAsync(_directory.NewOrder, NewOrderPayload(names), "creating the order", null, ct).ConfigureAwait(false);
            var orderUrl = order.Location ?? throw new AcmeException("the ACME server created an order without a Location");
            using var orderDocument = order.Json("the new order");
            var orderRoot = orderDocument.RootElement;
            var authorizations = Urls(orderRoot, "authorizations", "the new order");
            var finalize = Url(orderRoot, "finalize", "the new order");

            var pending = new List<(Uri Url, string Domain, string Token)>();
            try
            {
                foreach (var authorizationUrl in authorizations)
                {
                    var challenge = await StartChallengeAsync(authorizationUrl, challengeType, responder, ct).ConfigureAwait(false);
                    if (challenge is { } c)
                    {
                        pending.Add((authorizationUrl, c.Domain, c.Token));
                    }
                }

                foreach (var (url, domain, _) in pending)
                {
                    using var done = await PollAsync(url, "validating the challenge", domain, deadline, ct).ConfigureAwait(false);
                    if (Text(done.RootElement, "status") != "valid")
                    {
                        throw new AcmeException($"the ACME server could not validate the {challengeType} challenge", domain, ChallengeProblem(done.RootElement, challengeType));
                    }
                }
            }
            finally
            {
                foreach (var (_, domain, token) in pending)
                {
                    responder.Remove(challengeType, domain, token);
                }
            }

            using (var ready = await PollAsync(orderUrl, "waiting for the order to become ready", null, deadline, ct).ConfigureAwait(false))
            {
                if (Text(ready.RootElement, "status") is not ("ready" or "valid"))
                {
                    throw new AcmeException($"the order is {Text(ready.RootElement, "status")} instead of ready", null, OrderProblem(ready.RootElement));
                }
            }

            var finalized = await PostAsync(finalize, $"{{\"csr\":\"{AcmeJws.Base64Url(csrDer)}\"}}", "finalizing the order", null, ct).ConfigureAwait(false);
            using (finalized.Json("the finalized order"))
            {
            }

            using var issued = await PollAsync(orderUrl, "waiting for the certificate", null, deadline, ct).ConfigureAwait(false);
            if (Text(issued.RootElement, "status") != "valid")
            {
                throw new AcmeException($"the order is {Text(issued.RootElement, "status")} instead of valid after finalizing", null, OrderProblem(issued.RootElement));
            }

            var certificateUrl = Url(issued.RootElement, "certificate", "the valid order");
            var chain = await PostAsync(certificateUrl, null, "downloading the certificate", null, ct, accept: "application/pem-certificate-chain").ConfigureAwait(false);
            return Encoding.UTF8.GetString(chain.Body);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<(string Domain, string Token)?> StartChallengeAsync(Uri authorizationUrl, string challengeType, IAcmeChallengeResponder responder, CancellationToken ct)
    {
        var answer = await PostAsync(authorizationUrl, null, "reading an authorization", null, ct).ConfigureAwait(false);
        using var document = answer.Json("an authorization");
        var root = document.RootElement;
        string domain = root.TryGetProperty("identifier", out var identifier) ? Text(identifier, "value") : "";
        string status = Text(root, "status");
        if (status == "valid")
        {
            return null; // an authorization the server re-uses (RFC 8555, 7.1.3)
        }

        if (status != "pending")
        {
            throw new AcmeException($"the authorization is {status}", domain, ChallengeProblem(root, challengeType));
        }

        JsonElement? chosen = null;
        if (root.TryGetProperty("challenges", out var challenges) && challenges.ValueKind == JsonValueKind.Array)
        {
            chosen = challenges.EnumerateArray().Where(c => Text(c, "type") == challengeType).Select(c => (JsonElement?)c).FirstOrDefault();
        }

        if (chosen is not { } challenge)
        {
            throw new AcmeException($"the ACME server offers no {challengeType} challenge (choose another in acme.challenge)", domain);
        }

        string token = Text(challenge, "token");
        if (token.Length is 0 or > 256 || !token.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            // RFC 8555, 8.3: base64url characters only; it becomes part of a URL path and a file-like key
            throw new AcmeException("the ACME server sent a challenge token that is not base64url", domain);
        }

        responder.Add(challengeType, domain, token, KeyAuthorization(token));
        try
        {
            // RFC 8555, 7.5.1: the client tells the server it may validate by posting an empty object
            var posted = await PostAsync(Url(challenge, "url", "a challenge"), "{}", "starting the challenge", domain, ct).ConfigureAwait(false);
            using (posted.Json("a challenge"))
            {
            }
        }
        catch
        {
            responder.Remove(challengeType, domain, token);
            throw;
        }

        Log.AcmeChallengeStarted(_logger, challengeType, domain);
        return (domain, token);
    }

    /// <summary>Polls an authorization or order while it is pending or processing; Retry-After is followed within the order's deadline.</summary>
    private async Task<JsonDocument> PollAsync(Uri url, string what, string? domain, DateTimeOffset deadline, CancellationToken ct)
    {
        var interval = _options.PollInterval;
        while (true)
        {
            var answer = await PostAsync(url, null, what, domain, ct).ConfigureAwait(false);
            var document = answer.Json(what);
            string status = Text(document.RootElement, "status");
            if (status is not ("pending" or "processing"))
            {
                return document;
            }

            document.Dispose();
            var wait = answer.RetryAfter is { } retry ? TimeSpan.FromTicks(Math.Clamp(retry.Ticks, _options.PollInterval.Ticks, _options.MaxPollInterval.Ticks)) : interval;
            if (_time.GetUtcNow() + wait > deadline)
            {
                throw new AcmeException($"gave up {what} after {_options.MaxOrderDuration.TotalSeconds:0} seconds (status still {status})", domain);
            }

            await Task.Delay(wait, _time, ct).ConfigureAwait(false);
            interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, _options.MaxPollInterval.Ticks));
        }
    }

    private async Task<AcmeDirectory> GetDirectoryAsync(CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, _directoryUrl);
        var answer = await SendAsync(request, "reading the directory", ct).ConfigureAwait(false);
        if (!answer.IsSuccess)
        {
            throw new AcmeException($"the ACME directory {_directoryUrl} answered HTTP {answer.Status}", null, answer.Problem());
        }

        using var document = answer.Json("the directory");
        var root = document.RootElement;
        return new AcmeDirectory(Url(root, "newNonce", "the directory"), Url(root, "newAccount", "the directory"), Url(root, "newOrder", "the directory"));
    }

    private async Task<Uri> RegisterAsync(IReadOnlyList<string> contact, CancellationToken ct)
    {
        // RFC 8555, 7.3: the same key posted again returns the existing account (200 with its Location), so the
        // account URL needs no storing of its own: the key is the account
        using var payload = new MemoryStream();
        using (var writer = new Utf8JsonWriter(payload))
        {
            writer.WriteStartObject();
            writer.WriteBoolean("termsOfServiceAgreed", true);
            writer.WriteStartArray("contact");
            foreach (string c in contact)
            {
                writer.WriteStringValue(c);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        var answer = await PostAsync(_directory!.NewAccount, Encoding.UTF8.GetString(payload.ToArray()), "registering the account", null, ct).ConfigureAwait(false);
        using (answer.Json("the account"))
        {
        }

        return answer.Location ?? throw new AcmeException("the ACME server registered the account without a Location");
    }

    /// <summary>A signed POST (a POST-as-GET when <paramref name="payloadJson"/> is null), sent again with a fresh nonce after badNonce.</summary>
    private async Task<AcmeAnswer> PostAsync(Uri url, string? payloadJson, string what, string? domain, CancellationToken ct, string accept = "application/json")
    {
        for (int attempt = 0; ; attempt++)
        {
            string nonce = _nonce ?? await NewNonceAsync(ct).ConfigureAwait(false);
            _nonce = null;
            using var request = new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = new ByteArrayContent(AcmeJws.Sign(_accountKey, url, nonce, _account, payloadJson)),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/jose+json");
            request.Headers.Accept.ParseAdd(accept);
            var answer = await SendAsync(request, what, ct).ConfigureAwait(false);
            if (answer.IsSuccess)
            {
                return answer;
            }

            var problem = answer.Problem();
            if (problem.Type == AcmeProblem.BadNonce && attempt < _options.MaxBadNonceRetries)
            {
                BadNonceRetries++;
                continue; // the error carried a fresh nonce, kept by SendAsync
            }

            throw new AcmeException($"the ACME server refused {what}", domain ?? problem.Identifier, problem, answer.RetryAfter);
        }
    }

    private async Task<string> NewNonceAsync(CancellationToken ct)
    {
        _directory ??= await GetDirectoryAsync(ct).ConfigureAwait(false);
        using var request = new HttpRequestMessage(HttpMethod.Head, _directory.NewNonce);
        await SendAsync(request, "getting a nonce", ct).ConfigureAwait(false);
        return _nonce ?? throw new AcmeException("the ACME server's newNonce answer carries no Replay-Nonce");
    }

    private async Task<AcmeAnswer> SendAsync(HttpRequestMessage request, string what, CancellationToken ct)
    {
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (response.Headers.TryGetValues("Replay-Nonce", out var nonces) && nonces.FirstOrDefault() is { Length: > 0 and <= 512 } nonce)
            {
                _nonce = nonce;
            }

            byte[] body = await ReadBoundedAsync(response.Content, what, ct).ConfigureAwait(false);
            TimeSpan? retryAfter = response.Headers.RetryAfter switch
            {
                { Delta: { } delta } => delta,
                { Date: { } date } => date - _time.GetUtcNow(),
                _ => null,
            };
            var location = response.Headers.Location is { } l ? new Uri(request.RequestUri!, l) : null;
            return new AcmeAnswer((int)response.StatusCode, body, response.Content.Headers.ContentType?.MediaType, location, retryAfter is { } r && r > TimeSpan.Zero ? r : null);
        }
        catch (HttpRequestException e)
        {
            throw new AcmeException($"cannot reach the ACME server at {request.RequestUri} while {what} ({e.Message})", null, null, null, e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new AcmeException($"the ACME server at {request.RequestUri} did not answer within {_options.RequestTimeout.TotalSeconds:0} seconds while {what}", null, null, null, e);
        }
    }

    private async Task<byte[]> ReadBoundedAsync(HttpContent content, string what, CancellationToken ct)
    {
        if (content.Headers.ContentLength > _options.MaxResponseBytes)
        {
            throw new AcmeException($"the ACME server's answer while {what} is {content.Headers.ContentLength} bytes, over the limit of {_options.MaxResponseBytes} (acme.maxResponseBytes)");
        }

        await using var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16384];
        int read;
        while ((read = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > _options.MaxResponseBytes)
            {
                throw new AcmeException($"the ACME server's answer while {what} is over the limit of {_options.MaxResponseBytes} bytes (acme.maxResponseBytes)");
            }

            await buffer.WriteAsync(chunk.AsMemory(0, read), ct).ConfigureAwait(false);
        }

        return buffer.ToArray();
    }

    private static string NewOrderPayload(IReadOnlyList<string> names)
    {
        using var payload = new MemoryStream();
        using (var writer = new Utf8JsonWriter(payload))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("identifiers");
            foreach (string name in names)
            {
                writer.WriteStartObject();
                writer.WriteString("type", "dns");
                writer.WriteString("value", name);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(payload.ToArray());
    }

    private static AcmeProblem? ChallengeProblem(JsonElement authorization, string challengeType)
    {
        if (authorization.TryGetProperty("challenges", out var challenges) && challenges.ValueKind == JsonValueKind.Array)
        {
            foreach (var challenge in challenges.EnumerateArray())
            {
                if (challenge.TryGetProperty("error", out var error) && (Text(challenge, "type") == challengeType || challenges.GetArrayLength() == 1))
                {
                    return AcmeProblem.FromJson(error, 0);
                }
            }
        }

        return null;
    }

    private static AcmeProblem? OrderProblem(JsonElement order) => order.TryGetProperty("error", out var error) ? AcmeProblem.FromJson(error, 0) : null;

    private static string Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";

    private static Uri Url(JsonElement element, string name, string where) =>
        Uri.TryCreate(Text(element, name), UriKind.Absolute, out var url) && url.Scheme == Uri.UriSchemeHttps
            ? url
            : throw new AcmeException($"{where} from the ACME server has no https URL in '{name}'");

    private static List<Uri> Urls(JsonElement element, string name, string where)
    {
        if (!element.TryGetProperty(name, out var array) || array.ValueKind != JsonValueKind.Array || array.GetArrayLength() is 0 or > 100)
        {
            throw new AcmeException($"{where} from the ACME server has no list of {name}");
        }

        return array.EnumerateArray().Select(u => Uri.TryCreate(u.GetString(), UriKind.Absolute, out var url) && url.Scheme == Uri.UriSchemeHttps
            ? url
            : throw new AcmeException($"{where} from the ACME server lists an entry of {name} that is not an https URL")).ToList();
    }

    public void Dispose()
    {
        _http.Dispose();
        _gate.Dispose();
    }

    private sealed record AcmeDirectory(Uri NewNonce, Uri NewAccount, Uri NewOrder);

    private sealed record AcmeAnswer(int Status, byte[] Body, string? ContentType, Uri? Location, TimeSpan? RetryAfter)
    {
        public bool IsSuccess => Status is >= 200 and < 300;

        public AcmeProblem Problem() => AcmeProblem.Parse(Body, ContentType, Status);

        public JsonDocument Json(string what)
        {
            try
            {
                return JsonDocument.Parse(Body);
            }
            catch (JsonException)
            {
                throw new AcmeException($"{what} from the ACME server is not JSON");
            }
        }
    }
}
