using System.Text;
using Letterlock.Client.Discovery;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;

namespace Letterlock.Client.Tests.Discovery;

/// <summary>Key discovery against a real HTTPS server (Kestrel with a test CA) reached through a static host map.</summary>
public sealed class DiscoveryTests
{
    private static readonly string BobHash = Wkd.HashLocalPart("bob");
    private static readonly string AdvancedPath = $"openpgpkey.beta.test/.well-known/openpgpkey/beta.test/hu/{BobHash}";
    private static readonly string AdvancedPolicy = "openpgpkey.beta.test/.well-known/openpgpkey/beta.test/policy";
    private static readonly string DirectPath = $"beta.test/.well-known/openpgpkey/hu/{BobHash}";
    private const string HkpPath = "keys.test/pks/lookup";

    private static KeyDiscoveryOptions Options() => new() { HkpServers = [new Uri("hkps://keys.test")] };

    private static KeyDiscovery Discovery(HttpClient http, KeyDiscoveryOptions options, params IKeySource[] extra) =>
        new([new WkdKeySource(http, options), new HkpKeySource(http, options), .. extra], options);

    [Fact]
    public async Task Wkd_advanced_method_finds_the_key_with_the_hashed_local_part_and_l_parameter()
    {
        await using var server = await TestHttpsServer.StartAsync();
        server.Serve(AdvancedPath, TestKeys.Bob.Export(armored: false));
        using var http = TestHttpsServer.Client(server.HostMap());
        var result = await Discovery(http, Options()).DiscoverAsync("Bob@beta.test");

        var key = Assert.IsType<DiscoveredKey>(result.Key);
        Assert.Equal(KeyOrigin.Wkd, key.Origin);
        Assert.Equal(TestKeys.Bob.Fingerprint.Hex, key.Fingerprint.Hex);
        Assert.Equal($"{AdvancedPath}?l=bob", Assert.Single(server.Requests));
        Assert.Equal(DiscoveryAttemptStatus.Found, Assert.Single(result.Attempts).Status);
    }

    [Fact]
    public async Task Without_the_openpgpkey_subdomain_the_direct_method_is_used()
    {
        await using var server = await TestHttpsServer.StartAsync();
        server.Serve(DirectPath, Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(TestKeys.Bob.Export(armored: true))));
        // openpgpkey.beta.test is not in the map and system DNS is off: the name does not resolve.
        using var http = TestHttpsServer.Client(server.HostMap("beta.test", "keys.test"));
        var result = await Discovery(http, Options()).DiscoverAsync("bob@beta.test");

        Assert.Equal(TestKeys.Bob.Fingerprint.Hex, result.Key!.Fingerprint.Hex);
        Assert.Equal($"{DirectPath}?l=bob", Assert.Single(server.Requests));
    }

    [Fact]
    public async Task An_advanced_404_stands_when_the_policy_file_exists_and_falls_back_when_it_does_not()
    {
        await using var server = await TestHttpsServer.StartAsync();
        server.Serve(DirectPath, TestKeys.Bob.Export(armored: false));
        server.Serve(AdvancedPolicy, []);
        using var http = TestHttpsServer.Client(server.HostMap());
        var options = Options();
        options.SourceOrder = [KeyOrigin.Wkd];
        var result = await Discovery(http, options).DiscoverAsync("bob@beta.test");
        Assert.Null(result.Key);
        Assert.Equal(DiscoveryAttemptStatus.NotFound, Assert.Single(result.Attempts).Status);
        Assert.DoesNotContain(server.Requests, r => r.StartsWith(DirectPath, StringComparison.Ordinal));

        server.Routes.TryRemove(AdvancedPolicy, out _);
        var fallback = await Discovery(http, options).DiscoverAsync("bob@beta.test");
        Assert.Equal(TestKeys.Bob.Fingerprint.Hex, fallback.Key!.Fingerprint.Hex);
    }

    [Fact]
    public async Task Hkp_is_asked_with_the_machine_readable_get_and_picks_the_certificate_for_the_address()
    {
        await using var server = await TestHttpsServer.StartAsync();
        server.Serve(HkpPath, [.. TestKeys.Carol.Export(armored: true), .. TestKeys.Bob.Export(armored: true)], "application/pgp-keys");
        using var http = TestHttpsServer.Client(server.HostMap());
        var result = await Discovery(http, Options()).DiscoverAsync("bob@beta.test");

        Assert.Equal(KeyOrigin.Hkp, result.Key!.Origin);
        Assert.Equal(TestKeys.Bob.Fingerprint.Hex, result.Key.Fingerprint.Hex);
        Assert.Contains("keys.test/pks/lookup?op=get&options=mr&search=bob%40beta.test", server.Requests);
        Assert.Equal([KeyOrigin.Wkd, KeyOrigin.Hkp], result.Attempts.Select(a => a.Origin));
    }

    [Fact]
    public async Task Unusable_answers_are_rejected_and_the_next_source_is_tried()
    {
        await using var server = await TestHttpsServer.StartAsync();
        server.Serve(AdvancedPath, TestKeys.Carol.Export(armored: false));
        server.Serve(HkpPath, TestKeys.ExpiredBob.Export(armored: true));
        using var http = TestHttpsServer.Client(server.HostMap());
        var result = await Discovery(http, Options()).DiscoverAsync("bob@beta.test");
        Assert.Null(result.Key);
        Assert.Equal([DiscoveryAttemptStatus.Rejected, DiscoveryAttemptStatus.Rejected], result.Attempts.Select(a => a.Status));
        Assert.Contains("no certificate has a user ID with the address", result.Attempts[0].Detail, StringComparison.Ordinal);
        Assert.Contains("expired", result.Attempts[1].Detail, StringComparison.Ordinal);

        server.Serve(AdvancedPath, "<html>not a key</html>"u8.ToArray());
        var garbage = await Discovery(http, Options()).DiscoverAsync("bob@beta.test");
        Assert.Contains("not an OpenPGP certificate", garbage.Attempts[0].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sources_are_tried_in_the_configured_order_and_autocrypt_state_comes_from_the_store()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var alice = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        await store.Contacts.UpdateAsync(alice.Id, "bob@beta.test", c => new ContactUpdate(c with
        {
            Autocrypt = new AutocryptPeerState(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, TestKeys.Bob2.Export(armored: false), true, null, null),
        }, []));

        await using var server = await TestHttpsServer.StartAsync();
        server.Serve(HkpPath, TestKeys.Bob.Export(armored: true));
        using var http = TestHttpsServer.Client(server.HostMap());
        var options = Options();
        var autocrypt = new AutocryptKeySource(store, alice.Id);

        var byDefault = await Discovery(http, options, autocrypt).DiscoverAsync("bob@beta.test");
        Assert.Equal(KeyOrigin.Autocrypt, byDefault.Key!.Origin);
        Assert.Equal(TestKeys.Bob2.Fingerprint.Hex, byDefault.Key.Fingerprint.Hex);

        options.SourceOrder = [KeyOrigin.ProviderDirectory, KeyOrigin.Wkd, KeyOrigin.Hkp, KeyOrigin.Autocrypt];
        var hkpFirst = await Discovery(http, options, autocrypt).DiscoverAsync("bob@beta.test");
        Assert.Equal(KeyOrigin.Hkp, hkpFirst.Key!.Origin);
        Assert.Throws<ArgumentException>(() => options.SourceOrder = [KeyOrigin.Wkd, KeyOrigin.Wkd]);
        Assert.Throws<ArgumentException>(() => options.HkpServers = [new Uri("hkp://keys.test")]);
    }

    [Fact]
    public async Task The_response_size_limit_holds_at_its_edge_with_and_without_content_length()
    {
        await using var server = await TestHttpsServer.StartAsync();
        server.Serve("beta.test/exact", new byte[4096]);
        server.Serve("beta.test/over", new byte[4097]);
        server.Routes["beta.test/chunked"] = async context =>
        {
            for (int i = 0; i < 5; i++)
            {
                await context.Response.Body.WriteAsync(new byte[1000]);
                await context.Response.Body.FlushAsync();
            }
        };
        using var http = TestHttpsServer.Client(server.HostMap());
        async Task<FetchResult> Get(string path) =>
            await HttpFetch.GetAsync(http, new Uri("https://beta.test/" + path), 4096, TimeSpan.FromSeconds(10), null, CancellationToken.None);

        var exact = await Get("exact");
        Assert.Equal(FetchStatus.Ok, exact.Status);
        Assert.Equal(4096, exact.Body!.Length);
        Assert.Equal(FetchStatus.TooLarge, (await Get("over")).Status);
        Assert.Equal(FetchStatus.TooLarge, (await Get("chunked")).Status);
        Assert.Equal(FetchStatus.NotFound, (await Get("missing")).Status);
    }

    [Fact]
    public async Task A_slow_server_times_out_and_discovery_goes_on()
    {
        await using var server = await TestHttpsServer.StartAsync();
        server.Routes[AdvancedPath] = async context => await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
        server.Serve(HkpPath, TestKeys.Bob.Export(armored: true));
        using var http = TestHttpsServer.Client(server.HostMap("openpgpkey.beta.test", "keys.test"));
        var options = Options();
        // Generous enough that the healthy HKP request completes on a loaded machine, far below the 30 s hang.
        options.RequestTimeout = TimeSpan.FromSeconds(3);
        var result = await Discovery(http, options).DiscoverAsync("bob@beta.test");
        Assert.NotNull(result.Key);
        Assert.Equal(KeyOrigin.Hkp, result.Key.Origin);
        var wkd = result.Attempts[0];
        Assert.Equal(DiscoveryAttemptStatus.Failed, wkd.Status);
    }

    [Fact]
    public async Task The_total_time_limit_stops_discovery()
    {
        await using var server = await TestHttpsServer.StartAsync();
        server.Routes[AdvancedPath] = async context => await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
        server.Serve(HkpPath, TestKeys.Bob.Export(armored: true));
        using var http = TestHttpsServer.Client(server.HostMap());
        var options = Options();
        options.TotalTimeout = TimeSpan.FromMilliseconds(300);
        var result = await Discovery(http, options).DiscoverAsync("bob@beta.test");
        Assert.Null(result.Key);
        Assert.Contains("time limit", Assert.Single(result.Attempts).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Untrusted_or_misnamed_certificates_are_network_errors()
    {
        await using var server = await TestHttpsServer.StartAsync();
        server.Serve(AdvancedPath, TestKeys.Bob.Export(armored: false));
        using (var untrusting = TestHttpsServer.Client(server.HostMap(), trustCa: false))
        {
            var result = await HttpFetch.GetAsync(untrusting, Wkd.AdvancedUri("bob@beta.test"), 4096, TimeSpan.FromSeconds(10), null, CancellationToken.None);
            Assert.Equal(FetchStatus.NetworkError, result.Status);
        }

        await using var misnamed = await TestHttpsServer.StartAsync(TestHttpsServer.Ca.IssueServerCertificate(["elsewhere.test"]));
        misnamed.Serve(AdvancedPath, TestKeys.Bob.Export(armored: false));
        using var http = TestHttpsServer.Client(misnamed.HostMap());
        var wrongName = await HttpFetch.GetAsync(http, Wkd.AdvancedUri("bob@beta.test"), 4096, TimeSpan.FromSeconds(10), null, CancellationToken.None);
        Assert.Equal(FetchStatus.NetworkError, wrongName.Status);
        Assert.Empty(misnamed.Requests);
    }

    [Fact]
    public async Task A_key_replaced_on_the_server_is_marked_changed_and_not_used_until_accepted()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var alice = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        await using var server = await TestHttpsServer.StartAsync();
        using var http = TestHttpsServer.Client(server.HostMap());
        var resolver = new ContactKeyResolver(store, alice.Id, Discovery(http, Options()));

        server.Serve(AdvancedPath, TestKeys.Bob.Export(armored: false));
        var first = await resolver.ResolveAsync("bob@beta.test");
        Assert.Equal(KeyValidationLevel.Tofu, first.Level);
        Assert.Equal(TestKeys.Bob.Fingerprint.Hex, first.EncryptionKey!.Fingerprint.Hex);

        server.Serve(AdvancedPath, TestKeys.Bob2.Export(armored: false));
        var changed = await resolver.ResolveAsync("bob@beta.test");
        Assert.Equal(KeyValidationLevel.Changed, changed.Level);
        Assert.Null(changed.EncryptionKey);

        var accepted = await store.Contacts.AcceptKeyAsync(alice.Id, "bob@beta.test", KeyFingerprint.Parse(TestKeys.Bob2.Fingerprint.Hex));
        Assert.Equal(TestKeys.Bob2.Fingerprint.Hex, accepted.State.EncryptionKey!.Fingerprint.Hex);
        var again = await resolver.ResolveAsync("bob@beta.test");
        Assert.Equal(KeyValidationLevel.Tofu, again.Level);
        Assert.Equal(
            [KeyTransitionReason.FirstSeen, KeyTransitionReason.KeyChanged, KeyTransitionReason.UserAccepted],
            (await store.Contacts.HistoryAsync(alice.Id, "bob@beta.test")).Select(t => t.Reason));
    }

    [Fact]
    public async Task Transparency_evidence_is_checked_by_the_verifier_when_one_is_configured()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        var alice = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        var evidence = new TransparencyEvidence("beta.test", new byte[] { 1, 2, 3 });
        var source = new FixedSource(KeyOrigin.ProviderDirectory, TestKeys.Bob.Export(armored: false), evidence);
        var options = Options();
        options.SourceOrder = [KeyOrigin.ProviderDirectory];
        var verifier = new RecordingVerifier(TransparencyVerdict.Verified);
        var resolver = new ContactKeyResolver(store, alice.Id, new KeyDiscovery([source], options), verifier);

        var resolved = await resolver.ResolveAsync("bob@beta.test");
        Assert.Equal(KeyValidationLevel.Transparent, resolved.Level);
        Assert.Equal(("bob@beta.test", TestKeys.Bob.Fingerprint.Hex, evidence), Assert.Single(verifier.Calls));

        var unverified = new ContactKeyResolver(store, AccountId.New(), new KeyDiscovery([source], options));
        await Assert.ThrowsAsync<LocalStoreException>(() => unverified.ResolveAsync("bob@beta.test"));
    }

    /// <summary>A key source answering from memory, standing in for the provider directory until its API lands.</summary>
    private sealed class FixedSource(KeyOrigin origin, byte[] data, TransparencyEvidence? evidence) : IKeySource
    {
        public KeyOrigin Origin => origin;

        public Task<SourceLookup> LookupAsync(string address, CancellationToken ct) =>
            Task.FromResult(new SourceLookup(origin, SourceLookupStatus.Found, data, null, null, evidence));
    }

    private sealed class RecordingVerifier(TransparencyVerdict verdict) : ITransparencyVerifier
    {
        public List<(string, string, TransparencyEvidence)> Calls { get; } = [];

        public ValueTask<TransparencyVerdict> VerifyAsync(string address, KeyFingerprint fingerprint, TransparencyEvidence evidence, CancellationToken ct)
        {
            Calls.Add((address, fingerprint.Hex, evidence));
            return ValueTask.FromResult(verdict);
        }
    }
}
