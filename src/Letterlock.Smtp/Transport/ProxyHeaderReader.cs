using System.Net.Sockets;
using Letterlock.Smtp.Protocol;

namespace Letterlock.Smtp.Transport;

/// <summary>
/// Reads a PROXY header off a socket, exactly as many bytes as <see cref="ProxyHeader.TryParse"/> asks for, so the
/// first byte of the proxied protocol (an SMTP command, a TLS ClientHello) stays unread.
/// </summary>
public static class ProxyHeaderReader
{
    /// <summary>Reads until the header is complete or invalid; a peer that closes first gets an invalid result.</summary>
    public static async Task<ProxyParseResult> ReadAsync(Socket socket, int maxLength, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var buffer = new byte[maxLength];
        int have = 0;
        while (true)
        {
            var result = ProxyHeader.TryParse(buffer.AsSpan(0, have), maxLength);
            if (result.Status != ProxyParseStatus.Incomplete)
            {
                return result;
            }

            int read = await socket.ReceiveAsync(buffer.AsMemory(have, result.Needed - have), SocketFlags.None, ct).ConfigureAwait(false);
            if (read == 0)
            {
                return new ProxyParseResult(ProxyParseStatus.Invalid, null, 0, 0, have == 0 ? "closed before a PROXY header" : "PROXY header truncated");
            }

            have += read;
        }
    }
}
