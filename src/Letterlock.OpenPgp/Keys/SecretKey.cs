using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp;

/// <summary>
/// An OpenPGP secret key (transferable secret key, RFC 9580 section 10.2), locked. Its secret
/// parts stay encrypted under the passphrase (iterated and salted SHA-256 S2K, AES-256) until
/// <see cref="Unlock(ReadOnlySpan{char})"/>. Immutable: operations return new instances.
/// </summary>
public sealed class SecretKey
{
    internal SecretKey(PgpSecretKeyRing ring)
    {
        // Re-parse: a freshly generated ring keeps subkeys' public halves as primary-key packets
        // (tag 6) in BouncyCastle, which would encode into a broken certificate.
        ring = new PgpSecretKeyRing(ring.GetEncoded());
        Ring = ring;
        using var output = new MemoryStream();
        foreach (var key in ring.GetPublicKeys())
        {
            key.Encode(output);
        }

        Certificate = new Certificate(new PgpPublicKeyRing(output.ToArray()));
    }

    internal PgpSecretKeyRing Ring { get; }

    /// <summary>The public certificate of this key.</summary>
    public Certificate Certificate { get; }

    /// <summary>The primary key's fingerprint.</summary>
    public Fingerprint Fingerprint => Certificate.Fingerprint;

    /// <summary>True if any secret part is protected by a passphrase.</summary>
    public bool IsProtected => Ring.GetSecretKeys().Any(k => !k.IsPrivateKeyEmpty && k.S2kUsage != 0);

    /// <summary>
    /// This key with the signatures of <paramref name="certificate"/> (the same key's certificate, for instance after
    /// <see cref="Certificate.CertifiedBy"/>), so what it exports carries them too.
    /// </summary>
    /// <exception cref="KeyNotUsableException">The certificate is another key's.</exception>
    public SecretKey WithCertificate(Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (certificate.Fingerprint != Fingerprint)
        {
            throw new KeyNotUsableException("the certificate belongs to another key");
        }

        return PacketGuard.Run(() => new SecretKey(PgpSecretKeyRing.ReplacePublicKeys(Ring, certificate.Ring)));
    }

    /// <summary>Unlocks an unprotected key.</summary>
    public UnlockedKey Unlock() => Unlock(ReadOnlySpan<char>.Empty);

    /// <summary>
    /// Decrypts the secret parts with <paramref name="passphrase"/> and keeps them in memory for
    /// signing and decrypting. Unlock once per session: the S2K is deliberately slow.
    /// </summary>
    /// <exception cref="BadPassphraseException">The passphrase is missing or wrong.</exception>
    public UnlockedKey Unlock(ReadOnlySpan<char> passphrase)
    {
        var chars = passphrase.ToArray();
        try
        {
            var privateKeys = new Dictionary<long, PgpPrivateKey>();
            foreach (var key in Ring.GetSecretKeys())
            {
                if (key.IsPrivateKeyEmpty)
                {
                    continue; // gpg's "stub" (offline primary or smartcard): nothing to unlock
                }

                if (key.S2kUsage != 0 && chars.Length == 0)
                {
                    throw new BadPassphraseException("the secret key is protected by a passphrase");
                }

                try
                {
                    privateKeys[key.KeyId] = key.ExtractPrivateKeyUtf8(chars);
                }
                catch (PgpException e)
                {
                    throw new BadPassphraseException("the passphrase does not unlock the secret key" + (e.Message.Length > 0 ? "" : ""));
                }
            }

            return new UnlockedKey(this, privateKeys);
        }
        finally
        {
            Array.Clear(chars);
        }
    }

    /// <summary>Exports the secret key, ASCII-armored or binary, as protected as it is.</summary>
    public byte[] Export(bool armored = true)
    {
        var binary = Ring.GetEncoded();
        return armored ? Armor.Encode(binary) : binary;
    }

    /// <summary>Returns a copy protected by <paramref name="newPassphrase"/> (empty removes protection).</summary>
    public SecretKey ChangePassphrase(ReadOnlySpan<char> oldPassphrase, ReadOnlySpan<char> newPassphrase)
    {
        Unlock(oldPassphrase); // throws BadPassphraseException before anything is rewritten
        var open = SecretKeyProtection.NormalizeUnprotected(
            PgpSecretKeyRing.CopyWithNewPassword(Ring, oldPassphrase.ToArray(), [], SymmetricKeyAlgorithmTag.Null, KeyGenerator.Random).GetEncoded());
        return new SecretKey(new PgpSecretKeyRing(newPassphrase.IsEmpty ? open : SecretKeyProtection.Protect(open, newPassphrase)));
    }

    /// <summary>
    /// Adds a new Cv25519 encryption subkey bound with a SHA-512 binding signature and protected
    /// with the same passphrase. Encryptors pick the newest valid encryption subkey, so this
    /// rotates the key that new mail is encrypted to; older subkeys keep decrypting old mail.
    /// </summary>
    /// <param name="passphrase">The key's passphrase (empty for an unprotected key).</param>
    /// <param name="validity">How long the new subkey is valid, or null for no expiry.</param>
    /// <param name="now">The creation time of the subkey (default: now).</param>
    public SecretKey AddEncryptionSubkey(ReadOnlySpan<char> passphrase, TimeSpan? validity = null, DateTimeOffset? now = null)
    {
        var unlocked = Unlock(passphrase);
        var created = KeyGenerator.Truncate(now ?? DateTimeOffset.UtcNow);
        var primaryPublic = Ring.GetPublicKey();
        var primaryPrivate = unlocked.PrimaryPrivateKey
            ?? throw new KeyNotUsableException("the primary secret key is not available to certify a subkey");
        var master = new PgpKeyPair(primaryPublic, primaryPrivate);
        var subkey = KeyGenerator.NewEncryptionKeyPair(created);

        // PgpKeyRingGenerator is the only public BouncyCastle path that makes a protected secret
        // subkey packet; its throwaway user-ID certification is discarded, only the subkey is kept.
        var generator = KeyGenerator.RingGenerator(master, "-", created, null);
        generator.AddSubKey(subkey, KeyGenerator.SubkeyBindingSubpackets(primaryPublic, created, validity), null, HashAlgorithmTag.Sha512);
        var secretSubkey = new PgpSecretKeyRing(KeyGenerator.StandardRing(generator.GenerateSecretKeyRing(), subkey)).GetSecretKey(subkey.KeyId);
        var ring = PgpSecretKeyRing.InsertSecretKey(Ring, secretSubkey);
        // Only the new subkey is unprotected at this point; Protect leaves the others as they are.
        return new SecretKey(passphrase.IsEmpty ? ring : new PgpSecretKeyRing(SecretKeyProtection.Protect(ring.GetEncoded(), passphrase)));
    }

    /// <summary>Parses exactly one secret key (armored or binary).</summary>
    public static SecretKey Parse(ReadOnlyMemory<byte> data, OpenPgpOptions? options = null)
    {
        var all = ParseAll(data, options);
        return all.Count == 1 ? all[0] : throw new MalformedInputException($"expected one secret key, found {all.Count}");
    }

    /// <summary>Parses one or more concatenated secret keys (armored or binary).</summary>
    public static IReadOnlyList<SecretKey> ParseAll(ReadOnlyMemory<byte> data, OpenPgpOptions? options = null) =>
        KeyBlocks.ParseAll(data, options, "secret key", obj => obj is PgpSecretKeyRing ring
            ? new SecretKey(ring)
            : throw new MalformedInputException("expected a secret key, found other OpenPGP data"));
}

/// <summary>
/// A secret key whose private parts are decrypted in memory, ready to sign and decrypt. Keep it
/// for the session; drop the reference to forget it.
/// </summary>
public sealed class UnlockedKey
{
    private readonly Dictionary<long, PgpPrivateKey> _privateKeys;

    internal UnlockedKey(SecretKey secretKey, Dictionary<long, PgpPrivateKey> privateKeys)
    {
        SecretKey = secretKey;
        _privateKeys = privateKeys;
    }

    /// <summary>The locked key this was unlocked from.</summary>
    public SecretKey SecretKey { get; }

    /// <summary>The public certificate.</summary>
    public Certificate Certificate => SecretKey.Certificate;

    /// <summary>The primary key's fingerprint.</summary>
    public Fingerprint Fingerprint => SecretKey.Fingerprint;

    internal PgpPrivateKey? PrimaryPrivateKey => _privateKeys.GetValueOrDefault(SecretKey.Ring.GetPublicKey().KeyId);

    internal PgpPrivateKey? PrivateKey(KeyId id) => _privateKeys.GetValueOrDefault(id.AsLong);

    /// <summary>True if a secret part for <paramref name="id"/> is available.</summary>
    public bool HasSecret(KeyId id) => _privateKeys.ContainsKey(id.AsLong);

    /// <summary>The key that signs at <paramref name="at"/>: the newest valid signing-capable key with a secret.</summary>
    internal (KeyInfo Info, PgpPrivateKey Private)? SigningKey(DateTimeOffset at)
    {
        var info = Certificate.SigningKeys(at)
            .Where(k => _privateKeys.ContainsKey(k.KeyId.AsLong))
            .OrderByDescending(k => k.CreationTime)
            .FirstOrDefault();
        return info is null ? null : (info, _privateKeys[info.KeyId.AsLong]);
    }

    /// <summary>Keys able to decrypt: bound encryption-capable keys with a secret, expired ones included (old mail).</summary>
    internal IEnumerable<(KeyInfo Info, PgpPrivateKey Private)> DecryptionKeys() =>
        Certificate.Keys
            .Where(k => k.IsBound && k.PublicKey.IsEncryptionKey && (k.Usage & (KeyUsage.EncryptCommunications | KeyUsage.EncryptStorage)) != 0
                        && _privateKeys.ContainsKey(k.KeyId.AsLong))
            .Select(k => (k, _privateKeys[k.KeyId.AsLong]));
}
