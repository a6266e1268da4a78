using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Letterlock.Client.Net;
using Letterlock.Provider.Hosting;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Letterlock.Client.Tests.Sync;

/// <summary>
/// A real provider for alpha.test (in-process, loopback, SQLite, open sign-up) under <c>DIR/provider</c>, and an
/// HTTPS client that reaches it by name and trusts only its certificate.
/// </summary>
internal sealed class LocalProvider : IAsyncDisposable
{
    private LocalProvider(ProviderHost host, HttpClient http, string dataDirectory)
    {
        Host = host;
        Http = http;
        DataDirectory = dataDirectory;
    }

    public ProviderHost Host { get; }

    public HttpClient Http { get; }

    public string DataDirectory { get; }

    /// <summary>
    /// Starts the provider; <paramref name="wrap"/> may put a handler in front of the HTTPS one (to record requests, say);
    /// <paramref name="dns"/> answers its SPF, DKIM and DMARC lookups (default: no records at all);
    /// <paramref name="settings"/> may change provider.json before it starts.
    /// </summary>
    public static async Task<LocalProvider> StartAsync(TempDir dir, DelegatingHandler? wrap = null, Letterlock.Dns.StaticDnsResolver? dns = null,
        Action<JsonNode>? settings = null)
    {
        var data = Path.Combine(dir.Path, "provider");
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", data, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
        if (settings is not null)
        {
            var path = Path.Combine(data, "provider.json");
            var node = JsonNode.Parse(await File.ReadAllTextAsync(path), null, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })!;
            settings(node);
            await File.WriteAllTextAsync(path, node.ToJsonString());
        }

        var host = await ProviderHost.StartAsync(data, null, dns ?? new Letterlock.Dns.StaticDnsResolver(), LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
        var map = new StaticHostMap { AllowSystemDns = false }.Add("alpha.test", host.HttpsEndPoint);
        var roots = new X509Certificate2Collection(X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(data, "tls", "cert.pem"))));
        HttpMessageHandler handler = HttpFetch.CreateHandler(map, roots);
        if (wrap is not null)
        {
            wrap.InnerHandler = handler;
            handler = wrap;
        }

        return new LocalProvider(host, new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan }, data);
    }

    /// <summary>Delivers a plain message from carol@elsewhere.test to alice (or <paramref name="to"/>) over SMTP, as any MTA would.</summary>
    public async Task DeliverAsync(string subject, string body, string to = "alice@alpha.test")
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Carol", "carol@elsewhere.test"));
        message.To.Add(new MailboxAddress(null, to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = body };
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", Host.SmtpEndPoint.Port, SecureSocketOptions.None);
        await smtp.SendAsync(message);
        await smtp.DisconnectAsync(true);
    }

    /// <summary>Delivers <paramref name="message"/> over SMTP from 127.0.0.1 with the given envelope, as any MTA would.</summary>
    public async Task DeliverAsync(MimeMessage message, string mailFrom, params string[] recipients)
    {
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", Host.SmtpEndPoint.Port, SecureSocketOptions.None);
        await smtp.SendAsync(message, new MailboxAddress(null, mailFrom), recipients.Select(r => new MailboxAddress(null, r)));
        await smtp.DisconnectAsync(true);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Host.DisposeAsync();
    }
}
