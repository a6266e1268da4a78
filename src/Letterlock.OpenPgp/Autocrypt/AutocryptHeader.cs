using System.Text;

namespace Letterlock.OpenPgp.Autocrypt;

/// <summary>The sender's encryption preference (Autocrypt Level 1, section 2.1.2).</summary>
public enum PreferEncrypt
{
    /// <summary>No preference stated (also any unknown value).</summary>
    NoPreference,
    /// <summary>The sender wants encryption whenever the peer also says mutual.</summary>
    Mutual,
}

/// <summary>Why an <c>Autocrypt</c> header was not accepted.</summary>
public enum AutocryptHeaderStatus
{
    /// <summary>The header is valid.</summary>
    Valid,
    /// <summary>The <c>addr</c> attribute is missing or does not match the From address.</summary>
    AddressMismatch,
    /// <summary>A required attribute (<c>addr</c>, <c>keydata</c>) is missing or an attribute is repeated.</summary>
    MissingAttribute,
    /// <summary>An unknown attribute without a leading underscore (a "critical" attribute).</summary>
    UnknownCriticalAttribute,
    /// <summary>The header exceeds <see cref="OpenPgpOptions.MaxAutocryptHeaderSize"/>.</summary>
    TooLarge,
    /// <summary>The key data is not base64 or not an OpenPGP certificate that can encrypt.</summary>
    BadKeyData,
    /// <summary>The header is syntactically broken.</summary>
    Malformed,
}

/// <summary>A parsed, validated <c>Autocrypt</c> or <c>Autocrypt-Gossip</c> header.</summary>
public sealed record AutocryptHeader(string Address, PreferEncrypt PreferEncrypt, Certificate Certificate)
{
    /// <summary>The header field name for the sender's own key.</summary>
    public const string HeaderName = "Autocrypt";

    /// <summary>The header field name for keys of other recipients, only valid inside the encrypted payload.</summary>
    public const string GossipHeaderName = "Autocrypt-Gossip";

    /// <summary>
    /// Creates the header for <paramref name="certificate"/>, minimised to the primary key, the
    /// user ID for <paramref name="address"/> and the current encryption subkey (section 2.1.1).
    /// </summary>
    public static AutocryptHeader Create(string address, Certificate certificate, PreferEncrypt preferEncrypt, DateTimeOffset? now = null) =>
        new(address, preferEncrypt, certificate.Minimize(address, now ?? DateTimeOffset.UtcNow));

    /// <summary>
    /// The header value: <c>addr=...; [prefer-encrypt=mutual; ]keydata=BASE64</c>, with keydata
    /// folded into 76-character lines so the header can be written as is.
    /// </summary>
    public string ToHeaderValue(bool gossip = false)
    {
        var builder = new StringBuilder();
        builder.Append("addr=").Append(Address).Append("; ");
        if (PreferEncrypt == PreferEncrypt.Mutual && !gossip)
        {
            builder.Append("prefer-encrypt=mutual; ");
        }

        builder.Append("keydata=");
        var base64 = Convert.ToBase64String(Certificate.Export(armored: false));
        for (var i = 0; i < base64.Length; i += 76)
        {
            builder.Append("\r\n ").Append(base64, i, Math.Min(76, base64.Length - i));
        }

        return builder.ToString();
    }

    /// <summary>
    /// Parses one header value with the Level 1 validity rules (section 2.1): <c>addr</c> must
    /// equal <paramref name="fromAddress"/> (case-insensitively; pass null for gossip, where the
    /// address is checked against the recipients instead), an unknown attribute not starting with
    /// <c>_</c> makes the header invalid, <c>keydata</c> must be a certificate that can encrypt.
    /// </summary>
    public static AutocryptHeaderStatus TryParse(string value, string? fromAddress, out AutocryptHeader? header, OpenPgpOptions? options = null, DateTimeOffset? now = null)
    {
        header = null;
        options ??= OpenPgpOptions.Default;
        if (value.Length > options.MaxAutocryptHeaderSize)
        {
            return AutocryptHeaderStatus.TooLarge;
        }

        // autocrypt-header = attribute *( ";" attribute ); attribute = name "=" value
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in value.Split(';'))
        {
            var trimmed = part.Trim();
            if (trimmed.Length == 0)
            {
                continue;
            }

            var eq = trimmed.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return AutocryptHeaderStatus.Malformed;
            }

            var name = trimmed[..eq].Trim();
            var attributeValue = trimmed[(eq + 1)..].Trim();
            if (name.StartsWith('_'))
            {
                continue; // non-critical: ignored
            }

            if (name is not ("addr" or "prefer-encrypt" or "keydata"))
            {
                return AutocryptHeaderStatus.UnknownCriticalAttribute;
            }

            if (!attributes.TryAdd(name, attributeValue))
            {
                return AutocryptHeaderStatus.MissingAttribute;
            }
        }

        if (!attributes.TryGetValue("addr", out var address) || !attributes.TryGetValue("keydata", out var keyData))
        {
            return AutocryptHeaderStatus.MissingAttribute;
        }

        if (fromAddress is not null && !string.Equals(address, fromAddress.Trim(), StringComparison.OrdinalIgnoreCase))
        {
            return AutocryptHeaderStatus.AddressMismatch;
        }

        byte[] binary;
        try
        {
            binary = Convert.FromBase64String(string.Concat(keyData.Where(c => !char.IsWhiteSpace(c))));
        }
        catch (FormatException)
        {
            return AutocryptHeaderStatus.BadKeyData;
        }

        Certificate certificate;
        try
        {
            certificate = Certificate.Parse(binary, options);
        }
        catch (OpenPgpException)
        {
            return AutocryptHeaderStatus.BadKeyData;
        }

        if (certificate.SelectEncryptionKey(now ?? DateTimeOffset.UtcNow) is null)
        {
            return AutocryptHeaderStatus.BadKeyData;
        }

        var prefer = attributes.GetValueOrDefault("prefer-encrypt") == "mutual" ? PreferEncrypt.Mutual : PreferEncrypt.NoPreference;
        header = new AutocryptHeader(address, prefer, certificate);
        return AutocryptHeaderStatus.Valid;
    }
}
