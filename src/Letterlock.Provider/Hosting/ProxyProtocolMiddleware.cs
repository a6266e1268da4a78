using System.Buffers;
using System.Net;
using Letterlock.Smtp.Protocol;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Hosting;

/// <summary>
/// The PROXY protocol on the HTTPS listener, as Kestrel connection middleware ahead of TLS: a connection from a
/// trusted proxy must start with a PROXY header (v1 or v2), which is taken off the stream and whose client becomes the
/// connection's remote address (what <c>HttpContext.Connection.RemoteIpAddress</c> and so the per-client limits see).
/// A connection from a trusted proxy without a valid header is closed; from any other peer nothing is read.
/// </summary>
internal sealed class ProxyProtocolMiddleware(IReadOnlyList<IPNetwork> trusted, int maxHeaderBytes, TimeSpan headerTimeout, ILogger logger)
{
    public async Task InvokeAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        if (connection.RemoteEndPoint is not IPEndPoint peer || !trusted.Any(p => p.Contains(peer.Address)))
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        ProxyParseResult result;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            timeout.CancelAfter(headerTimeout);
            try
            {
                result = await ReadHeaderAsync(connection, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                result = new ProxyParseResult(ProxyParseStatus.Invalid, null, 0, 0, "no PROXY header in time");
            }
        }

        if (result.Status != ProxyParseStatus.Done)
        {
            Log.ProxyHeaderRefused(logger, peer.ToString(), result.Error ?? "invalid header");
            connection.Abort(new ConnectionAbortedException("no valid PROXY header"));
            return;
        }

        if (result.Header!.Source is { } client)
        {
            connection.RemoteEndPoint = client;
            if (connection.Features.Get<IHttpConnectionFeature>() is { } feature)
            {
                feature.RemoteIpAddress = client.Address;
                feature.RemotePort = client.Port;
            }
        }

        await next(connection).ConfigureAwait(false);
    }

    private async Task<ProxyParseResult> ReadHeaderAsync(ConnectionContext connection, CancellationToken ct)
    {
        var input = connection.Transport.Input;
        var window = new byte[maxHeaderBytes];
        while (true)
        {
            var read = await input.ReadAsync(ct).ConfigureAwait(false);
            var buffer = read.Buffer;
            int have = (int)Math.Min(buffer.Length, maxHeaderBytes);
            buffer.Slice(0, have).CopyTo(window);
            var result = ProxyHeader.TryParse(window.AsSpan(0, have), maxHeaderBytes);
            if (result.Status == ProxyParseStatus.Done)
            {
                input.AdvanceTo(buffer.GetPosition(result.Consumed));
                return result;
            }

            if (result.Status == ProxyParseStatus.Invalid || read.IsCompleted)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                return result.Status == ProxyParseStatus.Invalid ? result
                    : new ProxyParseResult(ProxyParseStatus.Invalid, null, 0, 0, have == 0 ? "closed before a PROXY header" : "PROXY header truncated");
            }

            input.AdvanceTo(buffer.Start, buffer.End); // examined all, consumed nothing: wait for more
        }
    }
}
