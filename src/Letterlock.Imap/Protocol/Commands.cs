namespace Letterlock.Imap.Protocol;

/// <summary>A complete, syntactically valid client command (RFC 9051, 6 and the extensions).</summary>
/// <param name="Tag">The client's tag, echoed in the tagged response.</param>
public abstract record ImapCommand(string Tag)
{
    /// <summary>The command name in upper case, as used for state checks and logs.</summary>
    public abstract string Name { get; }
}

/// <summary>CAPABILITY, NOOP, LOGOUT, STARTTLS, NAMESPACE, IDLE, CLOSE, UNSELECT, CHECK, EXPUNGE: commands without arguments.</summary>
public sealed record SimpleCommand(string Tag, string Verb) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => Verb;
}

/// <summary><c>compress = "COMPRESS" SP algorithm</c> (RFC 4978).</summary>
public sealed record CompressCommand(string Tag, string Algorithm) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => "COMPRESS";
}

/// <summary><c>authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]</c> (RFC 9051 with SASL-IR, RFC 4959).</summary>
public sealed record AuthenticateCommand(string Tag, string Mechanism, string? InitialResponse) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => "AUTHENTICATE";
}

/// <summary><c>login = "LOGIN" SP userid SP password</c>. The password is never logged.</summary>
public sealed record LoginCommand(string Tag, string User, string Password) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => "LOGIN";

    /// <summary>Keeps the password out of ToString (and so out of any log).</summary>
    public override string ToString() => $"LoginCommand {{ Tag = {Tag}, User = {User}, Password = *** }}";
}

/// <summary><c>enable = "ENABLE" 1*(SP capability)</c> (RFC 5161).</summary>
public sealed record EnableCommand(string Tag, IReadOnlyList<string> Capabilities) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => "ENABLE";
}

/// <summary>QRESYNC parameters of SELECT (RFC 7162, 3.2.5).</summary>
public sealed record QresyncParameters(uint UidValidity, ulong ModSeq, SequenceSet? KnownUids, SequenceSet? KnownSequenceNumbers, SequenceSet? KnownSequenceUids);

/// <summary>SELECT or EXAMINE with the CONDSTORE/QRESYNC select parameters.</summary>
public sealed record SelectCommand(string Tag, string Mailbox, bool ReadOnly, bool Condstore, QresyncParameters? Qresync) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => ReadOnly ? "EXAMINE" : "SELECT";
}

/// <summary>CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE: commands on one mailbox name.</summary>
public sealed record MailboxCommand(string Tag, string Verb, string Mailbox, IReadOnlyList<string>? UseAttributes = null) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => Verb;
}

/// <summary><c>rename = "RENAME" SP mailbox SP mailbox</c>.</summary>
public sealed record RenameCommand(string Tag, string From, string To) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => "RENAME";
}

/// <summary>LIST (with LIST-EXTENDED selection and return options, RFC 5258, LIST-STATUS RFC 5819) and LSUB.</summary>
public sealed record ListCommand(
    string Tag,
    bool Lsub,
    string Reference,
    IReadOnlyList<string> Patterns,
    IReadOnlyList<string> SelectionOptions,
    IReadOnlyList<string> ReturnOptions,
    IReadOnlyList<string>? StatusItems) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => Lsub ? "LSUB" : "LIST";
}

/// <summary><c>status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"</c>.</summary>
public sealed record StatusCommand(string Tag, string Mailbox, IReadOnlyList<string> Items) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => "STATUS";
}

/// <summary>
/// APPEND with MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469): one or more messages, each a literal or a
/// catenation of text literals and URLs. <c>append = "APPEND" SP mailbox 1*append-message</c>.
/// </summary>
public sealed record AppendCommand(string Tag, string Mailbox, IReadOnlyList<AppendMessage> Messages) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => "APPEND";

    /// <summary>Keeps message content out of ToString.</summary>
    public override string ToString() => $"AppendCommand {{ Tag = {Tag}, Mailbox = {Mailbox}, Messages = {Messages.Count} }}";
}

/// <summary>
/// One message of an APPEND: <c>append-message = append-opts SP append-data</c>,
/// <c>append-opts = [SP flag-list] [SP date-time]</c>. A plain literal is one <see cref="AppendText"/> part.
/// </summary>
/// <param name="Flags">The flag-list.</param>
/// <param name="InternalDate">The date-time, when given.</param>
/// <param name="Parts">The literal, or the CATENATE parts in order.</param>
/// <param name="Catenate">Whether the data was <c>"CATENATE" SP "(" cat-part *(SP cat-part) ")"</c>.</param>
public sealed record AppendMessage(IReadOnlyList<string> Flags, DateTimeOffset? InternalDate, IReadOnlyList<AppendPart> Parts, bool Catenate)
{
    /// <summary>Keeps message content out of ToString.</summary>
    public override string ToString() => $"AppendMessage {{ Parts = {Parts.Count} }}";
}

/// <summary>A part of an appended message.</summary>
public abstract record AppendPart;

/// <summary>Bytes sent by the client: the APPEND literal, or <c>text-literal = "TEXT" SP literal</c> (literal8 with BINARY).</summary>
public sealed record AppendText(byte[] Data, bool Binary) : AppendPart
{
    /// <summary>Keeps message content out of ToString.</summary>
    public override string ToString() => $"AppendText {{ Size = {Data.Length} }}";
}

/// <summary><c>url = "URL" SP astring</c>: an IMAP URL (RFC 5092) naming a message or part on this server.</summary>
public sealed record AppendUrl(string Url) : AppendPart;

/// <summary><c>id = "ID" SP id-params-list</c> (RFC 2971); null when the client sent NIL.</summary>
public sealed record IdCommand(string Tag, IReadOnlyList<KeyValuePair<string, string?>>? Parameters) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => "ID";
}

/// <summary>EXPUNGE or <c>"UID EXPUNGE" SP sequence-set</c> (UIDPLUS).</summary>
public sealed record ExpungeCommand(string Tag, SequenceSet? UidSet) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => UidSet is null ? "EXPUNGE" : "UID EXPUNGE";
}

/// <summary>SEARCH / UID SEARCH with ESEARCH return options (RFC 4731, RFC 9051 6.4.4).</summary>
public sealed record SearchCommand(string Tag, bool ByUid, IReadOnlyList<string>? ReturnOptions, string? Charset, SearchKey Key) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => ByUid ? "UID SEARCH" : "SEARCH";
}

/// <summary>A SORT key (RFC 5256, 3).</summary>
public enum SortKey
{
    /// <summary>ARRIVAL: the internal date.</summary>
    Arrival,
    /// <summary>CC: the mailbox of the first Cc address.</summary>
    Cc,
    /// <summary>DATE: the sent date (the internal date when there is none).</summary>
    Date,
    /// <summary>FROM: the mailbox of the first From address.</summary>
    From,
    /// <summary>SIZE: RFC822.SIZE.</summary>
    Size,
    /// <summary>SUBJECT: the base subject.</summary>
    Subject,
    /// <summary>TO: the mailbox of the first To address.</summary>
    To,
}

/// <summary>One sort criterion: <c>sort-criterion = ["REVERSE" SP] sort-key</c>.</summary>
public readonly record struct SortCriterion(SortKey Key, bool Reverse);

/// <summary>SORT / UID SORT (RFC 5256) with ESORT's return options (RFC 5267).</summary>
public sealed record SortCommand(string Tag, bool ByUid, IReadOnlyList<string>? ReturnOptions, IReadOnlyList<SortCriterion> Criteria, string Charset, SearchKey Key) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => ByUid ? "UID SORT" : "SORT";
}

/// <summary>THREAD / UID THREAD (RFC 5256): <c>thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria</c>.</summary>
public sealed record ThreadCommand(string Tag, bool ByUid, string Algorithm, string Charset, SearchKey Key) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => ByUid ? "UID THREAD" : "THREAD";
}

/// <summary>FETCH / UID FETCH with CONDSTORE/QRESYNC modifiers.</summary>
public sealed record FetchCommand(string Tag, bool ByUid, SequenceSet Set, IReadOnlyList<FetchItem> Items, ulong? ChangedSince, bool Vanished) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => ByUid ? "UID FETCH" : "FETCH";
}

/// <summary>How STORE changes the flags.</summary>
public enum StoreMode
{
    /// <summary>FLAGS: replace.</summary>
    Replace,
    /// <summary>+FLAGS: add.</summary>
    Add,
    /// <summary>-FLAGS: remove.</summary>
    Remove,
}

/// <summary>STORE / UID STORE with the CONDSTORE UNCHANGEDSINCE modifier.</summary>
public sealed record StoreCommand(string Tag, bool ByUid, SequenceSet Set, ulong? UnchangedSince, StoreMode Mode, bool Silent, IReadOnlyList<string> Flags) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => ByUid ? "UID STORE" : "STORE";
}

/// <summary>COPY / MOVE and their UID forms.</summary>
public sealed record CopyCommand(string Tag, bool ByUid, bool Move, SequenceSet Set, string Mailbox) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public override string Name => (ByUid ? "UID " : "") + (Move ? "MOVE" : "COPY");
}
