using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using SmtpServer.IO;

namespace Letterlock.Smtp.Transport;

/// <summary>
/// SmtpServer's duplex pipe, rebuilt so the command-line guard sits above TLS (SmtpServer's own
/// <see cref="SecurableDuplexPipe"/> would put TLS above any stream we hand it).
/// On STARTTLS the old reader is dropped with anything it had buffered, so plaintext pipelined after
/// STARTTLS is never taken as sent under TLS (the CVE-2011-0411 class of injection).
/// </summary>
internal sealed class GuardedDuplexPipe : ISecurableDuplexPipe
{
    private readonly Socket _socket;
    private readonly NetworkStream _network;
    private readonly int _maxCommandLineLength;
    private readonly Action _onDispose;
    private Stream _stream;
    private int _disposed;

    public GuardedDuplexPipe(Socket socket, int maxCommandLineLength, Action onDispose)
    {
        _socket = socket;
        _network = new NetworkStream(socket, ownsSocket: true);
        _maxCommandLineLength = maxCommandLineLength;
        _onDispose = onDispose;
        _stream = new CommandLineGuardStream(_network, maxCommandLineLength);
        Input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        Output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
    }

    public PipeReader Input { get; private set; }

    public PipeWriter Output { get; private set; }

    public bool IsSecure { get; private set; }

    public SslProtocols SslProtocol { get; private set; }

    public async Task UpgradeAsync(X509Certificate certificate, SslProtocols protocols, CancellationToken cancellationToken = default)
    {
        var ssl = new SslStream(_network, leaveInnerStreamOpen: true);
        await ssl.AuthenticateAsServerAsync(
            new SslServerAuthenticationOptions
            {
                ServerCertificate = certificate,
                EnabledSslProtocols = protocols,
                ClientCertificateRequired = false,
            },
            cancellationToken).ConfigureAwait(false);

        _stream = new CommandLineGuardStream(ssl, _maxCommandLineLength);
        Input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        Output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
        IsSecure = true;
        SslProtocol = ssl.SslProtocol;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            _stream.Dispose();
            _network.Dispose();
            _socket.Dispose();
        }
        finally
        {
            _onDispose();
        }
    }
}
