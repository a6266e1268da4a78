using System.Security.Cryptography.X509Certificates;
using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Provider.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Letterlock.Client.Tests.Sync;

/// <summary>
/// Sync applies a page's documents concurrently but its store writes in change order, one transaction per
/// page: the same result as one change at a time, and nothing half-written when a page fails part-way.
/// Against a real provider (in-process, loopback, SQLite) over HTTPS; documents written as another device would.
/// </summary>
public sealed class BatchedSyncTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private ProviderHost _provider = null!;
    private HttpClient _http = null!;
    private LocalStore _device1 = null!;
    private AccountRecord _alice = null!;
    private ProviderClient _client = null!;
    private DocumentSealer _sealer = null!;

    public async Task InitializeAsync()
    {
        var data = Path.Combine(_dir.Path, "provider");
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", data, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
        _provider = await ProviderHost.StartAsync(data, null, new Letterlock.Dns.StaticDnsResolver(), LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
        var map = new StaticHostMap { AllowSystemDns = false }.Add("alpha.test", _provider.HttpsEndPoint);
        var roots = new X509Certificate2Collection(X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(data, "tls", "cert.pem"))));
        _http = new HttpClient(HttpFetch.CreateHandler(map, roots)) { Timeout = Timeout.InfiniteTimeSpan };
        _device1 = await LocalStore.CreateAsync(_dir.File("device1.db"), StoreUnlock.WithPassphrase("one"), TestStores.FastOptions());
        _alice = await AccountRegistration.CreateAsync(_device1, new ProviderClient(_http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");
        _client = await AccountRegistration.ConnectAsync(_device1, _alice, _http);
        _sealer = new DocumentSealer((await _device1.Keys.GetCurrentAsync(_alice.Id, AccountKeys.AccountMasterKey))!.Material);
    }

    public async Task DisposeAsync()
    {
        _sealer.Dispose();
        _device1.Dispose();
        _http.Dispose();
        await _provider.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task A_page_applied_concurrently_leaves_exactly_the_store_applying_one_change_at_a_time_leaves()
    {
        var oneByOne = new SyncOptions { PageSize = 1, MaxConcurrentFetches = 1, MaxParallelism = 1 };
        var concurrent = new SyncOptions { PageSize = 100, MaxConcurrentFetches = 8, MaxParallelism = 4 };
        using var serial = await LinkDeviceAsync("serial");
        using var batched = await LinkDeviceAsync("batched");

        // Round 1: 40 messages in five folders (two created by the sync, one by role), various flags.
        string[] folders = ["INBOX", "Archive", "Projects/2026", "Receipts", "Sent"];
        var revisions = new Dictionary<string, long>();
        for (int i = 0; i < 40; i++)
        {
            string folder = folders[i % folders.Length];
            revisions[$"m-{i:D3}"] = await PutAsync($"m-{i:D3}", folder, i % 3 == 0 ? ["\\Seen"] : i % 3 == 1 ? ["\\Flagged", "$Work"] : []);
        }

        await PutGarbageAsync("m-garbage-1");
        var first = await SyncBothAsync(serial, batched, oneByOne, concurrent);
        Assert.Equal(40, first.Received);
        Assert.Equal("m-garbage-1", Assert.Single(first.Errors).DocumentId);
        await AssertSameStoreAsync(serial, batched);

        // Round 2: flags changed, messages moved (to an existing and a new folder), deleted, and new ones
        // interleaved with them in the feed, plus another corrupted document in the middle.
        for (int i = 0; i < 40; i += 4)
        {
            revisions[$"m-{i:D3}"] = await PutAsync($"m-{i:D3}", i % 8 == 0 ? "Archive" : "Later", ["\\Answered", "\\Seen"], revisions[$"m-{i:D3}"]);
            await PutAsync($"m-new-{i:D3}", folders[i % folders.Length], ["\\Draft"]);
            if (i == 20)
            {
                await PutGarbageAsync("m-garbage-2");
            }
        }

        for (int i = 1; i < 40; i += 7)
        {
            await _client.DeleteDocumentAsync($"m-{i:D3}", revisions[$"m-{i:D3}"]);
        }

        var second = await SyncBothAsync(serial, batched, oneByOne, concurrent);
        Assert.Equal(10, second.Received);
        Assert.Equal(6, second.Deleted);
        Assert.Equal("m-garbage-2", Assert.Single(second.Errors).DocumentId);
        await AssertSameStoreAsync(serial, batched);
    }

    [Fact]
    public async Task A_crash_part_way_through_a_batched_page_leaves_nothing_half_written_and_the_next_sync_completes_without_duplicates()
    {
        for (int i = 0; i < 25; i++)
        {
            await PutAsync($"m-{i:D3}", "INBOX", i % 2 == 0 ? ["\\Seen"] : []);
        }

        using var device = await LinkDeviceAsync("crash");
        var account = (await device.Accounts.ListAsync()).Single();
        int applying = 0;
        var crashing = new SyncOptions
        {
            PageSize = 10,
            AtStep = (step, _) =>
            {
                if (step == SyncStep.Applying && ++applying == 15)
                {
                    throw new IOException("injected crash in the middle of the second page");
                }
            },
        };
        var crash = await Assert.ThrowsAsync<IOException>(() => SyncAsync(device, account, crashing));
        Assert.Contains("injected", crash.Message, StringComparison.Ordinal);

        // The first page is there with its cursor; of the second, nothing (no message, body or index row).
        var inbox = (await device.Mail(account.Id).FindFolderAsync("INBOX"))!;
        var afterCrash = await device.Mail(account.Id).ListAsync(inbox.Id);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"m-{i:D3}"), afterCrash.Select(m => m.Remote!.DocumentId));
        Assert.Equal(11u, (await device.Mail(account.Id).GetFolderAsync(inbox.Id))!.UidNext);
        Assert.Equal((10L, 10L, 10L, 0L), await RowCountsAsync("crash"));

        // The next run applies the rest, once each.
        var rest = await SyncAsync(device, account, new SyncOptions());
        Assert.Equal(15, rest.Received);
        Assert.Empty(rest.Errors);
        var all = await device.Mail(account.Id).ListAsync(inbox.Id);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"m-{i:D3}"), all.Select(m => m.Remote!.DocumentId));
        Assert.Equal(Enumerable.Range(1, 25).Select(i => (uint)i), all.Select(m => m.Uid.Value));
        Assert.Equal((25L, 25L, 25L, 0L), await RowCountsAsync("crash"));

        // A page applied again (as if its cursor had been lost) finds every change applied.
        await device.Settings.SetAsync($"sync.{account.Id}.cursor", "0"u8.ToArray());
        var again = await SyncAsync(device, account, new SyncOptions { PageSize = 7 });
        Assert.Equal((0, 0), (again.Received, again.Deleted));
        Assert.Equal(25, (await device.Mail(account.Id).ListAsync(inbox.Id)).Count);
    }

    [Fact]
    public async Task A_message_the_store_refuses_is_reported_and_skipped_and_the_rest_of_the_page_applies()
    {
        // A device whose store takes messages up to 2,000 bytes: one document's message is exactly at the
        // limit, one a byte over it, one carries a flag no IMAP client could be shown.
        await PutAsync("m-exact", "INBOX", [], size: 2000);
        await PutAsync("m-over", "INBOX", [], size: 2001);
        await PutAsync("m-badflag", "INBOX", ["bad flag"]);
        await PutAsync("m-after", "INBOX", ["\\Seen"]);
        using var device = await LinkDeviceAsync("limited", new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1, MaxMessageBytes = 2000 });
        var account = (await device.Accounts.ListAsync()).Single();
        var report = await SyncAsync(device, account, new SyncOptions());
        Assert.Equal(["m-over", "m-badflag"], report.Errors.Select(e => e.DocumentId));
        Assert.All(report.Errors, e => Assert.Contains("not acceptable", e.Reason, StringComparison.Ordinal));
        Assert.Equal(2, report.Received);
        var inbox = (await device.Mail(account.Id).FindFolderAsync("INBOX"))!;
        Assert.Equal(["m-exact", "m-after"], (await device.Mail(account.Id).ListAsync(inbox.Id)).Select(m => m.Remote!.DocumentId));
    }

    [Fact]
    public async Task Sync_options_are_checked_at_their_edges()
    {
        var provider = _client;
        SyncEngine Engine(SyncOptions o) => new(_device1, _alice, provider, syncOptions: o);
        Assert.Throws<ArgumentOutOfRangeException>(() => Engine(new SyncOptions { PageSize = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Engine(new SyncOptions { PageSize = SyncOptions.MaxPageSize + 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Engine(new SyncOptions { MaxConcurrentFetches = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Engine(new SyncOptions { MaxConcurrentFetches = SyncOptions.MaxFetchLimit + 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Engine(new SyncOptions { MaxParallelism = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Engine(new SyncOptions { MaxParallelism = (Environment.ProcessorCount * 4) + 1 }));
        _ = Engine(new SyncOptions { PageSize = SyncOptions.MaxPageSize, MaxConcurrentFetches = SyncOptions.MaxFetchLimit, MaxParallelism = Environment.ProcessorCount * 4 });
        _ = Engine(new SyncOptions { PageSize = 1, MaxConcurrentFetches = 1, MaxParallelism = 1 });
    }

    private async Task<SyncReport> SyncBothAsync(LocalStore serial, LocalStore batched, SyncOptions oneByOne, SyncOptions concurrent)
    {
        var a = await SyncAsync(serial, (await serial.Accounts.ListAsync()).Single(), oneByOne);
        var b = await SyncAsync(batched, (await batched.Accounts.ListAsync()).Single(), concurrent);
        Assert.Equal((a.Received, a.Deleted, a.Cursor), (b.Received, b.Deleted, b.Cursor));
        Assert.Equal(a.Errors, b.Errors);
        return b;
    }

    private async Task<SyncReport> SyncAsync(LocalStore store, AccountRecord account, SyncOptions options) =>
        await new SyncEngine(store, account, await AccountRegistration.ConnectAsync(store, account, _http), syncOptions: options).SyncAsync();

    /// <summary>Folders (name, role, UIDNEXT, HIGHESTMODSEQ) and their messages in UID order (UID, MODSEQ, flags, document, subject, body) are equal.</summary>
    private static async Task AssertSameStoreAsync(LocalStore expected, LocalStore actual)
    {
        Assert.Equal(await DescribeAsync(expected), await DescribeAsync(actual));
    }

    private static async Task<List<string>> DescribeAsync(LocalStore store)
    {
        var account = (await store.Accounts.ListAsync()).Single();
        var lines = new List<string>();
        foreach (var folder in await store.Mail(account.Id).ListFoldersAsync())
        {
            lines.Add($"folder {folder.Name} {folder.Role} uidnext={folder.UidNext} modseq={folder.HighestModSeq}");
            foreach (var m in await store.Mail(account.Id).ListAsync(folder.Id))
            {
                var body = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData((await store.Mail(account.Id).ReadBodyAsync(m.Id))!));
                lines.Add($"  {m.Uid.Value} {m.ModSeq} [{string.Join(' ', m.Flags.Order(StringComparer.Ordinal))}] {m.Remote} {m.Summary.Subject} {body}");
            }
        }

        return lines;
    }

    private async Task<(long Messages, long Bodies, long Indexed, long Orphans)> RowCountsAsync(string name)
    {
        await using var connection = new SqliteConnection($"Data Source={_dir.File(name + ".db")};Mode=ReadOnly;Pooling=false");
        await connection.OpenAsync();
        async Task<long> Count(string sql)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            return (long)(await command.ExecuteScalarAsync())!;
        }

        return (await Count("SELECT COUNT(*) FROM messages"), await Count("SELECT COUNT(*) FROM message_bodies"),
            await Count("SELECT COUNT(*) FROM search_index"),
            await Count("SELECT (SELECT COUNT(*) FROM message_bodies WHERE message_id NOT IN (SELECT id FROM messages)) + " +
                "(SELECT COUNT(*) FROM search_index WHERE rowid NOT IN (SELECT rowid FROM messages))"));
    }

    /// <summary>Writes a message document as another device of the account would; returns its revision.</summary>
    private async Task<long> PutAsync(string id, string folder, string[] flags, long? revision = null, int? size = null)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Carol", "carol@elsewhere.test"));
        message.To.Add(new MailboxAddress("Alice", "alice@alpha.test"));
        message.Subject = $"Subject of {id}";
        message.MessageId = $"{id}@elsewhere.test";
        message.Body = new TextPart("plain") { Text = $"Body of {id}, with words to index: quarterly report {id.Length}" };
        using var bytes = new MemoryStream();
        await message.WriteToAsync(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, bytes);
        if (size is { } wanted)
        {
            // Padded with a trailing line of filler up to the exact size wanted.
            bytes.Write(Encoding.ASCII.GetBytes("\r\n" + new string('x', wanted - (int)bytes.Length - 4) + "\r\n"));
            Assert.Equal(wanted, bytes.Length);
        }

        var role = folder switch
        {
            "INBOX" => FolderRole.Inbox,
            "Sent" => FolderRole.Sent,
            "Archive" => FolderRole.Archive,
            _ => FolderRole.None,
        };
        var document = new MessageDocument(folder, role, flags, new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero), MessageSecurity.Plain, bytes.ToArray());
        var (status, info) = await _client.PutDocumentAsync(id, SyncEngine.MessageKind, _sealer.Seal(id, SyncEngine.MessageKind, document), revision);
        Assert.Equal(WriteStatus.Ok, status);
        return info!.Revision;
    }

    private async Task PutGarbageAsync(string id) =>
        await _client.PutDocumentAsync(id, SyncEngine.MessageKind, Encoding.ASCII.GetBytes("not a sealed document"), null);

    private async Task<LocalStore> LinkDeviceAsync(string name, LocalStoreOptions? options = null)
    {
        var store = await LocalStore.CreateAsync(_dir.File(name + ".db"), StoreUnlock.WithPassphrase(name), options ?? TestStores.FastOptions());
        var account = await store.Accounts.CreateAsync(_alice.Address, _alice.DisplayName, _alice.ProviderUrl);
        foreach (var key in await _device1.Keys.ListAsync(_alice.Id))
        {
            await store.Keys.AddAsync(account.Id, key.Purpose, key.Material);
        }

        await store.Accounts.UpdateAsync(account with
        {
            ProviderDomain = _alice.ProviderDomain,
            RemoteAccountId = _alice.RemoteAccountId,
            DeviceId = _alice.DeviceId,
        });
        return store;
    }
}
