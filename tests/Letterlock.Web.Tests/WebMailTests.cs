using System.Net;
using System.Text;
using System.Text.Json;
using Letterlock.Client;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;

namespace Letterlock.Web.Tests;

/// <summary>Reading and writing through the web app's API, against a real store and bridge.</summary>
public sealed class WebMailTests : IAsyncLifetime
{
    private WebFixture _app = null!;
    private WebClient _client = null!;

    public async Task InitializeAsync()
    {
        _app = await WebFixture.StartAsync();
        _client = new WebClient(_app.Web.Url);
        await _client.SignInAsync(_app.Web.NewLoginLink());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    private string A => $"/api/accounts/{Json.Id(_app.Alice.Id.Value)}";

    private async Task<string> FolderIdAsync(string role) =>
        (await _client.GetJsonAsync(A + "/folders")).Items().First(f => f.Str("role") == role).Str("id");

    [Fact]
    public async Task A_folder_pages_newest_first_and_its_counts_follow_every_change()
    {
        var mail = _app.Store.Mail(_app.Alice.Id);
        var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
        var batch = new List<NewMessage>();
        for (int i = 0; i < 260; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(WebFixture.Mime($"Message {i:D3}", $"body {i}").ReplaceLineEndings("\r\n"));
            var (summary, text) = MessageSummaryBuilder.Build(bytes, DateTimeOffset.UtcNow, MessageSecurity.Plain);
            batch.Add(new NewMessage(summary, bytes, i % 2 == 0 ? ["\\Seen"] : [], text));
        }

        (await mail.AppendAsync(inbox.Id, batch)).Done.ToString();
        string inboxId = Json.Id(inbox.Id.Value);
        var folders = await _client.GetJsonAsync(A + "/folders");
        var listed = folders.Items().First(f => f.Str("role") == "Inbox");
        Assert.Equal(260, listed.GetProperty("total").GetInt32());
        Assert.Equal(130, listed.GetProperty("unread").GetInt32());
        Assert.Equal("Inbox", folders.Items().First().Str("role"));

        var first = await _client.GetJsonAsync($"{A}/folders/{inboxId}/messages?offset=0&size=50");
        Assert.Equal(260, first.GetProperty("total").GetInt32());
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"Message {259 - i:D3}"), first.Items("messages").Select(m => m.Str("subject")));
        var last = await _client.GetJsonAsync($"{A}/folders/{inboxId}/messages?offset=250&size=50");
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"Message {9 - i:D3}"), last.Items("messages").Select(m => m.Str("subject")));
        Assert.Empty((await _client.GetJsonAsync($"{A}/folders/{inboxId}/messages?offset=260&size=50")).Items("messages"));
        Assert.Equal(HttpStatusCode.BadRequest, (await _client.GetAsync($"{A}/folders/{inboxId}/messages?size=201")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _client.GetAsync($"{A}/folders/{inboxId}/messages?offset=-1")).StatusCode);

        // A change through the app, one through the store (as sync or a mail app makes them): the counts follow both.
        var newest = first.Items("messages").First();
        Assert.False(newest.GetProperty("seen").GetBoolean());
        await _client.PostJsonAsync($"{A}/messages/{newest.Str("id")}/flags", new { seen = true, flagged = true });
        await _app.DeliverAsync(WebFixture.Mime("Arrived later", "new"));
        var after = await _client.GetJsonAsync($"{A}/folders/{inboxId}/messages?offset=0&size=2");
        Assert.Equal(261, after.GetProperty("total").GetInt32());
        Assert.Equal(130, after.GetProperty("unread").GetInt32());
        Assert.Equal("Arrived later", after.Items("messages").First().Str("subject"));
        var flagged = after.Items("messages").Last();
        Assert.True(flagged.GetProperty("seen").GetBoolean());
        Assert.True(flagged.GetProperty("flagged").GetBoolean());
        var stored = (await mail.GetAsync(new MessageId(Guid.ParseExact(newest.Str("id"), "N"))))!;
        Assert.Contains("\\Flagged", stored.Flags);
    }

    [Fact]
    public async Task The_banner_says_what_the_client_recorded_at_arrival()
    {
        var e2e = await _app.DeliverAsync(WebFixture.Mime("Private", "hello"),
            new MessageSecurity(EncryptionState.EndToEnd, SignatureState.Valid, new string('B', 40), KeyValidationLevel.Tofu));
        var plain = await _app.DeliverAsync(WebFixture.Mime("Newsletter", "hello"));
        var forged = await _app.DeliverAsync(WebFixture.Mime("Forged", "hello"), new MessageSecurity(EncryptionState.None, SignatureState.Invalid, null, null));
        var failed = await _app.DeliverAsync("From: Bob <bob@beta.test>\nTo: alice@alpha.test\nSubject: ...\nMIME-Version: 1.0\n" +
            "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\n\n--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n" +
            "--b\nContent-Type: application/octet-stream\n\n-----BEGIN PGP MESSAGE-----\nAAAA\n-----END PGP MESSAGE-----\n--b--\n");

        var banner = (await _client.GetJsonAsync($"{A}/messages/{Json.Id(e2e.Id.Value)}")).GetProperty("banner");
        Assert.Equal(("good", "end-to-end", "valid", "tofu"), (banner.Str("tone"), banner.Str("encryption"), banner.Str("signature"), banner.Str("trustAtReceipt")));
        Assert.Contains("bob@beta.test", banner.Str("signatureText"), StringComparison.Ordinal);
        banner = (await _client.GetJsonAsync($"{A}/messages/{Json.Id(plain.Id.Value)}")).GetProperty("banner");
        Assert.Equal(("neutral", "provider", "none"), (banner.Str("tone"), banner.Str("encryption"), banner.Str("signature")));
        banner = (await _client.GetJsonAsync($"{A}/messages/{Json.Id(forged.Id.Value)}")).GetProperty("banner");
        Assert.Equal(("bad", "invalid"), (banner.Str("tone"), banner.Str("signature")));
        banner = (await _client.GetJsonAsync($"{A}/messages/{Json.Id(failed.Id.Value)}")).GetProperty("banner");
        Assert.Equal(("bad", "failed"), (banner.Str("tone"), banner.Str("encryption")));
        var frame = await (await _client.GetAsync($"/frame/{Json.Id(_app.Alice.Id.Value)}/{Json.Id(failed.Id.Value)}")).Content.ReadAsStringAsync();
        Assert.Contains("could not be decrypted", frame, StringComparison.Ordinal);
        Assert.DoesNotContain("PGP MESSAGE", frame, StringComparison.Ordinal);

        // A key that changed since the message arrived turns its banner red.
        await _app.ObserveContactKeyAsync("bob@beta.test");
        await _app.ObserveContactKeyAsync("bob@beta.test");
        banner = (await _client.GetJsonAsync($"{A}/messages/{Json.Id(e2e.Id.Value)}")).GetProperty("banner");
        Assert.Equal(("bad", "changed"), (banner.Str("tone"), banner.Str("trustNow")));
    }

    [Fact]
    public async Task The_frame_is_built_on_the_server_without_anything_that_fetches_or_runs_and_images_are_a_remembered_choice_per_sender()
    {
        const string Html = "<html><head><base href=\"https://evil.test/\"><link rel=stylesheet href=https://evil.test/a.css><meta http-equiv=refresh content=\"0;url=https://evil.test/r\"></head>" +
            "<body><script>alert(1)</script><img src=https://evil.test/p.gif><p style=\"background:url(https://evil.test/bg)\">Hi</p>" +
            "<a href=https://example.test/page>link</a><a href=\"javascript:alert(1)\">js</a><img src=\"cid:logo@x\"><form action=https://evil.test/f><input name=a></form>" +
            "<iframe src=https://evil.test/i></iframe><div onclick=\"alert(1)\">x</div></body></html>";
        var mime = "From: Shop <news@shop.test>\nTo: alice@alpha.test\nSubject: Sale\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary=r\n\n" +
            $"--r\nContent-Type: text/html; charset=utf-8\n\n{Html}\n--r\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n" +
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\n--r--\n";
        var message = await _app.DeliverAsync(mime);
        string framePath = $"/frame/{Json.Id(_app.Alice.Id.Value)}/{Json.Id(message.Id.Value)}";
        using var response = await _client.GetAsync(framePath);
        string frame = await response.Content.ReadAsStringAsync();
        foreach (var gone in new[] { "evil.test", "<script", "alert(", "<form", "<input", "<iframe", "onclick", "javascript:", "<base href", "<link", "refresh" })
        {
            Assert.DoesNotContain(gone, frame, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Contains("data:image/png;base64,iVBOR", frame, StringComparison.Ordinal);
        Assert.Contains("href=\"https://example.test/page\" target=\"_blank\" rel=\"noopener noreferrer\"", frame, StringComparison.Ordinal);
        var view = await _client.GetJsonAsync($"{A}/messages/{Json.Id(message.Id.Value)}");
        var remote = view.GetProperty("remote");
        Assert.True(remote.GetProperty("blocked").GetInt32() >= 5);
        Assert.True(remote.GetProperty("canAllow").GetBoolean());
        Assert.False(remote.GetProperty("allowed").GetBoolean());

        await _client.PostJsonAsync(A + "/remote-images", new { sender = "news@shop.test", allow = true });
        using (var allowed = await _client.GetAsync(framePath))
        {
            string html = await allowed.Content.ReadAsStringAsync();
            Assert.Contains("https://evil.test/p.gif", html, StringComparison.Ordinal);
            Assert.Contains("img-src data: https: http:;", string.Join(";", allowed.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
            // Images only: what runs, submits or navigates by itself is still gone.
            foreach (var gone in new[] { "<script", "<form", "<iframe", "onclick", "javascript:", "<base href", "<link", "refresh" })
            {
                Assert.DoesNotContain(gone, html, StringComparison.OrdinalIgnoreCase);
            }
        }

        // Remembered in the store (sealed), so a restarted app knows it too.
        using (var views = new Letterlock.Web.Mail.MailViews(_app.Store, new WebOptions()))
        {
            Assert.True(await views.AllowsRemoteImagesAsync(_app.Alice.Id, "news@shop.test", default));
            Assert.False(await views.AllowsRemoteImagesAsync(_app.Alice.Id, "other@shop.test", default));
        }

        // End-to-end encrypted mail never loads anything, whatever was chosen for its sender.
        var e2e = await _app.DeliverAsync(WebFixture.Mime("Private", "<img src=https://evil.test/x.gif>", from: "news@shop.test", contentType: "text/html"),
            new MessageSecurity(EncryptionState.EndToEnd, SignatureState.None, null, null));
        var e2eView = await _client.GetJsonAsync($"{A}/messages/{Json.Id(e2e.Id.Value)}");
        Assert.False(e2eView.GetProperty("remote").GetProperty("canAllow").GetBoolean());
        using var e2eFrame = await _client.GetAsync($"/frame/{Json.Id(_app.Alice.Id.Value)}/{Json.Id(e2e.Id.Value)}");
        Assert.DoesNotContain("evil.test", await e2eFrame.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("img-src data:;", string.Join(";", e2eFrame.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attachments_are_listed_and_always_downloaded_never_rendered()
    {
        var mime = "From: Bob <bob@beta.test>\nTo: alice@alpha.test\nSubject: Files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=m\n\n" +
            "--m\nContent-Type: text/plain\n\nsee attached\n" +
            "--m\nContent-Type: text/html; name=\"page.html\"\nContent-Disposition: attachment; filename=\"../../page.html\"\n\n<script>alert(1)</script>\n--m--\n";
        var message = await _app.DeliverAsync(mime);
        var view = await _client.GetJsonAsync($"{A}/messages/{Json.Id(message.Id.Value)}");
        var attachment = Assert.Single(view.Items("attachments"));
        Assert.Equal("page.html", attachment.Str("name"));
        using var download = await _client.GetAsync($"{A}/messages/{Json.Id(message.Id.Value)}/attachments/0");
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal("application/octet-stream", download.Content.Headers.ContentType!.MediaType);
        Assert.Equal("attachment", download.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Equal("page.html", download.Content.Headers.ContentDisposition.FileNameStar ?? download.Content.Headers.ContentDisposition.FileName);
        Assert.StartsWith("sandbox", string.Join(";", download.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        Assert.Equal("<script>alert(1)</script>", (await download.Content.ReadAsStringAsync()).Trim());
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"{A}/messages/{Json.Id(message.Id.Value)}/attachments/1")).StatusCode);
    }

    [Fact]
    public async Task Move_and_delete_go_through_the_store_and_delete_empties_from_Trash()
    {
        var message = await _app.DeliverAsync(WebFixture.Mime("Move me", "x"));
        string id = Json.Id(message.Id.Value);
        await _client.PostJsonAsync($"{A}/messages/{id}/move", new { folder = await FolderIdAsync("Archive") });
        var mail = _app.Store.Mail(_app.Alice.Id);
        Assert.Equal(FolderRole.Archive, (await mail.GetFolderAsync((await mail.GetAsync(message.Id))!.Folder))!.Role);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.SendAsync(HttpMethod.Post, $"{A}/messages/{id}/move", new { folder = new string('0', 32) })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(HttpMethod.Delete, $"{A}/messages/{id}")).StatusCode);
        Assert.Equal(FolderRole.Trash, (await mail.GetFolderAsync((await mail.GetAsync(message.Id))!.Folder))!.Role);
        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(HttpMethod.Delete, $"{A}/messages/{id}")).StatusCode);
        Assert.Null(await mail.GetAsync(message.Id));
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"{A}/messages/{id}")).StatusCode);
    }

    [Fact]
    public async Task Another_accounts_mail_and_unknown_ids_are_not_found()
    {
        var carol = await _app.Store.Accounts.CreateAsync("carol@alpha.test", null, null);
        var carolInbox = (await _app.Store.Mail(carol.Id).FindFolderAsync(FolderRole.Inbox))!;
        var bytes = Encoding.UTF8.GetBytes(WebFixture.Mime("Carol's", "x").ReplaceLineEndings("\r\n"));
        var (summary, text) = MessageSummaryBuilder.Build(bytes, DateTimeOffset.UtcNow, MessageSecurity.Plain);
        var hers = (await _app.Store.Mail(carol.Id).AppendAsync(carolInbox.Id, new NewMessage(summary, bytes, [], text))).Done;
        // Alice's account in the route, carol's message or folder in the id.
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"{A}/messages/{Json.Id(hers.Id.Value)}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"{A}/folders/{Json.Id(carolInbox.Id.Value)}/messages")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"/frame/{Json.Id(_app.Alice.Id.Value)}/{Json.Id(hers.Id.Value)}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"/api/accounts/{new string('a', 32)}/folders")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"{A}/messages/not-an-id")).StatusCode);
    }

    [Fact]
    public async Task Search_uses_the_encrypted_index_with_field_words()
    {
        await _app.DeliverAsync(WebFixture.Mime("Budget review", "The numbers for the Quokka project are in.", from: "Carol <carol@gamma.test>"));
        await _app.DeliverAsync(WebFixture.Mime("Lunch", "Quokka sightings downtown.", from: "Dave <dave@delta.test>"));
        var both = await _client.GetJsonAsync($"{A}/search?q=quokka");
        Assert.Equal(2, both.GetProperty("total").GetInt32());
        var carol = await _client.GetJsonAsync($"{A}/search?q={Uri.EscapeDataString("quokka from:carol@gamma.test")}");
        Assert.Equal("Budget review", Assert.Single(carol.Items("messages")).Str("subject"));
        var subject = await _client.GetJsonAsync($"{A}/search?q={Uri.EscapeDataString("subject:lunch")}");
        Assert.Equal("Lunch", Assert.Single(subject.Items("messages")).Str("subject"));
        var nothing = await _client.GetJsonAsync($"{A}/search?q=a");
        Assert.Equal(0, nothing.GetProperty("total").GetInt32());
        Assert.Contains("at least 2 letters", nothing.Str("detail"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_takes_the_syntax_of_letterlock_search_and_refuses_a_malformed_query_with_the_reason()
    {
        await _app.DeliverAsync(WebFixture.Mime("Kestrel survey", "The kestrel count rose this spring.", from: "Carol <carol@gamma.test>"));
        await _app.DeliverAsync(WebFixture.Mime("Spring plans", "Count on the kestrel again.", from: "Dave <dave@delta.test>"), folder: "Sent");
        async Task<string[]> Subjects(string q) =>
            (await _client.GetJsonAsync($"{A}/search?q={Uri.EscapeDataString(q)}")).Items("messages").Select(m => m.Str("subject")!).Order().ToArray();

        Assert.Equal(["Kestrel survey", "Spring plans"], await Subjects("kestrel"));
        Assert.Equal(["Kestrel survey"], await Subjects("\"kestrel count\""));
        Assert.Equal(["Spring plans"], await Subjects("kestrel folder:Sent"));
        Assert.Equal(["Kestrel survey", "Spring plans"], await Subjects("kestrel is:unread"));
        Assert.Empty(await Subjects("kestrel is:flagged"));
        // Both carry the fixture's date, 1 April 2025; both ends of a range are included.
        Assert.Equal(["Kestrel survey", "Spring plans"], await Subjects("kestrel date:2025-04-01"));
        Assert.Equal(["Kestrel survey", "Spring plans"], await Subjects("kestrel date:..2025-04-01"));
        Assert.Empty(await Subjects("kestrel date:2025-04-02.."));

        var unknownFolder = await _client.GetJsonAsync($"{A}/search?q={Uri.EscapeDataString("kestrel folder:Nowhere")}");
        Assert.Equal(0, unknownFolder.GetProperty("total").GetInt32());
        Assert.Contains("no folder 'Nowhere'", unknownFolder.Str("detail"), StringComparison.Ordinal);
        foreach (var malformed in new[] { "date:2026-13-01", "is:sleeping", "\"unclosed phrase", new string('k', Letterlock.Client.Search.MailQuery.MaxLength + 1) })
        {
            using var response = await _client.GetAsync($"{A}/search?q={Uri.EscapeDataString(malformed)}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("The search cannot be read", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var atLimit = await _client.GetAsync($"{A}/search?q={new string('k', Letterlock.Client.Search.MailQuery.MaxLength)}");
        Assert.Equal(HttpStatusCode.OK, atLimit.StatusCode);
    }

    [Fact]
    public async Task Conversations_join_messages_across_folders_by_their_references()
    {
        var first = await _app.DeliverAsync(WebFixture.Mime("Plan", "one", messageId: "m1@beta.test"));
        await _app.DeliverAsync(WebFixture.Mime("Re: Plan", "two", from: "Alice <alice@alpha.test>", messageId: "m2@alpha.test", inReplyTo: "m1@beta.test"), folder: "Sent");
        var third = await _app.DeliverAsync(WebFixture.Mime("Re: Plan", "three", messageId: "m3@beta.test", inReplyTo: "m2@alpha.test"));
        await _app.DeliverAsync(WebFixture.Mime("Other", "unrelated"));
        var threads = _app.Web.Views.Threads(_app.Store.Mail(_app.Alice.Id));
        using var wait = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while (!threads.Ready)
        {
            await Task.Delay(20, wait.Token);
        }

        var view = await _client.GetJsonAsync($"{A}/messages/{Json.Id(third.Id.Value)}");
        Assert.Equal(["Plan", "Re: Plan", "Re: Plan"], view.Items("thread").Select(t => t.Str("subject")));
        Assert.True(view.Items("thread").Last().GetProperty("current").GetBoolean());
        var page = await _client.GetJsonAsync($"{A}/folders/{await FolderIdAsync("Inbox")}/messages");
        Assert.Equal(3, page.Items("messages").First(m => m.Str("id") == Json.Id(first.Id.Value)).GetProperty("thread").GetInt32());
        Assert.Equal(1, page.Items("messages").First(m => m.Str("subject") == "Other").GetProperty("thread").GetInt32());
    }
}
