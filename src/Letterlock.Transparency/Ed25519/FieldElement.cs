using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Letterlock.Transparency.Ed25519;

/// <summary>
/// An element of GF(2^255 - 19) in five 51-bit limbs (the radix of curve25519-dalek's u64 backend).
/// Variable-time where noted: it serves point decoding, cofactor clearing and proof verification,
/// which handle public data only. Secret-scalar operations go to libsodium (<see cref="Sodium"/>).
/// </summary>
internal struct FieldElement
{
    private const ulong Mask51 = (1UL << 51) - 1;

    public ulong L0, L1, L2, L3, L4;

    public static readonly FieldElement Zero;
    public static readonly FieldElement One = new() { L0 = 1 };

    /// <summary>d = -121665/121666 (RFC 8032, 5.1).</summary>
    public static readonly FieldElement D = FromInteger(BigInteger.Parse("37095705934669439343138083508754565189542113879843219016388785533085940283555"));

    /// <summary>2d, used by point addition.</summary>
    public static readonly FieldElement D2 = D + D;

    /// <summary>sqrt(-1) = 2^((p-1)/4) (RFC 8032, 5.1.3).</summary>
    public static readonly FieldElement SqrtM1 = FromInteger(BigInteger.Parse("19681161376707505956807079304988542015446066515923890162744021073123829784752"));

    private static FieldElement FromInteger(BigInteger value)
    {
        Span<byte> bytes = stackalloc byte[32];
        value.TryWriteBytes(bytes, out _, isUnsigned: true, isBigEndian: false);
        return FromBytes(bytes);
    }

    /// <summary>Loads 32 little-endian bytes, ignoring the top bit (not reduced: the caller checks canonicity).</summary>
    public static FieldElement FromBytes(ReadOnlySpan<byte> s) => new()
    {
        L0 = BinaryPrimitives.ReadUInt64LittleEndian(s) & Mask51,
        L1 = (BinaryPrimitives.ReadUInt64LittleEndian(s[6..]) >> 3) & Mask51,
        L2 = (BinaryPrimitives.ReadUInt64LittleEndian(s[12..]) >> 6) & Mask51,
        L3 = (BinaryPrimitives.ReadUInt64LittleEndian(s[19..]) >> 1) & Mask51,
        L4 = (BinaryPrimitives.ReadUInt64LittleEndian(s[24..]) >> 12) & Mask51,
    };

    /// <summary>Writes the canonical (fully reduced) 32-byte little-endian encoding.</summary>
    public readonly void ToBytes(Span<byte> s)
    {
        FieldElement t = this;
        t.Reduce();
        // t < 2^255 + small; subtract p if t >= p: q = 1 iff t + 19 >= 2^255.
        ulong q = (t.L0 + 19) >> 51;
        q = (t.L1 + q) >> 51;
        q = (t.L2 + q) >> 51;
        q = (t.L3 + q) >> 51;
        q = (t.L4 + q) >> 51;
        t.L0 += 19 * q;
        t.L1 += t.L0 >> 51;
        t.L0 &= Mask51;
        t.L2 += t.L1 >> 51;
        t.L1 &= Mask51;
        t.L3 += t.L2 >> 51;
        t.L2 &= Mask51;
        t.L4 += t.L3 >> 51;
        t.L3 &= Mask51;
        t.L4 &= Mask51;
        BinaryPrimitives.WriteUInt64LittleEndian(s, t.L0 | (t.L1 << 51));
        BinaryPrimitives.WriteUInt64LittleEndian(s[8..], (t.L1 >> 13) | (t.L2 << 38));
        BinaryPrimitives.WriteUInt64LittleEndian(s[16..], (t.L2 >> 26) | (t.L3 << 25));
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], (t.L3 >> 39) | (t.L4 << 12));
    }

    public readonly bool IsZero
    {
        get
        {
            Span<byte> b = stackalloc byte[32];
            ToBytes(b);
            return b.IndexOfAnyExcept((byte)0) < 0;
        }
    }

    /// <summary>The low bit of the canonical encoding ("negative" in RFC 8032 terms).</summary>
    public readonly bool IsOdd
    {
        get
        {
            Span<byte> b = stackalloc byte[32];
            ToBytes(b);
            return (b[0] & 1) == 1;
        }
    }

    public readonly bool Equals(in FieldElement other)
    {
        Span<byte> a = stackalloc byte[32];
        Span<byte> b = stackalloc byte[32];
        ToBytes(a);
        other.ToBytes(b);
        return a.SequenceEqual(b);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Reduce()
    {
        ulong c0 = L0 >> 51, c1 = L1 >> 51, c2 = L2 >> 51, c3 = L3 >> 51, c4 = L4 >> 51;
        L0 = (L0 & Mask51) + (c4 * 19);
        L1 = (L1 & Mask51) + c0;
        L2 = (L2 & Mask51) + c1;
        L3 = (L3 & Mask51) + c2;
        L4 = (L4 & Mask51) + c3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FieldElement operator +(in FieldElement a, in FieldElement b)
    {
        var r = new FieldElement { L0 = a.L0 + b.L0, L1 = a.L1 + b.L1, L2 = a.L2 + b.L2, L3 = a.L3 + b.L3, L4 = a.L4 + b.L4 };
        r.Reduce();
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FieldElement operator -(in FieldElement a, in FieldElement b)
    {
        // Add 16p first so no limb underflows (inputs are reduced to < 2^52 by every operation).
        var r = new FieldElement
        {
            L0 = a.L0 + 36028797018963664UL - b.L0,
            L1 = a.L1 + 36028797018963952UL - b.L1,
            L2 = a.L2 + 36028797018963952UL - b.L2,
            L3 = a.L3 + 36028797018963952UL - b.L3,
            L4 = a.L4 + 36028797018963952UL - b.L4,
        };
        r.Reduce();
        return r;
    }

    public static FieldElement operator -(in FieldElement a) => Zero - a;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FieldElement operator *(in FieldElement a, in FieldElement b)
    {
        ulong b1x19 = b.L1 * 19, b2x19 = b.L2 * 19, b3x19 = b.L3 * 19, b4x19 = b.L4 * 19;
        UInt128 c0 = M(a.L0, b.L0) + M(a.L4, b1x19) + M(a.L3, b2x19) + M(a.L2, b3x19) + M(a.L1, b4x19);
        UInt128 c1 = M(a.L1, b.L0) + M(a.L0, b.L1) + M(a.L4, b2x19) + M(a.L3, b3x19) + M(a.L2, b4x19);
        UInt128 c2 = M(a.L2, b.L0) + M(a.L1, b.L1) + M(a.L0, b.L2) + M(a.L4, b3x19) + M(a.L3, b4x19);
        UInt128 c3 = M(a.L3, b.L0) + M(a.L2, b.L1) + M(a.L1, b.L2) + M(a.L0, b.L3) + M(a.L4, b4x19);
        UInt128 c4 = M(a.L4, b.L0) + M(a.L3, b.L1) + M(a.L2, b.L2) + M(a.L1, b.L3) + M(a.L0, b.L4);
        return Carry(c0, c1, c2, c3, c4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly FieldElement Square()
    {
        ulong d0 = L0 * 2, d1 = L1 * 2, d2 = L2 * 2, d3 = L3 * 2;
        ulong l3x19 = L3 * 19, l4x19 = L4 * 19;
        UInt128 c0 = M(L0, L0) + M(d1, l4x19) + M(d2, l3x19);
        UInt128 c1 = M(d0, L1) + M(d2, l4x19) + M(L3, l3x19);
        UInt128 c2 = M(d0, L2) + M(L1, L1) + M(d3, l4x19);
        UInt128 c3 = M(d0, L3) + M(d1, L2) + M(L4, l4x19);
        UInt128 c4 = M(d0, L4) + M(d1, L3) + M(L2, L2);
        return Carry(c0, c1, c2, c3, c4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static UInt128 M(ulong a, ulong b)
    {
        ulong high = Math.BigMul(a, b, out ulong low);
        return new UInt128(high, low);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static FieldElement Carry(UInt128 c0, UInt128 c1, UInt128 c2, UInt128 c3, UInt128 c4)
    {
        c1 += (ulong)(c0 >> 51);
        ulong r0 = (ulong)c0 & Mask51;
        c2 += (ulong)(c1 >> 51);
        ulong r1 = (ulong)c1 & Mask51;
        c3 += (ulong)(c2 >> 51);
        ulong r2 = (ulong)c2 & Mask51;
        c4 += (ulong)(c3 >> 51);
        ulong r3 = (ulong)c3 & Mask51;
        ulong carry = (ulong)(c4 >> 51);
        ulong r4 = (ulong)c4 & Mask51;
        r0 += carry * 19;
        r1 += r0 >> 51;
        r0 &= Mask51;
        return new FieldElement { L0 = r0, L1 = r1, L2 = r2, L3 = r3, L4 = r4 };
    }

    private readonly FieldElement SquareTimes(int k)
    {
        FieldElement r = this;
        for (int i = 0; i < k; i++)
        {
            r = r.Square();
        }

        return r;
    }

    /// <summary>Returns (z^(2^250 - 1), z^11), the common start of inversion and pow22523 (ref10's chain).</summary>
    private readonly (FieldElement T250, FieldElement Z11) Pow250()
    {
        FieldElement z = this;
        FieldElement t0 = z.Square();                 // 2
        FieldElement t1 = t0.SquareTimes(2) * z;      // 9
        t0 *= t1;                                     // 11
        FieldElement z11 = t0;
        FieldElement t2 = t0.Square();                // 22
        t1 *= t2;                                     // 31 = 2^5 - 1
        t2 = t1.SquareTimes(5) * t1;                  // 2^10 - 1
        FieldElement t3 = t2.SquareTimes(10) * t2;    // 2^20 - 1
        t3 = t3.SquareTimes(20) * t3;                 // 2^40 - 1
        t3 = t3.SquareTimes(10) * t2;                 // 2^50 - 1
        FieldElement t4 = t3.SquareTimes(50) * t3;    // 2^100 - 1
        t4 = t4.SquareTimes(100) * t4;                // 2^200 - 1
        t4 = t4.SquareTimes(50) * t3;                 // 2^250 - 1
        return (t4, z11);
    }

    /// <summary>z^(p - 2) = 1/z (0 for 0).</summary>
    public readonly FieldElement Invert()
    {
        var (t250, z11) = Pow250();
        return t250.SquareTimes(5) * z11;             // 2^255 - 32 + 11 = p - 2
    }

    /// <summary>z^((p - 5) / 8) = z^(2^252 - 3).</summary>
    public readonly FieldElement Pow22523()
    {
        var (t250, _) = Pow250();
        return t250.SquareTimes(2) * this;            // 2^252 - 4 + 1
    }
}
