using System.Text;
using System.Text.Json;

namespace Letterlock.Provider.Acme;

/// <summary>
/// An error document of an ACME server (RFC 8555, 6.7; RFC 7807 <c>application/problem+json</c>): its type URN,
/// the server's detail text, the HTTP status and, for a subproblem, the identifier it concerns.
/// </summary>
public sealed record AcmeProblem(string Type, string Detail, int Status, string? Identifier, IReadOnlyList<AcmeProblem> Subproblems)
{
    /// <summary>The one error type a client retries on its own (RFC 8555, 6.5).</summary>
    public const string BadNonce = "urn:ietf:params:acme:error:badNonce";

    /// <summary>The longest detail text kept: a server's text ends up in logs, so it is bounded and stripped of control characters.</summary>
    internal const int MaxDetailLength = 500;

    /// <summary>Reads a problem document; anything else (an HTML error page) becomes a problem naming the HTTP status.</summary>
    internal static AcmeProblem Parse(ReadOnlySpan<byte> body, string? contentType, int status)
    {
        if (contentType is not null && contentType.StartsWith("application/problem+json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                using var document = JsonDocument.Parse(body.ToArray());
                return FromJson(document.RootElement, status);
            }
            catch (JsonException)
            {
                // fall through: described by its status alone
            }
        }

        return new AcmeProblem("", $"HTTP {status} without a problem document", status, null, []);
    }

    internal static AcmeProblem FromJson(JsonElement element, int status)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            return new AcmeProblem("", "a problem document that is not a JSON object", status, null, []);
        }

        string type = Text(element, "type");
        string detail = Text(element, "detail");
        if (element.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt32(out int st))
        {
            status = st;
        }

        string? identifier = element.TryGetProperty("identifier", out var id) && id.ValueKind == JsonValueKind.Object ? Text(id, "value") : null;
        var subproblems = new List<AcmeProblem>();
        if (element.TryGetProperty("subproblems", out var subs) && subs.ValueKind == JsonValueKind.Array)
        {
            foreach (var sub in subs.EnumerateArray().Take(20))
            {
                subproblems.Add(FromJson(sub, status));
            }
        }

        return new AcmeProblem(type, detail, status, identifier, subproblems);
    }

    /// <summary>"type: detail", with each subproblem's identifier, type and detail after it.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(Type.Length > 0 ? Type : $"HTTP {Status}");
        if (Detail.Length > 0)
        {
            text.Append(": ").Append(Detail);
        }

        foreach (var sub in Subproblems)
        {
            text.Append("; ").Append(sub.Identifier is null ? "" : sub.Identifier + ": ").Append(sub.Type).Append(": ").Append(sub.Detail);
        }

        return text.ToString();
    }

    private static string Text(JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.String)
        {
            return "";
        }

        string raw = value.GetString() ?? "";
        var clean = new StringBuilder(Math.Min(raw.Length, MaxDetailLength));
        foreach (char c in raw)
        {
            if (clean.Length == MaxDetailLength)
            {
                clean.Append('…');
                break;
            }

            clean.Append(char.IsControl(c) ? ' ' : c);
        }

        return clean.ToString();
    }
}

/// <summary>
/// Obtaining a certificate failed: what the client was doing, the domain concerned (when one is), and the server's
/// problem (when it sent one). The existing certificate stays in use.
/// </summary>
public sealed class AcmeException : Exception
{
    public AcmeException(string message, string? domain = null, AcmeProblem? problem = null, TimeSpan? retryAfter = null, Exception? inner = null)
        : base(Compose(message, domain, problem), inner)
    {
        Domain = domain;
        Problem = problem;
        RetryAfter = retryAfter;
    }

    public AcmeException()
    {
    }

    public AcmeException(string message) : base(message)
    {
    }

    public AcmeException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>The domain the failure concerns, if one does (a failed challenge, a refused identifier).</summary>
    public string? Domain { get; }

    /// <summary>The server's problem document, if it sent one.</summary>
    public AcmeProblem? Problem { get; }

    /// <summary>When the server asked to be asked again (Retry-After on a rate limit or an unavailable server).</summary>
    public TimeSpan? RetryAfter { get; }

    private static string Compose(string message, string? domain, AcmeProblem? problem)
    {
        var text = new StringBuilder(message);
        if (domain is not null)
        {
            text.Append(" for ").Append(domain);
        }

        if (problem is not null)
        {
            text.Append(": ").Append(problem);
        }

        return text.ToString();
    }
}
