using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Letterlock.Cryptography;

/// <summary>
/// Raw X25519 (RFC 7748) through libsodium, the native library NSec ships. HPKE, X-Wing and the
/// native protocol feed the raw Diffie-Hellman output into their own KDFs, and NSec only hands out
/// KDF-wrapped shared secrets, so we call <c>crypto_scalarmult</c> directly. Measured against
/// BouncyCastle's managed X25519 on the reference machine: about 30,000 vs 9,500 operations/s
/// (docs/PERFORMANCE.md).
/// </summary>
public static unsafe partial class X25519
{
    /// <summary>Length of private keys, public keys and shared secrets.</summary>
    public const int KeyLength = 32;

    private const string Library = "libsodium";

    static X25519()
    {
        // sodium_init is idempotent and thread-safe; NSec calls it too, but we may run first.
        if (SodiumInit() < 0)
        {
            throw new InvalidOperationException("libsodium could not be initialised.");
        }
    }

    /// <summary>Computes pk(sk) = sk * basepoint (sk is clamped by libsodium).</summary>
    /// <exception cref="HpkeException">A key has the wrong length (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static void PublicKeyFromPrivate(ReadOnlySpan<byte> privateKey, Span<byte> publicKey)
    {
        CheckLength(privateKey);
        if (publicKey.Length != KeyLength)
        {
            throw new ArgumentException("The destination must be 32 bytes.", nameof(publicKey));
        }

        int rc;
        fixed (byte* q = publicKey)
        fixed (byte* n = privateKey)
        {
            rc = ScalarMultBase(q, n);
        }

        if (rc != 0)
        {
            throw new HpkeException(HpkeError.InvalidKey);
        }
    }

    /// <summary>
    /// DH(sk, pk). Fails with <see cref="HpkeError.InvalidKey"/> when the output is all zeros, as
    /// RFC 9180 section 7.1.4 requires (libsodium also refuses small-order inputs, which produce exactly
    /// that output for a clamped scalar).
    /// </summary>
    /// <exception cref="HpkeException">A key has the wrong length or the result is zero (<see cref="HpkeError.InvalidKey"/>).</exception>
    public static void SharedSecret(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> publicKey, Span<byte> shared)
    {
        CheckLength(privateKey);
        CheckLength(publicKey);
        if (shared.Length != KeyLength)
        {
            throw new ArgumentException("The destination must be 32 bytes.", nameof(shared));
        }

        int rc;
        fixed (byte* q = shared)
        fixed (byte* n = privateKey)
        fixed (byte* p = publicKey)
        {
            rc = ScalarMult(q, n, p);
        }

        // Checked here as well so the guarantee does not hang on one libsodium implementation detail.
        if (rc != 0 || IsZero(shared))
        {
            CryptographicOperations.ZeroMemory(shared);
            throw new HpkeException(HpkeError.InvalidKey);
        }
    }

    private static void CheckLength(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeyLength)
        {
            throw new HpkeException(HpkeError.InvalidKey, "An X25519 key must be 32 bytes.");
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.NoOptimization)]
    private static bool IsZero(ReadOnlySpan<byte> value)
    {
        // Constant time: accumulate every byte instead of returning at the first non-zero one.
        int acc = 0;
        foreach (byte b in value)
        {
            acc |= b;
        }

        return acc == 0;
    }

    [LibraryImport(Library, EntryPoint = "sodium_init")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static partial int SodiumInit();

    [LibraryImport(Library, EntryPoint = "crypto_scalarmult")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static partial int ScalarMult(byte* q, byte* n, byte* p);

    [LibraryImport(Library, EntryPoint = "crypto_scalarmult_base")]
    [UnmanagedCallConv(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static partial int ScalarMultBase(byte* q, byte* n);
}
