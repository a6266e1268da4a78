using System.Text.RegularExpressions;

namespace Letterlock.Relay.Delivery;

/// <summary>What happened to one recipient in one attempt.</summary>
public enum RecipientStatus
{
    /// <summary>The remote server accepted responsibility (250 after DATA).</summary>
    Delivered,

    /// <summary>A temporary failure: try again later.</summary>
    Deferred,

    /// <summary>A permanent failure: bounce.</summary>
    Failed,
}

/// <summary>The result for one recipient.</summary>
/// <param name="Recipient">The address.</param>
/// <param name="Status">The outcome.</param>
/// <param name="EnhancedStatus">The RFC 3463 status (<c>2.0.0</c>, <c>4.4.1</c>, <c>5.1.1</c>, ...).</param>
/// <param name="Diagnostic">
/// The remote reply as <c>smtp; 550 5.1.1 ...</c> (RFC 3464 Diagnostic-Code form) when the server answered, else our
/// own reason (no secrets, no content).
/// </param>
/// <param name="RemoteMta">The MX host that answered, if any.</param>
public sealed record RecipientResult(string Recipient, RecipientStatus Status, string EnhancedStatus, string Diagnostic, string? RemoteMta);

/// <summary>How the connection of an attempt was secured, for logs and tests.</summary>
/// <param name="MxHost">The host connected to.</param>
/// <param name="Encrypted">Whether TLS was used.</param>
/// <param name="Authenticated">Whether the server was authenticated (DANE or PKIX under MTA-STS enforce).</param>
/// <param name="Policy">The policy that governed it.</param>
/// <param name="Protocol">The TLS protocol, e.g. <c>Tls13</c>, when encrypted.</param>
public sealed record ConnectionSecurity(string MxHost, bool Encrypted, bool Authenticated, Tls.TlsPolicyType Policy, string? Protocol);

/// <summary>The result of delivering one message to one destination.</summary>
/// <param name="Recipients">One result per recipient, in the order given.</param>
/// <param name="Security">The connection used, or null when none was established.</param>
public sealed record DeliveryAttemptResult(IReadOnlyList<RecipientResult> Recipients, ConnectionSecurity? Security)
{
    /// <summary>True when every recipient was delivered.</summary>
    public bool AllDelivered => Recipients.All(r => r.Status == RecipientStatus.Delivered);
}

/// <summary>Reads the enhanced status code at the start of a reply text (RFC 2034, 4).</summary>
internal static partial class EnhancedStatus
{
    // status-code = class "." subject "." detail ; class = "2" / "4" / "5"   (RFC 3463, 2)
    [GeneratedRegex(@"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    public static string From(int code, string? text)
    {
        var match = Pattern().Match(text ?? string.Empty);
        if (match.Success && match.Groups[1].Value[0] == (char)('0' + (code / 100)))
        {
            return match.Value;
        }

        return code switch
        {
            >= 200 and < 300 => "2.0.0",
            >= 400 and < 500 => "4.0.0",
            _ => "5.0.0",
        };
    }

    /// <summary>The reply as an RFC 3464 Diagnostic-Code value: one line, printable ASCII, bounded.</summary>
    public static string Diagnostic(int code, string? text)
    {
        string clean = new((text ?? string.Empty).Select(c => c is >= ' ' and <= '~' ? c : ' ').ToArray());
        clean = string.Join(' ', clean.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        if (clean.Length > 400)
        {
            clean = clean[..400];
        }

        return $"smtp; {code} {clean}".TrimEnd();
    }
}
