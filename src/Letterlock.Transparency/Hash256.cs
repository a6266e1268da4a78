using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Letterlock.Transparency;

/// <summary>A 32-byte SHA-256 value (tree node hash, VRF-derived index, commitment). Compared by value.</summary>
public readonly struct Hash256 : IEquatable<Hash256>
{
    /// <summary>Length in bytes.</summary>
    public const int Length = 32;

    private readonly ulong _a, _b, _c, _d;

    /// <summary>Copies 32 bytes.</summary>
    public Hash256(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
        {
            throw new ArgumentException("A hash is 32 bytes.", nameof(bytes));
        }

        _a = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        _b = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        _c = BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]);
        _d = BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]);
    }

    /// <summary>All zeros: the hash of an empty prefix-tree subtree.</summary>
    public static Hash256 Zero => default;

    /// <summary>True for all zeros.</summary>
    public bool IsZero => (_a | _b | _c | _d) == 0;

    /// <summary>SHA-256 of <paramref name="data"/>.</summary>
    public static Hash256 Sha256(ReadOnlySpan<byte> data)
    {
        Span<byte> h = stackalloc byte[Length];
        SHA256.HashData(data, h);
        return new Hash256(h);
    }

    /// <summary>Bit <paramref name="i"/> counted from the most significant bit of the first byte (0 = left).</summary>
    public int Bit(int i)
    {
        ulong word = (i >> 6) switch { 0 => _a, 1 => _b, 2 => _c, _ => _d };
        return (int)((word >> (63 - (i & 63))) & 1);
    }

    /// <summary>True when the first <paramref name="bits"/> bits of both values agree.</summary>
    public bool SharesPrefix(Hash256 other, int bits)
    {
        for (int i = 0; i < bits; i++)
        {
            if (Bit(i) != other.Bit(i))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Writes the 32 bytes.</summary>
    public void CopyTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    /// <summary>The 32 bytes as a new array.</summary>
    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        CopyTo(bytes);
        return bytes;
    }

    /// <inheritdoc />
    public bool Equals(Hash256 other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Hash256 other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => (int)_a ^ (int)(_a >> 32) ^ (int)_d;

    /// <summary>Lower-case hex.</summary>
    public override string ToString() => Convert.ToHexStringLower(ToArray());

    /// <summary>Value equality.</summary>
    public static bool operator ==(Hash256 left, Hash256 right) => left.Equals(right);

    /// <summary>Value inequality.</summary>
    public static bool operator !=(Hash256 left, Hash256 right) => !left.Equals(right);

    internal int CompareTo(Hash256 other) =>
        _a != other._a ? _a.CompareTo(other._a)
        : _b != other._b ? _b.CompareTo(other._b)
        : _c != other._c ? _c.CompareTo(other._c)
        : _d.CompareTo(other._d);
}
