using System.Collections.Immutable;

namespace Letterlock.Imap.Backend;

/// <summary>The system flags of RFC 9051, 2.3.2 (\Recent is gone in IMAP4rev2 and never set here).</summary>
[Flags]
public enum SystemFlags : byte
{
    /// <summary>No system flag.</summary>
    None = 0,
    /// <summary>\Seen: the message has been read.</summary>
    Seen = 1,
    /// <summary>\Answered: the message has been answered.</summary>
    Answered = 2,
    /// <summary>\Flagged: the message is flagged for urgent or special attention.</summary>
    Flagged = 4,
    /// <summary>\Deleted: the message is marked for removal by EXPUNGE.</summary>
    Deleted = 8,
    /// <summary>\Draft: the message is a draft.</summary>
    Draft = 16,
}

/// <summary>
/// An immutable set of flags: system flags as bits plus keywords (RFC 9051 flag-keyword), kept sorted
/// and compared case-insensitively as the RFC requires.
/// </summary>
public sealed class MessageFlags : IEquatable<MessageFlags>
{
    /// <summary>The empty set.</summary>
    public static MessageFlags Empty { get; } = new(SystemFlags.None, []);

    private static readonly ImmutableArray<string> SystemNames = [@"\Seen", @"\Answered", @"\Flagged", @"\Deleted", @"\Draft"];

    private MessageFlags(SystemFlags system, ImmutableArray<string> keywords)
    {
        System = system;
        Keywords = keywords;
    }

    /// <summary>The system flags.</summary>
    public SystemFlags System { get; }

    /// <summary>The keywords, sorted, without duplicates (case-insensitive).</summary>
    public ImmutableArray<string> Keywords { get; }

    /// <summary>Creates a set from system flags and keywords.</summary>
    public static MessageFlags Create(SystemFlags system, IEnumerable<string>? keywords = null)
    {
        if (keywords is null)
        {
            return system == SystemFlags.None ? Empty : new MessageFlags(system, []);
        }

        var sorted = keywords.Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).ToImmutableArray();
        return system == SystemFlags.None && sorted.IsEmpty ? Empty : new MessageFlags(system, sorted);
    }

    /// <summary>Parses flag names as they appear on the wire (system flags start with a backslash).</summary>
    /// <returns>The set, or null when a name is an unknown system flag (\Recent and other \-names are refused).</returns>
    public static MessageFlags? FromNames(IEnumerable<string> names)
    {
        var system = SystemFlags.None;
        List<string>? keywords = null;
        foreach (var name in names)
        {
            if (name.StartsWith('\\'))
            {
                var flag = ParseSystem(name);
                if (flag is null)
                {
                    return null;
                }

                system |= flag.Value;
            }
            else
            {
                (keywords ??= []).Add(name);
            }
        }

        return Create(system, keywords);
    }

    /// <summary>Maps a system flag name to its bit; null when it is not a settable system flag.</summary>
    public static SystemFlags? ParseSystem(string name) => name.ToUpperInvariant() switch
    {
        @"\SEEN" => SystemFlags.Seen,
        @"\ANSWERED" => SystemFlags.Answered,
        @"\FLAGGED" => SystemFlags.Flagged,
        @"\DELETED" => SystemFlags.Deleted,
        @"\DRAFT" => SystemFlags.Draft,
        _ => null,
    };

    /// <summary>Whether the set holds a keyword (case-insensitive).</summary>
    public bool HasKeyword(string keyword)
    {
        foreach (var k in Keywords)
        {
            if (string.Equals(k, keyword, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The union of two sets.</summary>
    public MessageFlags Add(MessageFlags other) =>
        other.Keywords.IsEmpty ? With(System | other.System) : Create(System | other.System, Keywords.Concat(other.Keywords));

    /// <summary>This set without the members of another.</summary>
    public MessageFlags Remove(MessageFlags other) =>
        Create(System & ~other.System, Keywords.Where(k => !other.HasKeyword(k)));

    private MessageFlags With(SystemFlags system) =>
        system == System ? this : (Keywords.IsEmpty && system == SystemFlags.None ? Empty : new MessageFlags(system, Keywords));

    /// <summary>All names in wire form, system flags first.</summary>
    public IEnumerable<string> Names()
    {
        for (int i = 0; i < SystemNames.Length; i++)
        {
            if (((int)System & (1 << i)) != 0)
            {
                yield return SystemNames[i];
            }
        }

        foreach (var k in Keywords)
        {
            yield return k;
        }
    }

    /// <inheritdoc />
    public bool Equals(MessageFlags? other) =>
        other is not null && other.System == System && other.Keywords.Length == Keywords.Length &&
        Keywords.SequenceEqual(other.Keywords, StringComparer.OrdinalIgnoreCase);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as MessageFlags);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(System, Keywords.Length);

    /// <inheritdoc />
    public override string ToString() => "(" + string.Join(' ', Names()) + ")";
}
