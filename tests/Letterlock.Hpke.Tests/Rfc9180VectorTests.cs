using Letterlock.Cryptography;

namespace Letterlock.Cryptography.Tests;

/// <summary>
/// RFC 9180 Appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base mode.
/// Values copied from the RFC text.
/// </summary>
public sealed class Rfc9180VectorTests
{
    private static readonly byte[] Info = Convert.FromHexString("4f6465206f6e2061204772656369616e2055726e");
    private static readonly byte[] IkmE = Convert.FromHexString("909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b");
    private static readonly byte[] PkEm = Convert.FromHexString("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a");
    private static readonly byte[] SkEm = Convert.FromHexString("f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600");
    private static readonly byte[] IkmR = Convert.FromHexString("1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df");
    private static readonly byte[] PkRm = Convert.FromHexString("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a");
    private static readonly byte[] SkRm = Convert.FromHexString("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb");
    private static readonly byte[] Enc = Convert.FromHexString("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a");
    private static readonly byte[] SharedSecret = Convert.FromHexString("0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7");
    private static readonly byte[] Plaintext = Convert.FromHexString("4265617574792069732074727574682c20747275746820626561757479");

    // (sequence number, aad, ct)
    public static TheoryData<int, string, string> Encryptions => new()
    {
        { 0, "436f756e742d30", "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28" },
        { 1, "436f756e742d31", "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c" },
        { 2, "436f756e742d32", "71146bd6795ccc9c49ce25dda112a48f202ad220559502cef1f34271e0cb4b02b4f10ecac6f48c32f878fae86b" },
        { 4, "436f756e742d34", "63357a2aa291f5a4e5f27db6baa2af8cf77427c7c1a909e0b37214dd47db122bb153495ff0b02e9e54a50dbe16" },
        { 255, "436f756e742d323535", "18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b8880a5f6b3936da9cd6c23ef2a95c" },
        { 256, "436f756e742d323536", "7a4a13e9ef23978e2c520fd4d2e757514ae160cd0cd05e556ef692370ca53076214c0c40d4c728d6ed9e727a5b" },
    };

    public static TheoryData<string, string> Exports => new()
    {
        { "", "4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e" },
        { "00", "8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69" },
        { "54657374436f6e74657874", "5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53" },
    };

    [Fact]
    public void DeriveKeyPair_matches_the_vector()
    {
        using var ephemeral = HpkeKeyPair.Derive(IkmE);
        using var recipient = HpkeKeyPair.Derive(IkmR);
        Assert.Equal(SkEm, ephemeral.PrivateKey.ToArray());
        Assert.Equal(PkEm, ephemeral.PublicKey.ToArray());
        Assert.Equal(SkRm, recipient.PrivateKey.ToArray());
        Assert.Equal(PkRm, recipient.PublicKey.ToArray());
    }

    [Fact]
    public void FromPrivateKey_recovers_the_public_key()
    {
        using var recipient = HpkeKeyPair.FromPrivateKey(SkRm);
        Assert.Equal(PkRm, recipient.PublicKey.ToArray());
    }

    [Fact]
    public void Encap_and_Decap_produce_the_shared_secret()
    {
        using var ephemeral = HpkeKeyPair.FromPrivateKey(SkEm);
        var senderSecret = new byte[32];
        byte[] enc = Hpke.Encap(PkRm, ephemeral, senderSecret);
        Assert.Equal(Enc, enc);
        Assert.Equal(SharedSecret, senderSecret);

        var recipientSecret = new byte[32];
        Hpke.Decap(Enc, SkRm, recipientSecret);
        Assert.Equal(SharedSecret, recipientSecret);
    }

    [Theory]
    [MemberData(nameof(Encryptions))]
    public void Sender_produces_the_vector_ciphertexts(int sequence, string aadHex, string ctHex)
    {
        using var ephemeral = HpkeKeyPair.FromPrivateKey(SkEm);
        var (enc, sender) = Hpke.SetupBaseSender(PkRm, Info, ephemeral);
        using (sender)
        {
            Assert.Equal(Enc, enc);
            AdvanceSender(sender, sequence);
            Assert.Equal(Convert.FromHexString(ctHex), sender.Seal(Convert.FromHexString(aadHex), Plaintext));
        }
    }

    [Theory]
    [MemberData(nameof(Encryptions))]
    public void Recipient_opens_the_vector_ciphertexts(int sequence, string aadHex, string ctHex)
    {
        using var ephemeral = HpkeKeyPair.FromPrivateKey(SkEm);
        var (_, sender) = Hpke.SetupBaseSender(PkRm, Info, ephemeral);
        using var recipient = Hpke.SetupBaseRecipient(Enc, SkRm, Info);
        using (sender)
        {
            // The recipient reaches sequence number n by opening the n earlier messages.
            for (int i = 0; i < sequence; i++)
            {
                recipient.Open([], sender.Seal([], [(byte)i]));
            }
        }

        Assert.Equal(Plaintext, recipient.Open(Convert.FromHexString(aadHex), Convert.FromHexString(ctHex)));
        Assert.Equal((ulong)sequence + 1, recipient.SequenceNumber);
    }

    [Theory]
    [MemberData(nameof(Exports))]
    public void Both_sides_export_the_vector_values(string contextHex, string expectedHex)
    {
        using var ephemeral = HpkeKeyPair.FromPrivateKey(SkEm);
        var (_, sender) = Hpke.SetupBaseSender(PkRm, Info, ephemeral);
        using var recipient = Hpke.SetupBaseRecipient(Enc, SkRm, Info);
        using (sender)
        {
            byte[] context = Convert.FromHexString(contextHex);
            Assert.Equal(Convert.FromHexString(expectedHex), sender.Export(context, 32));
            Assert.Equal(Convert.FromHexString(expectedHex), recipient.Export(context, 32));
        }
    }

    private static void AdvanceSender(HpkeContext sender, int sequence)
    {
        for (int i = 0; i < sequence; i++)
        {
            sender.Seal([], []);
        }
    }
}
