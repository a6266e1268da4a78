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
                    selected.Index.Append(added.Uid.Value);
                    existsPending = true;
                    break;
                case FlagsChanged flags:
                {
                    if (selected.OwnChanges.Remove((flags.Uid.Value, flags.ModSeq.Value)))
                    {
                        break; // this session's own STORE: already answered
                    }

                    int seq = selected.Index.SeqOf(flags.Uid.Value);
                    if (seq == 0)
                    {
                        break;
                    }

                    if (existsPending)
                    {
                        WriteExists(selected);
                        existsPending = false;
                    }

                    _writer.Raw("* "u8).Number((ulong)seq).Raw(" FETCH ("u8);
                    if (_qresync || _rev2)
                    {
                        _writer.Raw("UID "u8).Number(flags.Uid.Value).Sp();
                    }

                    _writer.Raw("FLAGS "u8);
                    WriteFlags(flags.Flags);
                    if (_condstore)
                    {
                        _writer.Raw(" MODSEQ ("u8).Number(flags.ModSeq.Value).Byte((byte)')');
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

        if (selected.OwnChanges.Count > 10_000)
        {
            selected.OwnChanges.Clear(); // never let a lost notification grow this without bound
        }

        if (selected.Gone)
        {
            // The mailbox was deleted elsewhere: there is no sensible view left to keep.
            _writer.Raw("* BYE Selected mailbox was deleted\r\n"u8);
            State = ImapState.Logout;
        }
    }

    private void WriteExists(SelectedMailbox selected) =>
        _writer.Raw("* "u8).Number((ulong)selected.Index.Count).Raw(" EXISTS\r\n"u8);

    private void WriteFlags(MessageFlags flags)
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
