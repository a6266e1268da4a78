using System.Text;
using Letterlock.Client.Discovery;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Tests.Sync;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;
using Letterlock.OpenPgp.Autocrypt;
using Letterlock.OpenPgp.Mime;
using MimeKit;

namespace Letterlock.Client.Tests.Mail;

/// <summary>
/// A real provider for alpha.test whose MX evaluates SPF and DMARC against three outside domains: beta.test publishes
/// <c>p=reject</c> and authorises no server (mail from here fails DMARC), gamma.test publishes <c>p=reject</c> and
/// authorises 127.0.0.1 (mail from here passes, aligned), delta.test publishes no DMARC record (<c>dmarc=none</c>).
/// </summary>
public sealed class HostileMailFixture : IAsyncLifetime
{
    private readonly TempDir _dir = new();

    internal LocalProvider Provider { get; private set; } = null!;

    /// <summary>Alice's client store (one account for all tests: the provider limits sign-ups per client).</summary>
    internal LocalStore Store { get; private set; } = null!;

    internal AccountRecord Alice { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var dns = new Letterlock.Dns.StaticDnsResolver()
            .AddTxt("beta.test", "v=spf1 -all").AddTxt("_dmarc.beta.test", "v=DMARC1; p=reject")
            .AddTxt("gamma.test", "v=spf1 ip4:127.0.0.1 -all").AddTxt("_dmarc.gamma.test", "v=DMARC1; p=reject")
            .AddTxt("delta.test", "v=spf1 ?all");
        Provider = await LocalProvider.StartAsync(_dir, dns: dns);
        Store = await TestStores.Create(_dir);
        Alice = await AccountRegistration.CreateAsync(Store, new ProviderClient(Provider.Http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");
    }

    public async Task DisposeAsync()
    {
        Store.Dispose();
        await Provider.DisposeAsync();
        _dir.Dispose();
    }
}

/// <summary>
/// Hostile mail from outside, through the provider's MX and the client's sync, as an attacker sends it (the "Johnny, you
/// are fired" and Autocrypt key-injection classes): a key seen only in unauthenticated mail never moves a pinned or
/// transparent contact and sending keeps working (DESIGN.md invariant 5); a signature counts as valid only with the
/// pinned key; mail whose domain says it is forged is marked.
/// </summary>
public sealed class HostileMailTests(HostileMailFixture fixture) : IClassFixture<HostileMailFixture>, IAsyncLifetime
{
    // Every test uses addresses and subjects of its own: the account and its store are shared.
    private readonly string _tag = Guid.NewGuid().ToString("N")[..8];
    private LocalStore _store = null!;
    private AccountRecord _alice = null!;
    private UnlockedKey _aliceKey = null!;

    private LocalProvider Provider => fixture.Provider;

    public async Task InitializeAsync()
    {
        _store = fixture.Store;
        _alice = fixture.Alice;
        _aliceKey = await AccountKeys.LoadOpenPgpAsync(_store, _alice.Id);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private string Address(string local, string domain) => $"{local}.{_tag}@{domain}";

    public static TheoryData<string, string> AttackMatrix()
    {
        var data = new TheoryData<string, string>();
        foreach (string level in new[] { "tofu", "transparent", "verified" })
        {
            foreach (string attack in new[] { "dmarc-fail-unsigned", "dmarc-fail-encrypted", "dmarc-fail-self-signed", "no-dmarc-unsigned", "not-for-address", "gossip" })
            {
                data.Add(level, attack);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AttackMatrix))]
    public async Task A_key_seen_only_in_unauthenticated_mail_never_moves_a_pinned_contact_and_sending_goes_on(string level, string attack)
    {
        // "not-for-address" comes from gamma.test, whose DMARC passes: the key fails on its own (no user ID for the address).
        string domain = attack switch { "no-dmarc-unsigned" => "delta.test", "not-for-address" => "gamma.test", _ => "beta.test" };
        string bob = Address("bob", domain);
        var bobKey = Key($"Bob <{bob}>");
        await PinAsync(bob, bobKey.Certificate, level);
        var before = (await _store.Contacts.GetAsync(_alice.Id, bob))!.KeyState;

        var mallory = attack == "not-for-address" ? Key("Mallory <mallory@evil.test>") : Key($"Bob <{bob}>");
        string subject = $"Urgent {attack} {_tag}";
        switch (attack)
        {
            case "gossip":
                // A third party (DMARC passes for it) gossips a key for bob inside mail encrypted to alice and "bob".
                string carolAddress = Address("carol", "gamma.test");
                var carol = Key($"Carol <{carolAddress}>");
                var note = Plain(carolAddress, [_alice.Address, bob], subject, null);
                var copies = new PgpMimeComposer().Encrypt(note, carol.SecretKey.Unlock(),
                    new Dictionary<string, Certificate> { [_alice.Address] = _aliceKey.Certificate, [bob] = mallory.Certificate },
                    new ComposeOptions { Autocrypt = AutocryptHeader.Create(carolAddress, carol.Certificate, PreferEncrypt.Mutual) });
                await Provider.DeliverAsync(copies[0].Message, carolAddress, _alice.Address);
                break;
            case "dmarc-fail-encrypted":
                var encrypted = new PgpMimeComposer().Encrypt(Plain(bob, [_alice.Address], subject, null), mallory.SecretKey.Unlock(),
                    new Dictionary<string, Certificate> { [_alice.Address] = _aliceKey.Certificate },
                    new ComposeOptions { Autocrypt = new AutocryptHeader(bob, PreferEncrypt.Mutual, mallory.Certificate) });
                await Provider.DeliverAsync(encrypted[0].Message, bob, _alice.Address);
                break;
            case "dmarc-fail-self-signed":
                var signed = new PgpMimeComposer().Sign(Plain(bob, [_alice.Address], subject, null), mallory.SecretKey.Unlock(),
                    new ComposeOptions { Autocrypt = new AutocryptHeader(bob, PreferEncrypt.Mutual, mallory.Certificate) });
                await Provider.DeliverAsync(signed, bob, _alice.Address);
                break;
            default:
                await Provider.DeliverAsync(Plain(bob, [_alice.Address], subject, mallory.Certificate), bob, _alice.Address);
                break;
        }

        await SyncAsync();
        Assert.NotNull(await FindAsync(subject));
        var after = (await _store.Contacts.GetAsync(_alice.Id, bob))!.KeyState;
        Assert.Equal(before.Level, after.Level);
        Assert.Equal(bobKey.Certificate.Fingerprint.Hex, after.Pinned!.Fingerprint.Hex);
        Assert.Null(after.Candidate);
        var history = await _store.Contacts.HistoryAsync(_alice.Id, bob);
        Assert.DoesNotContain(history, t => t.To == KeyValidationLevel.Changed);

        // Sending to bob still works, encrypted to his pinned key, also when discovery offers what the attacker left behind.
        await AssertSendsToPinnedKeyAsync(bob, bobKey);
        await AssertSendsToPinnedKeyAsync(bob, bobKey);
    }

    [Fact]
    public async Task A_repeated_injection_is_recorded_once_as_a_suspicious_attempt()
    {
        string Bob = Address("bob", "beta.test");
        var bobKey = Key($"Bob <{Bob}>");
        await PinAsync(Bob, bobKey.Certificate, "tofu");
        var mallory = Key($"Bob <{Bob}>");
        for (int i = 0; i < 3; i++)
        {
            await Provider.DeliverAsync(Plain(Bob, [_alice.Address], $"again {i} {_tag}", mallory.Certificate), Bob, _alice.Address);
        }

        await SyncAsync();
        var history = await _store.Contacts.HistoryAsync(_alice.Id, Bob);
        var suspicious = Assert.Single(history, t => t.Reason.ToString() == "UnauthenticatedKeyIgnored");
        Assert.Equal(mallory.Certificate.Fingerprint.Hex, suspicious.NewKey!.Value.Hex);
        Assert.Equal(KeyValidationLevel.Tofu, suspicious.To);
    }

    [Fact]
    public async Task Mail_whose_domain_fails_dmarc_under_reject_is_marked_for_the_user()
    {
        foreach (var (local, domain, subject) in new[] { ("bob", "beta.test", "Wire the money"), ("carol", "gamma.test", "Lunch"), ("dave", "delta.test", "Hello") })
        {
            string from = Address(local, domain);
            await Provider.DeliverAsync(Plain(from, [_alice.Address], $"{subject} {_tag}", null), from, _alice.Address);
        }

        await SyncAsync();
        var forged = (await FindAsync($"Wire the money {_tag}"))!;
        var headers = await HeadersAsync(forged);
        Assert.Equal("unauthenticated; dmarc=fail; policy=reject; domain=beta.test", headers["Letterlock-Sender"]);
        Assert.Contains("$Phishing", forged.Flags);
        foreach (string subject in new[] { "Lunch", "Hello" })
        {
            var genuine = (await FindAsync($"{subject} {_tag}"))!;
            Assert.Null((await HeadersAsync(genuine))["Letterlock-Sender"]);
            Assert.DoesNotContain("$Phishing", genuine.Flags);
        }
    }

    [Fact]
    public async Task An_authenticated_new_key_turns_a_tofu_contact_changed_but_never_a_transparent_one()
    {
        // gamma.test passes DMARC: the new key is authenticated by the domain, so a TOFU contact must decide.
        string tom = Address("tom", "gamma.test"), tess = Address("tess", "gamma.test");
        var tofuKey = Key($"Tom <{tom}>");
        var transparentKey = Key($"Tess <{tess}>");
        await PinAsync(tom, tofuKey.Certificate, "tofu");
        await PinAsync(tess, transparentKey.Certificate, "transparent");
        await Provider.DeliverAsync(Plain(tom, [_alice.Address], $"new key {_tag}", Key($"Tom <{tom}>").Certificate), tom, _alice.Address);
        await Provider.DeliverAsync(Plain(tess, [_alice.Address], $"new key too {_tag}", Key($"Tess <{tess}>").Certificate), tess, _alice.Address);
        await SyncAsync();

        Assert.Equal(KeyValidationLevel.Changed, (await _store.Contacts.GetAsync(_alice.Id, tom))!.KeyState.Level);
        var tessState = (await _store.Contacts.GetAsync(_alice.Id, tess))!.KeyState;
        Assert.Equal(KeyValidationLevel.Transparent, tessState.Level);
        Assert.Equal(transparentKey.Certificate.Fingerprint.Hex, tessState.Pinned!.Fingerprint.Hex);
        await AssertSendsToPinnedKeyAsync(tess, transparentKey);
    }

    public static TheoryData<string> SignatureForms() => new() { "signed", "signed-encrypted", "inline" };

    [Theory]
    [MemberData(nameof(SignatureForms))]
    public async Task A_signature_by_a_key_that_is_not_the_pinned_one_never_reads_as_valid(string form)
    {
        // The signing key carries bob's address as user ID but is not bob's pinned key.
        string Bob = Address("bob", "gamma.test");
        var bobKey = Key($"Bob <{Bob}>");
        await PinAsync(Bob, bobKey.Certificate, "tofu");
        var lookalike = Key($"Bob <{Bob}>");
        await DeliverSignedAsync(Bob, lookalike, $"look-alike {_tag}", form);
        await SyncAsync();

        var headers = await HeadersAsync((await FindAsync($"look-alike {_tag}"))!);
        string signature = headers["Letterlock-Signature"]!;
        Assert.StartsWith("unverified-signer;", signature, StringComparison.Ordinal);
        Assert.Contains($"key={lookalike.Certificate.Fingerprint.Hex}", signature, StringComparison.Ordinal);

        // The genuine key still reads as valid, at the contact's level.
        await DeliverSignedAsync(Bob, bobKey, $"genuine {_tag}", form);
        await SyncAsync();
        Assert.Equal($"valid; key={bobKey.Certificate.Fingerprint.Hex}; trust=changed",
            (await HeadersAsync((await FindAsync($"genuine {_tag}"))!))["Letterlock-Signature"]);
    }

    private async Task DeliverSignedAsync(string from, GeneratedKey signer, string subject, string form)
    {
        var message = Plain(from, [_alice.Address], subject, null);
        var autocrypt = new AutocryptHeader(from, PreferEncrypt.Mutual, signer.Certificate);
        switch (form)
        {
            case "signed":
                message = new PgpMimeComposer().Sign(message, signer.SecretKey.Unlock(), new ComposeOptions { Autocrypt = autocrypt });
                break;
            case "signed-encrypted":
                message = new PgpMimeComposer().Encrypt(message, signer.SecretKey.Unlock(),
                    new Dictionary<string, Certificate> { [_alice.Address] = _aliceKey.Certificate }, new ComposeOptions { Autocrypt = autocrypt })[0].Message;
                break;
            default:
                byte[] clear = new OpenPgpEngine().SignInline("Pay the invoice today.\r\n"u8, [signer.SecretKey.Unlock()], InlineSignStyle.Cleartext);
                message.Body = new TextPart("plain") { Text = Encoding.ASCII.GetString(clear) };
                message.Headers.Add(RawHeader(AutocryptHeader.HeaderName, autocrypt.ToHeaderValue()));
                break;
        }

        await Provider.DeliverAsync(message, from, _alice.Address);
    }

    private static GeneratedKey Key(string userId) => KeyGenerator.Generate(userId, ReadOnlySpan<char>.Empty);

    private static MimeMessage Plain(string from, string[] to, string subject, Certificate? autocryptKey)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        foreach (string recipient in to)
        {
            message.To.Add(MailboxAddress.Parse(recipient));
        }

        message.Subject = subject;
        message.Date = DateTimeOffset.UtcNow;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("outside.test");
        message.Body = new TextPart("plain") { Text = "Please pay the attached invoice today.\r\n" };
        if (autocryptKey is not null)
        {
            // Whatever the key's user IDs say: an attacker writes the header by hand.
            message.Headers.Add(RawHeader(AutocryptHeader.HeaderName, new AutocryptHeader(from, PreferEncrypt.Mutual, autocryptKey).ToHeaderValue()));
        }

        return message;
    }

    private static Header RawHeader(string field, string foldedValue)
    {
        var header = new Header(field, "x");
        header.SetRawValue(Encoding.ASCII.GetBytes(" " + foldedValue + "\r\n"));
        return header;
    }

    private async Task PinAsync(string address, Certificate certificate, string level)
    {
        var fingerprint = KeyFingerprint.Parse(certificate.Fingerprint.Hex);
        await _store.Contacts.ObserveKeyAsync(_alice.Id, address, new ObservedKey(fingerprint, certificate.Export(armored: false), KeyOrigin.Wkd),
            level == "transparent" ? TransparencyVerdict.Verified : TransparencyVerdict.Absent);
        if (level == "verified")
        {
            await _store.Contacts.VerifyKeyAsync(_alice.Id, address, fingerprint);
        }

        Assert.Equal(level, (await _store.Contacts.GetAsync(_alice.Id, address))!.KeyState.Level.ToString().ToLowerInvariant());
    }

    private async Task AssertSendsToPinnedKeyAsync(string recipient, GeneratedKey recipientKey)
    {
        var discovery = new KeyDiscovery([new AutocryptKeySource(_store, _alice.Id)], new KeyDiscoveryOptions());
        var outcome = await new OutgoingMailProcessor(_store, _alice, _aliceKey, new ContactKeyResolver(_store, _alice.Id, discovery))
            .SubmitAsync(Encoding.UTF8.GetBytes($"From: {_alice.Address}\r\nTo: {recipient}\r\nSubject: re\r\n\r\nreceived\r\n"), [recipient]);
        Assert.Equal(SendStatus.Queued, outcome.Status);
        Assert.True(outcome.Encrypted);
        var job = (await _store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1)))!;
        await _store.Jobs.CompleteAsync(job.Id);
        var queued = QueuedMail.FromPayload(job.Payload);
        var read = new PgpMimeReader().Read(new MemoryStream(queued.Message), new ReadContext { Keys = [recipientKey.SecretKey.Unlock()] });
        Assert.Equal(EncryptionStatus.Encrypted, read.Security.Encryption);
    }

    private async Task SyncAsync()
    {
        var report = await new SyncEngine(_store, _alice, await AccountRegistration.ConnectAsync(_store, _alice, Provider.Http)).SyncAsync();
        Assert.Empty(report.Errors);
    }

    private async Task<StoredMessage?> FindAsync(string subject)
    {
        var inbox = (await _store.Mail(_alice.Id).FindFolderAsync(FolderRole.Inbox))!;
        return (await _store.Mail(_alice.Id).ListAsync(inbox.Id)).SingleOrDefault(m => m.Summary.Subject == subject);
    }

    private async Task<HeaderList> HeadersAsync(StoredMessage message) =>
        (await MimeMessage.LoadAsync(new MemoryStream((await _store.Mail(_alice.Id).ReadBodyAsync(message.Id))!))).Headers;
}
