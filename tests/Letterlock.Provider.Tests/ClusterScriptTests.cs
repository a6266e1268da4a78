using System.Security.Cryptography;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Xunit.Abstractions;

namespace Letterlock.Provider.Tests;

/// <summary>
/// <c>scripts/cluster</c> as an operator runs it: a private PostgreSQL, three <c>letterlock provider serve</c> nodes on
/// one settings file and Debian's haproxy in front, sending the PROXY protocol. Mail sent through haproxy is read
/// through every node directly, and its trace field names the real client.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class ClusterScriptTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Mail_sent_through_haproxy_is_read_through_every_node_and_stop_leaves_nothing_running()
    {
        string directory = TestProvider.CreateDirectory();
        string cluster = Path.Combine(directory, "cluster");
        try
        {
            await using (var script = await ClusterScript.StartAsync(cluster, output, "--nodes", "3", "--domain", TestProvider.Domain))
            {
                using var api = new ApiClient(script.Https);
                var alice = await api.CreateAccountAsync("alice@example.test");

                byte[] attachment = RandomNumberGenerator.GetBytes(300 * 1024); // beyond the inline threshold: a blob
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse("carol@sender.test"));
                message.To.Add(MailboxAddress.Parse("alice@example.test"));
                message.Subject = "through haproxy";
                var body = new BodyBuilder { TextBody = "hello cluster" };
                await body.Attachments.AddAsync("data.bin", new MemoryStream(attachment));
                message.Body = body.ToMessageBody();
                using (var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
                {
                    await smtp.ConnectAsync("127.0.0.1", script.Smtp.Port, SecureSocketOptions.StartTls);
                    await smtp.SendAsync(message);
                    await smtp.DisconnectAsync(true);
                }

                for (int node = 1; node <= 3; node++)
                {
                    using var direct = new ApiClient(script.EndPoint($"NODE{node}_HTTPS"));
                    await direct.LoginAsync(alice);
                    var (_, raw) = Assert.Single(await direct.FetchInboxAsync(alice));
                    var parsed = await MimeMessage.LoadAsync(new MemoryStream(raw));
                    Assert.Equal("through haproxy", parsed.Subject);
                    // haproxy named the client in a PROXY v2 header: the node saw 127.0.0.1, not haproxy's 127.0.0.2
                    string received = parsed.Headers.First(h => h.Id == HeaderId.Received).Value;
                    Assert.Contains("([127.0.0.1])", received, StringComparison.Ordinal);
                    Assert.DoesNotContain("127.0.0.2", received, StringComparison.Ordinal);
                    using var decoded = new MemoryStream();
                    await ((MimePart)parsed.Attachments.Single()).Content!.DecodeToAsync(decoded);
                    Assert.Equal(attachment, decoded.ToArray());
                }

                // no node keeps blobs of its own: the shared data directory has no blob folder
                Assert.False(Directory.Exists(Path.Combine(script.Env["DATA"], "blobs")));
            }

            Assert.Empty(Directory.EnumerateFiles(cluster, "*.pid"));
            Assert.False(File.Exists(Path.Combine(cluster, "postgres", "data", "postmaster.pid")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
