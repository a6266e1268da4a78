using System.Net;
using System.Text.Json;
using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Transparency;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp;
using Letterlock.Transparency;
using MimeKit;

namespace Letterlock.KeyTransparency.Tests;

/// <summary>
/// Issue 7's misbehaving provider: a double of the provider's directory and transparency endpoints that swaps
/// keys, shows different people different directories, and rewrites history. The clients, the verifier and the
/// auditor are the real ones; each attack must be caught.
/// </summary>
public sealed class MisbehavingProviderTests
{
    private const string Bob = "bob@example.test";
    private const string Alice = "alice@example.test";

    [Fact]
    public async Task A_silently_swapped_key_makes_the_owners_monitor_alert_and_the_cli_exit_with_4()
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork();
        var view = new MisbehavingProvider.View(fork);
        var endpoint = await provider.ServeAsync(view);
        await using var bob = await TestClient.CreateAsync(Bob, endpoint, new Uri($"https://127.0.0.1:{endpoint.Port}/"));
        await fork.PublishAsync((Bob, bob.KeySet, bob.Keys.OpenPgpCertificate));

        var first = await bob.MonitorAsync();
        Assert.True(first.Completed, first.Error);
        Assert.Empty(first.NewAlerts);

        // The provider swaps bob's OpenPGP and inbox keys for the attacker's, and nobody asked it to.
        var mallory = Mallory(bob.Own.DeviceKey);
        await fork.PublishAsync((Bob, mallory, null));
        var second = await bob.MonitorAsync();
        var alert = Assert.Single(second.NewAlerts);
        Assert.Equal(TransparencyAlertKind.UnexpectedKeyChange, alert.Kind);
        Assert.Equal(2UL, alert.Version);
        Assert.Contains("inbox key is not this account's", alert.Detail, StringComparison.Ordinal);
        Assert.Contains("OpenPGP key", alert.Detail, StringComparison.Ordinal);

        // Recorded in the store: a second round does not repeat it, and the CLI reports it with exit code 4.
        Assert.Empty((await bob.MonitorAsync()).NewAlerts);
        Assert.Single(await bob.AlertsAsync());
        string root = TestCa.WriteRootPem(bob.Dir.File("ca.pem"));
        var (exit, output, error) = await Cli.RunAsync("transparency", "check", "--data", bob.Dir.Path, "--key-file", bob.KeyFilePath, "--ca-cert", root);
        Assert.Equal(4, exit);
        Assert.Contains("ALERT", output, StringComparison.Ordinal);
        Assert.Contains("key-transparency alert", error, StringComparison.Ordinal);

        // Once the user has seen it, acknowledging clears the exit code; the evidence stays listed.
        Assert.Equal(0, (await Cli.RunAsync("transparency", "acknowledge", "--all", "--data", bob.Dir.Path, "--key-file", bob.KeyFilePath)).Exit);
        Assert.Equal(0, (await Cli.RunAsync("transparency", "check", "--data", bob.Dir.Path, "--key-file", bob.KeyFilePath, "--ca-cert", root)).Exit);
        Assert.Contains("UnexpectedKeyChange", (await Cli.RunAsync("transparency", "status", "--data", bob.Dir.Path, "--key-file", bob.KeyFilePath)).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_swap_undone_before_the_owner_looks_still_alerts_and_the_owners_own_changes_do_not()
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork();
        var endpoint = await provider.ServeAsync(new MisbehavingProvider.View(fork));
        await using var bob = await TestClient.CreateAsync(Bob, endpoint);
        await fork.PublishAsync((Bob, bob.KeySet, bob.Keys.OpenPgpCertificate));
        Assert.Empty((await bob.MonitorAsync()).NewAlerts);

        // Swapped for one epoch, then back: the current entry is bob's again, but version 2 is on record.
        await fork.PublishAsync((Bob, Mallory(bob.Own.DeviceKey), null));
        await fork.PublishAsync((Bob, bob.KeySet, null));
        var report = await bob.MonitorAsync();
        var alert = Assert.Single(report.NewAlerts);
        Assert.Equal(2UL, alert.Version);

        // A device bob added from another computer alerts too, until bob accepts it; then it is known.
        byte[] laptop = new byte[32];
        laptop[0] = 7;
        var withLaptop = new KeySet(bob.Own.OpenPgpFingerprint, bob.Own.InboxKey, [bob.Own.DeviceKey, laptop], false);
        await fork.PublishAsync((Bob, withLaptop, null));
        var deviceAlert = Assert.Single((await bob.MonitorAsync()).NewAlerts);
        Assert.Contains("1 device key(s)", deviceAlert.Detail, StringComparison.Ordinal);
        Assert.True(await bob.Service.AcceptAsync(deviceAlert.Id, default));
        var withLaptopAgain = new KeySet(bob.Own.OpenPgpFingerprint, bob.Own.InboxKey, [laptop, bob.Own.DeviceKey], false);
        await fork.PublishAsync((Bob, withLaptopAgain, null));
        Assert.Empty((await bob.MonitorAsync()).NewAlerts);
    }

    [Fact]
    public async Task A_change_hidden_under_an_old_version_number_fails_monitoring_and_the_audit()
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork();
        var endpoint = await provider.ServeAsync(new MisbehavingProvider.View(fork));
        await using var bob = await TestClient.CreateAsync(Bob, endpoint, new Uri($"https://127.0.0.1:{endpoint.Port}/"));
        await fork.PublishAsync((Bob, bob.KeySet, bob.Keys.OpenPgpCertificate));
        Assert.Empty((await bob.MonitorAsync()).NewAlerts);
        string root = TestCa.WriteRootPem(bob.Dir.File("ca.pem"));
        string state = bob.Dir.File("audit.db");
        Assert.Equal(0, (await Cli.RunAsync("audit", "--provider", $"https://127.0.0.1:{endpoint.Port}/", "--state", state, "--ca-cert", root)).Exit);

        // The provider replaces bob's leaf keeping version 1, hoping a client that knows version 1 looks no further.
        fork.HideVersionBumps.Add(Bob);
        await fork.PublishAsync((Bob, Mallory(bob.Own.DeviceKey), null));
        var report = await bob.MonitorAsync();
        var alert = Assert.Single(report.NewAlerts);
        Assert.Equal(TransparencyAlertKind.MonitoringProofFailed, alert.Kind);
        Assert.False(report.Completed);
        // The same unresolved failure, seen again after later epochs, stays one alert.
        await fork.PublishAsync(("carol@example.test", bob.KeySet, null));
        var again = await bob.MonitorAsync();
        Assert.False(again.Completed);
        Assert.Empty(again.NewAlerts);
        Assert.Single(await bob.AlertsAsync(), a => a.Kind == TransparencyAlertKind.MonitoringProofFailed);

        var (exit, _, error) = await Cli.RunAsync("audit", "--provider", $"https://127.0.0.1:{endpoint.Port}/", "--state", state, "--ca-cert", root);
        Assert.Equal(4, exit);
        Assert.Contains("BadVersion", error, StringComparison.Ordinal);
        Assert.True(File.Exists(state + ".evidence-epoch-1.bin"));
    }

    [Fact]
    public async Task A_split_view_is_detected_through_gossip_inside_encrypted_mail()
    {
        await using var provider = new MisbehavingProvider();
        var honest = provider.NewFork();
        var lying = provider.NewFork();
        var bobsView = await provider.ServeAsync(new MisbehavingProvider.View(honest));
        var alicesView = await provider.ServeAsync(new MisbehavingProvider.View(lying));
        await using var bob = await TestClient.CreateAsync(Bob, bobsView);
        await using var alice = await TestClient.CreateAsync(Alice, alicesView);
        var mallory = KeyGenerator.Generate($"Mallory <{Bob}>", ReadOnlySpan<char>.Empty).Certificate;

        await honest.PublishAsync((Bob, bob.KeySet, bob.Keys.OpenPgpCertificate), (Alice, alice.KeySet, alice.Keys.OpenPgpCertificate));
        await lying.PublishAsync((Bob, new KeySet(mallory.Fingerprint.ToBytes(), new byte[32], [], false), mallory.Export(armored: false)),
            (Alice, alice.KeySet, alice.Keys.OpenPgpCertificate));

        // Alice is shown mallory's key for bob with a valid proof: on its own the lie is undetectable...
        var entry = await DirectoryAsync(alice, Bob);
        var verdict = await alice.Service.VerifyAsync(Bob, KeyFingerprint.Parse(mallory.Fingerprint.Hex), new TransparencyEvidence("example.test", entry.Transparency!.LookupProof), default);
        Assert.Equal(TransparencyVerdict.Verified, verdict);
        // ...and bob, shown the honest tree, sees nothing wrong with his entry.
        Assert.Empty((await bob.MonitorAsync()).NewAlerts);

        // Bob writes to alice; his client puts his provider's head inside the encryption.
        await bob.Store.Contacts.ObserveKeyAsync(bob.Account.Id, Alice,
            new ObservedKey(KeyFingerprint.Parse(Certificate.Parse(alice.Keys.OpenPgpCertificate).Fingerprint.Hex), alice.Keys.OpenPgpCertificate, KeyOrigin.UserImport), TransparencyVerdict.Absent);
        var bobKey = await AccountKeys.LoadOpenPgpAsync(bob.Store, bob.Account.Id);
        var sent = await new OutgoingMailProcessor(bob.Store, bob.Account, bobKey, gossip: bob.Service)
            .SubmitAsync(System.Text.Encoding.ASCII.GetBytes($"From: {Bob}\r\nTo: {Alice}\r\nSubject: lunch\r\n\r\nAt noon?\r\n"), [Alice]);
        Assert.Equal(SendStatus.Queued, sent.Status);
        Assert.True(sent.Encrypted);
        var job = (await bob.Store.Jobs.ClaimAsync(QueuedMail.JobKind, TimeSpan.FromMinutes(1)))!;
        byte[] wire = QueuedMail.FromPayload(job.Payload).Message;
        Assert.DoesNotContain(HeadGossip.HeaderName, System.Text.Encoding.ASCII.GetString(wire), StringComparison.OrdinalIgnoreCase); // only inside

        var aliceKey = await AccountKeys.LoadOpenPgpAsync(alice.Store, alice.Account.Id);
        var received = await new IncomingMailProcessor(alice.Store, alice.Account, aliceKey, gossip: alice.Service).ProcessAsync(wire);
        Assert.Equal(EncryptionState.EndToEnd, received.Security.Encryption);
        Assert.DoesNotContain(HeadGossip.HeaderName, System.Text.Encoding.UTF8.GetString((await alice.Store.Mail(alice.Account.Id).ReadBodyAsync(received.Message.Id))!),
            StringComparison.OrdinalIgnoreCase);

        // Same epoch, two validly signed heads: proof of equivocation, kept and alerted.
        var conflict = Assert.Single(await alice.Service.State.GetConflictsAsync(default));
        Assert.Equal(TransparencyAlertKind.Equivocation, conflict.Kind);
        var verifier = new TransparencyVerifier("example.test", provider.AnnouncedSigningKey);
        Assert.Equal(HeadRelation.Equivocation, verifier.Relate(SignedTreeHead.FromBytes(conflict.First), SignedTreeHead.FromBytes(conflict.Second)));
        Assert.Contains(await alice.AlertsAsync(), a => a.Kind == TransparencyAlertKind.Equivocation);

        // Once the two views have moved apart by epochs, the consistency proof alice's view gets cannot join them.
        await honest.PublishAsync(("carol@example.test", alice.KeySet, null));
        await honest.PublishAsync(("dave@example.test", alice.KeySet, null));
        Assert.Equal(HeadCheck.Accepted, await bob.Service.RefreshHeadAsync("example.test", null, default));
        var later = (await bob.Service.HeadForOutgoingAsync(Bob, default))!;
        await alice.Service.ReceivedAsync([Convert.ToBase64String(later.ToBytes())], Bob, default);
        Assert.Contains(await alice.Service.State.GetConflictsAsync(default), c => c.Kind == TransparencyAlertKind.InconsistentHistory);
    }

    [Fact]
    public async Task Rewritten_history_fails_the_clients_consistency_check_and_the_audit()
    {
        await using var provider = new MisbehavingProvider();
        var original = provider.NewFork();
        var view = new MisbehavingProvider.View(original);
        var endpoint = await provider.ServeAsync(view);
        await using var alice = await TestClient.CreateAsync(Alice, endpoint);
        await using var bob = await TestClient.CreateAsync(Bob, endpoint);
        await original.PublishAsync((Bob, bob.KeySet, bob.Keys.OpenPgpCertificate), (Alice, alice.KeySet, alice.Keys.OpenPgpCertificate));
        await original.PublishAsync(("carol@example.test", alice.KeySet, null));
        var (verdict, entry, head) = await alice.Service.LookupAsync(Bob, default);
        Assert.Equal(TransparencyVerdict.Verified, verdict);
        Assert.Equal(bob.KeySet, entry!.Keys);
        Assert.Equal(1, head!.Epoch);
        string root = TestCa.WriteRootPem(alice.Dir.File("ca.pem"));
        string state = alice.Dir.File("audit.db");
        var audited = await Cli.RunAsync("audit", "--provider", $"https://127.0.0.1:{endpoint.Port}/", "--state", state, "--ca-cert", root);
        Assert.True(audited.Exit == 0, audited.Error);
        Assert.Contains("Verified epochs: 0..1", audited.Output, StringComparison.Ordinal);

        // The provider rebuilds its log from scratch with bob's key swapped in epoch 0, and carries on.
        var rewritten = provider.NewFork();
        await rewritten.PublishAsync((Bob, Mallory(bob.Own.DeviceKey), bob.Keys.OpenPgpCertificate), (Alice, alice.KeySet, alice.Keys.OpenPgpCertificate));
        await rewritten.PublishAsync(("carol@example.test", alice.KeySet, null));
        await rewritten.PublishAsync(("dave@example.test", alice.KeySet, null));
        view.Current = rewritten;

        (verdict, _, _) = await alice.Service.LookupAsync(Bob, default);
        Assert.Equal(TransparencyVerdict.Failed, verdict);
        var conflict = Assert.Single(await alice.Service.State.GetConflictsAsync(default));
        Assert.Equal(TransparencyAlertKind.InconsistentHistory, conflict.Kind);
        Assert.NotNull(conflict.ConsistencyProof);

        var (exit, _, error) = await Cli.RunAsync("audit", "--provider", $"https://127.0.0.1:{endpoint.Port}/", "--state", state, "--ca-cert", root);
        Assert.Equal(4, exit);
        Assert.Contains("epoch 2 does not verify", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_changed_provider_key_is_alerted_not_trusted()
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork();
        var endpoint = await provider.ServeAsync(new MisbehavingProvider.View(fork));
        await using var alice = await TestClient.CreateAsync(Alice, endpoint);
        await fork.PublishAsync((Alice, alice.KeySet, alice.Keys.OpenPgpCertificate));
        Assert.Empty((await alice.MonitorAsync()).NewAlerts);

        provider.AnnouncedSigningKey = new byte[32];
        Assert.False(await alice.Service.CheckProviderKeyAsync("example.test", null, default));
        Assert.Contains(await alice.AlertsAsync(), a => a.Kind == TransparencyAlertKind.ProviderKeyChanged);

        // A head signed by another key proves nothing: it is ignored, not recorded as a conflict.
        using var other = NSec.Cryptography.Key.Create(NSec.Cryptography.SignatureAlgorithm.Ed25519);
        var forged = SignedTreeHead.Sign(other, "example.test", 0, 1, default, default, provider.VrfKey.PublicKey);
        Assert.Equal(HeadCheck.Invalid, await alice.Service.ObserveHeadAsync("example.test", forged, "test", null, default));
        Assert.Empty(await alice.Service.State.GetConflictsAsync(default));
    }

    [Fact]
    public void Gossip_headers_are_bounded_and_malformed_ones_ignored()
    {
        using var key = NSec.Cryptography.Key.Create(NSec.Cryptography.SignatureAlgorithm.Ed25519);
        using var vrf = EcVrfSecretKey.Generate(out _);
        var head = SignedTreeHead.Sign(key, "example.test", 3, 1_700_000_000_000, default, default, vrf.PublicKey);
        var message = new MimeMessage { Body = new TextPart("plain") { Text = "hi" } };
        HeadGossip.Attach(message, head);
        string value = message.Body.Headers[HeadGossip.HeaderName]!;
        Assert.Equal(head, HeadGossip.TryParse(value));
        Assert.Equal(head, HeadGossip.TryParse(value[..40] + "\r\n " + value[40..])); // folded
        HeadGossip.Detach(message);
        Assert.Null(message.Body.Headers[HeadGossip.HeaderName]);

        Assert.Null(HeadGossip.TryParse("not base64!"));
        Assert.Null(HeadGossip.TryParse(Convert.ToBase64String(new byte[100])));
        Assert.Null(HeadGossip.TryParse(new string('A', HeadGossip.MaxValueLength + 4)));
        var many = new HeaderList();
        for (int i = 0; i < 10; i++)
        {
            many.Add(HeadGossip.HeaderName, value);
        }

        Assert.Equal(HeadGossip.MaxHeadsPerMessage, HeadGossip.Read(many).Count);
    }

    private static KeySet Mallory(byte[] deviceKey)
    {
        byte[] fingerprint = new byte[20];
        byte[] inbox = new byte[32];
        fingerprint[0] = 0x66;
        inbox[0] = 0x66;
        return new KeySet(fingerprint, inbox, [deviceKey], false);
    }

    private static async Task<Letterlock.Api.DirectoryEntry> DirectoryAsync(TestClient client, string address)
    {
        var response = await client.Http.GetAsync(new Uri($"https://example.test/v1/directory/{address}"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonSerializer.Deserialize(await response.Content.ReadAsByteArrayAsync(), ApiJsonContext.Default.DirectoryEntry)!;
    }
}
