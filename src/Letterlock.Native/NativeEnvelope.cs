using System.Buffers.Binary;

namespace Letterlock.Native;

/// <summary>
/// The sealed-sender envelope (docs/FORMATS.md, "Native envelope"): one message encrypted once under a
/// random message key, and that key wrapped for each recipient device through its ratchet session.
/// <code>
/// envelope    = prefix entry-count 1*entry payload             ; Padmé-padded as a whole
/// prefix      = "LLNATV" %x01 envelope-id                      ; 23 bytes
/// envelope-id = 16OCTET                                         ; random; names the message in a reset request
/// entry-count = OCTET                                           ; 1 .. MaxEntries
/// entry       = device-hint kind body-length body
/// device-hint = 8OCTET                                          ; SHA-256("letterlock-native-device-hint-v1" %x00 device-key)[0..8]
/// kind        = %x01 (session start) / %x02 (ratchet message)
/// body-length = 2OCTET
/// body        = [start-fields] enc-header ratchet-ciphertext    ; start-fields only for kind 1
/// payload     = ChaCha20-Poly1305(payload-key, payload-nonce, payload-plaintext, aad = prefix)
/// payload-plaintext = %x01 content-length content *%x00        ; content-length = 4OCTET
/// </code>
/// This type only splits bytes; <see cref="NativeDevice"/> does the cryptography.
/// </summary>
internal readonly ref struct NativeEnvelope
{
    public const int PrefixLength = 23;
    public const int EnvelopeIdLength = 16;
    public const byte Version = 1;
    public const byte KindStart = 1;
    public const byte KindRatchet = 2;
    public const int EntryOverhead = NativeCrypto.DeviceHintLength + 1 + 2;
    public const int PayloadOverhead = 1 + 4 + NativeCrypto.TagLength;

    public static ReadOnlySpan<byte> Magic => "LLNATV"u8;

    /// <summary>The magic of an entry copy (<see cref="CopyFor"/>).</summary>
    public static ReadOnlySpan<byte> CopyMagic => "LLNATE"u8;

    private NativeEnvelope(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> entries, int entryCount, ReadOnlySpan<byte> payload, byte[]? payloadDigest = null)
    {
        Prefix = prefix;
        Entries = entries;
        EntryCount = entryCount;
        Payload = payload;
        PayloadDigest = payloadDigest ?? NativeCrypto.Sha256(payload);
    }

    /// <summary>SHA-256 of the payload, which every entry's context binds (carried as such by an entry copy, which has no payload).</summary>
    public byte[] PayloadDigest { get; }

    /// <summary>True for an entry copy: the entries of one device and the payload's digest, without the payload.</summary>
    public bool IsCopy => Payload.IsEmpty;

    /// <summary>magic, version and envelope id: the payload's associated data and the start of every entry's context.</summary>
    public ReadOnlySpan<byte> Prefix { get; }

    public ReadOnlySpan<byte> EnvelopeId => Prefix[7..];

    public int EntryCount { get; }

    public ReadOnlySpan<byte> Payload { get; }

    private ReadOnlySpan<byte> Entries { get; }

    /// <summary>Splits an envelope, checking the structure and <see cref="NativeOptions.MaxEntries"/>.</summary>
    /// <exception cref="NativeException">It is malformed or has too many entries.</exception>
    public static NativeEnvelope Parse(ReadOnlySpan<byte> envelope, NativeOptions options)
    {
        var reader = new WireReader(envelope, "native envelope");
        if (!reader.ReadBytes(Magic.Length).SequenceEqual(Magic))
        {
            throw new NativeException(NativeError.Malformed, "Not a Letterlock native envelope (bad magic).");
        }

        if (reader.ReadByte() != Version)
        {
            throw new NativeException(NativeError.Malformed, "Unsupported native envelope version.");
        }

        reader.ReadBytes(EnvelopeIdLength);
        var prefix = envelope[..PrefixLength];
        int start = ReadEntries(ref reader, options, out int count);
        var entries = envelope[start..reader.Position];
        var payload = reader.ReadRest();
        if (payload.Length < PayloadOverhead)
        {
            throw new NativeException(NativeError.Malformed, "The native envelope's payload is truncated.");
        }

        return new NativeEnvelope(prefix, entries, count, payload);
    }

    /// <summary>
    /// The entries of the device with <paramref name="hint"/>, without the payload: what another device of the recipient
    /// account needs to take its message key and keep its sessions in step when one device has filed the message.
    /// <code>
    /// entry-copy = "LLNATE" %x01 envelope-id payload-digest entry-count 1*entry   ; payload-digest = SHA-256(payload)
    /// </code>
    /// Null when no entry has that hint.
    /// </summary>
    public byte[]? CopyFor(ReadOnlySpan<byte> hint)
    {
        var writer = new WireWriter(128);
        int count = 0;
        foreach (var entry in GetEntries())
        {
            if (entry.Hint.SequenceEqual(hint))
            {
                writer.WriteBytes(entry.Hint);
                writer.WriteByte(entry.Kind);
                writer.WriteVector16(entry.Body);
                count++;
            }
        }

        if (count == 0)
        {
            return null;
        }

        var copy = new WireWriter(PrefixLength + 32 + 1 + writer.Length);
        copy.WriteBytes(CopyMagic);
        copy.WriteByte(Version);
        copy.WriteBytes(EnvelopeId);
        copy.WriteBytes(PayloadDigest);
        copy.WriteByte((byte)count);
        copy.WriteBytes(writer.Written);
        return copy.ToArray();
    }

    /// <summary>Splits an entry copy (<see cref="CopyFor"/>); its prefix is the envelope's, as every entry's context names it.</summary>
    /// <exception cref="NativeException">It is malformed or has too many entries.</exception>
    public static NativeEnvelope ParseCopy(ReadOnlySpan<byte> copy, NativeOptions options)
    {
        var reader = new WireReader(copy, "native entry copy");
        if (!reader.ReadBytes(CopyMagic.Length).SequenceEqual(CopyMagic))
        {
            throw new NativeException(NativeError.Malformed, "Not a Letterlock native entry copy (bad magic).");
        }

        if (reader.ReadByte() != Version)
        {
            throw new NativeException(NativeError.Malformed, "Unsupported native entry copy version.");
        }

        var prefix = new byte[PrefixLength];
        Magic.CopyTo(prefix);
        prefix[6] = Version;
        reader.ReadBytes(EnvelopeIdLength).CopyTo(prefix.AsSpan(7));
        var digest = reader.ReadBytes(32).ToArray();
        int start = ReadEntries(ref reader, options, out int count);
        var entries = copy[start..reader.Position];
        reader.ExpectEnd();
        return new NativeEnvelope(prefix, entries, count, [], digest);
    }

    /// <summary>Reads entry-count and the entries; returns where they start (the reader ends after them).</summary>
    private static int ReadEntries(ref WireReader reader, NativeOptions options, out int count)
    {
        count = reader.ReadByte();
        if (count == 0)
        {
            throw new NativeException(NativeError.Malformed, "A native envelope has at least one entry.");
        }

        if (count > options.MaxEntries)
        {
            throw new NativeException(NativeError.LimitExceeded, $"The native envelope has more entries than {nameof(NativeOptions.MaxEntries)}.");
        }

        var entriesStart = reader.Position;
        for (int i = 0; i < count; i++)
        {
            reader.ReadBytes(NativeCrypto.DeviceHintLength);
            var kind = reader.ReadByte();
            if (kind is not (KindStart or KindRatchet))
            {
                throw new NativeException(NativeError.Malformed, "Unknown native envelope entry kind.");
            }

            reader.ReadVector16();
        }

        return entriesStart;
    }

    /// <summary>The entries, in order.</summary>
    public EntryEnumerator GetEntries() => new(Entries);

    /// <summary>One entry.</summary>
    public readonly ref struct Entry
    {
        public Entry(ReadOnlySpan<byte> hint, byte kind, ReadOnlySpan<byte> body)
        {
            Hint = hint;
            Kind = kind;
            Body = body;
        }

        public ReadOnlySpan<byte> Hint { get; }

        public byte Kind { get; }

        public ReadOnlySpan<byte> Body { get; }
    }

    /// <summary>Walks entries already validated by <see cref="Parse"/>.</summary>
    public ref struct EntryEnumerator
    {
        private readonly ReadOnlySpan<byte> _entries;
        private int _position;

        public EntryEnumerator(ReadOnlySpan<byte> entries)
        {
            _entries = entries;
            _position = 0;
            Current = default;
        }

        public Entry Current { get; private set; }

        public readonly EntryEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_position >= _entries.Length)
            {
                return false;
            }

            var hint = _entries.Slice(_position, NativeCrypto.DeviceHintLength);
            var kind = _entries[_position + NativeCrypto.DeviceHintLength];
            int length = BinaryPrimitives.ReadUInt16BigEndian(_entries[(_position + NativeCrypto.DeviceHintLength + 1)..]);
            var body = _entries.Slice(_position + EntryOverhead, length);
            _position += EntryOverhead + length;
            Current = new Entry(hint, kind, body);
            return true;
        }
    }
}
