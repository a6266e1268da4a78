using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Letterlock.Api;
using Letterlock.Smtp;
using Letterlock.Smtp.Protocol;

namespace Letterlock.Provider.Tests;

/// <summary>
/// The PROXY protocol (HAProxy's specification, v1 and v2): the parser on the specification's examples and at its
/// edges, and the provider's SMTP and HTTPS listeners believing it from trusted proxies only.
/// </summary>
public sealed class ProxyProtocolTests
{
    private const int Max = 536;

    [Theory]
    [InlineData("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", "192.168.0.1", 56324, "192.168.0.11", 443)]
    [InlineData("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", "255.255.255.255", 65535, "255.255.255.255", 65535)]
    [InlineData("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)]
    [InlineData("PROXY TCP6 2001:db8::1 2001:db8::2 0 25\r\n", "2001:db8::1", 0, "2001:db8::2", 25)]
    public void The_specifications_v1_examples_parse(string header, string source, int sourcePort, string destination, int destinationPort)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(header + "EHLO client.test\r\n");
        var result = ProxyHeader.TryParse(bytes, Max);
        Assert.Equal(ProxyParseStatus.Done, result.Status);
        Assert.Equal(header.Length, result.Consumed); // what follows is the proxied protocol's
        Assert.Equal(new IPEndPoint(IPAddress.Parse(source), sourcePort), result.Header!.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(destination), destinationPort), result.Header.Destination);
    }

    [Fact]
    public void A_v1_header_of_107_bytes_is_taken_and_one_of_108_is_refused()
    {
        // "PROXY UNKNOWN" may carry anything up to the 107-byte maximum (the specification's worst case)
        string at = "PROXY UNKNOWN " + new string('x', 107 - "PROXY UNKNOWN \r\n".Length) + "\r\n";
        Assert.Equal(107, at.Length);
        var taken = ProxyHeader.TryParse(Encoding.ASCII.GetBytes(at), Max);
        Assert.Equal(ProxyParseStatus.Done, taken.Status);
        Assert.Null(taken.Header!.Source);
        string over = "PROXY UNKNOWN " + new string('x', 108 - "PROXY UNKNOWN \r\n".Length) + "\r\n";
        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeader.TryParse(Encoding.ASCII.GetBytes(over), Max).Status);
        // and without a line end: refused once 107 bytes are in, never waited on for ever
        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeader.TryParse(Encoding.ASCII.GetBytes("PROXY UNKNOWN " + new string('x', 100)), Max).Status);
    }

    [Theory]
    [InlineData("EHLO client.test\r\n")]
    [InlineData("proxy TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")]
    [InlineData("PROXY  TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")]
    [InlineData("PROXY TCP5 192.168.0.1 192.168.0.11 56324 443\r\n")]
    [InlineData("PROXY TCP4 192.168.0 192.168.0.11 56324 443\r\n")]
    [InlineData("PROXY TCP4 2001:db8::1 192.168.0.11 56324 443\r\n")]
    [InlineData("PROXY TCP6 192.168.0.1 2001:db8::2 56324 443\r\n")]
    [InlineData("PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n")]
    [InlineData("PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n")]
    [InlineData("PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n")]
    [InlineData("PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n")]
    [InlineData("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n")]
    [InlineData("\u0016\u0003\u0001\u0002\u0000\u0001")] // a TLS ClientHello where the header should be
    public void Wrong_signatures_and_malformed_v1_headers_are_refused(string header) =>
        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeader.TryParse(Encoding.Latin1.GetBytes(header), Max).Status);

    [Fact]
    public void Every_truncation_of_a_header_asks_for_more_and_never_for_more_than_the_header()
    {
        foreach (byte[] header in new[] { Encoding.ASCII.GetBytes("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), Version2Tcp4([203, 0, 113, 7], 40000, tlvBytes: 20) })
        {
            for (int length = 0; length < header.Length; length++)
            {
                var result = ProxyHeader.TryParse(header.AsSpan(0, length), Max);
                Assert.Equal(ProxyParseStatus.Incomplete, result.Status);
                Assert.InRange(result.Needed, length + 1, header.Length);
            }

            Assert.Equal(header.Length, ProxyHeader.TryParse(header, Max).Consumed);
        }
    }

    [Fact]
    public void Version_2_proxy_local_tcp6_and_unspec_parse_and_tlvs_are_skipped()
    {
        byte[] tcp4 = [.. Version2Tcp4([203, 0, 113, 7], 40000, tlvBytes: 7), .. "EHLO"u8];
        var result = ProxyHeader.TryParse(tcp4, Max);
        Assert.Equal(ProxyParseStatus.Done, result.Status);
        Assert.Equal(16 + 12 + 7, result.Consumed);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("203.0.113.7"), 40000), result.Header!.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 25), result.Header.Destination);

        byte[] tcp6 = Version2(0x21, 0x21, [.. IPAddress.Parse("2001:db8::7").GetAddressBytes(), .. IPAddress.Parse("2001:db8::1").GetAddressBytes(), 0x9C, 0x40, 0x01, 0xBB]);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 40000), ProxyHeader.TryParse(tcp6, Max).Header!.Source);

        // LOCAL (the proxy's own health check) and UNSPEC carry no client: the connection's peer stands
        var local = ProxyHeader.TryParse(Version2(0x20, 0x00, []), Max);
        Assert.Equal(ProxyParseStatus.Done, local.Status);
        Assert.Null(local.Header!.Source);
        Assert.Null(ProxyHeader.TryParse(Version2(0x21, 0x00, []), Max).Header!.Source);
    }

    [Fact]
    public void Version_2_headers_with_a_wrong_signature_version_command_or_length_are_refused()
    {
        byte[] good = Version2Tcp4([203, 0, 113, 7], 40000);
        byte[] signature = (byte[])good.Clone();
        signature[11] = (byte)'X';
        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeader.TryParse(signature, Max).Status);
        byte[] version = (byte[])good.Clone();
        version[12] = 0x11;
        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeader.TryParse(version, Max).Status);
        byte[] command = (byte[])good.Clone();
        command[12] = 0x22;
        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeader.TryParse(command, Max).Status);
        // a TCP4 header too short for its addresses
        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeader.TryParse(Version2(0x21, 0x11, [1, 2, 3, 4, 5, 6, 7, 8]), Max).Status);

        // the length limit at its edge: a header of exactly the limit is taken, one byte more is refused before it is read
        byte[] atLimit = Version2Tcp4([203, 0, 113, 7], 40000, tlvBytes: Max - 16 - 12);
        Assert.Equal(Max, atLimit.Length);
        Assert.Equal(ProxyParseStatus.Done, ProxyHeader.TryParse(atLimit, Max).Status);
        byte[] over = Version2Tcp4([203, 0, 113, 7], 40000, tlvBytes: Max - 16 - 12 + 1);
        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeader.TryParse(over.AsSpan(0, 16), Max).Status);
    }

    [Fact]
    public async Task Smtp_believes_a_trusted_proxy_so_per_client_limits_count_the_real_clients()
    {
        var backend = new SessionRecorder();
        await using var server = Start(backend, o =>
        {
            o.TrustedProxies.Add(IPNetwork.Parse("127.0.0.1/32"));
            o.MaxConnectionsPerClient = 1;
        });
        var endPoint = server.BoundEndpoints[0];

        // two clients behind the one proxy: each gets its own connection; a second from the first is over its limit
        await using var first = await RawSmtp.OpenAsync(endPoint, Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.1 192.0.2.1 40001 25\r\n"));
        Assert.StartsWith("220", await first.ReadReplyOrNullAsync(), StringComparison.Ordinal);
        await using var second = await RawSmtp.OpenAsync(endPoint, Version2Tcp4([198, 51, 100, 2], 40002));
        Assert.StartsWith("220", await second.ReadReplyOrNullAsync(), StringComparison.Ordinal);
        await using var again = await RawSmtp.OpenAsync(endPoint, Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.1 192.0.2.1 40003 25\r\n"));
        Assert.StartsWith("421 4.7.0", await again.ReadReplyOrNullAsync(), StringComparison.Ordinal);

        // the session (trace fields, the backend) sees the client, not the proxy
        await first.CommandAsync("EHLO one.test");
        Assert.StartsWith("550", await first.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.1"), 40001), Assert.Single(backend.Sessions).RemoteEndPoint);
    }

    [Theory]
    [InlineData("PROXY TCP4 198.51.100.1 192.0.2.1 40001")] // truncated, then closed
    [InlineData("PROXY TCP4 198.51.100.1 192.0.2.1 40001 25\r")] // truncated at the CR
    [InlineData("EHLO client.test\r\n")] // no header at all
    [InlineData("PROXY TCP4 198.51.100.1 192.0.2.1 99999 25\r\n")] // malformed
    public async Task A_trusted_proxy_without_a_valid_header_is_closed_without_a_greeting(string preamble)
    {
        var backend = new SessionRecorder();
        await using var server = Start(backend, o => o.TrustedProxies.Add(IPNetwork.Parse("127.0.0.0/8")));
        await using var session = await RawSmtp.OpenAsync(server.BoundEndpoints[0], Encoding.ASCII.GetBytes(preamble));
        if (!preamble.EndsWith('\n'))
        {
            session.ShutdownSend();
        }

        Assert.Null(await session.ReadReplyOrNullAsync());
    }

    [Fact]
    public async Task A_trusted_proxy_silent_beyond_the_header_timeout_is_closed()
    {
        await using var server = Start(new SessionRecorder(), o =>
        {
            o.TrustedProxies.Add(IPNetwork.Parse("127.0.0.1/32"));
            o.ProxyHeaderTimeout = TimeSpan.FromMilliseconds(300);
        });
        await using var session = await RawSmtp.OpenAsync(server.BoundEndpoints[0], Encoding.ASCII.GetBytes("PROXY TCP4 "));
        Assert.Null(await session.ReadReplyOrNullAsync()); // closed by the server; the read returns, nothing hangs
    }

    [Fact]
    public async Task A_PROXY_line_from_an_untrusted_peer_is_an_unknown_command_and_changes_nothing()
    {
        var backend = new SessionRecorder();
        await using var server = Start(backend, o => o.TrustedProxies.Add(IPNetwork.Parse("10.0.0.0/8")));
        await using var session = await RawSmtp.ConnectAsync(server.BoundEndpoints[0]); // greeted at once: no header is awaited
        Assert.StartsWith("5", await session.CommandAsync("PROXY TCP4 198.51.100.1 192.0.2.1 40001 25"), StringComparison.Ordinal);
        await session.CommandAsync("EHLO one.test");
        Assert.StartsWith("550", await session.CommandAsync("MAIL FROM:<a@x.test>"), StringComparison.Ordinal);
        Assert.Equal(IPAddress.Loopback, Assert.Single(backend.Sessions).RemoteEndPoint.Address);
    }

    [Fact]
    public async Task Https_sign_up_limits_count_the_clients_a_trusted_proxy_names_and_a_headerless_connection_is_refused()
    {
        await using var provider = await TestProvider.StartAsync(Backend.Sqlite, null, editSettings: path =>
            File.WriteAllText(path, File.ReadAllText(path)
                .Replace("\"signUpsPerHourPerClient\": 20", "\"signUpsPerHourPerClient\": 1", StringComparison.Ordinal)
                .Replace("\"database\": \"sqlite:letterlock.db\",", "\"database\": \"sqlite:letterlock.db\", \"proxyProtocol\": { \"trustedProxies\": [\"127.0.0.1\"] },", StringComparison.Ordinal)));
        var endPoint = provider.Host.HttpsEndPoint;
        using var one = Proxied(endPoint, Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.1 192.0.2.1 40001 443\r\n"));
        using var two = Proxied(endPoint, Version2Tcp4([198, 51, 100, 2], 40002));
        Assert.Equal(HttpStatusCode.Created, (await one.PostAsJsonAsync("v1/accounts", ApiClient.NewAccountRequest("alice@example.test").Request, ApiJsonContext.Default.CreateAccountRequest)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await two.PostAsJsonAsync("v1/accounts", ApiClient.NewAccountRequest("bob@example.test").Request, ApiJsonContext.Default.CreateAccountRequest)).StatusCode);
        var refused = await one.PostAsJsonAsync("v1/accounts", ApiClient.NewAccountRequest("carol@example.test").Request, ApiJsonContext.Default.CreateAccountRequest);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);

        // the trusted proxy's own address without a header: no TLS handshake happens
        using var plain = new ApiClient(endPoint);
        await Assert.ThrowsAsync<HttpRequestException>(() => plain.Http.GetAsync(".well-known/letterlock"));
    }

    [Fact]
    public async Task Submission_listeners_take_the_header_from_a_trusted_proxy_too()
    {
        await using var provider = await TestProvider.StartAsync(Backend.Sqlite, null, editSettings: path =>
            File.WriteAllText(path, File.ReadAllText(path)
                .Replace("\"database\": \"sqlite:letterlock.db\",", "\"database\": \"sqlite:letterlock.db\", \"proxyProtocol\": { \"trustedProxies\": [\"127.0.0.1\"] },", StringComparison.Ordinal)));
        var submission = provider.Host.Listeners.Where(l => l.Protocol is "submission").Select(l => l.EndPoint).ToList();
        Assert.NotEmpty(submission);
        foreach (var endPoint in submission)
        {
            // with the header the balancer sends: greeted; the balancer's own connection without one: closed unheard
            await using var proxied = await RawSmtp.OpenAsync(endPoint, Encoding.ASCII.GetBytes("PROXY TCP4 198.51.100.1 192.0.2.1 40001 587\r\n"));
            Assert.StartsWith("220", await proxied.ReadReplyOrNullAsync(), StringComparison.Ordinal);
            await using var bare = await RawSmtp.OpenAsync(endPoint, Encoding.ASCII.GetBytes("EHLO client.test\r\n"));
            Assert.Null(await bare.ReadReplyOrNullAsync());
        }
    }

    private static HttpClient Proxied(IPEndPoint endPoint, byte[] header) => new(new SocketsHttpHandler
    {
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        ConnectCallback = async (_, ct) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(IPAddress.Loopback, endPoint.Port, ct);
            var stream = new NetworkStream(socket, ownsSocket: true);
            await stream.WriteAsync(header, ct);
            return stream;
        },
    })
    {
        BaseAddress = new Uri($"https://127.0.0.1:{endPoint.Port}/"),
        Timeout = TimeSpan.FromSeconds(60),
    };

    private static byte[] Version2Tcp4(byte[] source, int sourcePort, int tlvBytes = 0)
    {
        var addresses = new byte[12 + tlvBytes];
        source.CopyTo(addresses, 0);
        new byte[] { 192, 0, 2, 1 }.CopyTo(addresses, 4);
        BinaryPrimitives.WriteUInt16BigEndian(addresses.AsSpan(8), (ushort)sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(addresses.AsSpan(10), 25);
        if (tlvBytes >= 3)
        {
            addresses[12] = 0x04; // PP2_TYPE_NOOP, skipped
            BinaryPrimitives.WriteUInt16BigEndian(addresses.AsSpan(13), (ushort)(tlvBytes - 3));
        }

        return Version2(0x21, 0x11, addresses);
    }

    private static byte[] Version2(byte versionCommand, byte family, byte[] body)
    {
        var header = new byte[16 + body.Length];
        ProxyHeader.Version2Signature.CopyTo(header);
        header[12] = versionCommand;
        header[13] = family;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)body.Length);
        body.CopyTo(header, 16);
        return header;
    }

    private static SmtpFrontEnd Start(ISmtpBackend backend, Action<SmtpFrontEndOptions> configure)
    {
        var options = new SmtpFrontEndOptions { ServerName = "smtp.test" };
        options.Listeners.Add(new SmtpListenerOptions { Name = "test", EndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        configure(options);
        return SmtpFrontEnd.Start(options, backend);
    }

    /// <summary>Records who each transaction's session says the client is; refuses the mail itself.</summary>
    private sealed class SessionRecorder : ISmtpBackend
    {
        private readonly List<SmtpSessionInfo> _sessions = [];

        public IReadOnlyList<SmtpSessionInfo> Sessions
        {
            get
            {
                lock (_sessions)
                {
                    return _sessions.ToList();
                }
            }
        }

        public ValueTask<SmtpDeliveryStart> StartDeliveryAsync(SmtpSessionInfo session, string reversePath, long declaredSize, CancellationToken ct)
        {
            lock (_sessions)
            {
                _sessions.Add(session);
            }

            return ValueTask.FromResult(SmtpDeliveryStart.Reject(SmtpReply.SenderRejected));
        }
    }
}
