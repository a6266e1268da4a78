using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Letterlock.Client.Validation;

/// <summary>
/// A safety number: 60 digits that two people read to each other (or compare on two screens) to check, at once, that
/// each holds the other's key (docs/FORMATS.md, "Safety numbers"). It is Signal's numeric fingerprint construction
/// over OpenPGP fingerprints: each side's half is 30 digits from 5200 iterations of SHA-512 over its fingerprint and
/// address; the halves are put in a fixed order, so both people see the same 60 digits. One differing key changes
/// its half completely.
/// </summary>
public static class SafetyNumber
{
    /// <summary>Iterations of SHA-512 per half (Signal's figure: slows down a search for a colliding key).</summary>
    public const int Iterations = 5200;

    private const ushort Version = 0;

    /// <summary>The safety number of two addresses with their keys' fingerprints, as 12 groups of 5 digits.</summary>
    public static string Compute(string addressA, KeyFingerprint keyA, string addressB, KeyFingerprint keyB)
    {
        ArgumentNullException.ThrowIfNull(addressA);
        ArgumentNullException.ThrowIfNull(addressB);
        string a = Half(MailAddress.Normalize(addressA), keyA);
        string b = Half(MailAddress.Normalize(addressB), keyB);
        string digits = string.CompareOrdinal(a, b) <= 0 ? a + b : b + a;
        var groups = new StringBuilder(72);
        for (int i = 0; i < digits.Length; i += 5)
        {
            if (i > 0)
            {
                groups.Append(' ');
            }

            groups.Append(digits, i, 5);
        }

        return groups.ToString();
    }

    /// <summary>Whether a number a person typed (spaces and other separators ignored) is this one.</summary>
    public static bool Matches(string expected, string? typed)
    {
        ArgumentNullException.ThrowIfNull(expected);
        if (typed is null || typed.Length > 200)
        {
            return false;
        }

        var digits = new string(typed.Where(char.IsAsciiDigit).ToArray());
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(digits), Encoding.ASCII.GetBytes(expected.Replace(" ", "", StringComparison.Ordinal)));
    }

    /// <summary>
    /// The 30 digits of one side (its address normalized by the caller): <c>h = SHA-512(version || key || address)</c>, then 5200 times <c>h = SHA-512(h || key)</c>;
    /// the first 30 bytes of <c>h</c> as six 5-byte big-endian numbers, each modulo 100000, written with 5 digits.
    /// </summary>
    public static string Half(string address, KeyFingerprint key)
    {
        byte[] keyBytes = Convert.FromHexString(key.Hex);
        byte[] id = Encoding.UTF8.GetBytes(address);
        var input = new byte[2 + keyBytes.Length + id.Length];
        BinaryPrimitives.WriteUInt16BigEndian(input, Version);
        keyBytes.CopyTo(input, 2);
        id.CopyTo(input, 2 + keyBytes.Length);
        byte[] hash = SHA512.HashData(input);
        var round = new byte[hash.Length + keyBytes.Length];
        for (int i = 0; i < Iterations; i++)
        {
            hash.CopyTo(round, 0);
            keyBytes.CopyTo(round, hash.Length);
            hash = SHA512.HashData(round);
        }

        var digits = new StringBuilder(30);
        for (int chunk = 0; chunk < 6; chunk++)
        {
            ulong value = 0;
            for (int i = 0; i < 5; i++)
            {
                value = (value << 8) | hash[chunk * 5 + i];
            }

            digits.Append((value % 100_000).ToString("D5", CultureInfo.InvariantCulture));
        }

        return digits.ToString();
    }
}
