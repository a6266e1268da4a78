using Letterlock.Imap.Backend;
using Letterlock.Imap.Protocol;

namespace Letterlock.Imap.Session;

public sealed partial class ImapSession
{
    private IMailAccount Account => _account ?? throw new InvalidOperationException("Not authenticated");

    /// <summary>Turns a mailbox name from the wire into the backend's form; null when it is not valid.</summary>
    private string? DecodeName(string wire)
    {
        var name = _utf8 ? wire : MailboxNameCodec.Decode(wire);
        if (name is null)
        {
            return null;
        }

        if (name.Equals("INBOX", StringComparison.OrdinalIgnoreCase))
        {
            return "INBOX";
        }

        if (name.StartsWith("INBOX/", StringComparison.OrdinalIgnoreCase))
        {
            name = "INBOX" + name[5..];
        }

        return name.TrimEnd('/');
    }

    private void WriteMailboxName(string name)
    {
        _writer.AString(_utf8 ? name : MailboxNameCodec.Encode(name));
    }

    private string? ValidateNewName(string name)
    {
        if (name.Length == 0 || name.Length > _options.MaxMailboxNameLength)
        {
            return "Invalid mailbox name length";
        }

        if (name.Split('/').Length > _options.MaxMailboxDepth)
        {
            return "Mailbox hierarchy too deep";
        }

        foreach (char c in name)
        {
            if (c is '%' or '*' || char.IsControl(c))
            {
                return "Mailbox name contains a forbidden character";
            }
        }

        if (name.StartsWith('/') || name.Contains("//", StringComparison.Ordinal))
        {
            return "Mailbox name has an empty level";
        }

        return null;
    }

    private async ValueTask<MailboxInfo?> FindAsync(string name, CancellationToken ct)
    {
        var all = await Account.ListMailboxesAsync(ct).ConfigureAwait(false);
        foreach (var m in all)
        {
            if (m.Name == name)
            {
                return m;
            }
        }

        return null;
    }

    private void Unselect()
    {
        if (_selected is not null)
        {
            _selected.Registration.Dispose();
            _selected = null;
            _changes.Clear();
            if (State == ImapState.Selected)
            {
                State = ImapState.Authenticated;
            }
        }
    }

    private Completion UnselectCommand()
    {
        Unselect();
        return Completion.Ok("UNSELECT completed");
    }

    private async ValueTask<Completion> CloseAsync(CancellationToken ct)
    {
        var selected = _selected!;
        if (!selected.ReadOnly)
        {
            // CLOSE expunges silently (RFC 9051, 6.4.1).
            await Account.ExpungeAsync(selected.Id, null, ct).ConfigureAwait(false);
        }

        Unselect();
        return Completion.Ok("CLOSE completed");
    }

    private async ValueTask<Completion> SelectAsync(SelectCommand select, CancellationToken ct)
    {
        if (_selected is not null)
        {
            Unselect();
            if (_qresync || _rev2)
            {
                // RFC 7162, 3.2.11 / RFC 9051, 7.1: the previous mailbox is closed.
                _writer.Raw("* OK [CLOSED] Previous mailbox closed\r\n"u8);
            }
        }

        var name = DecodeName(select.Mailbox);
        var info = name is null ? null : await FindAsync(name, ct).ConfigureAwait(false);
        if (info is null)
        {
            return Completion.No("No such mailbox", "NONEXISTENT");
        }

        var snapshot = await Account.OpenMailboxAsync(info.Id, this, ct).ConfigureAwait(false);
        if (snapshot is null)
        {
            return Completion.No("No such mailbox", "NONEXISTENT");
        }

        if (select.Condstore)
        {
            _condstore = true;
        }

        if (select.Qresync is not null && !_qresync)
        {
            snapshot.Registration.Dispose();
            return Completion.Bad("QRESYNC must be enabled first", "CLIENTBUG");
        }

        var index = new MessageIndex(snapshot.Uids, snapshot.Count);
        _selected = new SelectedMailbox(info.Id, info.Name, select.ReadOnly, index, snapshot.UidValidity, snapshot.Registration)
        {
            HighestModSeq = snapshot.HighestModSeq.Value,
        };
        State = ImapState.Selected;
        _selected.Keywords.UnionWith(snapshot.Keywords);
        WriteFlagsAndPermanentFlags(_selected);

        _writer.Raw("* "u8).Number((ulong)index.Count).Raw(" EXISTS\r\n"u8);
        if (!_rev2)
        {
            TakeRecentOnSelect(_selected, snapshot);
            _writer.Raw("* "u8).Number((ulong)_selected.Recent.Count).Raw(" RECENT\r\n"u8);
            if (snapshot.FirstUnseen is { } firstUnseen && index.SeqOf(firstUnseen.Value) is int seq and > 0)
            {
                _writer.Raw("* OK [UNSEEN "u8).Number((ulong)seq).Raw("] First unseen\r\n"u8);
            }
        }

        _writer.Raw("* OK [UIDVALIDITY "u8).Number(snapshot.UidValidity.Value).Raw("] UIDs valid\r\n"u8);
        _writer.Raw("* OK [UIDNEXT "u8).Number(snapshot.UidNext.Value).Raw("] Predicted next UID\r\n"u8);
        _writer.Raw("* OK [HIGHESTMODSEQ "u8).Number(snapshot.HighestModSeq.Value).Raw("] Highest\r\n"u8);
        if (_rev2)
        {
            _writer.Raw("* LIST () \"/\" "u8);
            WriteMailboxName(info.Name);
            _writer.Crlf();
        }

        if (select.Qresync is { } q && q.UidValidity == snapshot.UidValidity.Value)
        {
            await QresyncAsync(q, ct).ConfigureAwait(false);
        }

        return Completion.Ok(select.ReadOnly ? "EXAMINE completed" : "SELECT completed", select.ReadOnly ? "READ-ONLY" : "READ-WRITE");
    }

    /// <summary>
    /// \Recent on SELECT (RFC 3501, 2.3.2 and 6.3.1): a read-write SELECT takes every message no session has
    /// been told about yet; EXAMINE shows them as recent without taking them (RFC 3501, 6.3.2).
    /// </summary>
    private void TakeRecentOnSelect(SelectedMailbox selected, MailboxSnapshot snapshot)
    {
        var recent = _context.Recent;
        uint first = selected.ReadOnly
            ? recent.FirstUnclaimed(Account.AccountKey, selected.Id, selected.Validity, snapshot.UidNext)
            : recent.ClaimUpTo(Account.AccountKey, selected.Id, selected.Validity, snapshot.UidNext);
        for (int i = snapshot.Count - 1; i >= 0 && snapshot.Uids[i] >= first; i--)
        {
            selected.Recent.Add(snapshot.Uids[i]);
        }
    }

    /// <summary>Starts \Recent tracking of a mailbox that messages are about to be added to, at its current UIDNEXT.</summary>
    private async ValueTask TouchRecentAsync(MailboxInfo info, CancellationToken ct)
    {
        if (_context.Recent.IsTracked(Account.AccountKey, info.Id))
        {
            return;
        }

        var status = await Account.GetStatusAsync(info.Id, ct).ConfigureAwait(false);
        if (status is not null)
        {
            _context.Recent.Touch(Account.AccountKey, info.Id, status.UidValidity, status.UidNext);
        }
    }

    /// <summary>The FLAGS response and PERMANENTFLAGS code for the selected mailbox's keywords (RFC 9051, 7.3.5 and 7.1).</summary>
    private void WriteFlagsAndPermanentFlags(SelectedMailbox selected)
    {
        var keywords = selected.Keywords.Order(StringComparer.OrdinalIgnoreCase).ToList();
        _writer.Raw("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft"u8);
        foreach (var k in keywords)
        {
            _writer.Sp().Ascii(k);
        }

        _writer.Raw(")\r\n"u8);
        if (selected.ReadOnly)
        {
            _writer.Raw("* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n"u8);
            return;
        }

        _writer.Raw("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft"u8);
        foreach (var k in keywords)
        {
            _writer.Sp().Ascii(k);
        }

        _writer.Raw(" \\*)] Flags permitted\r\n"u8);
    }

    /// <summary>
    /// A keyword the client has not been told about is announced with new FLAGS and PERMANENTFLAGS before any
    /// FETCH carries it: a client may ignore flags that are not in the mailbox's FLAGS (RFC 9051, 7.3.5).
    /// </summary>
    private void AnnounceKeywords(MessageFlags flags)
    {
        if (_selected is not { } selected || flags.Keywords.IsEmpty)
        {
            return;
        }

        bool added = false;
        foreach (var k in flags.Keywords)
        {
            added |= selected.Keywords.Add(k);
        }

        if (added)
        {
            WriteFlagsAndPermanentFlags(selected);
        }
    }

    /// <summary>
    /// Turns CONDSTORE on for the session (RFC 7162, 3.1: FETCH/SEARCH MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE and
    /// STATUS HIGHESTMODSEQ enable it). The first time, with a mailbox selected, the client is given that
    /// mailbox's HIGHESTMODSEQ, which it may not have seen.
    /// </summary>
    private void EnableCondstore()
    {
        if (_condstore)
        {
            return;
        }

        _condstore = true;
        if (_selected is { } selected)
        {
            _writer.Raw("* OK [HIGHESTMODSEQ "u8).Number(selected.HighestModSeq).Raw("] Highest\r\n"u8);
        }
    }

    /// <summary>RFC 7162, 3.2.5.1: report what changed since the client's mod-sequence: VANISHED (EARLIER) and FETCH.</summary>
    private async ValueTask QresyncAsync(QresyncParameters q, CancellationToken ct)
    {
        var selected = _selected!;
        var expunged = await Account.GetExpungedSinceAsync(selected.Id, new ModSeq(q.ModSeq), ct).ConfigureAwait(false);
        var vanished = expunged.Where(u => q.KnownUids is null || q.KnownUids.Contains(u.Value, uint.MaxValue)).Select(u => u.Value).Order().ToList();
        if (vanished.Count > 0)
        {
            _writer.Raw("* VANISHED (EARLIER) "u8).Ascii(SequenceSet.Format(vanished)).Crlf();
        }

        var ranges = q.KnownUids is null
            ? [new UidRange(new Uid(1), new Uid(uint.MaxValue - 1))]
            : q.KnownUids.Normalize(uint.MaxValue - 1).Select(r => new UidRange(new Uid(r.Start), new Uid(r.End))).ToList();
        await foreach (var record in Account.FetchAsync(selected.Id, ranges, withStructure: false, ct).ConfigureAwait(false))
        {
            if (record.ModSeq.Value <= q.ModSeq)
            {
                continue;
            }

            int seq = selected.Index.SeqOf(record.Uid.Value);
            if (seq == 0)
            {
                continue;
            }

            _writer.Raw("* "u8).Number((ulong)seq).Raw(" FETCH (UID "u8).Number(record.Uid.Value).Raw(" FLAGS "u8);
            WriteFlags(record.Flags, record.Uid.Value);
            _writer.Raw(" MODSEQ ("u8).Number(record.ModSeq.Value).Raw("))\r\n"u8);
            await MaybeFlushAsync(ct).ConfigureAwait(false);
        }
    }

    private async ValueTask<Completion> CreateAsync(MailboxCommand create, CancellationToken ct)
    {
        var name = DecodeName(create.Mailbox);
        if (name is null)
        {
            return Completion.No("Invalid mailbox name", "CANNOT");
        }

        if (ValidateNewName(name) is { } problem)
        {
            return Completion.No(problem, "CANNOT");
        }

        var use = SpecialUse.None;
        foreach (var attr in create.UseAttributes ?? [])
        {
            var u = ParseSpecialUse(attr);
            if (u == SpecialUse.None)
            {
                return Completion.No("Unsupported special-use attribute", "USEATTR");
            }

            use |= u;
        }

        var status = await Account.CreateMailboxAsync(name, use, ct).ConfigureAwait(false);
        return status switch
        {
            MailboxOperationStatus.Ok => Completion.Ok("CREATE completed"),
            MailboxOperationStatus.AlreadyExists => Completion.No("Mailbox already exists", "ALREADYEXISTS"),
            _ => Completion.No("Cannot create mailbox", "CANNOT"),
        };
    }

    private static SpecialUse ParseSpecialUse(string attr) => attr.ToUpperInvariant() switch
    {
        @"\ALL" => SpecialUse.All,
        @"\ARCHIVE" => SpecialUse.Archive,
        @"\DRAFTS" => SpecialUse.Drafts,
        @"\FLAGGED" => SpecialUse.Flagged,
        @"\JUNK" => SpecialUse.Junk,
        @"\SENT" => SpecialUse.Sent,
        @"\TRASH" => SpecialUse.Trash,
        _ => SpecialUse.None,
    };

    private static IEnumerable<string> SpecialUseNames(SpecialUse use)
    {
        if (use.HasFlag(SpecialUse.All)) { yield return @"\All"; }
        if (use.HasFlag(SpecialUse.Archive)) { yield return @"\Archive"; }
        if (use.HasFlag(SpecialUse.Drafts)) { yield return @"\Drafts"; }
        if (use.HasFlag(SpecialUse.Flagged)) { yield return @"\Flagged"; }
        if (use.HasFlag(SpecialUse.Junk)) { yield return @"\Junk"; }
        if (use.HasFlag(SpecialUse.Sent)) { yield return @"\Sent"; }
        if (use.HasFlag(SpecialUse.Trash)) { yield return @"\Trash"; }
    }

    private async ValueTask<Completion> DeleteAsync(MailboxCommand delete, CancellationToken ct)
    {
        var name = DecodeName(delete.Mailbox);
        if (name == "INBOX")
        {
            return Completion.No("INBOX cannot be deleted", "CANNOT");
        }

        var info = name is null ? null : await FindAsync(name, ct).ConfigureAwait(false);
        if (info is null)
        {
            return Completion.No("No such mailbox", "NONEXISTENT");
        }

        if (_selected?.Id == info.Id)
        {
            Unselect();
        }

        var status = await Account.DeleteMailboxAsync(info.Id, ct).ConfigureAwait(false);
        return status == MailboxOperationStatus.Ok ? Completion.Ok("DELETE completed") : Completion.No("Cannot delete mailbox", "CANNOT");
    }

    private async ValueTask<Completion> RenameAsync(RenameCommand rename, CancellationToken ct)
    {
        var from = DecodeName(rename.From);
        var to = DecodeName(rename.To);
        if (from is null || to is null || ValidateNewName(to) is not null)
        {
            return Completion.No("Invalid mailbox name", "CANNOT");
        }

        if (from == "INBOX")
        {
            return Completion.No("Renaming INBOX is not supported", "CANNOT");
        }

        var info = await FindAsync(from, ct).ConfigureAwait(false);
        if (info is null)
        {
            return Completion.No("No such mailbox", "NONEXISTENT");
        }

        var status = await Account.RenameMailboxAsync(info.Id, to, ct).ConfigureAwait(false);
        if (status == MailboxOperationStatus.Ok && _selected?.Id == info.Id)
        {
            _selected.Name = to;
        }

        return status switch
        {
            MailboxOperationStatus.Ok => Completion.Ok("RENAME completed"),
            MailboxOperationStatus.AlreadyExists => Completion.No("Target mailbox exists", "ALREADYEXISTS"),
            MailboxOperationStatus.NotFound => Completion.No("No such mailbox", "NONEXISTENT"),
            _ => Completion.No("Cannot rename mailbox", "CANNOT"),
        };
    }

    private async ValueTask<Completion> SubscribeAsync(MailboxCommand sub, CancellationToken ct)
    {
        var name = DecodeName(sub.Mailbox);
        if (name is null || name.Length == 0)
        {
            return Completion.No("Invalid mailbox name", "CANNOT");
        }

        bool subscribe = sub.Verb == "SUBSCRIBE";
        if (subscribe && await FindAsync(name, ct).ConfigureAwait(false) is null)
        {
            return Completion.No("No such mailbox", "NONEXISTENT");
        }

        await Account.SetSubscribedAsync(name, subscribe, ct).ConfigureAwait(false);
        return Completion.Ok(sub.Verb + " completed");
    }

    private async ValueTask<Completion> ListAsync(ListCommand list, CancellationToken ct)
    {
        if (!list.Lsub && list.Patterns.Count == 1 && list.Patterns[0].Length == 0 && list.SelectionOptions.Count == 0)
        {
            // An empty pattern asks for the hierarchy delimiter (RFC 9051, 6.3.9).
            _writer.Raw("* LIST (\\Noselect) \"/\" \"\"\r\n"u8);
            return Completion.Ok("LIST completed");
        }

        var mailboxes = await Account.ListMailboxesAsync(ct).ConfigureAwait(false);
        var subscriptions = new HashSet<string>(await Account.ListSubscriptionsAsync(ct).ConfigureAwait(false), StringComparer.Ordinal);
        bool selectSubscribed = list.Lsub || list.SelectionOptions.Contains("SUBSCRIBED");
        bool selectSpecialUse = list.SelectionOptions.Contains("SPECIAL-USE");
        bool returnSubscribed = list.ReturnOptions.Contains("SUBSCRIBED") || (selectSubscribed && !list.Lsub);
        var byName = mailboxes.ToDictionary(m => m.Name, StringComparer.Ordinal);

        // Every name that exists, plus the parents implied by deeper names, plus subscribed names.
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var m in mailboxes)
        {
            names.Add(m.Name);
            var parts = m.Name.Split('/');
            for (int i = 1; i < parts.Length; i++)
            {
                names.Add(string.Join('/', parts[..i]));
            }
        }

        if (selectSubscribed)
        {
            // Subscribed names, and their parents: LSUB's \Noselect rule and RECURSIVEMATCH's CHILDINFO may return those.
            foreach (var sub in subscriptions)
            {
                names.Add(sub);
                for (int slash = sub.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = sub.IndexOf('/', slash + 1))
                {
                    names.Add(sub[..slash]);
                }
            }
        }

        var patterns = new List<string>();
        foreach (var p in list.Patterns)
        {
            var decoded = _utf8 ? p : MailboxNameCodec.Decode(p) ?? p;
            var reference = _utf8 ? list.Reference : MailboxNameCodec.Decode(list.Reference) ?? list.Reference;
            patterns.Add(reference + decoded);
        }

        var ordered = names.OrderBy(n => n == "INBOX" ? 0 : 1).ThenBy(n => n, StringComparer.Ordinal);
        foreach (var name in ordered)
        {
            if (!patterns.Any(p => Matches(p, name)))
            {
                continue;
            }

            bool exists = byName.TryGetValue(name, out var info);
            bool subscribed = subscriptions.Contains(name);
            bool childInfo = false;
            if (selectSubscribed && !subscribed)
            {
                // A name that is not subscribed itself, with a subscribed descendant the patterns do not reach (a '%'
                // stopped at this level), is still returned: by LSUB with \Noselect (RFC 3501, 6.3.9), and by LIST
                // (SUBSCRIBED RECURSIVEMATCH) with CHILDINFO ("SUBSCRIBED") (RFC 5258, 3.5).
                bool hiddenChild = names.GetViewBetween(name + "/", name + "0")
                    .Any(n => subscriptions.Contains(n) && !patterns.Any(p => Matches(p, n)));
                if (list.Lsub && hiddenChild)
                {
                    _writer.Raw("* LSUB (\\Noselect) \"/\" "u8);
                    WriteMailboxName(name);
                    _writer.Crlf();
                    continue;
                }

                if (!(hiddenChild && list.SelectionOptions.Contains("RECURSIVEMATCH")))
                {
                    continue;
                }

                childInfo = true;
            }

            if (selectSpecialUse && (info is null || info.SpecialUse == SpecialUse.None))
            {
                continue;
            }

            bool hasChildren = names.GetViewBetween(name + "/", name + "0").Any(n => byName.ContainsKey(n));
            var attrs = new List<string>();
            if (!exists)
            {
                attrs.Add(list.Lsub || !subscribed ? @"\Noselect" : @"\NonExistent");
            }

            attrs.Add(hasChildren ? @"\HasChildren" : @"\HasNoChildren");
            if (returnSubscribed && subscribed)
            {
                attrs.Add(@"\Subscribed");
            }

            if (info is not null)
            {
                attrs.AddRange(SpecialUseNames(info.SpecialUse));
            }

            _writer.Ascii(list.Lsub ? "* LSUB (" : "* LIST (").Ascii(string.Join(' ', attrs)).Raw(") \"/\" "u8);
            WriteMailboxName(name);
            if (childInfo)
            {
                // mbox-list-extended = "(" [mbox-list-extended-item *(SP mbox-list-extended-item)] ")"   (RFC 5258)
                _writer.Raw(" (\"CHILDINFO\" (\"SUBSCRIBED\"))"u8);
            }

            _writer.Crlf();
            if (list.StatusItems is not null && info is not null)
            {
                await WriteStatusAsync(info, list.StatusItems, ct).ConfigureAwait(false);
            }
        }

        return Completion.Ok(list.Name + " completed");
    }

    /// <summary>LIST pattern match: '*' matches anything, '%' anything but the delimiter (RFC 9051, 6.3.9). INBOX is case-insensitive.</summary>
    internal static bool Matches(string pattern, string name)
    {
        if (pattern.StartsWith("INBOX", StringComparison.OrdinalIgnoreCase) && name.StartsWith("INBOX", StringComparison.Ordinal))
        {
            pattern = "INBOX" + pattern[5..];
        }

        return Match(pattern.AsSpan(), name.AsSpan(), 0);

        static bool Match(ReadOnlySpan<char> p, ReadOnlySpan<char> n, int depth)
        {
            if (depth > 32)
            {
                return false;
            }

            while (!p.IsEmpty)
            {
                char c = p[0];
                if (c is '*' or '%')
                {
                    var rest = p[1..];
                    for (int i = 0; i <= n.Length; i++)
                    {
                        if (Match(rest, n[i..], depth + 1))
                        {
                            return true;
                        }

                        if (i < n.Length && c == '%' && n[i] == '/')
                        {
                            return false;
                        }
                    }

                    return false;
                }

                if (n.IsEmpty || n[0] != c)
                {
                    return false;
                }

                p = p[1..];
                n = n[1..];
            }

            return n.IsEmpty;
        }
    }

    private async ValueTask<Completion> StatusAsync(StatusCommand status, CancellationToken ct)
    {
        var name = DecodeName(status.Mailbox);
        var info = name is null ? null : await FindAsync(name, ct).ConfigureAwait(false);
        if (info is null)
        {
            return Completion.No("No such mailbox", "NONEXISTENT");
        }

        if (!await WriteStatusAsync(info, status.Items, ct).ConfigureAwait(false))
        {
            return Completion.No("No such mailbox", "NONEXISTENT");
        }

        return Completion.Ok("STATUS completed");
    }

    private async ValueTask<bool> WriteStatusAsync(MailboxInfo info, IReadOnlyList<string> items, CancellationToken ct)
    {
        var s = await Account.GetStatusAsync(info.Id, ct).ConfigureAwait(false);
        if (s is null)
        {
            return false;
        }

        if (items.Contains("HIGHESTMODSEQ"))
        {
            EnableCondstore(); // RFC 7162, 3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling command
        }

        ulong recent = 0;
        if (items.Contains("RECENT"))
        {
            // Messages no session has taken \Recent for yet (RFC 3501, 6.3.10).
            _context.Recent.Touch(Account.AccountKey, info.Id, s.UidValidity, s.UidNext);
            uint first = _context.Recent.FirstUnclaimed(Account.AccountKey, info.Id, s.UidValidity, s.UidNext);
            if (first < s.UidNext.Value)
            {
                var unclaimed = new UidKey(new SequenceSet([(first, uint.MaxValue)]));
                recent = (ulong)(await Account.SearchAsync(info.Id, unclaimed, ct).ConfigureAwait(false)).Count;
            }
        }

        _writer.Raw("* STATUS "u8);
        WriteMailboxName(info.Name);
        _writer.Raw(" ("u8);
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                _writer.Sp();
            }

            _writer.Ascii(items[i]).Sp();
            _writer.Number(items[i] switch
            {
                "MESSAGES" => s.Messages,
                "UIDNEXT" => s.UidNext.Value,
                "UIDVALIDITY" => s.UidValidity.Value,
                "UNSEEN" => s.Unseen,
                "DELETED" => s.Deleted,
                "SIZE" => s.Size,
                "HIGHESTMODSEQ" => s.HighestModSeq.Value,
                _ => recent,
            });
        }

        _writer.Raw(")\r\n"u8);
        return true;
    }
}
