using System.Text;

namespace Letterlock.Imap.Session;

/// <summary>What THREAD needs of one message.</summary>
/// <param name="Number">The number reported (sequence number or UID); also the order of arrival.</param>
/// <param name="SentDate">The Date field, or the internal date when there is none (RFC 5256, 2.2).</param>
/// <param name="BaseSubject">The base subject (RFC 5256, 2.1).</param>
/// <param name="IsReply">Whether the subject had a reply or forward marker.</param>
/// <param name="MessageId">The Message-ID without angle brackets; null when missing or invalid.</param>
/// <param name="References">The References message IDs in order (or In-Reply-To's first when References has none).</param>
internal sealed record ThreadMessage(uint Number, DateTimeOffset SentDate, string BaseSubject, bool IsReply, string? MessageId, IReadOnlyList<string> References);

/// <summary>
/// The THREAD algorithms of RFC 5256, 3: ORDEREDSUBJECT and REFERENCES (Jamie Zawinski's algorithm as the RFC
/// spells it out). Pure functions over <see cref="ThreadMessage"/>s; the result is the <c>thread-list</c>s of the
/// response.
/// </summary>
internal static class MessageThreading
{
    private sealed class Container
    {
        public ThreadMessage? Message;
        public Container? Parent;
        public List<Container> Children { get; } = [];

        public bool IsDescendantOf(Container other)
        {
            for (var c = Parent; c is not null; c = c.Parent)
            {
                if (c == other)
                {
                    return true;
                }
            }

            return false;
        }

        public void Unlink()
        {
            Parent?.Children.Remove(this);
            Parent = null;
        }

        public void AddChild(Container child)
        {
            child.Unlink();
            child.Parent = this;
            Children.Add(child);
        }

        /// <summary>The message that stands for this container when sorting and grouping: its own, else its first child's.</summary>
        public ThreadMessage? Representative => Message ?? (Children.Count > 0 ? Children[0].Representative : null);
    }

    /// <summary>
    /// ORDEREDSUBJECT: messages grouped by base subject; the earliest (by sent date) is the parent, the others its
    /// children in date order; threads in the order of their first message's date.
    /// </summary>
    public static string OrderedSubject(IReadOnlyList<ThreadMessage> messages)
    {
        var threads = messages
            .GroupBy(m => m.BaseSubject, Mime.BaseSubject.AsciiCasemap)
            .Select(g => g.OrderBy(m => m.SentDate).ThenBy(m => m.Number).ToList())
            .OrderBy(t => t[0].SentDate).ThenBy(t => t[0].Number)
            .Select(t =>
            {
                var root = new Container { Message = t[0] };
                foreach (var child in t.Skip(1))
                {
                    root.AddChild(new Container { Message = child });
                }

                return root;
            });
        return Format(threads);
    }

    /// <summary>REFERENCES: threads by References/In-Reply-To, then merged by base subject (RFC 5256, 3 steps 1-6).</summary>
    public static string References(IReadOnlyList<ThreadMessage> messages)
    {
        var table = new Dictionary<string, Container>(StringComparer.Ordinal);
        var all = new List<Container>();
        Container Lookup(string id)
        {
            if (!table.TryGetValue(id, out var c))
            {
                c = new Container();
                table[id] = c;
                all.Add(c);
            }

            return c;
        }

        foreach (var message in messages.OrderBy(m => m.Number))
        {
            // (1A) The message's container; a missing or duplicate Message-ID gets a container of its own.
            Container self;
            if (message.MessageId is { } id && (!table.TryGetValue(id, out var existing) || existing.Message is null))
            {
                self = Lookup(id);
            }
            else
            {
                self = new Container();
                all.Add(self);
            }

            self.Message = message;

            // (1B) Link the References in order, parent to child, without changing existing links or making loops.
            Container? previous = null;
            foreach (var reference in message.References)
            {
                var current = Lookup(reference);
                if (previous is not null && current.Parent is null && current != previous &&
                    !previous.IsDescendantOf(current) && !current.IsDescendantOf(previous))
                {
                    previous.AddChild(current);
                }

                previous = current;
            }

            // (1C) The last reference is the parent (replacing a presumed one), unless that makes a loop.
            if (previous is not null && previous != self && !previous.IsDescendantOf(self))
            {
                previous.AddChild(self);
            }
        }

        // (2) The root set; (4) prune empty containers, promoting children (to the root only when there is one).
        var roots = Prune(all.Where(c => c.Parent is null).ToList(), isRoot: true);

        // (5) Gather the root set by base subject.
        SortSiblings(roots);
        var bySubject = new Dictionary<string, Container>(Mime.BaseSubject.AsciiCasemap);
        foreach (var root in roots)
        {
            var representative = root.Representative!;
            if (representative.BaseSubject.Length == 0)
            {
                continue;
            }

            if (!bySubject.TryGetValue(representative.BaseSubject, out var old) ||
                (root.Message is null && old.Message is not null) ||
                (old.Message is not null && root.Message is not null && old.Message.IsReply && !root.Message.IsReply))
            {
                bySubject[representative.BaseSubject] = root;
            }
        }

        var holders = new List<Container>();
        foreach (var root in roots)
        {
            var representative = root.Representative!;
            if (representative.BaseSubject.Length == 0 || !bySubject.TryGetValue(representative.BaseSubject, out var other) || other == root)
            {
                continue;
            }

            if (root.Message is null && other.Message is null)
            {
                foreach (var child in root.Children.ToList())
                {
                    other.AddChild(child);
                }
            }
            else if (other.Message is null)
            {
                other.AddChild(root);
            }
            else if (!other.Message.IsReply && root.Message is { IsReply: true })
            {
                other.AddChild(root);
            }
            else
            {
                // Neither is the other's reply: both become children of a new empty container in the other's place.
                var holder = new Container();
                bySubject[representative.BaseSubject] = holder;
                holders.Add(holder);
                holder.AddChild(other);
                holder.AddChild(root);
            }
        }

        // (6) Sort every set of siblings by sent date, the root set too.
        var result = roots.Concat(holders).Where(r => r.Parent is null && (r.Message is not null || r.Children.Count > 0)).ToList();
        SortSiblings(result);
        return Format(result);
    }

    private static List<Container> Prune(List<Container> siblings, bool isRoot)
    {
        var kept = new List<Container>();
        foreach (var c in siblings)
        {
            var children = Prune(c.Children.ToList(), isRoot: false);
            c.Children.Clear();
            foreach (var child in children)
            {
                child.Parent = c;
                c.Children.Add(child);
            }

            if (c.Message is not null)
            {
                kept.Add(c);
            }
            else if (c.Children.Count == 0)
            {
                // Nothing to show: drop it.
            }
            else if (!isRoot || c.Children.Count == 1)
            {
                foreach (var child in c.Children)
                {
                    child.Parent = c.Parent;
                    kept.Add(child);
                }

                c.Children.Clear();
            }
            else
            {
                kept.Add(c);
            }
        }

        if (isRoot)
        {
            foreach (var c in kept)
            {
                c.Parent = null;
            }
        }

        return kept;
    }

    private static void SortSiblings(List<Container> siblings)
    {
        foreach (var c in siblings)
        {
            SortSiblings(c.Children);
        }

        // A stable sort by date; an empty container takes its first child's date (children are sorted first).
        var ordered = siblings.OrderBy(c => c.Representative!.SentDate).ThenBy(c => c.Representative!.Number).ToList();
        siblings.Clear();
        siblings.AddRange(ordered);
    }

    // thread-list = "(" (thread-members / thread-nested) ")" ; thread-members = nz-number *(SP nz-number) [SP thread-nested]
    // thread-nested = 2*thread-list
    private static string Format(IEnumerable<Container> roots)
    {
        var sb = new StringBuilder();
        foreach (var root in roots)
        {
            sb.Append('(');
            Members(sb, root);
            sb.Append(')');
        }

        return sb.ToString();

        static void Members(StringBuilder sb, Container c)
        {
            if (c.Message is not null)
            {
                sb.Append(c.Message.Number);
                if (c.Children.Count == 1)
                {
                    sb.Append(' ');
                    Members(sb, c.Children[0]);
                    return;
                }

                if (c.Children.Count > 1)
                {
                    sb.Append(' ');
                }
            }

            foreach (var child in c.Children)
            {
                sb.Append('(');
                Members(sb, child);
                sb.Append(')');
            }
        }
    }
}
