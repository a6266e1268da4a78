using System.Globalization;
using System.Text;
using ICU4N.Text;

namespace Letterlock.Client.Accounts;

/// <summary>
/// Turns a typed password into the bytes OPAQUE sees, after the OpaqueString profile of PRECIS (RFC 8265, 4.2):
/// the same password typed on two systems (composed or decomposed accents, a no-break space) is the same bytes.
/// </summary>
/// <remarks>
/// RFC 8265, 4.2.1: "1. Additional Mapping Rule: Any instances of non-ASCII space MUST be mapped to ASCII space
/// (U+0020) ... 4. Normalization Rule: Unicode Normalization Form C (NFC) MUST be applied to all strings."
/// Control characters are refused (the profile's FreeformClass disallows them). NFC comes from ICU4N: the process
/// runs with invariant globalization, where <see cref="string.Normalize()"/> returns its input unchanged.
/// </remarks>
public static class PasswordText
{
    /// <summary>The longest password accepted, in UTF-8 bytes after preparation.</summary>
    public const int MaxBytes = 1024;

    private static readonly Normalizer2 Nfc = Normalizer2.NFCInstance;

    /// <summary>The prepared password as a string (NFC, non-ASCII spaces mapped to U+0020).</summary>
    /// <exception cref="ArgumentException">Empty, a control character, or longer than <see cref="MaxBytes"/> (the message holds no part of it).</exception>
    public static string Prepare(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        var mapped = new StringBuilder(password.Length);
        foreach (char c in password)
        {
            var category = char.GetUnicodeCategory(c);
            if (category == UnicodeCategory.Control)
            {
                throw new ArgumentException("A password cannot hold control characters.", nameof(password));
            }

            mapped.Append(category == UnicodeCategory.SpaceSeparator ? ' ' : c);
        }

        string prepared = Nfc.Normalize(mapped.ToString());
        int length = Encoding.UTF8.GetByteCount(prepared);
        if (length is 0 or > MaxBytes)
        {
            throw new ArgumentException($"A password is 1 to {MaxBytes} bytes.", nameof(password));
        }

        return prepared;
    }

    /// <summary>The prepared password's UTF-8 bytes: what OPAQUE registers and logs in with. Zero them after use.</summary>
    /// <exception cref="ArgumentException">See <see cref="Prepare"/>.</exception>
    public static byte[] Bytes(string password) => Encoding.UTF8.GetBytes(Prepare(password));
}
