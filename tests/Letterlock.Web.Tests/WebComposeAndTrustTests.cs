using System.Net;
using System.Text;
using Letterlock.Client;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.Web.Api;

namespace Letterlock.Web.Tests;

/// <summary>Writing (preview, send, drafts, replies, forwards) and contacts and trust (safety numbers, QR codes, changed keys) through the API.</summary>
public sealed class WebComposeAndTrustTests : IAsyncLifetime
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

    private static object Draft(string[] to, string subject, string text, bool onlyEncrypted = false, string? draftId = null, object[]? attachments = null,
        string[]? bcc = null) =>
        new { draftId, to, cc = Array.Empty<string>(), bcc = bcc ?? [], subject, text, attachments = attachments ?? [], onlyEncrypted };

    [Fact]
    public async Task The_preview_says_per_recipient_how_the_message_will_go_as_sending_decides()
    {
        var bobKey = await _app.ObserveContactKeyAsync("bob@beta.test");
        var plan = await _client.PostJsonAsync(A + "/plan", new { recipients = new[] { "bob@beta.test" }, onlyEncrypted = false });
        Assert.Equal(("queued", true), (plan.Str("outcome"), plan.GetProperty("encrypted").GetBoolean()));
        var bob = Assert.Single(plan.Items("recipients"));
        Assert.Equal(("end-to-end", "OpenPGP (PGP/MIME)", "tofu"), (bob.Str("route"), bob.Str("protocol"), bob.Str("level")));
        Assert.Equal(bobKey.ToDisplayString(), bob.Str("fingerprint"));

        plan = await _client.PostJsonAsync(A + "/plan", new { recipients = new[] { "bob@beta.test", "legacy@old.test" }, onlyEncrypted = false });
        Assert.Equal(("queued", false), (plan.Str("outcome"), plan.GetProperty("encrypted").GetBoolean()));
        Assert.Equal("no-key", plan.Items("recipients").Single(r => r.Str("address") == "legacy@old.test").Str("route"));
        Assert.Contains("WITHOUT end-to-end encryption", plan.Str("summary"), StringComparison.Ordinal);
        plan = await _client.PostJsonAsync(A + "/plan", new { recipients = new[] { "bob@beta.test", "legacy@old.test" }, onlyEncrypted = true });
        Assert.Equal("refused-no-key", plan.Str("outcome"));

        // A changed key stops the message, and says so before it is sent.
        await _app.ObserveContactKeyAsync("bob@beta.test");
        plan = await _client.PostJsonAsync(A + "/plan", new { recipients = new[] { "bob@beta.test" }, onlyEncrypted = false });
        Assert.Equal("refused-changed-key", plan.Str("outcome"));
        Assert.Equal("key-changed", Assert.Single(plan.Items("recipients")).Str("route"));

        Assert.Equal(HttpStatusCode.BadRequest, (await _client.SendAsync(HttpMethod.Post, A + "/plan", new { recipients = new[] { "not an address" } })).StatusCode);
    }

    [Theory]
    [InlineData(nameof(TransparencyVerdict.Unpublished))]
    [InlineData(nameof(TransparencyVerdict.Failed))]
    public async Task A_key_its_provider_has_not_published_is_shown_before_sending_and_nothing_is_sent_to_it(string verdict)
    {
        // The provider of carol's address publishes key transparency, but the key it served has no (valid) proof:
        // the preview says so per recipient, and sending is refused even when encryption is not required.
        await _app.ObserveContactKeyAsync("carol@gamma.test", Enum.Parse<TransparencyVerdict>(verdict));
        var plan = await _client.PostJsonAsync(A + "/plan", new { recipients = new[] { "carol@gamma.test", "legacy@old.test" }, onlyEncrypted = false });
        Assert.Equal("refused-unpublished-key", plan.Str("outcome"));
        var carol = plan.Items("recipients").Single(r => r.Str("address") == "carol@gamma.test");
        Assert.Equal("key-unpublished", carol.Str("route"));
        Assert.Contains("NOT PUBLISHED", carol.Str("text"), StringComparison.Ordinal);
        Assert.Contains("carol@gamma.test served a key it has not published", plan.Str("summary"), StringComparison.Ordinal);

        using var send = await _client.SendAsync(HttpMethod.Post, A + "/send", Draft(["carol@gamma.test"], "Hello carol", "text"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, send.StatusCode);
        Assert.Contains("refused-unpublished-key", await send.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(await _app.Store.Jobs.ListAsync(QueuedMail.JobKind));
    }

    [Fact]
    public async Task Send_only_if_encrypted_refuses_and_queues_nothing_and_a_plain_send_goes_through_the_bridges_path()
    {
        using var refused = await _client.SendAsync(HttpMethod.Post, A + "/send", Draft(["legacy@old.test"], "Secret", "text", onlyEncrypted: true));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Contains("refused-no-key", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(await _app.Store.Jobs.ListAsync(QueuedMail.JobKind));

        var sent = await _client.PostJsonAsync(A + "/send", Draft(["legacy@old.test"], "Hello there", "plain text ok", bcc: ["hidden@old.test"]));
        Assert.Equal(("queued", false), (sent.Str("status"), sent.GetProperty("encrypted").GetBoolean()));
        Assert.Single(await _app.Store.Jobs.ListAsync(QueuedMail.JobKind));
        var queued = QueuedMail.FromPayload((await _app.Store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1)))!.Payload);
        Assert.Equal(["legacy@old.test", "hidden@old.test"], queued.Recipients);
        string wire = Encoding.UTF8.GetString(queued.Message);
        Assert.Contains("Subject: Hello there", wire, StringComparison.Ordinal);
        Assert.DoesNotContain("hidden@old.test", wire, StringComparison.Ordinal);
        var mail = _app.Store.Mail(_app.Alice.Id);
        var sentFolder = (await mail.FindFolderAsync(FolderRole.Sent))!;
        Assert.Contains(await mail.ListAsync(sentFolder.Id), m => m.Summary.Subject == "Hello there");
    }

    [Fact]
    public async Task An_encrypted_send_is_PGP_MIME_to_the_contacts_key()
    {
        await _app.ObserveContactKeyAsync("bob@beta.test");
        var sent = await _client.PostJsonAsync(A + "/send", Draft(["Bob <bob@beta.test>"], "Private plans", "only for bob", onlyEncrypted: true));
        Assert.Equal(("queued", true), (sent.Str("status"), sent.GetProperty("encrypted").GetBoolean()));
        Assert.Single(await _app.Store.Jobs.ListAsync(QueuedMail.JobKind));
        var queued = QueuedMail.FromPayload((await _app.Store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1)))!.Payload);
        string wire = Encoding.UTF8.GetString(queued.Message);
        Assert.Contains("multipart/encrypted", wire, StringComparison.Ordinal);
        Assert.DoesNotContain("only for bob", wire, StringComparison.Ordinal);
        Assert.DoesNotContain("Private plans", wire, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Drafts_are_kept_sealed_in_Drafts_reopened_with_their_attachments_and_removed_when_sent()
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes("attached-bytes-Narwhal"));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/plain");
        content.Headers.Add("X-File-Name", "notes.txt");
        using var uploaded = await _client.SendAsync(HttpMethod.Post, A + "/uploads", content: content);
        var upload = System.Text.Json.JsonDocument.Parse(await uploaded.Content.ReadAsStringAsync()).RootElement.Clone();
        const string Marker = "DraftTextOkapi";
        var saved = await _client.PostJsonAsync(A + "/drafts", Draft(["legacy@old.test"], "Unfinished", $"{Marker} so far", onlyEncrypted: true,
            attachments: [new { id = upload.Str("id"), name = "notes.txt", contentType = "text/plain", size = 22 }]));
        string draftId = saved.Str("draftId");
        var mail = _app.Store.Mail(_app.Alice.Id);
        var draft = (await mail.GetAsync(new MessageId(Guid.ParseExact(draftId, "N"))))!;
        Assert.Equal(FolderRole.Drafts, (await mail.GetFolderAsync(draft.Folder))!.Role);
        Assert.Contains("\\Draft", draft.Flags);

        // Saving again replaces it.
        var again = await _client.PostJsonAsync(A + "/drafts", Draft(["legacy@old.test"], "Unfinished", $"{Marker} more", onlyEncrypted: true, draftId: draftId,
            attachments: [new { id = upload.Str("id"), name = "notes.txt", contentType = "text/plain", size = 22 }]));
        Assert.Null(await mail.GetAsync(draft.Id));
        draftId = again.Str("draftId");

        // A new session reopens it, attachment and "only if encrypted" included.
        using var other = new WebClient(_app.Web.Url);
        await other.SignInAsync(_app.Web.NewLoginLink());
        var reopened = await other.GetJsonAsync($"{A}/compose?mode=draft&message={draftId}");
        Assert.Equal(draftId, reopened.Str("draftId"));
        Assert.StartsWith($"{Marker} more", reopened.Str("text"), StringComparison.Ordinal);
        Assert.True(reopened.GetProperty("onlyEncrypted").GetBoolean());
        var attachment = Assert.Single(reopened.Items("attachments"));
        Assert.Equal("notes.txt", attachment.Str("name"));

        // Sealed at rest: the store's file has neither the text nor the attachment.
        var sentWithout = await other.SendAsync(HttpMethod.Post, A + "/send", new
        {
            draftId, to = new[] { "legacy@old.test" }, cc = Array.Empty<string>(), bcc = Array.Empty<string>(), subject = "Unfinished", text = "done",
            attachments = new[] { new { id = attachment.Str("id"), name = "notes.txt", contentType = "text/plain", size = 22 } }, onlyEncrypted = false,
        });
        Assert.Equal(HttpStatusCode.OK, sentWithout.StatusCode);
        Assert.Null(await mail.GetAsync(new MessageId(Guid.ParseExact(draftId, "N"))));
        _app.Store.Dispose();
        foreach (var file in Directory.GetFiles(_app.Directory, "client.db*"))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Marker)));
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes("Narwhal")));
        }
    }

    [Fact]
    public async Task Reply_reply_all_and_forward_start_from_the_message()
    {
        var original = await _app.DeliverAsync("From: Bob <bob@beta.test>\nTo: Alice <alice@alpha.test>, Carol <carol@gamma.test>\nCc: Dave <dave@delta.test>\n" +
            "Subject: Offsite\nMessage-ID: <orig@beta.test>\nReferences: <older@beta.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=m\n\n" +
            "--m\nContent-Type: text/plain\n\nLet us meet Friday.\n--m\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=agenda.pdf\n" +
            "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--m--\n", new MessageSecurity(EncryptionState.EndToEnd, SignatureState.Valid, new string('B', 40), KeyValidationLevel.Tofu));
        string id = Json.Id(original.Id.Value);
        var reply = await _client.GetJsonAsync($"{A}/compose?mode=reply&message={id}");
        Assert.Equal(["bob@beta.test"], reply.Items("to").Select(e => e.GetString()));
        Assert.Equal("Re: Offsite", reply.Str("subject"));
        Assert.Equal("<orig@beta.test>", reply.Str("inReplyTo"));
        Assert.Equal("<older@beta.test> <orig@beta.test>", reply.Str("references"));
        Assert.Contains("> Let us meet Friday.", reply.Str("text"), StringComparison.Ordinal);
        Assert.True(reply.GetProperty("onlyEncrypted").GetBoolean());
        Assert.Empty(reply.Items("attachments"));

        var all = await _client.GetJsonAsync($"{A}/compose?mode=all&message={id}");
        Assert.Equal(["bob@beta.test", "carol@gamma.test"], all.Items("to").Select(e => e.GetString()));
        Assert.Equal(["dave@delta.test"], all.Items("cc").Select(e => e.GetString()));

        var forward = await _client.GetJsonAsync($"{A}/compose?mode=forward&message={id}");
        Assert.Equal("Fwd: Offsite", forward.Str("subject"));
        Assert.Empty(forward.Items("to"));
        Assert.Contains("Let us meet Friday.", forward.Str("text"), StringComparison.Ordinal);
        Assert.Equal("agenda.pdf", Assert.Single(forward.Items("attachments")).Str("name"));
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync($"{A}/compose?mode=reply&message={new string('0', 32)}")).StatusCode);
    }

    [Fact]
    public async Task A_contact_shows_its_level_history_and_the_safety_number_both_sides_compute()
    {
        var bobKey = await _app.ObserveContactKeyAsync("bob@beta.test");
        var list = await _client.GetJsonAsync(A + "/contacts");
        Assert.Equal(("bob@beta.test", "tofu"), (Assert.Single(list.Items()).Str("address"), list.Items().Single().Str("level")));
        var contact = await _client.GetJsonAsync(A + "/contacts/bob%40beta.test");
        Assert.Equal("tofu", contact.Str("level"));
        Assert.Equal("FirstSeen", Assert.Single(contact.Items("history")).Str("reason"));
        var mine = KeyFingerprint.Parse((await AccountKeys.LoadOpenPgpAsync(_app.Store, _app.Alice.Id)).Fingerprint.Hex);
        var safety = contact.GetProperty("safety");
        Assert.Equal(SafetyNumber.Compute("bob@beta.test", bobKey, "alice@alpha.test", mine), safety.Str("number"));
        Assert.Equal($"OPENPGP4FPR:{mine.Hex}#a=alice%40alpha.test", safety.GetProperty("qr").Str("payload"));
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync(A + "/contacts/nobody%40beta.test")).StatusCode);
    }

    [Fact]
    public async Task Verifying_takes_only_the_key_held_for_the_contact_by_fingerprint_or_QR_code()
    {
        var bobKey = await _app.ObserveContactKeyAsync("bob@beta.test");
        using (var wrong = await _client.SendAsync(HttpMethod.Post, A + "/contacts/bob%40beta.test/verify", new { fingerprint = new string('A', 40) }))
        {
            Assert.Equal(HttpStatusCode.Conflict, wrong.StatusCode);
            Assert.Contains("do not trust it", await wrong.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var otherAddress = await _client.SendAsync(HttpMethod.Post, A + "/contacts/bob%40beta.test/scan",
            new { payload = $"OPENPGP4FPR:{bobKey.Hex}#a=mallory%40beta.test" }))
        {
            Assert.Equal(HttpStatusCode.Conflict, otherAddress.StatusCode);
        }

        Assert.Equal(HttpStatusCode.BadRequest, (await _client.SendAsync(HttpMethod.Post, A + "/contacts/bob%40beta.test/scan", new { payload = "https://x" })).StatusCode);
        Assert.Equal(KeyValidationLevel.Tofu, (await _app.Store.Contacts.GetAsync(_app.Alice.Id, "bob@beta.test"))!.KeyState.Level);

        var verified = await _client.PostJsonAsync(A + "/contacts/bob%40beta.test/scan", new { payload = $"openpgp4fpr:{bobKey.Hex.ToLowerInvariant()}#a=bob%40beta.test" });
        Assert.Equal("verified", verified.Str("level"));
        Assert.Equal("UserVerified", verified.Items("history").Last().Str("reason"));
        Assert.Equal(KeyValidationLevel.Verified, (await _app.Store.Contacts.GetAsync(_app.Alice.Id, "bob@beta.test"))!.KeyState.Level);
    }

    [Fact]
    public async Task A_changed_key_is_shown_with_its_evidence_and_accepted_or_rejected()
    {
        var original = await _app.ObserveContactKeyAsync("bob@beta.test");
        var replacement = await _app.ObserveContactKeyAsync("bob@beta.test");
        var contact = await _client.GetJsonAsync(A + "/contacts/bob%40beta.test");
        Assert.Equal("changed", contact.Str("level"));
        Assert.False(contact.GetProperty("encryptAutomatically").GetBoolean());
        Assert.Equal(original.Hex, contact.GetProperty("pinned").Str("fingerprint"));
        Assert.Equal(replacement.Hex, contact.GetProperty("candidate").Str("fingerprint"));
        var change = contact.Items("history").Last();
        Assert.Equal("KeyChanged", change.Str("reason"));
        Assert.Contains("WITHOUT transparency evidence", change.Str("explanation"), StringComparison.Ordinal);
        Assert.Equal("Autocrypt", change.Str("origin"));

        // Rejecting the change keeps the old key.
        var kept = await _client.PostJsonAsync(A + "/contacts/bob%40beta.test/accept", new { fingerprint = original.Hex });
        Assert.Equal("tofu", kept.Str("level"));
        Assert.Equal(original.Hex, kept.GetProperty("pinned").Str("fingerprint"));
        Assert.False(kept.TryGetProperty("candidate", out _));

        // A change again, accepted this time.
        await _app.ObserveContactKeyAsync("bob@beta.test");
        var state = (await _app.Store.Contacts.GetAsync(_app.Alice.Id, "bob@beta.test"))!.KeyState;
        var accepted = await _client.PostJsonAsync(A + "/contacts/bob%40beta.test/accept", new { fingerprint = state.Candidate!.Fingerprint.Hex });
        Assert.Equal(state.Candidate.Fingerprint.Hex, accepted.GetProperty("pinned").Str("fingerprint"));
        Assert.Equal("UserAccepted", accepted.Items("history").Last().Str("reason"));
    }

    [Fact]
    public async Task The_account_page_has_the_key_the_policy_and_the_bridge_settings_and_the_password_only_on_request()
    {
        var info = await _client.GetJsonAsync(A + "/info");
        var mine = KeyFingerprint.Parse((await AccountKeys.LoadOpenPgpAsync(_app.Store, _app.Alice.Id)).Fingerprint.Hex);
        Assert.Equal(mine.ToDisplayString(), info.Str("fingerprint"));
        Assert.Equal(_app.Bridge.ImapEndPoint.Port, info.GetProperty("bridge").GetProperty("imapPort").GetInt32());
        var password = (await _app.Bridge.GetSettingsAsync()).Single().Password;
        Assert.DoesNotContain(password, info.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(password, (await _client.PostJsonAsync(A + "/bridge-password", new { })).Str("password"));

        await _client.PostJsonAsync(A + "/policy", new { policy = "EncryptedOnly" });
        Assert.Equal(EncryptionPolicy.EncryptedOnly, (await _app.Store.Accounts.GetAsync(_app.Alice.Id))!.Policy);
        Assert.Equal(HttpStatusCode.BadRequest, (await _client.SendAsync(HttpMethod.Post, A + "/policy", new { policy = "Sometimes" })).StatusCode);
        // The account's policy applies to the web app's sends as to every other.
        var plan = await _client.PostJsonAsync(A + "/plan", new { recipients = new[] { "legacy@old.test" }, onlyEncrypted = false });
        Assert.Equal("refused-no-key", plan.Str("outcome"));
    }
}

/// <summary>Safety numbers (docs/FORMATS.md) and the key QR code's text.</summary>
public sealed class SafetyNumberTests
{
    private static readonly KeyFingerprint Alice = KeyFingerprint.Parse("0123456789ABCDEF0123456789ABCDEF01234567");
    private static readonly KeyFingerprint Bob = KeyFingerprint.Parse("89ABCDEF0123456789ABCDEF0123456789ABCDEF");

    [Fact]
    public void Both_sides_compute_the_same_60_digits_and_any_other_key_or_address_changes_them()
    {
        string number = SafetyNumber.Compute("alice@alpha.test", Alice, "bob@beta.test", Bob);
        Assert.Matches(@"^(\d{5} ){11}\d{5}$", number);
        Assert.Equal(number, SafetyNumber.Compute("Bob@Beta.test", Bob, "alice@alpha.test", Alice));
        var other = KeyFingerprint.Parse("89ABCDEF0123456789ABCDEF0123456789ABCDEE");
        Assert.NotEqual(number, SafetyNumber.Compute("alice@alpha.test", Alice, "bob@beta.test", other));
        Assert.NotEqual(number, SafetyNumber.Compute("alice@alpha.test", Alice, "rob@beta.test", Bob));
        // Only one half changes with one key: each person's digits are their own.
        string changed = SafetyNumber.Compute("alice@alpha.test", Alice, "bob@beta.test", other).Replace(" ", "", StringComparison.Ordinal);
        string half = SafetyNumber.Half("alice@alpha.test", Alice);
        Assert.Contains(half, changed, StringComparison.Ordinal);
        Assert.Contains(half, number.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void The_construction_is_pinned_by_a_known_answer()
    {
        // Computed once from the definition in docs/FORMATS.md with Python's hashlib (see there); any change to the
        // construction breaks every pair of users comparing numbers across versions.
        Assert.Equal(KnownAnswer.Alice, SafetyNumber.Half("alice@alpha.test", Alice));
    }

    [Fact]
    public void A_typed_number_matches_with_any_spacing()
    {
        string number = SafetyNumber.Compute("alice@alpha.test", Alice, "bob@beta.test", Bob);
        Assert.True(SafetyNumber.Matches(number, number.Replace(" ", "", StringComparison.Ordinal)));
        Assert.True(SafetyNumber.Matches(number, number.Replace(" ", "-", StringComparison.Ordinal)));
        Assert.False(SafetyNumber.Matches(number, number[..^1] + (number[^1] == '0' ? '1' : '0')));
        Assert.False(SafetyNumber.Matches(number, null));
    }

    [Theory]
    [InlineData("OPENPGP4FPR:0123456789ABCDEF0123456789ABCDEF01234567", true, null)]
    [InlineData("openpgp4fpr:0123456789abcdef0123456789abcdef01234567#a=alice%40alpha.test", true, "alice@alpha.test")]
    [InlineData("OPENPGP4FPR:0123456789ABCDEF0123456789ABCDEF01234567#a=alice%40alpha.test&n=Alice", true, "alice@alpha.test")]
    [InlineData("OPENPGP4FPR:0123", false, null)]
    [InlineData("OPENPGP4FPR:0123456789ABCDEF0123456789ABCDEF01234567#a=not-an-address", false, null)]
    [InlineData("https://example.test/0123456789ABCDEF0123456789ABCDEF01234567", false, null)]
    public void The_QR_code_text_is_read_strictly(string payload, bool ok, string? address)
    {
        Assert.Equal(ok, QrPayload.TryParse(payload, out var fingerprint, out var parsedAddress));
        if (ok)
        {
            Assert.Equal(Alice, fingerprint);
            Assert.Equal(address, parsedAddress);
        }
    }

    private static class KnownAnswer
    {
        public const string Alice = "496452289730253592226650875950";
    }
}
