using System.Text;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp.Tests;

/// <summary>Crafted vectors for every strictness rule (issue 2, section 4; DESIGN.md invariant 4).</summary>
public sealed class StrictnessTests
{
    private static readonly OpenPgpEngine Engine = new();
    private static DecryptOptions BobKeys => new() { Keys = [TestKeys.BobUnlocked], Verifiers = [TestKeys.Alice.Certificate] };

    /// <summary>Builds an encrypted message with BouncyCastle directly, so we control integrity protection.</summary>
    internal static byte[] Craft(byte[] inner, bool withMdc, SymmetricKeyAlgorithmTag algorithm = SymmetricKeyAlgorithmTag.Aes256, bool partial = false)
    {
        var generator = new PgpEncryptedDataGenerator(algorithm, withMdc, new Org.BouncyCastle.Security.SecureRandom());
        generator.AddMethod(TestKeys.Bob.Certificate.SelectEncryptionKey(DateTimeOffset.UtcNow)!.PublicKey);
        using var output = new MemoryStream();
        using (var stream = partial ? generator.Open(output, new byte[512]) : generator.Open(output, inner.Length))
        {
            stream.Write(inner);
        }

        return output.ToArray();
    }

    internal static byte[] Literal(byte[] content)
    {
        using var output = new MemoryStream();
        using (var literal = new PgpLiteralDataGenerator().Open(output, PgpLiteralData.Binary, "", content.Length, DateTime.UtcNow))
        {
            literal.Write(content);
        }

        return output.ToArray();
    }

    [Fact]
    public void Control_a_crafted_message_with_mdc_decrypts()
    {
        var message = Craft(Literal("attack at dawn"u8.ToArray()), withMdc: true);
        Assert.Equal("attack at dawn"u8.ToArray(), Engine.Decrypt(message, BobKeys).Plaintext);
    }

    [Fact]
    public void Symmetrically_encrypted_packet_without_mdc_is_refused()
    {
        var message = Craft(Literal("attack at dawn"u8.ToArray()), withMdc: false);
        var e = Assert.Throws<IntegrityException>(() => Engine.Decrypt(message, BobKeys));
        Assert.Contains("no MDC", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Modified_ciphertext_fails_the_mdc_and_releases_nothing()
    {
        var content = Encoding.ASCII.GetBytes(new string('A', 4000));
        var message = Craft(Literal(content), withMdc: true);
        // Flip a bit in the middle of the encrypted literal data (CFB malleability, as in EFAIL).
        message[message.Length / 2] ^= 0x20;
        Assert.Throws<IntegrityException>(() => Engine.Decrypt(message, BobKeys));
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, 21)]
    [InlineData(false, 200)]
    [InlineData(true, 1)]
    [InlineData(true, 21)]
    [InlineData(true, 700)]
    public void Truncated_ciphertext_is_an_error_with_no_partial_plaintext(bool partial, int cut)
    {
        var content = Encoding.ASCII.GetBytes(new string('B', 3000));
        var message = Craft(Literal(content), withMdc: true, partial: partial);
        var truncated = message[..^cut];
        var e = Record.Exception(() => Engine.Decrypt(truncated, BobKeys));
        Assert.True(e is IntegrityException or MalformedInputException, e?.GetType().Name ?? "no exception");
    }

    [Fact]
    public void Truncated_armored_message_is_an_error()
    {
        var armored = Encoding.ASCII.GetString(Engine.Encrypt(new byte[5000], [TestKeys.Bob.Certificate]));
        var lines = armored.Split('\n');
        var cut = string.Join('\n', lines.Take(lines.Length / 2)) + "\n-----END PGP MESSAGE-----\n";
        Assert.ThrowsAny<OpenPgpException>(() => Engine.Decrypt(Encoding.ASCII.GetBytes(cut), BobKeys));
    }

    [Fact]
    public void Trailing_garbage_inside_the_encryption_is_malformed()
    {
        var inner = Literal("one"u8.ToArray()).Concat(Literal("two"u8.ToArray())).ToArray();
        Assert.Throws<MalformedInputException>(() => Engine.Decrypt(Craft(inner, withMdc: true), BobKeys));
    }

    [Fact]
    public void Plain_signed_message_is_not_accepted_as_encrypted()
    {
        var signed = Engine.SignInline("x"u8, [TestKeys.AliceUnlocked]);
        Assert.Throws<MalformedInputException>(() => Engine.Decrypt(signed, BobKeys));
    }

    [Fact]
    public void Message_size_limit_edge()
    {
        var message = Engine.Encrypt(new byte[1000], [TestKeys.Bob.Certificate], new EncryptOptions { Armor = false });
        var atLimit = new OpenPgpEngine(new OpenPgpOptions { MaxMessageSize = message.Length });
        Assert.Equal(1000, atLimit.Decrypt(message, BobKeys).Plaintext.Length);
        var below = new OpenPgpEngine(new OpenPgpOptions { MaxMessageSize = message.Length - 1 });
        var e = Assert.Throws<LimitExceededException>(() => below.Decrypt(message, BobKeys));
        Assert.Equal(nameof(OpenPgpOptions.MaxMessageSize), e.LimitName);
    }

    [Fact]
    public void Decrypted_plaintext_size_limit_edge()
    {
        // A compressed payload is small on the wire but large once inflated: the plaintext cap still holds.
        var inner = Compressed(Literal(new byte[50_000]));
        var message = Craft(inner, withMdc: true);
        var literalLength = Literal(new byte[50_000]).Length;
        var atLimit = new OpenPgpEngine(new OpenPgpOptions { MaxMessageSize = literalLength, MaxDecompressionRatio = 100_000 });
        Assert.Equal(50_000, atLimit.Decrypt(message, BobKeys).Plaintext.Length);
        var below = new OpenPgpEngine(new OpenPgpOptions { MaxMessageSize = literalLength - 1, MaxDecompressionRatio = 100_000 });
        Assert.Equal(nameof(OpenPgpOptions.MaxMessageSize), Assert.Throws<LimitExceededException>(() => below.Decrypt(message, BobKeys)).LimitName);
    }

    [Fact]
    public void Decompression_ratio_limit_edge()
    {
        var literal = Literal(new byte[200_000]);
        var compressed = Compressed(literal);
        var message = Craft(compressed, withMdc: true);
        var ratio = (int)Math.Ceiling(literal.Length / (double)compressed.Length);
        var atLimit = new OpenPgpEngine(new OpenPgpOptions { MaxDecompressionRatio = ratio });
        Assert.Equal(200_000, atLimit.Decrypt(message, BobKeys).Plaintext.Length);
        var below = new OpenPgpEngine(new OpenPgpOptions { MaxDecompressionRatio = ratio - 1 });
        var e = Assert.Throws<LimitExceededException>(() => below.Decrypt(message, BobKeys));
        Assert.Equal(nameof(OpenPgpOptions.MaxDecompressionRatio), e.LimitName);
    }

    [Fact]
    public void Packet_count_limit_edge()
    {
        // 3 PKESKs + SEIPD + one-pass signature + literal + signature = 7 packets.
        var message = Engine.Encrypt("x"u8, [TestKeys.Bob.Certificate, TestKeys.Carol.Certificate, TestKeys.Alice.Certificate],
            new EncryptOptions { Signers = [TestKeys.AliceUnlocked] });
        Assert.Equal("x"u8.ToArray(), new OpenPgpEngine(new OpenPgpOptions { MaxPacketCount = 7 }).Decrypt(message, BobKeys).Plaintext);
        var e = Assert.Throws<LimitExceededException>(() => new OpenPgpEngine(new OpenPgpOptions { MaxPacketCount = 6 }).Decrypt(message, BobKeys));
        Assert.Equal(nameof(OpenPgpOptions.MaxPacketCount), e.LimitName);
    }

    [Fact]
    public void Recipient_limit_edge()
    {
        var message = Engine.Encrypt("x"u8, [TestKeys.Bob.Certificate, TestKeys.Carol.Certificate]);
        Assert.Equal("x"u8.ToArray(), new OpenPgpEngine(new OpenPgpOptions { MaxRecipients = 2 }).Decrypt(message, BobKeys).Plaintext);
        Assert.Throws<LimitExceededException>(() => new OpenPgpEngine(new OpenPgpOptions { MaxRecipients = 1 }).Decrypt(message, BobKeys));
        Assert.Throws<LimitExceededException>(() => new OpenPgpEngine(new OpenPgpOptions { MaxRecipients = 1 }).Encrypt("x"u8, [TestKeys.Bob.Certificate, TestKeys.Carol.Certificate]));
    }

    [Fact]
    public void Options_reject_non_positive_limits()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpenPgpOptions { MaxMessageSize = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpenPgpOptions { MaxMimeDepth = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpenPgpOptions { MaxPacketCount = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpenPgpOptions { MaxDecompressionRatio = 0 });
    }

    internal static byte[] Compressed(byte[] inner)
    {
        using var output = new MemoryStream();
        var generator = new PgpCompressedDataGenerator(CompressionAlgorithmTag.Zip);
        using (var stream = generator.Open(output))
        {
            stream.Write(inner);
        }

        return output.ToArray();
    }
}
