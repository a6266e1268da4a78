using System.Text;
using Letterlock.OpenPgp.Autocrypt;
using MimeKit;

namespace Letterlock.OpenPgp.Mime;

/// <summary>What the reader may use: the user's secret keys and the certificates it knows.</summary>
public sealed record ReadContext
{
    /// <summary>Secret keys to decrypt with.</summary>
    public IReadOnlyList<UnlockedKey> Keys { get; init; } = [];

    /// <summary>Known certificates to verify signatures with.</summary>
    public IReadOnlyList<Certificate> Certificates { get; init; } = [];

    /// <summary>The current time (for Autocrypt key checks); default now.</summary>
    public DateTimeOffset? Now { get; init; }
}

/// <summary>
/// Reads any incoming message into a <see cref="SecureMessage"/>: PGP/MIME encrypted, signed,
/// signed+encrypted and nested combinations, inline PGP (read only), RFC 9788 protected headers,
/// Autocrypt and gossip. Decryption is strict (see <see cref="OpenPgpEngine"/>): integrity
/// failures throw <see cref="IntegrityException"/>; a message nobody can decrypt is a status.
/// A signature counts for the message only if it covers the whole message and its signer
/// matches From; anything else is reported, never promoted.
/// </summary>
public sealed class PgpMimeReader(OpenPgpOptions? options = null)
{
    private static readonly string[] ComparedHeaders = ["From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID"];
    private static readonly string[] LegacyObscuredSubjects = ["[...]", "...", "Encrypted Message", "Encrypted message", "Encrypted Subject"];

    private readonly OpenPgpOptions _options = options ?? OpenPgpOptions.Default;
    private readonly OpenPgpEngine _engine = new(options);

    /// <summary>The limits applied.</summary>
    public OpenPgpOptions Options => _options;

    /// <summary>Parses raw RFC 5322 bytes (at most <see cref="OpenPgpOptions.MaxMessageSize"/>) and reads them.</summary>
    public SecureMessage Read(Stream raw, ReadContext context)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = raw.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (buffer.Length + read > _options.MaxMessageSize)
            {
                throw new LimitExceededException(nameof(OpenPgpOptions.MaxMessageSize), _options.MaxMessageSize);
            }

            buffer.Write(chunk, 0, read);
        }

        MimeIo.CheckStructure(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), _options);
        buffer.Position = 0;
        MimeMessage message;
        try
        {
            message = MimeMessage.Load(MimeIo.Parser(_options), buffer);
        }
        catch (FormatException e)
        {
            throw new MalformedInputException("the message is not RFC 5322", e);
        }

        return Read(message, context);
    }

    /// <summary>Reads a parsed message.</summary>
    public SecureMessage Read(MimeMessage message, ReadContext context)
    {
        ArgumentNullException.ThrowIfNull(message);
        var now = context.Now ?? DateTimeOffset.UtcNow;
        var body = message.Body ?? new TextPart("plain") { Text = "" };
        CheckDepth(body, 1);

        var encryption = EncryptionStatus.None;
        Fingerprint? decryptedWith = null;
        var findings = new List<(SignatureVerification Verification, bool Covers)>();
        var current = body;
        var layers = 1;
        while (true)
        {
            if (IsPgpEncrypted(current, out var ciphertext))
            {
                DecryptionResult result;
                try
                {
                    result = _engine.Decrypt(ciphertext, new DecryptOptions { Keys = context.Keys, Verifiers = context.Certificates });
                }
                catch (NoDecryptionKeyException)
                {
                    encryption = EncryptionStatus.NoDecryptionKey;
                    break;
                }

                encryption = EncryptionStatus.Encrypted;
                decryptedWith ??= result.DecryptedWith;
                findings.AddRange(result.Signatures.Select(s => (s, true)));
                MimeIo.CheckStructure(result.Plaintext, _options); // decrypted content is hostile input as much as the envelope
                current = MimeIo.LoadEntity(result.Plaintext, _options);
                CheckDepth(current, ++layers);
                continue;
            }

            if (IsPgpSigned(current, out var signedPart, out var signature))
            {
                findings.AddRange(VerifySigned(signedPart, signature, context).Select(s => (s, true)));
                current = signedPart;
                layers++;
                continue;
            }

            if (current is TextPart text && !text.IsAttachment && InlinePgp(text, context, out var replaced, out var inlineEncrypted, out var inlineSignatures, out var whole, out var inlineKey))
            {
                if (inlineEncrypted)
                {
                    encryption = whole ? EncryptionStatus.Encrypted : EncryptionStatus.PartiallyEncrypted;
                    decryptedWith ??= inlineKey;
                }

                findings.AddRange(inlineSignatures.Select(s => (s, whole)));
                current = replaced;
            }

            break;
        }

        // Anything signed or encrypted below the content root covers only part of the message.
        var partialEncrypted = false;
        foreach (var entity in Descendants(current))
        {
            if (IsPgpEncrypted(entity, out _))
            {
                partialEncrypted = true;
            }
            else if (IsPgpSigned(entity, out var part, out var sig))
            {
                findings.AddRange(VerifySigned(part, sig, context).Select(s => (s, false)));
            }
            else if (entity is TextPart t && !t.IsAttachment && LooksInline(t.Text))
            {
                partialEncrypted |= t.Text.Contains("-----BEGIN PGP MESSAGE-----", StringComparison.Ordinal);
            }
        }

        if (partialEncrypted && encryption == EncryptionStatus.None)
        {
            encryption = EncryptionStatus.PartiallyEncrypted;
        }

        // Protected headers: hp="cipher" only counts inside encryption, hp="clear" only under a covering signature.
        var hp = MimeIo.Parameter(current.ContentType, "hp");
        var legacy = MimeIo.Parameter(current.ContentType, "protected-headers") == "v1";
        HeaderList? protectedHeaders = null;
        if ((hp == "cipher" || legacy) && encryption == EncryptionStatus.Encrypted)
        {
            protectedHeaders = current.Headers;
        }
        else if ((hp == "clear" || legacy) && findings.Any(f => f.Covers))
        {
            protectedHeaders = current.Headers;
        }

        var mismatches = protectedHeaders is null ? [] : Mismatches(protectedHeaders, message.Headers);
        var fromHeader = protectedHeaders?["From"] ?? message.Headers[HeaderId.From];
        var from = FirstAddress(fromHeader);

        var summary = Summarize(encryption, decryptedWith, findings, from, context);
        var autocrypt = OuterAutocrypt(message, now);
        var gossip = encryption == EncryptionStatus.Encrypted && protectedHeaders is not null
            ? Gossip(current.Headers, protectedHeaders, now)
            : (IReadOnlyList<AutocryptHeader>)[];
        return new SecureMessage(message, current, protectedHeaders, mismatches, summary, findings.Select(f => f.Verification).ToList(), autocrypt, gossip);
    }

    private SecuritySummary Summarize(EncryptionStatus encryption, Fingerprint? decryptedWith, List<(SignatureVerification Verification, bool Covers)> findings, string? from, ReadContext context)
    {
        if (findings.Count == 0)
        {
            return new SecuritySummary(encryption, decryptedWith, MessageSignatureStatus.None, null, null, false, false);
        }

        bool Matches(SignatureVerification v) =>
            from is not null && v.Certificate is { } fp && context.Certificates.FirstOrDefault(c => c.Fingerprint == fp) is { } cert && cert.HasAddress(from);

        // The most favourable honest reading: a covering valid signature by the From address,
        // then any covering valid one, then any covering one, then the rest.
        var best = findings
            .OrderByDescending(f => f.Covers && f.Verification.Status == SignatureStatus.Valid && Matches(f.Verification))
            .ThenByDescending(f => f.Covers && f.Verification.Status == SignatureStatus.Valid)
            .ThenByDescending(f => f.Covers)
            .ThenByDescending(f => f.Verification.Status == SignatureStatus.Valid)
            .First();
        var status = best.Verification.Status switch
        {
            SignatureStatus.Valid => MessageSignatureStatus.Valid,
            SignatureStatus.UnknownKey => MessageSignatureStatus.UnknownKey,
            _ => MessageSignatureStatus.Invalid,
        };
        var covers = best.Covers && encryption != EncryptionStatus.PartiallyEncrypted;
        return new SecuritySummary(encryption, decryptedWith, status, best.Verification.Certificate, best.Verification.IssuerKeyId, covers, Matches(best.Verification));
    }

    private List<SignatureVerification> VerifySigned(MimeEntity signedPart, MimePart signature, ReadContext context)
    {
        try
        {
            return [.. _engine.VerifyDetached(MimeIo.Canonical(signedPart), MimeIo.Decoded(signature), context.Certificates)];
        }
        catch (MalformedInputException)
        {
            return [new SignatureVerification(SignatureStatus.Invalid, null, null, DateTimeOffset.MinValue, SignatureMode.Binary, "the signature part is malformed")];
        }
    }

    private bool InlinePgp(TextPart part, ReadContext context, out MimeEntity replaced, out bool encrypted, out IReadOnlyList<SignatureVerification> signatures, out bool whole, out Fingerprint? key)
    {
        replaced = part;
        encrypted = false;
        signatures = [];
        whole = false;
        key = null;
        var text = part.Text ?? "";
        if (!LooksInline(text))
        {
            return false;
        }

        const string MessageBegin = "-----BEGIN PGP MESSAGE-----";
        const string MessageEnd = "-----END PGP MESSAGE-----";
        const string SignedBegin = "-----BEGIN PGP SIGNED MESSAGE-----";
        const string SignatureEnd = "-----END PGP SIGNATURE-----";
        var encryptedBlock = text.IndexOf(MessageBegin, StringComparison.Ordinal);
        var signedBlock = text.IndexOf(SignedBegin, StringComparison.Ordinal);
        if (encryptedBlock >= 0 && (signedBlock < 0 || encryptedBlock < signedBlock))
        {
            var end = text.IndexOf(MessageEnd, encryptedBlock, StringComparison.Ordinal);
            if (end < 0)
            {
                throw new MalformedInputException("inline PGP message without an end line");
            }

            end += MessageEnd.Length;
            whole = text[..encryptedBlock].Trim().Length == 0 && text[end..].Trim().Length == 0;
            DecryptionResult result;
            try
            {
                result = _engine.Decrypt(Encoding.UTF8.GetBytes(text[encryptedBlock..end] + "\n"), new DecryptOptions { Keys = context.Keys, Verifiers = context.Certificates });
            }
            catch (NoDecryptionKeyException)
            {
                return false;
            }

            encrypted = true;
            key = result.DecryptedWith;
            signatures = result.Signatures;
            var plaintext = Encoding.UTF8.GetString(result.Plaintext);
            // A sender may have encrypted a cleartext-signed text (old PGP/inline habit).
            if (plaintext.TrimStart().StartsWith(SignedBegin, StringComparison.Ordinal))
            {
                var inner = _engine.VerifyInline(result.Plaintext, context.Certificates);
                signatures = [.. signatures, .. inner.Signatures];
                plaintext = Encoding.UTF8.GetString(inner.Content);
            }

            replaced = new TextPart("plain") { Text = whole ? plaintext : text[..encryptedBlock] + plaintext + text[end..] };
            return true;
        }

        var sigEnd = text.IndexOf(SignatureEnd, signedBlock, StringComparison.Ordinal);
        if (sigEnd < 0)
        {
            throw new MalformedInputException("cleartext-signed text without a signature end line");
        }

        sigEnd += SignatureEnd.Length;
        whole = text[..signedBlock].Trim().Length == 0 && text[sigEnd..].Trim().Length == 0;
        var verified = _engine.VerifyInline(Encoding.UTF8.GetBytes(text[signedBlock..sigEnd] + "\n"), context.Certificates);
        signatures = verified.Signatures;
        var content = Encoding.UTF8.GetString(verified.Content);
        replaced = new TextPart("plain") { Text = whole ? content : text[..signedBlock] + content + text[sigEnd..] };
        return true;
    }

    private static bool LooksInline(string? text) =>
        text is not null && (text.Contains("-----BEGIN PGP MESSAGE-----", StringComparison.Ordinal) || text.Contains("-----BEGIN PGP SIGNED MESSAGE-----", StringComparison.Ordinal));

    // multipart/encrypted; protocol="application/pgp-encrypted": exactly two parts, the first
    // application/pgp-encrypted ("Version: 1"), the second application/octet-stream (RFC 3156, 4).
    private static bool IsPgpEncrypted(MimeEntity entity, out byte[] ciphertext)
    {
        ciphertext = [];
        if (entity is not Multipart multipart || !multipart.ContentType.IsMimeType("multipart", "encrypted")
            || !string.Equals(MimeIo.Parameter(multipart.ContentType, "protocol"), "application/pgp-encrypted", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (multipart.Count != 2 || multipart[0] is not MimePart control || !control.ContentType.IsMimeType("application", "pgp-encrypted")
            || multipart[1] is not MimePart payload)
        {
            throw new MalformedInputException("multipart/encrypted does not have the RFC 3156 structure");
        }

        ciphertext = MimeIo.Decoded(payload);
        return true;
    }

    // multipart/signed; protocol="application/pgp-signature": the signed part, then the signature (RFC 3156, 5).
    private static bool IsPgpSigned(MimeEntity entity, out MimeEntity signed, out MimePart signature)
    {
        signed = entity;
        signature = null!;
        if (entity is not Multipart multipart || !multipart.ContentType.IsMimeType("multipart", "signed")
            || !string.Equals(MimeIo.Parameter(multipart.ContentType, "protocol"), "application/pgp-signature", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (multipart.Count != 2 || multipart[1] is not MimePart sig)
        {
            throw new MalformedInputException("multipart/signed does not have the RFC 3156 structure");
        }

        signed = multipart[0];
        signature = sig;
        return true;
    }

    private void CheckDepth(MimeEntity root, int startDepth)
    {
        var stack = new Stack<(MimeEntity Entity, int Depth)>();
        stack.Push((root, startDepth));
        while (stack.Count > 0)
        {
            var (entity, depth) = stack.Pop();
            if (depth > _options.MaxMimeDepth)
            {
                throw new LimitExceededException(nameof(OpenPgpOptions.MaxMimeDepth), _options.MaxMimeDepth);
            }

            if (entity is Multipart multipart)
            {
                foreach (var child in multipart)
                {
                    stack.Push((child, depth + 1));
                }
            }
            else if (entity is MessagePart { Message.Body: { } inner })
            {
                stack.Push((inner, depth + 1));
            }
        }
    }

    private static IEnumerable<MimeEntity> Descendants(MimeEntity root)
    {
        if (root is not Multipart multipart)
        {
            yield break;
        }

        var stack = new Stack<MimeEntity>(multipart);
        while (stack.Count > 0)
        {
            var entity = stack.Pop();
            yield return entity;
            if (entity is Multipart inner && !IsPgpEncrypted(entity, out _) && !IsPgpSigned(entity, out _, out _))
            {
                foreach (var child in inner)
                {
                    stack.Push(child);
                }
            }
        }
    }

    private static List<HeaderMismatch> Mismatches(HeaderList inner, HeaderList outer)
    {
        var recorded = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var header in inner.Where(h => h.Field.Equals("HP-Outer", StringComparison.OrdinalIgnoreCase)))
        {
            var colon = header.Value.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                recorded[header.Value[..colon].Trim()] = header.Value[(colon + 1)..].Trim();
            }
        }

        var result = new List<HeaderMismatch>();
        foreach (var name in ComparedHeaders)
        {
            var innerValue = inner[name];
            var outerValue = outer[name];
            if (recorded.Count > 0)
            {
                // RFC 9788: the sender recorded what it put outside; anything else was changed in transit.
                var expected = recorded.GetValueOrDefault(name);
                if (MimeIo.Normalize(expected) != MimeIo.Normalize(outerValue) && !(expected is null && outerValue is null))
                {
                    result.Add(new HeaderMismatch(name, innerValue, outerValue, expected));
                }
            }
            else if (innerValue is not null && MimeIo.Normalize(innerValue) != MimeIo.Normalize(outerValue)
                && !(name == "Subject" && LegacyObscuredSubjects.Contains(MimeIo.Normalize(outerValue))))
            {
                result.Add(new HeaderMismatch(name, innerValue, outerValue, null));
            }
        }

        return result;
    }

    private AutocryptHeader? OuterAutocrypt(MimeMessage message, DateTimeOffset now)
    {
        var from = FirstAddress(message.Headers[HeaderId.From]);
        if (from is null || message.From.Mailboxes.Count() != 1)
        {
            return null; // Autocrypt 2.3: ignore when From is not exactly one address
        }

        var valid = new List<AutocryptHeader>();
        foreach (var header in message.Headers.Where(h => h.Field.Equals(AutocryptHeader.HeaderName, StringComparison.OrdinalIgnoreCase)))
        {
            if (AutocryptHeader.TryParse(Unfold(header), from, out var parsed, _options, now) == AutocryptHeaderStatus.Valid)
            {
                valid.Add(parsed!);
            }
        }

        return valid.Count == 1 ? valid[0] : null; // more than one valid header: treat as none
    }

    private List<AutocryptHeader> Gossip(HeaderList payloadHeaders, HeaderList protectedHeaders, DateTimeOffset now)
    {
        var recipients = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in new[] { "To", "Cc" })
        {
            if (protectedHeaders[name] is { } value && InternetAddressList.TryParse(value, out var list))
            {
                foreach (var m in list.Mailboxes)
                {
                    recipients.Add(m.Address);
                }
            }
        }

        var result = new List<AutocryptHeader>();
        foreach (var header in payloadHeaders.Where(h => h.Field.Equals(AutocryptHeader.GossipHeaderName, StringComparison.OrdinalIgnoreCase)))
        {
            if (AutocryptHeader.TryParse(Unfold(header), null, out var parsed, _options, now) == AutocryptHeaderStatus.Valid
                && recipients.Contains(parsed!.Address))
            {
                result.Add(parsed);
            }
        }

        return result;
    }

    private static string Unfold(Header header) =>
        Encoding.ASCII.GetString(header.RawValue).Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Trim();

    private static string? FirstAddress(string? header) =>
        header is not null && InternetAddressList.TryParse(header, out var list) ? list.Mailboxes.FirstOrDefault()?.Address : null;
}
