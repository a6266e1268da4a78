using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;

namespace Letterlock.Bridge.Tests;

/// <summary>The bridge's IMAP side with MailKit as the mail app, over real sockets and STARTTLS.</summary>
public sealed class BridgeImapTests : IAsyncLifetime
{
    private const string Marker = "Quokka42";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-bridge-" + Guid.NewGuid().ToString("N"));
    private LocalStore _store = null!;
    private BridgeHost _bridge = null!;
    private BridgeAccountSettings _settings = null!;
    private AccountRecord _alice = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithPassphrase("bridge test"),
            new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
        _alice = await _store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
        await Deliver("INBOX", "Hello from Bob", $"The secret word is {Marker}.", encrypted: true);
        // Long enough that its absence would show (only the wrong-password test pays it).
        var options = new Letterlock.Imap.ImapServerOptions { FailedLoginDelay = TimeSpan.FromSeconds(1) };
        _bridge = await BridgeHost.StartAsync(_store, new BridgeOptions { ImapPort = 0, SmtpPort = 0, Imap = options });
        _settings = Assert.Single(await _bridge.GetSettingsAsync());
    }

    public async Task DisposeAsync()
    {
        await _bridge.DisposeAsync();
        _store.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Adds a message the way sync does: decrypted MIME with the security summary headers, into the store.</summary>
    private async Task<StoredMessage> Deliver(string folderName, string subject, string text, bool encrypted)
    {
        var mime = Encoding.UTF8.GetBytes(
            "From: Bob <bob@beta.test>\r\nTo: Alice <alice@alpha.test>\r\n" +
            $"Subject: {subject}\r\nDate: Tue, 01 Apr 2025 10:00:00 +0000\r\nMessage-ID: <{Guid.NewGuid():N}@beta.test>\r\n" +
            (encrypted ? "Letterlock-Encryption: end-to-end\r\nLetterlock-Signature: valid; key=B0B0; trust=tofu\r\n" : "") +
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n");
        var security = encrypted
            ? new MessageSecurity(EncryptionState.EndToEnd, SignatureState.Valid, "B0B0", Letterlock.Client.Validation.KeyValidationLevel.Tofu)
            : MessageSecurity.Plain;
        var (summary, index) = MessageSummaryBuilder.Build(mime, DateTimeOffset.UtcNow, security);
        var folder = (await _store.Mail(_alice.Id).FindFolderAsync(folderName))!;
        return (await _store.Mail(_alice.Id).AppendAsync(folder.Id, new NewMessage(summary, mime, [], index))).Done;
    }

    private async Task<ImapClient> Connect(string? password = null)
    {
        var client = new ImapClient
        {
            // The bridge's certificate is self-signed: the app trusts it because the fingerprint matches what the bridge printed.
            ServerCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && string.Equals(
                    Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(certificate.GetRawCertData())),
                    _settings.CertificateSha256.Replace(":", "", StringComparison.Ordinal), StringComparison.Ordinal),
        };
        await client.ConnectAsync(_settings.ImapHost, _settings.ImapPort, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync(_settings.UserName, password ?? _settings.Password);
        return client;
    }

    [Fact]
    public async Task The_mail_app_sees_decrypted_mail_with_its_security_summary_and_special_use_folders()
    {
        using var client = await Connect();
        Assert.True(client.IsSecure);
        Assert.Equal("Sent", client.GetFolder(SpecialFolder.Sent)!.Name);
        Assert.Equal("Drafts", client.GetFolder(SpecialFolder.Drafts)!.Name);
        Assert.Equal("Archive", client.GetFolder(SpecialFolder.Archive)!.Name);
        Assert.Equal("Trash", client.GetFolder(SpecialFolder.Trash)!.Name);
        Assert.Equal("Junk", client.GetFolder(SpecialFolder.Junk)!.Name);

        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        Assert.Equal(1, inbox.Count);
        var summaries = await inbox.FetchAsync(0, -1, (MessageSummaryItems)(MessageSummaryItems.Envelope | MessageSummaryItems.Flags | MessageSummaryItems.Size | MessageSummaryItems.UniqueId));
        Assert.Equal("Hello from Bob", summaries[0].Envelope!.Subject);
        Assert.Equal("bob@beta.test", summaries[0].Envelope!.From.Mailboxes.Single().Address);
        var message = await inbox.GetMessageAsync(summaries[0].UniqueId);
        Assert.Equal("end-to-end", message.Headers["Letterlock-Encryption"]);
        Assert.StartsWith("valid", message.Headers["Letterlock-Signature"], StringComparison.Ordinal);
        Assert.Contains(Marker, message.TextBody!, StringComparison.Ordinal);
        Assert.Equal((long?)summaries[0].Size, (long?)((await _store.Mail(_alice.Id).ReadBodyAsync((await _store.Mail(_alice.Id).ListAsync((await _store.Mail(_alice.Id).FindFolderAsync("INBOX"))!.Id))[0].Id))!).Length);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Flags_moves_appends_and_deletions_from_the_app_land_in_the_store()
    {
        using var client = await Connect();
        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        var uid = (await inbox.SearchAsync(SearchQuery.All)).Single();
        await inbox.AddFlagsAsync(uid, MessageFlags.Seen | MessageFlags.Flagged, true);

        var inboxFolder = (await _store.Mail(_alice.Id).FindFolderAsync("INBOX"))!;
        var stored = Assert.Single(await _store.Mail(_alice.Id).ListAsync(inboxFolder.Id));
        Assert.Contains("\\Seen", stored.Flags);
        Assert.Contains("\\Flagged", stored.Flags);

        var archive = client.GetFolder(SpecialFolder.Archive)!;
        var moved = await inbox.MoveToAsync(uid, archive);
        Assert.NotNull(moved);
        Assert.Empty(await _store.Mail(_alice.Id).ListAsync(inboxFolder.Id));
        var archived = Assert.Single(await _store.Mail(_alice.Id).ListAsync((await _store.Mail(_alice.Id).FindFolderAsync("Archive"))!.Id));
        Assert.Equal("Hello from Bob", archived.Summary.Subject);

        var drafts = client.GetFolder(SpecialFolder.Drafts)!;
        var draft = new MimeKit.MimeMessage();
        draft.From.Add(new MimeKit.MailboxAddress("Alice", "alice@alpha.test"));
        draft.To.Add(new MimeKit.MailboxAddress("Bob", "bob@beta.test"));
        draft.Subject = "Draft " + Marker;
        draft.Body = new MimeKit.TextPart("plain") { Text = "unfinished" };
        var appended = await drafts.AppendAsync(draft, MessageFlags.Draft);
        Assert.NotNull(appended);
        var storedDraft = Assert.Single(await _store.Mail(_alice.Id).ListAsync((await _store.Mail(_alice.Id).FindFolderAsync("Drafts"))!.Id));
        Assert.Equal("Draft " + Marker, storedDraft.Summary.Subject);
        Assert.Contains("\\Draft", storedDraft.Flags);
        Assert.Single((await _store.Mail(_alice.Id).SearchAsync([new Letterlock.Client.Search.SearchTerm(Letterlock.Client.Search.SearchField.Subject, Marker)])).Done);

        await drafts.OpenAsync(FolderAccess.ReadWrite);
        await drafts.AddFlagsAsync(appended!.Value, MessageFlags.Deleted, true);
        await drafts.ExpungeAsync();
        Assert.Empty(await _store.Mail(_alice.Id).ListAsync((await _store.Mail(_alice.Id).FindFolderAsync("Drafts"))!.Id));
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Mail_synced_into_the_store_reaches_an_open_session()
    {
        using var client = await Connect();
        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadOnly);
        Assert.Equal(1, inbox.Count);
        await Deliver("INBOX", "Second message", "more", encrypted: false);
        await client.NoOpAsync();
        Assert.Equal(2, inbox.Count);
        var found = await inbox.SearchAsync(SearchQuery.SubjectContains("Second"));
        Assert.Single(found);
        var text = await inbox.SearchAsync(SearchQuery.BodyContains(Marker.ToLowerInvariant()));
        Assert.Single(text);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task A_wrong_bridge_password_is_refused()
    {
        // The refusal is a tagged NO, sent only after the failed-login delay (a lower bound: it holds on any machine).
        using (var transcript = new MemoryStream())
        {
            using (var app = new ImapClient(new ProtocolLogger(transcript, leaveOpen: true)) { ServerCertificateValidationCallback = (_, c, _, _) => c is not null })
            {
                await app.ConnectAsync(_settings.ImapHost, _settings.ImapPort, SecureSocketOptions.StartTls);
                var clock = System.Diagnostics.Stopwatch.StartNew();
                await Assert.ThrowsAsync<AuthenticationException>(() => app.AuthenticateAsync(_settings.UserName, "not-the-password"));
                Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(950), $"refused after {clock.Elapsed.TotalMilliseconds} ms");
            }

            string text = Encoding.UTF8.GetString(transcript.ToArray());
            Assert.True(System.Text.RegularExpressions.Regex.IsMatch(text, @"(?m)^S: [A-Z]\d+ NO \[AUTHENTICATIONFAILED\]"), text);
        }

        await Assert.ThrowsAsync<AuthenticationException>(() => Connect("not-the-password"));
        var unknown = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await unknown.ConnectAsync(_settings.ImapHost, _settings.ImapPort, SecureSocketOptions.StartTls);
        await Assert.ThrowsAsync<AuthenticationException>(() => unknown.AuthenticateAsync("mallory@alpha.test", _settings.Password));
        unknown.Dispose();
    }

    [Fact]
    public async Task Folders_created_and_renamed_in_the_app_are_store_folders()
    {
        using var client = await Connect();
        var root = client.GetFolder(client.PersonalNamespaces[0]);
        var projects = await root.CreateAsync("Projects", true);
        Assert.NotNull(await _store.Mail(_alice.Id).FindFolderAsync("Projects"));
        await projects!.RenameAsync(root, "Done");
        Assert.NotNull(await _store.Mail(_alice.Id).FindFolderAsync("Done"));
        Assert.Null(await _store.Mail(_alice.Id).FindFolderAsync("Projects"));
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task A_subscription_outlives_its_deleted_folder_until_the_app_unsubscribes()
    {
        // RFC 9051, 6.3.7: the server must not remove a name from the subscriptions because its mailbox is gone.
        using var client = await Connect();
        var root = client.GetFolder(client.PersonalNamespaces[0]);
        var weekly = (await root.CreateAsync("Weekly", true))!;
        await weekly.SubscribeAsync();
        await weekly.DeleteAsync();

        var subscribed = await root.GetSubfoldersAsync(subscribedOnly: true);
        var gone = Assert.Single(subscribed, f => f.Name == "Weekly");
        Assert.True(gone.Attributes.HasFlag(FolderAttributes.NonExistent) || gone.Attributes.HasFlag(FolderAttributes.NoSelect));

        // Created again under the same name, it is subscribed again; unsubscribing removes the name for good.
        var again = (await root.CreateAsync("Weekly", true))!;
        Assert.True((await _store.Mail(_alice.Id).FindFolderAsync("Weekly"))!.Subscribed);
        await again.UnsubscribeAsync();
        await again.DeleteAsync();
        Assert.DoesNotContain(await root.GetSubfoldersAsync(subscribedOnly: true), f => f.Name == "Weekly");
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Move_into_the_same_folder_gives_the_message_a_new_uid()
    {
        using var client = await Connect();
        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        var uid = (await inbox.SearchAsync(SearchQuery.All)).Single();
        var moved = await inbox.MoveToAsync(uid, inbox);
        Assert.NotNull(moved);
        Assert.True(moved.Value.Id > uid.Id, $"{moved.Value.Id} after {uid.Id}");
        Assert.Equal([moved.Value], await inbox.SearchAsync(SearchQuery.All));
        var stored = Assert.Single(await _store.Mail(_alice.Id).ListAsync((await _store.Mail(_alice.Id).FindFolderAsync("INBOX"))!.Id));
        Assert.Equal(moved.Value.Id, stored.Uid.Value);
        Assert.Contains(Marker, (await inbox.GetMessageAsync(moved.Value)).TextBody!, StringComparison.Ordinal);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Sort_thread_multiappend_and_compress_work_over_the_store()
    {
        await Deliver("INBOX", "Re: Hello from Bob", "a reply", encrypted: false);
        await Deliver("INBOX", "Another topic", "something else", encrypted: false);
        using var client = await Connect();
        await client.CompressAsync();
        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite);

        // The sort keys come from the ENVELOPE the store keeps per message.
        var sorted = await inbox.SortAsync(SearchQuery.All, [OrderBy.Subject, OrderBy.Arrival]);
        Assert.Equal([3u, 1u, 2u], sorted.Select(u => u.Id));
        var threads = await inbox.ThreadAsync(ThreadingAlgorithm.References, SearchQuery.All);
        Assert.Equal(2, threads.Count);
        Assert.Equal(2u, Assert.Single(threads.Single(t => t.UniqueId?.Id == 1).Children).UniqueId!.Value.Id);

        // MULTIAPPEND through the engine's default over the store's single appends: both arrive.
        var drafts = client.GetFolder(SpecialFolder.Drafts)!;
        var requests = Enumerable.Range(1, 2).Select(i =>
        {
            var draft = new MimeKit.MimeMessage();
            draft.From.Add(new MimeKit.MailboxAddress("Alice", "alice@alpha.test"));
            draft.Subject = "Batch " + i;
            draft.Body = new MimeKit.TextPart("plain") { Text = "part of a batch" };
            return (IAppendRequest)new AppendRequest(draft, MessageFlags.Draft);
        }).ToList();
        var uids = await drafts.AppendAsync(requests);
        Assert.Equal(2, uids.Count);
        var stored = await _store.Mail(_alice.Id).ListAsync((await _store.Mail(_alice.Id).FindFolderAsync("Drafts"))!.Id);
        Assert.Equal(["Batch 1", "Batch 2"], stored.Select(m => m.Summary.Subject).Order());
        await client.DisconnectAsync(true);
    }
}
