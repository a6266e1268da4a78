using System.Text;

namespace Letterlock.Client.Search;

/// <summary>The part of a message a search term looks in.</summary>
public enum SearchField : byte
{
    /// <summary>Any of the fields below.</summary>
    Any = 0,

    /// <summary>The (protected) Subject.</summary>
    Subject = 1,

    /// <summary>From, Sender and Reply-To: names and addresses.</summary>
    From = 2,

    /// <summary>To, Cc and Bcc: names and addresses.</summary>
    Recipients = 3,

    /// <summary>The text of the body.</summary>
    Body = 4,
}

/// <summary>One term of a search: every word of <see cref="Text"/> must occur in <see cref="Field"/>.</summary>
public sealed record SearchTerm(SearchField Field, string Text);

/// <summary>
/// Splits text into index words: maximal runs of letters and digits, lower-cased (invariant),
/// at least two characters and at most the configured length. Addresses are also indexed whole,
/// so <c>alice@example.org</c> finds exactly that sender. The index matches whole words; substring
/// matching (IMAP SEARCH semantics) is done by callers on the candidates it returns.
/// </summary>
public static class SearchTokenizer
{
    /// <summary>Words shorter than this are not indexed (too common to help, too revealing by frequency).</summary>
    public const int MinWordLength = 2;

    /// <summary>The distinct words of <paramref name="text"/>.</summary>
    public static IEnumerable<string> Words(string? text, int maxWordLength)
    {
        if (string.IsNullOrEmpty(text))
        {
            yield break;
        }

        var word = new StringBuilder();
        int runes = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (Rune.IsLetterOrDigit(rune))
            {
                word.Append(Rune.ToLowerInvariant(rune).ToString());
                runes++;
                continue;
            }

            if (runes >= MinWordLength && runes <= maxWordLength)
            {
                yield return word.ToString();
            }

            word.Clear();
            runes = 0;
        }

        if (runes >= MinWordLength && runes <= maxWordLength)
        {
            yield return word.ToString();
        }
    }

    /// <summary>The words of an address field: each word of names and addresses, plus each address whole.</summary>
    public static IEnumerable<string> AddressWords(IEnumerable<(string? Name, string Address)> addresses, int maxWordLength)
    {
        foreach (var (name, address) in addresses)
        {
            foreach (var word in Words(name, maxWordLength))
            {
                yield return word;
            }

            foreach (var word in Words(address, maxWordLength))
            {
                yield return word;
            }

            var whole = address.Trim().ToLowerInvariant();
            if (whole.Length >= MinWordLength && whole.Length <= Math.Max(maxWordLength, MailAddress.MaxLength))
            {
                yield return whole;
            }
        }
    }

    /// <summary>The query words of a term: like <see cref="Words"/>, but a term that is one address stays whole too.</summary>
    public static IReadOnlyList<string> QueryWords(string text, int maxWordLength)
    {
        var words = Words(text, maxWordLength).ToList();
        var trimmed = text.Trim();
        if (trimmed.Contains('@', StringComparison.Ordinal) && MailAddress.TryNormalize(trimmed) is { } address)
        {
            // An address query must match the address whole, not just its parts somewhere.
            return [address];
        }

        return words.Distinct(StringComparer.Ordinal).ToList();
    }
}
