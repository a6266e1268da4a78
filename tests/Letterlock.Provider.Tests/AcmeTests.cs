using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Letterlock.Provider.Acme;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace Letterlock.Provider.Tests;

/// <summary>
/// Automatic certificates against Debian's pebble: issuance by HTTP-01 and by TLS-ALPN-01 with real validation, a
/// renewal that the next HTTPS and SMTP connection sees while open ones go on, a failing challenge that leaves the
/// certificate in place, a server's problem document reported with its type, badNonce retried.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)] // a real ACME server (Pebble) as a child process
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AcmeTests
{
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Http01_issues_a_certificate_at_start_that_every_listener_serves_with_its_chain()
    {
        int httpPort = Pebble.FreePort(), tlsPort = Pebble.FreePort();
        await using var pebble = await Pebble.StartAsync(httpPort, tlsPort);
        await using var provider = await StartProviderAsync(pebble, "http-01", httpPort, tlsPort);
        var issued = await WaitForIssuanceAsync(provider.Host);

        var served = await HttpsCertificateAsync(provider.Host.HttpsEndPoint, "mx.example.test");
        Assert.Equal(issued.Leaf.SerialNumber, served.Leaf.SerialNumber);
        Assert.NotEqual(served.Leaf.Subject, served.Leaf.Issuer);
        foreach (string name in new[] { "mx.example.test", "example.test", "mta-sts.example.test", "openpgpkey.example.test", "autoconfig.example.test" })
        {
            Assert.True(served.Leaf.MatchesHostname(name, allowWildcards: false, allowCommonName: false), name);
        }

        // the server sends the intermediate: the chain builds to pebble's root from what one handshake carried
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(await pebble.RootAsync());
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ExtraStore.AddRange(served.Intermediates);
        Assert.True(chain.Build(served.Leaf), string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation)));

        // the same certificate on SMTP STARTTLS, and on disk with the key kept
        Assert.Equal(issued.Leaf.SerialNumber, await SmtpSerialAsync(provider.Host.SmtpEndPoint));
        var settings = provider.Host.Settings;
        using var onDisk = X509Certificate2.CreateFromPemFile(settings.ResolvePath(settings.Tls.Certificate), settings.ResolvePath(settings.Tls.Key));
        Assert.Equal(issued.Leaf.SerialNumber, onDisk.SerialNumber);
        string accountKey = settings.ResolvePath(settings.Acme.AccountKey);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(accountKey));
    }

    [Fact]
    public async Task TlsAlpn01_issues_a_certificate_through_the_https_listener_which_keeps_serving_http()
    {
        int httpPort = Pebble.FreePort(), tlsPort = Pebble.FreePort();
        await using var pebble = await Pebble.StartAsync(httpPort, tlsPort);
        await using var provider = await StartProviderAsync(pebble, "tls-alpn-01", httpPort, tlsPort);
        Assert.Null(provider.Host.Acme!.HttpEndPoint); // no port 80 listener with tls-alpn-01
        var issued = await WaitForIssuanceAsync(provider.Host);

        var served = await HttpsCertificateAsync(provider.Host.HttpsEndPoint, "example.test");
        Assert.Equal(issued.Leaf.SerialNumber, served.Leaf.SerialNumber);
        Assert.NotEqual(served.Leaf.Subject, served.Leaf.Issuer);
        using var client = provider.Client();
        var response = await client.Http.GetAsync(new Uri("/.well-known/letterlock", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_renewal_is_seen_by_new_https_and_smtp_connections_while_open_ones_go_on()
    {
        int httpPort = Pebble.FreePort(), tlsPort = Pebble.FreePort();
        await using var pebble = await Pebble.StartAsync(httpPort, tlsPort);
        await using var provider = await StartProviderAsync(pebble, "http-01", httpPort, tlsPort);
        var first = await WaitForIssuanceAsync(provider.Host);

        // an HTTPS client with one kept-alive connection, and a MailKit session under STARTTLS, both open across the renewal
        int handshakes = 0;
        string? httpsSerial = null;
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            SslOptions = { RemoteCertificateValidationCallback = (_, c, _, _) => { Interlocked.Increment(ref handshakes); httpsSerial = ((X509Certificate2)c!).SerialNumber; return true; } },
        };
        using var http = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{provider.Host.HttpsEndPoint.Port}/") };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/.well-known/letterlock", UriKind.Relative))).StatusCode);
        Assert.Equal(first.Leaf.SerialNumber, httpsSerial);
        string? smtpSerial = null;
        using var smtp = new MailKit.Net.Smtp.SmtpClient { ServerCertificateValidationCallback = (_, c, _, _) => { smtpSerial = ((X509Certificate2)c!).SerialNumber; return true; } };
        await smtp.ConnectAsync("127.0.0.1", provider.Host.SmtpEndPoint.Port, MailKit.Security.SecureSocketOptions.StartTls);
        Assert.Equal(first.Leaf.SerialNumber, smtpSerial);

        var renewed = await provider.Host.Acme!.RenewAsync(CancellationToken.None);
        Assert.NotEqual(first.Leaf.SerialNumber, renewed.Leaf.SerialNumber);
        Assert.Same(renewed, provider.Host.Certificate.Current);
        // the key stays (a DANE TLSA 3 1 1 record stays true)
        Assert.Equal(first.Leaf.PublicKey.ExportSubjectPublicKeyInfo(), renewed.Leaf.PublicKey.ExportSubjectPublicKeyInfo());

        // the open connections go on under the certificate they were given
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/.well-known/letterlock", UriKind.Relative))).StatusCode);
        Assert.Equal(1, handshakes);
        await smtp.NoOpAsync();
        Assert.True(smtp.IsConnected && smtp.IsSecure);
        Assert.Equal(first.Leaf.SerialNumber, smtpSerial);

        // new connections see the new one: HTTPS, MX STARTTLS (MailKit) and submission STARTTLS
        Assert.Equal(renewed.Leaf.SerialNumber, (await HttpsCertificateAsync(provider.Host.HttpsEndPoint, "mx.example.test")).Leaf.SerialNumber);
        Assert.Equal(renewed.Leaf.SerialNumber, await SmtpSerialAsync(provider.Host.SmtpEndPoint));
        var submission = provider.Host.Listeners.First(l => l.Protocol == "submission").EndPoint;
        Assert.Equal(renewed.Leaf.SerialNumber, await SmtpSerialAsync(submission));
        await smtp.DisconnectAsync(true);
    }

    [Fact]
    public async Task A_failing_challenge_names_the_domain_and_the_problem_and_leaves_the_certificate_in_place()
    {
        int httpPort = Pebble.FreePort(), tlsPort = Pebble.FreePort();
        await using var pebble = await Pebble.StartAsync(httpPort, tlsPort);
        // the challenge listener is not where the CA looks: every HTTP-01 validation finds the port closed
        await using var provider = await StartProviderAsync(pebble, "http-01", Pebble.FreePort(), tlsPort);
        string certificatePath = provider.Host.Settings.ResolvePath(provider.Host.Settings.Tls.Certificate);
        string before = await File.ReadAllTextAsync(certificatePath);
        var selfSigned = provider.Host.Certificate.Current;

        var failure = await Assert.ThrowsAsync<AcmeException>(() => provider.Host.Acme!.RenewAsync(CancellationToken.None));
        Assert.Contains("http-01", failure.Message, StringComparison.Ordinal);
        Assert.NotNull(failure.Domain);
        Assert.Contains(failure.Domain, provider.Host.Acme!.Names);
        Assert.Contains(failure.Domain!, failure.Message, StringComparison.Ordinal);
        Assert.Equal("urn:ietf:params:acme:error:connection", failure.Problem!.Type);
        Assert.Contains("urn:ietf:params:acme:error:connection", failure.Message, StringComparison.Ordinal);

        Assert.Same(selfSigned, provider.Host.Certificate.Current);
        Assert.Equal(before, await File.ReadAllTextAsync(certificatePath));
        Assert.Equal(selfSigned.Leaf.SerialNumber, (await HttpsCertificateAsync(provider.Host.HttpsEndPoint, "mx.example.test")).Leaf.SerialNumber);
    }

    [Fact]
    public async Task A_problem_document_from_the_server_is_reported_with_its_type()
    {
        // pebble refuses every nonce: after its retries the client reports the server's badNonce problem as such
        int httpPort = Pebble.FreePort(), tlsPort = Pebble.FreePort();
        await using var pebble = await Pebble.StartAsync(httpPort, tlsPort, nonceRejectPercent: 100);
        using var client = Client(pebble, new AcmeClientOptions { MaxBadNonceRetries = 2 });
        var responder = new AcmeChallengeResponder();
        var failure = await Assert.ThrowsAsync<AcmeException>(() => client.ObtainAsync(["mx.example.test"], "http-01", responder, [], [], CancellationToken.None));
        Assert.Equal(AcmeProblem.BadNonce, failure.Problem!.Type);
        Assert.Equal(400, failure.Problem.Status);
        Assert.StartsWith("the ACME server refused registering the account: urn:ietf:params:acme:error:badNonce: ", failure.Message, StringComparison.Ordinal);
        Assert.Equal(2, client.BadNonceRetries);

        // acme.maxResponseBytes at its edge: the directory's own size passes (the next step fails on the nonce), one byte less is refused
        using var plain = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } });
        int size = (await plain.GetByteArrayAsync(pebble.DirectoryUrl)).Length;
        using var atLimit = Client(pebble, new AcmeClientOptions { MaxResponseBytes = size, MaxBadNonceRetries = 0 });
        var next = await Assert.ThrowsAsync<AcmeException>(() => atLimit.ObtainAsync(["mx.example.test"], "http-01", responder, [], [], CancellationToken.None));
        Assert.Equal(AcmeProblem.BadNonce, next.Problem!.Type);
        using var overLimit = Client(pebble, new AcmeClientOptions { MaxResponseBytes = size - 1 });
        var refused = await Assert.ThrowsAsync<AcmeException>(() => overLimit.ObtainAsync(["mx.example.test"], "http-01", responder, [], [], CancellationToken.None));
        Assert.Equal($"the ACME server's answer while reading the directory is {size} bytes, over the limit of {size - 1} (acme.maxResponseBytes)", refused.Message);
    }

    [Fact]
    public async Task BadNonce_answers_are_retried_with_the_nonce_they_carry_and_the_order_completes()
    {
        int httpPort = Pebble.FreePort(), tlsPort = Pebble.FreePort();
        await using var pebble = await Pebble.StartAsync(httpPort, tlsPort, nonceRejectPercent: 50);
        // enough retries that a run of refusals (1 in 2^40 per request) cannot end it
        using var client = Client(pebble, new AcmeClientOptions { MaxBadNonceRetries = 40 });
        var responder = new AcmeChallengeResponder();
        var (web, _) = await responder.StartHttpListenerAsync(new IPEndPoint(IPAddress.Loopback, httpPort), NullLogger.Instance, CancellationToken.None);
        await using var _ = web;
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=mx.example.test", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("mx.example.test");
        san.AddDnsName("example.test");
        request.CertificateExtensions.Add(san.Build());

        string chain = await client.ObtainAsync(["mx.example.test", "example.test"], "http-01", responder, request.CreateSigningRequest(), [], CancellationToken.None);
        using var leaf = X509Certificate2.CreateFromPem(chain);
        Assert.True(leaf.MatchesHostname("example.test", allowWildcards: false, allowCommonName: false));
        // about half of some twenty signed requests were refused: none refused at all would mean 1 in 2^20
        Assert.True(client.BadNonceRetries > 0);
    }

    [Fact]
    public void Bad_acme_settings_are_refused_naming_the_setting()
    {
        static ProviderSettings Settings(Action<AcmeSettings> change)
        {
            var settings = new ProviderSettings { Domain = "example.test", HostName = "mx.example.test", DataDirectory = Path.GetTempPath() };
            settings.Acme.Enabled = true;
            change(settings.Acme);
            return settings;
        }

        static string Refusal(Action<AcmeSettings> change) => Assert.Throws<SettingsException>(() => AcmeSettings.Validate(Settings(change))).Message;

        Assert.StartsWith("setting 'acme.directory': 'http://acme.example/dir' is not an https URL", Refusal(a => a.Directory = "http://acme.example/dir"), StringComparison.Ordinal);
        Assert.StartsWith("setting 'acme.challenge': must be \"http-01\" or \"tls-alpn-01\"", Refusal(a => a.Challenge = "dns-01"), StringComparison.Ordinal);
        Assert.StartsWith("setting 'acme.contact': 'postmaster' is not an e-mail address", Refusal(a => a.Contact = "postmaster"), StringComparison.Ordinal);
        Assert.StartsWith("setting 'acme.httpListen': 'port 80' is not an address:port", Refusal(a => a.HttpListen = "port 80"), StringComparison.Ordinal);
        Assert.StartsWith("setting 'acme.names': '*.example.test' is not a host name", Refusal(a => a.Names = ["*.example.test"]), StringComparison.Ordinal);
        Assert.Equal("setting 'acme.renewBeforeDays': must be 1..365", Refusal(a => a.RenewBeforeDays = 0));
        Assert.Equal("setting 'acme.renewBeforeDays': must be 1..365", Refusal(a => a.RenewBeforeDays = 366));
        Assert.Equal("setting 'acme.retryMinutes': must be a positive number", Refusal(a => a.RetryMinutes = 0));
        Assert.Equal("setting 'acme.maxResponseBytes': must be at least 16384 (a certificate chain)", Refusal(a => a.MaxResponseBytes = 16383));
        Assert.StartsWith("setting 'acme.caBundle': cannot read PEM certificates from ", Refusal(a => a.CaBundle = "no-such-ca.pem"), StringComparison.Ordinal);

        // at the edges, and an httpListen that tls-alpn-01 does not use: accepted
        AcmeSettings.Validate(Settings(a => { a.RenewBeforeDays = 365; a.MaxResponseBytes = 16384; a.Challenge = "tls-alpn-01"; a.HttpListen = "not used with tls-alpn-01"; }));
        AcmeSettings.Validate(Settings(a => a.RenewBeforeDays = 1));
    }

    [Fact]
    public async Task Serve_refuses_an_acme_account_key_others_can_read()
    {
        string directory = TestProvider.CreateDirectory();
        try
        {
            string data = Path.Combine(directory, "data");
            ProviderKeys.Initialize(new ProviderKeys.InitOptions(TestProvider.Domain, data, SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0") { AcmeContact = "postmaster@example.test" });
            string key = Path.Combine(data, "keys", "acme-account.key");
            await File.WriteAllTextAsync(key, "not yet a key\n");
            File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            var refusal = await Assert.ThrowsAsync<SettingsException>(() => ProviderHost.StartAsync(data, loggerFactory: NullLoggerFactory.Instance));
            Assert.StartsWith($"setting 'acme.accountKey': the private key {key} can be read by every user of this machine (mode 0604)", refusal.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static AcmeClient Client(Pebble pebble, AcmeClientOptions options)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(pebble.CaBundlePath);
        var trust = Letterlock.Relay.Tls.TlsTrust.WithRoots([.. roots]);
        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, c, chain, _) => trust.Validate((X509Certificate2)c!, chain!.ChainElements.Select(e => e.Certificate), "127.0.0.1", DateTimeOffset.UtcNow) is null },
        };
        return new AcmeClient(pebble.DirectoryUrl, System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256), handler, options, TimeProvider.System, NullLogger.Instance);
    }

    /// <summary>A provider with ACME on against <paramref name="pebble"/>: HTTPS on the port pebble validates TLS-ALPN-01 at, HTTP-01 on <paramref name="httpPort"/>.</summary>
    private static Task<TestProvider> StartProviderAsync(Pebble pebble, string challenge, int httpPort, int tlsPort) =>
        TestProvider.StartAsync(Backend.Sqlite, null, editSettings: path =>
        {
            var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
            var root = JsonNode.Parse(File.ReadAllText(path), documentOptions: options)!;
            root["api"]!["listen"] = $"127.0.0.1:{tlsPort}";
            root["acme"] = new JsonObject
            {
                ["enabled"] = true,
                ["directory"] = pebble.DirectoryUrl.AbsoluteUri,
                ["contact"] = "postmaster@example.test",
                ["challenge"] = challenge,
                ["httpListen"] = $"127.0.0.1:{httpPort}",
                ["caBundle"] = pebble.CaBundlePath,
                // a failed attempt at start is not retried within a test
                ["retryMinutes"] = 600,
            };
            File.WriteAllText(path, root.ToJsonString());
        });

    /// <summary>Waits for the certificate ordered at start (a failure ends the wait with its message).</summary>
    private static async Task<ServerCertificate> WaitForIssuanceAsync(ProviderHost host)
    {
        var done = new TaskCompletionSource<ServerCertificate>(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Certificate.Changed += c => done.TrySetResult(c);
        host.Acme!.Failed += e => done.TrySetException(e);
        if (!host.Acme.NeedsRenewal(host.Certificate.Current.Leaf, DateTimeOffset.UtcNow))
        {
            done.TrySetResult(host.Certificate.Current);
        }
        else if (host.Acme.LastFailure is { } failure)
        {
            done.TrySetException(failure);
        }

        return await done.Task.WaitAsync(Hang);
    }

    private static async Task<(X509Certificate2 Leaf, X509Certificate2[] Intermediates)> HttpsCertificateAsync(IPEndPoint endPoint, string serverName)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(endPoint);
        X509Certificate2[] sent = [];
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = (_, _, chain, _) =>
            {
                sent = chain!.ChainPolicy.ExtraStore.Cast<X509Certificate2>().ToArray();
                return true;
            },
        });
        return (new X509Certificate2(tls.RemoteCertificate!), sent);
    }

    private static async Task<string> SmtpSerialAsync(IPEndPoint endPoint)
    {
        string? serial = null;
        using var smtp = new MailKit.Net.Smtp.SmtpClient { ServerCertificateValidationCallback = (_, c, _, _) => { serial = ((X509Certificate2)c!).SerialNumber; return true; } };
        await smtp.ConnectAsync("127.0.0.1", endPoint.Port, MailKit.Security.SecureSocketOptions.StartTls);
        Assert.True(smtp.IsSecure);
        await smtp.DisconnectAsync(true);
        return serial!;
    }
}
