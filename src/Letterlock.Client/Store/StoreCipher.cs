using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Letterlock.Client.Store;

/// <summary>
/// Seals and opens the values of the local store under subkeys of the local key.
/// </summary>
/// <remarks>
/// Format of a sealed value: <c>version(1) || nonce(24) || XChaCha20-Poly1305 ciphertext+tag</c>.
/// XChaCha20's 192-bit nonces are drawn at random, so no nonce state has to survive a crash.
/// Associated data: <c>"letterlock.store" 0x00 version table 0x00 column 0x00 row-id(16) scope-id(16)</c>
/// where the scope is the owning account (zero for store-wide rows).
/// Subkeys come from HKDF-SHA256 over the 256-bit local key with distinct labels, so the search
/// index key and lookup key reveal nothing about the data key.
/// </remarks>
internal sealed class StoreCipher : IDisposable
{
    private const byte FormatVersion = 1;
    private const int NonceSize = 24;
    private const int TagSize = 16;
    private const int TokenSize = 16;
    private static readonly AeadAlgorithm Aead = AeadAlgorithm.XChaCha20Poly1305;
    private static readonly MacAlgorithm Mac = MacAlgorithm.HmacSha256;
    private static readonly byte[] AdPrefix = "letterlock.store\0"u8.ToArray();

    private readonly Key _dataKey;
    private readonly Key _indexKey;
    private readonly Key _lookupKey;

    private StoreCipher(Key dataKey, Key indexKey, Key lookupKey)
    {
        _dataKey = dataKey;
        _indexKey = indexKey;
        _lookupKey = lookupKey;
    }

    /// <summary>The size of the local key in bytes.</summary>
    public const int LocalKeySize = 32;

    public static StoreCipher FromLocalKey(ReadOnlySpan<byte> localKey)
    {
        if (localKey.Length != LocalKeySize)
        {
            throw new ArgumentException("The local key must be 32 bytes.", nameof(localKey));
        }

        var salt = "letterlock local store v1"u8;
        var hkdf = KeyDerivationAlgorithm.HkdfSha256;
        var parameters = new KeyCreationParameters { ExportPolicy = KeyExportPolicies.None };
        return new StoreCipher(
            hkdf.DeriveKey(localKey, salt, "data key"u8, Aead, parameters),
            hkdf.DeriveKey(localKey, salt, "search index key"u8, Mac, parameters),
            hkdf.DeriveKey(localKey, salt, "lookup key"u8, Mac, parameters));
    }

    /// <summary>Encrypts <paramref name="plaintext"/> for one row and column.</summary>
    public byte[] Seal(SealedColumn column, Guid rowId, Guid scopeId, ReadOnlySpan<byte> plaintext)
    {
        var output = new byte[1 + NonceSize + plaintext.Length + TagSize];
        output[0] = FormatVersion;
        var nonce = output.AsSpan(1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        Span<byte> ad = stackalloc byte[AssociatedDataSize(column)];
        WriteAssociatedData(ad, column, rowId, scopeId);
        Aead.Encrypt(_dataKey, nonce, ad, plaintext, output.AsSpan(1 + NonceSize));
        return output;
    }

    /// <summary>Encrypts a UTF-8 string.</summary>
    public byte[] SealString(SealedColumn column, Guid rowId, Guid scopeId, string plaintext) =>
        Seal(column, rowId, scopeId, Encoding.UTF8.GetBytes(plaintext));

    /// <summary>Decrypts a sealed value or throws <see cref="StoreIntegrityException"/>; never returns partial data.</summary>
    public byte[] Open(SealedColumn column, Guid rowId, Guid scopeId, ReadOnlySpan<byte> sealedValue)
    {
        if (sealedValue.Length < 1 + NonceSize + TagSize || sealedValue[0] != FormatVersion)
        {
            throw Corrupt(column);
        }

        var plaintext = new byte[sealedValue.Length - 1 - NonceSize - TagSize];
        Span<byte> ad = stackalloc byte[AssociatedDataSize(column)];
        WriteAssociatedData(ad, column, rowId, scopeId);
        if (!Aead.Decrypt(_dataKey, sealedValue.Slice(1, NonceSize), ad, sealedValue[(1 + NonceSize)..], plaintext))
        {
            throw Corrupt(column);
        }

        return plaintext;
    }

    /// <summary>Decrypts a sealed UTF-8 string.</summary>
    public string OpenString(SealedColumn column, Guid rowId, Guid scopeId, ReadOnlySpan<byte> sealedValue) =>
        Encoding.UTF8.GetString(Open(column, rowId, scopeId, sealedValue));

    /// <summary>
    /// A keyed-hash token for the search index: <c>HMAC-SHA256(index key, account || field || word)</c>
    /// truncated to 128 bits. The account is mixed in so tokens do not link accounts.
    /// </summary>
    public byte[] SearchToken(Guid accountId, byte field, ReadOnlySpan<byte> normalizedWord)
    {
        // Called once per indexed word (hundreds per message): the input and MAC stay on the stack.
        int length = 16 + 1 + normalizedWord.Length;
        Span<byte> input = length <= 512 ? stackalloc byte[length] : new byte[length];
        WriteGuid(input, accountId);
        input[16] = field;
        normalizedWord.CopyTo(input[17..]);
        Span<byte> mac = stackalloc byte[32];
        Mac.Mac(_indexKey, input, mac);
        return mac[..TokenSize].ToArray();
    }

    /// <summary>
    /// The search index's form of a token (<see cref="SearchToken"/>): its first 80 bits as 16 characters of
    /// lower-case base32 (<c>a-z2-7</c>), a bare word to SQLite FTS5. 80 bits keep accidental collisions
    /// between the words of one account negligible (a billion distinct words collide with odds of about 1 in 2.4 million).
    /// </summary>
    public string SearchTokenText(Guid accountId, byte field, ReadOnlySpan<byte> normalizedWord)
    {
        int length = 16 + 1 + normalizedWord.Length;
        Span<byte> input = length <= 512 ? stackalloc byte[length] : new byte[length];
        WriteGuid(input, accountId);
        input[16] = field;
        normalizedWord.CopyTo(input[17..]);
        Span<byte> mac = stackalloc byte[32];
        Mac.Mac(_indexKey, input, mac);
        return TokenText(mac);
    }

    /// <summary>The FTS5 bare word of a token: the first 10 bytes as 16 lower-case base32 characters.</summary>
    public static string TokenText(ReadOnlySpan<byte> token)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
        return string.Create(16, token[..10].ToArray(), static (chars, bytes) =>
        {
            ulong high = ((ulong)bytes[0] << 32) | ((ulong)bytes[1] << 24) | ((ulong)bytes[2] << 16) | ((ulong)bytes[3] << 8) | bytes[4];
            ulong low = ((ulong)bytes[5] << 32) | ((ulong)bytes[6] << 24) | ((ulong)bytes[7] << 16) | ((ulong)bytes[8] << 8) | bytes[9];
            for (int i = 0; i < 8; i++)
            {
                chars[7 - i] = alphabet[(int)(high & 31)];
                chars[15 - i] = alphabet[(int)(low & 31)];
                high >>= 5;
                low >>= 5;
            }
        });
    }

    /// <summary>
    /// A keyed-hash lookup key so a row can be found by a secret value (an address, a folder
    /// name) without storing that value: <c>HMAC-SHA256(lookup key, purpose 0x00 scope value)</c>.
    /// </summary>
    public byte[] LookupKey(string purpose, Guid scopeId, string value)
    {
        var purposeBytes = Encoding.ASCII.GetBytes(purpose);
        var valueBytes = Encoding.UTF8.GetBytes(value);
        var input = new byte[purposeBytes.Length + 1 + 16 + valueBytes.Length];
        purposeBytes.CopyTo(input, 0);
        WriteGuid(input.AsSpan(purposeBytes.Length + 1), scopeId);
        valueBytes.CopyTo(input, purposeBytes.Length + 17);
        return Mac.Mac(_lookupKey, input);
    }

    public void Dispose()
    {
        _dataKey.Dispose();
        _indexKey.Dispose();
        _lookupKey.Dispose();
    }

    internal static void WriteGuid(Span<byte> destination, Guid value)
    {
        if (!value.TryWriteBytes(destination, bigEndian: true, out _))
        {
            throw new ArgumentException("Destination too small for a GUID.", nameof(destination));
        }
    }

    internal static byte[] GuidBytes(Guid value)
    {
        var bytes = new byte[16];
        WriteGuid(bytes, value);
        return bytes;
    }

    internal static Guid ReadGuid(ReadOnlySpan<byte> bytes) =>
        bytes.Length == 16 ? new Guid(bytes, bigEndian: true) : throw new StoreIntegrityException("A stored identifier is malformed.");

    private static int AssociatedDataSize(SealedColumn column) =>
        AdPrefix.Length + 1 + column.Table.Length + 1 + column.Column.Length + 1 + 32;

    private static void WriteAssociatedData(Span<byte> ad, SealedColumn column, Guid rowId, Guid scopeId)
    {
        AdPrefix.CopyTo(ad);
        int at = AdPrefix.Length;
        ad[at++] = FormatVersion;
        at += Encoding.ASCII.GetBytes(column.Table, ad[at..]);
        ad[at++] = 0;
        at += Encoding.ASCII.GetBytes(column.Column, ad[at..]);
        ad[at++] = 0;
        WriteGuid(ad[at..], rowId);
        WriteGuid(ad[(at + 16)..], scopeId);
    }

    private static StoreIntegrityException Corrupt(SealedColumn column) =>
        new($"A stored value in {column.Table}.{column.Column} failed its integrity check (modified, truncated or moved).");
}
