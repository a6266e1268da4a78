using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Letterlock.Client.Net;

/// <summary>The outcome of one bounded HTTP GET (status values: expected outcomes are not exceptions).</summary>
public enum FetchStatus
{
    /// <summary>2xx with a body within the size limit.</summary>
    Ok,

    /// <summary>404 or 410: the resource does not exist.</summary>
    NotFound,

    /// <summary>Any other HTTP status.</summary>
    HttpError,

    /// <summary>The body (or its announced length) exceeded the limit; nothing of it is used.</summary>
    TooLarge,

    /// <summary>No answer within the time limit.</summary>
    Timeout,

    /// <summary>The name did not resolve, the connection failed, or TLS failed (including an untrusted certificate).</summary>
    NetworkError,
}

/// <summary>The result of <see cref="HttpFetch.GetAsync"/>.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Uri">The URL asked for.</param>
/// <param name="Body">The body when <see cref="FetchStatus.Ok"/>.</param>
/// <param name="HttpStatus">The HTTP status code when there was a response.</param>
/// <param name="Detail">A short description for diagnostics (never message content).</param>
public sealed record FetchResult(FetchStatus Status, Uri Uri, byte[]? Body, int? HttpStatus, string? Detail);

/// <summary>
/// HTTP for key discovery: a handler that honours a <see cref="StaticHostMap"/> and extra trusted
/// roots, and a GET that enforces a size and time limit and never decompresses (a small gzip body
/// must not inflate past the limit).
/// </summary>
public static class HttpFetch
{
    /// <summary>
    /// Creates the handler discovery uses. <paramref name="trustedRoots"/> replace the system roots
    /// when given (the sandbox's own CA), or are added to them when <paramref name="keepSystemRoots"/> (a provider's
    /// private CA next to the public web); host names are still checked.
    /// </summary>
    public static SocketsHttpHandler CreateHandler(StaticHostMap? hostMap = null, X509Certificate2Collection? trustedRoots = null,
        TimeSpan? connectTimeout = null, int maxRedirects = 3, bool keepSystemRoots = false)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = maxRedirects > 0,
            MaxAutomaticRedirections = Math.Max(1, maxRedirects),
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(10),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            UseCookies = false,
        };

        if (hostMap is not null)
        {
            handler.UseProxy = false;
            handler.ConnectCallback = async (context, ct) =>
            {
                var host = context.DnsEndPoint.Host;
                EndPoint target = hostMap.Resolve(host, context.DnsEndPoint.Port) is { } mapped
                    ? mapped
                    : hostMap.AllowSystemDns
                        ? context.DnsEndPoint
                        : throw new HttpRequestException($"{host} is not in the static host map", null, null);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(target, ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }

        if (trustedRoots is { Count: > 0 })
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                (keepSystemRoots && errors == SslPolicyErrors.None) || ValidateAgainst(trustedRoots, certificate as X509Certificate2, errors);
        }

        return handler;
    }

    /// <summary>
    /// GETs <paramref name="uri"/> reading at most <paramref name="maxBytes"/> of body within
    /// <paramref name="timeout"/>. A body of exactly <paramref name="maxBytes"/> is accepted.
    /// </summary>
    public static async Task<FetchResult> GetAsync(HttpClient client, Uri uri, long maxBytes, TimeSpan timeout,
        string? accept, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutSource.CancelAfter(timeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            if (accept is not null)
            {
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
            }

            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeoutSource.Token).ConfigureAwait(false);
            int code = (int)response.StatusCode;
            if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone)
            {
                return new FetchResult(FetchStatus.NotFound, uri, null, code, null);
            }

            if (!response.IsSuccessStatusCode)
            {
                return new FetchResult(FetchStatus.HttpError, uri, null, code, $"HTTP {code}");
            }

            if (response.Content.Headers.ContentLength is long announced && announced > maxBytes)
            {
                return new FetchResult(FetchStatus.TooLarge, uri, null, code, $"announced {announced} bytes, limit {maxBytes}");
            }

            var stream = await response.Content.ReadAsStreamAsync(timeoutSource.Token).ConfigureAwait(false);
            await using var streamScope = stream.ConfigureAwait(false);
            var buffer = new ArrayBufferWriter<byte>();
            var chunk = new byte[16 * 1024];
            while (true)
            {
                int read = await stream.ReadAsync(chunk, timeoutSource.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                if ((long)buffer.WrittenCount + read > maxBytes)
                {
                    return new FetchResult(FetchStatus.TooLarge, uri, null, code, $"more than {maxBytes} bytes");
                }

                buffer.Write(chunk.AsSpan(0, read));
            }

            return new FetchResult(FetchStatus.Ok, uri, buffer.WrittenSpan.ToArray(), code, null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new FetchResult(FetchStatus.Timeout, uri, null, null, $"no answer within {timeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException e)
        {
            return new FetchResult(FetchStatus.NetworkError, uri, null, null, Describe(e));
        }
        catch (AuthenticationException e)
        {
            return new FetchResult(FetchStatus.NetworkError, uri, null, null, "TLS: " + e.Message);
        }
        catch (IOException e)
        {
            return new FetchResult(FetchStatus.NetworkError, uri, null, null, e.Message);
        }
    }

    private static string Describe(HttpRequestException e) => e.HttpRequestError switch
    {
        HttpRequestError.NameResolutionError => "name did not resolve",
        HttpRequestError.ConnectionError => "connection failed",
        HttpRequestError.SecureConnectionError => "TLS failed",
        _ => e.Message,
    };

    /// <summary>
    /// Whether a server certificate chains to one of <paramref name="roots"/> only (a private CA) and names the host:
    /// the check every TLS client of the library makes when a trust anchor is given (HTTPS here, IMAP import).
    /// </summary>
    internal static bool ValidateAgainst(X509Certificate2Collection roots, X509Certificate2? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }
}
