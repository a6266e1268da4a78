using System.Text;
using MimeKit.Utils;

namespace Letterlock.Imap.Mime;

/// <summary>
/// The "base subject" of RFC 5256, 2.1, which SORT (SUBJECT) compares and THREAD groups by: the subject without
/// reply and forward markers, list tags and trailers. Follows the RFC's steps one by one:
/// <code>
/// subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
/// subj-blob    = "[" *BLOBCHAR "]" *WSP
/// subj-leader  = (*subj-blob subj-refwd) / WSP
/// subj-trailer = "(fwd)" / WSP
/// subj-fwd-hdr = "[fwd:" ; subj-fwd-trl = "]"
/// </code>
/// </summary>
public static class BaseSubject
{
    /// <summary>The base subject of a raw Subject field (RFC 2047 words are decoded first).</summary>
    /// <param name="subject">The field as it appears in ENVELOPE; null for none.</param>
    /// <param name="isReplyOrForward">Whether a reply or forward marker was removed (THREAD REFERENCES, step 5).</param>
    public static string Extract(string? subject, out bool isReplyOrForward)
    {
        isReplyOrForward = false;
        if (string.IsNullOrEmpty(subject))
        {
            return "";
        }

        // (1) Decode encoded words; tabs and continuations become spaces; runs of spaces become one.
        var decoded = subject.Contains("=?", StringComparison.Ordinal) ? Rfc2047.DecodeText(Encoding.UTF8.GetBytes(subject)) : subject;
        var sb = new StringBuilder(decoded.Length);
        foreach (char c in decoded)
        {
            char d = c is '\t' or '\r' or '\n' ? ' ' : c;
            if (d == ' ' && sb.Length > 0 && sb[^1] == ' ')
            {
                continue;
            }

            sb.Append(d);
        }

        var s = sb.ToString();
        while (true)
        {
            // (2) Remove trailers: "(fwd)" and white space, repeatedly.
            while (true)
            {
                if (s.EndsWith(' '))
                {
                    s = s[..^1];
                }
                else if (s.EndsWith("(fwd)", StringComparison.OrdinalIgnoreCase))
                {
                    s = s[..^5];
                    isReplyOrForward = true;
                }
                else
                {
                    break;
                }
            }

            // (3)-(5) Remove leaders (blobs followed by re/fw/fwd and ":", or white space), and a leading blob when
            // something remains after it, until neither applies.
            bool changed = true;
            while (changed)
            {
                changed = false;
                if (s.StartsWith(' '))
                {
                    s = s[1..];
                    changed = true;
                    continue;
                }

                int leader = LeaderLength(s);
                if (leader > 0)
                {
                    s = s[leader..];
                    isReplyOrForward = true;
                    changed = true;
                    continue;
                }

                int blob = BlobLength(s, 0);
                if (blob > 0 && blob < s.Length)
                {
                    s = s[blob..];
                    changed = true;
                }
            }

            // (6) "[fwd: ... ]" around the rest: remove and start again from (2).
            if (s.StartsWith("[fwd:", StringComparison.OrdinalIgnoreCase) && s.EndsWith(']'))
            {
                s = s[5..^1];
                isReplyOrForward = true;
                continue;
            }

            return s;
        }
    }

    /// <summary>Length of <c>*subj-blob subj-refwd</c> at the start, or 0.</summary>
    private static int LeaderLength(string s)
    {
        int at = 0;
        while (true)
        {
            int refwd = RefwdLength(s, at);
            if (refwd > 0)
            {
                return at + refwd;
            }

            int blob = BlobLength(s, at);
            if (blob == 0)
            {
                return 0;
            }

            at += blob;
        }
    }

    // subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
    private static int RefwdLength(string s, int at)
    {
        int i = at;
        if (Is(s, i, "re"))
        {
            i += 2;
        }
        else if (Is(s, i, "fwd"))
        {
            i += 3;
        }
        else if (Is(s, i, "fw"))
        {
            i += 2;
        }
        else
        {
            return 0;
        }

        while (i < s.Length && s[i] == ' ')
        {
            i++;
        }

        i += BlobLength(s, i);
        return i < s.Length && s[i] == ':' ? i + 1 - at : 0;
    }

    // subj-blob = "[" *BLOBCHAR "]" *WSP ; BLOBCHAR is anything but "[" and "]"
    private static int BlobLength(string s, int at)
    {
        if (at >= s.Length || s[at] != '[')
        {
            return 0;
        }

        int i = at + 1;
        while (i < s.Length && s[i] != ']' && s[i] != '[')
        {
            i++;
        }

        if (i >= s.Length || s[i] != ']')
        {
            return 0;
        }

        i++;
        while (i < s.Length && s[i] == ' ')
        {
            i++;
        }

        return i - at;
    }

    private static bool Is(string s, int at, string word) =>
        at + word.Length <= s.Length && string.Compare(s, at, word, 0, word.Length, StringComparison.OrdinalIgnoreCase) == 0;

    /// <summary>Equality under i;ascii-casemap, for grouping by base subject.</summary>
    public static IEqualityComparer<string> AsciiCasemap { get; } = new AsciiCasemapComparer();

    private sealed class AsciiCasemapComparer : IEqualityComparer<string>
    {
        public bool Equals(string? x, string? y) => CompareAsciiCasemap(x, y) == 0;

        public int GetHashCode(string obj)
        {
            var hash = new HashCode();
            foreach (char c in obj)
            {
                hash.Add(c is >= 'a' and <= 'z' ? (char)(c - 32) : c);
            }

            return hash.ToHashCode();
        }
    }

    /// <summary>i;ascii-casemap (RFC 4790): compares as octets after mapping a-z to A-Z.</summary>
    public static int CompareAsciiCasemap(string? a, string? b)
    {
        a ??= "";
        b ??= "";
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            int x = a[i] is >= 'a' and <= 'z' ? a[i] - 32 : a[i];
            int y = b[i] is >= 'a' and <= 'z' ? b[i] - 32 : b[i];
            if (x != y)
            {
                return x.CompareTo(y);
            }
        }

        return a.Length.CompareTo(b.Length);
    }
}
