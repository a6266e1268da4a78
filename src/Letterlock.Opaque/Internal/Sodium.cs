using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Letterlock.Cryptography.Internal;

/// <summary>
/// The libsodium functions this library needs, from the native library NSec ships (as HPKE and the
/// transparency VRF call it). Group arithmetic on ristretto255 is libsodium's constant-time code; nothing
/// here does field or point arithmetic of its own.
/// </summary>
internal static unsafe partial class Sodium
{
    private const string Library = "libsodium";

    /// <summary>crypto_pwhash_argon2id_ALG_ARGON2ID13: Argon2id version 0x13.</summary>
    private const int Argon2id13 = 2;

    static Sodium()
    {
        // sodium_init is idempotent and thread-safe; NSec calls it too, but this class may run first.
        if (SodiumInit() < 0)
        {
            throw new InvalidOperationException("libsodium could not be initialised.");
        }
    }

    /// <summary>q = n*P for a canonical ristretto255 encoding P; false when P does not decode or q is the identity.</summary>
    public static bool Ristretto255ScalarMult(ReadOnlySpan<byte> n, ReadOnlySpan<byte> p, Span<byte> q)
    {
        Check(n, 32);
        Check(p, 32);
        Check(q, 32);
        fixed (byte* pn = n)
        fixed (byte* pp = p)
        fixed (byte* pq = q)
        {
            return ScalarMultRistretto255(pq, pn, pp) == 0;
        }
    }

    /// <summary>q = n*G; false when n = 0 mod L (q would be the identity).</summary>
    public static bool Ristretto255ScalarMultBase(ReadOnlySpan<byte> n, Span<byte> q)
    {
        Check(n, 32);
        Check(q, 32);
        fixed (byte* pn = n)
        fixed (byte* pq = q)
        {
            return ScalarMultRistretto255Base(pq, pn) == 0;
        }
    }

    /// <summary>True when <paramref name="p"/> is the canonical encoding of a ristretto255 element (the identity included).</summary>
    public static bool Ristretto255IsValidPoint(ReadOnlySpan<byte> p)
    {
        Check(p, 32);
        fixed (byte* pp = p)
        {
            return CoreRistretto255IsValidPoint(pp) == 1;
        }
    }

    /// <summary>The ristretto255 element derivation from 64 uniform bytes (RFC 9496, section 4.3.4).</summary>
    public static void Ristretto255FromHash(ReadOnlySpan<byte> r, Span<byte> p)
    {
        Check(r, 64);
        Check(p, 32);
        fixed (byte* pr = r)
        fixed (byte* pp = p)
        {
            if (CoreRistretto255FromHash(pp, pr) != 0)
            {
                throw new InvalidOperationException("crypto_core_ristretto255_from_hash failed.");
            }
        }
    }

    /// <summary>p = a + b on ristretto255; false when an input does not decode.</summary>
    public static bool Ristretto255Add(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> p)
    {
        Check(a, 32);
        Check(b, 32);
        Check(p, 32);
        fixed (byte* pa = a)
        fixed (byte* pb = b)
        fixed (byte* pp = p)
        {
            return CoreRistretto255Add(pp, pa, pb) == 0;
        }
    }

    /// <summary>r = s mod L for a 64-byte little-endian s.</summary>
    public static void ScalarReduce(ReadOnlySpan<byte> s, Span<byte> r)
    {
        Check(s, 64);
        Check(r, 32);
        fixed (byte* ps = s)
        fixed (byte* pr = r)
        {
            CoreRistretto255ScalarReduce(pr, ps);
        }
    }

    /// <summary>r = 1/s mod L; false when s = 0.</summary>
    public static bool ScalarInvert(ReadOnlySpan<byte> s, Span<byte> r)
    {
        Check(s, 32);
        Check(r, 32);
        fixed (byte* ps = s)
        fixed (byte* pr = r)
        {
            return CoreRistretto255ScalarInvert(pr, ps) == 0;
        }
    }

    /// <summary>z = x*y mod L.</summary>
    public static void ScalarMul(ReadOnlySpan<byte> x, ReadOnlySpan<byte> y, Span<byte> z)
    {
        Check(x, 32);
        Check(y, 32);
        Check(z, 32);
        fixed (byte* px = x)
        fixed (byte* py = y)
        fixed (byte* pz = z)
        {
            CoreRistretto255ScalarMul(pz, px, py);
        }
    }

    /// <summary>A uniformly random non-zero scalar below L.</summary>
    public static void ScalarRandom(Span<byte> r)
    {
        Check(r, 32);
        fixed (byte* pr = r)
        {
            CoreRistretto255ScalarRandom(pr);
        }
    }

    /// <summary>X25519 (RFC 7748) q = X25519(n, p); false when the result is all zeros (a small-order p).</summary>
    public static bool X25519(ReadOnlySpan<byte> n, ReadOnlySpan<byte> p, Span<byte> q)
    {
        Check(n, 32);
        Check(p, 32);
        Check(q, 32);
        fixed (byte* pn = n)
        fixed (byte* pp = p)
        fixed (byte* pq = q)
        {
            return ScalarMultCurve25519(pq, pn, pp) == 0;
        }
    }

    /// <summary>X25519(n, 9).</summary>
    public static bool X25519Base(ReadOnlySpan<byte> n, Span<byte> q)
    {
        Check(n, 32);
        Check(q, 32);
        fixed (byte* pn = n)
        fixed (byte* pq = q)
        {
            return ScalarMultCurve25519Base(pq, pn) == 0;
        }
    }

    /// <summary>
    /// Argon2id v1.3 with one lane (libsodium's crypto_pwhash_argon2id): false when libsodium refuses, which
    /// for parameters inside its documented ranges means it could not allocate the memory.
    /// </summary>
    public static bool Argon2id(Span<byte> output, ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, ulong iterations, nuint memoryBytes)
    {
        Check(salt, 16);
        fixed (byte* po = output)
        fixed (byte* pw = password)
        fixed (byte* ps = salt)
        {
            return PwhashArgon2id(po, (ulong)output.Length, pw, (ulong)password.Length, ps, iterations, memoryBytes, Argon2id13) == 0;
        }
    }

    private static void Check(ReadOnlySpan<byte> value, int length)
    {
        if (value.Length != length)
        {
            throw new ArgumentException($"Expected {length} bytes, got {value.Length}.");
        }
    }

    [LibraryImport(Library, EntryPoint = "sodium_init")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int SodiumInit();

    [LibraryImport(Library, EntryPoint = "crypto_scalarmult_ristretto255")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int ScalarMultRistretto255(byte* q, byte* n, byte* p);

    [LibraryImport(Library, EntryPoint = "crypto_scalarmult_ristretto255_base")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int ScalarMultRistretto255Base(byte* q, byte* n);

    [LibraryImport(Library, EntryPoint = "crypto_core_ristretto255_is_valid_point")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int CoreRistretto255IsValidPoint(byte* p);

    [LibraryImport(Library, EntryPoint = "crypto_core_ristretto255_from_hash")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int CoreRistretto255FromHash(byte* p, byte* r);

    [LibraryImport(Library, EntryPoint = "crypto_core_ristretto255_add")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int CoreRistretto255Add(byte* r, byte* p, byte* q);

    [LibraryImport(Library, EntryPoint = "crypto_core_ristretto255_scalar_reduce")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial void CoreRistretto255ScalarReduce(byte* r, byte* s);

    [LibraryImport(Library, EntryPoint = "crypto_core_ristretto255_scalar_invert")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int CoreRistretto255ScalarInvert(byte* recip, byte* s);

    [LibraryImport(Library, EntryPoint = "crypto_core_ristretto255_scalar_mul")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial void CoreRistretto255ScalarMul(byte* z, byte* x, byte* y);

    [LibraryImport(Library, EntryPoint = "crypto_core_ristretto255_scalar_random")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial void CoreRistretto255ScalarRandom(byte* r);

    [LibraryImport(Library, EntryPoint = "crypto_scalarmult_curve25519")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int ScalarMultCurve25519(byte* q, byte* n, byte* p);

    [LibraryImport(Library, EntryPoint = "crypto_scalarmult_curve25519_base")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int ScalarMultCurve25519Base(byte* q, byte* n);

    [LibraryImport(Library, EntryPoint = "crypto_pwhash_argon2id")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int PwhashArgon2id(byte* output, ulong outputLength, byte* password, ulong passwordLength, byte* salt, ulong opsLimit, nuint memLimit, int alg);
}
