using Letterlock.OpenPgp.Autocrypt;
using MimeKit;

namespace Letterlock.OpenPgp.Mime;

/// <summary>Options for <see cref="PgpMimeComposer"/>.</summary>
public sealed record ComposeOptions
{
    /// <summary>Protect headers (RFC 9788): inner copy with <c>hp</c>, outer Subject <c>[...]</c>, <c>HP-Outer</c> records. Default true.</summary>
    public bool HeaderProtection { get; init; } = true;

    /// <summary>The sender's own Autocrypt header to add to the outer header section, or null for none.</summary>
    public AutocryptHeader? Autocrypt { get; init; }

    /// <summary>Gossip the recipients' keys inside the encrypted part when there are several recipients (Autocrypt 2.7). Default true.</summary>
    public bool Gossip { get; init; } = true;

    /// <summary>The time used to select keys and date signatures (default: now).</summary>
    public DateTimeOffset? Now { get; init; }
}

/// <summary>One message to hand to the transport, with the envelope recipients it is for.</summary>
/// <param name="Message">The message as it goes on the wire.</param>
/// <param name="Recipients">The envelope recipients (RCPT TO) of this copy.</param>
public sealed record OutgoingMessage(MimeMessage Message, IReadOnlyList<MailboxAddress> Recipients);

/// <summary>
/// Builds PGP/MIME (RFC 3156) from a MimeKit message: signed-then-encrypted
/// <c>multipart/encrypted</c> (one OpenPGP message carrying the signature inside the
/// encryption, AES-256) or sign-only <c>multipart/signed</c>, with RFC 9788 header protection
/// (hcp_baseline) and Autocrypt headers.
/// </summary>
public sealed class PgpMimeComposer(OpenPgpOptions? options = null)
{
    private static readonly string[] NotRepeatedOutside = ["Comments", "Keywords"];

    private readonly OpenPgpEngine _engine = new(options);

    /// <summary>
    /// Signs and encrypts <paramref name="message"/>. To and Cc recipients share one copy; each
    /// Bcc recipient gets a separate copy encrypted only to them (and the sender), so no
    /// recipient learns of a Bcc. Every copy is also encrypted to the sender, for the Sent folder.
    /// </summary>
    /// <param name="message">The message as the mail app submitted it (not modified).</param>
    /// <param name="sender">The sender's unlocked key; signs every copy.</param>
    /// <param name="certificates">A certificate for every recipient address (case-insensitive keys).</param>
    /// <param name="options">Header protection, Autocrypt and time.</param>
    /// <exception cref="KeyNotUsableException">A recipient has no certificate or no valid encryption key.</exception>
    public IReadOnlyList<OutgoingMessage> Encrypt(MimeMessage message, UnlockedKey sender, IReadOnlyDictionary<string, Certificate> certificates, ComposeOptions? options = null)
    {
        options ??= new ComposeOptions();
        var lookup = new Dictionary<string, Certificate>(certificates, StringComparer.OrdinalIgnoreCase);
        var visible = message.To.Mailboxes.Concat(message.Cc.Mailboxes).DistinctBy(m => m.Address.ToUpperInvariant()).ToList();
        var hidden = message.Bcc.Mailboxes.DistinctBy(m => m.Address.ToUpperInvariant())
            .Where(b => !visible.Any(v => string.Equals(v.Address, b.Address, StringComparison.OrdinalIgnoreCase))).ToList();
        var missing = visible.Concat(hidden).Where(m => !lookup.ContainsKey(m.Address)).Select(m => m.Address).ToList();
        if (missing.Count > 0)
        {
            throw new KeyNotUsableException("no certificate for: " + string.Join(", ", missing));
        }

        var result = new List<OutgoingMessage>();
        if (visible.Count > 0)
        {
            var gossip = options.Gossip && visible.Count > 1 ? visible : [];
            result.Add(new OutgoingMessage(EncryptCopy(message, sender, visible, lookup, bcc: null, gossip, options), visible));
        }

        foreach (var bcc in hidden)
        {
            result.Add(new OutgoingMessage(EncryptCopy(message, sender, [bcc], lookup, bcc, [], options), [bcc]));
        }

        return result;
    }

    /// <summary>
    /// Signs <paramref name="message"/> as <c>multipart/signed</c> (RFC 3156 section 5). With
    /// header protection the signed part carries the headers with <c>hp="clear"</c>.
    /// </summary>
    public MimeMessage Sign(MimeMessage message, UnlockedKey sender, ComposeOptions? options = null)
    {
        options ??= new ComposeOptions();
        var inner = InnerEntity(message, options.HeaderProtection ? "clear" : null, bcc: null, outer: null, gossip: [], lookup: null, options);
        inner.Prepare(EncodingConstraint.SevenBit, 78);
        var signed = MimeIo.Canonical(inner);
        var signature = _engine.SignDetached(signed, [sender], SignatureMode.Binary, armor: true, options.Now);

        var multipart = new Multipart("signed");
        multipart.ContentType.Parameters.Add("micalg", "pgp-sha512");
        multipart.ContentType.Parameters.Add("protocol", "application/pgp-signature");
        // Re-parse the exact bytes that were signed, so that writing the message reproduces them.
        multipart.Add(MimeIo.LoadEntity(signed, OpenPgpOptions.Default));
        multipart.Add(new MimePart("application", "pgp-signature")
        {
            Content = new MimeContent(new MemoryStream(signature)),
            ContentDescription = "OpenPGP digital signature",
            ContentDisposition = new ContentDisposition(ContentDisposition.Attachment) { FileName = "signature.asc" },
            ContentTransferEncoding = ContentEncoding.SevenBit,
        });
        var outer = OuterMessage(message, obscure: false, bcc: null, options);
        outer.Body = multipart;
        return outer;
    }

    private MimeMessage EncryptCopy(MimeMessage message, UnlockedKey sender, List<MailboxAddress> recipients, Dictionary<string, Certificate> lookup,
        MailboxAddress? bcc, List<MailboxAddress> gossip, ComposeOptions options)
    {
        var outer = OuterMessage(message, obscure: options.HeaderProtection, bcc, options);
        var inner = InnerEntity(message, options.HeaderProtection ? "cipher" : null, bcc, outer, gossip, lookup, options);
        var certificates = recipients.Select(r => lookup[r.Address]).Append(sender.Certificate).DistinctBy(c => c.Fingerprint).ToList();
        var ciphertext = _engine.Encrypt(MimeIo.Canonical(inner), certificates, new EncryptOptions { Signers = [sender], Now = options.Now });

        var multipart = new Multipart("encrypted");
        multipart.ContentType.Parameters.Add("protocol", "application/pgp-encrypted");
        multipart.Add(new MimePart("application", "pgp-encrypted")
        {
            Content = new MimeContent(new MemoryStream("Version: 1\r\n"u8.ToArray())),
            ContentDescription = "PGP/MIME version identification",
            ContentTransferEncoding = ContentEncoding.SevenBit,
        });
        multipart.Add(new MimePart("application", "octet-stream")
        {
            Content = new MimeContent(new MemoryStream(ciphertext)),
            ContentDescription = "OpenPGP encrypted message",
            ContentDisposition = new ContentDisposition(ContentDisposition.Inline) { FileName = "encrypted.asc" },
            ContentTransferEncoding = ContentEncoding.SevenBit,
        });
        outer.Body = multipart;
        return outer;
    }

    /// <summary>The outer header section: every non-structural field, Subject obscured to <c>[...]</c> under hcp_baseline.</summary>
    private static MimeMessage OuterMessage(MimeMessage message, bool obscure, MailboxAddress? bcc, ComposeOptions options)
    {
        var outer = new MimeMessage();
        outer.Headers.Clear();
        foreach (var header in message.Headers)
        {
            if (MimeIo.IsStructural(header) || header.Field.Equals("Bcc", StringComparison.OrdinalIgnoreCase)
                || header.Field.Equals(AutocryptHeader.HeaderName, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (obscure && NotRepeatedOutside.Contains(header.Field, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }

            var value = obscure && header.Field.Equals("Subject", StringComparison.OrdinalIgnoreCase) ? "[...]" : header.Value;
            outer.Headers.Add(header.Field, value);
        }

        if (obscure && !outer.Headers.Contains(HeaderId.Subject))
        {
            outer.Headers.Add(HeaderId.Subject, "[...]");
        }

        if (string.IsNullOrEmpty(outer.MessageId))
        {
            outer.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId();
        }

        _ = bcc;
        if (options.Autocrypt is { } autocrypt)
        {
            outer.Headers.Add(MimeIo.RawHeader(AutocryptHeader.HeaderName, autocrypt.ToHeaderValue()));
        }

        return outer;
    }

    /// <summary>
    /// The cryptographic payload: the original body with the protected header fields on it
    /// (RFC 9788 section 2), <c>hp</c> on its Content-Type, <c>HP-Outer</c> copies of what the
    /// outer header section says, and Autocrypt-Gossip headers.
    /// </summary>
    private static MimeEntity InnerEntity(MimeMessage message, string? hp, MailboxAddress? bcc, MimeMessage? outer,
        List<MailboxAddress> gossip, Dictionary<string, Certificate>? lookup, ComposeOptions options)
    {
        var body = message.Body ?? new TextPart("plain") { Text = "" };
        var entity = MimeIo.LoadEntity(MimeIo.Canonical(body), OpenPgpOptions.Default);
        if (hp is null)
        {
            return entity;
        }

        var protectedHeaders = new List<Header>();
        foreach (var header in message.Headers)
        {
            if (MimeIo.IsStructural(header) || header.Field.Equals(AutocryptHeader.HeaderName, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (header.Field.Equals("Bcc", StringComparison.OrdinalIgnoreCase))
            {
                continue; // a Bcc copy names only its own recipient, below; the To/Cc copy names none
            }

            protectedHeaders.Add(new Header(header.Field, header.Value));
        }

        if (bcc is not null)
        {
            protectedHeaders.Add(new Header("Bcc", bcc.ToString()));
        }

        if (outer is not null)
        {
            // HP-Outer = field-name ":" SP field-value  (RFC 9788 section 2.2)
            foreach (var header in outer.Headers)
            {
                if (!MimeIo.IsStructural(header) && !header.Field.Equals(AutocryptHeader.HeaderName, StringComparison.OrdinalIgnoreCase))
                {
                    protectedHeaders.Add(new Header("HP-Outer", $"{header.Field}: {header.Value}"));
                }
            }
        }

        foreach (var recipient in gossip)
        {
            if (lookup is not null && lookup.TryGetValue(recipient.Address, out var certificate))
            {
                var minimal = AutocryptHeader.Create(recipient.Address, certificate, PreferEncrypt.NoPreference, options.Now);
                protectedHeaders.Add(MimeIo.RawHeader(AutocryptHeader.GossipHeaderName, minimal.ToHeaderValue(gossip: true)));
            }
        }

        for (var i = 0; i < protectedHeaders.Count; i++)
        {
            entity.Headers.Insert(i, protectedHeaders[i]);
        }

        entity.ContentType.Parameters["hp"] = hp;
        return entity;
    }
}
