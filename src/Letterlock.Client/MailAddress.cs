namespace Letterlock.Client;

/// <summary>
/// Normalizes mail addresses for lookups (accounts, contacts, pins). Local parts are treated as
/// case-insensitive, as every mail system in practice does and as WKD's hashing requires.
/// </summary>
public static class MailAddress
{
    /// <summary>The longest address accepted (RFC 5321, 4.5.3.1.3: a path is at most 256 octets with its brackets).</summary>
    public const int MaxLength = 254;

    /// <summary>Returns the normalized address or null when it is not a plausible <c>local@domain</c>.</summary>
    public static string? TryNormalize(string? address)
    {
        if (address is null)
        {
            return null;
        }

        var trimmed = address.Trim();
        if (trimmed.Length is 0 or > MaxLength)
        {
            return null;
        }

        int at = trimmed.LastIndexOf('@');
        if (at <= 0 || at == trimmed.Length - 1)
        {
            return null;
        }

        foreach (var c in trimmed)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c) || c is '<' or '>' or ',' or ';')
            {
                return null;
            }
        }

        var domain = trimmed[(at + 1)..];
        if (domain.StartsWith('.') || domain.EndsWith('.') || domain.Contains("..", StringComparison.Ordinal) || domain.Contains('@', StringComparison.Ordinal))
        {
            return null;
        }

        return trimmed.ToLowerInvariant();
    }

    /// <summary>Returns the normalized address or throws <see cref="FormatException"/> naming the problem.</summary>
    public static string Normalize(string address) =>
        TryNormalize(address) ?? throw new FormatException($"'{Truncate(address)}' is not a mail address of the form name@domain");

    /// <summary>Splits a normalized address into local part and domain.</summary>
    public static (string LocalPart, string Domain) Split(string address)
    {
        int at = address.LastIndexOf('@');
        return at > 0 ? (address[..at], address[(at + 1)..]) : throw new FormatException("not a mail address");
    }

    private static string Truncate(string? text) => text is null ? "" : text.Length <= 80 ? text : text[..80] + "...";
}
