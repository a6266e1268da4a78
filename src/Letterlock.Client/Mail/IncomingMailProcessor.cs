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
/// A message whose integrity check fails is stored as received (still encrypted) with
/// <c>Letterlock-Encryption: none</c>: no partial plaintext is ever kept (DESIGN.md invariant 4). The HTML
/// of a decrypted message loses every reference a mail app would fetch by itself (<see cref="RemoteContentBlocker"/>).
/// A signature counts as valid only when it covers the whole message and its signer is From.
/// </remarks>
public sealed class IncomingMailProcessor(LocalStore store, AccountRecord account, UnlockedKey accountKey, OpenPgpOptions? options = null,
    TimeProvider? time = null, Transparency.ITransparencyGossip? gossip = null)
{
    private readonly PgpMimeReader _reader = new(options);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Processes <paramref name="raw"/> into <paramref name="folder"/> (default INBOX) as a message of this device.</summary>
    /// <exception cref="FormatException">The bytes are not a parseable message.</exception>
    /// <exception cref="LocalStoreException">The account has no such folder, or the store refuses the message (larger than its limit).</exception>
    public async Task<IncomingResult> ProcessAsync(ReadOnlyMemory<byte> raw, FolderRole folder = FolderRole.Inbox,
        IReadOnlyCollection<string>? flags = null, CancellationToken ct = default)
    {
        var read = await ReadAsync(raw, flags, ct).ConfigureAwait(false);
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
    internal async Task<IncomingRead> ReadAsync(ReadOnlyMemory<byte> raw, IReadOnlyCollection<string>? flags, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        MimeMessage outer;
        try
        {
            using var stream = new MemoryStream(raw.ToArray(), writable: false);
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
            Keys = [accountKey],
            Certificates = KnownCertificates(contact),
            Now = now,
        };

        SecureMessage? secure = null;
        try
        {
            secure = _reader.Read(outer, context);
            if (secure.Security.Signature == MessageSignatureStatus.UnknownKey && secure.Autocrypt is { } carried)
            {
                // The first message of a peer carries its key in the Autocrypt header: verify with it
                // (it becomes a TOFU pin below, so the trust shown is "tofu", never more).
                secure = _reader.Read(outer, context with { Certificates = [.. context.Certificates, carried.Certificate] });
            }
        }
        catch (IntegrityException)
        {
            // Nothing decrypted is released: keep the message as it came.
        }
        catch (OpenPgpException)
        {
            // Malformed OpenPGP inside: keep the message as it came, unmarked.
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
        if (sender is not null && secure is not null)
        {
            validation = await UpdateAutocryptAsync(sender, outer, secure, now, ct).ConfigureAwait(false);
            contact = await store.Contacts.GetAsync(account.Id, sender, ct).ConfigureAwait(false);
        }

        var security = Summarize(secure, contact);
        var display = secure is not null && (secure.Security.Encryption == EncryptionStatus.Encrypted || secure.Security.Signature != MessageSignatureStatus.None)
            ? secure.ToDisplayMessage()
            : outer;
        if (secure is { Security.Encryption: EncryptionStatus.Encrypted })
        {
            // Decrypted HTML never makes the mail app fetch anything (DESIGN.md invariant 4).
            RemoteContentBlocker.Apply(display);
        }

        SecurityHeaders.Apply(display, security);
        var bytes = Canonical(display);
        var internalDate = now;
        var (summary, text) = MessageSummaryBuilder.Build(bytes, internalDate, security, _reader.Options.MaxMimeDepth);
        return new IncomingRead(new NewMessage(summary, bytes, flags ?? [], text), security, validation);
    }

    /// <summary>
    /// A message that arrived in the native protocol, already opened and its sender verified (the sending device is in
    /// the sender address's key-transparency entry and the message's From is that address): shown as end-to-end,
    /// forward-secret, post-quantum, signed by that device with transparent trust.
    /// </summary>
    internal IncomingRead ReadNative(byte[] content, byte[] senderDeviceKey)
    {
        MimeMessage message;
        using (var stream = new MemoryStream(content, writable: false))
        {
            message = MimeMessage.Load(new ParserOptions { MaxMimeDepth = _reader.Options.MaxMimeDepth }, stream);
        }

        var security = new MessageSecurity(EncryptionState.EndToEnd, SignatureState.Valid, Convert.ToHexString(senderDeviceKey).ToLowerInvariant(),
            KeyValidationLevel.Transparent, Native: true);
        RemoteContentBlocker.Apply(message);
        SecurityHeaders.Apply(message, security);
        var bytes = Canonical(message);
        var (summary, text) = MessageSummaryBuilder.Build(bytes, _time.GetUtcNow(), security, _reader.Options.MaxMimeDepth);
        return new IncomingRead(new NewMessage(summary, bytes, [], text), security, null);
    }

    /// <summary>The message as bytes with CRLF line ends (IMAP sizes and sections count them).</summary>
    internal static byte[] Canonical(MimeMessage message)
    {
        using var buffer = new MemoryStream();
        message.WriteTo(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, buffer);
        return buffer.ToArray();
    }

    private static List<Certificate> KnownCertificates(ContactRecord? contact)
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

        Add(contact?.KeyState.Pinned?.Certificate);
        Add(contact?.KeyState.Candidate?.Certificate);
        Add(contact?.Autocrypt?.PublicKey);
        return certificates;
    }

    /// <summary>Autocrypt Level 1 peer-state update (2.3.3) and gossip (2.3.4); a new header key is observed under TOFU rules.</summary>
    private async Task<KeyValidationResult?> UpdateAutocryptAsync(string sender, MimeMessage outer, SecureMessage secure, DateTimeOffset now, CancellationToken ct)
    {
        var effective = Letterlock.OpenPgp.Autocrypt.AutocryptPeerState.EffectiveDate(outer.Headers.Contains(HeaderId.Date) ? outer.Date : null, now);
        KeyValidationResult? validation = null;
        await store.Contacts.UpdateAsync(account.Id, sender, contact =>
        {
            var before = ToOpenPgp(contact.Autocrypt, sender);
            var after = Letterlock.OpenPgp.Autocrypt.AutocryptPeerState.Update(before, sender, effective, secure.Autocrypt);
            return new ContactUpdate(contact with { Autocrypt = FromOpenPgp(after) }, []);
        }, ct).ConfigureAwait(false);

        foreach (var gossip in secure.Gossip)
        {
            if (MailAddress.TryNormalize(gossip.Address) is not { } gossipAddress || gossipAddress == account.Address)
            {
                continue;
            }

            await store.Contacts.UpdateAsync(account.Id, gossipAddress, contact =>
            {
                var after = Letterlock.OpenPgp.Autocrypt.AutocryptPeerState.UpdateFromGossip(ToOpenPgp(contact.Autocrypt, gossipAddress), gossipAddress, effective, gossip);
                return new ContactUpdate(contact with { Autocrypt = FromOpenPgp(after) }, []);
            }, ct).ConfigureAwait(false);
        }

        if (secure.Autocrypt is { } header)
        {
            var certificate = header.Certificate;
            var observed = new ObservedKey(KeyFingerprint.Parse(certificate.Fingerprint.Hex), certificate.Export(armored: false), KeyOrigin.Autocrypt);
            validation = await store.Contacts.ObserveKeyAsync(account.Id, sender, observed, TransparencyVerdict.Absent, ct).ConfigureAwait(false);
        }

        return validation;
    }

    private static MessageSecurity Summarize(SecureMessage? secure, ContactRecord? contact)
    {
        if (secure is null)
        {
            return MessageSecurity.Plain;
        }

        var summary = secure.Security;
        var encryption = summary.IsEncrypted ? EncryptionState.EndToEnd : EncryptionState.None;
        var signer = summary.Signer?.Hex;
        var signature = summary.Signature switch
        {
            MessageSignatureStatus.Valid when summary.IsAuthenticated => SignatureState.Valid,
            MessageSignatureStatus.Valid or MessageSignatureStatus.Invalid => SignatureState.Invalid,
            MessageSignatureStatus.UnknownKey => SignatureState.UnknownKey,
            _ => SignatureState.None,
        };
        KeyValidationLevel? trust = null;
        if (signature == SignatureState.Valid && signer is not null)
        {
            var state = contact?.KeyState;
            trust = state?.Pinned?.Fingerprint.Hex == signer ? state.Level
                : state?.Candidate?.Fingerprint.Hex == signer ? KeyValidationLevel.Changed
                : KeyValidationLevel.None;
        }

        return new MessageSecurity(encryption, signature, signer, trust);
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

    private static StoredPeerState FromOpenPgp(Letterlock.OpenPgp.Autocrypt.AutocryptPeerState state) =>
        new(state.LastSeen, state.AutocryptTimestamp, state.PublicKey?.Export(armored: false), state.PreferEncrypt == PreferEncrypt.Mutual,
            state.GossipTimestamp, state.GossipKey?.Export(armored: false));
}
