using System.Text;

namespace Letterlock.Transparency;

/// <summary>
/// The one canonical form of an address in the transparency directory. The VRF input, the commitment and
/// every lookup use it, so the provider (when publishing) and the client (when looking up and monitoring)
/// must both pass an address through <see cref="TryCanonicalize"/> first: "Bob@Example.ORG" and
/// "bob@example.org" are one entry, never two.
/// </summary>
/// <remarks>
/// canonical = lower-case(trim(address)) with exactly one "@" between a non-empty local part and a
/// non-empty domain, no white space or control characters, at most <see cref="TransparencyLimits.MaxAddressLength"/>
/// UTF-8 bytes. Lower-casing the local part follows practice (and WKD); providers that treat local parts
/// case-sensitively cannot have two addresses differing only in case in the directory.
/// </remarks>
public static class TransparencyAddress
{
    /// <summary>The canonical form of <paramref name="address"/>, or null when it is not a plausible <c>local@domain</c>.</summary>
    public static string? TryCanonicalize(string? address, TransparencyLimits? limits = null)
    {
        if (address is null)
        {
            return null;
        }

        string trimmed = address.Trim();
        int at = trimmed.IndexOf('@', StringComparison.Ordinal);
        if (at <= 0 || at != trimmed.LastIndexOf('@') || at == trimmed.Length - 1)
        {
            return null;
        }

        foreach (char c in trimmed)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return null;
            }
        }

        string canonical = trimmed.ToLowerInvariant();
        return Encoding.UTF8.GetByteCount(canonical) <= (limits ?? TransparencyLimits.Default).MaxAddressLength ? canonical : null;
    }

    /// <summary>The canonical form, or <see cref="ArgumentException"/> when the address is not one.</summary>
    public static string Canonicalize(string address, TransparencyLimits? limits = null) =>
        TryCanonicalize(address, limits) ?? throw new ArgumentException("Not an address of the form local@domain.", nameof(address));

    /// <summary>The domain part of a canonical address (the provider that is authoritative for it).</summary>
    public static string Domain(string canonicalAddress)
    {
        ArgumentNullException.ThrowIfNull(canonicalAddress);
        int at = canonicalAddress.LastIndexOf('@');
        return at > 0 ? canonicalAddress[(at + 1)..] : throw new ArgumentException("Not an address.", nameof(canonicalAddress));
    }
}
