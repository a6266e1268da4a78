using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Letterlock.Provider.Hosting;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Xunit.Abstractions;

namespace Letterlock.Provider.Tests;

/// <summary>
/// Durability (DESIGN.md section 7, invariant 3) and the cluster: the provider runs as a real child
/// process, is killed with SIGKILL under load, restarted, and checked.
/// </summary>
[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed class CrashAndClusterTests(PostgresServer postgres, ITestOutputHelper output)
{
    private const int Sessions = 20;

    [Theory]
    [InlineData(Backend.Sqlite)]
    [InlineData(Backend.Postgres)]
    public async Task Every_message_acknowledged_before_SIGKILL_is_present_exactly_once_and_decrypts(Backend backend)
    {
        string directory = TestProvider.CreateDirectory();
        string data = TestProvider.InitializeForProcess(directory);
        string? database = backend == Backend.Postgres ? await postgres.CreateDatabaseAsync() : null;
        try
        {
            TestAccount alice;
            var acknowledged = new ConcurrentBag<string>();
            await using (var first = await ProviderProcess.StartAsync(data, database))
            {
                using var api = new ApiClient(first.Https);
                alice = await api.CreateAccountAsync("alice@example.test");
                using var stop = new CancellationTokenSource();
                var senders = Enumerable.Range(0, Sessions).Select(session => SendUntilFailureAsync(first, session, acknowledged, stop.Token)).ToList();
                var watch = Stopwatch.StartNew();
                while (acknowledged.Count < 400 && watch.Elapsed < TimeSpan.FromSeconds(60))
                {
                    await Task.Delay(20);
                }

                await first.KillAsync();
                await stop.CancelAsync();
                await Task.WhenAll(senders);
                output.WriteLine($"{backend}: {acknowledged.Count} messages acknowledged before SIGKILL after {watch.ElapsedMilliseconds} ms");
                Assert.True(acknowledged.Count >= 400, "the load ran long enough to be interrupted mid-flight");
            }

            await using var second = await ProviderProcess.StartAsync(data, database);
            using var client = new ApiClient(second.Https);
            await client.LoginAsync(alice);
            var inbox = await client.FetchInboxAsync(alice);
            var subjects = new List<string>();
            foreach (var (_, raw) in inbox)
            {
                var message = await MimeMessage.LoadAsync(new MemoryStream(raw));
                subjects.Add(message.Subject!);
                Assert.Equal(10 * 1024, message.TextBody!.Length);
            }

            output.WriteLine($"{backend}: {subjects.Count} messages stored after restart");
            Assert.Equal(subjects.Count, subjects.Distinct().Count());
            foreach (string id in acknowledged)
            {
                Assert.Contains(id, subjects);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task SendUntilFailureAsync(ProviderProcess provider, int session, ConcurrentBag<string> acknowledged, CancellationToken stop)
    {
        try
        {
            using var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 20_000 };
            await smtp.ConnectAsync("127.0.0.1", provider.Smtp.Port, SecureSocketOptions.None, stop);
            for (int n = 0; !stop.IsCancellationRequested; n++)
            {
                string id = $"msg-{session}-{n}";
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse($"load{session}@sender.test"));
                message.To.Add(MailboxAddress.Parse("alice@example.test"));
                message.Subject = id;
                message.Body = new TextPart("plain") { Text = new string((char)('a' + (n % 26)), 10 * 1024) };
                await smtp.SendAsync(message, stop);
                acknowledged.Add(id);
            }
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or SmtpCommandException or OperationCanceledException or MailKit.ServiceNotConnectedException or MailKit.ProtocolException)
        {
            // the provider was killed: this session's last message was never acknowledged
        }
    }

    [Fact]
    public async Task SIGTERM_stops_the_provider_cleanly()
    {
        string directory = TestProvider.CreateDirectory();
        try
        {
            await using var provider = await ProviderProcess.StartAsync(TestProvider.InitializeForProcess(directory), null);
            Assert.Equal(0, await provider.TerminateAsync());
            Assert.Contains("stopping", provider.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_message_accepted_by_one_process_wakes_a_client_waiting_on_another()
    {
        string directory = TestProvider.CreateDirectory();
        string data = TestProvider.InitializeForProcess(directory);
        string database = await postgres.CreateDatabaseAsync();
        try
        {
            await using var a = await ProviderProcess.StartAsync(data, database);
            await using var b = await ProviderProcess.StartAsync(data, database);
            using var apiA = new ApiClient(a.Https);
            var alice = await apiA.CreateAccountAsync("alice@example.test");
            using var apiB = new ApiClient(b.Https);
            await apiB.LoginAsync(alice);
            var start = await apiB.ChangesAsync(0);

            var poll = apiB.ChangesAsync(start.Next, wait: 30);
            await Task.Delay(500);
            Assert.False(poll.IsCompleted);
            using var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
            await smtp.ConnectAsync("127.0.0.1", a.Smtp.Port, SecureSocketOptions.StartTls);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("carol@sender.test"));
            message.To.Add(MailboxAddress.Parse("alice@example.test"));
            message.Subject = "across the cluster";
            message.Body = new TextPart("plain") { Text = "hello" };
            await smtp.SendAsync(message);
            var accepted = Stopwatch.StartNew();
            var changes = await poll;
            accepted.Stop();
            output.WriteLine($"client on B woken {accepted.ElapsedMilliseconds} ms after A answered 250");
            var change = Assert.Single(changes.Changes);
            Assert.Equal("inbox", change.Kind);
            // woken by LISTEN/NOTIFY, not by the 30 s long-poll timeout
            Assert.True(accepted.Elapsed < TimeSpan.FromSeconds(10), $"woken after {accepted.ElapsedMilliseconds} ms");
            var opened = ApiClient.Open(alice, await apiB.GetBytesAsync(change.Id));
            Assert.Contains("across the cluster", Encoding.UTF8.GetString(opened), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
