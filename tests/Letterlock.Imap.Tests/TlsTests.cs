using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Letterlock.Imap.Tests;

public sealed class TlsTests
{
    private static X509Certificate2 Certificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }

    [Fact]
    public async Task MailKit_logs_in_over_STARTTLS_and_over_implicit_TLS()
    {
        using var certificate = Certificate();
        await using (var server = new SocketServer(certificate: certificate))
        {
            using var client = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.StartTls);
            Assert.True(client.IsSecure);
            await client.AuthenticateAsync(SocketServer.User, SocketServer.Password);
            Assert.DoesNotContain(server.Log, e => e.Level == Letterlock.Imap.Session.ImapLogLevel.Error);
            await client.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
            await client.DisconnectAsync(true);
        }

        await using (var server = new SocketServer(certificate: certificate, implicitTls: true))
        {
            using var client = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.SslOnConnect);
            Assert.True(client.IsSecure);
            Assert.False(client.Capabilities.HasFlag(ImapCapabilities.StartTLS));
            await client.AuthenticateAsync(SocketServer.User, SocketServer.Password);
            await client.DisconnectAsync(true);
        }
    }

    [Fact]
    public async Task Commands_pipelined_after_STARTTLS_are_discarded()
    {
        using var certificate = Certificate();
        await using var server = new SocketServer(certificate: certificate);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
        var stream = tcp.GetStream();
        var plain = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
        Assert.Contains("STARTTLS", await plain.ReadLineAsync(), StringComparison.Ordinal);
        // An attacker on the path appends a command after STARTTLS in the same packet (CVE-2011-0411 style).
        await stream.WriteAsync("a STARTTLS\r\nb LOGIN alice s3cret-pass\r\n"u8.ToArray());
        Assert.Equal("a OK Begin TLS negotiation now", await plain.ReadLineAsync());
        using var tls = new SslStream(stream, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync("localhost");
        var reader = new StreamReader(tls, Encoding.ASCII);
        await tls.WriteAsync("c CAPABILITY\r\n"u8.ToArray());
        var capability = await reader.ReadLineAsync();
        Assert.StartsWith("* CAPABILITY", capability, StringComparison.Ordinal);
        Assert.Contains("AUTH=PLAIN", capability, StringComparison.Ordinal); // still not logged in: "b" never ran
        Assert.DoesNotContain("STARTTLS", capability, StringComparison.Ordinal);
        Assert.Equal("c OK CAPABILITY completed", await reader.ReadLineAsync());
    }

    [Fact]
    public async Task A_stalled_TLS_handshake_is_dropped_after_the_timeout()
    {
        using var certificate = Certificate();
        await using var server = new SocketServer(new ImapServerOptions { TlsHandshakeTimeout = TimeSpan.FromMilliseconds(300) }, certificate, implicitTls: true);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
        var buffer = new byte[16];
        int read = await tcp.GetStream().ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(0, read);
    }
}
