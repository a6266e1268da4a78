using System.Net;
using System.Text;
using Letterlock.Api;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Provider.Tests;

/// <summary>
/// A disk that really fills up: `letterlock provider serve` on a small tmpfs (a private mount namespace). The MX
/// answers 452 4.3.1 (RFC 3463: insufficient system storage, try later), the API 507, and a refused write leaves
/// nothing behind: smaller mail still goes through.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class FullDiskTests
{
    private static MimeMessage Message(int bodyBytes, string subject)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("carol@sender.test"));
        message.To.Add(MailboxAddress.Parse("alice@example.test"));
        message.Subject = subject;
        var body = new StringBuilder(bodyBytes + 80);
        while (body.Length < bodyBytes)
        {
            body.Append(Convert.ToBase64String(Guid.NewGuid().ToByteArray())).Append(Convert.ToBase64String(Guid.NewGuid().ToByteArray())).Append("\r\n");
        }

        message.Body = new TextPart("plain") { Text = body.ToString() };
        return message;
    }

    [Fact]
    public async Task A_full_disk_is_452_4_3_1_at_the_mx_and_507_at_the_api_and_a_refused_write_leaves_nothing_behind()
    {
        string directory = TestProvider.CreateDirectory();
        try
        {
            string data = TestProvider.InitializeForProcess(directory);
            await using var provider = await ProviderProcess.StartAsync(data, null, filesystemBytes: 6L * 1024 * 1024);
            using var api = new ApiClient(provider.Https);
            var alice = await api.CreateAccountAsync("alice@example.test");

            using (var smtp = new SmtpClient { Timeout = 120_000 })
            {
                await smtp.ConnectAsync("127.0.0.1", provider.Smtp.Port, SecureSocketOptions.None);
                var full = await Assert.ThrowsAsync<SmtpCommandException>(() => smtp.SendAsync(Message(8 * 1024 * 1024, "too big for the disk")));
                Assert.Equal((SmtpStatusCode)452, full.StatusCode);
                Assert.StartsWith("4.3.1", full.Message, StringComparison.Ordinal);

                // the same session goes on, and what was refused left no file behind to fill the disk
                await smtp.SendAsync(Message(64 * 1024, "fits"));
                await smtp.DisconnectAsync(true);
            }

            await api.LoginAsync(alice);
            var refused = await api.PutAsync("big", new byte[8 * 1024 * 1024]);
            Assert.Equal(HttpStatusCode.InsufficientStorage, refused.StatusCode);
            Assert.Equal(ProblemTypes.InsufficientStorage, (await ApiClient.ProblemAsync(refused)).Type);
            Assert.Equal(HttpStatusCode.Created, (await api.PutAsync("small", new byte[1024])).StatusCode);

            var inbox = await api.FetchInboxAsync(alice);
            var (_, raw) = Assert.Single(inbox);
            Assert.Equal("fits", (await MimeMessage.LoadAsync(new MemoryStream(raw))).Subject);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
