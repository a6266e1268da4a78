using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Native;
using MimeKit;

namespace Letterlock.Client.Native;

/// <summary>
/// The device keys an address's key-transparency entry lists, from a verified lookup proof; null when no proof
/// verified (no entry, revoked, a provider without transparency, or unreachable): such an address gets PGP/MIME.
/// </summary>
public delegate Task<IReadOnlyList<byte[]>?> VerifiedDeviceKeys(string address, CancellationToken ct);

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

    private static readonly ConditionalWeakTable<LocalStore, Dictionary<AccountId, SemaphoreSlim>> Locks = [];
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Device keys from verified key-transparency lookups (<see cref="Transparency.TransparencyService.LookupAsync"/>).</summary>
    public static VerifiedDeviceKeys FromTransparency(Transparency.TransparencyService transparency)
    {
        ArgumentNullException.ThrowIfNull(transparency);
        return async (address, ct) =>
        {
            try
            {
                var (verdict, entry, _) = await transparency.LookupAsync(address, ct).ConfigureAwait(false);
                return verdict == Validation.TransparencyVerdict.Verified && entry is { Keys.Revoked: false }
                    ? [.. entry.Keys.DeviceKeys.Select(k => k.ToArray())]
                    : null;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return null; // no verified entry now: PGP/MIME
            }
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
            if (await verifiedDevices(recipient, ct).ConfigureAwait(false) is { Count: > 0 } keys)
            {
                routes[recipient] = [.. keys];
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
            foreach (var (recipient, keys) in routes)
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
                    continue; // no native-capable device reachable: PGP/MIME
                }

                var envelope = state.Device.Seal(content.Span, [.. ready.Select(k => new EnvelopeRecipient(k))]);
                state.Sent.Add(SentRecord.Encode(_time.GetUtcNow(), envelope.EnvelopeId, ready, envelope.SessionIds));
                sealedMessages[recipient] = Outer(recipient, envelope.Bytes, MediaSubtype);
            }
        }, ct).ConfigureAwait(false);
        return sealedMessages;
    }

    /// <summary>Whether this device's key is in its own address's verified transparency entry, so recipients can verify it.</summary>
    private async Task<bool> ThisDeviceListedAsync(CancellationToken ct)
    {
        var own = await verifiedDevices(account.Address, ct).ConfigureAwait(false);
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
    public async Task<NativeReceived> OpenAsync(MimeMessage outer, CancellationToken ct = default)
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
            }
            else if (WarrantsReset(result) && outer.From.Mailboxes.FirstOrDefault()?.Address is { } replyTo)
            {
                reset = ResetMessage(replyTo, state.Device.CreateResetRequest(result.EnvelopeId).Encode());
            }
        }, ct).ConfigureAwait(false);
        if (opened is null)
        {
            return new NativeReceived(status, null, null, null, reset is null
                ? $"the native message did not open ({status})"
                : $"the native message did not open ({status}): session reset requested from its sender") { ResetRequest = reset };
        }

        var listed = await verifiedDevices(opened.Sender, ct).ConfigureAwait(false);
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
            return Task.CompletedTask;
        }, ct).ConfigureAwait(false);
        return status;
    }

    /// <summary>
    /// An entry for this device that did not open although it is for this device: its session with the sender is lost
    /// or diverged (an envelope opened here before comes back as <see cref="OpenStatus.Replayed"/> and is not reset).
    /// </summary>
    private static bool WarrantsReset(OpenResult result) =>
        result.EnvelopeId is not null && result.Status is OpenStatus.Undecryptable or OpenStatus.Tampered;

    /// <summary>
    /// Takes a session-reset request that arrived in the inbox (docs/design/native-protocol.md, "Session reset"): when
    /// this device sent the envelope it names to the requesting device, and that session is still the active one, the
    /// session is retired, so the next message to that device starts a new one from fresh prekeys. False when the
    /// request is too old or the session was replaced already; null when it is not for this device (another device of
    /// the account sent that envelope, or it is older than the records kept).
    /// </summary>
    /// <exception cref="NativeException">The request is malformed or its signature does not verify.</exception>
    public async Task<bool?> AcceptResetAsync(MimeMessage outer, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(outer);
        if (!IsResetRequest(outer) || outer.Body is not MimePart { Content: { } body })
        {
            throw new NativeException(NativeError.Malformed, "Not a session-reset request.");
        }

        using var buffer = new MemoryStream();
        await body.DecodeToAsync(buffer, ct).ConfigureAwait(false);
        var request = ResetRequest.Decode(buffer.ToArray());
        bool? accepted = null;
        await WithStateAsync(async state =>
        {
            foreach (var record in await ExpireSentAsync(state, ct).ConfigureAwait(false))
            {
                if (record.EnvelopeId.AsSpan().SequenceEqual(request.EnvelopeId)
                    && record.Sessions.FirstOrDefault(d => d.DeviceKey.AsSpan().SequenceEqual(request.DeviceKey)) is { } used)
                {
                    accepted = state.Device.AcceptReset(request, used.SessionId);
                    break;
                }
            }
        }, ct).ConfigureAwait(false);
        return accepted;
    }

    /// <summary>The records of envelopes sent recently enough to be reset; older ones are deleted with the state.</summary>
    private async Task<List<SentRecord>> ExpireSentAsync(State state, CancellationToken ct)
    {
        var oldest = _time.GetUtcNow() - (options ?? new NativeOptions()).MaxResetRequestAge;
        var current = new List<SentRecord>();
        foreach (var entry in await store.Keys.ListAsync(account.Id, SentPurpose, ct).ConfigureAwait(false))
        {
            if (SentRecord.TryDecode(entry.Material, out var record) && record.SentAt >= oldest)
            {
                current.Add(record);
            }
            else
            {
                state.Expired.Add(entry.Id); // past the age of any request it could answer
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
    /// <c>sent-at(8, Unix seconds) envelope-id(16) count(1) count*(device-key&lt;0..255&gt; session-id&lt;0..255&gt;)</c>.
    /// </summary>
    private sealed record SentRecord(DateTimeOffset SentAt, byte[] EnvelopeId, IReadOnlyList<(byte[] DeviceKey, byte[] SessionId)> Sessions)
    {
        public static byte[] Encode(DateTimeOffset sentAt, byte[] envelopeId, IReadOnlyList<byte[]> deviceKeys, IReadOnlyList<byte[]> sessionIds)
        {
            using var buffer = new MemoryStream();
            Span<byte> time = stackalloc byte[8];
            BinaryPrimitives.WriteInt64BigEndian(time, sentAt.ToUnixTimeSeconds());
            buffer.Write(time);
            buffer.Write(envelopeId);
            buffer.WriteByte((byte)deviceKeys.Count);
            for (int i = 0; i < deviceKeys.Count; i++)
            {
                buffer.WriteByte((byte)deviceKeys[i].Length);
                buffer.Write(deviceKeys[i]);
                buffer.WriteByte((byte)sessionIds[i].Length);
                buffer.Write(sessionIds[i]);
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

            var sessions = new List<(byte[], byte[])>();
            int at = 25;
            for (int i = 0; i < data[24]; i++)
            {
                if (!TryVector(data, ref at, out var key) || !TryVector(data, ref at, out var session))
                {
                    return false;
                }

                sessions.Add((key, session));
            }

            record = new SentRecord(DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64BigEndian(data)), data[8..24], sessions);
            return at == data.Length;
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

        /// <summary>Records of envelopes sent too long ago to be reset.</summary>
        public List<Guid> Expired { get; } = [];
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
                delete.AddRange(state.Expired);
                int firstKept = add.Count;
                add.AddRange(state.Kept.Select(o => (OpenedPurpose, (ReadOnlyMemory<byte>)o.Encode())));
                if (add.Count > 0 || delete.Count > 0)
                {
                    var added = await store.Keys.ChangeAsync(account.Id, add, delete, CancellationToken.None).ConfigureAwait(false);
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
