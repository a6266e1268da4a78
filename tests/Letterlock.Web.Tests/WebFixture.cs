using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Letterlock.Bridge;
using Letterlock.Client;
using Letterlock.Client.Discovery;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;

// The tests run on Linux (CI and the sandbox).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Letterlock.Web.Tests;

/// <summary>
/// A client store with alice's account (her own OpenPGP key, no provider), the bridge over it (free ports, no
/// background sync, no DNS) and the web app on a free port: what every HTTP-level test of the app starts from.
/// </summary>
internal sealed class WebFixture : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-web-" + Guid.NewGuid().ToString("N"));

    public LocalStore Store { get; private set; } = null!;

    public BridgeHost Bridge { get; private set; } = null!;

    public WebHost Web { get; private set; } = null!;

    public AccountRecord Alice { get; private set; } = null!;

    public ManualTime Time { get; } = new(new DateTimeOffset(2025, 3, 4, 5, 6, 7, TimeSpan.Zero));

    public List<string> Log { get; } = [];

    public string Directory => _dir;

    public static async Task<WebFixture> StartAsync(WebOptions? options = null, bool manualTime = false)
    {
        var fixture = new WebFixture();
        System.IO.Directory.CreateDirectory(fixture._dir);
        fixture.Store = await LocalStore.CreateAsync(Path.Combine(fixture._dir, "client.db"), StoreUnlock.WithPassphrase("web test"),
            new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
        fixture.Alice = await fixture.Store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
        await AccountKeys.GenerateAsync(fixture.Store, fixture.Alice);
        fixture.Bridge = await BridgeHost.StartAsync(fixture.Store, new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, SyncInterval = null, MonitorTransparency = false,
            HostMap = new StaticHostMap { AllowSystemDns = false },
            Discovery = new KeyDiscoveryOptions { HkpServers = [] },
        });
        options ??= new WebOptions();
        options.Port = 0;
        fixture.Web = await WebHost.StartAsync(fixture.Bridge, options, line => { lock (fixture.Log) { fixture.Log.Add(line); } },
            manualTime ? fixture.Time : null);
        return fixture;
    }

    /// <summary>Adds a message the way sync stores one: decrypted MIME with its security summary.</summary>
    public async Task<StoredMessage> DeliverAsync(string mime, MessageSecurity? security = null, string folder = "INBOX", string[]? flags = null)
    {
        var bytes = Encoding.UTF8.GetBytes(mime.ReplaceLineEndings("\r\n"));
        var (summary, index) = MessageSummaryBuilder.Build(bytes, DateTimeOffset.UtcNow, security ?? MessageSecurity.Plain);
        var target = (await Store.Mail(Alice.Id).FindFolderAsync(folder))!;
        return (await Store.Mail(Alice.Id).AppendAsync(target.Id, new NewMessage(summary, bytes, flags ?? [], index))).Done;
    }

    public static string Mime(string subject, string body, string from = "Bob <bob@beta.test>", string contentType = "text/plain; charset=utf-8",
        string? messageId = null, string? inReplyTo = null) =>
        $"From: {from}\nTo: Alice <alice@alpha.test>\nSubject: {subject}\nDate: Tue, 01 Apr 2025 10:00:00 +0000\n" +
        $"Message-ID: <{messageId ?? Guid.NewGuid().ToString("N") + "@beta.test"}>\n" +
        (inReplyTo is null ? "" : $"In-Reply-To: <{inReplyTo}>\n") +
        $"MIME-Version: 1.0\nContent-Type: {contentType}\n\n{body}\n";

    /// <summary>Another account's public key, made in a store of its own, as a contact key of alice's.</summary>
    public async Task<KeyFingerprint> ObserveContactKeyAsync(string address, TransparencyVerdict? verdict = null)
    {
        using var other = await LocalStore.CreateAsync(Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".db"), StoreUnlock.WithPassphrase("other"),
            new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
        var account = await other.Accounts.CreateAsync(address, null, null);
        var parts = await AccountKeys.GenerateAsync(other, account);
        var key = await AccountKeys.LoadOpenPgpAsync(other, account.Id);
        var fingerprint = KeyFingerprint.Parse(key.Fingerprint.Hex);
        await Store.Contacts.ObserveKeyAsync(Alice.Id, address, new ObservedKey(fingerprint, parts.OpenPgpCertificate, KeyOrigin.Autocrypt),
            verdict ?? TransparencyVerdict.Absent);
        return fingerprint;
    }

    public async ValueTask DisposeAsync()
    {
        await Web.DisposeAsync();
        await Bridge.DisposeAsync();
        Store.Dispose();
        try
        {
            System.IO.Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// An HTTP client of the web app that behaves as a browser's page of the app does (same-origin headers, the session
/// cookie, the CSRF header), with every part switchable so tests can leave one out.
/// </summary>
internal sealed class WebClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly Uri _url;

    public WebClient(Uri url)
    {
        _url = url;
        _http = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = url, Timeout = TimeSpan.FromMinutes(2) };
    }

    public string? Cookie { get; set; }

    public string? Csrf { get; set; }

    public string CookieName => "letterlock_session_" + _url.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public string Origin => $"http://127.0.0.1:{_url.Port}";

    /// <summary>Signs in with a login link (the token is its fragment), as the page does.</summary>
    public async Task<HttpResponseMessage> SignInAsync(Uri link)
    {
        var response = await SendAsync(HttpMethod.Post, "/api/session", new { token = link.Fragment.TrimStart('#') }, csrf: false);
        if (response.IsSuccessStatusCode)
        {
            var setCookie = response.Headers.GetValues("Set-Cookie").Single();
            Cookie = setCookie.Split(';')[0].Split('=', 2)[1];
            Csrf = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("csrf").GetString();
        }

        return response;
    }

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, object? json = null, bool csrf = true, bool cookie = true,
        string? origin = "", string? fetchSite = "same-origin", string? host = null, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (cookie && Cookie is not null)
        {
            request.Headers.Add("Cookie", $"{CookieName}={Cookie}");
        }

        if (csrf && Csrf is not null)
        {
            request.Headers.Add("X-Letterlock-Csrf", Csrf);
        }

        if (origin is not null && (origin.Length > 0 || method != HttpMethod.Get))
        {
            request.Headers.Add("Origin", origin.Length > 0 ? origin : Origin);
        }

        if (fetchSite is not null)
        {
            request.Headers.Add("Sec-Fetch-Site", fetchSite);
        }

        if (host is not null)
        {
            request.Headers.Host = host;
        }

        if (content is not null)
        {
            request.Content = content;
        }
        else if (json is not null)
        {
            request.Content = new StringContent(JsonSerializer.Serialize(json), Encoding.UTF8, "application/json");
        }

        return _http.SendAsync(request);
    }

    public Task<HttpResponseMessage> GetAsync(string path) => SendAsync(HttpMethod.Get, path, origin: null);

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await GetAsync(path);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task<JsonElement> PostJsonAsync(string path, object body, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await SendAsync(HttpMethod.Post, path, body);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"POST {path}: {(int)response.StatusCode} {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public void Dispose() => _http.Dispose();
}

internal static class Json
{
    public static string Str(this JsonElement e, string name) => e.GetProperty(name).GetString()!;

    public static IEnumerable<JsonElement> Items(this JsonElement e, string? name = null) => (name is null ? e : e.GetProperty(name)).EnumerateArray();

    public static string Id(Guid id) => id.ToString("N");

    public static MediaTypeHeaderValue Octets => new("application/octet-stream");
}
