using System.Security.Cryptography;
using Letterlock.Transparency.Ed25519;

namespace Letterlock.Transparency;

/// <summary>
/// ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, section 5 with the suite of 5.5): a verifiable random
/// function. The directory maps each address to <c>VRF(address)</c>, so the tree reveals nothing about
/// which addresses exist, while every lookup proves its position.
/// </summary>
/// <remarks>
/// Proving uses libsodium's constant-time scalar multiplication (the secret scalar and nonce never meet
/// variable-time code). Hashing to the curve (try-and-increment must decode arbitrary curve points,
/// including ones outside the prime-order subgroup, before clearing the cofactor) and verification use
/// our own variable-time edwards25519 arithmetic on public values. docs/adr/0003-ecvrf-own-point-code.md has the measurements.
/// </remarks>
public static class EcVrf
{
    /// <summary>Length of a proof (pi_string): Gamma (32) || c (16) || s (32).</summary>
    public const int ProofLength = 80;

    /// <summary>Length of the VRF output (beta_string).</summary>
    public const int OutputLength = 64;

    /// <summary>Length of public and secret keys.</summary>
    public const int KeyLength = 32;

    private const byte SuiteString = 0x03;
    private const int CLength = 16;

    /// <summary>ECVRF_prove(SK, alpha): the 80-byte proof for <paramref name="alpha"/>.</summary>
    public static byte[] Prove(EcVrfSecretKey secretKey, ReadOnlySpan<byte> alpha)
    {
        ArgumentNullException.ThrowIfNull(secretKey);
        return secretKey.Prove(alpha);
    }

    /// <summary>
    /// ECVRF_verify(PK, alpha, pi) with key validation (RFC 9381, 5.3 and 5.4.5). On success writes the
    /// 64-byte output to <paramref name="output"/>.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> alpha, ReadOnlySpan<byte> proof, Span<byte> output)
    {
        if (output.Length != OutputLength || proof.Length != ProofLength)
        {
            return false;
        }

        // ECVRF_validate_key: Y decodes and cofactor*Y is not the identity.
        if (EdwardsPoint.Decode(publicKey) is not { } y || y.MultiplyByCofactor().IsIdentity)
        {
            return false;
        }

        if (!DecodeProof(proof, out EdwardsPoint gamma, out ReadOnlySpan<byte> c, out ReadOnlySpan<byte> s))
        {
            return false;
        }

        EdwardsPoint h = EncodeToCurve(publicKey, alpha);
        Span<byte> hString = stackalloc byte[32];
        h.Encode(hString);
        // U = s*B - c*Y, V = s*H - c*Gamma. libsodium is several times faster than our variable-time code
        // (docs/PERFORMANCE.md) but only accepts prime-order points; Y or Gamma with a small-order component
        // (never produced by an honest prover) take the slower path, so the result is exactly RFC 9381's.
        Span<byte> uString = stackalloc byte[32];
        Span<byte> vString = stackalloc byte[32];
        if (!SodiumUV(publicKey, hString, proof[..32], c, s, uString, vString))
        {
            EdwardsPoint.DoubleScalarMultiply(s, EdwardsPoint.Base, c, y.Negate()).Encode(uString);
            EdwardsPoint.DoubleScalarMultiply(s, h, c, gamma.Negate()).Encode(vString);
        }

        Span<byte> cPrime = stackalloc byte[CLength];
        Challenge(publicKey, hString, proof[..32], uString, vString, cPrime);
        if (!CryptographicOperations.FixedTimeEquals(cPrime, c))
        {
            return false;
        }

        ProofToHash(gamma, output);
        return true;
    }

    /// <summary>U and V through libsodium; false when it refuses an input (a point outside the prime-order subgroup).</summary>
    internal static bool SodiumUV(
        ReadOnlySpan<byte> y, ReadOnlySpan<byte> h, ReadOnlySpan<byte> gamma, ReadOnlySpan<byte> c, ReadOnlySpan<byte> s, Span<byte> u, Span<byte> v)
    {
        Span<byte> c32 = stackalloc byte[32];
        c32.Clear();
        c.CopyTo(c32);
        Span<byte> sb = stackalloc byte[32];
        Span<byte> cy = stackalloc byte[32];
        Span<byte> sh = stackalloc byte[32];
        Span<byte> cg = stackalloc byte[32];
        return Sodium.ScalarMultBase(s, sb)
            && Sodium.ScalarMult(c32, y, cy)
            && Sodium.PointSub(sb, cy, u)
            && Sodium.ScalarMult(s, h, sh)
            && Sodium.ScalarMult(c32, gamma, cg)
            && Sodium.PointSub(sh, cg, v);
    }

    /// <summary>ECVRF_proof_to_hash(pi): the output of a proof (verify it first; this does not).</summary>
    /// <returns>False if the proof does not decode.</returns>
    public static bool ProofToHash(ReadOnlySpan<byte> proof, Span<byte> output)
    {
        if (proof.Length != ProofLength || output.Length != OutputLength || !DecodeProof(proof, out EdwardsPoint gamma, out _, out _))
        {
            return false;
        }

        ProofToHash(gamma, output);
        return true;
    }

    /// <summary>beta = SHA512(suite || 0x03 || point_to_string(cofactor * Gamma) || 0x00) (RFC 9381, 5.2).</summary>
    internal static void ProofToHash(in EdwardsPoint gamma, Span<byte> output)
    {
        Span<byte> input = stackalloc byte[35];
        input[0] = SuiteString;
        input[1] = 0x03;
        gamma.MultiplyByCofactor().Encode(input[2..34]);
        input[34] = 0x00;
        SHA512.HashData(input, output);
    }

    /// <summary>
    /// ECVRF_decode_proof (RFC 9381, 5.4.4): Gamma must decode; s must be below the group order q.
    /// </summary>
    internal static bool DecodeProof(ReadOnlySpan<byte> proof, out EdwardsPoint gamma, out ReadOnlySpan<byte> c, out ReadOnlySpan<byte> s)
    {
        c = proof.Slice(32, CLength);
        s = proof.Slice(32 + CLength, 32);
        if (EdwardsPoint.Decode(proof[..32]) is not { } g || !ScalarIsCanonical(s))
        {
            gamma = default;
            return false;
        }

        gamma = g;
        return true;
    }

    /// <summary>
    /// ECVRF_encode_to_curve_try_and_increment (RFC 9381, 5.4.1.1) with encode_to_curve_salt = PK_string:
    /// <code>
    /// hash_string = SHA512(suite || 0x01 || PK_string || alpha || ctr || 0x00)
    /// H = string_to_point(hash_string[0..32]); if valid: H = cofactor * H; retry while invalid or identity
    /// </code>
    /// </summary>
    internal static EdwardsPoint EncodeToCurve(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> alpha)
    {
        int length = 2 + publicKey.Length + alpha.Length + 2;
        byte[] input = new byte[length];
        input[0] = SuiteString;
        input[1] = 0x01;
        publicKey.CopyTo(input.AsSpan(2));
        alpha.CopyTo(input.AsSpan(2 + publicKey.Length));
        input[^1] = 0x00;
        Span<byte> hash = stackalloc byte[64];
        for (int ctr = 0; ctr < 256; ctr++)
        {
            input[^2] = (byte)ctr;
            SHA512.HashData(input, hash);
            if (EdwardsPoint.Decode(hash[..32]) is { } candidate)
            {
                EdwardsPoint h = candidate.MultiplyByCofactor();
                if (!h.IsIdentity)
                {
                    return h;
                }
            }
        }

        // Each try succeeds with probability about 1/2: 256 failures do not happen.
        throw new CryptographicException("ECVRF encode_to_curve found no point.");
    }

    /// <summary>
    /// ECVRF_challenge_generation(P1..P5) (RFC 9381, 5.4.3): the first 16 bytes of
    /// SHA512(suite || 0x02 || P1 || P2 || P3 || P4 || P5 || 0x00).
    /// </summary>
    internal static void Challenge(
        ReadOnlySpan<byte> p1, ReadOnlySpan<byte> p2, ReadOnlySpan<byte> p3, ReadOnlySpan<byte> p4, ReadOnlySpan<byte> p5, Span<byte> c)
    {
        Span<byte> input = stackalloc byte[2 + (5 * 32) + 1];
        input[0] = SuiteString;
        input[1] = 0x02;
        p1.CopyTo(input[2..]);
        p2.CopyTo(input[34..]);
        p3.CopyTo(input[66..]);
        p4.CopyTo(input[98..]);
        p5.CopyTo(input[130..]);
        input[162] = 0x00;
        Span<byte> hash = stackalloc byte[64];
        SHA512.HashData(input, hash);
        hash[..CLength].CopyTo(c);
    }

    /// <summary>True when the 32-byte little-endian scalar is below q = 2^252 + 27742317777372353535851937790883648493.</summary>
    internal static bool ScalarIsCanonical(ReadOnlySpan<byte> s)
    {
        ReadOnlySpan<byte> q =
        [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        ];
        for (int i = 31; i >= 0; i--)
        {
            if (s[i] != q[i])
            {
                return s[i] < q[i];
            }
        }

        return false;
    }
}

/// <summary>
/// An ECVRF secret key: the 32-byte RFC 8032 seed and what RFC 9381 section 5.1 derives from it
/// (secret scalar x, nonce prefix, public key Y = x*B). Dispose it to wipe the secrets.
/// </summary>
public sealed class EcVrfSecretKey : IDisposable
{
    private readonly byte[] _scalar = new byte[32];
    private readonly byte[] _nonceKey = new byte[32];
    private readonly byte[] _publicKey = new byte[32];
    private bool _disposed;

    /// <summary>Expands a 32-byte seed: SHA512(SK) = x (clamped) || nonce prefix.</summary>
    public EcVrfSecretKey(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != EcVrf.KeyLength)
        {
            throw new ArgumentException("An ECVRF secret key is 32 bytes.", nameof(seed));
        }

        Span<byte> hashed = stackalloc byte[64];
        SHA512.HashData(seed, hashed);
        hashed[0] &= 248;
        hashed[31] &= 127;
        hashed[31] |= 64;
        // x is kept reduced mod q: the same point multiples on the prime-order subgroup, and what the scalar arithmetic needs.
        Span<byte> wide = stackalloc byte[64];
        hashed[..32].CopyTo(wide);
        Sodium.ScalarReduce(wide, _scalar);
        hashed[32..].CopyTo(_nonceKey);
        CryptographicOperations.ZeroMemory(hashed);
        CryptographicOperations.ZeroMemory(wide);
        if (!Sodium.ScalarMultBase(_scalar, _publicKey))
        {
            throw new CryptographicException("ECVRF public key derivation failed.");
        }
    }

    /// <summary>Generates a fresh key from the operating system's CSPRNG; returns the seed to store.</summary>
    public static EcVrfSecretKey Generate(out byte[] seed)
    {
        seed = RandomNumberGenerator.GetBytes(EcVrf.KeyLength);
        return new EcVrfSecretKey(seed);
    }

    /// <summary>The public key Y (PK_string).</summary>
    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>ECVRF_prove (RFC 9381, 5.1).</summary>
    public byte[] Prove(ReadOnlySpan<byte> alpha)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EdwardsPoint hPoint = EcVrf.EncodeToCurve(_publicKey, alpha);
        Span<byte> h = stackalloc byte[32];
        hPoint.Encode(h);
        var proof = new byte[EcVrf.ProofLength];
        Span<byte> gamma = proof.AsSpan(0, 32);
        Span<byte> k = stackalloc byte[32];
        Span<byte> kb = stackalloc byte[32];
        Span<byte> kh = stackalloc byte[32];
        Span<byte> c = stackalloc byte[32];
        Span<byte> cx = stackalloc byte[32];
        try
        {
            if (!Sodium.ScalarMult(_scalar, h, gamma))
            {
                throw new CryptographicException("ECVRF Gamma computation failed.");
            }

            // ECVRF_nonce_generation_RFC8032 (5.4.2.2): k = SHA512(nonce prefix || h_string) mod q.
            Span<byte> nonceInput = stackalloc byte[64];
            _nonceKey.CopyTo(nonceInput);
            h.CopyTo(nonceInput[32..]);
            Span<byte> kWide = stackalloc byte[64];
            SHA512.HashData(nonceInput, kWide);
            Sodium.ScalarReduce(kWide, k);
            CryptographicOperations.ZeroMemory(kWide);
            CryptographicOperations.ZeroMemory(nonceInput);

            if (!Sodium.ScalarMultBase(k, kb) || !Sodium.ScalarMult(k, h, kh))
            {
                throw new CryptographicException("ECVRF nonce commitment failed.");
            }

            c.Clear();
            EcVrf.Challenge(_publicKey, h, gamma, kb, kh, c[..16]);
            // s = (k + c*x) mod q
            Sodium.ScalarMul(c, _scalar, cx);
            Sodium.ScalarAdd(k, cx, proof.AsSpan(48, 32));
            c[..16].CopyTo(proof.AsSpan(32, 16));
            return proof;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(k);
            CryptographicOperations.ZeroMemory(cx);
        }
    }

    /// <summary>The VRF output for <paramref name="alpha"/> with its proof.</summary>
    public (byte[] Output, byte[] Proof) Evaluate(ReadOnlySpan<byte> alpha)
    {
        byte[] proof = Prove(alpha);
        var output = new byte[EcVrf.OutputLength];
        EcVrf.ProofToHash(proof, output);
        return (output, proof);
    }

    /// <summary>Wipes the secret scalar and nonce prefix.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            CryptographicOperations.ZeroMemory(_scalar);
            CryptographicOperations.ZeroMemory(_nonceKey);
        }
    }
}
