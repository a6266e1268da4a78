using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Xunit.Abstractions;

namespace Letterlock.Provider.Tests;

/// <summary>
/// <c>scripts/cluster</c> as an operator runs it: a private PostgreSQL, three <c>letterlock provider serve</c> nodes on
/// one settings file and Debian's haproxy in front. Mail sent through haproxy is read through every node directly.
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
            await RunScriptAsync("start", cluster, "--nodes", "3", "--domain", TestProvider.Domain);
            var env = (await File.ReadAllLinesAsync(Path.Combine(cluster, "cluster.env"))).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
            var front = new IPEndPoint(IPAddress.Loopback, int.Parse(env["HTTPS_PORT"], System.Globalization.CultureInfo.InvariantCulture));
            using var api = new ApiClient(front);
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
                await smtp.ConnectAsync("127.0.0.1", int.Parse(env["SMTP_PORT"], System.Globalization.CultureInfo.InvariantCulture), SecureSocketOptions.StartTls);
                await smtp.SendAsync(message);
                await smtp.DisconnectAsync(true);
            }

            for (int node = 1; node <= 3; node++)
            {
                using var direct = new ApiClient(new IPEndPoint(IPAddress.Loopback, int.Parse(env[$"NODE{node}_HTTPS"], System.Globalization.CultureInfo.InvariantCulture)));
                await direct.LoginAsync(alice);
                var (_, raw) = Assert.Single(await direct.FetchInboxAsync(alice));
                var parsed = await MimeMessage.LoadAsync(new MemoryStream(raw));
                Assert.Equal("through haproxy", parsed.Subject);
                using var decoded = new MemoryStream();
                await ((MimePart)parsed.Attachments.Single()).Content!.DecodeToAsync(decoded);
                Assert.Equal(attachment, decoded.ToArray());
            }

            // no node keeps blobs of its own: the shared data directory has no blob folder
            Assert.False(Directory.Exists(Path.Combine(env["DATA"], "blobs")));
        }
        finally
        {
            await RunScriptAsync("stop", cluster);
            Assert.Empty(Directory.EnumerateFiles(cluster, "*.pid"));
            Assert.False(File.Exists(Path.Combine(cluster, "postgres", "data", "postmaster.pid")));
            Directory.Delete(directory, recursive: true);
        }
    }

    private async Task RunScriptAsync(params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(RepositoryRoot(), "scripts", "cluster"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["LETTERLOCK"] = "dotnet " + Path.Combine(AppContext.BaseDirectory, "letterlock.dll");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        output.WriteLine(await stdout);
        output.WriteLine(await stderr);
        Assert.True(process.ExitCode == 0, $"scripts/cluster {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Letterlock.slnx")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
