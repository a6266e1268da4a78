using System.Text;
using Letterlock.Client.Accounts;
using Letterlock.Client.Mail;
using Letterlock.Client.Native;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Client.Validation;
using MimeKit;

namespace Letterlock.Client.Tests.Sync;

/// <summary>
/// Which route each recipient gets: native when its (verified) entry lists devices with prekeys, PGP/MIME otherwise,
/// one message per route; and the receiving side opening native mail, against a real provider.
/// </summary>
public sealed class NativeRoutingTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private LocalProvider _local = null!;
    private readonly Dictionary<string, (LocalStore Store, AccountRecord Account)> _people = [];

    public async Task InitializeAsync()
    {
        _local = await LocalProvider.StartAsync(_dir);
        foreach (var name in new[] { "alice", "bob", "carol" })
        {
            var store = await LocalStore.CreateAsync(_dir.File(name + ".db"), StoreUnlock.WithPassphrase(name), TestStores.FastOptions());
            var account = await AccountRegistration.CreateAsync(store, new ProviderClient(_local.Http, new Uri("https://alpha.test/")), $"{name}@alpha.test", name);
            _people[name] = (store, account);
        }

        // Bob's device is native-capable; Carol's has published no prekeys.
        var (bobStore, bob) = _people["bob"];
        await PrekeyMaintenance.RunAsync(bobStore, bob, await Connect("bob"), new PrekeyOptions { PoolSize = 4, RefillBelow = 2 });

        // Alice holds both their OpenPGP keys (for PGP/MIME).
        var (aliceStore, alice) = _people["alice"];
        foreach (var name in new[] { "bob", "carol" })
        {
            var key = await AccountKeys.LoadOpenPgpAsync(_people[name].Store, _people[name].Account.Id);
            await aliceStore.Contacts.ObserveKeyAsync(alice.Id, $"{name}@alpha.test",
                new ObservedKey(KeyFingerprint.Parse(key.Certificate.Fingerprint.Hex), key.Certificate.Export(armored: false), KeyOrigin.UserImport), TransparencyVerdict.Absent);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var (store, _) in _people.Values)
        {
            store.Dispose();
        }

        await _local.DisposeAsync();
        _dir.Dispose();
    }

    private Task<ProviderClient> Connect(string name) => AccountRegistration.ConnectAsync(_people[name].Store, _people[name].Account, _local.Http);

    /// <summary>The device keys the provider's directory lists (these tests take the provider's word; the bridge checks transparency).</summary>
    private VerifiedDeviceKeys Directory(ProviderClient provider) =>
        async (address, ct) => (await provider.GetDirectoryEntryAsync(address, ct))?.Devices.Select(d => d.PublicKey).ToList();

    private async Task<NativeMail> NativeFor(string name, ProviderClient? fetchThrough = null)
    {
        var provider = await Connect(name);
        return new NativeMail(_people[name].Store, _people[name].Account, fetchThrough ?? provider, Directory(provider));
    }

    private Task<List<QueuedMail>> SendAsync(NativeMail native, string to, string subject) => SendFromAsync("alice", to, subject, native);

    private async Task<List<QueuedMail>> SendFromAsync(string sender, string to, string subject, NativeMail? native = null)
    {
        var (store, from) = _people[sender];
        native ??= await NativeFor(sender);
        var key = await AccountKeys.LoadOpenPgpAsync(store, from.Id);
        var recipients = to.Split(", ");
        var outcome = await new OutgoingMailProcessor(store, from, key, native: native).SubmitAsync(Encoding.ASCII.GetBytes(
            $"From: {from.Address}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@alpha.test>\r\n\r\nbody of {subject}\r\n"), recipients);
        Assert.Equal(SendStatus.Queued, outcome.Status);
        Assert.True(outcome.Encrypted);
        var copies = new List<QueuedMail>();
        while (await store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1)) is { } job)
        {
            copies.Add(QueuedMail.FromPayload(job.Payload));
            await store.Jobs.CompleteAsync(job.Id);
        }

        return copies;
    }

    private static string Route(QueuedMail copy)
    {
        using var stream = new MemoryStream(copy.Message);
        var message = MimeMessage.Load(stream);
        return NativeMail.IsNative(message) ? "native" : message.Body is Multipart { ContentType.MediaSubtype: "encrypted" } ? "pgp" : "other";
    }

    [Fact]
    public async Task A_mixed_list_is_split_native_for_bob_and_pgp_for_carol_and_bob_reads_his_natively_once()
    {
        var copies = await SendAsync(await NativeFor("alice"), "bob@alpha.test, carol@alpha.test", "Mixed");
        Assert.Equal(2, copies.Count);
        var native = Assert.Single(copies, c => Route(c) == "native");
        Assert.Equal(["bob@alpha.test"], native.Recipients);
        var pgp = Assert.Single(copies, c => Route(c) == "pgp");
        Assert.Equal(["carol@alpha.test"], pgp.Recipients);
        Assert.DoesNotContain("Mixed", Encoding.ASCII.GetString(native.Message), StringComparison.Ordinal);

        var alice = await Connect("alice");
        foreach (var copy in copies)
        {
            await alice.SubmitAsync(copy.From, copy.Recipients, copy.Message);
        }

        // Bob's device opens it, once.
        var (bobStore, bob) = _people["bob"];
        var bobProvider = await Connect("bob");
        var report = await new SyncEngine(bobStore, bob, bobProvider, native: await NativeFor("bob")).SyncAsync();
        Assert.Equal(1, report.Received);
        Assert.Empty(report.Errors);
        Assert.Equal(0, (await new SyncEngine(bobStore, bob, bobProvider, native: await NativeFor("bob")).SyncAsync()).Received);
        var inbox = (await bobStore.Mail(bob.Id).FindFolderAsync(FolderRole.Inbox))!;
        var message = Assert.Single(await bobStore.Mail(bob.Id).ListAsync(inbox.Id));
        Assert.Equal("Mixed", message.Summary.Subject);
        Assert.True(message.Summary.Security.Native);
        var body = Encoding.ASCII.GetString((await bobStore.Mail(bob.Id).ReadBodyAsync(message.Id))!);
        Assert.Contains("Letterlock-Encryption: end-to-end; forward-secret; post-quantum", body, StringComparison.Ordinal);
        Assert.Contains("body of Mixed", body, StringComparison.Ordinal);

        // Carol's PGP/MIME copy arrives as before.
        var (carolStore, carol) = _people["carol"];
        Assert.Equal(1, (await new SyncEngine(carolStore, carol, await Connect("carol")).SyncAsync()).Received);
    }

    [Fact]
    public async Task A_crash_between_opening_a_native_message_and_filing_it_loses_nothing_though_its_keys_are_spent()
    {
        var alice = await Connect("alice");
        var copy = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "Spent keys"));
        Assert.Equal("native", Route(copy));
        await alice.SubmitAsync(copy.From, copy.Recipients, copy.Message);

        // The run stops after the message opened (its message keys are spent and the sessions saved) and before it is filed.
        var (bobStore, bob) = _people["bob"];
        var bobProvider = await Connect("bob");
        var crashing = new SyncEngine(bobStore, bob, bobProvider, native: await NativeFor("bob"), syncOptions: new SyncOptions
        {
            AtStep = (step, _) =>
            {
                if (step == SyncStep.InboxOpened)
                {
                    throw new IOException("the process stops here");
                }
            },
        });
        await Assert.ThrowsAsync<IOException>(() => crashing.SyncAsync());
        var inbox = (await bobStore.Mail(bob.Id).FindFolderAsync(FolderRole.Inbox))!;
        Assert.Empty(await bobStore.Mail(bob.Id).ListAsync(inbox.Id));
        Assert.Single(await bobStore.Keys.ListAsync(bob.Id, NativeMail.OpenedPurpose));

        // Opening it again would be a replay; the kept copy is filed instead, once, and the copy goes with it.
        var report = await new SyncEngine(bobStore, bob, bobProvider, native: await NativeFor("bob")).SyncAsync();
        Assert.Empty(report.Errors);
        Assert.Equal(1, report.Received);
        var message = Assert.Single(await bobStore.Mail(bob.Id).ListAsync(inbox.Id));
        Assert.Equal("Spent keys", message.Summary.Subject);
        Assert.True(message.Summary.Security.Native);
        Assert.Empty(await bobStore.Keys.ListAsync(bob.Id, NativeMail.OpenedPurpose));
        Assert.Equal(0, (await new SyncEngine(bobStore, bob, bobProvider, native: await NativeFor("bob")).SyncAsync()).Received);
        Assert.Single(await bobStore.Mail(bob.Id).ListAsync(inbox.Id));
    }

    [Fact]
    public async Task Each_of_bobs_devices_takes_its_key_of_every_message_whichever_files_it_and_each_message_is_filed_once()
    {
        await AddDeviceAsync("bob", "bobphone");
        var alice = await Connect("alice");
        var (bobStore, bob) = _people["bob"];
        var (phoneStore, phone) = _people["bobphone"];

        // Three messages, each for both of bob's devices; the laptop files them and leaves the phone its entries.
        for (int i = 1; i <= 3; i++)
        {
            var copy = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", $"To both {i}"));
            Assert.Equal("native", Route(copy));
            await alice.SubmitAsync(copy.From, copy.Recipients, copy.Message);
        }

        var laptop = await SyncAsync("bob");
        Assert.Equal(3, laptop.Received);
        Assert.Equal(3, (await DocumentsAsync("bob")).Count(d => d.Kind == SyncEngine.EntryCopyKind));

        // The phone gets the three message documents and opens its three entries: its session with alice has no gap.
        var onPhone = await SyncAsync("bobphone");
        Assert.Equal(3, onPhone.Received);
        Assert.DoesNotContain(await DocumentsAsync("bob"), d => d.Kind is SyncEngine.EntryCopyKind or "inbox");
        Assert.Equal(0, await SkippedKeysAsync("bobphone"));
        Assert.Equal(0, await SkippedKeysAsync("bob"));

        // The phone answers on that session and alice reads it, from bob's phone.
        var reply = Assert.Single(await SendFromAsync("bobphone", "alice@alpha.test", "From the phone"));
        Assert.Equal("native", Route(reply));
        await (await Connect("bobphone")).SubmitAsync(reply.From, reply.Recipients, reply.Message);
        var aliceRead = await SyncAsync("alice");
        Assert.Equal(1, aliceRead.Received);

        // Now the phone files first and the laptop keeps step.
        var fourth = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "To both 4"));
        await alice.SubmitAsync(fourth.From, fourth.Recipients, fourth.Message);
        Assert.Equal(1, (await SyncAsync("bobphone")).Received);
        Assert.Equal(2, (await SyncAsync("bob")).Received); // and the phone's Sent copy of its reply
        Assert.DoesNotContain(await DocumentsAsync("bob"), d => d.Kind is SyncEngine.EntryCopyKind or "inbox");
        Assert.Equal(0, await SkippedKeysAsync("bob"));

        // Each device holds each message once; the provider holds one message document each.
        foreach (var (store, account) in new[] { (bobStore, bob), (phoneStore, phone) })
        {
            var inbox = (await store.Mail(account.Id).FindFolderAsync(FolderRole.Inbox))!;
            Assert.Equal(["To both 1", "To both 2", "To both 3", "To both 4"],
                (await store.Mail(account.Id).ListAsync(inbox.Id)).Select(m => m.Summary.Subject!).Order(StringComparer.Ordinal));
        }

        Assert.Equal(4, (await DocumentsAsync("bob")).Count(d => d.Kind == SyncEngine.MessageKind && d.Id.StartsWith("m-in-", StringComparison.Ordinal)));
        Assert.Equal(0, (await SyncAsync("bob")).Received + (await SyncAsync("bobphone")).Received);
    }

    [Fact]
    public async Task A_sync_without_the_native_protocol_defers_native_mail_to_the_next_one_with_it_instead_of_passing_it_by()
    {
        var alice = await Connect("alice");
        var copy = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "Deferred"));
        await alice.SubmitAsync(copy.From, copy.Recipients, copy.Message);

        // A sync that cannot open native mail (the command line's) reports it and moves on.
        var (bobStore, bob) = _people["bob"];
        var bobProvider = await Connect("bob");
        var plain = await new SyncEngine(bobStore, bob, bobProvider).SyncAsync();
        Assert.Equal(0, plain.Received);
        Assert.Contains("deferred", Assert.Single(plain.Errors).Reason, StringComparison.Ordinal);
        Assert.Empty((await new SyncEngine(bobStore, bob, bobProvider).SyncAsync()).Errors);

        // Its cursor passed the message, but the next sync with the native protocol files it, once.
        var report = await SyncAsync("bob");
        Assert.Empty(report.Errors);
        Assert.Equal(1, report.Received);
        Assert.Equal(0, (await SyncAsync("bob")).Received);
        var inbox = (await bobStore.Mail(bob.Id).FindFolderAsync(FolderRole.Inbox))!;
        Assert.Equal("Deferred", Assert.Single(await bobStore.Mail(bob.Id).ListAsync(inbox.Id)).Summary.Subject);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task A_native_message_that_fails_to_open_unexpectedly_is_retried_by_the_next_runs_up_to_the_limit(int failures)
    {
        const int retries = 2;
        var alice = await Connect("alice");
        var copy = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "Retried"));
        await alice.SubmitAsync(copy.From, copy.Recipients, copy.Message);

        // Checking the sender fails unexpectedly the first runs (after the envelope opened and was kept).
        var (bobStore, bob) = _people["bob"];
        var bobProvider = await Connect("bob");
        var directory = Directory(bobProvider);
        int failed = 0;
        var failing = new NativeMail(bobStore, bob, bobProvider, (address, ct) =>
            address == "alice@alpha.test" && failed++ < failures ? throw new InvalidOperationException("lookup broke") : directory(address, ct));
        var options = new SyncOptions { MaxNativeRetries = retries };
        var reports = new List<SyncReport>();
        for (int run = 0; run <= retries + 1; run++)
        {
            reports.Add(await new SyncEngine(bobStore, bob, bobProvider, syncOptions: options, native: failing).SyncAsync());
        }

        var inbox = (await bobStore.Mail(bob.Id).FindFolderAsync(FolderRole.Inbox))!;
        var filed = await bobStore.Mail(bob.Id).ListAsync(inbox.Id);
        if (failures <= retries)
        {
            // Reported while it failed, then filed once from the kept opened message (opening it again would be a replay).
            Assert.All(reports.Take(failures), r => Assert.Contains("retry", Assert.Single(r.Errors).Reason, StringComparison.Ordinal));
            Assert.All(reports.Skip(failures), r => Assert.Empty(r.Errors));
            Assert.Equal("Retried", Assert.Single(filed).Summary.Subject);
            Assert.Empty(await bobStore.Keys.ListAsync(bob.Id, NativeMail.OpenedPurpose));
        }
        else
        {
            // Given up after the limit: reported as such, left at the provider, not tried again.
            Assert.Contains("given up after 2 retries", Assert.Single(reports[retries].Errors).Reason, StringComparison.Ordinal);
            Assert.Empty(reports[retries + 1].Errors);
            Assert.Empty(filed);
            Assert.Contains(await DocumentsAsync("bob"), d => d.Kind == "inbox");
        }
    }

    [Fact]
    public async Task A_device_that_lost_its_sessions_asks_for_a_reset_and_both_sides_start_a_new_session()
    {
        var alice = await Connect("alice");
        var (aliceStore, aliceAccount) = _people["alice"];
        var (bobStore, bob) = _people["bob"];
        async Task SendToBobAsync(string subject)
        {
            var copy = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", subject));
            Assert.Equal("native", Route(copy));
            await alice.SubmitAsync(copy.From, copy.Recipients, copy.Message);
        }

        await SendToBobAsync("Before");
        Assert.Equal(1, (await SyncAsync("bob")).Received);
        var bobKey = (await NativeKeys.LoadIdentityAsync(bobStore, bob.Id)).DeviceKey.ToArray();
        var first = (await SessionsAsync("alice")).Active(bobKey)!.SessionId;

        // Bob's device loses its sessions; alice's next message does not open there and bob's device asks her for a reset.
        foreach (var session in await bobStore.Keys.ListAsync(bob.Id, NativeMail.SessionPurpose))
        {
            await bobStore.Keys.DeleteAsync(bob.Id, session.Id);
        }

        await SendToBobAsync("Lost");
        var failed = await new SyncEngine(bobStore, bob, await Connect("bob"), native: await NativeFor("bob")).SyncAsync();
        Assert.Equal(0, failed.Received);
        Assert.Contains("session reset requested", Assert.Single(failed.Errors).Reason, StringComparison.Ordinal);

        // Alice's device takes the request (nothing is filed): the session it named is retired, and the lost message is
        // sealed again on a new session from fresh prekeys and queued.
        int prekeys = (await (await Connect("bob")).GetPrekeyStatusAsync()).OneTimePrekeys;
        var taken = await SyncAsync("alice");
        Assert.Equal(0, taken.Received);
        Assert.Empty(await aliceStore.Mail(aliceAccount.Id).ListAsync((await aliceStore.Mail(aliceAccount.Id).FindFolderAsync(FolderRole.Inbox))!.Id));
        var second = Assert.Single((await SessionsAsync("alice")).All, s => s.IsActive);
        Assert.NotEqual(first, second.SessionId);
        Assert.Equal(prekeys - 1, (await (await Connect("bob")).GetPrekeyStatusAsync()).OneTimePrekeys);
        var resent = Assert.Single(await QueuedAsync("alice"));
        Assert.Equal("native", Route(resent));
        Assert.Equal(["bob@alpha.test"], resent.Recipients);
        await alice.SubmitAsync(resent.From, resent.Recipients, resent.Message);
        Assert.Equal(1, (await SyncAsync("bob")).Received);

        // Her next message goes on that session, which bob's device opens; and bob answers on it.
        await SendToBobAsync("After");
        Assert.Equal(second.SessionId, (await SessionsAsync("alice")).Active(bobKey)!.SessionId);
        Assert.Equal(1, (await SyncAsync("bob")).Received);
        var reply = Assert.Single(await SendFromAsync("bob", "alice@alpha.test", "Answer"));
        Assert.Equal("native", Route(reply));
        await (await Connect("bob")).SubmitAsync(reply.From, reply.Recipients, reply.Message);
        Assert.Equal(1, (await SyncAsync("alice")).Received);
        var inbox = (await bobStore.Mail(bob.Id).FindFolderAsync(FolderRole.Inbox))!;
        Assert.Equal(["After", "Before", "Lost"], (await bobStore.Mail(bob.Id).ListAsync(inbox.Id)).Select(m => m.Summary.Subject!).Order(StringComparer.Ordinal));

        // A reset request naming an envelope this device never sent is left for the account's other devices.
        var stray = await NativeFor("bob");
        using var bobIdentity = await NativeKeys.LoadIdentityAsync(bobStore, bob.Id);
        var request = new Letterlock.Native.NativeDevice(bobIdentity, bob.Address, new Letterlock.Native.DevicePrekeys(), new Letterlock.Native.DeviceSessions())
            .CreateResetRequest(new byte[16]).Encode();
        await (await Connect("bob")).SubmitAsync("bob@alpha.test", ["alice@alpha.test"], stray.ResetMessage("alice@alpha.test", request));
        var strayReport = await new SyncEngine(aliceStore, aliceAccount, alice, native: await NativeFor("alice")).SyncAsync();
        Assert.Contains("did not send", Assert.Single(strayReport.Errors).Reason, StringComparison.Ordinal);
        Assert.NotNull((await SessionsAsync("alice")).Active(bobKey));

        // What alice remembers of her envelopes, and their content, goes once no request could name them any more.
        Assert.Equal(4, (await aliceStore.Keys.ListAsync(aliceAccount.Id, NativeMail.SentPurpose)).Count);
        Assert.Equal(4, (await aliceStore.Keys.ListAsync(aliceAccount.Id, NativeMail.SentContentPurpose)).Count);
        var month = new NativeMail(aliceStore, aliceAccount, alice, Directory(alice), time: new ManualTime(DateTimeOffset.UtcNow.AddDays(31)));
        Assert.Single(await month.SealAsync(Encoding.ASCII.GetBytes("From: alice@alpha.test\r\n\r\nlater\r\n"), ["bob@alpha.test"]));
        Assert.Single(await aliceStore.Keys.ListAsync(aliceAccount.Id, NativeMail.SentPurpose));
        Assert.Single(await aliceStore.Keys.ListAsync(aliceAccount.Id, NativeMail.SentContentPurpose));
    }

    /// <summary>The mail <paramref name="name"/>'s device queued to send (claimed, as the outbox would).</summary>
    private async Task<List<QueuedMail>> QueuedAsync(string name)
    {
        var queued = new List<QueuedMail>();
        while (await _people[name].Store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1)) is { } job)
        {
            queued.Add(QueuedMail.FromPayload(job.Payload));
            await _people[name].Store.Jobs.CompleteAsync(job.Id);
        }

        return queued;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    public async Task A_sender_whose_entry_cannot_be_checked_now_is_checked_again_later_and_never_filed_as_unknown_while_retries_last(int failures)
    {
        const int retries = 2;
        var alice = await Connect("alice");
        var copy = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "Checked later"));
        await alice.SubmitAsync(copy.From, copy.Recipients, copy.Message);

        // The first runs cannot reach alice's provider's log: the real transparency lookup, against a host that does not answer.
        var (bobStore, bob) = _people["bob"];
        var bobProvider = await Connect("bob");
        var directory = Directory(bobProvider);
        using var nowhere = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var unreachable = NativeMail.FromTransparency(new Transparency.TransparencyService(bobStore, nowhere, providerUri: _ => new Uri("https://nowhere.invalid/")));
        int failed = 0;
        var bobNative = new NativeMail(bobStore, bob, bobProvider, (address, ct) =>
            address == "alice@alpha.test" && failed++ < failures ? unreachable(address, ct) : directory(address, ct));
        var options = new SyncOptions { MaxNativeRetries = retries };
        var reports = new List<SyncReport>();
        for (int run = 0; run <= retries + 1; run++)
        {
            reports.Add(await new SyncEngine(bobStore, bob, bobProvider, syncOptions: options, native: bobNative).SyncAsync());
        }

        var inbox = (await bobStore.Mail(bob.Id).FindFolderAsync(FolderRole.Inbox))!;
        var message = Assert.Single(await bobStore.Mail(bob.Id).ListAsync(inbox.Id));
        Assert.Equal("Checked later", message.Summary.Subject);
        Assert.Empty(await bobStore.Keys.ListAsync(bob.Id, NativeMail.OpenedPurpose));
        if (failures <= retries)
        {
            // Reported while it could not be checked, then filed once, with the sender verified.
            Assert.All(reports.Take(failures), r => Assert.Contains("could not be checked now", Assert.Single(r.Errors).Reason, StringComparison.Ordinal));
            Assert.All(reports.Skip(failures), r => Assert.Empty(r.Errors));
            Assert.Equal(SignatureState.Valid, message.Summary.Security.Signature);
        }
        else
        {
            // Retries spent: delivered all the same (its keys are spent), the sender shown as not verified.
            Assert.All(reports.Take(retries), r => Assert.Contains("retry", Assert.Single(r.Errors).Reason, StringComparison.Ordinal));
            Assert.All(reports.Skip(retries), r => Assert.Empty(r.Errors));
            Assert.Equal(SignatureState.UnknownKey, message.Summary.Security.Signature);
        }

        // A recipient whose entry cannot be checked now gets PGP/MIME.
        var (aliceStore, aliceAccount) = _people["alice"];
        var aliceDirectory = Directory(alice);
        var senderSide = new NativeMail(aliceStore, aliceAccount, alice, (address, ct) => address == "bob@alpha.test" ? unreachable(address, ct) : aliceDirectory(address, ct));
        Assert.Empty(await senderSide.SealAsync(Encoding.ASCII.GetBytes("From: alice@alpha.test\r\n\r\nx\r\n"), ["bob@alpha.test"]));
    }

    [Fact]
    public async Task A_second_delivery_of_an_envelope_is_discarded_and_a_sender_that_rolled_back_is_asked_for_a_reset_and_sends_again()
    {
        var alice = await Connect("alice");
        var (aliceStore, aliceAccount) = _people["alice"];
        var (bobStore, bob) = _people["bob"];
        var bobKey = (await NativeKeys.LoadIdentityAsync(bobStore, bob.Id)).DeviceKey.ToArray();
        var first = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "Once"));
        await alice.SubmitAsync(first.From, first.Recipients, first.Message);
        Assert.Equal(1, (await SyncAsync("bob")).Received);

        // The same envelope delivered again (a duplicate from a relay, or replayed by a provider): its key was spent here, it
        // is discarded without a reset or a second copy.
        await alice.SubmitAsync(first.From, first.Recipients, first.Message);
        Assert.Equal(0, (await SyncAsync("bob")).Received);
        Assert.DoesNotContain(await DocumentsAsync("bob"), d => d.Kind == "inbox");
        Assert.Equal(0, (await SyncAsync("alice")).Received);
        var session = (await SessionsAsync("alice")).Active(bobKey)!.SessionId;
        Assert.Empty(await QueuedAsync("alice"));

        // Alice's device goes back to a backup of its sessions and seals the next message with a message key it used before:
        // bob's device sees a replay of an envelope it never opened, and asks for a reset.
        var backup = (await aliceStore.Keys.ListAsync(aliceAccount.Id, NativeMail.SessionPurpose)).Select(k => k.Material).ToList();
        var second = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "Second"));
        await alice.SubmitAsync(second.From, second.Recipients, second.Message);
        Assert.Equal(1, (await SyncAsync("bob")).Received);
        await aliceStore.Keys.ChangeAsync(aliceAccount.Id, [.. backup.Select(b => (NativeMail.SessionPurpose, (ReadOnlyMemory<byte>)b))],
            [.. (await aliceStore.Keys.ListAsync(aliceAccount.Id, NativeMail.SessionPurpose)).Select(k => k.Id)]);
        var rolledBack = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "After the rollback"));
        await alice.SubmitAsync(rolledBack.From, rolledBack.Recipients, rolledBack.Message);
        var failed = await new SyncEngine(bobStore, bob, await Connect("bob"), native: await NativeFor("bob")).SyncAsync();
        Assert.Contains("(Replayed): session reset requested", Assert.Single(failed.Errors).Reason, StringComparison.Ordinal);

        // Alice's device retires that session and sends the message again on a new one; bob reads it.
        Assert.Equal(0, (await SyncAsync("alice")).Received);
        Assert.NotEqual(session, (await SessionsAsync("alice")).Active(bobKey)!.SessionId);
        var again = Assert.Single(await QueuedAsync("alice"));
        await alice.SubmitAsync(again.From, again.Recipients, again.Message);
        Assert.Equal(1, (await SyncAsync("bob")).Received);
        var inbox = (await bobStore.Mail(bob.Id).FindFolderAsync(FolderRole.Inbox))!;
        Assert.Equal(["After the rollback", "Once", "Second"], (await bobStore.Mail(bob.Id).ListAsync(inbox.Id)).Select(m => m.Summary.Subject!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_reset_sends_again_only_when_no_other_device_of_the_recipient_read_it_and_says_what_was_lost_when_it_cannot()
    {
        await AddDeviceAsync("bob", "bobphone");
        var alice = await Connect("alice");
        var (aliceStore, aliceAccount) = _people["alice"];
        var (bobStore, bob) = _people["bob"];
        async Task LoseSessionsAsync(string name)
        {
            var (store, account) = _people[name];
            foreach (var stored in await store.Keys.ListAsync(account.Id, NativeMail.SessionPurpose))
            {
                await store.Keys.DeleteAsync(account.Id, stored.Id);
            }
        }

        async Task SendToBobAsync(string subject)
        {
            var copy = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", subject));
            await alice.SubmitAsync(copy.From, copy.Recipients, copy.Message);
        }

        await SendToBobAsync("Start");
        Assert.Equal(1, (await SyncAsync("bob")).Received);
        Assert.Equal(1, (await SyncAsync("bobphone")).Received);

        // The laptop loses its sessions and asks; the phone reads the message: reset, not sent again.
        await LoseSessionsAsync("bob");
        await SendToBobAsync("Phone reads it");
        var failed = await new SyncEngine(bobStore, bob, await Connect("bob"), native: await NativeFor("bob")).SyncAsync();
        Assert.Contains("session reset requested", Assert.Single(failed.Errors).Reason, StringComparison.Ordinal);
        Assert.Equal(1, (await SyncAsync("bobphone")).Received);
        Assert.Equal(0, (await SyncAsync("alice")).Received);
        Assert.Empty(await QueuedAsync("alice"));

        // The laptop gets that message as the phone's document (its entry copy does not open there); the next one starts a new session.
        await SendToBobAsync("Fresh");
        Assert.Equal(2, (await RunAsync("bob")).Received);
        Assert.Equal(1, (await SyncAsync("bobphone")).Received);

        // Both lose their sessions: once both asked, it is sent again to both.
        await LoseSessionsAsync("bob");
        await LoseSessionsAsync("bobphone");
        await SendToBobAsync("Both lost");
        foreach (var name in new[] { "bob", "bobphone" })
        {
            Assert.Contains("session reset requested", Assert.Single((await RunAsync(name)).Errors).Reason, StringComparison.Ordinal);
        }

        Assert.Equal(0, (await SyncAsync("alice")).Received);
        var again = Assert.Single(await QueuedAsync("alice"));
        await alice.SubmitAsync(again.From, again.Recipients, again.Message);
        Assert.Equal(1, (await SyncAsync("bob")).Received);
        Assert.Equal(1, (await SyncAsync("bobphone")).Received); // its entry copy taken, the message as the laptop's document
        var phoneInbox = (await _people["bobphone"].Store.Mail(_people["bobphone"].Account.Id).FindFolderAsync(FolderRole.Inbox))!;
        Assert.Contains("Both lost", (await _people["bobphone"].Store.Mail(_people["bobphone"].Account.Id).ListAsync(phoneInbox.Id)).Select(m => m.Summary.Subject));

        // A record as an earlier version kept it (no content): the reset says which message did not arrive.
        await LoseSessionsAsync("bob");
        await LoseSessionsAsync("bobphone");
        await SendToBobAsync("Older record");
        foreach (var stored in await aliceStore.Keys.ListAsync(aliceAccount.Id, NativeMail.SentPurpose))
        {
            await aliceStore.Keys.ChangeAsync(aliceAccount.Id, [(NativeMail.SentPurpose, WithoutContent(stored.Material))], [stored.Id]);
        }

        foreach (var name in new[] { "bob", "bobphone" })
        {
            Assert.Contains("session reset requested", Assert.Single((await RunAsync(name)).Errors).Reason, StringComparison.Ordinal);
        }

        var lost = await new SyncEngine(aliceStore, aliceAccount, alice, native: await NativeFor("alice")).SyncAsync();
        Assert.Equal(2, lost.Errors.Count);
        Assert.All(lost.Errors, e => Assert.Contains("cannot be sent again (sent before its content was kept); it is in Sent", e.Reason, StringComparison.Ordinal));
        Assert.Empty(await QueuedAsync("alice"));
        Assert.DoesNotContain(await DocumentsAsync("alice"), d => d.Kind == "inbox");
    }

    /// <summary>A record of an envelope sent, as kept before messages were sent again on a reset: without the trailing content reference.</summary>
    private static byte[] WithoutContent(byte[] record)
    {
        int at = 25;
        for (int i = 0; i < record[24] * 2; i++)
        {
            at += 1 + record[at];
        }

        return record[..at];
    }

    private async Task<Letterlock.Native.DeviceSessions> SessionsAsync(string name) =>
        Letterlock.Native.DeviceSessions.Load((await _people[name].Store.Keys.ListAsync(_people[name].Account.Id, NativeMail.SessionPurpose)).Select(k => k.Material));

    /// <summary>Another device of <paramref name="owner"/>'s account, signed in with the password, native-capable.</summary>
    private async Task AddDeviceAsync(string owner, string name)
    {
        var (store, account) = _people[owner];
        await AccountPassword.SetAsync(store, account, await Connect(owner), "correct horse battery staple");
        var device = await LocalStore.CreateAsync(_dir.File(name + ".db"), StoreUnlock.WithPassphrase(name), TestStores.FastOptions());
        var url = new Uri("https://alpha.test/");
        var signedIn = await AccountPassword.LoginAsync(device, new ProviderClient(_local.Http, url), account.Address, "correct horse battery staple", name,
            credentials => new ProviderClient(_local.Http, url, credentials));
        _people[name] = (device, signedIn);
        await PrekeyMaintenance.RunAsync(device, signedIn, await Connect(name), new PrekeyOptions { PoolSize = 4, RefillBelow = 2 });
    }

    /// <summary>A sync of <paramref name="name"/>'s device with the native protocol, its errors left to the caller.</summary>
    private async Task<SyncReport> RunAsync(string name) =>
        await new SyncEngine(_people[name].Store, _people[name].Account, await Connect(name), native: await NativeFor(name)).SyncAsync();

    private async Task<SyncReport> SyncAsync(string name)
    {
        var report = await new SyncEngine(_people[name].Store, _people[name].Account, await Connect(name), native: await NativeFor(name)).SyncAsync();
        Assert.Empty(report.Errors);
        return report;
    }

    /// <summary>The live documents of <paramref name="name"/>'s account, as its change feed lists them.</summary>
    private async Task<List<Api.DocumentInfo>> DocumentsAsync(string name)
    {
        var changes = (await (await Connect(name)).GetChangesAsync(0, 1000)).Changes;
        return changes.GroupBy(c => c.Id).Select(g => g.Last()).Where(c => !c.Deleted).ToList();
    }

    private async Task<int> SkippedKeysAsync(string name) => (await SessionsAsync(name)).SkippedKeyCount;

    [Fact]
    public async Task Without_a_verified_entry_or_when_the_bundle_fetch_fails_the_message_goes_pgp()
    {
        // The bundle fetch fails (alice's provider cannot be reached for it): PGP/MIME, and no session was started.
        using var nowhere = new HttpClient();
        var unreachable = new ProviderClient(nowhere, new Uri("https://nowhere.invalid/"),
            new DeviceCredentials("alpha.test", _people["alice"].Account.DeviceId!.Value, new byte[32]), new ProviderClientOptions { RequestTimeout = TimeSpan.FromSeconds(5) });
        var failed = Assert.Single(await SendAsync(await NativeFor("alice", unreachable), "bob@alpha.test", "Fetch failed"));
        Assert.Equal("pgp", Route(failed));
        Assert.Empty(await _people["alice"].Store.Keys.ListAsync(_people["alice"].Account.Id, NativeMail.SessionPurpose));

        // No verified entry: PGP/MIME without asking for bundles.
        var (store, alice) = _people["alice"];
        var untrusted = new NativeMail(store, alice, await Connect("alice"), (_, _) => Task.FromResult<IReadOnlyList<byte[]>?>(null));
        Assert.Equal("pgp", Route(Assert.Single(await SendAsync(untrusted, "bob@alpha.test", "No proof"))));
        Assert.Equal(4, (await (await Connect("bob")).GetPrekeyStatusAsync()).OneTimePrekeys);

        // A bundle for a device the entry does not list is never used.
        var aliceDirectory = Directory(await Connect("alice"));
        var wrongDevice = new NativeMail(store, alice, await Connect("alice"),
            (address, ct) => address == "bob@alpha.test" ? Task.FromResult<IReadOnlyList<byte[]>?>([new byte[32]]) : aliceDirectory(address, ct));
        Assert.Equal("pgp", Route(Assert.Single(await SendAsync(wrongDevice, "bob@alpha.test", "Wrong device"))));

        // Then, with everything in place, native; the next message reuses the session without fetching again.
        Assert.Equal("native", Route(Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "Native"))));
        int left = (await (await Connect("bob")).GetPrekeyStatusAsync()).OneTimePrekeys;
        Assert.Equal("native", Route(Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "Native again"))));
        Assert.Equal(left, (await (await Connect("bob")).GetPrekeyStatusAsync()).OneTimePrekeys);
    }

    [Fact]
    public async Task A_device_not_yet_in_its_own_entry_sends_pgp_and_native_mail_from_an_unlisted_device_is_delivered_unverified()
    {
        // Alice's device as one that joined after the last epoch: the entry lists bob's devices but not hers.
        var (store, alice) = _people["alice"];
        var aliceDirectory = Directory(await Connect("alice"));
        var notYetListed = new NativeMail(store, alice, await Connect("alice"),
            async (address, ct) => address == "alice@alpha.test" ? [new byte[32]] : await aliceDirectory(address, ct));
        Assert.Equal("pgp", Route(Assert.Single(await SendAsync(notYetListed, "bob@alpha.test", "Not listed yet"))));

        // A native message whose sending device bob's view of alice's entry does not list: its message keys are spent
        // once opened, so it is delivered (never dropped), end to end, with the sender shown as unverified.
        var copy = Assert.Single(await SendAsync(await NativeFor("alice"), "bob@alpha.test", "Unlisted sender"));
        Assert.Equal("native", Route(copy));
        await (await Connect("alice")).SubmitAsync(copy.From, copy.Recipients, copy.Message);
        var (bobStore, bob) = _people["bob"];
        var bobProvider = await Connect("bob");
        var bobDirectory = Directory(bobProvider);
        var bobNative = new NativeMail(bobStore, bob, bobProvider,
            async (address, ct) => address == "alice@alpha.test" ? [] : await bobDirectory(address, ct));
        var report = await new SyncEngine(bobStore, bob, bobProvider, native: bobNative).SyncAsync();
        Assert.Equal(1, report.Received);
        Assert.Empty(report.Errors);
        var message = Assert.Single(await bobStore.Mail(bob.Id).ListAsync((await bobStore.Mail(bob.Id).FindFolderAsync(FolderRole.Inbox))!.Id));
        Assert.Equal("Unlisted sender", message.Summary.Subject);
        Assert.Equal(EncryptionState.EndToEnd, message.Summary.Security.Encryption);
        Assert.Equal(SignatureState.UnknownKey, message.Summary.Security.Signature);
        Assert.True(message.Summary.Security.Native);
    }
}
