using System.Text;

namespace Letterlock.Client.Mail;

/// <summary>
/// What the account's own provider recorded about a message's sender when it arrived: the DMARC result for the From
/// domain, from the <c>Authentication-Results</c> field the provider puts first in every message it seals to the inbox
/// (docs/ARCHITECTURE.md, MX; the provider removes fields that claim its name before adding its own).
/// </summary>
/// <param name="Dmarc">The DMARC result (<c>pass</c>, <c>fail</c>, <c>none</c>, <c>temperror</c>, <c>permerror</c>), or null.</param>
/// <param name="Policy">The From domain's published policy (<c>none</c>, <c>quarantine</c>, <c>reject</c>), or null.</param>
/// <param name="HeaderFrom">The From domain the result is about, lower case, or null.</param>
public sealed record ArrivalAuthentication(string? Dmarc, string? Policy, string? HeaderFrom)
{
    /// <summary>Longest field value read (the provider writes about 200 bytes).</summary>
    public const int MaxFieldLength = 4096;

    /// <summary>Whether DMARC passed, with alignment, for <paramref name="domain"/> (the provider evaluates the From domain only).</summary>
    public bool PassesFor(string domain) =>
        Dmarc == "pass" && HeaderFrom is not null && string.Equals(HeaderFrom, domain, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether DMARC failed for the From domain.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Failed => Dmarc == "fail";

    /// <summary>Whether DMARC failed and the domain asks receivers to reject or quarantine such mail: a forged sender.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool FailedUnderEnforcingPolicy => Failed && Policy is "reject" or "quarantine";

    /// <summary>
    /// Reads the provider's result from the first header field of a message taken out of the account's inbox (null when
    /// the first field is not <c>Authentication-Results</c>, e.g. mail that did not come through a provider).
    /// </summary>
    public static ArrivalAuthentication? FromProviderInbox(ReadOnlySpan<byte> message)
    {
        // field = field-name ":" unstructured CRLF, folded lines start with WSP (RFC 5322, 2.2 and 2.2.3)
        const string Name = "Authentication-Results:";
        if (message.Length < Name.Length || !Encoding.ASCII.GetString(message[..Name.Length]).Equals(Name, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        int end = Name.Length;
        while (end < message.Length && end - Name.Length < MaxFieldLength)
        {
            int lf = message[end..].IndexOf((byte)'\n');
            if (lf < 0)
            {
                end = message.Length;
                break;
            }

            end += lf + 1;
            if (end >= message.Length || message[end] is not ((byte)' ' or (byte)'\t'))
            {
                break;
            }
        }

        return Parse(Encoding.ASCII.GetString(message[Name.Length..Math.Min(end, Name.Length + MaxFieldLength)]));
    }

    /// <summary>
    /// Parses an <c>Authentication-Results</c> value for its first <c>dmarc</c> result:
    /// <c>authres-payload = [CFWS] authserv-id [ CFWS authres-version ] ( no-result / 1*resinfo ) [CFWS]</c>,
    /// <c>resinfo = [CFWS] ";" methodspec [ CFWS reasonspec ] [ CFWS 1*propspec ]</c> (RFC 8601, 2.2). Comments are
    /// removed first; quoted property values are not used by the provider and are read as plain tokens.
    /// </summary>
    public static ArrivalAuthentication Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string text = RemoveComments(value.Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal));
        string[] parts = text.Split(';');
        foreach (string resinfo in parts.Skip(1))
        {
            string[] tokens = resinfo.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length == 0 || !tokens[0].StartsWith("dmarc=", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            string result = tokens[0]["dmarc=".Length..].ToLowerInvariant();
            string? policy = null, from = null;
            foreach (string token in tokens.Skip(1))
            {
                int eq = token.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    continue;
                }

                string property = token[..eq].ToLowerInvariant();
                string propertyValue = token[(eq + 1)..].Trim('"').ToLowerInvariant();
                if (property == "policy.dmarc")
                {
                    policy = propertyValue;
                }
                else if (property == "header.from")
                {
                    from = propertyValue;
                }
            }

            return new ArrivalAuthentication(result, policy, from);
        }

        return new ArrivalAuthentication(null, null, null);
    }

    // CFWS comments: "(" *([FWS] ccontent) [FWS] ")", nested (RFC 5322, 3.2.2).
    private static string RemoveComments(string value)
    {
        var text = new StringBuilder(value.Length);
        int depth = 0;
        bool escaped = false;
        foreach (char c in value)
        {
            if (depth > 0)
            {
                if (escaped)
                {
                    escaped = false;
                }
                else if (c == '\\')
                {
                    escaped = true;
                }
                else if (c == '(')
                {
                    depth++;
                }
                else if (c == ')')
                {
                    depth--;
                }

                continue;
            }

            if (c == '(')
            {
                depth = 1;
                continue;
            }

            text.Append(c);
        }

        return text.ToString();
    }
}
