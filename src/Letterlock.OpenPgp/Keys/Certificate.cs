using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp;

/// <summary>
/// An OpenPGP certificate (transferable public key, RFC 9580 section 10.1) whose self-signatures,
/// binding signatures and revocations have been verified once at parse time. Immutable.
/// </summary>
public sealed class Certificate
{
    private readonly List<KeyInfo> _subkeys = [];
    private readonly List<string> _userIds = [];

    internal Certificate(PgpPublicKeyRing ring)
    {
        Ring = ring;
        var primary = ring.GetPublicKey();
        if (!primary.IsMasterKey)
        {
            throw new MalformedInputException("the certificate does not start with a primary key");
        }

        Primary = AnalysePrimary(primary);
        foreach (var key in ring.GetPublicKeys())
        {
            if (!key.IsMasterKey)
            {
                _subkeys.Add(AnalyseSubkey(primary, key));
            }
        }
    }

    internal PgpPublicKeyRing Ring { get; }

    /// <summary>The primary key with its verified state.</summary>
    public KeyInfo Primary { get; }

    /// <summary>The subkeys, each with its verified binding state.</summary>
    public IReadOnlyList<KeyInfo> Subkeys => _subkeys;

    /// <summary>The primary key's fingerprint, which identifies the certificate.</summary>
    public Fingerprint Fingerprint => Primary.Fingerprint;

    /// <summary>The primary key's ID.</summary>
    public KeyId KeyId => Primary.KeyId;

    /// <summary>User IDs carrying a verified self-certification, primary user ID first.</summary>
    public IReadOnlyList<string> UserIds => _userIds;

    /// <summary>The primary key's expiration time, or null.</summary>
    public DateTimeOffset? ExpirationTime => Primary.ExpirationTime;

    /// <summary>True if the primary key carries a verified revocation signature.</summary>
    public bool IsRevoked => Primary.RevokedAt is not null;

    /// <summary>All keys, primary first.</summary>
    public IEnumerable<KeyInfo> Keys => _subkeys.Prepend(Primary);

    /// <summary>The certificate's state at <paramref name="at"/>.</summary>
    public CertificateStatus GetStatus(DateTimeOffset at)
    {
        if (!Primary.IsBound)
        {
            return CertificateStatus.NoValidSelfSignature;
        }

        if (Primary.RevokedAt is not null)
        {
            return CertificateStatus.Revoked;
        }

        if (Primary.CreationTime > at.AddMinutes(5))
        {
            return CertificateStatus.NotYetValid;
        }

        return Primary.ExpirationTime is { } expiry && at >= expiry ? CertificateStatus.Expired : CertificateStatus.Valid;
    }

    /// <summary>
    /// The newest valid encryption-capable key at <paramref name="at"/> (subkeys are rotated for
    /// forward secrecy, so the newest one wins), or null if the certificate cannot encrypt then.
    /// </summary>
    public KeyInfo? SelectEncryptionKey(DateTimeOffset at)
    {
        if (GetStatus(at) != CertificateStatus.Valid)
        {
            return null;
        }

        return Keys
            .Where(k => k.IsValidAt(at) && (k.Usage & (KeyUsage.EncryptCommunications | KeyUsage.EncryptStorage)) != 0 && k.PublicKey.IsEncryptionKey)
            .OrderByDescending(k => k.CreationTime)
            .FirstOrDefault();
    }

    /// <summary>All keys valid for signing at <paramref name="at"/>.</summary>
    public IEnumerable<KeyInfo> SigningKeys(DateTimeOffset at) =>
        GetStatus(at) == CertificateStatus.Valid ? Keys.Where(k => k.IsValidAt(at) && (k.Usage & KeyUsage.Sign) != 0) : [];

    /// <summary>Finds a key of this certificate by key ID.</summary>
    public KeyInfo? FindKey(KeyId id) => Keys.FirstOrDefault(k => k.KeyId == id);

    /// <summary>Finds a key of this certificate by fingerprint.</summary>
    public KeyInfo? FindKey(Fingerprint fingerprint) => Keys.FirstOrDefault(k => k.Fingerprint == fingerprint);

    /// <summary>
    /// True if a verified user ID carries <paramref name="address"/> (compared case-insensitively,
    /// as <c>Name &lt;addr&gt;</c> or a bare address).
    /// </summary>
    public bool HasAddress(string address) =>
        _userIds.Any(u => string.Equals(UserIdAddress(u), address.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>The e-mail addresses of the verified user IDs.</summary>
    public IEnumerable<string> Addresses => _userIds.Select(UserIdAddress).Where(a => a.Length > 0);

    /// <summary>Exports the certificate, ASCII-armored or binary.</summary>
    public byte[] Export(bool armored = true)
    {
        var binary = Ring.GetEncoded();
        return armored ? Armor.Encode(binary) : binary;
    }

    /// <summary>
    /// Parses exactly one certificate (armored or binary). A secret key block is rejected: use
    /// <see cref="SecretKey.Parse"/> and <see cref="SecretKey.Certificate"/>.
    /// </summary>
    public static Certificate Parse(ReadOnlyMemory<byte> data, OpenPgpOptions? options = null)
    {
        var all = ParseAll(data, options);
        return all.Count == 1 ? all[0] : throw new MalformedInputException($"expected one certificate, found {all.Count}");
    }

    /// <summary>Parses one or more concatenated certificates (binary, or one or several armored blocks).</summary>
    public static IReadOnlyList<Certificate> ParseAll(ReadOnlyMemory<byte> data, OpenPgpOptions? options = null) =>
        KeyBlocks.ParseAll(data, options, "certificate", obj => obj switch
        {
            PgpPublicKeyRing ring => new Certificate(ring),
            PgpSecretKeyRing => throw new MalformedInputException("expected a certificate, found a secret key"),
            _ => throw new MalformedInputException("expected a certificate, found other OpenPGP data"),
        });

    /// <summary>
    /// Returns this certificate with a revocation signature (for example the revocation
    /// certificate made at generation) merged in. The signature must verify against the primary key.
    /// </summary>
    public Certificate WithRevocation(ReadOnlyMemory<byte> revocationCertificate, OpenPgpOptions? options = null)
    {
        var binary = Armor.Decode(revocationCertificate, options);
        return PacketGuard.Run(() =>
        {
            var factory = new PgpObjectFactory(binary);
            if (factory.NextPgpObject() is not PgpSignatureList { Count: 1 } list || list[0].SignatureType != PgpSignature.KeyRevocation)
            {
                throw new MalformedInputException("not a key revocation signature");
            }

            var signature = list[0];
            var primary = Ring.GetPublicKey();
            signature.InitVerify(primary);
            if (!signature.VerifyCertification(primary))
            {
                throw new MalformedInputException("the revocation signature does not verify against this certificate");
            }

            var revoked = PgpPublicKey.AddCertification(primary, signature);
            return new Certificate(PgpPublicKeyRing.InsertPublicKey(Ring, revoked));
        });
    }

    /// <summary>
    /// Returns this certificate with <paramref name="userId"/> certified by <paramref name="certifier"/>'s primary key
    /// (a third-party certification, RFC 9580 section 5.2.1, type 0x10): how an old key endorses the key that
    /// replaces it, so correspondents who trust the old key can take the new one as a rotation.
    /// </summary>
    /// <exception cref="KeyNotUsableException">The user ID is not one of this certificate's, or the certifier has no secret primary key.</exception>
    public Certificate CertifiedBy(UnlockedKey certifier, string userId, DateTimeOffset? at = null)
    {
        ArgumentNullException.ThrowIfNull(certifier);
        if (!_userIds.Contains(userId, StringComparer.Ordinal))
        {
            throw new KeyNotUsableException("the user ID to certify is not one of the certificate's");
        }

        var privateKey = certifier.PrimaryPrivateKey ?? throw new KeyNotUsableException("the certifying key has no secret primary key");
        var certifierPublic = certifier.SecretKey.Ring.GetPublicKey();
        return PacketGuard.Run(() =>
        {
            var generator = new PgpSignatureGenerator(certifierPublic.Algorithm, HashAlgorithmTag.Sha512);
            generator.InitSign(PgpSignature.DefaultCertification, privateKey, KeyGenerator.Random);
            var hashed = new PgpSignatureSubpacketGenerator();
            hashed.SetSignatureCreationTime(false, KeyGenerator.Truncate(at ?? DateTimeOffset.UtcNow).UtcDateTime);
            hashed.SetIssuerFingerprint(false, certifierPublic);
            generator.SetHashedSubpackets(hashed.Generate());
            var primary = Ring.GetPublicKey();
            var certification = generator.GenerateCertification(userId, primary);
            return new Certificate(PgpPublicKeyRing.InsertPublicKey(Ring, PgpPublicKey.AddCertification(primary, userId, certification)));
        });
    }

    /// <summary>
    /// True when one of this certificate's (self-certified) user IDs carries a valid certification by
    /// <paramref name="certifier"/>'s primary key: the certifier endorsed this key for that user ID.
    /// </summary>
    public bool IsCertifiedBy(Certificate certifier)
    {
        ArgumentNullException.ThrowIfNull(certifier);
        var certifierKey = certifier.Ring.GetPublicKey();
        var primary = Ring.GetPublicKey();
        if (certifierKey.KeyId == primary.KeyId)
        {
            return false;
        }

        foreach (var id in _userIds)
        {
            byte[] raw = System.Text.Encoding.UTF8.GetBytes(id);
            foreach (PgpSignature sig in primary.GetSignaturesForId(id) ?? [])
            {
                if (sig.KeyId != certifierKey.KeyId || !IsSelfCertificationType(sig.SignatureType) || !AcceptableHash(sig))
                {
                    continue;
                }

                try
                {
                    sig.InitVerify(certifierKey);
                    if (VerifyUserIdCertification(sig, raw, primary))
                    {
                        return true;
                    }
                }
                catch (Exception e) when (e is PgpException or ArgumentException or InvalidOperationException)
                {
                    // a malformed certification endorses nothing
                }
            }
        }

        return false;
    }

    /// <summary>
    /// A minimal copy for Autocrypt headers and gossip (Autocrypt Level 1, section 2.1.1): the
    /// primary key, the user ID matching <paramref name="address"/> and the selected encryption
    /// subkey, each with its newest self-signature only.
    /// </summary>
    public Certificate Minimize(string address, DateTimeOffset at)
    {
        var encryption = SelectEncryptionKey(at) ?? throw new KeyNotUsableException("the certificate has no valid encryption key");
        var userId = _userIds.FirstOrDefault(u => string.Equals(UserIdAddress(u), address, StringComparison.OrdinalIgnoreCase))
            ?? throw new KeyNotUsableException("the certificate has no user ID for that address");
        var primary = Ring.GetPublicKey();
        var stripped = primary;
        foreach (var id in primary.GetUserIds().ToList())
        {
            stripped = PgpPublicKey.RemoveCertification(stripped, id) ?? stripped;
        }

        var selfSig = primary.GetSignaturesForId(userId)
            .Where(s => s.KeyId == primary.KeyId && VerifyUserId(primary, userId, s))
            .OrderByDescending(s => s.CreationTime)
            .First();
        stripped = PgpPublicKey.AddCertification(stripped, userId, selfSig);

        // Third-party certifications of that user ID stay: an old key's endorsement of this one travels with it.
        foreach (var endorsement in primary.GetSignaturesForId(userId).Where(s => s.KeyId != primary.KeyId && IsSelfCertificationType(s.SignatureType)).ToList())
        {
            stripped = PgpPublicKey.AddCertification(stripped, userId, endorsement);
        }
        foreach (var direct in primary.GetSignaturesOfType(PgpSignature.KeyRevocation).Concat(primary.GetSignaturesOfType(PgpSignature.DirectKey)).ToList())
        {
            stripped = PgpPublicKey.RemoveCertification(stripped, direct) ?? stripped;
        }

        var keys = new List<PgpPublicKey> { stripped };
        if (!encryption.IsPrimary)
        {
            var sub = encryption.PublicKey;
            var binding = sub.GetSignaturesOfType(PgpSignature.SubkeyBinding)
                .Where(s => VerifyBinding(primary, sub, s))
                .OrderByDescending(s => s.CreationTime)
                .First();
            var bare = sub;
            foreach (var s in sub.GetSignatures().ToList())
            {
                bare = PgpPublicKey.RemoveCertification(bare, s) ?? bare;
            }

            keys.Add(PgpPublicKey.AddCertification(bare, binding));
        }

        using var output = new MemoryStream();
        foreach (var k in keys)
        {
            k.Encode(output);
        }

        return new Certificate(new PgpPublicKeyRing(output.ToArray()));
    }

    internal static string UserIdAddress(string userId)
    {
        var open = userId.LastIndexOf('<');
        var close = userId.LastIndexOf('>');
        if (open >= 0 && close > open)
        {
            return userId[(open + 1)..close].Trim();
        }

        return userId.Contains('@', StringComparison.Ordinal) ? userId.Trim() : "";
    }

    private KeyInfo AnalysePrimary(PgpPublicKey primary)
    {
        PgpSignature? newest = null;
        var primaryUserIdSeen = false;
        foreach (var raw in primary.GetRawUserIds())
        {
            var id = System.Text.Encoding.UTF8.GetString(raw);
            var certifications = primary.GetSignaturesForId(raw)
                .Where(s => s.KeyId == primary.KeyId && IsSelfCertificationType(s.SignatureType) && VerifyUserIdRaw(primary, raw, s))
                .OrderByDescending(s => s.CreationTime)
                .ToList();
            if (certifications.Count == 0)
            {
                continue;
            }

            var sig = certifications[0];
            var revoked = primary.GetSignaturesForId(raw)
                .Any(s => s.SignatureType == PgpSignature.CertificationRevocation && s.KeyId == primary.KeyId && VerifyUserIdRaw(primary, raw, s));
            if (revoked)
            {
                continue;
            }

            var isPrimary = sig.HasSubpackets && sig.GetHashedSubPackets().IsPrimaryUserId();
            if (isPrimary && !primaryUserIdSeen)
            {
                _userIds.Insert(0, id);
                primaryUserIdSeen = true;
                newest = sig;
            }
            else
            {
                _userIds.Add(id);
                if (!primaryUserIdSeen && (newest is null || sig.CreationTime > newest.CreationTime))
                {
                    newest = sig;
                }
            }
        }

        var direct = primary.GetSignaturesOfType(PgpSignature.DirectKey)
            .Where(s => s.KeyId == primary.KeyId && VerifyDirect(primary, s))
            .OrderByDescending(s => s.CreationTime)
            .FirstOrDefault();
        var governing = newest ?? direct;
        var revokedAt = primary.GetSignaturesOfType(PgpSignature.KeyRevocation)
            .Where(s => VerifyDirect(primary, s))
            .Select(s => (DateTimeOffset?)Utc(s.CreationTime))
            .Min();

        var usage = KeyUsage.Certify | KeyUsage.Sign;
        DateTimeOffset? expiry = null;
        if (governing is not null && governing.HasSubpackets)
        {
            var hashed = governing.GetHashedSubPackets();
            if (hashed.HasSubpacket(SignatureSubpacketTag.KeyFlags))
            {
                usage = (KeyUsage)hashed.GetKeyFlags();
            }

            expiry = Expiry(primary, hashed);
        }

        if (direct is not null && direct.HasSubpackets && direct.GetHashedSubPackets().HasKeyExpirationTime() && expiry is null)
        {
            expiry = Expiry(primary, direct.GetHashedSubPackets());
        }

        return new KeyInfo(primary, true, usage, expiry, governing is not null, revokedAt);
    }

    private static KeyInfo AnalyseSubkey(PgpPublicKey primary, PgpPublicKey sub)
    {
        var binding = sub.GetSignaturesOfType(PgpSignature.SubkeyBinding)
            .Where(s => VerifyBinding(primary, sub, s))
            .OrderByDescending(s => s.CreationTime)
            .FirstOrDefault();
        var revokedAt = sub.GetSignaturesOfType(PgpSignature.SubkeyRevocation)
            .Where(s => VerifyBinding(primary, sub, s))
            .Select(s => (DateTimeOffset?)Utc(s.CreationTime))
            .Min();
        var usage = KeyUsage.None;
        DateTimeOffset? expiry = null;
        if (binding is not null && binding.HasSubpackets)
        {
            var hashed = binding.GetHashedSubPackets();
            usage = hashed.HasSubpacket(SignatureSubpacketTag.KeyFlags)
                ? (KeyUsage)hashed.GetKeyFlags()
                : sub.IsEncryptionKey ? KeyUsage.EncryptCommunications | KeyUsage.EncryptStorage : KeyUsage.None;
            expiry = Expiry(sub, hashed);

            // A signing subkey needs a valid embedded primary key binding signature (back
            // signature), or anyone could claim someone else's signing key as their subkey.
            if ((usage & KeyUsage.Sign) != 0 && !HasValidBackSignature(primary, sub, hashed, binding.GetUnhashedSubPackets()))
            {
                usage &= ~KeyUsage.Sign;
            }
        }

        return new KeyInfo(sub, false, usage, expiry, binding is not null, revokedAt);
    }

    private static bool HasValidBackSignature(PgpPublicKey primary, PgpPublicKey sub, PgpSignatureSubpacketVector hashed, PgpSignatureSubpacketVector? unhashed)
    {
        foreach (var vector in new[] { hashed, unhashed })
        {
            if (vector is null)
            {
                continue;
            }

            try
            {
                var embeddedList = vector.GetEmbeddedSignatures();
                for (var i = 0; i < embeddedList.Count; i++)
                {
                    var embedded = embeddedList[i];
                    if (embedded.SignatureType != PgpSignature.PrimaryKeyBinding)
                    {
                        continue;
                    }

                    embedded.InitVerify(sub);
                    if (embedded.VerifyCertification(primary, sub))
                    {
                        return true;
                    }
                }
            }
            catch (PgpException)
            {
            }
        }

        return false;
    }

    private static DateTimeOffset? Expiry(PgpPublicKey key, PgpSignatureSubpacketVector hashed)
    {
        if (!hashed.HasKeyExpirationTime())
        {
            return null;
        }

        var seconds = hashed.GetKeyExpirationTime();
        return seconds == 0 ? null : Utc(key.CreationTime).AddSeconds(seconds);
    }

    private static bool IsSelfCertificationType(int type) =>
        type is PgpSignature.DefaultCertification or PgpSignature.NoCertification or PgpSignature.CasualCertification or PgpSignature.PositiveCertification;

    private static bool VerifyUserId(PgpPublicKey primary, string id, PgpSignature sig) =>
        VerifyUserIdRaw(primary, System.Text.Encoding.UTF8.GetBytes(id), sig);

    private static bool VerifyUserIdRaw(PgpPublicKey primary, byte[] id, PgpSignature sig)
    {
        try
        {
            if (!AcceptableHash(sig))
            {
                return false;
            }

            sig.InitVerify(primary);
            return VerifyUserIdCertification(sig, id, primary);
        }
        catch (Exception e) when (e is PgpException or ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    private static bool VerifyUserIdCertification(PgpSignature sig, byte[] id, PgpPublicKey key)
    {
        // PgpSignature.VerifyCertification(string, key) re-encodes the ID; hash the raw bytes so
        // a non-UTF-8 user ID cannot verify under a different spelling.
        var keyBytes = key.PublicKeyPacket.GetEncodedContents();
        sig.Update(0x99);
        sig.Update((byte)(keyBytes.Length >> 8));
        sig.Update((byte)keyBytes.Length);
        sig.Update(keyBytes);
        sig.Update(0xB4);
        sig.Update((byte)(id.Length >> 24));
        sig.Update((byte)(id.Length >> 16));
        sig.Update((byte)(id.Length >> 8));
        sig.Update((byte)id.Length);
        sig.Update(id);
        return sig.Verify(); // adds the signature trailer itself
    }

    private static bool VerifyDirect(PgpPublicKey primary, PgpSignature sig)
    {
        try
        {
            if (sig.KeyId != primary.KeyId || !AcceptableHash(sig))
            {
                return false;
            }

            sig.InitVerify(primary);
            return sig.VerifyCertification(primary);
        }
        catch (Exception e) when (e is PgpException or ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    private static bool VerifyBinding(PgpPublicKey primary, PgpPublicKey sub, PgpSignature sig)
    {
        try
        {
            if (sig.KeyId != primary.KeyId || !AcceptableHash(sig))
            {
                return false;
            }

            sig.InitVerify(primary);
            return sig.VerifyCertification(primary, sub);
        }
        catch (Exception e) when (e is PgpException or ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>MD5 and SHA-1 (collision-broken) and unknown hashes are not accepted on self-signatures we rely on.</summary>
    internal static bool AcceptableHash(PgpSignature sig) =>
        sig.HashAlgorithm is HashAlgorithmTag.Sha256 or HashAlgorithmTag.Sha384 or HashAlgorithmTag.Sha512 or HashAlgorithmTag.Sha224
            or HashAlgorithmTag.Sha3_256 or HashAlgorithmTag.Sha3_512;

    internal static DateTimeOffset Utc(DateTime time) => new(DateTime.SpecifyKind(time, DateTimeKind.Utc));
}
