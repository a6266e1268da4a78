using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Native;
using MimeKit;

namespace Letterlock.Client.Native;

/// <summary>
/// The device keys an address's key-transparency entry lists, from a verified lookup proof; null when the log shows no
/// usable entry (none, revoked, or a proof that does not verify): such an address gets PGP/MIME, and a native
/// message from it shows as signed by an unknown key. Throws <see cref="TransparencyUnavailableException"/> when the
/// entry cannot be checked now (the provider or its log did not answer): a recipient then gets PGP/MIME, and a
/// message from that address is opened again later rather than judged on nothing.
/// </summary>
public delegate Task<IReadOnlyList<byte[]>?> VerifiedDeviceKeys(string address, CancellationToken ct);

/// <summary>An address's key-transparency entry could not be checked now; nothing was learned about it.</summary>
public sealed class TransparencyUnavailableException : Exception
{
    /// <summary>For <paramref name="address"/>, with the failure that stopped the check, if any.</summary>
    public TransparencyUnavailableException(string address, Exception? inner = null)
        : base($"the key-transparency entry of {address} could not be checked now", inner) => Address = address;

    /// <summary>The address whose entry could not be checked.</summary>
    public string Address { get; }
}

/// <summary>What a session-reset request for an envelope this account sent came to.</summary>
public enum ResetOutcome
{
    /// <summary>Another device of the account sent that envelope (or it is older than the records kept): left for it.</summary>
    NotForThisDevice,

    /// <summary>Too old, or handled already: nothing changed.</summary>
    Ignored,

    /// <summary>The session was retired; the message reaches the recipient through its other devices, so it is not sent again.</summary>
    Reset,

    /// <summary>The session was retired and the message sealed again on a new session, queued to send.</summary>
    Resent,

    /// <summary>The session was retired but the message could not be sent again (see <see cref="ResetResult.Problem"/>).</summary>
    Lost,
}

/// <summary>The outcome of <see cref="NativeMail.AcceptResetAsync"/>, with what was lost when it was.</summary>
/// <param name="Outcome">What it came to.</param>
/// <param name="Problem">For <see cref="ResetOutcome.Lost"/>: which message, to whom, and why it was not sent again.</param>
public sealed record ResetResult(ResetOutcome Outcome, string? Problem = null);

/// <summary>What opening a native message came to.</summary>
/// <param name="Status">The native protocol's verdict.</param>
/// <param name="Content">The message (RFC 5322) when opened and the sender verified.</param>
/// <param name="Sender">The verified sender's address.</param>
/// <param name="SenderDeviceKey">The sending device's key.</param>
/// <param name="SenderListed">
/// Whether the sender's verified transparency entry lists that key. A device that joined its account after the
/// provider's last epoch is not listed yet: its message is still delivered (nothing may be lost: its message keys are
/// spent), shown as signed by a key this client cannot verify.
/// </param>
/// <param name="Problem">Why it was not accepted, when it was not.</param>
/// <param name="KeptAs">
/// When opened: the store entry that keeps the opened message until it is filed (<see cref="NativeMail.OpenedPurpose"/>).
/// Its message keys are spent, so whoever files the message deletes this entry in the transaction that stores it
/// (<see cref="NativeMail.ForgetOpenedAsync"/> when it is not filed).
/// </param>
/// <param name="CopiesForOthers">
/// The entry copies for the other devices the envelope addresses, by device hint (hex): whoever files the message
/// leaves them for the account's other devices (<see cref="NativeMail.OpenCopyAsync"/>).
/// </param>
public sealed record NativeReceived(OpenStatus Status, byte[]? Content, string? Sender, byte[]? SenderDeviceKey, string? Problem, bool SenderListed = true,
    Guid? KeptAs = null, IReadOnlyDictionary<string, byte[]>? CopiesForOthers = null)
{
    /// <summary>
    /// When an entry for this device did not open (its session is lost or diverged): the outer message of a signed
    /// session-reset request, for the caller to send to the sender (<see cref="NativeMail.ResetMessage"/>).
    /// </summary>
    public byte[]? ResetRequest { get; init; }

    /// <summary>
    /// The envelope was opened on this device before (from the inbox, or its entry copy): this is a second delivery
    /// of it (the Double Ratchet reports its spent message key as a replay), to be discarded; its message was filed
    /// from the first.
    /// </summary>
    public bool Duplicate { get; init; }
}

/// <summary>
/// The native protocol in the client (docs/design/native-protocol.md, "Sending" and "Receiving"): seals a message
/// for a recipient address's devices into an ordinary email whose body is the envelope, and opens such emails
/// arriving in the inbox. Sessions and prekeys live in the sealed store as device-only keys; every operation on
/// them holds the account's native lock, loads them, and saves what changed before it releases it.
/// </summary>
public sealed class NativeMail(LocalStore store, AccountRecord account, ProviderClient provider, VerifiedDeviceKeys verifiedDevices,
    NativeOptions? options = null, TimeProvider? time = null)
{
    /// <summary>The MIME type of the outer message's body (the envelope, base64).</summary>
    public const string MediaType = "application";

    /// <summary>The MIME subtype.</summary>
    public const string MediaSubtype = "vnd.letterlock.native";

    /// <summary>The purpose of stored sessions (one <see cref="RatchetSession.Export"/> each; device-only).</summary>
    public const string SessionPurpose = "device-native-session";

    /// <summary>
    /// The purpose of opened messages not filed yet (device-only): saved in the transaction that saves the sessions
    /// whose message keys opening them spent, so a crash between opening and filing loses nothing (opening again
    /// would be a replay). Each is the envelope's SHA-256, the sender's address and device key, and the content.
    /// </summary>
    public const string OpenedPurpose = "device-native-opened";

    /// <summary>The MIME subtype of a session-reset request's outer message (its body is the <see cref="Letterlock.Native.ResetRequest"/>).</summary>
    public const string ResetMediaSubtype = "vnd.letterlock.native-reset";

    /// <summary>
    /// The purpose of the records of envelopes sent (device-only): envelope id, when, and per recipient device its key and
    /// the session used, so a reset request naming the envelope retires that session only. Kept for
    /// <see cref="NativeOptions.MaxResetRequestAge"/>, the age beyond which a request is refused anyway.
    /// </summary>
    public const string SentPurpose = "device-native-sent";

    /// <summary>
    /// The purpose of the content of envelopes sent (device-only), one entry per message however many recipients, named by
    /// the records of <see cref="SentPurpose"/> and deleted with them: what a session reset sends again.
    /// </summary>
    public const string SentContentPurpose = "device-native-sent-content";

    /// <summary>
    /// The purpose of the records of envelopes opened here (device-only), one entry per day of
    /// <c>day(4, Unix days) || envelope-id(16)*</c>, kept for <see cref="NativeOptions.MaxResetRequestAge"/>: a replayed
    /// envelope this device opened is a duplicate, one it never opened means the sender's state rolled back.
    /// </summary>
    public const string SeenPurpose = "device-native-seen";

    private static readonly ConditionalWeakTable<LocalStore, Dictionary<AccountId, SemaphoreSlim>> Locks = [];
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Device keys from verified key-transparency lookups (<see cref="Transparency.TransparencyService.LookupAsync"/>).</summary>
    public static VerifiedDeviceKeys FromTransparency(Transparency.TransparencyService transparency)
    {
        ArgumentNullException.ThrowIfNull(transparency);
        return async (address, ct) =>
        {
            Validation.TransparencyVerdict verdict;
            Letterlock.Transparency.DirectoryEntry? entry;
            try
            {
                (verdict, entry, _) = await transparency.LookupAsync(address, ct).ConfigureAwait(false);
            }
            catch (ArgumentException)
            {
                return null; // not an address the log can hold
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new TransparencyUnavailableException(address, e);
            }

            return verdict switch
            {
                Validation.TransparencyVerdict.Verified => entry is { Keys.Revoked: false } ? [.. entry.Keys.DeviceKeys.Select(k => k.ToArray())] : null,
                Validation.TransparencyVerdict.Absent => throw new TransparencyUnavailableException(address), // could not be checked now
                _ => null, // the log answered, and not with a usable entry (alerted there)
            };
        };
    }

    /// <summary>True when <paramref name="message"/> is a session-reset request (its body is a <see cref="Letterlock.Native.ResetRequest"/>).</summary>
    public static bool IsResetRequest(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.Body is MimePart part && part.ContentType.IsMimeType(MediaType, ResetMediaSubtype);
    }

    /// <summary>True when <paramref name="message"/> is a native message (its body is an envelope).</summary>
    public static bool IsNative(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.Body is MimePart part && part.ContentType.IsMimeType(MediaType, MediaSubtype);
    }

    /// <summary>
    /// Seals <paramref name="content"/> for each recipient that has native-capable devices: an active session with
    /// each device its verified transparency entry lists, or one started from a bundle fetched through this
    /// account's provider. Returns the outer message per recipient routed native; the others (no verified entry,
    /// no device with prekeys, the fetch failed) are left out and go PGP/MIME.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, byte[]>> SealAsync(ReadOnlyMemory<byte> content, IReadOnlyList<string> recipients, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        var routes = new Dictionary<string, List<byte[]>>(StringComparer.Ordinal);
        foreach (var recipient in recipients.Where(r => r != account.Address))
        {
            if (await RouteAsync(recipient, ct).ConfigureAwait(false) is { } keys)
            {
                routes[recipient] = keys;
            }
        }

        var sealedMessages = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        if (routes.Count == 0 || !await ThisDeviceListedAsync(ct).ConfigureAwait(false))
        {
            return sealedMessages; // a device its recipients cannot verify yet (it joined after the last epoch) sends PGP/MIME
        }

        await WithStateAsync(async state =>
        {
            await ExpireSentAsync(state, ct).ConfigureAwait(false);
            var contentId = Guid.NewGuid();
            foreach (var (recipient, keys) in routes)
            {
                if (await SealForAsync(state, recipient, keys, content, contentId, ct).ConfigureAwait(false) is { } outer)
                {
                    sealedMessages[recipient] = outer;
                }
            }

            if (sealedMessages.Count > 0)
            {
                state.SentContent.Add((contentId, content.ToArray())); // kept while a reset may ask for it again
            }
        }, ct).ConfigureAwait(false);
        return sealedMessages;
    }

    /// <summary>The device keys a recipient's verified entry lists, or null (no usable entry, or none to be had now): PGP/MIME.</summary>
    private async Task<List<byte[]>?> RouteAsync(string address, CancellationToken ct)
    {
        try
        {
            return await verifiedDevices(address, ct).ConfigureAwait(false) is { Count: > 0 } keys ? [.. keys] : null;
        }
        catch (TransparencyUnavailableException)
        {
            return null; // not checked now: never sealed to unverified keys
        }
    }

    /// <summary>
    /// Seals <paramref name="content"/> for one recipient's listed devices (starting sessions where needed) and records the
    /// envelope; null when none of them is reachable natively.
    /// </summary>
    private async Task<byte[]?> SealForAsync(State state, string recipient, List<byte[]> keys, ReadOnlyMemory<byte> content, Guid contentId, CancellationToken ct)
    {
        var ready = new List<byte[]>();
        var missing = keys.Where(k => state.Device.Sessions.Active(k) is not { CanEncrypt: true }).ToList();
        ready.AddRange(keys.Except(missing));
        if (missing.Count > 0)
        {
            ready.AddRange(await StartSessionsAsync(state.Device, recipient, missing, ct).ConfigureAwait(false));
        }

        if (ready.Count == 0)
        {
            return null; // no native-capable device reachable: PGP/MIME
        }

        var envelope = state.Device.Seal(content.Span, [.. ready.Select(k => new EnvelopeRecipient(k))]);
        state.Sent.Add(new SentRecord(_time.GetUtcNow(), envelope.EnvelopeId, [.. ready.Zip(envelope.SessionIds)], contentId, recipient, new bool[ready.Count]).Encode());
        return Outer(recipient, envelope.Bytes, MediaSubtype);
    }

    /// <summary>Whether this device's key is in its own address's verified transparency entry, so recipients can verify it.</summary>
    private async Task<bool> ThisDeviceListedAsync(CancellationToken ct)
    {
        var own = await RouteAsync(account.Address, ct).ConfigureAwait(false);
        if (own is null)
        {
            return false;
        }

        var identity = await NativeKeys.LoadIdentityAsync(store, account.Id, ct).ConfigureAwait(false);
        return own.Any(k => k.AsSpan().SequenceEqual(identity.DeviceKey.Span));
    }

    /// <summary>
    /// Opens a native message from the inbox: this device's entry, then the sender's identity, which must be a
    /// device key the sender address's transparency entry lists, with the inner From naming that address.
    /// <see cref="OpenStatus.NotAddressed"/> leaves the message to the account's other devices.
    /// </summary>
    /// <exception cref="TransparencyUnavailableException">The sender's entry could not be checked now (the opened message is kept).</exception>
    public Task<NativeReceived> OpenAsync(MimeMessage outer, CancellationToken ct = default) => OpenAsync(outer, unverifiedIfUnavailable: false, ct);

    /// <summary>As <see cref="OpenAsync(MimeMessage, CancellationToken)"/>, choosing what a sender whose entry cannot be checked now comes to.</summary>
    /// <param name="outer">The message from the inbox.</param>
    /// <param name="unverifiedIfUnavailable">
    /// When the sender's entry cannot be checked now: false throws <see cref="TransparencyUnavailableException"/> (the
    /// opened message is kept, to be checked again later); true delivers it with the sender unverified (retries are spent).
    /// </param>
    /// <param name="ct">Cancels.</param>
    /// <exception cref="TransparencyUnavailableException">The sender's entry could not be checked now.</exception>
    public async Task<NativeReceived> OpenAsync(MimeMessage outer, bool unverifiedIfUnavailable, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(outer);
        if (!IsNative(outer) || outer.Body is not MimePart part || part.Content is null)
        {
            return new NativeReceived(OpenStatus.Malformed, null, null, null, "not a native message");
        }

        byte[] envelope;
        using (var buffer = new MemoryStream())
        {
            await part.Content.DecodeToAsync(buffer, ct).ConfigureAwait(false);
            envelope = buffer.ToArray();
        }

        byte[] digest = SHA256.HashData(envelope);
        Opened? opened = null;
        OpenStatus status = OpenStatus.Opened;
        IReadOnlyDictionary<string, byte[]> copies = new Dictionary<string, byte[]>();
        byte[]? reset = null;
        bool duplicate = false;
        await WithStateAsync(async state =>
        {
            copies = state.Device.CopiesForOthers(envelope);

            // Opened before, but not filed (the process stopped in between): its keys are spent, its content kept.
            foreach (var kept in await store.Keys.ListAsync(account.Id, OpenedPurpose, ct).ConfigureAwait(false))
            {
                if (Opened.TryDecode(kept.Material, out var earlier) && earlier.Digest.AsSpan().SequenceEqual(digest))
                {
                    earlier.KeptAs = kept.Id;
                    opened = earlier;
                    return;
                }
            }

            var result = state.Device.Open(envelope);
            state.Consumed.AddRange(result.ConsumedPrekeys);
            status = result.Status;
            if (result.Status == OpenStatus.Opened)
            {
                opened = new Opened(digest, result.Sender!.Address, result.Sender.Identity.DeviceKey, result.Content!);
                state.Kept.Add(opened);
                state.SeenNow.Add(result.EnvelopeId!);
            }
            else if (result.Status == OpenStatus.Replayed && result.EnvelopeId is { } id && await SeenAsync(state, id, ct).ConfigureAwait(false))
            {
                duplicate = true; // its message keys were spent here: a second delivery, not a lost session
            }
            else if (WarrantsReset(result) && outer.From.Mailboxes.FirstOrDefault()?.Address is { } replyTo)
            {
                reset = ResetMessage(replyTo, state.Device.CreateResetRequest(result.EnvelopeId).Encode());
            }
        }, ct).ConfigureAwait(false);
        if (opened is null)
        {
            return new NativeReceived(status, null, null, null, duplicate ? "a second delivery of a native message opened here before"
                : reset is null ? $"the native message did not open ({status})"
                : $"the native message did not open ({status}): session reset requested from its sender") { ResetRequest = reset, Duplicate = duplicate };
        }

        IReadOnlyList<byte[]>? listed;
        try
        {
            listed = await verifiedDevices(opened.Sender, ct).ConfigureAwait(false);
        }
        catch (TransparencyUnavailableException) when (unverifiedIfUnavailable)
        {
            listed = null; // checked as often as allowed: delivered, shown as from a key this client could not verify
        }

        bool senderListed = listed is not null && listed.Any(k => k.AsSpan().SequenceEqual(opened.SenderDeviceKey));

        MimeMessage inner;
        try
        {
            // Decrypted content is as hostile as any mail from outside: bounded before anything parses it.
            inner = await OpenPgp.Mime.BoundedMime.LoadAsync(opened.Content, OpenPgp.Mime.MimeLimits.Default, ct).ConfigureAwait(false);
        }
        catch (OpenPgp.Mime.MimeLimitExceededException e)
        {
            await ForgetOpenedAsync(opened.KeptAs, CancellationToken.None).ConfigureAwait(false);
            return new NativeReceived(OpenStatus.LimitExceeded, null, opened.Sender, opened.SenderDeviceKey,
                $"the native message exceeds MimeLimits.{e.Violation.Limit} ({e.Violation.Allowed})");
        }

        var from = inner.From.Mailboxes.FirstOrDefault()?.Address is { } f ? MailAddress.TryNormalize(f) : null;
        if (from != MailAddress.TryNormalize(opened.Sender))
        {
            await ForgetOpenedAsync(opened.KeptAs, CancellationToken.None).ConfigureAwait(false);
            return new NativeReceived(OpenStatus.UntrustedSender, null, opened.Sender, opened.SenderDeviceKey,
                $"the message's From is not the sender {opened.Sender}");
        }

        return new NativeReceived(OpenStatus.Opened, opened.Content, opened.Sender, opened.SenderDeviceKey, null, senderListed, opened.KeptAs, copies);
    }

    /// <summary>
    /// Opens an entry copy another device of this account left for this one after filing the message
    /// (docs/design/native-protocol.md, "Every device keeps step"): this device takes its message key, so its session
    /// with the sender keeps step; the message itself is the account's message document already.
    /// <see cref="OpenStatus.Replayed"/> means this device opened that envelope already (from the inbox, or the copy
    /// before a crash).
    /// </summary>
    public async Task<OpenStatus> OpenCopyAsync(byte[] copy, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(copy);
        var status = OpenStatus.Malformed;
        await WithStateAsync(state =>
        {
            var result = state.Device.OpenCopy(copy);
            state.Consumed.AddRange(result.ConsumedPrekeys);
            status = result.Status;
            if (result.Status == OpenStatus.Opened)
            {
                state.SeenNow.Add(result.EnvelopeId!);
            }

            return Task.CompletedTask;
        }, ct).ConfigureAwait(false);
        return status;
    }

    /// <summary>
    /// An entry for this device that did not open although it is for this device: its session with the sender is lost
    /// or diverged. <see cref="OpenStatus.Replayed"/> gets here only for an envelope this device never opened: the
    /// message key was spent on another message, so the sender reused its state (restored from a backup).
    /// </summary>
    private static bool WarrantsReset(OpenResult result) =>
        result.EnvelopeId is not null && result.Status is OpenStatus.Undecryptable or OpenStatus.Tampered or OpenStatus.Replayed;

    /// <summary>Whether this device opened envelope <paramref name="envelopeId"/> (within the days kept).</summary>
    private async Task<bool> SeenAsync(State state, byte[] envelopeId, CancellationToken ct) =>
        (await LoadSeenAsync(state, ct).ConfigureAwait(false)).Any(day => day.Ids.Any(id => id.AsSpan().SequenceEqual(envelopeId)));

    /// <summary>The days of <see cref="SeenPurpose"/>, loaded once per state; days past the age kept are deleted with it.</summary>
    private async Task<List<SeenDay>> LoadSeenAsync(State state, CancellationToken ct)
    {
        if (state.Seen is not null)
        {
            return state.Seen;
        }

        long oldest = (_time.GetUtcNow() - (options ?? new NativeOptions()).MaxResetRequestAge).ToUnixTimeSeconds() / 86400;
        state.Seen = [];
        foreach (var entry in await store.Keys.ListAsync(account.Id, SeenPurpose, ct).ConfigureAwait(false))
        {
            if (entry.Material.Length >= 4 && (entry.Material.Length - 4) % 16 == 0 && BinaryPrimitives.ReadUInt32BigEndian(entry.Material) >= oldest)
            {
                state.Seen.Add(new SeenDay(entry.Id, BinaryPrimitives.ReadUInt32BigEndian(entry.Material), entry.Material[4..].Chunk(16).ToList()));
            }
            else
            {
                state.Expired.Add(entry.Id);
            }
        }

        return state.Seen;
    }

    /// <summary>One day of envelopes opened here, as stored in entry <paramref name="EntryId"/>.</summary>
    private sealed record SeenDay(Guid EntryId, uint Day, List<byte[]> Ids);

    /// <summary>
    /// Takes a session-reset request that arrived in the inbox (docs/design/native-protocol.md, "Session reset"): when
    /// this device sent the envelope it names to the requesting device, that session is retired if it is still the active
    /// one, so the next message to that device starts a new one from fresh prekeys. Once every device of the recipient that
    /// the envelope went to has asked (so the recipient's account has not read it through another one), the message is
    /// sealed again for the recipient's devices on new sessions and queued to send, in the transaction that records it.
    /// </summary>
    /// <exception cref="NativeException">The request is malformed or its signature does not verify.</exception>
    public async Task<ResetResult> AcceptResetAsync(MimeMessage outer, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(outer);
        if (!IsResetRequest(outer) || outer.Body is not MimePart { Content: { } body })
        {
            throw new NativeException(NativeError.Malformed, "Not a session-reset request.");
        }

        using var buffer = new MemoryStream();
        await body.DecodeToAsync(buffer, ct).ConfigureAwait(false);
        var request = ResetRequest.Decode(buffer.ToArray());
        var result = new ResetResult(ResetOutcome.NotForThisDevice);
        await WithStateAsync(async state =>
        {
            foreach (var (entryId, record) in await ExpireSentAsync(state, ct).ConfigureAwait(false))
            {
                int device = record.Devices.FindIndex(d => d.DeviceKey.AsSpan().SequenceEqual(request.DeviceKey));
                if (!record.EnvelopeId.AsSpan().SequenceEqual(request.EnvelopeId) || device < 0)
                {
                    continue;
                }

                result = await ResetAsync(state, request, entryId, record, device, ct).ConfigureAwait(false);
                break;
            }
        }, ct).ConfigureAwait(false);
        return result;
    }

    private async Task<ResetResult> ResetAsync(State state, ResetRequest request, Guid entryId, SentRecord record, int device, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        if (request.IssuedAt < now - state.Device.Sessions.Options.MaxResetRequestAge || request.IssuedAt > now + TimeSpan.FromDays(1))
        {
            return new ResetResult(ResetOutcome.Ignored);
        }

        state.Device.AcceptReset(request, record.Devices[device].SessionId); // retired if still the active session
        string sentAt = record.SentAt.ToString("u", CultureInfo.InvariantCulture);
        if (record.ContentId is not { } contentId || record.Recipient is not { } recipient)
        {
            return new ResetResult(ResetOutcome.Lost, $"a native message sent at {sentAt} did not open on one of its recipient's devices " +
                "and cannot be sent again (sent before its content was kept); it is in Sent");
        }

        if (record.Reset[device])
        {
            return new ResetResult(ResetOutcome.Ignored); // asked before (the request came twice)
        }

        var reset = record.Reset.ToArray();
        reset[device] = true;
        state.Sent.Add((record with { Reset = reset }).Encode());
        state.Expired.Add(entryId);
        if (!reset.All(r => r))
        {
            return new ResetResult(ResetOutcome.Reset); // the recipient's other devices it went to read it (and file it for this one)
        }

        var lost = $"the native message sent to {recipient} at {sentAt} did not open there";
        if (await store.Keys.GetAsync(account.Id, contentId, SentContentPurpose, ct).ConfigureAwait(false) is not { } content)
        {
            return new ResetResult(ResetOutcome.Lost, lost + " and its content is no longer kept; it is in Sent");
        }

        var newContentId = Guid.NewGuid();
        if (await RouteAsync(recipient, ct).ConfigureAwait(false) is not { } keys
            || await SealForAsync(state, recipient, keys, content.Material, newContentId, ct).ConfigureAwait(false) is not { } again)
        {
            return new ResetResult(ResetOutcome.Lost, lost + $" and cannot be sent natively again now ({recipient} has no verified native-capable device); it is in Sent");
        }

        state.SentContent.Add((newContentId, content.Material));
        state.Queued.Add(new Mail.QueuedMail(account.Address, [recipient], again, QueuedAt: now));
        return new ResetResult(ResetOutcome.Resent);
    }

    /// <summary>The records of envelopes sent recently enough to be reset; older ones are deleted with the state, with their content.</summary>
    private async Task<List<(Guid EntryId, SentRecord Record)>> ExpireSentAsync(State state, CancellationToken ct)
    {
        var oldest = _time.GetUtcNow() - (options ?? new NativeOptions()).MaxResetRequestAge;
        var current = new List<(Guid, SentRecord)>();
        foreach (var entry in await store.Keys.ListAsync(account.Id, SentPurpose, ct).ConfigureAwait(false))
        {
            if (SentRecord.TryDecode(entry.Material, out var record) && record.SentAt >= oldest)
            {
                current.Add((entry.Id, record));
                continue;
            }

            state.Expired.Add(entry.Id); // past the age of any request it could answer
            if (record?.ContentId is { } content)
            {
                state.Expired.Add(content); // shared by the message's recipients, who expire together
            }
        }

        return current;
    }

    /// <summary>The outer message of a session-reset request to <paramref name="recipient"/>, the failed envelope's sender.</summary>
    public byte[] ResetMessage(string recipient, byte[] request) => Outer(recipient, request, ResetMediaSubtype);

    /// <summary>Drops a kept opened message that will not be filed (refused, or filed by a path that did not delete it).</summary>
    public async Task ForgetOpenedAsync(Guid? keptAs, CancellationToken ct = default)
    {
        if (keptAs is { } id)
        {
            await store.Keys.DeleteAsync(account.Id, id, ct).ConfigureAwait(false);
        }
    }

    /// <summary>An opened message as kept in the store until it is filed.</summary>
    private sealed record Opened(byte[] Digest, string Sender, byte[] SenderDeviceKey, byte[] Content)
    {
        /// <summary>The store entry keeping it, once saved.</summary>
        public Guid? KeptAs { get; set; }

        public byte[] Encode()
        {
            byte[] sender = Encoding.UTF8.GetBytes(Sender);
            var buffer = new byte[32 + 2 + sender.Length + 2 + SenderDeviceKey.Length + Content.Length];
            var span = buffer.AsSpan();
            Digest.CopyTo(span);
            BinaryPrimitives.WriteUInt16BigEndian(span[32..], (ushort)sender.Length);
            sender.CopyTo(span[34..]);
            int at = 34 + sender.Length;
            BinaryPrimitives.WriteUInt16BigEndian(span[at..], (ushort)SenderDeviceKey.Length);
            SenderDeviceKey.CopyTo(span[(at + 2)..]);
            Content.CopyTo(span[(at + 2 + SenderDeviceKey.Length)..]);
            return buffer;
        }

        public static bool TryDecode(byte[] data, [NotNullWhen(true)] out Opened? opened)
        {
            opened = null;
            if (data.Length < 36)
            {
                return false;
            }

            int senderLength = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(32));
            int at = 34 + senderLength;
            if (data.Length < at + 2)
            {
                return false;
            }

            int keyLength = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(at));
            if (data.Length < at + 2 + keyLength)
            {
                return false;
            }

            opened = new Opened(data[..32], Encoding.UTF8.GetString(data, 34, senderLength), data[(at + 2)..(at + 2 + keyLength)], data[(at + 2 + keyLength)..]);
            return true;
        }
    }

    /// <summary>
    /// What a device remembers of an envelope it sent, for reset requests naming it:
    /// <c>sent-at(8, Unix seconds) envelope-id(16) count(1) count*(device-key&lt;0..255&gt; session-id&lt;0..255&gt;)</c>, then (absent
    /// in records made before messages were sent again on a reset) <c>0x01 content-id(16) recipient&lt;1..255&gt; count*(reset(1))</c>.
    /// </summary>
    /// <param name="SentAt">When it was sealed.</param>
    /// <param name="EnvelopeId">The envelope's id.</param>
    /// <param name="Devices">Per recipient device, its key and the session the envelope went out on.</param>
    /// <param name="ContentId">The <see cref="SentContentPurpose"/> entry holding the message; null in older records.</param>
    /// <param name="Recipient">The recipient address (one per envelope); null in older records.</param>
    /// <param name="Reset">Per device, whether it asked for a session reset of this envelope.</param>
    private sealed record SentRecord(DateTimeOffset SentAt, byte[] EnvelopeId, List<(byte[] DeviceKey, byte[] SessionId)> Devices, Guid? ContentId,
        string? Recipient, bool[] Reset)
    {
        public byte[] Encode()
        {
            using var buffer = new MemoryStream();
            Span<byte> time = stackalloc byte[8];
            BinaryPrimitives.WriteInt64BigEndian(time, SentAt.ToUnixTimeSeconds());
            buffer.Write(time);
            buffer.Write(EnvelopeId);
            buffer.WriteByte((byte)Devices.Count);
            foreach (var (key, session) in Devices)
            {
                buffer.WriteByte((byte)key.Length);
                buffer.Write(key);
                buffer.WriteByte((byte)session.Length);
                buffer.Write(session);
            }

            if (ContentId is { } content && Recipient is { } recipient)
            {
                buffer.WriteByte(1);
                buffer.Write(content.ToByteArray(bigEndian: true));
                byte[] address = Encoding.UTF8.GetBytes(recipient);
                buffer.WriteByte((byte)address.Length);
                buffer.Write(address);
                foreach (bool reset in Reset)
                {
                    buffer.WriteByte(reset ? (byte)1 : (byte)0);
                }
            }

            return buffer.ToArray();
        }

        public static bool TryDecode(byte[] data, [NotNullWhen(true)] out SentRecord? record)
        {
            record = null;
            if (data.Length < 25)
            {
                return false;
            }

            var devices = new List<(byte[], byte[])>();
            int at = 25;
            for (int i = 0; i < data[24]; i++)
            {
                if (!TryVector(data, ref at, out var key) || !TryVector(data, ref at, out var session))
                {
                    return false;
                }

                devices.Add((key, session));
            }

            var sentAt = DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64BigEndian(data));
            if (at == data.Length)
            {
                record = new SentRecord(sentAt, data[8..24], devices, null, null, new bool[devices.Count]);
                return true; // an older record: it does not keep the message
            }

            if (data[at] != 1 || at + 17 > data.Length)
            {
                return false;
            }

            var contentId = new Guid(data.AsSpan(at + 1, 16), bigEndian: true);
            at += 17;
            if (!TryVector(data, ref at, out var address) || address.Length == 0 || at + devices.Count != data.Length)
            {
                return false;
            }

            record = new SentRecord(sentAt, data[8..24], devices, contentId, Encoding.UTF8.GetString(address), [.. data[at..].Select(b => b != 0)]);
            return true;
        }

        private static bool TryVector(byte[] data, ref int at, [NotNullWhen(true)] out byte[]? value)
        {
            value = null;
            if (at >= data.Length || at + 1 + data[at] > data.Length)
            {
                return false;
            }

            value = data[(at + 1)..(at + 1 + data[at])];
            at += 1 + data[at];
            return true;
        }
    }

    private async Task<List<byte[]>> StartSessionsAsync(NativeDevice device, string recipient, List<byte[]> missing, CancellationToken ct)
    {
        Api.PrekeyBundlesResponse? fetched;
        try
        {
            fetched = await provider.FetchPrekeyBundlesAsync(recipient, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ProviderProblemException or ProviderUnavailableException)
        {
            return []; // the fetch failed: these devices get no native copy now
        }

        var started = new List<byte[]>();
        foreach (var encoded in fetched?.Bundles ?? [])
        {
            try
            {
                var bundle = PrekeyBundle.Decode(encoded);
                var key = missing.FirstOrDefault(k => k.AsSpan().SequenceEqual(bundle.Identity.DeviceKey));
                if (key is null || started.Contains(key))
                {
                    continue; // a device the verified entry does not list: never used
                }

                device.StartSession(recipient, bundle, key);
                started.Add(key);
            }
            catch (NativeException)
            {
                // a malformed, badly signed or expired bundle: that device gets no native copy
            }
        }

        return started;
    }

    private byte[] Outer(string recipient, byte[] envelope, string subtype)
    {
        // Nothing of the message shows outside: a fixed subject, no date of writing, a random Message-ID.
        var outer = new MimeMessage();
        outer.From.Add(new MailboxAddress(null, account.Address));
        outer.To.Add(new MailboxAddress(null, recipient));
        outer.Subject = "Letterlock message";
        outer.Date = DateTimeOffset.FromUnixTimeSeconds(_time.GetUtcNow().ToUnixTimeSeconds() / 3600 * 3600);
        outer.MessageId = $"{Guid.NewGuid():N}@letterlock.invalid";
        outer.Body = new MimePart(MediaType, subtype)
        {
            Content = new MimeContent(new MemoryStream(envelope, writable: false)),
            ContentTransferEncoding = ContentEncoding.Base64,
        };
        return Mail.IncomingMailProcessor.Canonical(outer);
    }

    private sealed class State
    {
        public required NativeDevice Device { get; init; }

        public List<(PrekeyKind Kind, uint Id)> Consumed { get; } = [];

        /// <summary>Messages opened with this state, kept until filed.</summary>
        public List<Opened> Kept { get; } = [];

        /// <summary>Records of envelopes sealed with this state (<see cref="SentPurpose"/>).</summary>
        public List<byte[]> Sent { get; } = [];

        /// <summary>Entries to delete: records of envelopes sent or opened too long ago, records replaced.</summary>
        public List<Guid> Expired { get; } = [];

        /// <summary>The content of messages sealed with this state (<see cref="SentContentPurpose"/>), by entry id.</summary>
        public List<(Guid Id, byte[] Content)> SentContent { get; } = [];

        /// <summary>Envelopes opened with this state (<see cref="SeenPurpose"/>).</summary>
        public List<byte[]> SeenNow { get; } = [];

        /// <summary>The days of envelopes opened here, once loaded.</summary>
        public List<SeenDay>? Seen { get; set; }

        /// <summary>Mail to queue with this state (a message sent again on a reset).</summary>
        public List<Mail.QueuedMail> Queued { get; } = [];
    }

    private async Task WithStateAsync(Func<State, Task> work, CancellationToken ct)
    {
        SemaphoreSlim gate;
        lock (Locks)
        {
            var perAccount = Locks.GetOrCreateValue(store);
            if (!perAccount.TryGetValue(account.Id, out gate!))
            {
                gate = perAccount[account.Id] = new SemaphoreSlim(1, 1);
            }
        }

        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var identity = await NativeKeys.LoadIdentityAsync(store, account.Id, ct).ConfigureAwait(false);
            var (prekeys, prekeyEntries) = await NativeKeys.LoadPrekeysAsync(store, account.Id, ct).ConfigureAwait(false);
            using (prekeys)
            {
                var stored = await store.Keys.ListAsync(account.Id, SessionPurpose, ct).ConfigureAwait(false);
                var entries = stored.ToDictionary(k => Convert.ToHexString(k.Material, 1, 16), k => k.Id, StringComparer.Ordinal);
                var sessions = DeviceSessions.Load(stored.Select(k => k.Material), options);
                var state = new State { Device = new NativeDevice(identity, account.Address, prekeys, sessions, _time) };
                await work(state).ConfigureAwait(false);

                // Saved whole (one transaction) before the lock is released; not cancellable, so a half-saved state
                // cannot come from a cancel. What was opened is kept with the sessions that spent its keys.
                var add = new List<(string Purpose, ReadOnlyMemory<byte> Material)>();
                var delete = new List<Guid>();
                foreach (var session in sessions.All.Where(s => sessions.Changed.Contains(s) || !entries.ContainsKey(Convert.ToHexString(s.SessionId))).ToList())
                {
                    add.Add((SessionPurpose, session.Export()));
                    if (entries.TryGetValue(Convert.ToHexString(session.SessionId), out var old))
                    {
                        delete.Add(old);
                    }
                }

                foreach (var removed in sessions.Removed)
                {
                    if (entries.TryGetValue(Convert.ToHexString(removed), out var old))
                    {
                        delete.Add(old);
                    }
                }

                foreach (var consumed in state.Consumed)
                {
                    // A used one-time prekey goes at once: a later thief must not recompute that session start.
                    if (prekeyEntries.TryGetValue(consumed, out var entry))
                    {
                        delete.Add(entry);
                    }
                }

                add.AddRange(state.Sent.Select(r => (SentPurpose, (ReadOnlyMemory<byte>)r)));
                if (state.SeenNow.Count > 0)
                {
                    // Today's record of envelopes opened here, replaced whole.
                    uint today = (uint)(_time.GetUtcNow().ToUnixTimeSeconds() / 86400);
                    var days = await LoadSeenAsync(state, ct).ConfigureAwait(false);
                    var day = days.FirstOrDefault(d => d.Day == today);
                    if (day is not null)
                    {
                        delete.Add(day.EntryId);
                    }

                    var material = new byte[4];
                    BinaryPrimitives.WriteUInt32BigEndian(material, today);
                    add.Add((SeenPurpose, material.Concat((day?.Ids ?? []).Concat(state.SeenNow).SelectMany(id => id)).ToArray()));
                }

                delete.AddRange(state.Expired);
                var withIds = add.Select(a => (Guid.NewGuid(), a.Purpose, a.Material)).ToList();
                withIds.AddRange(state.SentContent.Select(c => (c.Id, SentContentPurpose, (ReadOnlyMemory<byte>)c.Content)));
                int firstKept = withIds.Count;
                withIds.AddRange(state.Kept.Select(o => (Guid.NewGuid(), OpenedPurpose, (ReadOnlyMemory<byte>)o.Encode())));
                if (withIds.Count > 0 || delete.Count > 0)
                {
                    var queued = state.Queued.Select(q => q.ToPayload()).ToList();
                    var added = await store.Keys.ChangeAsync(account.Id, withIds, delete, queued.Count == 0 ? null : (connection, transaction) =>
                    {
                        foreach (var payload in queued)
                        {
                            store.Jobs.Enqueue(connection, transaction, Mail.QueuedMail.JobKind, payload, account.Id);
                        }
                    }, CancellationToken.None).ConfigureAwait(false);
                    for (int i = 0; i < state.Kept.Count; i++)
                    {
                        state.Kept[i].KeptAs = added[firstKept + i].Id;
                    }
                }

                sessions.AcceptChanges();
            }
        }
        finally
        {
            gate.Release();
        }
    }
}
