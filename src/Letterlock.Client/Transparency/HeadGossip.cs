using Letterlock.Transparency;
using MimeKit;

namespace Letterlock.Client.Transparency;

/// <summary>
/// Tree-head gossip inside encrypted mail: the sender's client puts its provider's newest signed head into a
/// header field of the encrypted payload (a protected header, RFC 9788: it is never copied to the outer header
/// section), and the recipient's client checks it against its own view of that provider.
/// <code>
/// Letterlock-Tree-Head: BASE64(SignedTreeHead)      ; docs/FORMATS.md, one field per head
/// </code>
/// The field is placed on the root entity of the message body, which becomes the root of the cryptographic
/// payload. Receivers read it only from the decrypted payload; the bridge's <c>Letterlock-*</c> stripping
/// keeps it out of what the mail app shows.
/// </summary>
public static class HeadGossip
{
    /// <summary>The header field name.</summary>
    public const string HeaderName = "Letterlock-Tree-Head";

    /// <summary>Most gossiped heads read from one message (more are ignored).</summary>
    public const int MaxHeadsPerMessage = 4;

    /// <summary>Longest field value read (a head is about 300 bytes in base64).</summary>
    public const int MaxValueLength = 1024;

    /// <summary>Adds <paramref name="head"/> to the body of <paramref name="message"/> (nothing when null).</summary>
    public static void Attach(MimeMessage message, SignedTreeHead? head)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (head is null || message.Body is null)
        {
            return;
        }

        message.Body.Headers.Add(HeaderName, Convert.ToBase64String(head.ToBytes()));
    }

    /// <summary>Removes the field again (so the sender's own Sent copy does not keep it).</summary>
    public static void Detach(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.Body?.Headers.RemoveAll(HeaderName);
    }

    /// <summary>The values of the field in a decrypted payload's header section.</summary>
    public static IReadOnlyList<string> Read(HeaderList? headers)
    {
        if (headers is null)
        {
            return [];
        }

        return headers.Where(h => h.Field.Equals(HeaderName, StringComparison.OrdinalIgnoreCase)).Take(MaxHeadsPerMessage).Select(h => h.Value).ToList();
    }

    /// <summary>Decodes a field value (folding white space ignored); null when it is not a well-formed head.</summary>
    public static SignedTreeHead? TryParse(string? value, TransparencyLimits? limits = null)
    {
        if (value is null || value.Length > MaxValueLength)
        {
            return null;
        }

        string compact = string.Concat(value.Where(c => !char.IsWhiteSpace(c)));
        try
        {
            return SignedTreeHead.FromBytes(Convert.FromBase64String(compact), limits);
        }
        catch (Exception e) when (e is FormatException or TransparencyFormatException or ArgumentException)
        {
            return null;
        }
    }
}
