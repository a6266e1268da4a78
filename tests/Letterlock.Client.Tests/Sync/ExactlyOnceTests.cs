using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using MimeKit;

namespace Letterlock.Client.Tests.Sync;

/// <summary>
/// Exactly once under crashes: a sync run stopped at any boundary between its steps (inbox conversion, download,
/// push), as a crash would stop it (the store is closed on the spot, so not even the cursor of what was applied is
/// saved), and then run again from the file, leaves every message exactly once on the device and at the provider.
/// Against a real provider (in-process, loopback, SQLite) over HTTPS; legacy mail arrives through its MX.
/// </summary>
public sealed class ExactlyOnceTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private LocalProvider _provider = null!;
    private int _worlds;

    // Many accounts and logins from one address in a few seconds: above the provider's default per-client limits.
    public async Task InitializeAsync() => _provider = await LocalProvider.StartAsync(_dir, settings: settings =>
    {
        settings["api"] ??= new System.Text.Json.Nodes.JsonObject();
        settings["api"]!["signUpsPerHourPerClient"] = 1000;
        settings["api"]!["challengesPerMinutePerClient"] = 100_000;
    });

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        _dir.Dispose();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_crash_at_every_step_boundary_in_turn_leaves_each_message_once_on_the_device_and_at_the_provider(bool batched)
    {
        // A run without a crash counts the boundaries the scenario passes (every kind of step, some many times).
        // Batched (content pages, batched writes) and with single requests (as with a provider without them).
        var census = new Dictionary<SyncStep, int>();
        await using (var world = await World.CreateAsync(this, batched))
        {
            await world.RunAsync((step, _) => census[step] = census.GetValueOrDefault(step) + 1);
            await world.AssertExactlyOnceAsync("without a crash");
        }

        // Batched, the inbox documents are deleted in the request that writes their message documents.
        Assert.All(Enum.GetValues<SyncStep>().Where(step => !batched || step != SyncStep.InboxDeleted),
            step => Assert.True(census.ContainsKey(step), $"the scenario never reaches {step}"));

        // Then one fresh world per crash point: each boundary at its first and its last passage. After the crash at the
        // last passage the user acts before sync runs again (every message flagged, a converted message and the draft
        // deleted): a change made here after a write the crash kept this device from recording must neither be lost nor
        // bring a deleted message back.
        foreach (var (step, count) in census.OrderBy(c => c.Key))
        {
            foreach (var occurrence in new[] { 1, count }.Distinct())
            {
                await using var world = await World.CreateAsync(this, batched);
                int seen = 0;
                var crash = await Assert.ThrowsAnyAsync<Exception>(() => world.RunAsync((at, _) =>
                {
                    if (at == step && ++seen == occurrence)
                    {
                        world.Crash();
                    }
                }));
                Assert.True(seen == occurrence, $"{step} #{occurrence}: the run failed before the crash point: {crash}");
                await world.RestartAndSyncAsync(userActsFirst: occurrence == count);
                await world.AssertExactlyOnceAsync($"after a crash at {step} #{occurrence} of {count}{(occurrence == count ? " and the user's changes" : "")}");
            }
        }
    }

    [Fact]
    public async Task Two_devices_converting_the_same_inbox_documents_at_once_write_one_message_document_each()
    {
        await using var world = await World.CreateAsync(this);
        await world.PrepareAsync();
        var second = await world.LinkDeviceAsync();

        // Both devices read the same page with the same inbox documents and convert them concurrently.
        var first = world.SyncAsync(world.Device);
        var other = world.SyncAsync(second);
        await Task.WhenAll(first, other);
        await world.SyncAsync(world.Device);
        await world.SyncAsync(second);
        await world.SyncAsync(world.Device);
        await world.AssertExactlyOnceAsync("two devices");
        Assert.Equal(await World.DescribeDeviceAsync(world.Device, world.Account), await World.DescribeDeviceAsync(second, world.Account));
    }

    [Fact]
    public async Task A_deleted_folder_takes_its_messages_away_on_every_device_and_a_deletion_wins_over_an_edit_made_meanwhile()
    {
        await using var world = await World.CreateAsync(this);
        await world.PrepareAsync();
        await world.SyncAsync(world.Device);
        var second = await world.LinkDeviceAsync();
        await world.SyncAsync(second);

        // Device 1 files "other 1" under Projects, device 2 sees it there.
        var mail = world.Device.Mail(world.Account.Id);
        var projects = (await mail.CreateFolderAsync("Projects")).Done;
        var other1 = (await mail.ListAsync((await mail.FindFolderAsync(FolderRole.Archive))!.Id)).Single(m => m.Summary.Subject == "other 1");
        _ = (await mail.MoveAsync([other1.Id], projects.Id)).Done;
        await world.SyncAsync(world.Device);
        await world.SyncAsync(second);
        var secondAccount = (await second.Accounts.ListAsync()).Single();
        var secondMail = second.Mail(secondAccount.Id);
        Assert.Equal(["other 1"], (await secondMail.ListAsync((await secondMail.FindFolderAsync("Projects"))!.Id)).Select(m => m.Summary.Subject));

        // Device 1 deletes the folder; device 2 meanwhile flags a message device 1 deleted and pushes first.
        var legacy2 = (await mail.ListAsync((await mail.FindFolderAsync(FolderRole.Inbox))!.Id)).Single(m => m.Summary.Subject == "legacy 2");
        Assert.Single(await mail.DeleteAsync([legacy2.Id]));
        Assert.True((await mail.DeleteFolderAsync(projects.Id)).IsOk);
        var legacy2There = (await secondMail.ListAsync((await secondMail.FindFolderAsync(FolderRole.Inbox))!.Id)).Single(m => m.Summary.Subject == "legacy 2");
        _ = (await secondMail.SetFlagsAsync([legacy2There.Id], FlagOperation.Add, ["$Edited"])).Done;
        await world.SyncAsync(second);

        // Device 1 pulls the edit of a message it deleted: not brought back; its push deletes both documents.
        var pulled = await world.SyncAsync(world.Device);
        Assert.Equal(0, pulled.Received);
        Assert.DoesNotContain(await World.DescribeDeviceAsync(world.Device, world.Account), line => line.StartsWith("legacy 2", StringComparison.Ordinal));
        await world.SyncAsync(second);
        foreach (var device in new[] { world.Device, second })
        {
            var lines = await World.DescribeDeviceAsync(device, world.Account);
            Assert.DoesNotContain(lines, line => line.StartsWith("legacy 2", StringComparison.Ordinal) || line.StartsWith("other 1", StringComparison.Ordinal));
        }

        Assert.Equal(await World.DescribeDeviceAsync(world.Device, world.Account), await World.DescribeDeviceAsync(second, world.Account));
    }

    /// <summary>One account with its own device store, filled by <see cref="PrepareAsync"/> so that the next run passes every step.</summary>
    private sealed class World : IAsyncDisposable
    {
        private static readonly string[] Arrived = ["legacy 1", "legacy 2", "legacy 3"];
        private static readonly string[] ArrivingLater = ["legacy 4", "legacy 5"];
        private readonly ExactlyOnceTests _test;
        private readonly string _file;
        private readonly List<LocalStore> _linked = [];
        private readonly Dictionary<LocalStore, ProviderClient> _clients = [];
        private LocalStore? _device;

        private readonly bool _batched;

        private World(ExactlyOnceTests test, string file, LocalStore device, AccountRecord account, bool batched)
        {
            _batched = batched;
            _test = test;
            _file = file;
            _device = device;
            Account = account;
        }

        public LocalStore Device => _device ?? throw new InvalidOperationException("the device crashed and was not restarted");

        public AccountRecord Account { get; private set; }

        /// <summary>What the device and the provider must hold at the end, unless the user acted after a crash: subject -> flags.</summary>
        private static readonly Dictionary<string, string> Scenario = new(StringComparer.Ordinal)
        {
            ["legacy 1"] = "\\Flagged",
            ["legacy 2"] = "",
            ["legacy 3"] = "",
            ["legacy 4"] = "",
            ["legacy 5"] = "",
            ["other 1"] = "$Work",
            ["other 3"] = "",
            ["draft"] = "\\Draft",
        };

        /// <summary>What the device and the provider must hold at the end: subject -> flags (space-separated, ordinal order).</summary>
        public Dictionary<string, string> Expected { get; } = new(Scenario, StringComparer.Ordinal);

        public static async Task<World> CreateAsync(ExactlyOnceTests test, bool batched = true)
        {
            int n = Interlocked.Increment(ref test._worlds);
            var file = test._dir.File($"world{n}.db");
            var device = await LocalStore.CreateAsync(file, StoreUnlock.WithPassphrase("device"), TestStores.FastOptions());
            var account = await AccountRegistration.CreateAsync(device, new ProviderClient(test._provider.Http, new Uri("https://alpha.test/")),
                $"world{n}@alpha.test", $"World {n}");
            return new World(test, file, device, account, batched);
        }

        /// <summary>
        /// Mail that arrived and was synced, documents of another device; then, since the last sync, changes made here
        /// (a flag, a deletion, a new draft) and new arrivals (inbox documents and another device's document).
        /// </summary>
        public async Task PrepareAsync()
        {
            foreach (var subject in Arrived)
            {
                await _test._provider.DeliverAsync(subject, $"Body of {subject}", Account.Address);
            }

            await PutAsOtherDeviceAsync("m-other-1", "other 1", "Archive", ["$Work"]);
            await PutAsOtherDeviceAsync("m-other-2", "other 2", "INBOX", []);
            await SyncAsync(Device);

            var mail = Device.Mail(Account.Id);
            var all = await AllAsync(Device, Account);
            _ = (await mail.SetFlagsAsync([all["legacy 1"].Id], FlagOperation.Add, ["\\Flagged"])).Done;
            Assert.Single(await mail.DeleteAsync([all["other 2"].Id]));
            var drafts = (await mail.FindFolderAsync(FolderRole.Drafts))!;
            _ = (await mail.AppendAsync(drafts.Id, new NewMessage(TestStores.Summary("draft"), Encoding.UTF8.GetBytes("Subject: draft\r\n\r\nunsent\r\n"), ["\\Draft"]))).Done;

            foreach (var subject in ArrivingLater)
            {
                await _test._provider.DeliverAsync(subject, $"Body of {subject}", Account.Address);
            }

            await PutAsOtherDeviceAsync("m-other-3", "other 3", "INBOX", []);
        }

        /// <summary>Prepares the world, then the run under test: small pages, so it has several runs and pages.</summary>
        public async Task RunAsync(Action<SyncStep, string> atStep)
        {
            await PrepareAsync();
            await SyncAsync(Device, new SyncOptions { PageSize = 2, AtStep = atStep, UseBatchApi = _batched, MaxBatchOperations = 4 });
        }

        /// <summary>Stops the device as a crash would: the store closes at once, so nothing more reaches the file.</summary>
        public void Crash()
        {
            Device.Dispose();
            _device = null;
            throw new IOException("injected crash");
        }

        /// <summary>
        /// Opens the store from its file again, lets the user act first when asked (<see cref="UserActsAsync"/>), and syncs
        /// to the end (a second run finds nothing left to do).
        /// </summary>
        public async Task RestartAndSyncAsync(bool userActsFirst = false)
        {
            _device?.Dispose();
            _device = await LocalStore.OpenAsync(_file, StoreUnlock.WithPassphrase("device"), TestStores.FastOptions());
            Account = (await Device.Accounts.ListAsync()).Single();
            if (userActsFirst)
            {
                await UserActsAsync();
            }

            await SyncAsync(Device);
            var again = await SyncAsync(Device);
            Assert.Equal((0, 0, 0), (again.Received, again.Pushed, again.Deleted));
        }

        /// <summary>
        /// The user, in a mail app, between a crash and the next sync: flags every message the device holds with
        /// <c>$AfterCrash</c>, then deletes "legacy 4" (converted in the run that crashed, when it got that far) and the draft.
        /// </summary>
        private async Task UserActsAsync()
        {
            var mail = Device.Mail(Account.Id);
            var all = await AllAsync(Device, Account);
            _ = (await mail.SetFlagsAsync(all.Values.Select(m => m.Id).ToList(), FlagOperation.Add, ["$AfterCrash"])).Done;
            foreach (var subject in all.Keys)
            {
                Expected[subject] = string.Join(' ', Expected[subject].Split(' ', StringSplitOptions.RemoveEmptyEntries).Append("$AfterCrash").Order(StringComparer.Ordinal));
            }

            foreach (var subject in new[] { "legacy 4", "draft" }.Where(all.ContainsKey))
            {
                Assert.Single(await mail.DeleteAsync([all[subject].Id]));
                Expected.Remove(subject);
            }
        }

        public async Task<SyncReport> SyncAsync(LocalStore device, SyncOptions? options = null)
        {
            var account = (await device.Accounts.ListAsync()).Single();
            var report = await new SyncEngine(device, account, await ClientAsync(device), syncOptions: options ?? new SyncOptions { UseBatchApi = _batched }).SyncAsync();
            Assert.Empty(report.Errors);
            return report;
        }

        /// <summary>Another device of the account: a store holding the same keys.</summary>
        public async Task<LocalStore> LinkDeviceAsync()
        {
            var store = await LocalStore.CreateAsync(_file + ".linked" + _linked.Count, StoreUnlock.WithPassphrase("linked"), TestStores.FastOptions());
            _linked.Add(store);
            var account = await store.Accounts.CreateAsync(Account.Address, Account.DisplayName, Account.ProviderUrl);
            foreach (var key in await Device.Keys.ListAsync(Account.Id))
            {
                await store.Keys.AddAsync(account.Id, key.Purpose, key.Material);
            }

            await store.Accounts.UpdateAsync(account with { ProviderDomain = Account.ProviderDomain, RemoteAccountId = Account.RemoteAccountId, DeviceId = Account.DeviceId });
            return store;
        }

        /// <summary>The device holds each expected message once with its flags, and so does the provider, which keeps no inbox document.</summary>
        public async Task AssertExactlyOnceAsync(string when)
        {
            var expected = Expected.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key} [{e.Value}]").ToList();
            Assert.True(expected.SequenceEqual(await DescribeDeviceAsync(Device, Account)),
                $"{when}: device holds\n{string.Join('\n', await DescribeDeviceAsync(Device, Account))}");
            var provider = await DescribeProviderAsync();
            Assert.True(expected.SequenceEqual(provider), $"{when}: provider holds\n{string.Join('\n', provider)}");
            Assert.Empty(await Device.Mail(Account.Id).ListPendingDeletesAsync(default));
            Assert.Empty(await Device.Mail(Account.Id).ListUnpushedAsync(default));
        }

        /// <summary>Subject and flags (without \Seen, which differs by nothing here) of every message in every folder.</summary>
        public static async Task<List<string>> DescribeDeviceAsync(LocalStore device, AccountRecord account)
        {
            var mine = (await device.Accounts.ListAsync()).Single(a => a.Address == account.Address);
            var lines = new List<string>();
            foreach (var folder in await device.Mail(mine.Id).ListFoldersAsync())
            {
                lines.AddRange((await device.Mail(mine.Id).ListAsync(folder.Id)).Select(m => $"{m.Summary.Subject} [{string.Join(' ', m.Flags.Order(StringComparer.Ordinal))}]"));
            }

            return lines.Order(StringComparer.Ordinal).ToList();
        }

        public async ValueTask DisposeAsync()
        {
            _device?.Dispose();
            foreach (var store in _linked)
            {
                store.Dispose();
            }

            await Task.CompletedTask;
        }

        private static async Task<Dictionary<string, StoredMessage>> AllAsync(LocalStore device, AccountRecord account)
        {
            var all = new Dictionary<string, StoredMessage>(StringComparer.Ordinal);
            foreach (var folder in await device.Mail(account.Id).ListFoldersAsync())
            {
                foreach (var m in await device.Mail(account.Id).ListAsync(folder.Id))
                {
                    all.Add(m.Summary.Subject!, m);
                }
            }

            return all;
        }

        /// <summary>Every live document of the account, as <see cref="ProviderDocuments.DescribeAsync"/> lists them.</summary>
        private async Task<List<string>> DescribeProviderAsync()
        {
            using var sealer = new DocumentSealer((await Device.Keys.GetCurrentAsync(Account.Id, AccountKeys.AccountMasterKey))!.Material);
            return await ProviderDocuments.DescribeAsync(await ClientAsync(Device), sealer);
        }

        private async Task<ProviderClient> ClientAsync(LocalStore device)
        {
            if (!_clients.TryGetValue(device, out var client))
            {
                var account = (await device.Accounts.ListAsync()).Single();
                client = _clients[device] = await AccountRegistration.ConnectAsync(device, account, _test._provider.Http);
            }

            return client;
        }

        private async Task PutAsOtherDeviceAsync(string id, string subject, string folder, string[] flags)
        {
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Carol", "carol@elsewhere.test"));
            message.To.Add(new MailboxAddress(null, Account.Address));
            message.Subject = subject;
            message.Body = new TextPart("plain") { Text = $"Body of {subject}" };
            using var bytes = new MemoryStream();
            await message.WriteToAsync(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, bytes);
            var role = folder == "INBOX" ? FolderRole.Inbox : folder == "Archive" ? FolderRole.Archive : FolderRole.None;
            var document = new MessageDocument(folder, role, flags, new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero), MessageSecurity.Plain, bytes.ToArray());
            using var sealer = new DocumentSealer((await Device.Keys.GetCurrentAsync(Account.Id, AccountKeys.AccountMasterKey))!.Material);
            var client = await ClientAsync(Device);
            var (status, _) = await client.PutDocumentAsync(id, SyncEngine.MessageKind, sealer.Seal(id, SyncEngine.MessageKind, document), null);
            Assert.Equal(WriteStatus.Ok, status);
        }
    }
}
