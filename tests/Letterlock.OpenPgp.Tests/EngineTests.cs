using System.Text;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp.Tests;

public sealed class EngineTests
{
    private static readonly OpenPgpEngine Engine = new();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Encrypt_sign_then_decrypt_verify_round_trips(bool armor)
    {
        var plaintext = Encoding.UTF8.GetBytes("Grüße, Bob\n");
        var ciphertext = Engine.Encrypt(plaintext, [TestKeys.Bob.Certificate], new EncryptOptions { Signers = [TestKeys.AliceUnlocked], Armor = armor });
        Assert.Equal(armor, Armor.IsArmored(ciphertext));
        var result = Engine.Decrypt(ciphertext, new DecryptOptions { Keys = [TestKeys.BobUnlocked], Verifiers = [TestKeys.Alice.Certificate] });
        Assert.Equal(plaintext, result.Plaintext);
        Assert.Equal(TestKeys.Bob.Certificate.Subkeys[0].Fingerprint, result.DecryptedWith);
        Assert.Equal(TestKeys.Bob.Certificate.Fingerprint, result.DecryptedWithCertificate);
        var signature = Assert.Single(result.Signatures);
        Assert.Equal(SignatureStatus.Valid, signature.Status);
        Assert.Equal(TestKeys.Alice.Certificate.Fingerprint, signature.Certificate);
    }

    [Fact]
    public void Output_uses_aes256_with_mdc_and_is_uncompressed()
    {
        var ciphertext = Engine.Encrypt("x"u8, [TestKeys.Bob.Certificate], new EncryptOptions { Armor = false });
        var list = (PgpEncryptedDataList)new PgpObjectFactory(ciphertext).NextPgpObject();
        var pk = (PgpPublicKeyEncryptedData)list[0];
        Assert.True(pk.IsIntegrityProtected());
        var priv = TestKeys.BobUnlocked.PrivateKey(TestKeys.Bob.Certificate.Subkeys[0].KeyId)!;
        Assert.Equal(SymmetricKeyAlgorithmTag.Aes256, pk.GetSymmetricAlgorithm(priv));
    }

    [Fact]
    public void Unknown_signer_and_bad_signature_are_reported()
    {
        var ciphertext = Engine.Encrypt("hi"u8, [TestKeys.Bob.Certificate], new EncryptOptions { Signers = [TestKeys.CarolUnlocked] });
        var result = Engine.Decrypt(ciphertext, new DecryptOptions { Keys = [TestKeys.BobUnlocked], Verifiers = [TestKeys.Alice.Certificate] });
        Assert.Equal(SignatureStatus.UnknownKey, Assert.Single(result.Signatures).Status);
        Assert.Equal(TestKeys.Carol.Certificate.KeyId, result.Signatures[0].IssuerKeyId);

        var detached = Engine.SignDetached("data"u8, [TestKeys.AliceUnlocked]);
        Assert.Equal(SignatureStatus.Valid, Engine.VerifyDetached("data"u8, detached, [TestKeys.Alice.Certificate])[0].Status);
        Assert.Equal(SignatureStatus.Invalid, Engine.VerifyDetached("dato"u8, detached, [TestKeys.Alice.Certificate])[0].Status);
    }

    [Fact]
    public void Message_for_someone_else_is_no_decryption_key()
    {
        var ciphertext = Engine.Encrypt("hi"u8, [TestKeys.Carol.Certificate]);
        Assert.Throws<NoDecryptionKeyException>(() => Engine.Decrypt(ciphertext, new DecryptOptions { Keys = [TestKeys.BobUnlocked] }));
    }

    [Fact]
    public void Password_encryption_round_trips()
    {
        var ciphertext = Engine.Encrypt("secret"u8, [], new EncryptOptions { Passwords = ["hunter2"] });
        Assert.Equal("secret"u8.ToArray(), Engine.Decrypt(ciphertext, new DecryptOptions { Passwords = ["wrong", "hunter2"] }).Plaintext);
        Assert.Throws<NoDecryptionKeyException>(() => Engine.Decrypt(ciphertext, new DecryptOptions { Passwords = ["wrong"] }));
    }

    [Theory]
    [InlineData(InlineSignStyle.Binary)]
    [InlineData(InlineSignStyle.Text)]
    [InlineData(InlineSignStyle.Cleartext)]
    public void Inline_sign_verify_and_detach(InlineSignStyle style)
    {
        var text = "Hello\n-- dashed line\ntrailing space   \nlast\n"u8.ToArray();
        var signed = Engine.SignInline(text, [TestKeys.AliceUnlocked], style);
        var verified = Engine.VerifyInline(signed, [TestKeys.Alice.Certificate]);
        Assert.Equal(SignatureStatus.Valid, Assert.Single(verified.Signatures).Status);
        if (style != InlineSignStyle.Cleartext)
        {
            Assert.Equal(text, verified.Content);
        }

        var (content, signatures) = Engine.InlineDetach(signed);
        var mode = style == InlineSignStyle.Binary ? SignatureMode.Binary : SignatureMode.Text;
        var detachedCheck = Assert.Single(Engine.VerifyDetached(content, signatures, [TestKeys.Alice.Certificate]));
        Assert.Equal(mode, detachedCheck.Mode);
        Assert.Equal(SignatureStatus.Valid, detachedCheck.Status);
    }

    [Fact]
    public void Text_signature_ignores_line_ending_differences()
    {
        var signature = Engine.SignDetached("a\nb\n"u8, [TestKeys.AliceUnlocked], SignatureMode.Text);
        Assert.Equal(SignatureStatus.Valid, Engine.VerifyDetached("a\r\nb\r\n"u8, signature, [TestKeys.Alice.Certificate])[0].Status);
    }

    [Fact]
    public void Cleartext_tampering_is_detected()
    {
        var signed = Encoding.UTF8.GetString(Engine.SignInline("pay 10 EUR\n"u8, [TestKeys.AliceUnlocked], InlineSignStyle.Cleartext));
        var tampered = Encoding.UTF8.GetBytes(signed.Replace("pay 10", "pay 99", StringComparison.Ordinal));
        Assert.Equal(SignatureStatus.Invalid, Engine.VerifyInline(tampered, [TestKeys.Alice.Certificate]).Signatures[0].Status);
    }

    [Fact]
    public void Expired_signing_key_makes_signature_invalid()
    {
        var old = DateTimeOffset.UtcNow.AddDays(-10);
        var key = KeyGenerator.Generate("Old <old@example.org>", "", new KeyGenerationOptions { CreationTime = old, PrimaryValidity = TimeSpan.FromDays(1) });
        var sig = Engine.SignDetached("x"u8, [key.SecretKey.Unlock()], now: old.AddHours(1));
        Assert.Equal(SignatureStatus.Valid, Engine.VerifyDetached("x"u8, sig, [key.Certificate])[0].Status);
        Assert.Throws<KeyNotUsableException>(() => Engine.SignDetached("x"u8, [key.SecretKey.Unlock()]));
        Assert.Throws<KeyNotUsableException>(() => Engine.Encrypt("x"u8, [key.Certificate]));
    }
}

public sealed class FastPathTests
{
    [Fact]
    public void Fast_curve25519_path_and_bouncycastle_path_both_decrypt()
    {
        var engine = new OpenPgpEngine();
        // Two Cv25519 recipients: the libsodium path; adding a password forces BouncyCastle's path.
        var fast = engine.Encrypt(new byte[70_000], [TestKeys.Bob.Certificate, TestKeys.Carol.Certificate], new EncryptOptions { Signers = [TestKeys.AliceUnlocked], Armor = false });
        var slow = engine.Encrypt(new byte[70_000], [TestKeys.Bob.Certificate, TestKeys.Carol.Certificate], new EncryptOptions { Signers = [TestKeys.AliceUnlocked], Passwords = ["pw"], Armor = false });
        foreach (var message in new[] { fast, slow })
        {
            var bob = engine.Decrypt(message, new DecryptOptions { Keys = [TestKeys.BobUnlocked], Verifiers = [TestKeys.Alice.Certificate] });
            var carol = engine.Decrypt(message, new DecryptOptions { Keys = [TestKeys.CarolUnlocked], Verifiers = [TestKeys.Alice.Certificate] });
            Assert.Equal(70_000, bob.Plaintext.Length);
            Assert.Equal(SignatureStatus.Valid, carol.Signatures[0].Status);
            Assert.Equal(TestKeys.Carol.Certificate.Subkeys[0].Fingerprint, carol.DecryptedWith);
        }

        Assert.Equal(70_000, engine.Decrypt(slow, new DecryptOptions { Passwords = ["pw"] }).Plaintext.Length);

        // Tampering with the fast path's output is caught by its MDC like any other.
        fast[fast.Length - 100] ^= 0x40;
        Assert.Throws<IntegrityException>(() => engine.Decrypt(fast, new DecryptOptions { Keys = [TestKeys.BobUnlocked] }));
    }
}

public sealed class SignaturePacketTests
{
    [Fact]
    public void Fast_ed25519_signature_carries_the_expected_subpackets_and_verifies_with_two_signers()
    {
        var engine = new OpenPgpEngine();
        var now = DateTimeOffset.UtcNow.AddMinutes(-1);
        var message = engine.Encrypt(new byte[5000], [TestKeys.Bob.Certificate],
            new EncryptOptions { Signers = [TestKeys.AliceUnlocked, TestKeys.CarolUnlocked], Armor = false, Now = now });
        var result = engine.Decrypt(message, new DecryptOptions { Keys = [TestKeys.BobUnlocked], Verifiers = [TestKeys.Alice.Certificate, TestKeys.Carol.Certificate] });
        Assert.Equal(2, result.Signatures.Count);
        Assert.All(result.Signatures, s => Assert.Equal(SignatureStatus.Valid, s.Status));
        Assert.All(result.Signatures, s => Assert.Equal(KeyGenerator.Truncate(now), s.CreationTime));

        var detached = engine.SignDetached("abc"u8, [TestKeys.AliceUnlocked], armor: false, now: now);
        var signature = ((PgpSignatureList)new PgpObjectFactory(detached).NextPgpObject())[0];
        Assert.Equal(HashAlgorithmTag.Sha512, signature.HashAlgorithm);
        Assert.Equal(PgpSignature.BinaryDocument, signature.SignatureType);
        var hashed = signature.GetHashedSubPackets();
        Assert.Equal(TestKeys.Alice.Certificate.Fingerprint.ToBytes(), hashed.GetIssuerFingerprint().GetFingerprint());
        Assert.Equal(KeyGenerator.Truncate(now).UtcDateTime, hashed.GetSignatureCreationTime());
        Assert.Equal(TestKeys.Alice.Certificate.KeyId, KeyId.From(signature.KeyId));

        var inner = engine.SignInline("x"u8, [TestKeys.AliceUnlocked], InlineSignStyle.Binary, armor: false);
        Assert.Equal(SignatureStatus.Valid, engine.VerifyInline(inner, [TestKeys.Alice.Certificate]).Signatures[0].Status);
    }
}
