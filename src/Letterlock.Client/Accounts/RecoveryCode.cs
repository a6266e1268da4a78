using System.Security.Cryptography;
using System.Text;

namespace Letterlock.Client.Accounts;

/// <summary>Why a typed recovery code was not accepted.</summary>
public enum RecoveryCodeStatus
{
    /// <summary>The code is well formed and its check group matches.</summary>
    Valid,

    /// <summary>Not 32 code characters (dashes and spaces aside).</summary>
    WrongLength,

    /// <summary>A character outside the alphabet.</summary>
    InvalidCharacter,

    /// <summary>Well formed, but the check group does not match: a typo.</summary>
    ChecksumMismatch,
}

/// <summary>
/// The recovery code printed once at account creation: it recovers the account when every device and the
/// password are lost (docs/design/accounts.md, "Recovery code").
/// </summary>
/// <remarks>
/// <para>Encoding: 28 random characters (140 bits) and a check group of 4, written as eight dash-separated
/// groups of four, e.g. <c>7K3M-QX9D-...-CHCK</c>. The alphabet is Crockford's base32
/// (<c>0123456789ABCDEFGHJKMNPQRSTVWXYZ</c>: no I, L, O, U); reading is case-insensitive and takes
/// <c>O</c> as <c>0</c> and <c>I</c>/<c>L</c> as <c>1</c>, ignores spaces and dashes.</para>
/// <para>Check group: the first 20 bits of <c>SHA-256("letterlock-recovery-check-v1" || data characters)</c>,
/// as four characters. A single wrong character or a swap of two neighbours is caught except with
/// probability 2^-20; the code's strength is the 140 random bits, not the check.</para>
/// <para>Keys: <see cref="DeriveKey"/> is HKDF-SHA256 over the 28 canonical data characters (salt
/// <c>letterlock-recovery-v1</c>, info the purpose). With 140 bits of entropy no slow hash is needed.</para>
/// </remarks>
public sealed class RecoveryCode
{
    /// <summary>Characters of random data.</summary>
    public const int DataCharacters = 28;

    /// <summary>Characters of the check group.</summary>
    public const int CheckCharacters = 4;

    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    private readonly string _data;

    private RecoveryCode(string data) => _data = data;

    /// <summary>A fresh random code (140 bits).</summary>
    public static RecoveryCode Generate()
    {
        var chars = new char[DataCharacters];
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        }

        return new RecoveryCode(new string(chars));
    }

    /// <summary>Reads a code as a person typed it.</summary>
    public static RecoveryCodeStatus TryParse(string? text, out RecoveryCode? code)
    {
        code = null;
        var canonical = new StringBuilder(DataCharacters + CheckCharacters);
        foreach (char raw in text ?? "")
        {
            if (raw is '-' or ' ' or '\t')
            {
                continue;
            }

            char c = char.ToUpperInvariant(raw) switch
            {
                'O' => '0',
                'I' or 'L' => '1',
                var other => other,
            };
            if (Alphabet.IndexOf(c, StringComparison.Ordinal) < 0)
            {
                return RecoveryCodeStatus.InvalidCharacter;
            }

            canonical.Append(c);
            if (canonical.Length > DataCharacters + CheckCharacters)
            {
                return RecoveryCodeStatus.WrongLength;
            }
        }

        if (canonical.Length != DataCharacters + CheckCharacters)
        {
            return RecoveryCodeStatus.WrongLength;
        }

        string data = canonical.ToString(0, DataCharacters);
        if (!string.Equals(Check(data), canonical.ToString(DataCharacters, CheckCharacters), StringComparison.Ordinal))
        {
            return RecoveryCodeStatus.ChecksumMismatch;
        }

        code = new RecoveryCode(data);
        return RecoveryCodeStatus.Valid;
    }

    /// <summary>A 32-byte key for <paramref name="purpose"/> (e.g. the key pair the AMK is sealed to).</summary>
    public byte[] DeriveKey(string purpose) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.ASCII.GetBytes(_data), 32, "letterlock-recovery-v1"u8.ToArray(), Encoding.ASCII.GetBytes(purpose));

    /// <summary>The code as printed: eight groups of four characters.</summary>
    public override string ToString()
    {
        string all = _data + Check(_data);
        var builder = new StringBuilder(all.Length + 7);
        for (int i = 0; i < all.Length; i += 4)
        {
            if (i > 0)
            {
                builder.Append('-');
            }

            builder.Append(all, i, 4);
        }

        return builder.ToString();
    }

    private static string Check(string data)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.ASCII.GetBytes("letterlock-recovery-check-v1" + data), digest);
        int bits = (digest[0] << 12) | (digest[1] << 4) | (digest[2] >> 4);
        return new string([Alphabet[(bits >> 15) & 31], Alphabet[(bits >> 10) & 31], Alphabet[(bits >> 5) & 31], Alphabet[bits & 31]]);
    }
}
