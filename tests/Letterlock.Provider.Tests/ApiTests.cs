using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Letterlock.Api;
using Letterlock.Provider.Hosting;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Tests;

/// <summary>The sync API, accounts and device authentication; runs once per backend.</summary>
public abstract class ApiTests(Backend backend, PostgresServer postgres) : IAsyncLifetime
{
    private TestProvider _provider = null!;

    protected TestProvider Provider => _provider;

    public async Task InitializeAsync() => _provider = await TestProvider.StartAsync(backend, postgres);

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    [Fact]
    public async Task Accounts_are_created_once_and_bad_registrations_are_refused()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("Alice@example.test");
        await client.LoginAsync(alice);
        var info = await client.Http.GetFromJsonAsync("v1/account", ApiJsonContext.Default.AccountInfo);
        Assert.Equal("alice@example.test", info!.Address);
        Assert.Single(info.Devices);

        var (again, _) = ApiClient.NewAccountRequest("alice@example.test");
        var taken = await client.Http.PostAsJsonAsync("v1/accounts", again, ApiJsonContext.Default.CreateAccountRequest);
        Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
        Assert.Equal(ProblemTypes.AddressTaken, (await ApiClient.ProblemAsync(taken)).Type);

        var (forged, _) = ApiClient.NewAccountRequest("mallory@example.test");
        forged = forged with { Proof = new byte[64] };
        var badProof = await client.Http.PostAsJsonAsync("v1/accounts", forged, ApiJsonContext.Default.CreateAccountRequest);
        Assert.Equal(HttpStatusCode.Unauthorized, badProof.StatusCode);

        var (otherDomain, _) = ApiClient.NewAccountRequest("bob@elsewhere.test");
        var wrong = await client.Http.PostAsJsonAsync("v1/accounts", otherDomain, ApiJsonContext.Default.CreateAccountRequest);
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);

        var (shortKey, _) = ApiClient.NewAccountRequest("carol@example.test");
        var badKey = await client.Http.PostAsJsonAsync("v1/accounts", shortKey with { InboxPublicKey = new byte[5] }, ApiJsonContext.Default.CreateAccountRequest);
        Assert.Equal(HttpStatusCode.BadRequest, badKey.StatusCode);

        // the certificate must parse and name this very address (the proof covers it, so re-sign)
        foreach (byte[] certificate in new[] { Encoding.ASCII.GetBytes("not a certificate"), Certificates.For("someone-else@example.test"), Letterlock.OpenPgp.Armor.Encode(Certificates.For("dave@example.test")) })
        {
            var (request, account) = ApiClient.NewAccountRequest("dave@example.test");
            byte[] proof = DeviceAuthentication.Sign(account.DevicePrivateKey, DeviceAuthentication.RegistrationMessage(TestProvider.Domain, "dave@example.test", account.DevicePublicKey, certificate, request.InboxPublicKey));
            var refused = await client.Http.PostAsJsonAsync("v1/accounts", request with { OpenPgpCertificate = certificate, Proof = proof }, ApiJsonContext.Default.CreateAccountRequest);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("certificate", (await ApiClient.ProblemAsync(refused)).Detail, StringComparison.Ordinal);
        }

        foreach (string body in new[] { "{", "[]", "{\"address\":5}", "{\"address\":\"x@example.test\",\"unknown\":1}", "null", "" })
        {
            var response = await client.Http.PostAsync("v1/accounts", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(ProblemTypes.InvalidRequest, (await ApiClient.ProblemAsync(response)).Type);
        }

        var notJson = await client.Http.PostAsync("v1/accounts", new StringContent("address=x", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, notJson.StatusCode);

        var accounts = await _provider.Host.Store.ListAccountsAsync(CancellationToken.None);
        Assert.Equal(["alice"], accounts.Select(a => a.LocalPart));
    }

    [Fact]
    public async Task Challenges_are_single_use_and_signatures_are_checked()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        var challenge = await client.ChallengeAsync(alice.DeviceId);
        byte[] signature = ApiClient.SignChallenge(alice, challenge);
        Assert.Equal(HttpStatusCode.OK, (await client.RedeemAsync(challenge.ChallengeId, signature)).StatusCode);

        var replay = await client.RedeemAsync(challenge.ChallengeId, signature);
        Assert.Equal(HttpStatusCode.Unauthorized, replay.StatusCode);
        Assert.Equal(ProblemTypes.ChallengeInvalid, (await ApiClient.ProblemAsync(replay)).Type);

        var second = await client.ChallengeAsync(alice.DeviceId);
        byte[] wrong = ApiClient.SignChallenge(alice, second);
        wrong[0] ^= 1;
        var bad = await client.RedeemAsync(second.ChallengeId, wrong);
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        Assert.Equal(ProblemTypes.Unauthorized, (await ApiClient.ProblemAsync(bad)).Type);

        // a failed attempt consumes the challenge too: no guessing against one challenge
        var afterBad = await client.RedeemAsync(second.ChallengeId, ApiClient.SignChallenge(alice, second));
        Assert.Equal(ProblemTypes.ChallengeInvalid, (await ApiClient.ProblemAsync(afterBad)).Type);

        // a signature made for another device's challenge does not verify
        var bob = await client.CreateAccountAsync("bob@example.test");
        var bobs = await client.ChallengeAsync(bob.DeviceId);
        var crossed = await client.RedeemAsync(bobs.ChallengeId, ApiClient.SignChallenge(alice with { DeviceId = bob.DeviceId }, bobs));
        Assert.Equal(HttpStatusCode.Unauthorized, crossed.StatusCode);

        var unknownDevice = await client.ChallengeAsync(Guid.NewGuid());
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.RedeemAsync(unknownDevice.ChallengeId, new byte[64])).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.Http.GetAsync("v1/quota")).StatusCode);
        client.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-token");
        var garbage = await client.Http.GetAsync("v1/quota");
        Assert.Equal(HttpStatusCode.Unauthorized, garbage.StatusCode);
        Assert.Equal(ProblemTypes.Unauthorized, (await ApiClient.ProblemAsync(garbage)).Type);
    }

    [Fact]
    public async Task Documents_follow_revisions_and_conflicts_change_nothing()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);

        var created = await client.PutAsync("doc-1", [1, 2, 3]);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(1, (await created.Content.ReadFromJsonAsync(ApiJsonContext.Default.DocumentInfo))!.Revision);

        var recreate = await client.PutAsync("doc-1", [9]);
        Assert.Equal(HttpStatusCode.Conflict, recreate.StatusCode);
        Assert.Equal(ProblemTypes.RevisionConflict, (await ApiClient.ProblemAsync(recreate)).Type);

        var updated = await client.PutAsync("doc-1", [4, 5], ifMatch: 1);
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        Assert.Equal(2, (await updated.Content.ReadFromJsonAsync(ApiJsonContext.Default.DocumentInfo))!.Revision);

        var stale = await client.PutAsync("doc-1", [6], ifMatch: 1);
        Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);
        Assert.Contains("revision 2", (await ApiClient.ProblemAsync(stale)).Detail, StringComparison.Ordinal);

        var unconditional = await client.PutAsync("doc-1", [7], create: false);
        Assert.Equal((HttpStatusCode)428, unconditional.StatusCode);

        var get = await client.Http.GetAsync("v1/documents/doc-1");
        Assert.Equal(new byte[] { 4, 5 }, await get.Content.ReadAsByteArrayAsync());
        Assert.Equal("\"2\"", get.Headers.ETag!.Tag);
        Assert.Equal("message", get.Headers.GetValues(ApiHeaders.Kind).Single());

        var staleDelete = new HttpRequestMessage(HttpMethod.Delete, "v1/documents/doc-1");
        staleDelete.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
        Assert.Equal(HttpStatusCode.Conflict, (await client.Http.SendAsync(staleDelete)).StatusCode);
        var delete = new HttpRequestMessage(HttpMethod.Delete, "v1/documents/doc-1");
        delete.Headers.TryAddWithoutValidation("If-Match", "\"2\"");
        Assert.Equal(HttpStatusCode.OK, (await client.Http.SendAsync(delete)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync("v1/documents/doc-1")).StatusCode);

        // a deleted id can be created again; its revision keeps counting
        var reborn = await client.PutAsync("doc-1", [8]);
        Assert.Equal(4, (await reborn.Content.ReadFromJsonAsync(ApiJsonContext.Default.DocumentInfo))!.Revision);

        Assert.Equal(HttpStatusCode.BadRequest, (await client.PutAsync("bad id!", [1])).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PutAsync("doc-2", [1], kind: "inbox")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PutAsync("doc-2", [1], kind: "Not A Kind")).StatusCode);
        var badMatch = new HttpRequestMessage(HttpMethod.Put, "v1/documents/doc-2") { Content = new ByteArrayContent([1]) };
        badMatch.Headers.Add(ApiHeaders.Kind, "message");
        badMatch.Headers.TryAddWithoutValidation("If-Match", "\"abc\"");
        Assert.Equal(HttpStatusCode.BadRequest, (await client.Http.SendAsync(badMatch)).StatusCode);

        var changes = await client.ChangesAsync(0);
        Assert.Equal(["doc-1"], changes.Changes.Select(c => c.Id));
        Assert.Equal(4, changes.Changes[0].Revision);
        var quota = await client.Http.GetFromJsonAsync("v1/quota", ApiJsonContext.Default.QuotaResponse);
        Assert.Equal(1, quota!.UsedBytes);
        Assert.Equal(1, quota.DocumentCount);
    }

    [Fact]
    public async Task A_batch_does_puts_and_deletes_in_order_each_with_its_own_outcome()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("doc-a", [1])).StatusCode);
        var before = (await client.ChangesAsync(0)).Next;

        var results = await BatchAsync(client,
            new DocumentOperation("put", "doc-b", "message", IfNoneMatch: true, Content: [2, 2]),
            new DocumentOperation("put", "doc-a", "message", IfMatch: 1, Content: [3, 3, 3]),
            new DocumentOperation("put", "doc-a", "message", IfNoneMatch: true, Content: [4]),
            new DocumentOperation("delete", "doc-c", IfMatch: 1),
            new DocumentOperation("put", "doc-d", "message", IfNoneMatch: true, Content: [5], Requires: new RequiredRevision("doc-a", 2)),
            new DocumentOperation("put", "doc-e", "message", IfNoneMatch: true, Content: [6], Requires: new RequiredRevision("doc-a", 1)),
            new DocumentOperation("put", "doc-f", "message", IfNoneMatch: true, Content: [7], Requires: new RequiredRevision("doc-gone", 1)),
            new DocumentOperation("delete", "doc-b", IfMatch: 1));
        Assert.Equal(
            [DocumentOperationStatus.Ok, DocumentOperationStatus.Ok, DocumentOperationStatus.Conflict, DocumentOperationStatus.NotFound,
             DocumentOperationStatus.Ok, DocumentOperationStatus.Conflict, DocumentOperationStatus.Conflict, DocumentOperationStatus.Ok],
            results.Select(r => r.Status));
        Assert.Equal(2, results[1].Document!.Revision);
        Assert.Equal(2, results[2].CurrentRevision);
        Assert.True(results[7].Document!.Deleted);

        // As the single requests would have left it: doc-a at revision 2, doc-d created, doc-b created then deleted.
        Assert.Equal(new byte[] { 3, 3, 3 }, await client.GetBytesAsync("doc-a"));
        Assert.Equal(new byte[] { 5 }, await client.GetBytesAsync("doc-d"));
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync("v1/documents/doc-b")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync("v1/documents/doc-e")).StatusCode);
        var after = await client.ChangesAsync(before);
        Assert.Equal(["doc-a", "doc-d", "doc-b"], after.Changes.Select(c => c.Id));
        var quota = await client.Http.GetFromJsonAsync("v1/quota", ApiJsonContext.Default.QuotaResponse);
        Assert.Equal((4L, 2L), (quota!.UsedBytes, quota.DocumentCount));

        // The account's quota holds inside a batch: the write that would exceed it is refused, the others are done.
        Assert.True(await _provider.Host.Store.SetQuotaAsync((await _provider.Host.Store.FindAccountAsync("alice", default))!.Id, 10, default));
        var full = await BatchAsync(client,
            new DocumentOperation("put", "doc-g", "message", IfNoneMatch: true, Content: new byte[7]),
            new DocumentOperation("put", "doc-h", "message", IfNoneMatch: true, Content: new byte[1]));
        Assert.Equal([DocumentOperationStatus.QuotaExceeded, DocumentOperationStatus.Ok], full.Select(r => r.Status));
    }

    [Fact]
    public async Task A_malformed_batch_is_refused_whole_and_changes_nothing()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        var good = new DocumentOperation("put", "doc-a", "message", IfNoneMatch: true, Content: [1]);
        foreach (var bad in new[]
        {
            new DocumentOperation("put", "doc-b", "inbox", IfNoneMatch: true, Content: [1]),
            new DocumentOperation("put", "doc-b", "message", Content: [1]),
            new DocumentOperation("put", "doc-b", "message", IfMatch: 1, IfNoneMatch: true, Content: [1]),
            new DocumentOperation("put", "doc-b", "message", IfNoneMatch: true),
            new DocumentOperation("put", "bad id!", "message", IfNoneMatch: true, Content: [1]),
            new DocumentOperation("delete", "doc-b"),
            new DocumentOperation("delete", "doc-b", IfMatch: 1, Content: [1]),
            new DocumentOperation("patch", "doc-b", IfMatch: 1),
            new DocumentOperation("put", "doc-b", "message", IfNoneMatch: true, Content: [1], Requires: new RequiredRevision("doc-a", 0)),
        })
        {
            var response = await client.Http.PostAsJsonAsync("v1/documents/batch", new DocumentBatchRequest([good, bad]), ApiJsonContext.Default.DocumentBatchRequest);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.StartsWith("Operation 1:", (await ApiClient.ProblemAsync(response)).Detail, StringComparison.Ordinal);
        }

        var empty = await client.Http.PostAsJsonAsync("v1/documents/batch", new DocumentBatchRequest([]), ApiJsonContext.Default.DocumentBatchRequest);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Empty((await client.ChangesAsync(0)).Changes);
    }

    [Fact]
    public async Task Batch_limits_hold_at_their_edges()
    {
        await using var limited = await TestProvider.StartAsync(backend, postgres, editSettings: path =>
        {
            var settings = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path), null,
                new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true })!;
            settings["api"]!["maxBatchOperations"] = 3;
            settings["api"]!["maxBatchBodySize"] = 400;
            settings["api"]!["maxDocumentSize"] = 200;
            File.WriteAllText(path, settings.ToJsonString());
        });
        using var client = limited.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        DocumentOperation Put(string id, int size = 1) => new("put", id, "message", IfNoneMatch: true, Content: new byte[size]);

        Assert.Equal(3, (await BatchAsync(client, Put("a"), Put("b"), Put("c"))).Count);
        var four = await client.Http.PostAsJsonAsync("v1/documents/batch", new DocumentBatchRequest([Put("d"), Put("e"), Put("f"), Put("g")]), ApiJsonContext.Default.DocumentBatchRequest);
        Assert.Equal(HttpStatusCode.BadRequest, four.StatusCode);
        Assert.Contains("api.maxBatchOperations", (await ApiClient.ProblemAsync(four)).Detail, StringComparison.Ordinal);

        Assert.Equal(DocumentOperationStatus.Ok, (await BatchAsync(client, Put("h", 200))).Single().Status);
        var over = await client.Http.PostAsJsonAsync("v1/documents/batch", new DocumentBatchRequest([Put("i", 201)]), ApiJsonContext.Default.DocumentBatchRequest);
        Assert.Equal(HttpStatusCode.BadRequest, over.StatusCode);
        Assert.Contains("api.maxDocumentSize", (await ApiClient.ProblemAsync(over)).Detail, StringComparison.Ordinal);

        // The body limit: a batch of exactly 400 bytes passes, 401 is refused (the id's length tunes the size).
        string Body(int idLength) => System.Text.Json.JsonSerializer.Serialize(new DocumentBatchRequest([Put(new string('x', idLength), 180)]), ApiJsonContext.Default.DocumentBatchRequest);
        string exact = Enumerable.Range(1, 128).Select(Body).Single(b => b.Length == 400);
        var atLimit = await client.Http.PostAsync("v1/documents/batch", new StringContent(exact, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, atLimit.StatusCode);
        string oneOver = Enumerable.Range(1, 128).Select(Body).Single(b => b.Length == 401);
        var tooLarge = await client.Http.PostAsync("v1/documents/batch", new StringContent(oneOver, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Contains("api.maxBatchBodySize", (await ApiClient.ProblemAsync(tooLarge)).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Changes_with_content_carry_each_live_document_within_the_byte_budget()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        byte[] Bytes(int size, byte value) => Enumerable.Repeat(value, size).ToArray();
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("a", Bytes(10, 1))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("b", Bytes(100_000, 2))).StatusCode); // above the inline threshold: a blob
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("c", Bytes(5, 3))).StatusCode);
        var delete = new HttpRequestMessage(HttpMethod.Delete, "v1/documents/c");
        delete.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
        Assert.Equal(HttpStatusCode.OK, (await client.Http.SendAsync(delete)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("d", Bytes(10, 4))).StatusCode);

        async Task<ChangesResponse> Page(long since, long? maxBytes = null)
        {
            var response = await client.Http.GetAsync($"v1/changes?since={since}&content=1" + (maxBytes is long m ? $"&maxBytes={m}" : ""));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ChangesResponse))!;
        }

        var all = await Page(0);
        Assert.Equal(["a", "b", "c", "d"], all.Changes.Select(c => c.Id));
        Assert.False(all.HasMore);
        Assert.Equal(["a", "b", "d"], all.Contents!.Select(c => c.Id));
        Assert.Equal(Bytes(100_000, 2), all.Contents![1].Content);
        Assert.Equal((1L, "message"), (all.Contents![0].Revision, all.Contents[0].Kind));

        // A budget of 100,010 bytes: a and b fit, d would go over, so the page ends before it (c, a tombstone, is listed).
        var first = await Page(0, 100_010);
        Assert.Equal(["a", "b", "c"], first.Changes.Select(c => c.Id));
        Assert.True(first.HasMore);
        Assert.Equal(first.Changes[^1].Sequence, first.Next);
        var rest = await Page(first.Next, 100_010);
        Assert.Equal(["d"], rest.Changes.Select(c => c.Id));
        Assert.Equal(Bytes(10, 4), Assert.Single(rest.Contents!).Content);

        // A document larger than the whole budget ends the page before it, then heads the next page without its
        // content (the client fetches it alone), and that page goes on.
        var tight = await Page(0, 50);
        Assert.Equal(["a"], tight.Changes.Select(c => c.Id));
        var alone = await Page(tight.Next, 50);
        Assert.Equal(["b", "c", "d"], alone.Changes.Select(c => c.Id));
        Assert.Equal(["d"], alone.Contents!.Select(c => c.Id));
        Assert.False(alone.HasMore);

        foreach (var bad in new[] { "content=2", "content=1&maxBytes=0", $"content=1&maxBytes={16L * 1024 * 1024 + 1}" })
        {
            var response = await client.Http.GetAsync("v1/changes?since=0&" + bad);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        Assert.Null((await client.ChangesAsync(0)).Contents);
    }

    private static async Task<IReadOnlyList<DocumentOperationResult>> BatchAsync(ApiClient client, params DocumentOperation[] operations)
    {
        var response = await client.Http.PostAsJsonAsync("v1/documents/batch", new DocumentBatchRequest(operations), ApiJsonContext.Default.DocumentBatchRequest);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var results = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.DocumentBatchResponse))!.Results;
        Assert.Equal(operations.Length, results.Count);
        return results;
    }

    [Fact]
    public async Task Changes_are_paged_in_sequence_order()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        for (int i = 0; i < 7; i++)
        {
            Assert.Equal(HttpStatusCode.Created, (await client.PutAsync($"d{i}", [(byte)i])).StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await client.PutAsync("d0", [42], ifMatch: 1)).StatusCode);
        var seen = new List<DocumentInfo>();
        long since = 0;
        int pages = 0;
        while (true)
        {
            var page = await client.ChangesAsync(since, 3);
            pages++;
            seen.AddRange(page.Changes);
            since = page.Next;
            if (!page.HasMore)
            {
                break;
            }
        }

        Assert.Equal(3, pages);
        Assert.Equal(["d1", "d2", "d3", "d4", "d5", "d6", "d0"], seen.Select(c => c.Id));
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First.Sequence < p.Second.Sequence));
        Assert.Empty((await client.ChangesAsync(since)).Changes);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.Http.GetAsync("v1/changes?since=-1")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.Http.GetAsync("v1/changes?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.Http.GetAsync("v1/changes?wait=100000")).StatusCode);
    }

    [Fact]
    public async Task Large_documents_live_in_the_blob_store_and_quota_is_enforced()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        byte[] big = new byte[300 * 1024];
        Random.Shared.NextBytes(big);
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("big", big)).StatusCode);
        Assert.Equal(big, await client.GetBytesAsync("big"));
        string blobName = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(big));
        Assert.Contains(blobName, (await BlobStoreTests.ListAsync(_provider.Host.Blobs)).Select(b => b.Hash));
        // on PostgreSQL every byte is in the database (any node can serve it); SQLite keeps a folder
        Assert.IsType(backend == Backend.Postgres ? typeof(PostgresBlobStore) : typeof(FolderBlobStore), _provider.Host.Blobs);
        Assert.Equal(backend == Backend.Sqlite, Directory.Exists(Path.Combine(_provider.DataDirectory, "blobs")));

        await _provider.Host.Store.SetQuotaAsync(alice.AccountId, big.Length + 100, CancellationToken.None);
        var over = await client.PutAsync("more", new byte[200]);
        Assert.Equal((HttpStatusCode)507, over.StatusCode);
        Assert.Equal(ProblemTypes.QuotaExceeded, (await ApiClient.ProblemAsync(over)).Type);
        var fits = await client.PutAsync("fits", new byte[100]);
        Assert.True(fits.StatusCode == HttpStatusCode.Created, await fits.Content.ReadAsStringAsync());
        // replacing a document with a smaller one is always allowed
        Assert.Equal(HttpStatusCode.OK, (await client.PutAsync("big", [1], ifMatch: 1)).StatusCode);
        var quota = await client.Http.GetFromJsonAsync("v1/quota", ApiJsonContext.Default.QuotaResponse);
        Assert.Equal(101, quota!.UsedBytes);
    }

    [Fact]
    public async Task Blobs_of_deleted_and_replaced_documents_are_swept_once_the_grace_period_is_over()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        byte[] Big()
        {
            byte[] bytes = new byte[100 * 1024];
            Random.Shared.NextBytes(bytes);
            return bytes;
        }

        static string HashOf(byte[] content) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));
        async Task<bool> Exists(byte[] content) => (await BlobStoreTests.ListAsync(_provider.Host.Blobs)).Any(b => b.Hash == HashOf(content));

        byte[] kept = Big(), replaced = Big(), deleted = Big();
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("kept", kept)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("replaced", replaced)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("deleted", deleted)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PutAsync("replaced", [1, 2, 3], ifMatch: 1)).StatusCode);
        var delete = new HttpRequestMessage(HttpMethod.Delete, "v1/documents/deleted");
        delete.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
        Assert.True((await client.Http.SendAsync(delete)).IsSuccessStatusCode);

        // leftovers of a write a crash interrupted (never committed, never abandoned)
        var interrupted = _provider.Host.Blobs.BeginUpload();
        await interrupted.WriteAsync(Big().Concat(Big()).Concat(Big()).ToArray(), CancellationToken.None);
        int leftovers = 1;
        string? staging = null;
        if (_provider.Host.Blobs is FolderBlobStore folder)
        {
            // the folder store's own kind of leftover: a staging file next to where the blob goes
            staging = folder.PathOf(HashOf(kept)) + "." + Guid.NewGuid().ToString("N") + ".tmp";
            await File.WriteAllBytesAsync(staging, [1]);
            leftovers++;
        }

        var collector = new BlobCollector(_provider.Host.Store, _provider.Host.Blobs, TimeSpan.FromHours(1));
        var early = await collector.SweepAsync(DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.Equal(new BlobSweepReport(0, 0, 0), early);
        Assert.True(await Exists(replaced) && await Exists(deleted));

        var later = await collector.SweepAsync(DateTimeOffset.UtcNow.AddHours(2), CancellationToken.None);
        Assert.Equal(new BlobSweepReport(3, 2, leftovers), later);
        Assert.False(await Exists(replaced));
        Assert.False(await Exists(deleted));
        Assert.False(staging is not null && File.Exists(staging));
        Assert.Equal(kept, await client.GetBytesAsync("kept"));
        Assert.Equal([1, 2, 3], await client.GetBytesAsync("replaced"));
        Assert.Equal(new BlobSweepReport(1, 0, 0), await collector.SweepAsync(DateTimeOffset.UtcNow.AddHours(2), CancellationToken.None));
        await interrupted.DisposeAsync();
    }

    [Fact]
    public async Task A_long_poll_returns_when_a_change_commits()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        var watch = Stopwatch.StartNew();
        var poll = client.ChangesAsync(0, wait: 30);
        // the request is parked on the account's change notifier (polled; the minute only bounds a hang)
        using var parked = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while (!_provider.Host.Notifier.IsWaiting(alice.AccountId))
        {
            await Task.Delay(20, parked.Token);
        }

        Assert.False(poll.IsCompleted);
        using var writer = _provider.Client();
        await writer.LoginAsync(alice);
        await writer.PutAsync("note", [1]);
        var changes = await poll;
        Assert.Equal(["note"], changes.Changes.Select(c => c.Id));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), "woken by the change, not by the 30 s timeout");
    }

    [Fact]
    public async Task Directory_and_WKD_serve_public_keys_only_for_active_accounts()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        var entry = await client.Http.GetFromJsonAsync("v1/directory/alice@example.test", ApiJsonContext.Default.DirectoryEntry);
        Assert.Equal(alice.Certificate, entry!.OpenPgpCertificate);
        Assert.Equal(alice.Inbox.PublicKey.ToArray(), entry.InboxPublicKey);
        Assert.Equal(alice.DevicePublicKey, entry.Devices.Single().PublicKey);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync("v1/directory/nobody@example.test")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.Http.GetAsync("v1/directory/not-an-address")).StatusCode);

        // WKD test vector: the hash of "Joe.Doe" is iy9q119eutrkn8s1mk4r39qejnbu3n5q (draft-koch-openpgp-webkey-service, 3.1)
        Assert.Equal("iy9q119eutrkn8s1mk4r39qejnbu3n5q", Accounts.AccountService.WkdHash("Joe.Doe"));
        string hash = Accounts.AccountService.WkdHash("alice");
        Assert.Equal(alice.Certificate, await client.Http.GetByteArrayAsync($".well-known/openpgpkey/hu/{hash}?l=alice"));
        Assert.Equal(alice.Certificate, await client.Http.GetByteArrayAsync($".well-known/openpgpkey/example.test/hu/{hash}?l=alice"));
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync($".well-known/openpgpkey/other.test/hu/{hash}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync($".well-known/openpgpkey/hu/{hash}?l=bob")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.Http.GetAsync(".well-known/openpgpkey/example.test/policy")).StatusCode);

        await _provider.Host.Store.SetAccountStatusAsync(alice.AccountId, AccountStatus.Disabled, CancellationToken.None);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync("v1/directory/alice@example.test")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync($".well-known/openpgpkey/hu/{hash}")).StatusCode);
        var challenge = await client.ChallengeAsync(alice.DeviceId);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.RedeemAsync(challenge.ChallengeId, ApiClient.SignChallenge(alice, challenge))).StatusCode);
    }

    [Fact]
    public async Task Devices_can_be_added_and_revoked_and_keys_updated()
    {
        using var client = _provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        var (secondPrivate, secondPublic) = DeviceAuthentication.GenerateKeyPair();
        byte[] proof = DeviceAuthentication.Sign(secondPrivate, DeviceAuthentication.AddDeviceMessage(TestProvider.Domain, alice.AccountId, secondPublic));
        var add = await client.Http.PostAsJsonAsync("v1/devices", new AddDeviceRequest(secondPublic, "laptop", proof), ApiJsonContext.Default.AddDeviceRequest);
        Assert.Equal(HttpStatusCode.Created, add.StatusCode);
        var device = (await add.Content.ReadFromJsonAsync(ApiJsonContext.Default.DeviceInfo))!;
        var unproven = await client.Http.PostAsJsonAsync("v1/devices", new AddDeviceRequest(DeviceAuthentication.GenerateKeyPair().PublicKey, "x", proof), ApiJsonContext.Default.AddDeviceRequest);
        Assert.Equal(HttpStatusCode.Unauthorized, unproven.StatusCode);

        var second = alice with { DeviceId = device.DeviceId, DevicePrivateKey = secondPrivate, DevicePublicKey = secondPublic };
        using var laptop = _provider.Client();
        await laptop.LoginAsync(second);
        Assert.Equal(HttpStatusCode.NoContent, (await client.Http.DeleteAsync($"v1/devices/{device.DeviceId}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await laptop.Http.GetAsync("v1/quota")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.DeleteAsync($"v1/devices/{device.DeviceId}")).StatusCode);

        var newInbox = Cryptography.HpkeKeyPair.Generate();
        var garbage = await client.Http.PutAsJsonAsync("v1/account/keys", new UpdateKeysRequest([1, 2, 3], newInbox.PublicKey.ToArray()), ApiJsonContext.Default.UpdateKeysRequest);
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        var update = await client.Http.PutAsJsonAsync("v1/account/keys", new UpdateKeysRequest(Certificates.For("alice@example.test"), newInbox.PublicKey.ToArray()), ApiJsonContext.Default.UpdateKeysRequest);
        Assert.Equal(HttpStatusCode.NoContent, update.StatusCode);
        var entry = await client.Http.GetFromJsonAsync("v1/directory/alice@example.test", ApiJsonContext.Default.DirectoryEntry);
        Assert.Equal(newInbox.PublicKey.ToArray(), entry!.InboxPublicKey);
    }
}

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SqliteApiTests(PostgresServer postgres) : ApiTests(Backend.Sqlite, postgres);

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostgresApiTests(PostgresServer postgres) : ApiTests(Backend.Postgres, postgres);

/// <summary>Sign-up by invitation.</summary>
[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class InviteTests(PostgresServer postgres)
{
    [Theory]
    [InlineData(Backend.Sqlite)]
    [InlineData(Backend.Postgres)]
    public async Task Invites_are_required_and_single_use(Backend backend)
    {
        await using var provider = await TestProvider.StartAsync(backend, postgres, signUp: "invite");
        using var client = provider.Client();
        var (noInvite, _) = ApiClient.NewAccountRequest("alice@example.test");
        var refused = await client.Http.PostAsJsonAsync("v1/accounts", noInvite, ApiJsonContext.Default.CreateAccountRequest);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);

        string token;
        await using (var admin = await ProviderAdmin.OpenAsync(provider.DataDirectory, provider.DatabaseUrl, CancellationToken.None))
        {
            (token, _) = await admin.CreateInviteAsync(null, CancellationToken.None);
        }

        await client.CreateAccountAsync("alice@example.test", token);
        var (reuse, _) = ApiClient.NewAccountRequest("bob@example.test", token);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.Http.PostAsJsonAsync("v1/accounts", reuse, ApiJsonContext.Default.CreateAccountRequest)).StatusCode);
        var (wrong, _) = ApiClient.NewAccountRequest("carol@example.test", "made-up");
        Assert.Equal(HttpStatusCode.Forbidden, (await client.Http.PostAsJsonAsync("v1/accounts", wrong, ApiJsonContext.Default.CreateAccountRequest)).StatusCode);
    }
}

/// <summary>Per-client limits on the calls anyone can make without an account, at their edges.</summary>
public sealed class ClientRateLimitTests
{
    [Fact]
    public async Task Sign_ups_and_challenges_beyond_the_per_client_limit_get_429_with_retry_after_and_change_nothing()
    {
        await using var provider = await TestProvider.StartAsync(Backend.Sqlite, null, editSettings: path =>
            File.WriteAllText(path, File.ReadAllText(path)
                .Replace("\"signUpsPerHourPerClient\": 20", "\"signUpsPerHourPerClient\": 2", StringComparison.Ordinal)
                .Replace("\"challengesPerMinutePerClient\": 120", "\"challengesPerMinutePerClient\": 3", StringComparison.Ordinal)));
        using var client = provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.CreateAccountAsync("bob@example.test");
        var (third, _) = ApiClient.NewAccountRequest("carol@example.test");
        var refused = await client.Http.PostAsJsonAsync("v1/accounts", third, ApiJsonContext.Default.CreateAccountRequest);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal(ProblemTypes.RateLimited, (await ApiClient.ProblemAsync(refused)).Type);
        Assert.InRange(int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 3600);
        Assert.Equal(["alice", "bob"], (await provider.Host.Store.ListAccountsAsync(CancellationToken.None)).Select(a => a.LocalPart).Order());

        // challenges: three within the minute (one is the login), the fourth is refused
        await client.LoginAsync(alice);
        await client.ChallengeAsync(alice.DeviceId);
        await client.ChallengeAsync(Guid.NewGuid());
        var tooMany = await client.Http.PostAsJsonAsync("v1/auth/challenge", new ChallengeRequest(alice.DeviceId), ApiJsonContext.Default.ChallengeRequest);
        Assert.Equal(HttpStatusCode.TooManyRequests, tooMany.StatusCode);
        Assert.Equal(ProblemTypes.RateLimited, (await ApiClient.ProblemAsync(tooMany)).Type);
        Assert.InRange(int.Parse(tooMany.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 60);

        // an account's own calls are not limited this way: the token from the login still works
        Assert.Equal(HttpStatusCode.OK, (await client.Http.GetAsync("v1/account")).StatusCode);
    }

    [Theory]
    [InlineData("192.0.2.7", "192.0.2.7")]
    [InlineData("::ffff:192.0.2.7", "192.0.2.7")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::")]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2::")]
    public void A_client_is_an_ipv4_address_or_an_ipv6_64(string address, string client) =>
        Assert.Equal(IPAddress.Parse(client), Letterlock.Provider.Api.ClientRateLimits.ClientOf(IPAddress.Parse(address)));
}

/// <summary>Stopping the provider (SIGTERM) does not wait for the change feed's long polls.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task Stopping_answers_an_open_long_poll_at_once_instead_of_waiting_for_it()
    {
        var provider = await TestProvider.StartAsync(Backend.Sqlite, null);
        ValueTask? stopped = null;
        try
        {
            using var client = provider.Client();
            var alice = await client.CreateAccountAsync("alice@example.test");
            await client.LoginAsync(alice);
            long since = (await client.ChangesAsync(0)).Next;

            // longer than the host's shutdown timeout (30 s): before, the stop waited that long and then cut the request
            var poll = client.Http.GetAsync(FormattableString.Invariant($"v1/changes?since={since}&wait=55"));
            for (int i = 0; i < 300 && !provider.Host.Notifier.IsWaiting(alice.AccountId); i++)
            {
                await Task.Delay(100);
            }

            Assert.True(provider.Host.Notifier.IsWaiting(alice.AccountId));
            stopped = provider.DisposeAsync();
            using var response = await poll;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Empty((await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ChangesResponse))!.Changes);
        }
        finally
        {
            await (stopped ?? provider.DisposeAsync());
        }
    }
}
