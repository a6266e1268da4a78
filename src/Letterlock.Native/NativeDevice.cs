using System.Security.Cryptography;
using Letterlock.Primitives;

namespace Letterlock.Native;

/// <summary>
/// The native protocol as one device runs it: starts sessions from verified prekey bundles, seals a
/// message once for many recipient devices, opens envelopes addressed to it, and takes part in session
/// resets. Works on the in-memory <see cref="DeviceSessions"/> and <see cref="DevicePrekeys"/> it is
/// given; after each call the client saves <see cref="DeviceSessions.Changed"/> and deletes consumed
/// prekeys. Pure: the clock comes from the caller. Not thread-safe.
/// </summary>
/// <remarks>
/// Every key entry's ratchet message is bound to its envelope through the ratchet's associated data:
/// <code>
/// context = prefix || device-hint || kind || SHA-256(payload) || [start-fields]
/// key-grant = %x01 message-key[32] reply-token&lt;0..255&gt;          ; the ratchet plaintext
/// payload-key || payload-nonce = HKDF-SHA256(salt = envelope-id, ikm = message-key, info = "letterlock-native-payload-v1", 44)
/// </code>
/// so no recipient, knowing the message key, can swap the payload of a message to another recipient,
/// and no entry can move to another envelope.
/// </remarks>
public sealed class NativeDevice
{
    private readonly DeviceIdentity _identity;
    private readonly byte[] _hint;
    private readonly TimeProvider _time;

    /// <summary>A device ready to seal and open.</summary>
    /// <param name="identity">This device's keys.</param>
    /// <param name="address">This device's account address (sent, sealed, in session starts).</param>
    /// <param name="prekeys">Its private prekeys.</param>
    /// <param name="sessions">Its sessions.</param>
    /// <param name="time">The clock (prekey expiry, session times, reset request age).</param>
    public NativeDevice(DeviceIdentity identity, string address, DevicePrekeys prekeys, DeviceSessions sessions, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentException.ThrowIfNullOrEmpty(address);
        ArgumentNullException.ThrowIfNull(prekeys);
        ArgumentNullException.ThrowIfNull(sessions);
        _identity = identity;
        Address = address;
        Prekeys = prekeys;
        Sessions = sessions;
        _time = time ?? TimeProvider.System;
        _hint = NativeCrypto.DeviceHint(identity.DeviceKey.Span);
    }

    /// <summary>This device's address.</summary>
    public string Address { get; }

    /// <summary>Its sessions.</summary>
    public DeviceSessions Sessions { get; }

    /// <summary>Its private prekeys.</summary>
    public DevicePrekeys Prekeys { get; }

    private NativeOptions Options => Sessions.Options;

    private long Now => _time.GetUtcNow().ToUnixTimeSeconds();

    /// <summary>
    /// Starts a session with the device of <paramref name="bundle"/> (PQXDH) and makes it the active one
    /// for that device. The caller took the bundle from the provider and <paramref name="expectedDeviceKey"/>
    /// from the address's directory entry with a valid transparency proof.
    /// </summary>
    /// <exception cref="NativeException">The bundle is for another device or has expired
    /// (<see cref="NativeError.UnusableBundle"/>), or holds an unusable key (<see cref="NativeError.InvalidKey"/>).</exception>
    public RatchetSession StartSession(string peerAddress, PrekeyBundle bundle, ReadOnlySpan<byte> expectedDeviceKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(peerAddress);
        ArgumentNullException.ThrowIfNull(bundle);
        bundle.CheckUsable(expectedDeviceKey, _time.GetUtcNow());
        RatchetSession session;
        try
        {
            session = Pqxdh.Initiate(_identity, Address, peerAddress, bundle, Now);
        }
        catch (Letterlock.Cryptography.HpkeException e)
        {
            throw new NativeException(NativeError.InvalidKey, "A key in the prekey bundle is unusable.", e);
        }

        Sessions.Add(session);
        return session;
    }

    /// <summary>
    /// Seals <paramref name="content"/> (the complete RFC 5322 message) for <paramref name="recipients"/>,
    /// each through its active session: the content is encrypted once under a fresh message key, the key
    /// wrapped per device. The result is Padmé-padded as a whole.
    /// </summary>
    /// <exception cref="NativeException">No active session with a recipient device (<see cref="NativeError.NoSession"/>:
    /// start one first), or a limit of <see cref="NativeOptions"/> (<see cref="NativeError.LimitExceeded"/>).</exception>
    public SealedEnvelope Seal(ReadOnlySpan<byte> content, IReadOnlyList<EnvelopeRecipient> recipients)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Count == 0 || recipients.Count > Options.MaxEntries)
        {
            throw new NativeException(NativeError.LimitExceeded, $"An envelope has 1 to {nameof(NativeOptions.MaxEntries)} recipient devices.");
        }

        if (content.Length > Options.MaxContentLength)
        {
            throw new NativeException(NativeError.LimitExceeded, $"The message is longer than {nameof(NativeOptions.MaxContentLength)}.");
        }

        var sessions = new RatchetSession[recipients.Count];
        var seen = new HashSet<string>();
        long entriesLength = 0;
        for (int i = 0; i < recipients.Count; i++)
        {
            var recipient = recipients[i];
            if ((recipient.ReplyToken?.Length ?? 0) > Options.MaxReplyTokenLength)
            {
                throw new NativeException(NativeError.LimitExceeded, $"A reply token is longer than {nameof(NativeOptions.MaxReplyTokenLength)}.");
            }

            if (!seen.Add(Convert.ToHexString(recipient.DeviceKey)))
            {
                throw new ArgumentException("A recipient device is listed twice.", nameof(recipients));
            }

            sessions[i] = Sessions.Active(recipient.DeviceKey) is { CanEncrypt: true } active
                ? active
                : throw new NativeException(NativeError.NoSession, "There is no active session with a recipient device; start one from its prekey bundle first.");
            entriesLength += NativeEnvelope.EntryOverhead + EntryBodyLength(sessions[i], recipient);
        }

        long minimal = NativeEnvelope.PrefixLength + 1 + entriesLength + NativeEnvelope.PayloadOverhead + content.Length;
        var total = Padme.PaddedLength(minimal);
        var envelope = new byte[checked((int)total)];
        var envelopeId = RandomNumberGenerator.GetBytes(NativeEnvelope.EnvelopeIdLength);
        NativeEnvelope.Magic.CopyTo(envelope);
        envelope[6] = NativeEnvelope.Version;
        envelopeId.CopyTo(envelope, 7);
        envelope[NativeEnvelope.PrefixLength] = (byte)recipients.Count;
        var prefix = envelope.AsSpan(0, NativeEnvelope.PrefixLength);

        var messageKey = RandomNumberGenerator.GetBytes(32);
        try
        {
            // The payload first: every entry binds its digest. Padding zeros fill the rest of the envelope.
            var payloadStart = (int)(NativeEnvelope.PrefixLength + 1 + entriesLength);
            var payload = envelope.AsSpan(payloadStart);
            var plaintext = new byte[payload.Length - NativeCrypto.TagLength];
            try
            {
                plaintext[0] = 1;
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(plaintext.AsSpan(1), (uint)content.Length);
                content.CopyTo(plaintext.AsSpan(5));
                SealPayload(messageKey, envelopeId, prefix, plaintext, payload);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(plaintext);
            }

            var digest = NativeCrypto.Sha256(payload);
            var writer = new WireWriter((int)entriesLength + 16);
            var now = Now;
            for (int i = 0; i < recipients.Count; i++)
            {
                var session = sessions[i];
                var hint = NativeCrypto.DeviceHint(recipients[i].DeviceKey);
                var kind = session.PendingStart is null ? NativeEnvelope.KindRatchet : NativeEnvelope.KindStart;
                var start = session.PendingStart ?? [];
                var context = Context(prefix, hint, kind, digest, start);
                var grant = new WireWriter(64);
                grant.WriteByte(1);
                grant.WriteBytes(messageKey);
                grant.WriteVector8(recipients[i].ReplyToken ?? []);
                var message = session.Encrypt(grant.Written, context, now);
                grant.Clear();
                writer.WriteBytes(hint);
                writer.WriteByte(kind);
                writer.WriteUInt16(start.Length + message.Length);
                writer.WriteBytes(start);
                writer.WriteBytes(message);
                Sessions.MarkChanged(session);
            }

            writer.Written.CopyTo(envelope.AsSpan(NativeEnvelope.PrefixLength + 1));
            return new SealedEnvelope(envelopeId, envelope, [.. sessions.Select(s => s.SessionId)]);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <summary>
    /// Opens an envelope: finds the entries with this device's hint, opens the first one it can (a session
    /// start creates a session and consumes its one-time prekeys; a ratchet message is matched to its session
    /// by header decryption), then the payload. Nothing changes unless it opens.
    /// </summary>
    public OpenResult Open(ReadOnlySpan<byte> envelope) => OpenAny(envelope, isCopy: false);

    /// <summary>This device's 8-byte hint, as envelope entries and entry copies name it.</summary>
    public ReadOnlySpan<byte> DeviceHint => _hint;

    /// <summary>The 8-byte hint of a device key (<see cref="CopiesForOthers"/> names copies by it).</summary>
    public static byte[] HintOf(ReadOnlySpan<byte> deviceKey) => NativeCrypto.DeviceHint(deviceKey);

    /// <summary>
    /// The entry copies of <paramref name="envelope"/> for every device it addresses other than this one, by device
    /// hint: the device that files a message leaves these for its account's other devices, which open them with
    /// <see cref="OpenCopy"/> to take their message key (their sessions stay in step with the sender). Empty when
    /// the envelope does not parse or addresses no other device.
    /// </summary>
    public IReadOnlyDictionary<string, byte[]> CopiesForOthers(ReadOnlySpan<byte> envelope)
    {
        var copies = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        NativeEnvelope parsed;
        try
        {
            parsed = NativeEnvelope.Parse(envelope, Options);
        }
        catch (NativeException)
        {
            return copies;
        }

        foreach (var entry in parsed.GetEntries())
        {
            var hint = Convert.ToHexStringLower(entry.Hint);
            if (!entry.Hint.SequenceEqual(_hint) && !copies.ContainsKey(hint) && parsed.CopyFor(entry.Hint) is { } copy)
            {
                copies[hint] = copy;
            }
        }

        return copies;
    }

    /// <summary>
    /// Opens an entry copy (<see cref="CopiesForOthers"/>) made by another device of this account from an envelope it
    /// opened and filed: this device's entry is opened as in <see cref="Open"/> (sessions and prekeys change the same
    /// way), and authenticated against the payload digest the copy carries; the payload itself is not there, so the
    /// result has no <see cref="OpenResult.Content"/>.
    /// </summary>
    public OpenResult OpenCopy(ReadOnlySpan<byte> copy) => OpenAny(copy, isCopy: true);

    private OpenResult OpenAny(ReadOnlySpan<byte> data, bool isCopy)
    {
        NativeEnvelope parsed;
        try
        {
            parsed = isCopy ? NativeEnvelope.ParseCopy(data, Options) : NativeEnvelope.Parse(data, Options);
        }
        catch (NativeException e)
        {
            return new OpenResult(e.Error == NativeError.LimitExceeded ? OpenStatus.LimitExceeded : OpenStatus.Malformed);
        }

        var envelopeId = parsed.EnvelopeId.ToArray();
        var digest = parsed.PayloadDigest;
        var prefix = parsed.Prefix;
        var worst = OpenStatus.NotAddressed;
        foreach (var entry in parsed.GetEntries())
        {
            if (!entry.Hint.SequenceEqual(_hint))
            {
                continue;
            }

            var result = entry.Kind == NativeEnvelope.KindStart
                ? OpenStart(entry, prefix, digest, parsed.Payload, envelopeId)
                : OpenRatchet(entry, prefix, digest, parsed.Payload, envelopeId);
            if (result.Status == OpenStatus.Opened)
            {
                return result;
            }

            worst = Rank(result.Status) > Rank(worst) ? result.Status : worst;
        }

        return new OpenResult(worst) { EnvelopeId = envelopeId };
    }

    /// <summary>A signed request to the sender of <paramref name="envelopeId"/> to start a new session with this device and resend.</summary>
    public ResetRequest CreateResetRequest(ReadOnlySpan<byte> envelopeId) => ResetRequest.Create(_identity, envelopeId, _time.GetUtcNow());

    /// <summary>
    /// Takes a reset request from a peer device (its signature was checked when decoded; the caller checks
    /// that it sent envelope <see cref="ResetRequest.EnvelopeId"/> to <see cref="ResetRequest.DeviceKey"/>
    /// and then sends that message again): the session the envelope went out on is retired if it is still
    /// the active one, so the next message starts a new session. A request about an older session changes
    /// nothing (a newer one already replaced it).
    /// </summary>
    /// <param name="request">The decoded request.</param>
    /// <param name="sessionId">The session the envelope was sealed on (<see cref="SealedEnvelope.SessionIds"/>).</param>
    /// <returns>False when the request is too old or from the future, or that session is not the active one.</returns>
    public bool AcceptReset(ResetRequest request, ReadOnlySpan<byte> sessionId)
    {
        ArgumentNullException.ThrowIfNull(request);
        var now = _time.GetUtcNow();
        if (request.IssuedAt < now - Options.MaxResetRequestAge || request.IssuedAt > now + TimeSpan.FromDays(1))
        {
            return false;
        }

        var active = Sessions.Active(request.DeviceKey);
        return active is not null && active.SessionId.AsSpan().SequenceEqual(sessionId) && Sessions.Reset(request.DeviceKey);
    }

    private OpenResult OpenRatchet(NativeEnvelope.Entry entry, ReadOnlySpan<byte> prefix, byte[] digest, ReadOnlySpan<byte> payload, byte[] envelopeId)
    {
        var context = Context(prefix, entry.Hint, entry.Kind, digest, []);
        foreach (var session in Sessions.All.ToList())
        {
            if (!session.MatchesHeader(entry.Body))
            {
                continue;
            }

            return Decrypt(session, entry.Body, context, payload, envelopeId, isNew: false, []);
        }

        return new OpenResult(OpenStatus.Undecryptable);
    }

    private OpenResult OpenStart(NativeEnvelope.Entry entry, ReadOnlySpan<byte> prefix, byte[] digest, ReadOnlySpan<byte> payload, byte[] envelopeId)
    {
        Pqxdh.StartFields start;
        ReadOnlySpan<byte> message;
        try
        {
            start = Pqxdh.ReadStart(entry.Body, out message);
        }
        catch (NativeException)
        {
            return new OpenResult(OpenStatus.Malformed);
        }

        var context = Context(prefix, entry.Hint, entry.Kind, digest, start.All);

        // The same start repeats in every message until the peer hears back: the first one to arrive made the session.
        var existing = Sessions.FindByStart(RatchetSession.StartIdOf(start.All));
        if (existing is not null)
        {
            // Its header key is gone once the session moved past that chain: the start names the session, so this is a duplicate.
            var result = Decrypt(existing, message, context, payload, envelopeId, isNew: false, []);
            return result.Status == OpenStatus.Undecryptable ? new OpenResult(OpenStatus.Replayed) : result;
        }

        var failure = Pqxdh.Respond(_identity, Prekeys, start, Options, Now, out var session, out _);
        if (failure != Pqxdh.RespondFailure.None)
        {
            return new OpenResult(failure == Pqxdh.RespondFailure.BadSenderCertificate ? OpenStatus.UntrustedSender : OpenStatus.Undecryptable);
        }

        List<(PrekeyKind, uint)> consumed = [];
        if (start.KemKind == PrekeyKind.OneTimeKem)
        {
            consumed.Add((PrekeyKind.OneTimeKem, start.KemPrekeyId));
        }

        if (start.OneTimePrekeyId != 0)
        {
            consumed.Add((PrekeyKind.OneTime, start.OneTimePrekeyId));
        }

        return Decrypt(session!, message, context, payload, envelopeId, isNew: true, consumed);
    }

    private OpenResult Decrypt(RatchetSession session, ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, ReadOnlySpan<byte> payload, byte[] envelopeId,
        bool isNew, List<(PrekeyKind Kind, uint Id)> consumed)
    {
        var outcome = session.TryDecrypt(message, context, Options, Sessions.NextSequence, Now, out var grant);
        switch (outcome)
        {
            case RatchetOutcome.Decrypted:
                break;
            case RatchetOutcome.Replayed:
                return new OpenResult(OpenStatus.Replayed);
            case RatchetOutcome.TooManySkipped:
                return new OpenResult(OpenStatus.TooManySkipped);
            case RatchetOutcome.Forged:
                return new OpenResult(OpenStatus.Tampered);
            default:
                return new OpenResult(OpenStatus.Undecryptable);
        }

        try
        {
            // key-grant = %x01 message-key[32] reply-token<0..255>
            var reader = new WireReader(grant, "key grant");
            byte[] content = [];
            byte[] token;
            if (reader.ReadByte() != 1)
            {
                return new OpenResult(OpenStatus.Malformed);
            }

            var messageKey = reader.ReadBytes(32);
            token = reader.ReadVector8().ToArray();
            reader.ExpectEnd();
            if (token.Length > Options.MaxReplyTokenLength)
            {
                return new OpenResult(OpenStatus.LimitExceeded);
            }

            // An entry copy has no payload: its digest, bound by the context the ratchet message authenticated, stands in.
            var status = payload.IsEmpty ? OpenStatus.Opened : OpenPayload(messageKey, envelopeId, payload, out content);
            if (status != OpenStatus.Opened)
            {
                return new OpenResult(status);
            }

            if (isNew)
            {
                Sessions.Add(session);
                foreach (var (kind, id) in consumed)
                {
                    Prekeys.Remove(kind, id);
                }
            }
            else
            {
                Sessions.MarkChanged(session);
            }

            return new OpenResult(OpenStatus.Opened)
            {
                EnvelopeId = envelopeId,
                Sender = new SenderCertificate(session.PeerAddress, session.Peer),
                Content = payload.IsEmpty ? null : content,
                ReplyToken = token.Length == 0 ? null : token,
                StartedSession = isNew,
                ConsumedPrekeys = consumed,
            };
        }
        catch (NativeException)
        {
            return new OpenResult(OpenStatus.Malformed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(grant);
        }
    }

    private OpenStatus OpenPayload(ReadOnlySpan<byte> messageKey, byte[] envelopeId, ReadOnlySpan<byte> payload, out byte[] content)
    {
        content = [];
        var plaintext = new byte[payload.Length - NativeCrypto.TagLength];
        Span<byte> keyAndNonce = stackalloc byte[44];
        try
        {
            NativeCrypto.Hkdf(messageKey, envelopeId, "letterlock-native-payload-v1"u8, keyAndNonce);
            var prefix = new byte[NativeEnvelope.PrefixLength];
            NativeEnvelope.Magic.CopyTo(prefix);
            prefix[6] = NativeEnvelope.Version;
            envelopeId.CopyTo(prefix, 7);
            if (!NativeCrypto.TryOpen(keyAndNonce[..32], keyAndNonce[32..], payload, prefix, plaintext))
            {
                return OpenStatus.Tampered;
            }

            // payload-plaintext = %x01 content-length content *%x00
            var reader = new WireReader(plaintext, "payload");
            if (reader.ReadByte() != 1)
            {
                return OpenStatus.Malformed;
            }

            var length = reader.ReadUInt32();
            if (length > Options.MaxContentLength)
            {
                return OpenStatus.LimitExceeded;
            }

            if (length > reader.Remaining)
            {
                return OpenStatus.Malformed;
            }

            var body = reader.ReadBytes((int)length);
            if (reader.ReadRest().IndexOfAnyExcept((byte)0) >= 0)
            {
                return OpenStatus.Malformed;
            }

            content = body.ToArray();
            return OpenStatus.Opened;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
            CryptographicOperations.ZeroMemory(keyAndNonce);
        }
    }

    private static void SealPayload(ReadOnlySpan<byte> messageKey, ReadOnlySpan<byte> envelopeId, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> plaintext, Span<byte> output)
    {
        Span<byte> keyAndNonce = stackalloc byte[44];
        try
        {
            NativeCrypto.Hkdf(messageKey, envelopeId, "letterlock-native-payload-v1"u8, keyAndNonce);
            NativeCrypto.Seal(keyAndNonce[..32], keyAndNonce[32..], plaintext, prefix, output);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyAndNonce);
        }
    }

    private static int EntryBodyLength(RatchetSession session, EnvelopeRecipient recipient) =>
        (session.PendingStart?.Length ?? 0) + RatchetSession.EncryptedHeaderLength + 1 + 32 + 1 + (recipient.ReplyToken?.Length ?? 0) + NativeCrypto.TagLength;

    private static byte[] Context(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> hint, byte kind, ReadOnlySpan<byte> digest, ReadOnlySpan<byte> start)
    {
        var context = new byte[prefix.Length + hint.Length + 1 + digest.Length + start.Length];
        prefix.CopyTo(context);
        hint.CopyTo(context.AsSpan(prefix.Length));
        context[prefix.Length + hint.Length] = kind;
        digest.CopyTo(context.AsSpan(prefix.Length + hint.Length + 1));
        start.CopyTo(context.AsSpan(prefix.Length + hint.Length + 1 + digest.Length));
        return context;
    }

    /// <summary>Which failure to report when several entries for this device fail: the most telling one.</summary>
    private static int Rank(OpenStatus status) => status switch
    {
        OpenStatus.NotAddressed => 0,
        OpenStatus.Undecryptable => 1,
        OpenStatus.Malformed => 2,
        OpenStatus.LimitExceeded => 3,
        OpenStatus.TooManySkipped => 4,
        OpenStatus.Replayed => 5,
        OpenStatus.UntrustedSender => 6,
        OpenStatus.Tampered => 7,
        _ => 8,
    };
}

/// <summary>One recipient device of an envelope.</summary>
/// <param name="DeviceKey">Its Ed25519 device key (an active session with it must exist).</param>
/// <param name="ReplyToken">A delivery token this sender hands that recipient for replies, or null.</param>
public sealed record EnvelopeRecipient(byte[] DeviceKey, byte[]? ReplyToken = null);

/// <summary>A sealed envelope, its id and the sessions it went out on (keep both with the sent message: a reset request names the id).</summary>
/// <param name="EnvelopeId">The 16-byte envelope id.</param>
/// <param name="Bytes">The envelope.</param>
/// <param name="SessionIds">The session used for each recipient, in the order of the recipients.</param>
public sealed record SealedEnvelope(byte[] EnvelopeId, byte[] Bytes, IReadOnlyList<byte[]> SessionIds);

/// <summary>What opening an envelope came to.</summary>
public enum OpenStatus
{
    /// <summary>It opened: <see cref="OpenResult.Content"/> and <see cref="OpenResult.Sender"/> are set.</summary>
    Opened,

    /// <summary>No entry is for this device (another device of the account may open it).</summary>
    NotAddressed,

    /// <summary>It does not follow the format.</summary>
    Malformed,

    /// <summary>It exceeds a limit of <see cref="NativeOptions"/>.</summary>
    LimitExceeded,

    /// <summary>An entry is for this device but no session or prekey of it opens it: the session state is
    /// lost (or the mail is forged). Send a <see cref="ResetRequest"/> to the envelope's sender.</summary>
    Undecryptable,

    /// <summary>The entry's message key was used already: a duplicate delivery, or, when this device never opened
    /// that envelope id, a sender that rolled back its state (send a <see cref="ResetRequest"/>).</summary>
    Replayed,

    /// <summary>Opening it would need more skipped message keys than <see cref="NativeOptions.MaxSkippedKeysPerSession"/>.</summary>
    TooManySkipped,

    /// <summary>An entry's header matched a session but its contents, or the payload, do not authenticate: the
    /// mail was altered on the way, or the sender's state diverged from this device's. An envelope that never
    /// opened here warrants a <see cref="ResetRequest"/> like <see cref="Undecryptable"/>.</summary>
    Tampered,

    /// <summary>A session start's sealed sender certificate is malformed or its signature does not verify.</summary>
    UntrustedSender,
}

/// <summary>The outcome of <see cref="NativeDevice.Open"/>.</summary>
public sealed class OpenResult
{
    internal OpenResult(OpenStatus status) => Status = status;

    /// <summary>What it came to.</summary>
    public OpenStatus Status { get; }

    /// <summary>The envelope id (set whenever the envelope parsed).</summary>
    public byte[]? EnvelopeId { get; init; }

    /// <summary>The sending device: the address it claimed at session start and its identity certificate. The
    /// client must check that the address's transparency entry lists the device key, and that the message's
    /// From matches the address.</summary>
    public SenderCertificate? Sender { get; init; }

    /// <summary>The message (RFC 5322 bytes).</summary>
    public byte[]? Content { get; init; }

    /// <summary>A delivery token the sender handed this recipient for replies, if any.</summary>
    public byte[]? ReplyToken { get; init; }

    /// <summary>True when the envelope started a new session.</summary>
    public bool StartedSession { get; init; }

    /// <summary>One-time prekeys the new session used (already removed from <see cref="DevicePrekeys"/>; delete them from storage).</summary>
    public IReadOnlyList<(PrekeyKind Kind, uint Id)> ConsumedPrekeys { get; init; } = [];
}
