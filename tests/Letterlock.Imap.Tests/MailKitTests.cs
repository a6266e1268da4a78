using System.Diagnostics;
using System.Text;
using Letterlock.Imap.InMemory;
using Letterlock.Imap.Mime;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Imap.Tests;

/// <summary>MailKit's ImapClient, an independent implementation, against the server over real loopback sockets.</summary>
public sealed class MailKitTests
{
    internal static async Task<ImapClient> ConnectAsync(SocketServer server, bool login = true)
    {
        var client = new ImapClient { Timeout = 30_000 };
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None);
        if (login)
        {
            await client.AuthenticateAsync(SocketServer.User, SocketServer.Password);
        }

        return client;
    }

    [Fact]
    public async Task Login_capabilities_namespaces_and_special_use_folders()
    {
        await using var server = new SocketServer();
        using var client = await ConnectAsync(server);
        var caps = client.Capabilities;
        foreach (var cap in new[] { ImapCapabilities.IMAP4rev1, ImapCapabilities.IMAP4rev2, ImapCapabilities.Idle, ImapCapabilities.UidPlus, ImapCapabilities.Move, ImapCapabilities.CondStore, ImapCapabilities.QuickResync, ImapCapabilities.LiteralPlus, ImapCapabilities.SpecialUse, ImapCapabilities.Namespace, ImapCapabilities.Id, ImapCapabilities.Unselect, ImapCapabilities.ESearch, ImapCapabilities.Enable, ImapCapabilities.ListExtended, ImapCapabilities.ListStatus, ImapCapabilities.Children, ImapCapabilities.AppendLimit, ImapCapabilities.StatusSize, ImapCapabilities.Binary })
        {
            Assert.True(caps.HasFlag(cap), $"missing {cap}");
        }

        Assert.Equal((uint)server.Options.MaxMessageSize, client.AppendLimit);
        Assert.Equal("Letterlock", (await client.IdentifyAsync(new ImapImplementation { Name = "test" })).Name);
        Assert.Equal("", client.PersonalNamespaces[0]!.Path);
        Assert.Equal('/', client.PersonalNamespaces[0]!.DirectorySeparator);
        Assert.Equal("Sent", client.GetFolder(SpecialFolder.Sent)!.FullName);
        Assert.Equal("Trash", client.GetFolder(SpecialFolder.Trash)!.FullName);
        Assert.Equal("Drafts", client.GetFolder(SpecialFolder.Drafts)!.FullName);

        var personal = client.GetFolder(client.PersonalNamespaces[0])!;
        var project = (await personal.CreateAsync("Project", true))!;
        var sub = (await project.CreateAsync("Sub ☃", true))!;
        await sub.SubscribeAsync();
        var folders = await personal.GetSubfoldersAsync(StatusItems.Count | StatusItems.Unread);
        Assert.Contains(folders, f => f.Name == "Project" && f.Attributes.HasFlag(FolderAttributes.HasChildren));
        var children = await project.GetSubfoldersAsync();
        Assert.Equal("Sub ☃", Assert.Single(children).Name);
        await sub.RenameAsync(project, "Renamed ☃");
        Assert.Equal("Project/Renamed ☃", (await project.GetSubfoldersAsync()).Single().FullName);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Append_with_uidplus_search_partial_fetch_and_move()
    {
        await using var server = new SocketServer();
        using var client = await ConnectAsync(server);
        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        var uids = new List<UniqueId>();
        for (int i = 0; i < 5; i++)
        {
            var message = (await MimeMessage.LoadAsync(new MemoryStream(TestData.Message($"Report {i}", $"Quarterly numbers {i} for the zebra project\r\n"))));
            var uid = await inbox.AppendAsync(message, i % 2 == 0 ? MessageFlags.Seen : MessageFlags.None);
            Assert.NotNull(uid);
            Assert.Equal(inbox.UidValidity, uid.Value.Validity);
            uids.Add(uid.Value);
        }

        Assert.Equal(uids.Select(u => u.Id), Enumerable.Range(1, 5).Select(i => (uint)i));
        Assert.Equal(5, inbox.Count);

        Assert.Equal([uids[1], uids[3]], await inbox.SearchAsync(SearchQuery.NotSeen));
        Assert.Equal([uids[3]], await inbox.SearchAsync(SearchQuery.SubjectContains("report 3")));
        Assert.Equal(uids, await inbox.SearchAsync(SearchQuery.BodyContains("ZEBRA")));
        Assert.Equal([uids[2]], await inbox.SearchAsync(SearchQuery.BodyContains("numbers 2").And(SearchQuery.Seen)));
        var results = await inbox.SearchAsync(SearchOptions.All | SearchOptions.Count | SearchOptions.Min | SearchOptions.Max, SearchQuery.All);
        Assert.Equal((5, uids[0], uids[4]), (results.Count, results.Min!.Value, results.Max!.Value));

        // Partial fetch: BODY.PEEK[]<offset.length>.
        var full = await inbox.GetStreamAsync(uids[2]);
        var fullBytes = ((MemoryStream)full).ToArray();
        using var partial = await inbox.GetStreamAsync(uids[2], 10, 25);
        var partialBytes = new byte[25];
        Assert.Equal(25, partial.Read(partialBytes));
        Assert.Equal(fullBytes[10..35], partialBytes);
        var message2 = await inbox.GetMessageAsync(uids[1]);
        Assert.Equal("Report 1", message2.Subject);
        // MailKit fetches with BODY.PEEK[], which must leave \Seen alone.
        Assert.Equal(MessageFlags.None, (await inbox.FetchAsync([uids[1]], MessageSummaryItems.Flags))[0].Flags!.Value & MessageFlags.Seen);

        var archive = await client.GetFolderAsync("Archive");
        var map = await inbox.MoveToAsync([uids[0], uids[1]], archive);
        Assert.Equal([uids[0], uids[1]], map.Keys);
        Assert.Equal([1u, 2u], map.Values.Select(v => v.Id));
        Assert.Equal(3, inbox.Count);
        var copied = await inbox.CopyToAsync([uids[4]], archive);
        Assert.Equal(3u, copied.Values.Single().Id);
        await archive.StatusAsync(StatusItems.Count | StatusItems.Size);
        Assert.Equal(3, archive.Count);
        Assert.True(archive.Size > 0);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Sort_esort_and_thread_as_MailKit_asks_for_them()
    {
        await using var server = new SocketServer();
        string[] subjects = ["Re: beta", "alpha", "[list] Gamma", "Fwd: alpha"];
        for (int i = 0; i < subjects.Length; i++)
        {
            server.Backend.Import(SocketServer.User, "INBOX", Encoding.ASCII.GetBytes(
                $"From: u{i}@example.org\r\nSubject: {subjects[i]}\r\nDate: Mon, {i + 1} Jan 2024 10:00:00 +0000\r\nMessage-ID: <{i}@x>\r\n" +
                (i == 3 ? "References: <1@x>\r\n" : "") + "\r\nbody\r\n"));
        }

        using var client = await ConnectAsync(server);
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.Sort) && client.Capabilities.HasFlag(ImapCapabilities.ESort) && client.Capabilities.HasFlag(ImapCapabilities.Thread));
        Assert.Contains(ThreadingAlgorithm.References, client.ThreadingAlgorithms);
        Assert.Contains(ThreadingAlgorithm.OrderedSubject, client.ThreadingAlgorithms);
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);

        var bySubject = await client.Inbox.SortAsync(SearchQuery.All, [OrderBy.Subject, OrderBy.ReverseDate]);
        Assert.Equal([4u, 2u, 1u, 3u], bySubject.Select(u => u.Id));
        var esort = await client.Inbox.SortAsync(SearchOptions.All | SearchOptions.Min | SearchOptions.Max | SearchOptions.Count, SearchQuery.All, [OrderBy.ReverseArrival]);
        // RFC 5267: MIN and MAX of ESORT are the first and last message in sort order.
        Assert.Equal((4, 4u, 1u), (esort.Count, esort.Min!.Value.Id, esort.Max!.Value.Id));

        var threads = await client.Inbox.ThreadAsync(ThreadingAlgorithm.References, SearchQuery.All);
        Assert.Equal(3, threads.Count);
        var alpha = threads.Single(t => t.UniqueId?.Id == 2);
        Assert.Equal(4u, Assert.Single(alpha.Children).UniqueId!.Value.Id);
        var ordered = await client.Inbox.ThreadAsync(ThreadingAlgorithm.OrderedSubject, SearchQuery.All);
        Assert.Equal([1u, 2u, 3u], ordered.Select(t => t.UniqueId!.Value.Id));
        await client.DisconnectAsync(true);
    }

    /// <summary>
    /// COMPRESS=DEFLATE (RFC 4978) with MailKit's own inflater and deflater: large streamed FETCH answers, an APPEND
    /// literal, and an IDLE notification pushed later, each of which only arrives if the server sync-flushes every
    /// response rather than leaving it in the compressor.
    /// </summary>
    [Fact]
    public async Task Compress_deflate_carries_every_response_whole()
    {
        await using var server = new SocketServer();
        for (int i = 0; i < 300; i++)
        {
            server.Backend.Import(SocketServer.User, "INBOX", TestData.Message("Compressed " + i, string.Concat(Enumerable.Repeat($"line {i} of a longer body\r\n", 40))));
        }

        using var client = await ConnectAsync(server);
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.Compress));
        await client.CompressAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.UniqueId | MessageSummaryItems.Size);
        Assert.Equal(300, summaries.Count);
        Assert.Equal("Compressed 299", summaries[299].Envelope!.Subject);
        var body = await client.Inbox.GetMessageAsync(summaries[150].UniqueId);
        Assert.Contains("line 150 of a longer body", body.TextBody, StringComparison.Ordinal);
        var appended = await client.Inbox.AppendAsync(await MimeMessage.LoadAsync(new MemoryStream(TestData.Message("sent compressed"))));
        Assert.NotNull(appended);

        using var other = await ConnectAsync(server);
        await other.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var grew = new TaskCompletionSource();
        client.Inbox.CountChanged += (_, _) => { if (client.Inbox.Count == 302) { grew.TrySetResult(); } };
        using var done = new CancellationTokenSource();
        var idle = client.IdleAsync(done.Token);
        await other.Inbox.AppendAsync(await MimeMessage.LoadAsync(new MemoryStream(TestData.Message("while idling"))));
        await grew.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await done.CancelAsync();
        await idle;
        Assert.Single(await client.Inbox.SearchAsync(SearchQuery.SubjectContains("while idling")));
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Compress_is_refused_before_login_for_unknown_algorithms_and_when_already_active()
    {
        await using var server = new SocketServer();
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync("127.0.0.1", server.Port);
        var stream = tcp.GetStream();
        var plain = new StreamReader(stream, Encoding.ASCII);
        await plain.ReadLineAsync();
        async Task<string?> Plain(string command)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
            return await plain.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.Equal("a BAD [CLIENTBUG] COMPRESS is not allowed in this state", await Plain("a COMPRESS DEFLATE"));
        Assert.StartsWith("b OK", await Plain($"b LOGIN {SocketServer.User} {SocketServer.Password}"), StringComparison.Ordinal);
        Assert.Equal("c BAD [CLIENTBUG] Unknown compression algorithm", await Plain("c COMPRESS LZ77"));
        Assert.Equal("d OK DEFLATE active", await Plain("d COMPRESS DEFLATE"));

        // From here both directions are raw DEFLATE; the client sync-flushes its command like the server its answer.
        using var deflate = new System.IO.Compression.DeflateStream(stream, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true);
        using var inflate = new StreamReader(new System.IO.Compression.DeflateStream(stream, System.IO.Compression.CompressionMode.Decompress, leaveOpen: true), Encoding.ASCII);
        async Task<string?> Compressed(string command)
        {
            await deflate.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
            await deflate.FlushAsync();
            return await inflate.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.Equal("e NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS", await Compressed("e COMPRESS DEFLATE"));
        Assert.Equal("f OK NOOP completed", await Compressed("f NOOP"));
        Assert.Equal("* BYE Logging out", await Compressed("g LOGOUT"));
        Assert.Equal("g OK LOGOUT completed", await inflate.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Idle_wakes_when_a_second_session_appends_stores_and_expunges()
    {
        await using var server = new SocketServer();
        server.Backend.Import(SocketServer.User, "INBOX", TestData.Message("first"));
        using var idler = await ConnectAsync(server);
        using var other = await ConnectAsync(server);
        await idler.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var counts = new List<int>();
        var flagsChanged = new TaskCompletionSource();
        var countChanged = new TaskCompletionSource();
        var expunged = new TaskCompletionSource();
        idler.Inbox.CountChanged += (_, _) => { counts.Add(idler.Inbox.Count); if (idler.Inbox.Count == 2) { countChanged.TrySetResult(); } };
        idler.Inbox.MessageFlagsChanged += (_, _) => flagsChanged.TrySetResult();
        idler.Inbox.MessageExpunged += (_, _) => expunged.TrySetResult();
        using var done = new CancellationTokenSource();
        var idle = idler.IdleAsync(done.Token);

        var stopwatch = Stopwatch.StartNew();
        await other.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var uid = await other.Inbox.AppendAsync((await MimeMessage.LoadAsync(new MemoryStream(TestData.Message("second")))));
        await countChanged.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await other.Inbox.AddFlagsAsync(uid!.Value, MessageFlags.Flagged, true);
        await flagsChanged.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await other.Inbox.AddFlagsAsync(new UniqueId(1), MessageFlags.Deleted, true);
        await other.Inbox.ExpungeAsync();
        await expunged.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await done.CancelAsync();
        await idle;
        Assert.Equal(1, idler.Inbox.Count);
        Assert.Equal([2, 1], counts);
        await idler.DisconnectAsync(true);
        await other.DisconnectAsync(true);
    }

    [Fact]
    public async Task Condstore_and_qresync_folder_sync()
    {
        await using var server = new SocketServer();
        for (int i = 0; i < 10; i++)
        {
            server.Backend.Import(SocketServer.User, "INBOX", TestData.Message($"m{i}"));
        }

        // First sync: remember UIDVALIDITY, HIGHESTMODSEQ and the UIDs.
        using var client = await ConnectAsync(server);
        await client.EnableQuickResyncAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        uint validity = client.Inbox.UidValidity;
        ulong modseq = client.Inbox.HighestModSeq;
        var known = (await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.ModSeq)).Select(s => s.UniqueId).ToList();
        Assert.Equal(10, known.Count);
        await client.Inbox.CloseAsync();

        // Meanwhile another device changes flags, expunges and delivers.
        using var other = await ConnectAsync(server);
        await other.Inbox.OpenAsync(FolderAccess.ReadWrite);
        await other.Inbox.AddFlagsAsync([known[2], known[5]], MessageFlags.Seen | MessageFlags.Flagged, true);
        await other.Inbox.AddFlagsAsync([known[0], known[7]], MessageFlags.Deleted, true);
        await other.Inbox.ExpungeAsync();
        await other.Inbox.AppendAsync((await MimeMessage.LoadAsync(new MemoryStream(TestData.Message("new")))));

        // Resync with QRESYNC: VANISHED (EARLIER) and FETCH of changed flags arrive with the SELECT.
        var vanished = new List<UniqueId>();
        var changed = new List<UniqueId>();
        client.Inbox.MessagesVanished += (_, e) => { Assert.True(e.Earlier); vanished.AddRange(e.UniqueIds); };
        client.Inbox.MessageFlagsChanged += (_, e) => changed.Add(e.UniqueId!.Value);
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite, validity, modseq, known);
        Assert.Equal([known[0], known[7]], vanished.OrderBy(u => u.Id));
        Assert.Equal([known[2], known[5]], changed.OrderBy(u => u.Id));
        Assert.Equal(9, client.Inbox.Count);
        Assert.True(client.Inbox.HighestModSeq > modseq);

        // CONDSTORE: CHANGEDSINCE returns only what changed; UNCHANGEDSINCE refuses stale writes.
        var since = await client.Inbox.FetchAsync(0, -1, modseq, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags);
        Assert.Equal([known[2], known[5], new UniqueId(validity, 11)], since.Select(s => s.UniqueId).OrderBy(u => u.Id));
        var failed = await client.Inbox.StoreAsync(new List<UniqueId> { known[2], known[3] }, new StoreFlagsRequest(StoreAction.Add, MessageFlags.Answered) { Silent = true, UnchangedSince = modseq });
        Assert.Equal([known[2]], failed);
        var modseqs = await client.Inbox.FetchAsync([known[3]], MessageSummaryItems.ModSeq | MessageSummaryItems.Flags);
        Assert.True(modseqs[0].Flags!.Value.HasFlag(MessageFlags.Answered));
        Assert.True(modseqs[0].ModSeq > modseq);
        await client.DisconnectAsync(true);
        await other.DisconnectAsync(true);
    }

    [Fact]
    public async Task Bodystructure_and_envelope_of_every_test_message_match_MimeKit_locally()
    {
        var backend = new InMemoryBackend();
        backend.AddUser(SocketServer.User, SocketServer.Password);
        var files = TestData.AllMessages().ToList();
        Assert.Equal(3000, files.Count);
        var local = new List<MimeMessage>(files.Count);
        foreach (var file in files)
        {
            var bytes = LineEndings.Normalize(await File.ReadAllBytesAsync(file));
            backend.Import(SocketServer.User, "INBOX", bytes);
            local.Add(await MimeMessage.LoadAsync(new MemoryStream(bytes)));
        }

        await using var server = new SocketServer(backend: backend);
        using var client = await ConnectAsync(server);
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.BodyStructure | MessageSummaryItems.Envelope | MessageSummaryItems.Size | MessageSummaryItems.UniqueId);
        Assert.Equal(files.Count, summaries.Count);
        var mismatches = new List<string>();
        for (int i = 0; i < files.Count; i++)
        {
            var problems = new List<string>();
            CompareBody(local[i].Body!, summaries[i].Body!, "", problems);
            CompareEnvelope(local[i], summaries[i].Envelope!, problems);
            if (problems.Count > 0)
            {
                mismatches.Add(Path.GetFileName(files[i]) + ": " + string.Join("; ", problems));
            }
        }

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} messages differ:\n" + string.Join("\n", mismatches.Take(20)));
        await client.DisconnectAsync(true);
    }

    private static void CompareEnvelope(MimeMessage local, Envelope remote, List<string> problems)
    {
        if (local.Subject != remote.Subject && !(string.IsNullOrEmpty(local.Subject) && string.IsNullOrEmpty(remote.Subject)))
        {
            problems.Add($"subject '{local.Subject}' vs '{remote.Subject}'");
        }

        static string Addresses(InternetAddressList list) => string.Join(",", list.Mailboxes.Select(m => m.Address.ToLowerInvariant()));
        if (Addresses(local.From) != Addresses(remote.From))
        {
            problems.Add($"from '{Addresses(local.From)}' vs '{Addresses(remote.From)}'");
        }

        if (Addresses(local.To) != Addresses(remote.To))
        {
            problems.Add($"to '{Addresses(local.To)}' vs '{Addresses(remote.To)}'");
        }

        if ((local.MessageId ?? "") != (remote.MessageId ?? ""))
        {
            problems.Add($"message-id '{local.MessageId}' vs '{remote.MessageId}'");
        }
    }

    private static void CompareBody(MimeEntity local, BodyPart remote, string path, List<string> problems)
    {
        var ct = local.ContentType;
        if (!ct.MediaType.Equals(remote.ContentType.MediaType, StringComparison.OrdinalIgnoreCase) ||
            !ct.MediaSubtype.Equals(remote.ContentType.MediaSubtype, StringComparison.OrdinalIgnoreCase))
        {
            problems.Add($"{path}: type {ct.MimeType} vs {remote.ContentType.MimeType}");
            return;
        }

        var localParams = ct.Parameters.Select(p => p.Name.ToLowerInvariant() + "=" + p.Value).ToList();
        var remoteParams = remote.ContentType.Parameters.Select(p => p.Name.ToLowerInvariant() + "=" + p.Value).ToList();
        if (!localParams.SequenceEqual(remoteParams))
        {
            problems.Add($"{path}: params [{string.Join(",", localParams)}] vs [{string.Join(",", remoteParams)}]");
        }

        switch (local, remote)
        {
            case (Multipart multipart, BodyPartMultipart remoteMultipart):
                if (multipart.Count != remoteMultipart.BodyParts.Count && multipart.Count > 0)
                {
                    problems.Add($"{path}: {multipart.Count} parts vs {remoteMultipart.BodyParts.Count}");
                    return;
                }

                for (int i = 0; i < multipart.Count; i++)
                {
                    CompareBody(multipart[i], remoteMultipart.BodyParts[i], path + "." + (i + 1), problems);
                }

                break;
            case (MessagePart, BodyPartText) when local.ContentType.MediaType.Equals("text", StringComparison.OrdinalIgnoreCase):
                break; // text/rfc822-headers: MimeKit parses the headers, IMAP describes text
            case (MessagePart messagePart, BodyPartMessage remoteMessage):
                if (messagePart.Message is not null)
                {
                    CompareEnvelope(messagePart.Message, remoteMessage.Envelope!, problems);
                    CompareBody(messagePart.Message.Body!, remoteMessage.Body!, path + ".m", problems);
                }

                break;
            case (MimePart, BodyPartMessage) when local.ContentType.IsMimeType("message", "rfc822"):
                // An encapsulated message MimeKit keeps opaque (e.g. base64-encoded): the server describes it as an empty message.
                break;
            case (MimePart part, BodyPartBasic basic):
            {
                var encoding = part.Headers[HeaderId.ContentTransferEncoding]?.Trim() ?? "7bit";
                if (!encoding.Equals(basic.ContentTransferEncoding, StringComparison.OrdinalIgnoreCase))
                {
                    problems.Add($"{path}: encoding {encoding} vs {basic.ContentTransferEncoding}");
                }

                long octets = part.Content?.Stream?.Length ?? 0;
                if ((uint)octets != basic.Octets)
                {
                    problems.Add($"{path}: octets {octets} vs {basic.Octets}");
                }

                if ((part.ContentId ?? "") != (basic.ContentId ?? "").Trim('<', '>'))
                {
                    problems.Add($"{path}: content-id {part.ContentId} vs {basic.ContentId}");
                }

                if ((part.ContentDisposition?.Disposition ?? "") != (basic.ContentDisposition?.Disposition ?? ""))
                {
                    problems.Add($"{path}: disposition {part.ContentDisposition?.Disposition} vs {basic.ContentDisposition?.Disposition}");
                }

                if (part.ContentDisposition?.FileName != basic.ContentDisposition?.FileName)
                {
                    problems.Add($"{path}: filename {part.ContentDisposition?.FileName} vs {basic.ContentDisposition?.FileName}");
                }

                break;
            }

            case (Multipart { Count: 0 }, _):
                break;
            default:
                problems.Add($"{path}: {local.GetType().Name} vs {remote.GetType().Name}");
                break;
        }
    }
}
