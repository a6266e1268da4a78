using Letterlock.Imap.Backend;
using Letterlock.Imap.Mime;
using Letterlock.Imap.Protocol;
using MimeKit.Utils;

namespace Letterlock.Imap.Session;

public sealed partial class ImapSession
{
    /// <summary>What SORT and THREAD read of one message; all of it comes from ENVELOPE plus INTERNALDATE and RFC822.SIZE.</summary>
    private sealed record SortData(uint Value, Uid Uid, DateTimeOffset InternalDate, long Size, EnvelopeFields? Envelope)
    {
        /// <summary>The sent date (RFC 5256, 2.2): the Date field in UTC, or the internal date when it has none.</summary>
        public DateTimeOffset SentDate =>
            Envelope?.Date is { } date && DateUtils.TryParse(date, out var parsed) ? parsed.ToUniversalTime() : InternalDate.ToUniversalTime();

        public string FirstMailbox(IReadOnlyList<EnvelopeAddress>? list) => list is { Count: > 0 } ? list[0].Mailbox ?? "" : "";
    }

    /// <summary>
    /// Reads ENVELOPE, INTERNALDATE and RFC822.SIZE of the matches through the backend's FETCH: every backend can
    /// serve them without message bodies (the bridge keeps the ENVELOPE sealed per message).
    /// </summary>
    private async ValueTask<List<SortData>> SortDataAsync(List<(uint Value, Uid Uid)> matches, CancellationToken ct)
    {
        var byUid = new Dictionary<uint, uint>(matches.Count);
        foreach (var (value, uid) in matches)
        {
            byUid[uid.Value] = value;
        }

        var uids = matches.ConvertAll(m => m.Uid);
        uids.Sort();
        var ranges = new List<UidRange>();
        foreach (var uid in uids)
        {
            if (ranges.Count > 0 && ranges[^1].Last.Value + 1 == uid.Value)
            {
                ranges[^1] = ranges[^1] with { Last = uid };
            }
            else
            {
                ranges.Add(new UidRange(uid, uid));
            }
        }

        var data = new List<SortData>(matches.Count);
        await foreach (var record in Account.FetchAsync(_selected!.Id, ranges, FetchData.Envelope, ct).ConfigureAwait(false))
        {
            if (byUid.TryGetValue(record.Uid.Value, out uint value))
            {
                var envelope = record.Envelope ?? record.Structure?.Envelope;
                data.Add(new SortData(value, record.Uid, record.InternalDate, record.Size, envelope is null ? null : EnvelopeFields.Parse(envelope)));
            }
        }

        return data;
    }

    /// <summary>SORT and UID SORT (RFC 5256, 3), with ESORT's RETURN (RFC 5267) and SAVE (RFC 5182).</summary>
    private async ValueTask<Completion> SortAsync(SortCommand sort, CancellationToken ct)
    {
        var (matches, failure) = await MatchAsync(sort.Key, sort.Charset, sort.ByUid, ct).ConfigureAwait(false);
        if (failure is { } f)
        {
            ForgetSavedOnFailure(sort.ReturnOptions);
            return f;
        }

        var data = await SortDataAsync(matches, ct).ConfigureAwait(false);
        var keys = data.ToDictionary(d => d.Uid, d => Keys(d, sort.Criteria));
        var sequence = data.ToDictionary(d => d.Uid, d => d.Value);
        matches = data.Select(d => (d.Value, d.Uid)).ToList();
        matches.Sort((a, b) =>
        {
            var (x, y) = (keys[a.Uid], keys[b.Uid]);
            for (int i = 0; i < sort.Criteria.Count; i++)
            {
                int c = x[i] switch
                {
                    string s => BaseSubject.CompareAsciiCasemap(s, (string)y[i]),
                    _ => ((IComparable)x[i]).CompareTo(y[i]),
                };
                if (c != 0)
                {
                    return sort.Criteria[i].Reverse ? -c : c;
                }
            }

            // "If two or more messages exactly match according to the sort criteria, these messages are sorted
            // according to the order in which they appear in the mailbox": by sequence number, never reversed.
            return a.Uid.CompareTo(b.Uid);
        });

        await AnswerSearchAsync(sort.Tag, sort.ByUid, sort.Key, sort.ReturnOptions, matches, sorted: true, ct).ConfigureAwait(false);
        return Completion.Ok(sort.Name + " completed");

        static object[] Keys(SortData d, IReadOnlyList<SortCriterion> criteria)
        {
            var keys = new object[criteria.Count];
            for (int i = 0; i < criteria.Count; i++)
            {
                keys[i] = criteria[i].Key switch
                {
                    SortKey.Arrival => d.InternalDate.UtcTicks,
                    SortKey.Date => d.SentDate.UtcTicks,
                    SortKey.Size => d.Size,
                    SortKey.Subject => BaseSubject.Extract(d.Envelope?.Subject, out _),
                    SortKey.From => d.FirstMailbox(d.Envelope?.From),
                    SortKey.To => d.FirstMailbox(d.Envelope?.To),
                    _ => d.FirstMailbox(d.Envelope?.Cc),
                };
            }

            return keys;
        }
    }

    /// <summary>THREAD and UID THREAD (RFC 5256, 3): ORDEREDSUBJECT and REFERENCES.</summary>
    private async ValueTask<Completion> ThreadAsync(ThreadCommand thread, CancellationToken ct)
    {
        if (thread.Algorithm is not ("ORDEREDSUBJECT" or "REFERENCES"))
        {
            return Completion.Bad("Unsupported threading algorithm", "CLIENTBUG");
        }

        var (matches, failure) = await MatchAsync(thread.Key, thread.Charset, thread.ByUid, ct).ConfigureAwait(false);
        if (failure is { } f)
        {
            return f;
        }

        var data = await SortDataAsync(matches, ct).ConfigureAwait(false);
        var messages = new List<ThreadMessage>(data.Count);
        foreach (var d in data)
        {
            string subject = BaseSubject.Extract(d.Envelope?.Subject, out bool isReply);
            IReadOnlyList<string> references = [];
            string? messageId = null;
            if (thread.Algorithm == "REFERENCES")
            {
                messageId = MessageIds(d.Envelope?.MessageId).FirstOrDefault();
                references = await ReferencesAsync(d, ct).ConfigureAwait(false);
            }

            messages.Add(new ThreadMessage(d.Value, d.SentDate, subject, isReply, messageId, references));
        }

        string threads = thread.Algorithm == "REFERENCES" ? MessageThreading.References(messages) : MessageThreading.OrderedSubject(messages);
        _writer.Raw("* THREAD"u8);
        if (threads.Length > 0)
        {
            _writer.Sp().Ascii(threads);
        }

        _writer.Crlf();
        return Completion.Ok(thread.Name + " completed");
    }

    /// <summary>
    /// The References field's message IDs, or In-Reply-To's first when References has none (RFC 5256, 3, REFERENCES
    /// step 1B). ENVELOPE has no References, so the header block is read for it.
    /// </summary>
    private async ValueTask<IReadOnlyList<string>> ReferencesAsync(SortData d, CancellationToken ct)
    {
        var content = await Account.OpenContentAsync(_selected!.Id, d.Uid, ct).ConfigureAwait(false);
        List<string> references = [];
        if (content is not null)
        {
            await using (content.ConfigureAwait(false))
            {
                var block = await ReadHeaderBlockAsync(content, ct).ConfigureAwait(false);
                foreach (var header in MessageStructure.ParseHeaders(block))
                {
                    if (header.Field.Equals("References", StringComparison.OrdinalIgnoreCase))
                    {
                        references.AddRange(MessageIds(header.Value));
                    }
                }
            }
        }

        if (references.Count == 0 && MessageIds(d.Envelope?.InReplyTo).FirstOrDefault() is { } parent)
        {
            references.Add(parent);
        }

        return references;
    }

    /// <summary>The header block of a message, read up to its first empty line (at most 1 MiB: a bound on hostile input).</summary>
    private static async ValueTask<byte[]> ReadHeaderBlockAsync(Stream content, CancellationToken ct)
    {
        const int MaxHeader = 1024 * 1024;
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int n;
        while (buffer.Length < MaxHeader && (n = await content.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            await buffer.WriteAsync(chunk.AsMemory(0, n), ct).ConfigureAwait(false);
            var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
            if (bytes.IndexOf("\r\n\r\n"u8) >= 0 || bytes.IndexOf("\n\n"u8) >= 0)
            {
                break;
            }
        }

        return buffer.ToArray();
    }

    /// <summary>The msg-ids (<c>"&lt;" id-left "@" id-right "&gt;"</c>, RFC 5322 3.6.4) in a field, without the angle brackets.</summary>
    private static IEnumerable<string> MessageIds(string? field)
    {
        if (field is null)
        {
            yield break;
        }

        int at = 0;
        while ((at = field.IndexOf('<', at)) >= 0)
        {
            int end = field.IndexOf('>', at + 1);
            if (end < 0)
            {
                yield break;
            }

            var id = field[(at + 1)..end].Trim();
            if (id.Length > 0)
            {
                yield return id;
            }

            at = end + 1;
        }
    }
}
