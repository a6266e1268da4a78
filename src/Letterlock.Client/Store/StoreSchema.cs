using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>One schema step: SQL, plus an optional transform that may re-seal data with the store's keys (null while a new, empty store is created).</summary>
internal sealed record Migration(int Version, string Description, string Sql, Action<SqliteConnection, SqliteTransaction, StoreCipher?>? Transform = null);

/// <summary>
/// The schema of the local store, versioned with <c>PRAGMA user_version</c> from the first release.
/// Each migration runs in the same transaction as the version bump, so a crash leaves the store at
/// the old or the new version, never between. A store newer than this code is refused, not guessed at.
/// </summary>
/// <remarks>
/// Plaintext columns hold only identifiers, counters and keyed hashes (IMAP UIDs, MODSEQs, row ids,
/// HMAC lookup keys and search tokens); everything a person wrote or reads is in sealed columns.
/// </remarks>
internal static class StoreSchema
{
    /// <summary>'LLCS' (Letterlock client store) in <c>PRAGMA application_id</c>, to recognise our files.</summary>
    public const int ApplicationId = 0x4C4C4353;

    public static IReadOnlyList<Migration> Migrations { get; } =
    [
        new(1, "initial schema", """
            CREATE TABLE store_meta (
                name  TEXT PRIMARY KEY,
                value BLOB NOT NULL
            ) WITHOUT ROWID;

            CREATE TABLE unlock_slots (
                id          BLOB PRIMARY KEY,
                kind        TEXT NOT NULL CHECK (kind IN ('passphrase', 'keyfile')),
                salt        BLOB,
                memory_kib  INTEGER NOT NULL,
                passes      INTEGER NOT NULL,
                wrapped_key BLOB NOT NULL
            ) WITHOUT ROWID;

            CREATE TABLE accounts (
                id          BLOB NOT NULL UNIQUE,
                address_key BLOB NOT NULL UNIQUE,
                data        BLOB NOT NULL
            );

            CREATE TABLE folders (
                id             BLOB NOT NULL UNIQUE,
                account_id     BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
                name_key       BLOB NOT NULL,
                data           BLOB NOT NULL,
                uid_validity   INTEGER NOT NULL,
                uid_next       INTEGER NOT NULL,
                highest_modseq INTEGER NOT NULL,
                UNIQUE (account_id, name_key)
            );

            CREATE TABLE messages (
                id              BLOB NOT NULL UNIQUE,
                account_id      BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
                folder_id       BLOB NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
                uid             INTEGER NOT NULL,
                modseq          INTEGER NOT NULL,
                remote_id       TEXT,
                remote_revision INTEGER,
                flags           BLOB NOT NULL,
                summary         BLOB NOT NULL,
                UNIQUE (folder_id, uid)
            );
            CREATE INDEX messages_by_remote ON messages (account_id, remote_id) WHERE remote_id IS NOT NULL;

            CREATE TABLE message_bodies (
                message_id BLOB PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
                body       BLOB NOT NULL
            );

            CREATE TABLE expunged (
                folder_id BLOB NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
                uid       INTEGER NOT NULL,
                modseq    INTEGER NOT NULL,
                PRIMARY KEY (folder_id, uid)
            ) WITHOUT ROWID;

            CREATE TABLE search_tokens (
                token      BLOB NOT NULL,
                message_id BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
                PRIMARY KEY (token, message_id)
            ) WITHOUT ROWID;
            CREATE INDEX search_tokens_by_message ON search_tokens (message_id);

            CREATE TABLE contacts (
                id          BLOB NOT NULL UNIQUE,
                account_id  BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
                address_key BLOB NOT NULL,
                data        BLOB NOT NULL,
                UNIQUE (account_id, address_key)
            );

            CREATE TABLE contact_events (
                id         BLOB NOT NULL UNIQUE,
                contact_id BLOB NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
                seq        INTEGER NOT NULL,
                data       BLOB NOT NULL,
                UNIQUE (contact_id, seq)
            );

            CREATE TABLE account_keys (
                id         BLOB NOT NULL UNIQUE,
                account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
                purpose    TEXT NOT NULL,
                data       BLOB NOT NULL
            );
            CREATE INDEX account_keys_by_purpose ON account_keys (account_id, purpose);

            CREATE TABLE jobs (
                id          BLOB NOT NULL UNIQUE,
                account_id  BLOB REFERENCES accounts (id) ON DELETE CASCADE,
                kind        TEXT NOT NULL,
                state       INTEGER NOT NULL,
                attempts    INTEGER NOT NULL,
                not_before  INTEGER NOT NULL,
                lease_until INTEGER,
                payload     BLOB NOT NULL,
                last_error  BLOB
            );
            CREATE INDEX jobs_by_kind ON jobs (kind, state, not_before);
            """),
        new(2, "client-wide sealed settings (bridge TLS key, ...)", """
            CREATE TABLE client_settings (
                name  TEXT PRIMARY KEY,
                value BLOB NOT NULL
            ) WITHOUT ROWID;
            """),
        new(3, "sync bookkeeping: messages changed locally since their last push, deletions to push", """
            ALTER TABLE messages ADD COLUMN dirty INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX messages_dirty ON messages (account_id) WHERE dirty = 1;
            CREATE TABLE pending_remote_deletes (
                account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
                remote_id  TEXT NOT NULL,
                revision   INTEGER NOT NULL,
                PRIMARY KEY (account_id, remote_id)
            ) WITHOUT ROWID;
            """),
        // No data step: the bridge fills the column lazily, the first time a mail app fetches ENVELOPE
        // of an older message (and at once for new ones), so opening a large store stays instant.
        new(4, "sealed per-message IMAP ENVELOPE kept by the bridge, so listing a folder decrypts no bodies", """
            ALTER TABLE messages ADD COLUMN envelope BLOB;
            """),
        // One row per (token, message) in a B-tree keyed by random tokens made every page of sync rewrite pages all
        // over the growing index, and appends slowed as the store grew. FTS5 keeps an inverted index in segments
        // (written sequentially, merged in the background), the cost SQLite's full-text search was built for.
        // Contentless with detail=none: it keeps which rows hold each token and nothing else. The trigger keeps
        // it in step with every way a message row goes (deletion, a folder's or an account's removal), so a
        // reused rowid never inherits another message's tokens.
        new(5, "search index as an FTS5 inverted index of keyed-hash tokens (rowids only), kept in step with messages by a trigger", """
            CREATE VIRTUAL TABLE search_index USING fts5(tokens, content='', contentless_delete=1, detail=none);
            CREATE TRIGGER messages_unindex AFTER DELETE ON messages BEGIN
                DELETE FROM search_index WHERE rowid = old.rowid;
            END;
            """, MoveTokensToSearchIndex),
        // IMAP SEARCH is substring-based; whole-word tokens cannot narrow it exactly, trigrams can (SearchGrams).
        // Messages indexed before this version have no trigrams: listed as unindexed, so every substring search
        // reads them (exact, as fast as before) until the index is rebuilt for them.
        new(6, "trigram tokens for IMAP SEARCH in the search index; messages without them listed in search_unindexed", """
            CREATE TABLE search_unindexed (message_rowid INTEGER PRIMARY KEY);
            INSERT INTO search_unindexed (message_rowid) SELECT rowid FROM messages;
            CREATE TRIGGER messages_unindex_grams AFTER DELETE ON messages BEGIN
                DELETE FROM search_unindexed WHERE message_rowid = old.rowid;
            END;
            """),
        // letterlock import: a keyed hash of each imported message (destination folder and content), committed with
        // the message, so a second run or a resumed one skips what is stored already (docs/design/import.md).
        // Kept when the message is deleted later: an import run again does not bring back what the user deleted.
        new(7, "keyed hashes of imported messages, so an import run twice or resumed imports nothing twice", """
            CREATE TABLE imported_messages (
                account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
                digest     BLOB NOT NULL,
                PRIMARY KEY (account_id, digest)
            ) WITHOUT ROWID;
            """),
    ];

    /// <summary>Schema 5: each message's tokens from <c>search_tokens</c> into <c>search_index</c>, then the old table goes (no decryption needed).</summary>
    private static void MoveTokensToSearchIndex(SqliteConnection connection, SqliteTransaction transaction, StoreCipher? cipher)
    {
        using (var read = connection.CreateCommand())
        using (var write = connection.CreateCommand())
        {
            read.Transaction = transaction;
            read.CommandText = "SELECT m.rowid, s.token FROM search_tokens s JOIN messages m ON m.id = s.message_id ORDER BY m.rowid";
            write.Transaction = transaction;
            write.CommandText = "INSERT INTO search_index (rowid, tokens) VALUES ($row, $tokens)";
            var rowParameter = write.Parameters.Add("$row", SqliteType.Integer);
            var tokensParameter = write.Parameters.Add("$tokens", SqliteType.Text);
            using var reader = read.ExecuteReader();
            long current = -1;
            var tokens = new System.Text.StringBuilder();
            void Flush()
            {
                if (current >= 0)
                {
                    rowParameter.Value = current;
                    tokensParameter.Value = tokens.ToString();
                    write.ExecuteNonQuery();
                }
            }

            while (reader.Read())
            {
                long row = reader.GetInt64(0);
                if (row != current)
                {
                    Flush();
                    current = row;
                    tokens.Clear();
                }

                tokens.Append(StoreCipher.TokenText(reader.GetBlob(1))).Append(' ');
            }

            Flush();
        }

        using var drop = connection.CreateCommand();
        drop.Transaction = transaction;
        drop.CommandText = "DROP TABLE search_tokens";
        drop.ExecuteNonQuery();
    }

    public static int CurrentVersion => Migrations[^1].Version;

    public static int ReadVersion(SqliteConnection connection, SqliteTransaction? transaction = null) =>
        (int)ScalarLong(connection, transaction, "PRAGMA user_version");

    /// <summary>Checks the file is ours and not newer than this code; an empty file is a new store.</summary>
    public static int CheckCompatible(SqliteConnection connection, IReadOnlyList<Migration> migrations)
    {
        var version = ReadVersion(connection);
        var applicationId = ScalarLong(connection, null, "PRAGMA application_id");
        if (version == 0 && applicationId == 0)
        {
            return 0;
        }

        if (applicationId != ApplicationId)
        {
            throw new StoreVersionException("the file is an SQLite database but not a Letterlock client store");
        }

        if (version > migrations[^1].Version)
        {
            throw new StoreVersionException(
                $"the store has schema version {version}, newer than this Letterlock understands ({migrations[^1].Version}); upgrade Letterlock");
        }

        return version;
    }

    /// <summary>Applies the migrations after the store's version, each in its own transaction.</summary>
    public static void Migrate(SqliteConnection connection, StoreCipher? cipher, IReadOnlyList<Migration> migrations)
    {
        foreach (var migration in migrations)
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            // Re-read inside the write lock: another process may have migrated meanwhile.
            if (ReadVersion(connection, transaction) >= migration.Version)
            {
                continue;
            }

            using (var command = connection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = migration.Sql +
                    $";\nPRAGMA application_id = {ApplicationId};\nPRAGMA user_version = {migration.Version};";
                command.ExecuteNonQuery();
            }

            // A new store is created before it is unlocked (no cipher): a transform that needs the keys finds no data to re-seal then.
            migration.Transform?.Invoke(connection, transaction, cipher);

            transaction.Commit();
        }
    }

    internal static long ScalarLong(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }
}
