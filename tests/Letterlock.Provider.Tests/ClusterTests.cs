using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Letterlock.Api;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Provider.Tests;

/// <summary>
/// Two provider nodes in one process on one PostgreSQL database with one data directory (one settings file, as
/// every node of a cluster has): nothing a node needs is on its own, so either serves what the other wrote, and
/// the limits on anonymous calls hold for the cluster, not per node.
/// </summary>
[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class ClusterTests(PostgresServer postgres) : IAsyncLifetime
{
    private TestProvider _a = null!;
    private TestProvider _b = null!;

    public async Task InitializeAsync()
    {
        string directory = TestProvider.CreateDirectory();
        string database = await postgres.CreateDatabaseAsync();
        _a = await TestProvider.StartAsync(Backend.Postgres, postgres, databaseUrl: database, directory: directory, editSettings: path =>
        {
            var settings = JsonNode.Parse(File.ReadAllText(path), null,
                new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true })!;
            settings["api"]!["signUpsPerHourPerClient"] = 2;
            settings["api"]!["challengesPerMinutePerClient"] = 5;
            File.WriteAllText(path, settings.ToJsonString());
        });
        _b = await TestProvider.StartAsync(Backend.Postgres, postgres, databaseUrl: database, directory: directory);
    }

    public async Task DisposeAsync()
    {
        await _b.DisposeAsync();
        await _a.DisposeAsync();
    }

    [Fact]
    public async Task Sign_ups_and_challenges_spread_over_two_nodes_share_one_limit()
    {
        using var a = _a.Client();
        using var b = _b.Client();
        var alice = await a.CreateAccountAsync("alice@example.test");
        await b.CreateAccountAsync("bob@example.test");
        foreach (var node in new[] { a, b })
        {
            var (carol, _) = ApiClient.NewAccountRequest("carol@example.test");
            var refused = await node.Http.PostAsJsonAsync("v1/accounts", carol, ApiJsonContext.Default.CreateAccountRequest);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal(ProblemTypes.RateLimited, (await ApiClient.ProblemAsync(refused)).Type);
            Assert.InRange(int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 3600);
        }

        Assert.Equal(["alice", "bob"], (await _b.Host.Store.ListAccountsAsync(CancellationToken.None)).Select(x => x.LocalPart).Order());

        // five challenges a minute, taken alternately on both nodes; the sixth is refused on either
        for (int i = 0; i < 5; i++)
        {
            await (i % 2 == 0 ? a : b).ChallengeAsync(alice.DeviceId);
        }

        foreach (var node in new[] { a, b })
        {
            var tooMany = await node.Http.PostAsJsonAsync("v1/auth/challenge", new ChallengeRequest(alice.DeviceId), ApiJsonContext.Default.ChallengeRequest);
            Assert.Equal(HttpStatusCode.TooManyRequests, tooMany.StatusCode);
            Assert.InRange(int.Parse(tooMany.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 60);
        }
    }

    [Fact]
    public async Task A_large_message_accepted_by_one_node_and_a_large_document_put_through_it_are_read_through_the_other()
    {
        using var a = _a.Client();
        var alice = await a.CreateAccountAsync("alice@example.test");
        await a.LoginAsync(alice);
        byte[] document = RandomNumberGenerator.GetBytes(2 * 1024 * 1024);
        Assert.Equal(HttpStatusCode.Created, (await a.PutAsync("big", document)).StatusCode);

        byte[] attachment = RandomNumberGenerator.GetBytes(1024 * 1024);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("carol@sender.test"));
        message.To.Add(MailboxAddress.Parse("alice@example.test"));
        message.Subject = "through node A";
        var body = new BodyBuilder { TextBody = "see attachment" };
        await body.Attachments.AddAsync("data.bin", new MemoryStream(attachment));
        message.Body = body.ToMessageBody();
        using (var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await smtp.ConnectAsync("127.0.0.1", _a.Host.SmtpEndPoint.Port, SecureSocketOptions.StartTls);
            await smtp.SendAsync(message);
        }

        // node B has no blob folder at all: every byte comes from PostgreSQL
        Assert.False(Directory.Exists(Path.Combine(_b.DataDirectory, "blobs")));
        using var b = _b.Client();
        await b.LoginAsync(alice);
        Assert.Equal(document, await b.GetBytesAsync("big"));
        var (_, raw) = Assert.Single(await b.FetchInboxAsync(alice));
        var parsed = await MimeMessage.LoadAsync(new MemoryStream(raw));
        using var decoded = new MemoryStream();
        await ((MimePart)parsed.Attachments.Single()).Content!.DecodeToAsync(decoded);
        Assert.Equal(attachment, decoded.ToArray());
    }
}
