using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Letterlock.Web.Tests;

/// <summary>
/// The web app's own security (docs/design/web.md, "Security model"), each property over real HTTP against the app on
/// loopback: where it listens, how a login link becomes a session, CSRF on every state change, the headers, DNS
/// rebinding, secrets kept out of URLs and logs, and the limits on uploads at their edge.
/// </summary>
public sealed class WebSecurityTests : IAsyncLifetime
{
    private const int MaxAttachment = 64 * 1024;
    private const int MaxJson = 16 * 1024;
    private WebFixture _app = null!;
    private WebClient _client = null!;

    public async Task InitializeAsync()
    {
        _app = await WebFixture.StartAsync(new WebOptions
        {
            MaxAttachmentBytes = MaxAttachment, MaxJsonBytes = MaxJson, MaxUploadsPerSession = 3, MaxUploadBytesPerSession = 3 * MaxAttachment,
            LoginLinkLifetime = TimeSpan.FromMinutes(10), SessionIdleTimeout = TimeSpan.FromMinutes(30),
        }, manualTime: true);
        _client = new WebClient(_app.Web.Url);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    private string AccountPath => $"/api/accounts/{Json.Id(_app.Alice.Id.Value)}";

    [Fact]
    public async Task It_listens_on_loopback_only()
    {
        Assert.Equal(IPAddress.Loopback, _app.Web.EndPoint.Address);
        Assert.Equal("127.0.0.1", _app.Web.Url.Host);
        // Every address of this machine that is not loopback refuses the port.
        var others = (await System.Net.Dns.GetHostAddressesAsync(System.Net.Dns.GetHostName())).Where(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a)).ToList();
        foreach (var address in others)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await Assert.ThrowsAnyAsync<SocketException>(() => socket.ConnectAsync(address, _app.Web.EndPoint.Port));
        }

        using var loopback = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await loopback.ConnectAsync(IPAddress.Loopback, _app.Web.EndPoint.Port);
    }

    [Fact]
    public async Task A_login_link_is_good_once_and_becomes_an_HttpOnly_SameSite_Strict_cookie()
    {
        var link = _app.Web.NewLoginLink();
        // The token travels in the fragment: no request line, log or Referer ever carries it.
        Assert.Equal("", link.Query);
        Assert.Equal("/login", link.AbsolutePath);
        Assert.Equal(44, link.Fragment.Length);

        using var signedIn = await _client.SignInAsync(link);
        Assert.Equal(HttpStatusCode.OK, signedIn.StatusCode);
        var cookie = signedIn.Headers.GetValues("Set-Cookie").Single();
        Assert.StartsWith($"letterlock_session_{_app.Web.Url.Port}=", cookie, StringComparison.Ordinal);
        Assert.Contains("; HttpOnly", cookie, StringComparison.Ordinal);
        Assert.Contains("; SameSite=Strict", cookie, StringComparison.Ordinal);
        Assert.Contains("; Path=/", cookie, StringComparison.Ordinal);
        Assert.DoesNotContain("Max-Age", cookie, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/api/accounts")).StatusCode);

        using var second = new WebClient(_app.Web.Url);
        using var again = await second.SignInAsync(link);
        Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
        using var made = await second.SignInAsync(new Uri(_app.Web.Url, "login#" + new string('A', 43)));
        Assert.Equal(HttpStatusCode.Unauthorized, made.StatusCode);
    }

    [Fact]
    public async Task A_login_link_expires_at_its_lifetime_and_a_session_at_its_idle_timeout()
    {
        var atLimit = _app.Web.NewLoginLink();
        var overLimit = _app.Web.NewLoginLink();
        _app.Time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        using (var response = await _client.SignInAsync(atLimit))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        _app.Time.Advance(TimeSpan.FromSeconds(1));
        using (var other = new WebClient(_app.Web.Url))
        using (var response = await other.SignInAsync(overLimit))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        // The session was last used when it signed in, a second ago: idle exactly its timeout, it still works.
        _app.Time.Advance(TimeSpan.FromMinutes(30) - TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/api/accounts")).StatusCode);
        _app.Time.Advance(TimeSpan.FromMinutes(30) + TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.Unauthorized, (await _client.GetAsync("/api/accounts")).StatusCode);
    }

    [Fact]
    public async Task A_link_from_another_process_is_kept_hashed_in_the_store_and_good_once()
    {
        var link = await WebHost.NewLoginLinkAsync(_app.Store, _app.Web.Url);
        string token = link.Fragment.TrimStart('#');
        Assert.Equal(_app.Web.Url, await WebHost.FindAsync(_app.Store));
        // The store holds only the token's hash, sealed; the raw file has neither.
        _app.Store.Dispose();
        var file = await File.ReadAllBytesAsync(Path.Combine(_app.Directory, "client.db"));
        Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.ASCII.GetBytes(token)));
        Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.ASCII.GetBytes(Security.WebSessions.Hash(token))));
    }

    [Fact]
    public async Task A_link_from_another_process_signs_in_once()
    {
        var link = await WebHost.NewLoginLinkAsync(_app.Store, _app.Web.Url);
        using (var response = await _client.SignInAsync(link))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var other = new WebClient(_app.Web.Url);
        using var again = await other.SignInAsync(link);
        Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
    }

    [Fact]
    public async Task Every_API_request_needs_the_cookie_and_the_CSRF_token()
    {
        await _client.SignInAsync(_app.Web.NewLoginLink());
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/api/accounts")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await _client.SendAsync(HttpMethod.Get, "/api/accounts", csrf: false, origin: null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _client.SendAsync(HttpMethod.Get, "/api/accounts", cookie: false, origin: null)).StatusCode);
        var token = _client.Csrf;
        _client.Csrf = token![..^1] + (token[^1] == 'A' ? 'B' : 'A');
        Assert.Equal(HttpStatusCode.Forbidden, (await _client.GetAsync("/api/accounts")).StatusCode);
    }

    [Fact]
    public async Task Every_state_changing_route_refuses_a_request_without_the_CSRF_token_or_from_another_origin()
    {
        await _client.SignInAsync(_app.Web.NewLoginLink());
        var changing = _app.Web.Routes.Where(r => r.Method is not ("GET" or "HEAD")).ToList();
        Assert.True(changing.Count >= 15, string.Join(", ", changing));
        var messageId = (await _app.DeliverAsync(WebFixture.Mime("csrf", "body"))).Id.Value;
        foreach (var (method, pattern) in changing)
        {
            string path = pattern.Replace("{account}", Json.Id(_app.Alice.Id.Value), StringComparison.Ordinal)
                .Replace("{message}", Json.Id(messageId), StringComparison.Ordinal)
                .Replace("{address}", "bob@beta.test", StringComparison.Ordinal)
                .Replace("{upload}", "x", StringComparison.Ordinal);
            if (method == "*")
            {
                // The fallback: anything but a read outside the API is refused before it reaches a route.
                Assert.Equal(HttpStatusCode.MethodNotAllowed, (await _client.SendAsync(HttpMethod.Post, "/anything", new { })).StatusCode);
                continue;
            }

            if (path == "/api/session" && method == "POST")
            {
                // Signing in has no session yet; it is guarded by the one-time token and the origin checks below.
                Assert.Equal(HttpStatusCode.Forbidden, (await _client.SendAsync(HttpMethod.Post, path, new { token = "x" }, origin: "http://evil.test")).StatusCode);
                continue;
            }

            var verb = new HttpMethod(method);
            Assert.True(HttpStatusCode.Forbidden == (await _client.SendAsync(verb, path, new { }, csrf: false)).StatusCode, $"{method} {path} without CSRF token");
            Assert.True(HttpStatusCode.Forbidden == (await _client.SendAsync(verb, path, new { }, origin: "http://evil.test")).StatusCode, $"{method} {path} from another origin");
            Assert.True(HttpStatusCode.Forbidden == (await _client.SendAsync(verb, path, new { }, origin: null, fetchSite: "cross-site")).StatusCode, $"{method} {path} cross-site");
            Assert.True(HttpStatusCode.Forbidden == (await _client.SendAsync(verb, path, new { }, origin: $"http://127.0.0.1:{_app.Web.Url.Port + 1}")).StatusCode,
                $"{method} {path} from another port");
        }

        // Nothing was changed by any of them.
        var message = (await _app.Store.Mail(_app.Alice.Id).GetAsync(new Client.MessageId(messageId)))!;
        Assert.Empty(message.Flags);
    }

    [Fact]
    public async Task A_form_post_from_another_site_cannot_reach_a_route()
    {
        await _client.SignInAsync(_app.Web.NewLoginLink());
        // What a cross-site HTML form can send: no custom header, a form content type. Even with the cookie it fails.
        using var form = new FormUrlEncodedContent([new KeyValuePair<string, string>("seen", "true")]);
        var response = await _client.SendAsync(HttpMethod.Post, AccountPath + "/policy", csrf: false, origin: "null", fetchSite: "cross-site", content: form);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        // And with every header right but a form body, the route wants JSON.
        using var form2 = new FormUrlEncodedContent([new KeyValuePair<string, string>("policy", "EncryptedOnly")]);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await _client.SendAsync(HttpMethod.Post, AccountPath + "/policy", content: form2)).StatusCode);
    }

    [Fact]
    public async Task Every_answer_carries_a_strict_CSP_and_the_frame_its_own_sandbox()
    {
        await _client.SignInAsync(_app.Web.NewLoginLink());
        var message = await _app.DeliverAsync(WebFixture.Mime("csp", "<p>hi</p>", contentType: "text/html; charset=utf-8"));
        foreach (var path in new[] { "/", "/login", "/static/js/app.js", "/static/app.css", "/api/accounts", "/api/ping", "/nothing-here" })
        {
            using var response = await _client.GetAsync(path);
            var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
            Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
            Assert.Contains("default-src 'none'", csp, StringComparison.Ordinal);
            Assert.Contains("require-trusted-types-for 'script'", csp, StringComparison.Ordinal);
            Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
            Assert.DoesNotContain("unsafe-eval", csp, StringComparison.Ordinal);
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
            Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        }

        using var frame = await _client.SendAsync(HttpMethod.Get, $"/frame/{Json.Id(_app.Alice.Id.Value)}/{Json.Id(message.Id.Value)}", csrf: false, origin: null);
        Assert.Equal(HttpStatusCode.OK, frame.StatusCode);
        var frameCsp = string.Join(";", frame.Headers.GetValues("Content-Security-Policy"));
        Assert.StartsWith("sandbox allow-popups allow-popups-to-escape-sandbox;", frameCsp, StringComparison.Ordinal);
        Assert.DoesNotContain("allow-scripts", frameCsp, StringComparison.Ordinal);
        Assert.DoesNotContain("allow-same-origin", frameCsp, StringComparison.Ordinal);
        Assert.DoesNotContain("allow-forms", frameCsp, StringComparison.Ordinal);
        Assert.Contains("img-src data:;", frameCsp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'self'", frameCsp, StringComparison.Ordinal);
        // The front end has no inline script or handler to allow.
        var index = await (await _client.GetAsync("/")).Content.ReadAsStringAsync();
        Assert.DoesNotMatch(@"<script(?![^>]*\bsrc=)", index);
        Assert.DoesNotMatch(@"\son[a-z]+=", index);
    }

    [Fact]
    public async Task The_frame_needs_the_session_and_a_same_origin_request()
    {
        await _client.SignInAsync(_app.Web.NewLoginLink());
        var message = await _app.DeliverAsync(WebFixture.Mime("frame", "text"));
        string path = $"/frame/{Json.Id(_app.Alice.Id.Value)}/{Json.Id(message.Id.Value)}";
        Assert.Equal(HttpStatusCode.Unauthorized, (await _client.SendAsync(HttpMethod.Get, path, cookie: false, origin: null)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await _client.SendAsync(HttpMethod.Get, path, origin: null, fetchSite: "cross-site")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await _client.SendAsync(HttpMethod.Get, path, origin: null, fetchSite: "none")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(HttpMethod.Get, path, csrf: false, origin: null)).StatusCode);
    }

    [Theory]
    [InlineData("evil.test")]
    [InlineData("rebind.attacker.example")]
    [InlineData("127.0.0.1.nip.io")]
    [InlineData("0x7f000001")]
    public async Task A_host_name_other_than_127_0_0_1_or_localhost_is_refused(string name)
    {
        await _client.SignInAsync(_app.Web.NewLoginLink());
        int port = _app.Web.Url.Port;
        foreach (var path in new[] { "/", "/api/accounts", "/static/js/app.js" })
        {
            using var response = await _client.SendAsync(HttpMethod.Get, path, origin: null, host: $"{name}:{port}");
            Assert.Equal(HttpStatusCode.MisdirectedRequest, response.StatusCode);
            Assert.DoesNotContain("alice", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.MisdirectedRequest, (await _client.SendAsync(HttpMethod.Get, "/", origin: null, host: $"127.0.0.1:{port + 1}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(HttpMethod.Get, "/api/accounts", origin: null, host: $"localhost:{port}")).StatusCode);
    }

    [Fact]
    public async Task No_secret_reaches_the_log_or_a_URL_the_app_serves()
    {
        var link = _app.Web.NewLoginLink();
        await _client.SignInAsync(link);
        var message = await _app.DeliverAsync(WebFixture.Mime("Quarterly secret plans", "The launch code is Walrus-8841."));
        var id = Json.Id(message.Id.Value);
        var view = await _client.GetJsonAsync($"{AccountPath}/messages/{id}");
        await _client.GetAsync($"/frame/{Json.Id(_app.Alice.Id.Value)}/{id}");
        await _client.PostJsonAsync($"{AccountPath}/messages/{id}/flags", new { seen = true });
        // A failing request is logged, with the route's shape only.
        using var bad = await _client.SendAsync(HttpMethod.Post, $"{AccountPath}/messages/{id}/attachments/0", new { });
        string log = string.Join("\n", _app.Log);
        foreach (var secret in new[] { link.Fragment.TrimStart('#'), _client.Cookie!, _client.Csrf!, "Walrus-8841", "Quarterly", "alice@alpha.test", id })
        {
            Assert.DoesNotContain(secret, log, StringComparison.Ordinal);
        }

        // The frame's address names ids only.
        Assert.Equal($"/frame/{Json.Id(_app.Alice.Id.Value)}/{id}", view.Str("frameUrl"));
    }

    [Fact]
    public async Task An_attachment_upload_is_refused_one_byte_over_its_limit_and_the_session_limits_hold()
    {
        await _client.SignInAsync(_app.Web.NewLoginLink());
        async Task<HttpResponseMessage> Upload(int size)
        {
            var content = new ByteArrayContent(new byte[size]);
            content.Headers.ContentType = Json.Octets;
            content.Headers.Add("X-File-Name", Uri.EscapeDataString("report ü.bin"));
            return await _client.SendAsync(HttpMethod.Post, AccountPath + "/uploads", content: content);
        }

        using (var atLimit = await Upload(MaxAttachment))
        {
            Assert.Equal(HttpStatusCode.Created, atLimit.StatusCode);
            var dto = JsonDocument.Parse(await atLimit.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("report ü.bin", dto.Str("name"));
            Assert.Equal(MaxAttachment, dto.GetProperty("size").GetInt32());
        }

        using (var over = await Upload(MaxAttachment + 1))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, over.StatusCode);
            Assert.Contains("MaxAttachmentBytes", await over.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.Created, (await Upload(10)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Upload(10)).StatusCode);
        using var fourth = await Upload(10);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, fourth.StatusCode);
        Assert.Contains("MaxUploadsPerSession", await fourth.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_JSON_body_is_refused_one_byte_over_its_limit()
    {
        await _client.SignInAsync(_app.Web.NewLoginLink());
        HttpContent Body(int size)
        {
            // {"policy":"Opportunistic","pad":"xxx..."} padded to exactly `size` bytes.
            string head = "{\"policy\":\"Opportunistic\",\"pad\":\"";
            string tail = "\"}";
            return new StringContent(head + new string('x', size - head.Length - tail.Length) + tail, Encoding.UTF8, "application/json");
        }

        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(HttpMethod.Post, AccountPath + "/policy", content: Body(MaxJson))).StatusCode);
        using var over = await _client.SendAsync(HttpMethod.Post, AccountPath + "/policy", content: Body(MaxJson + 1));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, over.StatusCode);
        Assert.Contains("MaxJsonBytes", await over.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_limit_is_checked_when_set_and_named_in_the_error()
    {
        var options = new WebOptions();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxAttachmentBytes = 0);
        Assert.Contains(nameof(WebOptions.MaxAttachmentBytes), e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.Port = 65536);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.LoginLinkLifetime = TimeSpan.FromSeconds(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxJsonBytes = 10);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxPageSize = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.DeviceApprovalTimeout = TimeSpan.FromSeconds(9));
        Assert.Throws<ArgumentOutOfRangeException>(() => options.DeviceApprovalTimeout = TimeSpan.FromHours(1) + TimeSpan.FromTicks(1));
        options.DeviceApprovalTimeout = TimeSpan.FromSeconds(10);
        options.DeviceApprovalTimeout = TimeSpan.FromHours(1);
        options.MaxAttachmentBytes = 1024;
        Assert.Equal(1024, options.MaxAttachmentBytes);
    }

    [Fact]
    public async Task Signing_out_ends_the_session()
    {
        await _client.SignInAsync(_app.Web.NewLoginLink());
        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(HttpMethod.Delete, "/api/session")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _client.GetAsync("/api/accounts")).StatusCode);
        Assert.Equal(0, _app.Web.SessionCount);
    }
}
