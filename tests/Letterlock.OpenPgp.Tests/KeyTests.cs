using System.Text;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp.Tests;

public sealed class KeyTests
{
    [Fact]
    public void Generated_key_has_ed25519_primary_and_cv25519_subkey_with_sha512_signatures()
    {
        var cert = TestKeys.Alice.Certificate;
        Assert.Equal((int)PublicKeyAlgorithmTag.EdDsa_Legacy, cert.Primary.Algorithm);
        Assert.Equal(KeyUsage.Certify | KeyUsage.Sign, cert.Primary.Usage);
        var sub = Assert.Single(cert.Subkeys);
        Assert.Equal((int)PublicKeyAlgorithmTag.ECDH, sub.Algorithm);
        Assert.Equal(KeyUsage.EncryptCommunications | KeyUsage.EncryptStorage, sub.Usage);
        Assert.Equal(["Alice <alice@example.org>"], cert.UserIds);
        Assert.True(cert.HasAddress("ALICE@example.org"));

        var ring = new PgpPublicKeyRing(cert.Export(armored: false));
        var signatures = ring.GetPublicKeys().SelectMany(k => k.GetSignatures()).ToList();
        Assert.Equal(2, signatures.Count);
        Assert.All(signatures, s => Assert.Equal(HashAlgorithmTag.Sha512, s.HashAlgorithm));
        var selfSig = ring.GetPublicKey().GetSignaturesForId("Alice <alice@example.org>").Single();
        Assert.Equal((int)SymmetricKeyAlgorithmTag.Aes256, selfSig.GetHashedSubPackets().GetPreferredSymmetricAlgorithms()[0]);
        Assert.Equal(PgpSignature.PositiveCertification, selfSig.SignatureType);
    }

    [Fact]
    public void Fingerprint_and_key_id_are_consistent()
    {
        var cert = TestKeys.Alice.Certificate;
        Assert.Equal(40, cert.Fingerprint.Hex.Length);
        Assert.Equal(cert.Fingerprint.Hex[24..], cert.KeyId.ToString());
        Assert.Equal(cert.Fingerprint, Fingerprint.Parse(cert.Fingerprint.Hex.ToLowerInvariant()));
        Assert.Throws<FormatException>(() => Fingerprint.Parse("abc"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Certificate_and_secret_key_round_trip_armored_and_binary(bool armored)
    {
        var exported = TestKeys.Alice.Certificate.Export(armored);
        var parsed = Certificate.Parse(exported);
        Assert.Equal(TestKeys.Alice.Certificate.Fingerprint, parsed.Fingerprint);
        Assert.Equal(armored, Armor.IsArmored(exported));

        var secret = SecretKey.Parse(TestKeys.Alice.SecretKey.Export(armored));
        Assert.True(secret.IsProtected);
        Assert.Equal(TestKeys.Alice.Certificate.Fingerprint, secret.Fingerprint);
        Assert.Contains("PRIVATE KEY BLOCK", Encoding.ASCII.GetString(TestKeys.Alice.SecretKey.Export()), StringComparison.Ordinal);
    }

    [Fact]
    public void Several_armored_blocks_parse_as_one_keyring()
    {
        byte[] both = [.. TestKeys.Alice.Certificate.Export(armored: true), .. "\r\n"u8, .. TestKeys.Bob.Certificate.Export(armored: true)];
        var parsed = Certificate.ParseAll(both);
        Assert.Equal([TestKeys.Alice.Certificate.Fingerprint, TestKeys.Bob.Certificate.Fingerprint], parsed.Select(c => c.Fingerprint));
        Assert.Throws<MalformedInputException>(() => Certificate.Parse(both));
    }

    [Fact]
    public void Secret_key_is_protected_with_aes256_and_iterated_salted_s2k()
    {
        var ring = new PgpSecretKeyRing(TestKeys.Alice.SecretKey.Export(armored: false));
        foreach (var key in ring.GetSecretKeys())
        {
            Assert.Equal(SymmetricKeyAlgorithmTag.Aes256, key.KeyEncryptionAlgorithm);
            Assert.Equal(S2k.SaltedAndIterated, key.S2k.Type);
            Assert.Equal(HashAlgorithmTag.Sha256, key.S2k.HashAlgorithm);
            Assert.Equal(16L * 1024 * 1024, key.S2k.IterationCount);
            Assert.Equal(254, key.S2kUsage); // SHA-1 checksum mode (RFC 9580: 254, not the malleable 255)
        }

        Assert.Throws<BadPassphraseException>(() => TestKeys.Alice.SecretKey.Unlock("wrong"));
        Assert.Throws<BadPassphraseException>(() => TestKeys.Alice.SecretKey.Unlock());
        Assert.False(TestKeys.Bob.SecretKey.IsProtected);
    }

    [Fact]
    public void Passphrase_can_be_changed()
    {
        var changed = TestKeys.Alice.SecretKey.ChangePassphrase(TestKeys.Passphrase, "new pass");
        Assert.All(new PgpSecretKeyRing(changed.Export(false)).GetSecretKeys(), k => Assert.Equal(HashAlgorithmTag.Sha256, k.S2k.HashAlgorithm));
        var opened = changed.ChangePassphrase("new pass", "");
        Assert.False(opened.IsProtected);
        Assert.Equal(TestKeys.Alice.Certificate.Fingerprint, opened.Unlock().Fingerprint);
        Assert.Throws<BadPassphraseException>(() => changed.Unlock(TestKeys.Passphrase));
        Assert.Equal(TestKeys.Alice.Certificate.Fingerprint, changed.Unlock("new pass").Fingerprint);
    }

    [Fact]
    public void Expiry_is_reported_and_expired_keys_are_not_selected()
    {
        var created = DateTimeOffset.UtcNow.AddDays(-10);
        var key = KeyGenerator.Generate("Exp <exp@example.org>", "", new KeyGenerationOptions
        {
            CreationTime = created,
            PrimaryValidity = TimeSpan.FromDays(5),
        });
        var cert = key.Certificate;
        Assert.Equal(KeyGenerator.Truncate(created).AddDays(5), cert.ExpirationTime);
        Assert.Equal(CertificateStatus.Valid, cert.GetStatus(created.AddDays(1)));
        Assert.Equal(CertificateStatus.Expired, cert.GetStatus(DateTimeOffset.UtcNow));
        Assert.Equal(CertificateStatus.NotYetValid, cert.GetStatus(created.AddDays(-1)));
        Assert.Null(cert.SelectEncryptionKey(DateTimeOffset.UtcNow));
        Assert.NotNull(cert.SelectEncryptionKey(created.AddDays(1)));
    }

    [Fact]
    public void Revocation_certificate_made_at_generation_revokes()
    {
        var generated = KeyGenerator.Generate("Rev <rev@example.org>", "");
        Assert.Contains("BEGIN PGP SIGNATURE", Encoding.ASCII.GetString(generated.RevocationCertificate), StringComparison.Ordinal);
        Assert.False(generated.Certificate.IsRevoked);
        var revoked = generated.Certificate.WithRevocation(generated.RevocationCertificate);
        Assert.True(revoked.IsRevoked);
        Assert.Equal(CertificateStatus.Revoked, revoked.GetStatus(DateTimeOffset.UtcNow));
        Assert.Null(revoked.SelectEncryptionKey(DateTimeOffset.UtcNow));
        // The revocation survives export and re-import.
        Assert.True(Certificate.Parse(revoked.Export()).IsRevoked);
        // Someone else's revocation does not apply.
        Assert.Throws<MalformedInputException>(() => TestKeys.Bob.Certificate.WithRevocation(generated.RevocationCertificate));
    }

    [Fact]
    public void Rotated_encryption_subkeys_newest_valid_one_is_selected()
    {
        var start = DateTimeOffset.UtcNow.AddDays(-30);
        var key = KeyGenerator.Generate("Rot <rot@example.org>", "pw", new KeyGenerationOptions
        {
            CreationTime = start,
            EncryptionSubkeyValidity = TimeSpan.FromDays(7),
        }).SecretKey;
        var first = key.Certificate.Subkeys[0];
        key = key.AddEncryptionSubkey("pw", TimeSpan.FromDays(7), start.AddDays(6));
        key = key.AddEncryptionSubkey("pw", TimeSpan.FromDays(7), start.AddDays(12));
        var reparsed = SecretKey.Parse(key.Export());
        var subkeys = reparsed.Certificate.Subkeys;
        Assert.Equal(3, subkeys.Count);
        Assert.All(subkeys, s => Assert.True(s.IsBound));
        Assert.True(reparsed.IsProtected);
        Assert.All(new PgpSecretKeyRing(reparsed.Export(false)).GetSecretKeys(), k => Assert.Equal(254, k.S2kUsage));
        Assert.Equal(first.Fingerprint, reparsed.Certificate.SelectEncryptionKey(start.AddDays(1))!.Fingerprint);
        Assert.Equal(subkeys[1].Fingerprint, reparsed.Certificate.SelectEncryptionKey(start.AddDays(8))!.Fingerprint);
        Assert.Equal(subkeys[2].Fingerprint, reparsed.Certificate.SelectEncryptionKey(start.AddDays(13))!.Fingerprint);
        Assert.Null(reparsed.Certificate.SelectEncryptionKey(start.AddDays(25)));
        Assert.Throws<BadPassphraseException>(() => key.AddEncryptionSubkey("nope"));

        // Old mail encrypted to the first subkey still decrypts after rotation.
        var engine = new OpenPgpEngine();
        var old = engine.Encrypt("old mail"u8, [KeyGenerator.Generate("x <x@x.org>", "").Certificate is var _ ? Certificate.Parse(reparsed.Certificate.Export()) : null!],
            new EncryptOptions { Now = start.AddDays(1) });
        var result = engine.Decrypt(old, new DecryptOptions { Keys = [reparsed.Unlock("pw")] });
        Assert.Equal(first.Fingerprint, result.DecryptedWith);
    }

    [Fact]
    public void Parse_rejects_garbage_and_wrong_kinds_with_typed_errors()
    {
        Assert.Throws<MalformedInputException>(() => Certificate.Parse("hello"u8.ToArray()));
        Assert.Throws<MalformedInputException>(() => Certificate.Parse(TestKeys.Bob.SecretKey.Export()));
        Assert.Throws<MalformedInputException>(() => SecretKey.Parse(TestKeys.Bob.Certificate.Export()));
        var two = TestKeys.Bob.Certificate.Export(false).Concat(TestKeys.Carol.Certificate.Export(false)).ToArray();
        Assert.Equal(2, Certificate.ParseAll(two).Count);
        Assert.Throws<MalformedInputException>(() => Certificate.Parse(two));
        var twoArmored = TestKeys.Bob.Certificate.Export().Concat(TestKeys.Carol.Certificate.Export()).ToArray();
        Assert.Equal(2, Certificate.ParseAll(twoArmored).Count);
    }

    [Fact]
    public void Armor_rejects_a_bad_checksum_and_a_missing_end_line()
    {
        var armored = Encoding.ASCII.GetString(TestKeys.Bob.Certificate.Export());
        var crcLine = armored.Split('\n').Single(l => l.StartsWith('=') && l.Length == 5);
        var badCrc = armored.Replace(crcLine, crcLine[..1] + (crcLine[1] == 'A' ? 'B' : 'A') + crcLine[2..], StringComparison.Ordinal);
        Assert.Throws<MalformedInputException>(() => Armor.Decode(Encoding.ASCII.GetBytes(badCrc)));
        var noEnd = armored[..armored.IndexOf("-----END", StringComparison.Ordinal)];
        Assert.Throws<MalformedInputException>(() => Armor.Decode(Encoding.ASCII.GetBytes(noEnd)));
        var crlf = armored.Replace("\n", "\r\n", StringComparison.Ordinal);
        Assert.Equal(TestKeys.Bob.Certificate.Export(false), Armor.Decode(Encoding.ASCII.GetBytes("  \r\n" + crlf)));
    }

    [Fact]
    public void A_tampered_binding_signature_leaves_the_subkey_unbound()
    {
        var binary = TestKeys.Bob.Certificate.Export(false);
        // Flip a bit in the last bytes (the subkey binding signature's MPIs).
        binary[^5] ^= 0x01;
        var cert = Certificate.Parse(binary);
        Assert.False(cert.Subkeys[0].IsBound);
        Assert.Null(cert.SelectEncryptionKey(DateTimeOffset.UtcNow));
    }
}
