namespace Letterlock.Imap.Protocol;

/// <summary>The simple (non-section) fetch attributes.</summary>
public enum FetchAttribute
{
    /// <summary>FLAGS.</summary>
    Flags,
    /// <summary>INTERNALDATE.</summary>
    InternalDate,
    /// <summary>RFC822.SIZE.</summary>
    Size,
    /// <summary>ENVELOPE.</summary>
    Envelope,
    /// <summary>BODYSTRUCTURE.</summary>
    BodyStructure,
    /// <summary>BODY without a section: the non-extensible body structure.</summary>
    Body,
    /// <summary>UID.</summary>
    Uid,
    /// <summary>MODSEQ (RFC 7162).</summary>
    ModSeq,
    /// <summary>BODY[...] / BODY.PEEK[...] / RFC822 / RFC822.HEADER / RFC822.TEXT.</summary>
    Section,
    /// <summary>BINARY[...] / BINARY.PEEK[...] (RFC 3516).</summary>
    Binary,
    /// <summary>BINARY.SIZE[...] (RFC 3516).</summary>
    BinarySize,
}

/// <summary>What part of a message a section names.</summary>
public enum SectionText
{
    /// <summary>The whole part (or whole message for an empty section).</summary>
    None,
    /// <summary>HEADER.</summary>
    Header,
    /// <summary>HEADER.FIELDS (list).</summary>
    HeaderFields,
    /// <summary>HEADER.FIELDS.NOT (list).</summary>
    HeaderFieldsNot,
    /// <summary>TEXT.</summary>
    Text,
    /// <summary>MIME.</summary>
    Mime,
}

/// <summary>
/// A body section: <c>section = "[" [section-spec] "]"</c>, <c>section-spec = section-msgtext / (section-part ["." section-text])</c> (RFC 9051, 9).
/// </summary>
/// <param name="Part">Part numbers (empty for the top level).</param>
/// <param name="Text">The text specifier.</param>
/// <param name="Fields">Header names for HEADER.FIELDS / HEADER.FIELDS.NOT.</param>
public sealed record BodySection(IReadOnlyList<int> Part, SectionText Text, IReadOnlyList<string>? Fields)
{
    /// <summary>The empty section: the whole message.</summary>
    public static BodySection Whole { get; } = new([], SectionText.None, null);

    /// <summary>The section as written back in a response (field names upper-cased, as Dovecot and Cyrus do).</summary>
    public string Format()
    {
        var parts = string.Join('.', Part);
        string text = Text switch
        {
            SectionText.Header => "HEADER",
            SectionText.HeaderFields => "HEADER.FIELDS (" + string.Join(' ', Fields!.Select(f => f.ToUpperInvariant())) + ")",
            SectionText.HeaderFieldsNot => "HEADER.FIELDS.NOT (" + string.Join(' ', Fields!.Select(f => f.ToUpperInvariant())) + ")",
            SectionText.Text => "TEXT",
            SectionText.Mime => "MIME",
            _ => "",
        };
        return parts.Length > 0 && text.Length > 0 ? parts + "." + text : parts + text;
    }
}

/// <summary>One requested fetch attribute.</summary>
/// <param name="Attribute">Which attribute.</param>
/// <param name="Section">For Section/Binary/BinarySize: the section.</param>
/// <param name="Peek">BODY.PEEK / BINARY.PEEK / RFC822.HEADER: do not set \Seen.</param>
/// <param name="PartialStart">Start of a partial fetch ("&lt;start.len&gt;").</param>
/// <param name="PartialLength">Length of a partial fetch.</param>
/// <param name="Alias">RFC822, RFC822.HEADER or RFC822.TEXT when the item was requested by that name (the response uses it).</param>
public sealed record FetchItem(FetchAttribute Attribute, BodySection? Section = null, bool Peek = false, uint? PartialStart = null, uint? PartialLength = null, string? Alias = null);
