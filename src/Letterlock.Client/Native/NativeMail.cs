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
    Guid? KeptAs = null, IReadOnlyDictionary<string, byte[]>? CopiesForOthers = null);

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
                sealedMessages[recipient] = Outer(recipient, envelope.Bytes);
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
        }, ct).ConfigureAwait(false);
        if (opened is null)
        {
            return new NativeReceived(status, null, null, null, $"the native message did not open ({status})");
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

    private byte[] Outer(string recipient, byte[] envelope)
    {
        // Nothing of the message shows outside: a fixed subject, no date of writing, a random Message-ID.
        var outer = new MimeMessage();
        outer.From.Add(new MailboxAddress(null, account.Address));
        outer.To.Add(new MailboxAddress(null, recipient));
        outer.Subject = "Letterlock message";
        outer.Date = DateTimeOffset.FromUnixTimeSeconds(_time.GetUtcNow().ToUnixTimeSeconds() / 3600 * 3600);
        outer.MessageId = $"{Guid.NewGuid():N}@letterlock.invalid";
        outer.Body = new MimePart(MediaType, MediaSubtype)
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
