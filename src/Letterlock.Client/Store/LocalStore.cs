using System.Security.Cryptography;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>
/// The client's local store: one SQLite file holding every account, folder, message, flag,
/// contact and key of this client, each sealed with AEAD under a random local key. The local key
/// is wrapped in unlock slots (a passphrase through Argon2id, or a key file).
/// </summary>
/// <remarks>
/// Durability: WAL with <c>synchronous=FULL</c>; every logical change is one <c>BEGIN IMMEDIATE</c>
/// transaction, so a crash keeps it whole or not at all. Temporary tables and sorts stay in memory
/// (<c>temp_store=MEMORY</c>) and freed pages are zeroed (<c>secure_delete</c>), so no plaintext —
/// and no stale ciphertext — lingers in files beside the database. The SQLite calls are synchronous
/// (Microsoft.Data.Sqlite has no true async I/O); the async API keeps callers uniform.
/// </remarks>
public sealed class LocalStore : IDisposable
{
    private const string StoreIdName = "store_id";
    private readonly string _connectionString;
    private readonly byte[] _localKey;
    private readonly Guid _storeId;
    private readonly Lock _writeGate = new();
    private readonly List<StoreChange> _pendingChanges = [];

    // Search index rows of the messages appended by the current write, by message row: written together just before it
    // commits (see MessageStore.Index).
    private readonly SortedDictionary<long, (string Tokens, bool GramsComplete)> _pendingIndex = [];
    private bool _inWrite;

    // The connection every write of this store goes through (under _writeGate), kept open so its page cache stays warm.
    private SqliteConnection? _writer;
    private int _disposed;

    private LocalStore(string path, string connectionString, byte[] localKey, Guid storeId, LocalStoreOptions options, TimeProvider time)
    {
        FilePath = path;
        _connectionString = connectionString;
        _localKey = localKey;
        _storeId = storeId;
        Options = options;
        Time = time;
        Cipher = StoreCipher.FromLocalKey(localKey);
        Accounts = new AccountStore(this);
        Folders = new FolderStore(this);
        Messages = new MessageStore(this);
        Contacts = new ContactStore(this);
        Keys = new AccountKeyStore(this);
        Jobs = new WorkQueue(this);
        Settings = new SettingsStore(this);
    }

    /// <summary>The database file.</summary>
    public string FilePath { get; }

    /// <summary>Settings and limits in force.</summary>
    public LocalStoreOptions Options { get; }

    /// <summary>Accounts of this client.</summary>
    public AccountStore Accounts { get; }

    /// <summary>The SQL of folders (behind <see cref="Mail"/>).</summary>
    internal FolderStore Folders { get; }

    /// <summary>The SQL of messages, flags and the search index (behind <see cref="Mail"/>).</summary>
    internal MessageStore Messages { get; }

    /// <summary>Contacts and their key validation state.</summary>
    public ContactStore Contacts { get; }

    /// <summary>Private key material of each account.</summary>
    public AccountKeyStore Keys { get; }

    /// <summary>Resumable work (sync steps, queued outgoing mail).</summary>
    public WorkQueue Jobs { get; }

    /// <summary>Client-wide sealed settings (for example the bridge's TLS key).</summary>
    public SettingsStore Settings { get; }

    internal StoreCipher Cipher { get; }

    /// <summary>
    /// The mail of one account: folders, messages, flags, search (docs/design/client-store.md). A cheap handle;
    /// a folder or message of another account is not found through it.
    /// </summary>
    public AccountMail Mail(AccountId account) => new(this, account);

    internal TimeProvider Time { get; }

    /// <summary>Creates a new store at <paramref name="path"/> (which must not exist) with one unlock slot.</summary>
    /// <exception cref="LocalStoreException">The file exists or cannot be created.</exception>
    public static Task<LocalStore> CreateAsync(string path, StoreUnlock unlock, LocalStoreOptions? options = null,
        TimeProvider? time = null, CancellationToken ct = default) =>
        Run(() => Create(path, unlock, options ?? new LocalStoreOptions(), time ?? TimeProvider.System), ct);

    /// <summary>Opens and unlocks an existing store, applying pending schema migrations.</summary>
    /// <exception cref="StoreUnlockException">Wrong passphrase or key file.</exception>
    /// <exception cref="KeyFileException">The key file is missing, malformed or readable by others.</exception>
    /// <exception cref="StoreVersionException">Not a Letterlock store, or one from a newer version.</exception>
    public static Task<LocalStore> OpenAsync(string path, StoreUnlock unlock, LocalStoreOptions? options = null,
        TimeProvider? time = null, CancellationToken ct = default) =>
        Run(() => OpenWithMigrations(path, unlock, options ?? new LocalStoreOptions(), time ?? TimeProvider.System, StoreSchema.Migrations), ct);

    /// <summary>Adds another way to unlock (e.g. a key file next to the passphrase).</summary>
    public Task AddUnlockAsync(StoreUnlock unlock, CancellationToken ct = default) => Write((connection, transaction) =>
    {
        var slot = UnlockSlots.Create(unlock, _storeId, _localKey, Options);
        InsertSlot(connection, transaction, slot);
        return true;
    }, ct);

    /// <summary>
    /// Removes every unlock slot of one kind (<c>passphrase</c> or <c>keyfile</c>), e.g. to revoke a
    /// leaked key file. Refuses to remove the last slot, which would lock the store for good.
    /// </summary>
    public Task<int> RemoveUnlockAsync(StoreUnlockKind kind, CancellationToken ct = default) => Write((connection, transaction) =>
    {
        var kindText = kind == StoreUnlockKind.Passphrase ? UnlockSlots.PassphraseKind : UnlockSlots.KeyFileKind;
        var others = StoreSchema.ScalarLong(connection, transaction,
            $"SELECT count(*) FROM unlock_slots WHERE kind <> '{kindText}'");
        if (others == 0)
        {
            throw new LocalStoreException("refusing to remove the last way to unlock the store");
        }

        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "DELETE FROM unlock_slots WHERE kind = $kind";
        command.Parameters.AddWithValue("$kind", kindText);
        return command.ExecuteNonQuery();
    }, ct);

    /// <summary>Closes pooled connections and wipes the keys from memory.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (_writeGate)
        {
            // A pooled connection set to the larger cache must not serve later readers: closed for good, not returned.
            if (_writer is { } writer)
            {
                SqliteConnection.ClearPool(writer);
                writer.Dispose();
                _writer = null;
            }
        }

        using (var connection = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(connection);
        }

        Cipher.Dispose();
        CryptographicOperations.ZeroMemory(_localKey);
    }

    internal static LocalStore OpenWithMigrations(string path, StoreUnlock unlock, LocalStoreOptions options, TimeProvider time, IReadOnlyList<Migration> migrations)
    {
        ArgumentNullException.ThrowIfNull(unlock);
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new LocalStoreException($"no store at {fullPath}");
        }

        var connectionString = ConnectionString(fullPath, SqliteOpenMode.ReadWrite, options);
        SqliteConnection? connection = null;
        try
        {
            connection = OpenConnection(connectionString);
            var version = StoreSchema.CheckCompatible(connection, migrations);
            if (version == 0)
            {
                throw new StoreVersionException("the file is not a Letterlock client store");
            }

            if (unlock is StoreUnlock.KeyFileUnlock keyFile)
            {
                // Check the key file first, so a bad one is reported as such even when no slot matches.
                CryptographicOperations.ZeroMemory(KeyFile.ReadSecret(keyFile.Path, options.MaxKeyFileBytes));
            }

            var storeId = ReadStoreId(connection);
            byte[]? localKey = null;
            foreach (var slot in ReadSlots(connection).Where(s => s.Kind == unlock.Kind))
            {
                localKey = UnlockSlots.TryOpen(slot, unlock, storeId, options);
                if (localKey is not null)
                {
                    break;
                }
            }

            if (localKey is null)
            {
                throw new StoreUnlockException(unlock.Kind == UnlockSlots.PassphraseKind
                    ? "wrong passphrase for the store"
                    : "the key file does not unlock this store");
            }

            var store = new LocalStore(fullPath, connectionString, localKey, storeId, options, time);
            try
            {
                StoreSchema.Migrate(connection, store.Cipher, migrations);
                return store;
            }
            catch
            {
                store.Dispose();
                throw;
            }
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 26 /* SQLITE_NOTADB */ or 11 /* SQLITE_CORRUPT */)
        {
            throw new StoreVersionException("the file is not a Letterlock client store (not an SQLite database, or damaged)");
        }
        finally
        {
            connection?.Dispose();
        }
    }

    private static LocalStore Create(string path, StoreUnlock unlock, LocalStoreOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(unlock);
        var fullPath = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(fullPath)!;
        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        // Create the file ourselves with mode 0600; SQLite gives its -wal and -shm files the same mode.
        try
        {
            var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (new FileStream(fullPath, fileOptions))
            {
            }
        }
        catch (IOException) when (File.Exists(fullPath))
        {
            throw new LocalStoreException($"a file already exists at {fullPath}; refusing to overwrite it");
        }

        try
        {
            var connectionString = ConnectionString(fullPath, SqliteOpenMode.ReadWrite, options);
            var storeId = Guid.NewGuid();
            var localKey = GC.AllocateArray<byte>(StoreCipher.LocalKeySize, pinned: true);
            RandomNumberGenerator.Fill(localKey);
            using (var connection = OpenConnection(connectionString))
            {
                using (var wal = connection.CreateCommand())
                {
                    wal.CommandText = "PRAGMA journal_mode = WAL";
                    wal.ExecuteNonQuery();
                }

                StoreSchema.Migrate(connection, null, StoreSchema.Migrations);
                using var transaction = connection.BeginTransaction(deferred: false);
                using (var command = connection.CreateCommand())
                {
                    command.Transaction = transaction;
                    command.CommandText = "INSERT INTO store_meta (name, value) VALUES ($name, $value)";
                    command.Parameters.AddWithValue("$name", StoreIdName);
                    command.Parameters.AddWithValue("$value", StoreCipher.GuidBytes(storeId));
                    command.ExecuteNonQuery();
                }

                InsertSlot(connection, transaction, UnlockSlots.Create(unlock, storeId, localKey, options));
                transaction.Commit();
            }

            return new LocalStore(fullPath, connectionString, localKey, storeId, options, time);
        }
        catch
        {
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(fullPath + suffix);
            }

            throw;
        }
    }

    internal SqliteConnection OpenConnection()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return OpenConnection(_connectionString);
    }

    /// <summary>
    /// Committed changes to folders and messages, raised in commit order after each write
    /// transaction (the bridge turns them into IMAP updates). Handlers run on the writer's thread
    /// while later writers wait, so they must be quick; an exception in a handler is swallowed.
    /// Changes made by another process on the same file are not seen.
    /// </summary>
    public event Action<StoreChange>? Changed;

    /// <summary>Runs <paramref name="work"/> in one write transaction (BEGIN IMMEDIATE) and commits it.</summary>
    internal Task<T> Write<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken ct) => Run(() =>
    {
        lock (_writeGate)
        {
            _pendingChanges.Clear();
            _pendingIndex.Clear();
            try
            {
                T result;
                var connection = Writer();
                using (var transaction = connection.BeginTransaction(deferred: false))
                {
                    _inWrite = true;
                    result = work(connection, transaction);
                    _inWrite = false;
                    Messages.WriteIndex(connection, transaction, _pendingIndex);
                    transaction.Commit();
                }

                foreach (var change in _pendingChanges)
                {
                    try
                    {
                        Changed?.Invoke(change);
                    }
#pragma warning disable CA1031 // A subscriber's failure must not undo or hide a committed write.
                    catch (Exception)
#pragma warning restore CA1031
                    {
                    }
                }

                return result;
            }
            finally
            {
                _inWrite = false;
                _pendingChanges.Clear();
                _pendingIndex.Clear();
            }
        }
    }, ct);

    /// <summary>The writing connection (under <see cref="_writeGate"/>), opened on first use with its larger page cache.</summary>
    private SqliteConnection Writer()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_writer is null)
        {
            var connection = OpenConnection(_connectionString);
            try
            {
                using var command = connection.CreateCommand();
                command.CommandText = FormattableString.Invariant($"PRAGMA cache_size = -{Options.WriterCacheKiB}");
                command.ExecuteNonQuery();
            }
            catch
            {
                connection.Dispose();
                throw;
            }

            _writer = connection;
        }

        return _writer;
    }

    /// <summary>Records a change to raise once the current write transaction commits (only inside <see cref="Write"/>).</summary>
    internal void Emit(StoreChange change) => _pendingChanges.Add(change);

    /// <summary>
    /// Keeps a new message's search index row to write just before the current write transaction commits; false outside
    /// <see cref="Write"/> (the caller writes it at once). A row given again replaces the earlier one: row ids are unique
    /// among live messages, so the earlier message was deleted in this transaction.
    /// </summary>
    internal bool DeferIndex(long row, string tokens, bool gramsComplete)
    {
        if (!_inWrite)
        {
            return false;
        }

        _pendingIndex[row] = (tokens, gramsComplete);
        return true;
    }

    /// <summary>
    /// Reads while no write of this process can commit, so the caller can build state from the
    /// store and subscribe to <see cref="Changed"/> without missing or repeating a change.
    /// </summary>
    public Task<T> ReadExclusiveAsync<T>(Func<LocalStore, T> work, CancellationToken ct = default) => Run(() =>
    {
        ArgumentNullException.ThrowIfNull(work);
        lock (_writeGate)
        {
            return work(this);
        }
    }, ct);

    /// <summary>Runs <paramref name="work"/> in one read transaction, so it sees a consistent snapshot.</summary>
    internal Task<T> Read<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken ct) => Run(() =>
    {
        using var connection = OpenConnection();
        using var transaction = connection.BeginTransaction(deferred: true);
        return work(connection, transaction);
    }, ct);

    private static Task<T> Run<T>(Func<T> work, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(ct);
        }

        try
        {
            return Task.FromResult(work());
        }
        catch (Exception e)
        {
            return Task.FromException<T>(e);
        }
    }

    private static string ConnectionString(string path, SqliteOpenMode mode, LocalStoreOptions options) =>
        new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = mode,
            Pooling = true,
            DefaultTimeout = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds),
        }.ToString();

    private static SqliteConnection OpenConnection(string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText =
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA secure_delete = ON;";
            command.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static Guid ReadStoreId(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT value FROM store_meta WHERE name = $name";
        command.Parameters.AddWithValue("$name", StoreIdName);
        return command.ExecuteScalar() is byte[] bytes
            ? StoreCipher.ReadGuid(bytes)
            : throw new StoreIntegrityException("the store has no identity record");
    }

    private static List<UnlockSlot> ReadSlots(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, kind, salt, memory_kib, passes, wrapped_key FROM unlock_slots";
        using var reader = command.ExecuteReader();
        var slots = new List<UnlockSlot>();
        while (reader.Read())
        {
            slots.Add(new UnlockSlot(
                reader.GetId(0),
                reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetBlob(2),
                (int)Math.Clamp(reader.GetInt64(3), 0, int.MaxValue),
                (int)Math.Clamp(reader.GetInt64(4), 0, int.MaxValue),
                reader.GetBlob(5)));
        }

        return slots;
    }

    private static void InsertSlot(SqliteConnection connection, SqliteTransaction transaction, UnlockSlot slot)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO unlock_slots (id, kind, salt, memory_kib, passes, wrapped_key)
            VALUES ($id, $kind, $salt, $memory, $passes, $wrapped)
            """;
        command.Parameters.AddWithValue("$id", StoreCipher.GuidBytes(slot.Id));
        command.Parameters.AddWithValue("$kind", slot.Kind);
        command.Parameters.AddWithValue("$salt", (object?)slot.Salt ?? DBNull.Value);
        command.Parameters.AddWithValue("$memory", slot.MemoryKiB);
        command.Parameters.AddWithValue("$passes", slot.Passes);
        command.Parameters.AddWithValue("$wrapped", slot.WrappedKey);
        command.ExecuteNonQuery();
    }
}

/// <summary>The kinds of unlock slot.</summary>
public enum StoreUnlockKind
{
    /// <summary>A passphrase stretched with Argon2id.</summary>
    Passphrase,

    /// <summary>A key file with mode 0600.</summary>
    KeyFile,
}
