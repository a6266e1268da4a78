using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Bridge;
using Letterlock.Client.Discovery;
using Letterlock.Client.Mail;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Transparency;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;
using Letterlock.Transparency;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.KeyTransparency.Tests;

/// <summary>
/// What a lying provider does is caught by the cryptography; these tests pin that the person learns of it: every alert
/// reaches the mail app (a flagged notice) and the bridge's output, once per incident, with where the evidence is; a
/// directory key without a valid publication is never used; mail sealed to a key the device does not hold is alerted
/// and kept; a log that goes back in time is an alert at once; monitoring follows the provider's interval; and an
/// auditor calls a provider that cannot serve its own history misbehaving.
/// </summary>
public sealed class AlertsReachThePersonTests
{
    private const string Alice = "alice@example.test";
    private const string Bob = "bob@example.test";
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData("split-view-through-gossip")]
    [InlineData("rewritten-history")]
    [InlineData("rollback")]
    public async Task Every_alert_about_a_lying_provider_reaches_the_mail_app_and_the_bridge_output_once(string incident)
    {
        await using var provider = new MisbehavingProvider();
        var original = provider.NewFork();
        var view = new MisbehavingProvider.View(original);
        var endpoint = await provider.ServeAsync(view);
        await using var alice = await TestClient.CreateAsync(Alice, endpoint);
        var bobKey = KeyGenerator.Generate($"Bob <{Bob}>", ReadOnlySpan<char>.Empty).Certificate;
        await original.PublishAsync((Alice, alice.KeySet, alice.Keys.OpenPgpCertificate), (Bob, BobKeys(bobKey), bobKey.Export(armored: false)));
        await original.PublishAsync(("carol@example.test", alice.KeySet, null));
        Assert.Equal(TransparencyVerdict.Verified, (await alice.Service.LookupAsync(Bob, default)).Verdict); // alice holds epoch 1

        switch (incident)
        {
            case "split-view-through-gossip":
                var other = provider.NewFork();
                await other.PublishAsync((Bob, alice.KeySet, null));
                var otherHead = await other.PublishAsync(("dave@example.test", alice.KeySet, null));
                await alice.Service.ReceivedAsync([Convert.ToBase64String(otherHead.ToBytes())], Bob, default);
                break;
            case "rewritten-history":
                var rewritten = provider.NewFork();
                await rewritten.PublishAsync((Bob, alice.KeySet, bobKey.Export(armored: false)), (Alice, alice.KeySet, alice.Keys.OpenPgpCertificate));
                await rewritten.PublishAsync(("carol@example.test", alice.KeySet, null));
                await rewritten.PublishAsync(("dave@example.test", alice.KeySet, null));
                view.Current = rewritten;
                await alice.Service.LookupAsync(Bob, default);
                break;
            default:
                var older = provider.NewFork();
                await older.PublishAsync((Alice, alice.KeySet, alice.Keys.OpenPgpCertificate), (Bob, BobKeys(bobKey), bobKey.Export(armored: false)));
                view.Current = older;
                await alice.Service.RefreshHeadAsync("example.test", null, default);
                break;
        }

        Assert.NotEmpty(await alice.AlertsAsync());

        // The bridge starts (no monitoring round, no sync): what is pending reaches the mail app and the output.
        var log = new ConcurrentQueue<string>();
        await using (var bridge = await StartBridgeAsync(alice, endpoint, log))
        {
            var notice = await WaitForNoticeAsync(alice, log);
            Assert.Contains("example.test", notice.Summary.Subject, StringComparison.Ordinal);
            Assert.Contains("\\Flagged", notice.Flags);
            string body = System.Text.Encoding.UTF8.GetString((await alice.Store.Mail(alice.Account.Id).ReadBodyAsync(notice.Id))!);
            Assert.Contains("Evidence: kept in this client's store as evidence", body, StringComparison.Ordinal);
            Assert.Single(log, line => line.Contains("KEY TRANSPARENCY ALERT", StringComparison.Ordinal) && line.Contains("Evidence: kept", StringComparison.Ordinal));
        }

        // Once per incident: a restart delivers nothing again.
        await using (var again = await StartBridgeAsync(alice, endpoint, log))
        {
            Assert.Empty(await new TransparencyNotices(alice.Store, alice.Service.State).DeliverPendingAsync(default));
            Assert.Single(await InboxAsync(alice));
            Assert.Single(log, line => line.Contains("KEY TRANSPARENCY ALERT", StringComparison.Ordinal));
        }

        // The evidence is where the notice says: exported by id.
        var alert = Assert.Single(await alice.AlertsAsync(), a => a.EvidenceId is not null);
        string folder = alice.Dir.File("evidence");
        var status = await Cli.RunAsync("transparency", "status", "--evidence", folder, "--data", alice.Dir.Path, "--key-file", alice.KeyFilePath);
        Assert.Equal(4, status.Exit);
        Assert.True(File.Exists(Path.Combine(folder, $"{alert.EvidenceId}-first.head")), status.Output);
        Assert.True(File.Exists(Path.Combine(folder, $"{alert.EvidenceId}-second.head")), status.Output);
    }

    [Fact]
    public async Task A_log_that_goes_back_in_time_is_an_alert_at_once_also_from_monitoring()
    {
        await using var provider = new MisbehavingProvider();
        var original = provider.NewFork();
        var view = new MisbehavingProvider.View(original);
        var endpoint = await provider.ServeAsync(view);
        await using var bob = await TestClient.CreateAsync(Bob, endpoint);
        await original.PublishAsync((Bob, bob.KeySet, bob.Keys.OpenPgpCertificate));
        await original.PublishAsync(("carol@example.test", bob.KeySet, null));
        await original.PublishAsync(("dave@example.test", bob.KeySet, null));
        Assert.True((await bob.MonitorAsync()).Completed);

        // Restored from an old backup: epochs 0 and 1 only. The next monitoring round asks from epoch 3 and is refused.
        var restored = provider.NewFork();
        await restored.PublishAsync((Bob, bob.KeySet, bob.Keys.OpenPgpCertificate));
        await restored.PublishAsync(("carol@example.test", bob.KeySet, null));
        view.Current = restored;
        var report = await bob.MonitorAsync();
        Assert.False(report.Completed);
        var alert = Assert.Single(await bob.AlertsAsync());
        Assert.Equal(TransparencyAlertKind.Rollback, alert.Kind);
        Assert.Contains("went back in time", alert.Detail, StringComparison.Ordinal);
        var conflict = Assert.Single(await bob.Service.State.GetConflictsAsync(default));
        Assert.Equal(alert.EvidenceId, conflict.Id);
        Assert.Equal((2L, 1L), (SignedTreeHead.FromBytes(conflict.First).Epoch, SignedTreeHead.FromBytes(conflict.Second).Epoch));
        Assert.Empty((await bob.MonitorAsync()).NewAlerts); // still one incident
        Assert.Single(await bob.AlertsAsync());
    }

    [Fact]
    public async Task Monitoring_follows_the_providers_epoch_interval()
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork();
        var endpoint = await provider.ServeAsync(new MisbehavingProvider.View(fork) { EpochIntervalSeconds = 2 });
        await using var bob = await TestClient.CreateAsync(Bob, endpoint);
        await fork.PublishAsync((Bob, bob.KeySet, bob.Keys.OpenPgpCertificate));
        var watch = new TransparencyWatch(bob.Store, bob.Service);
        Assert.True(Assert.Single(await watch.CheckAllAsync(default)).Completed);
        Assert.Equal(TimeSpan.FromSeconds(2), await watch.NextIntervalAsync(default));
    }

    [Fact]
    public async Task A_provider_that_cannot_serve_its_own_history_fails_the_audit_as_misbehaviour()
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork();
        var view = new MisbehavingProvider.View(fork);
        var endpoint = await provider.ServeAsync(view);
        using var dir = new TempDir();
        string root = TestCa.WriteRootPem(dir.File("ca.pem"));
        var keys = new KeySet(new byte[20], new byte[32], [], false);
        await fork.PublishAsync(("a@example.test", keys, null));
        await fork.PublishAsync(("b@example.test", keys, null));
        await fork.PublishAsync(("c@example.test", keys, null));
        view.BrokenEpochs.Add(1); // a stored epoch the provider answers with HTTP 500

        string state = dir.File("view.db");
        var (exit, _, error) = await Cli.RunAsync("audit", "--provider", $"https://127.0.0.1:{endpoint.Port}/", "--state", state, "--ca-cert", root);
        Assert.Equal(4, exit);
        Assert.Contains("cannot serve its own epoch 1", error, StringComparison.Ordinal);
        Assert.True(File.Exists(state + ".evidence-head-2.bin"), error);

        // Served again, the audit goes through.
        view.BrokenEpochs.Clear();
        var (ok, output, _) = await Cli.RunAsync("audit", "--provider", $"https://127.0.0.1:{endpoint.Port}/", "--state", state, "--ca-cert", root);
        Assert.Equal(0, ok);
        Assert.Contains("Verified epochs: 0..2", output, StringComparison.Ordinal);
    }

    public static TheoryData<string> DirectoryLies() => new() { "proof-for-another-key", "no-proof", "proof-that-does-not-verify" };

    [Theory]
    [MemberData(nameof(DirectoryLies))]
    public async Task A_directory_key_without_a_valid_publication_is_never_used_and_is_alerted_with_its_evidence(string lie)
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork();
        var view = new MisbehavingProvider.View(fork);
        var endpoint = await provider.ServeAsync(view);
        await using var alice = await TestClient.CreateAsync(Alice, endpoint);
        var bobKey = KeyGenerator.Generate($"Bob <{Bob}>", ReadOnlySpan<char>.Empty).Certificate;
        var mallory = KeyGenerator.Generate($"Bob <{Bob}>", ReadOnlySpan<char>.Empty).Certificate;
        await fork.PublishAsync((Alice, alice.KeySet, alice.Keys.OpenPgpCertificate));
        switch (lie)
        {
            case "proof-for-another-key":
                await fork.PublishAsync((Bob, BobKeys(bobKey), mallory.Export(armored: false))); // the log shows bob's key, the directory serves mallory's
                break;
            case "no-proof":
                view.OmitProofs = true;
                await fork.PublishAsync((Bob, BobKeys(mallory), mallory.Export(armored: false)));
                Assert.Equal(TransparencyVerdict.Verified, (await alice.Service.LookupAsync(Alice, default)).Verdict); // alice knows the provider publishes
                break;
            default:
                // Bob's entry is mallory's key, but the directory hands out carol's proof with it: a proof that does not
                // verify for bob's address.
                await fork.PublishAsync((Bob, BobKeys(mallory), mallory.Export(armored: false)), ("carol@example.test", BobKeys(mallory), null));
                view.ServeProofOf = "carol@example.test";
                break;
        }

        var outcome = await SendAsync(alice, Bob);
        Assert.Equal(SendStatus.RefusedUnpublishedKey, outcome.Status);
        var contact = (await alice.Store.Contacts.GetAsync(alice.Account.Id, Bob))!;
        Assert.Equal(KeyValidationLevel.Changed, contact.KeyState.Level);
        Assert.Null(contact.KeyState.EncryptionKey);
        Assert.True(contact.KeyState.PendingKeyIsUnpublished);
        var alert = Assert.Single(await alice.AlertsAsync(), a => a.Kind == TransparencyAlertKind.DirectoryProofFailed);
        Assert.Equal(Bob, alert.Address);
        Assert.Contains("served a key it has not published", alert.Detail, StringComparison.Ordinal);
        var evidence = Assert.Single(await alice.Service.State.GetEvidenceAsync(default));
        Assert.Equal(alert.EvidenceId, evidence.Id);
        Assert.Equal(mallory.Export(armored: false), evidence.Items.Single(i => i.Name == "served-certificate.pgp").Content);

        // A second send neither encrypts nor alerts again.
        Assert.Equal(SendStatus.RefusedUnpublishedKey, (await SendAsync(alice, Bob)).Status);
        Assert.Single(await alice.AlertsAsync(), a => a.Kind == TransparencyAlertKind.DirectoryProofFailed);
    }

    [Theory]
    [InlineData(KeyValidationLevel.Transparent)]
    [InlineData(KeyValidationLevel.Tofu)]
    public async Task A_replaced_key_the_provider_has_not_published_is_named_as_such_and_a_transparent_pin_keeps_working(KeyValidationLevel pinned)
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork();
        var view = new MisbehavingProvider.View(fork);
        var endpoint = await provider.ServeAsync(view);
        await using var alice = await TestClient.CreateAsync(Alice, endpoint);
        var bobKey = KeyGenerator.Generate($"Bob <{Bob}>", ReadOnlySpan<char>.Empty);
        await fork.PublishAsync((Alice, alice.KeySet, alice.Keys.OpenPgpCertificate), (Bob, BobKeys(bobKey.Certificate), bobKey.Certificate.Export(armored: false)));
        if (pinned == KeyValidationLevel.Transparent)
        {
            Assert.Equal(SendStatus.Queued, (await SendAsync(alice, Bob)).Status);
        }
        else
        {
            await alice.Store.Contacts.ObserveKeyAsync(alice.Account.Id, Bob, new ObservedKey(KeyFingerprint.Parse(bobKey.Certificate.Fingerprint.Hex),
                bobKey.Certificate.Export(armored: false), KeyOrigin.Wkd), TransparencyVerdict.Absent);
        }

        Assert.Equal(pinned, (await alice.Store.Contacts.GetAsync(alice.Account.Id, Bob))!.KeyState.Level);

        // The directory now serves another key for bob, "pending", while its log still shows bob's.
        var replacement = KeyGenerator.Generate($"Bob <{Bob}>", ReadOnlySpan<char>.Empty).Certificate;
        await fork.PublishAsync((Bob, BobKeys(bobKey.Certificate), replacement.Export(armored: false)));
        view.ClaimPending = true;
        var outcome = await SendAsync(alice, Bob);
        var state = (await alice.Store.Contacts.GetAsync(alice.Account.Id, Bob))!.KeyState;
        Assert.Contains(await alice.Store.Contacts.HistoryAsync(alice.Account.Id, Bob), t => t.Reason == KeyTransitionReason.UnpublishedKey);
        if (pinned == KeyValidationLevel.Transparent)
        {
            Assert.Equal((SendStatus.Queued, true), (outcome.Status, outcome.Encrypted));
            Assert.Equal(bobKey.Certificate.Fingerprint.Hex, state.EncryptionKey!.Fingerprint.Hex);
            var job = (await alice.Store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1)))!;
            var queued = QueuedMail.FromPayload(job.Payload);
            Assert.Equal(Letterlock.OpenPgp.Mime.EncryptionStatus.Encrypted, new Letterlock.OpenPgp.Mime.PgpMimeReader()
                .Read(new MemoryStream(queued.Message), new Letterlock.OpenPgp.Mime.ReadContext { Keys = [bobKey.SecretKey.Unlock()] }).Security.Encryption);
        }
        else
        {
            Assert.Equal(SendStatus.RefusedUnpublishedKey, outcome.Status);
            Assert.Equal(KeyTransitionReason.UnpublishedKey, state.PendingReason);
        }

        // Published at last: the proof settles it, and the key is used.
        view.ClaimPending = false;
        await fork.PublishAsync((Bob, BobKeys(replacement), replacement.Export(armored: false)));
        var settled = await SendAsync(alice, Bob);
        Assert.Equal((SendStatus.Queued, true), (settled.Status, settled.Encrypted));
        Assert.Equal(replacement.Fingerprint.Hex, (await alice.Store.Contacts.GetAsync(alice.Account.Id, Bob))!.KeyState.EncryptionKey!.Fingerprint.Hex);
    }

    [Fact]
    public async Task Mail_sealed_to_an_inbox_key_this_device_does_not_hold_is_alerted_and_kept()
    {
        await using var provider = await KtProvider.StartAsync(Backend.Sqlite, null!);
        await using var bob = await provider.RegisterAsync(Bob);

        // The inbox key at the provider is swapped for one bob's device never had.
        using var swapped = Letterlock.Cryptography.HpkeKeyPair.Generate();
        var client = await bob.ConnectAsync();
        var certificate = (await AccountKeys.LoadOpenPgpAsync(bob.Store, bob.Account.Id)).Certificate.Export(armored: false);
        await client.UpdateKeysAsync(new Letterlock.Api.UpdateKeysRequest(certificate, swapped.PublicKey.ToArray()));
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("carol@elsewhere.test"));
        message.To.Add(MailboxAddress.Parse(Bob));
        message.Subject = "for bob";
        message.Body = new TextPart("plain") { Text = "hello" };
        using (var smtp = new SmtpClient())
        {
            await smtp.ConnectAsync("127.0.0.1", provider.Host.SmtpEndPoint.Port, SecureSocketOptions.None);
            await smtp.SendAsync(message);
            await smtp.DisconnectAsync(true);
        }

        var log = new ConcurrentQueue<string>();
        await using var bridge = await BridgeHost.StartAsync(bob.Store, new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, HostMap = bob.Map, TrustedRoots = new X509Certificate2Collection(TestCa.Ca.Root), SyncInterval = null,
            MonitorTransparency = false, SyncLog = log.Enqueue,
        });
        await bridge.SyncOnceAsync(log.Enqueue);
        var notice = await WaitForNoticeAsync(bob.Store, bob.Account, log);
        Assert.Contains("sealed to a key this device does not hold", notice.Summary.Subject, StringComparison.Ordinal);
        Assert.Contains("\\Flagged", notice.Flags);
        Assert.Contains(log, line => line.Contains("KEY TRANSPARENCY ALERT", StringComparison.Ordinal) && line.Contains("InboxKeyUnknown", StringComparison.Ordinal));

        // The document stays at the provider, and syncing again is the same incident.
        var changes = await client.GetChangesAsync(0, 100, 0);
        Assert.Contains(changes.Changes, c => c.Kind == "inbox" && !c.Deleted);
        await bridge.SyncOnceAsync(log.Enqueue);
        Assert.Empty(await new TransparencyNotices(bob.Store, new TransparencyState(bob.Store)).DeliverPendingAsync(default));
        var inbox = (await bob.Store.Mail(bob.Account.Id).FindFolderAsync(FolderRole.Inbox))!;
        Assert.Single(await bob.Store.Mail(bob.Account.Id).ListAsync(inbox.Id));
    }

    private static KeySet BobKeys(Certificate certificate) => new(certificate.Fingerprint.ToBytes(), new byte[32], [], false);

    private static async Task<SendOutcome> SendAsync(TestClient client, string to)
    {
        var options = new KeyDiscoveryOptions { SourceOrder = [KeyOrigin.ProviderDirectory] };
        var resolver = new ContactKeyResolver(client.Store, client.Account.Id, new KeyDiscovery([new DirectoryKeySource(client.Http, options)], options), client.Service);
        var key = await AccountKeys.LoadOpenPgpAsync(client.Store, client.Account.Id);
        return await new OutgoingMailProcessor(client.Store, client.Account, key, resolver)
            .SubmitAsync(System.Text.Encoding.ASCII.GetBytes($"From: {client.Account.Address}\r\nTo: {to}\r\nSubject: hi\r\n\r\nhello\r\n"), [to]);
    }

    private static Task<BridgeHost> StartBridgeAsync(TestClient client, IPEndPoint endpoint, ConcurrentQueue<string> log) =>
        BridgeHost.StartAsync(client.Store, new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, HostMap = new StaticHostMap { AllowSystemDns = false }.Add("example.test", endpoint),
            TrustedRoots = new X509Certificate2Collection(TestCa.Ca.Root), SyncInterval = null, MonitorTransparency = false, SyncLog = log.Enqueue,
        });

    private static Task<StoredMessage> WaitForNoticeAsync(TestClient client, ConcurrentQueue<string> log) => WaitForNoticeAsync(client.Store, client.Account, log);

    private static async Task<StoredMessage> WaitForNoticeAsync(LocalStore store, AccountRecord account, ConcurrentQueue<string> log)
    {
        var mail = store.Mail(account.Id);
        var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
        var deadline = DateTime.UtcNow + Generous;
        while (DateTime.UtcNow < deadline)
        {
            // The notice commits before the bridge prints its line: wait for both.
            if ((await mail.ListAsync(inbox.Id)).FirstOrDefault() is { } notice && log.Any(line => line.Contains("KEY TRANSPARENCY ALERT", StringComparison.Ordinal)))
            {
                return notice;
            }

            await Task.Delay(50); // polls for the bridge's notice; the deadline only bounds a hang
        }

        throw new Xunit.Sdk.XunitException($"no notice within {Generous.TotalSeconds} s; bridge log:\n" + string.Join("\n", log));
    }

    private static async Task<IReadOnlyList<StoredMessage>> InboxAsync(TestClient client)
    {
        var inbox = (await client.Store.Mail(client.Account.Id).FindFolderAsync(FolderRole.Inbox))!;
        return await client.Store.Mail(client.Account.Id).ListAsync(inbox.Id);
    }
}
