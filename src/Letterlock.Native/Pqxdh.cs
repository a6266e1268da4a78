using System.Security.Cryptography;
using Letterlock.Cryptography;

namespace Letterlock.Native;

/// <summary>
/// The session start, after Signal's PQXDH (revision 3): X25519 Diffie-Hellman between identity,
/// signed, one-time and ephemeral keys, plus an ML-KEM-768 encapsulation to a prekey, through HKDF.
/// <code>
/// DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)   DH4 = DH(EK_A, OPK_B)  (if OPK_B)
/// (CT, SS) = ML-KEM-768.Encaps(PQPK_B)
/// F = 32 bytes of 0xFF;  transcript = SHA-256(label || DK_A || IK_A || DK_B || IK_B || SPK_B || PQPK_B
///                                           || has_opk || [OPK_B] || EK_A || CT)
/// SK || HK_A || NHK_B = HKDF-SHA256(salt = 0^32, ikm = F || DH1 || DH2 || DH3 || [DH4] || SS,
///                                   info = "letterlock-native-pqxdh-v1" || transcript, 96)
/// </code>
/// Deviations, and why: the identity key is an X25519 key certified by the Ed25519 device key (no
/// XEdDSA); HKDF's info carries a hash of every public value of the start, which binds the KEM
/// public key and ciphertext to the secret (PQXDH's KEM re-encapsulation concern) and both devices'
/// keys; and for sealed sender, the sender's certificate travels encrypted under a key that needs no
/// identity key to compute:
/// <code>
/// seal_transcript = SHA-256(label || DK_B || IK_B || SPK_B || PQPK_B || has_opk || [OPK_B] || EK_A || CT)
/// K0 || N0 = HKDF-SHA256(salt = 0^32, ikm = F || DH3 || [DH4] || SS, info = "letterlock-native-seal-v1" || seal_transcript, 44)
/// sealed_sender = ChaCha20-Poly1305(K0, N0, SenderCertificate, ad = the start fields before it)
/// </code>
/// The responder opens the sealed sender first, learns IK_A, then computes DH1 and DH2. HK_A and NHK_B
/// are the shared header keys of the Double Ratchet's header-encryption variant (its section 4).
/// </summary>
internal static class Pqxdh
{
    /// <summary>spk_id(4) kem_kind(1) kem_id(4) opk_id(4) ephemeral(32) kem_ciphertext(1088), then sealed_sender&lt;2..&gt;.</summary>
    internal const int FixedStartLength = 4 + 1 + 4 + 4 + 32 + MlKem768.CiphertextLength;

    private static ReadOnlySpan<byte> F => [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

    /// <summary>The initiator's side: a new session whose messages carry the start fields until the peer answers.</summary>
    internal static RatchetSession Initiate(DeviceIdentity local, string localAddress, string peerAddress, PrekeyBundle bundle, long now)
    {
        var ephemeral = RandomNumberGenerator.GetBytes(32);
        var ephemeralPublic = new byte[32];
        var dh = new byte[4 * 32];
        byte[]? kemSecret = null;
        try
        {
            X25519.PublicKeyFromPrivate(ephemeral, ephemeralPublic);
            (var kemCiphertext, kemSecret) = MlKem768.Encapsulate(bundle.KemPrekey.PublicKey);
            local.Agree(bundle.SignedPrekey.PublicKey, dh.AsSpan(0, 32));
            X25519.SharedSecret(ephemeral, bundle.Identity.IdentityKey, dh.AsSpan(32, 32));
            X25519.SharedSecret(ephemeral, bundle.SignedPrekey.PublicKey, dh.AsSpan(64, 32));
            var dhLength = 96;
            if (bundle.OneTimePrekey is not null)
            {
                X25519.SharedSecret(ephemeral, bundle.OneTimePrekey.PublicKey, dh.AsSpan(96, 32));
                dhLength = 128;
            }

            var fixedFields = new WireWriter(FixedStartLength);
            fixedFields.WriteUInt32(bundle.SignedPrekey.Id);
            fixedFields.WriteByte((byte)bundle.KemPrekey.Kind);
            fixedFields.WriteUInt32(bundle.KemPrekey.Id);
            fixedFields.WriteUInt32(bundle.OneTimePrekey?.Id ?? 0);
            fixedFields.WriteBytes(ephemeralPublic);
            fixedFields.WriteBytes(kemCiphertext);

            var opk = bundle.OneTimePrekey?.PublicKey;
            var sealer = new WireWriter(512);
            new SenderCertificate(localAddress, local.Certificate).Write(sealer);
            var sealedSender = new byte[sealer.Length + NativeCrypto.TagLength];
            Span<byte> sealKey = stackalloc byte[44];
            try
            {
                DeriveSealKey(dh.AsSpan(64, dhLength - 64), kemSecret, SealTranscript(bundle.Identity, bundle.SignedPrekey.PublicKey, bundle.KemPrekey.PublicKey, opk, ephemeralPublic, kemCiphertext), sealKey);
                NativeCrypto.Seal(sealKey[..32], sealKey[32..], sealer.Written, fixedFields.Written, sealedSender);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(sealKey);
            }

            fixedFields.WriteVector16(sealedSender);
            var startFields = fixedFields.ToArray();

            Span<byte> keys = stackalloc byte[96];
            try
            {
                DeriveSessionKeys(dh.AsSpan(0, dhLength), kemSecret,
                    SessionTranscript(local.Certificate, bundle.Identity, bundle.SignedPrekey.PublicKey, bundle.KemPrekey.PublicKey, opk, ephemeralPublic, kemCiphertext), keys);
                return RatchetSession.CreateInitiator(local.Certificate, bundle.Identity, peerAddress, keys[..32], keys[32..64], keys[64..],
                    bundle.SignedPrekey.PublicKey, startFields, now);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(keys);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ephemeral);
            CryptographicOperations.ZeroMemory(dh);
            if (kemSecret is not null)
            {
                CryptographicOperations.ZeroMemory(kemSecret);
            }
        }
    }

    /// <summary>The fields of a received session start.</summary>
    internal readonly ref struct StartFields
    {
        public StartFields(ReadOnlySpan<byte> all, uint signedPrekeyId, PrekeyKind kemKind, uint kemPrekeyId, uint oneTimePrekeyId,
            ReadOnlySpan<byte> ephemeral, ReadOnlySpan<byte> kemCiphertext, ReadOnlySpan<byte> sealedSender)
        {
            All = all;
            SignedPrekeyId = signedPrekeyId;
            KemKind = kemKind;
            KemPrekeyId = kemPrekeyId;
            OneTimePrekeyId = oneTimePrekeyId;
            Ephemeral = ephemeral;
            KemCiphertext = kemCiphertext;
            SealedSender = sealedSender;
        }

        public ReadOnlySpan<byte> All { get; }

        public uint SignedPrekeyId { get; }

        public PrekeyKind KemKind { get; }

        public uint KemPrekeyId { get; }

        public uint OneTimePrekeyId { get; }

        public ReadOnlySpan<byte> Ephemeral { get; }

        public ReadOnlySpan<byte> KemCiphertext { get; }

        public ReadOnlySpan<byte> SealedSender { get; }
    }

    /// <summary>Splits a start entry's body into its start fields and the ratchet message after them.</summary>
    internal static StartFields ReadStart(ReadOnlySpan<byte> body, out ReadOnlySpan<byte> message)
    {
        var reader = new WireReader(body, "session start");
        var signedId = reader.ReadUInt32();
        var kemKind = SignedPrekey.ReadKind(reader.ReadByte());
        if (!SignedPrekey.IsKemKind(kemKind))
        {
            throw new NativeException(NativeError.Malformed, "A session start names a KEM prekey of a non-KEM kind.");
        }

        var kemId = reader.ReadUInt32();
        var oneTimeId = reader.ReadUInt32();
        var ephemeral = reader.ReadBytes(32);
        var ciphertext = reader.ReadBytes(MlKem768.CiphertextLength);
        var sealedSender = reader.ReadVector16();
        var all = body[..reader.Position];
        message = reader.ReadRest();
        return new StartFields(all, signedId, kemKind, kemId, oneTimeId, ephemeral, ciphertext, sealedSender);
    }

    /// <summary>Why a responder could not take up a session start.</summary>
    internal enum RespondFailure
    {
        None,
        UnknownPrekey,
        SealedSenderDoesNotOpen,
        BadSenderCertificate,
    }

    /// <summary>
    /// The responder's side: opens the sealed sender and derives the session. Changes nothing on the
    /// device: the caller adds the session and consumes one-time prekeys only once the first message opens.
    /// </summary>
    internal static RespondFailure Respond(DeviceIdentity local, DevicePrekeys prekeys, StartFields start, NativeOptions options, long now,
        out RatchetSession? session, out SenderCertificate? sender)
    {
        session = null;
        sender = null;
        var signed = prekeys.Find(PrekeyKind.Signed, start.SignedPrekeyId);
        var kem = prekeys.Find(start.KemKind, start.KemPrekeyId);
        var oneTime = start.OneTimePrekeyId == 0 ? null : prekeys.Find(PrekeyKind.OneTime, start.OneTimePrekeyId);
        if (signed is null || kem is null || (start.OneTimePrekeyId != 0 && oneTime is null))
        {
            return RespondFailure.UnknownPrekey;
        }

        var dh = new byte[4 * 32];
        var kemSecret = new byte[MlKem768.SharedSecretLength];
        try
        {
            kem.Decapsulate(start.KemCiphertext, kemSecret);
            try
            {
                signed.Agree(start.Ephemeral, dh.AsSpan(64, 32));
                oneTime?.Agree(start.Ephemeral, dh.AsSpan(96, 32));
            }
            catch (HpkeException)
            {
                return RespondFailure.SealedSenderDoesNotOpen; // a small-order ephemeral key: not a genuine start
            }

            var dhLength = oneTime is null ? 96 : 128;
            var opk = oneTime?.Public.PublicKey;
            var sealedSender = start.SealedSender;
            if (sealedSender.Length < NativeCrypto.TagLength)
            {
                return RespondFailure.SealedSenderDoesNotOpen;
            }

            var certificate = new byte[sealedSender.Length - NativeCrypto.TagLength];
            Span<byte> sealKey = stackalloc byte[44];
            try
            {
                DeriveSealKey(dh.AsSpan(64, dhLength - 64), kemSecret,
                    SealTranscript(local.Certificate, signed.Public.PublicKey, kem.Public.PublicKey, opk, start.Ephemeral, start.KemCiphertext), sealKey);
                var fixedLength = start.All.Length - 2 - sealedSender.Length;
                if (!NativeCrypto.TryOpen(sealKey[..32], sealKey[32..], sealedSender, start.All[..fixedLength], certificate))
                {
                    return RespondFailure.SealedSenderDoesNotOpen;
                }
            }
            finally
            {
                CryptographicOperations.ZeroMemory(sealKey);
            }

            try
            {
                var reader = new WireReader(certificate, "sender certificate");
                sender = SenderCertificate.Read(ref reader, options);
                reader.ExpectEnd();
            }
            catch (NativeException)
            {
                return RespondFailure.BadSenderCertificate;
            }

            try
            {
                signed.Agree(sender.Identity.IdentityKey, dh.AsSpan(0, 32));
                local.Agree(start.Ephemeral, dh.AsSpan(32, 32));
            }
            catch (HpkeException)
            {
                return RespondFailure.BadSenderCertificate;
            }

            Span<byte> keys = stackalloc byte[96];
            try
            {
                DeriveSessionKeys(dh.AsSpan(0, dhLength), kemSecret,
                    SessionTranscript(sender.Identity, local.Certificate, signed.Public.PublicKey, kem.Public.PublicKey, opk, start.Ephemeral, start.KemCiphertext), keys);
                session = RatchetSession.CreateResponder(local.Certificate, sender.Identity, sender.Address, keys[..32], keys[32..64], keys[64..],
                    signed.X25519PrivateKey, start.All, now);
                return RespondFailure.None;
            }
            finally
            {
                CryptographicOperations.ZeroMemory(keys);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dh);
            CryptographicOperations.ZeroMemory(kemSecret);
        }
    }

    private static void DeriveSealKey(ReadOnlySpan<byte> dh, ReadOnlySpan<byte> kemSecret, ReadOnlySpan<byte> transcript, Span<byte> output) =>
        Derive("letterlock-native-seal-v1"u8, dh, kemSecret, transcript, output);

    private static void DeriveSessionKeys(ReadOnlySpan<byte> dh, ReadOnlySpan<byte> kemSecret, ReadOnlySpan<byte> transcript, Span<byte> output) =>
        Derive("letterlock-native-pqxdh-v1"u8, dh, kemSecret, transcript, output);

    /// <summary>HKDF-SHA256(salt = 0^32, ikm = F || dh || kem_secret, info = label || transcript).</summary>
    private static void Derive(ReadOnlySpan<byte> label, ReadOnlySpan<byte> dh, ReadOnlySpan<byte> kemSecret, ReadOnlySpan<byte> transcript, Span<byte> output)
    {
        var ikm = new byte[32 + dh.Length + kemSecret.Length];
        var info = new byte[label.Length + transcript.Length];
        try
        {
            F.CopyTo(ikm);
            dh.CopyTo(ikm.AsSpan(32));
            kemSecret.CopyTo(ikm.AsSpan(32 + dh.Length));
            label.CopyTo(info);
            transcript.CopyTo(info.AsSpan(label.Length));
            NativeCrypto.Hkdf(ikm, stackalloc byte[32], info, output);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ikm);
        }
    }

    private static byte[] SealTranscript(IdentityCertificate responder, ReadOnlySpan<byte> signedPrekey, ReadOnlySpan<byte> kemPrekey, ReadOnlySpan<byte> oneTimePrekey,
        ReadOnlySpan<byte> ephemeral, ReadOnlySpan<byte> kemCiphertext)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("letterlock-native-seal-transcript-v1\0"u8);
        hash.AppendData(responder.DeviceKey);
        hash.AppendData(responder.IdentityKey);
        AppendPrekeysAndStart(hash, signedPrekey, kemPrekey, oneTimePrekey, ephemeral, kemCiphertext);
        return hash.GetHashAndReset();
    }

    private static byte[] SessionTranscript(IdentityCertificate initiator, IdentityCertificate responder, ReadOnlySpan<byte> signedPrekey, ReadOnlySpan<byte> kemPrekey,
        ReadOnlySpan<byte> oneTimePrekey, ReadOnlySpan<byte> ephemeral, ReadOnlySpan<byte> kemCiphertext)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("letterlock-native-session-transcript-v1\0"u8);
        hash.AppendData(initiator.DeviceKey);
        hash.AppendData(initiator.IdentityKey);
        hash.AppendData(responder.DeviceKey);
        hash.AppendData(responder.IdentityKey);
        AppendPrekeysAndStart(hash, signedPrekey, kemPrekey, oneTimePrekey, ephemeral, kemCiphertext);
        return hash.GetHashAndReset();
    }

    private static void AppendPrekeysAndStart(IncrementalHash hash, ReadOnlySpan<byte> signedPrekey, ReadOnlySpan<byte> kemPrekey, ReadOnlySpan<byte> oneTimePrekey,
        ReadOnlySpan<byte> ephemeral, ReadOnlySpan<byte> kemCiphertext)
    {
        hash.AppendData(signedPrekey);
        hash.AppendData(kemPrekey);
        hash.AppendData(oneTimePrekey.IsEmpty ? [0] : [1]);
        hash.AppendData(oneTimePrekey);
        hash.AppendData(ephemeral);
        hash.AppendData(kemCiphertext);
    }
}
