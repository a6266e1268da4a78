using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Imap.Backend;
using Letterlock.Imap.Session;

namespace Letterlock.Imap.Server;

/// <summary>A TCP connection (optionally TLS) presented to the engine as pipes.</summary>
internal sealed class SocketTransport : IImapTransport, IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _network;
    private readonly X509Certificate2? _certificate;
    private readonly TimeSpan _handshakeTimeout;
    private SslStream? _tls;

    private SocketTransport(Socket socket, X509Certificate2? certificate, TimeSpan handshakeTimeout)
    {
        _socket = socket;
        _network = new NetworkStream(socket, ownsSocket: false);
        _certificate = certificate;
        _handshakeTimeout = handshakeTimeout;
        var remote = socket.RemoteEndPoint as IPEndPoint;
        RemoteAddress = remote?.Address;
        Connection = new ImapConnectionInfo(remote?.Address.ToString(), false, remote is not null && IPAddress.IsLoopback(remote.Address));
        (Input, Output) = Pipes(_network);
    }

    public static async Task<SocketTransport> CreateAsync(Socket socket, X509Certificate2? certificate, bool implicitTls, TimeSpan handshakeTimeout, CancellationToken ct)
    {
        var transport = new SocketTransport(socket, certificate, handshakeTimeout);
        if (implicitTls)
        {
            await transport.HandshakeAsync(ct).ConfigureAwait(false);
        }

        return transport;
    }

    public IPAddress? RemoteAddress { get; }

    public PipeReader Input { get; private set; }

    public PipeWriter Output { get; private set; }

    public ImapConnectionInfo Connection { get; private set; }

    public bool CanStartTls => _certificate is not null && _tls is null;

    // Zero-byte reads: an idle connection holds no read buffer (part of the < 64 KiB per idle session goal).
    private static (PipeReader, PipeWriter) Pipes(Stream stream) =>
        (PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true, useZeroByteReads: true)),
         PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 4096, leaveOpen: true)));

    public async ValueTask StartTlsAsync(CancellationToken ct)
    {
        // Whatever the client pipelined after STARTTLS was sent in plaintext: drop it with the old reader.
        await Input.CompleteAsync().ConfigureAwait(false);
        await Output.CompleteAsync().ConfigureAwait(false);
        await HandshakeAsync(ct).ConfigureAwait(false);
    }

    private async Task HandshakeAsync(CancellationToken ct)
    {
        var tls = new SslStream(_network, leaveInnerStreamOpen: true);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_handshakeTimeout);
        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = _certificate,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateRequired = false,
        }, timeout.Token).ConfigureAwait(false);
        _tls = tls;
        Connection = Connection with { IsSecure = true };
        (Input, Output) = Pipes(tls);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Input.CompleteAsync().ConfigureAwait(false);
            await Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // closing anyway
        }

        if (_tls is not null)
        {
            await _tls.DisposeAsync().ConfigureAwait(false);
        }

        await _network.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }
}
