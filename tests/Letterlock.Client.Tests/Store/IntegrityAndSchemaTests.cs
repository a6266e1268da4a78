using Letterlock.Client.Store;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Tests.Store;

public sealed class IntegrityAndSchemaTests
{
    [Fact]
    public async Task Ciphertext_swapped_between_rows_or_columns_or_altered_does_not_open()
    {
        using var dir = new TempDir();
        AccountId accountId;
        using (var store = await TestStores.Create(dir))
        {
            var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
            accountId = account.Id;
            var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
            _ = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("first", "one"))).Done;
            _ = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("second", "two"))).Done;
        }

        // Swap the summaries of the two messages: each is valid ciphertext, bound to the other row.
        await UnlockTests.ExecuteRaw(dir, """
            UPDATE messages SET summary = (SELECT summary FROM messages m2 WHERE m2.uid <> messages.uid)
            """);
        using (var store = await TestStores.Open(dir))
        {
            var inbox = (await store.Mail(accountId).FindFolderAsync("INBOX"))!;
            var e = await Assert.ThrowsAsync<StoreIntegrityException>(() => store.Mail(accountId).ListAsync(inbox.Id));
            Assert.Contains("messages.summary", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Ciphertext_moved_to_another_column_or_flipped_does_not_open()
    {
        using var dir = new TempDir();
        AccountId accountId;
        using (var store = await TestStores.Create(dir))
        {
            var account = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
            accountId = account.Id;
            var inbox = (await store.Mail(account.Id).FindFolderAsync("INBOX"))!;
            _ = (await store.Mail(account.Id).AppendAsync(inbox.Id, TestStores.Message("first", "one"))).Done;
        }

        await UnlockTests.ExecuteRaw(dir, "UPDATE messages SET flags = summary");
        using (var store = await TestStores.Open(dir))
        {
            var inbox = (await store.Mail(accountId).FindFolderAsync("INBOX"))!;
            await Assert.ThrowsAsync<StoreIntegrityException>(() => store.Mail(accountId).ListAsync(inbox.Id));
        }

        await UnlockTests.ExecuteRaw(dir, "UPDATE accounts SET data = substr(data, 1, length(data) - 1) || x'00'");
        using (var store = await TestStores.Open(dir))
        {
            await Assert.ThrowsAsync<StoreIntegrityException>(() => store.Accounts.ListAsync());
        }
    }

    [Fact]
    public async Task A_row_moved_to_another_account_does_not_open()
    {
        using var dir = new TempDir();
        using (var store = await TestStores.Create(dir))
        {
            var alice = await store.Accounts.CreateAsync("alice@alpha.test", null, null);
            var bob = await store.Accounts.CreateAsync("bob@beta.test", null, null);
            await store.Keys.AddAsync(alice.Id, "openpgp-secret", new byte[] { 1, 2, 3 });
        }

        await UnlockTests.ExecuteRaw(dir, "UPDATE account_keys SET account_id = (SELECT id FROM accounts WHERE id <> account_keys.account_id)");
        using (var store = await TestStores.Open(dir))
        {
            var bob = (await store.Accounts.FindAsync("bob@beta.test"))!;
            await Assert.ThrowsAsync<StoreIntegrityException>(() => store.Keys.ListAsync(bob.Id));
        }
    }

    [Fact]
    public async Task A_fresh_store_is_at_the_current_schema_and_marked_as_ours()
    {
        using var dir = new TempDir();
        using (await TestStores.Create(dir))
        {
        }

        await using var connection = new SqliteConnection($"Data Source={dir.File("client.db")};Pooling=false");
        await connection.OpenAsync();
        Assert.Equal(StoreSchema.CurrentVersion, StoreSchema.ReadVersion(connection));
        Assert.Equal(StoreSchema.ApplicationId, StoreSchema.ScalarLong(connection, null, "PRAGMA application_id"));
        Assert.Equal("wal", (string?)await new SqliteCommand("PRAGMA journal_mode", connection).ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_store_from_a_newer_version_is_refused_untouched()
    {
        using var dir = new TempDir();
        using (await TestStores.Create(dir))
        {
        }

        await UnlockTests.ExecuteRaw(dir, $"PRAGMA user_version = {StoreSchema.CurrentVersion + 1}");
        var e = await Assert.ThrowsAsync<StoreVersionException>(() => TestStores.Open(dir));
        Assert.Contains("newer than this Letterlock understands", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Files_that_are_not_stores_are_refused_with_a_clear_message()
    {
        using var dir = new TempDir();
        await File.WriteAllTextAsync(dir.File("client.db"), new string('x', 5000));
        var garbage = await Assert.ThrowsAsync<StoreVersionException>(() => TestStores.Open(dir));
        Assert.Contains("not a Letterlock client store", garbage.Message, StringComparison.Ordinal);

        File.Delete(dir.File("client.db"));
        await UnlockTests.ExecuteRaw(dir, "CREATE TABLE other (x)");
        var other = await Assert.ThrowsAsync<StoreVersionException>(() => TestStores.Open(dir));
        Assert.Contains("not a Letterlock client store", other.Message, StringComparison.Ordinal);

        File.Delete(dir.File("client.db"));
        var missing = await Assert.ThrowsAsync<LocalStoreException>(() => TestStores.Open(dir));
        Assert.Contains("no store at", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_later_migration_with_a_data_transform_runs_once_and_atomically()
    {
        using var dir = new TempDir();
        AccountId accountId;
        using (var store = await TestStores.Create(dir))
        {
            accountId = (await store.Accounts.CreateAsync("alice@alpha.test", "Alice", null)).Id;
        }

        int runs = 0;
        var failing = StoreSchema.Migrations.Append(new Migration(StoreSchema.CurrentVersion + 1, "test step",
            "ALTER TABLE accounts ADD COLUMN extra BLOB", (_, _, _) => throw new InvalidOperationException("power cut"))).ToList();
        Assert.Throws<InvalidOperationException>(() =>
            LocalStore.OpenWithMigrations(dir.File("client.db"), StoreUnlock.WithPassphrase(TestStores.Passphrase), TestStores.FastOptions(), TimeProvider.System, failing));

        var working = StoreSchema.Migrations.Append(new Migration(StoreSchema.CurrentVersion + 1, "test step",
            "ALTER TABLE accounts ADD COLUMN extra BLOB", (connection, transaction, cipher) =>
            {
                runs++;
                using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = "UPDATE accounts SET extra = $value";
                command.Parameters.AddWithValue("$value", cipher!.SealString(new SealedColumn("accounts", "extra"), Guid.Empty, Guid.Empty, "migrated"));
                command.ExecuteNonQuery();
            })).ToList();
        // The failed attempt rolled back its ALTER TABLE, so the step applies cleanly now, and only once.
        using (var store = LocalStore.OpenWithMigrations(dir.File("client.db"), StoreUnlock.WithPassphrase(TestStores.Passphrase), TestStores.FastOptions(), TimeProvider.System, working))
        {
            Assert.Equal("Alice", (await store.Accounts.GetAsync(accountId))!.DisplayName);
        }

        using (LocalStore.OpenWithMigrations(dir.File("client.db"), StoreUnlock.WithPassphrase(TestStores.Passphrase), TestStores.FastOptions(), TimeProvider.System, working))
        {
        }

        Assert.Equal(1, runs);
        // This code (without the test step) now refuses the migrated store rather than misreading it.
        await Assert.ThrowsAsync<StoreVersionException>(() => TestStores.Open(dir));
    }
}
