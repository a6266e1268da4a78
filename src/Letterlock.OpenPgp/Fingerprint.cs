using System.Globalization;

namespace Letterlock.OpenPgp;

/// <summary>A v4 OpenPGP key fingerprint (20 bytes), shown as 40 upper-case hex digits.</summary>
public readonly record struct Fingerprint
{
    /// <summary>The fingerprint as 40 upper-case hex digits.</summary>
    public string Hex { get; }

    private Fingerprint(string hex) => Hex = hex;

    /// <summary>Creates a fingerprint from its 20 raw bytes.</summary>
    public static Fingerprint FromBytes(ReadOnlySpan<byte> bytes) =>
        bytes.Length == 20
            ? new Fingerprint(Convert.ToHexString(bytes))
            : throw new ArgumentException("a v4 fingerprint has 20 bytes", nameof(bytes));

    /// <summary>Parses 40 hex digits, ignoring spaces and an optional <c>0x</c> prefix.</summary>
    public static Fingerprint Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var clean = text.Replace(" ", "", StringComparison.Ordinal);
        if (clean.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            clean = clean[2..];
        }

        if (clean.Length != 40 || !clean.All(Uri.IsHexDigit))
        {
            throw new FormatException("a v4 fingerprint is 40 hex digits");
        }

        return new Fingerprint(clean.ToUpperInvariant());
    }

    /// <summary>The raw 20 bytes.</summary>
    public byte[] ToBytes() => Convert.FromHexString(Hex);

    /// <summary>The key ID: the low 64 bits of a v4 fingerprint.</summary>
    public KeyId KeyId => new(ulong.Parse(Hex.AsSpan(24), NumberStyles.HexNumber, CultureInfo.InvariantCulture));

    /// <inheritdoc/>
    public override string ToString() => Hex ?? "";
}

/// <summary>A 64-bit OpenPGP key ID, shown as 16 upper-case hex digits.</summary>
public readonly record struct KeyId(ulong Value)
{
    /// <summary>Converts BouncyCastle's signed representation.</summary>
    internal static KeyId From(long value) => new(unchecked((ulong)value));

    internal long AsLong => unchecked((long)Value);

    /// <inheritdoc/>
    public override string ToString() => Value.ToString("X16", CultureInfo.InvariantCulture);
}
