using System.Globalization;
using System.Text;

namespace Letterlock.Client.Validation;

/// <summary>
/// An OpenPGP key fingerprint: 40 hex digits for v4 keys (RFC 4880, 12.2) or 64 for v6 keys
/// (RFC 9580, 5.5.4.3). Kept as upper-case hex so comparisons are ordinal.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(KeyFingerprintJsonConverter))]
public readonly record struct KeyFingerprint
{
    private KeyFingerprint(string hex) => Hex = hex;

    /// <summary>Upper-case hex digits without separators.</summary>
    public string Hex { get; }

    /// <summary>
    /// Parses a fingerprint as people write it: hex digits with optional spaces, colons or an
    /// <c>0x</c> prefix (a user reading it off a QR code or another device).
    /// </summary>
    public static bool TryParse(string? text, out KeyFingerprint fingerprint)
    {
        fingerprint = default;
        if (string.IsNullOrWhiteSpace(text) || text.Length > 200)
        {
            return false;
        }

        var span = text.AsSpan().Trim();
        if (span.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            span = span[2..];
        }

        var hex = new StringBuilder(64);
        foreach (var c in span)
        {
            if (char.IsAsciiHexDigit(c))
            {
                hex.Append(char.ToUpperInvariant(c));
            }
            else if (c is not (' ' or ':' or '\t'))
            {
                return false;
            }
        }

        if (hex.Length is not (40 or 64))
        {
            return false;
        }

        fingerprint = new KeyFingerprint(hex.ToString());
        return true;
    }

    /// <summary>Parses or throws <see cref="FormatException"/>.</summary>
    public static KeyFingerprint Parse(string text) =>
        TryParse(text, out var fingerprint)
            ? fingerprint
            : throw new FormatException("A fingerprint is 40 (v4) or 64 (v6) hexadecimal digits.");

    /// <summary>Makes a fingerprint from its raw bytes (20 or 32).</summary>
    public static KeyFingerprint FromBytes(ReadOnlySpan<byte> bytes) =>
        bytes.Length is 20 or 32
            ? new KeyFingerprint(Convert.ToHexString(bytes))
            : throw new ArgumentException("A fingerprint is 20 (v4) or 32 (v6) bytes.", nameof(bytes));

    /// <summary>Groups of four digits, the way people compare fingerprints aloud.</summary>
    public string ToDisplayString()
    {
        var hex = Hex ?? string.Empty;
        var builder = new StringBuilder(hex.Length + hex.Length / 4);
        for (int i = 0; i < hex.Length; i += 4)
        {
            if (i > 0)
            {
                builder.Append(' ');
            }

            builder.Append(hex, i, Math.Min(4, hex.Length - i));
        }

        return builder.ToString();
    }

    /// <inheritdoc/>
    public override string ToString() => Hex ?? string.Empty;

    internal static string Format(KeyFingerprint? fingerprint) =>
        fingerprint is { } f ? f.ToDisplayString() : "-";

    internal static KeyFingerprint FromStored(string hex) =>
        TryParse(hex, out var f) ? f : throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"stored fingerprint of length {hex.Length} is malformed"));
}
