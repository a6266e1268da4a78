using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Letterlock.Native;

/// <summary>Builds the big-endian, length-prefixed structures of docs/FORMATS.md ("Native protocol").</summary>
internal sealed class WireWriter
{
    private byte[] _buffer;

    public WireWriter(int capacity = 256) => _buffer = new byte[Math.Max(capacity, 16)];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, Length);

    public void WriteByte(byte value) => Reserve(1)[0] = value;

    public void WriteUInt16(int value)
    {
        if ((uint)value > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "The value does not fit a 16-bit field.");
        }

        BinaryPrimitives.WriteUInt16BigEndian(Reserve(2), (ushort)value);
    }

    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Reserve(4), value);

    public void WriteUInt64(ulong value) => BinaryPrimitives.WriteUInt64BigEndian(Reserve(8), value);

    public void WriteBytes(ReadOnlySpan<byte> value) => value.CopyTo(Reserve(value.Length));

    /// <summary>opaque value&lt;0..2^8-1&gt;: one length byte, then the bytes.</summary>
    public void WriteVector8(ReadOnlySpan<byte> value)
    {
        if (value.Length > byte.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "The value does not fit an 8-bit length.");
        }

        WriteByte((byte)value.Length);
        WriteBytes(value);
    }

    /// <summary>opaque value&lt;0..2^16-1&gt;: two length bytes, then the bytes.</summary>
    public void WriteVector16(ReadOnlySpan<byte> value)
    {
        WriteUInt16(value.Length);
        WriteBytes(value);
    }

    public byte[] ToArray() => Written.ToArray();

    /// <summary>Wipes the buffer: writers often carry keys (session state, private prekeys).</summary>
    public void Clear()
    {
        CryptographicOperations.ZeroMemory(_buffer);
        Length = 0;
    }

    private Span<byte> Reserve(int count)
    {
        if (Length + count > _buffer.Length)
        {
            var larger = new byte[Math.Max(_buffer.Length * 2, Length + count)];
            _buffer.AsSpan(0, Length).CopyTo(larger);
            CryptographicOperations.ZeroMemory(_buffer);
            _buffer = larger;
        }

        var span = _buffer.AsSpan(Length, count);
        Length += count;
        return span;
    }
}

/// <summary>
/// Reads the structures <see cref="WireWriter"/> writes. Every read checks the remaining length and
/// fails with <see cref="NativeError.Malformed"/>, naming <c>what</c> was being read; nothing is read
/// past the end.
/// </summary>
internal ref struct WireReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _what;
    private int _position;

    public WireReader(ReadOnlySpan<byte> data, string what)
    {
        _data = data;
        _what = what;
        _position = 0;
    }

    public readonly int Position => _position;

    public readonly int Remaining => _data.Length - _position;

    public byte ReadByte() => Take(1)[0];

    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));

    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64BigEndian(Take(8));

    public ReadOnlySpan<byte> ReadBytes(int count) => Take(count);

    public ReadOnlySpan<byte> ReadVector8() => Take(ReadByte());

    public ReadOnlySpan<byte> ReadVector16() => Take(ReadUInt16());

    public ReadOnlySpan<byte> ReadRest() => Take(Remaining);

    /// <summary>Refuses trailing bytes: every structure has exactly one encoding.</summary>
    public readonly void ExpectEnd()
    {
        if (_position != _data.Length)
        {
            throw new NativeException(NativeError.Malformed, $"The {_what} has trailing data.");
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > _data.Length - _position)
        {
            throw new NativeException(NativeError.Malformed, $"The {_what} is truncated.");
        }

        var span = _data.Slice(_position, count);
        _position += count;
        return span;
    }
}
