using System.Buffers;
using System.IO.Pipelines;
using Letterlock.Imap.Backend;
using Letterlock.Imap.Protocol;

namespace Letterlock.Imap.Session;

public sealed partial class ImapSession
{
    /// <summary>
    /// Turns queued backend changes into untagged responses. EXISTS may go out at any time; flag
    /// changes as FETCH; expunges only when <paramref name="allowExpunge"/>: never while answering
    /// FETCH, STORE or SEARCH by sequence number (RFC 9051, 7.5.1), because the client could not
    /// tell which message a number meant. A held expunge keeps its message in the session's view
    /// until a later command may report it, so sequence numbers stay consistent.
    /// </summary>
    private void DrainChanges(bool allowExpunge)
    {
        var selected = _selected;
        if (selected is null)
        {
            return;
        }

        bool existsPending = false;
        List<uint>? vanished = null;
        while (_changes.TryPeek(out var change))
        {
            switch (change)
            {
                case MessageAdded added:
                    AnnounceKeywords(added.Flags);
                    selected.Index.Append(added.Uid.Value);
                    if (TakesRecent(selected) && _context.Recent.Claim(Account.AccountKey, selected.Id, selected.Validity, added.Uid))
                    {
                        selected.Recent.Add(added.Uid.Value);
                    }

                    existsPending = true;
                    break;
                case FlagsChanged flags:
                {
                    int seq = selected.Index.SeqOf(flags.Uid.Value);
                    if (seq == 0)
                    {
                        break;
                    }

                    var current = flags.Flags;
                    ulong modseq = flags.ModSeq.Value;
                    if (selected.Told.TryGetValue(flags.Uid.Value, out var told) && told.ModSeq >= modseq)
                    {
                        // The client already has this message's state as of a later (or this) mod-sequence, from
                        // its own STORE or a FETCH: an older update must never follow a newer one, or the client
                        // shows stale flags and sees MODSEQ go backwards (RFC 7162, 3.1). Only when it was told the
                        // change without the result (.SILENT) and another session's change came first does it
                        // need the flags: the newest known, once.
                        if (!told.Silent || told.ModSeq == modseq)
                        {
                            break;
                        }

                        current = told.Flags;
                        modseq = told.ModSeq;
                        selected.Told[flags.Uid.Value] = told with { Silent = false };
                    }

                    if (existsPending)
                    {
                        WriteExists(selected);
                        existsPending = false;
                    }

                    AnnounceKeywords(current);
                    _writer.Raw("* "u8).Number((ulong)seq).Raw(" FETCH ("u8);
                    if (_qresync || _rev2)
                    {
                        _writer.Raw("UID "u8).Number(flags.Uid.Value).Sp();
                    }

                    _writer.Raw("FLAGS "u8);
                    WriteFlags(current, flags.Uid.Value);
                    if (_condstore)
                    {
                        _writer.Raw(" MODSEQ ("u8).Number(modseq).Byte((byte)')');
                    }

                    _writer.Raw(")\r\n"u8);
                    break;
                }

                case MessagesExpunged expunged:
                    if (!allowExpunge)
                    {
                        goto done;
                    }

                    if (existsPending)
                    {
                        WriteExists(selected);
                        existsPending = false;
                    }

                    foreach (var uid in expunged.Uids)
                    {
                        selected.Recent.Remove(uid.Value);
                        int seq = selected.Index.Remove(uid.Value);
                        if (seq == 0)
                        {
                            continue;
                        }

                        if (_qresync)
                        {
                            (vanished ??= []).Add(uid.Value);
                        }
                        else
                        {
                            _writer.Raw("* "u8).Number((ulong)seq).Raw(" EXPUNGE\r\n"u8);
                        }
                    }

                    break;
                case MailboxGone:
                    selected.Gone = true;
                    break;
            }

            if (change.ModSeq.Value > selected.HighestModSeq)
            {
                selected.HighestModSeq = change.ModSeq.Value;
            }

            _changes.TryDequeue(out _);
        }

    done:
        if (existsPending)
        {
            WriteExists(selected);
        }

        if (vanished is { Count: > 0 })
        {
            vanished.Sort();
            _writer.Raw("* VANISHED "u8).Ascii(SequenceSet.Format(vanished)).Crlf();
        }

        if (_changes.IsEmpty)
        {
            // Every change committed before what the client was told has been reported or skipped; changes
            // arriving from now on are newer than anything recorded.
            selected.Told.Clear();
        }

        if (selected.Gone)
        {
            // The mailbox was deleted elsewhere: there is no sensible view left to keep.
            _writer.Raw("* BYE Selected mailbox was deleted\r\n"u8);
            State = ImapState.Logout;
        }
    }

    private void WriteExists(SelectedMailbox selected)
    {
        _writer.Raw("* "u8).Number((ulong)selected.Index.Count).Raw(" EXISTS\r\n"u8);
        if (!_rev2)
        {
            // message-data = nz-number SP "EXISTS" / number SP "RECENT"   (RFC 3501, 7.3.2): sent with every EXISTS.
            _writer.Raw("* "u8).Number((ulong)selected.Recent.Count).Raw(" RECENT\r\n"u8);
        }
    }

    /// <summary>
    /// Whether this session takes \Recent for new arrivals: an IMAP4rev1 session with the mailbox selected
    /// read-write. EXAMINE must not take it (RFC 3501, 6.3.2), and an IMAP4rev2 session cannot show it, so it
    /// leaves it to a session that can.
    /// </summary>
    private bool TakesRecent(SelectedMailbox selected) => !_rev2 && !selected.ReadOnly;

    private void WriteFlags(MessageFlags flags, uint uid)
    {
        _writer.Byte((byte)'(');
        bool first = true;
        foreach (var name in flags.Names())
        {
            if (!first)
            {
                _writer.Sp();
            }

            _writer.Ascii(name);
            first = false;
        }

        if (!_rev2 && _selected is { } selected && selected.Recent.Contains(uid))
        {
            _writer.Raw(first ? "\\Recent"u8 : " \\Recent"u8);
        }

        _writer.Byte((byte)')');
    }

    /// <summary>
    /// IDLE (RFC 2177, RFC 9051 6.3.13): report changes as they happen, within the time it takes the
    /// backend to call <see cref="IMailboxListener.OnChange"/> and this loop to wake (no polling),
    /// until the client sends DONE or the autologout timer fires.
    /// </summary>
    private async ValueTask<Completion> IdleAsync(CancellationToken ct)
    {
        _writer.Raw("+ idling\r\n"u8);
        DrainChanges(allowExpunge: true);
        await FlushAsync(ct).ConfigureAwait(false);

        using var timeout = new CancellationTokenSource(_options.AutologoutTimeout, _context.Time);
        using var readCancel = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        var readTask = Input.ReadAsync(readCancel.Token).AsTask();
        while (true)
        {
            using (var waitCancel = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                var signal = _changeSignal.WaitAsync(waitCancel.Token);
                var first = await Task.WhenAny(readTask, signal).ConfigureAwait(false);
                if (first == signal)
                {
                    await signal.ConfigureAwait(false);
                    DrainChanges(allowExpunge: true);
                    await FlushAsync(ct).ConfigureAwait(false);
                    if (State == ImapState.Logout)
                    {
                        return Completion.Ok("IDLE terminated");
                    }

                    continue;
                }

                // Stop waiting for changes without consuming a future signal.
                await waitCancel.CancelAsync().ConfigureAwait(false);
                try
                {
                    await signal.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // expected
                }
            }

            ReadResult result;
            try
            {
                result = await readTask.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                throw new ImapTimeoutException();
            }

            var buffer = result.Buffer;
            var lf = buffer.PositionOf((byte)'\n');
            if (lf is null)
            {
                if (buffer.Length > 64 || result.IsCompleted)
                {
                    Input.AdvanceTo(buffer.End);
                    State = ImapState.Logout;
                    return Completion.Bad("Expected DONE");
                }

                Input.AdvanceTo(buffer.Start, buffer.End);
                readTask = Input.ReadAsync(readCancel.Token).AsTask();
                continue;
            }

            var line = System.Text.Encoding.ASCII.GetString(buffer.Slice(0, lf.Value).ToArray()).TrimEnd('\r');
            Input.AdvanceTo(buffer.GetPosition(1, lf.Value));
            return line.Equals("DONE", StringComparison.OrdinalIgnoreCase)
                ? Completion.Ok("IDLE terminated")
                : Completion.Bad("Expected DONE", "CLIENTBUG");
        }
    }
}
