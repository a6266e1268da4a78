using System.Globalization;
using System.Text;

namespace Letterlock.Client.Search;

/// <summary>What a <see cref="MailQuery"/> term tests.</summary>
public enum QueryTermKind
{
    /// <summary>A word or phrase in the subject, the senders, the recipients or the body.</summary>
    Text,

    /// <summary><c>from:</c> a word or phrase of a sender's name or address (or a whole address).</summary>
    From,

    /// <summary><c>to:</c> a word or phrase of a recipient's (To, Cc, Bcc) name or address.</summary>
    To,

    /// <summary><c>subject:</c> a word or phrase of the subject.</summary>
    Subject,

    /// <summary><c>body:</c> a word or phrase of the body text.</summary>
    Body,
}

/// <summary>One word or phrase term of a query: every word must occur in the field; a phrase's words in order, next to each other.</summary>
/// <param name="Kind">The field.</param>
/// <param name="Text">The word, address or phrase as written.</param>
/// <param name="IsPhrase">Whether it was written in double quotes.</param>
public sealed record QueryTerm(QueryTermKind Kind, string Text, bool IsPhrase);

/// <summary>
/// A search the way notmuch and mu write them. Every term must hold (terms are ANDed). Grammar:
/// <code>
/// query    = *SP term *(1*SP term) *SP
/// term     = [prefix] (phrase / word) / "date:" range / "folder:" (phrase / word) / "is:" state
/// prefix   = "from:" / "to:" / "subject:" / "body:"
/// phrase   = DQUOTE 1*(any character but DQUOTE) DQUOTE
/// word     = 1*(any character but SP and DQUOTE)
/// range    = date / date ".." [date] / ".." date         ; both ends included
/// date     = 4DIGIT "-" 2DIGIT "-" 2DIGIT                 ; the message's Date (its arrival when it has none), UTC
/// state    = "unread" / "read" / "flagged"
/// </code>
/// Parsing does no I/O and yields either a query or the reason it is malformed.
/// </summary>
public sealed record MailQuery(
    IReadOnlyList<QueryTerm> Terms,
    DateOnly? From,
    DateOnly? Until,
    string? Folder,
    bool? Unread,
    bool? Flagged)
{
    /// <summary>The longest query accepted, in characters.</summary>
    public const int MaxLength = 4096;

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says what is wrong and where.</summary>
    public static bool TryParse(string text, out MailQuery? query, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        query = null;
        error = null;
        if (text.Length > MaxLength)
        {
            error = $"the query is longer than {MaxLength} characters";
            return false;
        }

        var terms = new List<QueryTerm>();
        DateOnly? from = null, until = null;
        string? folder = null;
        bool? unread = null, flagged = null;
        int i = 0;
        while (true)
        {
            while (i < text.Length && text[i] == ' ')
            {
                i++;
            }

            if (i == text.Length)
            {
                break;
            }

            int start = i;
            string? prefix = null;
            int colon = text.IndexOf(':', i);
            int space = text.IndexOf(' ', i);
            int quote = text.IndexOf('"', i);
            if (colon > i && (space < 0 || colon < space) && (quote < 0 || colon < quote) &&
                text[i..colon] is "from" or "to" or "subject" or "body" or "date" or "folder" or "is")
            {
                prefix = text[i..colon];
                i = colon + 1;
            }

            if (!TryValue(text, ref i, out var value, out bool phrase, out error))
            {
                return false;
            }

            if (value.Length == 0)
            {
                error = $"'{prefix}:' at column {start + 1} needs a value";
                return false;
            }

            switch (prefix)
            {
                case null or "from" or "to" or "subject" or "body":
                    var kind = prefix switch
                    {
                        "from" => QueryTermKind.From,
                        "to" => QueryTermKind.To,
                        "subject" => QueryTermKind.Subject,
                        "body" => QueryTermKind.Body,
                        _ => QueryTermKind.Text,
                    };
                    terms.Add(new QueryTerm(kind, value, phrase));
                    break;
                case "date":
                    if (!TryRange(value, out from, out until))
                    {
                        error = $"'date:{value}' at column {start + 1} is not a date or range (YYYY-MM-DD, YYYY-MM-DD..YYYY-MM-DD, ..YYYY-MM-DD, YYYY-MM-DD..)";
                        return false;
                    }

                    break;
                case "folder":
                    folder = value;
                    break;
                default: // is:
                    switch (value)
                    {
                        case "unread": unread = true; break;
                        case "read": unread = false; break;
                        case "flagged": flagged = true; break;
                        default:
                            error = $"'is:{value}' at column {start + 1}: 'is:' takes unread, read or flagged";
                            return false;
                    }

                    break;
            }
        }

        if (terms.Count == 0 && from is null && until is null && folder is null && unread is null && flagged is null)
        {
            error = "the query is empty";
            return false;
        }

        query = new MailQuery(terms, from, until, folder, unread, flagged);
        return true;
    }

    private static bool TryValue(string text, ref int i, out string value, out bool phrase, out string? error)
    {
        error = null;
        phrase = i < text.Length && text[i] == '"';
        if (phrase)
        {
            int end = text.IndexOf('"', i + 1);
            if (end < 0)
            {
                value = "";
                error = $"the phrase opened at column {i + 1} has no closing '\"'";
                return false;
            }

            value = text[(i + 1)..end];
            i = end + 1;
            if (value.Trim().Length == 0)
            {
                error = $"the phrase at column {i - value.Length - 1} is empty";
                return false;
            }

            return true;
        }

        var word = new StringBuilder();
        while (i < text.Length && text[i] != ' ')
        {
            if (text[i] == '"')
            {
                value = "";
                error = $"a '\"' inside a word at column {i + 1} (quote the whole phrase)";
                return false;
            }

            word.Append(text[i++]);
        }

        value = word.ToString();
        return true;
    }

    private static bool TryRange(string value, out DateOnly? from, out DateOnly? until)
    {
        from = until = null;
        int dots = value.IndexOf("..", StringComparison.Ordinal);
        if (dots < 0)
        {
            if (!TryDate(value, out var day))
            {
                return false;
            }

            from = until = day;
            return true;
        }

        string left = value[..dots], right = value[(dots + 2)..];
        if (left.Length == 0 && right.Length == 0)
        {
            return false;
        }

        if (left.Length > 0)
        {
            if (!TryDate(left, out var day))
            {
                return false;
            }

            from = day;
        }

        if (right.Length > 0)
        {
            if (!TryDate(right, out var day))
            {
                return false;
            }

            until = day;
        }

        return from is null || until is null || from <= until;
    }

    private static bool TryDate(string text, out DateOnly day) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day);
}
