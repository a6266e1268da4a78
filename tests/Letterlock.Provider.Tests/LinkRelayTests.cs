using System.Net;
using System.Net.Http.Json;
using Letterlock.Api;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Link;

namespace Letterlock.Provider.Tests;

/// <summary>
/// The device-link relay: expiry, message size, open-link and per-client limits, each at its edge; messages are
/// write-once. The relay itself is storage-free, so the unit part runs on a clock the test moves.
/// </summary>
public sealed class LinkRelayTests
{
    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task A_link_lives_exactly_its_lifetime_and_holds_write_once_messages_up_to_the_size_limit()
    {
        var clock = new ManualClock();
        var relay = new LinkRelay(new LinkSettings { LifetimeSeconds = 60, MaxMessageBytes = 100, MaxOpenLinks = 2 }, clock);
        var link = relay.Start()!;
        Assert.Equal(clock.Now.AddSeconds(60), link.ExpiresAt);
        Assert.Equal(16, link.SessionId.Length);

        // Size: at the limit stored, one over refused.
        Assert.Equal(LinkWrite.Stored, relay.Write(link.Slot, LinkParty.NewDevice, 0, new byte[100]));
        Assert.Equal(LinkWrite.Invalid, relay.Write(link.Slot, LinkParty.Approver, 0, new byte[101]));
        Assert.Equal(LinkWrite.Invalid, relay.Write(link.Slot, LinkParty.Approver, LinkRelay.MessagesPerParty, new byte[1]));

        // Write once: a second write of the same message is refused, the first stays.
        Assert.Equal(LinkWrite.AlreadyWritten, relay.Write(link.Slot, LinkParty.NewDevice, 0, new byte[] { 1 }));
        var (found, data) = await relay.ReadAsync(link.Slot.ToLowerInvariant(), LinkParty.NewDevice, 0, TimeSpan.Zero, CancellationToken.None);
        Assert.True(found);
        Assert.Equal(new byte[100], data);
        (found, data) = await relay.ReadAsync(link.Slot, LinkParty.Approver, 0, TimeSpan.Zero, CancellationToken.None);
        Assert.True(found);
        Assert.Null(data);

        // Open links: at the limit a start is refused.
        Assert.NotNull(relay.Start());
        Assert.Null(relay.Start());

        // Expiry: one tick before, still there; at the expiry, gone for reads, writes and look-ups.
        clock.Now = link.ExpiresAt.AddTicks(-1);
        Assert.NotNull(relay.Find(link.Slot));
        clock.Now = link.ExpiresAt;
        Assert.Null(relay.Find(link.Slot));
        Assert.Equal(LinkWrite.NotFound, relay.Write(link.Slot, LinkParty.Approver, 0, new byte[1]));
        (found, _) = await relay.ReadAsync(link.Slot, LinkParty.NewDevice, 0, TimeSpan.Zero, CancellationToken.None);
        Assert.False(found);
        Assert.NotNull(relay.Start()); // the expired ones no longer count
        Assert.Equal(0, relay.OpenCount - 1);
    }

    [Fact]
    public async Task A_waiting_reader_is_woken_by_the_write_and_an_ended_link_is_gone()
    {
        var relay = new LinkRelay(new LinkSettings(), TimeProvider.System);
        var link = relay.Start()!;
        var waiting = relay.ReadAsync(link.Slot, LinkParty.Approver, 1, TimeSpan.FromMinutes(5), CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(LinkWrite.Stored, relay.Write(link.Slot, LinkParty.Approver, 1, [7]));
        var (found, data) = await waiting.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(found);
        Assert.Equal(new byte[] { 7 }, data);

        var waitingForEnd = relay.ReadAsync(link.Slot, LinkParty.NewDevice, 1, TimeSpan.FromMinutes(5), CancellationToken.None);
        Assert.True(relay.End(link.Slot));
        Assert.False((await waitingForEnd.WaitAsync(TimeSpan.FromMinutes(2))).Found);
        Assert.False(relay.End(link.Slot));
    }

    [Fact]
    public async Task Over_https_starts_and_look_ups_share_the_per_client_limit_and_limits_name_their_setting()
    {
        await using var provider = await TestProvider.StartAsync(Backend.Sqlite, null, editSettings: path =>
            File.WriteAllText(path, File.ReadAllText(path)
                .Replace("\"attemptsPerHourPerClient\": 30", "\"attemptsPerHourPerClient\": 3", StringComparison.Ordinal)
                .Replace("\"maxMessageBytes\": 4096", "\"maxMessageBytes\": 64", StringComparison.Ordinal)));
        using var client = provider.Client();
        var started = await client.Http.PostAsync("v1/link", null);
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var link = (await started.Content.ReadFromJsonAsync(AccountsJsonContext.Default.LinkSession))!;

        // Messages: at the size limit 204, one over 413 naming the setting, the same slot again 409.
        Assert.Equal(HttpStatusCode.NoContent, (await client.Http.PutAsJsonAsync($"v1/link/{link.Slot}/new/0", new LinkMessage(new byte[64]), AccountsJsonContext.Default.LinkMessage)).StatusCode);
        var tooLarge = await client.Http.PutAsJsonAsync($"v1/link/{link.Slot}/new/1", new LinkMessage(new byte[65]), AccountsJsonContext.Default.LinkMessage);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Contains("link.maxMessageBytes", (await ApiClient.ProblemAsync(tooLarge)).Detail, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, (await client.Http.PutAsJsonAsync($"v1/link/{link.Slot}/new/0", new LinkMessage([1]), AccountsJsonContext.Default.LinkMessage)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.Http.PutAsJsonAsync($"v1/link/{link.Slot}/someone/0", new LinkMessage([1]), AccountsJsonContext.Default.LinkMessage)).StatusCode);
        var read = await client.Http.GetAsync($"v1/link/{link.Slot}/new/0?wait=0");
        Assert.Equal(new byte[64], (await read.Content.ReadFromJsonAsync(AccountsJsonContext.Default.LinkMessage))!.Data);
        Assert.Equal(HttpStatusCode.NoContent, (await client.Http.GetAsync($"v1/link/{link.Slot}/approver/0?wait=0")).StatusCode);

        // Per client: one start and two look-ups use the three attempts; the fourth is 429.
        Assert.Equal(HttpStatusCode.OK, (await client.Http.GetAsync($"v1/link/{link.Slot}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync("v1/link/00000")).StatusCode);
        var limited = await client.Http.PostAsync("v1/link", null);
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.NotNull(limited.Headers.RetryAfter);

        // Ending a link: its code is gone.
        Assert.Equal(HttpStatusCode.NoContent, (await client.Http.DeleteAsync($"v1/link/{link.Slot}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync($"v1/link/{link.Slot}/new/0?wait=0")).StatusCode);
    }
}
