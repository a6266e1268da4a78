using System.Runtime.CompilerServices;

namespace Letterlock.Transparency.Ed25519;

/// <summary>
/// A point of edwards25519 (-x^2 + y^2 = 1 + d x^2 y^2) in extended coordinates (X : Y : Z : T),
/// x = X/Z, y = Y/Z, xy = T/Z (Hisil-Wong-Carter-Dawson 2008). Any point on the curve is allowed,
/// including points outside the prime-order subgroup: ECVRF's try-and-increment hash decodes arbitrary
/// curve points and clears the cofactor itself, which libsodium's API refuses to do.
/// All operations are variable-time and used on public values only.
/// </summary>
internal readonly struct EdwardsPoint
{
    public readonly FieldElement X, Y, Z, T;

    public EdwardsPoint(in FieldElement x, in FieldElement y, in FieldElement z, in FieldElement t)
    {
        X = x;
        Y = y;
        Z = z;
        T = t;
    }

    public static readonly EdwardsPoint Identity = new(FieldElement.Zero, FieldElement.One, FieldElement.One, FieldElement.Zero);

    /// <summary>The base point B (RFC 8032, 5.1): y = 4/5, x even.</summary>
    public static readonly EdwardsPoint Base = Decode(Convert.FromHexString("5866666666666666666666666666666666666666666666666666666666666666"))
        ?? throw new InvalidOperationException("base point");

    /// <summary>
    /// Decodes 32 bytes as in RFC 8032 section 5.1.3 (the string_to_point of RFC 9381 for this suite):
    /// rejects y &gt;= p, x = 0 with the sign bit set, and values that are not on the curve.
    /// </summary>
    public static EdwardsPoint? Decode(ReadOnlySpan<byte> s)
    {
        if (s.Length != 32)
        {
            return null;
        }

        bool xSign = (s[31] & 0x80) != 0;
        FieldElement y = FieldElement.FromBytes(s);

        // Canonical: re-encoding must give back the same 255 bits (so y < p).
        Span<byte> check = stackalloc byte[32];
        y.ToBytes(check);
        check[31] |= (byte)(s[31] & 0x80);
        if (!check.SequenceEqual(s))
        {
            return null;
        }

        // x^2 = (y^2 - 1) / (d y^2 + 1) = u / v; x = u v^3 (u v^7)^((p-5)/8).
        FieldElement yy = y.Square();
        FieldElement u = yy - FieldElement.One;
        FieldElement v = (FieldElement.D * yy) + FieldElement.One;
        FieldElement v3 = v.Square() * v;
        FieldElement v7 = v3.Square() * v;
        FieldElement x = u * v3 * (u * v7).Pow22523();
        FieldElement vxx = v * x.Square();
        if (!vxx.Equals(u))
        {
            if (!vxx.Equals(-u))
            {
                return null;
            }

            x *= FieldElement.SqrtM1;
        }

        if (x.IsZero && xSign)
        {
            return null;
        }

        if (x.IsOdd != xSign)
        {
            x = -x;
        }

        return new EdwardsPoint(x, y, FieldElement.One, x * y);
    }

    /// <summary>point_to_string: the 32-byte RFC 8032 encoding.</summary>
    public void Encode(Span<byte> s)
    {
        FieldElement zInv = Z.Invert();
        FieldElement x = X * zInv;
        FieldElement y = Y * zInv;
        y.ToBytes(s);
        if (x.IsOdd)
        {
            s[31] |= 0x80;
        }
    }

    public byte[] Encode()
    {
        var s = new byte[32];
        Encode(s);
        return s;
    }

    public bool IsIdentity => X.IsZero && (Y - Z).IsZero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public EdwardsPoint Add(in EdwardsPoint q)
    {
        // add-2008-hwcd-3 with a = -1.
        FieldElement a = (Y - X) * (q.Y - q.X);
        FieldElement b = (Y + X) * (q.Y + q.X);
        FieldElement c = T * FieldElement.D2 * q.T;
        FieldElement zz = Z * q.Z;
        FieldElement d = zz + zz;
        FieldElement e = b - a;
        FieldElement f = d - c;
        FieldElement g = d + c;
        FieldElement h = b + a;
        return new EdwardsPoint(e * f, g * h, f * g, e * h);
    }

    public EdwardsPoint Negate() => new(-X, Y, Z, -T);

    public EdwardsPoint Subtract(in EdwardsPoint q) => Add(q.Negate());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public EdwardsPoint Double()
    {
        // dbl-2008-hwcd with a = -1: D = -A, G = D + B, F = G - C, H = D - B.
        FieldElement a = X.Square();
        FieldElement b = Y.Square();
        FieldElement zz = Z.Square();
        FieldElement c = zz + zz;
        FieldElement e = (X + Y).Square() - a - b;
        FieldElement g = b - a;
        FieldElement f = g - c;
        FieldElement h = -(a + b);
        return new EdwardsPoint(e * f, g * h, f * g, e * h);
    }

    /// <summary>8P: clears the cofactor.</summary>
    public EdwardsPoint MultiplyByCofactor() => Double().Double().Double();

    /// <summary>
    /// a*P + b*Q for little-endian scalars a, b (at most 256 bits), variable time (Straus-Shamir with a
    /// 4-bit window per scalar). Used by verification only.
    /// </summary>
    public static EdwardsPoint DoubleScalarMultiply(ReadOnlySpan<byte> a, in EdwardsPoint p, ReadOnlySpan<byte> b, in EdwardsPoint q)
    {
        Span<EdwardsPoint> tp = stackalloc EdwardsPoint[16];
        Span<EdwardsPoint> tq = stackalloc EdwardsPoint[16];
        Table(p, tp);
        Table(q, tq);
        EdwardsPoint r = Identity;
        bool started = false;
        for (int i = 63; i >= 0; i--)
        {
            if (started)
            {
                r = r.Double().Double().Double().Double();
            }

            int na = Nibble(a, i);
            int nb = Nibble(b, i);
            if (na != 0)
            {
                r = started ? r.Add(tp[na]) : tp[na];
                started = true;
            }

            if (nb != 0)
            {
                r = started ? r.Add(tq[nb]) : tq[nb];
                started = true;
            }
        }

        return r;
    }

    /// <summary>k*P, variable time.</summary>
    public EdwardsPoint Multiply(ReadOnlySpan<byte> k) => DoubleScalarMultiply(k, this, [], Identity);

    private static void Table(in EdwardsPoint p, Span<EdwardsPoint> table)
    {
        table[0] = Identity;
        table[1] = p;
        for (int i = 2; i < 16; i++)
        {
            table[i] = (i & 1) == 0 ? table[i / 2].Double() : table[i - 1].Add(p);
        }
    }

    private static int Nibble(ReadOnlySpan<byte> k, int i)
    {
        int index = i / 2;
        if (index >= k.Length)
        {
            return 0;
        }

        return (i & 1) == 0 ? k[index] & 0x0F : k[index] >> 4;
    }
}
