using Letterlock.Client;
using Letterlock.Client.Store;

namespace Letterlock.Web.Mail;

/// <summary>One message as threading sees it.</summary>
internal sealed record ThreadNode(Guid Id, FolderId Folder, uint Uid, string? MessageIdHeader, string? InReplyTo, string? Subject, DateTimeOffset? Date,
    string? From);

/// <summary>
/// Conversations of one account across its folders, by Message-ID and In-Reply-To (RFC 5322, 3.6.4): a message's
/// thread is everything reachable from the oldest known ancestor. Built once in the background from the stored
/// summaries, then kept current from the store's changes; until it is built, messages show no thread.
/// </summary>
internal sealed class ThreadIndex
{
    private const int MaxDepth = 1000;
    private readonly Dictionary<Guid, ThreadNode> _byId = [];
    private readonly Dictionary<string, List<Guid>> _byMessageId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Guid>> _children = new(StringComparer.Ordinal);
    private readonly Dictionary<(FolderId, uint), Guid> _byUid = [];
    private readonly object _gate = new();

    public bool Ready { get; private set; }

    public static ThreadNode Node(Guid id, FolderId folder, uint uid, MessageSummary summary) =>
        new(id, folder, uid, Clean(summary.MessageIdHeader), Clean(summary.InReplyTo?.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()),
            summary.Subject, summary.Date ?? summary.InternalDate, summary.From.FirstOrDefault()?.Name ?? summary.From.FirstOrDefault()?.Address);

    /// <summary>Reads every folder's summaries (a page at a time), then marks the index ready.</summary>
    public async Task BuildAsync(AccountMail mail, CancellationToken ct)
    {
        foreach (var folder in await mail.ListFoldersAsync(ct).ConfigureAwait(false))
        {
            var after = new Uid(0);
            while (true)
            {
                var page = await mail.PageAsync(folder.Id, after, new Uid(uint.MaxValue), 2000, ct: ct).ConfigureAwait(false);
                foreach (var row in page)
                {
                    Add(Node(row.Id.Value, folder.Id, row.Uid.Value, row.Summary!));
                }

                if (page.Count < 2000)
                {
                    break;
                }

                after = page[^1].Uid;
            }
        }

        Ready = true;
    }

    public void Add(ThreadNode node)
    {
        lock (_gate)
        {
            if (_byId.ContainsKey(node.Id))
            {
                RemoveLocked(node.Id);
            }

            _byId[node.Id] = node;
            _byUid[(node.Folder, node.Uid)] = node.Id;
            if (node.MessageIdHeader is { } messageId)
            {
                Append(_byMessageId, messageId, node.Id);
            }

            if (node.InReplyTo is { } parent)
            {
                Append(_children, parent, node.Id);
            }
        }
    }

    public void Remove(FolderId folder, uint uid)
    {
        lock (_gate)
        {
            if (_byUid.TryGetValue((folder, uid), out var id))
            {
                RemoveLocked(id);
            }
        }
    }

    public void RemoveFolder(FolderId folder)
    {
        lock (_gate)
        {
            foreach (var id in _byUid.Where(k => k.Key.Item1 == folder).Select(k => k.Value).ToList())
            {
                RemoveLocked(id);
            }
        }
    }

    /// <summary>The whole conversation of a message, oldest first (the message alone when it is in none).</summary>
    public IReadOnlyList<ThreadNode> ThreadOf(Guid id)
    {
        lock (_gate)
        {
            if (!_byId.TryGetValue(id, out var node))
            {
                return [];
            }

            var root = node;
            for (int depth = 0; depth < MaxDepth && root.InReplyTo is { } parent && _byMessageId.TryGetValue(parent, out var parents); depth++)
            {
                var next = _byId[parents[0]];
                if (next.Id == node.Id)
                {
                    break;
                }

                root = next;
            }

            var seen = new HashSet<Guid>();
            var queue = new Queue<ThreadNode>();
            queue.Enqueue(root);
            seen.Add(root.Id);
            // Copies of the root (the same Message-ID in Sent and INBOX) belong to it too.
            foreach (var copy in root.MessageIdHeader is { } rootId && _byMessageId.TryGetValue(rootId, out var copies) ? copies : [])
            {
                if (seen.Add(copy))
                {
                    queue.Enqueue(_byId[copy]);
                }
            }

            while (queue.Count > 0 && seen.Count < 10_000)
            {
                var current = queue.Dequeue();
                if (current.MessageIdHeader is { } messageId && _children.TryGetValue(messageId, out var children))
                {
                    foreach (var child in children)
                    {
                        if (seen.Add(child))
                        {
                            queue.Enqueue(_byId[child]);
                        }
                    }
                }
            }

            return seen.Select(i => _byId[i]).OrderBy(n => n.Date).ThenBy(n => n.Uid).ToList();
        }
    }

    /// <summary>How many messages a message's conversation holds (1 when none, 0 before the index is ready).</summary>
    public int SizeOf(Guid id) => Ready ? Math.Max(1, ThreadOf(id).Count) : 0;

    private void RemoveLocked(Guid id)
    {
        if (!_byId.Remove(id, out var node))
        {
            return;
        }

        _byUid.Remove((node.Folder, node.Uid));
        if (node.MessageIdHeader is { } messageId)
        {
            Detach(_byMessageId, messageId, id);
        }

        if (node.InReplyTo is { } parent)
        {
            Detach(_children, parent, id);
        }
    }

    private static void Append(Dictionary<string, List<Guid>> map, string key, Guid id)
    {
        if (!map.TryGetValue(key, out var list))
        {
            map[key] = list = [];
        }

        list.Add(id);
    }

    private static void Detach(Dictionary<string, List<Guid>> map, string key, Guid id)
    {
        if (map.TryGetValue(key, out var list) && list.Remove(id) && list.Count == 0)
        {
            map.Remove(key);
        }
    }

    private static string? Clean(string? messageId) =>
        messageId?.Trim().Trim('<', '>') is { Length: > 0 and <= 998 } id ? id : null;
}
