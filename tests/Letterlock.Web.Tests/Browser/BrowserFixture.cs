using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Letterlock.Client.Store;
using Letterlock.Sandbox;
using Microsoft.Playwright;

namespace Letterlock.Web.Tests.Browser;

/// <summary>
/// What the browser tests share, started once: the sandbox (two providers, alice's and bob's devices with their
/// bridges and web apps, the first message from alice to bob delivered), Debian's headless Chromium driven through
/// Playwright, and a "remote" HTTP server on loopback that counts every request a page makes to it, so a test can
/// prove that mail content loaded nothing.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>Where Debian's chromium package puts the browser (scripts/install-test-deps installs it).</summary>
    public const string ChromiumPath = "/usr/bin/chromium";

    public static readonly TimeSpan Generous = TimeSpan.FromMinutes(3);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-browser-" + Guid.NewGuid().ToString("N"));
    private IPlaywright? _playwright;
    private TcpListener? _canaryListener;
    private Task? _canaryLoop;
    private readonly CancellationTokenSource _stop = new();

    public SandboxEnvironment Sandbox { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Paths requested from the canary server, in order.</summary>
    public ConcurrentQueue<string> CanaryHits { get; } = new();

    /// <summary>The canary server's address, e.g. <c>http://127.0.0.1:40123</c>.</summary>
    public string Canary { get; private set; } = "";

    /// <summary>Where screenshots go: <c>$LETTERLOCK_SCREENSHOTS</c> (scripts/screenshots sets it to docs/screenshots), else a temporary folder.</summary>
    public string Screenshots { get; } = Environment.GetEnvironmentVariable("LETTERLOCK_SCREENSHOTS") is { Length: > 0 } dir
        ? dir
        : Path.Combine(Path.GetTempPath(), "letterlock-screenshots-" + Guid.NewGuid().ToString("N"));

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Screenshots);
        _canaryListener = new TcpListener(IPAddress.Loopback, 0);
        _canaryListener.Start();
        Canary = $"http://127.0.0.1:{((IPEndPoint)_canaryListener.LocalEndpoint).Port}";
        _canaryLoop = CanaryLoopAsync(_canaryListener, _stop.Token);

        using var timeout = new CancellationTokenSource(Generous);
        Sandbox = await SandboxEnvironment.StartAsync(new SandboxOptions { DataDirectory = _dir }, ct: timeout.Token);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // Running as root needs --no-sandbox; the rest keeps Chromium from reaching for the network on its own.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage"],
            Timeout = (float)Generous.TotalMilliseconds,
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        if (Sandbox is not null)
        {
            await Sandbox.DisposeAsync();
        }

        await _stop.CancelAsync();
        _canaryListener?.Stop();
        if (_canaryLoop is not null)
        {
            await _canaryLoop;
        }

        _stop.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public LocalStore AliceStore => Sandbox.Clients[0].Store;

    public LocalStore BobStore => Sandbox.Clients[1].Store;

    public WebHost AliceWeb => Sandbox.Webs[0];

    public WebHost BobWeb => Sandbox.Webs[1];

    /// <summary>A fresh browser context (its own cookies and storage) with every request it makes recorded.</summary>
    public async Task<(IBrowserContext Context, IPage Page, ConcurrentQueue<string> Requests)> NewPageAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 860 } });
        context.SetDefaultTimeout(60_000);
        var requests = new ConcurrentQueue<string>();
        context.Request += (_, request) => requests.Enqueue(request.Url);
        var page = await context.NewPageAsync();
        // What the page said (errors above all) goes with a failure, so a red run shows why.
        page.Console += (_, message) => Console.Enqueue($"{message.Type}: {message.Text}");
        page.PageError += (_, error) => Console.Enqueue("page error: " + error);
        return (context, page, requests);
    }

    /// <summary>The browser's console messages and page errors, of every page.</summary>
    public ConcurrentQueue<string> Console { get; } = new();

    /// <summary>No page threw: a script error in the front end fails the test that met it.</summary>
    public void AssertNoPageErrors()
    {
        var errors = Console.Where(m => m.StartsWith("page error", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    /// <summary>Opens a login link and waits for the inbox.</summary>
    public async Task LogInAsync(IPage page, Uri link)
    {
        await page.GotoAsync(link.ToString());
        try
        {
            await page.WaitForSelectorAsync("#message-list, .folder-view");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"the inbox did not show; the page said:\n{string.Join("\n", Console)}\n{await page.Locator("#main").InnerTextAsync()}", e);
        }
    }

    public async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, name + ".png") });

    /// <summary>Answers every request with a 1x1 GIF and remembers its path: anything a page loads from here is evidence.</summary>
    private async Task CanaryLoopAsync(TcpListener listener, CancellationToken ct)
    {
        byte[] gif = Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///ywAAAAAAQABAAACAUwAOw==");
        while (!ct.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        var stream = client.GetStream();
                        using var reader = new StreamReader(stream, leaveOpen: true);
                        var line = await reader.ReadLineAsync(ct);
                        if (line is not null)
                        {
                            CanaryHits.Enqueue(line.Split(' ') is [_, var path, ..] ? path : line);
                        }

                        while (!string.IsNullOrEmpty(await reader.ReadLineAsync(ct)))
                        {
                        }

                        var header = System.Text.Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\nContent-Length: {gif.Length}\r\nConnection: close\r\n\r\n");
                        await stream.WriteAsync(header, ct);
                        await stream.WriteAsync(gif, ct);
                    }
                    catch (Exception e) when (e is IOException or OperationCanceledException)
                    {
                    }
                }
            }, ct);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
