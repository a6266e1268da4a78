using Letterlock.Client.Store;

namespace Letterlock.Client.Tests.Store;

public sealed class WorkQueueTests
{
    [Fact]
    public async Task A_claimed_job_whose_worker_died_is_claimed_again_after_its_lease()
    {
        using var dir = new TempDir();
        var time = new ManualTime();
        JobId id;
        using (var store = await TestStores.Create(dir, time))
        {
            var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
            id = await store.Jobs.EnqueueAsync("send", new byte[] { 1, 2, 3 }, account.Id);
            var claimed = await store.Jobs.ClaimAsync("send", TimeSpan.FromMinutes(5));
            Assert.Equal(id, claimed!.Id);
            Assert.Equal(1, claimed.Attempts);
            Assert.Null(await store.Jobs.ClaimAsync("send", TimeSpan.FromMinutes(5)));
            // The process "dies" here: the store is closed without completing the job.
        }

        using (var store = await TestStores.Open(dir, time))
        {
            Assert.Null(await store.Jobs.ClaimAsync("send", TimeSpan.FromMinutes(5)));
            time.Advance(TimeSpan.FromMinutes(5));
            var again = await store.Jobs.ClaimAsync("send", TimeSpan.FromMinutes(5));
            Assert.Equal(id, again!.Id);
            Assert.Equal(2, again.Attempts);
            Assert.Equal(new byte[] { 1, 2, 3 }, again.Payload);
            Assert.True(await store.Jobs.CompleteAsync(id));
            Assert.Empty(await store.Jobs.ListAsync());
        }
    }

    [Fact]
    public async Task Retries_wait_their_delay_and_failures_stay_visible()
    {
        using var dir = new TempDir();
        var time = new ManualTime();
        using var store = await TestStores.Create(dir, time);
        var first = await store.Jobs.EnqueueAsync("sync-push", new byte[] { 1 });
        var second = await store.Jobs.EnqueueAsync("sync-push", new byte[] { 2 });
        await store.Jobs.EnqueueAsync("other", new byte[] { 3 });

        var claimed = await store.Jobs.ClaimAsync("sync-push", TimeSpan.FromMinutes(1));
        Assert.Equal(first, claimed!.Id);
        await store.Jobs.RetryLaterAsync(first, "provider unavailable", TimeSpan.FromSeconds(30));
        Assert.Equal(second, (await store.Jobs.ClaimAsync("sync-push", TimeSpan.FromMinutes(1)))!.Id);
        Assert.Null(await store.Jobs.ClaimAsync("sync-push", TimeSpan.FromMinutes(1)));
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(first, (await store.Jobs.ClaimAsync("sync-push", TimeSpan.FromMinutes(1)))!.Id);

        await store.Jobs.FailAsync(second, "rejected: 550 no such user");
        var jobs = await store.Jobs.ListAsync("sync-push");
        var failed = jobs.Single(j => j.Id == second);
        Assert.Equal(JobState.Failed, failed.State);
        Assert.Equal("rejected: 550 no such user", failed.LastError);
        time.Advance(TimeSpan.FromDays(1));
        Assert.Null(await store.Jobs.ClaimAsync("sync-push", TimeSpan.FromMinutes(1)) is { } j && j.Id == second ? j : null);
    }

    [Fact]
    public async Task A_failing_update_writes_nothing()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.Contacts.UpdateAsync(account.Id, "bob@beta.test",
            _ => throw new InvalidOperationException("crash in the middle")));
        Assert.Null(await store.Contacts.GetAsync(account.Id, "bob@beta.test"));
        Assert.Empty(await store.Contacts.HistoryAsync(account.Id, "bob@beta.test"));
    }
}
