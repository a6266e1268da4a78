using System.Net;
using System.Net.Http.Json;
using System.Text;
using Letterlock.Api;
using Letterlock.Dns;
using Letterlock.Relay.Tests.Peers;
using Letterlock.Relay.Tls;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Relay.Tests.Provider;

/// <summary>
/// Two providers on loopback, alpha.test (on PostgreSQL) and beta.test (on SQLite), with certificates from one test CA,
/// a static DNS map and MTA-STS <c>enforce</c> on both: mail goes submission -> alpha's queue -> DKIM -> TLS checked
/// against the policy -> beta's MX -> sealed inbox document, opened with the recipient's inbox key; and back.
/// </summary>
[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class FederationTests(PostgresServer postgres) : IDisposable
{
    private readonly TestCa _ca = new();

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task Alpha_and_beta_deliver_to_each_other_through_submission_the_relay_and_encrypt_on_arrival()
    {
        var dns = new StaticDnsResolver();
        await using var alpha = await ProviderNode.StartAsync("alpha.test", _ca, dns, await postgres.CreateDatabaseAsync(), mtaStsMode: "enforce");
        await using var beta = await ProviderNode.StartAsync("beta.test", _ca, dns, mtaStsMode: "enforce");
        ProviderNode.Connect(alpha, beta);
        using var aliceClient = alpha.Client();
        var alice = await aliceClient.CreateAccountAsync("alice");
        using var bobClient = beta.Client();
        var bob = await bobClient.CreateAccountAsync("bob");

        // beta publishes its policy for its MX
        string policy = await bobClient.Http.GetStringAsync(".well-known/mta-sts.txt");
        Assert.Contains("mode: enforce", policy, StringComparison.Ordinal);
        Assert.Contains("mx: mx.beta.test", policy, StringComparison.Ordinal);

        // alice -> bob: SMTP submission on alpha with her device's token
        string marker = "FEDERATION-" + Guid.NewGuid().ToString("N");
        string body = "-----BEGIN PGP MESSAGE-----\r\n" + marker + "\r\n-----END PGP MESSAGE-----\r\n";
        var token = await aliceClient.SubmissionTokenAsync();
        using (var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 60_000 })
        {
            await smtp.ConnectAsync("127.0.0.1", alpha.Submission.Port, SecureSocketOptions.StartTls);
            await smtp.AuthenticateAsync(token.UserName, token.Password);
            await smtp.SendAsync(await MimeMessage.LoadAsync(new MemoryStream(NodeClient.Message(alice.Address, bob.Address, "Hello " + marker, body, "first@alpha.test"))));
            await smtp.DisconnectAsync(true);
        }

        byte[] rawAtBob = (await bobClient.WaitForInboxAsync(bob, 1)).Single();
        var atBob = await MimeMessage.LoadAsync(new MemoryStream(rawAtBob));
        Assert.Equal("Hello " + marker, atBob.Subject);
        Assert.Equal(body, atBob.TextBody!.ReplaceLineEndings("\r\n"));
        string results = atBob.Headers[HeaderId.AuthenticationResults]!;
        Assert.StartsWith("mx.beta.test;", results, StringComparison.Ordinal);
        Assert.Contains("spf=pass smtp.mailfrom=alpha.test", results, StringComparison.Ordinal);
        Assert.Contains("dkim=pass header.d=alpha.test", results, StringComparison.Ordinal);
        Assert.Contains("dmarc=pass", results, StringComparison.Ordinal);
        var signatures = atBob.Headers.Where(h => h.Id == HeaderId.DkimSignature).Select(h => h.Value).ToList();
        Assert.Equal(2, signatures.Count);
        Assert.Contains(signatures, s => s.Contains("a=ed25519-sha256", StringComparison.Ordinal) && s.Contains("s=letterlock1ed", StringComparison.Ordinal));
        Assert.Contains(signatures, s => s.Contains("a=rsa-sha256", StringComparison.Ordinal) && s.Contains("s=letterlock1;", StringComparison.Ordinal));
        // RFC 5321 4.4 trace fields: beta's MX names the sending server; alpha's submission names no device of alice's;
        // both sit above what alpha signed, and alpha's signatures still verify over what bob holds
        var fields = atBob.Headers.Select(h => h.Id).ToList();
        Assert.Equal([HeaderId.AuthenticationResults, HeaderId.Received, HeaderId.DkimSignature, HeaderId.DkimSignature, HeaderId.Received], fields.Take(5));
        var received = atBob.Headers.Where(h => h.Id == HeaderId.Received).Select(h => h.Value.ReplaceLineEndings(" ")).ToList();
        Assert.Matches(@"^from mx\.alpha\.test \(\[127\.0\.0\.1\]\)\s+by mx\.beta\.test \(Letterlock\) with ESMTPS id [0-9a-f]{32}\s+\(using TLSv1\.[23] with cipher [A-Z0-9_]+\);\s+\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$", received[0]);
        Assert.Matches(@"^by mx\.alpha\.test \(Letterlock\) with ESMTPSA id [0-9a-f]{32};\s+\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$", received[1]);
        Assert.DoesNotContain("127.0.0.1", received[1], StringComparison.Ordinal);
        var alphaSignatures = await DkimVerifiers.PythonDkimAsync(rawAtBob, ProviderNode.DkimRecords(alpha.DataDirectory, "alpha.test"));
        Assert.True(alphaSignatures.ExitCode == 0, alphaSignatures.ToString());

        // the connection met beta's MTA-STS enforce policy: PKIX-valid certificate for mx.beta.test, through the test CA
        Assert.True(alpha.Host.Outbound.Agent.Reports.Successes("beta.test", TlsPolicyType.Sts) >= 1, alpha.Log.All);
        Assert.Empty(alpha.Host.Outbound.Agent.Reports.Failures);

        // bob -> alice: submission over beta's HTTPS API
        string reply = "REPLY-" + Guid.NewGuid().ToString("N");
        var submitted = await bobClient.SubmitAsync(NodeClient.Message(bob.Address, alice.Address, "Re: Hello " + reply, "Thanks.\r\n"), [alice.Address]);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var receipt = (await submitted.Content.ReadFromJsonAsync(SubmissionJsonContext.Default.SubmissionResponse))!;
        Assert.Equal(SubmissionDispositions.Queued, receipt.Recipients.Single().Disposition);

        var atAlice = await MimeMessage.LoadAsync(new MemoryStream((await aliceClient.WaitForInboxAsync(alice, 1)).Single()));
        Assert.Equal("Re: Hello " + reply, atAlice.Subject);
        Assert.Contains("dkim=pass header.d=beta.test", atAlice.Headers[HeaderId.AuthenticationResults], StringComparison.Ordinal);
        Assert.Matches(@"^by mx\.beta\.test \(Letterlock\) with HTTPS;", atAlice.Headers.Where(h => h.Id == HeaderId.Received).Last().Value.ReplaceLineEndings(" "));
        Assert.True(beta.Host.Outbound.Agent.Reports.Successes("alpha.test", TlsPolicyType.Sts) >= 1, beta.Log.All);

        // both queues are empty once delivered: nothing waits, nothing stays behind
        await Wait.UntilAsync(async () => await alpha.Host.Outbound.Queue.Store.CountAsync(default) == 0, "alpha's queue drained");
        await Wait.UntilAsync(async () => await beta.Host.Outbound.Queue.Store.CountAsync(default) == 0, "beta's queue drained");
        Assert.DoesNotContain(marker, alpha.Log.All + beta.Log.All, StringComparison.Ordinal);
    }
}
