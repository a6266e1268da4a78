using Letterlock.Cryptography;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Parameters;

namespace Letterlock.Cryptography.Tests;

/// <summary>
/// ML-KEM-768 through the library's wrapper against C2SP/CCTV's accumulated known-answer vectors
/// (https://c2sp.org/CCTV/ML-KEM, "Accumulated pq-crystals vectors", final FIPS 203): 10,000 key
/// generations, encapsulations and decapsulations (one with a random, invalid ciphertext) driven by a
/// SHAKE-128 stream, with every output hashed into a running SHAKE-128.
/// </summary>
public sealed class MlKemVectorTests
{
    [Fact]
    public void Accumulated_10000_vectors_match_CCTV()
    {
        var rng = new ShakeDigest(128);
        var accumulator = new ShakeDigest(128);
        Span<byte> d = stackalloc byte[32];
        Span<byte> z = stackalloc byte[32];
        Span<byte> m = stackalloc byte[32];
        var random = new byte[MlKem768.CiphertextLength];
        var seed = new byte[64];
        var ciphertext = new byte[MlKem768.CiphertextLength];
        var secret = new byte[32];
        var opened = new byte[32];
        var rejected = new byte[32];
        for (int i = 0; i < 10_000; i++)
        {
            rng.Output(d);
            rng.Output(z);
            rng.Output(m);
            rng.Output(random);
            d.CopyTo(seed);
            z.CopyTo(seed.AsSpan(32));
            using var keys = MlKem768KeyPair.FromSeed(seed);
            MlKem768.Encapsulate(keys.PublicKey.Span, ciphertext, secret, m);
            keys.Decapsulate(ciphertext, opened);
            Assert.Equal(secret, opened);
            keys.Decapsulate(random, rejected);

            // CCTV hashes the expanded decapsulation key dk (FIPS 203's 2400-byte form), which the
            // wrapper never stores: expand it here, from the same seed, only to feed the hash.
            var dk = MLKemPrivateKeyParameters.FromSeed(MLKemParameters.ml_kem_768, seed, MLKemPrivateKeyParameters.Format.EncodingOnly).GetEncoded();
            accumulator.BlockUpdate(keys.PublicKey.Span);
            accumulator.BlockUpdate(dk);
            accumulator.BlockUpdate(ciphertext);
            accumulator.BlockUpdate(secret);
            accumulator.BlockUpdate(rejected);
        }

        var hash = new byte[32];
        accumulator.OutputFinal(hash);
        Assert.Equal("f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1", Convert.ToHexString(hash).ToLowerInvariant());
    }

    [Fact]
    public void The_seed_round_trips_and_encapsulation_to_its_public_key_opens()
    {
        using var keys = MlKem768KeyPair.Generate();
        using var again = MlKem768KeyPair.FromSeed(keys.Seed.Span);
        Assert.Equal(keys.PublicKey.ToArray(), again.PublicKey.ToArray());
        var (ct, ss) = MlKem768.Encapsulate(keys.PublicKey.Span);
        var opened = new byte[32];
        again.Decapsulate(ct, opened);
        Assert.Equal(ss, opened);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(MlKem768.PublicKeyLength - 32 - 3)]
    public void An_unreduced_coefficient_fails_the_modulus_check(int offset)
    {
        using var keys = MlKem768KeyPair.Generate();
        var pk = keys.PublicKey.ToArray();

        // Coefficients are packed two per three bytes; set the first of the pair at offset to 0xFFF >= q.
        pk[offset] = 0xFF;
        pk[offset + 1] |= 0x0F;
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => MlKem768.Encapsulate(pk)).Error);
    }

    [Fact]
    public void Wrong_lengths_are_refused()
    {
        using var keys = MlKem768KeyPair.Generate();
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => MlKem768.Encapsulate(new byte[MlKem768.PublicKeyLength + 1])).Error);
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => MlKem768KeyPair.FromSeed(new byte[63])).Error);
        Assert.Equal(HpkeError.InvalidKey, Assert.Throws<HpkeException>(() => keys.Decapsulate(new byte[10], new byte[32])).Error);
    }
}
