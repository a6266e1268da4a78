using System.Buffers;
using System.Text;
using Letterlock.Imap.Protocol;

namespace Letterlock.Imap.Session;

/// <summary>
/// Formats commands for logs without secrets or mail content (STYLE.md, convention 11): passwords
/// and SASL responses become <c>***</c>, APPEND shows only the size, search strings are redacted
/// (a search term is as private as the mail it looks for), and unparsable input shows only its
/// first two tokens.
/// </summary>
public static class ImapCommandFormatter
{
    /// <summary>Formats a parsed command.</summary>
    public static string Format(ImapCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return command switch
        {
            LoginCommand l => $"{l.Tag} LOGIN {Safe(l.User)} ***",
            AuthenticateCommand a => $"{a.Tag} AUTHENTICATE {a.Mechanism}{(a.InitialResponse is null ? "" : " ***")}",
            AppendCommand a => $"{a.Tag} APPEND {Safe(a.Mailbox)} " + string.Join(' ', a.Messages.Select(m =>
                $"({string.Join(' ', m.Flags.Select(Safe))}) " + (m.Catenate ? $"CATENATE ({m.Parts.Count} parts)" : $"{{{((AppendText)m.Parts[0]).Data.Length}}}"))),
            SearchCommand s => $"{s.Tag} {s.Name} {Describe(s.Key)}",
            SortCommand s => $"{s.Tag} {s.Name} ({string.Join(' ', s.Criteria.Select(c => (c.Reverse ? "REVERSE " : "") + c.Key.ToString().ToUpperInvariant()))}) {Describe(s.Key)}",
            ThreadCommand th => $"{th.Tag} {th.Name} {Safe(th.Algorithm)} {Describe(th.Key)}",
            SelectCommand s => $"{s.Tag} {s.Name} {Safe(s.Mailbox)}{(s.Qresync is not null ? " (QRESYNC)" : s.Condstore ? " (CONDSTORE)" : "")}",
            MailboxCommand m => $"{m.Tag} {m.Verb} {Safe(m.Mailbox)}",
            RenameCommand r => $"{r.Tag} RENAME {Safe(r.From)} {Safe(r.To)}",
            StatusCommand s => $"{s.Tag} STATUS {Safe(s.Mailbox)} ({string.Join(' ', s.Items)})",
            ListCommand l => $"{l.Tag} {l.Name} {Safe(l.Reference)} ({string.Join(' ', l.Patterns.Select(Safe))})",
            FetchCommand f => $"{f.Tag} {f.Name} {Truncate(f.Set.ToString())} ({string.Join(' ', f.Items.Select(i => i.Attribute))})",
            StoreCommand s => $"{s.Tag} {s.Name} {Truncate(s.Set.ToString())} {s.Mode} ({string.Join(' ', s.Flags.Select(Safe))})",
            CopyCommand c => $"{c.Tag} {c.Name} {Truncate(c.Set.ToString())} {Safe(c.Mailbox)}",
            ExpungeCommand e => $"{e.Tag} {e.Name}",
            EnableCommand e => $"{e.Tag} ENABLE {string.Join(' ', e.Capabilities.Select(Safe))}",
            IdCommand i => $"{i.Tag} ID",
            _ => $"{command.Tag} {command.Name}",
        };
    }

    /// <summary>Formats raw input that could not be parsed: the first two tokens and the length, nothing more.</summary>
    public static string FormatRaw(in ReadOnlySequence<byte> line)
    {
        var head = line.Slice(0, Math.Min(line.Length, 64)).ToArray();
        var text = Encoding.ASCII.GetString(head);
        var tokens = text.Split(' ', 3);
        var shown = string.Join(' ', tokens.Take(2).Select(Safe));
        return $"{shown} ... ({line.Length} bytes)";
    }

    private static string Describe(SearchKey key) => key switch
    {
        AndKey a => "(" + string.Join(' ', a.Keys.Select(Describe)) + ")",
        OrKey o => $"OR {Describe(o.Left)} {Describe(o.Right)}",
        NotKey n => $"NOT {Describe(n.Key)}",
        HeaderKey h => $"HEADER {Safe(h.Field)} ***",
        BodyKey => "BODY ***",
        TextKey => "TEXT ***",
        FlagKey f => (f.Set ? "" : "UN") + Safe(f.Flag),
        _ => key.GetType().Name.Replace("Key", "", StringComparison.Ordinal).ToUpperInvariant(),
    };

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "...";

    private static string Safe(string s)
    {
        var sb = new StringBuilder(Math.Min(s.Length, 80));
        foreach (char c in s.Length > 80 ? s[..80] : s)
        {
            sb.Append(char.IsControl(c) ? '?' : c);
        }

        return sb.ToString();
    }
}
