using System.Net;
using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Provider.Hosting;

namespace Letterlock.Client.Tests.Sync;

/// <summary>Account creation and sync against a real provider (in-process, loopback, SQLite) reached over HTTPS.</summary>
public sealed class SyncTests : IAsyncLifetime
{
    private const string Marker = "Narwhal58";
    private readonly TempDir _dir = new();
    private LocalProvider _local = null!;
    private ProviderHost _provider = null!;
    private HttpClient _http = null!;
    private LocalStore _device1 = null!;
    private AccountRecord _alice = null!;

    public async Task InitializeAsync()
    {
        _local = await LocalProvider.StartAsync(_dir);
        (_provider, _http) = (_local.Host, _local.Http);
        _device1 = await LocalStore.CreateAsync(_dir.File("device1.db"), StoreUnlock.WithPassphrase("one"), TestStores.FastOptions());
        _alice = await AccountRegistration.CreateAsync(_device1, new ProviderClient(_http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");
    }

    public async Task DisposeAsync()
    {
        _device1.Dispose();
        await _local.DisposeAsync();
        _dir.Dispose();
    }

    private async Task<SyncReport> Sync(LocalStore store, AccountRecord account) =>
        await new SyncEngine(store, account, await AccountRegistration.ConnectAsync(store, account, _http)).SyncAsync();

    private Task DeliverAsync(string subject, string body) => _local.DeliverAsync(subject, body);

    [Fact]
    public async Task Registration_publishes_the_keys_and_refuses_a_taken_address_without_leaving_anything()
    {
        var provider = new ProviderClient(_http, new Uri("https://alpha.test/"));
        var entry = (await provider.GetDirectoryEntryAsync("alice@alpha.test"))!;
        var key = await AccountKeys.LoadOpenPgpAsync(_device1, _alice.Id);
        Assert.Equal(key.Certificate.Export(armored: false), entry.OpenPgpCertificate);
        Assert.NotNull(_alice.DeviceId);

        using var other = await LocalStore.CreateAsync(_dir.File("other.db"), StoreUnlock.WithPassphrase("x"), TestStores.FastOptions());
        var taken = await Assert.ThrowsAsync<ProviderProblemException>(() => AccountRegistration.CreateAsync(other, provider, "alice@alpha.test", null));
        Assert.Equal(409, taken.Status);
        Assert.Empty(await other.Accounts.ListAsync());
        var wrongDomain = await Assert.ThrowsAsync<LocalStoreException>(() => AccountRegistration.CreateAsync(other, provider, "bob@beta.test", null));
        Assert.Contains("serves alpha.test", wrongDomain.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mail_encrypted_on_arrival_is_synced_decrypted_converted_and_a_second_device_converges()
    {
        await DeliverAsync($"Hello {Marker}", $"Arrived in plain {Marker}");
        var report = await Sync(_device1, _alice);
        Assert.Equal(1, report.Received);
        Assert.Empty(report.Errors);
        var inbox = (await _device1.Mail(_alice.Id).FindFolderAsync("INBOX"))!;
        var message = Assert.Single(await _device1.Mail(_alice.Id).ListAsync(inbox.Id));
        Assert.Equal($"Hello {Marker}", message.Summary.Subject);
        Assert.StartsWith("m-", message.Remote!.DocumentId, StringComparison.Ordinal);
        Assert.Contains($"Arrived in plain {Marker}", Encoding.UTF8.GetString((await _device1.Mail(_alice.Id).ReadBodyAsync(message.Id))!), StringComparison.Ordinal);

        // The provider kept no plaintext: not in its database, blobs or any other file.
        foreach (var file in Directory.GetFiles(Path.Combine(_dir.Path, "provider"), "*", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var content = new byte[stream.Length];
            stream.ReadExactly(content);
            Assert.True(content.AsSpan().IndexOf(Encoding.ASCII.GetBytes(Marker)) < 0, $"{file} contains the marker");
        }

        // Syncing again finds nothing new (the cursor was kept).
        Assert.Equal(0, (await Sync(_device1, _alice)).Received);

        // A second device, linked by copying the key material, converges to the same mailbox.
        using var device2 = await LocalStore.CreateAsync(_dir.File("device2.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        var alice2 = await LinkSecondDeviceAsync(device2);
        var second = await Sync(device2, alice2);
        Assert.Equal(1, second.Received);
        var inbox2 = (await device2.Mail(alice2.Id).FindFolderAsync("INBOX"))!;
        var copy = Assert.Single(await device2.Mail(alice2.Id).ListAsync(inbox2.Id));
        Assert.Equal(message.Summary.Subject, copy.Summary.Subject);
        Assert.Equal((await _device1.Mail(_alice.Id).ReadBodyAsync(message.Id))!, (await device2.Mail(alice2.Id).ReadBodyAsync(copy.Id))!);

        // Flags and moves travel both ways; a deletion wins everywhere.
        _ = (await _device1.Mail(_alice.Id).SetFlagsAsync([message.Id], FlagOperation.Add, ["\\Seen", "$Important"])).Done.Single();
        Assert.Equal(1, (await Sync(_device1, _alice)).Pushed);
        await Sync(device2, alice2);
        Assert.Contains("$Important", (await device2.Mail(alice2.Id).GetAsync(copy.Id))!.Flags);

        var archive2 = (await device2.Mail(alice2.Id).FindFolderAsync(FolderRole.Archive))!;
        _ = (await device2.Mail(alice2.Id).MoveAsync([copy.Id], archive2.Id)).Done.Single().Result;
        await Sync(device2, alice2);
        await Sync(_device1, _alice);
        var archive1 = (await _device1.Mail(_alice.Id).FindFolderAsync(FolderRole.Archive))!;
        Assert.Equal(archive1.Id, (await _device1.Mail(_alice.Id).GetAsync(message.Id))!.Folder);

        await _device1.Mail(_alice.Id).DeleteAsync([message.Id]);
        await Sync(_device1, _alice);
        var gone = await Sync(device2, alice2);
        Assert.Equal(1, gone.Deleted);
        Assert.Null(await device2.Mail(alice2.Id).GetAsync(copy.Id));
    }

    [Fact]
    public async Task A_corrupted_document_is_reported_and_skipped_and_sync_continues()
    {
        var provider = await AccountRegistration.ConnectAsync(_device1, _alice, _http);
        await provider.PutDocumentAsync("m-garbage", SyncEngine.MessageKind, Encoding.ASCII.GetBytes("not a sealed document"), null);
        await DeliverAsync("After the garbage", "still arrives");
        var report = await Sync(_device1, _alice);
        var error = Assert.Single(report.Errors);
        Assert.Equal("m-garbage", error.DocumentId);
        Assert.Contains("does not open", error.Reason, StringComparison.Ordinal);
        Assert.Equal(1, report.Received);
    }

    [Fact]
    public async Task Sending_while_the_provider_is_down_queues_locally_and_sync_reports_it_unreachable()
    {
        var down = new ProviderClient(_http, new Uri("https://nowhere.test/"),
            new DeviceCredentials("alpha.test", _alice.DeviceId!.Value, new byte[32]));
        await Assert.ThrowsAsync<ProviderUnavailableException>(() => new SyncEngine(_device1, _alice, down).SyncAsync());
        var key = await AccountKeys.LoadOpenPgpAsync(_device1, _alice.Id);
        var outcome = await new OutgoingMailProcessor(_device1, _alice, key).SubmitAsync(
            Encoding.ASCII.GetBytes("From: alice@alpha.test\r\nTo: dave@delta.test\r\nSubject: later\r\n\r\nqueued\r\n"), ["dave@delta.test"]);
        Assert.Equal(SendStatus.Queued, outcome.Status);
        Assert.Single(await _device1.Jobs.ListAsync(QueuedMail.JobKind));
    }

    [Fact]
    public async Task The_outbox_waits_while_the_provider_is_down_delivers_when_it_is_back_and_reports_a_refusal_in_the_inbox()
    {
        var key = await AccountKeys.LoadOpenPgpAsync(_device1, _alice.Id);
        var processor = new OutgoingMailProcessor(_device1, _alice, key);
        // To herself: the provider delivers it locally, so her own sync brings it back.
        var queued = await processor.SubmitAsync(Encoding.ASCII.GetBytes(
            $"From: alice@alpha.test\r\nTo: alice@alpha.test\r\nSubject: Note {Marker}\r\nMessage-ID: <note-{Marker}@alpha.test>\r\n\r\nqueued\r\n"),
            ["alice@alpha.test"]);
        Assert.Equal(SendStatus.Queued, queued.Status);

        // The provider cannot be reached: the message waits with its backoff, and is not tried again before it is due.
        var down = new OutboxDelivery(_device1, (_, _) => Task.FromResult(new ProviderClient(_http, new Uri("https://nowhere.test/"),
            new DeviceCredentials("alpha.test", _alice.DeviceId!.Value, new byte[32]))), new OutboxOptions { InitialRetryDelay = TimeSpan.FromMinutes(10) });
        var waiting = Assert.Single(await down.DeliverDueAsync());
        Assert.Equal(OutboxOutcome.RetryLater, waiting.Outcome);
        Assert.True(waiting.NextAttempt > DateTimeOffset.UtcNow + TimeSpan.FromMinutes(9));
        Assert.Empty(await down.DeliverDueAsync());
        Assert.NotNull(await down.NextDueAsync());

        // The provider is back (the bridge notices on its next sync and makes waiting mail due at once).
        Assert.Equal(1, await _device1.Jobs.MakeDueNowAsync(QueuedMail.JobKind, _alice.Id));
        var up = new OutboxDelivery(_device1, (account, ct) => AccountRegistration.ConnectAsync(_device1, account, _http, ct: ct));
        Assert.Equal(OutboxOutcome.Sent, Assert.Single(await up.DeliverDueAsync()).Outcome);
        Assert.Empty(await _device1.Jobs.ListAsync(QueuedMail.JobKind));
        Assert.Null(await up.NextDueAsync());

        var inbox = (await _device1.Mail(_alice.Id).FindFolderAsync(FolderRole.Inbox))!;
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
        {
            var provider = await AccountRegistration.ConnectAsync(_device1, _alice, _http);
            while (!(await _device1.Mail(_alice.Id).ListAsync(inbox.Id, timeout.Token)).Any(m => m.Summary.Subject == $"Note {Marker}"))
            {
                // The provider's long poll wakes as soon as the message is in the account's feed.
                await new SyncEngine(_device1, _alice, provider).WaitForChangesAsync(5, timeout.Token);
                await new SyncEngine(_device1, _alice, provider).SyncAsync(ct: timeout.Token);
            }
        }

        // Refused for good (no such user at the provider): the job fails, kept with its reason, and a notice is in the INBOX.
        await processor.SubmitAsync(Encoding.ASCII.GetBytes("From: alice@alpha.test\r\nTo: nobody@alpha.test\r\nSubject: Lost\r\n\r\nx\r\n"),
            ["nobody@alpha.test"]);
        var refused = Assert.Single(await up.DeliverDueAsync());
        Assert.Equal(OutboxOutcome.Failed, refused.Outcome);
        Assert.Equal(JobState.Failed, Assert.Single(await _device1.Jobs.ListAsync(QueuedMail.JobKind)).State);
        var notice = Assert.Single(await _device1.Mail(_alice.Id).ListAsync(inbox.Id), m => m.Summary.Subject == "Not delivered: Lost");
        Assert.Contains("\\Flagged", notice.Flags);
        Assert.Empty(await up.DeliverDueAsync());
    }

    [Fact]
    public async Task A_key_replaced_at_the_provider_is_marked_changed_by_a_correspondent_and_not_used()
    {
        using var other = await LocalStore.CreateAsync(_dir.File("carol.db"), StoreUnlock.WithPassphrase("c"), TestStores.FastOptions());
        var carol = await other.Accounts.CreateAsync("carol@elsewhere.test", null, null);
        var options = new Letterlock.Client.Discovery.KeyDiscoveryOptions { SourceOrder = [Letterlock.Client.Validation.KeyOrigin.ProviderDirectory] };
        var resolver = new Letterlock.Client.Discovery.ContactKeyResolver(other, carol.Id,
            new Letterlock.Client.Discovery.KeyDiscovery([new Letterlock.Client.Discovery.DirectoryKeySource(_http, options)], options));

        var first = await resolver.ResolveAsync("alice@alpha.test");
        Assert.Equal(Letterlock.Client.Validation.KeyOrigin.ProviderDirectory, first.Discovery.Key!.Origin);
        Assert.Equal(Letterlock.Client.Validation.KeyValidationLevel.Tofu, first.Level);

        // Alice's key is replaced at the provider (a rotation, or a provider lying about her key).
        var replacement = Letterlock.OpenPgp.KeyGenerator.Generate("Alice <alice@alpha.test>", "").Certificate;
        var inbox = (await _device1.Keys.GetCurrentAsync(_alice.Id, AccountKeys.InboxXWingSecret))!.Material;
        using var inboxPair = Letterlock.Cryptography.XWingKeyPair.FromPrivateKey(inbox);
        var provider = await AccountRegistration.ConnectAsync(_device1, _alice, _http);
        await provider.UpdateKeysAsync(new Letterlock.Api.UpdateKeysRequest(replacement.Export(armored: false), inboxPair.PublicKey.ToArray()));

        var second = await resolver.ResolveAsync("alice@alpha.test");
        Assert.Equal(Letterlock.Client.Validation.KeyValidationLevel.Changed, second.Level);
        Assert.Null(second.EncryptionKey);
        var send = await new OutgoingMailProcessor(other, carol, Letterlock.OpenPgp.KeyGenerator.Generate("<carol@elsewhere.test>", "").SecretKey.Unlock(), resolver)
            .SubmitAsync(Encoding.ASCII.GetBytes("From: carol@elsewhere.test\r\nTo: alice@alpha.test\r\nSubject: x\r\n\r\ny\r\n"), ["alice@alpha.test"]);
        Assert.Equal(SendStatus.RefusedChangedKey, send.Status);
    }

    [Fact]
    public async Task A_sync_stopped_part_way_resumes_without_loss_or_duplicates_on_either_device()
    {
        for (int i = 0; i < 5; i++)
        {
            await DeliverAsync($"Resume {i}", $"body {i}");
        }

        // Stopped after the second change of the page (cancelled, as when the app quits mid-sync).
        using (var stop = new CancellationTokenSource())
        {
            var provider = await AccountRegistration.ConnectAsync(_device1, _alice, _http);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new SyncEngine(_device1, _alice, provider)
                .SyncAsync(new StopAfter(2, stop), stop.Token));
        }

        // Conversions are stored a page at a time, so the stop may come after any number of them.
        var inbox = (await _device1.Mail(_alice.Id).FindFolderAsync("INBOX"))!;
        int before = (await _device1.Mail(_alice.Id).ListAsync(inbox.Id)).Count;
        var rest = await Sync(_device1, _alice);
        Assert.Equal(5, before + rest.Received);
        Assert.Empty(rest.Errors);
        var subjects = (await _device1.Mail(_alice.Id).ListAsync(inbox.Id)).Select(m => m.Summary.Subject).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"Resume {i}"), subjects);

        // A new device stopped part-way through the message documents converges to the same five.
        using var device2 = await LocalStore.CreateAsync(_dir.File("device2.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        var alice2 = await LinkSecondDeviceAsync(device2);
        using (var stop = new CancellationTokenSource())
        {
            var provider = await AccountRegistration.ConnectAsync(device2, alice2, _http);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new SyncEngine(device2, alice2, provider)
                .SyncAsync(new StopAfter(3, stop), stop.Token));
        }

        await Sync(device2, alice2);
        var inbox2 = (await device2.Mail(alice2.Id).FindFolderAsync("INBOX"))!;
        Assert.Equal(subjects, (await device2.Mail(alice2.Id).ListAsync(inbox2.Id)).Select(m => m.Summary.Subject).Order(StringComparer.Ordinal).ToList());
    }

    /// <summary>Cancels the sync as soon as <paramref name="count"/> changes have been applied (synchronously, unlike <see cref="Progress{T}"/>).</summary>
    private sealed class StopAfter(int count, CancellationTokenSource stop) : IProgress<SyncProgress>
    {
        public void Report(SyncProgress value)
        {
            if (value.Applied >= count)
            {
                stop.Cancel();
            }
        }
    }

    private async Task<AccountRecord> LinkSecondDeviceAsync(LocalStore device2)
    {
        var account = await device2.Accounts.CreateAsync(_alice.Address, _alice.DisplayName, _alice.ProviderUrl);
        foreach (var key in await _device1.Keys.ListAsync(_alice.Id))
        {
            await device2.Keys.AddAsync(account.Id, key.Purpose, key.Material);
        }

        return await device2.Accounts.UpdateAsync(account with
        {
            ProviderDomain = _alice.ProviderDomain,
            RemoteAccountId = _alice.RemoteAccountId,
            DeviceId = _alice.DeviceId,
        });
    }
}
