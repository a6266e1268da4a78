using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Letterlock.Transparency.Ed25519;

/// <summary>
/// libsodium's constant-time edwards25519 operations (the library NSec ships), used wherever a secret
/// scalar is involved: x*B, x*H, k*B, k*H and the scalar arithmetic of a VRF proof. They require points
/// in the prime-order subgroup, which holds for these inputs (H has had its cofactor cleared).
/// </summary>
internal static unsafe partial class Sodium
{
    private const string Library = "libsodium";

    static Sodium()
    {
        if (SodiumInit() < 0)
        {
            throw new InvalidOperationException("libsodium could not be initialised.");
        }
    }

    /// <summary>n*B without clamping (n &lt; 2^255).</summary>
    public static bool ScalarMultBase(ReadOnlySpan<byte> n, Span<byte> q)
    {
        fixed (byte* pn = n)
        fixed (byte* pq = q)
        {
            return ScalarMultEd25519BaseNoclamp(pq, pn) == 0;
        }
    }

    /// <summary>n*P without clamping; fails if P is not a canonical prime-order point or the result is the identity.</summary>
    public static bool ScalarMult(ReadOnlySpan<byte> n, ReadOnlySpan<byte> p, Span<byte> q)
    {
        fixed (byte* pn = n)
        fixed (byte* pp = p)
        fixed (byte* pq = q)
        {
            return ScalarMultEd25519Noclamp(pq, pn, pp) == 0;
        }
    }

    /// <summary>r = s mod L for a 64-byte little-endian s.</summary>
    public static void ScalarReduce(ReadOnlySpan<byte> s, Span<byte> r)
    {
        fixed (byte* ps = s)
        fixed (byte* pr = r)
        {
            ScalarReduceNative(pr, ps);
        }
    }

    /// <summary>z = x*y mod L.</summary>
    public static void ScalarMul(ReadOnlySpan<byte> x, ReadOnlySpan<byte> y, Span<byte> z)
    {
        fixed (byte* px = x)
        fixed (byte* py = y)
        fixed (byte* pz = z)
        {
            ScalarMulNative(pz, px, py);
        }
    }

    /// <summary>z = x + y mod L.</summary>
    public static void ScalarAdd(ReadOnlySpan<byte> x, ReadOnlySpan<byte> y, Span<byte> z)
    {
        fixed (byte* px = x)
        fixed (byte* py = y)
        fixed (byte* pz = z)
        {
            ScalarAddNative(pz, px, py);
        }
    }

    /// <summary>r = p - q; fails unless both are valid prime-order points.</summary>
    public static bool PointSub(ReadOnlySpan<byte> p, ReadOnlySpan<byte> q, Span<byte> r)
    {
        fixed (byte* pp = p)
        fixed (byte* pq = q)
        fixed (byte* pr = r)
        {
            return PointSubNative(pr, pp, pq) == 0;
        }
    }

    [LibraryImport(Library, EntryPoint = "sodium_init")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int SodiumInit();

    [LibraryImport(Library, EntryPoint = "crypto_scalarmult_ed25519_base_noclamp")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int ScalarMultEd25519BaseNoclamp(byte* q, byte* n);

    [LibraryImport(Library, EntryPoint = "crypto_scalarmult_ed25519_noclamp")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int ScalarMultEd25519Noclamp(byte* q, byte* n, byte* p);

    [LibraryImport(Library, EntryPoint = "crypto_core_ed25519_scalar_reduce")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial void ScalarReduceNative(byte* r, byte* s);

    [LibraryImport(Library, EntryPoint = "crypto_core_ed25519_scalar_mul")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial void ScalarMulNative(byte* z, byte* x, byte* y);

    [LibraryImport(Library, EntryPoint = "crypto_core_ed25519_scalar_add")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial void ScalarAddNative(byte* z, byte* x, byte* y);

    [LibraryImport(Library, EntryPoint = "crypto_core_ed25519_sub")]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int PointSubNative(byte* r, byte* p, byte* q);
}
