using System.Net;
using System.Net.Http.Json;
using Letterlock.Api;
using Letterlock.Provider.Storage;
using Npgsql;

namespace Letterlock.Provider.Tests;

/// <summary>Recovery, device lists, account deletion and the per-address back-off; runs once per backend.</summary>
public abstract class AccountAccessTests(Backend backend, PostgresServer postgres)
{
    private const string WrongSecretType = ProblemTypes.Unauthorized;

    private Task<TestProvider> Start(int freeFailedLogins = 5) =>
        TestProvider.StartAsync(backend, postgres, editSettings: path =>
            File.WriteAllText(path, File.ReadAllText(path)
                .Replace("\"freeFailedLogins\": 5", $"\"freeFailedLogins\": {freeFailedLogins}", StringComparison.Ordinal)
                .Replace("\"failedLoginBackoffSeconds\": 30", "\"failedLoginBackoffSeconds\": 600", StringComparison.Ordinal)
                .Replace("\"passwordArgon2idMemoryKiB\": 65536", "\"passwordArgon2idMemoryKiB\": 19456", StringComparison.Ordinal)
                .Replace("\"passwordArgon2idIterations\": 3", "\"passwordArgon2idIterations\": 1", StringComparison.Ordinal)));

    /// <summary>A recovery key pair (the client derives it from the recovery code; the provider sees only the public half).</summary>
    private static (byte[] Private, byte[] Public) RecoveryKey() => DeviceAuthentication.GenerateKeyPair();

    private static async Task<HttpResponseMessage> Recover(ApiClient client, string address, byte[] recoveryPrivate, Guid? replayLogin = null)
    {
        var start = await client.Http.PostAsJsonAsync("v1/recovery/start", new RecoveryStartRequest(address), AccountsJsonContext.Default.RecoveryStartRequest);
        Assert.Equal(HttpStatusCode.OK, start.StatusCode);
        var challenge = (await start.Content.ReadFromJsonAsync(AccountsJsonContext.Default.RecoveryStartResponse))!;
        var loginId = replayLogin ?? challenge.LoginId;
        var (devicePrivate, devicePublic) = DeviceAuthentication.GenerateKeyPair();
        var request = new RecoveryFinishRequest(loginId,
            DeviceAuthentication.Sign(recoveryPrivate, AccountAccess.RecoveryMessage(TestProvider.Domain, address, loginId, challenge.Challenge, devicePublic)),
            devicePublic, "recovered device",
            DeviceAuthentication.Sign(devicePrivate, AccountAccess.JoinMessage(TestProvider.Domain, address, loginId, devicePublic)));
        return await client.Http.PostAsJsonAsync("v1/recovery/finish", request, AccountsJsonContext.Default.RecoveryFinishRequest);
    }

    [Fact]
    public async Task The_recovery_key_joins_a_device_and_a_wrong_key_looks_like_an_unknown_address()
    {
        await using var provider = await Start();
        using var client = provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        var (recoveryPrivate, recoveryPublic) = RecoveryKey();
        byte[] wrapped = [.. Enumerable.Range(0, 82).Select(i => (byte)i)];
        var set = await client.Http.PutAsJsonAsync("v1/account/recovery", new SetRecoveryRequest(wrapped, recoveryPublic), AccountsJsonContext.Default.SetRecoveryRequest);
        Assert.Equal(HttpStatusCode.NoContent, set.StatusCode);
        var badVerifier = await client.Http.PutAsJsonAsync("v1/account/recovery", new SetRecoveryRequest(wrapped, new byte[31]), AccountsJsonContext.Default.SetRecoveryRequest);
        Assert.Equal(HttpStatusCode.BadRequest, badVerifier.StatusCode);

        using var stranger = provider.Client();
        var wrong = await Recover(stranger, "alice@example.test", RecoveryKey().Private);
        var unknown = await Recover(stranger, "nobody@example.test", RecoveryKey().Private);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Equal(await wrong.Content.ReadAsStringAsync(), await unknown.Content.ReadAsStringAsync());
        Assert.Equal(WrongSecretType, (await ApiClient.ProblemAsync(wrong)).Type);

        var joined = await Recover(stranger, "alice@example.test", recoveryPrivate);
        Assert.Equal(HttpStatusCode.Created, joined.StatusCode);
        var access = (await joined.Content.ReadFromJsonAsync(AccountsJsonContext.Default.AccountAccessResponse))!;
        Assert.Equal(alice.AccountId, access.AccountId);
        Assert.Equal(wrapped, access.WrappedAmk);
        Assert.Equal("alice@example.test", access.Address);

        // The device list shows both, with last-seen times once a device authenticated.
        var list = (await client.Http.GetFromJsonAsync("v1/account/devices", AccountsJsonContext.Default.DeviceListResponse))!;
        Assert.Equal(2, list.Devices.Count);
        Assert.True(list.HasRecovery);
        Assert.False(list.HasPassword);
        Assert.NotNull(list.Devices.Single(d => d.DeviceId == alice.DeviceId).LastSeenAt);
        Assert.Null(list.Devices.Single(d => d.DeviceId == access.DeviceId).LastSeenAt);

        // A finished recovery cannot be finished again (replay), and revoking the new device ends its access.
        var start = await stranger.Http.PostAsJsonAsync("v1/recovery/start", new RecoveryStartRequest("alice@example.test"), AccountsJsonContext.Default.RecoveryStartRequest);
        var challenge = (await start.Content.ReadFromJsonAsync(AccountsJsonContext.Default.RecoveryStartResponse))!;
        var (devicePrivate, devicePublic) = DeviceAuthentication.GenerateKeyPair();
        var finish = new RecoveryFinishRequest(challenge.LoginId,
            DeviceAuthentication.Sign(recoveryPrivate, AccountAccess.RecoveryMessage(TestProvider.Domain, "alice@example.test", challenge.LoginId, challenge.Challenge, devicePublic)),
            devicePublic, "second",
            DeviceAuthentication.Sign(devicePrivate, AccountAccess.JoinMessage(TestProvider.Domain, "alice@example.test", challenge.LoginId, devicePublic)));
        Assert.Equal(HttpStatusCode.Created, (await stranger.Http.PostAsJsonAsync("v1/recovery/finish", finish, AccountsJsonContext.Default.RecoveryFinishRequest)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.Http.PostAsJsonAsync("v1/recovery/finish", finish, AccountsJsonContext.Default.RecoveryFinishRequest)).StatusCode);

        // A signature made for another device key (the request's device swapped in transit) does not verify.
        var start2 = await stranger.Http.PostAsJsonAsync("v1/recovery/start", new RecoveryStartRequest("alice@example.test"), AccountsJsonContext.Default.RecoveryStartRequest);
        var challenge2 = (await start2.Content.ReadFromJsonAsync(AccountsJsonContext.Default.RecoveryStartResponse))!;
        var (otherPrivate, otherPublic) = DeviceAuthentication.GenerateKeyPair();
        var swapped = new RecoveryFinishRequest(challenge2.LoginId,
            DeviceAuthentication.Sign(recoveryPrivate, AccountAccess.RecoveryMessage(TestProvider.Domain, "alice@example.test", challenge2.LoginId, challenge2.Challenge, devicePublic)),
            otherPublic, "swapped",
            DeviceAuthentication.Sign(otherPrivate, AccountAccess.JoinMessage(TestProvider.Domain, "alice@example.test", challenge2.LoginId, otherPublic)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.Http.PostAsJsonAsync("v1/recovery/finish", swapped, AccountsJsonContext.Default.RecoveryFinishRequest)).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await client.Http.DeleteAsync($"v1/devices/{access.DeviceId}")).StatusCode);
        var revoked = (await client.Http.GetFromJsonAsync("v1/account/devices", AccountsJsonContext.Default.DeviceListResponse))!;
        Assert.NotNull(revoked.Devices.Single(d => d.DeviceId == access.DeviceId).RevokedAt);
    }

    [Fact]
    public async Task Failed_recoveries_back_off_per_address_known_or_not_at_the_configured_edge()
    {
        await using var provider = await Start(freeFailedLogins: 2);
        using var client = provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        var (_, recoveryPublic) = RecoveryKey();
        await client.Http.PutAsJsonAsync("v1/account/recovery", new SetRecoveryRequest(new byte[82], recoveryPublic), AccountsJsonContext.Default.SetRecoveryRequest);

        foreach (string address in new[] { "alice@example.test", "nobody@example.test" })
        {
            using var attacker = provider.Client();
            // the limit is two failures: both are answered (401), the second sets the back-off for the next attempt
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(HttpStatusCode.Unauthorized, (await Recover(attacker, address, RecoveryKey().Private)).StatusCode);
            }

            var blocked = await attacker.Http.PostAsJsonAsync("v1/recovery/start", new RecoveryStartRequest(address), AccountsJsonContext.Default.RecoveryStartRequest);
            Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
            Assert.InRange(int.Parse(blocked.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 590, 600);
            Assert.Equal(ProblemTypes.RateLimited, (await ApiClient.ProblemAsync(blocked)).Type);
        }

        // The right key is refused too while blocked (the back-off is per address, not per guess).
        using var owner = provider.Client();
        var start = await owner.Http.PostAsJsonAsync("v1/recovery/start", new RecoveryStartRequest("alice@example.test"), AccountsJsonContext.Default.RecoveryStartRequest);
        Assert.Equal(HttpStatusCode.TooManyRequests, start.StatusCode);

        // Other addresses are not affected.
        await client.CreateAccountAsync("bob@example.test");
        Assert.Equal(HttpStatusCode.Unauthorized, (await Recover(owner, "bob@example.test", RecoveryKey().Private)).StatusCode);
    }

    [Fact]
    public async Task A_login_start_looks_the_same_for_a_password_no_password_and_no_account_and_bad_syntax_is_a_400()
    {
        await using var provider = await Start(freeFailedLogins: 50);
        using var client = provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.CreateAccountAsync("bob@example.test"); // device-only: no password
        await client.LoginAsync(alice);
        byte[] password = "correct horse battery staple"u8.ToArray();
        var ksf = new Letterlock.Cryptography.Opaque.Argon2idParameters { MemoryKiB = 19 * 1024, Iterations = 1 };
        var opaque = new Letterlock.Cryptography.Opaque.OpaqueClient(new Letterlock.Cryptography.Opaque.Argon2idKeyStretching(ksf));
        var (registration, registrationRequest) = opaque.StartRegistration(password);
        var started = await client.Http.PostAsJsonAsync("v1/account/password/start", new PasswordStartRequest(registrationRequest.Serialize()), AccountsJsonContext.Default.PasswordStartRequest);
        Assert.True(Letterlock.Cryptography.Opaque.RegistrationResponse.TryParse((await started.Content.ReadFromJsonAsync(AccountsJsonContext.Default.PasswordStartResponse))!.RegistrationResponse, out var parsed));
        var (record, _) = opaque.FinishRegistration(registration, password, parsed, Letterlock.Cryptography.Opaque.OpaqueIdentities.FromStrings("alice@example.test", TestProvider.Domain));
        Assert.Equal(HttpStatusCode.NoContent, (await client.Http.PutAsJsonAsync("v1/account/password",
            new SetPasswordRequest(record.Serialize(), new byte[82], ksf.Serialize()), AccountsJsonContext.Default.SetPasswordRequest)).StatusCode);

        using var stranger = provider.Client();
        async Task<HttpResponseMessage> StartFor(string address)
        {
            var (state, ke1) = opaque.StartLogin(password);
            state.Dispose();
            return await stranger.Http.PostAsJsonAsync("v1/login/start", new LoginStartRequest(address, ke1.Serialize()), AccountsJsonContext.Default.LoginStartRequest);
        }

        // The same status, the same Argon2id parameters, the same message sizes, the same JSON members.
        var answers = new List<(HttpStatusCode Status, LoginStartResponse Start, string[] Members)>();
        foreach (var address in new[] { "alice@example.test", "bob@example.test", "nobody@example.test" })
        {
            var response = await StartFor(address);
            string json = await response.Content.ReadAsStringAsync();
            var members = System.Text.Json.JsonDocument.Parse(json).RootElement.EnumerateObject().Select(p => p.Name).ToArray();
            answers.Add((response.StatusCode, System.Text.Json.JsonSerializer.Deserialize(json, AccountsJsonContext.Default.LoginStartResponse)!, members));
        }

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.All(answers, a => Assert.Equal(ksf.Serialize(), a.Start.KsfParameters));
        Assert.All(answers, a => Assert.Equal(answers[0].Members, a.Members));
        Assert.All(answers, a => Assert.Equal(answers[0].Start.Ke2.Length, a.Start.Ke2.Length));
        Assert.All(answers, a => Assert.Equal(answers[0].Start.ServerNonce.Length, a.Start.ServerNonce.Length));

        // Malformed syntax (or another provider's address) is a 400 problem before any lookup, for login and recovery alike.
        foreach (var bad in new[] { "no-at-sign", "alice@", "@example.test", "alice@other.test", "" })
        {
            var login = await StartFor(bad);
            Assert.Equal(HttpStatusCode.BadRequest, login.StatusCode);
            Assert.Equal("application/problem+json", login.Content.Headers.ContentType?.MediaType);
            var recovery = await stranger.Http.PostAsJsonAsync("v1/recovery/start", new RecoveryStartRequest(bad), AccountsJsonContext.Default.RecoveryStartRequest);
            Assert.Equal(HttpStatusCode.BadRequest, recovery.StatusCode);
            Assert.Equal("application/problem+json", recovery.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Password_logins_cannot_be_replayed_or_moved_to_another_provider_and_every_start_counts()
    {
        await using var provider = await Start(freeFailedLogins: 3);
        using var client = provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        byte[] password = "correct horse battery staple"u8.ToArray();
        var ksf = new Letterlock.Cryptography.Opaque.Argon2idParameters { MemoryKiB = 19 * 1024, Iterations = 1 };
        var opaque = new Letterlock.Cryptography.Opaque.OpaqueClient(new Letterlock.Cryptography.Opaque.Argon2idKeyStretching(ksf));
        var identities = Letterlock.Cryptography.Opaque.OpaqueIdentities.FromStrings("alice@example.test", TestProvider.Domain);
        var (registration, registrationRequest) = opaque.StartRegistration(password);
        var started = await client.Http.PostAsJsonAsync("v1/account/password/start", new PasswordStartRequest(registrationRequest.Serialize()), AccountsJsonContext.Default.PasswordStartRequest);
        var registrationResponse = (await started.Content.ReadFromJsonAsync(AccountsJsonContext.Default.PasswordStartResponse))!;
        Assert.Equal(ksf.Serialize(), registrationResponse.KsfParameters);
        Assert.True(Letterlock.Cryptography.Opaque.RegistrationResponse.TryParse(registrationResponse.RegistrationResponse, out var parsedResponse));
        var (record, _) = opaque.FinishRegistration(registration, password, parsedResponse, identities);
        var set = await client.Http.PutAsJsonAsync("v1/account/password", new SetPasswordRequest(record.Serialize(), new byte[82], ksf.Serialize()), AccountsJsonContext.Default.SetPasswordRequest);
        Assert.Equal(HttpStatusCode.NoContent, set.StatusCode);
        var tooCheap = await client.Http.PutAsJsonAsync("v1/account/password",
            new SetPasswordRequest(record.Serialize(), new byte[82], new Letterlock.Cryptography.Opaque.Argon2idParameters { MemoryKiB = 1024, Iterations = 1 }.Serialize()), AccountsJsonContext.Default.SetPasswordRequest);
        Assert.Equal(HttpStatusCode.BadRequest, tooCheap.StatusCode);

        // Parameters a client would accept, but not the provider's: refused too (one set for every account).
        var notTheProviders = await client.Http.PutAsJsonAsync("v1/account/password",
            new SetPasswordRequest(record.Serialize(), new byte[82], Letterlock.Cryptography.Opaque.Argon2idParameters.Default.Serialize()), AccountsJsonContext.Default.SetPasswordRequest);
        Assert.Equal(HttpStatusCode.BadRequest, notTheProviders.StatusCode);
        Assert.Contains("accounts.passwordArgon2idMemoryKiB", (await ApiClient.ProblemAsync(notTheProviders)).Detail, StringComparison.Ordinal);

        async Task<(LoginStartResponse Start, Letterlock.Cryptography.Opaque.LoginOutcome Outcome)> Begin(string domainForClient)
        {
            var (state, ke1) = opaque.StartLogin(password);
            var response = await client.Http.PostAsJsonAsync("v1/login/start", new LoginStartRequest("alice@example.test", ke1.Serialize()), AccountsJsonContext.Default.LoginStartRequest);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var start = (await response.Content.ReadFromJsonAsync(AccountsJsonContext.Default.LoginStartResponse))!;
            Assert.Equal(ksf.Serialize(), start.KsfParameters);
            Assert.True(Letterlock.Cryptography.Opaque.KE2.TryParse(start.Ke2, out var ke2));
            var outcome = opaque.FinishLogin(state, password, ke2, Letterlock.Cryptography.Opaque.OpaqueIdentities.FromStrings("alice@example.test", domainForClient),
                AccountAccess.OpaqueContext(domainForClient, "alice@example.test", start.ServerNonce));
            return (start, outcome);
        }

        LoginFinishRequest Finish(LoginStartResponse start, Letterlock.Cryptography.Opaque.LoginOutcome outcome)
        {
            var (devicePrivate, devicePublic) = DeviceAuthentication.GenerateKeyPair();
            return new LoginFinishRequest(start.LoginId, outcome.KE3!.Serialize(), devicePublic, "phone",
                DeviceAuthentication.Sign(devicePrivate, AccountAccess.JoinMessage(TestProvider.Domain, "alice@example.test", start.LoginId, devicePublic)));
        }

        // A transcript made for another provider (its domain in the identities and the context) does not verify.
        var (_, elsewhere) = await Begin("other.test");
        Assert.False(elsewhere.Succeeded);

        // The real login joins a device; the same KE3 again is refused.
        var (goodStart, good) = await Begin(TestProvider.Domain);
        Assert.True(good.Succeeded);
        var request = Finish(goodStart, good);
        var joined = await client.Http.PostAsJsonAsync("v1/login/finish", request, AccountsJsonContext.Default.LoginFinishRequest);
        Assert.Equal(HttpStatusCode.Created, joined.StatusCode);
        Assert.Equal(new byte[82], (await joined.Content.ReadFromJsonAsync(AccountsJsonContext.Default.AccountAccessResponse))!.WrappedAmk);
        var replayed = await client.Http.PostAsJsonAsync("v1/login/finish", request, AccountsJsonContext.Default.LoginFinishRequest);
        Assert.Equal(HttpStatusCode.Unauthorized, replayed.StatusCode);

        // The success cleared the count; now three starts without a finish (guesses tested offline against KE2)
        // use up the limit, and the fourth start is refused, with or without the right password.
        for (int i = 0; i < 3; i++)
        {
            await Begin(TestProvider.Domain);
        }

        var (state, ke1) = opaque.StartLogin(password);
        state.Dispose();
        var blocked = await client.Http.PostAsJsonAsync("v1/login/start", new LoginStartRequest("alice@example.test", ke1.Serialize()), AccountsJsonContext.Default.LoginStartRequest);
        Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
    }

    [Fact]
    public async Task A_deleted_account_loses_its_documents_and_keeps_its_address_until_the_quarantine_ends()
    {
        await using var provider = await Start();
        using var client = provider.Client();
        var alice = await client.CreateAccountAsync("alice@example.test");
        await client.LoginAsync(alice);
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("doc-1", new byte[100 * 1024])).StatusCode);

        var unconfirmed = new HttpRequestMessage(HttpMethod.Delete, "v1/account") { Content = JsonContent.Create(new DeleteAccountRequest("bob@example.test"), AccountsJsonContext.Default.DeleteAccountRequest) };
        Assert.Equal(HttpStatusCode.BadRequest, (await client.Http.SendAsync(unconfirmed)).StatusCode);
        var delete = new HttpRequestMessage(HttpMethod.Delete, "v1/account") { Content = JsonContent.Create(new DeleteAccountRequest("alice@example.test"), AccountsJsonContext.Default.DeleteAccountRequest) };
        Assert.Equal(HttpStatusCode.NoContent, (await client.Http.SendAsync(delete)).StatusCode);

        // The token died with the account; nothing of its documents is left; the address is not given out again.
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.Http.GetAsync("v1/quota")).StatusCode);
        Assert.Null(await provider.Host.Store.GetDocumentAsync(alice.AccountId, "doc-1", CancellationToken.None));
        var account = (await provider.Host.Store.GetAccountAsync(alice.AccountId, CancellationToken.None))!;
        Assert.Equal(AccountStatus.Deleted, account.Status);
        Assert.Equal(0, account.UsedBytes);
        Assert.Equal(HttpStatusCode.NotFound, (await client.Http.GetAsync("v1/directory/alice@example.test")).StatusCode);
        var (again, _) = ApiClient.NewAccountRequest("alice@example.test");
        Assert.Equal(HttpStatusCode.Conflict, (await client.Http.PostAsJsonAsync("v1/accounts", again, ApiJsonContext.Default.CreateAccountRequest)).StatusCode);
        var challenge = await client.ChallengeAsync(alice.DeviceId);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.RedeemAsync(challenge.ChallengeId, ApiClient.SignChallenge(alice, challenge))).StatusCode);

        // Within the quarantine nothing is purged; after it, the address is free.
        Assert.Equal(0, await provider.Host.Store.PurgeDeletedAccountsAsync(DateTimeOffset.UtcNow.AddDays(-1), CancellationToken.None));
        Assert.Equal(1, await provider.Host.Store.PurgeDeletedAccountsAsync(DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None));
        Assert.Null(await provider.Host.Store.GetAccountAsync(alice.AccountId, CancellationToken.None));
        var reborn = await client.CreateAccountAsync("alice@example.test");
        Assert.NotEqual(alice.AccountId, reborn.AccountId);
    }

    [Fact]
    public async Task A_database_written_before_schema_versions_is_migrated_in_place_and_a_newer_one_is_refused()
    {
        string directory = TestProvider.CreateDirectory();
        try
        {
            // Main's schema (migration 1) with an account, a device and a document, as main wrote them.
            await using (var old = await OpenStore(directory, migrate: false))
            {
                await old.ExecuteAsync(SqlProviderStore.Migrations[0].Statements);
                await old.ExecuteAsync(
                [
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                    "INSERT INTO accounts VALUES ('3f2c0a9e-5b1d-4a7e-9f00-0123456789ab', 'alice', 'x', 0, 1000000, 3, 1, 1, X'00', X'01', NULL, 1700000000000, 1700000000000)",
                    "INSERT INTO devices VALUES ('11111111-2222-4333-8444-555555555555', '3f2c0a9e-5b1d-4a7e-9f00-0123456789ab', X'02', 'laptop', 1700000000000, 0)",
                    "INSERT INTO documents VALUES ('3f2c0a9e-5b1d-4a7e-9f00-0123456789ab', 'm-1', 'message', 1, 1, 3, 3, 1700000000000, 0, X'414243', NULL)",
                ]);
            }

            await using (var store = await OpenStore(directory, migrate: true))
            {
                Assert.Equal(SqlProviderStore.SchemaVersion, await store.Store.GetSchemaVersionAsync(CancellationToken.None));
                var account = (await store.Store.FindAccountAsync("alice", CancellationToken.None))!;
                Assert.Null(account.DeletedAt);
                var device = Assert.Single(await store.Store.ListDevicesAsync(account.Id, CancellationToken.None));
                Assert.Equal("laptop", device.Name);
                Assert.Null(device.LastSeenAt);
                Assert.Equal("ABC"u8.ToArray(), (await store.Store.GetDocumentAsync(account.Id, "m-1", CancellationToken.None))!.Content!.Inline);
                Assert.Null(await store.Store.GetSlotAsync(account.Id, SlotKinds.Recovery, CancellationToken.None));
            }

            // Opening again changes nothing; a database from a newer provider is refused before anything is written.
            await using (var store = await OpenStore(directory, migrate: true))
            {
                Assert.Equal(SqlProviderStore.SchemaVersion, await store.Store.GetSchemaVersionAsync(CancellationToken.None));
                await store.ExecuteAsync([$"INSERT INTO schema_version (version) VALUES ({SqlProviderStore.SchemaVersion + 1})"]);
            }

            await using (var store = await OpenStore(directory, migrate: false))
            {
                var refused = await Assert.ThrowsAsync<StoreSchemaException>(() => store.Store.InitializeAsync(CancellationToken.None));
                Assert.Contains($"schema version {SqlProviderStore.SchemaVersion + 1}", refused.Message, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private string? _databaseUrl;

    private async Task<RawStore> OpenStore(string directory, bool migrate)
    {
        string path = Path.Combine(directory, "letterlock.db");
        if (backend == Backend.Postgres)
        {
            _databaseUrl ??= await postgres.CreateDatabaseAsync();
        }

        SqlProviderStore store = backend == Backend.Postgres
            ? new PostgresProviderStore(PostgresServer.ConnectionString(_databaseUrl!), new ChangeNotifier())
            : new SqliteProviderStore(path, new ChangeNotifier());
        if (migrate)
        {
            await store.InitializeAsync(CancellationToken.None);
        }

        return new RawStore(store, backend == Backend.Postgres ? PostgresServer.ConnectionString(_databaseUrl!) : $"Data Source={path}", backend);
    }

    private sealed class RawStore(SqlProviderStore store, string connectionString, Backend backend) : IAsyncDisposable
    {
        public SqlProviderStore Store => store;

        public async Task ExecuteAsync(IEnumerable<string> statements)
        {
            System.Data.Common.DbConnection connection = backend == Backend.Postgres
                ? new NpgsqlConnection(connectionString)
                : new Microsoft.Data.Sqlite.SqliteConnection(connectionString);
            await using (connection)
            {
                await connection.OpenAsync();
                foreach (string statement in statements)
                {
                    await using var command = connection.CreateCommand();
                    command.CommandText = backend == Backend.Postgres
                        ? statement.Replace("{blob}", "BYTEA", StringComparison.Ordinal).Replace("X'", "'\\x", StringComparison.Ordinal)
                        : statement.Replace("{blob}", "BLOB", StringComparison.Ordinal);
                    await command.ExecuteNonQueryAsync();
                }
            }
        }

        public ValueTask DisposeAsync() => store.DisposeAsync();
    }
}

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SqliteAccountAccessTests(PostgresServer postgres) : AccountAccessTests(Backend.Sqlite, postgres);

[Collection("postgres")]
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PostgresAccountAccessTests(PostgresServer postgres) : AccountAccessTests(Backend.Postgres, postgres);
