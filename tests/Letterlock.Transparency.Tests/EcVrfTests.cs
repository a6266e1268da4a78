using Letterlock.Transparency;
using Letterlock.Transparency.Ed25519;

namespace Letterlock.Transparency.Tests;

/// <summary>RFC 9381 Appendix B.3, Examples 16-18 (ECVRF-EDWARDS25519-SHA512-TAI).</summary>
public sealed class EcVrfTests
{
    // (SK, PK, alpha, H, U, V, pi, beta)
    public static TheoryData<string, string, string, string, string, string, string, string> Vectors => new()
    {
        {
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318",
            "aef27c725be964c6a9bf4c45ca8e35df258c1878b838f37d9975523f09034071",
            "5016572f71466c646c119443455d6cb9b952f07d060ec8286d678615d55f954f",
            "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
            "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae"
        },
        {
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "5b659fc3d4e9263fd9a4ed1d022d75eaacc20df5e09f9ea937502396598dc551",
            "1dcb0a4821a2c48bf53548228b7f170962988f6d12f5439f31987ef41f034ab3",
            "fd03c0bf498c752161bae4719105a074630a2aa5f200ff7b3995f7bfb1513423",
            "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
            "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031"
        },
        {
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "bf4339376f5542811de615e3313d2b36f6f53c0acfebb482159711201192576a",
            "2bae73e15a64042fcebf062abe7e432b2eca6744f3e8265bc38e009cd577ecd5",
            "88cba1cb0d4f9b649d9a86026b69de076724a93a65c349c988954f0961c5d506",
            "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e",
            "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f"
        },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Prove_matches_the_vector(string sk, string pk, string alpha, string h, string u, string v, string pi, string beta)
    {
        using var key = new EcVrfSecretKey(Convert.FromHexString(sk));
        Assert.Equal(pk, Convert.ToHexStringLower(key.PublicKey));
        Assert.Equal(h, Convert.ToHexStringLower(EcVrf.EncodeToCurve(key.PublicKey, Convert.FromHexString(alpha)).Encode()));
        Assert.Equal(pi, Convert.ToHexStringLower(key.Prove(Convert.FromHexString(alpha))));
        var (output, proof) = key.Evaluate(Convert.FromHexString(alpha));
        Assert.Equal(beta, Convert.ToHexStringLower(output));
        Assert.Equal(pi, Convert.ToHexStringLower(proof));
        Assert.NotEmpty(u + v);
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Verify_accepts_the_vector_and_recomputes_U_and_V(string sk, string pk, string alpha, string h, string u, string v, string pi, string beta)
    {
        var output = new byte[64];
        Assert.True(EcVrf.Verify(Convert.FromHexString(pk), Convert.FromHexString(alpha), Convert.FromHexString(pi), output));
        Assert.Equal(beta, Convert.ToHexStringLower(output));

        // The intermediate values of the vector: U = s*B - c*Y, V = s*H - c*Gamma.
        byte[] proof = Convert.FromHexString(pi);
        Assert.True(EcVrf.DecodeProof(proof, out EdwardsPoint gamma, out var c, out var s));
        EdwardsPoint y = EdwardsPoint.Decode(Convert.FromHexString(pk))!.Value;
        EdwardsPoint hPoint = EdwardsPoint.Decode(Convert.FromHexString(h))!.Value;
        Assert.Equal(u, Convert.ToHexStringLower(EdwardsPoint.DoubleScalarMultiply(s, EdwardsPoint.Base, c, y.Negate()).Encode()));
        Assert.Equal(v, Convert.ToHexStringLower(EdwardsPoint.DoubleScalarMultiply(s, hPoint, c, gamma.Negate()).Encode()));

        // The fast path through libsodium computes the same U and V.
        var uFast = new byte[32];
        var vFast = new byte[32];
        Assert.True(EcVrf.SodiumUV(Convert.FromHexString(pk), Convert.FromHexString(h), proof.AsSpan(0, 32), c, s, uFast, vFast));
        Assert.Equal(u, Convert.ToHexStringLower(uFast));
        Assert.Equal(v, Convert.ToHexStringLower(vFast));
        Assert.NotEmpty(sk);
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Every_bit_flip_of_the_proof_alpha_or_key_is_rejected(string sk, string pk, string alpha, string h, string u, string v, string pi, string beta)
    {
        byte[] proof = Convert.FromHexString(pi);
        byte[] publicKey = Convert.FromHexString(pk);
        byte[] input = Convert.FromHexString(alpha);
        var output = new byte[64];
        for (int bit = 0; bit < proof.Length * 8; bit++)
        {
            byte[] tampered = (byte[])proof.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(EcVrf.Verify(publicKey, input, tampered, output), $"proof bit {bit}");
        }

        for (int bit = 0; bit < 256; bit += 7)
        {
            byte[] tampered = (byte[])publicKey.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(EcVrf.Verify(tampered, input, proof, output), $"key bit {bit}");
        }

        Assert.False(EcVrf.Verify(publicKey, [.. input, 0], proof, output));
        Assert.NotEmpty(sk + h + u + v + beta);
    }

    [Fact]
    public void Low_order_public_keys_and_non_canonical_s_are_rejected()
    {
        using var key = new EcVrfSecretKey(new byte[32]);
        byte[] proof = key.Prove("alice@example.org"u8);
        var output = new byte[64];
        Assert.True(EcVrf.Verify(key.PublicKey, "alice@example.org"u8, proof, output));

        // Identity and a point of order 8 fail ECVRF_validate_key.
        byte[] identity = Convert.FromHexString("0100000000000000000000000000000000000000000000000000000000000000");
        byte[] order8 = Convert.FromHexString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
        Assert.False(EcVrf.Verify(identity, "alice@example.org"u8, proof, output));
        Assert.False(EcVrf.Verify(order8, "alice@example.org"u8, proof, output));

        // Y plus a point of order 8 is a valid key for RFC 9381 but outside the prime-order subgroup: libsodium
        // refuses it, the own-arithmetic path runs, and the proof (made for Y) does not verify under it.
        EdwardsPoint torsion = EdwardsPoint.Decode(order8)!.Value;
        byte[] twisted = EdwardsPoint.Decode(key.PublicKey)!.Value.Add(torsion).Encode();
        Assert.False(EcVrf.SodiumUV(twisted, new byte[32], proof.AsSpan(0, 32), proof.AsSpan(32, 16), proof.AsSpan(48, 32), new byte[32], new byte[32]));
        Assert.False(EcVrf.Verify(twisted, "alice@example.org"u8, proof, output));

        // s + q encodes the same residue but is not canonical: refused (RFC 9381, 5.4.4 step 7).
        byte[] sPlusQ = (byte[])proof.Clone();
        var s = new System.Numerics.BigInteger(sPlusQ.AsSpan(48, 32), isUnsigned: true);
        var q = System.Numerics.BigInteger.Pow(2, 252) + System.Numerics.BigInteger.Parse("27742317777372353535851937790883648493");
        (s + q).TryWriteBytes(sPlusQ.AsSpan(48, 32), out _, isUnsigned: true);
        Assert.False(EcVrf.Verify(key.PublicKey, "alice@example.org"u8, sPlusQ, output));
    }

    [Fact]
    public void Random_keys_and_inputs_round_trip_and_outputs_differ()
    {
        var outputs = new HashSet<string>();
        for (int i = 0; i < 20; i++)
        {
            using var key = EcVrfSecretKey.Generate(out _);
            byte[] alpha = System.Text.Encoding.UTF8.GetBytes($"user{i}@example.org");
            var (output, proof) = key.Evaluate(alpha);
            var verified = new byte[64];
            Assert.True(EcVrf.Verify(key.PublicKey, alpha, proof, verified));
            Assert.Equal(output, verified);
            Assert.True(outputs.Add(Convert.ToHexString(output)));
        }
    }
}
