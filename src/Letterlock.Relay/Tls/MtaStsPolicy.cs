using System.Globalization;

namespace Letterlock.Relay.Tls;

/// <summary>The mode of an MTA-STS policy (RFC 8461, 3.2).</summary>
public enum MtaStsMode
{
    /// <summary>No policy: deliver as without MTA-STS.</summary>
    None,

    /// <summary>Check and report failures, but deliver anyway.</summary>
    Testing,

    /// <summary>Deliver only to a matching MX over TLS with a valid certificate.</summary>
    Enforce,
}

/// <summary>An MTA-STS policy as fetched from <c>https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c>.</summary>
/// <param name="Mode">The mode.</param>
/// <param name="MxPatterns">The allowed MX host names; <c>*.example.com</c> matches exactly one extra label.</param>
/// <param name="MaxAge">How long the policy may be cached.</param>
public sealed record MtaStsPolicy(MtaStsMode Mode, IReadOnlyList<string> MxPatterns, TimeSpan MaxAge)
{
    /// <summary>The largest max_age RFC 8461 allows (31557600 seconds, about a year).</summary>
    public const long MaxAgeLimitSeconds = 31_557_600;

    /// <summary>
    /// Whether <paramref name="mxHost"/> matches one of the policy's patterns (RFC 8461, 4.1): an exact
    /// match, or <c>*.suffix</c> where the wildcard stands for exactly the left-most label.
    /// </summary>
    /// <param name="mxHost">The MX host name.</param>
    public bool Matches(string mxHost)
    {
        ArgumentNullException.ThrowIfNull(mxHost);
        string host = mxHost.TrimEnd('.');
        foreach (string pattern in MxPatterns)
        {
            if (pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                int dot = host.IndexOf('.', StringComparison.Ordinal);
                if (dot > 0 && string.Equals(host[(dot + 1)..], pattern[2..], StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
            else if (string.Equals(host, pattern, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Parses a policy body.
    /// <code>
    /// sts-policy-record = sts-policy-field *WSP *(sts-policy-term *WSP) [sts-policy-term *WSP]   (RFC 8461, 3.2)
    /// sts-policy-term   = LF / CRLF
    /// sts-policy-field  = sts-policy-version / sts-policy-mode / sts-policy-max-age / sts-policy-mx / sts-policy-extension
    /// field-delim       = ":" *WSP
    /// sts-policy-version-value = %s"STSv1"
    /// sts-policy-mode-value    = %s"testing" / %s"enforce" / %s"none"
    /// sts-policy-mx-value      = ["*."] Domain
    /// sts-policy-max-age-value = 1*10DIGIT
    /// </code>
    /// Field names are case-sensitive; unknown fields (extensions) are ignored; when a singular field repeats
    /// the first occurrence counts. <c>version</c>, <c>mode</c> and <c>max_age</c> are required, and at least
    /// one <c>mx</c> unless the mode is <c>none</c>.
    /// </summary>
    /// <param name="text">The body as text.</param>
    /// <param name="policy">The policy when valid.</param>
    /// <param name="error">Why it is invalid.</param>
    public static bool TryParse(string text, out MtaStsPolicy? policy, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        policy = null;
        string? version = null;
        string? mode = null;
        string? maxAge = null;
        var mx = new List<string>();
        foreach (string rawLine in text.Split('\n'))
        {
            string line = rawLine.EndsWith('\r') ? rawLine[..^1] : rawLine;
            line = line.TrimEnd(' ', '\t');
            if (line.Length == 0)
            {
                continue;
            }

            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                error = "a line is not 'field: value'";
                return false;
            }

            string name = line[..colon];
            string value = line[(colon + 1)..].TrimStart(' ', '\t');
            switch (name)
            {
                case "version":
                    version ??= value;
                    break;
                case "mode":
                    mode ??= value;
                    break;
                case "max_age":
                    maxAge ??= value;
                    break;
                case "mx":
                    if (!IsMxPattern(value))
                    {
                        error = "an mx value is not a host name pattern";
                        return false;
                    }

                    mx.Add(value.ToLowerInvariant());
                    break;
                default:
                    // sts-policy-extension: ignored
                    break;
            }
        }

        if (version != "STSv1")
        {
            error = "version is not STSv1";
            return false;
        }

        MtaStsMode parsedMode;
        switch (mode)
        {
            case "enforce":
                parsedMode = MtaStsMode.Enforce;
                break;
            case "testing":
                parsedMode = MtaStsMode.Testing;
                break;
            case "none":
                parsedMode = MtaStsMode.None;
                break;
            default:
                error = "mode is missing or unknown";
                return false;
        }

        if (maxAge is null || maxAge.Length is 0 or > 10 || !maxAge.All(char.IsAsciiDigit) ||
            !long.TryParse(maxAge, NumberStyles.None, CultureInfo.InvariantCulture, out long seconds))
        {
            error = "max_age is missing or not a number";
            return false;
        }

        if (parsedMode != MtaStsMode.None && mx.Count == 0)
        {
            error = "no mx pattern";
            return false;
        }

        // RFC 8461 3.2: values up to 31557600; larger ones are clamped rather than trusted for longer
        policy = new MtaStsPolicy(parsedMode, mx, TimeSpan.FromSeconds(Math.Min(seconds, MaxAgeLimitSeconds)));
        error = null;
        return true;
    }

    /// <summary>
    /// Parses the <c>_mta-sts</c> TXT record and returns its id.
    /// <code>
    /// sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]   (RFC 8461, 3.1)
    /// sts-field       = sts-id / sts-extension
    /// sts-field-delim = *WSP ";" *WSP
    /// sts-version     = %s"v=STSv1"
    /// sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
    /// </code>
    /// </summary>
    /// <param name="record">The concatenated TXT strings.</param>
    /// <param name="id">The policy id.</param>
    public static bool TryParseTxtRecord(string record, out string? id)
    {
        ArgumentNullException.ThrowIfNull(record);
        id = null;
        var fields = record.Split(';').Select(f => f.Trim(' ', '\t')).ToList();
        if (fields.Count < 2 || fields[0] != "v=STSv1")
        {
            return false;
        }

        foreach (string field in fields.Skip(1))
        {
            if (field.Length == 0)
            {
                continue;
            }

            int equals = field.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                return false;
            }

            if (field[..equals] == "id" && id is null)
            {
                string value = field[(equals + 1)..];
                if (value.Length is 0 or > 32 || !value.All(char.IsAsciiLetterOrDigit))
                {
                    return false;
                }

                id = value;
            }
        }

        return id is not null;
    }

    private static bool IsMxPattern(string value)
    {
        string host = value.StartsWith("*.", StringComparison.Ordinal) ? value[2..] : value;
        if (host.Length is 0 or > 253)
        {
            return false;
        }

        return host.Split('.').All(label => label.Length is > 0 and <= 63 && label[0] != '-' && label[^1] != '-' && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));
    }
}
