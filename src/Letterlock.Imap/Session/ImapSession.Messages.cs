using System.Buffers;
using System.Globalization;
using Letterlock.Imap.Backend;
using Letterlock.Imap.Mime;
using Letterlock.Imap.Protocol;

namespace Letterlock.Imap.Session;

public sealed partial class ImapSession
{
    /// <summary>The largest message whose FETCH buffer is rented from the shared pool; larger ones get an array of their own.</summary>
    private const int MaxPooledFetchBytes = 1 << 20;

    /// <summary>Resolves a sequence set to (sequence number, UID) pairs known to this session, ascending.</summary>
    private List<(int Seq, uint Uid)> Resolve(SequenceSet set, bool byUid)
    {
        var index = _selected!.Index;
        var pairs = new List<(int, uint)>();
        if (index.Count == 0)
        {
            return pairs;
        }

        if (set.IsSaved)
        {
            // "$" is a set of UIDs whether the command is a UID command or not (RFC 5182, 2.1); messages expunged
            // since it was saved have left the session's view and drop out here.
            foreach (uint uid in _selected.Saved)
            {
                int seq = index.SeqOf(uid);
                if (seq > 0)
                {
                    pairs.Add((seq, uid));
                }
            }

            return pairs;
        }

        if (byUid)
        {
            foreach (var (a, b) in set.Normalize(index.LastUid))
            {
                for (int i = index.LowerBound(a); i < index.Count && index.UidAt(i + 1) <= b; i++)
                {
                    pairs.Add((i + 1, index.UidAt(i + 1)));
                }
            }
        }
        else
        {
            foreach (var (a, b) in set.Normalize((uint)index.Count))
            {
                for (uint s = Math.Max(1, a); s <= b && s <= index.Count; s++)
                {
                    pairs.Add(((int)s, index.UidAt((int)s)));
                }
            }
        }

        return pairs;
    }

    /// <summary>Compacts resolved messages into UID ranges for the backend (consecutive positions form one range).</summary>
    private static List<UidRange> Ranges(List<(int Seq, uint Uid)> pairs)
    {
        var ranges = new List<UidRange>();
        int i = 0;
        while (i < pairs.Count)
        {
            int j = i;
            while (j + 1 < pairs.Count && pairs[j + 1].Seq == pairs[j].Seq + 1)
            {
                j++;
            }

            ranges.Add(new UidRange(new Uid(pairs[i].Uid), new Uid(pairs[j].Uid)));
            i = j + 1;
        }

        return ranges;
    }

    private MessageFlags? ParseFlags(IReadOnlyList<string> names) => MessageFlags.FromNames(names);

    private async ValueTask<Completion> ExpungeAsync(ExpungeCommand expunge, CancellationToken ct)
    {
        var selected = _selected!;
        if (selected.ReadOnly)
        {
            return Completion.No("Mailbox is read-only", "READ-ONLY");
        }

        List<UidRange>? only = null;
        if (expunge.UidSet is not null)
        {
            only = Ranges(Resolve(expunge.UidSet, byUid: true));
            if (only.Count == 0)
            {
                return Completion.Ok("UID EXPUNGE completed");
            }
        }

        await Account.ExpungeAsync(selected.Id, only, ct).ConfigureAwait(false);
        return Completion.Ok(expunge.Name + " completed");
    }

    /// <summary>Replaces message sequence numbers (and "$", and RECENT) in a key by the UIDs they stand for in this session's view.</summary>
    private SearchKey Translate(SearchKey key)
    {
        switch (key)
        {
            case SequenceKey { Set.IsSaved: true } or UidKey { Set.IsSaved: true }:
            {
                var saved = Resolve(SequenceSet.Saved, byUid: true);
                return saved.Count == 0 ? NoneKey.Instance : new UidKey(new SequenceSet(Ranges(saved).Select(r => (r.First.Value, r.Last.Value)).ToList()));
            }

            case SequenceKey seq:
            {
                var pairs = Resolve(seq.Set, byUid: false);
                if (pairs.Count == 0)
                {
                    return NoneKey.Instance;
                }

                var ranges = Ranges(pairs).Select(r => (r.First.Value, r.Last.Value)).ToList();
                return new UidKey(new SequenceSet(ranges));
            }

            case RecentKey:
            {
                var recent = _selected!.Recent;
                return recent.Count == 0 ? NoneKey.Instance : new UidKey(new SequenceSet(recent.Order().Select(u => (u, u)).ToList()));
            }

            case AndKey and:
                return new AndKey(and.Keys.Select(Translate).ToList());
            case OrKey or:
                return new OrKey(Translate(or.Left), Translate(or.Right));
            case NotKey not:
                return new NotKey(Translate(not.Key));
            default:
                return key;
        }
    }

    private static bool HasModSeqKey(SearchKey key) => key switch
    {
        ModSeqKey => true,
        AndKey a => a.Keys.Any(HasModSeqKey),
        OrKey o => HasModSeqKey(o.Left) || HasModSeqKey(o.Right),
        NotKey n => HasModSeqKey(n.Key),
        _ => false,
    };

    private async ValueTask<Completion> SearchAsync(SearchCommand search, CancellationToken ct)
    {
        var (matches, failure) = await MatchAsync(search.Key, search.Charset, search.ByUid, ct).ConfigureAwait(false);
        if (failure is { } f)
        {
            ForgetSavedOnFailure(search.ReturnOptions);
            return f;
        }

        matches.Sort((a, b) => a.Value.CompareTo(b.Value));
        await AnswerSearchAsync(search.Tag, search.ByUid, search.Key, search.ReturnOptions, matches, sorted: false, ct).ConfigureAwait(false);
        return Completion.Ok(search.Name + " completed");
    }

    /// <summary>RFC 5182, 2.1: a SEARCH (or SORT) with SAVE that fails leaves "$" empty.</summary>
    private void ForgetSavedOnFailure(IReadOnlyList<string>? returnOptions)
    {
        if (returnOptions?.Contains("SAVE") == true && _selected is { } selected)
        {
            selected.Saved = [];
        }
    }

    /// <summary>
    /// Runs a search program: the messages of this session's view that match, as (number to report, UID), in no
    /// particular order; or the failure to answer with.
    /// </summary>
    private async ValueTask<(List<(uint Value, Uid Uid)> Matches, Completion? Failure)> MatchAsync(SearchKey searchKey, string? charset, bool byUid, CancellationToken ct)
    {
        if (charset is not null and not ("UTF-8" or "US-ASCII"))
        {
            return ([], Completion.No("Unsupported charset", "BADCHARSET (UTF-8 US-ASCII)"));
        }

        var selected = _selected!;
        var key = Translate(searchKey);
        var uids = await Account.SearchAsync(selected.Id, key, ct).ConfigureAwait(false);
        if (uids.Count > _options.MaxSearchResults)
        {
            return ([], Completion.No("Too many results", "LIMIT"));
        }

        // Only messages this session knows about: new arrivals are reported by EXISTS first.
        var matches = new List<(uint Value, Uid Uid)>(uids.Count);
        foreach (var uid in uids)
        {
            int seq = selected.Index.SeqOf(uid.Value);
            if (seq > 0)
            {
                matches.Add((byUid ? uid.Value : (uint)seq, uid));
            }
        }

        return (matches, null);
    }

    /// <summary>
    /// Answers SEARCH (ascending matches) or SORT (matches in sort order): the untagged SEARCH/SORT response, or
    /// ESEARCH for RETURN options (RFC 4731; RFC 5267 for SORT, where MIN and MAX are the first and last in sort
    /// order and ALL keeps it), MODSEQ when the key had one (RFC 7162, 3.1.5), and SAVE for "$" (RFC 5182).
    /// </summary>
    private async ValueTask AnswerSearchAsync(string tag, bool byUid, SearchKey key, IReadOnlyList<string>? returnOptions, List<(uint Value, Uid Uid)> matches, bool sorted, CancellationToken ct)
    {
        var selected = _selected!;
        var values = matches.ConvertAll(m => m.Value);
        var options = returnOptions is null || returnOptions.Count == 0 ? ["ALL"] : returnOptions;
        bool minMaxOnly = returnOptions is not null && !options.Contains("ALL") && !options.Contains("COUNT") && (options.Contains("MIN") || options.Contains("MAX"));
        if (options.Contains("SAVE"))
        {
            // RFC 5182, 2.1: with MIN and/or MAX but neither ALL nor COUNT, only those messages are saved.
            var saved = minMaxOnly
                ? new[] { options.Contains("MIN") && matches.Count > 0 ? matches[0].Uid.Value : 0, options.Contains("MAX") && matches.Count > 0 ? matches[^1].Uid.Value : 0 }.Where(u => u != 0)
                : matches.Select(m => m.Uid.Value);
            selected.Saved = saved.Distinct().Order().ToArray();
        }

        ulong? highest = null;
        if (HasModSeqKey(key))
        {
            EnableCondstore();
            // RFC 7162, 3.1.5 with RFC 4731: the MODSEQ is the highest of the messages returned, so with only
            // MIN and/or MAX it is that of those one or two messages, not of every match.
            var reported = minMaxOnly
                ? new[] { options.Contains("MIN") && matches.Count > 0 ? matches[0].Uid : (Uid?)null, options.Contains("MAX") && matches.Count > 0 ? matches[^1].Uid : null }.OfType<Uid>().Distinct().ToList()
                : matches.ConvertAll(m => m.Uid);
            if (reported.Count > 0)
            {
                reported.Sort();
                ulong max = 0;
                await foreach (var record in Account.FetchAsync(selected.Id, reported.ConvertAll(u => new UidRange(u, u)), FetchData.None, ct).ConfigureAwait(false))
                {
                    max = Math.Max(max, record.ModSeq.Value);
                }

                highest = max;
            }
        }

        if (returnOptions is not null && returnOptions.Count == 1 && returnOptions[0] == "SAVE")
        {
            return; // RFC 5182, 2.1: SAVE alone produces no ESEARCH response
        }

        if (returnOptions is null && (sorted || !_rev2))
        {
            // mailbox-data =/ "SEARCH" *(SP nz-number) [SP search-sort-mod-seq]   (RFC 3501 + RFC 7162)
            // sort-data = "SORT" *(SP nz-number) [SP search-sort-mod-seq]   (RFC 5256 + RFC 7162)
            _writer.Raw(sorted ? "* SORT"u8 : "* SEARCH"u8);
            foreach (var v in values)
            {
                _writer.Sp().Number(v);
                await MaybeFlushAsync(ct).ConfigureAwait(false);
            }

            if (highest is { } h && values.Count > 0)
            {
                _writer.Raw(" (MODSEQ "u8).Number(h).Byte((byte)')');
            }

            _writer.Crlf();
            return;
        }

        // esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)   (RFC 4731 / 9051)
        _writer.Raw("* ESEARCH (TAG "u8).String(tag).Byte((byte)')');
        if (byUid)
        {
            _writer.Raw(" UID"u8);
        }

        if (values.Count > 0)
        {
            if (options.Contains("MIN"))
            {
                _writer.Raw(" MIN "u8).Number(values[0]);
            }

            if (options.Contains("MAX"))
            {
                _writer.Raw(" MAX "u8).Number(values[^1]);
            }

            if (options.Contains("ALL"))
            {
                // For SORT the set keeps the sort order: ranges only where numbers ascend by one.
                _writer.Raw(" ALL "u8).Ascii(SequenceSet.Format(values));
            }
        }

        if (options.Contains("COUNT"))
        {
            _writer.Raw(" COUNT "u8).Number((ulong)values.Count);
        }

        if (highest is { } hm && values.Count > 0)
        {
            _writer.Raw(" MODSEQ "u8).Number(hm);
        }

        _writer.Crlf();
    }

    private async ValueTask<Completion> StoreAsync(StoreCommand store, CancellationToken ct)
    {
        var selected = _selected!;
        if (selected.ReadOnly)
        {
            return Completion.No("Mailbox is read-only", "READ-ONLY");
        }

        var flags = ParseFlags(store.Flags);
        if (flags is null)
        {
            return Completion.Bad("Invalid flag", "CLIENTBUG");
        }

        if (flags.Keywords.Length > _options.MaxKeywordsPerMailbox)
        {
            return Completion.No("Too many keywords", "LIMIT");
        }

        if (store.UnchangedSince is not null)
        {
            EnableCondstore();
        }

        var pairs = Resolve(store.Set, store.ByUid);
        if (pairs.Count == 0)
        {
            return Completion.Ok(store.Name + " completed");
        }

        var result = await Account.StoreFlagsAsync(selected.Id, Ranges(pairs), store.Mode,
            flags, store.UnchangedSince is { } u ? new ModSeq(u) : null, ct).ConfigureAwait(false);
        if (store.Mode != StoreMode.Remove)
        {
            AnnounceKeywords(flags);
        }

        foreach (var m in result.Messages)
        {
            if (!store.Silent)
            {
                selected.Told[m.Uid.Value] = (m.ModSeq.Value, m.Flags, false);
            }
            else if (m.Changed)
            {
                selected.Told[m.Uid.Value] = (m.ModSeq.Value, m.Flags, true);
            }

            // RFC 7162, 3.1.3: with CONDSTORE, a FETCH with MODSEQ goes out even for .SILENT.
            if (store.Silent && !(_condstore && m.Changed))
            {
                continue;
            }

            int seq = selected.Index.SeqOf(m.Uid.Value);
            if (seq == 0)
            {
                continue;
            }

            _writer.Raw("* "u8).Number((ulong)seq).Raw(" FETCH ("u8);
            bool space = false;
            if (store.ByUid || _qresync)
            {
                _writer.Raw("UID "u8).Number(m.Uid.Value);
                space = true;
            }

            if (!store.Silent)
            {
                if (space)
                {
                    _writer.Sp();
                }

                _writer.Raw("FLAGS "u8);
                WriteFlags(m.Flags, m.Uid.Value);
                space = true;
            }

            if (_condstore)
            {
                if (space)
                {
                    _writer.Sp();
                }

                _writer.Raw("MODSEQ ("u8).Number(m.ModSeq.Value).Byte((byte)')');
            }

            _writer.Raw(")\r\n"u8);
            await MaybeFlushAsync(ct).ConfigureAwait(false);
        }

        if (result.Modified.Count > 0)
        {
            var numbers = result.Modified.Select(uid => store.ByUid ? uid.Value : (uint)selected.Index.SeqOf(uid.Value)).Where(n => n > 0).Order();
            return Completion.Ok("Conditional STORE failed for some messages", "MODIFIED " + SequenceSet.Format(numbers));
        }

        return Completion.Ok(store.Name + " completed");
    }

    private async ValueTask<Completion> CopyAsync(CopyCommand copy, CancellationToken ct)
    {
        var selected = _selected!;
        if (copy.Move && selected.ReadOnly)
        {
            return Completion.No("Mailbox is read-only", "READ-ONLY");
        }

        var name = DecodeName(copy.Mailbox);
        var target = name is null ? null : await FindAsync(name, ct).ConfigureAwait(false);
        if (target is null)
        {
            return Completion.No("No such mailbox", "TRYCREATE");
        }

        var pairs = Resolve(copy.Set, copy.ByUid);
        if (pairs.Count == 0)
        {
            return Completion.Ok(copy.Name + " completed");
        }

        await TouchRecentAsync(target, ct).ConfigureAwait(false);
        var result = await Account.CopyAsync(selected.Id, Ranges(pairs), target.Id, copy.Move, ct).ConfigureAwait(false);
        if (result.Status != MailboxOperationStatus.Ok)
        {
            return Completion.No("Cannot copy messages", "CANNOT");
        }

        if (result.SourceUids.Count == 0)
        {
            return Completion.Ok(copy.Name + " completed");
        }

        // resp-code-copy = "COPYUID" SP nz-number SP uid-set SP uid-set   (RFC 4315)
        string code = $"COPYUID {result.TargetUidValidity.Value} {SequenceSet.Format(result.SourceUids.Select(u => u.Value))} {SequenceSet.Format(result.TargetUids.Select(u => u.Value))}";
        if (copy.Move)
        {
            // RFC 6851, 4.3: COPYUID goes in an untagged OK before the expunges.
            _writer.Raw("* OK ["u8).Ascii(code).Raw("] Moved\r\n"u8);
            return Completion.Ok(copy.Name + " completed");
        }

        return Completion.Ok(copy.Name + " completed", code);
    }

    private async ValueTask<Completion> FetchAsync(FetchCommand fetch, CancellationToken ct)
    {
        var selected = _selected!;
        var items = fetch.Items.ToList();
        if ((fetch.ByUid || fetch.ChangedSince is not null) && !items.Any(i => i.Attribute == FetchAttribute.Uid))
        {
            items.Insert(0, new FetchItem(FetchAttribute.Uid));
        }

        if (fetch.ChangedSince is not null)
        {
            EnableCondstore();
            if (!items.Any(i => i.Attribute == FetchAttribute.ModSeq))
            {
                items.Add(new FetchItem(FetchAttribute.ModSeq));
            }
        }

        if (fetch.Vanished && !_qresync)
        {
            return Completion.Bad("VANISHED needs QRESYNC enabled", "CLIENTBUG");
        }

        if (items.Any(i => i.Attribute == FetchAttribute.ModSeq))
        {
            EnableCondstore();
        }

        var pairs = Resolve(fetch.Set, fetch.ByUid);
        var ranges = Ranges(pairs);
        if (fetch.Vanished && fetch.ChangedSince is { } since)
        {
            // RFC 7162, 3.2.6: VANISHED (EARLIER) for UIDs in the set expunged since the mod-sequence.
            var gone = await Account.GetExpungedSinceAsync(selected.Id, new ModSeq(since), ct).ConfigureAwait(false);
            var inSet = gone.Where(u => fetch.Set.Contains(u.Value, Math.Max(selected.Index.LastUid, u.Value))).Select(u => u.Value).Order().ToList();
            if (inSet.Count > 0)
            {
                _writer.Raw("* VANISHED (EARLIER) "u8).Ascii(SequenceSet.Format(inSet)).Crlf();
            }
        }

        if (pairs.Count == 0)
        {
            return Completion.Ok(fetch.Name + " completed");
        }

        // The whole message (BODY[], RFC822, BINARY[]) needs only the content, not its structure: a backend
        // that decrypts on demand then reads each message once and parses nothing.
        var data = FetchData.None;
        foreach (var item in items)
        {
            data |= item.Attribute switch
            {
                FetchAttribute.Envelope => FetchData.Envelope,
                FetchAttribute.BodyStructure or FetchAttribute.Body => FetchData.Structure,
                FetchAttribute.Section or FetchAttribute.Binary or FetchAttribute.BinarySize when !IsWholeMessage(item.Section!) => FetchData.Structure,
                _ => FetchData.None,
            };
        }

        bool needContent = items.Any(i => i.Attribute is FetchAttribute.Section or FetchAttribute.Binary or FetchAttribute.BinarySize);
        bool setsSeen = !selected.ReadOnly && items.Any(i => i.Attribute is FetchAttribute.Section or FetchAttribute.Binary && !i.Peek);
        HashSet<uint>? seenNow = null;
        if (setsSeen)
        {
            // Fetching a body without .PEEK sets \Seen (RFC 9051, 6.4.5); the new flags go out with the data.
            var stored = await Account.StoreFlagsAsync(selected.Id, ranges, StoreMode.Add, MessageFlags.Create(SystemFlags.Seen), null, ct).ConfigureAwait(false);
            seenNow = [];
            foreach (var m in stored.Messages.Where(m => m.Changed))
            {
                seenNow.Add(m.Uid.Value);
            }
        }

        string? failure = null;
        int p = 0;
        await foreach (var record in Account.FetchAsync(selected.Id, ranges, data, ct).ConfigureAwait(false))
        {
            while (p < pairs.Count && pairs[p].Uid < record.Uid.Value)
            {
                p++;
            }

            if (p == pairs.Count || pairs[p].Uid != record.Uid.Value)
            {
                continue;
            }

            if (fetch.ChangedSince is { } cs && record.ModSeq.Value <= cs)
            {
                continue;
            }

            failure ??= await WriteFetchAsync(pairs[p].Seq, record, items, needContent, seenNow?.Contains(record.Uid.Value) == true, ct).ConfigureAwait(false);
            await MaybeFlushAsync(ct).ConfigureAwait(false);
        }

        return failure is null ? Completion.Ok(fetch.Name + " completed") : Completion.No(failure, "UNKNOWN-CTE");
    }

    private async ValueTask<string?> WriteFetchAsync(int seq, MessageRecord record, List<FetchItem> items, bool needContent, bool seenChanged, CancellationToken ct)
    {
        var selected = _selected!;
        byte[]? rented = null;
        ReadOnlyMemory<byte> content = default;
        string? failure = null;
        try
        {
            if (needContent)
            {
                var stream = await Account.OpenContentAsync(selected.Id, record.Uid, ct).ConfigureAwait(false);
                if (stream is null)
                {
                    return null; // expunged meanwhile
                }

                await using (stream.ConfigureAwait(false))
                {
                    if (stream is MemoryStream ms && ms.TryGetBuffer(out var segment))
                    {
                        content = segment;
                    }
                    else
                    {
                        // A large message is read into an array of its own, not a rented one: ArrayPool<byte>.Shared keeps
                        // arrays per thread and size long after use, so every large FETCH would leave its size resident.
                        rented = record.Size <= MaxPooledFetchBytes ? ArrayPool<byte>.Shared.Rent((int)Math.Max(record.Size, 16)) : new byte[record.Size];
                        int total = 0;
                        int n;
                        while ((n = await stream.ReadAsync(rented.AsMemory(total), ct).ConfigureAwait(false)) > 0)
                        {
                            total += n;
                            if (total == rented.Length)
                            {
                                var bigger = rented.Length * 2 <= MaxPooledFetchBytes ? ArrayPool<byte>.Shared.Rent(rented.Length * 2) : new byte[rented.Length * 2];
                                rented.AsSpan(0, total).CopyTo(bigger);
                                ReturnFetchBuffer(rented);
                                rented = bigger;
                            }
                        }

                        content = rented.AsMemory(0, total);
                    }
                }
            }

            if (seenChanged || items.Exists(i => i.Attribute == FetchAttribute.Flags))
            {
                AnnounceKeywords(record.Flags);
            }

            _writer.Raw("* "u8).Number((ulong)seq).Raw(" FETCH ("u8);
            bool first = true;
            bool flagsWritten = false;
            bool modseqWritten = false;
            foreach (var item in items)
            {
                if (!first)
                {
                    _writer.Sp();
                }

                first = false;
                switch (item.Attribute)
                {
                    case FetchAttribute.Uid:
                        _writer.Raw("UID "u8).Number(record.Uid.Value);
                        break;
                    case FetchAttribute.Flags:
                        _writer.Raw("FLAGS "u8);
                        WriteFlags(record.Flags, record.Uid.Value);
                        flagsWritten = true;
                        break;
                    case FetchAttribute.ModSeq:
                        _writer.Raw("MODSEQ ("u8).Number(record.ModSeq.Value).Byte((byte)')');
                        modseqWritten = true;
                        break;
                    case FetchAttribute.InternalDate:
                        _writer.Raw("INTERNALDATE \""u8).Ascii(FormatDate(record.InternalDate)).Byte((byte)'"');
                        break;
                    case FetchAttribute.Size:
                        _writer.Raw("RFC822.SIZE "u8).Number((ulong)record.Size);
                        break;
                    case FetchAttribute.Envelope:
                        _writer.Raw("ENVELOPE "u8).Raw(record.Envelope ?? record.Structure!.Envelope);
                        break;
                    case FetchAttribute.BodyStructure:
                        _writer.Raw("BODYSTRUCTURE "u8).Raw(record.Structure!.BodyStructure);
                        break;
                    case FetchAttribute.Body:
                        _writer.Raw("BODY "u8).Raw(record.Structure!.Body);
                        break;
                    case FetchAttribute.Section:
                        WriteSection(item, record.Structure, content.Span);
                        break;
                    case FetchAttribute.Binary:
                    case FetchAttribute.BinarySize:
                        failure ??= WriteBinary(item, record.Structure, content.Span);
                        break;
                }
            }

            if (seenChanged && !flagsWritten)
            {
                _writer.Raw(" FLAGS "u8);
                WriteFlags(record.Flags.Add(MessageFlags.Create(SystemFlags.Seen)), record.Uid.Value);
                flagsWritten = true;
            }

            if (_condstore && flagsWritten && !modseqWritten)
            {
                _writer.Raw(" MODSEQ ("u8).Number(record.ModSeq.Value).Byte((byte)')');
            }

            if (flagsWritten)
            {
                var told = seenChanged ? record.Flags.Add(MessageFlags.Create(SystemFlags.Seen)) : record.Flags;
                selected.Told[record.Uid.Value] = (record.ModSeq.Value, told, false);
            }

            _writer.Raw(")\r\n"u8);
            return failure;
        }
        finally
        {
            if (rented is not null)
            {
                ReturnFetchBuffer(rented);
            }
        }
    }

    /// <summary>Gives a FETCH buffer back to the pool when it came from there (up to <see cref="MaxPooledFetchBytes"/>).</summary>
    private static void ReturnFetchBuffer(byte[] buffer)
    {
        if (buffer.Length <= MaxPooledFetchBytes)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
    internal static string FormatDate(DateTimeOffset d)
    {
        var offset = d.Offset;
        string zone = (offset < TimeSpan.Zero ? "-" : "+") + offset.ToString("hhmm", CultureInfo.InvariantCulture);
        return d.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2, ' ') + d.ToString("-MMM-yyyy HH:mm:ss ", CultureInfo.InvariantCulture) + zone;
    }

    /// <summary>Whether a section is the whole message (BODY[], RFC822, BINARY[]): served from the content alone.</summary>
    private static bool IsWholeMessage(BodySection section) => section.Part.Count == 0 && section.Text == SectionText.None;

    private void WriteSection(FetchItem item, MessageStructure? structure, ReadOnlySpan<byte> content)
    {
        var section = item.Section!;
        if (item.Alias is not null)
        {
            _writer.Ascii(item.Alias).Sp();
        }
        else
        {
            _writer.Raw("BODY["u8).Ascii(section.Format()).Byte((byte)']');
            if (item.PartialStart is { } ps)
            {
                _writer.Byte((byte)'<').Number(ps).Byte((byte)'>');
            }

            _writer.Sp();
        }

        var range = structure is null ? ((long, long)?)(0L, content.Length) : structure.Locate(section);
        if (range is null)
        {
            // A part that does not exist: an empty string, as Dovecot and Cyrus answer.
            _writer.Raw("\"\""u8);
            return;
        }

        var (start, length) = range.Value;
        start = Math.Min(start, content.Length);
        length = Math.Min(length, content.Length - start);
        var data = content.Slice((int)start, (int)length);
        if (section.Text is SectionText.HeaderFields or SectionText.HeaderFieldsNot)
        {
            var filtered = FilterHeaders(data, section.Fields!, section.Text == SectionText.HeaderFieldsNot);
            WritePartial(item, filtered, binary: false);
            return;
        }

        WritePartial(item, data, binary: false);
    }

    private void WritePartial(FetchItem item, ReadOnlySpan<byte> data, bool binary)
    {
        if (item.PartialStart is { } ps)
        {
            if (ps >= data.Length)
            {
                data = [];
            }
            else
            {
                data = data[(int)ps..];
                if (item.PartialLength is { } pl && pl < data.Length)
                {
                    data = data[..(int)pl];
                }
            }
        }

        if (binary)
        {
            _writer.LiteralHeader(data.Length, data.Contains((byte)0));
            _writer.Raw(data);
            return;
        }

        // literal = "{" number64 ["+"] "}" CRLF *CHAR8, and CHAR8 excludes NUL (RFC 9051, 9): a stored NUL goes out
        // as 0x80, as Dovecot sends it; BINARY (literal8) returns the real byte.
        _writer.LiteralHeader(data.Length);
        _writer.RawWithoutNul(data);
    }

    /// <summary>HEADER.FIELDS / HEADER.FIELDS.NOT: the matching fields (with their continuation lines) and the blank line.</summary>
    internal static byte[] FilterHeaders(ReadOnlySpan<byte> header, IReadOnlyList<string> fields, bool exclude)
    {
        var output = new ArrayBufferWriter<byte>(Math.Max(16, header.Length / 4));
        bool keep = false;
        while (!header.IsEmpty)
        {
            int lf = header.IndexOf((byte)'\n');
            var line = lf < 0 ? header : header[..(lf + 1)];
            header = lf < 0 ? [] : header[(lf + 1)..];
            bool blank = line.Length <= 2 && (line.Length == 0 || line[0] is (byte)'\r' or (byte)'\n');
            if (blank)
            {
                break;
            }

            if (line[0] is not ((byte)' ' or (byte)'\t'))
            {
                int colon = line.IndexOf((byte)':');
                var name = colon > 0 ? System.Text.Encoding.ASCII.GetString(line[..colon]).Trim() : "";
                bool listed = fields.Any(f => f.Equals(name, StringComparison.OrdinalIgnoreCase));
                keep = colon > 0 && listed != exclude;
            }

            if (keep)
            {
                output.Write(line);
            }
        }

        output.Write("\r\n"u8);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// BINARY[part] and BINARY.SIZE[part] (RFC 3516): the part with its transfer encoding removed. A message/rfc822
    /// or multipart part is its body as stored (nothing to decode). Like Dovecot, a section-text (HEADER, TEXT, MIME,
    /// HEADER.FIELDS) is accepted too, outside RFC 3516's grammar, and served as BODY serves it: headers are never
    /// transfer-encoded. Content with NUL goes out as literal8, the only string that may carry it.
    /// </summary>
    private string? WriteBinary(FetchItem item, MessageStructure? structure, ReadOnlySpan<byte> content)
    {
        var section = item.Section!;
        byte[] decoded;
        if (IsWholeMessage(section))
        {
            decoded = content.ToArray();
        }
        else if (structure!.Locate(section) is not { } range)
        {
            decoded = [];
        }
        else
        {
            long start = Math.Min(range.Start, content.Length);
            var raw = content.Slice((int)start, (int)Math.Min(range.Length, content.Length - start));
            if (section.Text is SectionText.HeaderFields or SectionText.HeaderFieldsNot)
            {
                decoded = FilterHeaders(raw, section.Fields!, section.Text == SectionText.HeaderFieldsNot);
            }
            else if (section.Text != SectionText.None)
            {
                decoded = raw.ToArray();
            }
            else if (TransferDecoding.Decode(structure.PartEncoding(section.Part) ?? "7bit", raw) is { } result)
            {
                decoded = result;
            }
            else
            {
                _writer.Raw(item.Attribute == FetchAttribute.BinarySize ? "BINARY.SIZE["u8 : "BINARY["u8).Ascii(section.Format()).Raw("] NIL"u8);
                return "Unknown Content-Transfer-Encoding";
            }
        }

        if (item.Attribute == FetchAttribute.BinarySize)
        {
            _writer.Raw("BINARY.SIZE["u8).Ascii(section.Format()).Raw("] "u8).Number((ulong)decoded.Length);
            return null;
        }

        _writer.Raw("BINARY["u8).Ascii(section.Format()).Byte((byte)']');
        if (item.PartialStart is { } ps)
        {
            _writer.Byte((byte)'<').Number(ps).Byte((byte)'>');
        }

        _writer.Sp();
        WritePartial(item, decoded, binary: true);
        return null;
    }
}
