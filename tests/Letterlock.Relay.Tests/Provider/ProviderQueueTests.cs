using System.Net;
using System.Text;
using Letterlock.Dns;
using Letterlock.Relay.Tests.Peers;
using Letterlock.Smtp;
using MimeKit;

namespace Letterlock.Relay.Tests.Provider;

/// <summary>
/// The relay queue inside the provider: its tables in the provider's SQLite file or PostgreSQL database, the scheduler
/// started with the provider, DSNs into the sender's inbox through encrypt-on-arrival, and no plaintext on disk.
/// </summary>
[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class ProviderQueueTests(PostgresServer postgres) : IDisposable
{
    private readonly TestCa _ca = new();

    public void Dispose() => _ca.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_550_bounces_into_the_senders_sealed_inbox_as_an_rfc3464_dsn(bool onPostgres)
    {
        var dns = new StaticDnsResolver();
        await using var alpha = await ProviderNode.StartAsync("alpha.test", _ca, dns, onPostgres ? await postgres.CreateDatabaseAsync() : null);
        await using var beta = ScriptedMta.Start(_ca.Issue(["mx.beta.test"]), "mx.beta.test");
        beta.OnRecipient = r => r.StartsWith("gone@", StringComparison.Ordinal) ? SmtpReply.NoSuchUser : null;
        dns.AddMx("beta.test", 10, "mx.beta.test").AddAddress("mx.beta.test", IPAddress.Loopback);
        alpha.Host.Outbound.PortOverrides["mx.beta.test"] = beta.Port;
        using var client = alpha.Client();
        var alice = await client.CreateAccountAsync("alice");

        string marker = "BOUNCE-" + Guid.NewGuid().ToString("N");
        var response = await client.SubmitAsync(NodeClient.Message(alice.Address, "bob@beta.test, gone@beta.test", marker), ["bob@beta.test", "gone@beta.test"]);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        await beta.WaitForMessageAsync();
        var inbox = await client.WaitForInboxAsync(alice, 1);
        var dsn = await MimeMessage.LoadAsync(new MemoryStream(inbox.Single()));
        Assert.Equal("MAILER-DAEMON@alpha.test", dsn.From.Mailboxes.Single().Address);
        Assert.StartsWith("mx.alpha.test; none", dsn.Headers[HeaderId.AuthenticationResults], StringComparison.Ordinal);
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        var status = Assert.IsType<MessageDeliveryStatus>(report[1]);
        var group = status.StatusGroups[1];
        Assert.Equal("rfc822; gone@beta.test", group["Final-Recipient"]);
        Assert.Equal("failed", group["Action"]);
        Assert.Equal("5.1.1", group["Status"]);
        // bob was delivered and is not reported
        Assert.Equal(["rfc822; gone@beta.test"], status.StatusGroups.Select(g => g["Final-Recipient"]).Where(v => v is not null));
        // the original's header section comes back so the sender knows which message it was
        Assert.Contains(marker, report[2].ToString(), StringComparison.Ordinal);
        Assert.Single(beta.Received);
        Assert.Equal(["bob@beta.test"], beta.Received.Single().Recipients);

        await Wait.UntilAsync(async () => await alpha.Host.Outbound.Queue.Store.CountAsync(default) == 0, "the queue drains once the DSN is in the inbox");
    }

    [Fact]
    public async Task A_waiting_message_is_sealed_in_the_providers_database_and_no_file_holds_its_envelope_or_content()
    {
        var dns = new StaticDnsResolver();
        // the destination's DNS fails, so the message waits in the queue
        dns.AddFailure("slow.test");
        await using var alpha = await ProviderNode.StartAsync("alpha.test", _ca, dns);
        using var client = alpha.Client();
        var alice = await client.CreateAccountAsync("alice");
        string marker = "ZEBRA-" + Guid.NewGuid().ToString("N");
        var response = await client.SubmitAsync(NodeClient.Message(alice.Address, "walrus@slow.test", "Subject " + marker, "Body " + marker + "\r\n"), ["walrus@slow.test"]);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        var store = alpha.Host.Outbound.Queue.Store;
        Assert.Equal(1, await store.CountAsync(default));
        await Wait.UntilAsync(() => Task.FromResult(alpha.Log.All.Contains("1 deferred", StringComparison.Ordinal)), "an attempt was made and deferred");

        Assert.Equal(1, await store.CountAsync(default));
        foreach (string file in Directory.GetFiles(alpha.DataDirectory, "*", SearchOption.AllDirectories))
        {
            string bytes = Encoding.Latin1.GetString(await ReadSharedAsync(file));
            Assert.DoesNotContain(marker, bytes, StringComparison.Ordinal);
            Assert.DoesNotContain("walrus", bytes, StringComparison.Ordinal);
            Assert.DoesNotContain("slow.test", bytes, StringComparison.Ordinal);
        }

        // the log names neither the recipient nor the content
        Assert.DoesNotContain("walrus", alpha.Log.All, StringComparison.Ordinal);
        Assert.DoesNotContain(marker, alpha.Log.All, StringComparison.Ordinal);
    }

    private static async Task<byte[]> ReadSharedAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }
}
