using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;
using Letterlock.OpenPgp.Autocrypt;
using Letterlock.OpenPgp.Mime;
using MimeKit;
using StoredPeerState = Letterlock.Client.Store.AutocryptPeerState;

namespace Letterlock.Client.Mail;

/// <summary>What happened to one received message.</summary>
/// <param name="Message">The message as stored (what the mail app will see).</param>
/// <param name="Security">Its security summary.</param>
/// <param name="KeyValidation">The sender's key validation step, when the message carried an Autocrypt key.</param>
public sealed record IncomingResult(StoredMessage Message, MessageSecurity Security, KeyValidationResult? KeyValidation);

/// <summary>A received message read and ready to store (<see cref="IncomingMailProcessor.ReadAsync"/>).</summary>
internal sealed record IncomingRead(NewMessage Message, MessageSecurity Security, KeyValidationResult? KeyValidation);

/// <summary>
/// Turns a received RFC 5322 message into the account's stored message: strict decryption and
/// verification through Letterlock.OpenPgp, protected headers restored, the sender's Autocrypt
/// state updated, the security summary computed against the sender's pinned key, forged
/// <c>Letterlock-*</c> headers removed and the true ones added, then stored (sealed) and indexed.
/// </summary>
/// <remarks>
/// <para>An encrypted message that cannot be opened (integrity protection missing or failing, malformed, or sealed to
/// no key of the account) is never shown as its plaintext or as raw ciphertext: the mail app gets a notice marked
/// <c>Letterlock-Encryption: failed; reason=...</c> with the original attached as opaque bytes (DESIGN.md invariant 4).
/// The HTML of a decrypted message loses every reference a mail app would fetch by itself (<see cref="RemoteContentBlocker"/>).</para>
/// <para>A signature is <c>valid</c> only when it covers the whole message, its signer is From, and the signing key is
/// the From address's pinned, transparent or verified key (DESIGN.md invariant 5). A key carried in the message's
/// Autocrypt header is observed with the authentication the message has (<see cref="KeyAuthentication"/>): mail that
/// neither passed DMARC with alignment at the account's provider (the arrival authentication given to
/// <see cref="ProcessAsync"/>) nor is signed by that key never moves a pinned contact.</para>
/// </remarks>
public sealed class IncomingMailProcessor(LocalStore store, AccountRecord account, UnlockedKey accountKey, OpenPgpOptions? options = null,
    TimeProvider? time = null, Transparency.ITransparencyGossip? gossip = null, IReadOnlyList<UnlockedKey>? retiredKeys = null)
{
    /// <summary>The IMAP keyword set on mail whose sender's domain says it is forged (DMARC fail under reject or quarantine).</summary>
    public const string ForgedSenderKeyword = "$Phishing";

    private readonly PgpMimeReader _reader = new(options);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Processes <paramref name="raw"/> into <paramref name="folder"/> (default INBOX) as a message of this device.</summary>
    /// <param name="raw">The message.</param>
    /// <param name="folder">Where to store it.</param>
    /// <param name="flags">Initial flags.</param>
    /// <param name="arrival">What the account's provider recorded about the sender on arrival (null: unknown, e.g. not
    /// delivered through the provider's inbox).</param>
    /// <param name="ct">Cancels.</param>
    /// <exception cref="FormatException">The bytes are not a parseable message.</exception>
    /// <exception cref="LocalStoreException">The account has no such folder, or the store refuses the message (larger than its limit).</exception>
    public async Task<IncomingResult> ProcessAsync(ReadOnlyMemory<byte> raw, FolderRole folder = FolderRole.Inbox,
        IReadOnlyCollection<string>? flags = null, ArrivalAuthentication? arrival = null, CancellationToken ct = default)
    {
        var read = await ReadAsync(raw, flags, arrival, ct).ConfigureAwait(false);
        var mail = store.Mail(account.Id);
        var target = await mail.FindFolderAsync(folder, ct).ConfigureAwait(false)
            ?? throw new LocalStoreException($"the account has no {folder} folder");
        var stored = await mail.AppendAsync(target.Id, read.Message, ct).ConfigureAwait(false);
        return stored.IsOk
            ? new IncomingResult(stored.Value!, read.Security, read.KeyValidation)
            : throw new LocalStoreException("the message cannot be stored: " + stored.Detail);
    }

    /// <summary>
    /// Everything of <see cref="ProcessAsync"/> but storing the message: strict read, the sender's Autocrypt state
    /// and key observed, the security summary and headers. Sync stores the result itself, with the document it came from.
    /// </summary>
    /// <exception cref="FormatException">The bytes are not a parseable message.</exception>
    internal async Task<IncomingRead> ReadAsync(ReadOnlyMemory<byte> raw, IReadOnlyCollection<string>? flags, ArrivalAuthentication? arrival, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var structure = new MimeStructureScanner(_reader.Options.MimeLimits);
        if ((structure.Feed(raw.Span) ?? structure.Complete()) is { } violation)
        {
            // Nothing parses it: MimeKit's header parsing is quadratic in a field's folding and its objects grow with
            // the parts, and every later reader (the bridge's FETCH, SEARCH) would pay again.
            return TooComplex(raw, violation, structure.Parts > 1, arrival, flags, now);
        }

        MimeMessage outer;
        try
        {
            using var stream = ReadOnlyStream(raw);
            outer = await MimeMessage.LoadAsync(new ParserOptions { MaxMimeDepth = _reader.Options.MaxMimeDepth }, stream, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FormatException or ParseException)
        {
            throw new FormatException("the message is not RFC 5322: " + e.Message, e);
        }

        var fromAddress = outer.From.Mailboxes.FirstOrDefault()?.Address is { } f ? MailAddress.TryNormalize(f) : null;
        var contact = fromAddress is null ? null : await store.Contacts.GetAsync(account.Id, fromAddress, ct).ConfigureAwait(false);
        var context = new ReadContext
        {
            Keys = [accountKey, .. retiredKeys ?? []], // older primary keys (account revoke-key) still open mail sent to them
            Certificates = KnownCertificates(contact, fromAddress),
            Now = now,
        };

        SecureMessage? secure = null;
        DecryptionFailure? failure = null;
        try
        {
            secure = _reader.Read(outer, context);
            if (secure.Security.Signature == MessageSignatureStatus.UnknownKey && secure.Autocrypt is { } carried)
            {
                // The first message of a peer carries its key in the Autocrypt header: verify with it. Whether that key
                // may be pinned is decided below with the message's authentication, and the trust shown is never more
                // than the key's level after that.
                secure = _reader.Read(outer, context with { Certificates = [.. context.Certificates, carried.Certificate] });
            }

            if (secure.Security.Encryption == EncryptionStatus.NoDecryptionKey)
            {
                failure = DecryptionFailure.NoKey;
            }
        }
        catch (IntegrityException)
        {
            failure = DecryptionFailure.Integrity; // nothing decrypted is released
        }
        catch (LimitExceededException e) when (IsEncryptedAtRoot(outer) && e.LimitName.StartsWith(nameof(OpenPgpOptions.MimeLimits), StringComparison.Ordinal))
        {
            failure = DecryptionFailure.TooComplex; // the decrypted content's MIME structure exceeds a limit
        }
        catch (OpenPgpException) when (IsEncryptedAtRoot(outer))
        {
            failure = DecryptionFailure.Malformed;
        }
        catch (OpenPgpException)
        {
            // Malformed OpenPGP inside a message that is not encrypted as a whole (a quoted armor block): kept as it came, unmarked.
        }

        if (failure is { } reason)
        {
            return Refused(outer, raw, reason, arrival, flags, now);
        }

        var sender = secure?.Header("From") is { } protectedFrom && InternetAddressList.TryParse(protectedFrom, out var list)
            ? list.Mailboxes.FirstOrDefault()?.Address is { } a ? MailAddress.TryNormalize(a) : fromAddress
            : fromAddress;
        if (gossip is not null && secure is { Security.IsEncrypted: true })
        {
            // Key-transparency gossip is read only from inside the encryption (docs/FORMATS.md, "Letterlock-Tree-Head").
            await gossip.ReceivedAsync(Transparency.HeadGossip.Read(secure.ProtectedHeaders ?? secure.Body.Headers), sender, ct).ConfigureAwait(false);
        }

        KeyValidationResult? validation = null;
        if (sender is not null && secure is not null && sender != account.Address)
        {
            var before = sender == fromAddress ? contact : await store.Contacts.GetAsync(account.Id, sender, ct).ConfigureAwait(false);
            validation = await UpdateAutocryptAsync(sender, fromAddress, outer, secure, before, arrival, now, ct).ConfigureAwait(false);
            contact = await store.Contacts.GetAsync(account.Id, sender, ct).ConfigureAwait(false);
        }

        var security = Summarize(secure, contact, sender) with { Sender = arrival };
        var display = secure is not null && (secure.Security.Encryption == EncryptionStatus.Encrypted || secure.Security.Signature != MessageSignatureStatus.None)
            ? secure.ToDisplayMessage()
            : outer;
        if (secure is { Security.Encryption: EncryptionStatus.Encrypted })
        {
            // Decrypted HTML never makes the mail app fetch anything (DESIGN.md invariant 4).
            RemoteContentBlocker.Apply(display);
        }

        return Finish(display, security, arrival, flags, now, validation);
    }

    /// <summary>The message as it will be stored: the true indicator fields, the summary, the flags (marked when forged).</summary>
    private IncomingRead Finish(MimeMessage display, MessageSecurity security, ArrivalAuthentication? arrival, IReadOnlyCollection<string>? flags,
        DateTimeOffset now, KeyValidationResult? validation)
    {
        SecurityHeaders.Apply(display, security);
        var bytes = Canonical(display);
        var (summary, text, searchText) = MessageSummaryBuilder.BuildForIndex(bytes, now, security, _reader.Options.MaxMimeDepth);
        IReadOnlyCollection<string> initialFlags = flags ?? [];
        if (arrival is { FailedUnderEnforcingPolicy: true } && !initialFlags.Contains(ForgedSenderKeyword, StringComparer.OrdinalIgnoreCase))
        {
            initialFlags = [.. initialFlags, ForgedSenderKeyword];
        }

        return new IncomingRead(new NewMessage(summary, bytes, initialFlags, text, searchText), security, validation);
    }

    /// <summary>
    /// A message that arrived in the native protocol, already opened and its sender verified (the sending device is in
    /// the sender address's key-transparency entry and the message's From is that address): shown as end-to-end,
    /// forward-secret, post-quantum, signed by that device with transparent trust.
    /// </summary>
    internal IncomingRead ReadNative(byte[] content, byte[] senderDeviceKey, bool senderListed = true)
    {
        MimeMessage message;
        using (var stream = new MemoryStream(content, writable: false))
        {
            message = MimeMessage.Load(new ParserOptions { MaxMimeDepth = _reader.Options.MaxMimeDepth }, stream);
        }

        // A sending device not (yet) in the sender's transparency entry: end to end all the same, but its identity is unverified.
        var security = new MessageSecurity(EncryptionState.EndToEnd, senderListed ? SignatureState.Valid : SignatureState.UnknownKey,
            Convert.ToHexString(senderDeviceKey).ToLowerInvariant(), senderListed ? KeyValidationLevel.Transparent : KeyValidationLevel.None, Native: true);
        RemoteContentBlocker.Apply(message);
        SecurityHeaders.Apply(message, security);
        var bytes = Canonical(message);
        var (summary, text) = MessageSummaryBuilder.Build(bytes, _time.GetUtcNow(), security, _reader.Options.MaxMimeDepth);
        return new IncomingRead(new NewMessage(summary, bytes, [], text), security, null);
    }

    /// <summary>
    /// An encrypted message that could not be opened: a notice in its place (the sender, recipients, date and the outer
    /// subject, which is all the sender left readable), with the original attached as opaque bytes so nothing is lost
    /// and no mail app decrypts or renders it on its own.
    /// </summary>
    private IncomingRead Refused(MimeMessage outer, ReadOnlyMemory<byte> raw, DecryptionFailure reason, ArrivalAuthentication? arrival,
        IReadOnlyCollection<string>? flags, DateTimeOffset now)
    {
        var notice = new MimeMessage();
        notice.Headers.Clear();
        foreach (var header in outer.Headers)
        {
            if (header.Id is HeaderId.From or HeaderId.Sender or HeaderId.To or HeaderId.Cc or HeaderId.ReplyTo or HeaderId.Date or HeaderId.Subject
                or HeaderId.MessageId or HeaderId.InReplyTo or HeaderId.References)
            {
                notice.Headers.Add(header.Clone());
            }
        }

        string why = reason switch
        {
            DecryptionFailure.Integrity => "its integrity protection is missing or does not verify, so it may have been altered on the way " +
                "or crafted to make a mail program reveal its content (the EFAIL attacks)",
            DecryptionFailure.Malformed => "its encrypted structure is malformed",
            DecryptionFailure.TooComplex => "its decrypted content has more MIME parts, nesting or header data than this device accepts",
            _ => "it is not encrypted to a key of this account",
        };
        var text = new TextPart("plain")
        {
            Text = "This message was sent encrypted, but Letterlock refused to open it: " + why + ".\r\n\r\n" +
                "Nothing of its encrypted content is shown. The message as received is attached unchanged (as opaque data).\r\n" +
                "If you expected it, ask the sender to send it again.\r\n",
        };
        var original = new MimePart("application", "octet-stream")
        {
            Content = new MimeContent(new MemoryStream(raw.ToArray(), writable: false)),
            ContentDisposition = new ContentDisposition(ContentDisposition.Attachment),
            ContentTransferEncoding = ContentEncoding.Base64,
            FileName = "refused-message.bin",
        };
        notice.Body = new Multipart("mixed") { text, original };
        var security = new MessageSecurity(EncryptionState.Failed, SignatureState.None, null, null, reason, arrival);
        return Finish(notice, security, arrival, flags, now, null);
    }

    /// <summary>
    /// A message whose MIME structure exceeds a limit: a notice in its place, with the original attached as opaque
    /// bytes (nothing is lost; no mail app parses it on its own). The original's top-level header fields are copied
    /// only when its top-level header block was within every limit (<paramref name="headerBlockChecked"/>).
    /// </summary>
    private IncomingRead TooComplex(ReadOnlyMemory<byte> raw, MimeLimitViolation violation, bool headerBlockChecked, ArrivalAuthentication? arrival,
        IReadOnlyCollection<string>? flags, DateTimeOffset now)
    {
        var notice = new MimeMessage();
        notice.Headers.Clear();
        if (headerBlockChecked)
        {
            using var stream = ReadOnlyStream(raw);
            var headers = new MimeParser(new ParserOptions { MaxMimeDepth = 1 }, stream, MimeFormat.Entity).ParseHeaders();
            foreach (var header in headers)
            {
                if (header.Id is HeaderId.From or HeaderId.Sender or HeaderId.To or HeaderId.Cc or HeaderId.ReplyTo or HeaderId.Date or HeaderId.Subject
                    or HeaderId.MessageId or HeaderId.InReplyTo or HeaderId.References)
                {
                    notice.Headers.Add(header.Clone());
                }
            }
        }

        if (!notice.Headers.Contains(HeaderId.Date))
        {
            notice.Date = now;
        }

        if (!notice.Headers.Contains(HeaderId.Subject))
        {
            notice.Subject = "Message refused: too complex to display";
        }

        var text = new TextPart("plain")
        {
            Text = "Letterlock did not open this message: " + violation.Description + " (limit MimeLimits." + violation.Limit + ").\r\n\r\n" +
                "Such messages make mail programs slow or exhaust their memory. The message as received is attached unchanged " +
                "(as opaque data).\r\n",
        };
        var original = new MimePart("application", "octet-stream")
        {
            Content = new MimeContent(new MemoryStream(raw.ToArray(), writable: false)),
            ContentDisposition = new ContentDisposition(ContentDisposition.Attachment),
            ContentTransferEncoding = ContentEncoding.Base64,
            FileName = "refused-message.bin",
        };
        notice.Body = new Multipart("mixed") { text, original };
        return Finish(notice, MessageSecurity.Plain with { Sender = arrival }, arrival, flags, now, null);
    }

    private static bool IsEncryptedAtRoot(MimeMessage message) =>
        message.Body is Multipart { ContentType: var type } && type.IsMimeType("multipart", "encrypted");

    /// <summary>The message as bytes with CRLF line ends (IMAP sizes and sections count them).</summary>
    internal static byte[] Canonical(MimeMessage message)
    {
        using var buffer = new MemoryStream();
        message.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, buffer);
        return buffer.ToArray();
    }

    private List<Certificate> KnownCertificates(ContactRecord? contact, string? from)
    {
        var certificates = new List<Certificate>();
        void Add(byte[]? data)
        {
            if (data is { Length: > 0 })
            {
                try
                {
                    certificates.AddRange(Certificate.ParseAll(data));
                }
                catch (OpenPgpException)
                {
                    // A stored key that no longer parses verifies nothing.
                }
            }
        }

        if (from == account.Address)
        {
            certificates.Add(accountKey.Certificate); // mail from this account itself (another device, a Bcc to self)
        }

        Add(contact?.KeyState.Pinned?.Certificate);
        Add(contact?.KeyState.Candidate?.Certificate);
        Add(contact?.Autocrypt?.PublicKey);
        return certificates;
    }

    /// <summary>
    /// How the mail that carried <paramref name="key"/> for <paramref name="sender"/> was authenticated, in order of
    /// strength: signed by the sender's pinned key with the key inside the signed part (an endorsed rotation), signed by
    /// the key itself (unless DMARC failed: a forged domain proves nothing, whatever it is signed with), DMARC pass with
    /// alignment for the sender's domain as the account's provider recorded it; otherwise unauthenticated.
    /// </summary>
    private static KeyAuthentication Authenticate(Certificate key, bool insideSignedPart, string sender, string? outerFrom, SecureMessage secure,
        ContactRecord? contact, ArrivalAuthentication? arrival)
    {
        var summary = secure.Security;
        string? signer = summary.IsAuthenticated ? summary.Signer?.Hex : null;
        if (insideSignedPart && signer is not null && contact?.KeyState.Pinned is { } pinned && pinned.Fingerprint.Hex == signer
            && pinned.Fingerprint.Hex != key.Fingerprint.Hex)
        {
            return KeyAuthentication.SignedByPinned;
        }

        if (arrival is { Failed: true })
        {
            return KeyAuthentication.Unauthenticated;
        }

        if (signer is not null && signer == key.Fingerprint.Hex)
        {
            return KeyAuthentication.SignedBySelf;
        }

        // DMARC speaks for the outer From domain only; a protected From elsewhere is not covered by it.
        var (_, domain) = MailAddress.Split(sender);
        return arrival is not null && outerFrom == sender && arrival.PassesFor(domain) ? KeyAuthentication.DmarcAligned : KeyAuthentication.Unauthenticated;
    }

    /// <summary>An <c>Autocrypt</c> field inside the signed (protected) header section, when the whole message is validly signed by From.</summary>
    private AutocryptHeader? SignedAutocrypt(SecureMessage secure, string sender, DateTimeOffset now)
    {
        if (!secure.Security.IsAuthenticated || secure.ProtectedHeaders is not { } headers)
        {
            return null;
        }

        var fields = headers.Where(h => h.Field.Equals(AutocryptHeader.HeaderName, StringComparison.OrdinalIgnoreCase)).ToList();
        if (fields.Count != 1)
        {
            return null;
        }

        string value = System.Text.Encoding.ASCII.GetString(fields[0].RawValue).Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Trim();
        return AutocryptHeader.TryParse(value, sender, out var parsed, _reader.Options, now) == AutocryptHeaderStatus.Valid ? parsed : null;
    }

    /// <summary>
    /// Autocrypt Level 1 peer-state update (2.3.3) and gossip (2.3.4), then the carried key observed with the message's
    /// authentication. Unauthenticated mail that carries a key other than the pinned one changes neither the contact nor
    /// its Autocrypt state (it is recorded as a suspicious attempt); mail whose domain failed DMARC changes no state.
    /// </summary>
    private async Task<KeyValidationResult?> UpdateAutocryptAsync(string sender, string? outerFrom, MimeMessage outer, SecureMessage secure,
        ContactRecord? contact, ArrivalAuthentication? arrival, DateTimeOffset now, CancellationToken ct)
    {
        var effective = Letterlock.OpenPgp.Autocrypt.AutocryptPeerState.EffectiveDate(outer.Headers.Contains(HeaderId.Date) ? outer.Date : null, now);
        var header = secure.Autocrypt;
        var signedHeader = SignedAutocrypt(secure, sender, now);
        var pinned = contact?.KeyState.Pinned?.Fingerprint.Hex;
        bool signedByPinned = secure.Security.IsAuthenticated && pinned is not null && secure.Security.Signer?.Hex == pinned;
        bool forged = arrival is { Failed: true } && !signedByPinned; // the From domain itself says this mail is not from it
        KeyAuthentication? authentication = header is null ? null
            : forged ? KeyAuthentication.Forged
            : Authenticate(header.Certificate, signedHeader?.Certificate.Fingerprint == header.Certificate.Fingerprint, sender, outerFrom, secure, contact, arrival);
        bool namesAddress = header?.Certificate.HasAddress(sender) ?? true;
        bool foreignKey = header is not null && pinned is not null && header.Certificate.Fingerprint.Hex != pinned;
        bool keepsPeerState = forged || !namesAddress || (foreignKey && authentication == KeyAuthentication.Unauthenticated);
        if (!keepsPeerState)
        {
            await store.Contacts.UpdateAsync(account.Id, sender, current =>
            {
                var before = ToOpenPgp(current.Autocrypt, sender);
                var after = Letterlock.OpenPgp.Autocrypt.AutocryptPeerState.Update(before, sender, effective, header);
                var stored = FromOpenPgp(after, after.PublicKey is not null && header is not null && after.PublicKey.Fingerprint == header.Certificate.Fingerprint
                    ? authentication
                    : current.Autocrypt?.PublicKeyAuthentication);
                return new ContactUpdate(current with { Autocrypt = stored }, []);
            }, ct).ConfigureAwait(false);

            foreach (var gossiped in secure.Gossip)
            {
                if (MailAddress.TryNormalize(gossiped.Address) is not { } gossipAddress || gossipAddress == account.Address)
                {
                    continue;
                }

                await store.Contacts.UpdateAsync(account.Id, gossipAddress, current =>
                {
                    var after = Letterlock.OpenPgp.Autocrypt.AutocryptPeerState.UpdateFromGossip(ToOpenPgp(current.Autocrypt, gossipAddress), gossipAddress, effective, gossiped);
                    return new ContactUpdate(current with { Autocrypt = FromOpenPgp(after, current.Autocrypt?.PublicKeyAuthentication) }, []);
                }, ct).ConfigureAwait(false);
            }
        }

        KeyValidationResult? validation = null;
        if (signedHeader is not null && signedHeader.Certificate.Fingerprint.Hex != pinned
            && (header is null || signedHeader.Certificate.Fingerprint != header.Certificate.Fingerprint))
        {
            var certificate = signedHeader.Certificate;
            var endorsed = Authenticate(certificate, insideSignedPart: true, sender, outerFrom, secure, contact, arrival);
            validation = await store.Contacts.ObserveKeyAsync(account.Id, sender, new ObservedKey(KeyFingerprint.Parse(certificate.Fingerprint.Hex),
                certificate.Export(armored: false), KeyOrigin.Autocrypt, null, endorsed, certificate.HasAddress(sender)), TransparencyVerdict.Absent, ct).ConfigureAwait(false);
        }

        if (header is not null)
        {
            var certificate = header.Certificate;
            var observed = new ObservedKey(KeyFingerprint.Parse(certificate.Fingerprint.Hex), certificate.Export(armored: false), KeyOrigin.Autocrypt, null,
                authentication!.Value, namesAddress);
            validation = await store.Contacts.ObserveKeyAsync(account.Id, sender, observed, TransparencyVerdict.Absent, ct).ConfigureAwait(false);
        }

        return validation;
    }

    /// <summary>
    /// The security summary: a signature is <see cref="SignatureState.Valid"/> only when it covers the whole message, its
    /// signer carries From, and the signing key is From's pinned key (at the contact's level) or this account's own key;
    /// a covering signature by any other key (the pending changed key, a look-alike key naming the address) is
    /// <see cref="SignatureState.UnverifiedSigner"/>.
    /// </summary>
    private MessageSecurity Summarize(SecureMessage? secure, ContactRecord? contact, string? sender)
    {
        if (secure is null)
        {
            return MessageSecurity.Plain;
        }

        var summary = secure.Security;
        var encryption = summary.IsEncrypted ? EncryptionState.EndToEnd : EncryptionState.None;
        var signer = summary.Signer?.Hex;
        if (summary.Signature == MessageSignatureStatus.Valid && summary.IsAuthenticated && signer is not null)
        {
            if (sender == account.Address && signer == accountKey.Fingerprint.Hex)
            {
                return new MessageSecurity(encryption, SignatureState.Valid, signer, KeyValidationLevel.Verified);
            }

            var state = contact?.KeyState;
            return state?.Pinned is { } pinned && pinned.Fingerprint.Hex == signer
                ? new MessageSecurity(encryption, SignatureState.Valid, signer, state.Level)
                : new MessageSecurity(encryption, SignatureState.UnverifiedSigner, signer,
                    state?.Candidate?.Fingerprint.Hex == signer ? KeyValidationLevel.Changed : KeyValidationLevel.None);
        }

        var signature = summary.Signature switch
        {
            MessageSignatureStatus.Valid or MessageSignatureStatus.Invalid => SignatureState.Invalid,
            MessageSignatureStatus.UnknownKey => SignatureState.UnknownKey,
            _ => SignatureState.None,
        };
        return new MessageSecurity(encryption, signature, signature == SignatureState.Invalid ? signer : null, null);
    }

    private static Letterlock.OpenPgp.Autocrypt.AutocryptPeerState? ToOpenPgp(StoredPeerState? state, string address)
    {
        if (state is null)
        {
            return null;
        }

        static Certificate? Parse(byte[]? data)
        {
            try
            {
                return data is { Length: > 0 } ? Certificate.Parse(data) : null;
            }
            catch (OpenPgpException)
            {
                return null;
            }
        }

        return new Letterlock.OpenPgp.Autocrypt.AutocryptPeerState(address, state.LastSeen, state.AutocryptTimestamp, Parse(state.PublicKey),
            state.PreferEncryptMutual ? PreferEncrypt.Mutual : PreferEncrypt.NoPreference, state.GossipTimestamp, Parse(state.GossipKey));
    }

    private static StoredPeerState FromOpenPgp(Letterlock.OpenPgp.Autocrypt.AutocryptPeerState state, KeyAuthentication? publicKeyAuthentication) =>
        new(state.LastSeen, state.AutocryptTimestamp, state.PublicKey?.Export(armored: false), state.PreferEncrypt == PreferEncrypt.Mutual,
            state.GossipTimestamp, state.GossipKey?.Export(armored: false), publicKeyAuthentication);

    /// <summary>The bytes as a read-only stream, without copying them when they are (part of) an array: a 24 MiB message is not copied again to be parsed.</summary>
    private static MemoryStream ReadOnlyStream(ReadOnlyMemory<byte> raw) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(raw, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(raw.ToArray(), writable: false);
}
