using System.Buffers;

namespace Letterlock.Imap.Protocol;

/// <summary>The parser's verdict on one framed command.</summary>
/// <param name="Command">The command, when valid.</param>
/// <param name="Tag">The tag, when it could be read (for BAD).</param>
/// <param name="Error">Why the command is malformed.</param>
public readonly record struct ParseResult(ImapCommand? Command, string? Tag, string? Error);

/// <summary>
/// Parses one whole command, as delimited by <see cref="ImapCommandFramer"/>, into an
/// <see cref="ImapCommand"/>. No I/O, no state besides the limits in <see cref="ImapServerOptions"/>.
/// The grammar of each command is quoted where it is parsed (RFC 9051, 9, plus the extensions).
/// </summary>
public static class ImapCommandParser
{
    /// <summary>Parses a framed command (which includes its final CRLF and its literals).</summary>
    public static ParseResult Parse(in ReadOnlySequence<byte> command, ImapServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var t = new ImapTokenizer(command, options);
        string? tag = null;
        try
        {
            // tag = 1*<any ASTRING-CHAR except "+">
            var tagText = t.AString();
            if (!ImapTokenizer.IsValidTag(System.Text.Encoding.UTF8.GetBytes(tagText)))
            {
                throw new ImapParseException("Invalid tag");
            }

            tag = tagText;
            t.Space();
            var verb = t.Atom().ToUpperInvariant();
            var cmd = ParseCommand(ref t, tag, verb);
            t.End();
            return new ParseResult(cmd, tag, null);
        }
        catch (ImapParseException e)
        {
            return new ParseResult(null, tag, e.Message);
        }
    }

    private static ImapCommand ParseCommand(ref ImapTokenizer t, string tag, string verb)
    {
        switch (verb)
        {
            // command-any = "CAPABILITY" / "LOGOUT" / "NOOP" / id ; command-nonauth =/ "STARTTLS"
            case "CAPABILITY" or "LOGOUT" or "NOOP" or "STARTTLS" or "NAMESPACE" or "IDLE" or "CLOSE" or "UNSELECT" or "CHECK" or "EXPUNGE":
                return verb == "EXPUNGE" ? new ExpungeCommand(tag, null) : new SimpleCommand(tag, verb);

            // authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp] ; initial-resp = (base64 / "=")
            case "AUTHENTICATE":
            {
                t.Space();
                var mech = t.Atom().ToUpperInvariant();
                string? initial = null;
                if (t.TrySpace())
                {
                    initial = t.Atom();
                }

                return new AuthenticateCommand(tag, mech, initial);
            }

            // compress = "COMPRESS" SP algorithm ; algorithm = "DEFLATE"   (RFC 4978)
            case "COMPRESS":
                t.Space();
                return new CompressCommand(tag, t.Atom().ToUpperInvariant());

            // login = "LOGIN" SP userid SP password ; userid = astring ; password = astring
            case "LOGIN":
            {
                t.Space();
                var user = t.AString();
                t.Space();
                var password = t.AString();
                return new LoginCommand(tag, user, password);
            }

            // enable = "ENABLE" 1*(SP capability)
            case "ENABLE":
            {
                var caps = new List<string>();
                t.Space();
                do
                {
                    caps.Add(t.Atom().ToUpperInvariant());
                }
                while (t.TrySpace());
                return new EnableCommand(tag, caps);
            }

            case "SELECT" or "EXAMINE":
                return ParseSelect(ref t, tag, verb == "EXAMINE");

            // create = "CREATE" SP mailbox [create-params] ; create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")"  (RFC 6154)
            case "CREATE":
            {
                t.Space();
                var mailbox = t.AString();
                List<string>? use = null;
                if (t.TrySpace())
                {
                    t.Open();
                    if (!t.TryKeyword("USE"))
                    {
                        throw new ImapParseException("Unknown CREATE parameter");
                    }

                    t.Space();
                    use = t.FlagList();
                    t.Close();
                }

                return new MailboxCommand(tag, verb, mailbox, use);
            }

            // delete = "DELETE" SP mailbox ; subscribe = "SUBSCRIBE" SP mailbox ; unsubscribe = "UNSUBSCRIBE" SP mailbox
            case "DELETE" or "SUBSCRIBE" or "UNSUBSCRIBE":
                t.Space();
                return new MailboxCommand(tag, verb, t.AString());

            // rename = "RENAME" SP mailbox SP mailbox
            case "RENAME":
            {
                t.Space();
                var from = t.AString();
                t.Space();
                return new RenameCommand(tag, from, t.AString());
            }

            case "LIST" or "LSUB":
                return ParseList(ref t, tag, verb == "LSUB");

            // status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
            case "STATUS":
            {
                t.Space();
                var mailbox = t.AString();
                t.Space();
                var items = StatusItems(ref t);
                return new StatusCommand(tag, mailbox, items);
            }

            case "APPEND":
                return ParseAppend(ref t, tag);

            // id = "ID" SP id-params-list ; id-params-list = "(" *(string SP nstring) ")" / nil   (RFC 2971)
            case "ID":
            {
                t.Space();
                if (t.TryKeyword("NIL"))
                {
                    return new IdCommand(tag, null);
                }

                var list = new List<KeyValuePair<string, string?>>();
                t.Open();
                if (!t.TryClose())
                {
                    do
                    {
                        var key = t.String();
                        t.Space();
                        var value = t.NString();
                        if (list.Count < 30)
                        {
                            list.Add(new(key, value));
                        }
                    }
                    while (t.TrySpace());
                    t.Close();
                }

                return new IdCommand(tag, list);
            }

            case "SEARCH":
                return ParseSearch(ref t, tag, byUid: false);
            case "SORT":
                return ParseSort(ref t, tag, byUid: false);
            case "THREAD":
                return ParseThread(ref t, tag, byUid: false);
            case "FETCH":
                return ParseFetch(ref t, tag, byUid: false);
            case "STORE":
                return ParseStore(ref t, tag, byUid: false);
            case "COPY" or "MOVE":
            {
                t.Space();
                var set = t.SequenceSet();
                t.Space();
                return new CopyCommand(tag, false, verb == "MOVE", set, t.AString());
            }

            // uid = "UID" SP (copy / move / fetch / search / store / uid-expunge)
            case "UID":
            {
                t.Space();
                var sub = t.Atom().ToUpperInvariant();
                switch (sub)
                {
                    case "SEARCH":
                        return ParseSearch(ref t, tag, byUid: true);
                    case "SORT":
                        return ParseSort(ref t, tag, byUid: true);
                    case "THREAD":
                        return ParseThread(ref t, tag, byUid: true);
                    case "FETCH":
                        return ParseFetch(ref t, tag, byUid: true);
                    case "STORE":
                        return ParseStore(ref t, tag, byUid: true);
                    case "COPY" or "MOVE":
                    {
                        t.Space();
                        var set = t.SequenceSet();
                        t.Space();
                        return new CopyCommand(tag, true, sub == "MOVE", set, t.AString());
                    }

                    // uid-expunge = "EXPUNGE" SP sequence-set   (RFC 4315)
                    case "EXPUNGE":
                        t.Space();
                        return new ExpungeCommand(tag, t.SequenceSet());
                    default:
                        throw new ImapParseException("Unknown UID command");
                }
            }

            default:
                throw new ImapParseException("Unknown command");
        }
    }

    // select = "SELECT" SP mailbox [select-params]
    // select-params = SP "(" select-param *(SP select-param) ")"
    // select-param = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"   (RFC 7162)
    // seq-match-data = "(" known-sequence-set SP known-uid-set ")"
    private static SelectCommand ParseSelect(ref ImapTokenizer t, string tag, bool readOnly)
    {
        t.Space();
        var mailbox = t.AString();
        bool condstore = false;
        QresyncParameters? qresync = null;
        if (t.TrySpace())
        {
            t.Open();
            do
            {
                if (t.TryKeyword("CONDSTORE"))
                {
                    condstore = true;
                }
                else if (t.TryKeyword("QRESYNC"))
                {
                    t.Space();
                    t.Open();
                    uint validity = t.Number(nonZero: true);
                    t.Space();
                    ulong modseq = t.Number64();
                    SequenceSet? knownUids = null, seqs = null, uids = null;
                    if (t.TrySpace())
                    {
                        if (!t.Peek((byte)'('))
                        {
                            knownUids = t.SequenceSet();
                            if (knownUids.IsSaved || knownUids.Ranges.Any(r => r.Start == SequenceSet.Star || r.End == SequenceSet.Star))
                            {
                                throw new ImapParseException("'*' is not allowed in known-uids");
                            }
                        }

                        if (knownUids is null || t.TrySpace())
                        {
                            t.Open();
                            seqs = t.SequenceSet();
                            t.Space();
                            uids = t.SequenceSet();
                            t.Close();
                        }
                    }

                    t.Close();
                    qresync = new QresyncParameters(validity, modseq, knownUids, seqs, uids);
                }
                else
                {
                    throw new ImapParseException("Unknown SELECT parameter");
                }
            }
            while (t.TrySpace());
            t.Close();
        }

        return new SelectCommand(tag, mailbox, readOnly, condstore || qresync is not null, qresync);
    }

    // list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]   (RFC 5258)
    // list-select-opts = "(" [list-select-opt *(SP list-select-opt)] ")"
    // mbox-or-pat = list-mailbox / patterns ; patterns = "(" list-mailbox *(SP list-mailbox) ")"
    // list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
    // return-option = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" / "STATUS" SP "(" status-att-list ")"   (RFC 5819)
    private static ListCommand ParseList(ref ImapTokenizer t, string tag, bool lsub)
    {
        t.Space();
        var selection = new List<string>();
        if (!lsub && t.TryOpen())
        {
            if (!t.TryClose())
            {
                do
                {
                    // list-select-opt = "SUBSCRIBED" / "REMOTE" / "RECURSIVEMATCH" / "SPECIAL-USE"   (RFC 5258, RFC 6154)
                    var option = t.Atom().ToUpperInvariant();
                    if (option is not ("SUBSCRIBED" or "REMOTE" or "RECURSIVEMATCH" or "SPECIAL-USE"))
                    {
                        throw new ImapParseException("Unknown LIST selection option");
                    }

                    selection.Add(option);
                }
                while (t.TrySpace());
                t.Close();
            }

            // RECURSIVEMATCH needs another selection option to modify (RFC 5258, 3).
            if (selection.Contains("RECURSIVEMATCH") && !selection.Exists(o => o is "SUBSCRIBED" or "SPECIAL-USE"))
            {
                throw new ImapParseException("RECURSIVEMATCH needs another selection option");
            }

            t.Space();
        }

        var reference = t.AString();
        t.Space();
        var patterns = new List<string>();
        if (!lsub && t.TryOpen())
        {
            do
            {
                patterns.Add(t.ListMailbox());
            }
            while (t.TrySpace());
            t.Close();
        }
        else
        {
            patterns.Add(t.ListMailbox());
        }

        var returns = new List<string>();
        List<string>? statusItems = null;
        if (!lsub && t.TrySpace())
        {
            if (!t.TryKeyword("RETURN"))
            {
                throw new ImapParseException("Expected RETURN");
            }

            t.Space();
            t.Open();
            if (!t.TryClose())
            {
                do
                {
                    var option = t.Atom().ToUpperInvariant();
                    if (option is not ("SUBSCRIBED" or "CHILDREN" or "SPECIAL-USE" or "STATUS"))
                    {
                        throw new ImapParseException("Unknown LIST return option");
                    }

                    returns.Add(option);
                    if (option == "STATUS")
                    {
                        t.Space();
                        statusItems = StatusItems(ref t);
                    }
                }
                while (t.TrySpace());
                t.Close();
            }
        }

        return new ListCommand(tag, lsub, reference, patterns, selection, returns, statusItems);
    }

    // status-att = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN" / "DELETED" / "SIZE" / "HIGHESTMODSEQ" / "RECENT"
    private static List<string> StatusItems(ref ImapTokenizer t)
    {
        var items = new List<string>();
        t.Open();
        do
        {
            var item = t.Atom().ToUpperInvariant();
            if (item is not ("MESSAGES" or "UIDNEXT" or "UIDVALIDITY" or "UNSEEN" or "DELETED" or "SIZE" or "HIGHESTMODSEQ" or "RECENT"))
            {
                throw new ImapParseException("Unknown status item");
            }

            items.Add(item);
        }
        while (t.TrySpace());
        t.Close();
        return items;
    }

    // append = "APPEND" SP mailbox 1*append-message               (RFC 3502, MULTIAPPEND)
    // append-message = append-opts SP append-data ; append-opts = [SP flag-list] [SP date-time]
    // append-data = literal / literal8 / "CATENATE" SP "(" cat-part *(SP cat-part) ")"   (RFC 3516, RFC 4469)
    // cat-part = text-literal / url ; text-literal = "TEXT" SP (literal / literal8) ; url = "URL" SP astring
    private static AppendCommand ParseAppend(ref ImapTokenizer t, string tag)
    {
        t.Space();
        var mailbox = t.AString();
        var messages = new List<AppendMessage>();
        do
        {
            t.Space();
            List<string> flags = [];
            if (t.Peek((byte)'('))
            {
                flags = t.FlagList();
                t.Space();
            }

            DateTimeOffset? date = null;
            if (t.Peek((byte)'"'))
            {
                date = t.DateTime();
                t.Space();
            }

            if (t.TryKeyword("CATENATE"))
            {
                t.Space();
                t.Open();
                var parts = new List<AppendPart>();
                do
                {
                    if (t.TryKeyword("TEXT"))
                    {
                        t.Space();
                        var text = t.Literal(allowBinary: true, out bool textBinary);
                        parts.Add(new AppendText(text.ToArray(), textBinary));
                    }
                    else if (t.TryKeyword("URL"))
                    {
                        t.Space();
                        parts.Add(new AppendUrl(t.AString()));
                    }
                    else
                    {
                        throw new ImapParseException("Expected TEXT or URL");
                    }
                }
                while (t.TrySpace());
                t.Close();
                messages.Add(new AppendMessage(flags, date, parts, Catenate: true));
            }
            else
            {
                var data = t.Literal(allowBinary: true, out bool binary);
                messages.Add(new AppendMessage(flags, date, [new AppendText(data.ToArray(), binary)], Catenate: false));
            }
        }
        while (t.Peek((byte)' '));
        return new AppendCommand(tag, mailbox, messages);
    }

    // search = "SEARCH" [search-return-opts] SP search-program
    // search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
    private static SearchCommand ParseSearch(ref ImapTokenizer t, string tag, bool byUid)
    {
        t.Space();
        var returns = ReturnOptions(ref t);

        string? charset = null;
        if (t.TryKeyword("CHARSET"))
        {
            t.Space();
            charset = t.AString().ToUpperInvariant();
            t.Space();
        }

        return new SearchCommand(tag, byUid, returns, charset, SearchKeys(ref t));
    }

    // search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"   (RFC 4731)
    // search-return-opt = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE"   (SAVE: RFC 5182)
    // Returns null when there is no RETURN; consumes the space after the closing parenthesis.
    private static List<string>? ReturnOptions(ref ImapTokenizer t)
    {
        if (!t.TryKeyword("RETURN"))
        {
            return null;
        }

        var returns = new List<string>();
        t.Space();
        t.Open();
        if (!t.TryClose())
        {
            do
            {
                var option = t.Atom().ToUpperInvariant();
                if (option is not ("MIN" or "MAX" or "ALL" or "COUNT" or "SAVE"))
                {
                    throw new ImapParseException("Unknown search return option");
                }

                returns.Add(option);
            }
            while (t.TrySpace());
            t.Close();
        }

        t.Space();
        return returns;
    }

    // search-key *(SP search-key), as one key
    private static SearchKey SearchKeys(ref ImapTokenizer t)
    {
        var keys = new List<SearchKey>();
        do
        {
            keys.Add(SearchKeyOf(ref t));
        }
        while (t.TrySpace());
        return keys.Count == 1 ? keys[0] : new AndKey(keys);
    }

    // sort = ["UID" SP] "SORT" SP [search-return-opts SP] sort-criteria SP search-criteria   (RFC 5256, RFC 5267)
    // sort-criteria = "(" sort-criterion *(SP sort-criterion) ")" ; sort-criterion = ["REVERSE" SP] sort-key
    // sort-key = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" / "SUBJECT" / "TO"
    // search-criteria = charset 1*(SP search-key)
    private static SortCommand ParseSort(ref ImapTokenizer t, string tag, bool byUid)
    {
        t.Space();
        var returns = ReturnOptions(ref t);
        var criteria = new List<SortCriterion>();
        t.Open();
        do
        {
            bool reverse = t.TryKeyword("REVERSE");
            if (reverse)
            {
                t.Space();
            }

            var key = t.Atom().ToUpperInvariant() switch
            {
                "ARRIVAL" => SortKey.Arrival,
                "CC" => SortKey.Cc,
                "DATE" => SortKey.Date,
                "FROM" => SortKey.From,
                "SIZE" => SortKey.Size,
                "SUBJECT" => SortKey.Subject,
                "TO" => SortKey.To,
                _ => throw new ImapParseException("Unknown sort key"),
            };
            criteria.Add(new SortCriterion(key, reverse));
        }
        while (t.TrySpace());
        t.Close();
        t.Space();
        var charset = t.AString().ToUpperInvariant();
        t.Space();
        return new SortCommand(tag, byUid, returns, criteria, charset, SearchKeys(ref t));
    }

    // thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria ; thread-alg = "ORDEREDSUBJECT" / "REFERENCES" / atom
    private static ThreadCommand ParseThread(ref ImapTokenizer t, string tag, bool byUid)
    {
        t.Space();
        var algorithm = t.Atom().ToUpperInvariant();
        t.Space();
        var charset = t.AString().ToUpperInvariant();
        t.Space();
        return new ThreadCommand(tag, byUid, algorithm, charset, SearchKeys(ref t));
    }

    private static SearchKey SearchKeyOf(ref ImapTokenizer t)
    {
        // "(" search-key *(SP search-key) ")"
        if (t.TryOpen())
        {
            var keys = new List<SearchKey>();
            do
            {
                keys.Add(SearchKeyOf(ref t));
            }
            while (t.TrySpace());
            t.Close();
            return keys.Count == 1 ? keys[0] : new AndKey(keys);
        }

        // sequence-set
        if (t.PeekSequenceSet())
        {
            return new SequenceKey(t.SequenceSet());
        }

        var word = t.Atom().ToUpperInvariant();
        switch (word)
        {
            case "ALL": return AllKey.Instance;
            case "ANSWERED": return new FlagKey(@"\Answered", true);
            case "DELETED": return new FlagKey(@"\Deleted", true);
            case "DRAFT": return new FlagKey(@"\Draft", true);
            case "FLAGGED": return new FlagKey(@"\Flagged", true);
            case "SEEN": return new FlagKey(@"\Seen", true);
            case "UNANSWERED": return new FlagKey(@"\Answered", false);
            case "UNDELETED": return new FlagKey(@"\Deleted", false);
            case "UNDRAFT": return new FlagKey(@"\Draft", false);
            case "UNFLAGGED": return new FlagKey(@"\Flagged", false);
            case "UNSEEN": return new FlagKey(@"\Seen", false);

            // IMAP4rev1 keys (RFC 3501, 6.4.4): NEW = RECENT UNSEEN, OLD = NOT RECENT.
            case "RECENT": return RecentKey.Instance;
            case "NEW": return new AndKey([RecentKey.Instance, new FlagKey(@"\Seen", false)]);
            case "OLD": return new NotKey(RecentKey.Instance);
            case "KEYWORD" or "UNKEYWORD":
                t.Space();
                return new FlagKey(t.Atom(), word == "KEYWORD");
            case "BCC" or "CC" or "FROM" or "SUBJECT" or "TO":
                t.Space();
                return new HeaderKey(word, t.AString());
            case "HEADER":
            {
                // "HEADER" SP header-fld-name SP astring
                t.Space();
                var field = t.AString();
                t.Space();
                return new HeaderKey(field, t.AString());
            }

            case "BODY":
                t.Space();
                return new BodyKey(t.AString());
            case "TEXT":
                t.Space();
                return new TextKey(t.AString());
            case "BEFORE" or "ON" or "SINCE" or "SENTBEFORE" or "SENTON" or "SENTSINCE":
            {
                t.Space();
                var date = t.Date();
                var cmp = word.EndsWith("BEFORE", StringComparison.Ordinal) ? DateComparison.Before : word.EndsWith("ON", StringComparison.Ordinal) ? DateComparison.On : DateComparison.Since;
                return new DateKey(cmp, date, word.StartsWith("SENT", StringComparison.Ordinal));
            }

            case "LARGER" or "SMALLER":
                t.Space();
                return new SizeKey(word == "LARGER", t.Number());
            case "UID":
                t.Space();
                return new UidKey(t.SequenceSet());
            case "NOT":
            {
                t.Space();
                t.Nest();
                var inner = SearchKeyOf(ref t);
                t.Unnest();
                return new NotKey(inner);
            }

            case "OR":
            {
                t.Space();
                t.Nest();
                var left = SearchKeyOf(ref t);
                t.Space();
                var right = SearchKeyOf(ref t);
                t.Unnest();
                return new OrKey(left, right);
            }

            // search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer   (RFC 7162)
            // search-modseq-ext = SP entry-name SP entry-type-req
            case "MODSEQ":
            {
                t.Space();
                if (t.Peek((byte)'"'))
                {
                    t.String();
                    t.Space();
                    t.Atom();
                    t.Space();
                }

                return new ModSeqKey(t.Number64());
            }

            default:
                throw new ImapParseException("Unknown search key");
        }
    }

    // fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
    // fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
    // fetch-modifier = "CHANGEDSINCE" SP mod-sequence-value / "VANISHED"   (RFC 7162)
    private static FetchCommand ParseFetch(ref ImapTokenizer t, string tag, bool byUid)
    {
        t.Space();
        var set = t.SequenceSet();
        t.Space();
        var items = new List<FetchItem>();
        if (t.TryOpen())
        {
            do
            {
                FetchAtt(ref t, items);
            }
            while (t.TrySpace());
            t.Close();
        }
        else if (t.TryKeyword("ALL"))
        {
            items.AddRange([new(FetchAttribute.Flags), new(FetchAttribute.InternalDate), new(FetchAttribute.Size), new(FetchAttribute.Envelope)]);
        }
        else if (t.TryKeyword("FAST"))
        {
            items.AddRange([new(FetchAttribute.Flags), new(FetchAttribute.InternalDate), new(FetchAttribute.Size)]);
        }
        else if (t.TryKeyword("FULL"))
        {
            items.AddRange([new(FetchAttribute.Flags), new(FetchAttribute.InternalDate), new(FetchAttribute.Size), new(FetchAttribute.Envelope), new(FetchAttribute.Body)]);
        }
        else
        {
            FetchAtt(ref t, items);
        }

        ulong? changedSince = null;
        bool vanished = false;
        if (t.TrySpace())
        {
            t.Open();
            do
            {
                if (t.TryKeyword("CHANGEDSINCE"))
                {
                    t.Space();
                    changedSince = t.Number64();
                }
                else if (t.TryKeyword("VANISHED"))
                {
                    vanished = true;
                }
                else
                {
                    throw new ImapParseException("Unknown FETCH modifier");
                }
            }
            while (t.TrySpace());
            t.Close();
        }

        if (vanished && (!byUid || changedSince is null))
        {
            // RFC 7162, 3.2.6: VANISHED is only valid with UID FETCH and CHANGEDSINCE.
            throw new ImapParseException("VANISHED requires UID FETCH with CHANGEDSINCE");
        }

        return new FetchCommand(tag, byUid, set, items, changedSince, vanished);
    }

    // fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822.SIZE" / "BODY" ["STRUCTURE"] / "UID" /
    //             "BODY" section [partial] / "BODY.PEEK" section [partial] / "BINARY" [".PEEK"] section-binary [partial] /
    //             "BINARY.SIZE" section-binary / "MODSEQ" / "RFC822" / "RFC822.HEADER" / "RFC822.TEXT"
    private static void FetchAtt(ref ImapTokenizer t, List<FetchItem> items)
    {
        var name = t.FetchAtom().ToUpperInvariant();
        switch (name)
        {
            case "FLAGS": items.Add(new(FetchAttribute.Flags)); return;
            case "INTERNALDATE": items.Add(new(FetchAttribute.InternalDate)); return;
            case "RFC822.SIZE": items.Add(new(FetchAttribute.Size)); return;
            case "ENVELOPE": items.Add(new(FetchAttribute.Envelope)); return;
            case "BODYSTRUCTURE": items.Add(new(FetchAttribute.BodyStructure)); return;
            case "UID": items.Add(new(FetchAttribute.Uid)); return;
            case "MODSEQ": items.Add(new(FetchAttribute.ModSeq)); return;
            case "RFC822": items.Add(new(FetchAttribute.Section, BodySection.Whole, Alias: "RFC822")); return;
            case "RFC822.HEADER": items.Add(new(FetchAttribute.Section, new BodySection([], SectionText.Header, null), Peek: true, Alias: "RFC822.HEADER")); return;
            case "RFC822.TEXT": items.Add(new(FetchAttribute.Section, new BodySection([], SectionText.Text, null), Alias: "RFC822.TEXT")); return;
            case "BODY" or "BODY.PEEK":
                if (!t.Peek((byte)'['))
                {
                    if (name == "BODY.PEEK")
                    {
                        throw new ImapParseException("BODY.PEEK needs a section");
                    }

                    items.Add(new(FetchAttribute.Body));
                    return;
                }

                {
                    var section = Section(ref t);
                    var (start, length) = Partial(ref t);
                    items.Add(new(FetchAttribute.Section, section, name == "BODY.PEEK", start, length));
                    return;
                }

            case "BINARY" or "BINARY.PEEK" or "BINARY.SIZE":
            {
                var section = Section(ref t);
                if (name == "BINARY.SIZE")
                {
                    items.Add(new(FetchAttribute.BinarySize, section));
                    return;
                }

                var (start, length) = Partial(ref t);
                items.Add(new(FetchAttribute.Binary, section, name == "BINARY.PEEK", start, length));
                return;
            }

            default:
                throw new ImapParseException("Unknown fetch attribute");
        }
    }

    // section = "[" [section-spec] "]" ; section-spec = section-msgtext / (section-part ["." section-text])
    // section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
    // section-part = nz-number *("." nz-number) ; section-text = section-msgtext / "MIME"
    // header-list = "(" header-fld-name *(SP header-fld-name) ")" ; section-binary = "[" [section-part] "]"
    private static BodySection Section(ref ImapTokenizer t)
    {
        t.Expect((byte)'[', "'['");
        var parts = new List<int>();
        var text = SectionText.None;
        List<string>? fields = null;
        if (t.TryConsume((byte)']'))
        {
            return BodySection.Whole;
        }

        while (t.PeekDigit())
        {
            parts.Add((int)Math.Min(t.Number(nonZero: true), int.MaxValue));
            if (parts.Count > 64)
            {
                throw new ImapParseException("Section too deep");
            }

            if (!t.TryConsume((byte)'.'))
            {
                break;
            }
        }

        if (!t.Peek((byte)']'))
        {
            // section-binary = "[" [section-part] "]" (RFC 3516): a section-text after the part numbers is outside
            // the grammar, but Dovecot accepts it and clients and test suites use it, so BINARY takes it too.
            var word = t.FetchAtom().ToUpperInvariant();
            switch (word)
            {
                case "HEADER": text = SectionText.Header; break;
                case "TEXT": text = SectionText.Text; break;
                case "MIME" when parts.Count > 0: text = SectionText.Mime; break;
                case "HEADER.FIELDS" or "HEADER.FIELDS.NOT":
                {
                    text = word == "HEADER.FIELDS" ? SectionText.HeaderFields : SectionText.HeaderFieldsNot;
                    t.Space();
                    t.Open();
                    fields = [];
                    do
                    {
                        fields.Add(t.AString());
                    }
                    while (t.TrySpace());
                    t.Close();
                    break;
                }

                default:
                    throw new ImapParseException("Invalid section");
            }
        }

        t.Expect((byte)']', "']'");
        return new BodySection(parts, text, fields);
    }

    /// <summary>
    /// Parses a section-spec as written inside "[...]" (an IMAP URL's ";SECTION=", RFC 5092), for example
    /// <c>1.2.HEADER.FIELDS (From)</c>; null when it is not one.
    /// </summary>
    internal static BodySection? ParseSectionSpec(string spec, ImapServerOptions options)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes("[" + spec + "]\r\n");
        var t = new ImapTokenizer(new ReadOnlySequence<byte>(bytes), options);
        try
        {
            var section = Section(ref t);
            t.End();
            return section;
        }
        catch (ImapParseException)
        {
            return null;
        }
    }

    // partial = "<" number64 "." nz-number64 ">"
    private static (uint?, uint?) Partial(ref ImapTokenizer t)
    {
        if (!t.TryConsume((byte)'<'))
        {
            return (null, null);
        }

        uint start = t.Number();
        t.Expect((byte)'.', "'.'");
        uint length = t.Number(nonZero: true);
        t.Expect((byte)'>', "'>'");
        return (start, length);
    }

    // store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
    // store-modifiers = SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"   (RFC 7162)
    // store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
    private static StoreCommand ParseStore(ref ImapTokenizer t, string tag, bool byUid)
    {
        t.Space();
        var set = t.SequenceSet();
        t.Space();
        ulong? unchangedSince = null;
        if (t.TryOpen())
        {
            if (!t.TryKeyword("UNCHANGEDSINCE"))
            {
                throw new ImapParseException("Unknown STORE modifier");
            }

            t.Space();
            unchangedSince = t.Number64();
            t.Close();
            t.Space();
        }

        var mode = t.TryConsume((byte)'+') ? StoreMode.Add : t.TryConsume((byte)'-') ? StoreMode.Remove : StoreMode.Replace;
        var att = t.Atom().ToUpperInvariant();
        if (att is not ("FLAGS" or "FLAGS.SILENT"))
        {
            throw new ImapParseException("Expected FLAGS");
        }

        t.Space();
        List<string> flags;
        if (t.Peek((byte)'('))
        {
            flags = t.FlagList();
        }
        else
        {
            flags = [];
            do
            {
                flags.Add(t.Flag());
            }
            while (t.TrySpace());
        }

        return new StoreCommand(tag, byUid, set, unchangedSince, mode, att == "FLAGS.SILENT", flags);
    }
}
