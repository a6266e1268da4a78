using System.Text;

namespace Letterlock.Imap.Protocol;

/// <summary>
/// A parsed sequence set. <c>*</c> is kept as <see cref="Star"/> (0, which no <c>nz-number</c> can be, so
/// the largest number 4294967295 stays a number) and resolved against the mailbox when the command runs.
/// <code>
/// sequence-set = (seq-number / seq-range) ["," sequence-set]   (RFC 9051, 9)
/// seq-range    = seq-number ":" seq-number
/// seq-number   = nz-number / "*"
/// </code>
/// "$" (RFC 5182, SEARCHRES: <c>seq-last-command = "$"</c>) is <see cref="Saved"/>: the session replaces it by the
/// result the last SEARCH ... RETURN (SAVE) saved before it reaches a backend.
/// </summary>
public sealed class SequenceSet
{
    /// <summary>"$": the saved search result (RFC 5182).</summary>
    public static SequenceSet Saved { get; } = new([], isSaved: true);

    private SequenceSet(IReadOnlyList<(uint Start, uint End)> ranges, bool isSaved)
    {
        Ranges = ranges;
        IsSaved = isSaved;
    }

    /// <summary>Whether this is "$", the saved search result, which has no ranges of its own.</summary>
    public bool IsSaved { get; }

    /// <summary>The value that stands for <c>*</c>: 0, outside <c>nz-number</c>.</summary>
    public const uint Star = 0;

    /// <summary>Creates a set from ranges; a range may be given in either order.</summary>
    public SequenceSet(IReadOnlyList<(uint Start, uint End)> ranges) => Ranges = ranges;

    /// <summary>The ranges as written (start may exceed end).</summary>
    public IReadOnlyList<(uint Start, uint End)> Ranges { get; }

    /// <summary>Whether the number, with <c>*</c> standing for <paramref name="largest"/>, is in the set.</summary>
    public bool Contains(uint value, uint largest)
    {
        foreach (var (s, e) in Ranges)
        {
            uint a = s == Star ? largest : s, b = e == Star ? largest : e;
            if (a > b)
            {
                (a, b) = (b, a);
            }

            if (value >= a && value <= b)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The ranges normalised (ascending, merged) with <c>*</c> resolved.</summary>
    public List<(uint Start, uint End)> Normalize(uint largest)
    {
        var list = new List<(uint, uint)>(Ranges.Count);
        foreach (var (s, e) in Ranges)
        {
            uint a = s == Star ? largest : s, b = e == Star ? largest : e;
            list.Add(a <= b ? (a, b) : (b, a));
        }

        list.Sort();
        var merged = new List<(uint Start, uint End)>(list.Count);
        foreach (var (a, b) in list)
        {
            if (merged.Count > 0 && (ulong)a <= (ulong)merged[^1].End + 1)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, b));
            }
            else
            {
                merged.Add((a, b));
            }
        }

        return merged;
    }

    /// <summary>Formats ascending numbers compactly as a sequence set ("1:3,7").</summary>
    public static string Format(IEnumerable<uint> ascending)
    {
        var sb = new StringBuilder();
        uint start = 0, prev = 0;
        bool any = false;
        foreach (var v in ascending)
        {
            if (any && v == prev + 1)
            {
                prev = v;
                continue;
            }

            if (any)
            {
                Append(sb, start, prev);
            }

            start = prev = v;
            any = true;
        }

        if (any)
        {
            Append(sb, start, prev);
        }

        return sb.ToString();

        static void Append(StringBuilder sb, uint a, uint b)
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(a);
            if (b != a)
            {
                sb.Append(':').Append(b);
            }
        }
    }

    /// <inheritdoc />
    public override string ToString() => IsSaved ? "$" :
        string.Join(',', Ranges.Select(r => r.Start == r.End ? N(r.Start) : N(r.Start) + ":" + N(r.End)));

    private static string N(uint v) => v == Star ? "*" : v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
