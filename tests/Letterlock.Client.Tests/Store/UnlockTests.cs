using Letterlock.Client.Store;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Tests.Store;

public sealed class UnlockTests
{
    [Fact]
    public async Task A_store_reopens_with_its_passphrase_and_refuses_a_wrong_one()
    {
        using var dir = new TempDir();
        using (var store = await TestStores.Create(dir))
        {
            await store.Accounts.CreateAsync("alice@alpha.test", "Alice", null);
        }

        using (var reopened = await TestStores.Open(dir))
        {
            var account = Assert.Single(await reopened.Accounts.ListAsync());
            Assert.Equal("alice@alpha.test", account.Address);
        }

        var wrong = await Assert.ThrowsAsync<StoreUnlockException>(() =>
            LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithPassphrase("not it"), TestStores.FastOptions()));
        Assert.Equal("wrong passphrase for the store", wrong.Message);
    }

    [Fact]
    public async Task Default_argon2_parameters_work()
    {
        using var dir = new TempDir();
        using (await LocalStore.CreateAsync(dir.File("client.db"), StoreUnlock.WithPassphrase("pass")))
        {
        }

        using var store = await LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithPassphrase("pass"));
        Assert.Empty(await store.Accounts.ListAsync());
        await using var connection = new SqliteConnection($"Data Source={dir.File("client.db")};Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT memory_kib, passes FROM unlock_slots";
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(64 * 1024, reader.GetInt64(0));
        Assert.Equal(3, reader.GetInt64(1));
    }

    [Fact]
    public async Task A_key_file_with_mode_0600_unlocks_and_a_readable_one_is_refused()
    {
        using var dir = new TempDir();
        var keyFile = dir.File("store.key");
        KeyFile.Create(keyFile);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        using (var store = await TestStores.Create(dir))
        {
            await store.AddUnlockAsync(StoreUnlock.WithKeyFile(keyFile));
        }

        using (await LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(keyFile), TestStores.FastOptions()))
        {
        }

        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var refused = await Assert.ThrowsAsync<KeyFileException>(() =>
            LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(keyFile), TestStores.FastOptions()));
        Assert.Contains("mode 0644", refused.Message, StringComparison.Ordinal);
        Assert.Contains("chmod 600", refused.Message, StringComparison.Ordinal);

        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupWrite);
        await Assert.ThrowsAsync<KeyFileException>(() =>
            LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(keyFile), TestStores.FastOptions()));
    }

    [Fact]
    public async Task Another_key_file_does_not_unlock_the_store()
    {
        using var dir = new TempDir();
        KeyFile.Create(dir.File("a.key"));
        KeyFile.Create(dir.File("b.key"));
        using (var store = await TestStores.Create(dir))
        {
            await store.AddUnlockAsync(StoreUnlock.WithKeyFile(dir.File("a.key")));
        }

        var e = await Assert.ThrowsAsync<StoreUnlockException>(() =>
            LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(dir.File("b.key")), TestStores.FastOptions()));
        Assert.Equal("the key file does not unlock this store", e.Message);
    }

    [Fact]
    public async Task Key_files_that_are_missing_malformed_or_too_large_get_clear_errors()
    {
        using var dir = new TempDir();
        using (await TestStores.Create(dir))
        {
        }

        async Task<string> Fails(string path, LocalStoreOptions? options = null) =>
            (await Assert.ThrowsAsync<KeyFileException>(() =>
                LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(path), options ?? TestStores.FastOptions()))).Message;

        Assert.Contains("does not exist", await Fails(dir.File("missing.key")), StringComparison.Ordinal);

        var malformed = dir.File("malformed.key");
        await File.WriteAllTextAsync(malformed, "letterlock-keyfile-v1 notbase64!!\n");
        File.SetUnixFileMode(malformed, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Contains("not a Letterlock key file", await Fails(malformed), StringComparison.Ordinal);

        // The size limit at its edge: a valid file padded to exactly the limit is read, one byte more is refused.
        var valid = dir.File("valid.key");
        KeyFile.Create(valid);
        var text = await File.ReadAllTextAsync(valid);
        var options = TestStores.FastOptions();
        options.MaxKeyFileBytes = 256;
        var padded = dir.File("padded.key");
        await File.WriteAllTextAsync(padded, text + new string('#', 256 - text.Length));
        File.SetUnixFileMode(padded, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        // Exactly at the limit: parsed, then refused only because this store has no slot for it.
        await Assert.ThrowsAsync<StoreUnlockException>(() =>
            LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(padded), options));
        await File.AppendAllTextAsync(padded, "#");
        Assert.Contains("larger than 256 bytes", await Fails(padded, options), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_last_unlock_slot_cannot_be_removed_and_a_removed_key_file_stops_working()
    {
        using var dir = new TempDir();
        var keyFile = dir.File("store.key");
        KeyFile.Create(keyFile);
        using (var store = await TestStores.Create(dir))
        {
            await store.AddUnlockAsync(StoreUnlock.WithKeyFile(keyFile));
            Assert.Equal(1, await store.RemoveUnlockAsync(StoreUnlockKind.KeyFile));
            var e = await Assert.ThrowsAsync<LocalStoreException>(() => store.RemoveUnlockAsync(StoreUnlockKind.Passphrase));
            Assert.Contains("last way to unlock", e.Message, StringComparison.Ordinal);
        }

        await Assert.ThrowsAsync<StoreUnlockException>(() =>
            LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithKeyFile(keyFile), TestStores.FastOptions()));
        using (await TestStores.Open(dir))
        {
        }
    }

    [Fact]
    public async Task A_planted_store_cannot_demand_unbounded_argon2_work_and_weakened_parameters_do_not_unlock()
    {
        using var dir = new TempDir();
        using (await TestStores.Create(dir))
        {
        }

        await ExecuteRaw(dir, "UPDATE unlock_slots SET memory_kib = 2097152");
        var limited = TestStores.FastOptions();
        var e = await Assert.ThrowsAsync<LocalStoreException>(() => TestStores.Open(dir, options: limited));
        Assert.Contains("more than the configured limits", e.Message, StringComparison.Ordinal);

        // Lowering the cost in place breaks the binding of the wrapped key to its parameters.
        await ExecuteRaw(dir, "UPDATE unlock_slots SET memory_kib = 8192, passes = 1");
        await ExecuteRaw(dir, "UPDATE unlock_slots SET passes = 2");
        await Assert.ThrowsAsync<StoreUnlockException>(() => TestStores.Open(dir));
    }

    [Fact]
    public async Task Argon2_passes_limit_holds_at_its_edge()
    {
        using var dir = new TempDir();
        var options = TestStores.FastOptions();
        options.MaxArgon2Passes = 2;
        options.Argon2Passes = 2;
        using (await TestStores.Create(dir, options: options))
        {
        }

        using (await TestStores.Open(dir, options: options))
        {
        }

        options.MaxArgon2Passes = 1;
        options.Argon2Passes = 1;
        await Assert.ThrowsAsync<LocalStoreException>(() => TestStores.Open(dir, options: options));
        Assert.Throws<ArgumentOutOfRangeException>(() => options.Argon2Passes = 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.Argon2MemoryKiB = 1024);
    }

    [Fact]
    public async Task Creating_over_an_existing_file_is_refused()
    {
        using var dir = new TempDir();
        await File.WriteAllTextAsync(dir.File("client.db"), "precious");
        var e = await Assert.ThrowsAsync<LocalStoreException>(() => TestStores.Create(dir));
        Assert.Contains("refusing to overwrite", e.Message, StringComparison.Ordinal);
        Assert.Equal("precious", await File.ReadAllTextAsync(dir.File("client.db")));
    }

    [Fact]
    public async Task The_store_file_is_private_to_its_owner()
    {
        using var dir = new TempDir();
        using var store = await TestStores.Create(dir);
        await store.Accounts.CreateAsync("alice@alpha.test", null, null);
        foreach (var file in Directory.GetFiles(dir.Path, "client.db*"))
        {
            var mode = File.GetUnixFileMode(file);
            Assert.True((mode & (UnixFileMode)0x3F) == 0, $"{file} has mode {Convert.ToString((int)mode, 8)}");
        }
    }

    internal static async Task ExecuteRaw(TempDir dir, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={dir.File("client.db")};Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
