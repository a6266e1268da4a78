using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Opaque.Tests;

/// <summary>
/// RFC 9497, Appendix A.1.1: the OPRF of ristretto255-SHA512 in modeOPRF, the mode OPAQUE uses. Values are read
/// from Vectors/rfc9497-ristretto255-sha512-oprf.txt, a copy of the RFC text.
/// </summary>
public sealed class Rfc9497VectorTests
{
    private const string File = "rfc9497-ristretto255-sha512-oprf.txt";

    [Fact]
    public void DeriveKeyPair_gives_the_server_key_of_A_1_1()
    {
        var key = RfcVectors.Vector(File, "A.1.1");
        var privateKey = new byte[32];
        var publicKey = new byte[32];
        Assert.True(Oprf.DeriveKeyPair(key.Hex("Seed"), key.Hex("KeyInfo"), privateKey, publicKey));
        Assert.Equal(key["skSm"], Convert.ToHexStringLower(privateKey));
    }

    [Theory]
    [InlineData("A.1.1.1")]
    [InlineData("A.1.1.2")]
    public void Blind_BlindEvaluate_Finalize_match_the_vector(string section)
    {
        byte[] privateKey = RfcVectors.Vector(File, "A.1.1").Hex("skSm");
        var vector = RfcVectors.Vector(File, section);
        byte[] input = vector.Hex("Input");
        byte[] blind = vector.Hex("Blind");

        var blinded = new byte[32];
        Assert.True(Oprf.Blind(input, blind, blinded));
        Assert.Equal(vector["BlindedElement"], Convert.ToHexStringLower(blinded));

        var evaluated = new byte[32];
        Assert.True(Oprf.BlindEvaluate(privateKey, blinded, evaluated));
        Assert.Equal(vector["EvaluationElement"], Convert.ToHexStringLower(evaluated));

        var output = new byte[64];
        Assert.True(Oprf.Finalize(input, blind, evaluated, output));
        Assert.Equal(vector["Output"], Convert.ToHexStringLower(output));
    }

    [Fact]
    public void The_vector_file_holds_both_vectors_complete()
    {
        var sections = RfcVectors.Load(File);
        Assert.Equal(["A.1.1", "A.1.1.1", "A.1.1.2"], sections.Select(s => s.Section));
        foreach (var (_, _, fields) in sections.Skip(1))
        {
            Assert.Equal(64, fields["Blind"].Length);
            Assert.Equal(64, fields["BlindedElement"].Length);
            Assert.Equal(64, fields["EvaluationElement"].Length);
            Assert.Equal(128, fields["Output"].Length);
        }
    }
}
