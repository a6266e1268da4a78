using System.Text.Json;
using System.Text.Json.Serialization;
using Letterlock.Client.Discovery;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;
using Letterlock.OpenPgp.Autocrypt;
using Letterlock.OpenPgp.Mime;
using MimeKit;

namespace Letterlock.Client.Mail;

/// <summary>What became of a submitted message.</summary>
public enum SendStatus
{
    /// <summary>Queued for the provider (encrypted, or plain as the policy allows).</summary>
    Queued,

    /// <summary>Refused: the policy says encrypted only and these recipients have no usable key.</summary>
    RefusedNoKey,

    /// <summary>Refused: these recipients' keys changed and the user has not decided yet.</summary>
    RefusedChangedKey,

    /// <summary>
    /// Refused: these recipients' providers served keys they have not published in their key-transparency logs (a failed,
    /// missing or not yet published proof), and no key of theirs may be used automatically.
    /// </summary>
    RefusedUnpublishedKey,

    /// <summary>Refused: From is not the account's address.</summary>
    RefusedSender,

    /// <summary>Refused: the message cannot be parsed, or has no recipients.</summary>
    Invalid,

    /// <summary>Refused: the message exceeds a limit on its MIME structure (<see cref="SendOutcome.Limit"/> names it); nothing parsed it.</summary>
    TooComplex,
}

/// <summary>The outcome of <see cref="OutgoingMailProcessor.SubmitAsync(ReadOnlyMemory{byte}, IReadOnlyList{string}, bool, CancellationToken)"/>.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Recipients">For refusals, the recipients at fault; for <see cref="SendStatus.Queued"/>, all recipients.</param>
/// <param name="Encrypted">Whether the queued copies are end-to-end encrypted.</param>
/// <param name="Jobs">The queued send jobs (one per copy: Bcc recipients get their own).</param>
/// <param name="SentCopy">The copy kept in Sent.</param>
/// <param name="Limit">For <see cref="SendStatus.TooComplex"/>, the limit exceeded.</param>
public sealed record SendOutcome(SendStatus Status, IReadOnlyList<string> Recipients, bool Encrypted, IReadOnlyList<JobId> Jobs, StoredMessage? SentCopy,
    MimeLimitViolation? Limit = null);

/// <summary>A message waiting in the local queue for the provider: the envelope and the exact bytes to send.</summary>
/// <param name="From">Envelope sender.</param>
/// <param name="Recipients">Envelope recipients of this copy.</param>
/// <param name="Message">The RFC 5322 message (PGP/MIME when encrypted).</param>
/// <param name="Subject">The real subject (the encrypted message shows only a placeholder), for status and failure notices.</param>
/// <param name="SentCopy">The local id of the copy kept in Sent.</param>
/// <param name="QueuedAt">When the mail app handed it over; the outbox gives up after its message lifetime.</param>
public sealed record QueuedMail(string From, IReadOnlyList<string> Recipients, byte[] Message, string? Subject = null, Guid? SentCopy = null,
    DateTimeOffset? QueuedAt = null)
{
    /// <summary>The job kind of queued outgoing mail.</summary>
    public const string JobKind = "send";

    /// <summary>Serializes for the job payload.</summary>
    public byte[] ToPayload() => JsonSerializer.SerializeToUtf8Bytes(this, MailJson.Default.QueuedMail);

    /// <summary>Reads a job payload.</summary>
    public static QueuedMail FromPayload(ReadOnlySpan<byte> payload) =>
        JsonSerializer.Deserialize(payload, MailJson.Default.QueuedMail) ?? throw new FormatException("empty queued mail");
}

/// <summary>How a message to one recipient would go, as <see cref="OutgoingMailProcessor.PlanAsync"/> finds it.</summary>
public enum RecipientRoute
{
    /// <summary>End-to-end encrypted to the recipient's key.</summary>
    EndToEnd,

    /// <summary>No usable key: the message would go unencrypted (when the policy allows it).</summary>
    NoKey,

    /// <summary>The recipient's key changed and the user has not decided: nothing is sent to them until then.</summary>
    KeyChanged,

    /// <summary>Their provider served a key it has not published in its transparency log: nothing is sent to them.</summary>
    KeyUnpublished,
}

/// <summary>The end-to-end protocol a message to a recipient uses.</summary>
public enum EncryptionProtocol
{
    /// <summary>None: the message is not end-to-end encrypted.</summary>
    None,

    /// <summary>OpenPGP, as PGP/MIME (RFC 3156) with protected headers (RFC 9788).</summary>
    PgpMime,
}

/// <summary>One recipient of a message about to be sent: how it would go, and why.</summary>
/// <param name="Address">The recipient (normalized).</param>
/// <param name="Route">End to end, no key, or a changed key awaiting a decision.</param>
/// <param name="Protocol">The protocol when <see cref="RecipientRoute.EndToEnd"/>.</param>
/// <param name="Level">The validation level of the key used (or of the contact's state).</param>
/// <param name="Fingerprint">The key's fingerprint when there is one.</param>
/// <param name="ContactWantsEncryption">The contact is marked "encrypted only": without a key, nothing goes.</param>
public sealed record RecipientPlan(string Address, RecipientRoute Route, EncryptionProtocol Protocol, KeyValidationLevel Level, string? Fingerprint,
    bool ContactWantsEncryption);

/// <summary>What sending a message to a set of recipients would do, decided exactly as <see cref="OutgoingMailProcessor.SubmitAsync(ReadOnlyMemory{byte}, IReadOnlyList{string}, bool, CancellationToken)"/> decides.</summary>
/// <param name="Recipients">Each recipient's route.</param>
/// <param name="Outcome">What sending would do: <see cref="SendStatus.Queued"/> (then <paramref name="Encrypted"/> says how) or the refusal.</param>
/// <param name="Encrypted">Whether the message would go end to end to everyone.</param>
public sealed record SendPlan(IReadOnlyList<RecipientPlan> Recipients, SendStatus Outcome, bool Encrypted);

[JsonSerializable(typeof(QueuedMail))]
internal sealed partial class MailJson : JsonSerializerContext;

/// <summary>
/// The sending side (issue 6, "Sending"): for each recipient a usable key from the contact's
/// pinned state or from discovery; PGP/MIME signed and encrypted with RFC 9788 header protection
/// and an Autocrypt header when every recipient has one, Bcc recipients in separate copies;
/// otherwise the account's policy decides between plain sending (opportunistic) and refusal
/// (encrypted only, for the account or a contact). A recipient whose key changed stops the send
/// until the user decides: a changed key never silently turns into plaintext. The copies are
/// queued in the store (so a provider outage loses nothing) and a copy goes to Sent, sealed.
/// </summary>
public sealed class OutgoingMailProcessor(LocalStore store, AccountRecord account, UnlockedKey accountKey, ContactKeyResolver? resolver = null,
    OpenPgpOptions? options = null, TimeProvider? time = null, Transparency.ITransparencyGossip? gossip = null, Native.NativeMail? native = null)
{
    private readonly PgpMimeComposer _composer = new(options);
    private readonly OpenPgpOptions _options = options ?? OpenPgpOptions.Default;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Submits a message from the mail app with its SMTP envelope.</summary>
    public Task<SendOutcome> SubmitAsync(ReadOnlyMemory<byte> raw, IReadOnlyList<string> envelopeRecipients, CancellationToken ct = default) =>
        SubmitAsync(raw, envelopeRecipients, requireEncryption: false, ct);

    /// <summary>
    /// What <see cref="SubmitAsync(ReadOnlyMemory{byte}, IReadOnlyList{string}, bool, CancellationToken)"/> would do for these
    /// recipients now, recipient by recipient, with the same key lookups (discovery included) and the same rules.
    /// </summary>
    public async Task<SendPlan> PlanAsync(IReadOnlyList<string> recipients, bool requireEncryption = false, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        var now = _time.GetUtcNow();
        var plans = new List<RecipientPlan>();
        foreach (var recipient in recipients.Select(MailAddress.TryNormalize).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            var (certificate, level, encryptedOnly, pendingUnpublished) = await FindKeyAsync(recipient, now, ct).ConfigureAwait(false);
            var route = level == KeyValidationLevel.Changed ? pendingUnpublished ? RecipientRoute.KeyUnpublished : RecipientRoute.KeyChanged
                : certificate is null ? RecipientRoute.NoKey : RecipientRoute.EndToEnd;
            plans.Add(new RecipientPlan(recipient, route, route == RecipientRoute.EndToEnd ? EncryptionProtocol.PgpMime : EncryptionProtocol.None, level,
                certificate?.Fingerprint.Hex, encryptedOnly));
        }

        bool encrypt = plans.Count > 0 && plans.All(p => p.Route == RecipientRoute.EndToEnd);
        var outcome = plans.Count == 0 ? SendStatus.Invalid
            : plans.Any(p => p.Route == RecipientRoute.KeyUnpublished) ? SendStatus.RefusedUnpublishedKey
            : plans.Any(p => p.Route == RecipientRoute.KeyChanged) ? SendStatus.RefusedChangedKey
            : !encrypt && (requireEncryption || account.Policy == EncryptionPolicy.EncryptedOnly || plans.Any(p => p.ContactWantsEncryption)) ? SendStatus.RefusedNoKey
            : SendStatus.Queued;
        return new SendPlan(plans, outcome, encrypt);
    }

    /// <summary>
    /// Submits a message with its envelope; with <paramref name="requireEncryption"/> ("send only if encrypted") it is
    /// refused, like under an encrypted-only policy, unless every recipient gets an end-to-end encrypted copy.
    /// </summary>
    public async Task<SendOutcome> SubmitAsync(ReadOnlyMemory<byte> raw, IReadOnlyList<string> envelopeRecipients, bool requireEncryption, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(envelopeRecipients);
        var now = _time.GetUtcNow();
        MimeMessage message;
        try
        {
            message = await BoundedMime.LoadAsync(raw, _options.MimeLimits, ct).ConfigureAwait(false);
        }
        catch (MimeLimitExceededException e)
        {
            return new SendOutcome(SendStatus.TooComplex, [], false, [], null, e.Violation);
        }
        catch (Exception e) when (e is FormatException or ParseException)
        {
            return new SendOutcome(SendStatus.Invalid, [], false, [], null);
        }

        var from = message.From.Mailboxes.FirstOrDefault()?.Address is { } f ? MailAddress.TryNormalize(f) : null;
        if (from != account.Address)
        {
            return new SendOutcome(SendStatus.RefusedSender, [from ?? ""], false, [], null);
        }

        var recipients = envelopeRecipients.Select(MailAddress.TryNormalize).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        if (recipients.Count == 0)
        {
            return new SendOutcome(SendStatus.Invalid, [], false, [], null);
        }

        var certificates = new Dictionary<string, Certificate>(StringComparer.OrdinalIgnoreCase);
        var missing = new List<string>();
        var changed = new List<string>();
        var unpublished = new List<string>();
        bool contactWantsEncryption = false;
        foreach (var recipient in recipients)
        {
            var (certificate, state, encryptedOnly, pendingUnpublished) = await FindKeyAsync(recipient, now, ct).ConfigureAwait(false);
            contactWantsEncryption |= encryptedOnly;
            if (state == KeyValidationLevel.Changed)
            {
                (pendingUnpublished ? unpublished : changed).Add(recipient);
            }
            else if (certificate is null)
            {
                missing.Add(recipient);
            }
            else
            {
                certificates[recipient] = certificate;
            }
        }

        if (unpublished.Count > 0)
        {
            return new SendOutcome(SendStatus.RefusedUnpublishedKey, unpublished, false, [], null);
        }

        if (changed.Count > 0)
        {
            return new SendOutcome(SendStatus.RefusedChangedKey, changed, false, [], null);
        }

        // Letterlock recipients with native-capable devices get the native protocol, each as its own message; the
        // rest go PGP/MIME (or plain) below. The sealed content is the message as written, without Bcc.
        IReadOnlyDictionary<string, byte[]> nativeCopies = new Dictionary<string, byte[]>();
        if (native is not null)
        {
            var content = Copy(message);
            content.Bcc.Clear();
            SecurityHeaders.Strip(content);
            nativeCopies = await native.SealAsync(IncomingMailProcessor.Canonical(content), recipients, ct).ConfigureAwait(false);
            missing.RemoveAll(nativeCopies.ContainsKey);
        }

        var others = recipients.Where(r => !nativeCopies.ContainsKey(r)).ToList();
        bool encrypt = missing.Count == 0;
        if (!encrypt && (requireEncryption || account.Policy == EncryptionPolicy.EncryptedOnly || contactWantsEncryption))
        {
            return new SendOutcome(SendStatus.RefusedNoKey, missing, false, [], null);
        }

        // Envelope recipients not in To/Cc are Bcc: each gets a separately encrypted copy.
        var visible = message.To.Mailboxes.Concat(message.Cc.Mailboxes).Select(m => MailAddress.TryNormalize(m.Address)).OfType<string>().ToHashSet(StringComparer.Ordinal);
        foreach (var hidden in recipients.Where(r => !visible.Contains(r) && !message.Bcc.Mailboxes.Any(b => string.Equals(b.Address, r, StringComparison.OrdinalIgnoreCase))))
        {
            message.Bcc.Add(new MailboxAddress(null, hidden));
        }

        var autocrypt = AutocryptHeader.Create(account.Address, accountKey.Certificate, PreferEncrypt.Mutual, now);
        var copies = new List<(IReadOnlyList<string> Recipients, byte[] Message)>();
        if (encrypt)
        {
            // Key-transparency gossip: the provider's newest head rides inside the encryption (protected header).
            Transparency.HeadGossip.Attach(message, gossip is null ? null : await gossip.HeadForOutgoingAsync(account.Address, ct).ConfigureAwait(false));
            // Copies addressed only to native recipients are not sent: they have theirs.
            var pgp = others.Count == 0 ? [] : _composer.Encrypt(message, accountKey, certificates, new ComposeOptions { Autocrypt = autocrypt, Now = now });
            foreach (var copy in pgp)
            {
                var to = copy.Recipients.Select(r => MailAddress.Normalize(r.Address)).Where(others.Contains).ToList();
                if (to.Count > 0)
                {
                    copies.Add((to, IncomingMailProcessor.Canonical(copy.Message)));
                }
            }

            Transparency.HeadGossip.Detach(message);
        }
        else
        {
            var plain = Copy(message);
            plain.Bcc.Clear();
            SecurityHeaders.Strip(plain);
            plain.Headers.Add(AutocryptHeader.HeaderName, autocrypt.ToHeaderValue());
            copies.Add((others, IncomingMailProcessor.Canonical(plain)));
        }

        copies.AddRange(nativeCopies.Select(n => ((IReadOnlyList<string>)[n.Key], n.Value)));

        // The copies and the Sent copy commit in one transaction: after a crash either the mail app was told
        // "queued" and both exist, or neither does and the app sends again.
        var sentCopy = await SentCopyAsync(message, encrypt, now, ct).ConfigureAwait(false);
        var mail = store.Mail(account.Id);
        PreparedMessage? prepared = null;
        if (sentCopy is { } copyToKeep)
        {
            var result = mail.Prepare(copyToKeep.Message);
            prepared = result.IsOk ? result.Value : throw new LocalStoreException("the Sent copy cannot be stored: " + result.Detail);
        }

        var (jobs, sent) = await mail.WriteAsync<(IReadOnlyList<JobId>, StoredMessage?)>(ChangeOrigin.ThisDevice, writer =>
        {
            var stored = prepared is not null && writer.Folder(sentCopy!.Value.Folder) is { } sentFolder ? writer.Append(sentFolder, prepared) : null;
            var ids = copies.Select(copy => store.Jobs.Enqueue(writer.Connection, writer.Transaction, QueuedMail.JobKind,
                new QueuedMail(account.Address, copy.Recipients, copy.Message, message.Subject, stored?.Id.Value, now).ToPayload(), account.Id)).ToList();
            return (ids, stored);
        }, ct).ConfigureAwait(false);
        return new SendOutcome(SendStatus.Queued, recipients, encrypt, jobs, sent);
    }

    private MimeMessage Copy(MimeMessage message)
    {
        using var stream = new MemoryStream(IncomingMailProcessor.Canonical(message), writable: false);
        return MimeMessage.Load(new ParserOptions { MaxMimeDepth = _options.MaxMimeDepth }, stream);
    }

    private async Task<(Certificate? Certificate, KeyValidationLevel Level, bool EncryptedOnly, bool PendingUnpublished)> FindKeyAsync(string recipient,
        DateTimeOffset now, CancellationToken ct)
    {
        if (recipient == account.Address)
        {
            return (accountKey.Certificate, KeyValidationLevel.Verified, false, false);
        }

        var contact = await store.Contacts.GetAsync(account.Id, recipient, ct).ConfigureAwait(false);
        if (resolver is not null)
        {
            // Asked on every send, not only when nothing is pinned: a key replaced at the recipient's provider must be
            // noticed (and stop automatic encryption) before the next message goes out, not after. When discovery finds
            // nothing (offline, provider down) the stored state stands, so sending still works with pinned keys.
            contact = (await resolver.ResolveAsync(recipient, ct).ConfigureAwait(false)).Contact ?? contact;
        }

        var state = contact?.KeyState ?? ContactKeyState.Empty;
        var encryptedOnly = contact?.EncryptedOnly ?? false;
        if (state.EncryptionKey is not { } key)
        {
            return (null, state.Level, encryptedOnly, state.PendingKeyIsUnpublished);
        }

        try
        {
            var certificate = Certificate.Parse(key.Certificate, _options);
            return (certificate.SelectEncryptionKey(now) is null ? null : certificate, state.Level, encryptedOnly, false);
        }
        catch (OpenPgpException)
        {
            return (null, state.Level, encryptedOnly, false);
        }
    }

    private async Task<(FolderId Folder, NewMessage Message)?> SentCopyAsync(MimeMessage message, bool encrypted, DateTimeOffset now, CancellationToken ct)
    {
        var sentFolder = await store.Mail(account.Id).FindFolderAsync(FolderRole.Sent, ct).ConfigureAwait(false);
        if (sentFolder is null)
        {
            return null;
        }

        var copy = Copy(message);
        var security = new MessageSecurity(encrypted ? EncryptionState.EndToEnd : EncryptionState.None, SignatureState.Valid,
            accountKey.Fingerprint.Hex, KeyValidationLevel.Verified);
        SecurityHeaders.Apply(copy, security);
        var bytes = IncomingMailProcessor.Canonical(copy);
        var (summary, text, searchText) = MessageSummaryBuilder.BuildForIndex(bytes, now, security, _options.MaxMimeDepth);
        return (sentFolder.Id, new NewMessage(summary, bytes, ["\\Seen"], text, searchText));
    }
}
