using System.Security.Cryptography;
using System.Text;

namespace Letterlock.Client.Discovery;

/// <summary>
/// OpenPGP Web Key Directory lookups (draft-koch-openpgp-webkey-service, section 3.1):
/// <code>
/// advanced: https://openpgpkey.DOMAIN/.well-known/openpgpkey/DOMAIN/hu/HASH?l=LOCAL
/// direct:   https://DOMAIN/.well-known/openpgpkey/hu/HASH?l=LOCAL
/// HASH = z-base-32(SHA-1(lower-cased local part))
/// </code>
/// Only ASCII letters are lower-cased, as GnuPG does; the <c>l=</c> parameter carries the local part
/// as written, percent-encoded, so a server may serve a case-sensitive mailbox.
/// </summary>
public static class Wkd
{
    /// <summary>The hashed local part: 32 z-base-32 characters.</summary>
    public static string HashLocalPart(string localPart)
    {
        ArgumentNullException.ThrowIfNull(localPart);
        var lowered = new StringBuilder(localPart.Length);
        foreach (var c in localPart)
        {
            lowered.Append(c is >= 'A' and <= 'Z' ? (char)(c + 32) : c);
        }

        return ZBase32.Encode(SHA1.HashData(Encoding.UTF8.GetBytes(lowered.ToString())));
    }

    /// <summary>The advanced-method URL for <paramref name="address"/>.</summary>
    public static Uri AdvancedUri(string address)
    {
        var (local, domain) = SplitForWkd(address);
        return new Uri($"https://openpgpkey.{domain}/.well-known/openpgpkey/{domain}/hu/{HashLocalPart(local)}?l={Uri.EscapeDataString(local)}");
    }

    /// <summary>The advanced method's policy file: a site running the advanced method must serve it (section 4.5).</summary>
    public static Uri AdvancedPolicyUri(string address)
    {
        var (_, domain) = SplitForWkd(address);
        return new Uri($"https://openpgpkey.{domain}/.well-known/openpgpkey/{domain}/policy");
    }

    /// <summary>The direct-method URL for <paramref name="address"/>.</summary>
    public static Uri DirectUri(string address)
    {
        var (local, domain) = SplitForWkd(address);
        return new Uri($"https://{domain}/.well-known/openpgpkey/hu/{HashLocalPart(local)}?l={Uri.EscapeDataString(local)}");
    }

    private static (string Local, string Domain) SplitForWkd(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        int at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1)
        {
            throw new FormatException("not a mail address");
        }

        var domain = address[(at + 1)..].ToLowerInvariant();
        if (Uri.CheckHostName(domain) != UriHostNameType.Dns)
        {
            throw new FormatException("the domain is not a host name");
        }

        return (address[..at].Trim(), domain);
    }
}
