using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Letterlock.Transparency;

/// <summary>
/// Writer for the TLS-presentation-style encoding of docs/FORMATS.md: big-endian integers,
/// length-prefixed byte strings (<c>opaque x&lt;0..2^8-1&gt;</c> has a 1-byte length, <c>&lt;0..2^16-1&gt;</c> 2 bytes).
/// </summary>
internal sealed class WireWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new(256);

    public int Length => _buffer.WrittenCount;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.WrittenSpan;

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    public void U8(int value)
    {
        _buffer.GetSpan(1)[0] = checked((byte)value);
        _buffer.Advance(1);
    }

    public void U16(int value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.GetSpan(2), checked((ushort)value));
        _buffer.Advance(2);
    }

    public void U32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
    }

    public void U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
    }

    public void Bytes(ReadOnlySpan<byte> value) => _buffer.Write(value);

    public void Hash(Hash256 value)
    {
        value.CopyTo(_buffer.GetSpan(Hash256.Length));
        _buffer.Advance(Hash256.Length);
    }

    public void Opaque8(ReadOnlySpan<byte> value)
    {
        U8(value.Length);
        Bytes(value);
    }

    public void Opaque16(ReadOnlySpan<byte> value)
    {
        U16(value.Length);
        Bytes(value);
    }

    public void String8(string value) => Opaque8(Encoding.UTF8.GetBytes(value));

    public void String16(string value) => Opaque16(Encoding.UTF8.GetBytes(value));
}

/// <summary>Reader for <see cref="WireWriter"/>'s encoding; every malformation is a <see cref="TransparencyFormatException"/>.</summary>
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

    public readonly bool AtEnd => _position == _data.Length;

    public readonly int Position => _position;

    public readonly ReadOnlySpan<byte> Consumed(int start) => _data[start.._position];

    public ReadOnlySpan<byte> Bytes(int length)
    {
        if (length < 0 || _data.Length - _position < length)
        {
            throw new TransparencyFormatException($"Truncated {_what}.");
        }

        ReadOnlySpan<byte> value = _data.Slice(_position, length);
        _position += length;
        return value;
    }

    public byte U8() => Bytes(1)[0];

    public int U16() => BinaryPrimitives.ReadUInt16BigEndian(Bytes(2));

    public ulong U64() => BinaryPrimitives.ReadUInt64BigEndian(Bytes(8));

    public long U64AsLong()
    {
        ulong value = U64();
        if (value > long.MaxValue)
        {
            throw new TransparencyFormatException($"Out-of-range number in {_what}.");
        }

        return (long)value;
    }

    public Hash256 Hash() => new(Bytes(Hash256.Length));

    public bool Bool()
    {
        byte value = U8();
        return value switch
        {
            0 => false,
            1 => true,
            _ => throw new TransparencyFormatException($"Invalid flag in {_what}."),
        };
    }

    public ReadOnlySpan<byte> Opaque8(int max)
    {
        int length = U8();
        return length > max ? throw new TransparencyFormatException($"Field too long in {_what}.") : Bytes(length);
    }

    public ReadOnlySpan<byte> Opaque16(int max)
    {
        int length = U16();
        return length > max ? throw new TransparencyFormatException($"Field too long in {_what}.") : Bytes(length);
    }

    public string String(int max, bool sixteen)
    {
        ReadOnlySpan<byte> bytes = sixteen ? Opaque16(max) : Opaque8(max);
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new TransparencyFormatException($"Invalid UTF-8 in {_what}.", e);
        }
    }

    public readonly void EnsureEnd()
    {
        if (!AtEnd)
        {
            throw new TransparencyFormatException($"Trailing bytes after {_what}.");
        }
    }
}
