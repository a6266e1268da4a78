using System.Net;
using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;

namespace Letterlock.Client.Tests.Sync;

/// <summary>
/// The outbox against a real provider: internationalised addresses reach it (the envelope travels in the body, not in
/// HTTP headers), and every failure that is the message's own ends that job with a notice in the INBOX at once, never
/// an endless retry, and never holds the account's next message behind it.
/// </summary>
public sealed class OutboxClassificationTests : IAsyncDisposable
{
    private const string PoisonMarker = "Poison-Quokka17";
    private readonly TempDir _dir = new();
    private LocalProvider? _local;

    public async ValueTask DisposeAsync()
    {
        if (_local is not null)
        {
            await _local.DisposeAsync();
        }

        _dir.Dispose();
    }

    private async Task<(LocalStore Store, AccountRecord Alice, OutboxDelivery Outbox)> StartAsync(DelegatingHandler? wrap = null)
    {
        _local = await LocalProvider.StartAsync(_dir, wrap);
        var store = await LocalStore.CreateAsync(_dir.File("device.db"), StoreUnlock.WithPassphrase("one"), TestStores.FastOptions());
        var alice = await AccountRegistration.CreateAsync(store, new ProviderClient(_local.Http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");
        var outbox = new OutboxDelivery(store, (account, ct) => AccountRegistration.ConnectAsync(store, account, _local.Http, ct: ct),
            new OutboxOptions { InitialRetryDelay = TimeSpan.FromMinutes(10) });
        return (store, alice, outbox);
    }

    private static Task<JobId> QueueAsync(LocalStore store, AccountRecord account, string subject, params string[] recipients) =>
        store.Jobs.EnqueueAsync(QueuedMail.JobKind,
            new QueuedMail(account.Address, recipients, Encoding.UTF8.GetBytes(
                $"From: {account.Address}\r\nTo: {string.Join(", ", recipients)}\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@alpha.test>\r\n\r\nbody\r\n"),
                subject, null, DateTimeOffset.UtcNow).ToPayload(), account.Id);

    private static async Task<List<string>> InboxSubjectsAsync(LocalStore store, AccountRecord account)
    {
        var mail = store.Mail(account.Id);
        var inbox = (await mail.FindFolderAsync(FolderRole.Inbox))!;
        return (await mail.ListAsync(inbox.Id)).Select(m => m.Summary.Subject ?? "").ToList();
    }

    [Fact]
    public async Task Internationalised_recipients_are_handed_to_the_provider()
    {
        var (store, alice, outbox) = await StartAsync();
        using var _ = store;
        await QueueAsync(store, alice, "To Zoë", "zoë@delta.test");
        await QueueAsync(store, alice, "To a U-label domain", "user@bücher.test");
        await QueueAsync(store, alice, "To both forms", "user@xn--bcher-kva.test", "ζωή@παράδειγμα.test");

        var results = await outbox.DeliverDueAsync();
        Assert.Equal(3, results.Count);
        Assert.All(results, r => Assert.True(r.Outcome == OutboxOutcome.Sent, $"{string.Join(",", r.Recipients)}: {r.Outcome} {r.Reason}"));
        Assert.Empty(await store.Jobs.ListAsync(QueuedMail.JobKind));
    }

    [Fact]
    public async Task A_message_that_cannot_be_submitted_fails_at_once_with_a_notice_and_the_next_one_is_sent_in_the_same_round()
    {
        var (store, alice, outbox) = await StartAsync(new FaultInjection());
        using var _ = store;

        // A request that cannot be built (a line break in an address), an unexpected failure while sending, and a
        // payload that no longer reads, each followed in the same queue by a message that must still go.
        await QueueAsync(store, alice, "Broken envelope", "dave@delta.test\r\nInjected: x");
        await QueueAsync(store, alice, "Fine one", "dave@delta.test");
        await QueueAsync(store, alice, $"Unexpected {PoisonMarker}", "erin@delta.test");
        await QueueAsync(store, alice, "Fine two", "frank@delta.test");
        await store.Jobs.EnqueueAsync(QueuedMail.JobKind, "{\"not\": \"a queued mail\"}"u8.ToArray(), alice.Id);
        await QueueAsync(store, alice, "Fine three", "grace@delta.test");

        var results = await outbox.DeliverDueAsync();
        Assert.Equal(
            [OutboxOutcome.Failed, OutboxOutcome.Sent, OutboxOutcome.Failed, OutboxOutcome.Sent, OutboxOutcome.Failed, OutboxOutcome.Sent],
            results.Select(r => r.Outcome).ToList());
        Assert.Contains("control character", results[0].Reason, StringComparison.Ordinal);
        Assert.Contains("injected", results[2].Reason, StringComparison.Ordinal);

        // Each failure is visible like a bounce, and none is tried again.
        var subjects = await InboxSubjectsAsync(store, alice);
        Assert.Contains("Not delivered: Broken envelope", subjects);
        Assert.Contains($"Not delivered: Unexpected {PoisonMarker}", subjects);
        Assert.Contains("Not delivered: (no subject)", subjects);
        Assert.All(await store.Jobs.ListAsync(QueuedMail.JobKind), j => Assert.Equal(JobState.Failed, j.State));
        Assert.Empty(await outbox.DeliverDueAsync());
        Assert.Null(await outbox.NextDueAsync());
    }

    [Fact]
    public async Task A_provider_that_knows_only_the_header_form_gets_it_for_ascii_envelopes_and_a_utf8_one_is_refused_visibly()
    {
        var (store, alice, outbox) = await StartAsync(new HeaderFormOnlyProvider());
        using var _ = store;
        await QueueAsync(store, alice, "Plain envelope", "dave@delta.test");
        await QueueAsync(store, alice, "UTF-8 envelope", "zoë@delta.test");

        var results = await outbox.DeliverDueAsync();
        Assert.Equal(OutboxOutcome.Sent, results[0].Outcome);
        Assert.Equal(OutboxOutcome.Failed, results[1].Outcome);
        Assert.Contains("HTTP 415", results[1].Reason, StringComparison.Ordinal);
        Assert.Contains("Not delivered: UTF-8 envelope", await InboxSubjectsAsync(store, alice));
    }

    /// <summary>Fails a submission whose body carries the marker the way an unexpected bug on this side would.</summary>
    [Fact]
    public async Task A_submission_whose_answer_was_lost_is_not_sent_again_by_the_retry()
    {
        var lose = new LoseFirstSubmissionAnswer();
        var (store, alice, _) = await StartAsync(lose);
        using var _ = store;
        using var bobStore = await LocalStore.CreateAsync(_dir.File("bob.db"), StoreUnlock.WithPassphrase("two"), TestStores.FastOptions());
        var bob = await AccountRegistration.CreateAsync(bobStore, new ProviderClient(_local!.Http, new Uri("https://alpha.test/")), "bob@alpha.test", "Bob");
        var outbox = new OutboxDelivery(store, (account, ct) => AccountRegistration.ConnectAsync(store, account, _local.Http, ct: ct),
            new OutboxOptions { InitialRetryDelay = TimeSpan.FromMilliseconds(100) });
        await QueueAsync(store, alice, "Once only", "bob@alpha.test");

        // The provider took the message; its answer never reached the device, so the job waits and is tried again.
        var first = Assert.Single(await outbox.DeliverDueAsync());
        Assert.Equal(OutboxOutcome.RetryLater, first.Outcome);
        OutboxResult? second = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (second is null && DateTime.UtcNow < deadline)
        {
            second = (await outbox.DeliverDueAsync()).SingleOrDefault();
            if (second is null)
            {
                await Task.Delay(25);
            }
        }

        Assert.Equal(OutboxOutcome.Sent, second?.Outcome);
        Assert.Equal(2, lose.Submissions);
        Assert.Empty(await store.Jobs.ListAsync(QueuedMail.JobKind));

        await new SyncEngine(bobStore, bob, await AccountRegistration.ConnectAsync(bobStore, bob, _local.Http)).SyncAsync();
        Assert.Equal(["Once only"], await InboxSubjectsAsync(bobStore, bob));
    }

    /// <summary>Lets the first submission reach the provider and then loses its answer, as a dropped connection would.</summary>
    private sealed class LoseFirstSubmissionAnswer : DelegatingHandler
    {
        private int _submissions;

        public int Submissions => _submissions;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (request.RequestUri!.AbsolutePath == "/v1/submission" && Interlocked.Increment(ref _submissions) == 1)
            {
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                response.Dispose();
                throw new HttpRequestException("the connection was reset before the answer arrived");
            }

            return response;
        }
    }

    private sealed class FaultInjection : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is not null && request.RequestUri!.AbsolutePath == "/v1/submission"
                && (await request.Content.ReadAsStringAsync(cancellationToken)).Contains(PoisonMarker, StringComparison.Ordinal))
            {
                throw new InvalidOperationException("injected failure");
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>A provider from before the envelope moved into the body: it answers 415 to anything but message/rfc822.</summary>
    private sealed class HeaderFormOnlyProvider : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath == "/v1/submission" && request.Content?.Headers.ContentType?.MediaType != "message/rfc822")
            {
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.UnsupportedMediaType)
                {
                    Content = new StringContent("""{"type":"urn:letterlock:problem:invalid-request","title":"Unsupported media type","status":415}""",
                        Encoding.UTF8, "application/problem+json"),
                });
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
