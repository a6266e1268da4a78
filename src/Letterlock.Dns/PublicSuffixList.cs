using System.Globalization;

namespace Letterlock.Dns;

/// <summary>
/// The Public Suffix List (https://publicsuffix.org/list/): which suffixes are registered under, so a domain's
/// registrable part is known. DMARC calls it the organizational domain (RFC 7489, 3.2). Pure: it parses the
/// list's text (Debian's <c>publicsuffix</c> package ships it as <see cref="DebianPath"/>).
/// </summary>
/// <remarks>
/// The list's algorithm: the prevailing rule is an exception rule if one matches (its left-most label is then
/// removed), else the matching rule with the most labels, else <c>*</c>. Wildcards cover exactly one label.
/// Rules in Unicode are kept in their ASCII (A-label) form, as domains arrive in mail.
/// </remarks>
public sealed class PublicSuffixList
{
    /// <summary>Where Debian's <c>publicsuffix</c> package installs the list.</summary>
    public const string DebianPath = "/usr/share/publicsuffix/public_suffix_list.dat";

    private static readonly IdnMapping Idn = new();
    private readonly HashSet<string> _rules = new(StringComparer.Ordinal);
    private readonly HashSet<string> _wildcards = new(StringComparer.Ordinal);
    private readonly HashSet<string> _exceptions = new(StringComparer.Ordinal);

    private PublicSuffixList()
    {
    }

    /// <summary>How many rules were read.</summary>
    public int Count => _rules.Count + _wildcards.Count + _exceptions.Count;

    /// <summary>Reads the list's text: one rule per line (its first white-space-delimited word), <c>//</c> comments, blank lines.</summary>
    /// <exception cref="FormatException">No rule at all, or a rule that is not a domain name.</exception>
    public static PublicSuffixList Parse(TextReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var list = new PublicSuffixList();
        int number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            string rule = line.Trim();
            if (rule.Length == 0 || rule.StartsWith("//", StringComparison.Ordinal))
            {
                continue;
            }

            int space = rule.IndexOfAny([' ', '\t']);
            rule = space < 0 ? rule : rule[..space];
            var (set, name) = rule.StartsWith('!') ? (list._exceptions, rule[1..])
                : rule.StartsWith("*.", StringComparison.Ordinal) ? (list._wildcards, rule[2..])
                : (list._rules, rule);
            string ascii;
            try
            {
                ascii = Ascii(name);
            }
            catch (ArgumentException e)
            {
                throw new FormatException($"line {number}: '{rule}' is not a domain name", e);
            }

            if (!ascii.Split('.').All(label => label.Length is > 0 and <= 63 && label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
            {
                throw new FormatException($"line {number}: '{rule}' is not a domain name");
            }

            set.Add(ascii);
        }

        return list.Count > 0 ? list : throw new FormatException("the list holds no rule");
    }

    /// <summary>Reads the list from a file.</summary>
    public static PublicSuffixList Load(string path)
    {
        using var reader = new StreamReader(path);
        return Parse(reader);
    }

    /// <summary>The public suffix of <paramref name="domain"/> (at least its last label).</summary>
    public string PublicSuffix(string domain)
    {
        string[] labels = Labels(domain);
        return string.Join('.', labels[^SuffixLength(labels)..]);
    }

    /// <summary>
    /// The registrable domain: the public suffix and one label more; null when <paramref name="domain"/> is itself
    /// a public suffix (or shorter).
    /// </summary>
    public string? RegistrableDomain(string domain)
    {
        string[] labels = Labels(domain);
        int suffix = SuffixLength(labels);
        return labels.Length > suffix ? string.Join('.', labels[^(suffix + 1)..]) : null;
    }

    /// <summary>DMARC's organizational domain: the registrable domain, or the domain itself when it is a public suffix.</summary>
    public string OrganizationalDomain(string domain) => RegistrableDomain(domain) ?? string.Join('.', Labels(domain));

    private int SuffixLength(string[] labels)
    {
        int longest = 1; // the implicit "*" rule
        for (int k = labels.Length; k >= 1; k--)
        {
            string suffix = string.Join('.', labels[^k..]);
            if (_exceptions.Contains(suffix))
            {
                return k - 1;
            }

            if (k > longest && (_rules.Contains(suffix) || (k >= 2 && _wildcards.Contains(string.Join('.', labels[^(k - 1)..])))))
            {
                longest = k;
            }
        }

        return longest;
    }

    private static string[] Labels(string domain)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(domain);
        return Ascii(domain.TrimEnd('.')).Split('.');
    }

    private static string Ascii(string name) =>
        name.All(char.IsAscii) ? name.ToLowerInvariant() : Idn.GetAscii(name).ToLowerInvariant();
}
