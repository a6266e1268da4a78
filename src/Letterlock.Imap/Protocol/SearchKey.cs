namespace Letterlock.Imap.Protocol;

/// <summary>
/// A search criterion (RFC 9051, 6.4.4 <c>search-key</c>), after the parser has folded aliases:
/// FROM/TO/CC/BCC/SUBJECT become <see cref="HeaderKey"/>, NEW/OLD/RECENT/UNSEEN... become flag tests,
/// and a parenthesised list becomes <see cref="AndKey"/>. Message sequence numbers are translated to
/// UIDs by the session before a backend sees the key.
/// </summary>
public abstract record SearchKey;

/// <summary>ALL.</summary>
public sealed record AllKey : SearchKey
{
    /// <summary>The only instance.</summary>
    public static AllKey Instance { get; } = new();
}

/// <summary>All of the keys.</summary>
public sealed record AndKey(IReadOnlyList<SearchKey> Keys) : SearchKey;

/// <summary>OR key key.</summary>
public sealed record OrKey(SearchKey Left, SearchKey Right) : SearchKey;

/// <summary>NOT key.</summary>
public sealed record NotKey(SearchKey Key) : SearchKey;

/// <summary>A flag test: \Seen, \Answered... (system flag names) or a keyword; <paramref name="Set"/> false for UNSEEN etc.</summary>
public sealed record FlagKey(string Flag, bool Set) : SearchKey;

/// <summary>HEADER field string, and FROM/TO/CC/BCC/SUBJECT (case-insensitive substring; empty value matches presence).</summary>
public sealed record HeaderKey(string Field, string Value) : SearchKey;

/// <summary>BODY string: substring of the decoded body text.</summary>
public sealed record BodyKey(string Value) : SearchKey;

/// <summary>TEXT string: substring of the headers or the decoded body text.</summary>
public sealed record TextKey(string Value) : SearchKey;

/// <summary>How a date is compared.</summary>
public enum DateComparison
{
    /// <summary>BEFORE / SENTBEFORE.</summary>
    Before,
    /// <summary>ON / SENTON.</summary>
    On,
    /// <summary>SINCE / SENTSINCE.</summary>
    Since,
}

/// <summary>BEFORE/ON/SINCE (internal date) or SENTBEFORE/SENTON/SENTSINCE (Date: header), compared by date only.</summary>
public sealed record DateKey(DateComparison Comparison, DateOnly Date, bool SentDate) : SearchKey;

/// <summary>LARGER n (Larger true) or SMALLER n.</summary>
public sealed record SizeKey(bool Larger, uint Size) : SearchKey;

/// <summary>UID sequence-set; <see cref="SequenceSet.Star"/> stands for the largest UID.</summary>
public sealed record UidKey(SequenceSet Set) : SearchKey;

/// <summary>A message sequence-set (translated to <see cref="UidKey"/> before it reaches a backend).</summary>
public sealed record SequenceKey(SequenceSet Set) : SearchKey;

/// <summary>MODSEQ n (RFC 7162): messages whose mod-sequence is at least n.</summary>
public sealed record ModSeqKey(ulong ModSeq) : SearchKey;

/// <summary>RECENT: messages that are \Recent in this session (translated to UIDs by the session; IMAP4rev1 only).</summary>
public sealed record RecentKey : SearchKey
{
    /// <summary>The only instance.</summary>
    public static RecentKey Instance { get; } = new();
}

/// <summary>Matches nothing (a message set that resolved to no message).</summary>
public sealed record NoneKey : SearchKey
{
    /// <summary>The only instance.</summary>
    public static NoneKey Instance { get; } = new();
}
