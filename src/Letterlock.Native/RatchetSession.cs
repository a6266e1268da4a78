using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Letterlock.Cryptography;

namespace Letterlock.Native;

/// <summary>
/// One Double Ratchet session between this device and one peer device, with header encryption
/// (Signal's Double Ratchet specification, revision 4, sections 3 and 4), started by
/// <see cref="Pqxdh"/>. The functions below follow the specification's pseudocode and name:
/// <code>
/// KDF_RK_HE(rk, dh_out) = HKDF-SHA256(salt = rk, ikm = dh_out, info = "letterlock-native-root-v1", 96)
///                          -> (root key, chain key, next header key)
/// KDF_CK(ck)            = (HMAC-SHA256(ck, 0x02) as next chain key, HMAC-SHA256(ck, 0x01) as message key)
/// ENCRYPT(mk, pt, ad)   = ChaCha20-Poly1305 with key || nonce = HKDF-SHA256(salt = 0^32, ikm = mk,
///                          info = "letterlock-native-message-v1", 44)
/// HENCRYPT(hk, header)  = nonce || ChaCha20-Poly1305(hk, nonce, header, "")  with a random 12-byte nonce
/// HEADER(dh, pn, n)     = dh[32] || uint32 pn || uint32 n
/// </code>
/// Decryption works on a copy of the state and commits it only when the message authenticates, as the
/// specification requires ("if an exception is raised ... the state is discarded"). Not thread-safe.
/// </summary>
public sealed class RatchetSession
{
    internal const int HeaderLength = 40;
    internal const int EncryptedHeaderLength = NativeCrypto.NonceLength + HeaderLength + NativeCrypto.TagLength;
    private const byte StateFormat = 1;

    private RatchetState _state;

    private RatchetSession(
        byte[] sessionId, SessionRole role, string peerAddress, IdentityCertificate peer, IdentityCertificate local,
        byte[] startId, byte[]? pendingStart, long createdAt, RatchetState state)
    {
        SessionId = sessionId;
        Role = role;
        PeerAddress = peerAddress;
        Peer = peer;
        Local = local;
        StartId = startId;
        PendingStart = pendingStart;
        CreatedAtSeconds = createdAt;
        LastUsedAtSeconds = createdAt;
        _state = state;
        AssociatedData = BuildAssociatedData(role == SessionRole.Initiator ? local : peer, role == SessionRole.Initiator ? peer : local);
    }

    /// <summary>Random 16-byte name of the session, for storage.</summary>
    public byte[] SessionId { get; }

    /// <summary>The peer's address as its sender certificate (or the directory, for sessions this device started) gave it.</summary>
    public string PeerAddress { get; }

    /// <summary>The peer device's identity certificate.</summary>
    public IdentityCertificate Peer { get; }

    /// <summary>When the session was created on this device.</summary>
    public DateTimeOffset CreatedAt => DateTimeOffset.FromUnixTimeSeconds(CreatedAtSeconds);

    /// <summary>When the session last sealed or opened a message.</summary>
    public DateTimeOffset LastUsedAt => DateTimeOffset.FromUnixTimeSeconds(LastUsedAtSeconds);

    /// <summary>True while this device started the session and has not heard back on it: every message
    /// it sends repeats the session start, so the peer can open whichever arrives first.</summary>
    public bool AwaitingReply => PendingStart is not null;

    /// <summary>Skipped message keys the session holds.</summary>
    public int SkippedKeyCount => _state.Skipped.Count;

    /// <summary>False once a newer session with the same peer device started or the session was reset.</summary>
    public bool IsActive { get; internal set; } = true;

    internal SessionRole Role { get; }

    internal IdentityCertificate Local { get; }

    internal byte[] StartId { get; }

    internal byte[]? PendingStart { get; private set; }

    internal long CreatedAtSeconds { get; }

    internal long LastUsedAtSeconds { get; private set; }

    internal byte[] AssociatedData { get; }

    internal IReadOnlyList<SkippedKey> Skipped => _state.Skipped;

    /// <summary>
    /// RatchetInitAliceHE: the initiator's state after the session start.
    /// <code>
    /// DHs = GENERATE_DH(); DHr = bob_dh_public_key (SPK_B)
    /// RK, CKs, NHKs = KDF_RK_HE(SK, DH(DHs, DHr)); CKr = None; HKs = shared_hka; HKr = None; NHKr = shared_nhkb
    /// </code>
    /// </summary>
    internal static RatchetSession CreateInitiator(
        IdentityCertificate local, IdentityCertificate peer, string peerAddress, ReadOnlySpan<byte> sharedKey,
        ReadOnlySpan<byte> headerKeyA, ReadOnlySpan<byte> nextHeaderKeyB, ReadOnlySpan<byte> peerRatchetKey,
        byte[] startFields, long now)
    {
        var state = new RatchetState
        {
            DhsPrivate = RandomNumberGenerator.GetBytes(X25519.KeyLength),
            Dhr = peerRatchetKey.ToArray(),
            Rk = new byte[32],
            Cks = new byte[32],
            Hks = headerKeyA.ToArray(),
            Nhks = new byte[32],
            Nhkr = nextHeaderKeyB.ToArray(),
        };
        state.DhsPublic = PublicOf(state.DhsPrivate);
        Span<byte> dh = stackalloc byte[32];
        try
        {
            X25519.SharedSecret(state.DhsPrivate, state.Dhr, dh);
            KdfRk(sharedKey, dh, state.Rk, state.Cks, state.Nhks);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dh);
        }

        return new RatchetSession(RandomNumberGenerator.GetBytes(16), SessionRole.Initiator, peerAddress, peer, local,
            StartIdOf(startFields), startFields, now, state);
    }

    /// <summary>
    /// RatchetInitBobHE: the responder's state; its first ratchet key pair is the signed prekey.
    /// <code>
    /// DHs = bob_dh_key_pair (SPK_B); DHr = None; RK = SK; CKs = CKr = None
    /// HKs = None; NHKs = shared_nhkb; HKr = None; NHKr = shared_hka
    /// </code>
    /// </summary>
    internal static RatchetSession CreateResponder(
        IdentityCertificate local, IdentityCertificate peer, string peerAddress, ReadOnlySpan<byte> sharedKey,
        ReadOnlySpan<byte> headerKeyA, ReadOnlySpan<byte> nextHeaderKeyB, ReadOnlySpan<byte> signedPrekeyPrivate,
        ReadOnlySpan<byte> startFields, long now)
    {
        var state = new RatchetState
        {
            DhsPrivate = signedPrekeyPrivate.ToArray(),
            Rk = sharedKey.ToArray(),
            Nhks = nextHeaderKeyB.ToArray(),
            Nhkr = headerKeyA.ToArray(),
        };
        state.DhsPublic = PublicOf(state.DhsPrivate);
        return new RatchetSession(RandomNumberGenerator.GetBytes(16), SessionRole.Responder, peerAddress, peer, local,
            StartIdOf(startFields), pendingStart: null, now, state);
    }

    /// <summary>Names a session start: SHA-256 of its fields (they hold a fresh ephemeral key).</summary>
    internal static byte[] StartIdOf(ReadOnlySpan<byte> startFields) => NativeCrypto.Sha256(startFields);

    /// <summary>True when this session can seal (the responder can only after its first message arrived).</summary>
    internal bool CanEncrypt => _state.Cks is not null && _state.Hks is not null;

    /// <summary>
    /// RatchetEncryptHE: returns enc_header || ciphertext.
    /// <code>
    /// state.CKs, mk = KDF_CK(state.CKs)
    /// enc_header = HENCRYPT(state.HKs, HEADER(state.DHs, state.PN, state.Ns)); state.Ns += 1
    /// return enc_header, ENCRYPT(mk, plaintext, CONCAT(AD, enc_header))
    /// </code>
    /// AD here is the session's associated data followed by <paramref name="context"/> (the envelope's
    /// binding, see <see cref="NativeDevice"/>).
    /// </summary>
    internal byte[] Encrypt(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> context, long now)
    {
        if (!CanEncrypt)
        {
            throw new InvalidOperationException("A responder session seals only after its first message arrived.");
        }

        var s = _state;
        var output = new byte[EncryptedHeaderLength + plaintext.Length + NativeCrypto.TagLength];
        Span<byte> messageKey = stackalloc byte[32];
        Span<byte> header = stackalloc byte[HeaderLength];
        try
        {
            KdfCk(s.Cks!, messageKey);
            WriteHeader(header, s.DhsPublic, s.Pn, s.Ns);
            var nonce = output.AsSpan(0, NativeCrypto.NonceLength);
            RandomNumberGenerator.Fill(nonce);
            NativeCrypto.Seal(s.Hks!, nonce, header, [], output.AsSpan(NativeCrypto.NonceLength, HeaderLength + NativeCrypto.TagLength));
            s.Ns = checked(s.Ns + 1);
            SealBody(messageKey, plaintext, context, output.AsSpan(0, EncryptedHeaderLength), output.AsSpan(EncryptedHeaderLength));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }

        LastUsedAtSeconds = Math.Max(LastUsedAtSeconds, now);
        return output;
    }

    /// <summary>
    /// Whether <paramref name="message"/>'s header opens with one of this session's header keys (a
    /// skipped key's, HKr or NHKr): how a device finds the session of a sealed-sender message without
    /// knowing the sender. Changes nothing.
    /// </summary>
    internal bool MatchesHeader(ReadOnlySpan<byte> message)
    {
        if (message.Length < EncryptedHeaderLength + NativeCrypto.TagLength)
        {
            return false;
        }

        var encryptedHeader = message[..EncryptedHeaderLength];
        Span<byte> header = stackalloc byte[HeaderLength];
        if ((_state.Hkr is not null && TryDecryptHeader(_state.Hkr, encryptedHeader, header)) || TryDecryptHeader(_state.Nhkr, encryptedHeader, header))
        {
            return true;
        }

        byte[]? lastTried = null;
        foreach (var skipped in _state.Skipped)
        {
            // Skipped keys of one chain share a header key: try each header key once.
            if (lastTried is not null && skipped.HeaderKey.AsSpan().SequenceEqual(lastTried))
            {
                continue;
            }

            lastTried = skipped.HeaderKey;
            if (TryDecryptHeader(skipped.HeaderKey, encryptedHeader, header))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// RatchetDecryptHE on a copy of the state, committed only on success.
    /// <code>
    /// plaintext = TrySkippedMessageKeysHE(state, enc_header, ciphertext, AD); if found: return it
    /// header, dh_ratchet = DecryptHeader(state, enc_header)      # HKr, then NHKr
    /// if dh_ratchet: SkipMessageKeysHE(state, header.pn); DHRatchetHE(state, header)
    /// SkipMessageKeysHE(state, header.n)
    /// state.CKr, mk = KDF_CK(state.CKr); state.Nr += 1
    /// return DECRYPT(mk, ciphertext, CONCAT(AD, enc_header))
    /// </code>
    /// Deviations, for mail: a header under HKr whose n is below Nr is reported as <see cref="RatchetOutcome.Replayed"/>
    /// (its key was used or dropped) instead of deriving a wrong key, and one under HKr that names another
    /// ratchet key than DHr as <see cref="RatchetOutcome.Diverged"/> (the peer's state was rolled back). A message that would need more than
    /// <see cref="NativeOptions.MaxSkippedKeysPerSession"/> skipped keys (both chains together) is refused.
    /// </summary>
    internal RatchetOutcome TryDecrypt(ReadOnlySpan<byte> message, ReadOnlySpan<byte> context, NativeOptions options, Func<ulong> nextSequence, long now, out byte[]? plaintext)
    {
        plaintext = null;
        if (message.Length < EncryptedHeaderLength + NativeCrypto.TagLength)
        {
            return RatchetOutcome.NotThisSession;
        }

        var encryptedHeader = message[..EncryptedHeaderLength];
        var body = message[EncryptedHeaderLength..];
        Span<byte> header = stackalloc byte[HeaderLength];

        // TrySkippedMessageKeysHE, decrypting the header once per distinct header key (a chain's skipped keys share one).
        byte[]? lastTried = null;
        for (int i = 0; i < _state.Skipped.Count; i++)
        {
            var headerKey = _state.Skipped[i].HeaderKey;
            if (ReferenceEquals(headerKey, lastTried) || (lastTried is not null && headerKey.AsSpan().SequenceEqual(lastTried)))
            {
                continue;
            }

            lastTried = headerKey;
            if (!TryDecryptHeader(headerKey, encryptedHeader, header))
            {
                continue;
            }

            var wanted = ReadN(header);
            var index = _state.Skipped.FindIndex(k => k.N == wanted && k.HeaderKey.AsSpan().SequenceEqual(headerKey));
            if (index < 0)
            {
                continue;
            }

            var opened = OpenBody(_state.Skipped[index].MessageKey, body, context, encryptedHeader);
            if (opened is null)
            {
                return RatchetOutcome.Forged;
            }

            var copy = _state.Clone();
            copy.Skipped.RemoveAt(index);
            Commit(copy, now);
            plaintext = opened;
            return RatchetOutcome.Decrypted;
        }

        bool dhRatchet;
        if (_state.Hkr is not null && TryDecryptHeader(_state.Hkr, encryptedHeader, header))
        {
            dhRatchet = false;
        }
        else if (TryDecryptHeader(_state.Nhkr, encryptedHeader, header))
        {
            dhRatchet = true;
        }
        else
        {
            return RatchetOutcome.NotThisSession;
        }

        var dh = header[..32].ToArray();
        var pn = BinaryPrimitives.ReadUInt32BigEndian(header[32..]);
        var n = ReadN(header);
        if (!dhRatchet && (_state.Dhr is null || !_state.Dhr.AsSpan().SequenceEqual(dh)))
        {
            // Only the peer holds HKr, and under it every header names DHr. Another ratchet key means the
            // peer's state diverged from ours (it was rolled back and stepped again): nothing here opens it.
            return RatchetOutcome.Diverged;
        }

        if (!dhRatchet && n < _state.Nr)
        {
            return RatchetOutcome.Replayed;
        }

        long needed = dhRatchet
            ? (_state.Ckr is null ? 0 : Math.Max(0L, (long)pn - _state.Nr)) + n
            : (long)n - _state.Nr;
        if (needed > options.MaxSkippedKeysPerSession)
        {
            return RatchetOutcome.TooManySkipped;
        }

        var s = _state.Clone();
        Span<byte> messageKey = stackalloc byte[32];
        try
        {
            if (dhRatchet)
            {
                SkipMessageKeys(s, pn, nextSequence);
                DhRatchet(s, dh);
            }

            SkipMessageKeys(s, n, nextSequence);
            KdfCk(s.Ckr!, messageKey);
            s.Nr = checked(s.Nr + 1);
            var opened = OpenBody(messageKey, body, context, encryptedHeader);
            if (opened is null)
            {
                s.Wipe();
                return RatchetOutcome.Forged;
            }

            // Keep at most MaxSkippedKeysPerSession: drop the oldest (they belong to the longest-lost mail).
            while (s.Skipped.Count > options.MaxSkippedKeysPerSession)
            {
                s.RemoveOldestSkipped();
            }

            Commit(s, now);
            plaintext = opened;
            return RatchetOutcome.Decrypted;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <summary>Drops the skipped key with the lowest sequence number (device-wide eviction).</summary>
    internal void RemoveSkipped(SkippedKey key) => _state.Skipped.Remove(key);

    /// <summary>The storage form (holds every secret of the session: keep it sealed).</summary>
    public byte[] Export()
    {
        var s = _state;
        var writer = new WireWriter(1024 + (s.Skipped.Count * 108));
        writer.WriteByte(StateFormat);
        writer.WriteBytes(SessionId);
        writer.WriteByte((byte)Role);
        writer.WriteByte(IsActive ? (byte)1 : (byte)0);
        writer.WriteVector16(Encoding.UTF8.GetBytes(PeerAddress));
        Peer.Write(writer);
        Local.Write(writer);
        writer.WriteBytes(StartId);
        writer.WriteVector16(PendingStart ?? []);
        writer.WriteUInt64((ulong)CreatedAtSeconds);
        writer.WriteUInt64((ulong)LastUsedAtSeconds);
        writer.WriteBytes(s.DhsPrivate);
        writer.WriteBytes(s.Rk);
        writer.WriteBytes(s.Nhks);
        writer.WriteBytes(s.Nhkr);
        byte present = 0;
        byte[]?[] optional = [s.Dhr, s.Cks, s.Ckr, s.Hks, s.Hkr];
        for (int i = 0; i < optional.Length; i++)
        {
            present |= optional[i] is null ? (byte)0 : (byte)(1 << i);
        }

        writer.WriteByte(present);
        foreach (var value in optional)
        {
            if (value is not null)
            {
                writer.WriteBytes(value);
            }
        }

        writer.WriteUInt32(s.Ns);
        writer.WriteUInt32(s.Nr);
        writer.WriteUInt32(s.Pn);
        writer.WriteUInt16(s.Skipped.Count);
        foreach (var skipped in s.Skipped)
        {
            writer.WriteBytes(skipped.HeaderKey);
            writer.WriteUInt32(skipped.N);
            writer.WriteBytes(skipped.MessageKey);
            writer.WriteUInt64(skipped.Sequence);
        }

        var exported = writer.ToArray();
        writer.Clear();
        return exported;
    }

    /// <summary>Reads a stored session.</summary>
    /// <exception cref="NativeException">It is malformed (<see cref="NativeError.Malformed"/>).</exception>
    public static RatchetSession Import(ReadOnlySpan<byte> stored, NativeOptions? options = null)
    {
        options ??= NativeOptions.Default;
        var reader = new WireReader(stored, "stored session");
        if (reader.ReadByte() != StateFormat)
        {
            throw new NativeException(NativeError.Malformed, "Unknown stored session format.");
        }

        var sessionId = reader.ReadBytes(16).ToArray();
        var role = reader.ReadByte() switch
        {
            1 => SessionRole.Initiator,
            2 => SessionRole.Responder,
            _ => throw new NativeException(NativeError.Malformed, "Unknown session role."),
        };
        var active = reader.ReadByte() switch
        {
            0 => false,
            1 => true,
            _ => throw new NativeException(NativeError.Malformed, "Bad session flag."),
        };
        var address = Encoding.UTF8.GetString(reader.ReadVector16());
        var peer = IdentityCertificate.Read(ref reader);
        var local = IdentityCertificate.Read(ref reader);
        var startId = reader.ReadBytes(32).ToArray();
        var pending = reader.ReadVector16();
        var created = ReadTime(ref reader);
        var lastUsed = ReadTime(ref reader);
        var state = new RatchetState
        {
            DhsPrivate = reader.ReadBytes(32).ToArray(),
            Rk = reader.ReadBytes(32).ToArray(),
            Nhks = reader.ReadBytes(32).ToArray(),
            Nhkr = reader.ReadBytes(32).ToArray(),
        };
        state.DhsPublic = PublicOf(state.DhsPrivate);
        var present = reader.ReadByte();
        if (present > 0x1F)
        {
            throw new NativeException(NativeError.Malformed, "Bad session key flags.");
        }

        byte[]? Optional(ref WireReader r, int bit) => (present & (1 << bit)) != 0 ? r.ReadBytes(32).ToArray() : null;
        state.Dhr = Optional(ref reader, 0);
        state.Cks = Optional(ref reader, 1);
        state.Ckr = Optional(ref reader, 2);
        state.Hks = Optional(ref reader, 3);
        state.Hkr = Optional(ref reader, 4);
        state.Ns = reader.ReadUInt32();
        state.Nr = reader.ReadUInt32();
        state.Pn = reader.ReadUInt32();
        int count = reader.ReadUInt16();
        if (count > options.MaxSkippedKeysPerSession)
        {
            throw new NativeException(NativeError.LimitExceeded, $"The stored session holds more skipped keys than {nameof(NativeOptions.MaxSkippedKeysPerSession)}.");
        }

        for (int i = 0; i < count; i++)
        {
            state.Skipped.Add(new SkippedKey(reader.ReadBytes(32).ToArray(), reader.ReadUInt32(), reader.ReadBytes(32).ToArray(), reader.ReadUInt64()));
        }

        reader.ExpectEnd();
        return new RatchetSession(sessionId, role, address, peer, local, startId, pending.IsEmpty ? null : pending.ToArray(), created, state)
        {
            IsActive = active,
            LastUsedAtSeconds = lastUsed,
        };
    }

    internal static long ReadTime(ref WireReader reader)
    {
        var seconds = reader.ReadUInt64();
        return seconds <= (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()
            ? (long)seconds
            : throw new NativeException(NativeError.Malformed, "A time is out of range.");
    }

    private void Commit(RatchetState next, long now)
    {
        var previous = _state;
        _state = next;
        previous.WipeExceptShared(next);
        PendingStart = null; // the peer answered on this session: it has the start
        LastUsedAtSeconds = Math.Max(LastUsedAtSeconds, now);
    }

    /// <summary>
    /// SkipMessageKeysHE(state, until):
    /// <code>
    /// if state.CKr != None:
    ///   while state.Nr &lt; until:
    ///     state.CKr, mk = KDF_CK(state.CKr); state.MKSKIPPED[state.HKr, state.Nr] = mk; state.Nr += 1
    /// </code>
    /// (The MAX_SKIP check happens before, for both chains at once.)
    /// </summary>
    private static void SkipMessageKeys(RatchetState s, uint until, Func<ulong> nextSequence)
    {
        if (s.Ckr is null)
        {
            return;
        }

        while (s.Nr < until)
        {
            var messageKey = new byte[32];
            KdfCk(s.Ckr, messageKey);
            s.Skipped.Add(new SkippedKey(s.Hkr!, s.Nr, messageKey, nextSequence()));
            s.Nr++;
        }
    }

    /// <summary>
    /// DHRatchetHE(state, header):
    /// <code>
    /// state.PN = state.Ns; state.Ns = 0; state.Nr = 0; state.HKs = state.NHKs; state.HKr = state.NHKr
    /// state.DHr = header.dh
    /// state.RK, state.CKr, state.NHKr = KDF_RK_HE(state.RK, DH(state.DHs, state.DHr))
    /// state.DHs = GENERATE_DH()
    /// state.RK, state.CKs, state.NHKs = KDF_RK_HE(state.RK, DH(state.DHs, state.DHr))
    /// </code>
    /// </summary>
    private static void DhRatchet(RatchetState s, byte[] peerKey)
    {
        s.Pn = s.Ns;
        s.Ns = 0;
        s.Nr = 0;
        s.Hks = s.Nhks;
        s.Hkr = s.Nhkr;
        s.Dhr = peerKey;
        Span<byte> dh = stackalloc byte[32];
        try
        {
            // The state is a copy made for this message: its own old root, chain and ratchet keys are wiped as they are replaced.
            X25519.SharedSecret(s.DhsPrivate, s.Dhr, dh);
            var rk = new byte[32];
            Wipe(s.Ckr);
            s.Ckr = new byte[32];
            s.Nhkr = new byte[32];
            KdfRk(s.Rk, dh, rk, s.Ckr, s.Nhkr);
            Wipe(s.Rk);
            s.Rk = rk;
            Wipe(s.DhsPrivate);
            s.DhsPrivate = RandomNumberGenerator.GetBytes(32);
            s.DhsPublic = PublicOf(s.DhsPrivate);
            X25519.SharedSecret(s.DhsPrivate, s.Dhr, dh);
            rk = new byte[32];
            Wipe(s.Cks);
            s.Cks = new byte[32];
            s.Nhks = new byte[32];
            KdfRk(s.Rk, dh, rk, s.Cks, s.Nhks);
            Wipe(s.Rk);
            s.Rk = rk;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dh);
        }
    }

    private static void Wipe(byte[]? key)
    {
        if (key is not null)
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    internal static void KdfRk(ReadOnlySpan<byte> rootKey, ReadOnlySpan<byte> dhOutput, Span<byte> nextRootKey, Span<byte> chainKey, Span<byte> nextHeaderKey)
    {
        Span<byte> okm = stackalloc byte[96];
        try
        {
            NativeCrypto.Hkdf(dhOutput, rootKey, "letterlock-native-root-v1"u8, okm);
            okm[..32].CopyTo(nextRootKey);
            okm[32..64].CopyTo(chainKey);
            okm[64..].CopyTo(nextHeaderKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(okm);
        }
    }

    /// <summary>KDF_CK: writes the message key and replaces <paramref name="chainKey"/> with the next chain key.</summary>
    internal static void KdfCk(byte[] chainKey, Span<byte> messageKey)
    {
        NativeCrypto.Hmac(chainKey, [0x01], messageKey);
        NativeCrypto.Hmac(chainKey, [0x02], chainKey);
    }

    private void SealBody(ReadOnlySpan<byte> messageKey, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> context, ReadOnlySpan<byte> encryptedHeader, Span<byte> output)
    {
        Span<byte> keyAndNonce = stackalloc byte[44];
        try
        {
            NativeCrypto.Hkdf(messageKey, stackalloc byte[32], "letterlock-native-message-v1"u8, keyAndNonce);
            NativeCrypto.Seal(keyAndNonce[..32], keyAndNonce[32..], plaintext, BodyAssociatedData(context, encryptedHeader), output);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyAndNonce);
        }
    }

    private byte[]? OpenBody(ReadOnlySpan<byte> messageKey, ReadOnlySpan<byte> body, ReadOnlySpan<byte> context, ReadOnlySpan<byte> encryptedHeader)
    {
        if (body.Length < NativeCrypto.TagLength)
        {
            return null;
        }

        Span<byte> keyAndNonce = stackalloc byte[44];
        try
        {
            NativeCrypto.Hkdf(messageKey, stackalloc byte[32], "letterlock-native-message-v1"u8, keyAndNonce);
            var plaintext = new byte[body.Length - NativeCrypto.TagLength];
            return NativeCrypto.TryOpen(keyAndNonce[..32], keyAndNonce[32..], body, BodyAssociatedData(context, encryptedHeader), plaintext) ? plaintext : null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyAndNonce);
        }
    }

    private byte[] BodyAssociatedData(ReadOnlySpan<byte> context, ReadOnlySpan<byte> encryptedHeader)
    {
        var ad = new byte[AssociatedData.Length + context.Length + encryptedHeader.Length];
        AssociatedData.CopyTo(ad, 0);
        context.CopyTo(ad.AsSpan(AssociatedData.Length));
        encryptedHeader.CopyTo(ad.AsSpan(AssociatedData.Length + context.Length));
        return ad;
    }

    private static bool TryDecryptHeader(ReadOnlySpan<byte> headerKey, ReadOnlySpan<byte> encryptedHeader, Span<byte> header) =>
        NativeCrypto.TryOpen(headerKey, encryptedHeader[..NativeCrypto.NonceLength], encryptedHeader[NativeCrypto.NonceLength..], [], header);

    private static void WriteHeader(Span<byte> header, ReadOnlySpan<byte> dh, uint pn, uint n)
    {
        dh.CopyTo(header);
        BinaryPrimitives.WriteUInt32BigEndian(header[32..], pn);
        BinaryPrimitives.WriteUInt32BigEndian(header[36..], n);
    }

    private static uint ReadN(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadUInt32BigEndian(header[36..]);

    private static byte[] PublicOf(byte[] privateKey)
    {
        var publicKey = new byte[32];
        X25519.PublicKeyFromPrivate(privateKey, publicKey);
        return publicKey;
    }

    /// <summary>AD = "letterlock-native-session-v1" || 0x00 || initiator certificate || responder certificate (device and identity keys).</summary>
    private static byte[] BuildAssociatedData(IdentityCertificate initiator, IdentityCertificate responder)
    {
        var writer = new WireWriter(160);
        writer.WriteBytes("letterlock-native-session-v1\0"u8);
        writer.WriteBytes(initiator.DeviceKey);
        writer.WriteBytes(initiator.IdentityKey);
        writer.WriteBytes(responder.DeviceKey);
        writer.WriteBytes(responder.IdentityKey);
        return writer.ToArray();
    }
}

/// <summary>Which side started the session.</summary>
internal enum SessionRole : byte
{
    Initiator = 1,
    Responder = 2,
}

/// <summary>What one session made of a ratchet message.</summary>
internal enum RatchetOutcome
{
    Decrypted,
    NotThisSession,
    Replayed,
    TooManySkipped,
    Forged,
    Diverged,
}

/// <summary>A message key kept for a message that has not arrived (MKSKIPPED[HK, N]), with its device-wide age.</summary>
internal sealed record SkippedKey(byte[] HeaderKey, uint N, byte[] MessageKey, ulong Sequence);

/// <summary>The mutable state variables of the specification (section 3.2, with section 4's header keys).</summary>
internal sealed class RatchetState
{
    public byte[] DhsPrivate = [];
    public byte[] DhsPublic = [];
    public byte[]? Dhr;
    public byte[] Rk = [];
    public byte[]? Cks;
    public byte[]? Ckr;
    public byte[]? Hks;
    public byte[]? Hkr;
    public byte[] Nhks = [];
    public byte[] Nhkr = [];
    public uint Ns;
    public uint Nr;
    public uint Pn;
    public List<SkippedKey> Skipped = [];

    public RatchetState Clone() => new()
    {
        DhsPrivate = (byte[])DhsPrivate.Clone(),
        DhsPublic = DhsPublic,
        Dhr = Dhr,
        Rk = (byte[])Rk.Clone(),
        Cks = (byte[]?)Cks?.Clone(),
        Ckr = (byte[]?)Ckr?.Clone(),
        Hks = Hks,
        Hkr = Hkr,
        Nhks = Nhks,
        Nhkr = Nhkr,
        Ns = Ns,
        Nr = Nr,
        Pn = Pn,
        Skipped = [.. Skipped],
    };

    public void RemoveOldestSkipped()
    {
        int oldest = 0;
        for (int i = 1; i < Skipped.Count; i++)
        {
            if (Skipped[i].Sequence < Skipped[oldest].Sequence)
            {
                oldest = i;
            }
        }

        CryptographicOperations.ZeroMemory(Skipped[oldest].MessageKey);
        Skipped.RemoveAt(oldest);
    }

    /// <summary>Wipes the keys this state owns (chain and root keys are copied on clone; header keys and DH publics are shared and immutable).</summary>
    public void Wipe()
    {
        CryptographicOperations.ZeroMemory(DhsPrivate);
        CryptographicOperations.ZeroMemory(Rk);
        if (Cks is not null)
        {
            CryptographicOperations.ZeroMemory(Cks);
        }

        if (Ckr is not null)
        {
            CryptographicOperations.ZeroMemory(Ckr);
        }
    }

    /// <summary>Wipes the superseded state's own copies of keys, leaving anything the new state still uses.</summary>
    public void WipeExceptShared(RatchetState next)
    {
        Wipe();
        foreach (var skipped in Skipped)
        {
            if (!next.Skipped.Contains(skipped))
            {
                CryptographicOperations.ZeroMemory(skipped.MessageKey);
            }
        }
    }
}
