using System.Security.Cryptography.X509Certificates;
using Letterlock.Bridge;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Transparency;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Transparency;
using Letterlock.Transparency;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Letterlock.KeyTransparency.Tests;

/// <summary>The bridge's notice, paging limits of monitoring, <c>audit --follow</c>, and the transparency settings at their edges.</summary>
public sealed class WatchAndLimitTests
{
    private const string Bob = "bob@example.test";

    [Fact]
    public async Task The_bridge_turns_an_alert_into_a_notice_every_mail_app_shows()
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork();
        var endpoint = await provider.ServeAsync(new MisbehavingProvider.View(fork));
        await using var bob = await TestClient.CreateAsync(Bob, endpoint);
        await fork.PublishAsync((Bob, bob.KeySet, bob.Keys.OpenPgpCertificate));
        byte[] otherInbox = new byte[32];
        otherInbox[5] = 9;
        await fork.PublishAsync((Bob, new KeySet(bob.Own.OpenPgpFingerprint, otherInbox, [bob.Own.DeviceKey], false), null));

        // The bridge checks at start-up: the swapped inbox key becomes a flagged message in bob's INBOX.
        var map = new StaticHostMap { AllowSystemDns = false }.Add("example.test", endpoint);
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var bridge = await BridgeHost.StartAsync(bob.Store, new BridgeOptions
        {
            ImapPort = 0, SmtpPort = 0, HostMap = map, TrustedRoots = new X509Certificate2Collection(TestCa.Ca.Root), SyncInterval = null, SyncLog = log.Enqueue,
        });
        var settings = Assert.Single(await bridge.GetSettingsAsync());
        var inbox = (await bob.Store.Mail(bob.Account.Id).FindFolderAsync(FolderRole.Inbox))!;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await bob.Store.Mail(bob.Account.Id).ListAsync(inbox.Id)).Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.True((await bob.Store.Mail(bob.Account.Id).ListAsync(inbox.Id)).Count > 0, "no notice within 60 s; bridge log:\n" + string.Join("\n", log));

        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => c is not null };
        await imap.ConnectAsync(settings.ImapHost, settings.ImapPort, SecureSocketOptions.StartTls);
        await imap.AuthenticateAsync(settings.UserName, settings.Password);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var summary = Assert.Single(await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags | MessageSummaryItems.UniqueId));
        Assert.Contains("published keys you did not make", summary.Envelope!.Subject ?? "", StringComparison.Ordinal);
        Assert.True(summary.Flags!.Value.HasFlag(MessageFlags.Flagged));
        var message = await imap.Inbox.GetMessageAsync(summary.UniqueId);
        Assert.Contains("letterlock transparency accept", message.TextBody ?? "", StringComparison.Ordinal);
        Assert.Contains(log, line => line.Contains("KEY TRANSPARENCY ALERT", StringComparison.Ordinal));
        await imap.DisconnectAsync(true);
    }

    [Fact]
    public async Task Monitoring_pages_through_long_histories_within_its_page_limit_and_resumes()
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork(TransparencyLimits.Default with { MaxMonitorEntries = 2 });
        var endpoint = await provider.ServeAsync(new MisbehavingProvider.View(fork));
        await using var bob = await TestClient.CreateAsync(Bob, endpoint);
        for (int i = 0; i < 6; i++)
        {
            await fork.PublishAsync((Bob, bob.KeySet, bob.Keys.OpenPgpCertificate)); // six versions of bob's own key set
        }

        var service = new TransparencyService(bob.Store, bob.Http, new TransparencyOptions { MaxMonitorPages = 2 });
        var first = await service.MonitorAsync(Bob, bob.Own, bob.Account.CreatedAt, null, default);
        Assert.False(first.Completed);
        Assert.Contains("more than 2 pages", first.Error, StringComparison.Ordinal);
        Assert.Equal(4UL, (await service.State.GetOwnAddressAsync(Bob, default))!.KnownVersion);

        var second = await service.MonitorAsync(Bob, bob.Own, bob.Account.CreatedAt, null, default);
        Assert.True(second.Completed, second.Error);
        Assert.Empty(second.NewAlerts);
        var state = (await service.State.GetOwnAddressAsync(Bob, default))!;
        Assert.Equal(6UL, state.KnownVersion);
        Assert.Equal(6, state.NextEpoch);
    }

    [Fact]
    public async Task Audit_follow_keeps_auditing_until_the_provider_misbehaves()
    {
        await using var provider = new MisbehavingProvider();
        var fork = provider.NewFork();
        var endpoint = await provider.ServeAsync(new MisbehavingProvider.View(fork));
        using var dir = new TempDir();
        string root = TestCa.WriteRootPem(dir.File("ca.pem"));
        string state = dir.File("view.db");
        var keys = new KeySet(new byte[20], new byte[32], [], false);
        await fork.PublishAsync(("a@example.test", keys, null));
        var follow = Cli.RunAsync("audit", "--provider", $"https://127.0.0.1:{endpoint.Port}/", "--state", state, "--ca-cert", root, "--follow", "--interval", "1");

        await WaitForEpochAsync(state, 0, follow);
        await fork.PublishAsync(("b@example.test", keys, null));
        await WaitForEpochAsync(state, 1, follow);

        // Then a change reusing a version number: the follower stops with exit code 4.
        fork.HideVersionBumps.Add("a@example.test");
        await fork.PublishAsync(("a@example.test", keys, null));
        var (exit, _, error) = await follow.WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(4, exit);
        Assert.Contains("epoch 2 does not verify", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_refuses_bad_arguments_and_an_unreachable_provider_with_clear_exit_codes()
    {
        using var dir = new TempDir();
        Assert.Equal(2, (await Cli.RunAsync("audit", "--provider", "http://example.org/")).Exit);
        Assert.Equal(2, (await Cli.RunAsync("audit", "--provider", "https://example.org/", "--signing-key", "AAAA")).Exit);
        Assert.Equal(2, (await Cli.RunAsync("audit", "--provider", "https://example.org/", "--interval", "0")).Exit);
        var unreachable = await Cli.RunAsync("audit", "--provider", "https://127.0.0.1:1/", "--state", dir.File("v.db"));
        Assert.Equal(3, unreachable.Exit);
        Assert.Contains("not a reachable Letterlock provider", unreachable.Error, StringComparison.Ordinal);
        Assert.Contains("Example", (await Cli.RunAsync("audit", "--help")).Output, StringComparison.Ordinal);
        Assert.Contains("Example", (await Cli.RunAsync("transparency", "check", "--help")).Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("EpochIntervalSeconds", 0, "transparency.epochIntervalSeconds")]
    [InlineData("EpochIntervalSeconds", 86_401, "transparency.epochIntervalSeconds")]
    [InlineData("MaxChangesPerEpoch", 0, "transparency.maxChangesPerEpoch")]
    [InlineData("MaxChangesPerEpoch", 1_000_001, "transparency.maxChangesPerEpoch")]
    [InlineData("MaxHeadsPerPage", 100_001, "transparency.maxHeadsPerPage")]
    [InlineData("MaxMonitorEntries", 1025, "transparency.maxMonitorEntries")]
    [InlineData("NodeCacheSize", -1, "transparency.nodeCacheSize")]
    public void Transparency_settings_fail_past_their_edges_naming_the_setting(string property, int value, string setting)
    {
        var settings = new TransparencySettings();
        typeof(TransparencySettings).GetProperty(property)!.SetValue(settings, value);
        var e = Assert.Throws<SettingsException>(() => TransparencySettings.Validate(settings));
        Assert.Contains(setting, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Transparency_settings_accept_their_edges()
    {
        TransparencySettings.Validate(new TransparencySettings { EpochIntervalSeconds = 1, MaxChangesPerEpoch = 1, MaxHeadsPerPage = 1, MaxMonitorEntries = 1, NodeCacheSize = 0 });
        TransparencySettings.Validate(new TransparencySettings
        {
            EpochIntervalSeconds = 86_400, MaxChangesPerEpoch = 1_000_000, MaxHeadsPerPage = 100_000, MaxMonitorEntries = 1024, NodeCacheSize = 10_000_000,
        });
    }

    [Fact]
    public void Addresses_are_canonicalised_the_same_way_everywhere()
    {
        Assert.Equal("bob@example.test", TransparencyAddress.TryCanonicalize("  Bob@Example.TEST "));
        Assert.Null(TransparencyAddress.TryCanonicalize("bob"));
        Assert.Null(TransparencyAddress.TryCanonicalize("@example.test"));
        Assert.Null(TransparencyAddress.TryCanonicalize("bob@"));
        Assert.Null(TransparencyAddress.TryCanonicalize("b@b@example.test"));
        Assert.Null(TransparencyAddress.TryCanonicalize("b ob@example.test"));
        string local = new('a', 320 - "@example.test".Length);
        Assert.NotNull(TransparencyAddress.TryCanonicalize(local + "@example.test"));
        Assert.Null(TransparencyAddress.TryCanonicalize(local + "a@example.test"));
        Assert.Equal(Letterlock.Client.MailAddress.Normalize("Bob@Example.TEST"), TransparencyAddress.Canonicalize("Bob@Example.TEST"));
    }

    private static async Task WaitForEpochAsync(string statePath, long epoch, Task running)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(running.IsCompleted, "the follower stopped early");
            if (File.Exists(statePath))
            {
                try
                {
                    await using var view = new SqlTransparencyStore(new SqliteTransparencyDatabase(statePath), 0);
                    if (await view.GetLatestHeadAsync(default) is { } head && head.Epoch >= epoch)
                    {
                        return;
                    }
                }
                catch (Microsoft.Data.Sqlite.SqliteException)
                {
                    // the follower is creating the tables
                }
            }

            await Task.Delay(100);
        }

        Assert.Fail($"the follower did not reach epoch {epoch}");
    }
}
