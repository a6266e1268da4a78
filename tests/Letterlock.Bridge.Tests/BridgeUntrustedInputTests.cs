using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;
using Letterlock.OpenPgp.Mime;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Bridge.Tests;

/// <summary>
/// What a mail app hands the bridge is untrusted input like any mail from outside: IMAP APPEND (Sent, Drafts, a message
/// copied in from another account) and SMTP submission are checked against the configured MIME limits before anything
/// parses them (at the limit accepted, one past refused naming the limit), and what APPEND stores carries no field that
/// could pass for the bridge's indicators, at any MIME level. MailKit is the mail app, over real sockets.
/// </summary>
public sealed class BridgeUntrustedInputTests : IAsyncLifetime
{
    private const string Marker = "FORGED-INDICATOR";
    private const int PartsAtLimit = 6;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-bridge-untrusted-" + Guid.NewGuid().ToString("N"));
    private LocalStore _store = null!;
    private BridgeHost _bridge = null!;
    private BridgeAccountSettings _settings = null!;
    private AccountRecord _alice = null!;
    private MimeLimits _limits = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithPassphrase("bridge test"),
            new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
        _alice = await _store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
        await AccountKeys.GenerateAsync(_store, _alice);
        var bob = KeyGenerator.Generate("Bob <bob@beta.test>", "").SecretKey.Unlock();
        await _store.Contacts.ObserveKeyAsync(_alice.Id, "bob@beta.test",
            new ObservedKey(KeyFingerprint.Parse(bob.Fingerprint.Hex), bob.Certificate.Export(armored: false), KeyOrigin.Wkd), TransparencyVerdict.Absent);

        // The limit is what the scanner counts for the message at the limit, so the edge is exact whatever counts as an entity.
        _limits = new MimeLimits { MaxMimeParts = Scanned(WithParts(PartsAtLimit)).Parts };
        Assert.NotNull(MimeStructureScanner.Check(Bytes(WithParts(PartsAtLimit + 1)), _limits));
        _bridge = await BridgeHost.StartAsync(_store, new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, HostMap = new StaticHostMap { AllowSystemDns = false }, SyncInterval = null, MimeLimits = _limits,
        });
        _settings = Assert.Single(await _bridge.GetSettingsAsync());
    }

    public async Task DisposeAsync()
    {
        await _bridge.DisposeAsync();
        _store.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static MimeStructureScanner Scanned(MimeMessage message)
    {
        var scanner = new MimeStructureScanner(new MimeLimits { MaxMimeParts = 10_000 });
        Assert.Null(scanner.Feed(Bytes(message)) ?? scanner.Complete());
        return scanner;
    }

    private static byte[] Bytes(MimeMessage message)
    {
        using var output = new MemoryStream();
        message.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, output);
        return output.ToArray();
    }

    /// <summary>A message from alice to bob whose body is a multipart of <paramref name="texts"/> text parts.</summary>
    private static MimeMessage WithParts(int texts)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@alpha.test"));
        message.To.Add(new MailboxAddress("Bob", "bob@beta.test"));
        message.Subject = $"{texts} parts";
        var mixed = new Multipart("mixed");
        for (int i = 0; i < texts; i++)
        {
            mixed.Add(new TextPart("plain") { Text = $"part {i}" });
        }

        message.Body = mixed;
        return message;
    }

    private async Task<ImapClient> ConnectImap()
    {
        var client = new ImapClient { ServerCertificateValidationCallback = (_, certificate, _, _) => certificate is not null };
        await client.ConnectAsync(_settings.ImapHost, _settings.ImapPort, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync(_settings.UserName, _settings.Password);
        return client;
    }

    private async Task<SmtpClient> ConnectSmtp()
    {
        var client = new SmtpClient { ServerCertificateValidationCallback = (_, certificate, _, _) => certificate is not null };
        await client.ConnectAsync(_settings.SmtpHost, _settings.SmtpPort, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync(_settings.UserName, _settings.Password);
        return client;
    }

    [Fact]
    public async Task Append_at_the_part_limit_is_stored_and_one_part_more_is_refused_naming_the_limit()
    {
        using var client = await ConnectImap();
        var drafts = client.GetFolder(SpecialFolder.Drafts)!;
        await drafts.OpenAsync(FolderAccess.ReadWrite);
        Assert.NotNull(await drafts.AppendAsync(WithParts(PartsAtLimit), MessageFlags.Draft));

        var refused = await Assert.ThrowsAsync<ImapCommandException>(() => drafts.AppendAsync(WithParts(PartsAtLimit + 1), MessageFlags.Draft));
        Assert.Equal(ImapCommandResponse.No, refused.Response);
        Assert.Contains("MimeLimits.MaxMimeParts", refused.ResponseText, StringComparison.Ordinal);

        // MULTIAPPEND: all or nothing, refused naming the limit.
        var batch = await Assert.ThrowsAsync<ImapCommandException>(() => drafts.AppendAsync(
            [new AppendRequest(WithParts(1), MessageFlags.Draft), new AppendRequest(WithParts(PartsAtLimit + 1), MessageFlags.Draft)]));
        Assert.Contains("MimeLimits.MaxMimeParts", batch.ResponseText, StringComparison.Ordinal);

        var stored = await _store.Mail(_alice.Id).ListAsync((await _store.Mail(_alice.Id).FindFolderAsync(FolderRole.Drafts))!.Id);
        Assert.Equal([$"{PartsAtLimit} parts"], stored.Select(m => m.Summary.Subject));
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Submission_at_the_part_limit_is_queued_and_one_part_more_is_refused_with_552_naming_the_limit()
    {
        using var client = await ConnectSmtp();
        string reply = await client.SendAsync(WithParts(PartsAtLimit));
        Assert.Contains("end-to-end encrypted", reply, StringComparison.Ordinal);

        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(WithParts(PartsAtLimit + 1)));
        Assert.Equal(552, (int)refused.StatusCode);
        Assert.Contains("5.3.4", refused.Message, StringComparison.Ordinal);
        Assert.Contains("MimeLimits.MaxMimeParts", refused.Message, StringComparison.Ordinal);
        await client.DisconnectAsync(true);

        var sent = await _store.Mail(_alice.Id).ListAsync((await _store.Mail(_alice.Id).FindFolderAsync(FolderRole.Sent))!.Id);
        Assert.Equal([$"{PartsAtLimit} parts"], sent.Select(m => m.Summary.Subject));
    }

    /// <summary>Names a reader could take for an indicator: the real ones, case, Unicode look-alikes, encoded words.</summary>
    public static TheoryData<string> ForgedNames() => new()
    {
        "Letterlock-Encryption",
        "letterlock-signature",
        "LeTtErLoCk-SiGnAtUrE",
        "Letterlock\u2010Signature", // HYPHEN
        "Letterlock\u2011Signature", // NON-BREAKING HYPHEN
        "Letterlock\u2212Encryption", // MINUS SIGN
        "\uFF2C\uFF45\uFF54\uFF54\uFF45\uFF52\uFF4C\uFF4F\uFF43\uFF4B-Signature", // FULLWIDTH letters
        "L\u0435tt\u0435rl\u043Eck-Signature", // CYRILLIC IE and O
        "=?utf-8?q?Letterlock-Signature?=", // encoded word
        "=?utf-8?b?TGV0dGVybG9jay1FbmNyeXB0aW9u?=", // encoded word, base64 (Letterlock-Encryption)
    };

    [Theory]
    [MemberData(nameof(ForgedNames))]
    public async Task A_message_the_app_appends_to_sent_or_drafts_keeps_no_indicator_field_at_any_level(string name)
    {
        string forged = $"{name}: end-to-end; valid; trust=verified; {Marker}\r\n";
        string nested = "From: boss@beta.test\r\nSubject: inner\r\n" + forged + "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n" + forged +
            "\r\nnested text\r\n";
        string raw =
            "From: Alice <alice@alpha.test>\r\nTo: Bob <bob@beta.test>\r\nSubject: saved\r\nDate: Tue, 01 Apr 2025 10:00:00 +0000\r\n" + forged +
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
            "--outer\r\nContent-Type: text/plain; charset=utf-8\r\n" + forged + "\r\nbody text\r\n" +
            "--outer\r\nContent-Type: message/rfc822\r\n" + forged + "\r\n" + nested + "\r\n" +
            "--outer\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            Convert.ToBase64String(Encoding.UTF8.GetBytes(nested), Base64FormattingOptions.InsertLineBreaks) + "\r\n" +
            "--outer--\r\n";
        var message = await MimeMessage.LoadAsync(new MemoryStream(Encoding.UTF8.GetBytes(raw)));
        Assert.Contains(AllFields(message), f => f.Contains(Marker, StringComparison.Ordinal)); // the forgery survives MailKit's writing

        using var client = await ConnectImap();
        foreach (var folder in new[] { client.GetFolder(SpecialFolder.Sent)!, client.GetFolder(SpecialFolder.Drafts)! })
        {
            await folder.OpenAsync(FolderAccess.ReadWrite);
            var uid = await folder.AppendAsync(message, MessageFlags.Seen);
            Assert.NotNull(uid);
            var fetched = await folder.GetMessageAsync(uid.Value);
            Assert.DoesNotContain(AllFields(fetched), f => f.Contains(Marker, StringComparison.Ordinal));
            Assert.DoesNotContain(Marker, fetched.ToString(), StringComparison.Ordinal);
            Assert.Contains("body text", fetched.ToString(), StringComparison.Ordinal); // content stays: only the fields went
            Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(string.Join("\n", AllText(fetched)), "nested text"));
        }

        await client.DisconnectAsync(true);
    }

    /// <summary>Every header field of every entity, attached messages decoded, as "name:value".</summary>
    private static IEnumerable<string> AllFields(MimeMessage message) =>
        message.Headers.Select(h => h.Field + ":" + h.Value).Concat(message.Body is { } body ? FieldsOf(body) : []);

    private static IEnumerable<string> FieldsOf(MimeEntity entity)
    {
        var own = entity.Headers.Select(h => h.Field + ":" + h.Value);
        return entity switch
        {
            Multipart multipart => own.Concat(multipart.SelectMany(FieldsOf)),
            MessagePart { Message: { } attached } => own.Concat(AllFields(attached)),
            MimePart part when part.ContentType.IsMimeType("message", "rfc822") && part.Content is not null => own.Concat(AllFields(Decoded(part))),
            _ => own,
        };
    }

    /// <summary>The text of every text part, attached messages decoded.</summary>
    private static IEnumerable<string> AllText(MimeMessage message) => message.Body is { } body ? TextOf(body) : [];

    private static IEnumerable<string> TextOf(MimeEntity entity) => entity switch
    {
        Multipart multipart => multipart.SelectMany(TextOf),
        MessagePart { Message: { } attached } => AllText(attached),
        TextPart text => [text.Text],
        MimePart part when part.ContentType.IsMimeType("message", "rfc822") && part.Content is not null => AllText(Decoded(part)),
        _ => [],
    };

    private static MimeMessage Decoded(MimePart part)
    {
        var decoded = new MemoryStream();
        part.Content!.DecodeTo(decoded);
        decoded.Position = 0;
        return MimeMessage.Load(decoded);
    }
}
