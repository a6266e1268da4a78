using System.Net;
using System.Text;

namespace Letterlock.Web.Tests;

/// <summary>Every other limit of <see cref="WebOptions"/> at its edge: at the limit passes, one over is refused (or the oldest goes).</summary>
public sealed class WebLimitTests : IAsyncLifetime
{
    private WebFixture _app = null!;
    private WebClient _client = null!;

    public async Task InitializeAsync()
    {
        _app = await WebFixture.StartAsync(new WebOptions
        {
            MaxRecipients = 3, MaxPageSize = 5, MaxSearchResults = 2, MaxSessions = 2, MaxPendingLoginLinks = 2, MaxRemoteImageSenders = 2,
            MaxUploadBytesPerSession = 3000, MaxAttachmentBytes = 2000, MaxInlineImageBytes = 70,
        });
        _client = new WebClient(_app.Web.Url);
        await _client.SignInAsync(_app.Web.NewLoginLink());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    private string A => $"/api/accounts/{Json.Id(_app.Alice.Id.Value)}";

    [Fact]
    public async Task Recipients_at_MaxRecipients_pass_and_one_more_is_refused()
    {
        string[] three = ["a@old.test", "b@old.test", "c@old.test"];
        await _client.PostJsonAsync(A + "/plan", new { recipients = three, onlyEncrypted = false });
        using var plan = await _client.SendAsync(HttpMethod.Post, A + "/plan", new { recipients = three.Append("d@old.test").ToArray(), onlyEncrypted = false });
        Assert.Equal(HttpStatusCode.BadRequest, plan.StatusCode);
        Assert.Contains("MaxRecipients", await plan.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await _client.PostJsonAsync(A + "/send", new { to = three, cc = Array.Empty<string>(), bcc = Array.Empty<string>(), subject = "s", text = "t", attachments = Array.Empty<object>(), onlyEncrypted = false });
        using var send = await _client.SendAsync(HttpMethod.Post, A + "/send", new { to = three, cc = new[] { "d@old.test" }, bcc = Array.Empty<string>(), subject = "s", text = "t", attachments = Array.Empty<object>(), onlyEncrypted = false });
        Assert.Equal(HttpStatusCode.BadRequest, send.StatusCode);
    }

    [Fact]
    public async Task A_page_of_MaxPageSize_passes_and_one_more_is_refused_and_search_lists_at_most_MaxSearchResults()
    {
        for (int i = 0; i < 3; i++)
        {
            await _app.DeliverAsync(WebFixture.Mime($"Pelican {i}", "pelican report"));
        }

        var inbox = (await _client.GetJsonAsync(A + "/folders")).Items().First(f => f.Str("role") == "Inbox").Str("id");
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync($"{A}/folders/{inbox}/messages?size=5")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _client.GetAsync($"{A}/folders/{inbox}/messages?size=6")).StatusCode);
        var search = await _client.GetJsonAsync($"{A}/search?q=pelican");
        Assert.Equal(3, search.GetProperty("total").GetInt32());
        Assert.Equal(2, search.Items("messages").Count());
        Assert.Contains("Showing 2 of 3", search.Str("detail"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_session_upload_bytes_stop_at_MaxUploadBytesPerSession()
    {
        async Task<HttpStatusCode> Upload(int size)
        {
            var content = new ByteArrayContent(new byte[size]);
            content.Headers.ContentType = Json.Octets;
            using var response = await _client.SendAsync(HttpMethod.Post, A + "/uploads", content: content);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.Created, await Upload(2000));
        Assert.Equal(HttpStatusCode.Created, await Upload(1000));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await Upload(1));
    }

    [Fact]
    public async Task The_oldest_session_and_login_link_make_room_at_their_limits()
    {
        using var second = new WebClient(_app.Web.Url);
        await second.SignInAsync(_app.Web.NewLoginLink());
        Assert.Equal(2, _app.Web.SessionCount);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/api/accounts")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync("/api/accounts")).StatusCode);
        using var third = new WebClient(_app.Web.Url);
        await third.SignInAsync(_app.Web.NewLoginLink());
        Assert.Equal(2, _app.Web.SessionCount);
        // The least recently used one (the first: the second was used after it) ended.
        Assert.Equal(HttpStatusCode.Unauthorized, (await _client.GetAsync("/api/accounts")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync("/api/accounts")).StatusCode);

        var oldest = _app.Web.NewLoginLink();
        var middle = _app.Web.NewLoginLink();
        var newest = _app.Web.NewLoginLink();
        using var a = new WebClient(_app.Web.Url);
        Assert.Equal(HttpStatusCode.Unauthorized, (await a.SignInAsync(oldest)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await a.SignInAsync(middle)).StatusCode);
        using var b = new WebClient(_app.Web.Url);
        Assert.Equal(HttpStatusCode.OK, (await b.SignInAsync(newest)).StatusCode);
    }

    [Fact]
    public async Task Remote_images_may_be_allowed_for_MaxRemoteImageSenders_senders()
    {
        await _client.PostJsonAsync(A + "/remote-images", new { sender = "one@shop.test", allow = true });
        await _client.PostJsonAsync(A + "/remote-images", new { sender = "two@shop.test", allow = true });
        using var third = await _client.SendAsync(HttpMethod.Post, A + "/remote-images", new { sender = "three@shop.test", allow = true });
        Assert.Equal(HttpStatusCode.Conflict, third.StatusCode);
        Assert.Contains("MaxRemoteImageSenders", await third.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await _client.PostJsonAsync(A + "/remote-images", new { sender = "one@shop.test", allow = false });
        await _client.PostJsonAsync(A + "/remote-images", new { sender = "three@shop.test", allow = true });
    }

    [Fact]
    public async Task A_cid_image_is_inlined_up_to_MaxInlineImageBytes_and_left_out_above()
    {
        // This 1x1 PNG is 70 bytes: at the limit it is inlined; a 71-byte one is left out (never fetched from anywhere).
        byte[] png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");
        Assert.Equal(70, png.Length);
        string Mime(byte[] image) => "From: a@b.test\nTo: alice@alpha.test\nSubject: img\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary=r\n\n" +
            "--r\nContent-Type: text/html\n\n<p>logo <img src=\"cid:l@x\"></p>\n--r\nContent-Type: image/png\nContent-ID: <l@x>\nContent-Transfer-Encoding: base64\n\n" +
            Convert.ToBase64String(image) + "\n--r--\n";
        var at = await _app.DeliverAsync(Mime(png));
        var over = await _app.DeliverAsync(Mime([.. png, 0]));
        string Frame(Guid id) => $"/frame/{Json.Id(_app.Alice.Id.Value)}/{Json.Id(id)}";
        Assert.Contains("data:image/png;base64,", await (await _client.GetAsync(Frame(at.Id.Value))).Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var html = await (await _client.GetAsync(Frame(over.Id.Value))).Content.ReadAsStringAsync();
        Assert.DoesNotContain("data:image/png", html, StringComparison.Ordinal);
        Assert.DoesNotContain("cid:", html, StringComparison.Ordinal);
        Assert.Contains("logo", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_password_of_MaxPasswordBytes_passes_the_check_and_one_more_byte_is_refused_and_an_account_without_provider_says_so()
    {
        // Alice's account here has no provider registration: a password that passes the length check meets that next.
        using var at = await _client.SendAsync(HttpMethod.Post, A + "/password", new { password = new string('é', Client.Accounts.AccountPassword.MaxPasswordBytes / 2) });
        Assert.Equal(HttpStatusCode.Conflict, at.StatusCode);
        Assert.Contains("not registered with a provider", await at.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var over = await _client.SendAsync(HttpMethod.Post, A + "/password", new { password = new string('é', Client.Accounts.AccountPassword.MaxPasswordBytes / 2) + "x" });
        Assert.Equal(HttpStatusCode.BadRequest, over.StatusCode);
        using var empty = await _client.SendAsync(HttpMethod.Post, A + "/password", new { password = "" });
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        foreach (var path in new[] { "/devices" })
        {
            Assert.Equal(HttpStatusCode.Conflict, (await _client.GetAsync(A + path)).StatusCode);
        }

        using var kit = await _client.SendAsync(HttpMethod.Post, A + "/recovery-kit", new { });
        Assert.Equal(HttpStatusCode.Conflict, kit.StatusCode);
        using var revoke = await _client.SendAsync(HttpMethod.Post, A + "/devices/" + Json.Id(Guid.NewGuid()) + "/revoke", new { });
        Assert.Equal(HttpStatusCode.Conflict, revoke.StatusCode);
        using var approve = await _client.SendAsync(HttpMethod.Post, A + "/devices/approve", new { code = "7KQ2M-X4D9TP" });
        Assert.Equal(HttpStatusCode.Conflict, approve.StatusCode);
        foreach (var code in new[] { "", "7KQ2M-X4D9T", "7KQ2M-X4D9TPQ", "7KQ2M-X4D9T!", "letterlock:link?code=" })
        {
            using var malformed = await _client.SendAsync(HttpMethod.Post, A + "/devices/approve", new { code });
            Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
            Assert.Contains("A link code has 11 letters and digits", await malformed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var noSuchApproval = await _client.SendAsync(HttpMethod.Post, A + "/devices/approve/" + new string('a', 32), new { same = true });
        Assert.Equal(HttpStatusCode.NotFound, noSuchApproval.StatusCode);
    }
}
