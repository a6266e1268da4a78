using System.Text;
using Letterlock.Cryptography;

namespace Letterlock.Cryptography.Tests;

/// <summary>
/// X-Wing against the test vectors of draft-connolly-cfrg-xwing-kem-10, Appendix C, read verbatim from
/// Vectors/xwing-draft-10-appendix-c.txt: key generation from the seed, derandomized encapsulation
/// with eseed, and decapsulation.
/// </summary>
public sealed class XWingVectorTests
{
    public sealed record Vector(byte[] Seed, byte[] PublicKey, byte[] EncapsulationSeed, byte[] Ciphertext, byte[] SharedSecret);

    public static TheoryData<int> Indexes => [0, 1, 2];

    private static readonly Lazy<IReadOnlyList<Vector>> Vectors = new(Load);

    [Fact]
    public void The_file_holds_the_three_vectors_of_the_draft() => Assert.Equal(3, Vectors.Value.Count);

    [Theory]
    [MemberData(nameof(Indexes))]
    public void Key_generation_from_the_seed_matches(int index)
    {
        var vector = Vectors.Value[index];
        using var keys = XWingKeyPair.FromPrivateKey(vector.Seed);
        Assert.Equal(vector.PublicKey, keys.PublicKey.ToArray());
        Assert.Equal(vector.Seed, keys.PrivateKey.ToArray());
    }

    [Theory]
    [MemberData(nameof(Indexes))]
    public void Derandomized_encapsulation_matches(int index)
    {
        var vector = Vectors.Value[index];
        var ciphertext = new byte[XWing.CiphertextLength];
        var secret = new byte[XWing.SharedSecretLength];
        XWing.EncapsulateDerand(vector.PublicKey, vector.EncapsulationSeed, ciphertext, secret);
        Assert.Equal(vector.Ciphertext, ciphertext);
        Assert.Equal(vector.SharedSecret, secret);
    }

    [Theory]
    [MemberData(nameof(Indexes))]
    public void Decapsulation_matches(int index)
    {
        var vector = Vectors.Value[index];
        using var keys = XWingKeyPair.FromPrivateKey(vector.Seed);
        var secret = new byte[XWing.SharedSecretLength];
        keys.Decapsulate(vector.Ciphertext, secret);
        Assert.Equal(vector.SharedSecret, secret);
    }

    [Fact]
    public void Random_encapsulation_round_trips_and_differs_each_time()
    {
        using var keys = XWingKeyPair.Generate();
        var (ct1, ss1) = XWing.Encapsulate(keys.PublicKey.Span);
        var (ct2, ss2) = XWing.Encapsulate(keys.PublicKey.Span);
        Assert.NotEqual(ct1, ct2);
        Assert.NotEqual(ss1, ss2);
        var opened = new byte[32];
        keys.Decapsulate(ct1, opened);
        Assert.Equal(ss1, opened);
        keys.Decapsulate(ct2, opened);
        Assert.Equal(ss2, opened);
    }

    [Fact]
    public void A_tampered_ciphertext_yields_another_secret_not_an_error()
    {
        using var keys = XWingKeyPair.Generate();
        var (ct, ss) = XWing.Encapsulate(keys.PublicKey.Span);
        var opened = new byte[32];
        foreach (var position in new[] { 0, 500, MlKem768.CiphertextLength - 1, MlKem768.CiphertextLength + 3 })
        {
            var tampered = (byte[])ct.Clone();
            tampered[position] ^= 0x40;
            keys.Decapsulate(tampered, opened);
            Assert.NotEqual(ss, opened);
        }
    }

    [Fact]
    public void Derive_is_deterministic_and_separates_inputs()
    {
        using var a = XWingKeyPair.Derive("some input keying material, 32+ bytes"u8);
        using var b = XWingKeyPair.Derive("some input keying material, 32+ bytes"u8);
        using var c = XWingKeyPair.Derive("other input keying material, 32+ bytes"u8);
        Assert.Equal(a.PublicKey.ToArray(), b.PublicKey.ToArray());
        Assert.NotEqual(a.PublicKey.ToArray(), c.PublicKey.ToArray());
    }

    [Fact]
    public void Wrong_lengths_and_bad_keys_are_refused_with_InvalidKey()
    {
        using var keys = XWingKeyPair.Generate();
        var pk = keys.PublicKey.ToArray();
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => XWing.Encapsulate(pk.AsSpan(1))).Error);
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => XWingKeyPair.FromPrivateKey(new byte[31])).Error);
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => keys.Decapsulate(new byte[XWing.CiphertextLength - 1], new byte[32])).Error);

        // An ML-KEM coefficient of q (3329 = 0xD01) in the first 12-bit slot fails FIPS 203's modulus check.
        var unreduced = (byte[])pk.Clone();
        unreduced[0] = 0x01;
        unreduced[1] = (byte)((unreduced[1] & 0xF0) | 0x0D);
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => XWing.Encapsulate(unreduced)).Error);

        // A small-order X25519 part (the point of order 1, u = 1) gives an all-zero DH output.
        var smallOrder = (byte[])pk.Clone();
        smallOrder.AsSpan(MlKem768.PublicKeyLength).Clear();
        smallOrder[MlKem768.PublicKeyLength] = 1;
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => XWing.Encapsulate(smallOrder)).Error);
    }

    private static List<Vector> Load()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Vectors", "xwing-draft-10-appendix-c.txt");
        var fields = new List<(string Name, StringBuilder Hex)>();
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.TrimEnd();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            if (char.IsWhiteSpace(line[0]))
            {
                fields[^1].Hex.Append(line.Trim());
                continue;
            }

            var parts = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            fields.Add((parts[0], new StringBuilder(parts.Length > 1 ? parts[1] : "")));
        }

        var vectors = new List<Vector>();
        for (int i = 0; i < fields.Count; i += 6)
        {
            string[] expected = ["seed", "sk", "pk", "eseed", "ct", "ss"];
            for (int j = 0; j < 6; j++)
            {
                Assert.Equal(expected[j], fields[i + j].Name);
            }

            Assert.Equal(fields[i].Hex.ToString(), fields[i + 1].Hex.ToString());
            vectors.Add(new Vector(
                Convert.FromHexString(fields[i].Hex.ToString()),
                Convert.FromHexString(fields[i + 2].Hex.ToString()),
                Convert.FromHexString(fields[i + 3].Hex.ToString()),
                Convert.FromHexString(fields[i + 4].Hex.ToString()),
                Convert.FromHexString(fields[i + 5].Hex.ToString())));
        }

        return vectors;
    }
}
