using System.Globalization;
using System.Text;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp.Mime;
using MimeKit;
using MimeKit.Utils;

namespace Letterlock.Client.Mail;

/// <summary>
/// The security summary a mail app shows, as header fields the bridge adds to every message (docs/design/security.md,
/// "Indicator fields"):
/// <code>
/// Letterlock-Encryption: end-to-end; forward-secret; post-quantum | end-to-end | none | failed; reason=integrity|malformed|no-key
/// Letterlock-Signature:  valid; key=FPR; trust=tofu|transparent|verified|changed
///                      | unverified-signer; key=FPR; trust=changed|none | invalid[; key=FPR] | unknown-key | none
/// Letterlock-Sender:     unauthenticated; dmarc=fail; policy=reject|quarantine; domain=DOMAIN   (only when forged)
/// </code>
/// Only a signature by the From address's pinned, transparent or verified key starts with <c>valid</c>; every other
/// first word is one no reader can take for success. Before the true fields are added, every field a sender could
/// pass off as one of them is removed at every MIME level a mail app renders (<see cref="Strip"/>).
/// </summary>
public static class SecurityHeaders
{
    /// <summary>The encryption header.</summary>
    public const string Encryption = "Letterlock-Encryption";

    /// <summary>The signature header.</summary>
    public const string Signature = "Letterlock-Signature";

    /// <summary>The sender-check header, present only when the sender's domain says the message is forged.</summary>
    public const string Sender = "Letterlock-Sender";

    /// <summary>Removes any forged security headers and writes the true ones.</summary>
    public static void Apply(MimeMessage message, MessageSecurity security)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(security);
        Strip(message);
        message.Headers.Add(Encryption, EncryptionValue(security));
        message.Headers.Add(Signature, SignatureValue(security));
        if (security.Sender is { FailedUnderEnforcingPolicy: true } sender)
        {
            message.Headers.Add(Sender, $"unauthenticated; dmarc=fail; policy={Token(sender.Policy)}; domain={Token(sender.HeaderFrom)}");
        }
    }

    /// <summary>The value of <see cref="Encryption"/> for <paramref name="security"/>.</summary>
    public static string EncryptionValue(MessageSecurity security)
    {
        ArgumentNullException.ThrowIfNull(security);
        return security.Encryption switch
        {
            EncryptionState.EndToEnd => security.Native ? "end-to-end; forward-secret; post-quantum" : "end-to-end",
            EncryptionState.Failed => "failed; reason=" + security.Failure switch
            {
                DecryptionFailure.Malformed => "malformed",
                DecryptionFailure.NoKey => "no-key",
                DecryptionFailure.TooComplex => "limit",
                _ => "integrity",
            },
            _ => "none",
        };
    }

    /// <summary>The value of <see cref="Signature"/> for <paramref name="security"/>.</summary>
    public static string SignatureValue(MessageSecurity security)
    {
        ArgumentNullException.ThrowIfNull(security);
        string trust = (security.SignerTrust ?? KeyValidationLevel.None).ToString().ToLowerInvariant();
        return security.Signature switch
        {
            SignatureState.Valid => $"valid; key={security.SignerFingerprint}; trust={trust}",
            SignatureState.UnverifiedSigner => $"unverified-signer; key={security.SignerFingerprint}; trust={trust}",
            SignatureState.Invalid => "invalid" + (security.SignerFingerprint is { } fp ? $"; key={fp}" : ""),
            SignatureState.UnknownKey => "unknown-key",
            _ => "none",
        };
    }

    /// <summary>
    /// Removes every field that could pass for a Letterlock indicator (<see cref="IsIndicatorLike"/>) from the message's
    /// header, from the header of every body part, from every attached message (<c>message/rfc822</c>,
    /// <c>message/global</c>, also when transfer-encoded) and from header-only parts (<c>text/rfc822-headers</c>,
    /// <c>message/global-headers</c>), recursively. Returns how many fields were removed.
    /// </summary>
    public static int Strip(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        int removed = StripFields(message.Headers);
        if (message.Body is { } body)
        {
            removed += StripEntity(body, 1);
        }

        return removed;
    }

    /// <summary>
    /// A message a person or a mail app stores as it is (IMAP APPEND to Sent or Drafts, a draft saved in the web app, an
    /// import) without the indicator fields it may carry at any MIME level (<see cref="Strip"/>): the bytes unchanged when
    /// it carries none, otherwise the message written out again without them. No true fields are added: nothing was
    /// checked about such a message.
    /// </summary>
    /// <param name="message">The message, already within <paramref name="limits"/>.</param>
    /// <param name="limits">The limits it was checked against (the parse uses the same).</param>
    /// <exception cref="MimeLimitExceededException">The message exceeds a limit.</exception>
    /// <exception cref="FormatException">The bytes are not a message.</exception>
    public static ReadOnlyMemory<byte> WithoutIndicators(ReadOnlyMemory<byte> message, MimeLimits? limits = null)
    {
        var parsed = BoundedMime.Load(message, limits);
        if (Strip(parsed) == 0)
        {
            return message;
        }

        using var output = new MemoryStream(message.Length);
        parsed.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, output);
        return output.ToArray();
    }

    /// <summary>
    /// Whether a header field name could be taken for a Letterlock indicator: it is not a well-formed RFC 5322 field name
    /// (<c>ftext = %d33-57 / %d59-126</c>, section 3.6.8; every Unicode look-alike is outside it, whatever its script), or
    /// its ASCII skeleton (Unicode's confusables.txt for the ASCII range: 0→O, 1→l, I→l, |→l, m→rn, `→', "→''; UTS #39
    /// section 4), lower-cased and without punctuation, starts with <c>letterlock</c>. docs/design/security.md, "Indicator
    /// fields", says why this is complete.
    /// </summary>
    public static bool IsIndicatorLike(string fieldName)
    {
        ArgumentNullException.ThrowIfNull(fieldName);
        if (fieldName.Contains("=?", StringComparison.Ordinal))
        {
            // RFC 2047 encoded words are not allowed in field names (section 5), but a mail app that decodes them anyway
            // shows the decoded name: judge that too.
            string decoded = Rfc2047.DecodeText(Encoding.ASCII.GetBytes(fieldName));
            if (!decoded.Equals(fieldName, StringComparison.Ordinal) && IsIndicatorLike(decoded))
            {
                return true;
            }
        }

        var folded = new StringBuilder(fieldName.Length);
        foreach (char c in fieldName.Trim(' ', '\t'))
        {
            if (c is < '!' or > '~' or ':')
            {
                return true;
            }

            string skeleton = c switch
            {
                '0' => "O",
                '1' or 'I' or '|' => "l",
                'm' => "rn",
                '`' => "'",
                '"' => "''",
                _ => c.ToString(),
            };
            foreach (char s in skeleton)
            {
                if (char.IsAsciiLetterOrDigit(s))
                {
                    folded.Append(char.ToLowerInvariant(s));
                }
            }
        }

        return folded.ToString().StartsWith("letterlock", StringComparison.Ordinal);
    }

    private static int StripFields(HeaderList headers)
    {
        int removed = 0;
        foreach (var header in headers.Where(h => IsIndicatorLike(h.Field)).ToList())
        {
            headers.Remove(header);
            removed++;
        }

        return removed;
    }

    private static int StripEntity(MimeEntity entity, int depth)
    {
        // Parsing already bounded the nesting; this bound only guards the re-parse of encoded attached messages.
        if (depth > 256)
        {
            return 0;
        }

        int removed = StripFields(entity.Headers);
        switch (entity)
        {
            case Multipart multipart:
                foreach (var child in multipart)
                {
                    removed += StripEntity(child, depth + 1);
                }

                break;
            case MessagePart { Message: { } attached }:
                removed += StripFields(attached.Headers);
                if (attached.Body is { } attachedBody)
                {
                    removed += StripEntity(attachedBody, depth + 1);
                }

                break;
            case MimePart part when IsAttachedMessage(part.ContentType):
                removed += StripEncodedMessage(part, depth);
                break;
            case MimePart part when IsHeaderBlock(part.ContentType):
                removed += StripHeaderBlock(part);
                break;
        }

        return removed;
    }

    private static bool IsAttachedMessage(ContentType type) =>
        type.IsMimeType("message", "rfc822") || type.IsMimeType("message", "global") || type.IsMimeType("message", "news");

    private static bool IsHeaderBlock(ContentType type) =>
        type.IsMimeType("text", "rfc822-headers") || type.IsMimeType("message", "global-headers");

    /// <summary>
    /// A transfer-encoded attached message or header block is opaque to the structure check of the message around it:
    /// decoded, it is checked against the default <see cref="MimeLimits"/> before anything parses it. Past a limit it is
    /// neither parsed nor shown as a message: it becomes <c>application/octet-stream</c>, so no mail app renders (or
    /// chokes on) its fields, forged indicators included.
    /// </summary>
    private static bool Neutralized(MimePart part, MemoryStream decoded)
    {
        if (MimeStructureScanner.Check(decoded.GetBuffer().AsSpan(0, (int)decoded.Length)) is null)
        {
            return false;
        }

        part.ContentType.MediaType = "application";
        part.ContentType.MediaSubtype = "octet-stream";
        return true;
    }

    /// <summary>An attached message MimeKit left opaque (transfer-encoded, which RFC 2046 forbids but mail apps still show).</summary>
    private static int StripEncodedMessage(MimePart part, int depth)
    {
        if (part.Content is null)
        {
            return 0;
        }

        MimeMessage attached;
        using var decoded = new MemoryStream();
        try
        {
            part.Content.DecodeTo(decoded);
            if (Neutralized(part, decoded))
            {
                return 0;
            }

            decoded.Position = 0;
            attached = MimeMessage.Load(BoundedMime.Options(), decoded);
        }
        catch (FormatException)
        {
            return 0; // not a message: nothing a mail app would show as header fields
        }

        int removed = StripFields(attached.Headers) + (attached.Body is { } body ? StripEntity(body, depth + 1) : 0);
        if (removed > 0)
        {
            var rewritten = new MemoryStream();
            attached.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, rewritten);
            rewritten.Position = 0;
            part.Content = new MimeContent(rewritten); // written out again in the part's own transfer encoding
        }

        return removed;
    }

    private static int StripHeaderBlock(MimePart part)
    {
        if (part.Content is null)
        {
            return 0;
        }

        HeaderList headers;
        using var decoded = new MemoryStream();
        try
        {
            part.Content.DecodeTo(decoded);
            if (Neutralized(part, decoded))
            {
                return 0;
            }

            decoded.Position = 0;
            headers = HeaderList.Load(BoundedMime.Options(), decoded);
        }
        catch (FormatException)
        {
            return 0;
        }

        int removed = StripFields(headers);
        if (removed > 0)
        {
            var rewritten = new MemoryStream();
            headers.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, rewritten);
            rewritten.Position = 0;
            part.Content = new MimeContent(rewritten);
        }

        return removed;
    }

    /// <summary>A value written into an indicator field: letters, digits, dot and hyphen only (it came from a sender).</summary>
    private static string Token(string? value) =>
        string.IsNullOrEmpty(value) ? "unknown" : string.Concat(value.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '?')).ToLower(CultureInfo.InvariantCulture);
}
