namespace Letterlock.Client.Search;

/// <summary>
/// A condition on the text of a message that IMAP SEARCH string keys test (a substring, case-insensitive),
/// used to narrow the messages a search must read. The index only narrows: every message it names is then
/// checked against the real search key, so an answer is exactly the answer of a scan.
/// </summary>
public abstract record TextFilter;

/// <summary>The message's text contains <see cref="Needle"/> (case-insensitively, as a substring).</summary>
public sealed record TextContains(string Needle) : TextFilter;

/// <summary>Every filter holds.</summary>
public sealed record AllOf(IReadOnlyList<TextFilter> Filters) : TextFilter;

/// <summary>At least one filter holds.</summary>
public sealed record AnyOf(IReadOnlyList<TextFilter> Filters) : TextFilter;

/// <summary>
/// Trigrams for substring search. The text is folded one UTF-16 unit at a time with
/// <see cref="char.ToUpperInvariant"/> (the mapping <see cref="StringComparison.OrdinalIgnoreCase"/> compares by)
/// and cut into runs of letters and digits (classified after folding, so two spellings that compare equal cut
/// the same way); every three consecutive units of a run is a gram. If a needle occurs in a text, each run of
/// the needle lies inside a run of the text, so every gram of the needle is a gram of the text: a message lacking
/// one of the needle's grams cannot match, and a message holding all of them is a candidate that the search
/// verifies. A needle with no run of three units narrows nothing.
/// </summary>
public static class SearchGrams
{
    /// <summary>The length of a gram, in UTF-16 units.</summary>
    public const int Length = 3;

    /// <summary>
    /// The distinct grams of <paramref name="text"/> added to <paramref name="grams"/>; false when adding them
    /// would pass <paramref name="limit"/> (the set then holds <paramref name="limit"/> grams and the text is not
    /// fully indexed).
    /// </summary>
    public static bool AddGrams(string? text, HashSet<string> grams, int limit)
    {
        ArgumentNullException.ThrowIfNull(grams);
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        Span<char> window = stackalloc char[Length];
        int run = 0;
        foreach (var c in text)
        {
            var folded = char.ToUpperInvariant(c);
            if (!char.IsLetterOrDigit(folded))
            {
                run = 0;
                continue;
            }

            window[0] = window[1];
            window[1] = window[2];
            window[2] = folded;
            if (++run >= Length)
            {
                var gram = grams.GetAlternateLookup<ReadOnlySpan<char>>();
                if (!gram.Contains(window))
                {
                    if (grams.Count >= limit)
                    {
                        return false;
                    }

                    gram.Add(window);
                }
            }
        }

        return true;
    }

    /// <summary>The distinct grams of a needle; empty when the needle has no run long enough to narrow a search.</summary>
    public static IReadOnlyCollection<string> QueryGrams(string needle)
    {
        var grams = new HashSet<string>(StringComparer.Ordinal);
        AddGrams(needle, grams, int.MaxValue);
        return grams;
    }
}
