using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Letterlock.Imap.Backend;
using Letterlock.Imap.Mime;
using Letterlock.Imap.Protocol;
using MimeKit;

namespace Letterlock.Imap.InMemory;

/// <summary>
/// The reference backend: accounts, mailboxes and messages held in memory. It implements every
/// part of <see cref="IMailAccount"/> and is what `letterlock imap serve --memory`, the tests and the
/// benchmarks run on. Passwords are kept as salted SHA-256 hashes and compared in constant time.
/// </summary>
public sealed class InMemoryBackend : IImapAuthenticator
{
    private readonly Dictionary<string, Account> _accounts = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly int _maxMimeDepth;
    private readonly TimeProvider _time;

    /// <summary>Creates an empty backend.</summary>
    public InMemoryBackend(int maxMimeDepth = 64, TimeProvider? time = null)
    {
        _maxMimeDepth = maxMimeDepth;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Adds a user with an INBOX and the usual special-use mailboxes.</summary>
    public void AddUser(string user, string password)
    {
        ArgumentException.ThrowIfNullOrEmpty(user);
        ArgumentNullException.ThrowIfNull(password);
        var salt = RandomNumberGenerator.GetBytes(16);
        var account = new Account(this, user, salt, Hash(salt, password));
        account.Create("INBOX", SpecialUse.None);
        account.Create("Drafts", SpecialUse.Drafts);
        account.Create("Sent", SpecialUse.Sent);
        account.Create("Trash", SpecialUse.Trash);
        account.Create("Junk", SpecialUse.Junk);
        account.Create("Archive", SpecialUse.Archive);
        foreach (var name in new[] { "INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive" })
        {
            account.Subscriptions.Add(name);
        }

        lock (_lock)
        {
            _accounts.Add(user, account);
        }
    }

    /// <summary>Adds a message directly (seeding, import); returns its UID.</summary>
    public Uid Import(string user, string mailbox, ReadOnlyMemory<byte> message, MessageFlags? flags = null, DateTimeOffset? internalDate = null)
    {
        Account account;
        lock (_lock)
        {
            account = _accounts[user];
        }

        var box = account.Find(mailbox) ?? throw new ArgumentException($"No mailbox {mailbox}", nameof(mailbox));
        var bytes = LineEndings.Normalize(message.Span);
        var structure = MessageStructure.Parse(bytes, _maxMimeDepth);
        return box.Append(bytes, structure, flags ?? MessageFlags.Empty, internalDate ?? structure.SentDate ?? _time.GetUtcNow()).Uid;
    }

    /// <summary>Opens a second handle on a user's account, as a sync process would, without a password.</summary>
    public IMailAccount OpenAccount(string user)
    {
        lock (_lock)
        {
            return new AccountHandle(_accounts[user]);
        }
    }

    /// <inheritdoc />
    public ValueTask<IMailAccount?> AuthenticateAsync(string user, string password, ImapConnectionInfo connection, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        Account? account;
        lock (_lock)
        {
            _accounts.TryGetValue(user, out account);
        }

        // Hash even for unknown users so timing does not reveal which user names exist.
        var salt = account?.Salt ?? new byte[16];
        var hash = Hash(salt, password);
        bool ok = account is not null && CryptographicOperations.FixedTimeEquals(hash, account.PasswordHash);
        return ValueTask.FromResult<IMailAccount?>(ok ? new AccountHandle(account!) : null);
    }

    private static byte[] Hash(byte[] salt, string password)
    {
        var bytes = Encoding.UTF8.GetBytes(password);
        var input = new byte[salt.Length + bytes.Length];
        salt.CopyTo(input, 0);
        bytes.CopyTo(input, salt.Length);
        return SHA256.HashData(input);
    }

    internal DateTimeOffset Now => _time.GetUtcNow();

    internal int MaxMimeDepth => _maxMimeDepth;

    private sealed class Account(InMemoryBackend owner, string user, byte[] salt, byte[] passwordHash)
    {
        public readonly InMemoryBackend Owner = owner;
        public readonly string User = user;
        public readonly byte[] Salt = salt;
        public readonly byte[] PasswordHash = passwordHash;
        public readonly Lock Lock = new();
        public readonly List<Mailbox> Mailboxes = [];
        public readonly HashSet<string> Subscriptions = new(StringComparer.Ordinal);
        private uint _nextValidity = (uint)Math.Max(1, owner.Now.ToUnixTimeSeconds() % 1_000_000_000);

        public Mailbox? Find(string name)
        {
            lock (Lock)
            {
                return Mailboxes.Find(m => NameEquals(m.Name, name));
            }
        }

        public Mailbox? Find(MailboxId id)
        {
            lock (Lock)
            {
                return Mailboxes.Find(m => m.Id == id);
            }
        }

        public static bool NameEquals(string a, string b) =>
            string.Equals(a, b, StringComparison.Ordinal) ||
            (a.Equals("INBOX", StringComparison.OrdinalIgnoreCase) && b.Equals("INBOX", StringComparison.OrdinalIgnoreCase));

        public MailboxOperationStatus Create(string name, SpecialUse use)
        {
            lock (Lock)
            {
                if (Mailboxes.Exists(m => NameEquals(m.Name, name)))
                {
                    return MailboxOperationStatus.AlreadyExists;
                }

                Mailboxes.Add(new Mailbox(MailboxId.New(), name, use, new UidValidity(_nextValidity++), Owner));
                return MailboxOperationStatus.Ok;
            }
        }
    }

    /// <summary>One mailbox. All state changes happen under <see cref="_lock"/>; listeners are called under it, so they see changes in commit order.</summary>
    private sealed class Mailbox(MailboxId id, string name, SpecialUse use, UidValidity validity, InMemoryBackend owner)
    {
        private readonly Lock _lock = new();
        private readonly List<IMailboxListener> _listeners = [];
        private readonly List<(uint Uid, ulong ModSeq)> _tombstones = [];
        private readonly SortedSet<string> _keywords = new(StringComparer.OrdinalIgnoreCase);
        private uint[] _uids = new uint[16];
        private Message[] _messages = new Message[16];
        private int _count;
        private uint _uidNext = 1;
        private ulong _modSeq = 1;

        public MailboxId Id { get; } = id;
        public string Name { get; set; } = name;
        public SpecialUse Use { get; } = use;
        public UidValidity Validity { get; } = validity;
        public InMemoryBackend Owner { get; } = owner;

        public Message Append(byte[] content, MessageStructure structure, MessageFlags flags, DateTimeOffset date)
        {
            lock (_lock)
            {
                var msg = new Message(new Uid(_uidNext++), content, structure, date) { Flags = flags, ModSeq = ++_modSeq };
                AddLocked(msg);
                Notify(new MessageAdded(msg.Uid, flags, new ModSeq(msg.ModSeq)));
                return msg;
            }
        }

        /// <summary>MULTIAPPEND: every message committed under one lock, so no session sees part of the batch.</summary>
        public List<Uid> AppendAll(List<(byte[] Content, MessageStructure Structure, MessageFlags Flags, DateTimeOffset Date)> messages)
        {
            lock (_lock)
            {
                var uids = new List<Uid>(messages.Count);
                foreach (var (content, structure, flags, date) in messages)
                {
                    uids.Add(Append(content, structure, flags, date).Uid);
                }

                return uids;
            }
        }

        private void AddLocked(Message msg)
        {
            if (_count == _uids.Length)
            {
                // A new array: sessions holding the old one keep a consistent prefix.
                Array.Resize(ref _uids, _uids.Length * 2);
                Array.Resize(ref _messages, _messages.Length * 2);
            }

            _messages[_count] = msg;
            _uids[_count] = msg.Uid.Value;
            _count++;
            foreach (var k in msg.Flags.Keywords)
            {
                _keywords.Add(k);
            }
        }

        private void Notify(MailboxChange change)
        {
            foreach (var l in _listeners)
            {
                l.OnChange(change);
            }
        }

        public MailboxSnapshot Open(IMailboxListener listener)
        {
            lock (_lock)
            {
                _listeners.Add(listener);
                Uid? firstUnseen = null;
                for (int i = 0; i < _count; i++)
                {
                    if ((_messages[i].Flags.System & SystemFlags.Seen) == 0)
                    {
                        firstUnseen = _messages[i].Uid;
                        break;
                    }
                }

                return new MailboxSnapshot(Validity, new Uid(_uidNext), new ModSeq(_modSeq), _uids, _count, _keywords.ToArray(), new Registration(this, listener), firstUnseen);
            }
        }

        public void Unregister(IMailboxListener listener)
        {
            lock (_lock)
            {
                _listeners.Remove(listener);
            }
        }

        public void Gone()
        {
            lock (_lock)
            {
                Notify(new MailboxGone(new ModSeq(++_modSeq)));
                _listeners.Clear();
            }
        }

        public MailboxStatus Status()
        {
            lock (_lock)
            {
                uint unseen = 0, deleted = 0;
                ulong size = 0;
                for (int i = 0; i < _count; i++)
                {
                    var m = _messages[i];
                    if ((m.Flags.System & SystemFlags.Seen) == 0)
                    {
                        unseen++;
                    }

                    if ((m.Flags.System & SystemFlags.Deleted) != 0)
                    {
                        deleted++;
                    }

                    size += (ulong)m.Content.Length;
                }

                return new MailboxStatus((uint)_count, new Uid(_uidNext), Validity, unseen, deleted, size, new ModSeq(_modSeq));
            }
        }

        /// <summary>Copies the messages in the ranges under the lock (the list is then read without it).</summary>
        public List<(Message Message, MessageFlags Flags, ulong ModSeq)> Select(IReadOnlyList<UidRange>? ranges)
        {
            lock (_lock)
            {
                var result = new List<(Message, MessageFlags, ulong)>();
                if (ranges is null)
                {
                    for (int i = 0; i < _count; i++)
                    {
                        result.Add((_messages[i], _messages[i].Flags, _messages[i].ModSeq));
                    }

                    return result;
                }

                foreach (var r in ranges)
                {
                    int i = LowerBound(r.First.Value);
                    for (; i < _count && _uids[i] <= r.Last.Value; i++)
                    {
                        result.Add((_messages[i], _messages[i].Flags, _messages[i].ModSeq));
                    }
                }

                return result;
            }
        }

        public Message? Get(Uid uid)
        {
            lock (_lock)
            {
                int i = LowerBound(uid.Value);
                return i < _count && _uids[i] == uid.Value ? _messages[i] : null;
            }
        }

        public uint LargestUid
        {
            get
            {
                lock (_lock)
                {
                    return _count == 0 ? 0 : _uids[_count - 1];
                }
            }
        }

        private int LowerBound(uint uid)
        {
            // UIDs are kept strictly ascending, so the complement of a miss is where the UID would go.
            int i = Array.BinarySearch(_uids, 0, _count, uid);
            return i >= 0 ? i : ~i;
        }

        public StoreResult Store(IReadOnlyList<UidRange> ranges, StoreMode mode, MessageFlags flags, ModSeq? unchangedSince)
        {
            lock (_lock)
            {
                var stored = new List<StoredFlags>();
                var modified = new List<Uid>();
                foreach (var r in ranges)
                {
                    for (int i = LowerBound(r.First.Value); i < _count && _uids[i] <= r.Last.Value; i++)
                    {
                        var m = _messages[i];
                        if (unchangedSince is { } limit && m.ModSeq > limit.Value)
                        {
                            modified.Add(m.Uid);
                            continue;
                        }

                        var updated = mode switch
                        {
                            StoreMode.Add => m.Flags.Add(flags),
                            StoreMode.Remove => m.Flags.Remove(flags),
                            _ => flags,
                        };
                        if (updated.Equals(m.Flags))
                        {
                            stored.Add(new StoredFlags(m.Uid, m.Flags, new ModSeq(m.ModSeq), false));
                            continue;
                        }

                        m.Flags = updated;
                        m.ModSeq = ++_modSeq;
                        foreach (var k in updated.Keywords)
                        {
                            _keywords.Add(k);
                        }

                        stored.Add(new StoredFlags(m.Uid, updated, new ModSeq(m.ModSeq), true));
                        Notify(new FlagsChanged(m.Uid, updated, new ModSeq(m.ModSeq)));
                    }
                }

                return new StoreResult(stored, modified);
            }
        }

        public IReadOnlyList<Uid> Expunge(IReadOnlyList<UidRange>? only, IReadOnlyCollection<Uid>? exactly = null)
        {
            lock (_lock)
            {
                var removed = new List<Uid>();
                var keptUids = new uint[Math.Max(16, _uids.Length)];
                var keptMessages = new Message[keptUids.Length];
                int kept = 0;
                for (int i = 0; i < _count; i++)
                {
                    var m = _messages[i];
                    bool remove = exactly is not null
                        ? exactly.Contains(m.Uid)
                        : (m.Flags.System & SystemFlags.Deleted) != 0 && (only is null || UidRange.AnyContains(only, m.Uid));
                    if (remove)
                    {
                        removed.Add(m.Uid);
                    }
                    else
                    {
                        keptUids[kept] = _uids[i];
                        keptMessages[kept++] = m;
                    }
                }

                if (removed.Count == 0)
                {
                    return removed;
                }

                // A fresh array: sessions share the old one and must never see it change below their count.
                _uids = keptUids;
                _messages = keptMessages;
                _count = kept;
                ulong modseq = ++_modSeq;
                foreach (var uid in removed)
                {
                    _tombstones.Add((uid.Value, modseq));
                }

                Notify(new MessagesExpunged(removed, new ModSeq(modseq)));
                return removed;
            }
        }

        public List<(Message Message, MessageFlags Flags)> TakeForCopy(IReadOnlyList<UidRange> ranges)
        {
            var list = new List<(Message, MessageFlags)>();
            foreach (var (m, f, _) in Select(ranges))
            {
                list.Add((m, f));
            }

            return list;
        }

        public List<Uid> AddCopies(List<(Message Message, MessageFlags Flags)> sources)
        {
            lock (_lock)
            {
                var uids = new List<Uid>(sources.Count);
                foreach (var (src, flags) in sources)
                {
                    var msg = new Message(new Uid(_uidNext++), src.Content, src.Structure, src.InternalDate) { Flags = flags, ModSeq = ++_modSeq };
                    AddLocked(msg);
                    uids.Add(msg.Uid);
                    Notify(new MessageAdded(msg.Uid, flags, new ModSeq(msg.ModSeq)));
                }

                return uids;
            }
        }

        /// <summary>
        /// MOVE into the same mailbox (RFC 6851 allows it): each message gets a new UID. The expunge is committed
        /// before the arrivals, under one lock, so sessions see "n EXPUNGE" and then the new EXISTS.
        /// </summary>
        public (List<(Message Message, MessageFlags Flags)> Sources, List<Uid> NewUids) MoveWithin(IReadOnlyList<UidRange> ranges)
        {
            lock (_lock)
            {
                var sources = TakeForCopy(ranges);
                if (sources.Count == 0)
                {
                    return (sources, []);
                }

                Expunge(null, sources.Select(s => s.Message.Uid).ToHashSet());
                return (sources, AddCopies(sources));
            }
        }

        public IReadOnlyList<Uid> ExpungedSince(ulong since)
        {
            lock (_lock)
            {
                return _tombstones.Where(t => t.ModSeq > since).Select(t => new Uid(t.Uid)).ToList();
            }
        }

        private sealed class Registration(Mailbox mailbox, IMailboxListener listener) : IDisposable
        {
            public void Dispose() => mailbox.Unregister(listener);
        }
    }

    private sealed class Message(Uid uid, byte[] content, MessageStructure structure, DateTimeOffset internalDate)
    {
        public Uid Uid { get; } = uid;
        public byte[] Content { get; } = content;
        public MessageStructure Structure { get; } = structure;
        public DateTimeOffset InternalDate { get; } = internalDate;
        public MessageFlags Flags { get; set; } = MessageFlags.Empty;
        public ulong ModSeq { get; set; }
    }

    private sealed class Searchable(Message message, MessageFlags flags, ulong modseq) : SearchableMessage
    {
        private HeaderList? _headers;

        public override Uid Uid => message.Uid;
        public override MessageFlags Flags => flags;
        public override ModSeq ModSeq => new(modseq);
        public override DateTimeOffset InternalDate => message.InternalDate;
        public override long Size => message.Content.Length;
        public override DateTimeOffset? SentDate => message.Structure.SentDate;

        // Only the header block is parsed for HEADER/FROM/SUBJECT... keys; TEXT and BODY search the bytes.
        public override HeaderList GetHeaders()
        {
            // MimeKit's HeaderList.Load refuses a block that begins with an mbox "From " line, which real
            // archives (the spamassassin corpus) have; parse the block as the structure was parsed.
            _headers ??= MessageStructure.ParseHeaders(message.Content);

            return _headers;
        }

        public override bool? ContainsText(string needle, bool includeHeaders) =>
            MessageTextSearch.Contains(message.Content, message.Structure, needle, includeHeaders);

        public override string GetBodyText()
        {
            using var stream = new MemoryStream(message.Content, writable: false);
            return ExtractBodyText(MimeMessage.Load(stream));
        }
    }

    private sealed class MetadataView : SearchableMessage
    {
        public Message Message = null!;
        public MessageFlags CurrentFlags = MessageFlags.Empty;
        public ulong CurrentModSeq;

        public override Uid Uid => Message.Uid;
        public override MessageFlags Flags => CurrentFlags;
        public override ModSeq ModSeq => new(CurrentModSeq);
        public override DateTimeOffset InternalDate => Message.InternalDate;
        public override long Size => Message.Content.Length;
        public override DateTimeOffset? SentDate => Message.Structure.SentDate;
        public override HeaderList GetHeaders() => throw new InvalidOperationException("metadata only");
        public override string GetBodyText() => throw new InvalidOperationException("metadata only");
    }

    /// <summary>One session's handle.</summary>
    private sealed class AccountHandle(Account account) : IMailAccount
    {
        public string AccountKey => account.User;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private Mailbox? Box(MailboxId id) => account.Find(id);

        public ValueTask<IReadOnlyList<MailboxInfo>> ListMailboxesAsync(CancellationToken ct)
        {
            lock (account.Lock)
            {
                return ValueTask.FromResult<IReadOnlyList<MailboxInfo>>(account.Mailboxes.Select(m => new MailboxInfo(m.Id, m.Name, m.Use)).ToList());
            }
        }

        public ValueTask<IReadOnlyList<string>> ListSubscriptionsAsync(CancellationToken ct)
        {
            lock (account.Lock)
            {
                return ValueTask.FromResult<IReadOnlyList<string>>(account.Subscriptions.ToList());
            }
        }

        public ValueTask SetSubscribedAsync(string name, bool subscribed, CancellationToken ct)
        {
            lock (account.Lock)
            {
                if (subscribed)
                {
                    account.Subscriptions.Add(name);
                }
                else
                {
                    account.Subscriptions.Remove(name);
                }
            }

            return ValueTask.CompletedTask;
        }

        public ValueTask<MailboxOperationStatus> CreateMailboxAsync(string name, SpecialUse specialUse, CancellationToken ct) =>
            ValueTask.FromResult(account.Create(name, specialUse));

        public ValueTask<MailboxOperationStatus> DeleteMailboxAsync(MailboxId mailbox, CancellationToken ct)
        {
            Mailbox? box;
            lock (account.Lock)
            {
                box = account.Mailboxes.Find(m => m.Id == mailbox);
                if (box is null)
                {
                    return ValueTask.FromResult(MailboxOperationStatus.NotFound);
                }

                if (box.Name.Equals("INBOX", StringComparison.OrdinalIgnoreCase))
                {
                    return ValueTask.FromResult(MailboxOperationStatus.NotAllowed);
                }

                account.Mailboxes.Remove(box);
            }

            box.Gone();
            return ValueTask.FromResult(MailboxOperationStatus.Ok);
        }

        public ValueTask<MailboxOperationStatus> RenameMailboxAsync(MailboxId mailbox, string newName, CancellationToken ct)
        {
            lock (account.Lock)
            {
                var box = account.Mailboxes.Find(m => m.Id == mailbox);
                if (box is null)
                {
                    return ValueTask.FromResult(MailboxOperationStatus.NotFound);
                }

                if (box.Name.Equals("INBOX", StringComparison.OrdinalIgnoreCase))
                {
                    return ValueTask.FromResult(MailboxOperationStatus.NotAllowed);
                }

                if (account.Mailboxes.Exists(m => Account.NameEquals(m.Name, newName)))
                {
                    return ValueTask.FromResult(MailboxOperationStatus.AlreadyExists);
                }

                string oldPrefix = box.Name + "/";
                foreach (var child in account.Mailboxes.Where(m => m.Name.StartsWith(oldPrefix, StringComparison.Ordinal)))
                {
                    child.Name = newName + "/" + child.Name[oldPrefix.Length..];
                }

                box.Name = newName;
                return ValueTask.FromResult(MailboxOperationStatus.Ok);
            }
        }

        public ValueTask<MailboxStatus?> GetStatusAsync(MailboxId mailbox, CancellationToken ct) =>
            ValueTask.FromResult(Box(mailbox)?.Status());

        public ValueTask<MailboxSnapshot?> OpenMailboxAsync(MailboxId mailbox, IMailboxListener listener, CancellationToken ct) =>
            ValueTask.FromResult(Box(mailbox)?.Open(listener));

        public async IAsyncEnumerable<MessageRecord> FetchAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, bool withStructure, [EnumeratorCancellation] CancellationToken ct)
        {
            var box = Box(mailbox);
            if (box is null)
            {
                yield break;
            }

            foreach (var (m, flags, modseq) in box.Select(uids))
            {
                ct.ThrowIfCancellationRequested();
                yield return new MessageRecord
                {
                    Uid = m.Uid,
                    Flags = flags,
                    ModSeq = new ModSeq(modseq),
                    InternalDate = m.InternalDate,
                    Size = m.Content.Length,
                    Structure = withStructure ? m.Structure : null,
                };
            }

            await Task.CompletedTask.ConfigureAwait(false);
        }

        public ValueTask<Stream?> OpenContentAsync(MailboxId mailbox, Uid uid, CancellationToken ct)
        {
            var m = Box(mailbox)?.Get(uid);
            return ValueTask.FromResult<Stream?>(m is null ? null : new MemoryStream(m.Content, 0, m.Content.Length, writable: false, publiclyVisible: true));
        }

        public ValueTask<StoreResult> StoreFlagsAsync(MailboxId mailbox, IReadOnlyList<UidRange> uids, StoreMode mode, MessageFlags flags, ModSeq? unchangedSince, CancellationToken ct)
        {
            var box = Box(mailbox);
            return ValueTask.FromResult(box is null ? new StoreResult([], []) : box.Store(uids, mode, flags, unchangedSince));
        }

        public async ValueTask<AppendResult> AppendAsync(MailboxId mailbox, Stream content, MessageFlags flags, DateTimeOffset internalDate, CancellationToken ct)
        {
            var box = Box(mailbox);
            if (box is null)
            {
                return new AppendResult(MailboxOperationStatus.NotFound, default, default);
            }

            using var buffer = new MemoryStream();
            await content.CopyToAsync(buffer, ct).ConfigureAwait(false);
            var bytes = LineEndings.Normalize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
            if (bytes.Length == 0)
            {
                return new AppendResult(MailboxOperationStatus.Invalid, default, default);
            }

            var structure = MessageStructure.Parse(bytes, account.Owner.MaxMimeDepth);
            var msg = box.Append(bytes, structure, flags, internalDate);
            return new AppendResult(MailboxOperationStatus.Ok, box.Validity, msg.Uid);
        }

        public ValueTask<AppendBatchResult> AppendBatchAsync(MailboxId mailbox, IReadOnlyList<AppendItem> messages, CancellationToken ct)
        {
            var box = Box(mailbox);
            if (box is null)
            {
                return ValueTask.FromResult(new AppendBatchResult(MailboxOperationStatus.NotFound, default, []));
            }

            var prepared = new List<(byte[], MessageStructure, MessageFlags, DateTimeOffset)>(messages.Count);
            foreach (var message in messages)
            {
                var bytes = LineEndings.Normalize(message.Content.Span);
                if (bytes.Length == 0)
                {
                    return ValueTask.FromResult(new AppendBatchResult(MailboxOperationStatus.Invalid, default, []));
                }

                prepared.Add((bytes, MessageStructure.Parse(bytes, account.Owner.MaxMimeDepth), message.Flags, message.InternalDate));
            }

            return ValueTask.FromResult(new AppendBatchResult(MailboxOperationStatus.Ok, box.Validity, box.AppendAll(prepared)));
        }

        public ValueTask<CopyResult> CopyAsync(MailboxId source, IReadOnlyList<UidRange> uids, MailboxId target, bool move, CancellationToken ct)
        {
            var from = Box(source);
            var to = Box(target);
            if (from is null || to is null)
            {
                return ValueTask.FromResult(new CopyResult(MailboxOperationStatus.NotFound, default, [], []));
            }

            if (move && from == to)
            {
                var (moved, newUids) = from.MoveWithin(uids);
                return ValueTask.FromResult(new CopyResult(MailboxOperationStatus.Ok, to.Validity, moved.Select(s => s.Message.Uid).ToList(), newUids));
            }

            var sources = from.TakeForCopy(uids);
            var targetUids = to.AddCopies(sources);
            if (move && sources.Count > 0)
            {
                from.Expunge(null, sources.Select(s => s.Message.Uid).ToHashSet());
            }

            return ValueTask.FromResult(new CopyResult(MailboxOperationStatus.Ok, to.Validity, sources.Select(s => s.Message.Uid).ToList(), targetUids));
        }

        public ValueTask<IReadOnlyList<Uid>> ExpungeAsync(MailboxId mailbox, IReadOnlyList<UidRange>? only, CancellationToken ct) =>
            ValueTask.FromResult(Box(mailbox)?.Expunge(only) ?? []);

        public ValueTask<IReadOnlyList<Uid>> SearchAsync(MailboxId mailbox, SearchKey key, CancellationToken ct)
        {
            var box = Box(mailbox);
            if (box is null)
            {
                return ValueTask.FromResult<IReadOnlyList<Uid>>([]);
            }

            uint largest = box.LargestUid;
            var candidates = box.Select(NarrowByUid(key, largest));
            var matches = new bool[candidates.Count];

            if (SearchEvaluator.NeedsContent(key))
            {
                // Text and header searches read message bytes: spread them over the cores.
                Parallel.For(0, candidates.Count, new ParallelOptions { CancellationToken = ct }, i =>
                {
                    var (m, flags, modseq) = candidates[i];
                    matches[i] = SearchEvaluator.Matches(key, new Searchable(m, flags, modseq), largest);
                });
            }
            else
            {
                // Metadata only (flags, UIDs, dates, sizes): one reusable view, no allocation per message.
                var view = new MetadataView();
                for (int i = 0; i < candidates.Count; i++)
                {
                    (view.Message, view.CurrentFlags, view.CurrentModSeq) = candidates[i];
                    matches[i] = SearchEvaluator.Matches(key, view, largest);
                }
            }
            var result = new List<Uid>();
            for (int i = 0; i < matches.Length; i++)
            {
                if (matches[i])
                {
                    result.Add(candidates[i].Message.Uid);
                }
            }

            return ValueTask.FromResult<IReadOnlyList<Uid>>(result);
        }

        /// <summary>When the key is a conjunction with a UID set, only those messages need testing.</summary>
        private static List<UidRange>? NarrowByUid(SearchKey key, uint largest)
        {
            UidKey? uidKey = key as UidKey ?? (key as AndKey)?.Keys.OfType<UidKey>().FirstOrDefault();
            return uidKey?.Set.Normalize(largest).Select(r => new UidRange(new Uid(r.Start), new Uid(r.End))).ToList();
        }

        public ValueTask<IReadOnlyList<Uid>> GetExpungedSinceAsync(MailboxId mailbox, ModSeq since, CancellationToken ct) =>
            ValueTask.FromResult(Box(mailbox)?.ExpungedSince(since.Value) ?? []);
    }
}
