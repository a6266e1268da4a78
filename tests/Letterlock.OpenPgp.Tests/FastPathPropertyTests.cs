using CsCheck;
using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp.Tests;

/// <summary>
/// The hand-written fast paths (X25519 through libsodium for Cv25519 recipients, Ed25519 document signatures)
/// agree with BouncyCastle, which decrypts and verifies them: for any plaintext, what the fast path writes opens to
/// that plaintext with a valid signature; any changed byte is refused (a typed error or a failed signature), never
/// taken for other content.
/// </summary>
public sealed class FastPathPropertyTests
{
    private static readonly OpenPgpEngine Engine = new();

    // The fast paths with BouncyCastle's SHA and AES up to 64 KiB, as letterlock-sop runs them; the plaintexts of
    // 65,530-65,545 bytes fall on both sides of the threshold.
    private static readonly OpenPgpEngine ShortLived = new(new OpenPgpOptions { ManagedCryptoThreshold = 65_536 });
    private static readonly Gen<byte[]> Plaintext = Gen.OneOf(Gen.Byte.Array[0, 64], Gen.Byte.Array[0, 20_000], Gen.Byte.Array[65_530, 65_545]);

    [Fact]
    public void What_the_curve25519_path_writes_bouncycastle_opens_to_the_same_plaintext_with_a_valid_signature()
    {
        Assert.True(Curve25519Encryptor.CanEncryptTo([.. TestKeys.Bob.Certificate.Subkeys.Select(s => s.PublicKey).Where(k => k.IsEncryptionKey)]));
        Gen.Select(Plaintext, Gen.Bool).Sample((plaintext, shortLived) =>
        {
            var message = (shortLived ? ShortLived : Engine).Encrypt(plaintext, [TestKeys.Bob.Certificate, TestKeys.Carol.Certificate],
                new EncryptOptions { Signers = [TestKeys.AliceUnlocked], Armor = false });
            foreach (var key in new[] { TestKeys.BobUnlocked, TestKeys.CarolUnlocked })
            {
                var opened = Engine.Decrypt(message, new DecryptOptions { Keys = [key], Verifiers = [TestKeys.Alice.Certificate] });
                Assert.Equal(plaintext, opened.Plaintext.ToArray());
                Assert.Equal(SignatureStatus.Valid, Assert.Single(opened.Signatures).Status);
            }
        }, iter: 40);
    }

    [Fact]
    public void A_changed_byte_of_a_fast_path_message_is_refused_never_read_as_other_content()
    {
        Gen.Select(Gen.Byte.Array[1, 2_000], Gen.Int, Gen.Byte[1, 255]).Sample((plaintext, at, mask) =>
        {
            var message = Engine.Encrypt(plaintext, [TestKeys.Bob.Certificate], new EncryptOptions { Signers = [TestKeys.AliceUnlocked], Armor = false });
            message[(int)((uint)at % (uint)message.Length)] ^= mask;
            try
            {
                var opened = Engine.Decrypt(message, new DecryptOptions { Keys = [TestKeys.BobUnlocked], Verifiers = [TestKeys.Alice.Certificate] });
                // Only a change that leaves what is protected intact may open (e.g. a key ID or a length encoding BouncyCastle
                // reads the same): then it is the same plaintext, validly signed.
                Assert.Equal(plaintext, opened.Plaintext.ToArray());
                Assert.Equal(SignatureStatus.Valid, Assert.Single(opened.Signatures).Status);
            }
            catch (OpenPgpException)
            {
                // refused with a typed error
            }
        }, iter: 200);
    }

    [Fact]
    public void A_fast_ed25519_document_signature_verifies_with_bouncycastle_for_its_data_only()
    {
        Gen.Select(Plaintext, Gen.Int, Gen.Byte[1, 255], Gen.Bool).Sample((data, at, mask, shortLived) =>
        {
            var signature = (shortLived ? ShortLived : Engine).SignDetached(data, [TestKeys.AliceUnlocked], armor: false);
            var parsed = ((PgpSignatureList)new PgpObjectFactory(signature).NextPgpObject())[0];
            Assert.Equal(Org.BouncyCastle.Bcpg.PublicKeyAlgorithmTag.EdDsa_Legacy, parsed.KeyAlgorithm);
            Assert.Equal(SignatureStatus.Valid, Assert.Single(Engine.VerifyDetached(data, signature, [TestKeys.Alice.Certificate])).Status);
            if (data.Length > 0)
            {
                var changed = (byte[])data.Clone();
                changed[(int)((uint)at % (uint)changed.Length)] ^= mask;
                Assert.NotEqual(SignatureStatus.Valid, Assert.Single(Engine.VerifyDetached(changed, signature, [TestKeys.Alice.Certificate])).Status);
            }
        }, iter: 60);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(65_536)]
    [InlineData(65_552)]
    public void Managed_and_openssl_hashing_and_aes_give_the_same_bytes(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        var key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);

        using var aes = System.Security.Cryptography.Aes.Create();
        aes.Key = key;
        var cfb = aes.EncryptCfb(data, new byte[16], System.Security.Cryptography.PaddingMode.None, 128);
        foreach (var managed in new[] { true, false })
        {
            var sha1 = new byte[20];
            SmallData.Sha1(data, sha1, managed);
            Assert.Equal(System.Security.Cryptography.SHA1.HashData(data), sha1);

            using var sha512 = SmallData.CreateSha512(managed);
            sha512.Append(data.AsSpan(0, length / 2));
            sha512.Append(data.AsSpan(length / 2));
            Assert.Equal(System.Security.Cryptography.SHA512.HashData(data), sha512.Finish());
            Assert.Equal(cfb, SmallData.AesCfbEncrypt(key, data, managed));
        }

        Assert.Equal(System.Security.Cryptography.SHA256.HashData(data), SmallData.ShortHash(256, data));
        Assert.Equal(System.Security.Cryptography.SHA384.HashData(data), SmallData.ShortHash(384, data));
    }

    [Fact]
    public void The_managed_crypto_threshold_is_checked_at_its_edges()
    {
        Assert.Equal(0, OpenPgpOptions.Default.ManagedCryptoThreshold);
        Assert.Equal(16 * 1024 * 1024, new OpenPgpOptions { ManagedCryptoThreshold = 16 * 1024 * 1024 }.ManagedCryptoThreshold);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new OpenPgpOptions { ManagedCryptoThreshold = (16 * 1024 * 1024) + 1 });
        Assert.Equal(nameof(OpenPgpOptions.ManagedCryptoThreshold), e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpenPgpOptions { ManagedCryptoThreshold = -1 });
    }
}
